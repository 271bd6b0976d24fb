/*
 * Specification of the GCRA script commands without a server: the SHA1
 * constant is the SHA1 of the script text (computed here by a small
 * FIPS 180-4 SHA-1, checked against its published "abc" vector), commands
 * are encoded byte-exactly, replies decode into gwlb_limit_result, batches
 * pipeline in order, and Cluster keys get their hash tags and slots.
 * (The same script against a real redis-server: test_redis_integration.c.)
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/redis.h"
#include "test_run.h"

/* ---- a minimal SHA-1 for checking the constant -------------------------- */

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_hex(const uint8_t *msg, size_t len, char out[41])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 9 + 63) / 64) * 64;
    uint8_t *m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t blk = 0; blk < total; blk += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[blk + 4 * i] << 24 | (uint32_t)m[blk + 4 * i + 1] << 16 |
                   (uint32_t)m[blk + 4 * i + 2] << 8 | m[blk + 4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        snprintf(out + 8 * i, 9, "%08x", h[i]);
}

START_TEST(test_sha1_helper_matches_fips_vector)
{
    char hex[41];
    sha1_hex((const uint8_t *)"abc", 3, hex);
    ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}
END_TEST

START_TEST(test_sha1_constant_is_sha1_of_script_text)
{
    size_t len = 0;
    const char *s = gwlb_redis_gcra_script(&len);
    ck_assert_uint_eq(len, strlen(s));
    char hex[41];
    sha1_hex((const uint8_t *)s, len, hex);
    ck_assert_str_eq(hex, GWLB_REDIS_GCRA_SHA1);
    ck_assert_str_eq(gwlb_redis_gcra_sha1(), GWLB_REDIS_GCRA_SHA1);
    ck_assert_ptr_eq(gwlb_redis_gcra_script(NULL), s);
}
END_TEST

START_TEST(test_sha1_constant_of_all_or_nothing_script)
{
    size_t len = 0;
    const char *s = gwlb_redis_gcra_all_script(&len);
    ck_assert_uint_eq(len, strlen(s));
    char hex[41];
    sha1_hex((const uint8_t *)s, len, hex);
    ck_assert_str_eq(hex, GWLB_REDIS_GCRA_ALL_SHA1);
}
END_TEST

/* ---- encoding ----------------------------------------------------------- */

static gwlb_gcra_config cell_config(void)
{
    gwlb_gcra_config c;
    ck_assert_int_eq(gwlb_gcra_config_init(&c, 1, UINT64_C(1000000000), 4), GWLB_OK);
    return c;
}

START_TEST(test_encode_gcra_evalsha_exact_bytes)
{
    gwlb_gcra_config c = cell_config();
    uint8_t out[256];
    size_t n = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "rl:{u1}", 7, 1,
                                            UINT64_C(1700000000123456789), 0),
                     GWLB_OK);
    const char *want = "*9\r\n$7\r\nEVALSHA\r\n$40\r\n" GWLB_REDIS_GCRA_SHA1 "\r\n$1\r\n1\r\n"
                       "$7\r\nrl:{u1}\r\n$19\r\n1700000000123456789\r\n$10\r\n1000000000\r\n"
                       "$10\r\n5000000000\r\n$1\r\n1\r\n$1\r\n0\r\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(out, want, n), 0);
}
END_TEST

START_TEST(test_encode_gcra_writes_every_digit_count_exactly)
{
    gwlb_gcra_config c = cell_config();
    uint8_t out[256];
    size_t n = 0;
    uint64_t p = 1;
    for (int digits = 1; digits <= 20; digits++) {
        uint64_t values[3] = {p - 1, p, p + 1};
        for (int j = 0; j < 3; j++) {
            char want[32], head[8];
            int wl = snprintf(want, sizeof want, "%llu", (unsigned long long)values[j]);
            int hl = snprintf(head, sizeof head, "$%d\r\n", wl);
            ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1, 1,
                                                    values[j], 0),
                             GWLB_OK);
            /* the now argument follows "$1\r\nk\r\n" */
            size_t at = 4 + 13 + 47 + 7 + 7;
            ck_assert_int_eq(memcmp(out + at, head, (size_t)hl), 0);
            ck_assert_int_eq(memcmp(out + at + hl, want, (size_t)wl), 0);
        }
        if (digits < 20)
            p *= 10;
    }
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1, 1, UINT64_MAX, 0),
                     GWLB_OK);
    ck_assert_int_eq(memcmp(out + 78, "$20\r\n18446744073709551615\r\n", 26), 0);
}
END_TEST

START_TEST(test_encode_gcra_eval_server_time_and_charge)
{
    gwlb_gcra_config c = cell_config();
    static uint8_t out[8192];
    size_t n = 0, slen = 0;
    const char *script = gwlb_redis_gcra_script(&slen);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1, 3, 99,
                                            GWLB_REDIS_GCRA_EVAL | GWLB_REDIS_GCRA_SERVER_TIME |
                                                GWLB_REDIS_GCRA_CHARGE),
                     GWLB_OK);
    char head[64];
    int hl = snprintf(head, sizeof head, "*9\r\n$4\r\nEVAL\r\n$%zu\r\n", slen);
    ck_assert_int_eq(memcmp(out, head, (size_t)hl), 0);
    ck_assert_int_eq(memcmp(out + hl, script, slen), 0);
    const char *tail = "\r\n$1\r\n1\r\n$1\r\nk\r\n$0\r\n\r\n$10\r\n1000000000\r\n"
                       "$10\r\n5000000000\r\n$1\r\n3\r\n$1\r\n1\r\n";
    ck_assert_uint_eq(n, (size_t)hl + slen + strlen(tail));
    ck_assert_int_eq(memcmp(out + hl + slen, tail, strlen(tail)), 0);
}
END_TEST

START_TEST(test_encode_script_load)
{
    static uint8_t out[8192];
    size_t n = 0, slen = 0;
    const char *script = gwlb_redis_gcra_script(&slen);
    ck_assert_int_eq(gwlb_redis_encode_script_load(out, sizeof out, &n), GWLB_OK);
    char head[64];
    int hl = snprintf(head, sizeof head, "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%zu\r\n", slen);
    ck_assert_uint_eq(n, (size_t)hl + slen + 2);
    ck_assert_int_eq(memcmp(out, head, (size_t)hl), 0);
    ck_assert_int_eq(memcmp(out + hl, script, slen), 0);
}
END_TEST

START_TEST(test_encode_gcra_rejects_bad_input)
{
    gwlb_gcra_config c = cell_config();
    uint8_t out[256];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, NULL, "k", 1, 1, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 0, 1, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, NULL, 1, 1, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1, 1, 1, 1u << 7),
                     GWLB_EINVAL);
    gwlb_gcra_config zero = {0, 0, 0};
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &zero, "k", 1, 1, 1, 0),
                     GWLB_EINVAL);
    /* 1 per day with burst 200: DVT = 201 days > 2^53 ns (104 days) */
    gwlb_gcra_config big;
    ck_assert_int_eq(gwlb_gcra_config_init(&big, 1, UINT64_C(86400000000000), 200), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &big, "k", 1, 1, 1, 0),
                     GWLB_ERANGE);
    /* a charge that would take the TAT beyond 2^53 ns */
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1,
                                            UINT64_C(9007199), 1, GWLB_REDIS_GCRA_CHARGE),
                     GWLB_ERANGE);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1,
                                            UINT64_C(9007194), 1, GWLB_REDIS_GCRA_CHARGE),
                     GWLB_OK);
    /* too small: size reported */
    size_t need = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, 10, &need, &c, "k", 1, 1, 1, 0), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, &c, "k", 1, 1, 1, 0), GWLB_OK);
    ck_assert_uint_eq(need, n);
}
END_TEST

START_TEST(test_batch_is_the_concatenation_of_single_calls)
{
    gwlb_gcra_config c = cell_config();
    gwlb_redis_gcra_call calls[3] = {
        {&c, "a", 1, 1, 0}, {&c, "bb", 2, 2, 0}, {&c, "ccc", 3, 0, GWLB_REDIS_GCRA_CHARGE}};
    uint8_t batch[1024], single[1024];
    size_t n = 0, m = 0, off = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra_batch(batch, sizeof batch, &n, calls, 3, 77, 0),
                     GWLB_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gwlb_redis_encode_gcra(single, sizeof single, &m, calls[i].config,
                                                calls[i].key, calls[i].key_len, calls[i].cost,
                                                77, calls[i].flags),
                         GWLB_OK);
        ck_assert_int_eq(memcmp(batch + off, single, m), 0);
        off += m;
    }
    ck_assert_uint_eq(off, n);
    size_t need = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra_batch(batch, n - 1, &need, calls, 3, 77, 0),
                     GWLB_ENOSPC);
    ck_assert_uint_eq(need, n);
    ck_assert_int_eq(gwlb_redis_encode_gcra_batch(batch, sizeof batch, &need, calls, 0, 77, 0),
                     GWLB_EINVAL);
}
END_TEST

START_TEST(test_encode_gcra_all_exact_bytes)
{
    gwlb_gcra_config a = cell_config(), b;
    ck_assert_int_eq(gwlb_gcra_config_init(&b, 10, UINT64_C(1000000000), 2), GWLB_OK);
    gwlb_redis_gcra_key keys[2] = {{&a, "{c}:r", 5}, {&b, "{c}:g", 5}};
    uint8_t out[512];
    size_t n = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys, 2, 1, 42, 0), GWLB_OK);
    const char *want = "*11\r\n$7\r\nEVALSHA\r\n$40\r\n" GWLB_REDIS_GCRA_ALL_SHA1 "\r\n"
                       "$1\r\n2\r\n$5\r\n{c}:r\r\n$5\r\n{c}:g\r\n$2\r\n42\r\n$1\r\n1\r\n"
                       "$10\r\n1000000000\r\n$10\r\n5000000000\r\n"
                       "$9\r\n100000000\r\n$9\r\n300000000\r\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(out, want, n), 0);
}
END_TEST

START_TEST(test_encode_gcra_all_rejects_bad_input)
{
    gwlb_gcra_config a = cell_config();
    gwlb_redis_gcra_key keys[GWLB_REDIS_GCRA_ALL_MAX + 1];
    for (int i = 0; i <= GWLB_REDIS_GCRA_ALL_MAX; i++)
        keys[i] = (gwlb_redis_gcra_key){&a, "k", 1};
    static uint8_t out[1 << 14];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys, 0, 1, 1, 0), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys,
                                                GWLB_REDIS_GCRA_ALL_MAX + 1, 1, 1, 0),
                     GWLB_ERANGE);
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys,
                                                GWLB_REDIS_GCRA_ALL_MAX, 1, 1, 0),
                     GWLB_OK);
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys, 1, 1, 1,
                                                GWLB_REDIS_GCRA_CHARGE),
                     GWLB_EINVAL);
    keys[1].key_len = 0;
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, keys, 2, 1, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, sizeof out, &n, NULL, 2, 1, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_gcra_all(out, 8, &n, keys, 1, 1, 1, 0), GWLB_ENOSPC);
    ck_assert_uint_gt(n, 8);
}
END_TEST

/* ---- decoding ----------------------------------------------------------- */

START_TEST(test_decode_gcra_all_reports_failed_index)
{
    const char rej[] = "*7\r\n:0\r\n:3\r\n:0\r\n:3\r\n:1\r\n$2\r\n17\r\n:1\r\n";
    const char ok[] = "*7\r\n:1\r\n:3\r\n:1\r\n:2\r\n:-1\r\n$2\r\n17\r\n:-1\r\n";
    const char bad[] = "*7\r\n:1\r\n:3\r\n:1\r\n:2\r\n:-1\r\n$2\r\n17\r\n:0\r\n";
    gwlb_redis_gcra_answer a;
    size_t used;
    int32_t idx = 99;
    ck_assert_int_eq(gwlb_redis_decode_gcra_all((const uint8_t *)rej, sizeof rej - 1, &used, &a,
                                                &idx),
                     GWLB_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(a.result.allowed, 0);
    ck_assert_int_eq(a.result.retry_after_ns, 1);
    ck_assert_int_eq(gwlb_redis_decode_gcra_all((const uint8_t *)ok, sizeof ok - 1, &used, &a,
                                                &idx),
                     GWLB_OK);
    ck_assert_int_eq(idx, -1);
    ck_assert_uint_eq(used, sizeof ok - 1);
    /* admitted with a failed index, or a 6-field reply: wrong shape */
    ck_assert_int_eq(gwlb_redis_decode_gcra_all((const uint8_t *)bad, sizeof bad - 1, &used, &a,
                                                &idx),
                     GWLB_EPROTO);
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)ok, sizeof ok - 1, &used, &a),
                     GWLB_EPROTO);
    ck_assert_int_eq(gwlb_redis_decode_gcra_all((const uint8_t *)ok, sizeof ok - 1, &used, &a,
                                                NULL),
                     GWLB_EINVAL);
}
END_TEST

START_TEST(test_decode_allowed_reply_resp2)
{
    const char in[] = "*6\r\n:1\r\n:5\r\n:4\r\n:1000000000\r\n:-1\r\n$19\r\n1700000001000000000\r\n";
    gwlb_redis_gcra_answer a;
    size_t used = 0;
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)in, sizeof in - 1, &used, &a),
                     GWLB_OK);
    ck_assert_uint_eq(used, sizeof in - 1);
    ck_assert_int_eq(a.status, GWLB_OK);
    ck_assert_int_eq(a.result.allowed, 1);
    ck_assert_uint_eq(a.result.limit, 5);
    ck_assert_uint_eq(a.result.remaining, 4);
    ck_assert_uint_eq(a.result.reset_after_ns, 1000000000);
    ck_assert_int_eq(a.result.retry_after_ns, -1);
    ck_assert_uint_eq(a.tat, UINT64_C(1700000001000000000));
}
END_TEST

START_TEST(test_decode_limited_reply_and_absent_tat)
{
    const char in[] = "*6\r\n:0\r\n:5\r\n:5\r\n:0\r\n:-1\r\n$1\r\n0\r\n";
    gwlb_redis_gcra_answer a;
    size_t used = 0;
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)in, sizeof in - 1, &used, &a),
                     GWLB_OK);
    ck_assert_int_eq(a.result.allowed, 0);
    ck_assert_uint_eq(a.result.remaining, 5);
    ck_assert_uint_eq(a.tat, 0);
}
END_TEST

START_TEST(test_decode_skips_push_messages)
{
    const char in[] = ">2\r\n+invalidate\r\n*1\r\n$1\r\nx\r\n"
                      "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n$2\r\n17\r\n";
    gwlb_redis_gcra_answer a;
    size_t used = 0;
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)in, sizeof in - 1, &used, &a),
                     GWLB_OK);
    ck_assert_uint_eq(used, sizeof in - 1);
    ck_assert_uint_eq(a.tat, 17);
    /* push complete, reply not yet: the push is consumed */
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)in, 36, &used, &a), GWLB_EAGAIN);
    ck_assert_uint_eq(used, 28);
}
END_TEST

START_TEST(test_decode_noscript_is_enoent_other_errors_ebusy)
{
    const char ns[] = "-NOSCRIPT No matching script. Please use EVAL.\r\n";
    const char busy[] = "-BUSY Redis is busy running a script.\r\n";
    const char blob[] = "!9\r\nOOM limit\r\n";
    gwlb_redis_gcra_answer a;
    size_t used = 0;
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)ns, sizeof ns - 1, &used, &a),
                     GWLB_ENOENT);
    ck_assert_int_eq(a.status, GWLB_ENOENT);
    ck_assert_uint_eq(used, sizeof ns - 1);
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)busy, sizeof busy - 1, &used, &a),
                     GWLB_EBUSY);
    ck_assert_uint_eq(used, sizeof busy - 1);
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)blob, sizeof blob - 1, &used, &a),
                     GWLB_EBUSY);
}
END_TEST

START_TEST(test_decode_wrong_shape_is_eproto_but_consumed)
{
    static const char *const bad[] = {
        "+OK\r\n",
        "*5\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n",
        "*6\r\n:2\r\n:5\r\n:4\r\n:1\r\n:-1\r\n$1\r\n0\r\n",    /* allowed not 0/1 */
        "*6\r\n:1\r\n:5\r\n:-4\r\n:1\r\n:-1\r\n$1\r\n0\r\n",   /* negative remaining */
        "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-2\r\n$1\r\n0\r\n",    /* retry below -1 */
        "*6\r\n:1\r\n+5\r\n:4\r\n:1\r\n:-1\r\n$1\r\n0\r\n",    /* limit not an integer */
        "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n$2\r\n1x\r\n",   /* tat not digits */
        "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n$21\r\n184467440737095516160\r\n", /* tat overflow */
        "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n*1\r\n:1\r\n", /* nested */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gwlb_redis_gcra_answer a;
        size_t used = 0;
        int rc = gwlb_redis_decode_gcra((const uint8_t *)bad[i], strlen(bad[i]), &used, &a);
        ck_assert_msg(rc == GWLB_EPROTO, "input %zu: %d", i, rc);
        ck_assert_uint_eq(used, strlen(bad[i]));
        ck_assert_int_eq(a.status, GWLB_EPROTO);
    }
    gwlb_redis_gcra_answer a;
    size_t used = 7;
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)"?x\r\n", 4, &used, &a), GWLB_EPROTO);
    ck_assert_uint_eq(used, 0); /* the stream itself is broken */
    ck_assert_int_eq(gwlb_redis_decode_gcra(NULL, 0, &used, &a), GWLB_EAGAIN);
    ck_assert_int_eq(gwlb_redis_decode_gcra((const uint8_t *)"+", 1, NULL, &a), GWLB_EINVAL);
}
END_TEST

START_TEST(test_batch_decodes_replies_in_order_across_partial_reads)
{
    const char in[] = "*6\r\n:1\r\n:5\r\n:4\r\n:1\r\n:-1\r\n$1\r\n1\r\n"
                      "-NOSCRIPT x\r\n"
                      "*6\r\n:0\r\n:5\r\n:0\r\n:5\r\n:7\r\n$1\r\n3\r\n";
    size_t total = sizeof in - 1;
    for (size_t cut = 0; cut <= total; cut++) {
        gwlb_redis_gcra_answer a[3];
        size_t used = 0, done = 0;
        int rc = gwlb_redis_decode_gcra_batch((const uint8_t *)in, cut, &used, a, 3, &done);
        if (cut < total) {
            ck_assert_int_eq(rc, GWLB_EAGAIN);
            size_t used2 = 0, done2 = 0;
            rc = gwlb_redis_decode_gcra_batch((const uint8_t *)in + used, total - used, &used2,
                                              a + done, 3 - done, &done2);
            used += used2;
            done += done2;
        }
        ck_assert_int_eq(rc, GWLB_OK);
        ck_assert_uint_eq(done, 3);
        ck_assert_uint_eq(used, total);
        ck_assert_int_eq(a[0].status, GWLB_OK);
        ck_assert_uint_eq(a[0].tat, 1);
        ck_assert_int_eq(a[1].status, GWLB_ENOENT);
        ck_assert_int_eq(a[2].status, GWLB_OK);
        ck_assert_int_eq(a[2].result.allowed, 0);
        ck_assert_int_eq(a[2].result.retry_after_ns, 7);
    }
}
END_TEST

/* ---- keys --------------------------------------------------------------- */

START_TEST(test_key_format_wraps_tag_in_braces)
{
    uint8_t out[64];
    size_t n = 0;
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, "rl:", "user42", 6, ":route:7", 8),
                     GWLB_OK);
    ck_assert_uint_eq(n, 19);
    ck_assert_int_eq(memcmp(out, "rl:{user42}:route:7", 19), 0);
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, NULL, "t", 1, NULL, 0), GWLB_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(out, "{t}", 3), 0);
}
END_TEST

START_TEST(test_key_format_rejects_tags_that_would_move)
{
    uint8_t out[64];
    size_t n;
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, "a{", "t", 1, NULL, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, "a", "t}", 2, NULL, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, "a", "", 0, NULL, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_key_format(out, sizeof out, &n, "a", NULL, 1, NULL, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_key_format(out, 4, &n, "a", "tt", 2, NULL, 0), GWLB_ENOSPC);
    ck_assert_uint_eq(n, 5);
}
END_TEST

START_TEST(test_key_slot_matches_redis_cluster_spec)
{
    /* Redis Cluster specification: CRC16 XMODEM, crc16("123456789") = 0x31C3 */
    ck_assert_uint_eq(gwlb_redis_crc16("123456789", 9), 0x31C3);
    ck_assert_uint_eq(gwlb_redis_key_slot("123456789", 9), 0x31C3 & 16383);
    /* same tag, same slot; the spec's examples */
    ck_assert_uint_eq(gwlb_redis_key_slot("{user1000}.following", 20),
                      gwlb_redis_key_slot("{user1000}.followers", 20));
    ck_assert_uint_eq(gwlb_redis_key_slot("foo{bar}zap", 11), gwlb_redis_key_slot("bar", 3));
    ck_assert_uint_eq(gwlb_redis_key_slot("foo{}{bar}", 10), gwlb_redis_key_slot("foo{}{bar}", 10));
    ck_assert_uint_eq(gwlb_redis_key_slot("foo{}{bar}", 10),
                      gwlb_redis_crc16("foo{}{bar}", 10) & 16383);
    ck_assert_uint_eq(gwlb_redis_key_slot("foo{{bar}}zap", 13), gwlb_redis_key_slot("{bar", 4));
    ck_assert_uint_eq(gwlb_redis_key_slot("foo{bar}{zap}", 13), gwlb_redis_key_slot("bar", 3));
    ck_assert_uint_eq(gwlb_redis_key_slot(NULL, 3), 0);
}
END_TEST

Suite *redis_gcra_script_suite(void);
Suite *redis_gcra_script_suite(void)
{
    Suite *s = suite_create("redis_gcra_script");
    TCase *tc = tcase_create("script");
    tcase_add_test(tc, test_sha1_helper_matches_fips_vector);
    tcase_add_test(tc, test_sha1_constant_is_sha1_of_script_text);
    tcase_add_test(tc, test_sha1_constant_of_all_or_nothing_script);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, test_encode_gcra_evalsha_exact_bytes);
    tcase_add_test(tc, test_encode_gcra_writes_every_digit_count_exactly);
    tcase_add_test(tc, test_encode_gcra_eval_server_time_and_charge);
    tcase_add_test(tc, test_encode_script_load);
    tcase_add_test(tc, test_encode_gcra_rejects_bad_input);
    tcase_add_test(tc, test_batch_is_the_concatenation_of_single_calls);
    tcase_add_test(tc, test_encode_gcra_all_exact_bytes);
    tcase_add_test(tc, test_encode_gcra_all_rejects_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode");
    tcase_add_test(tc, test_decode_allowed_reply_resp2);
    tcase_add_test(tc, test_decode_gcra_all_reports_failed_index);
    tcase_add_test(tc, test_decode_limited_reply_and_absent_tat);
    tcase_add_test(tc, test_decode_skips_push_messages);
    tcase_add_test(tc, test_decode_noscript_is_enoent_other_errors_ebusy);
    tcase_add_test(tc, test_decode_wrong_shape_is_eproto_but_consumed);
    tcase_add_test(tc, test_batch_decodes_replies_in_order_across_partial_reads);
    suite_add_tcase(s, tc);
    tc = tcase_create("keys");
    tcase_add_test(tc, test_key_format_wraps_tag_in_braces);
    tcase_add_test(tc, test_key_format_rejects_tags_that_would_move);
    tcase_add_test(tc, test_key_slot_matches_redis_cluster_spec);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(redis_gcra_script_suite());
}
