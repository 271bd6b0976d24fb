/*
 * Internal layout of the health tracker. Never installed.
 *
 * The runtime region (shared when the host provides MAP_SHARED memory):
 *
 *   +---------------------------+  offset 0, 64-byte aligned
 *   | gwlb__health_shared       |  magic, sizes, last `now`, locks, rng,
 *   |                           |  event queue cursors, counters
 *   +---------------------------+  round_up(sizeof header, 64)
 *   | gwlb__health_host [n]     |  one 128-byte record per host, hot fields
 *   |                           |  (reasons, consecutive counters, bucket)
 *   |                           |  in the first cache line
 *   +---------------------------+
 *   | gwlb__health_slot [cap]   |  bounded MPMC event ring (Vyukov): each
 *   |                           |  slot's seq says whose turn it is
 *   +---------------------------+
 *
 * Everything in the region is plain integers (no pointers), accessed through
 * _Atomic casts, so each process may map it at a different address.
 * The probe scheduler (a binary min-heap of (due, host)) lives in the handle.
 */
#ifndef GWLB_HEALTH_INTERNAL_H
#define GWLB_HEALTH_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "gwlb/health.h"
#include "internal.h"

#define GWLB__HEALTH_MAGIC UINT64_C(0x67776c62686c7431) /* "gwlbhlt1" */

/* Reason bits beyond the published gwlb_host_flag bits (0..6). */
#define GWLB__R_PUBLISHED 0x7fu
#define GWLB__R_AGENT_DRAIN (1u << 8)
#define GWLB__R_AGENT_MAINT (1u << 9)

#define GWLB__A32(p) ((_Atomic uint32_t *)(void *)(p))
#define GWLB__A64(p) ((_Atomic uint64_t *)(void *)(p))
#define GWLB__RLX memory_order_relaxed

/* Counter slots in the shared header. */
enum {
    GWLB__HC_ENFORCED_TOTAL,
    GWLB__HC_DETECTED_5XX,
    GWLB__HC_DETECTED_GW,
    GWLB__HC_DETECTED_LOCAL,
    GWLB__HC_DETECTED_SR,
    GWLB__HC_DETECTED_FP,
    GWLB__HC_ENFORCED_5XX,
    GWLB__HC_ENFORCED_GW,
    GWLB__HC_ENFORCED_LOCAL,
    GWLB__HC_ENFORCED_SR,
    GWLB__HC_ENFORCED_FP,
    GWLB__HC_OVERFLOW,
    GWLB__HC_UNEJECTIONS,
    GWLB__HC_PROBES_SENT,
    GWLB__HC_PROBE_PASSES,
    GWLB__HC_PROBE_FAILURES,
    GWLB__HC_DOWN,
    GWLB__HC_UP,
    GWLB__HC_RUNS,
    GWLB__HC_DROPPED,
    GWLB__HC_CLAMPS,
    GWLB__HC_COUNT
};

typedef struct gwlb__health_shared {
    uint64_t magic;
    uint32_t n_hosts;
    uint32_t event_capacity;
    uint64_t last_now;        /* largest `now` seen */
    uint32_t traffic_seen;    /* any outcome reported (Envoy no_traffic_interval) */
    uint32_t run_lock;        /* outlier pass try-lock */
    uint32_t ejections_active;
    uint32_t reserved;
    gwlb_rng rng;
    uint64_t ev_enqueue;      /* next enqueue position */
    uint64_t ev_dequeue;      /* next dequeue position */
    uint64_t counters[GWLB__HC_COUNT];
} gwlb__health_shared;

typedef struct gwlb__health_host {
    /* the first 24 bytes are all an outcome report touches */
    uint32_t reasons;
    uint32_t consec_5xx;
    uint32_t consec_gw;
    uint32_t consec_local;
    uint64_t bucket;            /* requests << 32 | successes, current interval */
    uint32_t claim;             /* slow-path try-lock: eject / uneject / backoff */
    uint32_t health;            /* HAProxy counter */
    uint32_t backoff;           /* Envoy ejectTimeBackoff */
    uint32_t ejections;
    uint32_t eject_cause;
    int32_t weight_percent;
    uint64_t last_ejection_ns;
    uint64_t last_unejection_ns;
    uint64_t eject_jitter_ns;
    uint64_t next_probe_ns;
    uint64_t last_latency_ns;
    uint64_t pad[5];
} gwlb__health_host;
_Static_assert(sizeof(gwlb__health_host) == 128, "host record is two cache lines");

typedef struct gwlb__health_slot {
    uint64_t seq;
    gwlb_health_event ev;
} gwlb__health_slot;

typedef struct gwlb__probe_entry {
    uint64_t due;
    uint32_t host;
    uint32_t pad;
} gwlb__probe_entry;

struct gwlb_health {
    gwlb_allocator alloc;
    gwlb_health_config cfg; /* normalised copy */
    uint32_t n;
    gwlb__health_shared *sh;
    gwlb__health_host *hosts;
    gwlb__health_slot *slots;
    void *own_raw;          /* region allocated by us (unaligned block) */
    size_t own_raw_size;
    gwlb_health_callback cb;
    void *cb_user;
    /* outlier pass scratch (handle-local; the pass runs under a shared lock) */
    double *pass_rate;      /* success rate of the closed interval, -1 = not counted */
    uint64_t *pass_total;   /* requests of the closed interval */
    /* probe scheduler (handle-local) */
    gwlb__probe_entry *heap;
    uint32_t heap_len;
    uint8_t *in_flight;
};

GWLB__HIDDEN uint64_t gwlb__health_clamp_now(gwlb_health *h, uint64_t now);
GWLB__HIDDEN uint32_t gwlb__health_published(uint32_t reasons);
/* Set then clear reason bits; emits an event when the word changed. Returns old word. */
GWLB__HIDDEN uint32_t gwlb__health_reasons_update(gwlb_health *h, uint32_t host, uint32_t set,
                                                  uint32_t clear, uint32_t cause, uint64_t now);
GWLB__HIDDEN void gwlb__health_count(gwlb_health *h, int slot);
/* Eject (Envoy ejectHost) for a detected cause. Returns 1 if ejected. */
GWLB__HIDDEN int gwlb__health_eject(gwlb_health *h, uint32_t host, uint32_t cause, uint64_t now);
/* Uneject an ejected host now (claim must be held by the caller). */
GWLB__HIDDEN void gwlb__health_uneject_locked(gwlb_health *h, uint32_t host, uint32_t cause,
                                              uint64_t now);
GWLB__HIDDEN int gwlb__health_claim(gwlb__health_host *r);
GWLB__HIDDEN void gwlb__health_unclaim(gwlb__health_host *r);
GWLB__HIDDEN int gwlb__health_probe_init(gwlb_health *h, uint64_t now);
GWLB__HIDDEN double gwlb__health_sqrt(double v);

#endif
