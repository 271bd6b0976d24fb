/*
 * libgwlb — per-host health state: active probe scheduling, passive
 * outcomes, outlier detection, admin states.
 *
 * A health tracker (gwlb_health) follows N hosts (indices 0..N-1, the same
 * indices as the balancer's host table). For every host it keeps a flat,
 * pointer-free record updated with C11 atomics, so the records can live in
 * memory the host provides (MAP_SHARED, an nginx shared zone) and be shared
 * by worker processes. Each host has independent *reasons* for being out of
 * service, so clearing one never hides another:
 *
 *   reason                      set by                         published flag
 *   failed active check         probe results (HAProxy rise/fall) FAILED_ACTIVE
 *   ejected as outlier          consecutive_* / success rate /  EJECTED
 *                               failure percentage (Envoy)
 *   failed passive              the host (admin call)            FAILED_PASSIVE
 *   drain / maintenance         admin call, or agent hint        DRAINING / MAINTENANCE
 *   degraded                    admin call                       DEGRADED
 *   pending removal             admin call                       PENDING_REMOVAL
 *
 * The published flags are exactly enum gwlb_host_flag (common.h); the host
 * copies them into its balancer (gwlb_balancer_host_flags_update) or reads
 * them per pick. Admin drain and agent drain are separate reasons that both
 * publish GWLB_HOST_DRAINING (likewise maintenance).
 *
 * Time: every time-taking call takes `now` (monotonic ns). The tracker keeps
 * the largest `now` it has seen (shared); a smaller `now` is clamped up to it
 * (and counted in stats.time_clamps), so elapsed times never underflow.
 *
 * Threads and processes: outcome reporting, admin updates, flag reads and
 * event draining are safe to call concurrently from any thread or process
 * sharing the region. The probe scheduler (probes_due / probe_report) lives
 * in the handle and needs exclusive access to the handle (run it in one
 * thread of one process). gwlb_health_outlier_run is serialised by a
 * try-lock in the shared region (a concurrent second caller gets
 * GWLB_EBUSY).
 */
#ifndef GWLB_HEALTH_H
#define GWLB_HEALTH_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Configuration ----------------------------------------------------- */

/* Initial state of the HAProxy health counter (HAProxy's `init-state`). */
enum gwlb_health_init_state {
    GWLB_HEALTH_INIT_UP = 0,      /* health = rise: up, first failure takes it down (HAProxy default) */
    GWLB_HEALTH_INIT_FULLY_UP = 1,/* health = rise + fall - 1 */
    GWLB_HEALTH_INIT_DOWN = 2,    /* health = rise - 1: down, first success brings it up */
    GWLB_HEALTH_INIT_FULLY_DOWN = 3 /* health = 0: needs `rise` successes */
};

/**
 * Tracker configuration. Fill with gwlb_health_config_init() (it sets the
 * defaults below and struct_size), then change fields. Durations are in ns.
 *
 * Active checks (HAProxy semantics):
 *   active_checks   1 = schedule probes for every host (default 0: no active checks)
 *   rise, fall      2, 3. 0 is GWLB_ERANGE.
 *   init_state      GWLB_HEALTH_INIT_UP
 *   inter_ns        2 s. 0 is GWLB_ERANGE.
 *   fastinter_ns    0 = inter; used while the counter is between the edges
 *   downinter_ns    0 = inter; used while the counter is 0 (fully down)
 *   no_traffic_interval_ns 0 = off; Envoy: used instead of the above until
 *                   the first outcome is reported to the tracker
 *   jitter_percent  0..50 (HAProxy spread-checks): each interval becomes
 *                   uniform in [i - i*p/100, i + i*p/100]. > 50 is GWLB_ERANGE.
 * Passive consecutive failures (Envoy outlier detection; 0 disables one):
 *   consecutive_5xx 5, consecutive_gateway_failure 5 (502/503/504),
 *   consecutive_local_origin_failure 5 (only counted when
 *   split_local_origin_errors = 1; otherwise local failures count as 503/504)
 *   enforcing_* percentages 100 / 0 / 100 (Envoy defaults); > 100 clamps to 100
 * Outlier detection passes (Envoy):
 *   interval_ns 10 s (0 is GWLB_ERANGE); base_ejection_time_ns 30 s (0 is
 *   GWLB_ERANGE); max_ejection_time_ns 300 s (< base is GWLB_ERANGE, as Envoy);
 *   max_ejection_jitter_ns 0; max_ejection_percent 10 (> 100 clamps to 100);
 *   always_eject_one_host 1 (one host may always be ejected);
 *   success_rate_minimum_hosts 5, success_rate_request_volume 100,
 *   success_rate_stdev_factor 1900 (/1000), enforcing_success_rate 100;
 *   failure_percentage_threshold 85 (> 100 is GWLB_ERANGE),
 *   failure_percentage_minimum_hosts 5, failure_percentage_request_volume 50,
 *   enforcing_failure_percentage 0 (Envoy default: detect, do not eject).
 *   Minimum hosts and request volumes of 0 are clamped to 1 (a host with no
 *   requests has no success rate).
 *   active_success_unejects 1: a passing probe on an ejected host whose active
 *   check is up unejects it (Envoy successful_active_health_check_uneject_host).
 *   Not implemented: Envoy's local-origin success-rate / failure-percentage
 *   detectors (local-origin failures feed only their consecutive counter),
 *   and runtime overrides.
 * Other:
 *   seed            PRNG seed for jitter and enforcement draws (default 1)
 *   event_capacity  size of the shared event queue (0 = no queue; default 256)
 */
typedef struct gwlb_health_config {
    uint32_t struct_size; /* sizeof(gwlb_health_config); set by _init */
    uint32_t active_checks;
    uint32_t rise;
    uint32_t fall;
    uint32_t init_state;
    uint32_t jitter_percent;
    uint64_t inter_ns;
    uint64_t fastinter_ns;
    uint64_t downinter_ns;
    uint64_t no_traffic_interval_ns;

    uint32_t consecutive_5xx;
    uint32_t consecutive_gateway_failure;
    uint32_t consecutive_local_origin_failure;
    uint32_t enforcing_consecutive_5xx;
    uint32_t enforcing_consecutive_gateway_failure;
    uint32_t enforcing_consecutive_local_origin_failure;
    uint32_t split_local_origin_errors;

    uint32_t max_ejection_percent;
    uint64_t interval_ns;
    uint64_t base_ejection_time_ns;
    uint64_t max_ejection_time_ns;
    uint64_t max_ejection_jitter_ns;
    uint32_t always_eject_one_host;
    uint32_t success_rate_minimum_hosts;
    uint32_t success_rate_request_volume;
    uint32_t success_rate_stdev_factor;
    uint32_t enforcing_success_rate;
    uint32_t failure_percentage_threshold;
    uint32_t failure_percentage_minimum_hosts;
    uint32_t failure_percentage_request_volume;
    uint32_t enforcing_failure_percentage;
    uint32_t active_success_unejects;

    uint64_t seed;
    uint32_t event_capacity;
    uint32_t reserved;
} gwlb_health_config;

/** Fill *cfg with the defaults documented above. NULL is ignored. */
GWLB_API void gwlb_health_config_init(gwlb_health_config *cfg);

/* ---- Tracker lifetime --------------------------------------------------- */

typedef struct gwlb_health gwlb_health;

/* Flags for gwlb_health_create. */
#define GWLB_HEALTH_ATTACH 1u /* `region` is already initialised by another
                                 tracker with the same config: use it as is */

/**
 * Bytes of shared runtime state for n_hosts hosts and an event queue of
 * event_capacity entries (0 on overflow). The region must be 64-byte aligned.
 */
GWLB_API size_t gwlb_health_region_size(uint32_t n_hosts, uint32_t event_capacity);

/**
 * Create a tracker over n_hosts hosts (1..2^24), created at time `now`.
 *   region      NULL: the tracker allocates its runtime state itself.
 *               Otherwise region_size bytes (>= gwlb_health_region_size) of
 *               host memory, 64-byte aligned, e.g. MAP_SHARED; it is
 *               initialised unless flags has GWLB_HEALTH_ATTACH. The host
 *               owns it and must keep it mapped until gwlb_health_free.
 *   alloc       allocator for the handle (NULL = libc).
 * The first probe of host i is due at now + i * I / n_hosts, I being the
 * interval in force at start (the first probes are spread, as HAProxy's
 * start_checks does). I follows HAProxy's srv_getinter(): with the default
 * init_state (health = rise, not yet rise+fall-1) that is fastinter when set;
 * no_traffic_interval when set.
 * Errors: GWLB_EINVAL (NULL cfg/out, misaligned region), GWLB_EVERSION
 * (cfg->struct_size differs), GWLB_ERANGE (a bad field, named in detail),
 * GWLB_ENOSPC (region too small), GWLB_ESTATE (ATTACH to a region not
 * initialised for this host count / queue size), GWLB_ENOMEM.
 * Thread-safe (touches only its arguments).
 */
GWLB_API int gwlb_health_create(const gwlb_health_config *cfg, uint32_t n_hosts, uint64_t now,
                                void *region, size_t region_size, uint32_t flags,
                                const gwlb_allocator *alloc, gwlb_health **out,
                                gwlb_error_detail *detail);

/** Free the handle (and the region if the tracker allocated it). NULL is a no-op. */
GWLB_API void gwlb_health_free(gwlb_health *h);

/** Number of hosts. */
GWLB_API uint32_t gwlb_health_host_count(const gwlb_health *h);

/* ---- Events -------------------------------------------------------------- */

/* Why a host's reasons changed. */
enum gwlb_health_cause {
    GWLB_HEALTH_CAUSE_PROBE = 1,            /* active check went down or up */
    GWLB_HEALTH_CAUSE_AGENT = 2,            /* agent hint (drain/maint/ready) */
    GWLB_HEALTH_CAUSE_ADMIN = 3,            /* gwlb_health_admin_update */
    GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX = 4,  /* ejected */
    GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE = 5,
    GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE = 6,
    GWLB_HEALTH_CAUSE_SUCCESS_RATE = 7,
    GWLB_HEALTH_CAUSE_FAILURE_PERCENTAGE = 8,
    GWLB_HEALTH_CAUSE_UNEJECT = 9,          /* ejection time elapsed */
    GWLB_HEALTH_CAUSE_UNEJECT_ACTIVE = 10   /* passing probe unejected it */
};

/** One transition: published flags (gwlb_host_flag bits) before and after. */
typedef struct gwlb_health_event {
    uint64_t time_ns;
    uint32_t host;
    uint32_t cause; /* enum gwlb_health_cause */
    uint32_t old_flags;
    uint32_t new_flags;
} gwlb_health_event;

/**
 * Called on every transition, on the thread that caused it, after the event
 * was queued. It may run concurrently on several threads; it must not call
 * functions that mutate this tracker. The callback is per handle (it is not
 * shared with other processes). NULL removes it. Needs exclusive access.
 */
typedef void (*gwlb_health_callback)(const gwlb_health_event *event, void *user_data);
GWLB_API void gwlb_health_set_callback(gwlb_health *h, gwlb_health_callback cb, void *user_data);

/**
 * Move up to `cap` queued events (oldest first) into out; *count gets how
 * many. The queue is shared: any process attached may drain. When the queue
 * is full new events are dropped and counted (stats.events_dropped).
 * Errors: GWLB_EINVAL (NULL h/count, or NULL out with cap > 0).
 * Safe to call concurrently.
 */
GWLB_API int gwlb_health_events_drain(gwlb_health *h, gwlb_health_event *out, size_t cap,
                                      size_t *count);

/* ---- Passive outcomes (hot path) ------------------------------------------ */

/**
 * Report the HTTP status of a finished request to `host` (external origin).
 * 5xx is a failure for the success rate and the consecutive-5xx counter;
 * 502/503/504 also for the gateway-failure counter; anything else resets
 * both. Reaching a threshold ejects the host at `now` (subject to max
 * ejection percent and the enforcing percentage), as Envoy does.
 * Errors: GWLB_EINVAL (NULL h), GWLB_EUNKNOWN (host >= count), GWLB_ERANGE
 * (status outside 100..599). No allocation, no lock. Safe concurrently.
 */
GWLB_API int gwlb_health_report_status(gwlb_health *h, uint32_t host, uint32_t status,
                                       uint64_t now);

/* Local-origin results: what happened before any response (Envoy Result). */
enum gwlb_health_local_result {
    GWLB_LOCAL_CONNECT_FAILED = 1, /* refused, reset before response */
    GWLB_LOCAL_TIMEOUT = 2,        /* no response in time */
    GWLB_LOCAL_CONNECT_SUCCESS = 3,/* connected; response still to come */
    GWLB_LOCAL_SUCCESS_FINAL = 4   /* connected, and no HTTP status will follow */
};

/**
 * Report a local-origin result. With split_local_origin_errors = 0 (Envoy's
 * default) CONNECT_FAILED counts as status 503, TIMEOUT as 504,
 * SUCCESS_FINAL as 200, CONNECT_SUCCESS is ignored. With 1, failures feed
 * only the consecutive local-origin counter and successes reset it.
 * Errors: GWLB_EINVAL, GWLB_EUNKNOWN, GWLB_ERANGE (unknown result).
 * Safe concurrently.
 */
GWLB_API int gwlb_health_report_local(gwlb_health *h, uint32_t host, uint32_t result,
                                      uint64_t now);

/* ---- Outlier detection pass ------------------------------------------------ */

/** What one pass saw (success-rate numbers are -1 when not computed). */
typedef struct gwlb_health_outlier_report {
    double success_rate_mean;
    double success_rate_threshold;
    uint32_t success_rate_hosts;        /* hosts with enough volume */
    uint32_t failure_percentage_hosts;
    uint32_t ejected;                   /* ejections this pass */
    uint32_t unejected;                 /* hosts returned this pass */
} gwlb_health_outlier_report;

/**
 * One Envoy outlier-detection interval, run by the host every interval_ns:
 * unejects hosts whose min(base x backoff, max) + jitter has elapsed since
 * their ejection; closes the interval's request counters; ejects by success
 * rate (rate < mean - factor/1000 x population stdev) and by failure
 * percentage (100 - rate >= threshold) among non-ejected hosts with enough
 * volume; then decays by one the backoff of every non-ejected host unejected
 * at least interval_ns ago. report may be NULL.
 * Errors: GWLB_EINVAL (NULL h), GWLB_EBUSY (another pass is running).
 * Safe to call concurrently with everything else. O(hosts), no allocation.
 */
GWLB_API int gwlb_health_outlier_run(gwlb_health *h, uint64_t now,
                                     gwlb_health_outlier_report *report);

/* ---- Active probes ---------------------------------------------------------- */

enum gwlb_probe_outcome {
    GWLB_PROBE_PASS = 1,
    GWLB_PROBE_FAIL = 2,
    GWLB_PROBE_TIMEOUT = 3 /* counts as a failure */
};

/* Agent-check style instruction carried by a probe result (HAProxy agent). */
enum gwlb_probe_agent {
    GWLB_AGENT_NONE = 0,
    GWLB_AGENT_READY = 1, /* clear agent drain and agent maintenance */
    GWLB_AGENT_DRAIN = 2, /* set agent drain */
    GWLB_AGENT_MAINT = 3  /* set agent maintenance */
};

typedef struct gwlb_probe_result {
    uint32_t outcome;        /* enum gwlb_probe_outcome */
    uint32_t agent;          /* enum gwlb_probe_agent */
    int32_t weight_percent;  /* -1 = no hint; 0..1000 = weight relative to configured */
    uint32_t reserved;
    uint64_t latency_ns;     /* 0 = not measured */
} gwlb_probe_result;

/**
 * Hosts whose probe is due at `now`: up to `cap` indices into hosts
 * (earliest first, ties by index), count in *count. Each returned host is
 * now "in flight" and is not returned again until gwlb_health_probe_report.
 * *next_due (may be NULL) gets when the next probe is due among the hosts
 * not in flight (UINT64_MAX if none). O(k log n) for k hosts returned: a
 * binary heap, no scan. With active_checks = 0 it returns nothing.
 * Errors: GWLB_EINVAL (NULL h/count, NULL hosts with cap > 0).
 * Needs exclusive access to the handle.
 */
GWLB_API int gwlb_health_probes_due(gwlb_health *h, uint64_t now, uint32_t *hosts, size_t cap,
                                    size_t *count, uint64_t *next_due);

/**
 * Result of the probe sent to `host`. Applies HAProxy's counter (0 ..
 * rise+fall-1, up iff >= rise: a failure decrements and drops to 0 below
 * rise, a success increments and jumps to rise+fall-1 on reaching rise),
 * sets/clears FAILED_ACTIVE, applies agent hints, and schedules the next
 * probe at now + interval (inter / fastinter / downinter / no-traffic, with
 * jitter).
 * Errors: GWLB_EINVAL (NULL h/result), GWLB_EUNKNOWN (host >= count),
 * GWLB_ESTATE (no probe of this host is in flight: not due / already
 * reported / active_checks off), GWLB_ERANGE (bad outcome or agent), GWLB_EWEIGHT
 * (weight_percent outside -1..1000). Rejected results change nothing.
 * Needs exclusive access to the handle.
 */
GWLB_API int gwlb_health_probe_report(gwlb_health *h, uint32_t host,
                                      const gwlb_probe_result *result, uint64_t now);

/* ---- Admin ---------------------------------------------------------------- */

/* Flags the admin call may set or clear. */
#define GWLB_HEALTH_ADMIN_MASK                                                   \
    (GWLB_HOST_FAILED_PASSIVE | GWLB_HOST_DRAINING | GWLB_HOST_MAINTENANCE |     \
     GWLB_HOST_DEGRADED | GWLB_HOST_PENDING_REMOVAL)

/**
 * Set then clear admin reasons of `host` (bits of GWLB_HEALTH_ADMIN_MASK).
 * Agent, probe and outlier reasons are untouched, so clearing an admin drain
 * leaves an agent drain in force.
 * Errors: GWLB_EINVAL (NULL h, bits outside the mask, a bit both set and
 * cleared), GWLB_EUNKNOWN (host >= count). Safe concurrently.
 */
GWLB_API int gwlb_health_admin_update(gwlb_health *h, uint32_t host, uint32_t set,
                                      uint32_t clear, uint64_t now);

/* ---- Reading state ------------------------------------------------------------ */

/**
 * Published flags (gwlb_host_flag bits) of `host` into *flags.
 * Errors: GWLB_EINVAL, GWLB_EUNKNOWN. Safe concurrently.
 */
GWLB_API int gwlb_health_host_flags(const gwlb_health *h, uint32_t host, uint32_t *flags);

/** Everything known about one host (a racy but per-field atomic snapshot). */
typedef struct gwlb_health_host_info {
    uint32_t flags;                /* published gwlb_host_flag bits */
    uint32_t health;               /* HAProxy counter, 0 .. rise+fall-1 */
    uint32_t active_up;            /* health >= rise */
    int32_t weight_percent;        /* last agent weight hint, -1 = none */
    uint32_t consecutive_5xx;
    uint32_t consecutive_gateway_failure;
    uint32_t consecutive_local_origin_failure;
    uint32_t ejection_backoff;     /* Envoy's eject-time multiplier */
    uint32_t ejections;            /* times ejected */
    uint32_t ejection_cause;       /* cause of the current/last ejection */
    uint64_t last_ejection_ns;     /* UINT64_MAX = never */
    uint64_t last_unejection_ns;   /* UINT64_MAX = never */
    uint64_t ejection_jitter_ns;
    uint64_t next_probe_ns;        /* UINT64_MAX = in flight or no active checks */
    uint64_t last_probe_latency_ns;
    uint64_t interval_requests;    /* requests in the current interval */
    uint64_t interval_successes;
} gwlb_health_host_info;

/** Errors: GWLB_EINVAL, GWLB_EUNKNOWN. Safe concurrently. */
GWLB_API int gwlb_health_host_get(const gwlb_health *h, uint32_t host, gwlb_health_host_info *out);

/** Counters (shared; cumulative since the region was initialised). */
typedef struct gwlb_health_stats {
    uint64_t ejections_active;
    uint64_t ejections_enforced_total;
    uint64_t ejections_detected_consecutive_5xx;
    uint64_t ejections_detected_consecutive_gateway_failure;
    uint64_t ejections_detected_consecutive_local_origin_failure;
    uint64_t ejections_detected_success_rate;
    uint64_t ejections_detected_failure_percentage;
    uint64_t ejections_enforced_consecutive_5xx;
    uint64_t ejections_enforced_consecutive_gateway_failure;
    uint64_t ejections_enforced_consecutive_local_origin_failure;
    uint64_t ejections_enforced_success_rate;
    uint64_t ejections_enforced_failure_percentage;
    uint64_t ejections_overflow;   /* refused by max_ejection_percent */
    uint64_t unejections;
    uint64_t probes_sent;          /* handed out by probes_due */
    uint64_t probe_passes;
    uint64_t probe_failures;       /* fail + timeout */
    uint64_t active_down_transitions;
    uint64_t active_up_transitions;
    uint64_t outlier_runs;
    uint64_t events_dropped;
    uint64_t time_clamps;          /* calls whose `now` went backwards */
    uint32_t hosts_eligible;       /* no GWLB_HOST_INELIGIBLE_MASK bit, not degraded */
    uint32_t hosts_degraded;       /* degraded and otherwise eligible */
    uint32_t hosts_ineligible;
    uint32_t panic;                /* 1 if Envoy would be in panic with its default
                                      threshold (one level): 100 x eligible / hosts
                                      + 100 x degraded / hosts < 50. A balancer in
                                      panic spreads over all hosts. */
} gwlb_health_stats;

/** Snapshot the counters (O(hosts) for the host counts). Errors: GWLB_EINVAL. */
GWLB_API int gwlb_health_stats_get(const gwlb_health *h, gwlb_health_stats *out);

/* ---- Feeding the balancer ----------------------------------------------------- */

typedef struct gwlb_balancer gwlb_balancer; /* gwlb/balancer.h */

/**
 * Copy the published flags of host i into the balancer's host i, for every
 * i < min(tracker hosts, balancer hosts): the tracker owns all seven
 * gwlb_host_flag bits of those hosts (set what it has, clear what it has
 * not; hosts whose flags already agree are not written, so the balancer's
 * cached priority/panic computation is only invalidated by real changes).
 * Call it after gwlb_health_outlier_run / probe reports, or per host from
 * the event callback with gwlb_health_apply_host. The balancer then applies
 * its own priority and panic rules (Envoy: a level below its panic
 * threshold balances over all its hosts, flags ignored; see balancer.h).
 * *changed (may be NULL) gets the number of hosts whose flags changed.
 * Errors: GWLB_EINVAL (NULL h or bal). Safe concurrently with picks.
 * Agent weight hints are not applied (the balancer's weights change by
 * rebuilding it; read gwlb_health_host_info.weight_percent).
 */
GWLB_API int gwlb_health_apply_to_balancer(const gwlb_health *h, const gwlb_balancer *bal,
                                           uint32_t *changed);

/** As gwlb_health_apply_to_balancer for one host. Errors: GWLB_EINVAL, GWLB_EUNKNOWN
 *  (host beyond either table). */
GWLB_API int gwlb_health_apply_host(const gwlb_health *h, const gwlb_balancer *bal,
                                    uint32_t host);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_HEALTH_H */
