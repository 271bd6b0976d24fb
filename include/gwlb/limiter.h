/*
 * libgwlb — limiter: GCRA token bucket, nginx limit_req mode, keyed limiter
 * tables, concurrency limits, quotas, rate-limit header values.
 *
 * Every limiter here is a decision function of (config, state, now, cost):
 * the host passes `now` (monotonic nanoseconds) and, for keyed tables, the
 * key bytes; the library answers allowed / limited (and, in nginx mode, the
 * delay to apply) with the numbers a response needs.
 *
 * Runtime state is one 64-bit word per limiter, updated with a lock-free
 * compare-and-swap, so the structs may live in memory shared by worker
 * processes (MAP_SHARED, nginx zones) mapped at different addresses. The
 * structs are plain: embed them anywhere. Fields are public for embedding
 * and inspection; change them only through the functions below.
 *
 * Thread safety (all functions): the `_allow`/`_acquire`/`_release`/`_peek`
 * calls are safe to call concurrently on one object from any number of
 * threads and processes. `_init` and `_reset` need exclusive access.
 * The opt-in `..._exclusive` variants (gwlb_gcra_allow_exclusive,
 * gwlb_gcra_admit_exclusive, gwlb_limit_req_allow_exclusive,
 * gwlb_limiter_table_allow_exclusive) make the same decisions without a
 * locked instruction, for a caller that promises a single mutator.
 */
#ifndef GWLB_LIMITER_H
#define GWLB_LIMITER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * One result type for every limiter
 * ====================================================================== */

/**
 * What a limiter decided, with the numbers a response needs.
 *   allowed         1 = admit (in nginx mode possibly after delay_ns),
 *                   0 = limited / rejected (state unchanged)
 *   limit           requests allowed in a full burst or window
 *                   (GCRA: burst + 1, as redis-cell's "limit")
 *   remaining       requests that would still be admitted right now
 *   reset_after_ns  time until the limiter is back to its full capacity
 *   retry_after_ns  when limited: time until the same request would be
 *                   admitted; -1 when allowed, and -1 when the request can
 *                   never be admitted (cost above the limit)
 *   delay_ns        nginx limit_req mode: delay the host applies before
 *                   serving an admitted request (0 elsewhere)
 *   dry_run_limited 1 when a limiter in dry-run (shadow) mode would have
 *                   rejected: allowed is then 1 and nothing was consumed
 */
typedef struct gwlb_limit_result {
    int32_t allowed;
    uint32_t dry_run_limited; /* 1: a dry-run limiter admitted what it would reject */
    uint64_t limit;
    uint64_t remaining;
    uint64_t reset_after_ns;
    int64_t retry_after_ns;
    uint64_t delay_ns;
} gwlb_limit_result;

/* ======================================================================
 * GCRA token bucket (semantics of redis-cell's CL.THROTTLE)
 * ====================================================================== */

/*
 * The Generic Cell Rate Algorithm keeps one number per bucket, the TAT
 * (theoretical arrival time, absolute ns). With
 *
 *     T   = emission interval = period_ns / count        (integer division)
 *     DVT = delay variation tolerance = T * (burst + 1)
 *     limit = burst + 1
 *
 * a request of `cost` at `now` is decided as follows (tat' = max(tat, now);
 * a stored TAT in the past is the same as no TAT, as when redis-cell's key
 * has expired):
 *
 *     new_tat = tat' + T * cost
 *     limited iff now < new_tat - DVT         (equivalently cost > limit, or
 *                                              new_tat > now + DVT)
 *     allowed:  store new_tat (cost 0 stores nothing: a peek)
 *               reset_after = new_tat - now, retry_after = -1
 *     limited:  state unchanged; reset_after = tat' - now;
 *               retry_after = new_tat - DVT - now when T * cost <= DVT,
 *               else -1 (the request can never fit)
 *     remaining = min(limit, floor(us(DVT - reset_after) / us(T)))
 *                                                     (us(x) = x / 1000)
 *
 * remaining is computed on whole microseconds exactly as redis-cell does
 * (it divides Duration::whole_microseconds values), then capped at limit
 * (when T is not a whole number of microseconds, truncating it can give a
 * quotient above the limit, which redis-cell reports as is); when T < 1 us
 * we divide nanoseconds instead (redis-cell would divide by zero there).
 *
 * The published redis-cell test `it_rate_limits` (limit 5 per second:
 * burst 4, 1 per 1 s) is reproduced exactly in tests/limiter/test_gcra.c.
 * gwlb_gcra_throttle_reply() turns a result into CL.THROTTLE's five
 * integers (seconds rounded as redis-cell rounds them).
 *
 * Time: `now` is monotonic ns below 2^63. Time going backwards needs no
 * clamp: tat' = max(tat, now) never decreases the TAT, so a backwards clock
 * only makes the bucket look fuller (never admits more), and nothing
 * underflows (all differences are taken in the order that is >= 0).
 */

/** The configuration of a GCRA bucket (derived once by _config_init). */
typedef struct gwlb_gcra_config {
    uint64_t emission_ns;  /* T */
    uint64_t tolerance_ns; /* DVT = T * (burst + 1) */
    uint64_t limit;        /* burst + 1 */
} gwlb_gcra_config;

/** Largest tolerance (DVT) accepted: 2^62 ns (about 146 years). */
#define GWLB_GCRA_TOLERANCE_MAX (UINT64_C(1) << 62)

/**
 * An embeddable GCRA bucket: config plus the TAT state word (32 bytes).
 * Zero-filled memory is NOT a valid bucket (T = 0): call gwlb_gcra_init.
 * A TAT of 0 means "fresh" (full capacity).
 */
typedef struct gwlb_gcra {
    gwlb_gcra_config config;
    uint64_t tat; /* accessed atomically; absolute ns */
} gwlb_gcra;

/**
 * Derive a config for `count` requests per `period_ns` with `burst` extra
 * requests allowed at once (redis-cell's max_burst; limit = burst + 1).
 * Errors (cfg untouched): GWLB_EINVAL cfg NULL; GWLB_ERANGE count 0,
 * period_ns 0, or period_ns < count (an interval below 1 ns);
 * GWLB_EOVERFLOW T * (burst + 1) above GWLB_GCRA_TOLERANCE_MAX.
 * Thread-safe (writes only *cfg).
 */
GWLB_API int gwlb_gcra_config_init(gwlb_gcra_config *cfg, uint64_t count, uint64_t period_ns,
                                   uint64_t burst);

/**
 * Same from a floating rate in requests per second (T = round(1e9 / rate)).
 * Errors (cfg untouched): GWLB_EINVAL cfg NULL; GWLB_ERANGE rate NaN,
 * infinite, <= 0, or above 1e9 (T below 1 ns); GWLB_EOVERFLOW as above.
 */
GWLB_API int gwlb_gcra_config_init_rate(gwlb_gcra_config *cfg, double per_second,
                                        uint64_t burst);

/**
 * The pure GCRA decision for a given TAT: fills *result and *new_tat (the
 * TAT to store: unchanged when limited or cost 0). Touches no shared state,
 * so any store (a Redis script, a remote value) can use the same arithmetic.
 * Errors: GWLB_EINVAL NULL argument or cfg with T = 0 (outputs untouched).
 * Thread-safe.
 */
GWLB_API int gwlb_gcra_decide(const gwlb_gcra_config *cfg, uint64_t tat, uint64_t now,
                              uint64_t cost, gwlb_limit_result *result, uint64_t *new_tat);

/**
 * Decide and update an external TAT word atomically (lock-free CAS loop on
 * *tat_word). For hosts that keep the config once and many state words
 * (the keyed table uses this). result may be NULL.
 * Errors: GWLB_EINVAL NULL cfg/tat_word or T = 0 (nothing changed).
 * Safe to call concurrently on one word (threads and processes).
 */
GWLB_API int gwlb_gcra_state_allow(const gwlb_gcra_config *cfg, uint64_t *tat_word,
                                   uint64_t now, uint64_t cost, gwlb_limit_result *result);

/**
 * Initialize a bucket: config as gwlb_gcra_config_init, state fresh.
 * Errors as gwlb_gcra_config_init (bucket untouched). Needs exclusive access.
 */
GWLB_API int gwlb_gcra_init(gwlb_gcra *bucket, uint64_t count, uint64_t period_ns,
                            uint64_t burst);

/**
 * Ask for `cost` units at `now`: admit and consume, or limit and change
 * nothing. cost 0 peeks. result may be NULL.
 * Errors: GWLB_EINVAL NULL bucket or uninitialised (T = 0).
 * Lock-free; safe to call concurrently (threads and processes).
 */
GWLB_API int gwlb_gcra_allow(gwlb_gcra *bucket, uint64_t now, uint64_t cost,
                             gwlb_limit_result *result);

/**
 * The decision alone, without the result numbers (the fastest call: the
 * numbers cost a few multiplies, and a divide when `remaining` is 2 or
 * more). Returns 1 when admitted (cost consumed), 0
 * when limited (nothing changed), GWLB_EINVAL for NULL or uninitialised.
 * Same semantics as gwlb_gcra_allow. Lock-free, safe concurrently.
 */
GWLB_API int gwlb_gcra_admit(gwlb_gcra *bucket, uint64_t now, uint64_t cost);

/*
 * Exclusive mode (opt-in, per call): gwlb_gcra_allow_exclusive and
 * gwlb_gcra_admit_exclusive make exactly the decisions and numbers of
 * gwlb_gcra_allow / gwlb_gcra_admit, but update the TAT with a relaxed
 * atomic load and a relaxed atomic store instead of a compare-and-swap
 * (no locked instruction). The caller promises that no other thread or
 * process mutates the same bucket at the same time (one nginx worker
 * without a shared zone, one event loop per bucket); readers on other
 * threads (gwlb_gcra_tat) stay race-free. Mixing them with concurrent
 * mutators of the same bucket can lose updates (admit more than the
 * limit); it never crashes. Errors as the non-exclusive functions.
 */
GWLB_API int gwlb_gcra_allow_exclusive(gwlb_gcra *bucket, uint64_t now, uint64_t cost,
                                       gwlb_limit_result *result);

/** gwlb_gcra_admit in exclusive mode (see above). */
GWLB_API int gwlb_gcra_admit_exclusive(gwlb_gcra *bucket, uint64_t now, uint64_t cost);

/** Peek: gwlb_gcra_allow with cost 0. */
GWLB_API int gwlb_gcra_peek(gwlb_gcra *bucket, uint64_t now, gwlb_limit_result *result);

/**
 * Raise the TAT to at least `tat` (atomic max), e.g. to merge a fleet-wide
 * TAT read from Redis into a local bucket. Never lowers it.
 * Errors: GWLB_EINVAL NULL. Safe to call concurrently.
 */
GWLB_API int gwlb_gcra_merge(gwlb_gcra *bucket, uint64_t tat);

/** The current TAT (atomic load; 0 = fresh). 0 for NULL. Safe concurrently. */
GWLB_API uint64_t gwlb_gcra_tat(const gwlb_gcra *bucket);

/** Back to full capacity (TAT = 0). Errors: GWLB_EINVAL NULL. */
GWLB_API int gwlb_gcra_reset(gwlb_gcra *bucket);

/**
 * CL.THROTTLE's reply for a result: reply[0] limited (0/1), [1] limit,
 * [2] remaining, [3] retry-after seconds (-1 if none), [4] reset seconds.
 * Seconds are truncated, plus 1 when the fraction has at least one whole
 * millisecond (redis-cell's rounding). Errors: GWLB_EINVAL NULL. Thread-safe.
 */
GWLB_API int gwlb_gcra_throttle_reply(const gwlb_limit_result *result, int64_t reply[5]);

/* ======================================================================
 * nginx limit_req mode (ngx_http_limit_req_module, nginx 1.22)
 * ====================================================================== */

/*
 * nginx's leaky bucket, with its exact integer arithmetic. Rates are kept
 * in milli-requests per second (rate=30r/m -> 30 * 1000 / 60 = 500;
 * 1r/m -> 16, truncated as nginx truncates), burst and delay in
 * milli-requests (burst=2 -> 2000). The state is (excess, last) where last
 * is now/1e6 in whole milliseconds. For a request at now_ms:
 *
 *     first request on a fresh state: excess = 0, admitted, no delay
 *     ms = now_ms - last;  if ms < -60000: ms = 1;  else if ms < 0: ms = 0
 *     excess = max(0, excess - rate * ms / 1000 + 1000)
 *     excess > burst: rejected, state unchanged (rejects are not counted)
 *     else: store excess (and last = now_ms only when ms != 0);
 *           delay_ms = excess <= delay ? 0 : (excess - delay) * 1000 / rate
 *
 * `nodelay` is delay = GWLB_LIMIT_REQ_NODELAY (never delayed); nginx's
 * default (no delay=, no nodelay) is delay 0: every queued request waits.
 *
 * Result numbers: limit = burst + 1 (requests a fresh state admits at
 * once); remaining = (burst - excess) / 1000 after the decision; reset_after
 * = excess * 1000 / rate ms (until excess drains to 0); when rejected,
 * retry_after = the time until the same request would pass. delay_ns is
 * the delay nginx would apply, in ns (a multiple of 1 ms).
 *
 * The state is one 64-bit word: bit 63 "in use", bits 25..62 last (ms,
 * modulo 2^38, read back as a signed 38-bit difference: gaps up to 4.35
 * years are exact), bits 0..24 excess (so burst <= GWLB_LIMIT_REQ_BURST_MAX).
 * A zero word is a fresh state.
 */

/** Rate units nginx accepts: r/s and r/m. */
enum gwlb_limit_req_unit {
    GWLB_LIMIT_REQ_PER_SECOND = 1,
    GWLB_LIMIT_REQ_PER_MINUTE = 60
};

/** delay value meaning nginx's `nodelay`. */
#define GWLB_LIMIT_REQ_NODELAY UINT64_MAX
/** Largest burst (requests) the packed state can hold. */
#define GWLB_LIMIT_REQ_BURST_MAX UINT64_C(33553)
/** Largest rate number (per unit) accepted. */
#define GWLB_LIMIT_REQ_RATE_MAX UINT64_C(1000000000)

typedef struct gwlb_limit_req_config {
    uint64_t rate;  /* milli-requests per second (nginx ctx->rate) */
    uint64_t burst; /* milli-requests (nginx limit->burst) */
    uint64_t delay; /* milli-requests (nginx limit->delay); UINT64_MAX = nodelay */
} gwlb_limit_req_config;

/** An embeddable nginx-mode limiter: config plus one state word (32 bytes). */
typedef struct gwlb_limit_req {
    gwlb_limit_req_config config;
    uint64_t state; /* accessed atomically; 0 = fresh */
} gwlb_limit_req;

/**
 * `limit_req_zone ... rate=<rate>r/s|r/m` + `limit_req burst=<burst>
 * [delay=<delay> | nodelay]`. unit is GWLB_LIMIT_REQ_PER_SECOND or
 * _PER_MINUTE; delay GWLB_LIMIT_REQ_NODELAY means nodelay.
 * Errors (cfg untouched): GWLB_EINVAL cfg NULL or another unit;
 * GWLB_ERANGE rate 0, rate above GWLB_LIMIT_REQ_RATE_MAX, or a rate that
 * nginx would truncate to 0 milli-requests (impossible for r/s and r/m >= 1);
 * GWLB_EOVERFLOW burst above GWLB_LIMIT_REQ_BURST_MAX. Thread-safe.
 */
GWLB_API int gwlb_limit_req_config_init(gwlb_limit_req_config *cfg, uint64_t rate,
                                        enum gwlb_limit_req_unit unit, uint64_t burst,
                                        uint64_t delay);

/**
 * The pure nginx decision on a given state word: fills *result and
 * *new_state (unchanged when rejected). Errors: GWLB_EINVAL NULL or rate 0.
 * Thread-safe.
 */
GWLB_API int gwlb_limit_req_decide(const gwlb_limit_req_config *cfg, uint64_t state,
                                   uint64_t now, gwlb_limit_result *result,
                                   uint64_t *new_state);

/**
 * Decide and update an external state word atomically (lock-free CAS).
 * result may be NULL. Errors: GWLB_EINVAL. Safe to call concurrently.
 */
GWLB_API int gwlb_limit_req_state_allow(const gwlb_limit_req_config *cfg, uint64_t *state_word,
                                        uint64_t now, gwlb_limit_result *result);

/** Initialize an embeddable limiter (errors as _config_init; untouched on error). */
GWLB_API int gwlb_limit_req_init(gwlb_limit_req *limiter, uint64_t rate,
                                 enum gwlb_limit_req_unit unit, uint64_t burst, uint64_t delay);

/** One request at now. Errors: GWLB_EINVAL. Lock-free, safe concurrently. */
GWLB_API int gwlb_limit_req_allow(gwlb_limit_req *limiter, uint64_t now,
                                  gwlb_limit_result *result);

/**
 * gwlb_limit_req_allow in exclusive mode: the same decisions and numbers,
 * but the state word is updated with a relaxed atomic load and store (no
 * locked instruction). The caller promises that no other thread or process
 * mutates the same limiter at the same time (e.g. nginx-style per-worker
 * state without a shared zone). Errors: GWLB_EINVAL.
 */
GWLB_API int gwlb_limit_req_allow_exclusive(gwlb_limit_req *limiter, uint64_t now,
                                            gwlb_limit_result *result);

/**
 * Decode a state word into excess (milli-requests) and last (ms modulo
 * 2^38). Returns 1 for a state in use, 0 for a fresh one (outputs 0),
 * GWLB_EINVAL for NULL outputs. Thread-safe.
 */
GWLB_API int gwlb_limit_req_state_decode(uint64_t state, uint64_t *excess, uint64_t *last_ms);

/* ======================================================================
 * Fixed-window quota and sliding-window counter
 * ====================================================================== */

/*
 * Both count requests per window of window_ns, windows aligned to a host
 * epoch: window index = (now - epoch_ns) / window_ns (now before the epoch
 * counts as window 0). So "per day" windows start at the host's midnight if
 * the host passes its midnight as epoch_ns (the library has no calendar).
 *
 * Quota (fixed window): admit while count + cost <= limit; the count
 * restarts at every window boundary. State word: window index (high 32
 * bits, modulo 2^32) and count (low 32 bits). limit <= 2^32 - 1.
 *
 * Sliding window (two-window estimate, as Cloudflare/nginx-plus style
 * limiters): with prev the count of the previous window, cur the count of
 * this one and e the time elapsed in this window,
 *     estimate = prev * (window_ns - e) / window_ns + cur
 * and a request is admitted iff estimate + cost <= limit (compared exactly
 * in integers: prev * (W - e) + (cur + cost) * W <= limit * W).
 * State word: window index (high 24 bits, modulo 2^24), prev and cur
 * (20 bits each), so limit <= GWLB_SLIDING_LIMIT_MAX.
 *
 * Time going backwards into an earlier window is clamped to the stored
 * window (it never restarts a count); nothing underflows. Results:
 * remaining = limit - count (sliding: limit - ceil(estimate)), reset_after =
 * time until the count is back to 0, retry_after = time until the same
 * cost fits (-1 if cost > limit).
 */

#define GWLB_QUOTA_LIMIT_MAX UINT64_C(0xffffffff)
#define GWLB_SLIDING_LIMIT_MAX UINT64_C(0xfffff)

typedef struct gwlb_window_config {
    uint64_t limit;     /* requests (cost units) per window */
    uint64_t window_ns; /* window length */
    uint64_t epoch_ns;  /* windows start at epoch_ns + k * window_ns */
} gwlb_window_config;

/** Common windows for gwlb_window_config_init. */
#define GWLB_WINDOW_SECOND GWLB_NS_PER_SEC
#define GWLB_WINDOW_MINUTE (UINT64_C(60) * GWLB_NS_PER_SEC)
#define GWLB_WINDOW_HOUR (UINT64_C(3600) * GWLB_NS_PER_SEC)
#define GWLB_WINDOW_DAY (UINT64_C(86400) * GWLB_NS_PER_SEC)

/**
 * Fill a window config. limit_max is GWLB_QUOTA_LIMIT_MAX (quota) or
 * GWLB_SLIDING_LIMIT_MAX (sliding window).
 * Errors (cfg untouched): GWLB_EINVAL NULL; GWLB_ERANGE limit 0 or window
 * 0; GWLB_EOVERFLOW limit above limit_max. Thread-safe.
 */
GWLB_API int gwlb_window_config_init(gwlb_window_config *cfg, uint64_t limit, uint64_t window_ns,
                                     uint64_t epoch_ns, uint64_t limit_max);

/** Embeddable fixed-window quota (32 bytes). */
typedef struct gwlb_quota {
    gwlb_window_config config;
    uint64_t state; /* accessed atomically; 0 = fresh */
} gwlb_quota;

/** Embeddable sliding-window counter (32 bytes). */
typedef struct gwlb_sliding {
    gwlb_window_config config;
    uint64_t state; /* accessed atomically; 0 = fresh */
} gwlb_sliding;

/** Init a quota (errors as gwlb_window_config_init with GWLB_QUOTA_LIMIT_MAX). */
GWLB_API int gwlb_quota_init(gwlb_quota *quota, uint64_t limit, uint64_t window_ns,
                             uint64_t epoch_ns);
/** Pure quota decision on a state word. Errors: GWLB_EINVAL. Thread-safe. */
GWLB_API int gwlb_quota_decide(const gwlb_window_config *cfg, uint64_t state, uint64_t now,
                               uint64_t cost, gwlb_limit_result *result, uint64_t *new_state);
/** Lock-free quota request (cost 0 peeks). result may be NULL. Errors: GWLB_EINVAL. */
GWLB_API int gwlb_quota_allow(gwlb_quota *quota, uint64_t now, uint64_t cost,
                              gwlb_limit_result *result);

/** Init a sliding window (errors as _config_init with GWLB_SLIDING_LIMIT_MAX). */
GWLB_API int gwlb_sliding_init(gwlb_sliding *sliding, uint64_t limit, uint64_t window_ns,
                               uint64_t epoch_ns);
/** Pure sliding-window decision on a state word. Errors: GWLB_EINVAL. */
GWLB_API int gwlb_sliding_decide(const gwlb_window_config *cfg, uint64_t state, uint64_t now,
                                 uint64_t cost, gwlb_limit_result *result, uint64_t *new_state);
/** Lock-free sliding-window request (cost 0 peeks). Errors: GWLB_EINVAL. */
GWLB_API int gwlb_sliding_allow(gwlb_sliding *sliding, uint64_t now, uint64_t cost,
                                gwlb_limit_result *result);

/* ======================================================================
 * Concurrency limiter (max in flight)
 * ====================================================================== */

/** Embeddable concurrency limit (16 bytes). Zero max admits nothing. */
typedef struct gwlb_concurrency {
    uint64_t max;       /* most requests in flight at once */
    uint64_t in_flight; /* accessed atomically */
} gwlb_concurrency;

/** Set the maximum and zero the count. Errors: GWLB_EINVAL NULL. Exclusive. */
GWLB_API int gwlb_concurrency_init(gwlb_concurrency *limit, uint64_t max);

/**
 * Take a slot if in_flight < max (CAS; never exceeds max). result (may be
 * NULL): limit = max, remaining = free slots after the call. Every
 * admitted acquire must be paired with one gwlb_concurrency_release.
 * Errors: GWLB_EINVAL NULL. Lock-free, safe concurrently.
 */
GWLB_API int gwlb_concurrency_acquire(gwlb_concurrency *limit, gwlb_limit_result *result);

/**
 * Give a slot back. Errors: GWLB_EINVAL NULL; GWLB_ESTATE nothing in flight
 * (an unpaired release: the count stays 0, never wraps). Safe concurrently.
 */
GWLB_API int gwlb_concurrency_release(gwlb_concurrency *limit);

/** Current in-flight count (atomic load); 0 for NULL. */
GWLB_API uint64_t gwlb_concurrency_in_flight(const gwlb_concurrency *limit);

/* ======================================================================
 * Policies: one description for any state-word limiter
 * ====================================================================== */

enum gwlb_limiter_kind {
    GWLB_LIMITER_GCRA = 1,      /* u.gcra */
    GWLB_LIMITER_LIMIT_REQ = 2, /* u.limit_req; cost must be 0 (peek) or 1 */
    GWLB_LIMITER_QUOTA = 3,     /* u.window */
    GWLB_LIMITER_SLIDING = 4    /* u.window */
};

/** Policy flags. */
#define GWLB_LIMITER_DRY_RUN 1u /* decide and count in stats, never reject */

/**
 * A limiter policy: which algorithm and its config. Plain data (48 bytes),
 * pointer-free, so it can live in shared memory next to its state words.
 */
typedef struct gwlb_limiter_policy {
    uint32_t kind;  /* enum gwlb_limiter_kind */
    uint32_t flags; /* GWLB_LIMITER_DRY_RUN */
    union {
        gwlb_gcra_config gcra;
        gwlb_limit_req_config limit_req;
        gwlb_window_config window;
    } u;
} gwlb_limiter_policy;

/**
 * Decide one request of `cost` on a state word for any policy (atomic CAS).
 * In dry-run mode a rejection is reported as allowed = 1, dry_run_limited = 1
 * and consumes nothing. result may be NULL.
 * Errors (nothing changed): GWLB_EINVAL NULL or unknown kind; GWLB_ERANGE
 * cost > 1 in limit_req mode. Safe to call concurrently.
 */
GWLB_API int gwlb_limiter_state_allow(const gwlb_limiter_policy *policy, uint64_t *state_word,
                                      uint64_t now, uint64_t cost, gwlb_limit_result *result);

/**
 * 1 when a state word is equivalent to a fresh (never used) one at `now`:
 * the keyed table evicts such entries first because dropping them changes
 * no future decision (nginx mode: idle >= 60 s and fully drained, nginx's
 * own expiry rule). 0 otherwise or on NULL.
 */
GWLB_API int gwlb_limiter_state_is_fresh(const gwlb_limiter_policy *policy, uint64_t state,
                                         uint64_t now);

/* ======================================================================
 * Several limits on one request, all-or-nothing
 * ====================================================================== */

/** One limit of a request: its policy and its state word. */
typedef struct gwlb_limit_ref {
    const gwlb_limiter_policy *policy;
    uint64_t *state; /* e.g. &bucket.tat, or a state word in a keyed table */
} gwlb_limit_ref;

/**
 * Apply `cost` to every limit in order (put the strictest first: per key,
 * per route, global). If limit i rejects, limits 0..i-1 are refunded
 * (exactly, when nobody touched them meanwhile; otherwise by subtracting
 * the cost) and the request is rejected: result describes the rejecting
 * limit and *failed_index is i. When all admit, result describes the limit
 * with the fewest remaining (the first on ties), delay_ns is the largest
 * delay of all, and *failed_index = -1.
 * Dry-run limits never reject (they set dry_run_limited).
 * Errors (nothing changed): GWLB_EINVAL NULL/unknown; GWLB_ERANGE as
 * gwlb_limiter_state_allow, or n > 64; GWLB_EMPTY n == 0. Safe to call
 * concurrently.
 */
GWLB_API int gwlb_limiter_allow_all(const gwlb_limit_ref *limits, size_t n, uint64_t now,
                                    uint64_t cost, gwlb_limit_result *result,
                                    int32_t *failed_index);

/* ======================================================================
 * Keyed limiter table (per client IP / API key / user)
 * ====================================================================== */

/*
 * A fixed-size table from key bytes to one limiter state word, living in
 * memory the host provides (heap, MAP_SHARED, an nginx zone). Everything
 * in it is offsets and integers, so processes may map it at different
 * addresses.
 *
 *   +----------------+------------------------------------------------+
 *   | header (256 B) | bucket 0 | bucket 1 | ...      (64 B each)      |
 *   +----------------+------------------------------------------------+
 *   bucket = 4 slots x { meta: fingerprint 46 | freq 2 | age 16, state }
 *   a key lives in one of two candidate buckets
 *
 * A key is hashed with SipHash-1-3 under the host's 16-byte key (clients
 * cannot aim many keys at one bucket without knowing it). Two candidate
 * buckets come from a mix of the hash, the 46-bit fingerprint from its
 * other bits; the key itself is not stored (16 bytes per slot). Two
 * distinct keys share state only when they meet in a candidate bucket with
 * equal fingerprints: for a new key that is at most 8 / 2^46 (1.1e-13) per
 * lookup. With two choices per key the table keeps essentially every live
 * key up to half full (32 bytes of table per tracked key: 1 of 100k keys
 * displaced in our measurement; 0.05% at 25.6 bytes per key).
 *
 * When a new key finds no free slot in its two buckets, the victim is: a slot
 * whose state is equivalent to a fresh one (evicting it changes nothing),
 * else the slot with the lowest use count (freq, 0..3, saturating), oldest
 * first (age in ~1.07 s units). One-shot keys of a flood have freq 0 and
 * evict each other before a steady client (freq 3) is touched. Evicting a
 * live entry can only make that key's limit more lenient (it restarts
 * fresh); stats count both kinds of eviction.
 *
 * Memory and speed: a lookup reads the key's two candidate buckets (one
 * cache line each, fetched in parallel), so a table larger than the CPU
 * caches costs about one memory access per request, plus a page-table walk
 * when the table spans more 4 KiB pages than the TLB covers (beyond a few
 * MiB). Hosts that own the memory (an nginx-style zone) should start it
 * on a 64-byte boundary (gwlb_limiter_table_new does) and, for large
 * tables, back it with huge pages: e.g. mmap a 2 MiB-aligned region and
 * madvise(MADV_HUGEPAGE) before gwlb_limiter_table_init (Linux THP in
 * "madvise" or "always" mode). The library never maps memory itself. A
 * host with several requests at hand can use gwlb_limiter_table_allow_batch
 * to overlap their memory accesses (see the bench for the figures).
 *
 * Concurrency: lookups and updates are lock-free (CAS on the meta and
 * state words). A known race: when a slot is evicted while another thread
 * is updating the evicted key, that one update may land on the newcomer's
 * fresh state (one request charged to the wrong key, never lost capacity).
 */

#define GWLB_LIMITER_KEY_MAX 65535u /* nginx's limit for a limit_req key */
#define GWLB_LIMITER_TABLE_HEADER 256u
#define GWLB_LIMITER_TABLE_BUCKET 64u /* 4 slots of 16 bytes */

typedef struct gwlb_limiter_table gwlb_limiter_table;

/** Counters of a table (snapshot; each read atomically). */
typedef struct gwlb_limiter_table_stats {
    uint64_t capacity;       /* slots (keys tracked at most) */
    uint64_t used;           /* slots in use (counted by scanning) */
    uint64_t inserts;        /* new keys placed */
    uint64_t evicted_fresh;  /* evictions of entries equivalent to fresh */
    uint64_t evicted_live;   /* evictions of entries with live state */
    uint64_t rejected;       /* requests rejected */
    uint64_t dry_run_limited; /* requests a dry-run policy would have rejected */
} gwlb_limiter_table_stats;

/** Bytes of memory a table needs to track at least `keys` keys. */
GWLB_API size_t gwlb_limiter_table_bytes(uint64_t keys);

/**
 * Format `bytes` of host memory (aligned to 64 bytes) as an empty table
 * for `policy`, hashing keys under hash_key. *out points into memory.
 * Errors (memory untouched): GWLB_EINVAL NULL, misaligned memory, or an
 * invalid policy; GWLB_ENOSPC bytes too small for one bucket
 * (GWLB_LIMITER_TABLE_HEADER + GWLB_LIMITER_TABLE_BUCKET).
 * Needs exclusive access to the memory.
 */
GWLB_API int gwlb_limiter_table_init(void *memory, size_t bytes,
                                     const gwlb_limiter_policy *policy,
                                     const uint8_t hash_key[16], gwlb_limiter_table **out);

/**
 * Use a table another process formatted (same bytes, any address).
 * Errors: GWLB_EINVAL NULL or not a table; GWLB_EVERSION a different
 * layout version; GWLB_ENOSPC bytes smaller than the table. Thread-safe.
 */
GWLB_API int gwlb_limiter_table_attach(void *memory, size_t bytes, gwlb_limiter_table **out);

/**
 * Allocate and init a table of `bytes` through allocator (NULL = libc).
 * The table starts on a 64-byte boundary (63 bytes more are allocated), so
 * each bucket is one cache line: a lookup reads two lines (its two
 * candidate buckets, fetched in parallel), never four.
 * Errors: as _init; GWLB_ENOMEM. Free with gwlb_limiter_table_free.
 */
GWLB_API int gwlb_limiter_table_new(size_t bytes, const gwlb_limiter_policy *policy,
                                    const uint8_t hash_key[16], const gwlb_allocator *allocator,
                                    gwlb_limiter_table **out);

/** Free a table made by gwlb_limiter_table_new. NULL is a no-op. */
GWLB_API void gwlb_limiter_table_free(gwlb_limiter_table *table);

/**
 * One request of `cost` for `key` at `now` (cost 0 peeks and inserts
 * nothing). A key not in the table is inserted (possibly evicting, see
 * above). result may be NULL.
 * Errors (nothing changed): GWLB_EINVAL NULL table/result-less key pointer;
 * GWLB_EMPTY key_len 0 (nginx does not limit an empty key);
 * GWLB_ETOOLONG key_len > GWLB_LIMITER_KEY_MAX; GWLB_ERANGE as
 * gwlb_limiter_state_allow. Lock-free, safe to call concurrently from
 * threads and processes.
 */
GWLB_API int gwlb_limiter_table_allow(gwlb_limiter_table *table, const void *key,
                                      size_t key_len, uint64_t now, uint64_t cost,
                                      gwlb_limit_result *result);

/** Most requests one gwlb_limiter_table_allow_batch call takes. */
#define GWLB_LIMITER_TABLE_BATCH_MAX 16u

/**
 * Several requests at once (all at `now`, each of `cost`): the same
 * decisions, numbers, insertions, evictions and counters as n calls of
 * gwlb_limiter_table_allow(table, keys[i], key_lens[i], now, cost,
 * &results[i]) in index order (a key may appear more than once), but every
 * key is hashed and its two candidate cache lines prefetched before the
 * first decision, so the n memory accesses overlap instead of following
 * each other. For hosts that have several requests ready at once (an
 * event loop after one poll). results may be NULL (else n entries).
 * Errors (nothing changed, checked before any decision): GWLB_EINVAL NULL
 * table, or NULL keys/key_lens with n > 0, or a NULL key with a length;
 * GWLB_ERANGE n > GWLB_LIMITER_TABLE_BATCH_MAX or as
 * gwlb_limiter_table_allow; GWLB_EMPTY / GWLB_ETOOLONG a key as there.
 * n == 0 does nothing. Lock-free, safe to call concurrently.
 */
GWLB_API int gwlb_limiter_table_allow_batch(gwlb_limiter_table *table, const void *const *keys,
                                            const size_t *key_lens, size_t n, uint64_t now,
                                            uint64_t cost, gwlb_limit_result *results);

/**
 * Start loading the two cache lines a later call for `key` will read
 * (hash and prefetch only: decides nothing, writes nothing). A host that
 * knows the key some time before it limits (after parsing the request,
 * before routing or authentication) hides most of a large table's memory
 * latency; the bench row "prefetch_ahead=1" prefetches the next request's
 * key before deciding the current one.
 * Errors (nothing done): GWLB_EINVAL NULL table or NULL key with a length;
 * GWLB_EMPTY key_len 0; GWLB_ETOOLONG key_len > GWLB_LIMITER_KEY_MAX.
 * Thread-safe.
 */
GWLB_API int gwlb_limiter_table_prefetch(const gwlb_limiter_table *table, const void *key,
                                         size_t key_len);

/**
 * gwlb_limiter_table_allow in exclusive mode: the same decisions, numbers,
 * evictions and counters, but the hit path updates the state word, the
 * entry's use count/age and the counters with relaxed atomic loads and
 * stores instead of compare-and-swap / fetch-add (no locked instruction;
 * inserting a new key still uses its lock-free protocol). The caller
 * promises that no other thread or process mutates the table at the same
 * time (a table private to one worker or event loop); readers such as
 * gwlb_limiter_table_stats_get on other threads stay race-free. Errors as
 * gwlb_limiter_table_allow.
 */
GWLB_API int gwlb_limiter_table_allow_exclusive(gwlb_limiter_table *table, const void *key,
                                                size_t key_len, uint64_t now, uint64_t cost,
                                                gwlb_limit_result *result);

/**
 * The state word of `key` (inserting it, as _allow with cost 1 would),
 * for use with gwlb_limiter_allow_all. The pointer stays valid while the
 * table exists, but the slot may be reused by another key after eviction.
 * Errors as gwlb_limiter_table_allow.
 */
GWLB_API int gwlb_limiter_table_state(gwlb_limiter_table *table, const void *key,
                                      size_t key_len, uint64_t now, uint64_t **state_word);

/** The table's policy (points into the table). NULL for NULL. */
GWLB_API const gwlb_limiter_policy *gwlb_limiter_table_policy(const gwlb_limiter_table *table);

/** Snapshot of the counters. Errors: GWLB_EINVAL NULL. Safe concurrently. */
GWLB_API int gwlb_limiter_table_stats_get(const gwlb_limiter_table *table,
                                          gwlb_limiter_table_stats *stats);

/* ======================================================================
 * Rate-limit response header values
 * ====================================================================== */

/*
 * Values (not names) for response header fields, written into a caller
 * buffer and NUL-terminated. `*len` is the write position on input (0 for
 * a new value) and the new length on output; IETF items are appended as a
 * Structured Fields list (", " between items when *len > 0), so several
 * policies can share one field. Times are whole seconds rounded UP (a
 * client must never be told to come back early).
 *
 * IETF draft-ietf-httpapi-ratelimit-headers-10:
 *   RateLimit-Policy: "burst";q=100;w=60     (name, quota, window seconds)
 *   RateLimit:        "default";r=50;t=30    (name, remaining, reset seconds)
 * The name is an sf-string: printable ASCII, `"` and `\` are escaped.
 * Legacy: X-RateLimit-Limit / -Remaining / -Reset (delta seconds until the
 * limiter is back to full) and Retry-After (delta seconds; only when a
 * request was limited and can succeed later).
 *
 * Errors (buffer and *len untouched): GWLB_EINVAL NULL or *len > cap;
 * GWLB_ESYNTAX a name byte outside 0x20..0x7e; GWLB_ETOOLONG a name longer
 * than GWLB_RATELIMIT_NAME_MAX bytes; GWLB_ERANGE a number above
 * 999,999,999,999,999 (the sf-integer limit); GWLB_ENOSPC the value and its
 * NUL do not fit; GWLB_ENOENT no Retry-After applies (allowed, or the cost
 * can never fit). Thread-safe.
 */

#define GWLB_RATELIMIT_NAME_MAX 256u

/** Append a RateLimit-Policy item: "name";q=quota[;w=window_seconds] (w omitted when 0). */
GWLB_API int gwlb_ratelimit_policy_item(char *buf, size_t cap, size_t *len, const char *name,
                                        uint64_t quota, uint64_t window_seconds);

/** Append a RateLimit item from a result: "name";r=remaining;t=ceil(reset_after). */
GWLB_API int gwlb_ratelimit_item(char *buf, size_t cap, size_t *len, const char *name,
                                 const gwlb_limit_result *result);

/** Which legacy header value gwlb_ratelimit_legacy_value writes. */
enum gwlb_ratelimit_legacy {
    GWLB_X_RATELIMIT_LIMIT = 1,     /* result->limit */
    GWLB_X_RATELIMIT_REMAINING = 2, /* result->remaining */
    GWLB_X_RATELIMIT_RESET = 3,     /* ceil(reset_after_ns) seconds */
    GWLB_RETRY_AFTER = 4            /* ceil(retry_after_ns) seconds; GWLB_ENOENT if none */
};

/** Write one legacy header value (replaces, does not append: *len is set). */
GWLB_API int gwlb_ratelimit_legacy_value(const gwlb_limit_result *result,
                                         enum gwlb_ratelimit_legacy which, char *buf,
                                         size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_LIMITER_H */
