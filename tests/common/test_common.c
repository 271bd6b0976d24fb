/*
 * Specification of the common layer: version, errors, allocator, PRNG and
 * the documented hash functions, each against published test vectors.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "internal.h"
#include "test_alloc.h"
#include "xxh64_vectors.h"
#include "test_run.h"

START_TEST(test_version_header_matches_library)
{
    ck_assert_int_eq(gwlb_version_number(), GWLB_VERSION_NUMBER);
    ck_assert_str_eq(gwlb_version_string(), GWLB_VERSION_STRING);
    ck_assert_int_eq(GWLB_VERSION_NUMBER, 10000);
}
END_TEST

START_TEST(test_every_error_code_has_a_distinct_name_and_message)
{
    static const int codes[] = {
#define X(name, value, msg) GWLB_##name,
        GWLB_ERROR_MAP(X)
#undef X
    };
    size_t n = sizeof codes / sizeof codes[0];
    ck_assert_uint_eq(n, 26);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(codes[i], -(int)(i + 1)); /* dense, never renumbered */
        ck_assert_str_ne(gwlb_strerror(codes[i]), "unknown error");
        ck_assert_str_ne(gwlb_err_name(codes[i]), "GWLB_E?");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(gwlb_err_name(codes[i]), gwlb_err_name(codes[j]));
    }
    ck_assert_str_eq(gwlb_err_name(GWLB_EINVAL), "GWLB_EINVAL");
    ck_assert_str_eq(gwlb_strerror(GWLB_ENOMEM), "out of memory");
    ck_assert_str_eq(gwlb_strerror(GWLB_OK), "success");
    ck_assert_str_eq(gwlb_err_name(GWLB_OK), "GWLB_OK");
}
END_TEST

START_TEST(test_unknown_error_codes_are_named_unknown)
{
    ck_assert_str_eq(gwlb_strerror(-9999), "unknown error");
    ck_assert_str_eq(gwlb_strerror(7), "unknown error");
    ck_assert_str_eq(gwlb_err_name(-9999), "GWLB_E?");
    ck_assert_str_eq(gwlb_err_name(INT32_MIN), "GWLB_E?");
}
END_TEST

START_TEST(test_error_detail_records_where)
{
    gwlb_error_detail d;
    gwlb_error_detail_init(&d);
    ck_assert_int_eq(d.code, 0);
    ck_assert_int_eq(d.item, -1);
    ck_assert_int_eq(d.other, -1);
    ck_assert_int_eq(d.column, -1);
    ck_assert_ptr_null(d.field);
    ck_assert_str_eq(d.message, "");
    int rc = gwlb__detail(&d, GWLB_ESYNTAX, 3, 1, 7, "path", "unclosed '{' at %d", 7);
    ck_assert_int_eq(rc, GWLB_ESYNTAX);
    ck_assert_int_eq(d.code, GWLB_ESYNTAX);
    ck_assert_int_eq(d.item, 3);
    ck_assert_int_eq(d.other, 1);
    ck_assert_int_eq(d.column, 7);
    ck_assert_str_eq(d.field, "path");
    ck_assert_str_eq(d.message, "unclosed '{' at 7");
    ck_assert_int_eq(gwlb__detail(NULL, GWLB_EINVAL, 0, -1, -1, NULL, NULL), GWLB_EINVAL);
    gwlb__detail(&d, GWLB_ERANGE, 0, -1, -1, "weight", NULL);
    ck_assert_str_eq(d.message, "value out of range");
    gwlb_error_detail_init(NULL); /* no crash */
}
END_TEST

START_TEST(test_detail_message_is_truncated_not_overflowed)
{
    gwlb_error_detail d;
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    gwlb__detail(&d, GWLB_ETOOLONG, 0, -1, -1, NULL, "%s", big);
    ck_assert_uint_eq(strlen(d.message), GWLB_ERROR_MESSAGE_MAX - 1);
}
END_TEST

START_TEST(test_default_allocator_and_resolve)
{
    const gwlb_allocator *a = gwlb_allocator_default();
    ck_assert_ptr_nonnull(a);
    gwlb_allocator r;
    gwlb__allocator_resolve(&r, NULL);
    ck_assert(r.malloc == a->malloc && r.free == a->free);
    void *p = gwlb__calloc(&r, 10, 8);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 80; i++)
        ck_assert_int_eq(((unsigned char *)p)[i], 0);
    gwlb__free(&r, p, 80);
    gwlb__free(&r, NULL, 0);
    ck_assert_ptr_null(gwlb__calloc(&r, SIZE_MAX / 2, 4)); /* overflow refused */
}
END_TEST

START_TEST(test_test_allocator_fails_the_nth_allocation_and_counts)
{
    test_alloc ta;
    test_alloc_init(&ta, 2);
    gwlb_allocator r;
    gwlb__allocator_resolve(&r, &ta.allocator);
    void *a = gwlb__alloc(&r, 10);
    void *b = gwlb__alloc(&r, 20);
    void *c = gwlb__alloc(&r, 30);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ta.calls, 3);
    ck_assert_int_eq(ta.failures, 1);
    ck_assert_int_eq(ta.live_blocks, 2);
    ck_assert_uint_eq(ta.live_bytes, 40);
    c = gwlb__realloc(&r, c, 30, 100);
    ck_assert_uint_eq(ta.live_bytes, 110);
    gwlb__free(&r, a, 10);
    gwlb__free(&r, c, 100);
    ck_assert_int_eq(ta.live_blocks, 0);
    ck_assert_uint_eq(ta.live_bytes, 0);
    ck_assert_int_eq(ta.size_mismatches, 0);
}
END_TEST

START_TEST(test_clock_is_monotonic)
{
    uint64_t a = gwlb_clock_ns();
    uint64_t b = gwlb_clock_ns();
    ck_assert_uint_gt(a, 0);
    ck_assert_uint_ge(b, a);
}
END_TEST

/* SplitMix64 reference (Vigna's splitmix64.c) from seed 0 and seed 1234567. */
START_TEST(test_splitmix64_matches_reference_outputs)
{
    gwlb_rng r;
    gwlb_rng_seed(&r, 0);
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(0xe220a8397b1dcdaf));
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(0x6e789e6aa1b965f4));
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(0x06c45d188009454f));
    gwlb_rng_seed(&r, 1234567);
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(6457827717110365317));
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(3203168211198807973));
    ck_assert_uint_eq(gwlb_rng_next(&r), UINT64_C(9817491932198370423));
}
END_TEST

START_TEST(test_rng_below_stays_in_range_and_is_uniform)
{
    gwlb_rng r;
    gwlb_rng_seed(&r, 42);
    long counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t v = gwlb_rng_below(&r, 10);
        ck_assert_uint_lt(v, 10);
        counts[v]++;
    }
    for (int i = 0; i < 10; i++) {
        ck_assert_int_gt(counts[i], 9500);
        ck_assert_int_lt(counts[i], 10500);
    }
    ck_assert_uint_eq(gwlb_rng_below(&r, 0), 0);
}
END_TEST

/* xxHash64 vectors from the xxHash reference implementation. */
START_TEST(test_xxh64_matches_reference_vectors)
{
    ck_assert_uint_eq(gwlb_hash64("", 0, 0), UINT64_C(0xef46db3751d8e999));
    ck_assert_uint_eq(gwlb_hash64(NULL, 0, 0), UINT64_C(0xef46db3751d8e999));
    ck_assert_uint_eq(gwlb_hash64("a", 1, 0), UINT64_C(0xd24ec4f1a98c6e5b));
    ck_assert_uint_eq(gwlb_hash64("abc", 3, 0), UINT64_C(0x44bc2cf5ad770999));
    ck_assert_uint_eq(gwlb_hash64("Nobody inspects the spammish repetition", 39, 0),
                      UINT64_C(0xfbcea83c8a378bf1));
}
END_TEST

/* Every tail shape and seed of tests/support/xxh64_vectors.h. */
START_TEST(test_xxh64_matches_reference_for_every_tail_shape_and_seed)
{
    uint8_t buf[XXH64_VECTOR_MAX_LEN];
    for (int i = 0; i < XXH64_VECTOR_MAX_LEN; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < XXH64_VECTOR_COUNT; i++) {
        const struct xxh64_vector *v = &xxh64_vectors[i];
        ck_assert_msg(gwlb_hash64(buf, v->len, v->seed) == v->want, "len %zu seed %llx", v->len,
                      (unsigned long long)v->seed);
    }
}
END_TEST

/* SipHash-2-4: the paper's appendix vector and the reference vectors.h. */
START_TEST(test_siphash24_matches_reference_vectors)
{
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    ck_assert_uint_eq(gwlb_siphash24(key, msg, 0), UINT64_C(0x726fdb47dd0e0e31));
    ck_assert_uint_eq(gwlb_siphash24(key, msg, 1), UINT64_C(0x74f839c593dc67fd));
    ck_assert_uint_eq(gwlb_siphash24(key, msg, 15), UINT64_C(0xa129ca6149be45e5));
    ck_assert_uint_eq(gwlb_siphash24(key, msg, 63), UINT64_C(0x958a324ceb064572));
}
END_TEST

START_TEST(test_siphash13_matches_reference_vectors)
{
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    ck_assert_uint_eq(gwlb_siphash13(key, msg, 0), UINT64_C(0xabac0158050fc4dc));
    ck_assert_uint_eq(gwlb_siphash13(key, msg, 1), UINT64_C(0xc9f49bf37d57ca93));
}
END_TEST

/* CRC-32/ISO-HDLC check value and nginx-visible values. */
START_TEST(test_crc32_matches_check_value)
{
    ck_assert_uint_eq(gwlb_crc32("123456789", 9), UINT32_C(0xcbf43926));
    ck_assert_uint_eq(gwlb_crc32("", 0), 0);
    ck_assert_uint_eq(gwlb_crc32("The quick brown fox jumps over the lazy dog", 43),
                      UINT32_C(0x414fa339));
    uint32_t c = GWLB_CRC32_INIT;
    c = gwlb_crc32_update(c, "12345", 5);
    c = gwlb_crc32_update(c, "6789", 4);
    ck_assert_uint_eq(gwlb_crc32_final(c), UINT32_C(0xcbf43926));
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_version_header_matches_library);
    tcase_add_test(tc, test_every_error_code_has_a_distinct_name_and_message);
    tcase_add_test(tc, test_unknown_error_codes_are_named_unknown);
    tcase_add_test(tc, test_error_detail_records_where);
    tcase_add_test(tc, test_detail_message_is_truncated_not_overflowed);
    tcase_add_test(tc, test_default_allocator_and_resolve);
    tcase_add_test(tc, test_test_allocator_fails_the_nth_allocation_and_counts);
    tcase_add_test(tc, test_clock_is_monotonic);
    tcase_add_test(tc, test_splitmix64_matches_reference_outputs);
    tcase_add_test(tc, test_rng_below_stays_in_range_and_is_uniform);
    tcase_add_test(tc, test_xxh64_matches_reference_vectors);
    tcase_add_test(tc, test_xxh64_matches_reference_for_every_tail_shape_and_seed);
    tcase_add_test(tc, test_siphash24_matches_reference_vectors);
    tcase_add_test(tc, test_siphash13_matches_reference_vectors);
    tcase_add_test(tc, test_crc32_matches_check_value);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(common_suite());
}
