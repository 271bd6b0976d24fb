/*
 * Internal: the cores of the library's hash functions as static inline code,
 * shared by lib/common/hash.c (the exported gwlb_hash64 / gwlb_siphash*) and
 * by hot paths that hash short keys without a call (the hashing tables' key
 * hash, the keyed limiter table). One definition, so an inlined hash can
 * never drift from the exported one. Bytes are read little-endian.
 */
#ifndef GWLB_HASH_INLINE_H
#define GWLB_HASH_INLINE_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t gwlb__le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t gwlb__le32(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t gwlb__rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* ---- xxHash64 ---- */

#define GWLB__XXH_P1 UINT64_C(0x9E3779B185EBCA87)
#define GWLB__XXH_P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define GWLB__XXH_P3 UINT64_C(0x165667B19E3779F9)
#define GWLB__XXH_P4 UINT64_C(0x85EBCA77C2B2AE63)
#define GWLB__XXH_P5 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t gwlb__xxh_round(uint64_t acc, uint64_t input)
{
    return gwlb__rotl64(acc + input * GWLB__XXH_P2, 31) * GWLB__XXH_P1;
}

/* One 8-byte lane of the tail folded into the running state. */
static inline uint64_t gwlb__xxh_lane8(uint64_t h, uint64_t v)
{
    h ^= gwlb__xxh_round(0, v);
    return gwlb__rotl64(h, 27) * GWLB__XXH_P1 + GWLB__XXH_P4;
}

/* One 4-byte lane of the tail. */
static inline uint64_t gwlb__xxh_lane4(uint64_t h, uint64_t v)
{
    h ^= v * GWLB__XXH_P1;
    return gwlb__rotl64(h, 23) * GWLB__XXH_P2 + GWLB__XXH_P3;
}

static inline uint64_t gwlb__xxh_avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= GWLB__XXH_P2;
    h ^= h >> 29;
    h *= GWLB__XXH_P3;
    h ^= h >> 32;
    return h;
}

/* ---- SipHash-c-d ---- */

#define GWLB__SIPROUND(v0, v1, v2, v3)                                                       \
    do {                                                                                     \
        v0 += v1;                                                                            \
        v1 = gwlb__rotl64(v1, 13) ^ v0;                                                      \
        v0 = gwlb__rotl64(v0, 32);                                                           \
        v2 += v3;                                                                            \
        v3 = gwlb__rotl64(v3, 16) ^ v2;                                                      \
        v0 += v3;                                                                            \
        v3 = gwlb__rotl64(v3, 21) ^ v0;                                                      \
        v2 += v1;                                                                            \
        v1 = gwlb__rotl64(v1, 17) ^ v2;                                                      \
        v2 = gwlb__rotl64(v2, 32);                                                           \
    } while (0)

/* SipHash with c compression and d finalisation rounds (constants at every
 * call site, so the round loops unroll when inlined). */
static inline uint64_t gwlb__siphash(const uint8_t key[16], const void *data, size_t len,
                                     int c_rounds, int d_rounds)
{
    const uint8_t *p = data;
    uint64_t k0 = gwlb__le64(key), k1 = gwlb__le64(key + 8);
    uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
    uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
    uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
    uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
    const uint8_t *end = p + (len & ~(size_t)7);

    for (; p != end; p += 8) {
        uint64_t m = gwlb__le64(p);
        v3 ^= m;
        for (int r = 0; r < c_rounds; r++)
            GWLB__SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    switch (len & 7) {
    case 7: b |= (uint64_t)p[6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[4] << 32; /* fall through */
    case 4: b |= (uint64_t)p[3] << 24; /* fall through */
    case 3: b |= (uint64_t)p[2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[0]; break;
    default: break;
    }
    v3 ^= b;
    for (int r = 0; r < c_rounds; r++)
        GWLB__SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d_rounds; r++)
        GWLB__SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

#endif
