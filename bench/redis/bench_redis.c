/*
 * Benchmarks of the redis component: the host-side cost of one fleet-wide
 * decision (encode the EVALSHA call, parse and decode its reply), a
 * pipelined batch per decision, the raw RESP parser, and the hybrid
 * mode's local decision. No server is involved (decisions per second
 * against redis-server are reported by tests/redis/test_redis_integration.c).
 */
#include <string.h>

#include "bench.h"
#include "gwlb/redis.h"

#define EPOCH UINT64_C(1700000000000000000)

typedef struct redis_bench {
    gwlb_gcra_config gcra;
    gwlb_redis_limit_config fleet;
    gwlb_redis_limit limit;
    uint8_t out[1 << 16];
    uint8_t reply[256];
    size_t reply_len;
    uint8_t batch_reply[128 * 64];
    size_t batch_reply_len;
    gwlb_redis_gcra_call calls[128];
    gwlb_redis_gcra_answer answers[128];
} redis_bench;

static const char reply_text[] = "*6\r\n:1\r\n:100\r\n:97\r\n:30000000\r\n:-1\r\n"
                                 "$19\r\n1700000000030000000\r\n";

static void b_encode(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    size_t n = 0, acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_redis_encode_gcra(b->out, sizeof b->out, &n, &b->gcra, "rl:{client-10.0.0.17}", 21,
                               1, EPOCH + i, 0);
        acc += n;
    }
    bench_sink = acc;
}

static void b_decode(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t used;
        gwlb_redis_gcra_answer a;
        gwlb_redis_decode_gcra(b->reply, b->reply_len, &used, &a);
        acc += a.result.remaining + used;
    }
    bench_sink = acc;
}

static void b_encode_decode(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t n, used;
        gwlb_redis_encode_gcra(b->out, sizeof b->out, &n, &b->gcra, "rl:{client-10.0.0.17}", 21,
                               1, EPOCH + i, 0);
        gwlb_redis_gcra_answer a;
        gwlb_redis_decode_gcra(b->reply, b->reply_len, &used, &a);
        acc += n + a.result.remaining;
    }
    bench_sink = acc;
}

/* One op = one decision inside a pipeline of 128 (encode batch + decode batch / 128). */
static void b_batch(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i += 128) {
        size_t n, used, done;
        gwlb_redis_encode_gcra_batch(b->out, sizeof b->out, &n, b->calls, 128, EPOCH + i, 0);
        gwlb_redis_decode_gcra_batch(b->batch_reply, b->batch_reply_len, &used, b->answers, 128,
                                     &done);
        acc += n + done;
    }
    bench_sink = acc;
}

static void b_parse(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    uint64_t acc = 0;
    gwlb_redis_value v[8];
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_redis_reply r;
        gwlb_redis_parse(b->reply, b->reply_len, v, 8, &r);
        acc += r.count + (uint64_t)v[3].integer;
    }
    bench_sink = acc;
}

/* Hybrid: local admissions within a share that a sync empties every 64 decisions. */
static void b_hybrid_local(void *arg, uint64_t iters)
{
    redis_bench *b = arg;
    uint64_t acc = 0;
    uint64_t now = EPOCH;
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_limit_result r;
        uint32_t verdict;
        now += 1000; /* 1 us apart: the 1M/s limit is never reached */
        gwlb_redis_limit_allow(&b->fleet, &b->limit, now, 1, NULL, &r, &verdict);
        acc += r.allowed + verdict;
        if ((i & 63) == 63)
            b->limit.pending = 0; /* what a sync's take does */
    }
    bench_sink = acc;
}

void bench_redis(bench_ctx *ctx)
{
    static redis_bench b;
    memset(&b, 0, sizeof b);
    gwlb_gcra_config_init(&b.gcra, 100, UINT64_C(1000000000), 99);
    b.reply_len = sizeof reply_text - 1;
    memcpy(b.reply, reply_text, b.reply_len);
    for (int i = 0; i < 128; i++) {
        b.calls[i] = (gwlb_redis_gcra_call){&b.gcra, "rl:{client-10.0.0.17}", 21, 1, 0};
        memcpy(b.batch_reply + b.batch_reply_len, reply_text, sizeof reply_text - 1);
        b.batch_reply_len += sizeof reply_text - 1;
    }
    gwlb_gcra_config fast;
    gwlb_gcra_config_init(&fast, 1000000, UINT64_C(1000000000), 1000);
    gwlb_redis_limit_config_init(&b.fleet, &fast, 128, 0, GWLB_REDIS_FAIL_LOCAL);
    gwlb_redis_limit_init(&b.limit);

    bench_run(ctx, &(bench_spec){.name = "redis.gcra.encode", .params = "key=21B",
                                 .fn = b_encode, .arg = &b, .target_ns = 150});
    bench_run(ctx, &(bench_spec){.name = "redis.gcra.decode", .params = "reply=6 values",
                                 .fn = b_decode, .arg = &b, .target_ns = 250});
    bench_run(ctx, &(bench_spec){.name = "redis.gcra.encode_decode", .params = "per decision",
                                 .fn = b_encode_decode, .arg = &b, .target_ns = 400});
    bench_run(ctx, &(bench_spec){.name = "redis.gcra.pipeline", .params = "depth=128,per decision",
                                 .fn = b_batch, .arg = &b, .target_ns = 400});
    bench_run(ctx, &(bench_spec){.name = "redis.resp.parse", .params = "reply=6 values",
                                 .fn = b_parse, .arg = &b, .target_ns = 150});
    bench_run(ctx, &(bench_spec){.name = "redis.hybrid.allow_local", .params = "share=128",
                                 .fn = b_hybrid_local, .arg = &b, .target_ns = 60});
}
