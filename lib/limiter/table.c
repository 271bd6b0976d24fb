/*
 * Keyed limiter table: key bytes -> one limiter state word, in a fixed
 * block of host memory (heap, MAP_SHARED, an nginx zone), lock-free.
 *
 *   memory: +-----------------+----------+----------+-----+----------+
 *           | header (256 B)  | bucket 0 | bucket 1 | ... | bucket n |
 *           +-----------------+----------+----------+-----+----------+
 *   bucket: 4 slots of 16 bytes (one cache line when the block is 64-aligned)
 *   slot:   meta  = fingerprint (46 bits) | freq (2) | age (16)   0 = empty
 *           state = the policy's state word (GCRA TAT, nginx excess/last, ...)
 *
 * SipHash-1-3 of the key under the host's secret gives 64 bits: the
 * fingerprint is bits 18..63, the key's two candidate buckets come from a
 * SplitMix mix of the whole hash (so buckets and fingerprint are
 * independent-looking). Only the fingerprint is stored: 16 bytes per slot,
 * no pointers anywhere.
 *
 * Eviction when a new key's bucket is full: an entry whose state is as
 * good as fresh (dropping it changes no decision), else the entry with the
 * lowest freq (0..3, +1 per hit, saturating), oldest age first. Age is
 * now >> 30 (~1.07 s) modulo 2^16, compared on the ring.
 */
#include <stdatomic.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "hash_inline.h"
#include "internal.h"
#include "limiter_internal.h"

#define AWORD(p) ((_Atomic uint64_t *)(p))

#if defined(__GNUC__)
#define SLOW_PATH __attribute__((noinline, cold))
#define ALWAYS_INLINE __attribute__((always_inline))
#define PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
#define PREFETCH_R(p) __builtin_prefetch((p), 0, 3)
#else
#define SLOW_PATH
#define ALWAYS_INLINE
#define PREFETCH_W(p) ((void)(p))
#define PREFETCH_R(p) ((void)(p))
#endif

#define TABLE_MAGIC UINT64_C(0x314d494c424c5747) /* "GWLBLIM1" little-endian */
#define TABLE_VERSION 1u
#define WAYS 4u
#define AGE_BITS 16
#define AGE_MASK ((UINT64_C(1) << AGE_BITS) - 1)
#define FREQ_SHIFT 16
#define FREQ_MASK (UINT64_C(3) << FREQ_SHIFT)
#define FP_MASK (~(AGE_MASK | FREQ_MASK))
#define AGE_SHIFT_NS 30
#define TABLE_ALIGN 64u /* bucket = one cache line when the table starts on a line */

typedef struct slot {
    uint64_t meta;
    uint64_t state;
} slot;

struct gwlb_limiter_table {
    /* read-mostly configuration (first cache lines) */
    uint64_t magic;
    uint32_t version;
    uint32_t ways;
    uint64_t bytes;
    uint64_t nbuckets;
    uint8_t hash_key[16];
    gwlb_limiter_policy policy;
    uint8_t pad0[128 - 48 - sizeof(gwlb_limiter_policy)];
    /* counters, on their own cache lines */
    uint64_t inserts;
    uint64_t evicted_fresh;
    uint64_t evicted_live;
    uint64_t rejected;
    uint64_t dry_run_limited;
    uint64_t pad1[3];
    /* owner bookkeeping for _new/_free (meaningful only in the allocating process) */
    gwlb_allocator allocator;
    uint64_t owned;       /* bytes allocated by _new (0: host memory) */
    uint64_t owned_shift; /* header address - allocated address (64-byte alignment) */
    uint64_t pad2[2];
};

_Static_assert(sizeof(struct gwlb_limiter_table) == GWLB_LIMITER_TABLE_HEADER,
               "table header must be 256 bytes");
_Static_assert(sizeof(slot) * WAYS == GWLB_LIMITER_TABLE_BUCKET, "bucket must be 64 bytes");

static slot *bucket_slots(gwlb_limiter_table *t, uint64_t b)
{
    return (slot *)((unsigned char *)t + GWLB_LIMITER_TABLE_HEADER) + b * WAYS;
}

size_t gwlb_limiter_table_bytes(uint64_t keys)
{
    uint64_t buckets = keys / WAYS + (keys % WAYS != 0);
    if (buckets == 0)
        buckets = 1;
    if (buckets > (SIZE_MAX - GWLB_LIMITER_TABLE_HEADER) / GWLB_LIMITER_TABLE_BUCKET)
        return SIZE_MAX;
    return GWLB_LIMITER_TABLE_HEADER + (size_t)buckets * GWLB_LIMITER_TABLE_BUCKET;
}

int gwlb_limiter_table_init(void *memory, size_t bytes, const gwlb_limiter_policy *policy,
                            const uint8_t hash_key[16], gwlb_limiter_table **out)
{
    if (memory == NULL || policy == NULL || hash_key == NULL || out == NULL ||
        ((uintptr_t)memory & 7u) != 0)
        return GWLB_EINVAL;
    if ((policy->flags & ~(uint32_t)GWLB_LIMITER_DRY_RUN) != 0 ||
        gwlb__limiter_policy_check(policy) != GWLB_OK)
        return GWLB_EINVAL;
    if (bytes < GWLB_LIMITER_TABLE_HEADER + GWLB_LIMITER_TABLE_BUCKET)
        return GWLB_ENOSPC;
    uint64_t nbuckets = (bytes - GWLB_LIMITER_TABLE_HEADER) / GWLB_LIMITER_TABLE_BUCKET;
    if (nbuckets > UINT32_MAX)
        nbuckets = UINT32_MAX;
    gwlb_limiter_table *t = memory;
    memset(t, 0, GWLB_LIMITER_TABLE_HEADER + nbuckets * GWLB_LIMITER_TABLE_BUCKET);
    t->version = TABLE_VERSION;
    t->ways = WAYS;
    t->bytes = GWLB_LIMITER_TABLE_HEADER + nbuckets * GWLB_LIMITER_TABLE_BUCKET;
    t->nbuckets = nbuckets;
    memcpy(t->hash_key, hash_key, 16);
    t->policy = *policy;
    atomic_store_explicit(AWORD(&t->magic), TABLE_MAGIC, memory_order_release);
    *out = t;
    return GWLB_OK;
}

int gwlb_limiter_table_attach(void *memory, size_t bytes, gwlb_limiter_table **out)
{
    if (memory == NULL || out == NULL || ((uintptr_t)memory & 7u) != 0 ||
        bytes < GWLB_LIMITER_TABLE_HEADER)
        return GWLB_EINVAL;
    gwlb_limiter_table *t = memory;
    if (atomic_load_explicit(AWORD(&t->magic), memory_order_acquire) != TABLE_MAGIC)
        return GWLB_EINVAL;
    if (t->version != TABLE_VERSION || t->ways != WAYS)
        return GWLB_EVERSION;
    if (bytes < t->bytes)
        return GWLB_ENOSPC;
    *out = t;
    return GWLB_OK;
}

int gwlb_limiter_table_new(size_t bytes, const gwlb_limiter_policy *policy,
                           const uint8_t hash_key[16], const gwlb_allocator *allocator,
                           gwlb_limiter_table **out)
{
    if (out == NULL || policy == NULL || hash_key == NULL)
        return GWLB_EINVAL;
    if (bytes < GWLB_LIMITER_TABLE_HEADER + GWLB_LIMITER_TABLE_BUCKET)
        return GWLB_ENOSPC;
    if ((policy->flags & ~(uint32_t)GWLB_LIMITER_DRY_RUN) != 0 ||
        gwlb__limiter_policy_check(policy) != GWLB_OK)
        return GWLB_EINVAL;
    /* One bucket per cache line: allocate 63 bytes more and start the
     * table on a 64-byte boundary (a large malloc block starts 16 bytes
     * past a page, which would split every bucket over two lines: two
     * misses per bucket instead of one). */
    if (bytes > SIZE_MAX - (TABLE_ALIGN - 1))
        return GWLB_ENOMEM;
    size_t alloc_bytes = bytes + (TABLE_ALIGN - 1);
    gwlb_allocator a;
    gwlb__allocator_resolve(&a, allocator);
    void *mem = gwlb__alloc(&a, alloc_bytes);
    if (mem == NULL)
        return GWLB_ENOMEM;
    size_t shift = (size_t)(-(uintptr_t)mem & (TABLE_ALIGN - 1));
    gwlb_limiter_table *t;
    int rc = gwlb_limiter_table_init((unsigned char *)mem + shift, bytes, policy, hash_key, &t);
    if (rc != GWLB_OK) { /* not reached: the policy was checked above */
        gwlb__free(&a, mem, alloc_bytes);
        return rc;
    }
    t->allocator = a;
    t->owned = alloc_bytes;
    t->owned_shift = shift;
    *out = t;
    return GWLB_OK;
}

void gwlb_limiter_table_free(gwlb_limiter_table *table)
{
    if (table == NULL || table->owned == 0)
        return;
    gwlb_allocator a = table->allocator;
    size_t bytes = (size_t)table->owned;
    unsigned char *mem = (unsigned char *)table - table->owned_shift;
    table->magic = 0;
    gwlb__free(&a, mem, bytes);
}

const gwlb_limiter_policy *gwlb_limiter_table_policy(const gwlb_limiter_table *table)
{
    return table == NULL ? NULL : &table->policy;
}

static void count(uint64_t *counter)
{
    atomic_fetch_add_explicit(AWORD(counter), 1, memory_order_relaxed);
}

/* ---- hashing a key to its probe ---------------------------------------- */

/* SipHash-1-3, the shared inline core of gwlb_siphash13 (lib/hash_inline.h),
 * so the hot path pays no call. The usual key lengths (an IPv4 address, a
 * 64-bit id, an IPv6 address) get their own copy with the length constant:
 * straight-line rounds, no block loop or tail switch (the same function). */
static inline ALWAYS_INLINE uint64_t key_hash(const uint8_t hash_key[16], const void *data,
                                              size_t len)
{
    if (len == 8)
        return gwlb__siphash(hash_key, data, 8, 1, 3);
    if (len == 4)
        return gwlb__siphash(hash_key, data, 4, 1, 3);
    if (len == 16)
        return gwlb__siphash(hash_key, data, 16, 1, 3);
    return gwlb__siphash(hash_key, data, len, 1, 3);
}

uint64_t gwlb__limiter_table_key_hash(const uint8_t hash_key[16], const void *key, size_t len)
{
    return key_hash(hash_key, key, len);
}

/* Where a key may live: its fingerprint and its two candidate buckets. */
typedef struct probe {
    uint64_t fp;
    uint64_t b1, b2;
    unsigned ncand; /* 2 * WAYS, or WAYS in a one-bucket table */
} probe;

static inline void probe_of(const gwlb_limiter_table *t, const void *key, size_t len,
                            probe *pr)
{
    uint64_t h = key_hash(t->hash_key, key, len);
    uint64_t fp = h & FP_MASK;
    if (fp == 0)
        fp = UINT64_C(1) << (FREQ_SHIFT + 2);
    /* SplitMix64's finalizer (gwlb_mix64), inline */
    uint64_t mix = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    mix = (mix ^ (mix >> 27)) * UINT64_C(0x94d049bb133111eb);
    mix ^= mix >> 31;
    uint64_t nb = t->nbuckets;
    uint64_t b1 = ((mix >> 32) * nb) >> 32;
    uint64_t b2 = ((mix & UINT32_MAX) * nb) >> 32;
    if (b2 == b1)
        b2 = b1 + 1 < nb ? b1 + 1 : 0;
    pr->fp = fp;
    pr->b1 = b1;
    pr->b2 = b2;
    pr->ncand = nb > 1 ? 2 * WAYS : WAYS;
}

static inline uint64_t age_of(uint64_t now)
{
    uint64_t age = (now >> AGE_SHIFT_NS) & AGE_MASK;
    return age == AGE_MASK ? AGE_MASK - 1 : age; /* 0xffff is reserved for BUSY */
}

/*
 * Insert protocol (linearizable, lock-free, safe in MAP_SHARED memory).
 *
 * Published entries never carry the age value 0xffff (a live tick of 0xffff
 * is stored as 0xfffe); that age marks the two transient metas of a key:
 *   BUSY = fp | freq 0 | 0xffff   a claim: an insert of this key in flight
 *   TOMB = fp | freq 1 | 0xffff   a revoked claim, cleared by its owner
 * Each BUSY/TOMB has exactly one owner (the claimant), so the owner never
 * acts on somebody else's claim (no ABA on the identical BUSY value).
 * The inserter
 *   1. claims a victim slot by CAS (meta -> BUSY),
 *   2. re-scans the other candidates with seq_cst loads (the claim is a
 *      seq_cst CAS, so of two claimants of one key the later one sees the
 *      earlier one): the key published elsewhere -> release the claim and
 *      use that entry; another BUSY of the key at a lower candidate index
 *      -> release and retry (the lower one wins); at a higher index ->
 *      wait for it to publish or release (it yields to us),
 *   3. zeroes the state word, then publishes meta fp | freq 0 | age with a
 *      CAS from BUSY (release: the 0 is visible before the entry is).
 * Lookups match published entries only. An inserter that finds the key
 * BUSY waits for it; after BUSY_SPINS loads without change (an owner that
 * is descheduled or died mid-insert) it revokes the claim (BUSY -> TOMB):
 * that owner's publish fails, it clears its TOMB and retries. BUSY/TOMB
 * slots are never victims, except after LAST_RESORT fruitless rounds with
 * all eight candidates transient (only a pile of owners dead mid-insert
 * can cause that; the stolen claim's owner may then reset a state word).
 */
#define BUSY_AGE AGE_MASK
#define TOMB_BIT (UINT64_C(1) << FREQ_SHIFT)
#define BUSY_SPINS 4096u
#define LAST_RESORT 64u
#define NONE (2u * WAYS)

/* Give up a claim (ours, possibly revoked to TOMB meanwhile). */
static void release_claim(slot *s, uint64_t busy)
{
    uint64_t e = busy;
    if (!atomic_compare_exchange_strong_explicit(AWORD(&s->meta), &e, 0, memory_order_seq_cst,
                                                 memory_order_relaxed) &&
        e == (busy | TOMB_BIT))
        atomic_compare_exchange_strong_explicit(AWORD(&s->meta), &e, 0, memory_order_seq_cst,
                                                memory_order_relaxed);
}

/* Wait (bounded) for another's claim to change; revoke it if it does not.
 * Returns the meta seen last (after a revoke: TOMB or what beat it). */
static uint64_t wait_or_revoke(slot *s, uint64_t busy)
{
    uint64_t x = busy;
    for (unsigned i = 0; i < BUSY_SPINS && x == busy; i++)
        x = atomic_load_explicit(AWORD(&s->meta), memory_order_seq_cst);
    if (x != busy)
        return x;
    if (atomic_compare_exchange_strong_explicit(AWORD(&s->meta), &x, busy | TOMB_BIT,
                                                memory_order_seq_cst, memory_order_relaxed))
        return busy | TOMB_BIT;
    return x;
}

/*
 * Find the slot of a key, inserting it when `insert` (evicting if needed).
 * Returns the slot, or NULL when not found and not inserted.
 *
 * Two-choice buckets: a key may live in either of two buckets (both from
 * the mixed hash). Lookups scan the first, then the second; inserts take an
 * empty slot in the emptier bucket, else evict among all eight. Measured
 * with 100k live keys (never fresh): with a single 4-way bucket, 3.75% of
 * the keys were pushed out at 32 B of table per key; with two choices, 1
 * key at 32 B/key (load 0.5), 49 (0.05%) at 25.6 B/key, 692 (0.7%) at
 * 21.3 B/key (see the bench for the numbers on this build).
 */
static SLOW_PATH slot *find_slot(gwlb_limiter_table *t, const probe *pr, uint64_t now, int insert)
{
    const uint64_t fp = pr->fp, b1 = pr->b1, b2 = pr->b2;
    unsigned ncand = pr->ncand;
    slot *c[2 * WAYS];
    for (unsigned i = 0; i < WAYS; i++) {
        c[i] = bucket_slots(t, b1) + i;
        c[WAYS + i] = bucket_slots(t, b2) + i;
    }
    uint64_t age = age_of(now);
    const uint64_t busy = fp | BUSY_AGE;
    unsigned rounds = 0;

    for (;; rounds++) {
        uint64_t m[2 * WAYS];
        unsigned pending = NONE; /* a claim of this key in flight */
        for (unsigned i = 0; i < ncand; i++) {
            m[i] = atomic_load_explicit(AWORD(&c[i]->meta), memory_order_acquire);
            if ((m[i] & FP_MASK) == fp) {
                if ((m[i] & AGE_MASK) == BUSY_AGE) { /* not published (yet) */
                    if (m[i] == busy && pending == NONE)
                        pending = i;
                    continue;
                }
                uint64_t freq = (m[i] & FREQ_MASK) >> FREQ_SHIFT;
                uint64_t nm = fp | ((freq < 3 ? freq + 1 : 3) << FREQ_SHIFT) | age;
                /* Touch only on change: a steady key writes its meta at most
                 * once per age tick. A lost race here is harmless. */
                if (nm != m[i])
                    atomic_compare_exchange_strong_explicit(AWORD(&c[i]->meta), &m[i], nm,
                                                            memory_order_acq_rel,
                                                            memory_order_relaxed);
                return c[i];
            }
        }
        if (!insert)
            return NULL; /* not published yet: a peek sees the key as fresh */
        if (pending != NONE) {
            wait_or_revoke(c[pending], busy);
            continue;
        }

        /* Victim: empty, else fresh, else lowest freq, oldest; a BUSY/TOMB
         * slot only as the last resort (see above). */
        unsigned victim = 0;
        int victim_class = 4; /* 0 empty, 1 fresh, 2 live, 3 BUSY/TOMB, 4 none */
        uint64_t victim_freq = 4, victim_dist = 0;
        /* An empty slot in the emptier bucket (first bucket on ties). */
        unsigned empty[2] = {0, 0}, first_empty[2] = {0, 0};
        for (unsigned i = ncand; i-- > 0;) {
            if (m[i] == 0) {
                empty[i / WAYS]++;
                first_empty[i / WAYS] = i;
            }
        }
        if (empty[0] + empty[1] > 0) {
            victim = empty[0] >= empty[1] ? first_empty[0] : first_empty[1];
            victim_class = 0;
        }
        for (unsigned i = 0; i < ncand && victim_class > 1; i++) {
            if ((m[i] & AGE_MASK) == BUSY_AGE) {
                if (victim_class == 4 && rounds >= LAST_RESORT) {
                    victim = i;
                    victim_class = 3;
                }
                continue;
            }
            uint64_t st = atomic_load_explicit(AWORD(&c[i]->state), memory_order_relaxed);
            if (gwlb_limiter_state_is_fresh(&t->policy, st, now)) {
                victim = i;
                victim_class = 1;
                break;
            }
            uint64_t freq = (m[i] & FREQ_MASK) >> FREQ_SHIFT;
            uint64_t dist = (age - (m[i] & AGE_MASK)) & AGE_MASK;
            if (victim_class > 2 || freq < victim_freq ||
                (freq == victim_freq && dist > victim_dist)) {
                victim = i;
                victim_class = 2;
                victim_freq = freq;
                victim_dist = dist;
            }
        }
        if (victim_class == 4)
            continue; /* all eight in flight: they finish in nanoseconds */
        uint64_t expected = m[victim];
        if (!atomic_compare_exchange_strong_explicit(AWORD(&c[victim]->meta), &expected, busy,
                                                     memory_order_seq_cst, memory_order_relaxed))
            continue; /* someone else changed this bucket: look again */
        if (victim_class == 1)
            count(&t->evicted_fresh);
        else if (victim_class == 2)
            count(&t->evicted_live);

        /* Re-scan: is the key published or being inserted elsewhere? */
        slot *found = NULL;
        int yield = 0;
        for (unsigned i = 0; i < ncand && found == NULL && !yield; i++) {
            if (i == victim)
                continue;
            uint64_t x = atomic_load_explicit(AWORD(&c[i]->meta), memory_order_seq_cst);
            if (x == busy) {
                if (i < victim) {
                    yield = 1; /* the lower candidate wins */
                    break;
                }
                x = wait_or_revoke(c[i], busy); /* a higher one yields to us */
            }
            if ((x & FP_MASK) == fp && (x & AGE_MASK) != BUSY_AGE)
                found = c[i]; /* published by someone else */
        }
        if (found != NULL || yield) {
            release_claim(c[victim], busy);
            if (found != NULL)
                return found;
            continue;
        }
        /* Publish: the state word is zero before the meta makes it visible. */
        atomic_store_explicit(AWORD(&c[victim]->state), 0, memory_order_relaxed);
        expected = busy;
        if (!atomic_compare_exchange_strong_explicit(AWORD(&c[victim]->meta), &expected, fp | age,
                                                     memory_order_seq_cst, memory_order_relaxed)) {
            release_claim(c[victim], busy); /* revoked (TOMB): clear it, look again */
            continue;
        }
        count(&t->inserts);
        return c[victim];
    }
}

static int check_key(const gwlb_limiter_table *t, const void *key, size_t len)
{
    if (t == NULL || (key == NULL && len != 0))
        return GWLB_EINVAL;
    if (len == 0)
        return GWLB_EMPTY;
    if (len > GWLB_LIMITER_KEY_MAX)
        return GWLB_ETOOLONG;
    return GWLB_OK;
}

/*
 * The hit path: the key is published in one of its two buckets. Both lines
 * were prefetched right after hashing, so a key in its second bucket costs
 * one miss latency, not two. Scans in the same order as find_slot (bucket
 * 1 then 2, slot 0..3) and touches freq/age the same way; anything else
 * (not found, a claim in flight) goes to find_slot's full protocol.
 */
static inline slot *touch(slot *sl, uint64_t m, uint64_t fp, uint64_t age, int exclusive)
{
    uint64_t freq = (m & FREQ_MASK) >> FREQ_SHIFT;
    uint64_t nm = fp | ((freq < 3 ? freq + 1 : 3) << FREQ_SHIFT) | age;
    /* Touch only on change: a steady key writes its meta at most once per
     * age tick. A lost race here is harmless. */
    if (nm != m) {
        if (exclusive)
            atomic_store_explicit(AWORD(&sl->meta), nm, memory_order_release);
        else
            atomic_compare_exchange_strong_explicit(AWORD(&sl->meta), &m, nm,
                                                    memory_order_acq_rel, memory_order_relaxed);
    }
    return sl;
}

/* 1 for a published entry of fp (not a BUSY/TOMB claim, whose age is
 * 0xffff). One compare: with the freq bits masked off, m ^ fp is below
 * 0xffff exactly when the fingerprint bits are equal and the age is not
 * 0xffff (fp itself has zero freq and age bits). */
static inline unsigned published_of(uint64_t m, uint64_t fp)
{
    return ((m ^ fp) & ~FREQ_MASK) < BUSY_AGE;
}

/*
 * The first published match in find_slot's order (bucket 1 slot 0..3,
 * then bucket 2), picked with a count-trailing-zeros over the compares of
 * one bucket. Bucket 2 is looked at only when bucket 1 has no match: both
 * lines were prefetched together, but a key found in bucket 1 does not
 * wait for the slower of the two lines (measured at 1M keys: 184 -> 171
 * ns per call, 177 -> 165 exclusive; the branch mispredicts for keys in
 * their second bucket, which costs less than waiting for both misses).
 */
static inline slot *lookup_published(gwlb_limiter_table *t, const probe *pr, uint64_t now,
                                     int exclusive)
{
    const uint64_t fp = pr->fp;
    slot *s1 = bucket_slots(t, pr->b1), *s2 = bucket_slots(t, pr->b2);
#define META(s, i) atomic_load_explicit(AWORD(&(s)[i].meta), memory_order_acquire)
    unsigned mask = published_of(META(s1, 0), fp) | published_of(META(s1, 1), fp) << 1 |
                    published_of(META(s1, 2), fp) << 2 | published_of(META(s1, 3), fp) << 3;
    if (mask == 0) /* not in the first bucket: only now wait for the second line */
        mask = published_of(META(s2, 0), fp) << 4 | published_of(META(s2, 1), fp) << 5 |
               published_of(META(s2, 2), fp) << 6 | published_of(META(s2, 3), fp) << 7;
#undef META
    _Static_assert(WAYS == 4, "the scan above is written out for 4 ways");
    if (pr->ncand == WAYS) /* one-bucket table: b2 is b1 again */
        mask &= (1u << WAYS) - 1;
    if (mask == 0)
        return NULL;
    unsigned i = (unsigned)__builtin_ctz(mask);
    slot *sl = (i < WAYS ? s1 : s2) + (i & (WAYS - 1));
    uint64_t m = atomic_load_explicit(AWORD(&sl->meta), memory_order_acquire);
    if (!published_of(m, fp)) /* changed since the scan: take the slow path */
        return NULL;
    return touch(sl, m, fp, age_of(now), exclusive);
}

static inline void count_x(uint64_t *counter, int exclusive)
{
    if (exclusive)
        atomic_store_explicit(AWORD(counter),
                              atomic_load_explicit(AWORD(counter), memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        count(counter);
}

/* Hash a key and start loading both of its candidate lines. */
static inline void probe_and_prefetch(gwlb_limiter_table *table, const void *key, size_t key_len,
                                      probe *pr)
{
    probe_of(table, key, key_len, pr);
    PREFETCH_W(bucket_slots(table, pr->b1));
    PREFETCH_W(bucket_slots(table, pr->b2));
}

/* One request on a probed key (input already validated). */
static inline int table_decide(gwlb_limiter_table *table, const probe *pr, uint64_t now,
                               uint64_t cost, gwlb_limit_result *result, int exclusive)
{
    int rc;
    const gwlb_limiter_policy *p = &table->policy;
    slot *s = lookup_published(table, pr, now, exclusive);
    if (s == NULL)
        s = find_slot(table, pr, now, cost != 0);

    if (s != NULL && p->kind == GWLB_LIMITER_GCRA && !(p->flags & GWLB_LIMITER_DRY_RUN)) {
        /* The common policy, inlined: one CAS (exclusive: one store). */
        const gwlb_gcra_config *g = &p->u.gcra;
        uint64_t old = atomic_load_explicit(AWORD(&s->state), memory_order_relaxed);
        uint64_t base, after;
        int allowed;
        for (;;) {
            allowed = gwlb__gcra_step(g, old, now, cost, &base, &after);
            if (!allowed || cost == 0)
                break;
            if (exclusive) {
                atomic_store_explicit(AWORD(&s->state), after, memory_order_relaxed);
                break;
            }
            if (atomic_compare_exchange_weak_explicit(AWORD(&s->state), &old, after,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed))
                break;
        }
        if (result != NULL)
            gwlb__gcra_result(g, now, cost, base, after, allowed, result);
        if (!allowed)
            count_x(&table->rejected, exclusive);
        return GWLB_OK;
    }

    gwlb_limit_result local;
    gwlb_limit_result *r = result != NULL ? result : &local;
    uint64_t before, after;
    if (s == NULL) {
        uint64_t fresh = 0; /* a peek at an untracked key: it is fresh */
        rc = gwlb__limiter_apply(p, &fresh, now, 0, r, &before, &after);
    } else {
        rc = gwlb__limiter_apply(p, &s->state, now, cost, r, &before, &after);
    }
    if (rc != GWLB_OK)
        return rc;
    if (!r->allowed)
        count_x(&table->rejected, exclusive);
    else if (r->dry_run_limited)
        count_x(&table->dry_run_limited, exclusive);
    return GWLB_OK;
}

static inline int table_allow(gwlb_limiter_table *table, const void *key, size_t key_len,
                              uint64_t now, uint64_t cost, gwlb_limit_result *result,
                              int exclusive)
{
    int rc = check_key(table, key, key_len);
    if (rc != GWLB_OK)
        return rc;
    if (table->policy.kind == GWLB_LIMITER_LIMIT_REQ && cost > 1)
        return GWLB_ERANGE;
    probe pr;
    probe_and_prefetch(table, key, key_len, &pr);
    return table_decide(table, &pr, now, cost, result, exclusive);
}

int gwlb_limiter_table_allow(gwlb_limiter_table *table, const void *key, size_t key_len,
                             uint64_t now, uint64_t cost, gwlb_limit_result *result)
{
    return table_allow(table, key, key_len, now, cost, result, 0);
}

/*
 * A batch: every key is validated, then hashed with both candidate lines
 * prefetched, and only then decided one by one in order. The n cache
 * misses overlap instead of following each other; the decisions are those
 * of n calls of gwlb_limiter_table_allow in the same order.
 */
int gwlb_limiter_table_allow_batch(gwlb_limiter_table *table, const void *const *keys,
                                   const size_t *key_lens, size_t n, uint64_t now,
                                   uint64_t cost, gwlb_limit_result *results)
{
    if (table == NULL || (n != 0 && (keys == NULL || key_lens == NULL)))
        return GWLB_EINVAL;
    if (n > GWLB_LIMITER_TABLE_BATCH_MAX)
        return GWLB_ERANGE;
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(table, keys[i], key_lens[i]);
        if (rc != GWLB_OK)
            return rc;
    }
    if (table->policy.kind == GWLB_LIMITER_LIMIT_REQ && cost > 1)
        return GWLB_ERANGE;
    probe pr[GWLB_LIMITER_TABLE_BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        probe_and_prefetch(table, keys[i], key_lens[i], &pr[i]);
    for (size_t i = 0; i < n; i++) {
        int rc = table_decide(table, &pr[i], now, cost, results != NULL ? &results[i] : NULL, 0);
        if (rc != GWLB_OK)
            return rc; /* not reached: the input was validated above */
    }
    return GWLB_OK;
}

/* Hash and prefetch only: the lookup a later call makes starts loading
 * now. Nothing is read but the key and the header, nothing written. A read
 * prefetch: GCC drops a write prefetch through a pointer to const (a lone
 * core gets the line exclusive anyway, so the later CAS needs no upgrade). */
int gwlb_limiter_table_prefetch(const gwlb_limiter_table *table, const void *key,
                                size_t key_len)
{
    int rc = check_key(table, key, key_len);
    if (rc != GWLB_OK)
        return rc;
    probe pr;
    probe_of(table, key, key_len, &pr);
    const unsigned char *slots = (const unsigned char *)table + GWLB_LIMITER_TABLE_HEADER;
    PREFETCH_R(slots + pr.b1 * GWLB_LIMITER_TABLE_BUCKET);
    PREFETCH_R(slots + pr.b2 * GWLB_LIMITER_TABLE_BUCKET);
    return GWLB_OK;
}

int gwlb_limiter_table_allow_exclusive(gwlb_limiter_table *table, const void *key,
                                       size_t key_len, uint64_t now, uint64_t cost,
                                       gwlb_limit_result *result)
{
    return table_allow(table, key, key_len, now, cost, result, 1);
}

int gwlb_limiter_table_state(gwlb_limiter_table *table, const void *key, size_t key_len,
                             uint64_t now, uint64_t **state_word)
{
    int rc = check_key(table, key, key_len);
    if (rc != GWLB_OK)
        return rc;
    if (state_word == NULL)
        return GWLB_EINVAL;
    probe pr;
    probe_of(table, key, key_len, &pr);
    slot *s = lookup_published(table, &pr, now, 0);
    if (s == NULL)
        s = find_slot(table, &pr, now, 1);
    *state_word = &s->state;
    return GWLB_OK;
}

int gwlb_limiter_table_stats_get(const gwlb_limiter_table *table, gwlb_limiter_table_stats *st)
{
    if (table == NULL || st == NULL)
        return GWLB_EINVAL;
    gwlb_limiter_table *t = (gwlb_limiter_table *)table;
    st->capacity = t->nbuckets * WAYS;
    st->used = 0;
    for (uint64_t b = 0; b < t->nbuckets; b++) {
        slot *s = bucket_slots(t, b);
        for (unsigned i = 0; i < WAYS; i++)
            st->used += atomic_load_explicit(AWORD(&s[i].meta), memory_order_relaxed) != 0;
    }
    st->inserts = atomic_load_explicit(AWORD(&t->inserts), memory_order_relaxed);
    st->evicted_fresh = atomic_load_explicit(AWORD(&t->evicted_fresh), memory_order_relaxed);
    st->evicted_live = atomic_load_explicit(AWORD(&t->evicted_live), memory_order_relaxed);
    st->rejected = atomic_load_explicit(AWORD(&t->rejected), memory_order_relaxed);
    st->dry_run_limited = atomic_load_explicit(AWORD(&t->dry_run_limited), memory_order_relaxed);
    return GWLB_OK;
}
