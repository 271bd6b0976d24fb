/*
 * libFuzzer target for the breaker component. The input chooses a config
 * (valid or not) and then a program of allow / record / poll / admin
 * transition / time jumps (forwards and backwards), plus resource-limit and
 * retry-budget calls. Invariants checked after every step:
 *   - the state is one of the six states;
 *   - every admitted call is accounted for exactly once:
 *       admitted == successes + failures + ignored + stale + still in flight
 *     and admitted + rejected == attempts (exact counters);
 *   - resource counts equal acquires minus releases and never pass the cap;
 *   - a second, unvalidated config passed to the hot path never crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/breaker.h"

#define CHECK(x)              \
    do {                      \
        if (!(x))             \
            __builtin_trap(); \
    } while (0)

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v <<= 8;
        if (r->n > 0) {
            v |= *r->p++;
            r->n--;
        }
    }
    return v;
}

static void read_config(reader *r, gwlb_breaker_config *cfg)
{
    gwlb_breaker_config_init(cfg);
    cfg->consecutive_failures = (uint32_t)take(r, 1) % 10;
    cfg->failure_rate_percent = (uint32_t)take(r, 1) % 110;
    cfg->slow_call_rate_percent = (uint32_t)take(r, 1) % 110;
    cfg->window_kind = (uint32_t)take(r, 1) % 4;
    cfg->slow_call_ns = take(r, 2) * 1000;
    cfg->window_size = (uint32_t)take(r, 2) % 1100;
    cfg->minimum_calls = (uint32_t)take(r, 2) % 1100;
    cfg->window_bucket_ns = take(r, 2) * 1000;
    cfg->half_open_permits = (uint32_t)take(r, 1) % 12;
    cfg->half_open_successes = (uint32_t)take(r, 1) % 12;
    cfg->half_open_failures = (uint32_t)take(r, 1) % 12;
    cfg->open_wait_multiplier_percent = 90 + (uint32_t)take(r, 1);
    cfg->open_wait_ns = take(r, 2) * 1000;
    cfg->open_wait_max_ns = take(r, 3) * 1000;
    cfg->open_wait_jitter_percent = (uint32_t)take(r, 1) % 110;
    cfg->half_open_max_wait_ns = take(r, 2) * 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    gwlb_breaker_config cfg, other;
    read_config(&r, &cfg);
    read_config(&r, &other);
    (void)gwlb_breaker_config_validate(&other, NULL);

    static gwlb_breaker b;
    if (gwlb_breaker_init(&b, &cfg, take(&r, 8), NULL) != 0)
        return 0;
    int exclusive = (int)(take(&r, 1) & 1); /* one thread here: both modes must hold */
    CHECK(gwlb_breaker_set_exclusive(&b, exclusive) == 0);

    gwlb_resource_config rcfg;
    gwlb_resource_config_init(&rcfg);
    rcfg.max[GWLB_RESOURCE_REQUESTS] = take(&r, 1) % 8;
    rcfg.retry_budget = (uint32_t)take(&r, 1) & 1;
    gwlb_resources res;
    gwlb_resources_init(&res);
    int64_t held[GWLB_RESOURCE_COUNT] = {0};

    gwlb_retry_budget_config bcfg;
    gwlb_retry_budget_config_init(&bcfg);
    gwlb_retry_budget budget;
    CHECK(gwlb_retry_budget_init(&budget, &bcfg, NULL) == 0);

    uint64_t tickets[64];
    int pending = 0;
    uint64_t attempts = 0, now = UINT64_C(1000000000000);

    while (r.n > 0) {
        unsigned op = (unsigned)take(&r, 1);
        uint64_t t;
        switch (op % 10) {
        case 0: /* allow */
        case 1: {
            attempts++;
            int rc = gwlb_breaker_allow(&b, &cfg, now, &t);
            CHECK(rc >= 0 && rc <= GWLB_BREAKER_REJECT_FORCED_OPEN);
            if (rc == 0) {
                CHECK(t != 0);
                if (pending < 64)
                    tickets[pending++] = t;
                else { /* no room: finish it at once */
                    int rr = gwlb_breaker_record(&b, &cfg, t, GWLB_BREAKER_SUCCESS, 0, now);
                    CHECK(rr == 0 || rr == GWLB_EUNKNOWN);
                }
            }
            break;
        }
        case 2: /* record one pending ticket */
        case 3:
            if (pending > 0) {
                int k = (int)(take(&r, 1) % (unsigned)pending);
                int outcome = (int)(take(&r, 1) % 3);
                uint64_t dur = take(&r, 2) * 1000;
                int rc = gwlb_breaker_record(&b, &cfg, tickets[k], outcome, dur, now);
                CHECK(rc == 0 || rc == GWLB_EUNKNOWN);
                tickets[k] = tickets[--pending];
            }
            break;
        case 4: /* time moves on */
            now += take(&r, 3) * 1000;
            break;
        case 5: /* time jumps backwards */
            now -= (take(&r, 2) * 1000) % (now / 2);
            break;
        case 6: {
            int st = gwlb_breaker_poll(&b, &cfg, now);
            CHECK(st >= 0 && st <= GWLB_BREAKER_METRICS_ONLY);
            break;
        }
        case 7: {
            int target = (int)(take(&r, 1) % 8);
            int rc = gwlb_breaker_transition(&b, &cfg, target, now);
            CHECK(rc == (target <= GWLB_BREAKER_METRICS_ONLY ? 0 : GWLB_EINVAL));
            break;
        }
        case 8: { /* the hot path with a config it was not built with */
            uint64_t t2;
            if (gwlb_breaker_allow(&b, &other, now, &t2) == 0) {
                attempts++;
                int rc = gwlb_breaker_record(&b, &other, t2, GWLB_BREAKER_FAILURE,
                                             take(&r, 2) * 1000, now);
                CHECK(rc == 0 || rc == GWLB_EUNKNOWN);
            } else {
                attempts++;
            }
            break;
        }
        case 9: { /* resources and retry budget */
            int kind = (int)(take(&r, 1) % GWLB_RESOURCE_COUNT);
            if (take(&r, 1) & 1) {
                int rc = exclusive ? gwlb_resources_acquire_exclusive(&res, &rcfg, kind)
                                   : gwlb_resources_acquire(&res, &rcfg, kind);
                CHECK(rc == 0 || rc == GWLB_ELIMIT);
                held[kind] += rc == 0;
            } else {
                int rc = exclusive ? gwlb_resources_release_exclusive(&res, kind)
                                   : gwlb_resources_release(&res, kind);
                CHECK(rc == (held[kind] > 0 ? 0 : GWLB_ESTATE));
                held[kind] -= rc == 0;
            }
            CHECK(gwlb_resources_active(&res, kind) == (uint64_t)held[kind]);
            if (kind != GWLB_RESOURCE_RETRIES || !rcfg.retry_budget)
                CHECK((uint64_t)held[kind] <= rcfg.max[kind] || held[kind] == 0);
            if (take(&r, 1) & 1)
                CHECK(gwlb_retry_budget_deposit(&budget, &bcfg, now) == 0);
            else
                CHECK(gwlb_retry_budget_withdraw(&budget, &bcfg, now) != GWLB_EINVAL);
            break;
        }
        }
        int st = gwlb_breaker_state(&b);
        CHECK(st >= 0 && st <= GWLB_BREAKER_METRICS_ONLY);
        gwlb_breaker_stats s;
        CHECK(gwlb_breaker_get_stats(&b, &cfg, now, &s) == 0);
        CHECK(s.admitted + s.rejected == attempts);
        CHECK(s.admitted == s.successes + s.failures + s.ignored + s.stale_results +
                                (uint64_t)pending);
        gwlb_breaker_counts c;
        CHECK(gwlb_breaker_get_counts(&b, &c) == 0);
    }
    return 0;
}
