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
#include <stdint.h>
#include <string.h>

#include "gwlb/common.h"
#include "hash_inline.h"
#include "internal.h"

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

/* ---- xxHash64 of many equal-length keys ----
 *
 * 8- and 16-byte keys take the whole XXH64 computation in 64-bit vector
 * lanes on CPUs with AVX-512 F+DQ (run-time check): 8 keys a register,
 * 16 keys (two independent registers) a turn so one register's multiplies
 * run while the other's wait; vpmullq for the 64-bit multiplies, vprolq for
 * the rotates. Packed 16-byte keys (stride 16) are two contiguous loads
 * split into first and second words by two permutes, packed 8-byte keys
 * one load; other strides are gathered. Left-over keys (count mod 8) and
 * every other length take the scalar gwlb_hash64, so every result is
 * bit-identical to it. */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HASH_BATCH_AVX512 1

#define HB_TARGET __attribute__((target("avx512f,avx512dq")))

HB_TARGET static inline __m512i hb_lane8(__m512i h, __m512i v)
{
    const __m512i p1 = _mm512_set1_epi64((long long)GWLB__XXH_P1);
    const __m512i p2 = _mm512_set1_epi64((long long)GWLB__XXH_P2);
    const __m512i p4 = _mm512_set1_epi64((long long)GWLB__XXH_P4);
    v = _mm512_mullo_epi64(_mm512_rol_epi64(_mm512_mullo_epi64(v, p2), 31), p1);
    h = _mm512_xor_si512(h, v);
    return _mm512_add_epi64(_mm512_mullo_epi64(_mm512_rol_epi64(h, 27), p1), p4);
}

HB_TARGET static inline __m512i hb_avalanche(__m512i h)
{
    const __m512i p2 = _mm512_set1_epi64((long long)GWLB__XXH_P2);
    const __m512i p3 = _mm512_set1_epi64((long long)GWLB__XXH_P3);
    h = _mm512_mullo_epi64(_mm512_xor_si512(h, _mm512_srli_epi64(h, 33)), p2);
    h = _mm512_mullo_epi64(_mm512_xor_si512(h, _mm512_srli_epi64(h, 29)), p3);
    return _mm512_xor_si512(h, _mm512_srli_epi64(h, 32));
}

/* The first and second 8-byte words of 8 keys starting at p. */
HB_TARGET static inline void hb_load(const uint8_t *p, size_t len, size_t stride, __m512i *w0,
                                     __m512i *w1)
{
    if (stride == 16 && len == 16) {
        const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
        __m512i a = _mm512_loadu_si512((const void *)p);
        __m512i b = _mm512_loadu_si512((const void *)(p + 64));
        *w0 = _mm512_permutex2var_epi64(a, even, b);
        *w1 = _mm512_permutex2var_epi64(a, odd, b);
        return;
    }
    if (stride == 8 && len == 8) {
        *w0 = _mm512_loadu_si512((const void *)p);
        return;
    }
    long long s = (long long)stride;
    __m512i idx = _mm512_set_epi64(7 * s, 6 * s, 5 * s, 4 * s, 3 * s, 2 * s, s, 0);
    *w0 = _mm512_i64gather_epi64(idx, (const void *)p, 1);
    if (len == 16)
        *w1 = _mm512_i64gather_epi64(idx, (const void *)(p + 8), 1);
}

/* out[i] for n (a multiple of 8) keys of len 8 or 16. */
HB_TARGET static void hb_avx512(const uint8_t *p, size_t len, size_t stride, uint32_t n,
                                uint64_t seed, uint64_t *out)
{
    const __m512i h0 = _mm512_set1_epi64((long long)(seed + P5 + (uint64_t)len));
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i a0, a1 = h0, b0, b1 = h0;
        hb_load(p, len, stride, &a0, &a1);
        hb_load(p + 8 * stride, len, stride, &b0, &b1);
        __m512i ha = hb_lane8(h0, a0), hb = hb_lane8(h0, b0);
        if (len == 16) {
            ha = hb_lane8(ha, a1);
            hb = hb_lane8(hb, b1);
        }
        _mm512_storeu_si512((void *)(out + i), hb_avalanche(ha));
        _mm512_storeu_si512((void *)(out + i + 8), hb_avalanche(hb));
        p += 16 * stride;
    }
    if (i < n) {
        __m512i a0, a1 = h0;
        hb_load(p, len, stride, &a0, &a1);
        __m512i ha = hb_lane8(h0, a0);
        if (len == 16)
            ha = hb_lane8(ha, a1);
        _mm512_storeu_si512((void *)(out + i), hb_avalanche(ha));
    }
}
#endif

/* path: 0 the best the CPU has, 1 scalar, 2 AVX-512 (GWLB_ENOTSUP when the
 * CPU or the build lacks it). For tests, so every path is checked. */
GWLB__HIDDEN int gwlb__hash64_batch_path(const void *keys, size_t key_len, size_t stride,
                                         uint32_t count, uint64_t seed, uint64_t *out,
                                         int path);
int gwlb__hash64_batch_path(const void *keys, size_t key_len, size_t stride, uint32_t count,
                            uint64_t seed, uint64_t *out, int path)
{
    size_t span; /* (count - 1) * stride + key_len, checked without a divide */
    if (stride < key_len || (count > 0 && (keys == NULL || out == NULL)) ||
        (count > 1 && (__builtin_mul_overflow((size_t)(count - 1), stride, &span) ||
                       __builtin_add_overflow(span, key_len, &span))))
        return GWLB_EINVAL;
    int wide = 0;
#ifdef HASH_BATCH_AVX512
    wide = gwlb__cpu_avx512dq();
#endif
    if (path == 2 && !wide)
        return GWLB_ENOTSUP;
    const uint8_t *p = keys;
    uint32_t done = 0;
#ifdef HASH_BATCH_AVX512
    if (wide && path != 1 && (key_len == 16 || key_len == 8)) {
        done = count & ~UINT32_C(7);
        hb_avx512(p, key_len, stride, done, seed, out);
    }
#endif
    for (uint32_t i = done; i < count; i++)
        out[i] = gwlb_hash64(p + (size_t)i * stride, key_len, seed);
    return GWLB_OK;
}

int gwlb_hash64_batch(const void *keys, size_t key_len, size_t stride, uint32_t count,
                      uint64_t seed, uint64_t *out)
{
    return gwlb__hash64_batch_path(keys, key_len, stride, count, seed, out, 0);
}
