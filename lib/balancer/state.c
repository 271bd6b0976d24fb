/*
 * The balancer's runtime-state region: formatting/attaching host memory and
 * the identity-keyed slot table (see the drawing in balancer_internal.h).
 *
 * Key idea: a slot is claimed by CAS on its `owner` word, so processes that
 * build balancers independently over one MAP_SHARED region agree on which
 * slot belongs to which host identity, without a lock and without pointers.
 */
#include <string.h>

#include "balancer_internal.h"

__extension__ typedef unsigned __int128 gwlb__u128;

#define STATE_OWNED_MARK UINT64_C(0x6f776e6564) /* header.pad0 of state_new regions */
#define CLAIM_SPIN_LIMIT 100000000u

size_t gwlb_balancer_state_size(uint32_t capacity)
{
    if (capacity == 0 || capacity > GWLB_BALANCER_HOSTS_MAX)
        return 0;
    return sizeof(gwlb__bstate_header) + (size_t)capacity * sizeof(gwlb__bslot);
}

int gwlb_balancer_state_init(void *memory, size_t size, uint32_t capacity,
                             gwlb_balancer_state **out)
{
    if (memory == NULL || out == NULL || ((uintptr_t)memory & 63) != 0)
        return GWLB_EINVAL;
    size_t need = gwlb_balancer_state_size(capacity);
    if (need == 0)
        return GWLB_ERANGE;
    if (size < need)
        return GWLB_ENOSPC;
    gwlb_balancer_state *st = memory;
    memset(st, 0, need);
    st->h.version = GWLB__BSTATE_VERSION;
    st->h.capacity = capacity;
    st->h.size = need;
    st->h.instance = gwlb_mix64((uint64_t)(uintptr_t)memory ^ ((uint64_t)capacity << 40) ^
                                UINT64_C(0x5bd1e995a1b2c3d4)) |
                     UINT64_C(2);
    atomic_store_explicit(GWLB__A64(&st->h.magic), GWLB__BSTATE_MAGIC, memory_order_release);
    *out = st;
    return GWLB_OK;
}

int gwlb_balancer_state_attach(void *memory, size_t size, gwlb_balancer_state **out)
{
    if (memory == NULL || out == NULL || ((uintptr_t)memory & 63) != 0 ||
        size < sizeof(gwlb__bstate_header))
        return GWLB_EINVAL;
    gwlb_balancer_state *st = memory;
    if (atomic_load_explicit(GWLB__A64(&st->h.magic), memory_order_acquire) !=
        GWLB__BSTATE_MAGIC)
        return GWLB_EINVAL;
    if (st->h.version != GWLB__BSTATE_VERSION)
        return GWLB_EVERSION;
    if (gwlb_balancer_state_size(st->h.capacity) != st->h.size)
        return GWLB_EINVAL;
    if (size < st->h.size)
        return GWLB_ENOSPC;
    *out = st;
    return GWLB_OK;
}

/* state_new regions: [pad | meta (64 bytes) | state...], meta just before the state */
typedef struct state_meta {
    gwlb_allocator alloc;
    void *raw;
    size_t raw_size;
} state_meta;

int gwlb_balancer_state_new(uint32_t capacity, const gwlb_allocator *allocator,
                            gwlb_balancer_state **out)
{
    if (out == NULL)
        return GWLB_EINVAL;
    size_t need = gwlb_balancer_state_size(capacity);
    if (need == 0)
        return GWLB_ERANGE;
    gwlb_allocator a;
    gwlb__allocator_resolve(&a, allocator);
    size_t raw_size = need + 128;
    char *raw = gwlb__alloc(&a, raw_size);
    if (raw == NULL)
        return GWLB_ENOMEM;
    char *mem = (char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) + 64;
    state_meta meta = {a, raw, raw_size};
    memcpy(mem - 64, &meta, sizeof meta);
    gwlb_balancer_state *st;
    (void)gwlb_balancer_state_init(mem, need, capacity, &st);
    st->h.pad0 = STATE_OWNED_MARK;
    *out = st;
    return GWLB_OK;
}

void gwlb_balancer_state_free(gwlb_balancer_state *state)
{
    if (state == NULL || state->h.pad0 != STATE_OWNED_MARK)
        return;
    state_meta meta;
    memcpy(&meta, (char *)state - 64, sizeof meta);
    state->h.magic = 0;
    gwlb__free(&meta.alloc, meta.raw, meta.raw_size);
}

uint32_t gwlb_balancer_state_capacity(const gwlb_balancer_state *state)
{
    return state == NULL ? 0 : state->h.capacity;
}

/* ---- Slot claims ----------------------------------------------------------- */

static uint64_t owner_tag(uint64_t key)
{
    uint64_t tag = key >> GWLB__OWNER_REFS_BITS; /* 40 bits */
    if (tag == 0)
        tag = 1;
    if (tag == (UINT64_MAX >> GWLB__OWNER_REFS_BITS))
        tag--; /* never looks like LOCKED */
    return tag;
}

static void slot_reset(gwlb_balancer_state *st, gwlb__bslot *s, uint64_t key)
{
    gwlb__st32(&s->flags, 0);
    gwlb__st32(&s->in_flight, 0);
    gwlb__slot_clear_fails(st, s);
    gwlb__slot_set_limit(st, s, 0);
    atomic_store_explicit(GWLB__AI32(&s->effective_weight), 0, memory_order_relaxed);
    atomic_store_explicit(GWLB__AI64(&s->current_weight), 0, memory_order_relaxed);
    gwlb__st64(&s->checked, 0);
    gwlb__st64(&s->accessed, 0);
    gwlb__st32(&s->weight, 0); /* 0: "new", build sets it */
    gwlb__st32(&s->max_fails, 0);
    gwlb__st32(&s->single, 0);
    gwlb__st64(&s->key, key);
    gwlb__st64(&s->fail_timeout, 0);
    gwlb__st64(&s->ewma_cost, 0);
    gwlb__st64(&s->ewma_stamp, 0);
    gwlb__st64(&s->slow_start, GWLB__SS_NONE);
    gwlb__st64(&s->failures, 0);
}

/*
 * Find or claim the slot of identity hash `key` and take a reference.
 * *fresh = 1 when the slot was (re)initialised for this identity.
 */
int gwlb__state_claim(gwlb_balancer_state *st, uint64_t key, uint32_t *slot, int *fresh)
{
    uint32_t cap = st->h.capacity;
    uint64_t tag = owner_tag(key);
    uint32_t home = (uint32_t)(((gwlb__u128)key * cap) >> 64);
    uint32_t dormant = UINT32_MAX;
    for (uint32_t i = 0; i < cap; i++) {
        uint32_t idx = home + i < cap ? home + i : home + i - cap;
        gwlb__bslot *s = &st->slots[idx];
        _Atomic uint64_t *ow = GWLB__A64(&s->owner);
        uint32_t spins = 0;
        for (;;) {
            uint64_t o = atomic_load_explicit(ow, memory_order_acquire);
            if (o == GWLB__OWNER_LOCKED) {
                if (++spins > CLAIM_SPIN_LIMIT)
                    return GWLB_EBUSY;
                continue;
            }
            if (o == 0) {
                uint64_t zero = 0;
                if (!atomic_compare_exchange_weak_explicit(ow, &zero, GWLB__OWNER_LOCKED,
                                                           memory_order_acquire,
                                                           memory_order_relaxed))
                    continue;
                slot_reset(st, s, key);
                atomic_store_explicit(ow, (tag << GWLB__OWNER_REFS_BITS) | 1,
                                      memory_order_release);
                atomic_fetch_add_explicit(GWLB__A64(&st->h.slots_used), 1,
                                          memory_order_relaxed);
                *slot = idx;
                *fresh = 1;
                return GWLB_OK;
            }
            if ((o >> GWLB__OWNER_REFS_BITS) == tag && gwlb__ld64(&s->key) == key) {
                if ((o & GWLB__OWNER_REFS_MASK) == GWLB__OWNER_REFS_MASK - 1)
                    return GWLB_ELIMIT;
                if (!atomic_compare_exchange_weak_explicit(ow, &o, o + 1, memory_order_acq_rel,
                                                           memory_order_relaxed))
                    continue;
                *slot = idx;
                *fresh = (o & GWLB__OWNER_REFS_MASK) == 0 ? 2 : 0; /* 2: revived */
                return GWLB_OK;
            }
            if ((o & GWLB__OWNER_REFS_MASK) == 0 && dormant == UINT32_MAX &&
                gwlb__ld32(&s->in_flight) == 0)
                dormant = idx;
            break;
        }
    }
    if (dormant == UINT32_MAX)
        return GWLB_EFULL;
    /* No empty slot left: reclaim a dormant one (refs 0, nothing in flight). */
    gwlb__bslot *s = &st->slots[dormant];
    _Atomic uint64_t *ow = GWLB__A64(&s->owner);
    uint64_t o = atomic_load_explicit(ow, memory_order_acquire);
    if (o == 0 || o == GWLB__OWNER_LOCKED || (o & GWLB__OWNER_REFS_MASK) != 0 ||
        !atomic_compare_exchange_strong_explicit(ow, &o, GWLB__OWNER_LOCKED,
                                                 memory_order_acquire, memory_order_relaxed))
        return GWLB_EFULL;
    if (gwlb__ld32(&s->in_flight) != 0) {
        atomic_store_explicit(ow, o, memory_order_release);
        return GWLB_EFULL;
    }
    slot_reset(st, s, key);
    atomic_store_explicit(ow, (tag << GWLB__OWNER_REFS_BITS) | 1, memory_order_release);
    *slot = dormant;
    *fresh = 1;
    return GWLB_OK;
}

/* Drop one reference taken by gwlb__state_claim. */
void gwlb__state_unref(gwlb_balancer_state *st, uint32_t slot)
{
    atomic_fetch_sub_explicit(GWLB__A64(&st->slots[slot].owner), 1, memory_order_acq_rel);
}
