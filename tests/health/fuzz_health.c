/*
 * libFuzzer target: a byte string is read as a sequence of tracker calls
 * (outcomes, local results, probe queries and results, admin updates,
 * outlier passes, event drains) with arbitrary hosts, statuses and times,
 * including time going backwards. After every call the invariants must
 * hold: the active-ejection count equals the hosts flagged ejected, the
 * HAProxy counter stays in 0..rise+fall-1 and FAILED_ACTIVE is set exactly
 * when it is below rise.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gwlb/health.h"

#define HOSTS 6

static void check(gwlb_health *h, const gwlb_health_config *c)
{
    gwlb_health_stats s;
    if (gwlb_health_stats_get(h, &s) != GWLB_OK)
        __builtin_trap();
    uint64_t ejected = 0;
    for (uint32_t i = 0; i < HOSTS; i++) {
        gwlb_health_host_info info;
        if (gwlb_health_host_get(h, i, &info) != GWLB_OK)
            __builtin_trap();
        ejected += (info.flags & GWLB_HOST_EJECTED) != 0;
        if (info.health > c->rise + c->fall - 1)
            __builtin_trap();
        if (((info.flags & GWLB_HOST_FAILED_ACTIVE) != 0) != (info.health < c->rise))
            __builtin_trap();
    }
    if (ejected != s.ejections_active)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.active_checks = 1;
    c.rise = 1 + data[0] % 4;
    c.fall = 1 + data[1] % 4;
    c.jitter_percent = data[2] % 51;
    c.max_ejection_percent = data[3] % 101;
    c.max_ejection_jitter_ns = data[3] & 1 ? GWLB_NS_PER_SEC : 0;
    c.enforcing_failure_percentage = 100;
    c.success_rate_minimum_hosts = 2;
    c.success_rate_request_volume = 3;
    c.failure_percentage_minimum_hosts = 2;
    c.failure_percentage_request_volume = 3;
    c.consecutive_5xx = 3;
    c.event_capacity = 8;
    gwlb_health *h = NULL;
    if (gwlb_health_create(&c, HOSTS, 0, NULL, 0, 0, NULL, &h, NULL) != GWLB_OK)
        __builtin_trap();
    uint64_t now = 0;
    for (size_t i = 4; i + 3 <= size; i += 3) {
        uint8_t op = data[i], a = data[i + 1], b = data[i + 2];
        /* time mostly moves forward, sometimes back */
        if (op & 0x80)
            now = now > (uint64_t)a * GWLB_NS_PER_SEC ? now - (uint64_t)a * GWLB_NS_PER_SEC : 0;
        else
            now += (uint64_t)a * 100 * GWLB_NS_PER_MS;
        uint32_t host = b % (HOSTS + 1); /* one unknown host */
        switch (op % 8) {
        case 0:
        case 1:
            gwlb_health_report_status(h, host, 100 + (uint32_t)b * 2 + (op & 0x40 ? 300 : 0), now);
            break;
        case 2:
            gwlb_health_report_local(h, host, b % 6, now);
            break;
        case 3: {
            uint32_t due[HOSTS];
            size_t n;
            uint64_t next;
            gwlb_health_probes_due(h, now, due, a % (HOSTS + 1), &n, &next);
            break;
        }
        case 4: {
            gwlb_probe_result r = {.outcome = 1 + a % 4, .agent = (a >> 2) % 5,
                                   .weight_percent = (int32_t)(b * 5) - 5, .latency_ns = a};
            gwlb_health_probe_report(h, host, &r, now);
            break;
        }
        case 5:
            gwlb_health_admin_update(h, host, (uint32_t)a & 0x7f, (uint32_t)(a >> 1) & 0x7f, now);
            break;
        case 6:
            gwlb_health_outlier_run(h, now, NULL);
            break;
        default: {
            gwlb_health_event ev[4];
            size_t n;
            gwlb_health_events_drain(h, ev, a % 5, &n);
            break;
        }
        }
        check(h, &c);
    }
    gwlb_health_free(h);
    return 0;
}
