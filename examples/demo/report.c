/*
 * The demo's outputs: a text report a newcomer can read, and an SVG chart
 * written by hand (no dependencies) comparing the algorithms: per-backend
 * share of the "users" cluster over time, one small panel per algorithm,
 * and client-visible p50/p99 latency per algorithm as bars.
 */
#include <stdio.h>
#include <string.h>

#include "demo.h"

static const char *route_names[DEMO_ROUTES] = {
    "GET  /api/users/{id:int}", "GET  /api/users/{id:int}/orders", "POST /api/orders",
    "GET  /static/{*path}", "GET  /healthz"};

void demo_report(FILE *f, const demo_options *o, const demo_result *res, int n)
{
    const demo_result *m = &res[0];
    fprintf(f, "libgwlb demo: a simulated API gateway (%.0f s simulated, seed %llu)\n",
            o->duration_s, (unsigned long long)o->seed);
    fprintf(f, "  %u clients at %.1f req/s each + 1 abusive client at %.0f req/s\n", o->clients,
            o->client_rps, o->abusive_rps);
    fprintf(f, "  clusters: users (%s slow, %s fails %.0f%% from t=%.0fs), orders (%s down "
               "until t=%.0fs)\n",
            m->backends[1].name, m->backends[o->hosts_per_cluster - 1].name, o->fail_rate * 100,
            o->duration_s / 2, m->backends[o->hosts_per_cluster].name, o->duration_s / 3);
    fprintf(f, "  per request: route -> limit (GCRA 20 r/s, burst 40, per client) -> pick -> "
               "breaker -> backend -> release + health report\n\n");

    fprintf(f, "Requests per route (%s run)\n", "first");
    for (int i = 0; i < DEMO_ROUTES; i++)
        fprintf(f, "  %-34s %8llu\n", route_names[i], (unsigned long long)m->route_hits[i]);
    fprintf(f, "\nRate limiting\n");
    fprintf(f, "  normal clients: %llu of %llu rejected (%.2f%%)\n",
            (unsigned long long)m->client_limited[0], (unsigned long long)m->client_requests[0],
            m->client_requests[0] ? 100.0 * (double)m->client_limited[0] / (double)m->client_requests[0] : 0);
    fprintf(f, "  abusive client: %llu of %llu rejected (%.2f%%)\n\n",
            (unsigned long long)m->client_limited[1], (unsigned long long)m->client_requests[1],
            m->client_requests[1] ? 100.0 * (double)m->client_limited[1] / (double)m->client_requests[1] : 0);

    fprintf(f, "Algorithms on the same traffic (client-visible latency, upstream outcomes)\n");
    fprintf(f, "  %-11s %9s %9s %9s %9s %8s %8s %8s %8s\n", "algorithm", "admitted", "ok",
            "5xx/conn", "no-host", "brk-rej", "p50 ms", "p99 ms", "p99.9");
    for (int a = 0; a < n; a++) {
        const demo_result *r = &res[a];
        fprintf(f, "  %-11s %9llu %9llu %9llu %9llu %8llu %8.1f %8.1f %8.1f\n",
                demo_algo_name(r->algorithm),
                (unsigned long long)(r->requests - r->limited - r->not_found),
                (unsigned long long)r->ok, (unsigned long long)r->upstream_fail,
                (unsigned long long)r->no_host, (unsigned long long)r->breaker_rejected, r->p50_ms,
                r->p99_ms, r->p999_ms);
    }
    fprintf(f, "\nPer-backend share and latency (share %% of its cluster's requests; p50/p99 ms)\n");
    fprintf(f, "  %-10s", "backend");
    for (int a = 0; a < n; a++)
        fprintf(f, " %21s", demo_algo_name(res[a].algorithm));
    fprintf(f, "\n");
    for (uint32_t b = 0; b < m->backend_count; b++) {
        fprintf(f, "  %-10s", m->backends[b].name);
        for (int a = 0; a < n; a++) {
            const demo_result *r = &res[a];
            uint64_t total = 0;
            for (uint32_t k = 0; k < r->backend_count; k++)
                if (r->backends[k].cluster == r->backends[b].cluster)
                    total += r->backend_requests[k];
            double share = total ? 100.0 * (double)r->backend_requests[b] / (double)total : 0;
            char cell[32];
            snprintf(cell, sizeof cell, "%5.1f%% %5.1f/%6.1f", share, r->backend_p50_ms[b],
                     r->backend_p99_ms[b]);
            fprintf(f, " %21s", cell);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nBreaker transitions and outlier ejections (%s run, simulated time)\n",
            demo_algo_name(m->algorithm));
    if (m->log_count == 0)
        fprintf(f, "  (none)\n");
    for (uint32_t i = 0; i < m->log_count; i++)
        fprintf(f, "  %s\n", m->log[i]);
    fprintf(f, "\nWall time per simulated run:");
    for (int a = 0; a < n; a++)
        fprintf(f, " %s %.0f ms", demo_algo_name(res[a].algorithm), res[a].wall_ms);
    fprintf(f, "\n");
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                "#9467bd", "#8c564b", "#e377c2", "#17becf"};

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int demo_write_svg(const char *path, const demo_options *o, const demo_result *res, int n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    const int pw = 300, ph = 150, margin = 40, cols = n < 3 ? n : 3;
    const int rows = (n + cols - 1) / cols;
    const int width = margin + cols * (pw + margin);
    const int bars_h = 220;
    const int height = 70 + rows * (ph + 60) + bars_h + 40;
    const demo_result *m = &res[0];
    uint32_t nb = o->hosts_per_cluster; /* the users cluster: backends 0..nb-1 */

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">libgwlb demo: "
               "share of the users cluster per backend over time</text>\n", margin);
    fprintf(f, "<text x=\"%d\" y=\"42\" fill=\"#555\">%.0f s simulated; %s is slow, %s fails "
               "%.0f%% after t=%.0f s. Legend:",
            margin, o->duration_s, m->backends[1].name, m->backends[nb - 1].name,
            o->fail_rate * 100, o->duration_s / 2);
    fprintf(f, "</text>\n");
    for (uint32_t b = 0; b < nb; b++) {
        int lx = margin + 560 + (int)b * 80;
        fprintf(f, "<rect x=\"%d\" y=\"33\" width=\"10\" height=\"10\" fill=\"%s\"/>", lx,
                palette[b % 8]);
        fprintf(f, "<text x=\"%d\" y=\"42\">", lx + 13);
        xml_text(f, m->backends[b].name);
        fprintf(f, "</text>\n");
    }
    for (int a = 0; a < n; a++) {
        const demo_result *r = &res[a];
        int x0 = margin + (a % cols) * (pw + margin);
        int y0 = 70 + (a / cols) * (ph + 60);
        fprintf(f, "<g transform=\"translate(%d,%d)\">\n", x0, y0);
        fprintf(f, "<text x=\"0\" y=\"-6\" font-weight=\"bold\">%s</text>\n",
                demo_algo_name(r->algorithm));
        fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"none\" "
                   "stroke=\"#999\"/>\n", pw, ph);
        for (int pctl = 25; pctl <= 75; pctl += 25)
            fprintf(f, "<line x1=\"0\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n", pw,
                    ph - ph * pctl / 100, ph - ph * pctl / 100);
        fprintf(f, "<text x=\"-4\" y=\"4\" text-anchor=\"end\">100%%</text>"
                   "<text x=\"-4\" y=\"%d\" text-anchor=\"end\">0</text>\n", ph);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">t = %.0f s</text>\n", pw,
                ph + 14, o->duration_s);
        for (uint32_t b = 0; b < nb; b++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                    palette[b % 8]);
            for (uint32_t k = 0; k < r->buckets; k++) {
                uint32_t tot = 0;
                for (uint32_t j = 0; j < nb; j++)
                    tot += r->bucket_counts[k][j];
                double share = tot ? (double)r->bucket_counts[k][b] / tot : 0;
                fprintf(f, "%.1f,%.1f ", (k + 0.5) * pw / (double)r->buckets,
                        ph - share * ph);
            }
            fprintf(f, "\"/>\n");
        }
        fprintf(f, "</g>\n");
    }
    /* Latency bars. */
    int by = 70 + rows * (ph + 60);
    double maxv = 1;
    for (int a = 0; a < n; a++)
        if (res[a].p99_ms > maxv)
            maxv = res[a].p99_ms;
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">Client-visible "
               "latency per algorithm (light: p50, dark: p99, ms)</text>\n", margin, by);
    int bw = 28, gap = 36, bh = bars_h - 60;
    for (int a = 0; a < n; a++) {
        int x = margin + a * (2 * bw + gap);
        double h50 = res[a].p50_ms / maxv * bh, h99 = res[a].p99_ms / maxv * bh;
        int base = by + 20 + bh;
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"#9ecae1\"/>\n", x,
                base - h50, bw, h50);
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"#08519c\"/>\n",
                x + bw, base - h99, bw, h99);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x + bw + bw / 2,
                base - h99 - 3, res[a].p99_ms);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x + bw, base + 14,
                demo_algo_name(res[a].algorithm));
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
