/*
 * Window counters: the fixed-window quota, the sliding-window counter
 * (two-window estimate) and the concurrency limit. Each is one 64-bit
 * state word updated by a CAS loop, like the GCRA bucket.
 *
 * Quota word:    | window index mod 2^32 | count (32)            |
 * Sliding word:  | window index mod 2^24 | prev (20) | cur (20)  |
 *
 * Window indices are compared on their ring (signed difference), so a
 * clock that steps back into an earlier window is clamped to the stored
 * window instead of restarting its count.
 */
#include <stdatomic.h>

#include "gwlb/limiter.h"
#include "internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))

__extension__ typedef unsigned __int128 u128;

int gwlb_window_config_init(gwlb_window_config *cfg, uint64_t limit, uint64_t window_ns,
                            uint64_t epoch_ns, uint64_t limit_max)
{
    if (cfg == NULL)
        return GWLB_EINVAL;
    if (limit == 0 || window_ns == 0)
        return GWLB_ERANGE;
    if (limit > limit_max || limit_max > GWLB_QUOTA_LIMIT_MAX)
        return GWLB_EOVERFLOW;
    cfg->limit = limit;
    cfg->window_ns = window_ns;
    cfg->epoch_ns = epoch_ns;
    return GWLB_OK;
}

static int config_ok(const gwlb_window_config *cfg, uint64_t limit_max)
{
    return cfg != NULL && cfg->window_ns != 0 && cfg->limit != 0 && cfg->limit <= limit_max;
}

static uint64_t window_index(const gwlb_window_config *cfg, uint64_t now)
{
    return now < cfg->epoch_ns ? 0 : (now - cfg->epoch_ns) / cfg->window_ns;
}

/* Time elapsed in now's window (0 before the epoch). */
static uint64_t window_elapsed(const gwlb_window_config *cfg, uint64_t now)
{
    return now < cfg->epoch_ns ? 0 : (now - cfg->epoch_ns) % cfg->window_ns;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Time from now to the end of the window `ahead` windows after now's. */
static uint64_t until_window_end(const gwlb_window_config *cfg, uint64_t now, uint64_t ahead)
{
    uint64_t rest = now < cfg->epoch_ns ? sat_add(cfg->epoch_ns - now, cfg->window_ns)
                                        : cfg->window_ns - window_elapsed(cfg, now);
    return sat_add(rest, sat_mul(ahead, cfg->window_ns));
}

static int64_t to_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void result_base(gwlb_limit_result *r, uint64_t limit)
{
    r->limit = limit;
    r->delay_ns = 0;
    r->dry_run_limited = 0;
    r->retry_after_ns = -1;
}

/* ---- quota ------------------------------------------------------------ */

int gwlb_quota_decide(const gwlb_window_config *cfg, uint64_t state, uint64_t now, uint64_t cost,
                      gwlb_limit_result *result, uint64_t *new_state)
{
    if (!config_ok(cfg, GWLB_QUOTA_LIMIT_MAX) || result == NULL || new_state == NULL)
        return GWLB_EINVAL;
    uint32_t idx = (uint32_t)window_index(cfg, now);
    uint64_t count = 0;
    uint64_t ahead = 0; /* windows the stored index is ahead of now's (clock went back) */
    if (state != 0) {
        uint32_t sidx = (uint32_t)(state >> 32);
        int32_t diff = (int32_t)(idx - sidx);
        if (diff <= 0) {
            count = state & UINT32_MAX;
            ahead = (uint64_t)(-(int64_t)diff);
            idx = sidx;
        }
    }
    result_base(result, cfg->limit);
    uint64_t to_end = until_window_end(cfg, now, ahead);
    if (cost > cfg->limit || count + cost > cfg->limit) {
        result->allowed = 0;
        result->remaining = count < cfg->limit ? cfg->limit - count : 0; /* a foreign word may hold more */
        result->reset_after_ns = count > 0 ? to_end : 0;
        result->retry_after_ns = cost > cfg->limit ? -1 : to_i64(to_end);
        *new_state = state;
        return GWLB_OK;
    }
    count += cost;
    result->allowed = 1;
    result->remaining = cfg->limit - count;
    result->reset_after_ns = count > 0 ? to_end : 0;
    *new_state = cost == 0 ? state : ((uint64_t)idx << 32) | count;
    return GWLB_OK;
}

int gwlb_quota_init(gwlb_quota *quota, uint64_t limit, uint64_t window_ns, uint64_t epoch_ns)
{
    if (quota == NULL)
        return GWLB_EINVAL;
    gwlb_window_config cfg;
    int rc = gwlb_window_config_init(&cfg, limit, window_ns, epoch_ns, GWLB_QUOTA_LIMIT_MAX);
    if (rc != GWLB_OK)
        return rc;
    quota->config = cfg;
    atomic_store_explicit(AWORD(&quota->state), 0, memory_order_relaxed);
    return GWLB_OK;
}

/* ---- sliding window ---------------------------------------------------- */

#define S_BITS 20
#define S_MASK ((UINT64_C(1) << S_BITS) - 1)
#define S_IDX_MASK ((UINT64_C(1) << 24) - 1)

int gwlb_sliding_decide(const gwlb_window_config *cfg, uint64_t state, uint64_t now,
                        uint64_t cost, gwlb_limit_result *result, uint64_t *new_state)
{
    if (!config_ok(cfg, GWLB_SLIDING_LIMIT_MAX) || result == NULL || new_state == NULL)
        return GWLB_EINVAL;
    const uint64_t W = cfg->window_ns, L = cfg->limit;
    uint64_t idx = window_index(cfg, now) & S_IDX_MASK;
    uint64_t e = window_elapsed(cfg, now);
    uint64_t prev = 0, cur = 0, ahead = 0;
    if (state != 0) {
        uint64_t sidx = state >> 40;
        uint64_t d = (idx - sidx) & S_IDX_MASK;
        uint64_t sprev = (state >> S_BITS) & S_MASK, scur = state & S_MASK;
        if (d == 0) {
            prev = sprev;
            cur = scur;
        } else if (d == 1) {
            prev = scur;
        } else if (d >= (UINT64_C(1) << 23)) { /* stored window is ahead: clock went back */
            prev = sprev;
            cur = scur;
            idx = sidx;
            ahead = (UINT64_C(1) << 24) - d;
            e = 0; /* clamp to the start of the stored window */
        }
    }
    result_base(result, L);
    /* Exact comparison: prev * (W - e) + (cur + cost) * W <= L * W. */
    u128 weighted_prev = (u128)prev * (W - e);
    u128 cap = (u128)L * W;
    u128 used = weighted_prev + (u128)cur * W;
    uint64_t to_end = until_window_end(cfg, now, ahead);
    int fits = cost <= L && used + (u128)cost * W <= cap;
    if (fits)
        cur += cost;
    u128 used_after = weighted_prev + (u128)cur * W;
    result->remaining = used_after >= cap ? 0 : (uint64_t)((cap - used_after) / W);
    result->reset_after_ns = cur > 0 ? sat_add(to_end, W) : (prev > 0 ? to_end : 0);
    if (fits) {
        result->allowed = 1;
        *new_state = cost == 0 ? state : (idx << 40) | (prev << S_BITS) | cur;
        return GWLB_OK;
    }
    result->allowed = 0;
    *new_state = state;
    if (cost > L)
        return GWLB_OK; /* never fits: retry -1 */
    /* In this window: need prev * (W - e') <= (L - cur - cost) * W. */
    if (L >= cur + cost && prev > 0) {
        u128 room = (u128)(L - cur - cost) * W / prev; /* W - e' <= room */
        if (room >= 1) {
            uint64_t e_min = room >= W ? 0 : W - (uint64_t)room;
            if (e_min > e) {
                result->retry_after_ns = to_i64(e_min - e);
                return GWLB_OK;
            }
        }
    }
    /* Next window: prev' = cur, cur' = 0: need cur * (W - e'') <= (L - cost) * W. */
    uint64_t e_next = 0;
    if (cur > 0) {
        u128 room = (u128)(L - cost) * W / cur;
        e_next = room >= W ? 0 : W - (uint64_t)room;
    }
    result->retry_after_ns = to_i64(sat_add(to_end, e_next));
    return GWLB_OK;
}

int gwlb_sliding_init(gwlb_sliding *sliding, uint64_t limit, uint64_t window_ns,
                      uint64_t epoch_ns)
{
    if (sliding == NULL)
        return GWLB_EINVAL;
    gwlb_window_config cfg;
    int rc = gwlb_window_config_init(&cfg, limit, window_ns, epoch_ns, GWLB_SLIDING_LIMIT_MAX);
    if (rc != GWLB_OK)
        return rc;
    sliding->config = cfg;
    atomic_store_explicit(AWORD(&sliding->state), 0, memory_order_relaxed);
    return GWLB_OK;
}

/* ---- shared CAS loop ---------------------------------------------------- */

typedef int (*decide_fn)(const gwlb_window_config *, uint64_t, uint64_t, uint64_t,
                         gwlb_limit_result *, uint64_t *);

static int cas_loop(decide_fn decide, const gwlb_window_config *cfg, uint64_t *word,
                    uint64_t now, uint64_t cost, gwlb_limit_result *result)
{
    gwlb_limit_result local;
    gwlb_limit_result *r = result != NULL ? result : &local;
    uint64_t old = atomic_load_explicit(AWORD(word), memory_order_relaxed);
    for (;;) {
        uint64_t next;
        int rc = decide(cfg, old, now, cost, r, &next);
        if (rc != GWLB_OK || next == old)
            return rc;
        if (atomic_compare_exchange_weak_explicit(AWORD(word), &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return GWLB_OK;
    }
}

int gwlb_quota_allow(gwlb_quota *quota, uint64_t now, uint64_t cost, gwlb_limit_result *result)
{
    if (quota == NULL)
        return GWLB_EINVAL;
    return cas_loop(gwlb_quota_decide, &quota->config, &quota->state, now, cost, result);
}

int gwlb_sliding_allow(gwlb_sliding *sliding, uint64_t now, uint64_t cost,
                       gwlb_limit_result *result)
{
    if (sliding == NULL)
        return GWLB_EINVAL;
    return cas_loop(gwlb_sliding_decide, &sliding->config, &sliding->state, now, cost, result);
}

/* ---- concurrency -------------------------------------------------------- */

int gwlb_concurrency_init(gwlb_concurrency *limit, uint64_t max)
{
    if (limit == NULL)
        return GWLB_EINVAL;
    limit->max = max;
    atomic_store_explicit(AWORD(&limit->in_flight), 0, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_concurrency_acquire(gwlb_concurrency *limit, gwlb_limit_result *result)
{
    if (limit == NULL)
        return GWLB_EINVAL;
    uint64_t max = limit->max;
    uint64_t old = atomic_load_explicit(AWORD(&limit->in_flight), memory_order_relaxed);
    int ok;
    for (;;) {
        ok = old < max;
        if (!ok)
            break;
        if (atomic_compare_exchange_weak_explicit(AWORD(&limit->in_flight), &old, old + 1,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            old++;
            break;
        }
    }
    if (result != NULL) {
        result_base(result, max);
        result->allowed = ok;
        result->remaining = old < max ? max - old : 0;
        result->reset_after_ns = 0;
    }
    return GWLB_OK;
}

int gwlb_concurrency_release(gwlb_concurrency *limit)
{
    if (limit == NULL)
        return GWLB_EINVAL;
    uint64_t old = atomic_load_explicit(AWORD(&limit->in_flight), memory_order_relaxed);
    for (;;) {
        if (old == 0)
            return GWLB_ESTATE;
        if (atomic_compare_exchange_weak_explicit(AWORD(&limit->in_flight), &old, old - 1,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return GWLB_OK;
    }
}

uint64_t gwlb_concurrency_in_flight(const gwlb_concurrency *limit)
{
    if (limit == NULL)
        return 0;
    return atomic_load_explicit(AWORD(&limit->in_flight), memory_order_relaxed);
}
