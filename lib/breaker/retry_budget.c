/*
 * Finagle-style token retry budget: requests deposit tokens, retries
 * withdraw them, and both expire after about a ttl, on top of a fixed
 * reserve (min_retries_per_sec * ttl seconds worth of retries).
 *
 * Key idea: the ttl is cut into 10 slices (Finagle's WindowedAdder) and each
 * slice is ONE word, so a slice's identity and its amount change together
 * in one CAS:
 *
 *   63          40 39                                   0
 *  +--------------+--------------------------------------+
 *  | slice tag 24 |  tokens, signed 40-bit two's compl.  |
 *  +--------------+--------------------------------------+
 *
 * Slice number k = now / (ttl / 10) lives in slot k % 10; a slot whose tag
 * is older than the current slice k is restarted from 0 by the next write,
 * and counts in the balance only while k - tag < 10. Withdrawals CAS the
 * current slice against the very value their balance was computed from, so
 * two concurrent withdrawals cannot both spend the last tokens. A write
 * with a `now` older than its slot's slice (time going backwards) is booked
 * into that newer slice (clamp).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "internal.h"

#define A64(p) ((_Atomic uint64_t *)(p))
#define SLICES GWLB_RETRY_BUDGET_SLICES
#define SCALE 1000      /* Finagle's ScaleFactor: tokens per deposit */
#define PPM_MAX UINT32_C(1000000000)
#define TAG_BITS 24
#define VAL_BITS 40
#define VAL_MASK ((UINT64_C(1) << VAL_BITS) - 1)
#define TAG_MASK ((UINT32_C(1) << TAG_BITS) - 1)

static inline int64_t s_val(uint64_t w)
{
    uint64_t v = w & VAL_MASK;
    return (v & (UINT64_C(1) << (VAL_BITS - 1))) ? (int64_t)(v | ~VAL_MASK) : (int64_t)v;
}
static inline uint32_t s_tag(uint64_t w) { return (uint32_t)(w >> VAL_BITS); }
static inline uint64_t s_make(uint32_t tag, int64_t v)
{
    return ((uint64_t)(tag & TAG_MASK) << VAL_BITS) | ((uint64_t)v & VAL_MASK);
}

void gwlb_retry_budget_config_init(gwlb_retry_budget_config *cfg)
{
    if (cfg == NULL)
        return;
    cfg->ttl_ns = 10 * GWLB_NS_PER_SEC;
    cfg->min_retries_per_sec = 10;
    cfg->can_retry_ppm = 200000;
}

int gwlb_retry_budget_config_validate(const gwlb_retry_budget_config *cfg,
                                      gwlb_error_detail *detail)
{
    if (cfg == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "config is NULL");
    if (cfg->ttl_ns < GWLB_NS_PER_SEC || cfg->ttl_ns > 60 * GWLB_NS_PER_SEC)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, "ttl_ns",
                            "ttl must be within 1 s .. 60 s");
    if (cfg->can_retry_ppm > PPM_MAX)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, "can_retry_ppm",
                            "can_retry_ppm %u > 1000000000 (Finagle's 1000.0)",
                            cfg->can_retry_ppm);
    return GWLB_OK;
}

int gwlb_retry_budget_init(gwlb_retry_budget *b, const gwlb_retry_budget_config *cfg,
                           gwlb_error_detail *detail)
{
    if (b == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "budget is NULL");
    int rc = gwlb_retry_budget_config_validate(cfg, detail);
    if (rc != GWLB_OK)
        return rc;
    for (int i = 0; i < SLICES; i++)
        atomic_store_explicit(A64(&b->slice[i]), 0, memory_order_relaxed);
    return GWLB_OK;
}

/* Token amounts as Finagle computes them (fraction given in millionths). */
static inline int64_t deposit_amount(const gwlb_retry_budget_config *cfg)
{
    return cfg->can_retry_ppm == 0 ? 0 : SCALE;
}
static inline int64_t withdraw_amount(const gwlb_retry_budget_config *cfg)
{
    return cfg->can_retry_ppm == 0 ? 1
                                   : (int64_t)(UINT64_C(1000000) * SCALE / cfg->can_retry_ppm);
}
static inline int64_t reserve(const gwlb_retry_budget_config *cfg)
{
    return (int64_t)cfg->min_retries_per_sec * (int64_t)(cfg->ttl_ns / GWLB_NS_PER_SEC) *
           withdraw_amount(cfg);
}

static inline int config_usable(const gwlb_retry_budget_config *cfg)
{
    return cfg->ttl_ns >= GWLB_NS_PER_SEC && cfg->ttl_ns <= 60 * GWLB_NS_PER_SEC &&
           cfg->can_retry_ppm <= PPM_MAX;
}

/* Is slot word w, seen at slice `cur`, inside the ttl? */
static inline int live(uint64_t w, uint32_t cur)
{
    if (w == 0)
        return 0;
    uint32_t age = (cur - s_tag(w)) & TAG_MASK;
    uint32_t lead = (s_tag(w) - cur) & TAG_MASK;
    return age < SLICES || lead < SLICES;
}

/* The slot value a write at slice `cur` should start from. */
static inline uint64_t rebase(uint64_t w, uint32_t cur)
{
    uint32_t ahead = (cur - s_tag(w)) & TAG_MASK;
    if (w == 0 || (ahead != 0 && ahead < (TAG_MASK >> 1)))
        return s_make(cur, 0); /* our slice is newer: restart the slot */
    return w;                  /* same slice, or a newer one (clamp) */
}

static int64_t tokens(const gwlb_retry_budget *b, const gwlb_retry_budget_config *cfg,
                      uint32_t cur)
{
    int64_t sum = reserve(cfg);
    for (int i = 0; i < SLICES; i++) {
        uint64_t w = atomic_load_explicit(A64(&b->slice[i]), memory_order_relaxed);
        if (live(w, cur))
            sum += s_val(w);
    }
    return sum;
}

int gwlb_retry_budget_deposit(gwlb_retry_budget *b, const gwlb_retry_budget_config *cfg,
                              uint64_t now)
{
    if (GWLB__UNLIKELY(b == NULL || cfg == NULL || !config_usable(cfg)))
        return GWLB_EINVAL;
    int64_t amount = deposit_amount(cfg);
    if (amount == 0)
        return GWLB_OK;
    uint64_t k = now / (cfg->ttl_ns / SLICES);
    uint32_t cur = (uint32_t)(k & TAG_MASK);
    uint64_t *slot = &b->slice[k % SLICES];
    uint64_t old = atomic_load_explicit(A64(slot), memory_order_relaxed), nw;
    do {
        uint64_t base = rebase(old, cur);
        nw = s_make(s_tag(base), s_val(base) + amount);
    } while (!atomic_compare_exchange_weak_explicit(A64(slot), &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
    return GWLB_OK;
}

int gwlb_retry_budget_withdraw(gwlb_retry_budget *b, const gwlb_retry_budget_config *cfg,
                               uint64_t now)
{
    if (GWLB__UNLIKELY(b == NULL || cfg == NULL || !config_usable(cfg)))
        return GWLB_EINVAL;
    if (cfg->can_retry_ppm == 0 && cfg->min_retries_per_sec == 0)
        return GWLB_ELIMIT; /* Finagle's RetryBudget.Empty */
    int64_t amount = withdraw_amount(cfg);
    uint64_t k = now / (cfg->ttl_ns / SLICES);
    uint32_t cur = (uint32_t)(k & TAG_MASK);
    uint64_t *slot = &b->slice[k % SLICES];
    for (;;) {
        uint64_t old = atomic_load_explicit(A64(slot), memory_order_acquire);
        int64_t have = tokens(b, cfg, cur);
        /* the current slot as the sum saw it may be about to restart */
        uint64_t base = rebase(old, cur);
        if (base != old && live(old, cur))
            have -= s_val(old);
        if (have < amount)
            return GWLB_ELIMIT;
        uint64_t nw = s_make(s_tag(base), s_val(base) - amount);
        if (atomic_compare_exchange_strong_explicit(A64(slot), &old, nw, memory_order_acq_rel,
                                                    memory_order_relaxed))
            return GWLB_OK;
    }
}

uint64_t gwlb_retry_budget_balance(const gwlb_retry_budget *b,
                                   const gwlb_retry_budget_config *cfg, uint64_t now)
{
    if (b == NULL || cfg == NULL || !config_usable(cfg))
        return 0;
    if (cfg->can_retry_ppm == 0 && cfg->min_retries_per_sec == 0)
        return 0;
    uint64_t k = now / (cfg->ttl_ns / SLICES);
    int64_t t = tokens(b, cfg, (uint32_t)(k & TAG_MASK));
    return t <= 0 ? 0 : (uint64_t)(t / withdraw_amount(cfg));
}
