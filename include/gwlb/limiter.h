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
 */
typedef struct gwlb_limit_result {
    int32_t allowed;
    uint32_t reserved_;
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
 *     remaining = floor(us(DVT - reset_after) / us(T))   (us(x) = x / 1000)
 *
 * remaining is computed on whole microseconds exactly as redis-cell does
 * (it divides Duration::whole_microseconds values); when T < 1 us we divide
 * nanoseconds instead (redis-cell would divide by zero there).
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
 * Decode a state word into excess (milli-requests) and last (ms modulo
 * 2^38). Returns 1 for a state in use, 0 for a fresh one (outputs 0),
 * GWLB_EINVAL for NULL outputs. Thread-safe.
 */
GWLB_API int gwlb_limit_req_state_decode(uint64_t state, uint64_t *excess, uint64_t *last_ms);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_LIMITER_H */
