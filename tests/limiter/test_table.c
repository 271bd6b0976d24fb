/*
 * Specification of the keyed limiter table (key -> state word in host
 * memory, bounded, evicting fresh entries first, then low-frequency/old
 * ones), of several limits applied all-or-nothing, and of dry-run mode.
 * Includes the adversarial flood: 10 million distinct keys into 1 MiB.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "limiter/limiter_internal.h"
#include "test_alloc.h"
#include "test_sanitized.h"
#include "test_run.h"

#define MS GWLB_NS_PER_MS
#define SEC GWLB_NS_PER_SEC
#define T0 (UINT64_C(5000) * SEC)

static const uint8_t hkey[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static gwlb_limiter_policy gcra_policy(uint64_t count, uint64_t period, uint64_t burst)
{
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_GCRA;
    ck_assert_int_eq(gwlb_gcra_config_init(&p.u.gcra, count, period, burst), GWLB_OK);
    return p;
}

/* A table of exactly one bucket (4 slots) in an aligned static buffer. */
static _Alignas(64) unsigned char small_mem[GWLB_LIMITER_TABLE_HEADER + GWLB_LIMITER_TABLE_BUCKET];

static gwlb_limiter_table *one_bucket_table(const gwlb_limiter_policy *p)
{
    gwlb_limiter_table *t = NULL;
    ck_assert_int_eq(gwlb_limiter_table_init(small_mem, sizeof small_mem, p, hkey, &t), GWLB_OK);
    return t;
}

static int hit(gwlb_limiter_table *t, const char *key, uint64_t now, gwlb_limit_result *r)
{
    ck_assert_int_eq(gwlb_limiter_table_allow(t, key, strlen(key), now, 1, r), GWLB_OK);
    return r->allowed;
}

START_TEST(test_table_keys_have_independent_buckets)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 1);
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_new(gwlb_limiter_table_bytes(1000), &p, hkey, NULL, &t),
                     GWLB_OK);
    gwlb_limit_result r;
    ck_assert_int_eq(hit(t, "10.0.0.1", T0, &r), 1);
    ck_assert_int_eq(hit(t, "10.0.0.1", T0, &r), 1);
    ck_assert_int_eq(hit(t, "10.0.0.1", T0, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)SEC);
    ck_assert_int_eq(hit(t, "10.0.0.2", T0, &r), 1);
    ck_assert_uint_eq(r.remaining, 1);
    gwlb_limiter_table_stats st;
    ck_assert_int_eq(gwlb_limiter_table_stats_get(t, &st), GWLB_OK);
    ck_assert_uint_eq(st.used, 2);
    ck_assert_uint_eq(st.inserts, 2);
    ck_assert_uint_eq(st.rejected, 1);
    ck_assert_uint_eq(st.evicted_fresh + st.evicted_live, 0);
    ck_assert_uint_ge(st.capacity, 1000);
    gwlb_limiter_table_free(t);
    gwlb_limiter_table_free(NULL);
}
END_TEST

START_TEST(test_table_evicts_a_fresh_entry_before_live_ones)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    gwlb_limiter_table *t = one_bucket_table(&p);
    gwlb_limit_result r;
    hit(t, "k2", T0, &r); /* TAT T0 + 1 s: fresh again from T0 + 1 s */
    hit(t, "k0", T0 + 2 * SEC, &r);
    hit(t, "k1", T0 + 2 * SEC, &r);
    hit(t, "k3", T0 + 2 * SEC, &r);
    ck_assert_int_eq(hit(t, "k4", T0 + 2500 * MS, &r), 1);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.evicted_fresh, 1);
    ck_assert_uint_eq(st.evicted_live, 0);
    /* The live keys kept their state: still limited. */
    ck_assert_int_eq(hit(t, "k0", T0 + 2500 * MS, &r), 0);
    ck_assert_int_eq(hit(t, "k1", T0 + 2500 * MS, &r), 0);
    ck_assert_int_eq(hit(t, "k3", T0 + 2500 * MS, &r), 0);
    ck_assert_int_eq(hit(t, "k4", T0 + 2500 * MS, &r), 0);
}
END_TEST

START_TEST(test_table_evicts_lowest_frequency_then_oldest_live_entry)
{
    gwlb_limiter_policy p = gcra_policy(1, 3600 * SEC, 0); /* everything stays live */
    gwlb_limiter_table *t = one_bucket_table(&p);
    gwlb_limit_result r;
    for (int i = 0; i < 4; i++)
        hit(t, "steady", T0, &r); /* freq 3 */
    hit(t, "old-once", T0, &r);
    hit(t, "new-once", T0 + 5 * SEC, &r);
    hit(t, "twice", T0, &r);
    hit(t, "twice", T0 + 5 * SEC, &r); /* freq 1 */
    ck_assert_int_eq(hit(t, "newcomer", T0 + 6 * SEC, &r), 1);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.evicted_live, 1);
    /* old-once (freq 0, oldest) was evicted: it starts fresh, the rest remember. */
    ck_assert_int_eq(hit(t, "steady", T0 + 6 * SEC, &r), 0);
    ck_assert_int_eq(hit(t, "twice", T0 + 6 * SEC, &r), 0);
    ck_assert_int_eq(hit(t, "new-once", T0 + 6 * SEC, &r), 0);
    ck_assert_int_eq(hit(t, "old-once", T0 + 6 * SEC, &r), 1);
}
END_TEST

START_TEST(test_table_peek_reports_without_inserting)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 4);
    gwlb_limiter_table *t = one_bucket_table(&p);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_limiter_table_allow(t, "ghost", 5, T0, 0, &r), GWLB_OK);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 5);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.used, 0);
    hit(t, "ghost", T0, &r);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, "ghost", 5, T0, 0, &r), GWLB_OK);
    ck_assert_uint_eq(r.remaining, 4);
}
END_TEST

START_TEST(test_table_limit_req_policy_matches_nginx_scenario)
{
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_LIMIT_REQ;
    gwlb_limit_req_config_init(&p.u.limit_req, 2, GWLB_LIMIT_REQ_PER_SECOND, 1,
                               GWLB_LIMIT_REQ_NODELAY);
    gwlb_limiter_table *t = one_bucket_table(&p);
    gwlb_limit_result r;
    ck_assert_int_eq(hit(t, "127.0.0.1", T0, &r), 1);
    ck_assert_int_eq(hit(t, "127.0.0.1", T0, &r), 1);
    ck_assert_int_eq(hit(t, "127.0.0.1", T0, &r), 0);
    ck_assert_int_eq(hit(t, "127.0.0.1", T0 + 600 * MS, &r), 1);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, "x", 1, T0, 2, &r), GWLB_ERANGE);
}
END_TEST

START_TEST(test_table_limit_req_entry_is_fresh_only_after_nginx_expiry_rule)
{
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_LIMIT_REQ;
    gwlb_limit_req_config_init(&p.u.limit_req, 1, GWLB_LIMIT_REQ_PER_SECOND, 5, 0);
    gwlb_limit_req l;
    l.config = p.u.limit_req;
    l.state = 0;
    gwlb_limit_result r;
    gwlb_limit_req_allow(&l, T0, &r);
    gwlb_limit_req_allow(&l, T0, &r); /* excess 1000 */
    ck_assert_int_eq(gwlb_limiter_state_is_fresh(&p, l.state, T0 + 59999 * MS), 0);
    ck_assert_int_eq(gwlb_limiter_state_is_fresh(&p, l.state, T0 + 60000 * MS), 1);
    ck_assert_int_eq(gwlb_limiter_state_is_fresh(&p, 0, T0), 1);
}
END_TEST

START_TEST(test_table_dry_run_admits_what_it_would_reject_and_counts_it)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    p.flags = GWLB_LIMITER_DRY_RUN;
    gwlb_limiter_table *t = one_bucket_table(&p);
    gwlb_limit_result r;
    ck_assert_int_eq(hit(t, "k", T0, &r), 1);
    ck_assert_uint_eq(r.dry_run_limited, 0);
    ck_assert_int_eq(hit(t, "k", T0, &r), 1);
    ck_assert_uint_eq(r.dry_run_limited, 1);
    ck_assert_int_eq(r.retry_after_ns, -1);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.dry_run_limited, 1);
    ck_assert_uint_eq(st.rejected, 0);
    /* Nothing was consumed by the shadow rejection: one second later, admitted for real. */
    p.flags = 0;
    uint64_t *w;
    ck_assert_int_eq(gwlb_limiter_table_state(t, "k", 1, T0, &w), GWLB_OK);
    ck_assert_uint_eq(*w, T0 + SEC);
}
END_TEST

START_TEST(test_table_rejects_bad_keys_and_changes_nothing)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    gwlb_limiter_table *t = one_bucket_table(&p);
    static unsigned char before[sizeof small_mem];
    memcpy(before, small_mem, sizeof small_mem);
    static char big[GWLB_LIMITER_KEY_MAX + 1];
    memset(big, 'k', sizeof big);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_limiter_table_allow(t, big, sizeof big, T0, 1, &r), GWLB_ETOOLONG);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, "", 0, T0, 1, &r), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, NULL, 3, T0, 1, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_allow(NULL, "k", 1, T0, 1, &r), GWLB_EINVAL);
    uint64_t *w;
    ck_assert_int_eq(gwlb_limiter_table_state(t, big, sizeof big, T0, &w), GWLB_ETOOLONG);
    ck_assert_mem_eq(small_mem, before, sizeof small_mem);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, big, GWLB_LIMITER_KEY_MAX, T0, 1, &r), GWLB_OK);
}
END_TEST

START_TEST(test_table_too_small_for_one_bucket_is_enospc)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    static _Alignas(64) unsigned char mem[GWLB_LIMITER_TABLE_HEADER + GWLB_LIMITER_TABLE_BUCKET];
    memset(mem, 0x77, sizeof mem);
    gwlb_limiter_table *t = NULL;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem - 1, &p, hkey, &t), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_limiter_table_init(mem, 0, &p, hkey, &t), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_limiter_table_new(100, &p, hkey, NULL, &t), GWLB_ENOSPC);
    ck_assert_ptr_null(t);
    for (size_t i = 0; i < sizeof mem; i++)
        ck_assert_uint_eq(mem[i], 0x77);
}
END_TEST

START_TEST(test_table_rejects_invalid_policy_and_misaligned_memory)
{
    static _Alignas(64) unsigned char mem[1024];
    gwlb_limiter_table *t = NULL;
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_GCRA; /* T = 0: never initialised */
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_EINVAL);
    p = gcra_policy(1, SEC, 0);
    p.kind = 99;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_EINVAL);
    p = gcra_policy(1, SEC, 0);
    p.flags = 0x80;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_EINVAL);
    p.flags = 0;
    ck_assert_int_eq(gwlb_limiter_table_init(mem + 4, sizeof mem - 4, &p, hkey, &t), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, NULL, &t), GWLB_EINVAL);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_table_attach_checks_magic_version_and_size)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    static _Alignas(64) unsigned char mem[4096];
    gwlb_limiter_table *t, *u;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_OK);
    ck_assert_int_eq(gwlb_limiter_table_attach(mem, sizeof mem, &u), GWLB_OK);
    ck_assert_ptr_eq(u, t);
    ck_assert_int_eq(gwlb_limiter_table_attach(mem, 1024, &u), GWLB_ENOSPC);
    mem[8] ^= 0xff; /* version */
    ck_assert_int_eq(gwlb_limiter_table_attach(mem, sizeof mem, &u), GWLB_EVERSION);
    static _Alignas(64) unsigned char junk[4096];
    ck_assert_int_eq(gwlb_limiter_table_attach(junk, sizeof junk, &u), GWLB_EINVAL);
    ck_assert_uint_eq(gwlb_limiter_table_policy(t)->u.gcra.emission_ns, SEC);
}
END_TEST

/* At 3 keys per 4 slots many keys live in their second bucket: the hit path
 * (first bucket, then the second only on no match) finds every key, each
 * with its own state word, the same one every time. */
START_TEST(test_table_keys_in_their_second_bucket_are_found)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0); /* limit 1 */
    static _Alignas(64) unsigned char mem[GWLB_LIMITER_TABLE_HEADER + 16 * GWLB_LIMITER_TABLE_BUCKET];
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_OK);
    enum { N = 48 };
    uint64_t *words[N];
    gwlb_limit_result r;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t k = i * 7919;
        ck_assert_int_eq(gwlb_limiter_table_allow(t, &k, sizeof k, T0, 1, &r), GWLB_OK);
        ck_assert_int_eq(r.allowed, 1);
    }
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.inserts, N);
    ck_assert_uint_eq(st.evicted_live + st.evicted_fresh, 0);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t k = i * 7919;
        ck_assert_int_eq(gwlb_limiter_table_allow(t, &k, sizeof k, T0, 1, &r), GWLB_OK);
        ck_assert_int_eq(r.allowed, 0); /* its own state: already used up */
        ck_assert_int_eq(gwlb_limiter_table_state(t, &k, sizeof k, T0, &words[i]), GWLB_OK);
        for (uint64_t j = 0; j < i; j++)
            ck_assert_ptr_ne(words[i], words[j]);
    }
    for (uint64_t i = 0; i < N; i++) {
        uint64_t k = i * 7919, *w;
        ck_assert_int_eq(gwlb_limiter_table_state(t, &k, sizeof k, T0, &w), GWLB_OK);
        ck_assert_ptr_eq(w, words[i]);
    }
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.inserts, N); /* nothing re-inserted */
    ck_assert_uint_eq(st.rejected, N);
}
END_TEST

START_TEST(test_table_prefetch_changes_nothing_and_checks_the_key)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 1);
    static _Alignas(64) unsigned char mem[GWLB_LIMITER_TABLE_HEADER + 8 * GWLB_LIMITER_TABLE_BUCKET];
    static unsigned char copy[sizeof mem];
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_OK);
    gwlb_limit_result r;
    ck_assert_int_eq(hit(t, "tracked", T0, &r), 1);
    memcpy(copy, mem, sizeof mem);
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, "tracked", 7), GWLB_OK);
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, "new key", 7), GWLB_OK);
    uint64_t k8 = 42;
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, &k8, sizeof k8), GWLB_OK);
    ck_assert_mem_eq(mem, copy, sizeof mem); /* no insert, no touch, no counter */
    static const unsigned char big[GWLB_LIMITER_KEY_MAX + 1];
    ck_assert_int_eq(gwlb_limiter_table_prefetch(NULL, "k", 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, NULL, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, "k", 0), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_limiter_table_prefetch(t, big, sizeof big), GWLB_ETOOLONG);
    ck_assert_mem_eq(mem, copy, sizeof mem);
    /* the next decision is the one it would have been */
    ck_assert_int_eq(hit(t, "tracked", T0, &r), 1);
    ck_assert_int_eq(hit(t, "tracked", T0, &r), 0);
}
END_TEST

START_TEST(test_table_new_starts_on_a_cache_line)
{
    /* A large malloc block starts 16 bytes past a page: without the
     * alignment every 64-byte bucket would straddle two cache lines. */
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    size_t sizes[] = {4096, 1u << 20, 8u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gwlb_limiter_table *t;
        ck_assert_int_eq(gwlb_limiter_table_new(sizes[i], &p, hkey, NULL, &t), GWLB_OK);
        ck_assert_uint_eq((uintptr_t)t % 64, 0);
        gwlb_limiter_table_stats st;
        gwlb_limiter_table_stats_get(t, &st);
        ck_assert_uint_eq(st.capacity, (sizes[i] - 256) / 64 * 4);
        gwlb_limiter_table_free(t);
    }
}
END_TEST

START_TEST(test_table_new_allocation_failure_is_enomem_and_leaks_nothing)
{
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    for (long n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_limiter_table *t = NULL;
        int rc = gwlb_limiter_table_new(4096, &p, hkey, &ta.allocator, &t);
        if (rc == GWLB_OK) {
            gwlb_limiter_table_free(t);
            ck_assert_int_eq(ta.live_blocks, 0);
            ck_assert_int_eq(ta.size_mismatches, 0);
            break;
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_ptr_null(t);
        ck_assert_int_eq(ta.live_blocks, 0);
    }
}
END_TEST

START_TEST(test_table_uses_16_bytes_per_tracked_key)
{
    ck_assert_uint_eq(gwlb_limiter_table_bytes(65536), 256 + 16384 * 64);
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_new(1 << 20, &p, hkey, NULL, &t), GWLB_OK);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.capacity, 65520); /* (1 MiB - 256) / 64 = 16380 buckets x 4 */
    ck_assert(((double)(1 << 20) / (double)st.capacity) < 16.01);
    gwlb_limiter_table_free(t);
}
END_TEST

/* Memory per tracked key: at 32 bytes of table per key (slots = 2 x keys),
 * two-choice buckets keep all but 1 of 100,000 live keys; at 25.6 bytes,
 * all but 49. (Deterministic: fixed SipHash key and key set.) */
START_TEST(test_table_at_32_bytes_per_key_keeps_all_but_one_in_100k_live_keys)
{
    static const uint8_t k3[16] = {3};
    gwlb_limiter_policy p = gcra_policy(1, 3600 * SEC, 4); /* nothing turns fresh */
    const uint64_t sizes[2] = {200000, 160000}, want[2] = {1, 49};
    for (int i = 0; i < 2; i++) {
        gwlb_limiter_table *t;
        size_t bytes = gwlb_limiter_table_bytes(sizes[i]);
        ck_assert_int_eq(gwlb_limiter_table_new(bytes, &p, k3, NULL, &t), GWLB_OK);
        for (uint64_t k = 1; k <= 100000; k++)
            gwlb_limiter_table_allow(t, &k, sizeof k, 1000, 1, NULL);
        gwlb_limiter_table_stats st;
        gwlb_limiter_table_stats_get(t, &st);
        ck_assert_uint_eq(st.evicted_live, want[i]);
        ck_assert_uint_eq(st.used, 100000 - want[i]);
        ck_assert_uint_le(bytes, (size_t)(100000 * (i == 0 ? 32 : 25.6)) + 256);
        gwlb_limiter_table_free(t);
    }
}
END_TEST

/*
 * The flood: 10,000,000 distinct one-shot keys into a 1 MiB table (65,520
 * slots) over 100 simulated seconds (100,000 new keys a second, about six
 * per bucket per second, every one of them live for a minute), while 100
 * steady clients ask once a second under "1 per minute, burst 4". The
 * clients are established (seen more than once) before the flood starts.
 * Every decision a steady client gets from the table must equal the
 * decision of its own private bucket, and the table never grows.
 *
 * Limitation (documented in the header): a client seen for the first time
 * during such a flood competes with the flood's one-shot keys until its
 * second hit lands before its entry is pushed out.
 */
#define FLOOD_KEYS (TEST_SANITIZED ? 1000000 : 10000000) /* sanitizers: ~10x slower */

START_TEST(test_table_flood_of_10_million_keys_keeps_steady_clients_exact)
{
    gwlb_limiter_policy p = gcra_policy(1, 60 * SEC, 4);
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_new(1 << 20, &p, hkey, NULL, &t), GWLB_OK);
    enum { CLIENTS = 100, WARMUP = 5, SECONDS = 105, FLOOD = FLOOD_KEYS };
    gwlb_gcra ref[CLIENTS];
    for (int c = 0; c < CLIENTS; c++)
        gwlb_gcra_init(&ref[c], 1, 60 * SEC, 4);
    uint64_t flood_key = 0;
    uint64_t mismatches = 0, admitted = 0;
    for (int s = 0; s < SECONDS; s++) {
        uint64_t now = T0 + (uint64_t)s * SEC;
        for (int c = 0; c < CLIENTS; c++) {
            char key[32];
            int len = snprintf(key, sizeof key, "steady-client-%d", c);
            gwlb_limit_result a, b;
            ck_assert_int_eq(gwlb_limiter_table_allow(t, key, (size_t)len, now, 1, &a), GWLB_OK);
            gwlb_gcra_allow(&ref[c], now, 1, &b);
            mismatches += a.allowed != b.allowed || a.remaining != b.remaining ||
                          a.reset_after_ns != b.reset_after_ns ||
                          a.retry_after_ns != b.retry_after_ns;
            admitted += (uint64_t)a.allowed;
        }
        if (s < WARMUP)
            continue;
        for (int i = 0; i < FLOOD / (SECONDS - WARMUP); i++) {
            flood_key++;
            uint64_t at = now + (uint64_t)i * (SEC / (FLOOD / (SECONDS - WARMUP)));
            ck_assert_int_eq(gwlb_limiter_table_allow(t, &flood_key, sizeof flood_key, at, 1, NULL),
                             GWLB_OK);
        }
    }
    ck_assert_uint_eq(flood_key, FLOOD);
    ck_assert_uint_eq(mismatches, 0);
    /* burst: seconds 0..4, then 1 per minute: second 60 -> 6 each. */
    ck_assert_uint_eq(admitted, CLIENTS * 6);
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.capacity, 65520);
    ck_assert_uint_le(st.used, st.capacity);
    ck_assert_uint_eq(st.inserts, FLOOD + CLIENTS);
    ck_assert_uint_eq(st.inserts - st.evicted_fresh - st.evicted_live, st.used);
    fprintf(stderr, "flood: used %llu/%llu, evicted live %llu fresh %llu\n",
            (unsigned long long)st.used, (unsigned long long)st.capacity,
            (unsigned long long)st.evicted_live, (unsigned long long)st.evicted_fresh);
    gwlb_limiter_table_free(t);
}
END_TEST

START_TEST(test_table_inlined_hash_equals_siphash13_on_every_length)
{
    unsigned char data[80];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= 64; len++) {
        for (size_t off = 0; off < 8; off++) /* any alignment of the key bytes */
            ck_assert_uint_eq(gwlb__limiter_table_key_hash(hkey, data + off, len),
                              gwlb_siphash13(hkey, data + off, len));
    }
}
END_TEST

/*
 * Exclusive mode: the same sequence of requests (steady keys, one-shot
 * keys that force evictions, peeks, rejections) on two tables formatted
 * alike, one driven by gwlb_limiter_table_allow, one by _allow_exclusive:
 * every result and, at the end, every byte of the two tables are equal.
 */
static void exclusive_matches_default(const gwlb_limiter_policy *p)
{
    static _Alignas(64) unsigned char m1[GWLB_LIMITER_TABLE_HEADER + 8 * GWLB_LIMITER_TABLE_BUCKET];
    static _Alignas(64) unsigned char m2[GWLB_LIMITER_TABLE_HEADER + 8 * GWLB_LIMITER_TABLE_BUCKET];
    gwlb_limiter_table *a, *b;
    ck_assert_int_eq(gwlb_limiter_table_init(m1, sizeof m1, p, hkey, &a), GWLB_OK);
    ck_assert_int_eq(gwlb_limiter_table_init(m2, sizeof m2, p, hkey, &b), GWLB_OK);
    uint64_t s = 5, now = T0, rejected = 0;
    for (int i = 0; i < 20000; i++) {
        s += UINT64_C(0x9e3779b97f4a7c15);
        uint64_t x = gwlb_mix64(s);
        now += (x & 0xffff) * 1000; /* up to 65 ms */
        uint64_t key = (x >> 16) % 4 == 0 ? 1000000 + (uint64_t)i : (x >> 20) % 24;
        uint64_t cost = (x >> 30) % 8 == 0 ? 0 : 1;
        gwlb_limit_result ra, rb;
        memset(&ra, 0x5a, sizeof ra);
        memset(&rb, 0xa5, sizeof rb);
        ck_assert_int_eq(gwlb_limiter_table_allow(a, &key, sizeof key, now, cost, &ra), GWLB_OK);
        ck_assert_int_eq(gwlb_limiter_table_allow_exclusive(b, &key, sizeof key, now, cost, &rb),
                         GWLB_OK);
        ck_assert_mem_eq(&ra, &rb, sizeof ra);
        rejected += (uint64_t)!ra.allowed;
    }
    gwlb_limiter_table_stats sa, sb;
    gwlb_limiter_table_stats_get(a, &sa);
    gwlb_limiter_table_stats_get(b, &sb);
    ck_assert_mem_eq(&sa, &sb, sizeof sa);
    ck_assert_uint_gt(sa.evicted_live + sa.evicted_fresh, 1000);
    ck_assert_uint_gt(rejected, 100);
    ck_assert_uint_eq(sa.rejected, rejected);
    ck_assert_mem_eq(m1, m2, sizeof m1);
}

START_TEST(test_table_exclusive_mode_makes_the_same_decisions_evictions_and_counters)
{
    gwlb_limiter_policy g = gcra_policy(2, SEC, 1);
    exclusive_matches_default(&g);
    gwlb_limiter_policy n;
    memset(&n, 0, sizeof n);
    n.kind = GWLB_LIMITER_LIMIT_REQ;
    ck_assert_int_eq(gwlb_limit_req_config_init(&n.u.limit_req, 2, GWLB_LIMIT_REQ_PER_SECOND, 1,
                                                0), GWLB_OK);
    exclusive_matches_default(&n);
    gwlb_limiter_policy d = gcra_policy(2, SEC, 1);
    d.flags = GWLB_LIMITER_DRY_RUN;
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_limiter_table_allow_exclusive(NULL, "k", 1, T0, 1, &r), GWLB_EINVAL);
    gwlb_limiter_table *t = one_bucket_table(&d);
    ck_assert_int_eq(gwlb_limiter_table_allow_exclusive(t, "k", 0, T0, 1, &r), GWLB_EMPTY);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(gwlb_limiter_table_allow_exclusive(t, "k", 1, T0, 1, &r), GWLB_OK);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.dry_run_limited, 1);
}
END_TEST

/* Batches of 0..16 requests (repeated keys included) on one table, single
 * calls in the same order on a twin: equal results, equal bytes. */
START_TEST(test_table_batch_makes_the_same_decisions_as_single_calls_in_order)
{
    static _Alignas(64) unsigned char m1[GWLB_LIMITER_TABLE_HEADER + 8 * GWLB_LIMITER_TABLE_BUCKET];
    static _Alignas(64) unsigned char m2[GWLB_LIMITER_TABLE_HEADER + 8 * GWLB_LIMITER_TABLE_BUCKET];
    gwlb_limiter_policy p = gcra_policy(2, SEC, 1);
    gwlb_limiter_table *a, *b;
    ck_assert_int_eq(gwlb_limiter_table_init(m1, sizeof m1, &p, hkey, &a), GWLB_OK);
    ck_assert_int_eq(gwlb_limiter_table_init(m2, sizeof m2, &p, hkey, &b), GWLB_OK);
    uint64_t s = 6, now = T0, decided = 0, rejected = 0;
    for (int round = 0; round < 2000; round++) {
        s += UINT64_C(0x9e3779b97f4a7c15);
        uint64_t x = gwlb_mix64(s);
        size_t n = (size_t)(x % (GWLB_LIMITER_TABLE_BATCH_MAX + 1));
        now += (x >> 8) % (50 * MS);
        uint64_t cost = (x >> 40) % 8 == 0 ? 0 : 1;
        uint64_t keys[GWLB_LIMITER_TABLE_BATCH_MAX];
        const void *kp[GWLB_LIMITER_TABLE_BATCH_MAX];
        size_t kl[GWLB_LIMITER_TABLE_BATCH_MAX];
        gwlb_limit_result rb[GWLB_LIMITER_TABLE_BATCH_MAX];
        for (size_t i = 0; i < n; i++) {
            uint64_t y = gwlb_mix64(s + i);
            keys[i] = y % 3 == 0 ? 1000000 + (uint64_t)round * 16 + i : y % 20;
            kp[i] = &keys[i];
            kl[i] = sizeof keys[i];
        }
        memset(rb, 0x5a, sizeof rb);
        ck_assert_int_eq(gwlb_limiter_table_allow_batch(a, kp, kl, n, now, cost, rb), GWLB_OK);
        for (size_t i = 0; i < n; i++) {
            gwlb_limit_result r;
            memset(&r, 0x5a, sizeof r);
            ck_assert_int_eq(gwlb_limiter_table_allow(b, &keys[i], sizeof keys[i], now, cost, &r),
                             GWLB_OK);
            ck_assert_mem_eq(&rb[i], &r, sizeof r);
            rejected += (uint64_t)!r.allowed;
        }
        decided += n;
    }
    ck_assert_uint_gt(decided, 10000);
    ck_assert_uint_gt(rejected, 1000);
    ck_assert_mem_eq(m1, m2, sizeof m1);
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(a, NULL, NULL, 0, now, 1, NULL), GWLB_OK);
}
END_TEST

START_TEST(test_table_batch_rejects_bad_input_and_changes_nothing)
{
    static _Alignas(64) unsigned char mem[GWLB_LIMITER_TABLE_HEADER + 2 * GWLB_LIMITER_TABLE_BUCKET];
    static unsigned char copy[sizeof mem];
    gwlb_limiter_policy p = gcra_policy(1, SEC, 0);
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &p, hkey, &t), GWLB_OK);
    ck_assert_int_eq(gwlb_limiter_table_allow(t, "seen", 4, T0, 1, NULL), GWLB_OK);
    memcpy(copy, mem, sizeof mem);
    static char big[GWLB_LIMITER_KEY_MAX + 1];
    const void *keys[GWLB_LIMITER_TABLE_BATCH_MAX + 1];
    size_t lens[GWLB_LIMITER_TABLE_BATCH_MAX + 1];
    for (size_t i = 0; i <= GWLB_LIMITER_TABLE_BATCH_MAX; i++) {
        keys[i] = "seen";
        lens[i] = 4;
    }
    gwlb_limit_result r[GWLB_LIMITER_TABLE_BATCH_MAX + 1];
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(NULL, keys, lens, 1, T0, 1, r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, NULL, lens, 1, T0, 1, r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, NULL, 1, T0, 1, r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, lens,
                                                    GWLB_LIMITER_TABLE_BATCH_MAX + 1, T0, 1, r),
                     GWLB_ERANGE);
    /* A bad key anywhere in the batch: the valid keys before it are not decided either. */
    keys[2] = "x";
    lens[2] = 0;
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, lens, 3, T0, 1, r), GWLB_EMPTY);
    keys[2] = big;
    lens[2] = sizeof big;
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, lens, 3, T0, 1, r), GWLB_ETOOLONG);
    keys[2] = NULL;
    lens[2] = 1;
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, lens, 3, T0, 1, r), GWLB_EINVAL);
    ck_assert_mem_eq(mem, copy, sizeof mem);
    gwlb_limiter_policy n;
    memset(&n, 0, sizeof n);
    n.kind = GWLB_LIMITER_LIMIT_REQ;
    gwlb_limit_req_config_init(&n.u.limit_req, 1, GWLB_LIMIT_REQ_PER_SECOND, 1, 0);
    ck_assert_int_eq(gwlb_limiter_table_init(mem, sizeof mem, &n, hkey, &t), GWLB_OK);
    memcpy(copy, mem, sizeof mem);
    keys[2] = "seen";
    lens[2] = 4;
    ck_assert_int_eq(gwlb_limiter_table_allow_batch(t, keys, lens, 3, T0, 2, r), GWLB_ERANGE);
    ck_assert_mem_eq(mem, copy, sizeof mem);
}
END_TEST

/* ---- several limits ------------------------------------------------------ */

static gwlb_limiter_policy nginx_policy(uint64_t burst)
{
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_LIMIT_REQ;
    gwlb_limit_req_config_init(&p.u.limit_req, 1, GWLB_LIMIT_REQ_PER_MINUTE, burst,
                               GWLB_LIMIT_REQ_NODELAY);
    return p;
}

START_TEST(test_allow_all_reproduces_nginx_two_zone_sequence)
{
    /* Same sequence real nginx gave in test_nginx_limit_req.c. */
    gwlb_limiter_policy per = nginx_policy(2), glob = nginx_policy(4);
    uint64_t key_state[3] = {0, 0, 0}, global_state = 0;
    const char keys[] = "aaaabbbc";
    static const int want[] = {1, 1, 1, 0, 1, 1, 0, 0};
    static const int want_failed[] = {-1, -1, -1, 0, -1, -1, 1, 1};
    for (int i = 0; i < 8; i++) {
        gwlb_limit_ref refs[2] = {{&per, &key_state[keys[i] - 'a']}, {&glob, &global_state}};
        gwlb_limit_result r;
        int32_t failed = 7;
        ck_assert_int_eq(gwlb_limiter_allow_all(refs, 2, T0, 1, &r, &failed), GWLB_OK);
        ck_assert_int_eq(r.allowed, want[i]);
        ck_assert_int_eq(failed, want_failed[i]);
    }
}
END_TEST

START_TEST(test_allow_all_refunds_earlier_limits_exactly_when_a_later_one_rejects)
{
    gwlb_gcra per_key, per_route, global;
    gwlb_limiter_policy pk = gcra_policy(10, SEC, 9), pr = gcra_policy(10, SEC, 9),
                        pg = gcra_policy(1, SEC, 0);
    gwlb_gcra_init(&per_key, 10, SEC, 9);
    gwlb_gcra_init(&per_route, 10, SEC, 9);
    gwlb_gcra_init(&global, 1, SEC, 0);
    gwlb_gcra_allow(&per_key, T0, 3, NULL);
    gwlb_gcra_allow(&global, T0, 1, NULL); /* global exhausted */
    uint64_t k0 = per_key.tat, r0 = per_route.tat, g0 = global.tat;
    gwlb_limit_ref refs[3] = {{&pk, &per_key.tat}, {&pr, &per_route.tat}, {&pg, &global.tat}};
    gwlb_limit_result r;
    int32_t failed;
    ck_assert_int_eq(gwlb_limiter_allow_all(refs, 3, T0, 1, &r, &failed), GWLB_OK);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(failed, 2);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)SEC);
    ck_assert_uint_eq(per_key.tat, k0);
    ck_assert_uint_eq(per_route.tat, r0);
    ck_assert_uint_eq(global.tat, g0);
}
END_TEST

START_TEST(test_allow_all_reports_the_tightest_limit_when_all_admit)
{
    gwlb_limiter_policy loose = gcra_policy(100, SEC, 99), tight = gcra_policy(1, SEC, 2);
    uint64_t a = 0, b = 0;
    gwlb_limit_ref refs[2] = {{&loose, &a}, {&tight, &b}};
    gwlb_limit_result r;
    int32_t failed;
    ck_assert_int_eq(gwlb_limiter_allow_all(refs, 2, T0, 1, &r, &failed), GWLB_OK);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_int_eq(failed, -1);
    ck_assert_uint_eq(r.limit, 3);
    ck_assert_uint_eq(r.remaining, 2);
    ck_assert_uint_eq(a, T0 + 10 * MS);
    ck_assert_uint_eq(b, T0 + SEC);
}
END_TEST

START_TEST(test_allow_all_dry_run_limit_never_rejects)
{
    gwlb_limiter_policy shadow = gcra_policy(1, SEC, 0), real = gcra_policy(10, SEC, 9);
    shadow.flags = GWLB_LIMITER_DRY_RUN;
    uint64_t a = 0, b = 0;
    gwlb_limit_ref refs[2] = {{&shadow, &a}, {&real, &b}};
    gwlb_limit_result r;
    int32_t failed;
    gwlb_limiter_allow_all(refs, 2, T0, 1, &r, &failed);
    ck_assert_uint_eq(r.dry_run_limited, 0);
    gwlb_limiter_allow_all(refs, 2, T0, 1, &r, &failed);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.dry_run_limited, 1);
    ck_assert_int_eq(failed, -1);
    ck_assert_uint_eq(a, T0 + SEC);
    ck_assert_uint_eq(b, T0 + 200 * MS);
}
END_TEST

START_TEST(test_allow_all_bad_input_changes_nothing)
{
    gwlb_limiter_policy ok = gcra_policy(1, SEC, 0), bad = ok, ngx = nginx_policy(1);
    bad.kind = 0;
    uint64_t a = 0, b = 0;
    gwlb_limit_result r;
    int32_t failed = 5;
    gwlb_limit_ref refs[2] = {{&ok, &a}, {&bad, &b}};
    ck_assert_int_eq(gwlb_limiter_allow_all(refs, 2, T0, 1, &r, &failed), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limiter_allow_all(refs, 0, T0, 1, &r, &failed), GWLB_EMPTY);
    ck_assert_int_eq(gwlb_limiter_allow_all(NULL, 1, T0, 1, &r, &failed), GWLB_EINVAL);
    gwlb_limit_ref refs2[2] = {{&ok, &a}, {&ngx, &b}};
    ck_assert_int_eq(gwlb_limiter_allow_all(refs2, 2, T0, 3, &r, &failed), GWLB_ERANGE);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(failed, 5);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("limiter-table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_table_keys_have_independent_buckets);
    tcase_add_test(tc, test_table_inlined_hash_equals_siphash13_on_every_length);
    tcase_add_test(tc, test_table_exclusive_mode_makes_the_same_decisions_evictions_and_counters);
    tcase_add_test(tc, test_table_batch_makes_the_same_decisions_as_single_calls_in_order);
    tcase_add_test(tc, test_table_batch_rejects_bad_input_and_changes_nothing);
    tcase_add_test(tc, test_table_evicts_a_fresh_entry_before_live_ones);
    tcase_add_test(tc, test_table_evicts_lowest_frequency_then_oldest_live_entry);
    tcase_add_test(tc, test_table_peek_reports_without_inserting);
    tcase_add_test(tc, test_table_limit_req_policy_matches_nginx_scenario);
    tcase_add_test(tc, test_table_limit_req_entry_is_fresh_only_after_nginx_expiry_rule);
    tcase_add_test(tc, test_table_dry_run_admits_what_it_would_reject_and_counts_it);
    tcase_add_test(tc, test_table_rejects_bad_keys_and_changes_nothing);
    tcase_add_test(tc, test_table_too_small_for_one_bucket_is_enospc);
    tcase_add_test(tc, test_table_rejects_invalid_policy_and_misaligned_memory);
    tcase_add_test(tc, test_table_attach_checks_magic_version_and_size);
    tcase_add_test(tc, test_table_new_starts_on_a_cache_line);
    tcase_add_test(tc, test_table_prefetch_changes_nothing_and_checks_the_key);
    tcase_add_test(tc, test_table_keys_in_their_second_bucket_are_found);
    tcase_add_test(tc, test_table_new_allocation_failure_is_enomem_and_leaks_nothing);
    tcase_add_test(tc, test_table_uses_16_bytes_per_tracked_key);
    tcase_add_test(tc, test_table_at_32_bytes_per_key_keeps_all_but_one_in_100k_live_keys);
    tcase_add_test(tc, test_table_flood_of_10_million_keys_keeps_steady_clients_exact);
    suite_add_tcase(s, tc);
    TCase *multi = tcase_create("allow_all");
    tcase_add_test(multi, test_allow_all_reproduces_nginx_two_zone_sequence);
    tcase_add_test(multi, test_allow_all_refunds_earlier_limits_exactly_when_a_later_one_rejects);
    tcase_add_test(multi, test_allow_all_reports_the_tightest_limit_when_all_admit);
    tcase_add_test(multi, test_allow_all_dry_run_limit_never_rejects);
    tcase_add_test(multi, test_allow_all_bad_input_changes_nothing);
    suite_add_tcase(s, multi);
    return s;
}

int main(void)
{
    return test_run_suite(table_suite());
}
