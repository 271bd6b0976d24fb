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
 *
 * Hot path: a request in the same millisecond as the last stored one finds
 * the word's upper bits equal to now's "stamp" and stores word + 1000 (one
 * compare, one add, one CAS); the once-per-ms step does nginx's decay. The
 * result numbers (divisions by the rate) are exact double divides computed
 * after the decision; a rejection stores nothing. In CAS mode a rejection's
 * numbers avoid dividing anything read from the state word (1 ms retry at
 * high rates, reset from the config's quotient): the next CAS waits for
 * this call's stores, so a divide there would sit on every caller's path.
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
 * The result numbers divide by the rate, a runtime value (a 64-bit integer
 * divide costs 40-90 cycles). A double divide is exact here: for integers
 * a, b with a + b <= 2^53, the correctly rounded a / b truncates to
 * floor(a / b) (a non-integer quotient is at least 1/b below the next
 * integer, more than half an ulp there). Every dividend below is at most
 * (EXCESS_MASK + 1000) * 1000 < 2^36 plus the rate, and the rate is at
 * most GWLB_LIMIT_REQ_RATE_MAX * 1000 < 2^40 (config_init; a hand-made
 * rate above 2^52 is outside the contract). The divides
 * depend on nothing but the decision, so they overlap with the state update.
 */
static inline uint64_t qrate(uint64_t a, double rate)
{
    return (uint64_t)(int64_t)((double)(int64_t)a / rate);
}

/* x / 1000 for x < 2^32 (a 32-bit divide by a constant: one multiply). */
static inline uint64_t div1000(uint64_t x)
{
    return (uint32_t)x / 1000u;
}

/* The effective burst: the packed excess field holds at most EXCESS_MASK,
 * so a hand-made config above GWLB_LIMIT_REQ_BURST_MAX is capped there
 * (config_init never produces one). Then every admitted excess, and the
 * excess + 1000 of the same-millisecond step, fit in the field. */
static inline uint64_t burst_of(const gwlb_limit_req_config *cfg)
{
    uint64_t b = cfg->burst;
    return b < GWLB_LIMIT_REQ_BURST_MAX * 1000 ? b : GWLB_LIMIT_REQ_BURST_MAX * 1000;
}

/*
 * nginx's step on one state word at now_ms (given as its stamp): sets
 * *excess (after this request) and *ms (the clamped ms since last; read
 * only when rejected) and returns the word to
 * store if admitted (admitted iff *excess <= burst). Integer arithmetic;
 * the divisions are by the constant 1000 (multiplies).
 *
 * stamp = USED_BIT | now_ms << 25 (bits of now_ms above 38 fall off or
 * land on bit 63, which is set anyway): the word's upper part once last =
 * now_ms. The common case is a request in the same millisecond as the
 * previous one, i.e. a word whose upper part already is the stamp: the
 * excess grows by exactly 1000 and last stays, the word + 1000.
 */
static inline uint64_t limit_req_step(const gwlb_limit_req_config *cfg, uint64_t state,
                                      uint64_t stamp, uint64_t *excess, uint64_t *ms)
{
    uint64_t old_excess = state & EXCESS_MASK, upper = state & ~EXCESS_MASK;
    *ms = 0;
    if (__builtin_expect(upper == stamp, 1)) {
        *excess = old_excess + 1000;
        return state + 1000;
    }
    if (!(state & USED_BIT)) { /* nginx creates the node with excess 0 */
        *excess = 0;
        return stamp;
    }
    /* now - last on the 38-bit ring, shifted to the top of the word: both
     * uppers hold last (now) in bits 25..62 and bit 63 set, so their
     * difference holds d = (now - last) mod 2^38 in bits 25..62 and a
     * borrow in bit 63, which the shift drops. A set top bit (d >= 2^37)
     * is a negative ms. */
    uint64_t top = (stamp - upper) << 1; /* d << 26 */
    if (top >= (LAST_MASK + 1 - 60000) << 26) { /* -60000 <= ms < 0 counts as 0 ms */
        *excess = old_excess + 1000;
        return state + 1000;
    }
    uint64_t m = (int64_t)top >= 0 ? top >> 26 : 1; /* ms < -60000: 1 */
    uint64_t product, decay;
    if (__builtin_mul_overflow(cfg->rate, m, &product))
        decay = UINT64_MAX;
    else
        decay = product / 1000;
    uint64_t e = old_excess + 1000 > decay ? old_excess + 1000 - decay : 0;
    *excess = e;
    *ms = m;
    /* ms != 0: last = now_ms. e > EXCESS_MASK only when rejected (not stored). */
    return stamp | (e & EXCESS_MASK);
}

/* The stamp of now_ms (see limit_req_step). */
static inline uint64_t stamp_of(uint64_t now_ms)
{
    return USED_BIT | now_ms << EXCESS_BITS;
}

/* The numbers of an admitted request (excess <= burst). */
static inline void limit_req_admitted(const gwlb_limit_req_config *cfg, uint64_t burst,
                                      uint64_t excess, gwlb_limit_result *result)
{
    double rate = (double)(int64_t)cfg->rate;
    uint64_t delay = cfg->delay;
    result->allowed = 1;
    result->dry_run_limited = 0;
    result->limit = div1000(burst) + 1;
    result->remaining = div1000((uint32_t)burst - (uint32_t)excess);
    result->reset_after_ns = qrate(excess * 1000, rate) * GWLB_NS_PER_MS;
    result->retry_after_ns = -1;
    result->delay_ns = excess <= delay ? 0 : qrate((excess - delay) * 1000, rate) * GWLB_NS_PER_MS;
}

/*
 * The numbers of a rejected request on the word `state` (nothing stored;
 * never a fresh word: its first request is admitted). The same request
 * passes once rate * ms / 1000 >= old + 1000 - burst (> 0 here), i.e.
 * after ceil(need * 1000 / rate) ms from last. reset_after drains what is
 * queued now (excess - 1000).
 */
static inline void limit_req_rejected(const gwlb_limit_req_config *cfg, uint64_t burst,
                                      uint64_t state, uint64_t excess, uint64_t ms,
                                      int via_config, gwlb_limit_result *result)
{
    uint64_t r = cfg->rate;
    double rate = (double)(int64_t)r;
    /* need >= 1 milli-request here; when need * 1000 <= r (any rate of at
     * least 1000 r/s), ceil(need * 1000 / r) is 1 without a divide. The
     * divides of a rejection lie on the path to the next admitted
     * request's CAS (it waits for these stores), so the shortcut counts. */
    uint64_t need = ((state & EXCESS_MASK) + 1000 - burst) * 1000;
    uint64_t need_ms = need <= r ? 1 : qrate(need + r - 1, rate);
    uint64_t wait_ms = need_ms > ms ? need_ms - ms : 0;
    /* reset = floor(n / r), n = queued * 1000, queued = excess - 1000
     * (>= 0). A rejection leaves queued within 1000 of the burst: with
     * top = burst * 1000 and qb = floor(top / r), n in [top - r, top]
     * gives qb when n >= qb * r, else qb - 1 (n >= top - r >= (qb - 1) r).
     * qb depends on the config alone, so its divide does not wait for the
     * state word (measured: 12.2 -> 11.1 ns per call in the bench's mix,
     * where a rejection's divide delays the next CAS; via_config is set by
     * the CAS mode only: without a CAS the direct divide is cheaper);
     * otherwise (a rate below 1000 r/s, a hand-made state) the direct one. */
    uint64_t queued = excess > 1000 ? excess - 1000 : 0, reset_ms;
    uint64_t top = burst * 1000, qb = qrate(top, rate), n = queued * 1000;
    if (via_config && queued <= burst && n + r >= top)
        reset_ms = qb - (n < qb * r);
    else
        reset_ms = qrate(n, rate);
    result->allowed = 0;
    result->dry_run_limited = 0;
    result->limit = div1000(burst) + 1;
    result->remaining = 0;
    result->reset_after_ns = reset_ms * GWLB_NS_PER_MS;
    result->retry_after_ns = (int64_t)(wait_ms * GWLB_NS_PER_MS);
    result->delay_ns = 0;
}

int gwlb_limit_req_decide(const gwlb_limit_req_config *cfg, uint64_t state, uint64_t now,
                          gwlb_limit_result *result, uint64_t *new_state)
{
    if (cfg == NULL || result == NULL || new_state == NULL || cfg->rate == 0)
        return GWLB_EINVAL;
    uint64_t burst = burst_of(cfg), excess, ms;
    uint64_t next = limit_req_step(cfg, state, stamp_of(now / GWLB_NS_PER_MS), &excess, &ms);
    if (excess <= burst) {
        limit_req_admitted(cfg, burst, excess, result);
        *new_state = next;
    } else {
        limit_req_rejected(cfg, burst, state, excess, ms, 0, result);
        *new_state = state;
    }
    return GWLB_OK;
}

/* Decide and store with one CAS (or, exclusive, a plain atomic store); the
 * numbers are computed once the decision is final. An admitted word always
 * differs from the old one (excess or last changes), so there is no
 * "nothing to store" case. */
static inline int limit_req_allow(const gwlb_limit_req_config *cfg, uint64_t *word, uint64_t now,
                                  gwlb_limit_result *result, int exclusive)
{
    uint64_t burst = burst_of(cfg), stamp = stamp_of(now / GWLB_NS_PER_MS);
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    uint64_t excess, ms;
    for (;;) {
        uint64_t next = limit_req_step(cfg, old, stamp, &excess, &ms);
        if (excess > burst) {
            if (result != NULL)
                limit_req_rejected(cfg, burst, old, excess, ms, !exclusive, result);
            return 0;
        }
        if (exclusive) {
            atomic_store_explicit(AWORD(word), next, memory_order_relaxed);
            break;
        }
        if (atomic_compare_exchange_weak_explicit(AWORD(word), &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (result != NULL)
        limit_req_admitted(cfg, burst, excess, result);
    return 1;
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
