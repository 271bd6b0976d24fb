/*
 * Distribution of the weighted algorithms over 1e6 picks (each host's share
 * within 0.5% of weight/sum), and a load simulation: max/mean in-flight over
 * 100 hosts with random service times, P2C against plain random.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "test_run.h"

#define PICKS 1000000

static char ids[128][32];

static gwlb_balancer *build(gwlb_balancer_state **st, int alg, const uint32_t *w, int n)
{
    gwlb_balancer_host h[128];
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "10.2.0.%d:80", i + 1);
        gwlb_balancer_host_init(&h[i], ids[i]);
        h[i].weight = w ? w[i] : 1;
    }
    ck_assert_int_eq(gwlb_balancer_state_new(256, NULL, st), GWLB_OK);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.seed = 12345;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, (uint32_t)n, *st, 0, &b, NULL), GWLB_OK);
    return b;
}

static const char *alg_name(int alg)
{
    static const char *names[] = {"round_robin", "weighted_rr", "nginx_swrr", "least_conn",
                                  "least_request", "peak_ewma", "random", "random_two"};
    return names[alg];
}

/* worst |share - weight/sum| in percentage points */
static double worst_share_error(int alg, const uint32_t *w, int n)
{
    gwlb_balancer_state *st;
    gwlb_balancer *b = build(&st, alg, w, n);
    long cnt[128] = {0};
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += w[i];
    for (int i = 0; i < PICKS; i++) {
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        cnt[r.host_index]++;
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 1000, 0), GWLB_OK);
    }
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double err = 100.0 * ((double)cnt[i] / PICKS - (double)w[i] / (double)sum);
        if (err < 0)
            err = -err;
        if (err > worst)
            worst = err;
    }
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
    return worst;
}

static const int weighted_algs[] = {
    GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, GWLB_BALANCER_NGINX_ROUND_ROBIN,
    GWLB_BALANCER_LEAST_CONN,           GWLB_BALANCER_LEAST_REQUEST,
    GWLB_BALANCER_RANDOM,               GWLB_BALANCER_RANDOM_TWO_CHOICES,
};

START_TEST(test_weighted_shares_within_half_a_percent_over_1e6_picks)
{
    static const uint32_t w1[] = {5, 1, 1};
    static const uint32_t w2[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    static const uint32_t w3[] = {1000, 1, 250, 37, 500};
    const struct {
        const uint32_t *w;
        int n;
    } sets[] = {{w1, 3}, {w2, 10}, {w3, 5}};
    for (size_t a = 0; a < sizeof weighted_algs / sizeof weighted_algs[0]; a++)
        for (size_t s = 0; s < 3; s++) {
            double e = worst_share_error(weighted_algs[a], sets[s].w, sets[s].n);
            printf("distribution %-14s set %zu: worst share error %.4f%%\n",
                   alg_name(weighted_algs[a]), s, e);
            ck_assert_msg(e <= 0.5, "%s set %zu: %.4f%%", alg_name(weighted_algs[a]), s, e);
        }
}
END_TEST

/*
 * Load simulation: each tick `arrivals` requests arrive, each holds its host
 * for a uniform 1..199 ticks. Sample max/mean in-flight over hosts each tick
 * after warm-up.
 */
static double max_over_mean(int alg, int hosts, int ticks)
{
    gwlb_balancer_state *st;
    gwlb_balancer *b = build(&st, alg, NULL, hosts);
    enum { RING = 256, ARRIVALS = 40 };
    static gwlb_balancer_result *ring[RING];
    static int fill[RING], cap[RING];
    memset(fill, 0, sizeof fill);
    for (int i = 0; i < RING; i++) {
        cap[i] = 64;
        ring[i] = malloc(sizeof(gwlb_balancer_result) * (size_t)cap[i]);
    }
    uint64_t rs = 777;
    double ratio_sum = 0;
    int samples = 0;
    for (int t = 0; t < ticks; t++) {
        int slot = t % RING;
        for (int k = 0; k < fill[slot]; k++)
            ck_assert_int_eq(gwlb_balancer_release(b, &ring[slot][k], GWLB_BALANCER_SUCCESS, 1000,
                                                   (uint64_t)t),
                             GWLB_OK);
        fill[slot] = 0;
        for (int a = 0; a < ARRIVALS; a++) {
            rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
            int svc = 1 + (int)((rs >> 33) % 199);
            int due = (t + svc) % RING;
            if (fill[due] == cap[due]) {
                cap[due] *= 2;
                ring[due] = realloc(ring[due], sizeof(gwlb_balancer_result) * (size_t)cap[due]);
            }
            ck_assert_int_eq(gwlb_balancer_pick(b, (uint64_t)t, &ring[due][fill[due]]), GWLB_OK);
            fill[due]++;
        }
        if (t > 400 && t % 8 == 0) {
            uint32_t mx = 0;
            uint64_t tot = 0;
            for (int i = 0; i < hosts; i++) {
                gwlb_balancer_host_stats hs;
                gwlb_balancer_host_stats_get(b, (uint32_t)i, &hs);
                if (hs.in_flight > mx)
                    mx = hs.in_flight;
                tot += hs.in_flight;
            }
            ratio_sum += (double)mx / ((double)tot / hosts);
            samples++;
        }
    }
    for (int i = 0; i < RING; i++)
        free(ring[i]);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
    return ratio_sum / samples;
}

START_TEST(test_p2c_max_over_mean_load_beats_random_on_100_hosts)
{
    double p2c = max_over_mean(GWLB_BALANCER_LEAST_REQUEST, 100, 2000);
    double rnd = max_over_mean(GWLB_BALANCER_RANDOM, 100, 2000);
    double ewma = max_over_mean(GWLB_BALANCER_PEAK_EWMA, 100, 2000);
    double r2 = max_over_mean(GWLB_BALANCER_RANDOM_TWO_CHOICES, 100, 2000);
    double rr = max_over_mean(GWLB_BALANCER_ROUND_ROBIN, 100, 2000);
    printf("max/mean in-flight, 100 hosts, mean 40 per host: p2c %.3f, random %.3f, "
           "random_two %.3f, peak_ewma %.3f, round_robin %.3f\n",
           p2c, rnd, r2, ewma, rr);
    ck_assert(p2c < rnd);
    ck_assert(r2 < rnd);
    ck_assert(p2c < 1.25);
    /* figures above are averages of max/mean sampled every 8 ticks after warm-up */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer_distribution");
    TCase *t = tcase_create("distribution");
    tcase_set_timeout(t, 1100);
    tcase_add_test(t, test_weighted_shares_within_half_a_percent_over_1e6_picks);
    tcase_add_test(t, test_p2c_max_over_mean_load_beats_random_on_100_hosts);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}
