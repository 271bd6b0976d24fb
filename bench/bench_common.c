/* Benchmarks of the shared primitives: the hash functions and the PRNG. */
#include <string.h>

#include "bench.h"
#include "gwlb.h"

static const char key16[16] = "client-10.0.0.17";

static void b_xxh64(void *arg, uint64_t n)
{
    (void)arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += gwlb_hash64(key16, 16, i);
    bench_sink = acc;
}

/* Per key: 16 keys of 16 bytes (stride 16) per gwlb_hash64_batch call. */
static void b_xxh64_batch(void *arg, uint64_t n)
{
    (void)arg;
    static char keys[16][16];
    uint64_t h[16], acc = 0;
    for (int k = 0; k < 16; k++) {
        memcpy(keys[k], key16, 16);
        keys[k][15] = (char)('a' + k);
    }
    for (uint64_t i = 0; i < n;) {
        uint32_t m = n - i < 16 ? (uint32_t)(n - i) : 16;
        gwlb_hash64_batch(keys, 16, 16, m, i, h);
        for (uint32_t l = 0; l < m; l++)
            acc += h[l];
        i += m;
    }
    bench_sink = acc;
}

static void b_sip24(void *arg, uint64_t n)
{
    (void)arg;
    uint8_t k[16] = {1, 2, 3};
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        k[0] = (uint8_t)i;
        acc += gwlb_siphash24(k, key16, 16);
    }
    bench_sink = acc;
}

static void b_sip13(void *arg, uint64_t n)
{
    (void)arg;
    uint8_t k[16] = {1, 2, 3};
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        k[0] = (uint8_t)i;
        acc += gwlb_siphash13(k, key16, 16);
    }
    bench_sink = acc;
}

static void b_crc32(void *arg, uint64_t n)
{
    (void)arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += gwlb_crc32(key16, 16 - (i & 1));
    bench_sink = acc;
}

static void b_rng(void *arg, uint64_t n)
{
    gwlb_rng *r = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += gwlb_rng_next(r);
    bench_sink = acc;
}

void bench_common(bench_ctx *ctx)
{
    static gwlb_rng rng;
    gwlb_rng_seed(&rng, 1);
    bench_run(ctx, &(bench_spec){.name = "common.hash64.xxh64", .params = "len=16", .fn = b_xxh64});
    bench_run(ctx, &(bench_spec){.name = "common.hash64_batch.xxh64", .params = "len=16",
                                 .fn = b_xxh64_batch});
    bench_run(ctx, &(bench_spec){.name = "common.hash64.siphash24", .params = "len=16", .fn = b_sip24});
    bench_run(ctx, &(bench_spec){.name = "common.hash64.siphash13", .params = "len=16", .fn = b_sip13});
    bench_run(ctx, &(bench_spec){.name = "common.crc32", .params = "len=16", .fn = b_crc32});
    bench_run(ctx, &(bench_spec){.name = "common.rng.next", .fn = b_rng, .arg = &rng});
    bench_run(ctx, &(bench_spec){.name = "common.rng.next", .threads = 2, .fn = b_rng, .arg = &rng});
}
