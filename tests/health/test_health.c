/*
 * Specification of the health tracker: HAProxy's rise/fall counter and
 * check intervals, Envoy's consecutive-failure and outlier-detection maths
 * (with Envoy's published vectors), reason flags, events, bad input.
 * Time is driven by hand; nothing sleeps.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/health.h"
#include "health/health_internal.h"
#include "test_alloc.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS

static gwlb_health *make(const gwlb_health_config *cfg, uint32_t n)
{
    gwlb_health *h = NULL;
    gwlb_error_detail d;
    int rc = gwlb_health_create(cfg, n, 0, NULL, 0, 0, NULL, &h, &d);
    ck_assert_msg(rc == GWLB_OK, "create: %s (%s)", gwlb_err_name(rc), d.message);
    return h;
}

static uint32_t flags_of(gwlb_health *h, uint32_t host)
{
    uint32_t f = 0xdead;
    ck_assert_int_eq(gwlb_health_host_flags(h, host, &f), GWLB_OK);
    return f;
}

static gwlb_health_host_info info_of(gwlb_health *h, uint32_t host)
{
    gwlb_health_host_info i;
    ck_assert_int_eq(gwlb_health_host_get(h, host, &i), GWLB_OK);
    return i;
}

static void statuses(gwlb_health *h, uint32_t host, int count, uint32_t status, uint64_t now)
{
    for (int i = 0; i < count; i++)
        ck_assert_int_eq(gwlb_health_report_status(h, host, status, now), GWLB_OK);
}

static int is_ejected(gwlb_health *h, uint32_t host)
{
    return (flags_of(h, host) & GWLB_HOST_EJECTED) != 0;
}

static void run(gwlb_health *h, uint64_t now, gwlb_health_outlier_report *rep)
{
    ck_assert_int_eq(gwlb_health_outlier_run(h, now, rep), GWLB_OK);
}

/* An active-check config with no jitter and distinct intervals. */
static gwlb_health_config active_cfg(void)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.active_checks = 1;
    c.inter_ns = 2 * SEC;
    c.fastinter_ns = 500 * MS;
    c.downinter_ns = 5 * SEC;
    return c;
}

/* Probe the single due host `host` at `now` with `outcome`. */
static void probe(gwlb_health *h, uint32_t host, uint32_t outcome, uint64_t now)
{
    uint32_t due[64];
    size_t n = 0;
    ck_assert_int_eq(gwlb_health_probes_due(h, now, due, 64, &n, NULL), GWLB_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= due[i] == host;
    ck_assert_msg(found, "host %u not due at %llu", host, (unsigned long long)now);
    gwlb_probe_result r = {.outcome = outcome, .agent = GWLB_AGENT_NONE, .weight_percent = -1};
    ck_assert_int_eq(gwlb_health_probe_report(h, host, &r, now), GWLB_OK);
}

/* ---- configuration --------------------------------------------------------- */

START_TEST(test_config_defaults_are_haproxy_and_envoy_defaults)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    ck_assert_uint_eq(c.struct_size, sizeof c);
    ck_assert_uint_eq(c.rise, 2);
    ck_assert_uint_eq(c.fall, 3);
    ck_assert_uint_eq(c.inter_ns, 2 * SEC);
    ck_assert_uint_eq(c.consecutive_5xx, 5);
    ck_assert_uint_eq(c.consecutive_gateway_failure, 5);
    ck_assert_uint_eq(c.enforcing_consecutive_5xx, 100);
    ck_assert_uint_eq(c.enforcing_consecutive_gateway_failure, 0);
    ck_assert_uint_eq(c.interval_ns, 10 * SEC);
    ck_assert_uint_eq(c.base_ejection_time_ns, 30 * SEC);
    ck_assert_uint_eq(c.max_ejection_time_ns, 300 * SEC);
    ck_assert_uint_eq(c.max_ejection_percent, 10);
    ck_assert_uint_eq(c.success_rate_minimum_hosts, 5);
    ck_assert_uint_eq(c.success_rate_request_volume, 100);
    ck_assert_uint_eq(c.success_rate_stdev_factor, 1900);
    ck_assert_uint_eq(c.failure_percentage_threshold, 85);
    ck_assert_uint_eq(c.failure_percentage_minimum_hosts, 5);
    ck_assert_uint_eq(c.failure_percentage_request_volume, 50);
    ck_assert_uint_eq(c.enforcing_failure_percentage, 0);
    gwlb_health_config_init(NULL); /* no crash */
}
END_TEST

static void expect_create_error(gwlb_health_config *c, uint32_t n, int code, const char *field)
{
    gwlb_health *h = (gwlb_health *)(uintptr_t)1;
    gwlb_error_detail d;
    gwlb_error_detail_init(&d);
    ck_assert_int_eq(gwlb_health_create(c, n, 0, NULL, 0, 0, NULL, &h, &d), code);
    ck_assert_ptr_eq(h, (gwlb_health *)(uintptr_t)1); /* untouched */
    ck_assert_int_eq(d.code, code);
    if (field != NULL)
        ck_assert_str_eq(d.field, field);
}

START_TEST(test_zero_thresholds_and_intervals_are_rejected_with_the_field_named)
{
    gwlb_health_config c;
#define CASE(stmt, n, code, field) \
    gwlb_health_config_init(&c);   \
    stmt;                          \
    expect_create_error(&c, n, code, field);
    CASE(c.rise = 0, 4, GWLB_ERANGE, "rise")
    CASE(c.fall = 0, 4, GWLB_ERANGE, "fall")
    CASE(c.inter_ns = 0, 4, GWLB_ERANGE, "inter_ns")
    CASE(c.interval_ns = 0, 4, GWLB_ERANGE, "interval_ns")
    CASE(c.base_ejection_time_ns = 0, 4, GWLB_ERANGE, "base_ejection_time_ns")
    CASE(c.max_ejection_time_ns = c.base_ejection_time_ns - 1, 4, GWLB_ERANGE,
         "max_ejection_time_ns")
    CASE(c.jitter_percent = 51, 4, GWLB_ERANGE, "jitter_percent")
    CASE(c.failure_percentage_threshold = 101, 4, GWLB_ERANGE, "failure_percentage_threshold")
    CASE(c.init_state = 4, 4, GWLB_ERANGE, "init_state")
    CASE(c.struct_size = 8, 4, GWLB_EVERSION, "struct_size")
    CASE((void)0, 0, GWLB_ERANGE, "n_hosts")
#undef CASE
    gwlb_health *h;
    ck_assert_int_eq(gwlb_health_create(NULL, 4, 0, NULL, 0, 0, NULL, &h, NULL), GWLB_EINVAL);
    gwlb_health_config_init(&c);
    ck_assert_int_eq(gwlb_health_create(&c, 4, 0, NULL, 0, 0, NULL, NULL, NULL), GWLB_EINVAL);
}
END_TEST

START_TEST(test_percentages_above_100_and_zero_volumes_are_clamped)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.max_ejection_percent = 250;
    c.enforcing_consecutive_5xx = 1000;
    c.success_rate_minimum_hosts = 0;
    c.success_rate_request_volume = 0;
    gwlb_health *h = make(&c, 3);
    ck_assert_uint_eq(h->cfg.max_ejection_percent, 100);
    ck_assert_uint_eq(h->cfg.enforcing_consecutive_5xx, 100);
    ck_assert_uint_eq(h->cfg.success_rate_minimum_hosts, 1);
    ck_assert_uint_eq(h->cfg.success_rate_request_volume, 1);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_zero_consecutive_threshold_disables_that_detector)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.consecutive_5xx = 0;
    gwlb_health *h = make(&c, 10);
    statuses(h, 0, 1000, 500, 0);
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 1000);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_region_checks_alignment_size_and_attach)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    size_t need = gwlb_health_region_size(8, c.event_capacity);
    ck_assert_uint_gt(need, 8 * 128);
    ck_assert_uint_eq(need % 64, 0);
    ck_assert_uint_eq(gwlb_health_region_size(UINT32_MAX, 0), 0);
    void *mem = aligned_alloc(64, need + 64);
    memset(mem, 0, need + 64);
    gwlb_health *h;
    gwlb_error_detail d;
    ck_assert_int_eq(gwlb_health_create(&c, 8, 0, (char *)mem + 8, need, 0, NULL, &h, &d),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_create(&c, 8, 0, mem, need - 1, 0, NULL, &h, &d), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_health_create(&c, 8, 0, mem, need, GWLB_HEALTH_ATTACH, NULL, &h, &d),
                     GWLB_ESTATE);
    ck_assert_int_eq(gwlb_health_create(&c, 8, 0, mem, need, 0, NULL, &h, &d), GWLB_OK);
    ck_assert_int_eq(gwlb_health_admin_update(h, 3, GWLB_HOST_DRAINING, 0, 0), GWLB_OK);
    gwlb_health *h2;
    ck_assert_int_eq(gwlb_health_create(&c, 7, 0, mem, need, GWLB_HEALTH_ATTACH, NULL, &h2, &d),
                     GWLB_ESTATE);
    ck_assert_int_eq(gwlb_health_create(&c, 8, 0, mem, need, GWLB_HEALTH_ATTACH, NULL, &h2, &d),
                     GWLB_OK);
    ck_assert_uint_eq(flags_of(h2, 3), GWLB_HOST_DRAINING); /* same records */
    gwlb_health_free(h2);
    gwlb_health_free(h);
    free(mem);
}
END_TEST

START_TEST(test_every_allocation_failure_returns_enomem_and_leaks_nothing)
{
    gwlb_health_config c = active_cfg();
    for (long n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_health *h = NULL;
        int rc = gwlb_health_create(&c, 100, 0, NULL, 0, 0, &ta.allocator, &h, NULL);
        if (rc == GWLB_OK) {
            ck_assert_int_ge(n, 4); /* handle, region, heap, in-flight marks */
            gwlb_health_free(h);
            ck_assert_int_eq(ta.live_blocks, 0);
            ck_assert_int_eq(ta.size_mismatches, 0);
            break;
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_int_eq(ta.live_blocks, 0);
    }
    gwlb_health_free(NULL);
}
END_TEST

/* ---- HAProxy rise / fall ------------------------------------------------------ */

START_TEST(test_haproxy_counter_up_host_falls_at_first_failure_then_needs_rise_passes)
{
    gwlb_health_config c = active_cfg(); /* rise 2, fall 3, init up: health = rise */
    gwlb_health *h = make(&c, 1);
    ck_assert_uint_eq(info_of(h, 0).health, 2);
    ck_assert_uint_eq(flags_of(h, 0), 0);
    uint64_t t = 0;
    probe(h, 0, GWLB_PROBE_FAIL, t);
    ck_assert_uint_eq(info_of(h, 0).health, 0); /* 1 < rise: straight to 0 */
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE);
    t += 5 * SEC; /* downinter */
    probe(h, 0, GWLB_PROBE_PASS, t);
    ck_assert_uint_eq(info_of(h, 0).health, 1);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE);
    t += 500 * MS; /* fastinter */
    probe(h, 0, GWLB_PROBE_PASS, t);
    ck_assert_uint_eq(info_of(h, 0).health, 4); /* reached rise: jump to rise+fall-1 */
    ck_assert_uint_eq(flags_of(h, 0), 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_haproxy_counter_fully_up_host_goes_down_after_exactly_fall_failures)
{
    gwlb_health_config c = active_cfg();
    c.rise = 3;
    c.fall = 4;
    c.init_state = GWLB_HEALTH_INIT_FULLY_UP;
    gwlb_health *h = make(&c, 1);
    ck_assert_uint_eq(info_of(h, 0).health, 6);
    static const uint32_t expect[] = {5, 4, 3, 0};
    uint64_t t = 0;
    for (int i = 0; i < 4; i++) {
        probe(h, 0, i % 2 ? GWLB_PROBE_TIMEOUT : GWLB_PROBE_FAIL, t);
        ck_assert_uint_eq(info_of(h, 0).health, expect[i]);
        ck_assert_uint_eq(flags_of(h, 0), i < 3 ? 0u : (uint32_t)GWLB_HOST_FAILED_ACTIVE);
        t = info_of(h, 0).next_probe_ns;
    }
    /* back up after exactly rise passes: 1, 2, then 3 -> 6 */
    static const uint32_t up[] = {1, 2, 6};
    for (int i = 0; i < 3; i++) {
        probe(h, 0, GWLB_PROBE_PASS, t);
        ck_assert_uint_eq(info_of(h, 0).health, up[i]);
        ck_assert_uint_eq(flags_of(h, 0), i < 2 ? (uint32_t)GWLB_HOST_FAILED_ACTIVE : 0u);
        t = info_of(h, 0).next_probe_ns;
    }
    gwlb_health_stats s;
    ck_assert_int_eq(gwlb_health_stats_get(h, &s), GWLB_OK);
    ck_assert_uint_eq(s.active_down_transitions, 1);
    ck_assert_uint_eq(s.active_up_transitions, 1);
    ck_assert_uint_eq(s.probe_failures, 4);
    ck_assert_uint_eq(s.probe_passes, 3);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_haproxy_counter_saturates_at_both_edges)
{
    gwlb_health_config c = active_cfg();
    c.init_state = GWLB_HEALTH_INIT_FULLY_DOWN;
    gwlb_health *h = make(&c, 1);
    ck_assert_uint_eq(info_of(h, 0).health, 0);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE);
    probe(h, 0, GWLB_PROBE_FAIL, 0);
    ck_assert_uint_eq(info_of(h, 0).health, 0);
    uint64_t t = info_of(h, 0).next_probe_ns;
    probe(h, 0, GWLB_PROBE_PASS, t);
    t = info_of(h, 0).next_probe_ns;
    probe(h, 0, GWLB_PROBE_PASS, t);
    t = info_of(h, 0).next_probe_ns;
    probe(h, 0, GWLB_PROBE_PASS, t);
    ck_assert_uint_eq(info_of(h, 0).health, 4);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_init_state_down_comes_up_at_first_success)
{
    gwlb_health_config c = active_cfg();
    c.init_state = GWLB_HEALTH_INIT_DOWN;
    gwlb_health *h = make(&c, 1);
    ck_assert_uint_eq(info_of(h, 0).health, 1);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE);
    probe(h, 0, GWLB_PROBE_PASS, 0);
    ck_assert_uint_eq(info_of(h, 0).health, 4);
    ck_assert_uint_eq(flags_of(h, 0), 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_flapping_probes_never_change_state_and_emit_nothing)
{
    gwlb_health_config c = active_cfg();
    c.init_state = GWLB_HEALTH_INIT_FULLY_UP;
    gwlb_health *h = make(&c, 1);
    uint64_t t = 0;
    for (int i = 0; i < 100; i++) {
        probe(h, 0, i % 2 ? GWLB_PROBE_PASS : GWLB_PROBE_FAIL, t);
        ck_assert_uint_eq(info_of(h, 0).health, i % 2 ? 4u : 3u);
        t = info_of(h, 0).next_probe_ns;
    }
    ck_assert_uint_eq(flags_of(h, 0), 0);
    /* and from fully down, pass/fail alternation never brings it up */
    for (int i = 0; i < 3; i++) {
        probe(h, 0, GWLB_PROBE_FAIL, t);
        t = info_of(h, 0).next_probe_ns;
    }
    ck_assert_uint_eq(info_of(h, 0).health, 0);
    for (int i = 0; i < 100; i++) {
        probe(h, 0, i % 2 ? GWLB_PROBE_FAIL : GWLB_PROBE_PASS, t);
        ck_assert_uint_eq(info_of(h, 0).health, i % 2 ? 0u : 1u);
        t = info_of(h, 0).next_probe_ns;
    }
    gwlb_health_event ev[8];
    size_t n;
    ck_assert_int_eq(gwlb_health_events_drain(h, ev, 8, &n), GWLB_OK);
    ck_assert_uint_eq(n, 1); /* the single down transition */
    ck_assert_uint_eq(ev[0].cause, GWLB_HEALTH_CAUSE_PROBE);
    gwlb_health_free(h);
}
END_TEST

/* ---- probe scheduling ------------------------------------------------------------ */

START_TEST(test_first_probes_are_spread_over_one_interval)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = NULL;
    ck_assert_int_eq(gwlb_health_create(&c, 4, 1000, NULL, 0, 0, NULL, &h, NULL), GWLB_OK);
    /* A host starting at health = rise is "transitioning" for HAProxy's
     * srv_getinter(): the spread window is fastinter (500 ms). */
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_uint_eq(info_of(h, i).next_probe_ns, 1000 + i * 125 * MS);
    uint32_t due[4];
    size_t n;
    uint64_t next;
    ck_assert_int_eq(gwlb_health_probes_due(h, 1000, due, 4, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(due[0], 0);
    ck_assert_uint_eq(next, 1000 + 125 * MS);
    ck_assert_int_eq(gwlb_health_probes_due(h, 1000 + 375 * MS, due, 4, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(due[0], 1);
    ck_assert_uint_eq(due[1], 2);
    ck_assert_uint_eq(due[2], 3);
    ck_assert_uint_eq(next, UINT64_MAX); /* all in flight */
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_interval_is_inter_fastinter_or_downinter_by_counter)
{
    gwlb_health_config c = active_cfg(); /* inter 2 s, fast 0.5 s, down 5 s */
    gwlb_health *h = make(&c, 1);
    probe(h, 0, GWLB_PROBE_PASS, 0); /* health 2 -> 4 fully up */
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 2 * SEC);
    probe(h, 0, GWLB_PROBE_FAIL, 2 * SEC); /* 3: transitioning */
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 2 * SEC + 500 * MS);
    probe(h, 0, GWLB_PROBE_FAIL, 2 * SEC + 500 * MS); /* 2 */
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 3 * SEC);
    probe(h, 0, GWLB_PROBE_FAIL, 3 * SEC); /* 0: down */
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 8 * SEC);
    gwlb_health_free(h);
    /* fastinter / downinter 0 mean inter */
    c.fastinter_ns = 0;
    c.downinter_ns = 0;
    h = make(&c, 1);
    probe(h, 0, GWLB_PROBE_FAIL, 0);
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 2 * SEC);
    probe(h, 0, GWLB_PROBE_PASS, 2 * SEC);
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 4 * SEC);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_jitter_spreads_intervals_within_plus_minus_percent)
{
    gwlb_health_config c = active_cfg();
    c.init_state = GWLB_HEALTH_INIT_FULLY_UP;
    c.jitter_percent = 10;
    c.seed = 42;
    gwlb_health *h = make(&c, 1);
    uint64_t t = 0, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        probe(h, 0, GWLB_PROBE_PASS, t);
        uint64_t next = info_of(h, 0).next_probe_ns;
        uint64_t iv = next - t;
        ck_assert_uint_ge(iv, 1800 * MS);
        ck_assert_uint_le(iv, 2200 * MS);
        lo = iv < lo ? iv : lo;
        hi = iv > hi ? iv : hi;
        t = next;
    }
    ck_assert_uint_lt(lo, 1820 * MS);
    ck_assert_uint_gt(hi, 2180 * MS);
    gwlb_health_free(h);
    /* same seed, same schedule */
    gwlb_health *a = make(&c, 1), *b = make(&c, 1);
    probe(a, 0, GWLB_PROBE_PASS, 0);
    probe(b, 0, GWLB_PROBE_PASS, 0);
    ck_assert_uint_eq(info_of(a, 0).next_probe_ns, info_of(b, 0).next_probe_ns);
    gwlb_health_free(a);
    gwlb_health_free(b);
}
END_TEST

START_TEST(test_no_traffic_interval_applies_until_the_first_outcome)
{
    gwlb_health_config c = active_cfg();
    c.no_traffic_interval_ns = 60 * SEC;
    gwlb_health *h = make(&c, 2);
    ck_assert_uint_eq(info_of(h, 1).next_probe_ns, 30 * SEC); /* spread over 60 s */
    probe(h, 0, GWLB_PROBE_PASS, 0);
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 60 * SEC);
    ck_assert_int_eq(gwlb_health_report_status(h, 1, 200, SEC), GWLB_OK);
    probe(h, 0, GWLB_PROBE_PASS, 60 * SEC);
    ck_assert_uint_eq(info_of(h, 0).next_probe_ns, 62 * SEC);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_due_query_honours_cap_and_returns_next_due)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = make(&c, 100); /* spread over fastinter: 5 ms apart */
    uint32_t due[10];
    size_t n;
    uint64_t next;
    ck_assert_int_eq(gwlb_health_probes_due(h, SEC, due, 10, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 10);
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_uint_eq(due[i], i);
    ck_assert_uint_eq(next, 50 * MS); /* host 10, already due */
    ck_assert_int_eq(gwlb_health_probes_due(h, SEC, due, 10, &n, &next), GWLB_OK);
    ck_assert_uint_eq(due[0], 10);
    ck_assert_int_eq(gwlb_health_probes_due(h, SEC, NULL, 0, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(next, 100 * MS);
    gwlb_health_free(h);
    /* no active checks: nothing is ever due */
    gwlb_health_config_init(&c);
    h = make(&c, 4);
    ck_assert_int_eq(gwlb_health_probes_due(h, 100 * SEC, due, 10, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(next, UINT64_MAX);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_agent_hints_set_their_own_reasons_and_weight)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = make(&c, 1);
    gwlb_probe_result r = {.outcome = GWLB_PROBE_PASS, .agent = GWLB_AGENT_DRAIN,
                           .weight_percent = 75, .latency_ns = 1234};
    uint32_t due[1];
    size_t n;
    ck_assert_int_eq(gwlb_health_probes_due(h, 0, due, 1, &n, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_health_probe_report(h, 0, &r, 0), GWLB_OK);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_DRAINING);
    ck_assert_int_eq(info_of(h, 0).weight_percent, 75);
    ck_assert_uint_eq(info_of(h, 0).last_probe_latency_ns, 1234);
    /* admin drain on top; agent ready clears only the agent's drain */
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, GWLB_HOST_DRAINING, 0, 0), GWLB_OK);
    r.agent = GWLB_AGENT_READY;
    r.weight_percent = -1;
    ck_assert_int_eq(gwlb_health_probes_due(h, 2 * SEC, due, 1, &n, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_health_probe_report(h, 0, &r, 2 * SEC), GWLB_OK);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_DRAINING);
    ck_assert_int_eq(info_of(h, 0).weight_percent, 75); /* -1 keeps the last hint */
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, 0, GWLB_HOST_DRAINING, 2 * SEC), GWLB_OK);
    ck_assert_uint_eq(flags_of(h, 0), 0);
    /* maint from the agent, while admin maintenance is cleared: stays */
    r.agent = GWLB_AGENT_MAINT;
    ck_assert_int_eq(gwlb_health_probes_due(h, 4 * SEC, due, 1, &n, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_health_probe_report(h, 0, &r, 4 * SEC), GWLB_OK);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, 0, GWLB_HOST_MAINTENANCE, 4 * SEC), GWLB_OK);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_MAINTENANCE);
    gwlb_health_free(h);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

START_TEST(test_unknown_host_is_eunknown_everywhere)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = make(&c, 3);
    gwlb_probe_result r = {.outcome = GWLB_PROBE_PASS, .weight_percent = -1};
    uint32_t f;
    gwlb_health_host_info i;
    ck_assert_int_eq(gwlb_health_report_status(h, 3, 200, 0), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_report_local(h, 3, GWLB_LOCAL_TIMEOUT, 0), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_probe_report(h, 3, &r, 0), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_admin_update(h, 3, GWLB_HOST_DRAINING, 0, 0), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_host_flags(h, UINT32_MAX, &f), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_host_get(h, 3, &i), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_report_status(NULL, 0, 200, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_outlier_run(NULL, 0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_host_flags(h, 0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_stats_get(h, NULL), GWLB_EINVAL);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_bad_status_and_local_result_are_erange_and_count_nothing)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 2);
    ck_assert_int_eq(gwlb_health_report_status(h, 0, 99, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_health_report_status(h, 0, 600, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_health_report_local(h, 0, 0, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_health_report_local(h, 0, 5, 0), GWLB_ERANGE);
    gwlb_health_host_info i = info_of(h, 0);
    ck_assert_uint_eq(i.interval_requests, 0);
    ck_assert_uint_eq(i.consecutive_5xx, 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_probe_result_for_a_host_not_due_is_estate_and_changes_nothing)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = make(&c, 2);
    gwlb_probe_result r = {.outcome = GWLB_PROBE_FAIL, .weight_percent = -1};
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &r, 0), GWLB_ESTATE);
    ck_assert_uint_eq(info_of(h, 1).health, 2);
    ck_assert_uint_eq(info_of(h, 1).next_probe_ns, 250 * MS);
    probe(h, 0, GWLB_PROBE_FAIL, 0);
    /* the same result twice: the second is not expected */
    ck_assert_int_eq(gwlb_health_probe_report(h, 0, &r, 0), GWLB_ESTATE);
    ck_assert_uint_eq(info_of(h, 0).health, 0);
    /* bad outcome / agent / weight on an in-flight probe: rejected, still in flight */
    uint32_t due[2];
    size_t n;
    ck_assert_int_eq(gwlb_health_probes_due(h, SEC, due, 2, &n, NULL), GWLB_OK);
    ck_assert_uint_eq(n, 1);
    gwlb_probe_result bad = {.outcome = 4, .weight_percent = -1};
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &bad, SEC), GWLB_ERANGE);
    bad = (gwlb_probe_result){.outcome = GWLB_PROBE_PASS, .agent = 9, .weight_percent = -1};
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &bad, SEC), GWLB_ERANGE);
    bad = (gwlb_probe_result){.outcome = GWLB_PROBE_PASS, .weight_percent = 1001};
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &bad, SEC), GWLB_EWEIGHT);
    bad.weight_percent = -2;
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &bad, SEC), GWLB_EWEIGHT);
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, NULL, SEC), GWLB_EINVAL);
    ck_assert_uint_eq(info_of(h, 1).health, 2);
    ck_assert_int_eq(gwlb_health_probe_report(h, 1, &r, SEC), GWLB_OK);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_admin_rejects_non_admin_bits_and_overlap)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 2);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, GWLB_HOST_EJECTED, 0, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, 0, GWLB_HOST_FAILED_ACTIVE, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, 1u << 12, 0, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0, GWLB_HOST_DRAINING, GWLB_HOST_DRAINING, 0),
                     GWLB_EINVAL);
    ck_assert_uint_eq(flags_of(h, 0), 0);
    ck_assert_int_eq(gwlb_health_admin_update(h, 0,
                                              GWLB_HOST_DEGRADED | GWLB_HOST_PENDING_REMOVAL |
                                                  GWLB_HOST_FAILED_PASSIVE,
                                              0, 0),
                     GWLB_OK);
    ck_assert_uint_eq(flags_of(h, 0),
                      GWLB_HOST_DEGRADED | GWLB_HOST_PENDING_REMOVAL | GWLB_HOST_FAILED_PASSIVE);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_time_going_backwards_is_clamped_and_counted)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.base_ejection_time_ns = 10 * SEC;
    gwlb_health *h = make(&c, 10);
    statuses(h, 0, 5, 500, 100 * SEC);
    ck_assert(is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).last_ejection_ns, 100 * SEC);
    /* a pass "in the past" is a pass at 100 s: nothing elapsed, nothing underflows */
    run(h, 50 * SEC, NULL);
    ck_assert(is_ejected(h, 0));
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.time_clamps, 1);
    run(h, 110 * SEC, NULL);
    ck_assert(!is_ejected(h, 0));
    /* an ejection reported with an old time is stamped at the latest time seen */
    statuses(h, 1, 5, 500, 20 * SEC);
    ck_assert_uint_eq(info_of(h, 1).last_ejection_ns, 110 * SEC);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_backwards_time_does_not_release_probes_early)
{
    gwlb_health_config c = active_cfg();
    gwlb_health *h = make(&c, 1);
    probe(h, 0, GWLB_PROBE_PASS, 10 * SEC); /* next at 12 s */
    uint32_t due[1];
    size_t n;
    uint64_t next;
    ck_assert_int_eq(gwlb_health_probes_due(h, 5 * SEC, due, 1, &n, &next), GWLB_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(next, 12 * SEC);
    gwlb_health_free(h);
}
END_TEST

/* ---- consecutive failures (Envoy) ------------------------------------------------- */

START_TEST(test_consecutive_5xx_ejects_at_the_fifth_in_a_row)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 10);
    statuses(h, 0, 4, 500, SEC);
    ck_assert_int_eq(gwlb_health_report_status(h, 0, 200, SEC), GWLB_OK); /* resets */
    statuses(h, 0, 4, 500, 2 * SEC);
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 4);
    ck_assert_int_eq(gwlb_health_report_status(h, 0, 500, 3 * SEC), GWLB_OK);
    ck_assert(is_ejected(h, 0));
    gwlb_health_host_info i = info_of(h, 0);
    ck_assert_uint_eq(i.last_ejection_ns, 3 * SEC);
    ck_assert_uint_eq(i.ejection_cause, GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX);
    ck_assert_uint_eq(i.ejection_backoff, 1);
    ck_assert_uint_eq(i.consecutive_5xx, 0); /* reset after the ejection */
    gwlb_health_event ev[4];
    size_t n;
    gwlb_health_events_drain(h, ev, 4, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ev[0].time_ns, 3 * SEC);
    ck_assert_uint_eq(ev[0].host, 0);
    ck_assert_uint_eq(ev[0].old_flags, 0);
    ck_assert_uint_eq(ev[0].new_flags, GWLB_HOST_EJECTED);
    ck_assert_uint_eq(ev[0].cause, GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_gateway_failures_are_detected_but_not_enforced_by_default)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.consecutive_5xx = 0;
    gwlb_health *h = make(&c, 10);
    statuses(h, 0, 5, 503, SEC);
    ck_assert(!is_ejected(h, 0));
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.ejections_detected_consecutive_gateway_failure, 1);
    ck_assert_uint_eq(s.ejections_enforced_consecutive_gateway_failure, 0);
    ck_assert_uint_eq(info_of(h, 0).consecutive_gateway_failure, 0);
    gwlb_health_free(h);
    c.enforcing_consecutive_gateway_failure = 100;
    h = make(&c, 10);
    statuses(h, 0, 4, 502, SEC);
    statuses(h, 0, 1, 500, SEC); /* a non-gateway 5xx breaks the run */
    statuses(h, 0, 4, 504, SEC);
    ck_assert(!is_ejected(h, 0));
    statuses(h, 0, 1, 503, SEC);
    ck_assert(is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).ejection_cause, GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_local_origin_failures_map_to_503_504_unless_split)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 10);
    for (int i = 0; i < 4; i++)
        gwlb_health_report_local(h, 0, i % 2 ? GWLB_LOCAL_TIMEOUT : GWLB_LOCAL_CONNECT_FAILED, SEC);
    gwlb_health_report_local(h, 0, GWLB_LOCAL_CONNECT_SUCCESS, SEC); /* ignored */
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 4);
    gwlb_health_report_local(h, 0, GWLB_LOCAL_TIMEOUT, SEC);
    ck_assert(is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).ejection_cause, GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX);
    gwlb_health_free(h);

    c.split_local_origin_errors = 1;
    c.consecutive_local_origin_failure = 3;
    h = make(&c, 10);
    gwlb_health_report_local(h, 1, GWLB_LOCAL_CONNECT_FAILED, SEC);
    gwlb_health_report_local(h, 1, GWLB_LOCAL_TIMEOUT, SEC);
    gwlb_health_report_local(h, 1, GWLB_LOCAL_CONNECT_SUCCESS, SEC); /* resets */
    gwlb_health_report_local(h, 1, GWLB_LOCAL_CONNECT_FAILED, SEC);
    gwlb_health_report_local(h, 1, GWLB_LOCAL_CONNECT_FAILED, SEC);
    ck_assert(!is_ejected(h, 1));
    ck_assert_uint_eq(info_of(h, 1).consecutive_5xx, 0); /* not counted as 5xx */
    gwlb_health_report_local(h, 1, GWLB_LOCAL_TIMEOUT, SEC);
    ck_assert(is_ejected(h, 1));
    ck_assert_uint_eq(info_of(h, 1).ejection_cause,
                      GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_max_ejection_percent_with_one_host_always_ejectable)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c); /* 10% */
    gwlb_health *h = make(&c, 10);
    statuses(h, 0, 5, 500, SEC);
    statuses(h, 1, 5, 500, SEC);
    ck_assert(is_ejected(h, 0));  /* 100 * 1 / 10 = 10 <= 10 */
    ck_assert(!is_ejected(h, 1)); /* 20 > 10 */
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.ejections_active, 1);
    ck_assert_uint_eq(s.ejections_overflow, 1);
    gwlb_health_free(h);
    /* 5 hosts at 10%: one host is still ejectable (20% > 10%) ... */
    h = make(&c, 5);
    statuses(h, 0, 5, 500, SEC);
    ck_assert(is_ejected(h, 0));
    statuses(h, 1, 5, 500, SEC);
    ck_assert(!is_ejected(h, 1));
    gwlb_health_free(h);
    /* ... unless always_eject_one_host is off (Envoy's default) */
    c.always_eject_one_host = 0;
    h = make(&c, 5);
    statuses(h, 0, 5, 500, SEC);
    ck_assert(!is_ejected(h, 0));
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_flapping_outcomes_never_reach_a_consecutive_threshold)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 10);
    for (int i = 0; i < 1000; i++) /* 4 failures, 1 success, forever */
        gwlb_health_report_status(h, 0, i % 5 == 4 ? 200 : 503, SEC);
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 0);
    ck_assert_uint_eq(info_of(h, 0).interval_requests, 1000);
    ck_assert_uint_eq(info_of(h, 0).interval_successes, 200);
    gwlb_health_free(h);
}
END_TEST

/* ---- outlier detection: Envoy's vectors ------------------------------------------ */

/* 100 requests for `host` with `ok` successes, never 5 failures in a row. */
static void load_rate(gwlb_health *h, uint32_t host, int ok, uint64_t now)
{
    int fail = 100 - ok;
    for (int i = 0; i < 100; i++) {
        int is_fail = fail > 0 && (i % 2 == 1 || ok <= i / 2);
        if (is_fail && fail > 0) {
            gwlb_health_report_status(h, host, 500, now);
            fail--;
        } else {
            gwlb_health_report_status(h, host, 200, now);
        }
    }
}

START_TEST(test_success_rate_100_100_100_100_50_gives_threshold_52_and_ejects_the_50)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 5);
    for (uint32_t i = 0; i < 4; i++)
        load_rate(h, i, 100, SEC);
    load_rate(h, 4, 50, SEC);
    ck_assert(!is_ejected(h, 4)); /* interleaved: no consecutive run of 5 */
    gwlb_health_outlier_report rep;
    run(h, 10 * SEC, &rep);
    ck_assert(rep.success_rate_mean == 90.0);
    ck_assert(rep.success_rate_threshold == 52.0);
    ck_assert_uint_eq(rep.success_rate_hosts, 5);
    ck_assert_uint_eq(rep.ejected, 1);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert(!is_ejected(h, i));
    ck_assert(is_ejected(h, 4));
    ck_assert_uint_eq(info_of(h, 4).ejection_cause, GWLB_HEALTH_CAUSE_SUCCESS_RATE);
    ck_assert_uint_eq(info_of(h, 4).last_ejection_ns, 10 * SEC);
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.ejections_detected_success_rate, 1);
    ck_assert_uint_eq(s.ejections_enforced_success_rate, 1);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_success_rate_needs_minimum_hosts_and_request_volume)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 5);
    for (uint32_t i = 0; i < 3; i++)
        load_rate(h, i, 100, SEC);
    load_rate(h, 4, 50, SEC);
    for (int i = 0; i < 99; i++) /* host 3: one request short of the volume */
        gwlb_health_report_status(h, 3, 200, SEC);
    gwlb_health_outlier_report rep;
    run(h, 10 * SEC, &rep);
    ck_assert_uint_eq(rep.success_rate_hosts, 4);
    ck_assert(rep.success_rate_mean == -1);
    ck_assert_uint_eq(rep.ejected, 0);
    ck_assert(!is_ejected(h, 4));
    /* counters were closed: the next interval starts empty */
    ck_assert_uint_eq(info_of(h, 4).interval_requests, 0);
    run(h, 20 * SEC, &rep);
    ck_assert_uint_eq(rep.success_rate_hosts, 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_failure_percentage_ejects_at_or_above_threshold_when_enforced)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.enforcing_failure_percentage = 100;
    c.enforcing_success_rate = 0;
    c.consecutive_5xx = 0; /* 85 failures in 100 would also trip consecutive 5xx */
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 6);
    for (uint32_t i = 0; i < 4; i++)
        load_rate(h, i, 100, SEC);
    load_rate(h, 4, 15, SEC); /* 85% failures: ejected (>=) */
    load_rate(h, 5, 16, SEC); /* 84%: kept */
    gwlb_health_outlier_report rep;
    run(h, 10 * SEC, &rep);
    ck_assert_uint_eq(rep.failure_percentage_hosts, 6);
    ck_assert(is_ejected(h, 4));
    ck_assert(!is_ejected(h, 5));
    ck_assert_uint_eq(info_of(h, 4).ejection_cause, GWLB_HEALTH_CAUSE_FAILURE_PERCENTAGE);
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    /* two bad hosts of six pull the mean down and the stdev up: the success-rate
     * threshold (71.8 - 1.9 x 39.8) is negative, so only failure percentage acts */
    ck_assert_uint_eq(s.ejections_detected_success_rate, 0);
    ck_assert_uint_eq(s.ejections_enforced_failure_percentage, 1);
    gwlb_health_free(h);
}
END_TEST

/* Envoy test EjectTimeBackoff: base 10 s, one host, max ejection 100%. */
START_TEST(test_envoy_eject_time_backoff_10_20_30_then_20_then_10)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.base_ejection_time_ns = 10 * SEC;
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 1);
    gwlb_health_outlier_report rep;

    statuses(h, 0, 5, 500, 0);
    ck_assert(is_ejected(h, 0));
    run(h, 10 * SEC, &rep); /* back after 10 s */
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(rep.unejected, 1);

    statuses(h, 0, 5, 500, 10 * SEC);
    run(h, 20 * SEC, NULL);
    ck_assert(is_ejected(h, 0));
    run(h, 30 * SEC, NULL); /* 20 s */
    ck_assert(!is_ejected(h, 0));

    statuses(h, 0, 5, 500, 30 * SEC);
    run(h, 40 * SEC, NULL);
    run(h, 50 * SEC, NULL);
    ck_assert(is_ejected(h, 0));
    run(h, 60 * SEC, NULL); /* 30 s */
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).ejection_backoff, 3);

    run(h, 70 * SEC, NULL); /* two clean intervals: backoff 3 -> 1 */
    run(h, 80 * SEC, NULL);
    ck_assert_uint_eq(info_of(h, 0).ejection_backoff, 1);

    statuses(h, 0, 5, 500, 80 * SEC);
    run(h, 90 * SEC, NULL);
    ck_assert(is_ejected(h, 0));
    run(h, 100 * SEC, NULL); /* 20 s */
    ck_assert(!is_ejected(h, 0));

    for (int i = 1; i <= 50; i++)
        run(h, (100 + (uint64_t)i * 10) * SEC, NULL);
    ck_assert_uint_eq(info_of(h, 0).ejection_backoff, 0);
    statuses(h, 0, 5, 500, 610 * SEC);
    ck_assert(is_ejected(h, 0));
    run(h, 620 * SEC, NULL); /* back to 10 s */
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).ejections, 5);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_ejection_time_is_capped_at_max)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.base_ejection_time_ns = 10 * SEC;
    c.max_ejection_time_ns = 25 * SEC;
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 1);
    uint64_t t = 0;
    for (int k = 1; k <= 5; k++) {
        statuses(h, 0, 5, 500, t);
        uint64_t expect = k * 10 < 25 ? (uint64_t)k * 10 : 25;
        run(h, t + expect * SEC - 1, NULL);
        ck_assert_msg(is_ejected(h, 0), "ejection %d ended early", k);
        run(h, t + expect * SEC, NULL);
        ck_assert_msg(!is_ejected(h, 0), "ejection %d: back after %llu s", k,
                      (unsigned long long)expect);
        t += expect * SEC;
    }
    /* backoff stops growing once backoff * base >= max + base: 1,2,3,4 then stays */
    ck_assert_uint_eq(info_of(h, 0).ejection_backoff, 4);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_ejection_jitter_delays_the_return_by_at_most_max_jitter)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.base_ejection_time_ns = 10 * SEC;
    c.max_ejection_jitter_ns = 5 * SEC;
    c.max_ejection_percent = 100;
    c.seed = 7;
    gwlb_health *h = make(&c, 1);
    statuses(h, 0, 5, 500, 0);
    uint64_t j = info_of(h, 0).ejection_jitter_ns;
    ck_assert_uint_le(j, 5 * SEC);
    ck_assert_uint_gt(j, 0);
    run(h, 10 * SEC + j - 1, NULL);
    ck_assert(is_ejected(h, 0));
    run(h, 10 * SEC + j, NULL);
    ck_assert(!is_ejected(h, 0));
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_unejection_resets_consecutive_counters)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.base_ejection_time_ns = 10 * SEC;
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 1);
    statuses(h, 0, 5, 500, 0);
    statuses(h, 0, 3, 503, SEC); /* counted while ejected */
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 3);
    run(h, 10 * SEC, NULL);
    ck_assert(!is_ejected(h, 0));
    ck_assert_uint_eq(info_of(h, 0).consecutive_5xx, 0);
    ck_assert_uint_eq(info_of(h, 0).consecutive_gateway_failure, 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_passing_probe_unejects_a_host_that_is_up)
{
    gwlb_health_config c = active_cfg();
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 1);
    statuses(h, 0, 5, 500, 0);
    ck_assert(is_ejected(h, 0));
    probe(h, 0, GWLB_PROBE_PASS, SEC);
    ck_assert(!is_ejected(h, 0));
    gwlb_health_event ev[4];
    size_t n;
    gwlb_health_events_drain(h, ev, 4, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ev[1].cause, GWLB_HEALTH_CAUSE_UNEJECT_ACTIVE);
    gwlb_health_free(h);
}
END_TEST

/* ---- reasons and events ------------------------------------------------------------- */

START_TEST(test_clearing_one_reason_never_hides_another)
{
    gwlb_health_config c = active_cfg();
    c.base_ejection_time_ns = 10 * SEC;
    c.max_ejection_percent = 100;
    gwlb_health *h = make(&c, 1);
    statuses(h, 0, 5, 500, 0);
    probe(h, 0, GWLB_PROBE_FAIL, 0);
    gwlb_health_admin_update(h, 0, GWLB_HOST_MAINTENANCE, 0, 0);
    ck_assert_uint_eq(flags_of(h, 0),
                      GWLB_HOST_EJECTED | GWLB_HOST_FAILED_ACTIVE | GWLB_HOST_MAINTENANCE);
    run(h, 10 * SEC, NULL);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE | GWLB_HOST_MAINTENANCE);
    gwlb_health_admin_update(h, 0, 0, GWLB_HOST_MAINTENANCE, 10 * SEC);
    ck_assert_uint_eq(flags_of(h, 0), GWLB_HOST_FAILED_ACTIVE);
    gwlb_health_free(h);
}
END_TEST

struct cb_log {
    int calls;
    gwlb_health_event last;
};

static void on_event(const gwlb_health_event *ev, void *user)
{
    struct cb_log *log = user;
    log->calls++;
    log->last = *ev;
}

START_TEST(test_callback_and_queue_see_every_transition_and_a_full_queue_drops)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.event_capacity = 4;
    gwlb_health *h = make(&c, 2);
    struct cb_log log = {0};
    gwlb_health_set_callback(h, on_event, &log);
    for (int i = 0; i < 6; i++)
        gwlb_health_admin_update(h, 1, i % 2 ? 0 : GWLB_HOST_DRAINING,
                                 i % 2 ? GWLB_HOST_DRAINING : 0, (uint64_t)i);
    ck_assert_int_eq(log.calls, 6);
    ck_assert_uint_eq(log.last.time_ns, 5);
    ck_assert_uint_eq(log.last.old_flags, GWLB_HOST_DRAINING);
    ck_assert_uint_eq(log.last.new_flags, 0);
    ck_assert_uint_eq(log.last.cause, GWLB_HEALTH_CAUSE_ADMIN);
    gwlb_health_event ev[8];
    size_t n;
    ck_assert_int_eq(gwlb_health_events_drain(h, ev, 2, &n), GWLB_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ev[0].time_ns, 0);
    ck_assert_uint_eq(ev[1].time_ns, 1);
    ck_assert_int_eq(gwlb_health_events_drain(h, ev, 8, &n), GWLB_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ev[1].time_ns, 3);
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.events_dropped, 2);
    /* an update that changes nothing is no transition */
    gwlb_health_admin_update(h, 1, 0, GWLB_HOST_DRAINING, 9);
    ck_assert_int_eq(log.calls, 6);
    ck_assert_int_eq(gwlb_health_events_drain(h, NULL, 0, &n), GWLB_OK);
    ck_assert_int_eq(gwlb_health_events_drain(h, NULL, 1, &n), GWLB_EINVAL);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_stats_count_eligibility_and_report_envoy_panic)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    gwlb_health *h = make(&c, 10);
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.hosts_eligible, 10);
    ck_assert_uint_eq(s.panic, 0);
    gwlb_health_admin_update(h, 0, GWLB_HOST_MAINTENANCE, 0, 0);
    gwlb_health_admin_update(h, 1, GWLB_HOST_DEGRADED, 0, 0);
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.hosts_eligible, 8);
    ck_assert_uint_eq(s.hosts_degraded, 1);
    ck_assert_uint_eq(s.hosts_ineligible, 1);
    /* 3 healthy + 2 degraded of 10: 30% + 20% = 50%, not below the threshold */
    for (uint32_t i = 2; i < 7; i++)
        gwlb_health_admin_update(h, i, i < 3 ? GWLB_HOST_DEGRADED : GWLB_HOST_DRAINING, 0, 0);
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.hosts_eligible, 3);
    ck_assert_uint_eq(s.hosts_degraded, 2);
    ck_assert_uint_eq(s.panic, 0);
    /* 3 healthy + 1 degraded: 40% < 50%: panic (Envoy's isHostSetInPanic) */
    gwlb_health_admin_update(h, 2, GWLB_HOST_FAILED_PASSIVE, GWLB_HOST_DEGRADED, 0);
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.hosts_eligible, 3);
    ck_assert_uint_eq(s.hosts_degraded, 1);
    ck_assert_uint_eq(s.panic, 1);
    /* 4 healthy + 1 degraded: 50% */
    gwlb_health_admin_update(h, 6, 0, GWLB_HOST_DRAINING, 0);
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.panic, 0);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_sqrt_is_exact_on_squares)
{
    ck_assert(gwlb__health_sqrt(400.0) == 20.0);
    ck_assert(gwlb__health_sqrt(0.25) == 0.5);
    ck_assert(gwlb__health_sqrt(0.0) == 0.0);
    ck_assert(gwlb__health_sqrt(-1.0) == 0.0);
    ck_assert(gwlb__health_sqrt(2.0) == 1.4142135623730951);
    ck_assert(gwlb__health_sqrt(1e12) == 1e6);
    ck_assert(gwlb__health_sqrt(3.0) == 1.7320508075688772);
    ck_assert(gwlb__health_sqrt(1e-300) == 1e-150);
    ck_assert(gwlb__health_sqrt(1234.5678) == 35.13641700572214);
}
END_TEST

static Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_config_defaults_are_haproxy_and_envoy_defaults);
    tcase_add_test(tc, test_zero_thresholds_and_intervals_are_rejected_with_the_field_named);
    tcase_add_test(tc, test_percentages_above_100_and_zero_volumes_are_clamped);
    tcase_add_test(tc, test_zero_consecutive_threshold_disables_that_detector);
    tcase_add_test(tc, test_region_checks_alignment_size_and_attach);
    tcase_add_test(tc, test_every_allocation_failure_returns_enomem_and_leaks_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("active");
    tcase_add_test(tc, test_haproxy_counter_up_host_falls_at_first_failure_then_needs_rise_passes);
    tcase_add_test(tc, test_haproxy_counter_fully_up_host_goes_down_after_exactly_fall_failures);
    tcase_add_test(tc, test_haproxy_counter_saturates_at_both_edges);
    tcase_add_test(tc, test_init_state_down_comes_up_at_first_success);
    tcase_add_test(tc, test_flapping_probes_never_change_state_and_emit_nothing);
    tcase_add_test(tc, test_first_probes_are_spread_over_one_interval);
    tcase_add_test(tc, test_interval_is_inter_fastinter_or_downinter_by_counter);
    tcase_add_test(tc, test_jitter_spreads_intervals_within_plus_minus_percent);
    tcase_add_test(tc, test_no_traffic_interval_applies_until_the_first_outcome);
    tcase_add_test(tc, test_due_query_honours_cap_and_returns_next_due);
    tcase_add_test(tc, test_agent_hints_set_their_own_reasons_and_weight);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_unknown_host_is_eunknown_everywhere);
    tcase_add_test(tc, test_bad_status_and_local_result_are_erange_and_count_nothing);
    tcase_add_test(tc, test_probe_result_for_a_host_not_due_is_estate_and_changes_nothing);
    tcase_add_test(tc, test_admin_rejects_non_admin_bits_and_overlap);
    tcase_add_test(tc, test_time_going_backwards_is_clamped_and_counted);
    tcase_add_test(tc, test_backwards_time_does_not_release_probes_early);
    tcase_add_test(tc, test_flapping_outcomes_never_reach_a_consecutive_threshold);
    suite_add_tcase(s, tc);

    tc = tcase_create("outlier");
    tcase_add_test(tc, test_consecutive_5xx_ejects_at_the_fifth_in_a_row);
    tcase_add_test(tc, test_gateway_failures_are_detected_but_not_enforced_by_default);
    tcase_add_test(tc, test_local_origin_failures_map_to_503_504_unless_split);
    tcase_add_test(tc, test_max_ejection_percent_with_one_host_always_ejectable);
    tcase_add_test(tc, test_success_rate_100_100_100_100_50_gives_threshold_52_and_ejects_the_50);
    tcase_add_test(tc, test_success_rate_needs_minimum_hosts_and_request_volume);
    tcase_add_test(tc, test_failure_percentage_ejects_at_or_above_threshold_when_enforced);
    tcase_add_test(tc, test_envoy_eject_time_backoff_10_20_30_then_20_then_10);
    tcase_add_test(tc, test_ejection_time_is_capped_at_max);
    tcase_add_test(tc, test_ejection_jitter_delays_the_return_by_at_most_max_jitter);
    tcase_add_test(tc, test_unejection_resets_consecutive_counters);
    tcase_add_test(tc, test_passing_probe_unejects_a_host_that_is_up);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, test_clearing_one_reason_never_hides_another);
    tcase_add_test(tc, test_callback_and_queue_see_every_transition_and_a_full_queue_drops);
    tcase_add_test(tc, test_stats_count_eligibility_and_report_envoy_panic);
    tcase_add_test(tc, test_sqrt_is_exact_on_squares);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(health_suite());
}
