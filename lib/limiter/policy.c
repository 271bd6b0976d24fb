/*
 * Policies: one entry point over every state-word limiter (GCRA, nginx
 * limit_req, quota, sliding window), the "is this state as good as fresh"
 * test the keyed table evicts by, dry-run, and several limits on one
 * request applied all-or-nothing with refunds.
 *
 * Refunds: after limit i rejects, each earlier limit j gets its state put
 * back with a CAS from exactly the word we stored to exactly the word we
 * found; if another request changed it since, the cost is subtracted from
 * whatever is there now (the arithmetic inverse of admitting it).
 */
#include <stdatomic.h>

#include "gwlb/limiter.h"
#include "internal.h"
#include "limiter_internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))

__extension__ typedef unsigned __int128 u128;

static int decide(const gwlb_limiter_policy *p, uint64_t state, uint64_t now, uint64_t cost,
                  gwlb_limit_result *r, uint64_t *next)
{
    switch (p->kind) {
    case GWLB_LIMITER_GCRA:
        return gwlb_gcra_decide(&p->u.gcra, state, now, cost, r, next);
    case GWLB_LIMITER_LIMIT_REQ: {
        int rc = gwlb_limit_req_decide(&p->u.limit_req, state, now, r, next);
        if (rc == GWLB_OK && cost == 0)
            *next = state; /* peek */
        return rc;
    }
    case GWLB_LIMITER_QUOTA:
        return gwlb_quota_decide(&p->u.window, state, now, cost, r, next);
    case GWLB_LIMITER_SLIDING:
        return gwlb_sliding_decide(&p->u.window, state, now, cost, r, next);
    default:
        return GWLB_EINVAL;
    }
}

int gwlb__limiter_policy_check(const gwlb_limiter_policy *p)
{
    if (p == NULL)
        return GWLB_EINVAL;
    gwlb_limit_result r;
    uint64_t next;
    /* Each decide validates its own config (T, rate, window, limit != 0). */
    return decide(p, 0, 0, 0, &r, &next);
}

int gwlb__limiter_apply(const gwlb_limiter_policy *p, uint64_t *word, uint64_t now,
                        uint64_t cost, gwlb_limit_result *r, uint64_t *before, uint64_t *after)
{
    if (p->kind == GWLB_LIMITER_LIMIT_REQ && cost > 1)
        return GWLB_ERANGE;
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    for (;;) {
        uint64_t next;
        int rc = decide(p, old, now, cost, r, &next);
        if (rc != GWLB_OK)
            return rc;
        if (next == old ||
            atomic_compare_exchange_weak_explicit(AWORD(word), &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            *before = old;
            *after = next;
            break;
        }
    }
    if (!r->allowed && (p->flags & GWLB_LIMITER_DRY_RUN)) {
        r->allowed = 1;
        r->dry_run_limited = 1;
        r->retry_after_ns = -1;
    }
    return GWLB_OK;
}

int gwlb_limiter_state_allow(const gwlb_limiter_policy *policy, uint64_t *state_word,
                             uint64_t now, uint64_t cost, gwlb_limit_result *result)
{
    if (policy == NULL || state_word == NULL)
        return GWLB_EINVAL;
    gwlb_limit_result local;
    uint64_t before, after;
    return gwlb__limiter_apply(policy, state_word, now, cost, result ? result : &local, &before,
                               &after);
}

/* nginx's expiry rule (ngx_http_limit_req_expire): idle >= 60 s and drained. */
static int limit_req_fresh(const gwlb_limit_req_config *c, uint64_t state, uint64_t now)
{
    uint64_t excess, last;
    if (gwlb_limit_req_state_decode(state, &excess, &last) != 1)
        return 1;
    const uint64_t mask = (UINT64_C(1) << 38) - 1;
    uint64_t d = (now / GWLB_NS_PER_MS - last) & mask;
    uint64_t ms = d >= (UINT64_C(1) << 37) ? (UINT64_C(1) << 38) - d : d; /* |ms| */
    if (ms < 60000)
        return 0;
    return (u128)c->rate * ms >= (u128)excess * 1000; /* rate * ms / 1000 >= excess */
}

int gwlb_limiter_state_is_fresh(const gwlb_limiter_policy *policy, uint64_t state, uint64_t now)
{
    if (policy == NULL)
        return 0;
    if (state == 0)
        return 1;
    if (policy->kind == GWLB_LIMITER_GCRA)
        return state <= now; /* TAT in the past: full capacity */
    if (policy->kind == GWLB_LIMITER_LIMIT_REQ)
        return limit_req_fresh(&policy->u.limit_req, state, now);
    gwlb_limit_result r;
    uint64_t next;
    if (decide(policy, state, now, 0, &r, &next) != GWLB_OK)
        return 0;
    return r.reset_after_ns == 0;
}

/* Subtract `cost` from a state the way admitting it added it. */
static uint64_t refund_word(const gwlb_limiter_policy *p, uint64_t cur, uint64_t stored,
                            uint64_t cost)
{
    switch (p->kind) {
    case GWLB_LIMITER_GCRA: {
        uint64_t inc = cost * p->u.gcra.emission_ns;
        return cur > inc ? cur - inc : 0;
    }
    case GWLB_LIMITER_LIMIT_REQ: {
        uint64_t excess = cur & ((UINT64_C(1) << 25) - 1);
        if (!(cur >> 63))
            return cur;
        return cur - (excess > 1000 ? 1000 : excess);
    }
    case GWLB_LIMITER_QUOTA: {
        if ((cur >> 32) != (stored >> 32))
            return cur; /* a new window started: nothing left to refund */
        uint64_t count = cur & UINT32_MAX;
        return cur - (count > cost ? cost : count);
    }
    case GWLB_LIMITER_SLIDING: {
        const uint64_t m = (UINT64_C(1) << 20) - 1;
        uint64_t ci = cur >> 40, si = stored >> 40;
        if (ci == si) {
            uint64_t c = cur & m;
            return cur - (c > cost ? cost : c);
        }
        return cur; /* window moved on: the estimate already discounts it */
    }
    default:
        return cur;
    }
}

static void refund(const gwlb_limiter_policy *p, uint64_t *word, uint64_t before,
                   uint64_t after, uint64_t cost)
{
    if (before == after)
        return;
    uint64_t expected = after;
    if (atomic_compare_exchange_strong_explicit(AWORD(word), &expected, before,
                                                memory_order_acq_rel, memory_order_relaxed))
        return;
    uint64_t cur = expected;
    for (;;) {
        uint64_t next = refund_word(p, cur, after, cost);
        if (next == cur ||
            atomic_compare_exchange_weak_explicit(AWORD(word), &cur, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
}

#define ALLOW_ALL_MAX 64

int gwlb_limiter_allow_all(const gwlb_limit_ref *limits, size_t n, uint64_t now, uint64_t cost,
                           gwlb_limit_result *result, int32_t *failed_index)
{
    if (limits == NULL || result == NULL)
        return GWLB_EINVAL;
    if (n == 0)
        return GWLB_EMPTY;
    if (n > ALLOW_ALL_MAX)
        return GWLB_ERANGE;
    for (size_t i = 0; i < n; i++) {
        const gwlb_limiter_policy *p = limits[i].policy;
        if (p == NULL || limits[i].state == NULL || p->kind < GWLB_LIMITER_GCRA ||
            p->kind > GWLB_LIMITER_SLIDING)
            return GWLB_EINVAL;
        if (p->kind == GWLB_LIMITER_LIMIT_REQ && cost > 1)
            return GWLB_ERANGE;
    }
    uint64_t before[ALLOW_ALL_MAX], after[ALLOW_ALL_MAX];
    gwlb_limit_result best, r;
    uint64_t max_delay = 0;
    uint32_t dry = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = gwlb__limiter_apply(limits[i].policy, limits[i].state, now, cost, &r,
                                     &before[i], &after[i]);
        if (rc != GWLB_OK || !r.allowed) {
            size_t failed = i;
            while (i-- > 0)
                refund(limits[i].policy, limits[i].state, before[i], after[i], cost);
            if (rc != GWLB_OK)
                return rc;
            *result = r;
            if (failed_index != NULL)
                *failed_index = (int32_t)failed;
            return GWLB_OK;
        }
        dry |= r.dry_run_limited;
        if (r.delay_ns > max_delay)
            max_delay = r.delay_ns;
        if (i == 0 || r.remaining < best.remaining)
            best = r;
    }
    best.delay_ns = max_delay;
    best.dry_run_limited = dry;
    *result = best;
    if (failed_index != NULL)
        *failed_index = -1;
    return GWLB_OK;
}
