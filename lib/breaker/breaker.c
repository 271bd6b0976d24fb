/*
 * Circuit breaker state machine: closed / open / half-open plus forced-open,
 * disabled and metrics-only, with generation tickets (gobreaker) and
 * count- or time-based sliding windows (resilience4j).
 *
 * Key idea: everything a decision needs is one 64-bit control word, changed
 * only by compare-and-swap, so allow() is one load in closed state (plus a
 * counter add unless fast_counters) and every
 * transition is a single atomic step that also starts a new generation:
 *
 *   63                40  39 38 37     28 27     18 17      8 7    3 2   0
 *  +--------------------+--+--+---------+---------+---------+------+-----+
 *  | generation (24)    |EX|FC| ho_fail | ho_succ | ho_admit| trips|state|
 *  +--------------------+--+--+---------+---------+---------+------+-----+
 *
 * FC (fast_counters, fixed at init) and EX (exclusive, gwlb_breaker_set_
 * exclusive) are modes carried along by every transition, so the hot paths
 * learn them from the same load that gives the state. Hot paths are split:
 * allow() and record() handle the common cases (closed admit, open reject,
 * a plain success in closed state) in a few loads and at most one counter
 * update, and tail-call a separate function for everything else. A counter
 * update is an atomic add, or in exclusive mode a relaxed load + store (the
 * caller promised one mutating thread at a time: no lock prefix, no race).
 *
 * The deadline of a state (open -> half-open, half-open maximum) lives in
 * deadline[generation & 3] and is written *before* the CAS that publishes
 * the generation, so whoever sees generation g also sees its deadline. The
 * writer re-checks the control word right before writing, so a transition
 * that lost its race long ago cannot overwrite the live slot; only a writer
 * stalled between that check and its store while four further state
 * changes complete could (it would then store a finite deadline computed
 * for this same breaker a few states earlier). Only OPEN and a half-open
 * with a maximum wait have deadlines; no other transition writes a slot.
 *
 * Counters are monotonic (never cleared); "since the last change" counts
 * subtract a base snapshot taken at each transition. Only failures write
 * the consecutive-count marks (a success writes nothing but its counter):
 * succ_mark = successes at the last failure, fail_mark = failures before
 * the current run of failures; a failure that sees successes != succ_mark
 * starts a new run. Consecutive successes = successes - succ_mark;
 * consecutive failures = failures - fail_mark while successes == succ_mark.
 *
 * Windows hold no running aggregate (which concurrent writers could skew
 * for good); they are summed when a failure or slow call asks for a verdict:
 *   count window: per 64 calls three bitmaps {valid, failed, slow}; call
 *     number `recorded % size` owns one bit; summed with popcount.
 *   time window: one word per bucket, tag(16) | slow(16) | failed(16) |
 *     calls(16); a write to a bucket whose tag is older restarts it; when
 *     calls would overflow, all three fields are halved (rates are kept).
 * Leaving CLOSED clears the window; no legitimate writer touches it until
 * the breaker closes again (a record that raced with the trip may leave one
 * stale entry, which the next window's calls overwrite). A time bucket is
 * recognised by the low 16 bits of its bucket number, so a slot left
 * untouched for a multiple of 65536 buckets could be read as current.
 *
 * Time going backwards is clamped, never subtracted: deadlines compare
 * now > deadline (an earlier now just waits longer), and a time-window
 * write older than the bucket it lands in is added to that newer bucket.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "internal.h"

#define A64(p) ((_Atomic uint64_t *)(p))
#define LOAD(p) atomic_load_explicit(A64(p), memory_order_relaxed)
#define LOADA(p) atomic_load_explicit(A64(p), memory_order_acquire)
#define STORE(p, v) atomic_store_explicit(A64(p), (v), memory_order_relaxed)
#define ADD(p, v) atomic_fetch_add_explicit(A64(p), (v), memory_order_relaxed)

/* allow() and record() start on a cache line, so that their code has the
 * same layout relative to 32- and 64-byte blocks in every binary they are
 * linked into (the library, the benchmark, a host), instead of whatever
 * offset the preceding code gives them: Skylake-family cores decode a block
 * holding a jump across or at its end more slowly, which made the same
 * rejection path measure 2.6 ns at one offset and 4.2 ns at another. */
#if defined(__GNUC__)
#define HOT_ALIGN __attribute__((aligned(64)))
#else
#define HOT_ALIGN
#endif

#define BREAKER_MAGIC UINT64_C(0x6777726b62726b31) /* "gwrkbrk1" */

/* ---- control word ------------------------------------------------------ */

#define ST_BITS 3
#define TRIPS_SHIFT 3
#define TRIPS_MAX 31u
#define HOA_SHIFT 8
#define HOS_SHIFT 18
#define HOF_SHIFT 28
#define HO_MASK 0x3ffu
#define M_FAST (UINT64_C(1) << 38) /* fast_counters */
#define M_EXCL (UINT64_C(1) << 39) /* exclusive: one mutating thread at a time */
#define M_MODES (M_FAST | M_EXCL)
#define GEN_SHIFT 40
#define GEN_MASK ((UINT64_C(1) << 24) - 1)
/* states that admit without a permit: closed, disabled, metrics-only */
#define ADMIT_STATES ((1u << GWLB_BREAKER_CLOSED) | (1u << GWLB_BREAKER_DISABLED) | \
                      (1u << GWLB_BREAKER_METRICS_ONLY))

static inline unsigned c_state(uint64_t c) { return (unsigned)(c & 7u); }
static inline unsigned c_trips(uint64_t c) { return (unsigned)((c >> TRIPS_SHIFT) & 31u); }
static inline unsigned c_hoa(uint64_t c) { return (unsigned)((c >> HOA_SHIFT) & HO_MASK); }
static inline unsigned c_hos(uint64_t c) { return (unsigned)((c >> HOS_SHIFT) & HO_MASK); }
static inline unsigned c_hof(uint64_t c) { return (unsigned)((c >> HOF_SHIFT) & HO_MASK); }
static inline uint32_t c_gen(uint64_t c) { return (uint32_t)(c >> GEN_SHIFT); }

static inline uint64_t mk_ctl(unsigned state, unsigned trips, unsigned hoa, unsigned hos,
                              unsigned hof, uint32_t gen)
{
    return (uint64_t)state | ((uint64_t)trips << TRIPS_SHIFT) | ((uint64_t)hoa << HOA_SHIFT) |
           ((uint64_t)hos << HOS_SHIFT) | ((uint64_t)hof << HOF_SHIFT) |
           (((uint64_t)gen & GEN_MASK) << GEN_SHIFT);
}

static inline uint32_t next_gen(uint32_t gen)
{
    uint32_t g = (uint32_t)((gen + 1u) & GEN_MASK);
    return g == 0 ? 1u : g; /* generation 0 never exists: tickets stay non-zero */
}

/* ticket = generation << 8 | state << 1 | 1 (always below 2^32) */
static inline uint64_t mk_ticket(uint64_t c)
{
    return ((c >> GEN_SHIFT) << 8) | ((c & 7u) << 1) | 1u;
}

/* Counter update: atomic add, or load + store when the breaker is exclusive. */
static inline uint64_t bump(uint64_t *p, uint64_t c, uint64_t v)
{
    if (c & M_EXCL) {
        uint64_t o = LOAD(p);
        STORE(p, o + v);
        return o;
    }
    return ADD(p, v);
}

/* Rejections: fast_counters and exclusive mode count with a load + store. */
static inline void count_reject(gwlb_breaker *b, uint64_t c)
{
    if (GWLB__LIKELY(c & M_MODES))
        STORE(&b->rejected, LOAD(&b->rejected) + 1);
    else
        ADD(&b->rejected, 1);
}

/* ---- config ------------------------------------------------------------ */

void gwlb_breaker_config_init(gwlb_breaker_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->consecutive_failures = 6; /* gobreaker: ConsecutiveFailures > 5 */
    cfg->window_kind = GWLB_BREAKER_WINDOW_NONE;
    cfg->window_bucket_ns = GWLB_NS_PER_SEC;
    cfg->half_open_permits = 1;   /* gobreaker MaxRequests 0 -> 1 */
    cfg->half_open_successes = 1; /* ConsecutiveSuccesses >= MaxRequests */
    cfg->half_open_failures = 1;  /* any failure re-opens */
    cfg->open_wait_ns = 60 * GWLB_NS_PER_SEC;
    cfg->open_wait_multiplier_percent = 100;
}

void gwlb_breaker_config_init_resilience4j(gwlb_breaker_config *cfg)
{
    if (cfg == NULL)
        return;
    gwlb_breaker_config_init(cfg);
    cfg->consecutive_failures = 0;
    cfg->failure_rate_percent = 50;
    cfg->slow_call_rate_percent = 100;
    cfg->slow_call_ns = 60 * GWLB_NS_PER_SEC;
    cfg->window_kind = GWLB_BREAKER_WINDOW_COUNT;
    cfg->window_size = 100;
    cfg->minimum_calls = 100;
    cfg->half_open_permits = 10;
    cfg->half_open_failures = 5;  /* 5 of 10 = 50 % >= threshold -> open */
    cfg->half_open_successes = 6; /* 6 of 10 -> at most 4 failures -> close */
}

#define BAD(code, field, ...) gwlb__detail(detail, code, -1, -1, -1, field, __VA_ARGS__)

int gwlb_breaker_config_validate(const gwlb_breaker_config *cfg, gwlb_error_detail *detail)
{
    if (cfg == NULL)
        return BAD(GWLB_EINVAL, NULL, "config is NULL");
    if (cfg->failure_rate_percent > 100)
        return BAD(GWLB_ERANGE, "failure_rate_percent", "failure_rate_percent %u > 100",
                   cfg->failure_rate_percent);
    if (cfg->slow_call_rate_percent > 100)
        return BAD(GWLB_ERANGE, "slow_call_rate_percent", "slow_call_rate_percent %u > 100",
                   cfg->slow_call_rate_percent);
    if (cfg->window_kind > GWLB_BREAKER_WINDOW_TIME)
        return BAD(GWLB_EINVAL, "window_kind", "unknown window_kind %u", cfg->window_kind);
    if (cfg->window_kind != GWLB_BREAKER_WINDOW_NONE) {
        uint32_t max = cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT
                           ? GWLB_BREAKER_MAX_WINDOW_CALLS
                           : GWLB_BREAKER_MAX_WINDOW_BUCKETS;
        if (cfg->window_size == 0 || cfg->window_size > max)
            return BAD(GWLB_ERANGE, "window_size", "window_size %u outside 1..%u",
                       cfg->window_size, max);
        if (cfg->window_kind == GWLB_BREAKER_WINDOW_TIME && cfg->window_bucket_ns == 0)
            return BAD(GWLB_ERANGE, "window_bucket_ns", "window_bucket_ns is 0");
        if (cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT &&
            cfg->minimum_calls > cfg->window_size)
            return BAD(GWLB_ECONFLICT, "minimum_calls",
                       "minimum_calls %u > window_size %u: the rate could never trip",
                       cfg->minimum_calls, cfg->window_size);
    } else if (cfg->failure_rate_percent != 0 || cfg->slow_call_rate_percent != 0) {
        return BAD(GWLB_ECONFLICT, cfg->failure_rate_percent ? "failure_rate_percent"
                                                             : "slow_call_rate_percent",
                   "a rate threshold needs a window");
    }
    if (cfg->half_open_permits == 0 || cfg->half_open_permits > GWLB_BREAKER_MAX_PERMITS)
        return BAD(GWLB_ERANGE, "half_open_permits", "half_open_permits %u outside 1..%u",
                   cfg->half_open_permits, GWLB_BREAKER_MAX_PERMITS);
    if (cfg->half_open_successes == 0 || cfg->half_open_successes > cfg->half_open_permits)
        return BAD(GWLB_ERANGE, "half_open_successes", "half_open_successes %u outside 1..%u",
                   cfg->half_open_successes, cfg->half_open_permits);
    if (cfg->half_open_failures == 0 || cfg->half_open_failures > cfg->half_open_permits)
        return BAD(GWLB_ERANGE, "half_open_failures", "half_open_failures %u outside 1..%u",
                   cfg->half_open_failures, cfg->half_open_permits);
    if (cfg->half_open_successes + cfg->half_open_failures > cfg->half_open_permits + 1)
        return BAD(GWLB_ECONFLICT, "half_open_successes",
                   "successes %u + failures %u > permits %u + 1: probes might not decide",
                   cfg->half_open_successes, cfg->half_open_failures, cfg->half_open_permits);
    if (cfg->open_wait_multiplier_percent < 100)
        return BAD(GWLB_ERANGE, "open_wait_multiplier_percent",
                   "open_wait_multiplier_percent %u < 100", cfg->open_wait_multiplier_percent);
    if (cfg->open_wait_jitter_percent > 100)
        return BAD(GWLB_ERANGE, "open_wait_jitter_percent", "open_wait_jitter_percent %u > 100",
                   cfg->open_wait_jitter_percent);
    if (cfg->fast_counters > 1)
        return BAD(GWLB_EINVAL, "fast_counters", "fast_counters must be 0 or 1");
    if (cfg->open_wait_max_ns != 0 && cfg->open_wait_max_ns < cfg->open_wait_ns)
        return BAD(GWLB_ECONFLICT, "open_wait_max_ns", "open_wait_max_ns < open_wait_ns");
    return GWLB_OK;
}

/*
 * Division by a constant fixed at init, without a divide instruction (tens
 * of cycles): m = floor((2^64 - 1) / d) underestimates n / d by less than 2,
 * so at most two corrections make it exact. d == 1 is m == 0.
 */
__extension__ typedef unsigned __int128 u128;

static inline uint64_t recip(uint64_t d)
{
    return d <= 1 ? 0 : UINT64_MAX / d;
}

static inline uint64_t div_by(uint64_t n, uint64_t d, uint64_t m, uint64_t *rem)
{
    if (m == 0) {
        *rem = 0;
        return n;
    }
    uint64_t q = (uint64_t)(((u128)n * m) >> 64);
    uint64_t r = n - q * d;
    while (r >= d) {
        q++;
        r -= d;
    }
    *rem = r;
    return q;
}

int gwlb_breaker_init(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t seed,
                      gwlb_error_detail *detail)
{
    if (b == NULL)
        return BAD(GWLB_EINVAL, NULL, "breaker is NULL");
    int rc = gwlb_breaker_config_validate(cfg, detail);
    if (rc != GWLB_OK)
        return rc;
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 4; i++)
        STORE(&b->deadline[i], UINT64_MAX);
    STORE(&b->rng, seed);
    STORE(&b->magic, BREAKER_MAGIC);
    STORE(&b->mode, cfg->fast_counters ? 1u : 0u);
    if (cfg->window_kind != GWLB_BREAKER_WINDOW_NONE) {
        STORE(&b->win_n, cfg->window_size);
        STORE(&b->win_recip, recip(cfg->window_size));
    }
    if (cfg->window_kind == GWLB_BREAKER_WINDOW_TIME) {
        STORE(&b->bucket_ns, cfg->window_bucket_ns);
        STORE(&b->bucket_recip, recip(cfg->window_bucket_ns));
    }
    atomic_store_explicit(A64(&b->ctl),
                          mk_ctl(GWLB_BREAKER_CLOSED, 0, 0, 0, 0, 1) |
                              (cfg->fast_counters ? M_FAST : 0),
                          memory_order_release);
    return GWLB_OK;
}

/* ---- windows ----------------------------------------------------------- */

/* Portable popcount (no libgcc helper call when the CPU flag is off). */
static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* Set or clear `bit` in *w only when it differs (steady state: loads only). */
static inline void put_bit(uint64_t *w, uint64_t bit, int on, uint64_t c)
{
    uint64_t v = LOAD(w);
    if (on && !(v & bit)) {
        if (c & M_EXCL)
            STORE(w, v | bit);
        else
            atomic_fetch_or_explicit(A64(w), bit, memory_order_relaxed);
    } else if (!on && (v & bit)) {
        if (c & M_EXCL)
            STORE(w, v & ~bit);
        else
            atomic_fetch_and_explicit(A64(w), ~bit, memory_order_relaxed);
    }
}

#define TB_CALLS(w) ((uint32_t)((w) & 0xffffu))
#define TB_FAIL(w) ((uint32_t)(((w) >> 16) & 0xffffu))
#define TB_SLOW(w) ((uint32_t)(((w) >> 32) & 0xffffu))
#define TB_TAG(w) ((uint16_t)((w) >> 48))
#define TB_MAKE(tag, calls, fail, slow)                                               \
    (((uint64_t)(uint16_t)(tag) << 48) | ((uint64_t)(slow) << 32) | ((uint64_t)(fail) << 16) | \
     (uint64_t)(calls))

static void window_put(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t n, uint64_t seq,
                       int fail, int slow, uint64_t now, uint64_t c)
{
    /* n = win_n: sizes come from init (validated there), so indices stay in bounds */
    if (n == 0)
        return;
    if (cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT) {
        uint64_t slot64;
        div_by(seq, n, LOAD(&b->win_recip), &slot64);
        uint32_t slot = (uint32_t)slot64 & (GWLB_BREAKER_MAX_WINDOW_CALLS - 1);
        uint64_t *g = &b->window[(slot >> 6) * 3];
        uint64_t bit = UINT64_C(1) << (slot & 63);
        put_bit(&g[0], bit, 1, c);
        put_bit(&g[1], bit, fail, c);
        put_bit(&g[2], bit, slow, c);
    } else if (cfg->window_kind == GWLB_BREAKER_WINDOW_TIME) {
        uint64_t bns = LOAD(&b->bucket_ns), idx, r;
        if (GWLB__UNLIKELY(bns == 0))
            return;
        uint64_t abs = div_by(now, bns, LOAD(&b->bucket_recip), &r);
        div_by(abs, n, LOAD(&b->win_recip), &idx);
        uint64_t *w = &b->window[idx & (GWLB_BREAKER_MAX_WINDOW_BUCKETS - 1)];
        uint64_t old = LOAD(w), nw;
        do {
            uint16_t ahead = (uint16_t)((uint16_t)abs - TB_TAG(old));
            uint32_t calls, f, s;
            uint16_t tag;
            if (old == 0 || (ahead != 0 && ahead < 0x8000u)) {
                calls = f = s = 0; /* our bucket is newer: restart it */
                tag = (uint16_t)abs;
            } else {
                calls = TB_CALLS(old); /* same bucket, or a newer one (clamp) */
                f = TB_FAIL(old);
                s = TB_SLOW(old);
                tag = TB_TAG(old);
                if (calls == 0xffffu) {
                    calls >>= 1;
                    f >>= 1;
                    s >>= 1;
                }
            }
            nw = TB_MAKE(tag, calls + 1, f + (fail ? 1u : 0u), s + (slow ? 1u : 0u));
            if (c & M_EXCL) {
                STORE(w, nw);
                break;
            }
        } while (!atomic_compare_exchange_weak_explicit(A64(w), &old, nw, memory_order_relaxed,
                                                        memory_order_relaxed));
    }
}

typedef struct wsum {
    uint64_t calls, fail, slow;
} wsum;

static wsum window_sum(const gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now)
{
    wsum r = {0, 0, 0};
    if (cfg->window_size == 0 ||
        cfg->window_size > (cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT
                                ? GWLB_BREAKER_MAX_WINDOW_CALLS
                                : GWLB_BREAKER_MAX_WINDOW_BUCKETS) ||
        (cfg->window_kind == GWLB_BREAKER_WINDOW_TIME && cfg->window_bucket_ns == 0))
        return r; /* unvalidated config: no window */
    if (cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT) {
        uint32_t groups = (cfg->window_size + 63) / 64;
        for (uint32_t i = 0; i < groups; i++) {
            uint64_t v = LOAD(&b->window[i * 3]);
            r.calls += popcount64(v);
            r.fail += popcount64(LOAD(&b->window[i * 3 + 1]) & v);
            r.slow += popcount64(LOAD(&b->window[i * 3 + 2]) & v);
        }
    } else if (cfg->window_kind == GWLB_BREAKER_WINDOW_TIME) {
        uint16_t cur = (uint16_t)(now / cfg->window_bucket_ns);
        for (uint32_t i = 0; i < cfg->window_size; i++) {
            uint64_t w = LOAD(&b->window[i]);
            if (w == 0)
                continue;
            uint16_t age = (uint16_t)(cur - TB_TAG(w));
            uint16_t lead = (uint16_t)(TB_TAG(w) - cur);
            if (age >= cfg->window_size && lead >= cfg->window_size)
                continue; /* rolled out of the window */
            r.calls += TB_CALLS(w);
            r.fail += TB_FAIL(w);
            r.slow += TB_SLOW(w);
        }
    }
    return r;
}

static void window_clear(gwlb_breaker *b)
{
    for (size_t i = 0; i < sizeof b->window / sizeof b->window[0]; i++)
        STORE(&b->window[i], 0);
}

/* ---- transitions ------------------------------------------------------- */

static uint64_t open_wait(gwlb_breaker *b, const gwlb_breaker_config *cfg, unsigned trips)
{
    uint64_t w = cfg->open_wait_ns;
    uint64_t cap = cfg->open_wait_max_ns ? cfg->open_wait_max_ns : UINT64_MAX;
    for (unsigned i = 1; i < trips && w < cap; i++) {
        if (w > UINT64_MAX / cfg->open_wait_multiplier_percent) {
            w = UINT64_MAX;
            break;
        }
        w = w * cfg->open_wait_multiplier_percent / 100;
    }
    if (w > cap)
        w = cap;
    if (cfg->open_wait_jitter_percent != 0 && w != 0) {
        uint64_t j = w / 100 * cfg->open_wait_jitter_percent +
                     w % 100 * cfg->open_wait_jitter_percent / 100;
        uint64_t span = j > UINT64_MAX / 2 ? UINT64_MAX : 2 * j + 1;
        uint64_t r = gwlb_rng_below((gwlb_rng *)&b->rng, span);
        w = w - j + r; /* w - j .. w + j, never below 0 since j <= w */
        if (w < r) /* overflow */
            w = UINT64_MAX;
        if (w > cap)
            w = cap;
    }
    return w;
}

static inline uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline int window_state(unsigned s)
{
    return s == GWLB_BREAKER_CLOSED || s == GWLB_BREAKER_METRICS_ONLY;
}

/*
 * Try to move from control word `from` to `to_state`, starting a new
 * generation. Writes the new state's deadline first, then CASes. Returns 1
 * when this caller made the change (and did the bookkeeping), 0 when the
 * control word had moved on.
 */
static int transition(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t from,
                      unsigned to_state, unsigned trips, unsigned hoa, unsigned cause,
                      uint64_t now)
{
    uint32_t gen = next_gen(c_gen(from));
    uint64_t wait = 0, deadline = UINT64_MAX;
    if (to_state == GWLB_BREAKER_OPEN) {
        wait = open_wait(b, cfg, trips);
        deadline = add_sat(now, wait);
    } else if (to_state == GWLB_BREAKER_HALF_OPEN && cfg->half_open_max_wait_ns != 0) {
        wait = cfg->half_open_max_wait_ns;
        deadline = add_sat(now, wait);
    }
    uint64_t cur = atomic_load_explicit(A64(&b->ctl), memory_order_acquire);
    if ((cur & ~M_MODES) != (from & ~M_MODES))
        return 0; /* moved on: never touch a slot that may be live */
    /* only states that have a deadline write one, so a competing transition
     * from the same generation can at worst leave a competitor's finite
     * deadline, never "forever" */
    if (deadline != UINT64_MAX || to_state == GWLB_BREAKER_OPEN)
        atomic_store_explicit(A64(&b->deadline[gen & 3]), deadline, memory_order_relaxed);
    uint64_t to = mk_ctl(to_state, trips, hoa, 0, 0, gen);
    /* the modes are carried over; a mode change racing with us is not a
     * state change, so retry with the new modes instead of giving up */
    while (!atomic_compare_exchange_strong_explicit(A64(&b->ctl), &cur, to | (cur & M_MODES),
                                                    memory_order_acq_rel, memory_order_acquire))
        if ((cur & ~M_MODES) != (from & ~M_MODES))
            return 0;

    /* bookkeeping by the winner (cold path) */
    unsigned from_state = c_state(from);
    if (!window_state(to_state) || window_state(from_state))
        window_clear(b);
    uint64_t failures = LOAD(&b->failures), recorded = LOAD(&b->recorded);
    STORE(&b->base_admitted, LOAD(&b->admitted));
    STORE(&b->base_recorded, recorded);
    STORE(&b->base_failures, failures);
    STORE(&b->base_ignored, LOAD(&b->ignored));
    STORE(&b->fail_mark, failures);
    STORE(&b->succ_mark, recorded - failures);
    STORE(&b->last_change_ns, now);
    STORE(&b->last_cause, cause);
    ADD(&b->transitions, 1);
    if (to_state == GWLB_BREAKER_OPEN)
        ADD(&b->trips_total, 1);
    if (cfg->on_transition != NULL) {
        gwlb_breaker_event ev = {from_state, to_state, cause, gen, now, wait, trips, 0};
        cfg->on_transition(&ev, cfg->user_data);
    }
    return 1;
}

static inline unsigned trips_inc(unsigned t)
{
    return t < TRIPS_MAX ? t + 1 : TRIPS_MAX;
}

/*
 * Time-driven transitions for control word *c at now. Returns 1 when the
 * word changed (by us or someone else) and the caller should reload.
 */
static int advance(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t c, uint64_t now,
                   unsigned first_permit)
{
    unsigned s = c_state(c);
    if (s != GWLB_BREAKER_OPEN &&
        (s != GWLB_BREAKER_HALF_OPEN || cfg->half_open_max_wait_ns == 0))
        return 0;
    uint64_t d = atomic_load_explicit(A64(&b->deadline[c_gen(c) & 3]), memory_order_relaxed);
    if (now <= d)
        return 0;
    if (s == GWLB_BREAKER_OPEN)
        transition(b, cfg, c, GWLB_BREAKER_HALF_OPEN, c_trips(c), first_permit,
                   GWLB_BREAKER_CAUSE_WAIT_ELAPSED, now);
    else
        transition(b, cfg, c, GWLB_BREAKER_OPEN, trips_inc(c_trips(c)), 0,
                   GWLB_BREAKER_CAUSE_HALF_OPEN_TIMEOUT, now);
    return 1;
}

/* ---- hot path ---------------------------------------------------------- */

/* Everything allow() does not settle in its first few instructions. */
static __attribute__((noinline)) int allow_slow(gwlb_breaker *b, const gwlb_breaker_config *cfg,
                                                uint64_t now, uint64_t *ticket, uint64_t c)
{
    for (;;) {
        unsigned s = c_state(c);
        if (s == GWLB_BREAKER_CLOSED || s == GWLB_BREAKER_DISABLED ||
            s == GWLB_BREAKER_METRICS_ONLY) {
            if (!(c & M_FAST))
                bump(&b->admitted, c, 1);
            *ticket = mk_ticket(c);
            return GWLB_OK;
        }
        if (s == GWLB_BREAKER_OPEN) {
            uint64_t d = LOAD(&b->deadline[c_gen(c) & 3]);
            if (now <= d) {
                count_reject(b, c);
                *ticket = 0;
                return GWLB_BREAKER_REJECT_OPEN;
            }
            /* wait over: half-open, and this call takes the first permit */
            if (transition(b, cfg, c, GWLB_BREAKER_HALF_OPEN, c_trips(c), 1,
                           GWLB_BREAKER_CAUSE_WAIT_ELAPSED, now)) {
                if (!(c & M_FAST))
                    bump(&b->admitted, c, 1);
                *ticket = (((uint64_t)next_gen(c_gen(c))) << 8) |
                          ((uint64_t)GWLB_BREAKER_HALF_OPEN << 1) | 1u;
                return GWLB_OK;
            }
            c = LOADA(&b->ctl);
            continue;
        }
        if (s == GWLB_BREAKER_HALF_OPEN) {
            if (advance(b, cfg, c, now, 0)) {
                c = LOADA(&b->ctl);
                continue;
            }
            unsigned hoa = c_hoa(c);
            if (hoa >= cfg->half_open_permits) {
                bump(&b->rejected, c, 1);
                *ticket = 0;
                return GWLB_BREAKER_REJECT_HALF_OPEN_FULL;
            }
            uint64_t n = c + ((uint64_t)1 << HOA_SHIFT);
            if (atomic_compare_exchange_weak_explicit(A64(&b->ctl), &c, n, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                if (!(n & M_FAST))
                    bump(&b->admitted, n, 1);
                *ticket = mk_ticket(n);
                return GWLB_OK;
            }
            continue;
        }
        /* FORCED_OPEN (or a corrupt word: reject, never admit) */
        bump(&b->rejected, c, 1);
        *ticket = 0;
        return GWLB_BREAKER_REJECT_FORCED_OPEN;
    }
}

HOT_ALIGN int gwlb_breaker_allow(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now,
                       uint64_t *ticket)
{
    if (GWLB__UNLIKELY(b == NULL))
        return GWLB_EINVAL;
    uint64_t c = LOADA(&b->ctl);
    if (GWLB__UNLIKELY(cfg == NULL))
        return GWLB_EINVAL;
    if (GWLB__UNLIKELY(ticket == NULL))
        return GWLB_EINVAL;
    /* closed (state 0) first: one test; disabled and metrics-only admit in
     * allow_slow, with the same counting and tickets */
    if (GWLB__LIKELY(c_state(c) == GWLB_BREAKER_CLOSED)) {
        if (GWLB__LIKELY(!(c & M_MODES))) /* default mode: one test */
            ADD(&b->admitted, 1);
        else if (!(c & M_FAST))
            STORE(&b->admitted, LOAD(&b->admitted) + 1); /* exclusive */
        *ticket = ((c >> GEN_SHIFT) << 8) | 1u; /* mk_ticket(c) of a closed word */
        return GWLB_OK;
    }
    /* 64-bit index: lets the load fold deadline's offset into its address */
    if (GWLB__LIKELY(c_state(c) == GWLB_BREAKER_OPEN) &&
        GWLB__LIKELY(now <= LOAD(b->deadline + ((c >> GEN_SHIFT) & 3u)))) {
        count_reject(b, c);
        *ticket = 0;
        return GWLB_BREAKER_REJECT_OPEN;
    }
    return allow_slow(b, cfg, now, ticket, c);
}

static int closed_verdict(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t consec,
                          uint64_t now, unsigned *cause)
{
    if (cfg->consecutive_failures != 0 && consec >= cfg->consecutive_failures) {
        *cause = GWLB_BREAKER_CAUSE_CONSECUTIVE_FAILURES;
        return 1;
    }
    if (cfg->failure_rate_percent == 0 && cfg->slow_call_rate_percent == 0)
        return 0;
    wsum w = window_sum(b, cfg, now);
    uint64_t min = cfg->minimum_calls ? cfg->minimum_calls : 1;
    if (w.calls < min)
        return 0;
    if (cfg->failure_rate_percent != 0 && w.fail * 100 >= cfg->failure_rate_percent * w.calls) {
        *cause = GWLB_BREAKER_CAUSE_FAILURE_RATE;
        return 1;
    }
    if (cfg->slow_call_rate_percent != 0 &&
        w.slow * 100 >= cfg->slow_call_rate_percent * w.calls) {
        *cause = GWLB_BREAKER_CAUSE_SLOW_CALL_RATE;
        return 1;
    }
    return 0;
}

/* A plain success's window entry, out of line so that record()'s fast path
 * needs no stack frame. Returns 0. */
static __attribute__((noinline)) int window_success(gwlb_breaker *b,
                                                    const gwlb_breaker_config *cfg, uint64_t wn,
                                                    uint64_t seq, uint64_t now, uint64_t c)
{
    window_put(b, cfg, wn, seq, 0, 0, now, c);
    return GWLB_OK;
}

/*
 * A failure's part of the consecutive counts (successes write nothing):
 * `seq` is the call number, `failures` the failure count with this one,
 * fm/sm the marks read before. When a success came since the last failure
 * (or state change), i.e. the successes now differ from succ_mark, this
 * failure starts a new run: fail_mark = the failures before it. Returns the
 * consecutive failures ending with this one.
 */
static inline uint64_t failure_run(gwlb_breaker *b, uint64_t seq, uint64_t failures,
                                   uint64_t fm, uint64_t sm)
{
    uint64_t succ = seq + 1 - failures; /* successes before this failure */
    if (succ != sm) {
        fm = failures - 1;
        STORE(&b->fail_mark, fm);
        STORE(&b->succ_mark, succ);
    }
    return failures > fm ? failures - fm : 0;
}

/* Everything record() does not settle on its fast path (a plain success). */
static __attribute__((noinline)) int record_slow(gwlb_breaker *b, const gwlb_breaker_config *cfg,
                                                 uint64_t ticket, int outcome,
                                                 uint64_t duration_ns, uint64_t now)
{
    if ((ticket & 1u) == 0 || (ticket >> 32) != 0 || outcome < GWLB_BREAKER_SUCCESS ||
        outcome > GWLB_BREAKER_IGNORED)
        return GWLB_EINVAL;
    uint64_t c = LOADA(&b->ctl);
    unsigned s = c_state(c);
    if (GWLB__UNLIKELY((uint32_t)(ticket >> 8) != c_gen(c) || ((ticket >> 1) & 7u) != s ||
                       s == GWLB_BREAKER_OPEN || s == GWLB_BREAKER_FORCED_OPEN)) {
        bump(&b->stale, c, 1);
        return GWLB_EUNKNOWN;
    }
    if (outcome == GWLB_BREAKER_IGNORED) {
        bump(&b->ignored, c, 1);
        /* in half-open an ignored probe gives its permit back */
        while (s == GWLB_BREAKER_HALF_OPEN && c_gen(c) == (uint32_t)(ticket >> 8) &&
               c_state(c) == GWLB_BREAKER_HALF_OPEN && c_hoa(c) > 0) {
            if (atomic_compare_exchange_weak_explicit(A64(&b->ctl), &c,
                                                      c - ((uint64_t)1 << HOA_SHIFT),
                                                      memory_order_acq_rel, memory_order_acquire))
                break;
        }
        return GWLB_OK;
    }
    int fail = outcome == GWLB_BREAKER_FAILURE;
    int slow = cfg->slow_call_ns != 0 && duration_ns > cfg->slow_call_ns;
    /* loads first: on x86 a locked add waits for nothing but holds back
     * every later load, so reading after it costs its full latency */
    uint64_t failures = LOAD(&b->failures);
    uint64_t fm = LOAD(&b->fail_mark);
    uint64_t sm = LOAD(&b->succ_mark);
    uint64_t wn = LOAD(&b->win_n);
    uint64_t seq = bump(&b->recorded, c, 1);
    if (fail)
        failures = bump(&b->failures, c, 1) + 1;
    if (slow)
        bump(&b->slow, c, 1);

    if (GWLB__LIKELY(window_state(s))) {
        uint64_t consec = 0;
        window_put(b, cfg, wn, seq, fail, slow, now, c);
        if (fail)
            consec = failure_run(b, seq, failures, fm, sm);
        unsigned cause;
        if (s == GWLB_BREAKER_CLOSED && (fail || slow) &&
            closed_verdict(b, cfg, consec, now, &cause))
            transition(b, cfg, c, GWLB_BREAKER_OPEN, trips_inc(c_trips(c)), 0, cause, now);
        return GWLB_OK;
    }
    if (s == GWLB_BREAKER_HALF_OPEN) {
        int bad = fail || (slow && cfg->slow_call_rate_percent != 0);
        if (fail)
            failure_run(b, seq, failures, fm, sm);
        for (;;) {
            if (c_gen(c) != (uint32_t)(ticket >> 8) || c_state(c) != GWLB_BREAKER_HALF_OPEN)
                return GWLB_OK; /* decided meanwhile by another probe */
            if (bad) {
                unsigned hof = c_hof(c) + 1;
                if (hof >= cfg->half_open_failures) {
                    if (transition(b, cfg, c, GWLB_BREAKER_OPEN, trips_inc(c_trips(c)), 0,
                                   GWLB_BREAKER_CAUSE_PROBE_FAILURES, now))
                        return GWLB_OK;
                    c = LOADA(&b->ctl);
                    continue;
                }
                if (atomic_compare_exchange_weak_explicit(
                        A64(&b->ctl), &c, c + ((uint64_t)1 << HOF_SHIFT), memory_order_acq_rel,
                        memory_order_acquire))
                    return GWLB_OK;
            } else {
                unsigned hos = c_hos(c) + 1;
                if (hos >= cfg->half_open_successes) {
                    if (transition(b, cfg, c, GWLB_BREAKER_CLOSED, 0, 0,
                                   GWLB_BREAKER_CAUSE_PROBE_SUCCESSES, now))
                        return GWLB_OK;
                    c = LOADA(&b->ctl);
                    continue;
                }
                if (atomic_compare_exchange_weak_explicit(
                        A64(&b->ctl), &c, c + ((uint64_t)1 << HOS_SHIFT), memory_order_acq_rel,
                        memory_order_acquire))
                    return GWLB_OK;
            }
        }
    }
    return GWLB_OK; /* DISABLED: counters only */
}

/* Does count-window slot `seq % wn` already say "valid, not failed, not
 * slow" (the steady state of a success)? Then a success has nothing to write. */
static inline int count_slot_clean(const gwlb_breaker *b, uint64_t wn, uint64_t seq)
{
    uint64_t slot;
    div_by(seq, wn, LOAD(&b->win_recip), &slot);
    slot &= GWLB_BREAKER_MAX_WINDOW_CALLS - 1;
    const uint64_t *g = &b->window[(slot >> 6) * 3];
    uint64_t bit = UINT64_C(1) << (slot & 63);
    return (LOAD(&g[0]) & bit) && !((LOAD(&g[1]) | LOAD(&g[2])) & bit);
}

/* The count-window entry of a plain success at call number `seq`: nothing to
 * write when the slot is clean; otherwise the out-of-line window_success()
 * writes it. */
static inline int success_window(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t wn,
                                 uint64_t seq, uint64_t now, uint64_t c)
{
    if (GWLB__LIKELY(cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT) &&
        GWLB__LIKELY(count_slot_clean(b, wn, seq)))
        return GWLB_OK;
    return window_success(b, cfg, wn, seq, now, c); /* tail call */
}

HOT_ALIGN int gwlb_breaker_record(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t ticket,
                        int outcome, uint64_t duration_ns, uint64_t now)
{
    if (GWLB__UNLIKELY(b == NULL))
        return GWLB_EINVAL;
    if (GWLB__UNLIKELY(cfg == NULL))
        return GWLB_EINVAL;
    uint64_t c = LOADA(&b->ctl);
    /* fast path: a success that is not slow, in closed state, from the
     * current generation (a ticket equal to the current one is well-formed
     * by construction). Metrics-only successes take record_slow(), which
     * does the same bookkeeping. */
    if (GWLB__LIKELY(outcome == GWLB_BREAKER_SUCCESS) &&
        GWLB__LIKELY(c_state(c) == GWLB_BREAKER_CLOSED) &&
        GWLB__LIKELY(ticket == (((c >> GEN_SHIFT) << 8) | 1u)) &&
        GWLB__LIKELY(cfg->slow_call_ns == 0 || duration_ns <= cfg->slow_call_ns)) {
        if (c & M_EXCL) {
            /* one mutating thread: plain loads and stores, no lock prefix */
            uint64_t seq = LOAD(&b->recorded);
            STORE(&b->recorded, seq + 1);
            uint64_t wn = LOAD(&b->win_n);
            if (wn != 0)
                return success_window(b, cfg, wn, seq, now, c);
            return GWLB_OK;
        }
        /* loads first: a locked add holds back every later load. A count
         * window's slot is also checked before the add, for the call number
         * the add will most likely return (the current count): then only a
         * compare waits for the add. */
        uint64_t wn = LOAD(&b->win_n);
        uint64_t guess = UINT64_MAX; /* never a call number: 2^64 calls are never made */
        if (wn != 0 && GWLB__LIKELY(cfg->window_kind == GWLB_BREAKER_WINDOW_COUNT)) {
            uint64_t r = LOAD(&b->recorded);
            if (GWLB__LIKELY(count_slot_clean(b, wn, r)))
                guess = r;
        }
        uint64_t seq = ADD(&b->recorded, 1);
        if (GWLB__LIKELY(seq == guess))
            return GWLB_OK; /* clean slot of this very call number */
        if (wn != 0)
            return window_success(b, cfg, wn, seq, now, c); /* tail call */
        return GWLB_OK;
    }
    return record_slow(b, cfg, ticket, outcome, duration_ns, now);
}

/* ---- control and inspection -------------------------------------------- */

int gwlb_breaker_poll(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now)
{
    if (b == NULL || cfg == NULL)
        return GWLB_EINVAL;
    uint64_t c = LOADA(&b->ctl);
    for (int i = 0; i < 4 && advance(b, cfg, c, now, 0); i++)
        c = LOADA(&b->ctl);
    return (int)c_state(c);
}

int gwlb_breaker_set_exclusive(gwlb_breaker *b, int on)
{
    if (b == NULL || (on != 0 && on != 1))
        return GWLB_EINVAL;
    uint64_t c = LOADA(&b->ctl);
    for (;;) {
        uint64_t n = on ? (c | M_EXCL) : (c & ~M_EXCL);
        if (n == c ||
            atomic_compare_exchange_weak_explicit(A64(&b->ctl), &c, n, memory_order_acq_rel,
                                                  memory_order_acquire))
            return GWLB_OK;
    }
}

int gwlb_breaker_is_exclusive(const gwlb_breaker *b)
{
    if (b == NULL)
        return GWLB_EINVAL;
    return (LOADA(&b->ctl) & M_EXCL) ? 1 : 0;
}

int gwlb_breaker_state(const gwlb_breaker *b)
{
    if (b == NULL)
        return GWLB_EINVAL;
    return (int)c_state(LOADA(&b->ctl));
}

uint32_t gwlb_breaker_generation(const gwlb_breaker *b)
{
    return b == NULL ? 0 : c_gen(LOADA(&b->ctl));
}

int gwlb_breaker_transition(gwlb_breaker *b, const gwlb_breaker_config *cfg, int state,
                            uint64_t now)
{
    if (b == NULL || cfg == NULL || state < GWLB_BREAKER_CLOSED ||
        state > GWLB_BREAKER_METRICS_ONLY)
        return GWLB_EINVAL;
    for (;;) {
        uint64_t c = LOADA(&b->ctl);
        unsigned trips = 0;
        if (state == GWLB_BREAKER_OPEN)
            trips = trips_inc(c_trips(c));
        else if (state == GWLB_BREAKER_HALF_OPEN)
            trips = c_trips(c);
        if (transition(b, cfg, c, (unsigned)state, trips, 0, GWLB_BREAKER_CAUSE_ADMIN, now))
            return GWLB_OK;
    }
}

int gwlb_breaker_get_counts(const gwlb_breaker *b, gwlb_breaker_counts *out)
{
    if (b == NULL || out == NULL)
        return GWLB_EINVAL;
    uint64_t admitted = LOAD(&b->admitted), recorded = LOAD(&b->recorded);
    uint64_t failures = LOAD(&b->failures);
    uint64_t ba = LOAD(&b->base_admitted), br = LOAD(&b->base_recorded);
    uint64_t bf = LOAD(&b->base_failures);
    uint64_t fm = LOAD(&b->fail_mark), sm = LOAD(&b->succ_mark);
    uint64_t succ = recorded - failures, bsucc = br - bf;
    uint64_t c = LOADA(&b->ctl);
    out->requests = admitted > ba ? admitted - ba : 0;
    if (c & M_FAST) { /* fast counters: admissions count when they end */
        uint64_t ign = LOAD(&b->ignored), bi = LOAD(&b->base_ignored);
        out->requests += (recorded > br ? recorded - br : 0) + (ign > bi ? ign - bi : 0);
    }
    out->total_successes = succ > bsucc ? succ - bsucc : 0;
    out->total_failures = failures > bf ? failures - bf : 0;
    out->consecutive_successes = succ > sm ? succ - sm : 0;
    /* a success since the last failure ended the run (successes write no
     * mark); in DISABLED the marks stay as the state change left them */
    out->consecutive_failures =
        failures > fm && (succ == sm || c_state(c) == GWLB_BREAKER_DISABLED) ? failures - fm
                                                                             : 0;
    return GWLB_OK;
}

int gwlb_breaker_get_stats(const gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now,
                       gwlb_breaker_stats *st)
{
    if (b == NULL || cfg == NULL || st == NULL)
        return GWLB_EINVAL;
    memset(st, 0, sizeof *st);
    uint64_t c = LOADA(&b->ctl);
    st->state = c_state(c);
    st->generation = c_gen(c);
    st->trips = c_trips(c);
    st->last_cause = (uint32_t)LOAD(&b->last_cause);
    st->last_change_ns = LOAD(&b->last_change_ns);
    st->admitted = LOAD(&b->admitted);
    st->rejected = LOAD(&b->rejected);
    st->failures = LOAD(&b->failures);
    st->successes = LOAD(&b->recorded) - st->failures;
    st->slow_calls = LOAD(&b->slow);
    st->ignored = LOAD(&b->ignored);
    if (c & M_FAST) /* fast counters: admissions count when they end */
        st->admitted = LOAD(&b->recorded) + st->ignored;
    st->stale_results = LOAD(&b->stale);
    st->transitions = LOAD(&b->transitions);
    st->times_opened = LOAD(&b->trips_total);
    {
        wsum w = window_sum(b, cfg, now);
        st->window_calls = w.calls;
        st->window_failures = w.fail;
        st->window_slow_calls = w.slow;
    }
    return GWLB_OK;
}

const char *gwlb_breaker_state_name(int state)
{
    switch (state) {
    case GWLB_BREAKER_CLOSED: return "closed";
    case GWLB_BREAKER_OPEN: return "open";
    case GWLB_BREAKER_HALF_OPEN: return "half-open";
    case GWLB_BREAKER_FORCED_OPEN: return "forced-open";
    case GWLB_BREAKER_DISABLED: return "disabled";
    case GWLB_BREAKER_METRICS_ONLY: return "metrics-only";
    default: return "unknown";
    }
}

const char *gwlb_breaker_cause_name(int cause)
{
    switch (cause) {
    case GWLB_BREAKER_CAUSE_NONE: return "none";
    case GWLB_BREAKER_CAUSE_CONSECUTIVE_FAILURES: return "consecutive-failures";
    case GWLB_BREAKER_CAUSE_FAILURE_RATE: return "failure-rate";
    case GWLB_BREAKER_CAUSE_SLOW_CALL_RATE: return "slow-call-rate";
    case GWLB_BREAKER_CAUSE_WAIT_ELAPSED: return "wait-elapsed";
    case GWLB_BREAKER_CAUSE_PROBE_SUCCESSES: return "probe-successes";
    case GWLB_BREAKER_CAUSE_PROBE_FAILURES: return "probe-failures";
    case GWLB_BREAKER_CAUSE_HALF_OPEN_TIMEOUT: return "half-open-timeout";
    case GWLB_BREAKER_CAUSE_ADMIN: return "admin";
    default: return "unknown";
    }
}
