/*
 * Picking hosts from a built table: the per-algorithm "key -> host" lookups,
 * the per-request attempt (tried bitmap + position in the candidate
 * sequence), nginx's exact rehash-on-unusable loops, the deterministic retry
 * walk of the other algorithms, bounded load, and jump hash (one key, or
 * many in lockstep in SIMD registers).
 *
 * Candidate sequences (what successive picks with one attempt return):
 *
 *   nginx ip_hash   h = 89; repeat h = (h*113 + octet) % 6271 over the
 *                   address; host = weight slot h % total_weight
 *   nginx hash      h += (crc32([rehash decimal] key) >> 16) & 0x7fff
 *   nginx chash     point index = first point >= crc32(key); then +1, +1...
 *                   (all three stop after 20 failed tries: round robin)
 *   others          primary(key), then (start + i*step) mod n, i = 0..n-1,
 *                   start/step from the key hash, step coprime to n: every
 *                   host exactly once, no allocation, no cascade onto one
 *                   neighbour when a hot key overflows.
 *
 * Nothing here allocates or locks; the table is only read.
 */
#include <stdatomic.h>
#include <string.h>

#include "hashing_internal.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

__extension__ typedef unsigned __int128 u128;

/* ---- attempt ------------------------------------------------------------ */

void gwlb_hash_attempt_init(gwlb_hash_attempt *attempt, uint64_t *tried_words,
                            uint32_t word_count)
{
    if (attempt == NULL)
        return;
    memset(attempt, 0, sizeof *attempt);
    if (tried_words != NULL && word_count != 0) {
        attempt->tried = tried_words;
        attempt->tried_words = word_count;
        memset(tried_words, 0, (size_t)word_count * sizeof *tried_words);
    } else {
        attempt->tried = NULL; /* the inline words; resolved on use, so the
                                * struct may be copied */
        attempt->tried_words = 4;
    }
}

static inline uint64_t *tried_bits(gwlb_hash_attempt *a)
{
    return a->tried != NULL ? a->tried : a->inline_tried;
}

static inline int is_tried(gwlb_hash_attempt *a, uint32_t h)
{
    return (int)((tried_bits(a)[h >> 6] >> (h & 63)) & 1u);
}

static inline void mark_tried(gwlb_hash_attempt *a, uint32_t h)
{
    tried_bits(a)[h >> 6] |= UINT64_C(1) << (h & 63);
}

int gwlb_hash_attempt_tried(const gwlb_hash_attempt *attempt, uint32_t host)
{
    if (attempt == NULL || host / 64 >= attempt->tried_words)
        return 0;
    const uint64_t *w = attempt->tried != NULL ? attempt->tried : attempt->inline_tried;
    return (int)((w[host >> 6] >> (host & 63)) & 1u);
}

/* ---- eligibility: caller's test, optionally bounded load ----------------- */

typedef struct filter {
    gwlb_hash_usable_fn usable;
    void *ctx;
    const gwlb_hash_loads *loads; /* NULL: no bounded load */
    uint64_t scaled_total;        /* (T + 1) * factor */
    uint64_t denominator;         /* 100 * total weight */
} filter;

static inline int acceptable(const gwlb_hash_table *t, const filter *f, uint32_t h)
{
    if (f->usable != NULL && !f->usable(f->ctx, h))
        return 0;
    if (f->loads != NULL) {
        uint64_t in = atomic_load_explicit((_Atomic uint32_t *)&f->loads->inflight[h],
                                           memory_order_relaxed);
        /* full iff in >= cap = ceil((T + 1) * c * w / W), i.e. (in being an
         * integer) iff in * 100 W >= (T + 1) * factor * w: no division */
        uint64_t num = f->scaled_total * t->weight[h];
        if ((u128)in * f->denominator >= num)
            return 0;
    }
    return 1;
}

/* ---- key checks ---------------------------------------------------------- */

static inline int check_args(const gwlb_hash_table *t, const void *key, size_t key_len,
                      const gwlb_hash_attempt *a, const uint32_t *host)
{
    if (t == NULL || a == NULL || host == NULL)
        return GWLB_EINVAL;
    if (key_len == 0)
        return GWLB_EMPTY;
    if (key == NULL)
        return GWLB_EINVAL;
    if (key_len > GWLB_HASH_KEY_MAX)
        return GWLB_ETOOLONG;
    if (t->algorithm == GWLB_HASH_NGINX_IP && key_len != 4 && key_len != 16)
        return GWLB_EINVAL;
    if ((uint64_t)a->tried_words * 64 < t->count)
        return GWLB_ENOSPC;
    return GWLB_OK;
}

/* ---- nginx ----------------------------------------------------------------- */

static inline uint32_t crc32_fast(const void *data, size_t len)
{
    return gwlb_crc32_final(gwlb__crc32_update_fast(GWLB_CRC32_INIT, data, len));
}

/* The peer a weight slot w (0 <= w < total) falls in: nginx walks the peers
 * subtracting weights; the cumulative array gives the same peer by search. */
static inline uint32_t weight_slot_host(const gwlb_hash_table *t, uint64_t w)
{
    /* the last i with cum[i] <= w (cum[0] = 0 <= w), branchless */
    const uint64_t *c = t->cum;
    uint32_t base = 0, n = t->count;
    while (n > 1) {
        uint32_t half = n / 2;
        base = c[base + half] <= w ? base + half : base;
        n -= half;
    }
    return base;
}

static int pick_nginx_ip(const gwlb_hash_table *t, const uint8_t *addr, size_t len,
                         gwlb_hash_attempt *a, const filter *f, uint32_t *host)
{
    if (!(a->flags & GWLB__ATTEMPT_STARTED)) {
        a->hash = 89;
        a->flags |= GWLB__ATTEMPT_STARTED;
    }
    if (a->tries > GWLB_HASH_NGINX_TRIES || t->count < 2)
        return GWLB_HASH_USE_ROUND_ROBIN;
    size_t octets = len == 4 ? 3 : 16;
    uint64_t hash = a->hash;
    for (;;) {
        for (size_t i = 0; i < octets; i++)
            hash = (hash * 113 + addr[i]) % 6271;
        uint32_t p = weight_slot_host(t, hash % t->total_weight);
        if (!is_tried(a, p) && acceptable(t, f, p)) {
            mark_tried(a, p);
            a->hash = hash; /* nginx keeps the running hash only on success */
            a->picks++;
            *host = p;
            return GWLB_OK;
        }
        if (++a->tries > GWLB_HASH_NGINX_TRIES)
            return GWLB_HASH_USE_ROUND_ROBIN;
    }
}

static int pick_nginx_hash(const gwlb_hash_table *t, const uint8_t *key, size_t len,
                           gwlb_hash_attempt *a, const filter *f, uint32_t *host)
{
    a->flags |= GWLB__ATTEMPT_STARTED;
    if (a->tries > GWLB_HASH_NGINX_TRIES || t->count < 2)
        return GWLB_HASH_USE_ROUND_ROBIN;
    for (;;) {
        /* Cache::Memcached: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV */
        uint32_t crc = GWLB_CRC32_INIT;
        if (a->rehash > 0) {
            char digits[12];
            uint32_t v = a->rehash;
            size_t n = 0;
            char tmp[12];
            do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v != 0);
            for (size_t i = 0; i < n; i++)
                digits[i] = tmp[n - 1 - i];
            crc = gwlb__crc32_update_fast(crc, digits, n);
        }
        crc = gwlb_crc32_final(gwlb__crc32_update_fast(crc, key, len));
        a->hash = (uint32_t)(a->hash + ((crc >> 16) & 0x7fff));
        a->rehash++;
        uint32_t p = weight_slot_host(t, a->hash % t->total_weight);
        if (!is_tried(a, p) && acceptable(t, f, p)) {
            mark_tried(a, p);
            a->picks++;
            *host = p;
            return GWLB_OK;
        }
        if (++a->tries > GWLB_HASH_NGINX_TRIES)
            return GWLB_HASH_USE_ROUND_ROBIN;
    }
}

/* First point >= hash (may be point_count: the index wraps when used). */
static inline uint32_t nginx_point_index(const gwlb_hash_table *t, uint32_t hash)
{
    uint32_t i = t->point_index[hash >> (32 - t->index_bits)];
    while (i < t->point_count && t->point32[i] < hash)
        i++;
    return i;
}

static int pick_nginx_consistent(const gwlb_hash_table *t, const uint8_t *key, size_t len,
                                 gwlb_hash_attempt *a, const filter *f, uint32_t *host)
{
    if (!(a->flags & GWLB__ATTEMPT_STARTED)) {
        a->hash = nginx_point_index(t, crc32_fast(key, len));
        a->flags |= GWLB__ATTEMPT_STARTED;
    }
    if (a->tries > GWLB_HASH_NGINX_TRIES || t->count == 1)
        return GWLB_HASH_USE_ROUND_ROBIN;
    for (;;) {
        uint32_t p = t->point_host[a->hash % t->point_count];
        if (!is_tried(a, p) && acceptable(t, f, p)) {
            mark_tried(a, p);
            a->picks++;
            *host = p;
            return GWLB_OK;
        }
        a->hash++;
        if (++a->tries > GWLB_HASH_NGINX_TRIES)
            return GWLB_HASH_USE_ROUND_ROBIN;
    }
}

/* ---- ring, Maglev, rendezvous, jump --------------------------------------- */

/*
 * Jump hash. The reference loop (Lamping & Veach, Figure 1):
 *
 *   b = -1, j = 0
 *   while j < buckets:
 *       b = j; key = key * 2862933555777941757 + 1
 *       j = (int64)((double)(b + 1) * ((double)2^31 / (double)((key >> 33) + 1)))
 *
 * Its cost is the chain b -> int-to-double -> multiply -> double-to-int ->
 * b, about 17 cycles a turn; the divide depends only on the key chain. So
 * we keep the reference's divide (q, the very same double) but take the
 * product b1 * q (b1 = b + 1) in integers: q = qi + qf / 2^64 exactly (the
 * integer part and the fraction bits of the double), so
 *
 *   b1 * q = b1 * qi + (b1 * qf) / 2^64     (a 64x64 -> 128 multiply, exact)
 *
 * floor of which is b1 * qi + high word, fraction = low word / 2^64: the
 * chain is now one multiply and an add. The reference truncates the
 * ROUNDED double product, which can differ from the exact floor only when
 * the product is within half a unit in the last place below an integer:
 * below 2^31 (the only range where j is kept) that needs a fraction
 * >= 1 - 2^-23. Such keys (about one turn in 8 million) take the reference
 * loop, so every result is the reference's, bit for bit; above the bucket
 * count both versions stop (rounding is monotonic and buckets is exact).
 * That 128-bit form serves bucket counts above 65534; below, the cheaper
 * fixed-point form of jump_fixed (one 64-bit multiply a turn) does.
 */
static uint32_t jump_reference(uint64_t key, uint32_t buckets)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)buckets) {
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        j = (int64_t)((double)(b + 1) * ((double)(INT64_C(1) << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

/* Fraction of b1 * q from which rounding may reach the next integer. */
#define JUMP_ROUNDING_RISK UINT64_C(0xFFFFFE0000000000) /* 1 - 2^-23 */

/* The reference's multiplier. */
#define JUMP_LCG UINT64_C(2862933555777941757)

/*
 * Up to JUMP_FIXED_MAX buckets: q in fixed point, one 64-bit multiply a
 * turn. x = q * 2^32 = RN(2^63 / d) exactly (scaling by a power of two
 * commutes with rounding). x >= (buckets + 1) * 2^32 means q >= buckets +
 * 1, which ends the walk in the reference too (its j >= b1 * q > buckets).
 * Else Q = trunc(x), and for b1 = b + 1 <= buckets
 *
 *   P = b1 * Q,  J = P >> 32,  F = P mod 2^32:   A = P / 2^32 <= b1 * q < A + b1 / 2^32
 *
 * so J is the reference's j unless b1 * q or its rounding to a double
 * (half an ulp: at most 2^-23 below 2^31) can reach J + 1, which needs
 * F >= 2^32 - b1 - 2^10 - 1: every turn ORs F + W (W = buckets + 1024)
 * into a risk word, and a term reaching 2^32 (about one turn in 2^32 / W)
 * sends the key to the reference loop. J >= buckets ends the walk exactly
 * when the reference's does (J <= b1 * q, and rounding is monotonic).
 * P < buckets * (buckets + 1) * 2^32 < 2^64: no overflow.
 *
 * The walk's exit branch is the costly part for few buckets (the number
 * of turns varies per key, so it is mispredicted about once a key): up to
 * JUMP_STRAIGHT_MAX buckets the first three turns run straight, without a
 * branch, keeping the last J below buckets (J only grows, by at least 1 a
 * turn, since q >= 1). There x is capped at (buckets + 1) * 2^32 (a capped
 * turn ends the walk either way), so turns past the end stay below 2^64:
 * b1 < (buckets + 2)^2. Three turns cover 70% of keys at 10 buckets (the
 * expected count is the harmonic number H(buckets)); from about 30
 * buckets the straight turns cost more than the branch they save.
 */
#define JUMP_FIXED_MAX 65534u   /* buckets * (buckets + 1) < 2^32 */
#define JUMP_STRAIGHT_MAX 16u   /* measured; (buckets + 2)^3 < 2^32 allows 1623 */

static inline uint32_t jump_fixed(uint64_t key, uint32_t buckets)
{
    uint64_t n = buckets, w = n + 1024, k = key, b1 = 1, risk = 0, j = 0;
    double cap = (double)((n + 1) << 32);
    if (buckets <= JUMP_STRAIGHT_MAX) {
        uint64_t b = 0;
        for (int t = 0; t < 3; t++) {
            k = k * JUMP_LCG + 1;
            double x = 9223372036854775808.0 / (double)(int64_t)((k >> 33) + 1);
            x = x < cap ? x : cap; /* a min, not a branch */
            uint64_t p = (j + 1) * (uint64_t)(int64_t)x;
            risk |= (uint64_t)(uint32_t)p + w;
            j = p >> 32;
            b = j < n ? j : b;
        }
        b1 = b + 1;
    }
    if (j < n) {
        for (;;) {
            k = k * JUMP_LCG + 1;
            double x = 9223372036854775808.0 / (double)(int64_t)((k >> 33) + 1);
            if (x >= cap)
                break;
            uint64_t p = b1 * (uint64_t)(int64_t)x;
            risk |= (uint64_t)(uint32_t)p + w;
            if ((p >> 32) >= n)
                break;
            b1 = (p >> 32) + 1;
        }
    }
    if (GWLB__UNLIKELY(risk >> 32))
        return jump_reference(key, buckets);
    return (uint32_t)(b1 - 1);
}

static inline uint32_t jump(uint64_t key, uint32_t buckets)
{
    if (GWLB__LIKELY(buckets <= JUMP_FIXED_MAX))
        return jump_fixed(key, buckets);
    uint64_t k = key;
    uint64_t b1 = 1; /* b + 1; the reference's first turn always sets b = 0 */
    for (;;) {
        k = k * JUMP_LCG + 1;
        double q = 2147483648.0 / (double)(int64_t)((k >> 33) + 1); /* 1 <= q <= 2^31 */
        uint64_t bits;
        memcpy(&bits, &q, sizeof bits);
        uint32_t e = (uint32_t)(bits >> 52) - 1023u; /* 0 .. 31, q's exponent */
        uint64_t qi = (uint64_t)(int64_t)q;  /* integer part (exact) */
        uint64_t qf = bits << (12 + e);      /* fraction * 2^64: the mantissa bits
                                              * below the binary point (exact) */
        u128 p = (u128)b1 * qf;
        if ((uint64_t)p >= JUMP_ROUNDING_RISK)
            return jump_reference(key, buckets);
        uint64_t next = b1 * qi + (uint64_t)(p >> 64) + 1; /* j + 1 */
        if (next > buckets)
            return (uint32_t)(b1 - 1);
        b1 = next;
    }
}

/* Jump hash as a call: keeps the generic lookup and pick paths, where
 * jump is one case of several, as lean as without it. */
static __attribute__((noinline)) uint32_t jump_call(uint64_t key, uint32_t buckets)
{
    return jump(key, buckets);
}

/* On a cache line of its own start: its single-key row moves by a few
 * percent with code placement elsewhere in this file. */
__attribute__((aligned(64))) int gwlb_jump_hash(uint64_t key, uint32_t buckets, uint32_t *bucket)
{
    if (bucket == NULL || buckets == 0 || buckets > INT32_MAX)
        return GWLB_EINVAL;
    *bucket = jump(key, buckets);
    return GWLB_OK;
}

/*
 * Batch jump: the reference loop itself, for JUMP_PAIRS * 2 keys in
 * lockstep with SSE2 (two keys a register). One call of jump() is bound
 * by latency (the first divide, then the chain a turn, and a mispredicted
 * exit); here every turn issues all lanes' divides together and the
 * lanes' chains overlap. Each lane does the reference's operations, each
 * rounded as the reference rounds them (IEEE double, no contraction):
 *
 *   k = k * LCG + 1                  in integer registers
 *   q = 2^31 / (double)((k >> 33) + 1)   (k >> 33) + 1 < 2^52: exact
 *   j = trunc(min(b1 * q, buckets))  trunc(min(y, n)) = min(trunc(y), n)
 *   b = j < buckets ? max(b, j) : b  j only grows while below buckets
 *   b1 = j + 1
 *
 * so every bucket is the reference's bit for bit, at every bucket count
 * (no rounding-risk test is needed: nothing is computed differently). A
 * lane whose j reached buckets stays there ((n + 1) * q >= n + 1) and
 * changes b no more; the group stops when no lane is below buckets (one
 * branch a turn for all lanes), so a group runs as long as its longest
 * walk. The last partial group is padded. With AVX2 (checked at run
 * time) four keys share a register and a group is 16 keys: more lanes in
 * flight for the same chain latency, half the vector instructions a key.
 * These lanes are bound by the divider (about 2 cycles a lane); CPUs with
 * AVX-512 take jump_lanes_rcp* below instead, which need no divide.
 * Without SSE2 each key takes jump().
 */
#ifdef __SSE2__
#define JUMP_PAIRS 4

static void jump_lanes(const uint64_t *key, uint32_t buckets, uint32_t *out, uint32_t m)
{
    /* 2^52 + v as a double has v in its low mantissa bits (v < 2^52), so
     * OR-ing v into 2^52's bits and subtracting 2^52 - 1 gives v + 1. */
    const __m128i magic = _mm_set1_epi64x(INT64_C(0x4330000000000000));
    const __m128d magic1 = _mm_set1_pd(4503599627370495.0); /* 2^52 - 1 */
    const __m128d one = _mm_set1_pd(1.0), num = _mm_set1_pd(2147483648.0);
    const __m128d n = _mm_set1_pd((double)buckets);
    uint64_t k[2 * JUMP_PAIRS];
    __m128d b1[JUMP_PAIRS], b[JUMP_PAIRS];
    for (int l = 0; l < 2 * JUMP_PAIRS; l++)
        k[l] = key[l];
    for (int l = 0; l < JUMP_PAIRS; l++) {
        b1[l] = one;
        b[l] = _mm_setzero_pd();
    }
    for (;;) {
        __m128d live = _mm_setzero_pd();
        for (int l = 0; l < JUMP_PAIRS; l++) {
            /* The LCG in integer registers (one multiply a key), then
             * (k >> 33) + 1 as a double for both keys of the pair. */
            k[2 * l] = k[2 * l] * JUMP_LCG + 1;
            k[2 * l + 1] = k[2 * l + 1] * JUMP_LCG + 1;
            __m128i c = _mm_unpacklo_epi64(_mm_cvtsi64_si128((int64_t)k[2 * l]),
                                           _mm_cvtsi64_si128((int64_t)k[2 * l + 1]));
            __m128d d = _mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(_mm_srli_epi64(c, 33), magic)),
                                   magic1);
            __m128d q = _mm_div_pd(num, d);
            __m128d j = _mm_cvtepi32_pd(_mm_cvttpd_epi32(_mm_min_pd(_mm_mul_pd(b1[l], q), n)));
            __m128d below = _mm_cmplt_pd(j, n);
            b[l] = _mm_max_pd(b[l], _mm_and_pd(j, below));
            b1[l] = _mm_add_pd(j, one);
            live = _mm_or_pd(live, below);
        }
        if (!_mm_movemask_pd(live))
            break;
    }
    uint32_t r[2 * JUMP_PAIRS];
    for (int l = 0; l < JUMP_PAIRS; l++)
        _mm_storel_epi64((__m128i *)(void *)(r + 2 * l), _mm_cvttpd_epi32(b[l]));
    memcpy(out, r, (size_t)m * sizeof *out);
}
#endif

/* The same walk four keys a register (AVX2, chosen at run time): 16 keys
 * a group, twice the lanes in flight for the same chain latency. */
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JUMP_AVX2 1
#define JUMP_QUADS 4

__attribute__((target("avx2"))) static void jump_lanes_avx2(const uint64_t *key,
                                                             uint32_t buckets, uint32_t *out,
                                                             uint32_t m)
{
    const __m256i magic = _mm256_set1_epi64x(INT64_C(0x4330000000000000));
    const __m256d magic1 = _mm256_set1_pd(4503599627370495.0); /* 2^52 - 1 */
    const __m256d one = _mm256_set1_pd(1.0), num = _mm256_set1_pd(2147483648.0);
    const __m256d n = _mm256_set1_pd((double)buckets);
    uint64_t k[4 * JUMP_QUADS];
    __m256d b1[JUMP_QUADS], b[JUMP_QUADS];
    for (int l = 0; l < 4 * JUMP_QUADS; l++)
        k[l] = key[l];
    for (int l = 0; l < JUMP_QUADS; l++) {
        b1[l] = one;
        b[l] = _mm256_setzero_pd();
    }
    for (;;) {
        __m256d live = _mm256_setzero_pd();
        for (int l = 0; l < JUMP_QUADS; l++) {
            for (int i = 0; i < 4; i++)
                k[4 * l + i] = k[4 * l + i] * JUMP_LCG + 1;
            __m128i lo = _mm_unpacklo_epi64(_mm_cvtsi64_si128((int64_t)k[4 * l]),
                                            _mm_cvtsi64_si128((int64_t)k[4 * l + 1]));
            __m128i hi = _mm_unpacklo_epi64(_mm_cvtsi64_si128((int64_t)k[4 * l + 2]),
                                            _mm_cvtsi64_si128((int64_t)k[4 * l + 3]));
            __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
            __m256d d = _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(c, 33), magic)), magic1);
            __m256d q = _mm256_div_pd(num, d);
            __m256d j = _mm256_cvtepi32_pd(
                _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_mul_pd(b1[l], q), n)));
            __m256d below = _mm256_cmp_pd(j, n, _CMP_LT_OQ);
            b[l] = _mm256_max_pd(b[l], _mm256_and_pd(j, below));
            b1[l] = _mm256_add_pd(j, one);
            live = _mm256_or_pd(live, below);
        }
        if (!_mm256_movemask_pd(live))
            break;
    }
    uint32_t r[4 * JUMP_QUADS];
    for (int l = 0; l < JUMP_QUADS; l++)
        _mm_storeu_si128((__m128i *)(void *)(r + 4 * l), _mm256_cvttpd_epi32(b[l]));
    memcpy(out, r, (size_t)m * sizeof *out);
}

/*
 * Without the divide (AVX-512 F/DQ, chosen at run time): the lanes take
 * the reference's j from a quotient good to a known relative error, and
 * prove each turn that it IS the reference's j, or mark the key risky.
 *
 * Let d = (k >> 33) + 1 and q* = 2^31 / d (real). The reference rounds
 * twice: qr = RN(q*) and P = RN(b1 * qr), then j = trunc(P) = floor(P).
 * Here d' = d / 2^31 (exact, by the 2^52 bit trick with 2^21's exponent),
 * delta = 2^-24 (one Newton step) or 2^-47 (two, above JUMP_RCP1_MAX
 * buckets), and
 *
 *   r  = rcp14(d')                     |r d' - 1| < 2^-14 (the ISA's bound)
 *   r  = RN(r + r RN(1 - d' r))        only with two steps
 *   qh = RN(r + r RN(1 + delta - d' r))   the last Newton step, aimed at
 *                                      q* (1 + delta)
 *   ql = RN(qh (1 - 2 delta))
 *
 * With r = (1 + t) / d' before the last step, the exact r (1 + delta - t)
 * = (1 + delta - t^2 + t delta) / d', so qh = q* (1 + delta + e) with
 * |e| <= t^2 + |t| delta + 2^-53 + (the rounding of the inner term,
 * below 2^-66): |e| < 2^-27.9 with one step (|t| < 2^-14), < 2^-52.7
 * with two (|t| < 2^-27.9 after the first). ql = q* (1 - delta - 2 delta^2
 * + e') with |e'| < |e| + 2^-53. So ql < q* (1 - 2^-52) <= qr <=
 * q* (1 + 2^-52) < qh: the margin delta exceeds the errors of qh, ql and
 * qr with room to spare (2^-24 against 2^-27.8; 2^-47 against 2^-50.9).
 * Then
 *
 *   jh = floor(b1 qh),  jl = floor(b1 ql)
 *
 * each ONE instruction: an FMA b1 * q + 2^52 rounded DOWN (AVX-512's
 * per-instruction rounding; below 2^52 it is 2^52 + the exact floor).
 * b1 ql < b1 qr (1 - 2^-53) <= P and P <= b1 qr (1 + 2^-53) < b1 qh, so
 * jl <= j <= jh: where jl == jh, j is known exactly; and where jl >= n
 * (buckets) the reference stops too (j >= jl >= n). Only a live lane with
 * jl < n and jl != jh is uncertain: its bits are ORed into the lane's risk
 * word, and after the walk each risky key takes jump() (exact by its own
 * proof). To spare a compare, any live lane with jl != jh counts (also
 * when both are past the end, which the last turn's heavy tail makes the
 * common case): measured, 1.1e-3 keys in a random set at 1000 buckets,
 * 5e-5 at 10, 1.5e-5 at 65535 and 2^20, 4.6e-4 at 2^31 - 1 are recomputed.
 * Bounds: a live lane has b1 <= n < 2^31 and q < 2^31 (1 + 2^-13), so
 * b1 qh < 2^62.01: no overflow; past 2^52 the FMA is no floor any more
 * but still at least 2^52 + n (rounding is monotonic), which ends the
 * lane. b1 = j + 1 is updated under the live mask only, so a dead lane's
 * b1 stays b + 1 (no garbage, no overflow; its turns are ignored); at the
 * end b1 + 2^52 - 1 = 2^52 + b, whose low 32 bits are the bucket.
 *
 * Per lane-turn this is some 17 uops (3 of them the 64-bit LCG multiply,
 * about 2 cycles' worth the reciprocal estimate) and no divider: 8 keys a
 * zmm register, JUMP_ZMM registers a group (16 measured faster than 8:
 * more lanes cover the chains' latency, despite a longer longest walk).
 * Below JUMP_RCP1_MAX buckets one Newton step (the window, 2^-24 of the
 * product, makes more keys risky as buckets grow). Measured here: 256-bit
 * registers (AVX-512VL, truncating conversions for the floors) were 1.6x
 * slower; 512-bit FMAs lower this CPU's clock by about 15% while they run
 * (scalar code around them too), which the figures above include.
 */
#define JUMP_AVX512 1
#define JUMP_ZMM 2
#define JUMP_RCP1_MAX 4096u /* measured: above, two Newton steps */

__attribute__((target("avx512f,avx512dq"))) static inline __attribute__((always_inline)) void
jump_lanes_rcp_body(const uint64_t *key, uint32_t buckets, uint32_t *out, uint32_t m, int steps)
{
    const __m512i lcg = _mm512_set1_epi64((int64_t)JUMP_LCG), one_i = _mm512_set1_epi64(1);
    const __m512i magic = _mm512_set1_epi64(INT64_C(0x4140000000000000)); /* 2^21 */
    const __m512d magic1 = _mm512_set1_pd(0x1p21 - 0x1p-31);
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d up = _mm512_set1_pd(steps == 1 ? 1.0 + 0x1p-24 : 1.0 + 0x1p-47);
    const __m512d down2 = _mm512_set1_pd(steps == 1 ? 1.0 - 0x1p-23 : 1.0 - 0x1p-46);
    const __m512d big = _mm512_set1_pd(0x1p52), big1 = _mm512_set1_pd(0x1p52 - 1.0);
    const __m512d nbig = _mm512_set1_pd(0x1p52 + (double)buckets);
    /* Two LCG chains a register, turns t and t + 1 (k' = a^2 k + a + 1 two
     * turns on): the 64-bit multiply's latency (15 cycles) would bound the
     * walk; so each chain steps once per two turns. */
    const __m512i lcg2 = _mm512_set1_epi64((int64_t)(JUMP_LCG * JUMP_LCG));
    const __m512i inc2 = _mm512_set1_epi64((int64_t)(JUMP_LCG + 1));
    __m512i ka[JUMP_ZMM], kb[JUMP_ZMM], risk[JUMP_ZMM];
    __m512d b1[JUMP_ZMM];
    __mmask8 live[JUMP_ZMM];
    for (int l = 0; l < JUMP_ZMM; l++) {
        /* turns 1 and 2 both straight from the key (not one after the
         * other: the second turn would wait for two multiplies) */
        __m512i k0 = _mm512_loadu_si512((const void *)(key + 8 * l));
        ka[l] = _mm512_add_epi64(_mm512_mullo_epi64(k0, lcg), one_i);
        kb[l] = _mm512_add_epi64(_mm512_mullo_epi64(k0, lcg2), inc2);
        risk[l] = _mm512_setzero_si512();
        b1[l] = one;
        live[l] = 0xFF;
    }
    for (;;) {
        for (int half = 0; half < 2; half++) {
            __mmask8 any = 0;
            for (int l = 0; l < JUMP_ZMM; l++) {
                __m512i k = half ? kb[l] : ka[l];
                if (half)
                    kb[l] = _mm512_add_epi64(_mm512_mullo_epi64(k, lcg2), inc2);
                else
                    ka[l] = _mm512_add_epi64(_mm512_mullo_epi64(k, lcg2), inc2);
                __m512d d = _mm512_sub_pd(
                    _mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64(k, 33), magic)),
                    magic1);
                __m512d r = _mm512_rcp14_pd(d);
                if (steps == 2)
                    r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(d, r, one), r);
                /* the last Newton step lands on q (1 + delta); q (1 - delta)
                 * is that times 1 - 2 delta */
                __m512d qh = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(d, r, up), r);
                __m512d yh = _mm512_fmadd_round_pd(b1[l], qh, big,
                                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
                __m512d yl = _mm512_fmadd_round_pd(b1[l], _mm512_mul_pd(qh, down2), big,
                                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
                risk[l] = _mm512_mask_ternarylogic_epi64(risk[l], live[l],
                                                         _mm512_castpd_si512(yh),
                                                         _mm512_castpd_si512(yl), 0xF6);
                __mmask8 below = _mm512_mask_cmp_pd_mask(live[l], yh, nbig, _CMP_LT_OQ);
                b1[l] = _mm512_mask_sub_pd(b1[l], below, yh, big1); /* frozen once dead */
                live[l] = below;
                any |= below;
            }
            if (!any)
                goto done;
        }
    }
done:;
    uint32_t res[8 * JUMP_ZMM];
    uint32_t risky = 0;
    for (int l = 0; l < JUMP_ZMM; l++) {
        /* b = b1 - 1 as 2^52 + b: the low 32 bits of its bits */
        __m256i r = _mm512_cvtepi64_epi32(_mm512_castpd_si512(_mm512_add_pd(b1[l], big1)));
        if (m == 8 * JUMP_ZMM)
            _mm256_storeu_si256((__m256i *)(void *)(out + 8 * l), r);
        else
            _mm256_storeu_si256((__m256i *)(void *)(res + 8 * l), r);
        risky |= (uint32_t)_mm512_test_epi64_mask(risk[l], risk[l]) << (8 * l);
    }
    if (m < 8 * JUMP_ZMM)
        memcpy(out, res, (size_t)m * sizeof *out);
    for (risky &= (UINT32_C(1) << m) - 1; risky; risky &= risky - 1) { /* m <= 16 */
        uint32_t i = (uint32_t)__builtin_ctz(risky);
        out[i] = jump(key[i], buckets);
    }
}

__attribute__((target("avx512f,avx512dq"))) static void
jump_lanes_rcp1(const uint64_t *key, uint32_t buckets, uint32_t *out, uint32_t m)
{
    jump_lanes_rcp_body(key, buckets, out, m, 1);
}

__attribute__((target("avx512f,avx512dq"))) static void
jump_lanes_rcp2(const uint64_t *key, uint32_t buckets, uint32_t *out, uint32_t m)
{
    jump_lanes_rcp_body(key, buckets, out, m, 2);
}
#endif

#ifdef __SSE2__
/* Groups of g keys through lanes(), the last one padded (inlined: no
 * call through the pointer). */
static inline __attribute__((always_inline)) void jump_groups(void (*lanes)(const uint64_t *, uint32_t, uint32_t *, uint32_t),
                        uint32_t g, const uint64_t *keys, uint32_t count, uint32_t buckets,
                        uint32_t *out)
{
    uint32_t i = 0;
    for (; count - i >= g; i += g)
        lanes(keys + i, buckets, out + i, g);
    if (i < count) {
        uint64_t pad[16] = {0};
        memcpy(pad, keys + i, (size_t)(count - i) * sizeof *pad);
        lanes(pad, buckets, out + i, count - i);
    }
}
#endif

/* path: 0 the best this CPU has, 1 SSE2 pairs, 2 one key at a time, 3 AVX2
 * divides, 4 AVX-512 reciprocals (tests; GWLB_ENOTSUP when the CPU lacks
 * the ISA of 3 or 4). */
GWLB__HIDDEN int gwlb__jump_hash_batch_path(const uint64_t *keys, uint32_t count,
                                            uint32_t buckets, uint32_t *out, int path);
int gwlb__jump_hash_batch_path(const uint64_t *keys, uint32_t count, uint32_t buckets,
                               uint32_t *out, int path)
{
    (void)path; /* without SSE2 there is one path */
    if (keys == NULL || out == NULL || buckets == 0 || buckets > INT32_MAX)
        return GWLB_EINVAL;
#ifdef JUMP_AVX512
    if ((path == 0 || path == 4) && gwlb__cpu_avx512dq()) {
        if (buckets <= JUMP_RCP1_MAX)
            jump_groups(jump_lanes_rcp1, 8 * JUMP_ZMM, keys, count, buckets, out);
        else
            jump_groups(jump_lanes_rcp2, 8 * JUMP_ZMM, keys, count, buckets, out);
        return GWLB_OK;
    }
    if (path == 4)
        return GWLB_ENOTSUP;
#endif
#ifdef JUMP_AVX2
    if ((path == 0 || path == 3) && __builtin_cpu_supports("avx2")) {
        jump_groups(jump_lanes_avx2, 4 * JUMP_QUADS, keys, count, buckets, out);
        return GWLB_OK;
    }
    if (path == 3)
        return GWLB_ENOTSUP;
#endif
#ifdef __SSE2__
    if (path <= 1) {
        jump_groups(jump_lanes, 2 * JUMP_PAIRS, keys, count, buckets, out);
        return GWLB_OK;
    }
#endif
    for (uint32_t i = 0; i < count; i++)
        out[i] = jump(keys[i], buckets);
    return GWLB_OK;
}

int gwlb_jump_hash_batch(const uint64_t *keys, uint32_t count, uint32_t buckets, uint32_t *out)
{
    return gwlb__jump_hash_batch_path(keys, count, buckets, out, 0);
}

double gwlb__hash_ln(double x)
{
    /* x = m * 2^e, m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1) */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double sum = 0.0;
    for (int k = 21; k >= 1; k -= 2)
        sum = sum * s2 + 1.0 / (double)k;
    return (double)e * 0.6931471805599453 + 2.0 * s * sum;
}

/* Rendezvous: weighted score w / -ln(u), u uniform in (0,1) from (key, host). */
static uint32_t rendezvous(const gwlb_hash_table *t, uint64_t h)
{
    uint32_t best = 0;
    if (t->uniform_weight) {
        uint64_t best_u = 0;
        for (uint32_t i = 0; i < t->count; i++) {
            uint64_t u = gwlb_mix64(h ^ t->host_hash[i]);
            if (i == 0 || u > best_u) {
                best_u = u;
                best = i;
            }
        }
        return best;
    }
    double best_score = 0.0;
    for (uint32_t i = 0; i < t->count; i++) {
        uint64_t u = gwlb_mix64(h ^ t->host_hash[i]);
        double unit = ((double)(u >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double score = (double)t->weight[i] / -gwlb__hash_ln(unit);
        if (i == 0 || score > best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

static inline uint32_t ring_host(const gwlb_hash_table *t, uint64_t h)
{
    uint32_t i = t->point_index[h >> (64 - t->index_bits)];
    while (i < t->point_count && t->point64[i] < h)
        i++;
    return t->point_host[i == t->point_count ? 0 : i];
}

static inline uint32_t primary(const gwlb_hash_table *t, uint64_t h)
{
    switch (t->algorithm) {
    case GWLB_HASH_MAGLEV:
        return gwlb__maglev_at(t, gwlb__maglev_slot(h, t->maglev_size));
    case GWLB_HASH_RING:
        return ring_host(t, h);
    case GWLB_HASH_RENDEZVOUS:
        return rendezvous(t, h);
    default:
        return jump_call(h, t->count);
    }
}

static int pick_walk(const gwlb_hash_table *t, uint64_t h, gwlb_hash_attempt *a,
                     const filter *f, uint32_t *host)
{
    if (!(a->flags & GWLB__ATTEMPT_STARTED)) {
        a->hash = h;
        a->position = 0;
        a->flags |= GWLB__ATTEMPT_STARTED;
    }
    if (!(a->flags & GWLB__ATTEMPT_WALKING)) {
        uint32_t p = primary(t, a->hash);
        a->flags |= GWLB__ATTEMPT_WALKING;
        if (!is_tried(a, p) && acceptable(t, f, p)) {
            mark_tried(a, p);
            a->picks++;
            *host = p;
            return GWLB_OK;
        }
    }
    uint32_t n = t->count;
    uint64_t g = gwlb_mix64(a->hash ^ UINT64_C(0x5bd1e9955bd1e995));
    /* start = g % n, step = steps[(g >> 32) % step_count], candidate at
     * position i = (start + i * step) % n: the modulos by precomputed
     * reciprocals, then one add and a conditional subtract per candidate */
    uint64_t start = gwlb__mod(g, n, t->count_mu);
    uint64_t step = t->steps[gwlb__mod(g >> 32, t->step_count, t->steps_mu)];
    if (a->position >= n)
        return GWLB_ENOHOST;
    uint64_t p = gwlb__mod(start + (uint64_t)a->position * step, n, t->count_mu);
    while (a->position < n) {
        a->position++;
        if (!is_tried(a, (uint32_t)p) && acceptable(t, f, (uint32_t)p)) {
            mark_tried(a, (uint32_t)p);
            a->picks++;
            *host = (uint32_t)p;
            return GWLB_OK;
        }
        p += step;
        if (p >= n)
            p -= n;
    }
    return GWLB_ENOHOST;
}

static int dispatch(const gwlb_hash_table *t, const void *key, size_t key_len,
                    gwlb_hash_attempt *a, const filter *f, uint32_t *host)
{
    switch (t->algorithm) {
    case GWLB_HASH_NGINX_IP:
        return pick_nginx_ip(t, key, key_len, a, f, host);
    case GWLB_HASH_NGINX_HASH:
        return pick_nginx_hash(t, key, key_len, a, f, host);
    case GWLB_HASH_NGINX_CONSISTENT:
        return pick_nginx_consistent(t, key, key_len, a, f, host);
    default: {
        uint64_t h = (a->flags & GWLB__ATTEMPT_STARTED) ? a->hash : gwlb__hash_key(key, key_len);
        return pick_walk(t, h, a, f, host);
    }
    }
}

int gwlb_hash_table_pick(const gwlb_hash_table *table, const void *key, size_t key_len,
                         gwlb_hash_attempt *attempt, gwlb_hash_usable_fn usable, void *ctx,
                         uint32_t *host)
{
    int rc = check_args(table, key, key_len, attempt, host);
    if (rc != GWLB_OK)
        return rc;
    filter f = {usable, ctx, NULL, 0, 0};
    return dispatch(table, key, key_len, attempt, &f, host);
}

/* Every algorithm, arguments already checked (check_args passed). */
static __attribute__((noinline)) int lookup_valid(const gwlb_hash_table *table,
                                                   const void *key, size_t key_len,
                                                   uint32_t *host)
{
    const uint8_t *k = key;
    const gwlb_hash_table *t = table;
    if (t->count == 1) { /* nginx: round robin over one peer; others: it */
        *host = 0;
        return GWLB_OK;
    }
    switch (t->algorithm) {
    case GWLB_HASH_NGINX_IP: {
        uint64_t hash = 89;
        for (size_t i = 0; i < (key_len == 4 ? 3u : 16u); i++)
            hash = (hash * 113 + k[i]) % 6271;
        *host = weight_slot_host(t, hash % t->total_weight);
        return GWLB_OK;
    }
    case GWLB_HASH_NGINX_HASH: {
        uint32_t crc = crc32_fast(k, key_len);
        *host = weight_slot_host(t, ((crc >> 16) & 0x7fff) % t->total_weight);
        return GWLB_OK;
    }
    case GWLB_HASH_NGINX_CONSISTENT:
        *host = t->point_host[nginx_point_index(t, crc32_fast(k, key_len)) % t->point_count];
        return GWLB_OK;
    default:
        *host = primary(t, gwlb__hash_key(k, key_len));
        return GWLB_OK;
    }
}

/* Jump hash of a short key (arguments valid, more than one bucket): its own
 * function so the lookup fast path stays frameless. */
static __attribute__((noinline)) int lookup_jump_short(const gwlb_hash_table *t,
                                                        const uint8_t *key, size_t key_len,
                                                        uint32_t *host)
{
    *host = jump(gwlb__hash_key_short(key, key_len), t->count);
    return GWLB_OK;
}

/* The argument checks, then the lookup. */
static __attribute__((noinline)) int lookup_general(const gwlb_hash_table *table,
                                                     const void *key, size_t key_len,
                                                     uint32_t *host)
{
    /* A first pick with every host usable consults no bitmap, so any table
     * size works here. */
    static const gwlb_hash_attempt unbounded = {.tried_words = UINT32_MAX};
    int rc = check_args(table, key, key_len, &unbounded, host);
    if (rc != GWLB_OK)
        return rc;
    return lookup_valid(table, key, key_len, host);
}

int gwlb_hash_table_lookup(const gwlb_hash_table *table, const void *key, size_t key_len,
                           uint32_t *host)
{
    /* Fast path: valid arguments (so the checks of lookup_general all pass),
     * a short key hashed inline, and a table whose lookup is a load or a
     * short scan: no call, no stack frame. */
    const gwlb_hash_table *t = table;
    if (GWLB__LIKELY(t != NULL && host != NULL && key != NULL &&
                     gwlb__hash_key_is_short(key_len))) {
        if (t->maglev16 != NULL) {
            uint64_t h = gwlb__hash_key_short(key, key_len);
            *host = t->maglev16[gwlb__maglev_slot(h, t->maglev_size)];
            return GWLB_OK;
        }
        if (t->point64 != NULL && t->count > 1) {
            *host = ring_host(t, gwlb__hash_key_short(key, key_len));
            return GWLB_OK;
        }
        if (t->algorithm == GWLB_HASH_JUMP && t->count > 1)
            return lookup_jump_short(t, key, key_len, host);
    }
    if (GWLB__LIKELY(t != NULL && host != NULL && key != NULL && key_len - 1 < GWLB_HASH_KEY_MAX &&
                     (t->algorithm != GWLB_HASH_NGINX_IP || key_len == 4 || key_len == 16)))
        return lookup_valid(table, key, key_len, host); /* what check_args accepts */
    return lookup_general(table, key, key_len, host);
}

/* ---- bounded load ----------------------------------------------------------- */

int gwlb_hash_loads_acquire(const gwlb_hash_loads *loads, uint32_t host)
{
    if (loads == NULL || loads->inflight == NULL || loads->total == NULL)
        return GWLB_EINVAL;
    if (host >= loads->count)
        return GWLB_ERANGE;
    atomic_fetch_add_explicit((_Atomic uint32_t *)&loads->inflight[host], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit((_Atomic uint64_t *)loads->total, 1, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_hash_loads_release(const gwlb_hash_loads *loads, uint32_t host)
{
    if (loads == NULL || loads->inflight == NULL || loads->total == NULL)
        return GWLB_EINVAL;
    if (host >= loads->count)
        return GWLB_ERANGE;
    _Atomic uint32_t *c = (_Atomic uint32_t *)&loads->inflight[host];
    uint32_t v = atomic_load_explicit(c, memory_order_relaxed);
    do {
        if (v == 0)
            return GWLB_ESTATE; /* release without acquire: nothing changes */
    } while (!atomic_compare_exchange_weak_explicit(c, &v, v - 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    atomic_fetch_sub_explicit((_Atomic uint64_t *)loads->total, 1, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_hash_table_pick_bounded(const gwlb_hash_table *table, const void *key,
                                 size_t key_len, gwlb_hash_attempt *attempt,
                                 gwlb_hash_usable_fn usable, void *ctx,
                                 const gwlb_hash_loads *loads, uint32_t factor_percent,
                                 uint32_t *host)
{
    /* Fast path: a fresh attempt on a Maglev table, a short key, no
     * callback, valid loads and factor: the key's slot host, taken if under
     * its cap, recorded in the attempt exactly as pick_walk records a
     * primary. Otherwise (or if the host is full) the general path below
     * decides from scratch; nothing here has been written yet. */
    const gwlb_hash_table *t = table;
    if (GWLB__LIKELY(t != NULL && attempt != NULL && host != NULL && key != NULL &&
                     usable == NULL && gwlb__hash_key_is_short(key_len) &&
                     t->maglev16 != NULL && attempt->flags == 0 &&
                     (uint64_t)attempt->tried_words * 64 >= t->count && loads != NULL &&
                     loads->inflight != NULL && loads->total != NULL &&
                     loads->count == t->count &&
                     factor_percent >= GWLB_HASH_BALANCE_FACTOR_MIN &&
                     factor_percent <= GWLB_HASH_BALANCE_FACTOR_MAX)) {
        uint64_t h = gwlb__hash_key_short(key, key_len);
        uint32_t p = t->maglev16[gwlb__maglev_slot(h, t->maglev_size)];
        uint64_t total =
            atomic_load_explicit((_Atomic uint64_t *)loads->total, memory_order_relaxed);
        if (total >= UINT32_MAX)
            total = UINT32_MAX - 1;
        uint64_t in = atomic_load_explicit((_Atomic uint32_t *)&loads->inflight[p],
                                           memory_order_relaxed);
        if ((u128)in * (100 * t->total_weight) < (total + 1) * factor_percent * t->weight[p]) {
            attempt->hash = h;
            attempt->position = 0;
            attempt->flags = GWLB__ATTEMPT_STARTED | GWLB__ATTEMPT_WALKING;
            mark_tried(attempt, p);
            attempt->picks++;
            *host = p;
            return GWLB_OK;
        }
    }
    int rc = check_args(table, key, key_len, attempt, host);
    if (rc != GWLB_OK)
        return rc;
    if (loads == NULL || loads->inflight == NULL || loads->total == NULL ||
        loads->count != table->count)
        return GWLB_EINVAL;
    if (factor_percent < GWLB_HASH_BALANCE_FACTOR_MIN ||
        factor_percent > GWLB_HASH_BALANCE_FACTOR_MAX)
        return GWLB_ERANGE;
    if (table->algorithm <= GWLB_HASH_NGINX_CONSISTENT)
        return GWLB_ENOTSUP;
    uint64_t total =
        atomic_load_explicit((_Atomic uint64_t *)loads->total, memory_order_relaxed);
    if (total >= UINT32_MAX)
        total = UINT32_MAX - 1; /* keeps (T + 1) * factor * weight in 64 bits */
    filter f = {usable, ctx, loads, (total + 1) * factor_percent, 100 * table->total_weight};
    return dispatch(table, key, key_len, attempt, &f, host);
}
