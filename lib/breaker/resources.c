/*
 * Envoy-style resource limits: concurrent connections, pending requests,
 * requests and retries of one target. The retry cap is either max_retries
 * or Envoy's concurrency retry budget, computed from the live request and
 * pending counts.
 *
 * Key idea: one locked instruction per operation. acquire() takes a unit
 * with a compare-and-swap that refuses to pass the cap (a rejected acquire
 * changes nothing and the count never overshoots, even transiently).
 * release() returns it with one atomic subtract and no load before it (a
 * load would wait for the caller's previous locked instruction); a count
 * that was 0 means release without acquire, which adds the unit back and
 * fails (an error, not an underflow). The retry budget's cap is checked
 * without a division (below_limit: one 128-bit product each side).
 *
 * The _exclusive variants make the same decisions with a relaxed load +
 * store (no lock prefix) for callers that promise one mutating thread at a
 * time (per-worker limits without a shared zone).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "internal.h"

#define A64(p) ((_Atomic uint64_t *)(p))

void gwlb_resource_config_init(gwlb_resource_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->max[GWLB_RESOURCE_CONNECTIONS] = 1024;
    cfg->max[GWLB_RESOURCE_PENDING] = 1024;
    cfg->max[GWLB_RESOURCE_REQUESTS] = 1024;
    cfg->max[GWLB_RESOURCE_RETRIES] = 3;
    cfg->retry_budget = 0;
    cfg->retry_budget_percent = 20;
    cfg->min_retry_concurrency = 3;
}

int gwlb_resource_config_validate(const gwlb_resource_config *cfg, gwlb_error_detail *detail)
{
    if (cfg == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "config is NULL");
    if (cfg->retry_budget_percent > 100)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, "retry_budget_percent",
                            "retry_budget_percent %u > 100", cfg->retry_budget_percent);
    if (cfg->retry_budget > 1)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "retry_budget",
                            "retry_budget must be 0 or 1");
    return GWLB_OK;
}

int gwlb_resources_init(gwlb_resources *r)
{
    if (r == NULL)
        return GWLB_EINVAL;
    for (int i = 0; i < GWLB_RESOURCE_COUNT; i++) {
        atomic_store_explicit(A64(&r->active[i]), 0, memory_order_relaxed);
        atomic_store_explicit(A64(&r->overflows[i]), 0, memory_order_relaxed);
    }
    return GWLB_OK;
}

/* Active requests + pending: what the retry budget is a share of (a count
 * seen below 0 is a release without acquire being undone: 0). */
static inline uint64_t budget_active(const gwlb_resources *r)
{
    uint64_t req =
        atomic_load_explicit(A64(&r->active[GWLB_RESOURCE_REQUESTS]), memory_order_relaxed);
    uint64_t pend =
        atomic_load_explicit(A64(&r->active[GWLB_RESOURCE_PENDING]), memory_order_relaxed);
    return ((int64_t)req < 0 ? 0 : req) + ((int64_t)pend < 0 ? 0 : pend);
}

static inline uint64_t budget_percent(const gwlb_resource_config *cfg)
{
    return cfg->retry_budget_percent > 100 ? 100 : cfg->retry_budget_percent;
}

static inline uint64_t limit_of(const gwlb_resources *r, const gwlb_resource_config *cfg,
                                unsigned kind)
{
    if (kind != GWLB_RESOURCE_RETRIES || !cfg->retry_budget)
        return cfg->max[kind];
    uint64_t active = budget_active(r);
    uint64_t pct = budget_percent(cfg);
    uint64_t budget = active / 100 * pct + active % 100 * pct / 100; /* floor, no overflow */
    return budget > cfg->min_retry_concurrency ? budget : cfg->min_retry_concurrency;
}

/*
 * cur < limit_of(r, cfg, kind) without dividing: for the retry budget,
 * cur < floor(active * pct / 100) exactly when 100 * (cur + 1) <= active * pct
 * (128-bit products, so nothing overflows).
 */
__extension__ typedef unsigned __int128 u128;

static inline int below_limit(const gwlb_resources *r, const gwlb_resource_config *cfg,
                              unsigned kind, uint64_t cur)
{
    if (kind != GWLB_RESOURCE_RETRIES || !cfg->retry_budget)
        return cur < cfg->max[kind];
    if (cur < cfg->min_retry_concurrency)
        return 1;
    uint64_t active = budget_active(r);
    uint64_t pct = budget_percent(cfg);
    return ((u128)cur + 1) * 100 <= (u128)active * pct;
}

#define LOAD(p) atomic_load_explicit(A64(p), memory_order_relaxed)
#define STORE(p, v) atomic_store_explicit(A64(p), (v), memory_order_relaxed)

static __attribute__((noinline)) int overflow(gwlb_resources *r, int kind)
{
    atomic_fetch_add_explicit(A64(&r->overflows[kind]), 1, memory_order_relaxed);
    return GWLB_ELIMIT;
}

int gwlb_resources_acquire_exclusive(gwlb_resources *r, const gwlb_resource_config *cfg,
                                     int kind)
{
    if (GWLB__UNLIKELY(r == NULL || cfg == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT))
        return GWLB_EINVAL;
    uint64_t cur = LOAD(&r->active[kind]);
    if (GWLB__UNLIKELY(cur >= limit_of(r, cfg, (unsigned)kind))) {
        STORE(&r->overflows[kind], LOAD(&r->overflows[kind]) + 1);
        return GWLB_ELIMIT;
    }
    STORE(&r->active[kind], cur + 1);
    return GWLB_OK;
}

int gwlb_resources_release_exclusive(gwlb_resources *r, int kind)
{
    if (GWLB__UNLIKELY(r == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT))
        return GWLB_EINVAL;
    uint64_t cur = LOAD(&r->active[kind]);
    if (GWLB__UNLIKELY(cur == 0))
        return GWLB_ESTATE;
    STORE(&r->active[kind], cur - 1);
    return GWLB_OK;
}

int gwlb_resources_acquire(gwlb_resources *r, const gwlb_resource_config *cfg, int kind)
{
    if (GWLB__UNLIKELY(r == NULL || cfg == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT))
        return GWLB_EINVAL;
    uint64_t *w = &r->active[kind];
    uint64_t cur = atomic_load_explicit(A64(w), memory_order_relaxed);
    for (;;) {
        if (GWLB__UNLIKELY(!below_limit(r, cfg, (unsigned)kind, cur)))
            return overflow(r, kind);
        if (atomic_compare_exchange_weak_explicit(A64(w), &cur, cur + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return GWLB_OK;
    }
}

static __attribute__((noinline)) int release_undo(gwlb_resources *r, int kind)
{
    atomic_fetch_add_explicit(A64(&r->active[kind]), 1, memory_order_relaxed);
    return GWLB_ESTATE;
}

int gwlb_resources_release(gwlb_resources *r, int kind)
{
    if (GWLB__UNLIKELY(r == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT))
        return GWLB_EINVAL;
    uint64_t *w = &r->active[kind];
    /* no load first: it would wait for the caller's previous locked
     * instruction and delay this one. Counts never reach 2^63, so a count
     * that was 0 or "negative" (another undo pending) is a release without
     * acquire: put the unit back. */
    if (GWLB__LIKELY((int64_t)atomic_fetch_sub_explicit(A64(w), 1, memory_order_release) > 0))
        return GWLB_OK;
    return release_undo(r, kind);
}

uint64_t gwlb_resources_active(const gwlb_resources *r, int kind)
{
    if (r == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT)
        return 0;
    return atomic_load_explicit(A64(&r->active[kind]), memory_order_relaxed);
}

uint64_t gwlb_resources_limit(const gwlb_resources *r, const gwlb_resource_config *cfg, int kind)
{
    if (r == NULL || cfg == NULL || (unsigned)kind >= GWLB_RESOURCE_COUNT)
        return 0;
    return limit_of(r, cfg, (unsigned)kind);
}

const char *gwlb_resource_name(int kind)
{
    switch (kind) {
    case GWLB_RESOURCE_CONNECTIONS: return "max_connections";
    case GWLB_RESOURCE_PENDING: return "max_pending_requests";
    case GWLB_RESOURCE_REQUESTS: return "max_requests";
    case GWLB_RESOURCE_RETRIES: return "max_retries";
    default: return "unknown";
    }
}
