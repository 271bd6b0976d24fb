/*
 * nginx limit_req mode: nginx 1.22's leaky bucket with its exact integer
 * arithmetic (milli-requests, whole milliseconds, the backwards-time clamp),
 * packed into one 64-bit word so it can be updated with a CAS.
 *
 *   63  62 ............................ 25 24 ............. 0
 *  +---+----------------------------------+------------------+
 *  | 1 |  last: now in ms, modulo 2^38     | excess (milli)   |
 *  +---+----------------------------------+------------------+
 *
 * Bit 63 tells a fresh state (all zero: nginx's "node not found") from one
 * in use. `last` is compared with a wrapping 38-bit difference, so only the
 * low bits of the host clock matter and gaps up to 2^37 ms are exact.
 */
#include <stdatomic.h>

#include "gwlb/limiter.h"
#include "internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))

#define USED_BIT (UINT64_C(1) << 63)
#define EXCESS_BITS 25
#define EXCESS_MASK ((UINT64_C(1) << EXCESS_BITS) - 1)
#define LAST_BITS 38
#define LAST_MASK ((UINT64_C(1) << LAST_BITS) - 1)

static uint64_t pack(uint64_t last_ms, uint64_t excess)
{
    if (excess > EXCESS_MASK)
        excess = EXCESS_MASK; /* unreachable for excess <= burst; saturate anyway */
    return USED_BIT | ((last_ms & LAST_MASK) << EXCESS_BITS) | excess;
}

/* Signed difference now - last on the 38-bit ring. */
static int64_t ring_diff(uint64_t now_ms, uint64_t last)
{
    uint64_t d = (now_ms - last) & LAST_MASK;
    if (d >= (UINT64_C(1) << (LAST_BITS - 1)))
        return (int64_t)d - (int64_t)(UINT64_C(1) << LAST_BITS);
    return (int64_t)d;
}

int gwlb_limit_req_config_init(gwlb_limit_req_config *cfg, uint64_t rate,
                               enum gwlb_limit_req_unit unit, uint64_t burst, uint64_t delay)
{
    if (cfg == NULL || (unit != GWLB_LIMIT_REQ_PER_SECOND && unit != GWLB_LIMIT_REQ_PER_MINUTE))
        return GWLB_EINVAL;
    if (rate == 0 || rate > GWLB_LIMIT_REQ_RATE_MAX)
        return GWLB_ERANGE;
    uint64_t milli = rate * 1000 / (uint64_t)unit;
    if (milli == 0)
        return GWLB_ERANGE;
    if (burst > GWLB_LIMIT_REQ_BURST_MAX)
        return GWLB_EOVERFLOW;
    cfg->rate = milli;
    cfg->burst = burst * 1000;
    /* nginx's nodelay is a delay no excess can reach; keep any delay >= 2^50
     * requests as "never" too, so delay * 1000 cannot overflow. */
    cfg->delay = delay >= (UINT64_C(1) << 50) ? UINT64_MAX : delay * 1000;
    return GWLB_OK;
}

int gwlb_limit_req_state_decode(uint64_t state, uint64_t *excess, uint64_t *last_ms)
{
    if (excess == NULL || last_ms == NULL)
        return GWLB_EINVAL;
    if (!(state & USED_BIT)) {
        *excess = 0;
        *last_ms = 0;
        return 0;
    }
    *excess = state & EXCESS_MASK;
    *last_ms = (state >> EXCESS_BITS) & LAST_MASK;
    return 1;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* nginx: excess * 1000 / rate, in ns. */
static uint64_t drain_ns(const gwlb_limit_req_config *cfg, uint64_t excess)
{
    return excess * 1000 / cfg->rate * GWLB_NS_PER_MS;
}

int gwlb_limit_req_decide(const gwlb_limit_req_config *cfg, uint64_t state, uint64_t now,
                          gwlb_limit_result *result, uint64_t *new_state)
{
    if (cfg == NULL || result == NULL || new_state == NULL || cfg->rate == 0)
        return GWLB_EINVAL;
    uint64_t now_ms = now / GWLB_NS_PER_MS;
    uint64_t excess;
    uint64_t last = now_ms;
    uint64_t old_excess = 0;
    int64_t ms = 0;

    result->limit = cfg->burst / 1000 + 1;
    result->dry_run_limited = 0;
    if (!(state & USED_BIT)) {
        excess = 0; /* nginx creates the node with excess 0 */
    } else {
        old_excess = state & EXCESS_MASK;
        last = (state >> EXCESS_BITS) & LAST_MASK;
        ms = ring_diff(now_ms, last);
        if (ms < -60000)
            ms = 1;
        else if (ms < 0)
            ms = 0;
        uint64_t ums = (uint64_t)ms;
        uint64_t decay = ums != 0 && cfg->rate > UINT64_MAX / ums ? UINT64_MAX
                                                                  : cfg->rate * ums / 1000;
        excess = old_excess + 1000 > decay ? old_excess + 1000 - decay : 0;
        if (ms != 0)
            last = now_ms;
    }

    if (excess > cfg->burst) {
        /* Rejected: nothing stored. The same request passes once
         * rate * ms / 1000 >= old + 1000 - burst. */
        uint64_t need_ms = div_ceil((old_excess + 1000 - cfg->burst) * 1000, cfg->rate);
        uint64_t wait_ms = need_ms > (uint64_t)ms ? need_ms - (uint64_t)ms : 0;
        result->allowed = 0;
        result->remaining = 0;
        result->reset_after_ns = drain_ns(cfg, excess > 1000 ? excess - 1000 : 0); /* queued now */
        result->retry_after_ns = (int64_t)(wait_ms * GWLB_NS_PER_MS);
        result->delay_ns = 0;
        *new_state = state;
        return GWLB_OK;
    }
    result->allowed = 1;
    result->remaining = (cfg->burst - excess) / 1000;
    result->reset_after_ns = drain_ns(cfg, excess);
    result->retry_after_ns = -1;
    result->delay_ns = excess <= cfg->delay
                           ? 0
                           : (excess - cfg->delay) * 1000 / cfg->rate * GWLB_NS_PER_MS;
    *new_state = pack(last, excess);
    return GWLB_OK;
}

int gwlb_limit_req_state_allow(const gwlb_limit_req_config *cfg, uint64_t *state_word,
                               uint64_t now, gwlb_limit_result *result)
{
    if (cfg == NULL || state_word == NULL || cfg->rate == 0)
        return GWLB_EINVAL;
    gwlb_limit_result local;
    gwlb_limit_result *r = result != NULL ? result : &local;
    uint64_t old = atomic_load_explicit(AWORD(state_word), memory_order_relaxed);
    for (;;) {
        uint64_t next;
        gwlb_limit_req_decide(cfg, old, now, r, &next);
        if (next == old)
            return GWLB_OK;
        if (atomic_compare_exchange_weak_explicit(AWORD(state_word), &old, next,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return GWLB_OK;
    }
}

int gwlb_limit_req_init(gwlb_limit_req *limiter, uint64_t rate, enum gwlb_limit_req_unit unit,
                        uint64_t burst, uint64_t delay)
{
    if (limiter == NULL)
        return GWLB_EINVAL;
    gwlb_limit_req_config cfg;
    int rc = gwlb_limit_req_config_init(&cfg, rate, unit, burst, delay);
    if (rc != GWLB_OK)
        return rc;
    limiter->config = cfg;
    atomic_store_explicit(AWORD(&limiter->state), 0, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_limit_req_allow(gwlb_limit_req *limiter, uint64_t now, gwlb_limit_result *result)
{
    if (limiter == NULL)
        return GWLB_EINVAL;
    return gwlb_limit_req_state_allow(&limiter->config, &limiter->state, now, result);
}
