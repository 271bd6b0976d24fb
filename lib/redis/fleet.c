/*
 * Fleet limits: the hybrid local/remote decision and the failure policy.
 *
 * Key idea: a gateway keeps, per key, its own view of the fleet bucket (a
 * GCRA TAT) and a budget of cost it may admit without telling Redis (the
 * local share). Admission reserves budget first (an atomic add that never
 * passes the share), then moves the local TAT with the limiter's own
 * lock-free GCRA; a rejection gives the budget back. The admitted cost is
 * "pending" until a CHARGE call adds it to the Redis bucket, applied at the
 * time the pending batch began (so a backlog spread over an outage is not
 * charged as if admitted all at once); every Redis
 * answer carries the fleet TAT, merged with an atomic max, so the local
 * view only ever gets fuller. All three words are plain uint64_t updated
 * with C11 atomics: the state can live in shared memory.
 */
#include <stdatomic.h>
#include <string.h>

#include "gwlb/redis.h"
#include "internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))
#define EXACT_MAX (UINT64_C(1) << 53)

static void count(uint64_t *counter)
{
    atomic_fetch_add_explicit(AWORD(counter), 1, memory_order_relaxed);
}

#define STAT(st, field)                                                                         \
    do {                                                                                        \
        if ((st) != NULL)                                                                       \
            count(&(st)->field);                                                                \
    } while (0)

static void atomic_max(uint64_t *word, uint64_t v)
{
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    while (old < v && !atomic_compare_exchange_weak_explicit(AWORD(word), &old, v,
                                                             memory_order_acq_rel,
                                                             memory_order_relaxed)) {
    }
}

/* Largest cost one CHARGE may carry and stay exact in the script. */
static uint64_t charge_max(const gwlb_gcra_config *g)
{
    return (EXACT_MAX - g->tolerance_ns) / g->emission_ns;
}

int gwlb_redis_limit_config_init(gwlb_redis_limit_config *cfg, const gwlb_gcra_config *gcra,
                                 uint64_t local_share, uint64_t sync_interval_ns,
                                 uint32_t failure_policy)
{
    if (cfg == NULL || gcra == NULL || gcra->emission_ns == 0)
        return GWLB_EINVAL;
    if (failure_policy < GWLB_REDIS_FAIL_OPEN || failure_policy > GWLB_REDIS_FAIL_LOCAL)
        return GWLB_EINVAL;
    if (gcra->tolerance_ns > EXACT_MAX || gcra->tolerance_ns < gcra->emission_ns)
        return GWLB_ERANGE;
    if (local_share > charge_max(gcra))
        return GWLB_ERANGE;
    memset(cfg, 0, sizeof *cfg);
    cfg->gcra = *gcra;
    cfg->local_share = local_share;
    cfg->sync_interval_ns = sync_interval_ns;
    cfg->failure_policy = failure_policy;
    return GWLB_OK;
}

int gwlb_redis_limit_init(gwlb_redis_limit *limit)
{
    if (limit == NULL)
        return GWLB_EINVAL;
    atomic_store_explicit(AWORD(&limit->tat), 0, memory_order_relaxed);
    atomic_store_explicit(AWORD(&limit->pending), 0, memory_order_relaxed);
    atomic_store_explicit(AWORD(&limit->last_sync), 0, memory_order_relaxed);
    atomic_store_explicit(AWORD(&limit->pending_since), 0, memory_order_relaxed);
    return GWLB_OK;
}

/* A batch of pending cost starts: remember when (the charge's base time). */
static void pending_started(gwlb_redis_limit *l, uint64_t old_pending, uint64_t now)
{
    if (old_pending == 0)
        atomic_store_explicit(AWORD(&l->pending_since), now, memory_order_relaxed);
}

/* Reserve cost from the local share; 0 when it does not fit. */
static int reserve(gwlb_redis_limit *l, uint64_t share, uint64_t cost, uint64_t now)
{
    uint64_t old = atomic_load_explicit(AWORD(&l->pending), memory_order_relaxed);
    do {
        if (old > share || cost > share - old)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(AWORD(&l->pending), &old, old + cost,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (cost != 0)
        pending_started(l, old, now);
    return 1;
}

static void add_pending(gwlb_redis_limit *l, uint64_t cost, uint64_t now)
{
    uint64_t old = atomic_fetch_add_explicit(AWORD(&l->pending), cost, memory_order_relaxed);
    pending_started(l, old, now);
}

/* The time a charge is applied at: when the pending batch began (<= now). */
static uint64_t charge_time(const gwlb_redis_limit *l, uint64_t now)
{
    uint64_t since = atomic_load_explicit(AWORD(&l->pending_since), memory_order_relaxed);
    return since != 0 && since < now ? since : now;
}

static void unreserve(gwlb_redis_limit *l, uint64_t cost)
{
    atomic_fetch_sub_explicit(AWORD(&l->pending), cost, memory_order_relaxed);
}

int gwlb_redis_limit_allow(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                           uint64_t now, uint64_t cost, gwlb_redis_stats *stats,
                           gwlb_limit_result *result, uint32_t *verdict)
{
    if (cfg == NULL || limit == NULL || result == NULL || verdict == NULL ||
        cfg->gcra.emission_ns == 0)
        return GWLB_EINVAL;
    uint64_t tat = atomic_load_explicit(AWORD(&limit->tat), memory_order_relaxed);
    uint64_t next;
    gwlb_limit_result peek;
    gwlb_gcra_decide(&cfg->gcra, tat, now, cost, &peek, &next);
    if (!peek.allowed) {
        *result = peek; /* known full here: the fleet bucket can only be fuller */
        *verdict = GWLB_REDIS_DECIDED_LOCALLY;
        STAT(stats, local_rejected);
        return GWLB_OK;
    }
    if (!reserve(limit, cfg->local_share, cost, now)) {
        *verdict = GWLB_REDIS_ASK_REDIS;
        STAT(stats, ask_redis);
        return GWLB_OK;
    }
    gwlb_gcra_state_allow(&cfg->gcra, &limit->tat, now, cost, result);
    if (!result->allowed)
        unreserve(limit, cost); /* a concurrent caller filled the bucket meanwhile */
    *verdict = GWLB_REDIS_DECIDED_LOCALLY;
    if (result->allowed)
        STAT(stats, local_admitted);
    else
        STAT(stats, local_rejected);
    return GWLB_OK;
}

/* Take up to `max` of the pending cost. */
static uint64_t take(gwlb_redis_limit *l, uint64_t max)
{
    uint64_t old = atomic_load_explicit(AWORD(&l->pending), memory_order_relaxed);
    uint64_t t;
    do {
        t = old < max ? old : max;
    } while (t != 0 && !atomic_compare_exchange_weak_explicit(AWORD(&l->pending), &old, old - t,
                                                              memory_order_acq_rel,
                                                              memory_order_relaxed));
    return t;
}

int gwlb_redis_limit_restore(gwlb_redis_limit *limit, uint64_t taken)
{
    if (limit == NULL)
        return GWLB_EINVAL;
    atomic_fetch_add_explicit(AWORD(&limit->pending), taken, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_redis_limit_encode_sync(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                                 uint8_t *out, size_t cap, size_t *written, const void *key,
                                 size_t key_len, uint64_t now, uint32_t flags, uint64_t *taken)
{
    if (written != NULL)
        *written = 0;
    if (taken != NULL)
        *taken = 0;
    if (cfg == NULL || limit == NULL || taken == NULL || written == NULL ||
        cfg->gcra.emission_ns == 0)
        return GWLB_EINVAL;
    if (flags & GWLB_REDIS_GCRA_SERVER_TIME)
        return GWLB_EINVAL; /* merging needs the host's clock */
    uint64_t at = charge_time(limit, now);
    uint64_t t = take(limit, charge_max(&cfg->gcra));
    int rc = gwlb_redis_encode_gcra(out, cap, written, &cfg->gcra, key, key_len, t, at,
                                    flags | GWLB_REDIS_GCRA_CHARGE);
    if (rc != GWLB_OK) {
        gwlb_redis_limit_restore(limit, t);
        return rc;
    }
    *taken = t;
    return GWLB_OK;
}

int gwlb_redis_limit_encode_remote(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                                   uint8_t *out, size_t cap, size_t *written, const void *key,
                                   size_t key_len, uint64_t now, uint64_t cost, uint32_t flags,
                                   uint64_t *taken, uint32_t *replies)
{
    if (written != NULL)
        *written = 0;
    if (taken != NULL)
        *taken = 0;
    if (cfg == NULL || limit == NULL || taken == NULL || replies == NULL || written == NULL ||
        cfg->gcra.emission_ns == 0 || (flags & GWLB_REDIS_GCRA_CHARGE))
        return GWLB_EINVAL;
    if (flags & GWLB_REDIS_GCRA_SERVER_TIME)
        return GWLB_EINVAL;
    uint64_t at = charge_time(limit, now);
    uint64_t t = take(limit, charge_max(&cfg->gcra));
    size_t first = 0, second = 0;
    int rc = GWLB_OK;
    if (t != 0)
        rc = gwlb_redis_encode_gcra(out, cap, &first, &cfg->gcra, key, key_len, t, at,
                                    flags | GWLB_REDIS_GCRA_CHARGE);
    if (rc == GWLB_OK || rc == GWLB_ENOSPC) {
        int rc2 = gwlb_redis_encode_gcra(out + (rc == GWLB_OK ? first : 0),
                                         rc == GWLB_OK ? cap - first : 0, &second, &cfg->gcra,
                                         key, key_len, cost, now, flags);
        if (rc == GWLB_OK)
            rc = rc2;
    }
    if (rc != GWLB_OK) {
        if (rc == GWLB_ENOSPC)
            *written = first + second;
        gwlb_redis_limit_restore(limit, t);
        return rc;
    }
    *written = first + second;
    *taken = t;
    *replies = t != 0 ? 2 : 1;
    return GWLB_OK;
}

int gwlb_redis_limit_merge(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                           uint64_t now, const gwlb_redis_gcra_answer *answer,
                           gwlb_redis_stats *stats, gwlb_limit_result *decision)
{
    if (cfg == NULL || limit == NULL || answer == NULL)
        return GWLB_EINVAL;
    if (answer->status != GWLB_OK)
        return GWLB_ESTATE;
    atomic_max(&limit->tat, answer->tat);
    atomic_max(&limit->last_sync, now);
    if (decision != NULL) {
        *decision = answer->result;
        if (answer->result.allowed)
            STAT(stats, remote_admitted);
        else
            STAT(stats, remote_rejected);
    } else {
        STAT(stats, syncs);
    }
    return GWLB_OK;
}

int gwlb_redis_limit_failed(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                            uint64_t now, uint64_t cost, gwlb_redis_stats *stats,
                            gwlb_limit_result *result)
{
    if (cfg == NULL || limit == NULL || result == NULL || cfg->gcra.emission_ns == 0)
        return GWLB_EINVAL;
    STAT(stats, failures);
    if (cfg->failure_policy == GWLB_REDIS_FAIL_LOCAL) {
        gwlb_gcra_state_allow(&cfg->gcra, &limit->tat, now, cost, result);
        if (result->allowed) {
            if (cost != 0)
                add_pending(limit, cost, now); /* charged when Redis is back */
            STAT(stats, fallback_admitted);
        } else {
            STAT(stats, fallback_rejected);
        }
        return GWLB_OK;
    }
    /* the numbers of the local view, the decision of the policy */
    uint64_t tat = atomic_load_explicit(AWORD(&limit->tat), memory_order_relaxed), next;
    gwlb_gcra_decide(&cfg->gcra, tat, now, 0, result, &next);
    result->retry_after_ns = -1;
    if (cfg->failure_policy == GWLB_REDIS_FAIL_OPEN) {
        result->allowed = 1;
        STAT(stats, failed_open);
    } else {
        result->allowed = 0;
        STAT(stats, failed_closed);
    }
    return GWLB_OK;
}

int gwlb_redis_limit_sync_due(const gwlb_redis_limit_config *cfg, const gwlb_redis_limit *limit,
                              uint64_t now)
{
    if (cfg == NULL || limit == NULL)
        return 0;
    uint64_t pending = atomic_load_explicit(AWORD(&limit->pending), memory_order_relaxed);
    if (pending == 0)
        return 0;
    if (cfg->local_share != 0 && pending >= (cfg->local_share + 1) / 2)
        return 1;
    uint64_t last = atomic_load_explicit(AWORD(&limit->last_sync), memory_order_relaxed);
    return cfg->sync_interval_ns != 0 && now >= last && now - last >= cfg->sync_interval_ns;
}
