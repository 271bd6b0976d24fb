/*
 * GCRA token bucket with redis-cell's CL.THROTTLE semantics.
 *
 * Key idea: the whole bucket is one number, the theoretical arrival time
 * (TAT). Admitting a request of cost c pushes the TAT c emission intervals
 * into the future; a request is admitted while the pushed TAT stays within
 * the tolerance (DVT) of now. Because the state is a single 64-bit word,
 * concurrent callers (threads, or processes sharing the struct through
 * MAP_SHARED) decide with a compare-and-swap loop and no lock: a CAS only
 * fails when another caller changed the TAT, and then we decide again on
 * the value it left.
 *
 * The exact formulas are in include/gwlb/limiter.h.
 */
#include <math.h>
#include <stdatomic.h>

#include "gwlb/limiter.h"
#include "internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))

static int64_t clamp_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int config_from_interval(gwlb_gcra_config *cfg, uint64_t emission, uint64_t burst)
{
    if (emission == 0)
        return GWLB_ERANGE;
    if (burst >= GWLB_GCRA_TOLERANCE_MAX || burst + 1 > GWLB_GCRA_TOLERANCE_MAX / emission)
        return GWLB_EOVERFLOW;
    cfg->emission_ns = emission;
    cfg->tolerance_ns = emission * (burst + 1);
    cfg->limit = burst + 1;
    return GWLB_OK;
}

int gwlb_gcra_config_init(gwlb_gcra_config *cfg, uint64_t count, uint64_t period_ns,
                          uint64_t burst)
{
    if (cfg == NULL)
        return GWLB_EINVAL;
    if (count == 0 || period_ns == 0 || period_ns < count)
        return GWLB_ERANGE;
    return config_from_interval(cfg, period_ns / count, burst);
}

int gwlb_gcra_config_init_rate(gwlb_gcra_config *cfg, double per_second, uint64_t burst)
{
    if (cfg == NULL)
        return GWLB_EINVAL;
    if (!(per_second > 0.0) || !isfinite(per_second) || per_second > 1e9)
        return GWLB_ERANGE;
    double t = 1e9 / per_second + 0.5; /* round to nearest ns without libm */
    if (t >= 18446744073709551615.0)
        return GWLB_EOVERFLOW;
    return config_from_interval(cfg, (uint64_t)t, burst);
}

/*
 * floor(a / b) for 0 < b <= a < 2^53 without an integer divide: the double
 * quotient is correctly rounded, so its truncation is floor(a / b) or one
 * more (never less); one multiply tells which.
 */
static inline uint64_t floor_div_53(uint64_t a, uint64_t b)
{
    /* Signed conversions: both operands and the quotient are below 2^53,
     * and x86-64 converts signed integers in one instruction. */
    uint64_t q = (uint64_t)(int64_t)((double)(int64_t)a / (double)(int64_t)b);
    return q * b > a ? q - 1 : q;
}

/* remaining = floor(us(DVT - reset) / us(T)), redis-cell's microsecond division. */
static inline uint64_t remaining_of(const gwlb_gcra_config *cfg, uint64_t reset_after)
{
    if (reset_after >= cfg->tolerance_ns)
        return 0;
    uint64_t n = cfg->tolerance_ns - reset_after, d = cfg->emission_ns;
    if (d >= 1000) { /* whole microseconds (divisions by a constant: multiplies) */
        n /= 1000;
        d /= 1000;
    }
    uint64_t q;
    if (n < d) /* a drained bucket, the usual state under load */
        q = 0;
    else if (n - d < d)
        q = 1;
    else if (n <= UINT32_MAX) /* a cheap 32-bit divide */
        q = (uint32_t)n / (uint32_t)d;
    else if (n < (UINT64_C(1) << 53))
        q = floor_div_53(n, d);
    else
        q = n / d;
    /* When T is not a whole number of microseconds, truncating T can push
     * the quotient above the limit (redis-cell reports that); cap it. */
    return q < cfg->limit ? q : cfg->limit;
}

/*
 * The decision on one TAT value: *base = max(tat, now), *after = the TAT
 * once admitted; returns 1 to admit. No division: the multiply cost * T
 * cannot overflow because cost <= limit and T * limit = DVT <= 2^62.
 */
static inline int gcra_step(const gwlb_gcra_config *cfg, uint64_t tat, uint64_t now,
                            uint64_t cost, uint64_t *base, uint64_t *after)
{
    uint64_t b = tat > now ? tat : now; /* an expired TAT is a fresh bucket */
    *base = b;
    if (cost > cfg->limit) { /* T * cost > DVT: can never be admitted */
        *after = UINT64_MAX;
        return 0;
    }
    uint64_t increment = cost * cfg->emission_ns;
    uint64_t a = b > UINT64_MAX - increment ? UINT64_MAX : b + increment;
    *after = a;
    return a - now <= cfg->tolerance_ns;
}

/* The result numbers of a decision made by gcra_step. */
static inline void gcra_result(const gwlb_gcra_config *cfg, uint64_t now, uint64_t cost,
                               uint64_t base, uint64_t after, int allowed,
                               gwlb_limit_result *result)
{
    result->limit = cfg->limit;
    result->delay_ns = 0;
    result->dry_run_limited = 0;
    result->allowed = allowed;
    if (allowed) {
        result->reset_after_ns = after - now;
        result->retry_after_ns = -1;
        result->remaining = remaining_of(cfg, after - now);
    } else {
        result->reset_after_ns = base - now;
        result->retry_after_ns =
            cost > cfg->limit ? -1 : clamp_i64(after - now - cfg->tolerance_ns);
        result->remaining = remaining_of(cfg, base - now);
    }
}

int gwlb_gcra_decide(const gwlb_gcra_config *cfg, uint64_t tat, uint64_t now, uint64_t cost,
                     gwlb_limit_result *result, uint64_t *new_tat)
{
    if (cfg == NULL || result == NULL || new_tat == NULL || cfg->emission_ns == 0)
        return GWLB_EINVAL;
    uint64_t base, after;
    int allowed = gcra_step(cfg, tat, now, cost, &base, &after);
    gcra_result(cfg, now, cost, base, after, allowed, result);
    *new_tat = allowed && cost != 0 ? after : tat;
    return GWLB_OK;
}

/*
 * Decide and store with one CAS (retried only when another caller moved
 * the TAT meanwhile); the result numbers are computed once, after the
 * decision is final, outside the CAS loop. Exclusive: the caller promises
 * no concurrent writer, so a plain atomic load and store do (no lock
 * prefix; still no data race with readers).
 */
static inline int gcra_allow(const gwlb_gcra_config *cfg, uint64_t *word, uint64_t now,
                             uint64_t cost, gwlb_limit_result *result, int exclusive)
{
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    uint64_t base, after;
    int allowed;
    for (;;) {
        allowed = gcra_step(cfg, old, now, cost, &base, &after);
        if (!allowed || cost == 0)
            break;
        if (exclusive) {
            atomic_store_explicit(AWORD(word), after, memory_order_relaxed);
            break;
        }
        if (atomic_compare_exchange_weak_explicit(AWORD(word), &old, after,
                                                  memory_order_acq_rel, memory_order_relaxed))
            break;
    }
    if (result != NULL)
        gcra_result(cfg, now, cost, base, after, allowed, result);
    return allowed;
}

int gwlb_gcra_state_allow(const gwlb_gcra_config *cfg, uint64_t *tat_word, uint64_t now,
                          uint64_t cost, gwlb_limit_result *result)
{
    if (cfg == NULL || tat_word == NULL || cfg->emission_ns == 0)
        return GWLB_EINVAL;
    gcra_allow(cfg, tat_word, now, cost, result, 0);
    return GWLB_OK;
}

int gwlb_gcra_admit(gwlb_gcra *bucket, uint64_t now, uint64_t cost)
{
    if (bucket == NULL || bucket->config.emission_ns == 0)
        return GWLB_EINVAL;
    return gcra_allow(&bucket->config, &bucket->tat, now, cost, NULL, 0);
}

int gwlb_gcra_admit_exclusive(gwlb_gcra *bucket, uint64_t now, uint64_t cost)
{
    if (bucket == NULL || bucket->config.emission_ns == 0)
        return GWLB_EINVAL;
    return gcra_allow(&bucket->config, &bucket->tat, now, cost, NULL, 1);
}

int gwlb_gcra_init(gwlb_gcra *bucket, uint64_t count, uint64_t period_ns, uint64_t burst)
{
    if (bucket == NULL)
        return GWLB_EINVAL;
    gwlb_gcra_config cfg;
    int rc = gwlb_gcra_config_init(&cfg, count, period_ns, burst);
    if (rc != GWLB_OK)
        return rc;
    bucket->config = cfg;
    atomic_store_explicit(AWORD(&bucket->tat), 0, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_gcra_allow(gwlb_gcra *bucket, uint64_t now, uint64_t cost, gwlb_limit_result *result)
{
    if (bucket == NULL || bucket->config.emission_ns == 0)
        return GWLB_EINVAL;
    gcra_allow(&bucket->config, &bucket->tat, now, cost, result, 0);
    return GWLB_OK;
}

int gwlb_gcra_allow_exclusive(gwlb_gcra *bucket, uint64_t now, uint64_t cost,
                              gwlb_limit_result *result)
{
    if (bucket == NULL || bucket->config.emission_ns == 0)
        return GWLB_EINVAL;
    gcra_allow(&bucket->config, &bucket->tat, now, cost, result, 1);
    return GWLB_OK;
}

int gwlb_gcra_peek(gwlb_gcra *bucket, uint64_t now, gwlb_limit_result *result)
{
    return gwlb_gcra_allow(bucket, now, 0, result);
}

int gwlb_gcra_merge(gwlb_gcra *bucket, uint64_t tat)
{
    if (bucket == NULL)
        return GWLB_EINVAL;
    uint64_t old = atomic_load_explicit(AWORD(&bucket->tat), memory_order_relaxed);
    while (old < tat &&
           !atomic_compare_exchange_weak_explicit(AWORD(&bucket->tat), &old, tat,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
    }
    return GWLB_OK;
}

uint64_t gwlb_gcra_tat(const gwlb_gcra *bucket)
{
    if (bucket == NULL)
        return 0;
    return atomic_load_explicit(AWORD(&bucket->tat), memory_order_relaxed);
}

int gwlb_gcra_reset(gwlb_gcra *bucket)
{
    if (bucket == NULL)
        return GWLB_EINVAL;
    atomic_store_explicit(AWORD(&bucket->tat), 0, memory_order_relaxed);
    return GWLB_OK;
}

/* redis-cell: whole seconds, plus one when the fraction has a whole millisecond. */
static int64_t reply_seconds(int64_t ns)
{
    if (ns < 0)
        return ns / (int64_t)GWLB_NS_PER_SEC; /* -1 s stays -1 */
    int64_t s = ns / (int64_t)GWLB_NS_PER_SEC;
    if ((ns % (int64_t)GWLB_NS_PER_SEC) / (int64_t)GWLB_NS_PER_MS > 0)
        s++;
    return s;
}

int gwlb_gcra_throttle_reply(const gwlb_limit_result *result, int64_t reply[5])
{
    if (result == NULL || reply == NULL)
        return GWLB_EINVAL;
    reply[0] = result->allowed ? 0 : 1;
    reply[1] = clamp_i64(result->limit);
    reply[2] = clamp_i64(result->remaining);
    reply[3] = result->retry_after_ns < 0 ? -1 : reply_seconds(result->retry_after_ns);
    reply[4] = reply_seconds(clamp_i64(result->reset_after_ns));
    return GWLB_OK;
}
