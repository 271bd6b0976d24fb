/*
 * Active health checks: the probe scheduler and HAProxy's rise/fall counter.
 *
 * The scheduler is a binary min-heap of (due time, host) held in the handle:
 * asking for due probes pops only the hosts that are due (O(k log n)), and a
 * host popped is "in flight" (out of the heap) until its result is reported,
 * when it is pushed back at now + interval. Ties are broken by host index so
 * the order is reproducible.
 *
 * The counter follows HAProxy's check.c: health runs 0 .. rise+fall-1 and
 * the host is up iff health >= rise. A failure decrements and, once below
 * rise, drops straight to 0; a success increments and, on reaching rise,
 * jumps to rise+fall-1. The interval after a result follows srv_getinter():
 * inter when fully up, downinter when at 0, fastinter in between; HAProxy's
 * spread-checks jitter (+-p%) and Envoy's no_traffic_interval on top.
 */
#include <string.h>

#include "health_internal.h"

__extension__ typedef unsigned __int128 u128;

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int entry_less(const gwlb__probe_entry *a, const gwlb__probe_entry *b)
{
    return a->due < b->due || (a->due == b->due && a->host < b->host);
}

static void heap_push(gwlb_health *h, uint64_t due, uint32_t host)
{
    uint32_t i = h->heap_len++;
    gwlb__probe_entry e = {.due = due, .host = host, .pad = 0};
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!entry_less(&e, &h->heap[parent]))
            break;
        h->heap[i] = h->heap[parent];
        i = parent;
    }
    h->heap[i] = e;
}

static gwlb__probe_entry heap_pop(gwlb_health *h)
{
    gwlb__probe_entry top = h->heap[0];
    gwlb__probe_entry last = h->heap[--h->heap_len];
    uint32_t n = h->heap_len, i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && entry_less(&h->heap[c + 1], &h->heap[c]))
            c++;
        if (!entry_less(&h->heap[c], &last))
            break;
        h->heap[i] = h->heap[c];
        i = c;
    }
    if (n > 0)
        h->heap[i] = last;
    return top;
}

/* The interval in force for a counter value, before jitter. */
static uint64_t base_interval(const gwlb_health *h, uint32_t health)
{
    const gwlb_health_config *c = &h->cfg;
    if (c->no_traffic_interval_ns != 0 &&
        atomic_load_explicit(GWLB__A32(&h->sh->traffic_seen), GWLB__RLX) == 0)
        return c->no_traffic_interval_ns;
    if (health >= c->rise + c->fall - 1)
        return c->inter_ns;
    if (health == 0)
        return c->downinter_ns ? c->downinter_ns : c->inter_ns;
    return c->fastinter_ns ? c->fastinter_ns : c->inter_ns;
}

static uint64_t jittered(gwlb_health *h, uint64_t base)
{
    uint32_t p = h->cfg.jitter_percent;
    if (p == 0)
        return base;
    uint64_t j = (uint64_t)(((u128)base * p) / 100);
    return base - j + gwlb_rng_below(&h->sh->rng, 2 * j + 1);
}

int gwlb__health_probe_init(gwlb_health *h, uint64_t now)
{
    if (!h->cfg.active_checks)
        return GWLB_OK;
    h->heap = gwlb__calloc(&h->alloc, h->n, sizeof *h->heap);
    if (h->heap == NULL)
        return GWLB_ENOMEM;
    h->in_flight = gwlb__calloc(&h->alloc, h->n, 1);
    if (h->in_flight == NULL)
        return GWLB_ENOMEM;
    /* Spread the first probes over one interval, as HAProxy's start_checks. */
    uint64_t spread = base_interval(h, atomic_load_explicit(GWLB__A32(&h->hosts[0].health),
                                                            GWLB__RLX));
    for (uint32_t i = 0; i < h->n; i++) {
        uint64_t due = sat_add(now, (uint64_t)(((u128)spread * i) / h->n));
        h->heap[i] = (gwlb__probe_entry){.due = due, .host = i, .pad = 0};
        atomic_store_explicit(GWLB__A64(&h->hosts[i].next_probe_ns), due, GWLB__RLX);
    }
    h->heap_len = h->n; /* sorted by (due, host): already a heap */
    return GWLB_OK;
}

int gwlb_health_probes_due(gwlb_health *h, uint64_t now, uint32_t *hosts, size_t cap,
                           size_t *count, uint64_t *next_due)
{
    if (h == NULL || count == NULL || (hosts == NULL && cap > 0))
        return GWLB_EINVAL;
    size_t k = 0;
    if (h->cfg.active_checks) {
        now = gwlb__health_clamp_now(h, now);
        while (k < cap && h->heap_len > 0 && h->heap[0].due <= now) {
            gwlb__probe_entry e = heap_pop(h);
            hosts[k++] = e.host;
            h->in_flight[e.host] = 1;
            atomic_store_explicit(GWLB__A64(&h->hosts[e.host].next_probe_ns), UINT64_MAX,
                                  GWLB__RLX);
            gwlb__health_count(h, GWLB__HC_PROBES_SENT);
        }
    }
    *count = k;
    if (next_due != NULL)
        *next_due = (h->cfg.active_checks && h->heap_len > 0) ? h->heap[0].due : UINT64_MAX;
    return GWLB_OK;
}

int gwlb_health_probe_report(gwlb_health *h, uint32_t host, const gwlb_probe_result *res,
                             uint64_t now)
{
    if (h == NULL || res == NULL)
        return GWLB_EINVAL;
    if (host >= h->n)
        return GWLB_EUNKNOWN;
    if (res->outcome < GWLB_PROBE_PASS || res->outcome > GWLB_PROBE_TIMEOUT ||
        res->agent > GWLB_AGENT_MAINT)
        return GWLB_ERANGE;
    if (res->weight_percent < -1 || res->weight_percent > 1000)
        return GWLB_EWEIGHT;
    if (!h->cfg.active_checks || !h->in_flight[host])
        return GWLB_ESTATE;
    now = gwlb__health_clamp_now(h, now);
    const gwlb_health_config *c = &h->cfg;
    gwlb__health_host *r = &h->hosts[host];
    uint32_t top = c->rise + c->fall - 1;
    uint32_t hv = atomic_load_explicit(GWLB__A32(&r->health), GWLB__RLX);
    uint32_t was_up = hv >= c->rise;
    if (res->outcome == GWLB_PROBE_PASS) {
        gwlb__health_count(h, GWLB__HC_PROBE_PASSES);
        if (hv < top) {
            hv++;
            if (hv >= c->rise)
                hv = top;
        }
    } else {
        gwlb__health_count(h, GWLB__HC_PROBE_FAILURES);
        if (hv > 0) {
            hv--;
            if (hv < c->rise)
                hv = 0;
        }
    }
    atomic_store_explicit(GWLB__A32(&r->health), hv, GWLB__RLX);
    uint32_t is_up = hv >= c->rise;
    if (was_up && !is_up) {
        gwlb__health_count(h, GWLB__HC_DOWN);
        gwlb__health_reasons_update(h, host, GWLB_HOST_FAILED_ACTIVE, 0, GWLB_HEALTH_CAUSE_PROBE,
                                    now);
    } else if (!was_up && is_up) {
        gwlb__health_count(h, GWLB__HC_UP);
        gwlb__health_reasons_update(h, host, 0, GWLB_HOST_FAILED_ACTIVE, GWLB_HEALTH_CAUSE_PROBE,
                                    now);
    }
    /* Agent hints (HAProxy agent-check: drain / maint accumulate, ready clears both). */
    if (res->agent == GWLB_AGENT_READY)
        gwlb__health_reasons_update(h, host, 0, GWLB__R_AGENT_DRAIN | GWLB__R_AGENT_MAINT,
                                    GWLB_HEALTH_CAUSE_AGENT, now);
    else if (res->agent == GWLB_AGENT_DRAIN)
        gwlb__health_reasons_update(h, host, GWLB__R_AGENT_DRAIN, 0, GWLB_HEALTH_CAUSE_AGENT, now);
    else if (res->agent == GWLB_AGENT_MAINT)
        gwlb__health_reasons_update(h, host, GWLB__R_AGENT_MAINT, 0, GWLB_HEALTH_CAUSE_AGENT, now);
    if (res->weight_percent >= 0)
        atomic_store_explicit(GWLB__A32(&r->weight_percent), (uint32_t)res->weight_percent,
                              GWLB__RLX);
    if (res->latency_ns != 0)
        atomic_store_explicit(GWLB__A64(&r->last_latency_ns), res->latency_ns, GWLB__RLX);
    /* Envoy: a passing check on an ejected host that is up unejects it. */
    if (c->active_success_unejects && res->outcome == GWLB_PROBE_PASS && is_up &&
        (atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire) & GWLB_HOST_EJECTED) &&
        gwlb__health_claim(r)) {
        if (atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire) & GWLB_HOST_EJECTED)
            gwlb__health_uneject_locked(h, host, GWLB_HEALTH_CAUSE_UNEJECT_ACTIVE, now);
        gwlb__health_unclaim(r);
    }
    uint64_t due = sat_add(now, jittered(h, base_interval(h, hv)));
    h->in_flight[host] = 0;
    heap_push(h, due, host);
    atomic_store_explicit(GWLB__A64(&r->next_probe_ns), due, GWLB__RLX);
    return GWLB_OK;
}
