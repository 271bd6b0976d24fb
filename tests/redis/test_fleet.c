/*
 * Specification of the fleet limit (hybrid mode and failure policy)
 * against a simulated Redis: a bucket driven by gwlb_gcra_decide exactly as
 * the Lua script drives it (their equality is proven against redis-server
 * in test_redis_integration.c). Measures the hybrid error bound.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/redis.h"
#include "test_run.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define EPOCH UINT64_C(1700000000000000000)

/* ---- the simulated server ------------------------------------------------ */

typedef struct sim_redis {
    uint64_t tat;
    int down;
} sim_redis;

/* One script call: decide (charge = 0) or charge; answer as the script would. */
static gwlb_redis_gcra_answer sim_call(sim_redis *s, const gwlb_gcra_config *g, uint64_t now,
                                       uint64_t cost, int charge)
{
    gwlb_redis_gcra_answer a;
    memset(&a, 0, sizeof a);
    if (charge) {
        uint64_t base = s->tat > now ? s->tat : now;
        if (cost > 0)
            s->tat = base + cost * g->emission_ns;
        a.result.allowed = 1;
        a.result.limit = g->limit;
    } else {
        uint64_t next;
        gwlb_gcra_decide(g, s->tat, now, cost, &a.result, &next);
        s->tat = next;
    }
    a.tat = s->tat;
    return a;
}

static uint64_t arg_u64(const uint8_t *buf, const gwlb_redis_value *v)
{
    uint64_t x = 0;
    for (uint32_t i = 0; i < v->length; i++)
        x = x * 10 + (uint64_t)(buf[v->offset + i] - '0');
    return x;
}

/*
 * Execute the encoded commands in buf (EVALSHA/EVAL of the GCRA script:
 * name, sha/script, 1, key, now, T, DVT, cost, charge) on the simulated
 * bucket, as a server would: the commands are parsed from their bytes.
 */
static size_t sim_exec(sim_redis *s, const uint8_t *buf, size_t len,
                       gwlb_redis_gcra_answer *answers)
{
    size_t off = 0, n = 0;
    while (off < len) {
        gwlb_redis_value v[16];
        gwlb_redis_reply r;
        ck_assert_int_eq(gwlb_redis_parse(buf + off, len - off, v, 16, &r), GWLB_OK);
        ck_assert_uint_eq(v[0].type, GWLB_REDIS_ARRAY);
        ck_assert_uint_eq(v[0].length, 9);
        const uint8_t *b = buf + off;
        gwlb_gcra_config g;
        g.emission_ns = arg_u64(b, &v[6]);
        g.tolerance_ns = arg_u64(b, &v[7]);
        g.limit = g.tolerance_ns / g.emission_ns;
        answers[n++] = sim_call(s, &g, arg_u64(b, &v[5]), arg_u64(b, &v[8]), b[v[9].offset] == '1');
        off += r.length;
    }
    return n;
}

static gwlb_gcra_config cfg_100_per_s_burst_9(void)
{
    gwlb_gcra_config g;
    ck_assert_int_eq(gwlb_gcra_config_init(&g, 100, SEC, 9), GWLB_OK); /* T 10 ms, limit 10 */
    return g;
}

/* A whole hybrid decision: local, or remote through the simulated server. */
static int decide(const gwlb_redis_limit_config *c, gwlb_redis_limit *l, sim_redis *s,
                  uint64_t now, gwlb_redis_stats *st)
{
    gwlb_limit_result r;
    uint32_t verdict = 0;
    ck_assert_int_eq(gwlb_redis_limit_allow(c, l, now, 1, st, &r, &verdict), GWLB_OK);
    if (verdict == GWLB_REDIS_DECIDED_LOCALLY)
        return r.allowed;
    ck_assert_uint_eq(verdict, GWLB_REDIS_ASK_REDIS);
    uint8_t buf[512];
    size_t n;
    uint64_t taken;
    uint32_t replies;
    ck_assert_int_eq(gwlb_redis_limit_encode_remote(c, l, buf, sizeof buf, &n, "k", 1, now, 1, 0,
                                                    &taken, &replies),
                     GWLB_OK);
    if (s->down) {
        gwlb_redis_limit_restore(l, taken);
        ck_assert_int_eq(gwlb_redis_limit_failed(c, l, now, 1, st, &r), GWLB_OK);
        return r.allowed;
    }
    gwlb_redis_gcra_answer a[2];
    ck_assert_uint_eq(sim_exec(s, buf, n, a), replies);
    if (replies == 2)
        ck_assert_int_eq(gwlb_redis_limit_merge(c, l, now, &a[0], st, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_limit_merge(c, l, now, &a[replies - 1], st, &r), GWLB_OK);
    return r.allowed;
}

static void sync_one(const gwlb_redis_limit_config *c, gwlb_redis_limit *l, sim_redis *s,
                     uint64_t now, gwlb_redis_stats *st)
{
    uint8_t buf[512];
    size_t n;
    uint64_t taken;
    ck_assert_int_eq(gwlb_redis_limit_encode_sync(c, l, buf, sizeof buf, &n, "k", 1, now, 0,
                                                  &taken),
                     GWLB_OK);
    if (s->down) {
        gwlb_redis_limit_restore(l, taken);
        return;
    }
    gwlb_redis_gcra_answer a;
    ck_assert_uint_eq(sim_exec(s, buf, n, &a), 1);
    ck_assert_int_eq(gwlb_redis_limit_merge(c, l, now, &a, st, NULL), GWLB_OK);
}

/* ---- behaviours ------------------------------------------------------- */

START_TEST(test_config_rejects_bad_values)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    ck_assert_int_eq(gwlb_redis_limit_config_init(NULL, &g, 0, 0, GWLB_REDIS_FAIL_OPEN),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, NULL, 0, 0, GWLB_REDIS_FAIL_OPEN),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &g, 0, 0, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &g, 0, 0, 4), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &g, UINT64_C(1) << 40, 0,
                                                  GWLB_REDIS_FAIL_OPEN),
                     GWLB_ERANGE);
    gwlb_gcra_config big;
    ck_assert_int_eq(gwlb_gcra_config_init(&big, 1, UINT64_C(86400000000000), 200), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &big, 0, 0, GWLB_REDIS_FAIL_OPEN),
                     GWLB_ERANGE);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &g, 5, 50 * MS, GWLB_REDIS_FAIL_LOCAL),
                     GWLB_OK);
    ck_assert_uint_eq(c.local_share, 5);
    ck_assert_int_eq(gwlb_redis_limit_init(NULL), GWLB_EINVAL);
}
END_TEST

START_TEST(test_hybrid_admits_local_share_then_asks_redis)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 3, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_redis_stats st;
    memset(&st, 0, sizeof st);
    gwlb_limit_result r;
    uint32_t v;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, EPOCH, 1, &st, &r, &v), GWLB_OK);
        ck_assert_uint_eq(v, GWLB_REDIS_DECIDED_LOCALLY);
        ck_assert_int_eq(r.allowed, 1);
        ck_assert_uint_eq(r.remaining, (uint64_t)(9 - i));
    }
    ck_assert_uint_eq(l.pending, 3);
    ck_assert_uint_eq(l.tat, EPOCH + 30 * MS);
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, EPOCH, 1, &st, &r, &v), GWLB_OK);
    ck_assert_uint_eq(v, GWLB_REDIS_ASK_REDIS);
    ck_assert_uint_eq(l.pending, 3); /* nothing changed */
    ck_assert_uint_eq(l.tat, EPOCH + 30 * MS);
    ck_assert_uint_eq(st.local_admitted, 3);
    ck_assert_uint_eq(st.ask_redis, 1);
}
END_TEST

START_TEST(test_hybrid_rejects_locally_when_known_full)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 3, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    /* the fleet bucket is full: the last answer said TAT = now + DVT */
    gwlb_redis_gcra_answer a;
    memset(&a, 0, sizeof a);
    a.tat = EPOCH + 100 * MS;
    ck_assert_int_eq(gwlb_redis_limit_merge(&c, &l, EPOCH, &a, NULL, NULL), GWLB_OK);
    gwlb_limit_result r;
    uint32_t v;
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, EPOCH + 5 * MS, 1, NULL, &r, &v), GWLB_OK);
    ck_assert_uint_eq(v, GWLB_REDIS_DECIDED_LOCALLY);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(5 * MS));
    ck_assert_uint_eq(l.pending, 0);
}
END_TEST

START_TEST(test_share_zero_sends_every_decision_to_redis)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 0, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_limit_result r;
    uint32_t v;
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v), GWLB_OK);
    ck_assert_uint_eq(v, GWLB_REDIS_ASK_REDIS);
}
END_TEST

START_TEST(test_remote_encodes_charge_of_pending_then_decision)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 2, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_limit_result r;
    uint32_t v;
    gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v);
    gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v);
    uint8_t buf[1024], want[1024];
    size_t n, m1, m2;
    uint64_t taken;
    uint32_t replies;
    /* too small: nothing taken */
    ck_assert_int_eq(gwlb_redis_limit_encode_remote(&c, &l, buf, 20, &n, "k", 1, EPOCH, 1, 0,
                                                    &taken, &replies),
                     GWLB_ENOSPC);
    ck_assert_uint_eq(l.pending, 2);
    ck_assert_int_eq(gwlb_redis_limit_encode_remote(&c, &l, buf, sizeof buf, &n, "k", 1, EPOCH, 1,
                                                    0, &taken, &replies),
                     GWLB_OK);
    ck_assert_uint_eq(taken, 2);
    ck_assert_uint_eq(replies, 2);
    ck_assert_uint_eq(l.pending, 0);
    gwlb_redis_encode_gcra(want, sizeof want, &m1, &g, "k", 1, 2, EPOCH, GWLB_REDIS_GCRA_CHARGE);
    gwlb_redis_encode_gcra(want + m1, sizeof want - m1, &m2, &g, "k", 1, 1, EPOCH, 0);
    ck_assert_uint_eq(n, m1 + m2);
    ck_assert_int_eq(memcmp(buf, want, n), 0);
    /* nothing pending: only the decision */
    ck_assert_int_eq(gwlb_redis_limit_encode_remote(&c, &l, buf, sizeof buf, &n, "k", 1, EPOCH, 1,
                                                    0, &taken, &replies),
                     GWLB_OK);
    ck_assert_uint_eq(replies, 1);
    ck_assert_uint_eq(taken, 0);
    ck_assert_uint_eq(n, m2);
}
END_TEST

START_TEST(test_merge_only_raises_the_local_tat_and_refuses_errors)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 2, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_redis_gcra_answer a;
    memset(&a, 0, sizeof a);
    a.tat = EPOCH + 50 * MS;
    gwlb_redis_stats st;
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(gwlb_redis_limit_merge(&c, &l, EPOCH, &a, &st, NULL), GWLB_OK);
    ck_assert_uint_eq(l.tat, EPOCH + 50 * MS);
    ck_assert_uint_eq(l.last_sync, EPOCH);
    a.tat = 0; /* the key expired in Redis */
    ck_assert_int_eq(gwlb_redis_limit_merge(&c, &l, EPOCH + MS, &a, &st, NULL), GWLB_OK);
    ck_assert_uint_eq(l.tat, EPOCH + 50 * MS);
    ck_assert_uint_eq(st.syncs, 2);
    a.status = GWLB_ENOENT;
    a.tat = EPOCH + 90 * MS;
    ck_assert_int_eq(gwlb_redis_limit_merge(&c, &l, EPOCH, &a, &st, NULL), GWLB_ESTATE);
    ck_assert_uint_eq(l.tat, EPOCH + 50 * MS);
}
END_TEST

START_TEST(test_failed_call_fail_open_admits_fail_closed_rejects)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config open, closed;
    gwlb_redis_limit_config_init(&open, &g, 0, 0, GWLB_REDIS_FAIL_OPEN);
    gwlb_redis_limit_config_init(&closed, &g, 0, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_redis_stats st;
    memset(&st, 0, sizeof st);
    gwlb_limit_result r;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(gwlb_redis_limit_failed(&open, &l, EPOCH, 1, &st, &r), GWLB_OK);
        ck_assert_int_eq(r.allowed, 1);
        ck_assert_uint_eq(r.limit, 10);
    }
    ck_assert_int_eq(gwlb_redis_limit_failed(&closed, &l, EPOCH, 1, &st, &r), GWLB_OK);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(r.retry_after_ns, -1);
    ck_assert_uint_eq(st.failures, 21);
    ck_assert_uint_eq(st.failed_open, 20);
    ck_assert_uint_eq(st.failed_closed, 1);
    ck_assert_uint_eq(l.tat, 0); /* neither policy touches the local state */
    ck_assert_uint_eq(l.pending, 0);
}
END_TEST

START_TEST(test_failed_call_fail_local_uses_local_bucket_and_keeps_cost_pending)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 0, 0, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_redis_stats st;
    memset(&st, 0, sizeof st);
    gwlb_limit_result r;
    int admitted = 0;
    for (int i = 0; i < 15; i++) {
        ck_assert_int_eq(gwlb_redis_limit_failed(&c, &l, EPOCH, 1, &st, &r), GWLB_OK);
        admitted += r.allowed;
    }
    ck_assert_int_eq(admitted, 10); /* the local bucket's limit */
    ck_assert_uint_eq(st.fallback_admitted, 10);
    ck_assert_uint_eq(st.fallback_rejected, 5);
    ck_assert_uint_eq(l.pending, 10); /* charged to Redis when it is back */
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(10 * MS));
}
END_TEST

START_TEST(test_failed_sync_restores_pending)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 4, 0, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_limit_result r;
    uint32_t v;
    for (int i = 0; i < 4; i++)
        gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v);
    uint8_t buf[512];
    size_t n;
    uint64_t taken;
    ck_assert_int_eq(gwlb_redis_limit_encode_sync(&c, &l, buf, sizeof buf, &n, "k", 1, EPOCH, 0,
                                                  &taken),
                     GWLB_OK);
    ck_assert_uint_eq(taken, 4);
    ck_assert_uint_eq(l.pending, 0);
    ck_assert_int_eq(gwlb_redis_limit_restore(&l, taken), GWLB_OK);
    ck_assert_uint_eq(l.pending, 4);
    ck_assert_int_eq(gwlb_redis_limit_encode_sync(&c, &l, buf, sizeof buf, &n, "k", 1, EPOCH,
                                                  GWLB_REDIS_GCRA_SERVER_TIME, &taken),
                     GWLB_EINVAL);
    ck_assert_uint_eq(l.pending, 4);
}
END_TEST

START_TEST(test_sync_due_by_share_and_by_interval)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 4, 50 * MS, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    l.last_sync = EPOCH;
    gwlb_limit_result r;
    uint32_t v;
    ck_assert_int_eq(gwlb_redis_limit_sync_due(&c, &l, EPOCH + SEC), 0); /* nothing pending */
    gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v);
    ck_assert_int_eq(gwlb_redis_limit_sync_due(&c, &l, EPOCH + 49 * MS), 0);
    ck_assert_int_eq(gwlb_redis_limit_sync_due(&c, &l, EPOCH + 50 * MS), 1);
    gwlb_redis_limit_allow(&c, &l, EPOCH, 1, NULL, &r, &v);
    ck_assert_int_eq(gwlb_redis_limit_sync_due(&c, &l, EPOCH), 1); /* half the share */
    ck_assert_int_eq(gwlb_redis_limit_sync_due(NULL, &l, EPOCH), 0);
}
END_TEST

START_TEST(test_null_arguments_are_einval)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 4, 0, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    gwlb_limit_result r;
    uint32_t v;
    gwlb_redis_gcra_answer a;
    memset(&a, 0, sizeof a);
    ck_assert_int_eq(gwlb_redis_limit_allow(NULL, &l, 1, 1, NULL, &r, &v), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, NULL, 1, 1, NULL, &r, &v), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, 1, 1, NULL, NULL, &v), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_allow(&c, &l, 1, 1, NULL, &r, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_merge(&c, &l, 1, NULL, NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_failed(&c, &l, 1, 1, NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_limit_restore(NULL, 1), GWLB_EINVAL);
}
END_TEST

/* ---- the error bound, measured -------------------------------------------- */

#define GATEWAYS 4
#define STEPS 10000 /* 1 ms each: 10 s */

typedef struct run_stats {
    uint64_t total;
    uint64_t max_window; /* most admitted in any 1 s window */
} run_stats;

/*
 * 4 gateways, each offered 0..2 requests per ms (about 4x the fleet rate
 * in total), syncing every sync_ms. Counts admissions per ms.
 */
static run_stats simulate(uint64_t share, uint64_t sync_ms, uint64_t seed)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    ck_assert_int_eq(gwlb_redis_limit_config_init(&c, &g, share, sync_ms * MS,
                                                  GWLB_REDIS_FAIL_CLOSED),
                     GWLB_OK);
    gwlb_redis_limit l[GATEWAYS];
    for (int i = 0; i < GATEWAYS; i++)
        gwlb_redis_limit_init(&l[i]);
    sim_redis s = {0, 0};
    gwlb_rng rng;
    gwlb_rng_seed(&rng, seed);
    static uint32_t per_ms[STEPS];
    memset(per_ms, 0, sizeof per_ms);
    run_stats out = {0, 0};
    for (uint64_t t = 0; t < STEPS; t++) {
        uint64_t now = EPOCH + t * MS;
        for (int gw = 0; gw < GATEWAYS; gw++) {
            if (t % sync_ms == (uint64_t)gw * sync_ms / GATEWAYS)
                sync_one(&c, &l[gw], &s, now, NULL);
            uint64_t k = gwlb_rng_below(&rng, 3);
            for (uint64_t j = 0; j < k; j++)
                per_ms[t] += (uint32_t)decide(&c, &l[gw], &s, now, NULL);
        }
    }
    uint64_t window = 0;
    for (uint64_t t = 0; t < STEPS; t++) {
        out.total += per_ms[t];
        window += per_ms[t];
        if (t >= 1000)
            window -= per_ms[t - 1000];
        if (window > out.max_window)
            out.max_window = window;
    }
    return out;
}

START_TEST(test_exact_mode_admits_exactly_rate_times_time_plus_burst)
{
    run_stats r = simulate(0, 50, 1);
    /* 10 at once, then one per 10 ms at 10, 20 ... 9990 ms */
    ck_assert_uint_eq(r.total, 10 + 999);
    ck_assert_uint_eq(r.max_window, 10 + 99); /* any 1000 ms hold 100 ticks at most... minus the edge */
}
END_TEST

START_TEST(test_hybrid_error_stays_within_n_times_share)
{
    static const uint64_t shares[] = {1, 5, 20};
    static const uint64_t syncs[] = {10, 200, 1000};
    for (size_t k = 0; k < 3 * sizeof shares / sizeof shares[0]; k++) {
        size_t i = k % (sizeof shares / sizeof shares[0]);
        uint64_t share = shares[i], sync_ms = syncs[k / (sizeof shares / sizeof shares[0])];
        run_stats r = simulate(share, sync_ms, 7 + k);
        uint64_t exact_total = 10 + 999, exact_window = 10 + 99;
        uint64_t bound = GATEWAYS * share;
        printf("hybrid share=%llu sync=%llums gateways=4: admitted %llu (exact %llu, %+lld), "
               "max 1 s window %llu (exact %llu), bound +%llu\n",
               (unsigned long long)share, (unsigned long long)sync_ms, (unsigned long long)r.total,
               (unsigned long long)exact_total, (long long)r.total - (long long)exact_total,
               (unsigned long long)r.max_window, (unsigned long long)exact_window,
               (unsigned long long)bound);
        ck_assert_uint_le(r.total, exact_total + bound);
        ck_assert_uint_le(r.max_window, exact_window + bound);
        /* charges land at sync time: at most one sync period of rate lost */
        ck_assert_uint_ge(r.total, exact_total - 5);
    }
}
END_TEST

START_TEST(test_outage_with_fail_local_recovers_and_charges_backlog)
{
    gwlb_gcra_config g = cfg_100_per_s_burst_9();
    gwlb_redis_limit_config c;
    gwlb_redis_limit_config_init(&c, &g, 2, 50 * MS, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    sim_redis s = {0, 0};
    gwlb_redis_stats st;
    memset(&st, 0, sizeof st);
    uint64_t admitted = 0;
    for (uint64_t t = 0; t < 3000; t++) {
        uint64_t now = EPOCH + t * MS;
        s.down = t >= 1000 && t < 2000; /* Redis is away for one second */
        if (t % 50 == 0)
            sync_one(&c, &l, &s, now, &st);
        admitted += (uint64_t)decide(&c, &l, &s, now, &st);
    }
    /* one gateway alone: the fallback bucket keeps the same pace */
    ck_assert_uint_eq(admitted, 10 + 299);
    ck_assert_uint_gt(st.fallback_admitted, 0);
    ck_assert_uint_eq(st.failed_open + st.failed_closed, 0);
    /* the backlog admitted during the outage is charged by the next sync */
    sync_one(&c, &l, &s, EPOCH + 3000 * MS, &st);
    ck_assert_uint_eq(l.pending, 0);
    ck_assert_uint_ge(s.tat, l.tat - 2 * 10 * MS);
}
END_TEST

Suite *redis_fleet_suite(void);
Suite *redis_fleet_suite(void)
{
    Suite *s = suite_create("redis_fleet");
    TCase *tc = tcase_create("hybrid");
    tcase_add_test(tc, test_config_rejects_bad_values);
    tcase_add_test(tc, test_hybrid_admits_local_share_then_asks_redis);
    tcase_add_test(tc, test_hybrid_rejects_locally_when_known_full);
    tcase_add_test(tc, test_share_zero_sends_every_decision_to_redis);
    tcase_add_test(tc, test_remote_encodes_charge_of_pending_then_decision);
    tcase_add_test(tc, test_merge_only_raises_the_local_tat_and_refuses_errors);
    tcase_add_test(tc, test_sync_due_by_share_and_by_interval);
    tcase_add_test(tc, test_null_arguments_are_einval);
    suite_add_tcase(s, tc);
    tc = tcase_create("failure");
    tcase_add_test(tc, test_failed_call_fail_open_admits_fail_closed_rejects);
    tcase_add_test(tc, test_failed_call_fail_local_uses_local_bucket_and_keeps_cost_pending);
    tcase_add_test(tc, test_failed_sync_restores_pending);
    tcase_add_test(tc, test_outage_with_fail_local_recovers_and_charges_backlog);
    suite_add_tcase(s, tc);
    tc = tcase_create("error_bound");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exact_mode_admits_exactly_rate_times_time_plus_burst);
    tcase_add_test(tc, test_hybrid_error_stays_within_n_times_share);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(redis_fleet_suite());
}
