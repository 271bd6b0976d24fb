/*
 * Internal to the limiter component: the policy dispatch shared by the
 * keyed table and the multi-limit call. Never installed.
 */
#ifndef GWLB_LIMITER_INTERNAL_H
#define GWLB_LIMITER_INTERNAL_H

#include "gwlb/limiter.h"
#include "internal.h"

/* GWLB_OK when the policy's kind and config are usable, else GWLB_EINVAL. */
GWLB__HIDDEN int gwlb__limiter_policy_check(const gwlb_limiter_policy *p);

/*
 * Decide and CAS-update *word; report the word found and the word stored
 * (equal when nothing changed). Applies dry-run. GWLB_ERANGE for a cost
 * limit_req cannot take.
 */
GWLB__HIDDEN int gwlb__limiter_apply(const gwlb_limiter_policy *p, uint64_t *word, uint64_t now,
                                     uint64_t cost, gwlb_limit_result *r, uint64_t *before,
                                     uint64_t *after);

/* The keyed table's inlined SipHash-1-3 (equal to gwlb_siphash13; tested). */
GWLB__HIDDEN uint64_t gwlb__limiter_table_key_hash(const uint8_t hash_key[16], const void *key,
                                                   size_t len);

/* ---- GCRA arithmetic, inlined by gcra.c and the keyed table ---------- */

static inline int64_t gwlb__clamp_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * floor(a / b) for 0 < b <= a < 2^53 without an integer divide: the double
 * quotient is correctly rounded, so its truncation is floor(a / b) or one
 * more (never less); one multiply tells which.
 */
static inline uint64_t gwlb__floor_div_53(uint64_t a, uint64_t b)
{
    /* Signed conversions: both operands and the quotient are below 2^53,
     * and x86-64 converts signed integers in one instruction. */
    uint64_t q = (uint64_t)(int64_t)((double)(int64_t)a / (double)(int64_t)b);
    return q * b > a ? q - 1 : q;
}

/* remaining = floor(us(DVT - reset) / us(T)), redis-cell's microsecond division. */
static inline uint64_t gwlb__gcra_remaining(const gwlb_gcra_config *cfg, uint64_t reset_after)
{
    if (reset_after >= cfg->tolerance_ns)
        return 0;
    uint64_t n = cfg->tolerance_ns - reset_after, d = cfg->emission_ns;
    if (d >= 1000) { /* whole microseconds (divisions by a constant: multiplies) */
        n /= 1000;
        d /= 1000;
    }
    uint64_t q, top = (cfg->limit - 1) * d; /* <= DVT: no overflow */
    if (n < d) /* a drained bucket, the usual state under load */
        q = 0;
    else if (n - d < d)
        q = 1;
    else if (n >= top) /* a full bucket, the usual state of an occasional key: */
        q = n - top < d ? cfg->limit - 1 : cfg->limit; /* limit - 1, or capped */
    else if (n <= UINT32_MAX) /* a cheap 32-bit divide */
        q = (uint32_t)n / (uint32_t)d;
    else if (n < (UINT64_C(1) << 53))
        q = gwlb__floor_div_53(n, d);
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
static inline int gwlb__gcra_step(const gwlb_gcra_config *cfg, uint64_t tat, uint64_t now,
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
static inline void gwlb__gcra_result(const gwlb_gcra_config *cfg, uint64_t now, uint64_t cost,
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
        result->remaining = gwlb__gcra_remaining(cfg, after - now);
    } else {
        result->reset_after_ns = base - now;
        result->retry_after_ns =
            cost > cfg->limit ? -1 : gwlb__clamp_i64(after - now - cfg->tolerance_ns);
        result->remaining = gwlb__gcra_remaining(cfg, base - now);
    }
}

#endif
