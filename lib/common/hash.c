/*
 * The library's documented hash functions.
 *
 *   gwlb_hash64     xxHash64 (XXH64): fast, non-keyed, for keys whose
 *                   placement must be identical on every machine.
 *   gwlb_siphash*   SipHash-2-4 / 1-3: keyed, for tables whose keys the
 *                   client chooses (hash flooding resistance).
 *
 * Both read input bytes little-endian regardless of the host byte order,
 * so results are the same on every machine.
 */
#include <string.h>

#include "gwlb/common.h"
#include "hash_inline.h"

/* ---- xxHash64 ---- */

#define P1 GWLB__XXH_P1
#define P2 GWLB__XXH_P2
#define P5 GWLB__XXH_P5

static inline uint64_t xx_merge(uint64_t acc, uint64_t val)
{
    acc ^= gwlb__xxh_round(0, val);
    return acc * P1 + GWLB__XXH_P4;
}

/* The last rem < 32 bytes folded into h (8-byte lanes, then a 4-byte lane,
 * then single bytes, as XXH64 orders them), then the avalanche. Straight
 * code on the bits of rem: no loop for the 8-byte lanes. */
static inline uint64_t xx_finish(const uint8_t *p, size_t rem, uint64_t h)
{
    if (rem & 16) {
        h = gwlb__xxh_lane8(h, gwlb__le64(p));
        h = gwlb__xxh_lane8(h, gwlb__le64(p + 8));
        p += 16;
    }
    if (rem & 8) {
        h = gwlb__xxh_lane8(h, gwlb__le64(p));
        p += 8;
    }
    if (rem & 4) {
        h = gwlb__xxh_lane4(h, gwlb__le32(p));
        p += 4;
    }
    for (size_t i = 0; i < (rem & 3); i++) {
        h ^= p[i] * P5;
        h = gwlb__rotl64(h, 11) * P1;
    }
    return gwlb__xxh_avalanche(h);
}

/* Inputs of 32 bytes or more: four lanes over the 32-byte stripes first.
 * Out of line, so the short keys of the hot paths do not pay for its
 * registers. */
static __attribute__((noinline)) uint64_t xx_long(const uint8_t *p, size_t len, uint64_t seed)
{
    const uint8_t *end = p + len;
    const uint8_t *limit = end - 32;
    uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    do {
        v1 = gwlb__xxh_round(v1, gwlb__le64(p));
        v2 = gwlb__xxh_round(v2, gwlb__le64(p + 8));
        v3 = gwlb__xxh_round(v3, gwlb__le64(p + 16));
        v4 = gwlb__xxh_round(v4, gwlb__le64(p + 24));
        p += 32;
    } while (p <= limit);
    uint64_t h = gwlb__rotl64(v1, 1) + gwlb__rotl64(v2, 7) + gwlb__rotl64(v3, 12) +
                 gwlb__rotl64(v4, 18);
    h = xx_merge(h, v1);
    h = xx_merge(h, v2);
    h = xx_merge(h, v3);
    h = xx_merge(h, v4);
    return xx_finish(p, (size_t)(end - p), h + (uint64_t)len);
}

uint64_t gwlb_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    if (len >= 32)
        return xx_long(p, len, seed);
    return xx_finish(p, len, seed + P5 + (uint64_t)len);
}

/* ---- SipHash ---- */

uint64_t gwlb_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    return gwlb__siphash(key, data, len, 2, 4);
}

uint64_t gwlb_siphash13(const uint8_t key[16], const void *data, size_t len)
{
    return gwlb__siphash(key, data, len, 1, 3);
}
