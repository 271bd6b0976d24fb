/*
 * Benchmarks of hash-based balancing. Every lookup includes hashing a
 * 16-byte key (keys cycle through a 4096-entry array so branch predictors
 * and caches see varied input). Build times are one-shot measurements
 * recorded with bench_record (median of several builds).
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gwlb/hashing.h"

#define NKEYS 4096

static uint8_t keys[NKEYS][16];

typedef struct lookup_arg {
    gwlb_hash_table *table;
    uint32_t buckets;
    gwlb_hash_loads loads;
    uint32_t factor;
} lookup_arg;

static char idbuf[1000][24];
static gwlb_hash_host hosts[1000];

static void make_hosts(uint32_t n, int weighted)
{
    for (uint32_t i = 0; i < n; i++) {
        int len = 0;
        /* "10.a.b.c:8080" */
        char *s = idbuf[i];
        const char *pre = "10.";
        while (*pre)
            s[len++] = *pre++;
        uint32_t parts[3] = {i / 65536, (i / 256) % 256, i % 256};
        for (int p = 0; p < 3; p++) {
            char tmp[4];
            int t = 0;
            uint32_t v = parts[p];
            do {
                tmp[t++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            while (t)
                s[len++] = tmp[--t];
            s[len++] = p < 2 ? '.' : ':';
        }
        memcpy(s + len, "8080", 4);
        len += 4;
        hosts[i].identity = s;
        hosts[i].identity_len = (uint32_t)len;
        hosts[i].weight = weighted ? 1 + i % 5 : 1;
    }
}

static gwlb_hash_table *table(uint32_t alg, uint32_t n, uint32_t m)
{
    make_hosts(n, 0);
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, alg);
    if (m)
        c.maglev_table_size = m;
    c.sticky_enabled = 1;
    memcpy(c.sticky_key, "bench-sticky-key", 16);
    gwlb_hash_table *t = NULL;
    if (gwlb_hash_table_new(&t, &c, hosts, n, NULL, NULL) != GWLB_OK)
        return NULL;
    return t;
}

static void b_lookup(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t h;
        gwlb_hash_table_lookup(a->table, keys[i & (NKEYS - 1)], 16, &h);
        acc += h;
    }
    bench_sink = acc;
}

static void b_jump(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t b;
        gwlb_jump_hash(gwlb_hash64(keys[i & (NKEYS - 1)], 16, 0), a->buckets, &b);
        acc += b;
    }
    bench_sink = acc;
}

/* Jump hash of 16-byte keys by the batch call: each group of up to
 * JUMP_BATCH keys is hashed into a small array, then bucketed by one
 * gwlb_jump_hash_batch call; one op = one key. The keys are hashed one
 * gwlb_hash64 call each (as in b_jump), or by one gwlb_hash64_batch call
 * (hash_batch: the group's rows of keys[] are contiguous, stride 16). */
#define JUMP_BATCH 16

static inline __attribute__((always_inline)) void jump_batch_loop(const lookup_arg *a,
                                                                  uint64_t iters, int hash_batch)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters;) {
        uint64_t h[JUMP_BATCH];
        uint32_t b[JUMP_BATCH];
        uint32_t m = iters - i < JUMP_BATCH ? (uint32_t)(iters - i) : JUMP_BATCH;
        if (hash_batch)
            gwlb_hash64_batch(keys[i & (NKEYS - 1)], 16, 16, m, 0, h);
        else
            for (uint32_t l = 0; l < m; l++)
                h[l] = gwlb_hash64(keys[(i + l) & (NKEYS - 1)], 16, 0);
        gwlb_jump_hash_batch(h, m, a->buckets, b);
        for (uint32_t l = 0; l < m; l++)
            acc += b[l];
        i += m;
    }
    bench_sink = acc;
}

static void b_jump_batch(void *arg, uint64_t iters)
{
    jump_batch_loop(arg, iters, 0);
}

static void b_jump_hash_batch(void *arg, uint64_t iters)
{
    jump_batch_loop(arg, iters, 1);
}

static void b_pick(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h;
        gwlb_hash_table_pick(a->table, keys[i & (NKEYS - 1)], 16, &at, NULL, NULL, &h);
        acc += h;
    }
    bench_sink = acc;
}

static void b_bounded(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    uint64_t words[16];
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, words, 16);
        uint32_t h;
        gwlb_hash_table_pick_bounded(a->table, keys[i & (NKEYS - 1)], 16, &at, NULL, NULL,
                                     &a->loads, a->factor, &h);
        acc += h;
    }
    bench_sink = acc;
}

static void b_bounded_cycle(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    uint64_t words[16];
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, words, 16);
        uint32_t h;
        if (gwlb_hash_table_pick_bounded(a->table, keys[i & (NKEYS - 1)], 16, &at, NULL, NULL,
                                         &a->loads, a->factor, &h) == GWLB_OK) {
            gwlb_hash_loads_acquire(&a->loads, h);
            gwlb_hash_loads_release(&a->loads, h);
        }
        acc += h;
    }
    bench_sink = acc;
}

static char tokens[NKEYS][GWLB_HASH_STICKY_TOKEN_LEN];

static void b_sticky(void *arg, uint64_t iters)
{
    lookup_arg *a = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t h = 0;
        gwlb_hash_sticky_decode(a->table, tokens[i & (NKEYS - 1)], GWLB_HASH_STICKY_TOKEN_LEN,
                                &h);
        acc += h;
    }
    bench_sink = acc;
}

static void run_lookup(bench_ctx *ctx, const char *name, const char *params, uint32_t alg,
                       uint32_t n, uint32_t m, double target)
{
    if (!bench_selected(ctx, name))
        return;
    lookup_arg a = {table(alg, n, m), 0, {0}, 0};
    if (a.table == NULL)
        return;
    bench_run(ctx, &(bench_spec){.name = name, .params = params, .fn = b_lookup, .arg = &a,
                                 .target_ns = target,
                                 .bytes = (double)gwlb_hash_table_memory(a.table),
                                 .bytes_unit = "per_table"});
    gwlb_hash_table_free(a.table);
}

static void build_time(bench_ctx *ctx, const char *name, const char *params, uint32_t alg,
                       uint32_t n, uint32_t m, double target, int reps)
{
    if (!bench_selected(ctx, name))
        return;
    make_hosts(n, 0);
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, alg);
    if (m)
        c.maglev_table_size = m;
    double t[16];
    size_t mem = 0;
    for (int r = 0; r < reps; r++) {
        gwlb_hash_table *tb = NULL;
        uint64_t t0 = bench_now_ns();
        int rc = gwlb_hash_table_new(&tb, &c, hosts, n, NULL, NULL);
        t[r] = (double)(bench_now_ns() - t0);
        if (rc != GWLB_OK)
            return;
        mem = gwlb_hash_table_memory(tb);
        gwlb_hash_table_free(tb);
    }
    for (int i = 1; i < reps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    bench_record(ctx,
                 &(bench_spec){.name = name, .params = params, .target_ns = target,
                               .bytes = (double)mem, .bytes_unit = "per_table"},
                 t[reps / 2], t[0], t[reps - 1]);
}

void bench_hashing(bench_ctx *ctx)
{
    uint64_t seed = 42;
    for (int i = 0; i < NKEYS; i++) {
        uint64_t a = bench_rand(&seed), b = bench_rand(&seed);
        memcpy(keys[i], &a, 8);
        memcpy(keys[i] + 8, &b, 8);
    }
    run_lookup(ctx, "hashing.maglev.lookup", "hosts=1000,M=65537,key=16B",
               GWLB_HASH_MAGLEV, 1000, 65537, 15);
    run_lookup(ctx, "hashing.maglev.lookup", "hosts=10,M=65537,key=16B", GWLB_HASH_MAGLEV, 10,
               65537, 15);
    {
        /* Jump hash of a 16-byte key: the two public calls composed. */
        lookup_arg a = {NULL, 1000, {0}, 0};
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup",
                                     .params = "buckets=1000,key=16B", .fn = b_jump, .arg = &a,
                                     .target_ns = 15});
        a.buckets = 10;
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup",
                                     .params = "buckets=10,key=16B", .fn = b_jump, .arg = &a,
                                     .target_ns = 15});
        /* The same keys, 16 at a time through gwlb_jump_hash_batch (per key). */
        a.buckets = 1000;
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup_batch",
                                     .params = "buckets=1000,key=16B,batch=16",
                                     .fn = b_jump_batch, .arg = &a, .target_ns = 15});
        a.buckets = 10;
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup_batch",
                                     .params = "buckets=10,key=16B,batch=16",
                                     .fn = b_jump_batch, .arg = &a, .target_ns = 15});
        /* The same with the 16 keys hashed by one gwlb_hash64_batch call. */
        a.buckets = 1000;
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup_batch",
                                     .params = "buckets=1000,key=16B,batch=16,hash_batch",
                                     .fn = b_jump_hash_batch, .arg = &a, .target_ns = 15});
        a.buckets = 10;
        bench_run(ctx, &(bench_spec){.name = "hashing.jump.lookup_batch",
                                     .params = "buckets=10,key=16B,batch=16,hash_batch",
                                     .fn = b_jump_hash_batch, .arg = &a, .target_ns = 15});
    }
    /* The same as key -> bucket through a GWLB_HASH_JUMP table's lookup
     * (the key's xxHash64 inline for 16 bytes). */
    run_lookup(ctx, "hashing.jump.table_lookup", "buckets=1000,key=16B", GWLB_HASH_JUMP, 1000, 0,
               0);
    run_lookup(ctx, "hashing.jump.table_lookup", "buckets=10,key=16B", GWLB_HASH_JUMP, 10, 0, 0);
    run_lookup(ctx, "hashing.ring.lookup", "hosts=1000,min_ring=1024,key=16B", GWLB_HASH_RING,
               1000, 0, 40);
    run_lookup(ctx, "hashing.nginx_consistent.lookup", "hosts=100,key=16B",
               GWLB_HASH_NGINX_CONSISTENT, 100, 0, 60);
    run_lookup(ctx, "hashing.nginx_consistent.lookup", "hosts=1000,key=16B",
               GWLB_HASH_NGINX_CONSISTENT, 1000, 0, 0);
    run_lookup(ctx, "hashing.nginx_hash.lookup", "hosts=100,key=16B", GWLB_HASH_NGINX_HASH,
               100, 0, 0);
    run_lookup(ctx, "hashing.rendezvous.lookup", "hosts=10,key=16B", GWLB_HASH_RENDEZVOUS, 10,
               0, 0);
    run_lookup(ctx, "hashing.rendezvous.lookup", "hosts=100,key=16B", GWLB_HASH_RENDEZVOUS,
               100, 0, 0);

    if (bench_selected(ctx, "hashing.maglev.pick")) {
        lookup_arg a = {table(GWLB_HASH_MAGLEV, 100, 65537), 0, {0}, 0};
        if (a.table != NULL)
            bench_run(ctx, &(bench_spec){.name = "hashing.maglev.pick",
                                         .params = "hosts=100,attempt+tried", .fn = b_pick,
                                         .arg = &a, .target_ns = 0});
        gwlb_hash_table_free(a.table);
    }

    /* Bounded load at factor 1.25 over 1000 hosts with a realistic load:
     * ~8 in flight per host on average, a tenth of hosts at capacity. */
    if (bench_selected(ctx, "hashing.bounded.pick") ||
        bench_selected(ctx, "hashing.bounded.pick_acquire_release")) {
        static uint32_t inflight[1000];
        static uint64_t total;
        lookup_arg a = {table(GWLB_HASH_MAGLEV, 1000, 65537), 0, {inflight, &total, 1000}, 125};
        uint64_t s2 = 7;
        total = 0;
        for (int i = 0; i < 1000; i++) {
            inflight[i] = (uint32_t)(bench_rand(&s2) % 8);
            total += inflight[i];
        }
        uint32_t cap = (uint32_t)(((total + 1) * 125 + 100 * 1000 - 1) / (100 * 1000));
        for (int i = 0; i < 1000; i += 10) {
            total += cap - inflight[i];
            inflight[i] = cap;
        }
        if (a.table != NULL) {
            bench_run(ctx, &(bench_spec){.name = "hashing.bounded.pick",
                                         .params = "maglev,hosts=1000,factor=1.25,10%full",
                                         .fn = b_bounded, .arg = &a, .target_ns = 50});
            bench_run(ctx, &(bench_spec){.name = "hashing.bounded.pick_acquire_release",
                                         .params = "maglev,hosts=1000,factor=1.25,10%full",
                                         .fn = b_bounded_cycle, .arg = &a, .target_ns = 0});
        }
        gwlb_hash_table_free(a.table);
    }

    if (bench_selected(ctx, "hashing.sticky.decode")) {
        lookup_arg a = {table(GWLB_HASH_MAGLEV, 1000, 65537), 0, {0}, 0};
        if (a.table != NULL) {
            for (int i = 0; i < NKEYS; i++) {
                size_t len;
                gwlb_hash_sticky_encode(a.table, (uint32_t)(i % 1000), tokens[i],
                                        sizeof tokens[i], &len);
            }
            bench_run(ctx, &(bench_spec){.name = "hashing.sticky.decode", .params = "hosts=1000",
                                         .fn = b_sticky, .arg = &a, .target_ns = 0});
        }
        gwlb_hash_table_free(a.table);
    }

    int reps = bench_quick(ctx) ? 3 : 11;
    build_time(ctx, "hashing.maglev.build", "hosts=1000,M=65537", GWLB_HASH_MAGLEV, 1000, 65537,
               2e6, reps);
    build_time(ctx, "hashing.maglev.build", "hosts=100,M=65537", GWLB_HASH_MAGLEV, 100, 65537,
               0, reps);
    build_time(ctx, "hashing.ring.build", "hosts=1000,min_ring=1024", GWLB_HASH_RING, 1000, 0,
               0, reps);
    build_time(ctx, "hashing.nginx_consistent.build", "hosts=100", GWLB_HASH_NGINX_CONSISTENT,
               100, 0, 0, reps);
}
