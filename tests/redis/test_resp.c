/*
 * Specification of RESP encoding and the RESP2/RESP3 reply parser: every
 * type with exact values, every reply split at every byte boundary (each
 * piece in an exactly-sized heap buffer so a read past it is caught by
 * ASan), malformed and oversize input with their specific codes.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/redis.h"
#include "test_run.h"

/* ---- encoding ---------------------------------------------------------- */

START_TEST(test_encode_command_writes_array_of_bulk_strings)
{
    uint8_t out[64];
    size_t n = 0;
    const char *argv[] = {"SET", "k", "hello"};
    ck_assert_int_eq(gwlb_redis_encode_command(out, sizeof out, &n, 3,
                                               (const void *const *)argv, NULL),
                     GWLB_OK);
    const char *want = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(out, want, n), 0);
}
END_TEST

START_TEST(test_encode_command_binary_arguments_with_lengths)
{
    uint8_t out[64];
    size_t n = 0;
    const uint8_t bin[4] = {0, '\r', '\n', 0xff};
    const void *argv[] = {"GET", bin, ""};
    size_t lens[] = {3, 4, 0};
    ck_assert_int_eq(gwlb_redis_encode_command(out, sizeof out, &n, 3, argv, lens), GWLB_OK);
    const uint8_t want[] = "*3\r\n$3\r\nGET\r\n$4\r\n\0\r\n\xff\r\n$0\r\n\r\n";
    ck_assert_uint_eq(n, sizeof want - 1);
    ck_assert_int_eq(memcmp(out, want, n), 0);
}
END_TEST

START_TEST(test_encode_command_too_small_reports_size_and_writes_nothing)
{
    const char *argv[] = {"PING"};
    size_t need = 0;
    uint8_t full[32];
    ck_assert_int_eq(gwlb_redis_encode_command(full, sizeof full, &need, 1,
                                               (const void *const *)argv, NULL),
                     GWLB_OK);
    ck_assert_uint_eq(need, 14); /* "*1\r\n$4\r\nPING\r\n" */
    for (size_t cap = 0; cap < need; cap++) {
        uint8_t buf[32];
        memset(buf, 0xAA, sizeof buf);
        size_t n = 12345;
        ck_assert_int_eq(gwlb_redis_encode_command(buf, cap, &n, 1,
                                                   (const void *const *)argv, NULL),
                         GWLB_ENOSPC);
        ck_assert_uint_eq(n, need);
        for (size_t i = 0; i < sizeof buf; i++)
            ck_assert_uint_eq(buf[i], 0xAA);
    }
    uint8_t exact[14];
    size_t n = 0;
    ck_assert_int_eq(gwlb_redis_encode_command(exact, sizeof exact, &n, 1,
                                               (const void *const *)argv, NULL),
                     GWLB_OK);
    ck_assert_uint_eq(n, 14);
}
END_TEST

START_TEST(test_encode_command_rejects_null_and_empty_arguments)
{
    uint8_t out[32];
    size_t n;
    const char *argv[] = {"PING"};
    const void *nullarg[] = {NULL};
    size_t one = 1;
    ck_assert_int_eq(gwlb_redis_encode_command(NULL, 32, &n, 1, (const void *const *)argv, NULL),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_command(out, 32, NULL, 1, (const void *const *)argv, NULL),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_command(out, 32, &n, 1, NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_command(out, 32, &n, 0, (const void *const *)argv, NULL),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_encode_command(out, 32, &n, 1, nullarg, &one), GWLB_EINVAL);
}
END_TEST

START_TEST(test_encode_hello_2_and_3_only)
{
    uint8_t out[32];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_hello(out, sizeof out, &n, 3), GWLB_OK);
    ck_assert_uint_eq(n, 22);
    ck_assert_int_eq(memcmp(out, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", n), 0);
    ck_assert_int_eq(gwlb_redis_encode_hello(out, sizeof out, &n, 2), GWLB_OK);
    ck_assert_int_eq(memcmp(out, "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n", n), 0);
    ck_assert_int_eq(gwlb_redis_encode_hello(out, sizeof out, &n, 4), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_redis_encode_hello(out, sizeof out, &n, 1), GWLB_ERANGE);
}
END_TEST

/* ---- parsing helpers ----------------------------------------------------- */

#define MAXV 64

/* Parse s in one go from an exactly-sized heap copy. */
static int parse_str(const char *s, size_t len, gwlb_redis_value *v, gwlb_redis_reply *r)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, s, len);
    int rc = gwlb_redis_parse(b, len, v, MAXV, r);
    free(b);
    return rc;
}

#define PARSE(lit, v, r) parse_str(lit, sizeof(lit) - 1, v, r)

static const char *payload(const char *s, const gwlb_redis_value *v)
{
    static char tmp[256];
    memcpy(tmp, s + v->offset, v->length);
    tmp[v->length] = 0;
    return tmp;
}

/* ---- every type --------------------------------------------------------- */

START_TEST(test_parse_simple_string)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "+OK\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(r.length, 5);
    ck_assert_uint_eq(r.count, 1);
    ck_assert_uint_eq(r.root, 0);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_SIMPLE_STRING);
    ck_assert_uint_eq(v[0].marker, '+');
    ck_assert_uint_eq(v[0].offset, 1);
    ck_assert_uint_eq(v[0].length, 2);
    ck_assert_uint_eq(v[0].next, 1);
}
END_TEST

START_TEST(test_parse_error)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "-NOSCRIPT No matching script.\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_ERROR);
    ck_assert_str_eq(payload(in, &v[0]), "NOSCRIPT No matching script.");
}
END_TEST

START_TEST(test_parse_integers_including_extremes)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE(":0\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_INTEGER);
    ck_assert_int_eq(v[0].integer, 0);
    ck_assert_int_eq(PARSE(":-42\r\n", v, &r), GWLB_OK);
    ck_assert_int_eq(v[0].integer, -42);
    ck_assert(v[0].number == -42.0);
    ck_assert_int_eq(PARSE(":+7\r\n", v, &r), GWLB_OK);
    ck_assert_int_eq(v[0].integer, 7);
    ck_assert_int_eq(PARSE(":9223372036854775807\r\n", v, &r), GWLB_OK);
    ck_assert_int_eq(v[0].integer, INT64_MAX);
    ck_assert_int_eq(PARSE(":-9223372036854775808\r\n", v, &r), GWLB_OK);
    ck_assert_int_eq(v[0].integer, INT64_MIN);
}
END_TEST

START_TEST(test_parse_bulk_string_binary_safe)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "$6\r\na\r\nb\0c\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(r.length, sizeof in - 1);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_BULK_STRING);
    ck_assert_uint_eq(v[0].offset, 4);
    ck_assert_uint_eq(v[0].length, 6);
    ck_assert_int_eq(memcmp(in + 4, "a\r\nb\0c", 6), 0);
    ck_assert_int_eq(PARSE("$0\r\n\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].length, 0);
}
END_TEST

START_TEST(test_parse_resp2_nulls_and_resp3_null)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE("$-1\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_NULL);
    ck_assert_uint_eq(v[0].marker, '$');
    ck_assert_int_eq(PARSE("*-1\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_NULL);
    ck_assert_uint_eq(v[0].marker, '*');
    ck_assert_int_eq(PARSE("_\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_NULL);
    ck_assert_uint_eq(v[0].marker, '_');
    ck_assert_uint_eq(r.length, 3);
}
END_TEST

START_TEST(test_parse_array_nested_with_skip_indices)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n:3\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(r.count, 6);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_ARRAY);
    ck_assert_uint_eq(v[0].length, 3);
    ck_assert_uint_eq(v[0].next, 6);
    ck_assert_int_eq(v[1].integer, 1);
    ck_assert_uint_eq(v[1].depth, 1);
    ck_assert_uint_eq(v[2].type, GWLB_REDIS_ARRAY);
    ck_assert_uint_eq(v[2].next, 5);
    ck_assert_uint_eq(v[3].depth, 2);
    ck_assert_str_eq(payload(in, &v[4]), "b");
    ck_assert_int_eq(v[5].integer, 3);
    ck_assert_uint_eq(v[5].depth, 1);
    ck_assert_int_eq(PARSE("*0\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_ARRAY);
    ck_assert_uint_eq(v[0].length, 0);
    ck_assert_uint_eq(r.count, 1);
}
END_TEST

START_TEST(test_parse_doubles)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE(",1.23\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_DOUBLE);
    ck_assert(v[0].number == 1.23);
    ck_assert_int_eq(PARSE(",-0.5e-3\r\n", v, &r), GWLB_OK);
    ck_assert(v[0].number == -0.0005);
    ck_assert_int_eq(PARSE(",10\r\n", v, &r), GWLB_OK);
    ck_assert(v[0].number == 10.0);
    ck_assert_int_eq(PARSE(",1.5E+2\r\n", v, &r), GWLB_OK);
    ck_assert(v[0].number == 150.0);
    ck_assert_int_eq(PARSE(",inf\r\n", v, &r), GWLB_OK);
    ck_assert(isinf(v[0].number) && v[0].number > 0);
    ck_assert_int_eq(PARSE(",-inf\r\n", v, &r), GWLB_OK);
    ck_assert(isinf(v[0].number) && v[0].number < 0);
    ck_assert_int_eq(PARSE(",nan\r\n", v, &r), GWLB_OK);
    ck_assert(isnan(v[0].number));
    ck_assert_int_eq(PARSE(",3.14159\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].length, 7); /* exact text kept */
}
END_TEST

START_TEST(test_parse_booleans)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE("#t\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_BOOLEAN);
    ck_assert_int_eq(v[0].integer, 1);
    ck_assert_int_eq(PARSE("#f\r\n", v, &r), GWLB_OK);
    ck_assert_int_eq(v[0].integer, 0);
}
END_TEST

START_TEST(test_parse_big_numbers)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char big[] = "(3492890328409238509324850943850943825024385\r\n";
    ck_assert_int_eq(PARSE(big, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_BIG_NUMBER);
    ck_assert_str_eq(payload(big, &v[0]), "3492890328409238509324850943850943825024385");
    ck_assert_uint_eq(v[0].flags & GWLB_REDIS_FLAG_INTEGER_VALID, 0);
    ck_assert_int_eq(PARSE("(-12\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].flags, GWLB_REDIS_FLAG_INTEGER_VALID);
    ck_assert_int_eq(v[0].integer, -12);
}
END_TEST

START_TEST(test_parse_blob_error)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "!21\r\nSYNTAX invalid syntax\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_BLOB_ERROR);
    ck_assert_str_eq(payload(in, &v[0]), "SYNTAX invalid syntax");
}
END_TEST

START_TEST(test_parse_verbatim_string_exposes_format_and_text)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "=15\r\ntxt:Some string\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_VERBATIM);
    ck_assert_str_eq(payload(in, &v[0]), "Some string");
    ck_assert_int_eq(memcmp(in + v[0].offset - 4, "txt", 3), 0);
}
END_TEST

START_TEST(test_parse_map_counts_pairs)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_MAP);
    ck_assert_uint_eq(v[0].length, 2);
    ck_assert_uint_eq(v[0].next, 5);
    ck_assert_uint_eq(r.count, 5);
    ck_assert_str_eq(payload(in, &v[3]), "second");
    ck_assert_int_eq(v[4].integer, 2);
}
END_TEST

START_TEST(test_parse_set)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE("~2\r\n+a\r\n:5\r\n", v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_SET);
    ck_assert_uint_eq(v[0].length, 2);
    ck_assert_uint_eq(r.count, 3);
}
END_TEST

START_TEST(test_parse_attribute_precedes_value_and_is_not_an_element)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    /* spec example: attribute on the reply, then an array of two integers */
    const char in[] = "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
                      "*2\r\n:2039123\r\n:9543892\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(r.length, sizeof in - 1);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_ATTRIBUTE);
    ck_assert_uint_eq(v[0].next, 7);
    ck_assert_uint_eq(r.root, 7);
    ck_assert_uint_eq(v[7].type, GWLB_REDIS_ARRAY);
    ck_assert_int_eq(v[9].integer, 9543892);
    ck_assert_uint_eq(r.count, 10);
    /* inside an array: the attribute does not use up an element slot */
    const char in2[] = "*2\r\n|1\r\n+ttl\r\n:5\r\n:1\r\n:2\r\n";
    ck_assert_int_eq(PARSE(in2, v, &r), GWLB_OK);
    ck_assert_uint_eq(r.length, sizeof in2 - 1);
    ck_assert_uint_eq(r.count, 6);
    ck_assert_uint_eq(v[1].type, GWLB_REDIS_ATTRIBUTE);
    ck_assert_uint_eq(v[1].next, 4);
    ck_assert_int_eq(v[5].integer, 2);
    ck_assert_uint_eq(v[0].next, 6);
}
END_TEST

START_TEST(test_parse_push)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    ck_assert_int_eq(PARSE(in, v, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_PUSH);
    ck_assert_uint_eq(v[0].length, 3);
    ck_assert_str_eq(payload(in, &v[3]), "hi");
}
END_TEST

START_TEST(test_parse_stops_at_reply_end_leaving_next_reply)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const char in[] = ":1\r\n:2\r\n+OK\r\n";
    size_t off = 0;
    int64_t seen[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(parse_str(in + off, sizeof in - 1 - off, v, &r), GWLB_OK);
        seen[i] = v[0].integer;
        off += r.length;
    }
    ck_assert_int_eq(seen[0], 1);
    ck_assert_int_eq(seen[1], 2);
    ck_assert_uint_eq(off, 8);
}
END_TEST

/* ---- splits ------------------------------------------------------------- */

static const char *const samples[] = {
    "+OK\r\n",
    "-ERR unknown command\r\n",
    ":-123456789\r\n",
    "$5\r\nhello\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "*-1\r\n",
    "_\r\n",
    ",-1.5e3\r\n",
    "#t\r\n",
    "(12345678901234567890123\r\n",
    "!10\r\nERR broken\r\n",
    "=8\r\nmkd:*hi*\r\n",
    "*5\r\n:0\r\n:5\r\n:4\r\n:-1\r\n:1000000000\r\n",
    "%2\r\n+a\r\n*2\r\n:1\r\n$2\r\nxy\r\n+b\r\n~1\r\n#f\r\n",
    "|1\r\n+k\r\n:1\r\n*2\r\n|0\r\n:1\r\n_\r\n",
    ">2\r\n+invalidate\r\n*1\r\n$3\r\nfoo\r\n",
    "*2\r\n*0\r\n%0\r\n",
};

START_TEST(test_every_type_parses_the_same_split_at_every_byte)
{
    for (size_t si = 0; si < sizeof samples / sizeof samples[0]; si++) {
        const char *s = samples[si];
        size_t n = strlen(s);
        gwlb_redis_value whole[MAXV];
        gwlb_redis_reply rw;
        ck_assert_int_eq(parse_str(s, n, whole, &rw), GWLB_OK);
        ck_assert_uint_eq(rw.length, n);
        /* every strict prefix alone is incomplete */
        for (size_t k = 0; k < n; k++) {
            gwlb_redis_value v[MAXV];
            gwlb_redis_reply r;
            ck_assert_msg(parse_str(s, k, v, &r) == GWLB_EAGAIN, "sample %zu prefix %zu", si, k);
        }
        /* a two-piece delivery split at k gives the same values */
        for (size_t k = 0; k <= n; k++) {
            gwlb_redis_parser p;
            ck_assert_int_eq(gwlb_redis_parser_init(&p, NULL), GWLB_OK);
            gwlb_redis_value v[MAXV];
            gwlb_redis_reply r;
            uint8_t *a = malloc(k ? k : 1);
            memcpy(a, s, k);
            int rc = gwlb_redis_parser_feed(&p, a, k, v, MAXV, &r);
            free(a);
            if (k < n) {
                ck_assert_int_eq(rc, GWLB_EAGAIN);
                uint8_t *b = malloc(n);
                memcpy(b, s, n);
                rc = gwlb_redis_parser_feed(&p, b, n, v, MAXV, &r);
                free(b);
            }
            ck_assert_msg(rc == GWLB_OK, "sample %zu split %zu: %d", si, k, rc);
            ck_assert_uint_eq(r.length, rw.length);
            ck_assert_uint_eq(r.count, rw.count);
            ck_assert_uint_eq(r.root, rw.root);
            ck_assert_int_eq(memcmp(v, whole, rw.count * sizeof v[0]), 0);
        }
    }
}
END_TEST

START_TEST(test_byte_by_byte_feeding_parses_every_sample)
{
    for (size_t si = 0; si < sizeof samples / sizeof samples[0]; si++) {
        const char *s = samples[si];
        size_t n = strlen(s);
        gwlb_redis_parser p;
        gwlb_redis_parser_init(&p, NULL);
        gwlb_redis_value v[MAXV];
        gwlb_redis_reply r;
        int rc = GWLB_EAGAIN;
        for (size_t m = 0; m <= n; m++) {
            uint8_t *b = malloc(m ? m : 1);
            memcpy(b, s, m);
            rc = gwlb_redis_parser_feed(&p, b, m, v, MAXV, &r);
            free(b);
            if (m < n)
                ck_assert_int_eq(rc, GWLB_EAGAIN);
        }
        ck_assert_int_eq(rc, GWLB_OK);
        ck_assert_uint_eq(r.length, n);
    }
}
END_TEST

START_TEST(test_parser_is_ready_for_next_reply_after_one_completes)
{
    gwlb_redis_parser p;
    gwlb_redis_parser_init(&p, NULL);
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const uint8_t a[] = "*1\r\n:1\r\n";
    const uint8_t b[] = ":2\r\n";
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, a, 8, v, MAXV, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, b, 4, v, MAXV, &r), GWLB_OK);
    ck_assert_uint_eq(r.count, 1);
    ck_assert_int_eq(v[0].integer, 2);
    ck_assert_uint_eq(v[0].depth, 0);
}
END_TEST

/* ---- malformed and oversize --------------------------------------------- */

START_TEST(test_malformed_replies_are_eproto)
{
    static const char *const bad[] = {
        "?\r\n",           /* unknown type byte */
        "\r\n",            /* no type byte */
        "+OK\rX",          /* CR not followed by LF */
        "+O\nK\r\n",       /* bare LF inside a line */
        ":\r\n",           /* integer without digits */
        ":12a\r\n",        /* non-digit */
        ":-\r\n",          /* sign only */
        ":9223372036854775808\r\n", /* overflow */
        ":-9223372036854775809\r\n",
        "$-2\r\n",         /* negative length other than -1 */
        "$+1\r\nx\r\n",    /* sign on a length */
        "$3\r\nabcd\r\n",  /* payload longer than announced */
        "$3\r\nab\r\n\r\n",/* payload shorter than announced */
        "$x\r\n",
        "!-1\r\n",         /* blob error cannot be null */
        "=3\r\ntxt\r\n",   /* verbatim shorter than its format prefix */
        "=5\r\ntxt-x\r\n", /* verbatim without ':' */
        "%-1\r\n",         /* a map cannot be null */
        "~-1\r\n",
        "_x\r\n",          /* null with payload */
        "#x\r\n",          /* boolean other than t/f */
        "#tt\r\n",
        ",\r\n",           /* double without digits */
        ",1.2.3\r\n",
        ",1e\r\n",
        ",abc\r\n",
        "(\r\n",           /* big number without digits */
        "(12x\r\n",
        "*1\r\n?\r\n",     /* bad element inside an aggregate */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gwlb_redis_value v[MAXV];
        gwlb_redis_reply r;
        int rc = parse_str(bad[i], strlen(bad[i]), v, &r);
        ck_assert_msg(rc == GWLB_EPROTO, "input %zu (%s): %d", i, bad[i], rc);
    }
}
END_TEST

START_TEST(test_streamed_resp3_types_are_not_supported)
{
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(PARSE("$?\r\n;4\r\nHell\r\n;0\r\n", v, &r), GWLB_ENOTSUP);
    ck_assert_int_eq(PARSE("*?\r\n:1\r\n.\r\n", v, &r), GWLB_ENOTSUP);
}
END_TEST

START_TEST(test_error_is_sticky_until_init)
{
    gwlb_redis_parser p;
    gwlb_redis_parser_init(&p, NULL);
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    const uint8_t bad[] = "?\r\n";
    const uint8_t good[] = "+OK\r\n";
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, bad, 3, v, MAXV, &r), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, good, 5, v, MAXV, &r), GWLB_EPROTO);
    gwlb_redis_parser_init(&p, NULL);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, good, 5, v, MAXV, &r), GWLB_OK);
}
END_TEST

START_TEST(test_oversize_line_bulk_and_aggregate_are_etoolong)
{
    gwlb_redis_limits lim = {.max_line = 8, .max_bulk = 4, .max_elements = 3};
    gwlb_redis_parser p;
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    ck_assert_int_eq(gwlb_redis_parser_init(&p, &lim), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"+12345678\r\n", 11, v, MAXV, &r),
                     GWLB_OK); /* exactly max_line */
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"+123456789\r\n", 12, v, MAXV, &r),
                     GWLB_ETOOLONG);
    /* detected before the line ends: no CRLF within max_line bytes */
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"+1234567890", 11, v, MAXV, &r),
                     GWLB_ETOOLONG);
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"$5\r\n", 4, v, MAXV, &r),
                     GWLB_ETOOLONG);
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*4\r\n", 4, v, MAXV, &r),
                     GWLB_ETOOLONG);
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"%4\r\n", 4, v, MAXV, &r),
                     GWLB_ETOOLONG);
    /* default bulk limit is Redis's 512 MiB */
    ck_assert_int_eq(PARSE("$536870913\r\n", v, &r), GWLB_ETOOLONG);
    ck_assert_int_eq(PARSE("$536870912\r\n", v, &r), GWLB_EAGAIN);
}
END_TEST

START_TEST(test_nesting_deeper_than_limit_is_elimit)
{
    gwlb_redis_limits lim = {.max_depth = 2};
    gwlb_redis_parser p;
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*1\r\n*1\r\n:1\r\n", 12, v, MAXV,
                                            &r),
                     GWLB_OK);
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*1\r\n*1\r\n*1\r\n:1\r\n", 16, v,
                                            MAXV, &r),
                     GWLB_ELIMIT);
    /* empty aggregates do not nest */
    gwlb_redis_parser_init(&p, &lim);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*1\r\n*1\r\n*0\r\n", 12, v, MAXV,
                                            &r),
                     GWLB_OK);
    /* the default depth is 8 */
    char deep[64] = "";
    for (int i = 0; i < 9; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    ck_assert_int_eq(parse_str(deep, strlen(deep), v, &r), GWLB_ELIMIT);
    lim.max_depth = GWLB_REDIS_MAX_DEPTH + 1;
    ck_assert_int_eq(gwlb_redis_parser_init(&p, &lim), GWLB_ERANGE);
}
END_TEST

START_TEST(test_values_array_full_is_enospc_and_resumable)
{
    gwlb_redis_parser p;
    gwlb_redis_parser_init(&p, NULL);
    gwlb_redis_value v[4];
    gwlb_redis_reply r;
    const uint8_t in[] = "*3\r\n:1\r\n:2\r\n:3\r\n";
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, in, sizeof in - 1, v, 3, &r), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, in, sizeof in - 1, v, 4, &r), GWLB_OK);
    ck_assert_uint_eq(r.count, 4);
    ck_assert_int_eq(v[3].integer, 3);
}
END_TEST

START_TEST(test_bad_arguments_are_einval)
{
    gwlb_redis_parser p;
    gwlb_redis_value v[4];
    gwlb_redis_reply r;
    ck_assert_int_eq(gwlb_redis_parser_init(NULL, NULL), GWLB_EINVAL);
    gwlb_redis_parser_init(&p, NULL);
    ck_assert_int_eq(gwlb_redis_parser_feed(NULL, (const uint8_t *)"+", 1, v, 4, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, NULL, 1, v, 4, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"+", 1, NULL, 4, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"+", 1, v, 4, NULL), GWLB_EINVAL);
    /* the host dropped bytes the parser had already consumed */
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*2\r\n:1\r\n", 8, v, 4, &r),
                     GWLB_EAGAIN);
    ck_assert_int_eq(gwlb_redis_parser_feed(&p, (const uint8_t *)"*2\r\n", 4, v, 4, &r),
                     GWLB_EINVAL);
}
END_TEST

Suite *redis_resp_suite(void);
Suite *redis_resp_suite(void)
{
    Suite *s = suite_create("redis_resp");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, test_encode_command_writes_array_of_bulk_strings);
    tcase_add_test(tc, test_encode_command_binary_arguments_with_lengths);
    tcase_add_test(tc, test_encode_command_too_small_reports_size_and_writes_nothing);
    tcase_add_test(tc, test_encode_command_rejects_null_and_empty_arguments);
    tcase_add_test(tc, test_encode_hello_2_and_3_only);
    suite_add_tcase(s, tc);
    tc = tcase_create("types");
    tcase_add_test(tc, test_parse_simple_string);
    tcase_add_test(tc, test_parse_error);
    tcase_add_test(tc, test_parse_integers_including_extremes);
    tcase_add_test(tc, test_parse_bulk_string_binary_safe);
    tcase_add_test(tc, test_parse_resp2_nulls_and_resp3_null);
    tcase_add_test(tc, test_parse_array_nested_with_skip_indices);
    tcase_add_test(tc, test_parse_doubles);
    tcase_add_test(tc, test_parse_booleans);
    tcase_add_test(tc, test_parse_big_numbers);
    tcase_add_test(tc, test_parse_blob_error);
    tcase_add_test(tc, test_parse_verbatim_string_exposes_format_and_text);
    tcase_add_test(tc, test_parse_map_counts_pairs);
    tcase_add_test(tc, test_parse_set);
    tcase_add_test(tc, test_parse_attribute_precedes_value_and_is_not_an_element);
    tcase_add_test(tc, test_parse_push);
    tcase_add_test(tc, test_parse_stops_at_reply_end_leaving_next_reply);
    suite_add_tcase(s, tc);
    tc = tcase_create("incremental");
    tcase_add_test(tc, test_every_type_parses_the_same_split_at_every_byte);
    tcase_add_test(tc, test_byte_by_byte_feeding_parses_every_sample);
    tcase_add_test(tc, test_parser_is_ready_for_next_reply_after_one_completes);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_malformed_replies_are_eproto);
    tcase_add_test(tc, test_streamed_resp3_types_are_not_supported);
    tcase_add_test(tc, test_error_is_sticky_until_init);
    tcase_add_test(tc, test_oversize_line_bulk_and_aggregate_are_etoolong);
    tcase_add_test(tc, test_nesting_deeper_than_limit_is_elimit);
    tcase_add_test(tc, test_values_array_full_is_enospc_and_resumable);
    tcase_add_test(tc, test_bad_arguments_are_einval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(redis_resp_suite());
}
