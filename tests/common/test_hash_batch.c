/*
 * Specification of gwlb_hash64_batch: every path (the CPU's best, scalar,
 * AVX-512 when the CPU has it) gives gwlb_hash64 of each key bit for bit,
 * at every length, count, stride and seed; bad input writes nothing.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "internal.h"
#include "xxh64_vectors.h"
#include "test_run.h"

int gwlb__hash64_batch_path(const void *keys, size_t key_len, size_t stride, uint32_t count,
                            uint64_t seed, uint64_t *out, int path);

enum { NPATHS = 3, MAXN = 1000, MAXSTRIDE = 48 };

static uint8_t buf[MAXN * MAXSTRIDE];
static uint64_t got[MAXN + 1];

static void fill_random(uint64_t seed)
{
    gwlb_rng r;
    gwlb_rng_seed(&r, seed);
    for (size_t i = 0; i < sizeof buf; i += 8) {
        uint64_t v = gwlb_rng_next(&r);
        memcpy(buf + i, &v, 8);
    }
}

/* Runs one path over count keys and checks each against gwlb_hash64 and
 * that out[count] is untouched. Returns 0 when the path is not supported. */
static int check_path(int path, const uint8_t *keys, size_t len, size_t stride, uint32_t count,
                      uint64_t seed)
{
    memset(got, 0xa5, sizeof got);
    int rc = gwlb__hash64_batch_path(keys, len, stride, count, seed, got, path);
    if (rc == GWLB_ENOTSUP && path == 2)
        return 0;
    ck_assert_int_eq(rc, GWLB_OK);
    for (uint32_t i = 0; i < count; i++)
        ck_assert_msg(got[i] == gwlb_hash64(keys + (size_t)i * stride, len, seed),
                      "path %d len %zu stride %zu count %u key %u seed %llx", path, len,
                      stride, count, i, (unsigned long long)seed);
    ck_assert_uint_eq(got[count], UINT64_C(0xa5a5a5a5a5a5a5a5));
    return 1;
}

static const uint64_t seeds[] = {0, 1, UINT64_C(0x9e3779b97f4a7c15), UINT64_MAX};

START_TEST(test_every_path_equals_hash64_for_16_byte_keys)
{
    static const size_t strides[] = {16, 24, 17, 40};
    int wide = 0;
    fill_random(16);
    for (int path = 0; path < NPATHS; path++)
        for (size_t s = 0; s < sizeof strides / sizeof strides[0]; s++)
            for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
                for (uint32_t n = 0; n <= 33; n++)
                    wide |= check_path(path, buf + 3, 16, strides[s], n, seeds[k]) << path;
                wide |= check_path(path, buf, 16, strides[s], MAXN, seeds[k]) << path;
            }
    /* the scalar and the default paths always run */
    ck_assert_int_eq(wide & 3, 3);
}
END_TEST

START_TEST(test_every_path_equals_hash64_at_every_length_0_to_40)
{
    fill_random(40);
    for (int path = 0; path < NPATHS; path++)
        for (size_t len = 0; len <= 40; len++)
            for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
                size_t stride = len < 16 ? 16 : len < 24 ? 24 : len;
                size_t packed = len;
                for (uint32_t n = 0; n <= 33; n++) {
                    check_path(path, buf, len, stride, n, seeds[k]);
                    check_path(path, buf + 1, len, packed, n, seeds[k]);
                }
                check_path(path, buf, len, stride, MAXN, seeds[k]);
            }
}
END_TEST

/* The reference values of tests/support/xxh64_vectors.h through the
 * batch: 16 copies of each key, packed (stride = its length). */
START_TEST(test_batch_matches_reference_vectors)
{
    static uint8_t keys[16 * XXH64_VECTOR_MAX_LEN];
    uint64_t out[16];
    for (size_t i = 0; i < XXH64_VECTOR_COUNT; i++) {
        const struct xxh64_vector *v = &xxh64_vectors[i];
        for (int k = 0; k < 16; k++)
            for (size_t b = 0; b < v->len; b++)
                keys[(size_t)k * v->len + b] = (uint8_t)(b * 7 + 3);
        for (int path = 0; path < NPATHS; path++) {
            int rc = gwlb__hash64_batch_path(keys, v->len, v->len, 16, v->seed, out, path);
            if (rc == GWLB_ENOTSUP && path == 2)
                continue;
            ck_assert_int_eq(rc, GWLB_OK);
            for (int k = 0; k < 16; k++)
                ck_assert_uint_eq(out[k], v->want);
        }
    }
    ck_assert_int_eq(gwlb_hash64_batch("abc", 3, 3, 1, 0, out), GWLB_OK);
    ck_assert_uint_eq(out[0], UINT64_C(0x44bc2cf5ad770999));
    ck_assert_int_eq(gwlb_hash64_batch("", 0, 0, 1, 0, out), GWLB_OK);
    ck_assert_uint_eq(out[0], UINT64_C(0xef46db3751d8e999));
}
END_TEST

START_TEST(test_bad_input_is_einval_and_writes_nothing)
{
    uint8_t keys[64] = {0};
    uint64_t out[4] = {7, 7, 7, 7};
    for (int path = 0; path < NPATHS; path++) {
        ck_assert_int_eq(gwlb__hash64_batch_path(NULL, 16, 16, 1, 0, out, path), GWLB_EINVAL);
        ck_assert_int_eq(gwlb__hash64_batch_path(keys, 16, 16, 1, 0, NULL, path), GWLB_EINVAL);
        ck_assert_int_eq(gwlb__hash64_batch_path(keys, 16, 15, 2, 0, out, path), GWLB_EINVAL);
        ck_assert_int_eq(gwlb__hash64_batch_path(keys, 16, 15, 0, 0, out, path), GWLB_EINVAL);
        ck_assert_int_eq(gwlb__hash64_batch_path(keys, 16, SIZE_MAX / 2, 4, 0, out, path),
                         GWLB_EINVAL);
    }
    ck_assert_int_eq(gwlb_hash64_batch(NULL, 16, 16, 3, 0, out), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_hash64_batch(keys, 8, 16, 3, 0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_hash64_batch(keys, 16, 8, 3, 0, out), GWLB_EINVAL);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(out[i], 7);
}
END_TEST

START_TEST(test_zero_keys_accept_null_and_write_nothing)
{
    ck_assert_int_eq(gwlb_hash64_batch(NULL, 16, 16, 0, 0, NULL), GWLB_OK);
    uint64_t out[1] = {7};
    ck_assert_int_eq(gwlb_hash64_batch("x", 1, 1, 0, 0, out), GWLB_OK);
    ck_assert_uint_eq(out[0], 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hash_batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_path_equals_hash64_for_16_byte_keys);
    tcase_add_test(tc, test_every_path_equals_hash64_at_every_length_0_to_40);
    tcase_add_test(tc, test_batch_matches_reference_vectors);
    tcase_add_test(tc, test_bad_input_is_einval_and_writes_nothing);
    tcase_add_test(tc, test_zero_keys_accept_null_and_write_nothing);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
