/*
 * libgwlb — host table and request-distribution algorithms: round robin,
 * O(1) weighted round robin (stride scheduling), nginx smooth weighted round
 * robin (exact), nginx least_conn, least request with N random choices
 * (Envoy weighting), peak EWMA + P2C (Finagle), weighted random, random with
 * two choices, slow start (Envoy), priority levels with overprovisioning and
 * panic (Envoy), backup hosts (nginx), per-host max in-flight (HAProxy
 * maxconn) and nginx max_fails / fail_timeout.
 *
 * Three pieces:
 *
 *   gwlb_balancer_host[]  --build-->  gwlb_balancer (immutable, opaque, heap)
 *                                          |  binds to
 *                                          v
 *                               gwlb_balancer_state (flat, pointer-free,
 *                               C11 atomics, in memory the host provides:
 *                               malloc, MAP_SHARED, an nginx shared zone)
 *
 * - The *state* is a table of `capacity` slots, one per host identity
 *   ("10.0.0.1:8080"). A slot holds everything that changes per request:
 *   in-flight count, eligibility flags, nginx fails/checked/accessed, nginx
 *   current/effective weight, peak-EWMA cost, slow-start start time. Slots
 *   are found by identity (hash + open addressing claimed with CAS), so two
 *   processes that build balancers from the same host list independently
 *   use the same slots, and a rebuild keeps the state of hosts that remain.
 * - The *balancer* is the compiled selection structure for one host list
 *   and one algorithm. It never changes after build; to change the host list
 *   (add, remove, re-weight), build a new balancer on the same state and
 *   swap the pointer (see "Updating the host list" below).
 * - A *pick result* (gwlb_balancer_result) is a small caller-owned record returned by
 *   gwlb_balancer_pick() and handed back to gwlb_balancer_release() when the
 *   request ends. Release needs only the state slot, so it works after the
 *   balancer that picked was replaced, and after the host was removed.
 *
 * Eligibility of a host at time `now` (every algorithm):
 *   - none of GWLB_HOST_INELIGIBLE_MASK set in its flags word
 *     (gwlb_balancer_host_flags_update; health tracking drives it);
 *   - not "failed" in nginx's sense: fails >= max_fails and
 *     now - checked <= fail_timeout (max_fails 0 disables; an upstream with
 *     a single primary host and no backup is never marked failed, as nginx);
 *   - in-flight < max_inflight (0 = unlimited), checked and incremented
 *     atomically, so the limit holds under concurrency.
 * GWLB_HOST_DEGRADED hosts are eligible but used only when the healthy ones
 * are not enough (Envoy's degraded load, see priorities).
 *
 * Priorities and backup (applied before the algorithm, every algorithm):
 *   Hosts have a priority level 0..GWLB_BALANCER_PRIORITY_MAX (0 is
 *   preferred). Per level, health = min(100, overprovisioning% ×
 *   healthy/total) and degraded likewise; the load over levels is
 *   distributed exactly as Envoy's LoadBalancerBase (healthy first, then
 *   degraded, rounding remainder to the first available level). A level
 *   whose healthy% + degraded% < panic_threshold is in panic: picks there
 *   ignore the health flags and balance over all its hosts. When no level
 *   has any available host: backup hosts (nginx `backup`) are used if any
 *   is eligible; otherwise, if panic is enabled, Envoy's total panic
 *   (load by host count over all levels, flags ignored). Only the flags
 *   enter this computation (it is cached and recomputed when a flags word
 *   changes); nginx max_fails and max in-flight are pick-time skips: when
 *   the chosen level has no usable host, the pick falls back to the other
 *   levels in order, then backups, and returns GWLB_ENOHOST if none.
 *
 * Time: `now` is monotonic ns from the host; when a stored time is later
 * than `now` (time went backwards, or another process is ahead) the elapsed
 * time is taken as 0 — nothing underflows.
 *
 * Threads and processes: pick, release, acquire_host, flags update/read,
 * stats are lock-free and safe to call concurrently from any number of
 * threads, and from processes sharing the state memory (each process uses
 * its own gwlb_balancer built on its own mapping of the state). build and
 * free are safe to run concurrently with picks on other balancers over the
 * same state. Under concurrency the nginx smooth WRR and least_conn updates
 * are per-field atomic (the sum of current weights is conserved exactly),
 * so their sequence is exact single-threaded and approximately fair
 * concurrently (nginx itself serialises them with a lock).
 * gwlb_balancer_set_exclusive() trades that for speed when one thread at a
 * time uses the state: the same decisions without locked instructions.
 *
 * Speed: the common configuration (level 0 takes all traffic, every
 * level-0 host healthy, no host of the state with nginx fails or a max
 * in-flight limit, no slow start) is detected with one check per pick, and
 * the pick then needs no per-host test (a round-robin choose is a cursor
 * step and a multiply); anything else takes the general path, with the
 * same decisions. In that configuration a pick reads one 16-byte record
 * per level-0 host (host index, slot, user_data) besides the state slot;
 * weighted round robin answers most picks from a per-balancer memo of
 * which of 32 consecutive sequence positions accept (a pure function of
 * the position, recomputed about every 17 picks from tables of 8 bytes per
 * level-0 host built with the balancer), so its cost does not depend on
 * the host count; peak EWMA and the weighted random draws decide without
 * data-dependent branches, and peak EWMA draws each pick's candidate pair
 * one pick ahead (the same sequence of draws as without it; concurrent
 * picks may share or skip a draw, as any concurrent draws may). To change
 * a host list of many hosts, prefer gwlb_balancer_rebuild() (incremental)
 * to gwlb_balancer_build().
 */
#ifndef GWLB_BALANCER_H
#define GWLB_BALANCER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------ */

/** Largest host weight (smallest is 1; 0 is GWLB_EWEIGHT). */
#define GWLB_BALANCER_WEIGHT_MAX 1000000u
/** Largest priority level (levels are 0..7; 0 is most preferred). */
#define GWLB_BALANCER_PRIORITY_MAX 7u
/** Longest host identity in bytes (longer is GWLB_ETOOLONG). */
#define GWLB_BALANCER_IDENTITY_MAX 255u
/** Largest number of hosts in one balancer, and of slots in one state. */
#define GWLB_BALANCER_HOSTS_MAX (1u << 22)
/** Largest choice_count for least request. */
#define GWLB_BALANCER_CHOICES_MAX 16u

/* ---- Host configuration ------------------------------------------------- */

/**
 * One backend, as given to gwlb_balancer_build(). Fill with
 * gwlb_balancer_host_init() (defaults), then change fields.
 *   identity      stable identity, e.g. "10.0.0.1:8080" (not copied by the
 *                 caller's lifetime: build copies it). Keys the runtime
 *                 state across rebuilds and processes; the hashing family
 *                 hashes it (nginx hashes host and port). 1..255 bytes,
 *                 unique within one balancer. Required.
 *   identity_len  its length; 0 = strlen(identity).
 *   weight        1..GWLB_BALANCER_WEIGHT_MAX (default 1).
 *   priority      0..GWLB_BALANCER_PRIORITY_MAX (default 0).
 *   backup        1 = nginx `backup`: used only when no primary host is
 *                 available (default 0). Backups ignore `priority`.
 *   max_inflight  HAProxy maxconn / nginx max_conns: a host with this many
 *                 requests in flight is skipped; 0 = unlimited (default).
 *   max_fails     nginx max_fails (default 1; 0 = never marked failed).
 *   fail_timeout_ns nginx fail_timeout (default 10 s).
 *   user_data     opaque value returned with every pick (an index, a
 *                 pointer cast to uintptr_t...).
 */
typedef struct gwlb_balancer_host {
    const char *identity;
    size_t identity_len;
    uint32_t weight;
    uint32_t priority;
    uint32_t backup;
    uint32_t max_inflight;
    uint32_t max_fails;
    uint32_t reserved; /* 0 */
    uint64_t fail_timeout_ns;
    uint64_t user_data;
} gwlb_balancer_host;

/** Fill *host with the defaults above and the given identity. */
GWLB_API void gwlb_balancer_host_init(gwlb_balancer_host *host, const char *identity);

/* ---- Balancer configuration --------------------------------------------- */

typedef enum gwlb_balancer_algorithm {
    /**
     * Plain round robin (weights ignored) over a sequence counter in the
     * shared state. The counter steps by a relaxed atomic load and store,
     * not a locked read-modify-write: exact single-threaded; concurrent
     * pickers may now and then get the same position (harmless).
     */
    GWLB_BALANCER_ROUND_ROBIN = 0,
    /**
     * Weighted round robin by stride scheduling: the same sequence counter; host i
     * of the sequence is accepted iff (w_i × generation + offset_i) mod 2^24
     * falls in its window of w_i scaled to 2^24. Over 2^24 generations each
     * host is accepted exactly its scaled weight times. Per-pick cost is
     * independent of the host count (expected max_weight/mean_weight
     * probes). Starts at `start` (or a random start from `seed`).
     */
    GWLB_BALANCER_WEIGHTED_ROUND_ROBIN = 1,
    /**
     * nginx smooth weighted round robin, exactly as
     * ngx_http_upstream_round_robin.c (current/effective weights, failure
     * reduction weight/max_fails, recovery by +1 per pick, fails/checked/
     * fail_timeout, single-server rule, backup fallback). O(hosts) per pick.
     */
    GWLB_BALANCER_NGINX_ROUND_ROBIN = 2,
    /**
     * nginx least_conn exactly (least in-flight/weight by cross-multiplying,
     * ties broken by smooth WRR among the tied hosts). O(hosts) per pick.
     */
    GWLB_BALANCER_LEAST_CONN = 3,
    /**
     * Least request, Envoy-style, lock-free: choice_count (default 2)
     * random candidates, the one with fewer requests in flight wins (first
     * drawn on ties). With equal weights the first two candidates are
     * distinct and uniform (Envoy's P2C). With unequal weights Envoy
     * schedules by weight / (in_flight + 1)^bias (EDF); here candidates are
     * drawn with probability proportional to weight and the in-flight
     * comparison follows, so at equal in-flight counts the share is exactly
     * weight/sum as with Envoy's EDF; bias 0 = pure weighted random.
     * full_scan = 1 examines every host and takes the largest
     * weight / (in_flight + 1)^bias (bias 1.0 compared exactly by
     * cross-multiplying; ties: first in a random rotation).
     */
    GWLB_BALANCER_LEAST_REQUEST = 4,
    /**
     * Peak EWMA (Finagle/Linkerd) with two random choices: per host cost
     * decays as exp(-dt/decay), jumps to a slower sample, load = cost ×
     * (in_flight + 1) / weight; the lower load wins. A sample with
     * dt/decay below 2^-11 (requests milliseconds apart, decay seconds)
     * takes exp from its Taylor polynomial to the 4th power, exact to
     * well under an ulp; longer gaps compute exp in full.
     */
    GWLB_BALANCER_PEAK_EWMA = 5,
    /** Weighted random (Walker/Vose alias table, O(1)). */
    GWLB_BALANCER_RANDOM = 6,
    /**
     * Two weighted-random draws (with replacement); the one with fewer in
     * flight wins, the first on ties (HAProxy `random(2)`). At equal
     * in-flight counts the share is exactly weight/sum.
     */
    GWLB_BALANCER_RANDOM_TWO_CHOICES = 7
} gwlb_balancer_algorithm;

/** How WEIGHTED_ROUND_ROBIN / ROUND_ROBIN choose their starting position. */
typedef enum gwlb_balancer_start {
    GWLB_BALANCER_START_RANDOM = 0, /* derived from seed (default) */
    GWLB_BALANCER_START_FIXED = 1   /* start at config.start */
} gwlb_balancer_start;

/**
 * Balancer configuration. Fill with gwlb_balancer_config_init(), then change
 * fields. Durations in ns; percentages as integers unless stated.
 *   struct_size            set by init (ABI evolution); must not be changed
 *   algorithm              see gwlb_balancer_algorithm
 *   seed                   PRNG seed (P2C, random, random start, priorities)
 *   start_mode, start      round-robin start position (see enum)
 *   choice_count           least request choices, 2..GWLB_BALANCER_CHOICES_MAX (2)
 *   full_scan              least request: 1 = scan all hosts (0)
 *   active_request_bias    Envoy's bias, 0.0..16.0, default 1.0 (NaN/neg: GWLB_ERANGE)
 *   ewma_decay_ns          peak EWMA time constant tau (10 s, Finagle); 0: GWLB_ERANGE
 *   ewma_initial_rtt_ns    cost of a host with no sample yet (30 ms, Linkerd)
 *   slow_start_window_ns   Envoy slow_start_window; 0 = slow start off (default)
 *   slow_start_aggression  Envoy aggression (> 0, finite; default 1.0)
 *   slow_start_min_weight_percent Envoy min_weight_percent, 0..100 (default 10.0)
 *   overprovisioning_factor percent, Envoy 140 (= 1.4); 1..1000
 *   panic_threshold        percent, Envoy 50 (0 for NGINX_ROUND_ROBIN and
 *                          LEAST_CONN, as nginx has no panic); 0 disables; 0..100
 *   allocator              NULL = libc; copied at build
 * Slow start applies to WEIGHTED_ROUND_ROBIN, LEAST_REQUEST, PEAK_EWMA,
 * RANDOM and RANDOM_TWO_CHOICES (the weight in effect is
 * w × max(f^(1/aggression), min%/100) with f = max(elapsed, 1 ms)/window,
 * Envoy's formula); the nginx algorithms follow nginx (no slow start).
 */
typedef struct gwlb_balancer_config {
    uint32_t struct_size;
    uint32_t algorithm;
    uint64_t seed;
    uint32_t start_mode;
    uint32_t choice_count;
    uint64_t start;
    uint32_t full_scan;
    uint32_t overprovisioning_factor;
    uint32_t panic_threshold;
    uint32_t reserved; /* 0 */
    double active_request_bias;
    uint64_t ewma_decay_ns;
    uint64_t ewma_initial_rtt_ns;
    uint64_t slow_start_window_ns;
    double slow_start_aggression;
    double slow_start_min_weight_percent;
    const gwlb_allocator *allocator;
} gwlb_balancer_config;

/** Fill *config with the defaults above for `algorithm`. */
GWLB_API void gwlb_balancer_config_init(gwlb_balancer_config *config,
                                        gwlb_balancer_algorithm algorithm);

/* ---- Runtime state (host-provided memory) --------------------------------- */

/** Opaque view of a state region; a pointer to it is the region's start. */
typedef struct gwlb_balancer_state gwlb_balancer_state;

/**
 * Bytes needed for a state with `capacity` slots (0 if capacity is 0 or
 * above GWLB_BALANCER_HOSTS_MAX). A slot is used per distinct host identity
 * ever built on the state and reused once its host has left every balancer
 * and has nothing in flight; give some headroom (e.g. 2 × hosts) so
 * removed hosts keep their state for a while and slot probing stays short.
 * The memory must be 64-byte aligned (mmap and malloc of >= 64 are fine on
 * Linux; use aligned_alloc otherwise).
 */
GWLB_API size_t gwlb_balancer_state_size(uint32_t capacity);

/**
 * Format `size` bytes at `memory` as an empty state with `capacity` slots
 * and return the view in *out. Needs exclusive access to the memory; do it
 * once (e.g. before fork, or by the process that creates the shared zone).
 * Errors: GWLB_EINVAL (NULL, misaligned), GWLB_ERANGE (capacity 0 or too
 * large), GWLB_ENOSPC (size < gwlb_balancer_state_size(capacity)).
 */
GWLB_API int gwlb_balancer_state_init(void *memory, size_t size, uint32_t capacity,
                                      gwlb_balancer_state **out);

/**
 * Validate a region already formatted by gwlb_balancer_state_init (possibly
 * by another process, mapped at another address) and return its view.
 * Errors: GWLB_EINVAL (NULL, misaligned, not a state), GWLB_EVERSION
 * (formatted by an incompatible library), GWLB_ENOSPC (size too small).
 * Thread-safe.
 */
GWLB_API int gwlb_balancer_state_attach(void *memory, size_t size, gwlb_balancer_state **out);

/** Convenience: allocate (aligned, zeroed) and init a private state. */
GWLB_API int gwlb_balancer_state_new(uint32_t capacity, const gwlb_allocator *allocator,
                                     gwlb_balancer_state **out);
/** Free a state from gwlb_balancer_state_new (NULL is a no-op). Exclusive access. */
GWLB_API void gwlb_balancer_state_free(gwlb_balancer_state *state);

/** Slot capacity of a state. Thread-safe. */
GWLB_API uint32_t gwlb_balancer_state_capacity(const gwlb_balancer_state *state);

/* ---- Build / free --------------------------------------------------------- */

typedef struct gwlb_balancer gwlb_balancer;

/**
 * Validate `hosts[0..n-1]` and `config`, claim (or find) a state slot per
 * host identity, and compile the selection structure. Host index i of the
 * balancer is hosts[i]. Identities are copied; `hosts` may be freed after.
 * `now` stamps hosts new to the state (slow start starts for hosts added to
 * a state that already had hosts, not for the first build).
 * A host whose identity already has a slot keeps its runtime state; its
 * weight / max_fails / fail_timeout / max_inflight in the slot are updated.
 * Validation happens before the state is touched: a rejected input changes
 * nothing. Errors (with *detail filled: item = host index, field name):
 *   GWLB_EINVAL    NULL config/state/out, NULL hosts with n > 0, identity
 *                  NULL, config.struct_size wrong, reserved field not 0,
 *                  unknown algorithm or start mode
 *   GWLB_EMPTY     n == 0
 *   GWLB_ERANGE    n > GWLB_BALANCER_HOSTS_MAX, priority > 7, bad
 *                  choice_count / bias / decay / slow start / factor /
 *                  panic value, backup not 0/1
 *   GWLB_EWEIGHT   weight 0 or > GWLB_BALANCER_WEIGHT_MAX
 *   GWLB_ETOOLONG  identity longer than GWLB_BALANCER_IDENTITY_MAX
 *   GWLB_EMPTY     identity of length 0
 *   GWLB_EEXIST    two hosts with the same identity (detail.other = first)
 *   GWLB_EFULL     the state has no free slot for a new identity (slots
 *                  already claimed for earlier new identities of this
 *                  build stay reserved as dormant, harmless)
 *   GWLB_ENOMEM    allocation failed (nothing leaked, state refs unchanged)
 * Thread-safety: safe concurrently with picks/releases/builds on the same
 * state (slot claims are CAS-based).
 */
GWLB_API int gwlb_balancer_build(const gwlb_balancer_config *config,
                                 const gwlb_balancer_host *hosts, uint32_t n,
                                 gwlb_balancer_state *state, uint64_t now,
                                 gwlb_balancer **out, gwlb_error_detail *detail);

/**
 * Incremental build: as gwlb_balancer_build on prev's state, for the usual
 * update where most hosts stay where they were (a weight change, a few
 * hosts added or removed at the end). A host whose identity equals that of
 * prev's host at the same index takes over prev's slot and slot reference
 * without hashing or claiming, and its slot configuration (weight,
 * max_fails, fail_timeout, max_inflight) is written only if it differs
 * from what prev was built with; the identity index is copied when every
 * identity is unchanged. Other hosts are handled exactly as by
 * gwlb_balancer_build. The result is the same balancer (same picks, same
 * slots, same errors) as gwlb_balancer_build(config, hosts, n,
 * prev's state, now) would give. prev stays fully usable until freed;
 * freeing it drops only the references it did not hand over (those of
 * hosts that were removed), so free prev after the swap as usual. A given
 * prev hands its references over once: rebuilding from the same prev
 * again works but claims those hosts the normal way. On error nothing is
 * handed over. Errors: as gwlb_balancer_build; GWLB_EINVAL for NULL prev.
 * Thread-safety: as gwlb_balancer_build; it writes bookkeeping of prev
 * that only gwlb_balancer_free and gwlb_balancer_rebuild read, so picks on
 * prev may run concurrently, but not another rebuild or free of prev.
 */
GWLB_API int gwlb_balancer_rebuild(gwlb_balancer *prev, const gwlb_balancer_config *config,
                                   const gwlb_balancer_host *hosts, uint32_t n, uint64_t now,
                                   gwlb_balancer **out, gwlb_error_detail *detail);

/**
 * Free a balancer and drop its references to its state slots (NULL is a
 * no-op). Picks made through it may still be released (through any
 * balancer on the same state). Needs exclusive access to `bal`: no thread
 * may be inside a call on it (see the swap pattern below).
 */
GWLB_API void gwlb_balancer_free(gwlb_balancer *bal);

/*
 * Updating the host list (add, remove, re-weight, drain) without ever
 * letting a pick see a half-built structure:
 *
 *   gwlb_balancer *next;
 *   if (gwlb_balancer_build(&cfg, hosts, n, state, now, &next, &d) == 0) {
 *       gwlb_balancer *old = gwlb_balancer_swap(&current, next); // release store
 *       ... wait until no thread can still be inside a call on `old`
 *       (e.g. every worker thread finished its current event-loop turn,
 *       an epoch/RCU grace period) ...
 *       gwlb_balancer_free(old);
 *   }
 *   // readers, per request:
 *   gwlb_balancer *b = gwlb_balancer_load(&current);  // acquire load
 *   gwlb_balancer_pick(b, now, &pick);
 *
 * Draining a host: set GWLB_HOST_DRAINING (no new picks, in-flight ones
 * finish), then remove it in a later build. Removing a host with requests in
 * flight is fine: their release still finds the slot.
 */

/** Atomically store `bal` into *slot (release order) and return the previous value. */
GWLB_API gwlb_balancer *gwlb_balancer_swap(gwlb_balancer **slot, gwlb_balancer *bal);
/** Atomically load *slot (acquire order). */
GWLB_API gwlb_balancer *gwlb_balancer_load(gwlb_balancer *const *slot);

/* ---- Picking and releasing ------------------------------------------------- */

/**
 * One pick, owned by the caller from pick to release.
 *   host_index  index into the host array given to build (of the balancer
 *               that picked)
 *   slot        runtime-state slot of the host
 *   user_data   the host's user_data
 *   token       internal (identifies the state and the pick; 1 after release)
 *   aux         internal
 */
typedef struct gwlb_balancer_result {
    uint32_t host_index;
    uint32_t slot;
    uint64_t user_data;
    uint64_t token;
    uint64_t aux;
} gwlb_balancer_result;

/**
 * Choose a host for a new request and count it in flight. On success fills
 * *out. Errors: GWLB_EINVAL (NULL argument), GWLB_ENOHOST (no eligible host:
 * all ineligible, failed or at max in-flight; *out untouched).
 * Thread-safe; lock-free; no allocation.
 */
GWLB_API int gwlb_balancer_pick(const gwlb_balancer *bal, uint64_t now,
                                gwlb_balancer_result *out);

/**
 * Choose a host like gwlb_balancer_pick but without counting it in flight
 * (fire-and-forget: nothing to release; max_inflight is still respected as
 * a snapshot, and the result's token says "released", so passing it to
 * gwlb_balancer_release gives GWLB_ESTATE). The cheapest pick; use it when
 * the algorithm does not need in-flight counts (round robin, weighted,
 * random) and no release will follow. Errors as gwlb_balancer_pick.
 */
GWLB_API int gwlb_balancer_choose(const gwlb_balancer *bal, uint64_t now,
                                  gwlb_balancer_result *out);

/**
 * As gwlb_balancer_pick, but never choose a host whose bit is set in
 * `tried` (bit i of word i/64 = host index i; `tried_words` 64-bit words;
 * hosts beyond the bitmap count as not tried). For retries, as nginx's
 * per-request `tried` set. Errors as gwlb_balancer_pick.
 */
GWLB_API int gwlb_balancer_pick_excluding(const gwlb_balancer *bal, uint64_t now,
                                          const uint64_t *tried, uint32_t tried_words,
                                          gwlb_balancer_result *out);

/**
 * Take host `host_index` for a request chosen elsewhere (hash, sticky
 * session): checks eligibility at `now`, counts it in flight and fills
 * *out like a pick (releases the same way). Errors: GWLB_EINVAL,
 * GWLB_ENOENT (index >= host count), GWLB_ENOHOST (host not eligible).
 * Thread-safe.
 */
GWLB_API int gwlb_balancer_acquire_host(const gwlb_balancer *bal, uint32_t host_index,
                                        uint64_t now, gwlb_balancer_result *out);

/** Outcome classes reported at release. */
typedef enum gwlb_balancer_outcome {
    GWLB_BALANCER_SUCCESS = 0,              /* a response that is not a failure */
    GWLB_BALANCER_FAILURE = 1,              /* e.g. 5xx from the backend */
    GWLB_BALANCER_GATEWAY_FAILURE = 2,      /* 502/503/504 */
    GWLB_BALANCER_LOCAL_ORIGIN_FAILURE = 3  /* connect error, timeout, reset */
} gwlb_balancer_outcome;

/** latency_ns value meaning "no latency sample" (e.g. connect failed). */
#define GWLB_BALANCER_NO_LATENCY INT64_MIN

/**
 * Report the end of a picked request: decrement in flight, apply nginx
 * failure accounting (any failure class: fails++, checked = accessed =
 * now, effective_weight -= weight/max_fails floored at 0; success after a
 * failure whose window was re-checked resets fails, exactly as nginx) and
 * feed the peak-EWMA cost with latency_ns (when not NO_LATENCY).
 * `bal` is any balancer on the same state (the host may have been removed
 * since the pick). On success pick->token becomes 1 (released).
 * Errors (nothing changed): GWLB_EINVAL (NULL, outcome unknown),
 *   GWLB_ERANGE (negative latency other than GWLB_BALANCER_NO_LATENCY),
 *   GWLB_EUNKNOWN (pick never filled by a pick/acquire on this state),
 *   GWLB_ESTATE (released already; or its slot has nothing in flight).
 * Thread-safe (for different picks).
 */
GWLB_API int gwlb_balancer_release(const gwlb_balancer *bal, gwlb_balancer_result *pick,
                                   int outcome, int64_t latency_ns, uint64_t now);

/* ---- Exclusive mode, reseeding ---------------------------------------------------- */

/**
 * Opt-in exclusive mode (default off). exclusive = 1 is a promise by the
 * caller: from now on, at most one thread at a time calls the mutating
 * functions (pick, choose, pick_excluding, acquire_host, release) of this
 * balancer AND of every other balancer and process on the same state —
 * e.g. one event loop per state, or nginx worker-private state without a
 * shared zone. In that mode the per-host read-modify-writes of the hot
 * paths (in-flight +1/-1, the nginx smooth-WRR and least_conn weight
 * updates, the peak-EWMA cost update) are done as a relaxed atomic load
 * followed by a relaxed atomic store instead of a locked atomic
 * instruction: the same results, cheaper, and still free of data races
 * for threads that only read (stats, flags). Decisions are identical to
 * the default mode for the same sequence of calls. Breaking the promise
 * loses updates (in-flight counts may drift) but is not undefined
 * behaviour. exclusive = 0 restores the default (any number of threads and
 * processes). Slot claims, flags updates and the rarely-touched counters
 * stay locked RMWs in both modes.
 * Errors: GWLB_EINVAL (NULL, exclusive not 0 or 1). Switch it while no
 * other thread is inside a call on `bal` (e.g. right after build).
 */
GWLB_API int gwlb_balancer_set_exclusive(gwlb_balancer *bal, int exclusive);

/** 1 if `bal` is in exclusive mode, 0 if not (and for NULL). Thread-safe. */
GWLB_API int gwlb_balancer_exclusive(const gwlb_balancer *bal);

/**
 * Reseed the balancer's PRNG (random draws of P2C, peak EWMA, random,
 * priority levels): afterwards it draws exactly as a balancer built with
 * config.seed = seed. The round-robin start position is not changed. Use
 * it to give each worker process its own sequence after fork.
 * Thread-safe (concurrent picks draw from either the old or the new
 * sequence). Errors: GWLB_EINVAL (NULL).
 */
GWLB_API int gwlb_balancer_reseed(gwlb_balancer *bal, uint64_t seed);

/* ---- Host flags, lookup, stats ------------------------------------------------- */

/**
 * Atomically set then clear bits of host `host_index`'s eligibility flags
 * (enum gwlb_host_flag; set_mask and clear_mask must not overlap). A host
 * turning from ineligible to eligible starts slow start (stamped at the next
 * pick). Changes are seen by every balancer and process on the state.
 * Errors: GWLB_EINVAL (NULL, unknown bits, overlap), GWLB_ENOENT (index).
 * Thread-safe.
 */
GWLB_API int gwlb_balancer_host_flags_update(const gwlb_balancer *bal, uint32_t host_index,
                                             uint32_t set_mask, uint32_t clear_mask);

/** Read host `host_index`'s flags into *flags. Errors: GWLB_EINVAL, GWLB_ENOENT. */
GWLB_API int gwlb_balancer_host_flags(const gwlb_balancer *bal, uint32_t host_index,
                                      uint32_t *flags);

/** Restart slow start for a host at `now`. Errors: GWLB_EINVAL, GWLB_ENOENT. */
GWLB_API int gwlb_balancer_host_slow_start(const gwlb_balancer *bal, uint32_t host_index,
                                           uint64_t now);

/** Number of hosts in the balancer (0 for NULL). Thread-safe. */
GWLB_API uint32_t gwlb_balancer_host_count(const gwlb_balancer *bal);

/**
 * Find a host by identity. Errors: GWLB_EINVAL (NULL), GWLB_ENOENT.
 * O(1) expected. Thread-safe.
 */
GWLB_API int gwlb_balancer_find_host(const gwlb_balancer *bal, const char *identity,
                                     size_t identity_len, uint32_t *host_index);

/** A snapshot of one host's runtime state (fields read one by one). */
typedef struct gwlb_balancer_host_stats {
    uint32_t slot;
    uint32_t flags;
    uint32_t in_flight;
    uint32_t fails;              /* nginx fails */
    int64_t current_weight;      /* nginx SWRR */
    int32_t effective_weight;    /* nginx SWRR */
    uint32_t weight;             /* configured */
    double ewma_cost_ns;         /* peak EWMA cost as of its last sample */
    uint64_t failures;           /* releases with a failure class */
} gwlb_balancer_host_stats;

/** Fill *out for host `host_index`. Errors: GWLB_EINVAL, GWLB_ENOENT. Thread-safe. */
GWLB_API int gwlb_balancer_host_stats_get(const gwlb_balancer *bal, uint32_t host_index,
                                          gwlb_balancer_host_stats *out);

/** Balancer-wide counters (shared by every balancer on the state). */
typedef struct gwlb_balancer_stats {
    uint64_t no_host;       /* picks that returned GWLB_ENOHOST */
    uint64_t panic_picks;   /* picks made in panic mode */
    uint64_t backup_picks;  /* picks served by backup hosts */
    uint64_t slots_used;    /* slots holding an identity */
    uint32_t hosts;         /* hosts in this balancer */
    uint32_t eligible;      /* hosts eligible at `now` */
} gwlb_balancer_stats;

/** Fill *out (eligible counted at `now`, O(hosts)). Errors: GWLB_EINVAL. Thread-safe. */
GWLB_API int gwlb_balancer_stats_get(const gwlb_balancer *bal, uint64_t now,
                                     gwlb_balancer_stats *out);

/**
 * Envoy slow-start weight factor as a pure function (exposed for tests and
 * hosts): max(f^(1/aggression), min_percent/100) with f = max(elapsed, 1 ms)
 * / window, or 1.0 when elapsed >= window or window is 0.
 */
GWLB_API double gwlb_balancer_slow_start_factor(uint64_t elapsed_ns, uint64_t window_ns,
                                                double aggression, double min_weight_percent);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_BALANCER_H */
