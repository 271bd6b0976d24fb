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

/*
 * The result numbers divide by the rate (a runtime value: a 64-bit divide
 * costs 40-90 cycles). Instead, inv = 1.0 / rate is computed once per call,
 * before the state word is even read (it depends on the config only, so it
 * runs in parallel with the decision), and each quotient is a multiply
 * corrected by one integer step. With a <= 2^37 and rate <= 2^40 the
 * double product is within 2^-15 of a / rate, so the truncated estimate is
 * floor(a / rate) - 1, + 0 or + 1, and the remainder says which.
 */
static inline uint64_t div_rate(uint64_t a, uint64_t rate, double inv, uint64_t *rem)
{
    int64_t q = (int64_t)((double)(int64_t)a * inv);
    int64_t r = (int64_t)a - q * (int64_t)rate;
    if (r < 0) {
        q--;
        r += (int64_t)rate;
    } else if (r >= (int64_t)rate) {
        q++;
        r -= (int64_t)rate;
    }
    *rem = (uint64_t)r;
    return (uint64_t)q;
}

/* nginx: excess * 1000 / rate (ms), in ns. */
static inline uint64_t drain_ns(const gwlb_limit_req_config *cfg, double inv, uint64_t excess)
{
    uint64_t rem;
    return div_rate(excess * 1000, cfg->rate, inv, &rem) * GWLB_NS_PER_MS;
}

/*
 * nginx's step on one state word: the excess after this request, the
 * previous excess and the (clamped) ms since last; *new_state is what to
 * store when admitted. Returns 1 to admit. Integer arithmetic only; the
 * divisions are by constants (1e6, 1000), i.e. multiplies.
 */
static inline int limit_req_step(const gwlb_limit_req_config *cfg, uint64_t state, uint64_t now,
                                 uint64_t *excess_out, uint64_t *old_out, uint64_t *ms_out,
                                 uint64_t *new_state)
{
    uint64_t now_ms = now / GWLB_NS_PER_MS;
    uint64_t excess = 0; /* nginx creates the node with excess 0 */
    uint64_t old_excess = 0;
    uint64_t last = now_ms;
    uint64_t ums = 0;
    if (state & USED_BIT) {
        old_excess = state & EXCESS_MASK;
        last = (state >> EXCESS_BITS) & LAST_MASK;
        int64_t ms = ring_diff(now_ms, last);
        if (ms < -60000)
            ms = 1;
        else if (ms < 0)
            ms = 0;
        ums = (uint64_t)ms;
        uint64_t product, decay;
        if (__builtin_mul_overflow(cfg->rate, ums, &product))
            decay = UINT64_MAX;
        else
            decay = product / 1000;
        excess = old_excess + 1000 > decay ? old_excess + 1000 - decay : 0;
        if (ums != 0)
            last = now_ms;
    }
    *excess_out = excess;
    *old_out = old_excess;
    *ms_out = ums;
    *new_state = pack(last, excess);
    return excess <= cfg->burst;
}

static inline void limit_req_result(const gwlb_limit_req_config *cfg, double inv, int allowed,
                                    uint64_t excess, uint64_t old_excess, uint64_t ms,
                                    gwlb_limit_result *result)
{
    result->limit = cfg->burst / 1000 + 1;
    result->dry_run_limited = 0;
    result->allowed = allowed;
    if (!allowed) {
        /* Rejected: nothing stored. The same request passes once
         * rate * ms / 1000 >= old + 1000 - burst: ceil(need * 1000 / rate). */
        uint64_t rem;
        uint64_t need_ms = div_rate((old_excess + 1000 - cfg->burst) * 1000, cfg->rate, inv, &rem);
        need_ms += rem != 0;
        uint64_t wait_ms = need_ms > ms ? need_ms - ms : 0;
        result->remaining = 0;
        result->reset_after_ns = drain_ns(cfg, inv, excess > 1000 ? excess - 1000 : 0); /* queued now */
        result->retry_after_ns = (int64_t)(wait_ms * GWLB_NS_PER_MS);
        result->delay_ns = 0;
        return;
    }
    result->remaining = (cfg->burst - excess) / 1000;
    result->reset_after_ns = drain_ns(cfg, inv, excess);
    result->retry_after_ns = -1;
    result->delay_ns = excess <= cfg->delay ? 0 : drain_ns(cfg, inv, excess - cfg->delay);
}

int gwlb_limit_req_decide(const gwlb_limit_req_config *cfg, uint64_t state, uint64_t now,
                          gwlb_limit_result *result, uint64_t *new_state)
{
    if (cfg == NULL || result == NULL || new_state == NULL || cfg->rate == 0)
        return GWLB_EINVAL;
    double inv = 1.0 / (double)(int64_t)cfg->rate;
    uint64_t excess, old_excess, ms, next;
    int allowed = limit_req_step(cfg, state, now, &excess, &old_excess, &ms, &next);
    limit_req_result(cfg, inv, allowed, excess, old_excess, ms, result);
    *new_state = allowed ? next : state;
    return GWLB_OK;
}

/* Decide and store with one CAS (or, exclusive, a plain atomic store); the
 * numbers are computed once the decision is final. */
static inline int limit_req_allow(const gwlb_limit_req_config *cfg, uint64_t *word, uint64_t now,
                                  gwlb_limit_result *result, int exclusive)
{
    double inv = 1.0 / (double)(int64_t)cfg->rate; /* before the state: runs in parallel */
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    uint64_t excess, old_excess, ms, next;
    int allowed;
    for (;;) {
        allowed = limit_req_step(cfg, old, now, &excess, &old_excess, &ms, &next);
        if (!allowed || next == old)
            break;
        if (exclusive) {
            atomic_store_explicit(AWORD(word), next, memory_order_relaxed);
            break;
        }
        if (atomic_compare_exchange_weak_explicit(AWORD(word), &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (result != NULL)
        limit_req_result(cfg, inv, allowed, excess, old_excess, ms, result);
    return allowed;
}

int gwlb_limit_req_state_allow(const gwlb_limit_req_config *cfg, uint64_t *state_word,
                               uint64_t now, gwlb_limit_result *result)
{
    if (cfg == NULL || state_word == NULL || cfg->rate == 0)
        return GWLB_EINVAL;
    limit_req_allow(cfg, state_word, now, result, 0);
    return GWLB_OK;
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
    if (limiter == NULL || limiter->config.rate == 0)
        return GWLB_EINVAL;
    limit_req_allow(&limiter->config, &limiter->state, now, result, 0);
    return GWLB_OK;
}

int gwlb_limit_req_allow_exclusive(gwlb_limit_req *limiter, uint64_t now,
                                   gwlb_limit_result *result)
{
    if (limiter == NULL || limiter->config.rate == 0)
        return GWLB_EINVAL;
    limit_req_allow(&limiter->config, &limiter->state, now, result, 1);
    return GWLB_OK;
}
