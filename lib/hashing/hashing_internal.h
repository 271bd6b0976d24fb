/*
 * Internal layout of gwlb_hash_table, shared by the hashing sources and the
 * tests (which reach hidden helpers through the static library). Never
 * installed.
 *
 *   gwlb_hash_table
 *   ├─ hosts:    weight[n], identity offsets/lengths into one byte pool
 *   ├─ by_id:    host indices sorted by identity (find, Maglev fill order)
 *   ├─ cum:      cumulative weights, n+1 (nginx ip_hash / hash peer walk)
 *   ├─ points:   sorted ring points: hash + host (nginx consistent: 32-bit
 *   │            CRC points; ring: 64-bit xxHash points), plus an index of
 *   │            the first point per top-bits bucket (about 2 points per
 *   │            bucket), so a lookup is one index load and a short scan
 *   ├─ maglev:   M slots of host indices (uint16 when n < 65536)
 *   ├─ host_hash: xxHash64 of each identity (rendezvous)
 *   ├─ sticky:   (tag, host) sorted by tag
 *   └─ steps:    a few step sizes coprime to n for the retry walk
 */
#ifndef GWLB_HASHING_INTERNAL_H
#define GWLB_HASHING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gwlb/hashing.h"
#include "hash_inline.h"
#include "internal.h"

#define GWLB__HASH_STEPS 8

typedef struct gwlb__sticky_entry {
    uint64_t tag;
    uint32_t host;
    uint32_t pad;
} gwlb__sticky_entry;

struct gwlb_hash_table {
    gwlb_allocator alloc;
    uint32_t algorithm;
    uint32_t count;
    uint64_t total_weight;
    uint32_t uniform_weight; /* 1 when every weight is equal */
    uint32_t max_weight;

    uint32_t *weight;      /* count */
    uint32_t *id_offset;   /* count */
    uint8_t *id_len;       /* count */
    uint8_t *id_bytes;     /* sum of identity lengths */
    size_t id_bytes_size;
    uint32_t *by_id;       /* count, host indices sorted by identity */

    uint64_t *cum;         /* count + 1 (nginx ip/hash) */

    uint32_t point_count;  /* ring / nginx consistent */
    uint32_t *point32;     /* nginx consistent: CRC points */
    uint64_t *point64;     /* ring: xxHash points */
    uint32_t *point_host;
    uint32_t *point_index; /* 2^index_bits: first point of each top-bits bucket */
    uint32_t index_bits;

    uint32_t maglev_size;  /* M */
    uint16_t *maglev16;
    uint32_t *maglev32;

    uint64_t *host_hash;   /* rendezvous */

    uint32_t sticky_enabled;
    uint8_t sticky_key[16];
    gwlb__sticky_entry *sticky; /* count, sorted by tag */

    uint32_t step_count;
    uint32_t steps[GWLB__HASH_STEPS];
    uint64_t count_mu;     /* UINT64_MAX / count: x % count without a divide */
    uint64_t steps_mu;     /* UINT64_MAX / step_count */

    size_t memory;
};

/* Attempt flags. */
#define GWLB__ATTEMPT_STARTED 1u
#define GWLB__ATTEMPT_WALKING 2u /* past the primary, on the coprime walk */

/* Is n prime? (deterministic trial division; n < 2^32) */
GWLB__HIDDEN int gwlb__hash_is_prime(uint64_t n);

/*
 * Maglev population (the paper's Listing 1 with Envoy-style weights): fill
 * `table[0..m)` (m prime) with entries 0..n-1 given each entry's offset and
 * skip (already reduced: offset < m, 1 <= skip < m) and weight; entries are
 * visited in array order each round and an entry of weight w takes a turn
 * in a round r when r * w >= its running target (target starts at w and
 * grows by max weight per turn). Scratch: `occupied` (m + 63) / 64 words,
 * `next` and `target` n entries, `free_slots` gwlb__maglev_late_slots(m)
 * entries. Exposed so the paper's small example can be checked exactly;
 * the builder runs the same loop writing host indices into its table.
 */
GWLB__HIDDEN void gwlb__maglev_fill(uint32_t m, uint32_t n, const uint32_t *offset,
                                    const uint32_t *skip, const uint32_t *weight,
                                    uint32_t *table, uint64_t *occupied, uint32_t *next,
                                    uint64_t *target, uint32_t *free_slots);

/* How many free slots the Maglev fill lists for its last turns (isqrt(m)). */
GWLB__HIDDEN uint32_t gwlb__maglev_late_slots(uint32_t m);

/* Split an nginx server string into host and port parts as nginx's
 * consistent hash does. */
GWLB__HIDDEN void gwlb__nginx_server_parts(const uint8_t *s, size_t len, size_t *host_off,
                                           size_t *host_len, size_t *port_off,
                                           size_t *port_len);

/* Maglev slot of a key hash: multiply-shift range reduction of the high
 * 32 bits (uniform, and no division on the lookup path). */
static inline uint32_t gwlb__maglev_slot(uint64_t h, uint32_t m)
{
    return (uint32_t)(((h >> 32) * (uint64_t)m) >> 32);
}

/* x % n, given mu = UINT64_MAX / n (n >= 1): the multiply-high quotient
 * estimate is at most two below the true one, so at most two corrections;
 * the result is exactly x % n. */
static inline uint64_t gwlb__mod(uint64_t x, uint64_t n, uint64_t mu)
{
    __extension__ typedef unsigned __int128 gwlb__u128;
    uint64_t q = (uint64_t)(((gwlb__u128)x * mu) >> 64);
    uint64_t r = x - q * n;
    while (r >= n)
        r -= n;
    return r;
}

/* Host index of a Maglev slot. */
static inline uint32_t gwlb__maglev_at(const gwlb_hash_table *t, uint32_t slot)
{
    return t->maglev16 != NULL ? t->maglev16[slot] : t->maglev32[slot];
}

/* ---- the key hash: gwlb_hash64(key, len, 0), short keys inline ------------
 *
 * The same function with the same output (XXH64, seed 0, bytes read
 * little-endian): for 4, 8 and 16 bytes the general code reduces to a few
 * multiplies, written out here so a lookup pays no call, no length loop and
 * no 32-byte-stripe setup. The tests compare it with gwlb_hash64 for every
 * length. */

/* Keys of 4, 8 or 16 bytes (the inline cases). */
static inline int gwlb__hash_key_is_short(size_t len)
{
    return len == 16 || len == 8 || len == 4;
}

/* gwlb_hash64(key, len, 0) for a short key (gwlb__hash_key_is_short). */
static inline uint64_t gwlb__hash_key_short(const uint8_t *p, size_t len)
{
    uint64_t h = GWLB__XXH_P5 + (uint64_t)len;
    if (len == 16) {
        h = gwlb__xxh_lane8(h, gwlb__le64(p));
        h = gwlb__xxh_lane8(h, gwlb__le64(p + 8));
        return gwlb__xxh_avalanche(h);
    }
    if (len == 8)
        return gwlb__xxh_avalanche(gwlb__xxh_lane8(h, gwlb__le64(p)));
    return gwlb__xxh_avalanche(gwlb__xxh_lane4(h, gwlb__le32(p)));
}

/* gwlb_hash64(key, len, 0). */
static inline uint64_t gwlb__hash_key(const void *key, size_t len)
{
    if (gwlb__hash_key_is_short(len))
        return gwlb__hash_key_short(key, len);
    return gwlb_hash64(key, len, 0);
}

/* gwlb_crc32_update (nginx's CRC-32, state not finalised), slicing-by-8;
 * defined in lib/common/crc32.c, called directly (no PLT) from here. */
GWLB__HIDDEN uint32_t gwlb__crc32_update_fast(uint32_t crc, const void *data, size_t len);

/* Natural logarithm for x in (0, 1], libm-free and bit-reproducible. */
GWLB__HIDDEN double gwlb__hash_ln(double x);

#endif /* GWLB_HASHING_INTERNAL_H */
