/* Benchmarks of the shared primitives: the hash functions and the PRNG. */
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
    bench_run(ctx, &(bench_spec){.name = "common.hash64.siphash24", .params = "len=16", .fn = b_sip24});
    bench_run(ctx, &(bench_spec){.name = "common.hash64.siphash13", .params = "len=16", .fn = b_sip13});
    bench_run(ctx, &(bench_spec){.name = "common.crc32", .params = "len=16", .fn = b_crc32});
    bench_run(ctx, &(bench_spec){.name = "common.rng.next", .fn = b_rng, .arg = &rng});
    bench_run(ctx, &(bench_spec){.name = "common.rng.next", .threads = 2, .fn = b_rng, .arg = &rng});
}
