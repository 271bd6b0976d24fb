/*
 * libFuzzer target for the RESP reply parser: the input is split at a
 * fuzzer-chosen point and fed in two calls (each from an exactly-sized heap
 * copy, so ASan catches any read past the buffer); the one-shot and the
 * incremental parse must agree, and every value must lie inside the input.
 * The GCRA reply decoders run on the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/redis.h"

#define MAXV 256

static void check_values(const gwlb_redis_value *v, const gwlb_redis_reply *r, size_t size)
{
    if (r->length > size || r->count == 0 || r->count > MAXV || r->root >= r->count)
        __builtin_trap();
    for (uint32_t i = 0; i < r->count; i++) {
        if (v[i].next <= i || v[i].next > r->count)
            __builtin_trap();
        switch (v[i].type) {
        case GWLB_REDIS_SIMPLE_STRING:
        case GWLB_REDIS_ERROR:
        case GWLB_REDIS_BULK_STRING:
        case GWLB_REDIS_BLOB_ERROR:
        case GWLB_REDIS_VERBATIM:
        case GWLB_REDIS_DOUBLE:
        case GWLB_REDIS_BIG_NUMBER:
            if ((uint64_t)v[i].offset + v[i].length > r->length)
                __builtin_trap();
            break;
        default:
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % (size);
    data++;
    size--;
    if (split > size)
        split = size;

    gwlb_redis_value whole[MAXV];
    gwlb_redis_reply rw;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int rc_whole = gwlb_redis_parse(copy, size, whole, MAXV, &rw);
    if (rc_whole == GWLB_OK)
        check_values(whole, &rw, size);

    gwlb_redis_parser p;
    gwlb_redis_parser_init(&p, NULL);
    gwlb_redis_value v[MAXV];
    gwlb_redis_reply r;
    uint8_t *a = malloc(split ? split : 1);
    memcpy(a, data, split);
    int rc = gwlb_redis_parser_feed(&p, a, split, v, MAXV, &r);
    free(a);
    if (rc == GWLB_EAGAIN)
        rc = gwlb_redis_parser_feed(&p, copy, size, v, MAXV, &r);
    if (rc == GWLB_OK && rc_whole == GWLB_OK) {
        if (r.length != rw.length || r.count != rw.count || r.root != rw.root ||
            memcmp(v, whole, rw.count * sizeof v[0]) != 0)
            __builtin_trap();
    } else if (rc == GWLB_OK || rc_whole == GWLB_OK) {
        /* a prefix may complete a shorter reply only if the whole does too */
        __builtin_trap();
    } else if (rc != rc_whole) {
        __builtin_trap();
    }

    /* the GCRA reply decoders on the same bytes: never past the input */
    gwlb_redis_gcra_answer ans[4];
    size_t used = 0, done = 0;
    int drc = gwlb_redis_decode_gcra(copy, size, &used, &ans[0]);
    if (used > size || (drc == GWLB_OK && (ans[0].result.allowed > 1 || used == 0)))
        __builtin_trap();
    gwlb_redis_decode_gcra_batch(copy, size, &used, ans, 4, &done);
    if (used > size || done > 4)
        __builtin_trap();
    free(copy);
    return 0;
}
