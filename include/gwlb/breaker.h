/*
 * libgwlb — circuit breaker, resource limits and retry budgets.
 *
 * Three independent primitives, each a plain fixed-size struct the host
 * embeds wherever it likes (including MAP_SHARED memory and nginx shared
 * zones, mapped at different addresses in different processes: the state
 * holds no pointers) plus a plain, process-local configuration struct that
 * is passed to every call:
 *
 *   gwlb_breaker       circuit breaker (gobreaker / resilience4j semantics)
 *   gwlb_resources     Envoy-style resource limits ("circuit breakers":
 *                      max connections / pending / requests / retries, and
 *                      Envoy's concurrency retry budget)
 *   gwlb_retry_budget  Finagle-style token retry budget (deposit per request,
 *                      withdraw per retry, deposits expire after a ttl)
 *
 * Time is an input: every time-dependent call takes `now`, monotonic
 * nanoseconds from the host. Nothing here reads a clock, allocates, locks or
 * makes a system call. Hot paths are a handful of C11 atomic loads and
 * few atomic read-modify-writes (locked instructions): closed-state allow +
 * success record is 2, one per call (1 with fast_counters; a count-window
 * success adds one only when its slot held a failed or slow call, a
 * time-window success adds its bucket's compare-and-swap), an open-state
 * rejection is 1 (0 with fast_counters), resource acquire + release is 2
 * (a compare-and-swap and an atomic subtract). The opt-in exclusive modes
 * (gwlb_breaker_set_exclusive, gwlb_resources_*_exclusive) replace them
 * with plain atomic load + store for single-writer use.
 *
 * Time going backwards is clamped, never subtracted: deadlines are compared
 * as now > deadline, so an earlier `now` simply keeps a breaker open (or a
 * half-open probe window running) longer; a write for a bucket or slice
 * that is older than the one already occupying its slot is booked into the
 * newer one; nothing ever computes now - earlier, so nothing underflows.
 *
 * Fields of the state structs are public only so that the structs can be
 * embedded and sized; read and change them only through these functions.
 * For best performance place a gwlb_breaker at a 64-byte boundary.
 *
 * Thread safety: every function taking a state struct is safe to call
 * concurrently on the same struct from any number of threads and processes,
 * except the `_init` functions, which need exclusive access. Configuration
 * structs are read, never written, by the library; they must not change
 * while calls using them are running (build a new one and re-init to change).
 */
#ifndef GWLB_BREAKER_H
#define GWLB_BREAKER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Circuit breaker
 * ====================================================================== */

/*
 * States (resilience4j's set). CLOSED, OPEN and HALF_OPEN are driven by
 * outcomes and time; FORCED_OPEN, DISABLED and METRICS_ONLY are entered and
 * left only through gwlb_breaker_transition().
 *
 *              trip condition                 wait elapsed (now > deadline)
 *   CLOSED ----------------------> OPEN ---------------------------> HALF_OPEN
 *     ^                             ^  <------------------------------ |   |
 *     |                             |   half_open_failures failures,   |   |
 *     |                             |   or half_open_max_wait_ns passed|   |
 *     +-----------------------------+----------------------------------+   |
 *                  half_open_successes successes                           |
 *
 *   FORCED_OPEN   rejects everything.
 *   DISABLED      admits everything, records only the plain counters.
 *   METRICS_ONLY  admits everything, records windows and counters, never trips.
 */
enum gwlb_breaker_state {
    GWLB_BREAKER_CLOSED = 0,
    GWLB_BREAKER_OPEN = 1,
    GWLB_BREAKER_HALF_OPEN = 2,
    GWLB_BREAKER_FORCED_OPEN = 3,
    GWLB_BREAKER_DISABLED = 4,
    GWLB_BREAKER_METRICS_ONLY = 5
};

/** How a call ended; the host decides (status, timeout, exception class). */
enum gwlb_breaker_outcome {
    GWLB_BREAKER_SUCCESS = 0,
    GWLB_BREAKER_FAILURE = 1,
    GWLB_BREAKER_IGNORED = 2 /* counts nowhere; in half-open it returns its permit */
};

/** Positive results of gwlb_breaker_allow(): the call is rejected, and why. */
enum gwlb_breaker_reject {
    GWLB_BREAKER_REJECT_OPEN = 1,           /* open (waiting before half-open) */
    GWLB_BREAKER_REJECT_HALF_OPEN_FULL = 2, /* half-open, every probe permit taken */
    GWLB_BREAKER_REJECT_FORCED_OPEN = 3     /* forced open by the host */
};

/** Sliding window over which failure and slow-call rates are computed. */
enum gwlb_breaker_window {
    GWLB_BREAKER_WINDOW_NONE = 0,  /* no rates: consecutive failures only */
    GWLB_BREAKER_WINDOW_COUNT = 1, /* the last window_size recorded calls */
    GWLB_BREAKER_WINDOW_TIME = 2   /* the last window_size buckets of window_bucket_ns */
};

/** Why a transition happened (reported in events and stats). */
enum gwlb_breaker_cause {
    GWLB_BREAKER_CAUSE_NONE = 0,
    GWLB_BREAKER_CAUSE_CONSECUTIVE_FAILURES = 1, /* closed -> open */
    GWLB_BREAKER_CAUSE_FAILURE_RATE = 2,         /* closed -> open */
    GWLB_BREAKER_CAUSE_SLOW_CALL_RATE = 3,       /* closed -> open */
    GWLB_BREAKER_CAUSE_WAIT_ELAPSED = 4,         /* open -> half-open */
    GWLB_BREAKER_CAUSE_PROBE_SUCCESSES = 5,      /* half-open -> closed */
    GWLB_BREAKER_CAUSE_PROBE_FAILURES = 6,       /* half-open -> open */
    GWLB_BREAKER_CAUSE_HALF_OPEN_TIMEOUT = 7,    /* half-open -> open */
    GWLB_BREAKER_CAUSE_ADMIN = 8                 /* gwlb_breaker_transition() */
};

/** Largest count-based window (calls) and time-based window (buckets). */
#define GWLB_BREAKER_MAX_WINDOW_CALLS 1024
#define GWLB_BREAKER_MAX_WINDOW_BUCKETS 64
/** Largest number of half-open probe permits. */
#define GWLB_BREAKER_MAX_PERMITS 1023

/** A state change, as reported to the transition callback. */
typedef struct gwlb_breaker_event {
    uint32_t from;       /* enum gwlb_breaker_state */
    uint32_t to;         /* enum gwlb_breaker_state */
    uint32_t cause;      /* enum gwlb_breaker_cause */
    uint32_t generation; /* generation of the new state */
    uint64_t now;        /* the `now` of the call that made the change */
    uint64_t wait_ns;    /* to OPEN: wait before half-open (with backoff and
                            jitter); to HALF_OPEN: its maximum wait (0 =
                            none); otherwise 0 */
    uint32_t trips;      /* consecutive trips without closing (backoff step) */
    uint32_t reserved_;
} gwlb_breaker_event;

/**
 * Transition callback. Called synchronously, once per state change, by the
 * thread (and in the process) whose call made the change, after the change
 * is visible to everyone. It may call gwlb_breaker_state()/_get_stats()/_get_counts()
 * but should not block.
 */
typedef void (*gwlb_breaker_callback)(const gwlb_breaker_event *event, void *user_data);

/**
 * Breaker configuration (plain struct; fill with an _init function, then
 * change fields). Trip conditions combine with OR; each is off when 0.
 *
 *   consecutive_failures   open when this many failures in a row are
 *                          recorded in closed state (gobreaker default
 *                          ReadyToTrip "> 5": 6). 0 = off.
 *   failure_rate_percent   open when failures * 100 >= percent * calls over
 *                          the window (resilience4j ">= threshold"), once the
 *                          window holds minimum_calls calls. 0 = off, 1..100.
 *   slow_call_rate_percent the same for slow calls. 0 = off, 1..100.
 *   slow_call_ns           a call with duration > slow_call_ns is slow
 *                          (resilience4j compares with ">"); 0 = no call is slow.
 *   window_kind/size       enum gwlb_breaker_window; size in calls (count,
 *                          1..1024) or buckets (time, 1..64).
 *   window_bucket_ns       time windows: length of one bucket (>0).
 *   minimum_calls          no rate can trip before the window holds this many
 *                          calls (count windows: <= window_size). 0 acts as 1.
 *   half_open_permits      probe calls admitted in half-open (1..1023);
 *                          further calls are rejected immediately.
 *   half_open_successes    successes in half-open that close the breaker
 *                          (1..permits).
 *   half_open_failures     failures in half-open that re-open it (1..permits;
 *                          successes + failures <= permits + 1 so that the
 *                          permits always decide). A slow call counts as a
 *                          failure here when slow_call_rate_percent > 0.
 *   open_wait_ns           wait in OPEN before half-open, after the first
 *                          trip. Half-open starts when now > opened + wait
 *                          (strictly, as gobreaker's expiry.Before(now)).
 *   open_wait_multiplier_percent  each further trip without closing
 *                          multiplies the wait by percent/100 (100 = constant;
 *                          >= 100).
 *   open_wait_max_ns       cap on the grown wait (0 = no cap), applied after
 *                          jitter too.
 *   open_wait_jitter_percent  the wait is drawn uniformly from
 *                          wait * (1 +- percent/100) with the breaker's
 *                          seeded PRNG (0..100; 0 = no jitter, no draw).
 *   half_open_max_wait_ns  longest time in half-open; after it the breaker
 *                          re-opens (resilience4j maxWaitDurationInHalfOpenState;
 *                          0 = no limit).
 *   fast_counters          0 (default): every admission and rejection is
 *                          counted with an atomic add (gobreaker-exact
 *                          Counts.requests, exact stats). 1: the hot paths
 *                          drop those two read-modify-writes: admissions are
 *                          counted when their result arrives (requests and
 *                          stats.admitted then count calls whose result was
 *                          recorded or ignored, not calls in flight), and
 *                          rejections are counted with a plain load/store
 *                          (exact from one thread, may miss increments when
 *                          several threads reject at once). Outcome counts
 *                          stay exact either way. Must be the same for every
 *                          user of one breaker (it is fixed at init).
 *   on_transition, user_data  optional callback (process-local).
 */
typedef struct gwlb_breaker_config {
    uint32_t consecutive_failures;
    uint32_t failure_rate_percent;
    uint32_t slow_call_rate_percent;
    uint32_t window_kind;
    uint64_t slow_call_ns;
    uint32_t window_size;
    uint32_t minimum_calls;
    uint64_t window_bucket_ns;
    uint32_t half_open_permits;
    uint32_t half_open_successes;
    uint32_t half_open_failures;
    uint32_t open_wait_multiplier_percent;
    uint64_t open_wait_ns;
    uint64_t open_wait_max_ns;
    uint32_t open_wait_jitter_percent;
    uint32_t fast_counters;
    uint64_t half_open_max_wait_ns;
    gwlb_breaker_callback on_transition;
    void *user_data;
} gwlb_breaker_config;

/**
 * The breaker's shared state. Plain, fixed-size, pointer-free; every word is
 * accessed atomically. Initialise with gwlb_breaker_init().
 */
typedef struct gwlb_breaker {
    /* read on every call (written only by transitions and init) */
    uint64_t ctl;          /* state | trips | half-open counts | modes | generation */
    uint64_t deadline[4];  /* by generation & 3: open -> half-open / half-open max */
    uint64_t win_n;        /* window size at init, and its reciprocal */
    uint64_t win_recip;
    uint64_t bucket_recip; /* reciprocal of the time-window bucket at init */
    /* counters (monotonic) */
    uint64_t admitted;
    uint64_t rejected;
    uint64_t recorded; /* successes + failures; also the count-window cursor */
    uint64_t failures;
    uint64_t slow;
    uint64_t ignored;
    uint64_t stale;
    uint64_t transitions;
    /* per-generation marks */
    uint64_t fail_mark;  /* failures before the current run of failures */
    uint64_t succ_mark;  /* successes at the last failure */
    uint64_t base_admitted;
    uint64_t base_recorded;
    uint64_t base_failures;
    uint64_t base_ignored;
    uint64_t trips_total;
    uint64_t reserved0_;
    /* cold */
    uint64_t last_change_ns;
    uint64_t last_cause;
    uint64_t magic;
    uint64_t mode;      /* fast_counters at init */
    uint64_t bucket_ns; /* time-window bucket at init */
    uint64_t rng;       /* gwlb_rng state for jitter */
    uint64_t reserved1_[2];
    /* sliding window: bitmaps (count) or buckets (time) */
    uint64_t window[64];
} gwlb_breaker;

/** Counters since the last state change, as gobreaker's Counts. */
typedef struct gwlb_breaker_counts {
    uint64_t requests;              /* admitted (see fast_counters) */
    uint64_t total_successes;
    uint64_t total_failures;
    uint64_t consecutive_successes;
    uint64_t consecutive_failures;
} gwlb_breaker_counts;

/** A snapshot of a breaker (monotonic counters since init, plus the window). */
typedef struct gwlb_breaker_stats {
    uint32_t state;
    uint32_t generation;
    uint32_t trips;            /* consecutive trips without closing */
    uint32_t last_cause;       /* enum gwlb_breaker_cause of the last change */
    uint64_t last_change_ns;   /* `now` of the last change (0 = none yet) */
    uint64_t admitted;
    uint64_t rejected;
    uint64_t successes;
    uint64_t failures;
    uint64_t slow_calls;
    uint64_t ignored;
    uint64_t stale_results;    /* results refused as from an older generation */
    uint64_t transitions;
    uint64_t times_opened;
    uint64_t window_calls;     /* calls currently in the window */
    uint64_t window_failures;
    uint64_t window_slow_calls;
} gwlb_breaker_stats;

/**
 * Fill a config with gobreaker's defaults: open on the 6th consecutive
 * failure, no windows, wait 60 s, 1 half-open permit that closes on success
 * and re-opens on failure, no backoff, no jitter, no half-open limit.
 * Thread-safe (writes only *config). NULL is ignored.
 */
GWLB_API void gwlb_breaker_config_init(gwlb_breaker_config *config);

/**
 * Fill a config with resilience4j's CircuitBreakerConfig defaults: failure
 * rate 50 %, slow-call rate 100 % with calls slower than 60 s, count window
 * of 100 calls, minimum 100 calls, 10 half-open permits deciding like
 * resilience4j's rate over those permits (re-open at 5 failures, close at 6
 * successes), wait 60 s, no consecutive-failure trip.
 * Thread-safe. NULL is ignored.
 */
GWLB_API void gwlb_breaker_config_init_resilience4j(gwlb_breaker_config *config);

/**
 * Check a config. Returns 0, or (detail filled with the field name):
 *   GWLB_EINVAL    config NULL, unknown window_kind
 *   GWLB_ERANGE    a percent > 100, window_size 0 or above the maximum,
 *                  window_bucket_ns 0 for a time window, half_open_permits
 *                  0 or > 1023, half_open_successes/failures 0 or > permits,
 *                  multiplier < 100, jitter > 100
 *   GWLB_ECONFLICT a rate threshold without a window, minimum_calls >
 *                  window_size for a count window, half_open_successes +
 *                  half_open_failures > permits + 1, open_wait_max_ns <
 *                  open_wait_ns
 * Thread-safe.
 */
GWLB_API int gwlb_breaker_config_validate(const gwlb_breaker_config *config,
                                          gwlb_error_detail *detail);

/**
 * Initialise a breaker: CLOSED, generation 1, counters zero, window empty,
 * jitter PRNG seeded with `seed`. Validates the config first (same errors
 * as gwlb_breaker_config_validate; the breaker is untouched on error).
 * Needs exclusive access.
 */
GWLB_API int gwlb_breaker_init(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                               uint64_t seed, gwlb_error_detail *detail);

/**
 * Ask to make a call at `now`.
 * Returns 0 = admitted: *ticket receives a ticket naming the breaker's
 * generation, to be passed to gwlb_breaker_record() when the call ends.
 * Returns a positive enum gwlb_breaker_reject = rejected (*ticket = 0).
 * Returns GWLB_EINVAL for a NULL argument.
 * May change state: OPEN -> HALF_OPEN once now > deadline (this call takes
 * the first probe permit), HALF_OPEN -> OPEN once the half-open maximum wait
 * has passed. Lock-free; safe to call concurrently.
 */
GWLB_API int gwlb_breaker_allow(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                                uint64_t now, uint64_t *ticket);

/**
 * Record how an admitted call ended. `duration_ns` decides whether it was
 * slow. Returns:
 *   0              recorded (this may trip, close or re-open the breaker)
 *   GWLB_EUNKNOWN  the ticket's generation is not the current one: the call
 *                  was admitted before the last state change (gobreaker
 *                  drops such results) or the ticket was never issued; the
 *                  result is counted in stale_results and nothing else changes
 *   GWLB_EINVAL    NULL argument, ticket 0 / malformed, unknown outcome
 * Lock-free; safe to call concurrently.
 */
GWLB_API int gwlb_breaker_record(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                                 uint64_t ticket, int outcome, uint64_t duration_ns,
                                 uint64_t now);

/**
 * Apply the time-driven transitions due at `now` (OPEN -> HALF_OPEN, half-open
 * maximum wait) and return the resulting enum gwlb_breaker_state, as
 * gobreaker's State(). GWLB_EINVAL for NULL. Safe to call concurrently.
 */
GWLB_API int gwlb_breaker_poll(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                               uint64_t now);

/**
 * Opt-in exclusive mode (default off; gwlb_breaker_init() turns it off).
 * With on = 1 the caller promises that at most one thread at a time calls
 * the breaker's mutating functions (_allow, _record, _poll, _transition):
 * per-worker state without a shared zone, one event loop per breaker. Every
 * counter is then updated with a relaxed atomic load + store instead of a
 * locked read-modify-write (no data race, stats stay readable from other
 * threads; state changes still use compare-and-swap). Decisions, tickets,
 * events and counts are exactly those of the default mode for the same
 * sequence of calls; only breaking the promise differs (concurrent calls
 * may then lose counter increments, never admit extra half-open probes).
 * The mode lives in the breaker (so in shared memory for every process).
 * Returns 0, GWLB_EINVAL (NULL, on not 0 or 1). Safe to call at any time.
 */
GWLB_API int gwlb_breaker_set_exclusive(gwlb_breaker *breaker, int on);

/** 1 when the breaker is in exclusive mode, 0 when not, GWLB_EINVAL for NULL. */
GWLB_API int gwlb_breaker_is_exclusive(const gwlb_breaker *breaker);

/** The current state without applying any transition (-EINVAL for NULL). */
GWLB_API int gwlb_breaker_state(const gwlb_breaker *breaker);

/** The current generation (increments on every state change, wrapping from
 *  2^24 - 1 to 1; 0 for NULL). */
GWLB_API uint32_t gwlb_breaker_generation(const gwlb_breaker *breaker);

/**
 * Move the breaker to `state` now, whatever it is in (cause ADMIN), starting
 * a new generation: CLOSED = reset (window cleared), OPEN = trip now (wait
 * with backoff), HALF_OPEN = start probing, FORCED_OPEN / DISABLED /
 * METRICS_ONLY = the special states, left only through this call. Every
 * pair of states is allowed (resilience4j refuses closed -> half-open and
 * metrics-only -> open/half-open; here a host may start probing explicitly).
 * Returns 0, GWLB_EINVAL (NULL, unknown state). Safe to call concurrently;
 * records racing with a reset to CLOSED may be dropped from the new window.
 */
GWLB_API int gwlb_breaker_transition(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                                     int state, uint64_t now);

/**
 * Counts since the last state change (gobreaker's Counts: requests,
 * successes, failures, consecutive successes and failures). Exact when
 * calls are sequential; under concurrency a consistent-enough snapshot.
 * Returns 0 or GWLB_EINVAL.
 */
GWLB_API int gwlb_breaker_get_counts(const gwlb_breaker *breaker, gwlb_breaker_counts *counts);

/**
 * Snapshot of counters and the window as seen at `now` (time windows count
 * only buckets inside the window at now). Returns 0 or GWLB_EINVAL.
 */
GWLB_API int gwlb_breaker_get_stats(const gwlb_breaker *breaker, const gwlb_breaker_config *config,
                                uint64_t now, gwlb_breaker_stats *stats);

/** Static names: "closed", "open", "half-open", "forced-open", "disabled",
 *  "metrics-only"; "unknown" otherwise. */
GWLB_API const char *gwlb_breaker_state_name(int state);

/** Static names of causes ("consecutive-failures", "failure-rate", ...). */
GWLB_API const char *gwlb_breaker_cause_name(int cause);

/* ======================================================================
 * Resource limits (Envoy circuit_breakers thresholds)
 * ====================================================================== */

/** The resources a target limits (Envoy's thresholds). */
enum gwlb_resource {
    GWLB_RESOURCE_CONNECTIONS = 0, /* max_connections, default 1024 */
    GWLB_RESOURCE_PENDING = 1,     /* max_pending_requests, default 1024 */
    GWLB_RESOURCE_REQUESTS = 2,    /* max_requests, default 1024 */
    GWLB_RESOURCE_RETRIES = 3,     /* max_retries, default 3 (or the retry budget) */
    GWLB_RESOURCE_COUNT = 4
};

/**
 * Limits of one target. max[kind] caps the concurrent count of each
 * resource. When retry_budget is non-zero the retry cap is instead Envoy's
 * RetryBudget: active retries must stay below
 *     max(retry_budget_percent * (active requests + active pending) / 100,
 *         min_retry_concurrency)
 * (Envoy ResourceManagerImpl: canCreate = count < max; the percentage is
 * truncated to an integer).
 */
typedef struct gwlb_resource_config {
    uint64_t max[GWLB_RESOURCE_COUNT];
    uint32_t retry_budget;          /* 0 = use max[RETRIES]; 1 = use the budget */
    uint32_t retry_budget_percent;  /* 0..100, Envoy default 20 */
    uint32_t min_retry_concurrency; /* Envoy default 3 */
    uint32_t reserved_;
} gwlb_resource_config;

/** Live counts of one target plus overflow counters. Pointer-free. */
typedef struct gwlb_resources {
    uint64_t active[GWLB_RESOURCE_COUNT];
    uint64_t overflows[GWLB_RESOURCE_COUNT];
} gwlb_resources;

/** Envoy defaults: 1024 / 1024 / 1024 / 3, no retry budget (its defaults
 *  20 % and 3 are pre-filled). Thread-safe. NULL ignored. */
GWLB_API void gwlb_resource_config_init(gwlb_resource_config *config);

/** Check a config: GWLB_EINVAL (NULL), GWLB_ERANGE (retry_budget_percent > 100). */
GWLB_API int gwlb_resource_config_validate(const gwlb_resource_config *config,
                                           gwlb_error_detail *detail);

/** Zero every count. Needs exclusive access. GWLB_EINVAL for NULL. */
GWLB_API int gwlb_resources_init(gwlb_resources *resources);

/**
 * Take one unit of `kind`. Returns 0 (taken), GWLB_ELIMIT (the cap is
 * reached: nothing taken, overflows[kind] counted; gwlb_resource_name(kind)
 * names the limit for a response header or stat), GWLB_EINVAL (NULL,
 * unknown kind). Lock-free (one compare-and-swap, none when the resource
 * is full); safe to call concurrently.
 */
GWLB_API int gwlb_resources_acquire(gwlb_resources *resources,
                                    const gwlb_resource_config *config, int kind);

/**
 * Return one unit of `kind`. Returns 0, GWLB_ESTATE (nothing of that kind is
 * held: release without acquire; nothing changes), GWLB_EINVAL.
 * Lock-free: one atomic subtract; a release without acquire adds its unit
 * back and fails, so for that instant concurrent acquires of the same kind
 * may see the resource as full (only a host bug can cause this). Safe to
 * call concurrently.
 */
GWLB_API int gwlb_resources_release(gwlb_resources *resources, int kind);

/**
 * Exclusive variants of acquire/release (opt-in): the same decisions,
 * return codes and counts, with a relaxed atomic load + store instead of a
 * compare-and-swap or atomic subtract (no locked instruction). The caller
 * promises that one thread at a time changes this gwlb_resources (nginx
 * per-worker limits without a shared zone, one event loop per object) and
 * uses only these variants on it then; counts stay readable from other threads
 * (gwlb_resources_active). Mixing them with concurrent non-exclusive calls
 * may lose updates.
 */
GWLB_API int gwlb_resources_acquire_exclusive(gwlb_resources *resources,
                                              const gwlb_resource_config *config, int kind);

/** Exclusive variant of gwlb_resources_release() (see above). */
GWLB_API int gwlb_resources_release_exclusive(gwlb_resources *resources, int kind);

/** Current count of `kind` (0 for NULL / unknown kind). */
GWLB_API uint64_t gwlb_resources_active(const gwlb_resources *resources, int kind);

/** The cap that applies to `kind` now (the retry budget reads the live
 *  request counts). 0 for NULL / unknown kind. */
GWLB_API uint64_t gwlb_resources_limit(const gwlb_resources *resources,
                                       const gwlb_resource_config *config, int kind);

/** Static names of the limits: "max_connections", "max_pending_requests",
 *  "max_requests", "max_retries"; "unknown" otherwise. */
GWLB_API const char *gwlb_resource_name(int kind);

/* ======================================================================
 * Token retry budget (Finagle RetryBudget / TokenRetryBudget)
 * ====================================================================== */

/**
 * Finagle's RetryBudget(ttl, minRetriesPerSec, percentCanRetry):
 *   deposit()     adds 1000 tokens (0 when the percentage is 0)
 *   tryWithdraw() takes W = floor(1000 / percentCanRetry) tokens (1 when
 *                 the percentage is 0) if the balance holds W
 *   balance       = reserve + tokens deposited minus withdrawn within the
 *                 last ttl, reserve = min_retries_per_sec * ttl_seconds * W
 * Deposits and withdrawals are kept in 10 slices of ttl/10 (Finagle's
 * WindowedAdder) and expire with their slice: an amount booked in slice k
 * counts while the current slice is k..k+9. Slices are aligned to multiples
 * of ttl/10 of the host's clock. Defaults: ttl 10 s, 10 per second, 20 %.
 */
typedef struct gwlb_retry_budget_config {
    uint64_t ttl_ns;              /* 1 s .. 60 s */
    uint32_t min_retries_per_sec; /* reserve rate */
    uint32_t can_retry_ppm;       /* Finagle percentCanRetry in millionths:
                                     0.2 = 200000; 0 .. 1000000000 (1000.0) */
} gwlb_retry_budget_config;

#define GWLB_RETRY_BUDGET_SLICES 10

/** Budget state: one word per slice (slice tag | signed tokens). */
typedef struct gwlb_retry_budget {
    uint64_t slice[GWLB_RETRY_BUDGET_SLICES];
} gwlb_retry_budget;

/** Finagle defaults: 10 s, 10 retries/s, 0.2 (200000 ppm). Thread-safe. NULL ignored. */
GWLB_API void gwlb_retry_budget_config_init(gwlb_retry_budget_config *config);

/** Check: GWLB_EINVAL (NULL), GWLB_ERANGE (ttl outside 1..60 s, can_retry_ppm
 *  above 1000000000). Finagle's Empty budget is min 0 and ppm 0. */
GWLB_API int gwlb_retry_budget_config_validate(const gwlb_retry_budget_config *config,
                                               gwlb_error_detail *detail);

/** Validate the config and empty the budget. Needs exclusive access. */
GWLB_API int gwlb_retry_budget_init(gwlb_retry_budget *budget,
                                    const gwlb_retry_budget_config *config,
                                    gwlb_error_detail *detail);

/** Credit one request at `now`. 0 or GWLB_EINVAL. Lock-free. */
GWLB_API int gwlb_retry_budget_deposit(gwlb_retry_budget *budget,
                                       const gwlb_retry_budget_config *config, uint64_t now);

/**
 * Try to pay for one retry at `now`: 0 = allowed (withdrawn), GWLB_ELIMIT =
 * not enough balance (nothing changes), GWLB_EINVAL. Lock-free: concurrent
 * withdrawals never overdraw the balance they observed.
 */
GWLB_API int gwlb_retry_budget_withdraw(gwlb_retry_budget *budget,
                                        const gwlb_retry_budget_config *config, uint64_t now);

/** Retries that could be made now (Finagle's balance: tokens / W); 0 for NULL. */
GWLB_API uint64_t gwlb_retry_budget_balance(const gwlb_retry_budget *budget,
                                            const gwlb_retry_budget_config *config,
                                            uint64_t now);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_BREAKER_H */
