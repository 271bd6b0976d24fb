/*
 * gwlb-demo: command line of the simulated gateway (see demo.h).
 *
 *   gwlb-demo [--seed N] [--duration S] [--hosts N] [--clients N]
 *             [--client-rps R] [--abusive-rps R] [--slow-ms MS]
 *             [--fail-rate P] [--algorithms p2c,ewma,rr,...] [--svg FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwlb.h>

#include "demo.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gwlb-demo [options]\n"
            "  --seed N            workload seed (1)\n"
            "  --duration S        simulated seconds (180)\n"
            "  --hosts N           backends per cluster, 3..16 (4)\n"
            "  --clients N         normal clients (40)\n"
            "  --client-rps R      requests/s per normal client (8)\n"
            "  --abusive-rps R     requests/s of the abusive client (300)\n"
            "  --slow-ms MS        median latency of the slow backend (60)\n"
            "  --fail-rate P       503 probability of the backend failing half-way (0.5)\n"
            "  --algorithms LIST   comma list of p2c,ewma,rr,wrr,nginx-rr,least-conn,random,random2\n"
            "                      (p2c,ewma,least-conn,rr,random)\n"
            "  --svg FILE          write the comparison chart (gwlb-demo.svg; '-' = none)\n");
}

int main(int argc, char **argv)
{
    demo_options o = {
        .seed = 1, .duration_s = 180, .client_rps = 8, .clients = 40, .abusive_rps = 300,
        .hosts_per_cluster = 4, .slow_ms = 60, .fail_rate = 0.5, .svg_path = "gwlb-demo.svg"};
    const char *algos = "p2c,ewma,least-conn,rr,random";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--seed") == 0) o.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0) o.duration_s = atof(v);
        else if (strcmp(a, "--hosts") == 0) o.hosts_per_cluster = (uint32_t)atoi(v);
        else if (strcmp(a, "--clients") == 0) o.clients = (uint32_t)atoi(v);
        else if (strcmp(a, "--client-rps") == 0) o.client_rps = atof(v);
        else if (strcmp(a, "--abusive-rps") == 0) o.abusive_rps = atof(v);
        else if (strcmp(a, "--slow-ms") == 0) o.slow_ms = atof(v);
        else if (strcmp(a, "--fail-rate") == 0) o.fail_rate = atof(v);
        else if (strcmp(a, "--algorithms") == 0) algos = v;
        else if (strcmp(a, "--svg") == 0) o.svg_path = strcmp(v, "-") == 0 ? NULL : v;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (o.hosts_per_cluster < 3 || o.hosts_per_cluster > 16 || !(o.duration_s >= 10) ||
        o.duration_s > 3600 || !(o.client_rps > 0) || !(o.abusive_rps > 0) || o.clients < 1 ||
        o.clients > 10000 || !(o.slow_ms > 0) || !(o.fail_rate >= 0 && o.fail_rate <= 1)) {
        fprintf(stderr, "gwlb-demo: option out of range\n");
        usage(stderr);
        return 2;
    }
    char list[256];
    snprintf(list, sizeof list, "%s", algos);
    for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
        int alg = demo_algo_parse(tok);
        if (alg < 0 || o.algo_count == DEMO_MAX_ALGOS) {
            fprintf(stderr, "gwlb-demo: unknown or too many algorithms: %s\n", tok);
            return 2;
        }
        o.algos[o.algo_count++] = alg;
    }
    if (o.algo_count == 0) {
        usage(stderr);
        return 2;
    }
    demo_result *res = calloc((size_t)o.algo_count, sizeof *res);
    if (res == NULL)
        return 1;
    for (int a = 0; a < o.algo_count; a++) {
        int rc = demo_run(&o, o.algos[a], a == 0, &res[a]);
        if (rc != 0) {
            fprintf(stderr, "gwlb-demo: run %s failed: %s\n", demo_algo_name(o.algos[a]),
                    gwlb_strerror(rc));
            free(res);
            return 1;
        }
    }
    demo_report(stdout, &o, res, o.algo_count);
    if (o.svg_path != NULL) {
        if (demo_write_svg(o.svg_path, &o, res, o.algo_count) != 0) {
            fprintf(stderr, "gwlb-demo: cannot write %s\n", o.svg_path);
            free(res);
            return 1;
        }
        printf("Chart written to %s\n", o.svg_path);
    }
    free(res);
    return 0;
}
