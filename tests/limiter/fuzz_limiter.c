/*
 * libFuzzer target for the limiter: arbitrary configs, state words, times
 * and costs through every decide function, a small keyed table and the
 * header formatters. Checks invariants (a rejection never changes state,
 * remaining never exceeds limit, formatted lengths match) and, through
 * ASan/UBSan, that no input overflows or misbehaves.
 */
#include <stdint.h>
#include <string.h>

#include "gwlb/limiter.h"

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c))                                                                             \
            __builtin_trap();                                                                 \
    } while (0)

static uint64_t take(const uint8_t **p, size_t *n)
{
    uint64_t v = 0;
    size_t k = *n < 8 ? *n : 8;
    memcpy(&v, *p, k);
    *p += k;
    *n -= k;
    return v;
}

static _Alignas(64) unsigned char table_mem[GWLB_LIMITER_TABLE_HEADER +
                                            4 * GWLB_LIMITER_TABLE_BUCKET];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t n = size;
    uint64_t a = take(&p, &n), b = take(&p, &n), c = take(&p, &n);
    gwlb_limit_result r;
    uint64_t next;

    gwlb_gcra_config g;
    if (gwlb_gcra_config_init(&g, a % 100000 + (a >> 40), b, c % 1000000) == GWLB_OK) {
        uint64_t tat = take(&p, &n), now = take(&p, &n) >> 1, cost = take(&p, &n) % 64;
        CHECK(gwlb_gcra_decide(&g, tat, now, cost, &r, &next) == GWLB_OK);
        CHECK(r.remaining <= r.limit);
        if (!r.allowed || cost == 0)
            CHECK(next == tat);
        int64_t reply[5];
        CHECK(gwlb_gcra_throttle_reply(&r, reply) == GWLB_OK);
    }

    gwlb_limit_req_config l;
    if (gwlb_limit_req_config_init(&l, a % 2000000, (b & 1) ? GWLB_LIMIT_REQ_PER_MINUTE
                                                           : GWLB_LIMIT_REQ_PER_SECOND,
                                   c % 40000, (c >> 32) % 50) == GWLB_OK) {
        uint64_t st = take(&p, &n), now = take(&p, &n);
        CHECK(gwlb_limit_req_decide(&l, st, now, &r, &next) == GWLB_OK);
        if (!r.allowed)
            CHECK(next == st);
        else {
            uint64_t excess, last;
            CHECK(gwlb_limit_req_state_decode(next, &excess, &last) == 1);
            CHECK(excess <= l.burst);
        }
    }

    gwlb_window_config w;
    if (gwlb_window_config_init(&w, a % 2000000, b % (UINT64_C(1) << 45), c,
                                (a & 1) ? GWLB_QUOTA_LIMIT_MAX : GWLB_SLIDING_LIMIT_MAX) ==
        GWLB_OK) {
        uint64_t st = take(&p, &n), now = take(&p, &n), cost = take(&p, &n) % 100;
        int rc = (a & 1) ? gwlb_quota_decide(&w, st, now, cost, &r, &next)
                         : gwlb_sliding_decide(&w, st, now, cost, &r, &next);
        CHECK(rc == GWLB_OK);
        CHECK(r.remaining <= r.limit);
        if (!r.allowed)
            CHECK(next == st);
    }

    gwlb_limiter_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.kind = GWLB_LIMITER_GCRA;
    if (gwlb_gcra_config_init(&pol.u.gcra, 10, 1000000000, 3) == GWLB_OK) {
        static const uint8_t hk[16] = {9};
        gwlb_limiter_table *t;
        CHECK(gwlb_limiter_table_init(table_mem, sizeof table_mem, &pol, hk, &t) == GWLB_OK);
        uint64_t now = 1000000000;
        for (size_t i = 0; i + 2 <= n; i += 2) {
            size_t len = p[i] % 8 + 1;
            if (i + 1 + len > n)
                break;
            now += p[i + 1] * UINT64_C(1000000);
            CHECK(gwlb_limiter_table_allow(t, p + i + 1, len, now, p[i] >> 7, &r) == GWLB_OK);
            CHECK(r.remaining <= r.limit);
        }
        gwlb_limiter_table_stats st;
        CHECK(gwlb_limiter_table_stats_get(t, &st) == GWLB_OK);
        CHECK(st.used <= st.capacity);
    }

    char name[64], buf[96];
    size_t k = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, p, k);
    name[k] = '\0';
    size_t len = a % 8;
    memset(buf, 'x', sizeof buf);
    int rc = gwlb_ratelimit_policy_item(buf, sizeof buf, &len, name, b, c);
    if (rc == GWLB_OK)
        CHECK(strlen(buf + 0) >= len - 0 && buf[len] == '\0');
    memset(&r, 0, sizeof r);
    r.remaining = a;
    r.reset_after_ns = b;
    r.retry_after_ns = (int64_t)c;
    len = 0;
    if (gwlb_ratelimit_item(buf, sizeof buf, &len, name, &r) == GWLB_OK)
        CHECK(strlen(buf) == len);
    if (gwlb_ratelimit_legacy_value(&r, GWLB_RETRY_AFTER, buf, sizeof buf, &len) == GWLB_OK)
        CHECK(strlen(buf) == len);
    return 0;
}
