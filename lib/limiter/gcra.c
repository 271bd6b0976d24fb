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
#include "limiter_internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))


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

int gwlb_gcra_decide(const gwlb_gcra_config *cfg, uint64_t tat, uint64_t now, uint64_t cost,
                     gwlb_limit_result *result, uint64_t *new_tat)
{
    if (cfg == NULL || result == NULL || new_tat == NULL || cfg->emission_ns == 0)
        return GWLB_EINVAL;
    uint64_t base, after;
    int allowed = gwlb__gcra_step(cfg, tat, now, cost, &base, &after);
    gwlb__gcra_result(cfg, now, cost, base, after, allowed, result);
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
        allowed = gwlb__gcra_step(cfg, old, now, cost, &base, &after);
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
        gwlb__gcra_result(cfg, now, cost, base, after, allowed, result);
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
    reply[1] = gwlb__clamp_i64(result->limit);
    reply[2] = gwlb__clamp_i64(result->remaining);
    reply[3] = result->retry_after_ns < 0 ? -1 : reply_seconds(result->retry_after_ns);
    reply[4] = reply_seconds(gwlb__clamp_i64(result->reset_after_ns));
    return GWLB_OK;
}
