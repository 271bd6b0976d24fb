/*
 * Balancer internals, shared read-only with the hashing and health
 * components. Never installed.
 *
 * State region (host memory, possibly MAP_SHARED, 64-byte aligned):
 *
 *   +--------------------------------+  offset 0
 *   | gwlb__bstate_header            |  magic, version, capacity, instance,
 *   |   flags_epoch, counters        |  flags epoch, shared counters
 *   |   sequence[16] (1/cache line)  |  round-robin counters per group
 *   +--------------------------------+  sizeof header (multiple of 64)
 *   | gwlb__bslot[0]   (128 bytes)   |  one per host identity
 *   | gwlb__bslot[1]                 |
 *   | ...  capacity slots            |
 *   +--------------------------------+
 *
 * A slot is found by the xxHash64 of its identity with linear probing from
 * hash % capacity. `owner` packs a 40-bit tag of the hash and a 24-bit
 * reference count (balancers that include the host). Claiming an empty slot
 * goes 0 -> LOCKED -> tag|1 with the full hash written in between, so a
 * reader that sees the tag also sees the key. A slot whose refs are 0 and
 * with nothing in flight is dormant: it keeps its state for its identity,
 * and is only reclaimed for another identity when no empty slot is left.
 * Slots never return to empty, so probe chains stay intact.
 *
 * Every field of the state is accessed with C11 atomics (the struct fields
 * are plain integers; access goes through the gwlb__ld/st helpers below).
 */
#ifndef GWLB_BALANCER_INTERNAL_H
#define GWLB_BALANCER_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "gwlb/balancer.h"
#include "internal.h"

/* ---- Atomic access to plain fields ------------------------------------- */

#define GWLB__A64(p) ((_Atomic uint64_t *)(void *)(p))
#define GWLB__A32(p) ((_Atomic uint32_t *)(void *)(p))
#define GWLB__AI64(p) ((_Atomic int64_t *)(void *)(p))
#define GWLB__AI32(p) ((_Atomic int32_t *)(void *)(p))
#define gwlb__ld64(p) atomic_load_explicit(GWLB__A64(p), memory_order_relaxed)
#define gwlb__ld32(p) atomic_load_explicit(GWLB__A32(p), memory_order_relaxed)
#define gwlb__st64(p, v) atomic_store_explicit(GWLB__A64(p), (v), memory_order_relaxed)
#define gwlb__st32(p, v) atomic_store_explicit(GWLB__A32(p), (v), memory_order_relaxed)

#if defined(__GNUC__)
#define GWLB__PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
#else
#define GWLB__PREFETCH_W(p) ((void)(p))
#endif

/* ---- State layout -------------------------------------------------------- */

#define GWLB__BSTATE_MAGIC UINT64_C(0x31736c61626c7767) /* "gwlbals1" */
#define GWLB__BSTATE_VERSION 2u
#define GWLB__BSEQ_COUNT 16u /* round-robin counters: groups 0..7 levels, 8 backup */
#define GWLB__GROUP_BACKUP 8u
#define GWLB__GROUPS 9u

typedef struct gwlb__bstate_header {
    uint64_t magic;
    uint32_t version;
    uint32_t capacity;
    uint64_t size;
    uint64_t instance;     /* random-ish id of this region, part of pick tokens */
    uint64_t flags_epoch;  /* +1 on every flags change (priority cache key) */
    uint64_t builds;       /* balancers built on this state so far */
    uint64_t slots_used;
    uint64_t pad0;
    /* second cache line: counters touched off the fast path */
    uint64_t no_host;
    uint64_t panic_picks;
    uint64_t backup_picks;
    /* fast-path guard: low 32 bits = slots with fails != 0, high 32 bits =
     * slots with max_inflight != 0 (maintained exactly on every change) */
    uint64_t hazards;
    uint64_t pad1[4];
    /* one counter per cache line: round-robin / stride sequences */
    struct {
        uint64_t value;
        uint64_t pad[7];
    } sequence[GWLB__BSEQ_COUNT];
} gwlb__bstate_header;

/* Slow-start stamp values (slot.slow_start). */
#define GWLB__SS_NONE UINT64_C(0)           /* not in slow start */
#define GWLB__SS_PENDING UINT64_MAX         /* starts at the next pick's now */
/* otherwise: start time + 1 */

typedef struct gwlb__bslot {
    /* line 1: everything a pick or release of any algorithm reads or writes */
    uint32_t flags;           /* enum gwlb_host_flag */
    uint32_t in_flight;
    uint32_t fails;           /* nginx fails (0 <-> non-0 counted in header.hazards) */
    uint32_t max_inflight;    /* 0 = unlimited (non-0 counted in header.hazards) */
    uint64_t ewma_cost;       /* double bits, ns */
    uint64_t ewma_stamp;      /* ns of the last EWMA update + 1; 0 = no sample */
    uint64_t slow_start;      /* GWLB__SS_* or start + 1 */
    int64_t current_weight;   /* nginx current_weight */
    int32_t effective_weight; /* nginx effective_weight */
    uint32_t weight;          /* configured weight (copied at build) */
    uint32_t max_fails;
    uint32_t single;          /* 1: nginx single-server upstream, never failed */
    /* line 2: identity and configuration (builds), failure bookkeeping */
    uint64_t owner;           /* tag(40) | refs(24); 0 empty; LOCKED while claimed */
    uint64_t key;             /* full 64-bit identity hash */
    uint64_t fail_timeout;    /* ns */
    uint64_t checked;         /* nginx checked (ns) */
    uint64_t accessed;        /* nginx accessed (ns) */
    uint64_t failures;        /* releases with a failure class */
    uint64_t pad[2];
} gwlb__bslot;

struct gwlb_balancer_state {
    gwlb__bstate_header h;
    gwlb__bslot slots[];
};

#define GWLB__OWNER_LOCKED UINT64_MAX
#define GWLB__OWNER_REFS_BITS 24
#define GWLB__OWNER_REFS_MASK ((UINT64_C(1) << GWLB__OWNER_REFS_BITS) - 1)

/* header.hazards units, and exact maintenance of the counts */
#define GWLB__HAZARD_FAIL UINT64_C(1)
#define GWLB__HAZARD_LIMIT (UINT64_C(1) << 32)

static inline void gwlb__hazard_add(gwlb_balancer_state *st, uint64_t v)
{
    atomic_fetch_add_explicit(GWLB__A64(&st->h.hazards), v, memory_order_relaxed);
}

static inline void gwlb__hazard_sub(gwlb_balancer_state *st, uint64_t v)
{
    atomic_fetch_sub_explicit(GWLB__A64(&st->h.hazards), v, memory_order_relaxed);
}

/* Set a slot's fails to 0 (exactly one of racing clearers updates the count). */
static inline void gwlb__slot_clear_fails(gwlb_balancer_state *st, gwlb__bslot *s)
{
    if (atomic_exchange_explicit(GWLB__A32(&s->fails), 0, memory_order_relaxed) != 0)
        gwlb__hazard_sub(st, GWLB__HAZARD_FAIL);
}

/* Set a slot's max_inflight, keeping the count of limited slots exact. */
static inline void gwlb__slot_set_limit(gwlb_balancer_state *st, gwlb__bslot *s, uint32_t v)
{
    uint32_t old = atomic_exchange_explicit(GWLB__A32(&s->max_inflight), v, memory_order_relaxed);
    if ((old != 0) != (v != 0)) {
        if (v != 0)
            gwlb__hazard_add(st, GWLB__HAZARD_LIMIT);
        else
            gwlb__hazard_sub(st, GWLB__HAZARD_LIMIT);
    }
}

/* ---- Compiled balancer ------------------------------------------------------ */

/* One host as compiled (index = host index). */
typedef struct gwlb__bhost {
    uint32_t slot;
    uint32_t weight;
    uint32_t max_inflight;
    uint32_t group;      /* 0..7 priority level, 8 backup */
    uint64_t user_data;
    uint32_t id_off;     /* identity bytes at bal->ids + id_off */
    uint32_t id_len;
    uint32_t priority;
    uint32_t backup;
    uint64_t key;        /* identity hash */
    uint32_t max_fails;  /* as built (gwlb_balancer_rebuild compares) */
    uint32_t ref;        /* GWLB__REF_*: how the slot reference is held */
    uint64_t fail_timeout;
} gwlb__bhost;

/* gwlb__bhost.ref */
#define GWLB__REF_REUSED 1u /* taken over from the previous balancer (rebuild) */
#define GWLB__REF_MOVED 2u  /* handed over to a rebuilt balancer: free skips it */

/* One member of a group, in host order (hot data for the algorithms). */
typedef struct gwlb__bmember {
    uint32_t host;
    uint32_t slot;
    uint32_t weight;
    uint32_t stride;     /* weight scaled so the group's max is 2^24 */
} gwlb__bmember;

/* What a clean-path pick returns for member k of level 0 (one 16-byte read). */
typedef struct gwlb__bpick {
    uint32_t host;
    uint32_t slot;
    uint64_t user_data;
} gwlb__bpick;

typedef struct gwlb__bgroup {
    uint32_t first;      /* into bal->members */
    uint32_t count;
    uint64_t total_weight;
    uint32_t max_weight;
    uint32_t all_equal;  /* all weights equal */
    uint64_t fastmod;    /* Lemire fastmod constant for count */
    uint32_t alias_first;/* into bal->alias_prob/alias_other */
    uint32_t pad;
} gwlb__bgroup;

/* Cached priority loads (Envoy), recomputed when the state's flags epoch moves. */
typedef struct gwlb__bprio {
    uint64_t epoch;                 /* flags_epoch it was computed for, +1 (0 = none) */
    uint8_t healthy_load[8];        /* percent per level */
    uint8_t degraded_load[8];
    uint8_t total_panic_load[8];    /* used when every level is in panic / none available */
    uint32_t panic_mask;            /* level i in panic */
    uint32_t available;             /* normalized total availability, 0..100 */
    uint32_t simple;                /* 1: level 0 takes 100% healthy, no panic */
    uint32_t clean0;                /* 1: every level-0 host healthy (flags clear) */
    uint32_t total_panic;           /* every level in panic: total_panic_load applies */
} gwlb__bprio;

struct gwlb_balancer {
    gwlb_allocator alloc;
    gwlb_balancer_config cfg;       /* allocator field cleared */
    gwlb_balancer_state *state;
    uint32_t n;
    uint32_t levels_used;           /* bit i: level i has hosts */
    uint32_t single;                /* nginx peers->single: 1 primary, no backup */
    uint32_t bias_mode;             /* 0: bias 0, 1: bias 1 (exact), 2: pow */
    uint64_t start;                 /* round-robin start offset */
    gwlb__bhost *hosts;
    char *ids;
    size_t ids_size;
    gwlb__bmember *members;         /* grouped: levels 0..7 then backup */
    gwlb__bpick *picks;             /* level 0's members as picks return them */
    uint32_t picks_n;
    uint32_t *alias_prob;           /* per member: accept threshold (32-bit) */
    uint32_t *alias_other;          /* per member: alias member (group-relative) */
    uint32_t *strides;              /* WRR only: level 0's window tables (wrr_mask) */
    uint32_t strides_n;             /* their entries */
    uint32_t *index;                /* identity hash table: host index + 1, 0 = empty */
    uint32_t index_mask;
    gwlb__bgroup groups[GWLB__GROUPS];
    gwlb_rng rng;                   /* per-balancer PRNG (process-local) */
    /* draw ahead (pick.c, pair_ahead): ahead_pair = the clean peak-EWMA
     * candidates (k2 << 32 | k1) of the draw that follows generator state
     * ahead_key, kept for the next pick so that the mix and the draw are
     * off its dependency chain; used when ahead_key equals the state
     * (other draws just leave it stale) */
    uint64_t ahead_key;
    uint64_t ahead_pair;
    uint32_t fast_kind;             /* GWLB__FAST_*: the specialised pick, fixed at build */
    uint32_t exclusive;             /* gwlb_balancer_set_exclusive: plain load+store RMWs */
    double inv_decay;               /* 1 / ewma_decay_ns */
    double ewma_initial;            /* (double)ewma_initial_rtt_ns */
    uint64_t ewma_initial_bits;     /* its bits (the clean pick selects them) */
    double ewma_lo_c, ewma_lo_cd;   /* clean peak EWMA bound: 1 - 1e-9, (1 - 1e-9) / tau */
    uint64_t ewma_poly_dt;          /* largest dt with -(double)dt * inv_decay > -2^-11 */
    /* fast-path key: flags epoch + 1 for which level 0 takes all traffic and
     * every level-0 host is healthy; with header.hazards == 0 a pick needs
     * no per-host check at all */
    uint64_t clean_epoch;
    /* priority cache, published with a sequence lock (lock-free readers);
     * prio_fast = flags epoch + 1 when that epoch's loads are "simple" */
    uint64_t prio_fast;
    uint64_t prio_seq;
    gwlb__bprio prio;
    /* WRR clean path: memo of which sequence positions accept (clean_wrr in
     * pick.c): (position << 32) | mask, bit i = position + i accepts. A pure
     * function of the position, so racing writers store equivalent words.
     * Written once per ~WINDOW/probes picks, in a cache line of its own. */
    uint64_t wrr_pad0[8];
    uint64_t wrr_window;
    uint64_t wrr_pad1[7];
};

/* Specialised picks (balancer.fast_kind). */
enum {
    GWLB__FAST_NONE = 0,
    GWLB__FAST_RR,
    GWLB__FAST_WRR,
    GWLB__FAST_LR,    /* least request, P2C/N choices, no slow start, no full scan */
    GWLB__FAST_EWMA,  /* peak EWMA, no slow start */
    GWLB__FAST_RANDOM, /* weighted random, no slow start */
    GWLB__FAST_EWMA_UNIT /* GWLB__FAST_EWMA with every level-0 weight 1 */
};

/* SplitMix64 gamma and output function (gwlb_rng's), for the balancer's
 * inlined draws. */
#define GWLB__RNG_GAMMA UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t gwlb__rng_mix(uint64_t v)
{
    v = (v ^ (v >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    v = (v ^ (v >> 27)) * UINT64_C(0x94d049bb133111eb);
    return v ^ (v >> 31);
}

/* Two distinct members of a group of c > 1 from one 64-bit draw r (the
 * first round of peak EWMA and P2C), packed k2 << 32 | k1. */
static inline uint64_t gwlb__pair_draw(uint64_t r, uint32_t c)
{
    uint32_t k1 = (uint32_t)(((r >> 32) * c) >> 32);
    uint32_t k2 = (uint32_t)(((r & 0xffffffffu) * (c - 1)) >> 32);
    k2 += k2 >= k1;
    return (uint64_t)k2 << 32 | k1;
}

/* Set the generator's state and the draw ahead that matches it
 * (exclusive access: build, once the groups are known; reseed). */
static inline void gwlb__balancer_seed(gwlb_balancer *b, uint64_t state)
{
    gwlb_rng_seed(&b->rng, state);
    uint32_t c = b->groups[0].count;
    gwlb__st64(&b->ahead_pair,
               c > 1 ? gwlb__pair_draw(gwlb__rng_mix(state + GWLB__RNG_GAMMA), c) : 0);
    gwlb__st64(&b->ahead_key, state);
}

/* ---- Accessors for the hashing and health components -------------------------- */

static inline uint32_t gwlb__balancer_count(const gwlb_balancer *b) { return b->n; }

static inline const char *gwlb__balancer_identity(const gwlb_balancer *b, uint32_t i,
                                                  size_t *len)
{
    *len = b->hosts[i].id_len;
    return b->ids + b->hosts[i].id_off;
}

static inline uint32_t gwlb__balancer_weight(const gwlb_balancer *b, uint32_t i)
{
    return b->hosts[i].weight;
}

static inline uint32_t gwlb__balancer_slot(const gwlb_balancer *b, uint32_t i)
{
    return b->hosts[i].slot;
}

static inline int gwlb__balancer_is_backup(const gwlb_balancer *b, uint32_t i)
{
    return b->hosts[i].backup != 0;
}

static inline uint32_t gwlb__balancer_priority(const gwlb_balancer *b, uint32_t i)
{
    return b->hosts[i].priority;
}

/* nginx peers->single: exactly one primary host and no backup. */
static inline int gwlb__balancer_nginx_single(const gwlb_balancer *b) { return b->single != 0; }

static inline gwlb__bslot *gwlb__balancer_slotp(const gwlb_balancer *b, uint32_t i)
{
    return &b->state->slots[b->hosts[i].slot];
}

static inline uint64_t gwlb__elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/*
 * nginx "failed": fails >= max_fails && now - checked <= fail_timeout
 * (never for a single-server upstream).
 */
static inline int gwlb__slot_nginx_failed(const gwlb__bslot *s, uint64_t now)
{
    uint32_t mf = gwlb__ld32(&s->max_fails);
    if (mf == 0 || gwlb__ld32(&s->fails) < mf || gwlb__ld32(&s->single))
        return 0;
    return gwlb__elapsed(now, gwlb__ld64(&s->checked)) <= gwlb__ld64(&s->fail_timeout);
}

/*
 * Is host i usable for a new request at `now`: no ineligible flag, not
 * nginx-failed, below its max in-flight. (A snapshot: acquire re-checks the
 * in-flight limit atomically.)
 */
static inline int gwlb__balancer_usable(const gwlb_balancer *b, uint32_t i, uint64_t now)
{
    const gwlb__bslot *s = gwlb__balancer_slotp(b, i);
    if (gwlb__ld32(&s->flags) & GWLB_HOST_INELIGIBLE_MASK)
        return 0;
    if (gwlb__slot_nginx_failed(s, now))
        return 0;
    uint32_t mi = b->hosts[i].max_inflight;
    return mi == 0 || gwlb__ld32(&s->in_flight) < mi;
}

/*
 * Count one request in flight on host i (respecting max_inflight
 * atomically), apply nginx's `checked` refresh, and fill *out as a pick.
 * GWLB_ENOHOST when at the limit. Flags/failed are NOT re-checked here
 * (callers test gwlb__balancer_usable first); gwlb_balancer_acquire_host
 * does both.
 */
GWLB__HIDDEN int gwlb__balancer_take(const gwlb_balancer *b, uint32_t i, uint64_t now,
                                     gwlb_balancer_result *out);

/*
 * nginx ngx_http_upstream_get_round_robin_peer over the balancer's hosts
 * (primaries, then backups), skipping hosts set in `tried` (may be NULL):
 * what nginx's hash modules fall back to after 20 tries. Takes the host
 * (in flight +1) and fills *out; GWLB_ENOHOST if none.
 */
GWLB__HIDDEN int gwlb__balancer_nginx_rr(const gwlb_balancer *b, uint64_t now,
                                         const uint64_t *tried, uint32_t tried_words,
                                         gwlb_balancer_result *out);

/* Slot table (state.c): find or claim the slot of an identity hash and take a
 * reference (*fresh = 1 when initialised for it); drop a reference. */
GWLB__HIDDEN int gwlb__state_claim(gwlb_balancer_state *st, uint64_t key, uint32_t *slot,
                                   int *fresh);
GWLB__HIDDEN void gwlb__state_unref(gwlb_balancer_state *st, uint32_t slot);

/* Identity hash used for slots and lookups (xxHash64, fixed seed). */
static inline uint64_t gwlb__identity_key(const char *id, size_t len)
{
    uint64_t k = gwlb_hash64(id, len, UINT64_C(0x67776c6268737431));
    return k == 0 ? 1 : k;
}

/* Math helpers (libc-only build: no libm). Accurate to a few ulp. */
GWLB__HIDDEN double gwlb__exp(double x);
GWLB__HIDDEN double gwlb__log(double x);
GWLB__HIDDEN double gwlb__pow(double x, double y);

#endif /* GWLB_BALANCER_INTERNAL_H */
