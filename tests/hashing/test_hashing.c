/*
 * Specification of hash-based balancing: published vectors (jump hash,
 * Maglev's worked example), nginx's hash formulas computed by hand, the
 * candidate sequences (retry, 20-try fallback), bounded load, sticky
 * tokens, bad input and allocation failure.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/balancer.h"
#include "gwlb/hashing.h"
#include "hashing/hashing_internal.h"
#include "test_alloc.h"
#include "test_sanitized.h"

/* ---- helpers --------------------------------------------------------------- */

static char ids[64][32];
static gwlb_hash_host hosts_buf[1024];

/* n hosts "10.0.0.<i>:80" with the given weights (NULL: all 1). */
static gwlb_hash_host *make_hosts(uint32_t n, const uint32_t *weights)
{
    static char big[1024][24];
    for (uint32_t i = 0; i < n; i++) {
        char *s = i < 64 ? ids[i] : big[i];
        snprintf(s, 24, "10.0.%u.%u:80", i / 256, i % 256);
        hosts_buf[i].identity = s;
        hosts_buf[i].identity_len = (uint32_t)strlen(s);
        hosts_buf[i].weight = weights ? weights[i] : 1;
    }
    return hosts_buf;
}

static gwlb_hash_table *build(uint32_t alg, const gwlb_hash_host *h, uint32_t n)
{
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, alg);
    gwlb_hash_table *t = NULL;
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, h, n, NULL, NULL), GWLB_OK);
    return t;
}

static int never(void *ctx, uint32_t h)
{
    (void)ctx;
    (void)h;
    return 0;
}

/* usable unless bit h of *(uint64_t *)ctx is set */
static int not_down(void *ctx, uint32_t h)
{
    return !((*(const uint64_t *)ctx >> h) & 1);
}

/* ---- published vectors -------------------------------------------------------- */

START_TEST(test_jump_hash_matches_reference_values_for_key_1)
{
    uint32_t b;
    ck_assert_int_eq(gwlb_jump_hash(1, 10, &b), GWLB_OK);
    ck_assert_uint_eq(b, 6);
    ck_assert_int_eq(gwlb_jump_hash(1, 100, &b), GWLB_OK);
    ck_assert_uint_eq(b, 55);
    ck_assert_int_eq(gwlb_jump_hash(1, 1000, &b), GWLB_OK);
    ck_assert_uint_eq(b, 549);
    ck_assert_int_eq(gwlb_jump_hash(123456789, 1, &b), GWLB_OK);
    ck_assert_uint_eq(b, 0);
}
END_TEST

START_TEST(test_jump_hash_growing_buckets_moves_keys_only_to_the_new_bucket)
{
    for (uint64_t k = 0; k < 20000; k++) {
        uint32_t a, b;
        gwlb_jump_hash(gwlb_mix64(k), 37, &a);
        gwlb_jump_hash(gwlb_mix64(k), 38, &b);
        ck_assert(a == b || b == 37);
    }
}
END_TEST

START_TEST(test_jump_hash_rejects_zero_and_huge_bucket_counts)
{
    uint32_t b = 77;
    ck_assert_int_eq(gwlb_jump_hash(1, 0, &b), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash(1, UINT32_C(0x80000000), &b), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash(1, 10, NULL), GWLB_EINVAL);
    ck_assert_uint_eq(b, 77);
}
END_TEST

/* The paper's loop (Lamping & Veach, Figure 1), verbatim in C. */
static uint32_t paper_jump(uint64_t key, uint32_t buckets)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)buckets) {
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        j = (int64_t)((double)(b + 1) * ((double)(INT64_C(1) << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

START_TEST(test_jump_hash_equals_the_papers_loop_for_many_keys)
{
    static const uint32_t buckets[] = {1, 2, 3, 10, 1000, 65536, 1000000, 2147483647u};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++)
        for (uint64_t k = 0; k < 5000; k++) {
            uint64_t key = gwlb_mix64(k + i * 1000003u);
            uint32_t b = UINT32_MAX;
            ck_assert_int_eq(gwlb_jump_hash(key, buckets[i], &b), GWLB_OK);
            ck_assert_uint_eq(b, paper_jump(key, buckets[i]));
        }
}
END_TEST

/* One million random keys (50000 when sanitized), each at one of the
 * bucket counts where the library changes method or a bound sits (1, 2,
 * the straight three-turn limit 16/17, 63/64/65, the fixed-point limit
 * 65534/65535, 2^31 - 1) or at a random count: every bucket is the
 * paper's. */
START_TEST(test_jump_hash_equals_the_papers_loop_for_a_million_keys_at_edge_counts)
{
    static const uint32_t edge[] = {1,     2,     3,       10,          16,         17,
                                    63,    64,    65,      1000,        2045,       2046,
                                    65534, 65535, 65536,   1000000,     2147483646u, 2147483647u};
    uint64_t s = 20140606;
    uint32_t keys = TEST_SANITIZED ? 50000 : 1000000;
    for (uint32_t i = 0; i < keys; i++) {
        uint64_t key = gwlb_mix64(s += UINT64_C(0x9E3779B97F4A7C15));
        uint64_t r = gwlb_mix64(key ^ 0x5555);
        uint32_t buckets;
        switch (i % 4) {
        case 0: buckets = edge[r % (sizeof edge / sizeof edge[0])]; break;
        case 1: buckets = 1 + (uint32_t)(r % 64); break;          /* straight turns */
        case 2: buckets = 1 + (uint32_t)(r % 65534); break;       /* fixed point */
        default: buckets = 1 + (uint32_t)(r % 2147483647u); break; /* any */
        }
        uint32_t b = UINT32_MAX;
        ck_assert_int_eq(gwlb_jump_hash(key, buckets, &b), GWLB_OK);
        ck_assert_uint_eq(b, paper_jump(key, buckets));
    }
}
END_TEST

/* Keys where the reference's double product rounds up to the next integer,
 * so exact arithmetic would give another bucket: the library must follow
 * the reference (these take its rounding-risk path). */
START_TEST(test_jump_hash_follows_the_reference_rounding_where_exact_math_differs)
{
    static const struct {
        uint64_t key;
        uint32_t buckets, bucket;
    } v[] = {
        {229820519, 1000, 621},          /* exact floor: 618 */
        {342762895, 1000, 739},          /* exact floor: 738 */
        {1055484, 1000000, 786432},      /* exact floor: 786431 */
        {6563676, 1000000, 978677},      /* exact floor: 978012 */
        {1055484, 2147483647u, 1672770550u}, /* exact floor: 1672768873 */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t b = UINT32_MAX;
        ck_assert_int_eq(gwlb_jump_hash(v[i].key, v[i].buckets, &b), GWLB_OK);
        ck_assert_uint_eq(b, v[i].bucket);
        ck_assert_uint_eq(paper_jump(v[i].key, v[i].buckets), v[i].bucket);
    }
}
END_TEST

/* lib/hashing/pick.c: gwlb_jump_hash_batch by a chosen code path (0 the
 * CPU's best, 1 SSE2 pairs, 2 one key at a time, 3 AVX2 divides, 4
 * AVX-512 reciprocals; GWLB_ENOTSUP when the CPU lacks 3's or 4's ISA). */
int gwlb__jump_hash_batch_path(const uint64_t *keys, uint32_t count, uint32_t buckets,
                               uint32_t *out, int path);

/* gwlb_jump_hash_batch: one million random keys (50000 when sanitized)
 * at every edge bucket count, in batches of 1..17 keys and of 4096 (whole
 * groups of lanes, partial groups, lanes of one batch ending at very
 * different turns): every bucket is gwlb_jump_hash's, and the paper's. */
START_TEST(test_jump_hash_batch_equals_jump_hash_for_a_million_keys_at_edge_counts)
{
    static const uint32_t edge[] = {1,    2,    3,     10,    16,    17,      63,         64,
                                    65,   1000, 2045,  65534, 65535, 65536,   1000000,    2147483647u};
    static uint64_t keys[4096];
    static uint32_t got[4096 + 1];
    uint32_t total = TEST_SANITIZED ? 50000 : 1000000, per = total / (sizeof edge / sizeof edge[0]);
    uint64_t s = 20260606;
    for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++) {
        uint32_t done = 0, size = 1;
        while (done < per) {
            uint32_t m = size <= 17 ? size : 4096;
            if (m > per - done)
                m = per - done;
            for (uint32_t i = 0; i < m; i++)
                keys[i] = gwlb_mix64(s += UINT64_C(0x9E3779B97F4A7C15));
            got[m] = 0xDEADBEEFu;
            ck_assert_int_eq(gwlb_jump_hash_batch(keys, m, edge[e], got), GWLB_OK);
            ck_assert_uint_eq(got[m], 0xDEADBEEFu);
            for (uint32_t i = 0; i < m; i++) {
                uint32_t want = UINT32_MAX;
                ck_assert_int_eq(gwlb_jump_hash(keys[i], edge[e], &want), GWLB_OK);
                ck_assert_uint_eq(got[i], want);
                if (i % 64 == 0)
                    ck_assert_uint_eq(got[i], paper_jump(keys[i], edge[e]));
            }
            /* The other code paths (SSE2 pairs, one key at a time, AVX2
             * divides, AVX-512 reciprocals) whatever this CPU would choose. */
            for (int path = 1; path <= 4; path++) {
                got[m] = 0xDEADBEEFu;
                int rc = gwlb__jump_hash_batch_path(keys + m, 0, edge[e], got, path);
                if (path >= 3 && rc == GWLB_ENOTSUP)
                    continue; /* this CPU lacks the ISA */
                ck_assert_int_eq(rc, GWLB_OK);
                ck_assert_int_eq(gwlb__jump_hash_batch_path(keys, m, edge[e], got, path), GWLB_OK);
                ck_assert_uint_eq(got[m], 0xDEADBEEFu);
                for (uint32_t i = 0; i < m; i++) {
                    uint32_t want = UINT32_MAX;
                    gwlb_jump_hash(keys[i], edge[e], &want);
                    ck_assert_uint_eq(got[i], want);
                }
            }
            done += m;
            size = size == 18 ? 1 : size + 1;
        }
    }
}
END_TEST

/* Keys with a turn whose product b1 * 2^31 / d lies within a few 2^-25
 * (one Newton step, up to 16384 buckets) or 2^-48 (two steps) of an
 * integer, relative to the product, while the walk goes on: the AVX-512
 * lanes cannot decide that turn and recompute the key with the scalar
 * path (checked when they were found by an offline search over random
 * keys); plus the keys where the reference's rounding differs from exact
 * math. Each key at every position of a 16-key batch, every path: every
 * bucket is the paper's. */
START_TEST(test_jump_hash_batch_follows_the_reference_on_keys_its_lanes_cannot_decide)
{
    static const struct {
        uint64_t key;
        uint32_t buckets, bucket;
    } v[] = {
        {UINT64_C(0xc9921d2533051e5b), 10, 9},
        {UINT64_C(0xc8fb4ab49dae2864), 10, 6},
        {UINT64_C(0xfc6e322af18ed875), 10, 6},
        {UINT64_C(0x59f7e7945b360179), 1000, 607},
        {UINT64_C(0xba880f5630ad9d73), 1000, 671},
        {UINT64_C(0x4facadf73a13c897), 1000, 912},
        {UINT64_C(0xaca83ed4b392a33e), 65535, 44070},
        {UINT64_C(0xcdfb3daa3a528d62), 65535, 10698},
        {UINT64_C(0xdeec29b7d09c2cbf), 65535, 35157},
        {UINT64_C(0xe49d1b8b37b8f273), 2147483647u, 953952335u},
        {UINT64_C(0x97378fd568c8112d), 2147483647u, 1486567336u},
        {UINT64_C(0xd02941fae9dd7c63), 2147483647u, 1560089448u},
        {229820519, 1000, 621},
        {342762895, 1000, 739},
        {1055484, 1000000, 786432},
        {6563676, 1000000, 978677},
        {1055484, 2147483647u, 1672770550u},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ck_assert_uint_eq(paper_jump(v[i].key, v[i].buckets), v[i].bucket);
        for (uint32_t at = 0; at < 16; at++) {
            uint64_t keys[16];
            for (uint32_t l = 0; l < 16; l++)
                keys[l] = gwlb_mix64(l + 16 * i);
            keys[at] = v[i].key;
            for (int path = 0; path <= 4; path++) {
                uint32_t got[16];
                int rc = gwlb__jump_hash_batch_path(keys, 16, v[i].buckets, got, path);
                if (path >= 3 && rc == GWLB_ENOTSUP)
                    continue; /* this CPU lacks the ISA */
                ck_assert_int_eq(rc, GWLB_OK);
                ck_assert_uint_eq(got[at], v[i].bucket);
                for (uint32_t l = 0; l < 16; l++)
                    ck_assert_uint_eq(got[l], paper_jump(keys[l], v[i].buckets));
            }
        }
    }
}
END_TEST

/* Batches of every size 0..17 (and 100): exactly count buckets written,
 * each gwlb_jump_hash's, nothing past the end; the keys where the
 * reference's rounding differs from exact math sit at every lane. */
START_TEST(test_jump_hash_batch_of_each_size_writes_exactly_count_buckets)
{
    static const struct {
        uint64_t key;
        uint32_t buckets, bucket;
    } v[] = {
        {229820519, 1000, 621},     {342762895, 1000, 739},
        {1055484, 1000000, 786432}, {6563676, 1000000, 978677},
        {1055484, 2147483647u, 1672770550u},
    };
    for (size_t t = 0; t < sizeof v / sizeof v[0]; t++)
        for (uint32_t count = 0; count <= 18; count++) {
            uint32_t m = count == 18 ? 100 : count;
            uint64_t keys[100];
            uint32_t out[101];
            for (uint32_t i = 0; i < m; i++)
                keys[i] = i % 3 == t % 3 ? v[t].key : gwlb_mix64(i * 7 + t);
            for (uint32_t i = 0; i <= m; i++)
                out[i] = 0xDEADBEEFu;
            ck_assert_int_eq(gwlb_jump_hash_batch(keys, m, v[t].buckets, out), GWLB_OK);
            for (uint32_t i = 0; i < m; i++) {
                uint32_t want = UINT32_MAX;
                gwlb_jump_hash(keys[i], v[t].buckets, &want);
                ck_assert_uint_eq(out[i], want);
                if (keys[i] == v[t].key)
                    ck_assert_uint_eq(out[i], v[t].bucket);
            }
            ck_assert_uint_eq(out[m], 0xDEADBEEFu);
        }
}
END_TEST

START_TEST(test_jump_hash_batch_rejects_bad_input_and_writes_nothing)
{
    uint64_t keys[3] = {1, 2, 3};
    uint32_t out[3] = {7, 7, 7};
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 3, 0, out), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 3, UINT32_C(0x80000000), out), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 3, UINT32_MAX, out), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash_batch(NULL, 3, 10, out), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 3, 10, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_jump_hash_batch(NULL, 0, 10, out), GWLB_EINVAL);
    ck_assert_uint_eq(out[0], 7);
    ck_assert_uint_eq(out[1], 7);
    ck_assert_uint_eq(out[2], 7);
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 0, 10, out), GWLB_OK);
    ck_assert_uint_eq(out[0], 7);
    ck_assert_int_eq(gwlb_jump_hash_batch(keys, 3, 2147483647u, out), GWLB_OK);
    ck_assert_uint_eq(out[0], paper_jump(1, 2147483647u));
    ck_assert_uint_eq(out[2], paper_jump(3, 2147483647u));
}
END_TEST

START_TEST(test_jump_table_lookup_is_jump_hash_of_the_key_hash)
{
    gwlb_hash_table *t = build(GWLB_HASH_JUMP, make_hosts(1000, NULL), 1000);
    uint8_t key[40];
    for (uint32_t k = 0; k < 4000; k++) {
        size_t len = 1 + k % sizeof key;
        for (size_t j = 0; j < len; j++)
            key[j] = (uint8_t)gwlb_mix64(k * 64 + j);
        uint32_t want, got = UINT32_MAX;
        gwlb_jump_hash(gwlb_hash64(key, len, 0), 1000, &want);
        ck_assert_int_eq(gwlb_hash_table_lookup(t, key, len, &got), GWLB_OK);
        ck_assert_uint_eq(got, want);
    }
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_inline_key_hash_equals_gwlb_hash64_for_every_length)
{
    uint8_t key[80];
    for (size_t j = 0; j < sizeof key; j++)
        key[j] = (uint8_t)(gwlb_mix64(j) >> 7);
    for (size_t len = 0; len <= sizeof key; len++)
        for (size_t off = 0; off + len <= sizeof key && off < 3; off++)
            ck_assert_uint_eq(gwlb__hash_key(key + off, len), gwlb_hash64(key + off, len, 0));
}
END_TEST

/* Maglev and ring lookups of short keys (hashed inline) land where the
 * library's documented key hash says. */
START_TEST(test_short_key_lookups_use_gwlb_hash64)
{
    gwlb_hash_table *m = build(GWLB_HASH_MAGLEV, make_hosts(100, NULL), 100);
    gwlb_hash_table *r = build(GWLB_HASH_RING, make_hosts(100, NULL), 100);
    static const size_t lens[] = {4, 8, 16, 5, 17};
    uint8_t key[17];
    for (uint32_t k = 0; k < 5000; k++) {
        size_t len = lens[k % 5];
        for (size_t j = 0; j < len; j++)
            key[j] = (uint8_t)gwlb_mix64(k * 32 + j);
        uint64_t h = gwlb_hash64(key, len, 0);
        uint32_t got = UINT32_MAX;
        ck_assert_int_eq(gwlb_hash_table_lookup(m, key, len, &got), GWLB_OK);
        ck_assert_uint_eq(got, m->maglev16[gwlb__maglev_slot(h, m->maglev_size)]);
        /* ring: the first point >= h, wrapping to the first point */
        uint32_t i = 0;
        while (i < r->point_count && r->point64[i] < h)
            i++;
        ck_assert_int_eq(gwlb_hash_table_lookup(r, key, len, &got), GWLB_OK);
        ck_assert_uint_eq(got, r->point_host[i == r->point_count ? 0 : i]);
    }
    gwlb_hash_table_free(m);
    gwlb_hash_table_free(r);
}
END_TEST

/* Eisenbud et al., NSDI 2016, Table 1 / Figure 3: M = 7, B0 (offset 3,
 * skip 4), B1 (0, 2), B2 (3, 1). */
START_TEST(test_maglev_fill_matches_paper_example)
{
    uint32_t off[3] = {3, 0, 3}, skip[3] = {4, 2, 1}, w[3] = {1, 1, 1};
    uint32_t table[7], next[3];
    uint64_t occ[1], target[3];
    uint32_t free_slots[2];
    ck_assert_uint_eq(gwlb__maglev_late_slots(7), 2);
    gwlb__maglev_fill(7, 3, off, skip, w, table, occ, next, target, free_slots);
    const uint32_t before[7] = {1, 0, 1, 0, 2, 2, 0};
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(table[i], before[i]);

    /* B1 removed: B0 B0 B0 B0 B2 B2 B2 */
    uint32_t off2[2] = {3, 3}, skip2[2] = {4, 1};
    gwlb__maglev_fill(7, 2, off2, skip2, w, table, occ, next, target, free_slots);
    const uint32_t after[7] = {0, 0, 0, 0, 1, 1, 1};
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(table[i], after[i]);
}
END_TEST

static int always(void *ctx, uint32_t h)
{
    (void)ctx;
    (void)h;
    return 1;
}

/* A bounded pick without a callback (the Maglev fast path) decides and
 * records exactly what the general path (taken with a callback that allows
 * every host) does, first pick and retries alike. */
START_TEST(test_bounded_fast_path_equals_general_path)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(300, NULL), 300);
    static uint32_t inflight[300];
    uint64_t total = 0;
    for (uint32_t i = 0; i < 300; i++) {
        inflight[i] = (uint32_t)(gwlb_mix64(i) % 9);
        total += inflight[i];
    }
    gwlb_hash_loads loads = {inflight, &total, 300};
    uint8_t key[16];
    for (uint32_t k = 0; k < 3000; k++) {
        size_t len = k % 3 == 0 ? 16 : k % 3 == 1 ? 8 : 4;
        for (size_t j = 0; j < len; j++)
            key[j] = (uint8_t)gwlb_mix64(k * 16 + j);
        gwlb_hash_attempt a, b;
        uint64_t wa[5], wb[5];
        gwlb_hash_attempt_init(&a, wa, 5);
        gwlb_hash_attempt_init(&b, wb, 5);
        for (int round = 0; round < 3; round++) {
            uint32_t ha = UINT32_MAX, hb = UINT32_MAX;
            int ra = gwlb_hash_table_pick_bounded(t, key, len, &a, NULL, NULL, &loads, 125, &ha);
            int rb = gwlb_hash_table_pick_bounded(t, key, len, &b, always, NULL, &loads, 125, &hb);
            ck_assert_int_eq(ra, rb);
            ck_assert_uint_eq(ha, hb);
            ck_assert_uint_eq(a.hash, b.hash);
            ck_assert_uint_eq(a.flags, b.flags);
            ck_assert_uint_eq(a.position, b.position);
            ck_assert_uint_eq(a.picks, b.picks);
            ck_assert_int_eq(memcmp(wa, wb, sizeof wa), 0);
        }
    }
    gwlb_hash_table_free(t);
}
END_TEST

/* The retry walk's modulo by a precomputed reciprocal is exactly %. */
START_TEST(test_reciprocal_modulo_equals_remainder)
{
    static const uint64_t ns[] = {1, 2, 3, 7, 10, 1000, 65537, 1000000, 4294967295u};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        uint64_t n = ns[i], mu = UINT64_MAX / n;
        for (uint64_t k = 0; k < 20000; k++) {
            uint64_t x = gwlb_mix64(k * 31 + i);
            if (k % 4 == 1)
                x = UINT64_MAX - k;
            else if (k % 4 == 2)
                x = k;
            ck_assert_uint_eq(gwlb__mod(x, n, mu), x % n);
        }
    }
}
END_TEST

/* The plain Maglev fill: probe each turn's permutation until a free slot. */
static void plain_maglev_fill(uint32_t m, uint32_t n, const uint32_t *off, const uint32_t *skip,
                              const uint32_t *w, uint32_t *table)
{
    uint32_t next[64], max_w = 0, filled = 0;
    uint64_t target[64];
    uint8_t *used = calloc(m, 1);
    ck_assert_ptr_nonnull(used);
    for (uint32_t i = 0; i < n; i++) {
        next[i] = off[i];
        target[i] = w[i];
        max_w = w[i] > max_w ? w[i] : max_w;
    }
    for (uint64_t round = 1; filled < m; round++)
        for (uint32_t i = 0; i < n && filled < m; i++) {
            if (round * w[i] < target[i])
                continue;
            target[i] += max_w;
            while (used[next[i]])
                next[i] = (next[i] + skip[i]) % m;
            used[next[i]] = 1;
            table[next[i]] = i;
            next[i] = (next[i] + skip[i]) % m;
            filled++;
        }
    free(used);
}

/* The fill lists the free slots for its last isqrt(M) turns and finds each
 * turn's slot by step count instead of probing: the table must be the
 * plain algorithm's, slot for slot. */
START_TEST(test_maglev_fill_equals_plain_probing)
{
    static const uint32_t sizes[] = {7, 13, 251, 1009, 4099};
    static const uint32_t counts[] = {1, 2, 3, 10, 64};
    uint32_t off[64], skip[64], w[64], next[64], free_slots[256];
    uint64_t target[64];
    uint32_t *got = malloc(4099 * sizeof *got), *want = malloc(4099 * sizeof *want);
    uint64_t *occ = malloc((4099 + 63) / 64 * sizeof *occ);
    ck_assert(got != NULL && want != NULL && occ != NULL);
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++)
            for (int weighted = 0; weighted < 2; weighted++) {
                uint32_t m = sizes[a], n = counts[b];
                ck_assert_uint_le(gwlb__maglev_late_slots(m), 256);
                for (uint32_t i = 0; i < n; i++) {
                    uint64_t h = gwlb_mix64(a * 1000 + b * 100 + i);
                    off[i] = (uint32_t)(h % m);
                    skip[i] = (uint32_t)((h >> 32) % (m - 1) + 1);
                    w[i] = weighted ? 1 + (uint32_t)(h >> 60) % 5 : 1;
                }
                gwlb__maglev_fill(m, n, off, skip, w, got, occ, next, target, free_slots);
                plain_maglev_fill(m, n, off, skip, w, want);
                for (uint32_t sl = 0; sl < m; sl++)
                    ck_assert_uint_eq(got[sl], want[sl]);
            }
    free(got);
    free(want);
    free(occ);
}
END_TEST

START_TEST(test_maglev_weights_give_slots_in_proportion)
{
    uint32_t w[3] = {1, 2, 3};
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(3, w), 3);
    uint32_t cnt[3] = {0};
    for (uint32_t s = 0; s < t->maglev_size; s++)
        cnt[gwlb__maglev_at(t, s)]++;
    /* 65537 * w / 6, within one turn */
    ck_assert_uint_le(cnt[0] > 10923 ? cnt[0] - 10923 : 10923 - cnt[0], 2);
    ck_assert_uint_le(cnt[1] > 21846 ? cnt[1] - 21846 : 21846 - cnt[1], 2);
    ck_assert_uint_le(cnt[2] > 32768 ? cnt[2] - 32768 : 32768 - cnt[2], 2);
    gwlb_hash_table_free(t);
}
END_TEST

/* nginx `hash ... consistent`: base = crc32 state over host, "\0", port;
 * point j = crc32(base || previous point as 4 LE bytes), previous = 0 first. */
START_TEST(test_nginx_consistent_points_chain_crc32_of_host_nul_port)
{
    gwlb_hash_host h[2] = {{"127.0.0.1:18201", 15, 1}, {"127.0.0.1:18202", 15, 1}};
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_CONSISTENT, h, 2);
    ck_assert_uint_eq(t->point_count, 320); /* no collisions among these */
    uint8_t buf[32];
    memcpy(buf, "127.0.0.1\0" "18201", 15);
    uint32_t prev = 0;
    for (int j = 0; j < 160; j++) {
        buf[15] = (uint8_t)prev;
        buf[16] = (uint8_t)(prev >> 8);
        buf[17] = (uint8_t)(prev >> 16);
        buf[18] = (uint8_t)(prev >> 24);
        uint32_t p = gwlb_crc32(buf, 19);
        int found = 0;
        for (uint32_t k = 0; k < t->point_count; k++)
            if (t->point32[k] == p && t->point_host[k] == 0)
                found = 1;
        ck_assert_msg(found, "point %d (%08x) missing", j, p);
        prev = p;
    }
    /* First point of "127.0.0.1:18201" (computed from the formula above). */
    ck_assert_uint_eq(gwlb_crc32("127.0.0.1\0" "18201\0\0\0\0", 19), 0x7da092bdu);
    for (uint32_t k = 1; k < t->point_count; k++)
        ck_assert_uint_lt(t->point32[k - 1], t->point32[k]);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_nginx_server_string_split_like_nginx)
{
    size_t ho, hl, po, pl;
    gwlb__nginx_server_parts((const uint8_t *)"10.0.0.1:8080", 13, &ho, &hl, &po, &pl);
    ck_assert_uint_eq(ho, 0);
    ck_assert_uint_eq(hl, 8);
    ck_assert_uint_eq(po, 9);
    ck_assert_uint_eq(pl, 4);
    gwlb__nginx_server_parts((const uint8_t *)"UNIX:/tmp/s", 11, &ho, &hl, &po, &pl);
    ck_assert_uint_eq(ho, 5);
    ck_assert_uint_eq(hl, 6);
    ck_assert_uint_eq(pl, 0);
    gwlb__nginx_server_parts((const uint8_t *)"backend.local", 13, &ho, &hl, &po, &pl);
    ck_assert_uint_eq(hl, 13);
    ck_assert_uint_eq(pl, 0);
    gwlb__nginx_server_parts((const uint8_t *)"[::1]:80", 8, &ho, &hl, &po, &pl);
    ck_assert_uint_eq(hl, 5);
    ck_assert_uint_eq(po, 6);
    ck_assert_uint_eq(pl, 2);
    gwlb__nginx_server_parts((const uint8_t *)"host:", 5, &ho, &hl, &po, &pl);
    ck_assert_uint_eq(hl, 4);
    ck_assert_uint_eq(pl, 0);
}
END_TEST

/* ---- nginx ip_hash and hash, by hand -------------------------------------------- */

START_TEST(test_nginx_ip_hash_uses_first_three_octets)
{
    /* 127.0.0.x: 89 -> (89*113+127)%6271 = 3913 -> 3199 -> 4040; 4040 % 3 = 2 */
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_IP, make_hosts(3, NULL), 3);
    uint8_t a[4] = {127, 0, 0, 1}, b[4] = {127, 0, 0, 250};
    uint32_t h1, h2;
    ck_assert_int_eq(gwlb_hash_table_lookup(t, a, 4, &h1), GWLB_OK);
    ck_assert_int_eq(gwlb_hash_table_lookup(t, b, 4, &h2), GWLB_OK);
    ck_assert_uint_eq(h1, 2);
    ck_assert_uint_eq(h2, 2);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_nginx_ip_hash_uses_all_16_bytes_of_ipv6)
{
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_IP, make_hosts(7, NULL), 7);
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    for (int last = 0; last < 64; last++) {
        a[15] = (uint8_t)last;
        uint64_t hv = 89;
        for (int i = 0; i < 16; i++)
            hv = (hv * 113 + a[i]) % 6271;
        uint32_t h;
        ck_assert_int_eq(gwlb_hash_table_lookup(t, a, 16, &h), GWLB_OK);
        ck_assert_uint_eq(h, hv % 7);
    }
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_nginx_ip_hash_weights_map_slots_in_peer_order)
{
    /* weights 1,2,3 (total 6): 4040 % 6 = 2 -> second peer (slots 1..2) */
    uint32_t w[3] = {1, 2, 3};
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_IP, make_hosts(3, w), 3);
    uint8_t a[4] = {127, 0, 0, 1};
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_table_lookup(t, a, 4, &h), GWLB_OK);
    ck_assert_uint_eq(h, 1);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_nginx_ip_hash_rehash_continues_from_running_value)
{
    /* Host 2 unusable: hashing continues from 4040 over 127,0,0 again
     * until a usable peer comes up, one try per rehash. */
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_IP, make_hosts(3, NULL), 3);
    uint64_t hv = 4040;
    uint32_t tries = 0;
    do {
        hv = (hv * 113 + 127) % 6271;
        hv = (hv * 113 + 0) % 6271;
        hv = (hv * 113 + 0) % 6271;
        tries++;
    } while (hv % 3 == 2);
    uint64_t down = 1u << 2;
    uint8_t a[4] = {127, 0, 0, 1};
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_table_pick(t, a, 4, &at, not_down, &down, &h), GWLB_OK);
    ck_assert_uint_eq(h, hv % 3);
    ck_assert_uint_eq(at.tries, tries);
    gwlb_hash_table_free(t);
}
END_TEST

static uint32_t memcached_hash(const char *prefix, const char *key)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s%s", prefix, key);
    return (gwlb_crc32(buf, strlen(buf)) >> 16) & 0x7fff;
}

START_TEST(test_nginx_hash_is_cache_memcached_crc32_with_rehash_prefix)
{
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_HASH, make_hosts(5, NULL), 5);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_table_lookup(t, "user42", 6, &h), GWLB_OK);
    ck_assert_uint_eq(h, memcached_hash("", "user42") % 5);

    /* Make the first host unusable: the next try adds crc32("1user42"). */
    uint64_t down = 1u << h;
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h2;
    ck_assert_int_eq(gwlb_hash_table_pick(t, "user42", 6, &at, not_down, &down, &h2), GWLB_OK);
    uint32_t acc = memcached_hash("", "user42");
    const char *pre[] = {"1", "2", "3", "4", "5"};
    uint32_t expect = h, tries = 0;
    for (int i = 0; expect == h; i++) {
        acc += memcached_hash(pre[i], "user42");
        expect = acc % 5;
        tries++;
    }
    ck_assert_uint_eq(h2, expect);
    ck_assert_uint_eq(at.tries, tries);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_nginx_algorithms_give_up_after_20_unusable_tries)
{
    static const uint32_t algs[3] = {GWLB_HASH_NGINX_IP, GWLB_HASH_NGINX_HASH,
                                     GWLB_HASH_NGINX_CONSISTENT};
    for (int i = 0; i < 3; i++) {
        gwlb_hash_table *t = build(algs[i], make_hosts(4, NULL), 4);
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h = 99;
        ck_assert_int_eq(gwlb_hash_table_pick(t, "\x7f\0\0\1", 4, &at, never, NULL, &h),
                         GWLB_HASH_USE_ROUND_ROBIN);
        ck_assert_uint_eq(at.tries, 21);
        ck_assert_uint_eq(h, 99);
        /* and from then on straight to round robin */
        ck_assert_int_eq(gwlb_hash_table_pick(t, "\x7f\0\0\1", 4, &at, NULL, NULL, &h),
                         GWLB_HASH_USE_ROUND_ROBIN);
        gwlb_hash_table_free(t);
    }
}
END_TEST

START_TEST(test_nginx_single_host_means_round_robin)
{
    static const uint32_t algs[3] = {GWLB_HASH_NGINX_IP, GWLB_HASH_NGINX_HASH,
                                     GWLB_HASH_NGINX_CONSISTENT};
    for (int i = 0; i < 3; i++) {
        gwlb_hash_table *t = build(algs[i], make_hosts(1, NULL), 1);
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h;
        ck_assert_int_eq(gwlb_hash_table_pick(t, "\x7f\0\0\1", 4, &at, NULL, NULL, &h),
                         GWLB_HASH_USE_ROUND_ROBIN);
        ck_assert_int_eq(gwlb_hash_table_lookup(t, "\x7f\0\0\1", 4, &h), GWLB_OK);
        ck_assert_uint_eq(h, 0);
        gwlb_hash_table_free(t);
    }
}
END_TEST

START_TEST(test_nginx_consistent_skips_to_next_point_on_unusable_host)
{
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_CONSISTENT, make_hosts(5, NULL), 5);
    for (int k = 0; k < 200; k++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", k);
        uint32_t crc = gwlb_crc32(key, (size_t)len);
        uint32_t idx = 0;
        while (idx < t->point_count && t->point32[idx] < crc)
            idx++;
        uint32_t first = t->point_host[idx % t->point_count];
        uint64_t down = 1u << first;
        uint32_t expect = first, steps = 0;
        while (expect == first) {
            idx++;
            steps++;
            expect = t->point_host[idx % t->point_count];
        }
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h;
        ck_assert_int_eq(gwlb_hash_table_pick(t, key, (size_t)len, &at, not_down, &down, &h),
                         steps > 20 ? GWLB_HASH_USE_ROUND_ROBIN : GWLB_OK);
        if (steps <= 20)
            ck_assert_uint_eq(h, expect);
    }
    gwlb_hash_table_free(t);
}
END_TEST

/* ---- retry sequences ------------------------------------------------------------ */

START_TEST(test_retry_walk_visits_every_host_once_then_reports_no_host)
{
    static const uint32_t algs[4] = {GWLB_HASH_RING, GWLB_HASH_MAGLEV, GWLB_HASH_RENDEZVOUS,
                                     GWLB_HASH_JUMP};
    for (int a = 0; a < 4; a++) {
        for (uint32_t n = 1; n <= 40; n += 13) {
            gwlb_hash_table *t = build(algs[a], make_hosts(n, NULL), n);
            gwlb_hash_attempt at;
            gwlb_hash_attempt_init(&at, NULL, 0);
            uint32_t first, h;
            ck_assert_int_eq(gwlb_hash_table_lookup(t, "session-7", 9, &first), GWLB_OK);
            uint64_t seen = 0;
            for (uint32_t i = 0; i < n; i++) {
                ck_assert_int_eq(gwlb_hash_table_pick(t, "session-7", 9, &at, NULL, NULL, &h),
                                 GWLB_OK);
                if (i == 0)
                    ck_assert_uint_eq(h, first);
                ck_assert(!((seen >> h) & 1));
                seen |= UINT64_C(1) << h;
                ck_assert(gwlb_hash_attempt_tried(&at, h));
            }
            ck_assert_int_eq(gwlb_hash_table_pick(t, "session-7", 9, &at, NULL, NULL, &h),
                             GWLB_ENOHOST);
            gwlb_hash_table_free(t);
        }
    }
}
END_TEST

START_TEST(test_retry_sequence_is_deterministic_per_key)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(30, NULL), 30);
    gwlb_hash_attempt a1, a2;
    gwlb_hash_attempt_init(&a1, NULL, 0);
    gwlb_hash_attempt_init(&a2, NULL, 0);
    for (int i = 0; i < 30; i++) {
        uint32_t x, y;
        ck_assert_int_eq(gwlb_hash_table_pick(t, "abc", 3, &a1, NULL, NULL, &x), GWLB_OK);
        ck_assert_int_eq(gwlb_hash_table_pick(t, "abc", 3, &a2, NULL, NULL, &y), GWLB_OK);
        ck_assert_uint_eq(x, y);
    }
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_unusable_primary_falls_to_the_walk)
{
    gwlb_hash_table *t = build(GWLB_HASH_RING, make_hosts(10, NULL), 10);
    uint32_t first, h;
    gwlb_hash_table_lookup(t, "x", 1, &first);
    uint64_t down = UINT64_C(1) << first;
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick(t, "x", 1, &at, not_down, &down, &h), GWLB_OK);
    ck_assert_uint_ne(h, first);
    ck_assert(!gwlb_hash_attempt_tried(&at, first));
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_large_tables_need_a_caller_bitmap)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(300, NULL), 300);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_table_pick(t, "k", 1, &at, NULL, NULL, &h), GWLB_ENOSPC);
    uint64_t words[5];
    gwlb_hash_attempt_init(&at, words, 5);
    ck_assert_int_eq(gwlb_hash_table_pick(t, "k", 1, &at, NULL, NULL, &h), GWLB_OK);
    ck_assert(gwlb_hash_attempt_tried(&at, h));
    gwlb_hash_table_free(t);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------ */

START_TEST(test_maglev_ring_rendezvous_ignore_input_order)
{
    static const uint32_t algs[3] = {GWLB_HASH_RING, GWLB_HASH_MAGLEV, GWLB_HASH_RENDEZVOUS};
    for (int a = 0; a < 3; a++) {
        gwlb_hash_host fwd[20], rev[20];
        make_hosts(20, NULL);
        for (int i = 0; i < 20; i++) {
            fwd[i] = hosts_buf[i];
            rev[19 - i] = hosts_buf[i];
        }
        gwlb_hash_table *t1 = build(algs[a], fwd, 20), *t2 = build(algs[a], rev, 20);
        for (int k = 0; k < 2000; k++) {
            uint64_t key = gwlb_mix64((uint64_t)k);
            uint32_t x, y;
            gwlb_hash_table_lookup(t1, &key, 8, &x);
            gwlb_hash_table_lookup(t2, &key, 8, &y);
            ck_assert_uint_eq(x, 19 - y);
        }
        gwlb_hash_table_free(t1);
        gwlb_hash_table_free(t2);
    }
}
END_TEST

START_TEST(test_find_returns_index_by_identity)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(50, NULL), 50);
    uint32_t i;
    ck_assert_int_eq(gwlb_hash_table_find(t, "10.0.0.17:80", 12, &i), GWLB_OK);
    ck_assert_uint_eq(i, 17);
    ck_assert_int_eq(gwlb_hash_table_find(t, "10.0.0.17:8", 11, &i), GWLB_ENOENT);
    ck_assert_int_eq(gwlb_hash_table_find(t, "", 0, &i), GWLB_ENOENT);
    ck_assert_int_eq(gwlb_hash_table_find(t, NULL, 3, &i), GWLB_EINVAL);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_maglev_memory_is_two_bytes_per_slot_plus_hosts)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(1000, NULL), 1000);
    size_t mem = gwlb_hash_table_memory(t);
    ck_assert_uint_ge(mem, 65537 * 2);
    ck_assert_uint_le(mem, 65537 * 2 + 1000 * 32 + 4096);
    printf("maglev memory: hosts=1000 M=65537 -> %zu bytes\n", mem);
    gwlb_hash_table_free(t);
}
END_TEST

/* ---- bounded load ---------------------------------------------------------------- */

START_TEST(test_bounded_load_caps_every_host_at_ceil_c_times_average)
{
    enum { N = 10 };
    uint32_t inflight[N] = {0};
    uint64_t total = 0;
    gwlb_hash_loads loads = {inflight, &total, N};
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(N, NULL), N);
    /* One hot key: everything wants the same host. */
    for (uint32_t r = 1; r <= 200; r++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h;
        ck_assert_int_eq(
            gwlb_hash_table_pick_bounded(t, "hot", 3, &at, NULL, NULL, &loads, 125, &h),
            GWLB_OK);
        ck_assert_int_eq(gwlb_hash_loads_acquire(&loads, h), GWLB_OK);
        uint32_t cap = (uint32_t)((r * 125 + N * 100 - 1) / (N * 100)); /* ceil(1.25 r / N) */
        for (int i = 0; i < N; i++)
            ck_assert_uint_le(inflight[i], cap);
    }
    ck_assert_uint_eq(total, 200);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_bounded_load_keeps_the_key_host_while_under_capacity)
{
    uint32_t inflight[8] = {0};
    uint64_t total = 0;
    gwlb_hash_loads loads = {inflight, &total, 8};
    gwlb_hash_table *t = build(GWLB_HASH_RING, make_hosts(8, NULL), 8);
    uint32_t first, h;
    gwlb_hash_table_lookup(t, "k", 1, &first);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_bounded(t, "k", 1, &at, NULL, NULL, &loads, 150, &h),
                     GWLB_OK);
    ck_assert_uint_eq(h, first);
    /* first at its cap: with T = 8 others elsewhere, cap = ceil(9 * 1.5 / 8) = 2 */
    inflight[first] = 2;
    inflight[(first + 1) % 8] = 6;
    total = 8;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_bounded(t, "k", 1, &at, NULL, NULL, &loads, 150, &h),
                     GWLB_OK);
    ck_assert_uint_ne(h, first);
    ck_assert_uint_ne(h, (first + 1) % 8);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_bounded_load_rejects_bad_factor_and_nginx_tables)
{
    uint32_t inflight[4] = {0};
    uint64_t total = 0;
    gwlb_hash_loads loads = {inflight, &total, 4};
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(4, NULL), 4);
    gwlb_hash_table *ng = build(GWLB_HASH_NGINX_HASH, make_hosts(4, NULL), 4);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_table_pick_bounded(t, "k", 1, &at, NULL, NULL, &loads, 99, &h),
                     GWLB_ERANGE);
    ck_assert_int_eq(
        gwlb_hash_table_pick_bounded(t, "k", 1, &at, NULL, NULL, &loads, 10001, &h),
        GWLB_ERANGE);
    ck_assert_int_eq(gwlb_hash_table_pick_bounded(ng, "k", 1, &at, NULL, NULL, &loads, 125, &h),
                     GWLB_ENOTSUP);
    gwlb_hash_loads short_loads = {inflight, &total, 3};
    ck_assert_int_eq(
        gwlb_hash_table_pick_bounded(t, "k", 1, &at, NULL, NULL, &short_loads, 125, &h),
        GWLB_EINVAL);
    ck_assert_uint_eq(at.picks, 0);
    ck_assert_int_eq(gwlb_hash_loads_release(&loads, 2), GWLB_ESTATE);
    ck_assert_int_eq(gwlb_hash_loads_acquire(&loads, 4), GWLB_ERANGE);
    ck_assert_uint_eq(total, 0);
    ck_assert_uint_eq(inflight[2], 0);
    gwlb_hash_table_free(t);
    gwlb_hash_table_free(ng);
}
END_TEST

/* ---- sticky tokens ---------------------------------------------------------------- */

static gwlb_hash_table *sticky_table(uint32_t n, uint32_t skip_host)
{
    gwlb_hash_host h[16];
    make_hosts(n, NULL);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (i != skip_host)
            h[m++] = hosts_buf[i];
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, GWLB_HASH_MAGLEV);
    c.sticky_enabled = 1;
    memcpy(c.sticky_key, "0123456789abcdef", 16);
    gwlb_hash_table *t = NULL;
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, h, m, NULL, NULL), GWLB_OK);
    return t;
}

START_TEST(test_sticky_token_round_trips_by_identity_across_rebuilds)
{
    gwlb_hash_table *t = sticky_table(8, UINT32_MAX);
    char tok[32];
    size_t len;
    ck_assert_int_eq(gwlb_hash_sticky_encode(t, 5, tok, sizeof tok, &len), GWLB_OK);
    ck_assert_uint_eq(len, GWLB_HASH_STICKY_TOKEN_LEN);
    for (size_t i = 0; i < len; i++)
        ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                         tok[i]) != NULL);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_sticky_decode(t, tok, len, &h), GWLB_OK);
    ck_assert_uint_eq(h, 5);
    /* Host 2 removed: "10.0.0.5:80" is now index 4, the token still names it. */
    gwlb_hash_table *t2 = sticky_table(8, 2);
    ck_assert_int_eq(gwlb_hash_sticky_decode(t2, tok, len, &h), GWLB_OK);
    ck_assert_uint_eq(h, 4);
    gwlb_hash_table_free(t);
    gwlb_hash_table_free(t2);
}
END_TEST

START_TEST(test_sticky_token_of_removed_host_is_unknown)
{
    gwlb_hash_table *t = sticky_table(8, UINT32_MAX);
    gwlb_hash_table *t2 = sticky_table(8, 5);
    char tok[32];
    size_t len;
    gwlb_hash_sticky_encode(t, 5, tok, sizeof tok, &len);
    uint32_t h = 77;
    ck_assert_int_eq(gwlb_hash_sticky_decode(t2, tok, len, &h), GWLB_EUNKNOWN);
    ck_assert_uint_eq(h, 77);
    gwlb_hash_table_free(t);
    gwlb_hash_table_free(t2);
}
END_TEST

START_TEST(test_sticky_token_tampered_is_forged)
{
    gwlb_hash_table *t = sticky_table(8, UINT32_MAX);
    char tok[32];
    size_t len;
    gwlb_hash_sticky_encode(t, 3, tok, sizeof tok, &len);
    uint32_t h;
    for (size_t i = 2; i < len - 1; i++) { /* chars 0-1 hold the version byte */
        char save = tok[i];
        tok[i] = save == 'A' ? 'B' : 'A';
        int rc = gwlb_hash_sticky_decode(t, tok, len, &h);
        ck_assert_msg(rc == GWLB_EFORGED, "position %zu gave %d", i, rc);
        tok[i] = save;
    }
    /* a token made with another key */
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, GWLB_HASH_MAGLEV);
    c.sticky_enabled = 1;
    memcpy(c.sticky_key, "fedcba9876543210", 16);
    gwlb_hash_table *other = NULL;
    ck_assert_int_eq(gwlb_hash_table_new(&other, &c, hosts_buf, 8, NULL, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_hash_sticky_decode(other, tok, len, &h), GWLB_EFORGED);
    gwlb_hash_table_free(other);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_sticky_malformed_tokens_are_protocol_errors)
{
    gwlb_hash_table *t = sticky_table(4, UINT32_MAX);
    char tok[32];
    size_t len;
    gwlb_hash_sticky_encode(t, 1, tok, sizeof tok, &len);
    uint32_t h;
    ck_assert_int_eq(gwlb_hash_sticky_decode(t, tok, len - 1, &h), GWLB_EPROTO);
    char bad[32];
    memcpy(bad, tok, len);
    bad[7] = '=';
    ck_assert_int_eq(gwlb_hash_sticky_decode(t, bad, len, &h), GWLB_EPROTO);
    memcpy(bad, tok, len);
    bad[0] = 'B'; /* version byte 0x05 */
    ck_assert_int_eq(gwlb_hash_sticky_decode(t, bad, len, &h), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_hash_sticky_encode(t, 1, tok, 22, &len), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_hash_sticky_encode(t, 4, tok, 32, &len), GWLB_ERANGE);
    gwlb_hash_table *plain = build(GWLB_HASH_MAGLEV, make_hosts(4, NULL), 4);
    ck_assert_int_eq(gwlb_hash_sticky_encode(plain, 1, tok, 32, &len), GWLB_ESTATE);
    ck_assert_int_eq(gwlb_hash_sticky_decode(plain, tok, 23, &h), GWLB_ESTATE);
    gwlb_hash_table_free(plain);
    gwlb_hash_table_free(t);
}
END_TEST

START_TEST(test_pick_sticky_honours_token_or_falls_back_with_reason)
{
    gwlb_hash_table *t = sticky_table(8, UINT32_MAX);
    char tok[32];
    size_t len;
    gwlb_hash_sticky_encode(t, 6, tok, sizeof tok, &len);
    uint32_t normal, h;
    gwlb_hash_table_lookup(t, "user", 4, &normal);
    gwlb_hash_attempt at;
    int st;

    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_sticky(t, tok, len, "user", 4, &at, NULL, NULL, &h, &st),
                     GWLB_OK);
    ck_assert_int_eq(st, GWLB_OK);
    ck_assert_uint_eq(h, 6);

    uint64_t down = 1u << 6;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_sticky(t, tok, len, "user", 4, &at, not_down, &down,
                                                 &h, &st),
                     GWLB_OK);
    ck_assert_int_eq(st, GWLB_ENOHOST);
    ck_assert_uint_ne(h, 6);

    tok[3] ^= 1;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_sticky(t, tok, len, "user", 4, &at, NULL, NULL, &h, &st),
                     GWLB_OK);
    ck_assert_int_eq(st, GWLB_EFORGED);
    ck_assert_uint_eq(h, normal);

    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_table_pick_sticky(t, NULL, 0, "user", 4, &at, NULL, NULL, &h, &st),
                     GWLB_OK);
    ck_assert_int_eq(st, GWLB_EMPTY);
    ck_assert_uint_eq(h, normal);
    gwlb_hash_table_free(t);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------- */

static int try_build(uint32_t alg, const gwlb_hash_host *h, uint32_t n, uint32_t maglev,
                     gwlb_error_detail *d)
{
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, alg);
    if (maglev)
        c.maglev_table_size = maglev;
    gwlb_hash_table *t = (gwlb_hash_table *)(uintptr_t)1;
    int rc = gwlb_hash_table_new(&t, &c, h, n, NULL, d);
    if (rc == GWLB_OK)
        gwlb_hash_table_free(t);
    else
        ck_assert_ptr_eq(t, (gwlb_hash_table *)(uintptr_t)1); /* out untouched */
    return rc;
}

START_TEST(test_zero_hosts_is_empty)
{
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, hosts_buf, 0, 0, NULL), GWLB_EMPTY);
}
END_TEST

START_TEST(test_weight_zero_and_too_big_are_weight_errors)
{
    gwlb_error_detail d;
    uint32_t w[3] = {1, 0, 1};
    ck_assert_int_eq(try_build(GWLB_HASH_RING, make_hosts(3, w), 3, 0, &d), GWLB_EWEIGHT);
    ck_assert_int_eq(d.item, 1);
    ck_assert_str_eq(d.field, "weight");
    uint32_t w2[3] = {1, 1, GWLB_HASH_WEIGHT_MAX + 1};
    ck_assert_int_eq(try_build(GWLB_HASH_NGINX_HASH, make_hosts(3, w2), 3, 0, &d), GWLB_EWEIGHT);
    ck_assert_int_eq(d.item, 2);
}
END_TEST

START_TEST(test_maglev_size_not_prime_or_too_small_is_rejected)
{
    gwlb_error_detail d;
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, make_hosts(10, NULL), 10, 65536, &d),
                     GWLB_ENOTPRIME);
    ck_assert_str_eq(d.field, "maglev_table_size");
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, make_hosts(10, NULL), 10, 7, &d), GWLB_ERANGE);
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, make_hosts(10, NULL), 10, 11, &d), GWLB_OK);
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, make_hosts(1, NULL), 1, 1, &d), GWLB_ERANGE);
}
END_TEST

START_TEST(test_identity_errors_are_specific)
{
    gwlb_error_detail d;
    gwlb_hash_host h[3] = {{"a:1", 3, 1}, {"b:1", 3, 1}, {"a:1", 3, 1}};
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, h, 3, 0, &d), GWLB_EEXIST);
    ck_assert_int_eq(d.item, 2);
    ck_assert_int_eq(d.other, 0);
    h[2].identity_len = 0;
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, h, 3, 0, &d), GWLB_EMPTY);
    ck_assert_int_eq(d.item, 2);
    static char longid[300];
    memset(longid, 'x', sizeof longid);
    h[2].identity = longid;
    h[2].identity_len = 256;
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, h, 3, 0, &d), GWLB_ETOOLONG);
    h[2].identity = NULL;
    h[2].identity_len = 3;
    ck_assert_int_eq(try_build(GWLB_HASH_MAGLEV, h, 3, 0, &d), GWLB_EINVAL);
}
END_TEST

START_TEST(test_config_errors_are_specific)
{
    gwlb_hash_config c;
    gwlb_hash_table *t = NULL;
    make_hosts(4, NULL);
    gwlb_hash_config_init(&c, 99);
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, hosts_buf, 4, NULL, NULL), GWLB_EINVAL);
    gwlb_hash_config_init(&c, GWLB_HASH_RING);
    c.struct_size = 8;
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, hosts_buf, 4, NULL, NULL), GWLB_EVERSION);
    gwlb_hash_config_init(&c, GWLB_HASH_RING);
    c.ring_min_size = 4096;
    c.ring_max_size = 1024;
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, hosts_buf, 4, NULL, NULL), GWLB_ERANGE);
    uint32_t w[4] = {1, 2, 1, 1};
    gwlb_hash_config_init(&c, GWLB_HASH_JUMP);
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, make_hosts(4, w), 4, NULL, NULL),
                     GWLB_ENOTSUP);
    ck_assert_int_eq(gwlb_hash_table_new(NULL, &c, hosts_buf, 4, NULL, NULL), GWLB_EINVAL);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_key_errors_are_specific_and_record_nothing)
{
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(4, NULL), 4);
    gwlb_hash_table *ip = build(GWLB_HASH_NGINX_IP, make_hosts(4, NULL), 4);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h = 42;
    static char huge[GWLB_HASH_KEY_MAX + 1];
    ck_assert_int_eq(gwlb_hash_table_pick(t, "", 0, &at, NULL, NULL, &h), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_hash_table_pick(t, huge, sizeof huge, &at, NULL, NULL, &h),
                     GWLB_ETOOLONG);
    ck_assert_int_eq(gwlb_hash_table_pick(t, NULL, 3, &at, NULL, NULL, &h), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_hash_table_pick(ip, "abc", 3, &at, NULL, NULL, &h), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_hash_table_lookup(t, "", 0, &h), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_hash_table_lookup(NULL, "a", 1, &h), GWLB_EINVAL);
    ck_assert_uint_eq(at.picks, 0);
    ck_assert_uint_eq(at.flags, 0);
    ck_assert_uint_eq(h, 42);
    ck_assert_int_eq(gwlb_hash_table_pick(t, huge, GWLB_HASH_KEY_MAX, &at, NULL, NULL, &h),
                     GWLB_OK);
    ck_assert_uint_lt(h, 4);
    gwlb_hash_table_free(t);
    gwlb_hash_table_free(ip);
    gwlb_hash_table_free(NULL);
}
END_TEST

START_TEST(test_every_allocation_failure_is_enomem_and_leaks_nothing)
{
    static const uint32_t algs[7] = {GWLB_HASH_NGINX_IP, GWLB_HASH_NGINX_HASH,
                                     GWLB_HASH_NGINX_CONSISTENT, GWLB_HASH_RING,
                                     GWLB_HASH_MAGLEV, GWLB_HASH_RENDEZVOUS, GWLB_HASH_JUMP};
    make_hosts(5, NULL);
    for (int a = 0; a < 7; a++) {
        gwlb_hash_config c;
        gwlb_hash_config_init(&c, algs[a]);
        c.sticky_enabled = 1;
        c.maglev_table_size = 101;
        for (long n = 1;; n++) {
            test_alloc ta;
            test_alloc_init(&ta, n);
            gwlb_hash_table *t = NULL;
            int rc = gwlb_hash_table_new(&t, &c, hosts_buf, 5, &ta.allocator, NULL);
            if (rc == GWLB_OK) {
                ck_assert_uint_gt(gwlb_hash_table_memory(t), 0);
                gwlb_hash_table_free(t);
                ck_assert_int_eq(ta.live_blocks, 0);
                ck_assert_int_eq(ta.size_mismatches, 0);
                ck_assert_int_gt(n, 3);
                break;
            }
            ck_assert_int_eq(rc, GWLB_ENOMEM);
            ck_assert_ptr_null(t);
            ck_assert_int_eq(ta.live_blocks, 0);
            ck_assert_int_eq(ta.size_mismatches, 0);
        }
    }
}
END_TEST

START_TEST(test_rendezvous_weights_shift_share)
{
    uint32_t w[4] = {1, 1, 1, 5};
    gwlb_hash_table *t = build(GWLB_HASH_RENDEZVOUS, make_hosts(4, w), 4);
    uint32_t cnt[4] = {0};
    for (uint64_t k = 0; k < 80000; k++) {
        uint32_t h;
        gwlb_hash_table_lookup(t, &k, 8, &h);
        cnt[h]++;
    }
    /* expected 10000, 10000, 10000, 50000 */
    for (int i = 0; i < 3; i++)
        ck_assert_uint_lt(cnt[i] > 10000 ? cnt[i] - 10000 : 10000 - cnt[i], 500);
    ck_assert_uint_lt(cnt[3] > 50000 ? cnt[3] - 50000 : 50000 - cnt[3], 1000);
    gwlb_hash_table_free(t);
}
END_TEST

/* CRC-32 by its definition, one bit at a time (reflected, 0xEDB88320). */
static uint32_t bitwise_crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc;
}

/* The slicing-by-8 CRC (gwlb_crc32_update and the lookups' direct call)
 * equals the bit-wise definition for every length and alignment. */
START_TEST(test_fast_crc32_equals_gwlb_crc32)
{
    uint8_t buf[300];
    uint64_t x = 1;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = gwlb_mix64(x + i);
        buf[i] = (uint8_t)x;
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 1 + len / 8) {
            uint32_t want = bitwise_crc32_update(0x12345678u, buf + off, len);
            ck_assert_uint_eq(gwlb__crc32_update_fast(0x12345678u, buf + off, len), want);
            ck_assert_uint_eq(gwlb_crc32_update(0x12345678u, buf + off, len), want);
            ck_assert_uint_eq(gwlb_crc32(buf + off, len),
                              gwlb_crc32_final(bitwise_crc32_update(GWLB_CRC32_INIT, buf + off,
                                                                    len)));
        }
    ck_assert_uint_eq(gwlb_crc32_final(gwlb__crc32_update_fast(GWLB_CRC32_INIT, "123456789", 9)),
                      0xCBF43926u);
}
END_TEST

START_TEST(test_ln_is_accurate)
{
    ck_assert(gwlb__hash_ln(1.0) == 0.0);
    double x = 0.5, e = -0.6931471805599453;
    ck_assert(gwlb__hash_ln(x) - e < 1e-15 && e - gwlb__hash_ln(x) < 1e-15);
    double y = gwlb__hash_ln(1e-10); /* -23.025850929940457 */
    ck_assert(y + 23.025850929940457 < 1e-12 && y + 23.025850929940457 > -1e-12);
}
END_TEST

START_TEST(test_ring_size_follows_envoy_scale)
{
    /* 10 equal hosts, min 1024: scale = ceil(0.1 * 1024) / 0.1 = 1030 points */
    gwlb_hash_table *t = build(GWLB_HASH_RING, make_hosts(10, NULL), 10);
    ck_assert_uint_eq(t->point_count, 1030);
    gwlb_hash_table_free(t);
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, GWLB_HASH_RING);
    c.ring_max_size = 1024; /* 3 hosts: ceil(1024 / 3) * 3 = 1026 > max: capped */
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, make_hosts(3, NULL), 3, NULL, NULL), GWLB_OK);
    ck_assert_uint_eq(t->point_count, 1024);
    gwlb_hash_table_free(t);
}
END_TEST

/* ---- on top of the balancer ------------------------------------------------------ */

typedef struct bal_fixture {
    gwlb_balancer_state *state;
    gwlb_balancer *bal;
    gwlb_hash_table *table;
} bal_fixture;

static void bal_setup(bal_fixture *f, uint32_t alg, uint32_t n, const uint32_t *weights)
{
    ck_assert_int_eq(gwlb_balancer_state_new(64, NULL, &f->state), GWLB_OK);
    gwlb_balancer_config bc;
    gwlb_balancer_config_init(&bc, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    gwlb_balancer_host bh[16];
    make_hosts(n, weights);
    for (uint32_t i = 0; i < n; i++) {
        gwlb_balancer_host_init(&bh[i], hosts_buf[i].identity);
        bh[i].weight = hosts_buf[i].weight;
    }
    ck_assert_int_eq(gwlb_balancer_build(&bc, bh, n, f->state, 0, &f->bal, NULL), GWLB_OK);
    gwlb_hash_config hc;
    gwlb_hash_config_init(&hc, alg);
    ck_assert_int_eq(gwlb_hash_table_new_from_balancer(&f->table, &hc, f->bal, NULL, NULL),
                     GWLB_OK);
}

static void bal_teardown(bal_fixture *f)
{
    gwlb_hash_table_free(f->table);
    gwlb_balancer_free(f->bal);
    gwlb_balancer_state_free(f->state);
}

START_TEST(test_table_from_balancer_maps_like_a_table_from_the_same_hosts)
{
    bal_fixture f;
    uint32_t w[5] = {1, 2, 3, 1, 1};
    bal_setup(&f, GWLB_HASH_NGINX_CONSISTENT, 5, w);
    gwlb_hash_table *t = build(GWLB_HASH_NGINX_CONSISTENT, make_hosts(5, w), 5);
    for (int k = 0; k < 500; k++) {
        uint32_t a, b;
        gwlb_hash_table_lookup(f.table, &k, sizeof k, &a);
        gwlb_hash_table_lookup(t, &k, sizeof k, &b);
        ck_assert_uint_eq(a, b);
    }
    gwlb_hash_table_free(t);
    bal_teardown(&f);
}
END_TEST

START_TEST(test_balancer_pick_takes_the_key_host_and_skips_ineligible_ones)
{
    bal_fixture f;
    bal_setup(&f, GWLB_HASH_MAGLEV, 6, NULL);
    uint32_t first;
    gwlb_hash_table_lookup(f.table, "key", 3, &first);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_hash_balancer_pick(f.table, f.bal, 1, "key", 3, &at, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, first);
    gwlb_balancer_host_stats st;
    ck_assert_int_eq(gwlb_balancer_host_stats_get(f.bal, first, &st), GWLB_OK);
    ck_assert_uint_eq(st.in_flight, 1);
    ck_assert_int_eq(gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 10, 2), GWLB_OK);

    ck_assert_int_eq(gwlb_balancer_host_flags_update(f.bal, first, GWLB_HOST_EJECTED, 0), GWLB_OK);
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_balancer_pick(f.table, f.bal, 3, "key", 3, &at, &r), GWLB_OK);
    ck_assert_uint_ne(r.host_index, first);
    ck_assert_int_eq(gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 10, 4), GWLB_OK);
    bal_teardown(&f);
}
END_TEST

START_TEST(test_balancer_pick_falls_back_to_nginx_round_robin_after_20_tries)
{
    /* Every host but 1 and 3 ineligible, and 1 and 3 are never hashed to
     * within 20 tries for some keys: those go to smooth WRR over {1, 3}
     * (weights 1 and 2: 3, 1, 3, 3, 1, 3...). */
    bal_fixture f;
    uint32_t w[6] = {9, 1, 9, 2, 9, 9};
    bal_setup(&f, GWLB_HASH_NGINX_HASH, 6, w);
    for (uint32_t i = 0; i < 6; i++)
        if (i != 1 && i != 3)
            gwlb_balancer_host_flags_update(f.bal, i, GWLB_HOST_MAINTENANCE, 0);
    uint32_t seq[8];
    int nseq = 0;
    for (int k = 0; k < 4000 && nseq < 6; k++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", k);
        gwlb_hash_attempt probe;
        gwlb_hash_attempt_init(&probe, NULL, 0);
        uint32_t h;
        uint64_t down = ~(UINT64_C(1) << 1 | UINT64_C(1) << 3);
        if (gwlb_hash_table_pick(f.table, key, (size_t)len, &probe, not_down, &down, &h) !=
            GWLB_HASH_USE_ROUND_ROBIN)
            continue;
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_hash_balancer_pick(f.table, f.bal, 1, key, (size_t)len, &at, &r),
                         GWLB_OK);
        ck_assert(gwlb_hash_attempt_tried(&at, r.host_index));
        seq[nseq++] = r.host_index;
        gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 10, 1);
    }
    ck_assert_int_eq(nseq, 6);
    const uint32_t want[6] = {3, 1, 3, 3, 1, 3};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(seq[i], want[i]);
    bal_teardown(&f);
}
END_TEST

START_TEST(test_balancer_bounded_pick_spreads_a_hot_key_by_in_flight_counts)
{
    bal_fixture f;
    bal_setup(&f, GWLB_HASH_RING, 8, NULL);
    gwlb_balancer_result held[64];
    for (uint32_t r = 1; r <= 64; r++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        ck_assert_int_eq(
            gwlb_hash_balancer_pick_bounded(f.table, f.bal, 1, "hot", 3, &at, 125, &held[r - 1]),
            GWLB_OK);
        uint32_t cap = (r * 125 + 800 - 1) / 800; /* ceil(1.25 r / 8) */
        for (uint32_t i = 0; i < 8; i++) {
            gwlb_balancer_host_stats st;
            gwlb_balancer_host_stats_get(f.bal, i, &st);
            ck_assert_uint_le(st.in_flight, cap);
        }
    }
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(gwlb_balancer_release(f.bal, &held[i], GWLB_BALANCER_SUCCESS, 10, 2),
                         GWLB_OK);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    ck_assert_int_eq(gwlb_hash_balancer_pick_bounded(f.table, f.bal, 1, "hot", 3, &at, 99,
                                                     &held[0]),
                     GWLB_ERANGE);
    bal_teardown(&f);
}
END_TEST

START_TEST(test_table_from_balancer_allocation_failures_leak_nothing)
{
    bal_fixture f;
    bal_setup(&f, GWLB_HASH_NGINX_CONSISTENT, 6, NULL);
    gwlb_hash_config hc;
    gwlb_hash_config_init(&hc, GWLB_HASH_NGINX_CONSISTENT);
    for (long n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_hash_table *t = NULL;
        int rc = gwlb_hash_table_new_from_balancer(&t, &hc, f.bal, &ta.allocator, NULL);
        if (rc == GWLB_OK) {
            gwlb_hash_table_free(t);
            ck_assert_int_eq(ta.live_blocks, 0);
            break;
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_ptr_null(t);
        ck_assert_int_eq(ta.live_blocks, 0);
        ck_assert_int_eq(ta.size_mismatches, 0);
    }
    bal_teardown(&f);
}
END_TEST

START_TEST(test_balancer_pick_rejects_a_table_of_another_size)
{
    bal_fixture f;
    bal_setup(&f, GWLB_HASH_MAGLEV, 6, NULL);
    gwlb_hash_table *t = build(GWLB_HASH_MAGLEV, make_hosts(5, NULL), 5);
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_hash_balancer_pick(t, f.bal, 1, "k", 1, &at, &r), GWLB_ECONFLICT);
    ck_assert_int_eq(gwlb_hash_balancer_pick(NULL, f.bal, 1, "k", 1, &at, &r), GWLB_EINVAL);
    gwlb_hash_table_free(t);
    bal_teardown(&f);
}
END_TEST

static Suite *hashing_suite(void)
{
    Suite *s = suite_create("hashing");
    TCase *v = tcase_create("vectors");
    tcase_add_test(v, test_jump_hash_matches_reference_values_for_key_1);
    tcase_add_test(v, test_jump_hash_growing_buckets_moves_keys_only_to_the_new_bucket);
    tcase_add_test(v, test_jump_hash_rejects_zero_and_huge_bucket_counts);
    tcase_add_test(v, test_jump_hash_equals_the_papers_loop_for_many_keys);
    tcase_add_test(v, test_jump_hash_equals_the_papers_loop_for_a_million_keys_at_edge_counts);
    tcase_add_test(v, test_jump_hash_follows_the_reference_rounding_where_exact_math_differs);
    tcase_add_test(v, test_jump_hash_batch_equals_jump_hash_for_a_million_keys_at_edge_counts);
    tcase_add_test(v, test_jump_hash_batch_follows_the_reference_on_keys_its_lanes_cannot_decide);
    tcase_add_test(v, test_jump_hash_batch_of_each_size_writes_exactly_count_buckets);
    tcase_add_test(v, test_jump_hash_batch_rejects_bad_input_and_writes_nothing);
    tcase_add_test(v, test_jump_table_lookup_is_jump_hash_of_the_key_hash);
    tcase_add_test(v, test_inline_key_hash_equals_gwlb_hash64_for_every_length);
    tcase_add_test(v, test_short_key_lookups_use_gwlb_hash64);
    tcase_add_test(v, test_maglev_fill_matches_paper_example);
    tcase_add_test(v, test_maglev_weights_give_slots_in_proportion);
    tcase_add_test(v, test_maglev_fill_equals_plain_probing);
    tcase_add_test(v, test_reciprocal_modulo_equals_remainder);
    tcase_add_test(v, test_nginx_consistent_points_chain_crc32_of_host_nul_port);
    tcase_add_test(v, test_nginx_server_string_split_like_nginx);
    tcase_add_test(v, test_ring_size_follows_envoy_scale);
    tcase_add_test(v, test_ln_is_accurate);
    tcase_add_test(v, test_fast_crc32_equals_gwlb_crc32);
    suite_add_tcase(s, v);

    TCase *n = tcase_create("nginx");
    tcase_add_test(n, test_nginx_ip_hash_uses_first_three_octets);
    tcase_add_test(n, test_nginx_ip_hash_weights_map_slots_in_peer_order);
    tcase_add_test(n, test_nginx_ip_hash_uses_all_16_bytes_of_ipv6);
    tcase_add_test(n, test_nginx_ip_hash_rehash_continues_from_running_value);
    tcase_add_test(n, test_nginx_hash_is_cache_memcached_crc32_with_rehash_prefix);
    tcase_add_test(n, test_nginx_algorithms_give_up_after_20_unusable_tries);
    tcase_add_test(n, test_nginx_single_host_means_round_robin);
    tcase_add_test(n, test_nginx_consistent_skips_to_next_point_on_unusable_host);
    suite_add_tcase(s, n);

    TCase *r = tcase_create("sequences");
    tcase_add_test(r, test_retry_walk_visits_every_host_once_then_reports_no_host);
    tcase_add_test(r, test_retry_sequence_is_deterministic_per_key);
    tcase_add_test(r, test_unusable_primary_falls_to_the_walk);
    tcase_add_test(r, test_large_tables_need_a_caller_bitmap);
    tcase_add_test(r, test_maglev_ring_rendezvous_ignore_input_order);
    tcase_add_test(r, test_find_returns_index_by_identity);
    tcase_add_test(r, test_maglev_memory_is_two_bytes_per_slot_plus_hosts);
    tcase_add_test(r, test_rendezvous_weights_shift_share);
    suite_add_tcase(s, r);

    TCase *b = tcase_create("bounded");
    tcase_add_test(b, test_bounded_load_caps_every_host_at_ceil_c_times_average);
    tcase_add_test(b, test_bounded_load_keeps_the_key_host_while_under_capacity);
    tcase_add_test(b, test_bounded_load_rejects_bad_factor_and_nginx_tables);
    tcase_add_test(b, test_bounded_fast_path_equals_general_path);
    suite_add_tcase(s, b);

    TCase *k = tcase_create("sticky");
    tcase_add_test(k, test_sticky_token_round_trips_by_identity_across_rebuilds);
    tcase_add_test(k, test_sticky_token_of_removed_host_is_unknown);
    tcase_add_test(k, test_sticky_token_tampered_is_forged);
    tcase_add_test(k, test_sticky_malformed_tokens_are_protocol_errors);
    tcase_add_test(k, test_pick_sticky_honours_token_or_falls_back_with_reason);
    suite_add_tcase(s, k);

    TCase *bl = tcase_create("balancer");
    tcase_add_test(bl, test_table_from_balancer_maps_like_a_table_from_the_same_hosts);
    tcase_add_test(bl, test_balancer_pick_takes_the_key_host_and_skips_ineligible_ones);
    tcase_add_test(bl, test_balancer_pick_falls_back_to_nginx_round_robin_after_20_tries);
    tcase_add_test(bl, test_balancer_pick_rejects_a_table_of_another_size);
    tcase_add_test(bl, test_table_from_balancer_allocation_failures_leak_nothing);
    tcase_add_test(bl, test_balancer_bounded_pick_spreads_a_hot_key_by_in_flight_counts);
    suite_add_tcase(s, bl);

    TCase *e = tcase_create("bad_input");
    tcase_add_test(e, test_zero_hosts_is_empty);
    tcase_add_test(e, test_weight_zero_and_too_big_are_weight_errors);
    tcase_add_test(e, test_maglev_size_not_prime_or_too_small_is_rejected);
    tcase_add_test(e, test_identity_errors_are_specific);
    tcase_add_test(e, test_config_errors_are_specific);
    tcase_add_test(e, test_key_errors_are_specific_and_record_nothing);
    tcase_add_test(e, test_every_allocation_failure_is_enomem_and_leaks_nothing);
    suite_add_tcase(s, e);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hashing_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
