/*
 * Health tracker core: configuration, the shared runtime region, reason
 * flags and their events, passive outcome reporting and Envoy's ejection
 * rules (ejectHost / unejectHost).
 *
 * Key idea: a host's state is a word of independent reason bits changed by
 * compare-and-swap, so probe results, outlier ejections, agent hints and
 * admin actions never overwrite each other. The outcome hot path is one
 * atomic add on the interval bucket plus the consecutive counters; the rare
 * ejection path takes a per-host try-lock (`claim`) so the ejection fields
 * (time, jitter, backoff) change together.
 */
#include <string.h>

#include "health_internal.h"

#define MAX_HOSTS (UINT32_C(1) << 24)
#define MAX_DURATION (UINT64_C(1) << 62)
#define BUCKET_REQUEST (UINT64_C(1) << 32)

void gwlb_health_config_init(gwlb_health_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = (uint32_t)sizeof *cfg;
    cfg->active_checks = 0;
    cfg->rise = 2;
    cfg->fall = 3;
    cfg->init_state = GWLB_HEALTH_INIT_UP;
    cfg->jitter_percent = 0;
    cfg->inter_ns = 2 * GWLB_NS_PER_SEC;
    cfg->consecutive_5xx = 5;
    cfg->consecutive_gateway_failure = 5;
    cfg->consecutive_local_origin_failure = 5;
    cfg->enforcing_consecutive_5xx = 100;
    cfg->enforcing_consecutive_gateway_failure = 0;
    cfg->enforcing_consecutive_local_origin_failure = 100;
    cfg->split_local_origin_errors = 0;
    cfg->max_ejection_percent = 10;
    cfg->interval_ns = 10 * GWLB_NS_PER_SEC;
    cfg->base_ejection_time_ns = 30 * GWLB_NS_PER_SEC;
    cfg->max_ejection_time_ns = 300 * GWLB_NS_PER_SEC;
    cfg->max_ejection_jitter_ns = 0;
    cfg->always_eject_one_host = 1;
    cfg->success_rate_minimum_hosts = 5;
    cfg->success_rate_request_volume = 100;
    cfg->success_rate_stdev_factor = 1900;
    cfg->enforcing_success_rate = 100;
    cfg->failure_percentage_threshold = 85;
    cfg->failure_percentage_minimum_hosts = 5;
    cfg->failure_percentage_request_volume = 50;
    cfg->enforcing_failure_percentage = 0;
    cfg->active_success_unejects = 1;
    cfg->seed = 1;
    cfg->event_capacity = 256;
}

static size_t round64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

size_t gwlb_health_region_size(uint32_t n_hosts, uint32_t event_capacity)
{
    if (n_hosts > MAX_HOSTS)
        return 0;
    size_t s = round64(sizeof(gwlb__health_shared));
    s += (size_t)n_hosts * sizeof(gwlb__health_host);
    s += (size_t)event_capacity * sizeof(gwlb__health_slot);
    return round64(s);
}

/* Validate and normalise a config (clamps documented in the header). */
static int check_config(const gwlb_health_config *in, gwlb_health_config *c,
                        gwlb_error_detail *d)
{
    if (in->struct_size != sizeof *in)
        return gwlb__detail(d, GWLB_EVERSION, -1, -1, -1, "struct_size",
                            "config struct_size %u, library expects %zu",
                            (unsigned)in->struct_size, sizeof *in);
    *c = *in;
#define BAD(field, ...) gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, field, __VA_ARGS__)
    if (c->rise == 0)
        return BAD("rise", "rise must be at least 1");
    if (c->fall == 0)
        return BAD("fall", "fall must be at least 1");
    if (c->rise > 1000000 || c->fall > 1000000)
        return BAD(c->rise > 1000000 ? "rise" : "fall", "rise/fall at most 1000000");
    if (c->init_state > GWLB_HEALTH_INIT_FULLY_DOWN)
        return BAD("init_state", "unknown init_state %u", (unsigned)c->init_state);
    if (c->jitter_percent > 50)
        return BAD("jitter_percent", "jitter_percent must be 0..50");
    if (c->inter_ns == 0 || c->inter_ns > MAX_DURATION)
        return BAD("inter_ns", "inter_ns must be 1..2^62");
    if (c->fastinter_ns > MAX_DURATION)
        return BAD("fastinter_ns", "fastinter_ns at most 2^62");
    if (c->downinter_ns > MAX_DURATION)
        return BAD("downinter_ns", "downinter_ns at most 2^62");
    if (c->no_traffic_interval_ns > MAX_DURATION)
        return BAD("no_traffic_interval_ns", "no_traffic_interval_ns at most 2^62");
    if (c->interval_ns == 0 || c->interval_ns > MAX_DURATION)
        return BAD("interval_ns", "interval_ns must be 1..2^62");
    if (c->base_ejection_time_ns == 0 || c->base_ejection_time_ns > MAX_DURATION)
        return BAD("base_ejection_time_ns", "base_ejection_time_ns must be 1..2^62");
    if (c->max_ejection_time_ns < c->base_ejection_time_ns || c->max_ejection_time_ns > MAX_DURATION)
        return BAD("max_ejection_time_ns", "max_ejection_time_ns must be base..2^62");
    if (c->max_ejection_jitter_ns > MAX_DURATION)
        return BAD("max_ejection_jitter_ns", "max_ejection_jitter_ns at most 2^62");
    if (c->failure_percentage_threshold > 100)
        return BAD("failure_percentage_threshold", "failure_percentage_threshold must be 0..100");
    if (c->event_capacity > (UINT32_C(1) << 24))
        return BAD("event_capacity", "event_capacity at most 2^24");
#undef BAD
    /* Documented clamps. */
#define CLAMP100(f) \
    if (c->f > 100) \
        c->f = 100;
    CLAMP100(enforcing_consecutive_5xx)
    CLAMP100(enforcing_consecutive_gateway_failure)
    CLAMP100(enforcing_consecutive_local_origin_failure)
    CLAMP100(enforcing_success_rate)
    CLAMP100(enforcing_failure_percentage)
    CLAMP100(max_ejection_percent)
#undef CLAMP100
#define MIN1(f) \
    if (c->f == 0) \
        c->f = 1;
    MIN1(success_rate_minimum_hosts)
    MIN1(success_rate_request_volume)
    MIN1(failure_percentage_minimum_hosts)
    MIN1(failure_percentage_request_volume)
#undef MIN1
    c->active_checks = c->active_checks ? 1 : 0;
    c->split_local_origin_errors = c->split_local_origin_errors ? 1 : 0;
    c->always_eject_one_host = c->always_eject_one_host ? 1 : 0;
    c->active_success_unejects = c->active_success_unejects ? 1 : 0;
    return GWLB_OK;
}

static uint32_t initial_health(const gwlb_health_config *c)
{
    switch (c->init_state) {
    case GWLB_HEALTH_INIT_FULLY_UP:
        return c->rise + c->fall - 1;
    case GWLB_HEALTH_INIT_DOWN:
        return c->rise - 1;
    case GWLB_HEALTH_INIT_FULLY_DOWN:
        return 0;
    default:
        return c->rise;
    }
}

static void init_region(gwlb_health *h, uint64_t now)
{
    const gwlb_health_config *c = &h->cfg;
    gwlb__health_shared *sh = h->sh;
    memset(sh, 0, sizeof *sh);
    sh->n_hosts = h->n;
    sh->event_capacity = c->event_capacity;
    sh->last_now = now;
    gwlb_rng_seed(&sh->rng, c->seed);
    uint32_t health = initial_health(c);
    for (uint32_t i = 0; i < h->n; i++) {
        gwlb__health_host *r = &h->hosts[i];
        memset(r, 0, sizeof *r);
        r->health = health;
        if (c->active_checks && health < c->rise)
            r->reasons = GWLB_HOST_FAILED_ACTIVE;
        r->weight_percent = -1;
        r->last_ejection_ns = UINT64_MAX;
        r->last_unejection_ns = UINT64_MAX;
        r->next_probe_ns = UINT64_MAX;
    }
    for (uint32_t i = 0; i < c->event_capacity; i++) {
        memset(&h->slots[i], 0, sizeof h->slots[i]);
        h->slots[i].seq = i;
    }
    /* Publish the region last, so an attacher that sees the magic sees the rest. */
    atomic_store_explicit(GWLB__A64(&sh->magic), GWLB__HEALTH_MAGIC, memory_order_release);
}

int gwlb_health_create(const gwlb_health_config *cfg, uint32_t n_hosts, uint64_t now,
                       void *region, size_t region_size, uint32_t flags,
                       const gwlb_allocator *alloc, gwlb_health **out, gwlb_error_detail *detail)
{
    if (cfg == NULL || out == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL cfg or out");
    if ((flags & ~GWLB_HEALTH_ATTACH) != 0)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "flags", "unknown flags");
    gwlb_health_config c;
    int rc = check_config(cfg, &c, detail);
    if (rc != GWLB_OK)
        return rc;
    if (n_hosts == 0 || n_hosts > MAX_HOSTS)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, "n_hosts", "n_hosts must be 1..2^24");
    size_t need = gwlb_health_region_size(n_hosts, c.event_capacity);
    if (region != NULL) {
        if (((uintptr_t)region & 63) != 0)
            return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "region",
                                "region must be 64-byte aligned");
        if (region_size < need)
            return gwlb__detail(detail, GWLB_ENOSPC, -1, -1, -1, "region_size",
                                "region needs %zu bytes", need);
        if (flags & GWLB_HEALTH_ATTACH) {
            const gwlb__health_shared *sh = region;
            if (atomic_load_explicit(GWLB__A64(&sh->magic), memory_order_acquire) !=
                    GWLB__HEALTH_MAGIC ||
                sh->n_hosts != n_hosts || sh->event_capacity != c.event_capacity)
                return gwlb__detail(detail, GWLB_ESTATE, -1, -1, -1, "region",
                                    "region not initialised for this tracker");
        }
    } else if (flags & GWLB_HEALTH_ATTACH) {
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "region", "ATTACH needs a region");
    }

    gwlb_allocator a;
    gwlb__allocator_resolve(&a, alloc);
    gwlb_health *h = gwlb__calloc(&a, 1, sizeof *h);
    if (h == NULL)
        return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    h->alloc = a;
    h->cfg = c;
    h->n = n_hosts;
    uint8_t *base = region;
    if (base == NULL) {
        h->own_raw_size = need + 63;
        h->own_raw = gwlb__alloc(&a, h->own_raw_size);
        if (h->own_raw == NULL) {
            gwlb__free(&a, h, sizeof *h);
            return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
        }
        base = (uint8_t *)(((uintptr_t)h->own_raw + 63) & ~(uintptr_t)63);
    }
    h->pass_rate = gwlb__calloc(&a, n_hosts, sizeof *h->pass_rate);
    h->pass_total = gwlb__calloc(&a, n_hosts, sizeof *h->pass_total);
    h->sh = (gwlb__health_shared *)(void *)base;
    if (h->pass_rate == NULL || h->pass_total == NULL) {
        gwlb_health_free(h);
        return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    }
    h->hosts = (gwlb__health_host *)(void *)(base + round64(sizeof(gwlb__health_shared)));
    h->slots = (gwlb__health_slot *)(void *)(h->hosts + n_hosts);
    if (!(flags & GWLB_HEALTH_ATTACH))
        init_region(h, now);
    rc = gwlb__health_probe_init(h, now);
    if (rc != GWLB_OK) {
        gwlb_health_free(h);
        return gwlb__detail(detail, rc, -1, -1, -1, NULL, NULL);
    }
    *out = h;
    return GWLB_OK;
}

void gwlb_health_free(gwlb_health *h)
{
    if (h == NULL)
        return;
    gwlb_allocator a = h->alloc;
    if (h->heap != NULL)
        gwlb__free(&a, h->heap, (size_t)h->n * sizeof *h->heap);
    if (h->in_flight != NULL)
        gwlb__free(&a, h->in_flight, h->n);
    if (h->own_raw != NULL)
        gwlb__free(&a, h->own_raw, h->own_raw_size);
    if (h->pass_rate != NULL)
        gwlb__free(&a, h->pass_rate, (size_t)h->n * sizeof *h->pass_rate);
    if (h->pass_total != NULL)
        gwlb__free(&a, h->pass_total, (size_t)h->n * sizeof *h->pass_total);
    gwlb__free(&a, h, sizeof *h);
}

uint32_t gwlb_health_host_count(const gwlb_health *h)
{
    return h == NULL ? 0 : h->n;
}

void gwlb_health_set_callback(gwlb_health *h, gwlb_health_callback cb, void *user_data)
{
    if (h == NULL)
        return;
    h->cb = cb;
    h->cb_user = user_data;
}

/* ---- time, counters, reasons ---------------------------------------------- */

void gwlb__health_count(gwlb_health *h, int slot)
{
    atomic_fetch_add_explicit(GWLB__A64(&h->sh->counters[slot]), 1, GWLB__RLX);
}

uint64_t gwlb__health_clamp_now(gwlb_health *h, uint64_t now)
{
    _Atomic uint64_t *p = GWLB__A64(&h->sh->last_now);
    uint64_t cur = atomic_load_explicit(p, GWLB__RLX);
    while (now > cur) {
        if (atomic_compare_exchange_weak_explicit(p, &cur, now, GWLB__RLX, GWLB__RLX))
            return now;
    }
    if (now < cur) {
        gwlb__health_count(h, GWLB__HC_CLAMPS);
        return cur;
    }
    return now;
}

uint32_t gwlb__health_published(uint32_t r)
{
    uint32_t f = r & GWLB__R_PUBLISHED;
    if (r & GWLB__R_AGENT_DRAIN)
        f |= GWLB_HOST_DRAINING;
    if (r & GWLB__R_AGENT_MAINT)
        f |= GWLB_HOST_MAINTENANCE;
    return f;
}

static void push_event(gwlb_health *h, const gwlb_health_event *ev)
{
    uint32_t cap = h->cfg.event_capacity;
    if (cap != 0) {
        _Atomic uint64_t *tail = GWLB__A64(&h->sh->ev_enqueue);
        uint64_t pos = atomic_load_explicit(tail, GWLB__RLX);
        for (;;) {
            gwlb__health_slot *s = &h->slots[pos % cap];
            uint64_t seq = atomic_load_explicit(GWLB__A64(&s->seq), memory_order_acquire);
            int64_t dif = (int64_t)(seq - pos);
            if (dif == 0) {
                if (atomic_compare_exchange_weak_explicit(tail, &pos, pos + 1, GWLB__RLX,
                                                          GWLB__RLX)) {
                    s->ev = *ev;
                    atomic_store_explicit(GWLB__A64(&s->seq), pos + 1, memory_order_release);
                    break;
                }
            } else if (dif < 0) {
                gwlb__health_count(h, GWLB__HC_DROPPED);
                break;
            } else {
                pos = atomic_load_explicit(tail, GWLB__RLX);
            }
        }
    }
    if (h->cb != NULL)
        h->cb(ev, h->cb_user);
}

int gwlb_health_events_drain(gwlb_health *h, gwlb_health_event *out, size_t cap, size_t *count)
{
    if (h == NULL || count == NULL || (out == NULL && cap > 0))
        return GWLB_EINVAL;
    size_t n = 0;
    uint32_t qcap = h->cfg.event_capacity;
    _Atomic uint64_t *head = GWLB__A64(&h->sh->ev_dequeue);
    while (n < cap && qcap != 0) {
        uint64_t pos = atomic_load_explicit(head, GWLB__RLX);
        gwlb__health_slot *s = &h->slots[pos % qcap];
        uint64_t seq = atomic_load_explicit(GWLB__A64(&s->seq), memory_order_acquire);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(head, &pos, pos + 1, GWLB__RLX, GWLB__RLX)) {
                out[n++] = s->ev;
                atomic_store_explicit(GWLB__A64(&s->seq), pos + qcap, memory_order_release);
            }
        } else if (dif < 0) {
            break; /* empty */
        }
    }
    *count = n;
    return GWLB_OK;
}

uint32_t gwlb__health_reasons_update(gwlb_health *h, uint32_t host, uint32_t set, uint32_t clear,
                                     uint32_t cause, uint64_t now)
{
    _Atomic uint32_t *p = GWLB__A32(&h->hosts[host].reasons);
    uint32_t old = atomic_load_explicit(p, GWLB__RLX);
    uint32_t nw;
    do {
        nw = (old | set) & ~clear;
        if (nw == old)
            return old;
    } while (!atomic_compare_exchange_weak_explicit(p, &old, nw, memory_order_acq_rel,
                                                    GWLB__RLX));
    gwlb_health_event ev = {.time_ns = now,
                            .host = host,
                            .cause = cause,
                            .old_flags = gwlb__health_published(old),
                            .new_flags = gwlb__health_published(nw)};
    push_event(h, &ev);
    return old;
}

int gwlb__health_claim(gwlb__health_host *r)
{
    uint32_t zero = 0;
    return atomic_compare_exchange_strong_explicit(GWLB__A32(&r->claim), &zero, 1,
                                                   memory_order_acquire, GWLB__RLX);
}

void gwlb__health_unclaim(gwlb__health_host *r)
{
    atomic_store_explicit(GWLB__A32(&r->claim), 0, memory_order_release);
}

/* ---- ejection (Envoy ejectHost / unejectHost) --------------------------------- */

static int detected_slot(uint32_t cause)
{
    switch (cause) {
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX:
        return GWLB__HC_DETECTED_5XX;
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE:
        return GWLB__HC_DETECTED_GW;
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE:
        return GWLB__HC_DETECTED_LOCAL;
    case GWLB_HEALTH_CAUSE_SUCCESS_RATE:
        return GWLB__HC_DETECTED_SR;
    default:
        return GWLB__HC_DETECTED_FP;
    }
}

static uint32_t enforcing_percent(const gwlb_health_config *c, uint32_t cause)
{
    switch (cause) {
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX:
        return c->enforcing_consecutive_5xx;
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE:
        return c->enforcing_consecutive_gateway_failure;
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE:
        return c->enforcing_consecutive_local_origin_failure;
    case GWLB_HEALTH_CAUSE_SUCCESS_RATE:
        return c->enforcing_success_rate;
    default:
        return c->enforcing_failure_percentage;
    }
}

/* Envoy: eject iff 100 * (active + 1) / hosts <= max percent (exact in integers),
 * or (always_eject_one_host) nothing is ejected yet. */
static int ejection_allowed(const gwlb_health *h, uint32_t active)
{
    if ((uint64_t)100 * (active + UINT64_C(1)) <= (uint64_t)h->cfg.max_ejection_percent * h->n)
        return 1;
    return h->cfg.always_eject_one_host && active == 0;
}

int gwlb__health_eject(gwlb_health *h, uint32_t host, uint32_t cause, uint64_t now)
{
    gwlb__health_host *r = &h->hosts[host];
    if (!gwlb__health_claim(r))
        return 0; /* another thread is ejecting / unejecting this host right now */
    if (atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire) & GWLB_HOST_EJECTED) {
        gwlb__health_unclaim(r);
        return 0;
    }
    now = gwlb__health_clamp_now(h, now);
    gwlb__health_count(h, detected_slot(cause));
    _Atomic uint32_t *active = GWLB__A32(&h->sh->ejections_active);
    uint32_t a = atomic_load_explicit(active, GWLB__RLX);
    int decided = 0;
    for (;;) {
        if (!ejection_allowed(h, a)) {
            gwlb__health_count(h, GWLB__HC_OVERFLOW);
            gwlb__health_unclaim(r);
            return 0;
        }
        if (!decided) {
            uint32_t pct = enforcing_percent(&h->cfg, cause);
            int enforce = pct >= 100 ? 1 : pct == 0 ? 0 : gwlb_rng_below(&h->sh->rng, 100) < pct;
            if (!enforce) {
                gwlb__health_unclaim(r);
                return 0;
            }
            decided = 1;
        }
        if (atomic_compare_exchange_weak_explicit(active, &a, a + 1, GWLB__RLX, GWLB__RLX))
            break;
    }
    const gwlb_health_config *c = &h->cfg;
    uint64_t jitter = 0;
    if (c->max_ejection_jitter_ns > 0)
        jitter = gwlb_rng_below(&h->sh->rng, c->max_ejection_jitter_ns + 1);
    atomic_store_explicit(GWLB__A64(&r->last_ejection_ns), now, GWLB__RLX);
    atomic_store_explicit(GWLB__A64(&r->eject_jitter_ns), jitter, GWLB__RLX);
    uint32_t b = atomic_load_explicit(GWLB__A32(&r->backoff), GWLB__RLX);
    /* Envoy: grow while backoff * base < max + base, i.e. (b - 1) * base < max. */
    if (b == 0 || (uint64_t)(b - 1) <= (c->max_ejection_time_ns - 1) / c->base_ejection_time_ns)
        atomic_store_explicit(GWLB__A32(&r->backoff), b + 1, GWLB__RLX);
    atomic_fetch_add_explicit(GWLB__A32(&r->ejections), 1, GWLB__RLX);
    atomic_store_explicit(GWLB__A32(&r->eject_cause), cause, GWLB__RLX);
    gwlb__health_count(h, GWLB__HC_ENFORCED_TOTAL);
    gwlb__health_count(h, detected_slot(cause) + (GWLB__HC_ENFORCED_5XX - GWLB__HC_DETECTED_5XX));
    gwlb__health_reasons_update(h, host, GWLB_HOST_EJECTED, 0, cause, now);
    gwlb__health_unclaim(r);
    return 1;
}

void gwlb__health_uneject_locked(gwlb_health *h, uint32_t host, uint32_t cause, uint64_t now)
{
    gwlb__health_host *r = &h->hosts[host];
    atomic_fetch_sub_explicit(GWLB__A32(&h->sh->ejections_active), 1, GWLB__RLX);
    atomic_store_explicit(GWLB__A32(&r->consec_5xx), 0, GWLB__RLX);
    atomic_store_explicit(GWLB__A32(&r->consec_gw), 0, GWLB__RLX);
    atomic_store_explicit(GWLB__A32(&r->consec_local), 0, GWLB__RLX);
    atomic_store_explicit(GWLB__A64(&r->last_unejection_ns), now, GWLB__RLX);
    gwlb__health_count(h, GWLB__HC_UNEJECTIONS);
    gwlb__health_reasons_update(h, host, 0, GWLB_HOST_EJECTED, cause, now);
}

/* ---- passive outcomes ------------------------------------------------------- */

/* Only needed for Envoy's no_traffic_interval; skipped otherwise so the hot
 * path touches nothing but the host's own record. */
static inline void mark_traffic(gwlb_health *h)
{
    if (h->cfg.no_traffic_interval_ns == 0)
        return;
    _Atomic uint32_t *t = GWLB__A32(&h->sh->traffic_seen);
    if (GWLB__UNLIKELY(atomic_load_explicit(t, GWLB__RLX) == 0))
        atomic_store_explicit(t, 1, GWLB__RLX);
}

static inline void reset_counter(uint32_t *p)
{
    if (atomic_load_explicit(GWLB__A32(p), GWLB__RLX) != 0)
        atomic_store_explicit(GWLB__A32(p), 0, GWLB__RLX);
}

/* After an ejection attempt for a consecutive cause, Envoy resets that counter
 * (unless the host was already ejected). */
static void consecutive_hit(gwlb_health *h, uint32_t host, uint32_t *counter, uint32_t cause,
                            uint64_t now)
{
    if (atomic_load_explicit(GWLB__A32(&h->hosts[host].reasons), GWLB__RLX) & GWLB_HOST_EJECTED)
        return;
    gwlb__health_eject(h, host, cause, now);
    atomic_store_explicit(GWLB__A32(counter), 0, GWLB__RLX);
}

static void put_status(gwlb_health *h, uint32_t host, uint32_t status, uint64_t now)
{
    gwlb__health_host *r = &h->hosts[host];
    const gwlb_health_config *c = &h->cfg;
    if (status >= 500) {
        atomic_fetch_add_explicit(GWLB__A64(&r->bucket), BUCKET_REQUEST, GWLB__RLX);
        if (status >= 502 && status <= 504) {
            uint32_t g = atomic_fetch_add_explicit(GWLB__A32(&r->consec_gw), 1, GWLB__RLX) + 1;
            if (GWLB__UNLIKELY(g == c->consecutive_gateway_failure))
                consecutive_hit(h, host, &r->consec_gw,
                                GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE, now);
        } else {
            reset_counter(&r->consec_gw);
        }
        uint32_t x = atomic_fetch_add_explicit(GWLB__A32(&r->consec_5xx), 1, GWLB__RLX) + 1;
        if (GWLB__UNLIKELY(x == c->consecutive_5xx))
            consecutive_hit(h, host, &r->consec_5xx, GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX, now);
    } else {
        atomic_fetch_add_explicit(GWLB__A64(&r->bucket), BUCKET_REQUEST + 1, GWLB__RLX);
        reset_counter(&r->consec_5xx);
        reset_counter(&r->consec_gw);
    }
}

int gwlb_health_report_status(gwlb_health *h, uint32_t host, uint32_t status, uint64_t now)
{
    if (GWLB__UNLIKELY(h == NULL))
        return GWLB_EINVAL;
    if (GWLB__UNLIKELY(host >= h->n))
        return GWLB_EUNKNOWN;
    if (GWLB__UNLIKELY(status < 100 || status > 599))
        return GWLB_ERANGE;
    mark_traffic(h);
    put_status(h, host, status, now);
    return GWLB_OK;
}

int gwlb_health_report_local(gwlb_health *h, uint32_t host, uint32_t result, uint64_t now)
{
    if (h == NULL)
        return GWLB_EINVAL;
    if (host >= h->n)
        return GWLB_EUNKNOWN;
    if (result < GWLB_LOCAL_CONNECT_FAILED || result > GWLB_LOCAL_SUCCESS_FINAL)
        return GWLB_ERANGE;
    mark_traffic(h);
    gwlb__health_host *r = &h->hosts[host];
    if (!h->cfg.split_local_origin_errors) {
        /* Envoy's mapping when origins are not split. */
        if (result == GWLB_LOCAL_CONNECT_FAILED)
            put_status(h, host, 503, now);
        else if (result == GWLB_LOCAL_TIMEOUT)
            put_status(h, host, 504, now);
        else if (result == GWLB_LOCAL_SUCCESS_FINAL)
            put_status(h, host, 200, now);
        return GWLB_OK;
    }
    if (result == GWLB_LOCAL_CONNECT_FAILED || result == GWLB_LOCAL_TIMEOUT) {
        uint32_t x = atomic_fetch_add_explicit(GWLB__A32(&r->consec_local), 1, GWLB__RLX) + 1;
        if (x == h->cfg.consecutive_local_origin_failure)
            consecutive_hit(h, host, &r->consec_local,
                            GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE, now);
    } else {
        reset_counter(&r->consec_local);
    }
    return GWLB_OK;
}

/* ---- admin and reads ----------------------------------------------------------- */

int gwlb_health_admin_update(gwlb_health *h, uint32_t host, uint32_t set, uint32_t clear,
                             uint64_t now)
{
    if (h == NULL || ((set | clear) & ~(uint32_t)GWLB_HEALTH_ADMIN_MASK) != 0 || (set & clear) != 0)
        return GWLB_EINVAL;
    if (host >= h->n)
        return GWLB_EUNKNOWN;
    now = gwlb__health_clamp_now(h, now);
    gwlb__health_reasons_update(h, host, set, clear, GWLB_HEALTH_CAUSE_ADMIN, now);
    return GWLB_OK;
}

int gwlb_health_host_flags(const gwlb_health *h, uint32_t host, uint32_t *flags)
{
    if (h == NULL || flags == NULL)
        return GWLB_EINVAL;
    if (host >= h->n)
        return GWLB_EUNKNOWN;
    *flags = gwlb__health_published(
        atomic_load_explicit(GWLB__A32(&h->hosts[host].reasons), memory_order_acquire));
    return GWLB_OK;
}

int gwlb_health_host_get(const gwlb_health *h, uint32_t host, gwlb_health_host_info *o)
{
    if (h == NULL || o == NULL)
        return GWLB_EINVAL;
    if (host >= h->n)
        return GWLB_EUNKNOWN;
    gwlb__health_host *r = &h->hosts[host];
    memset(o, 0, sizeof *o);
    o->flags = gwlb__health_published(
        atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire));
    o->health = atomic_load_explicit(GWLB__A32(&r->health), GWLB__RLX);
    o->active_up = o->health >= h->cfg.rise;
    o->weight_percent = (int32_t)atomic_load_explicit(GWLB__A32(&r->weight_percent), GWLB__RLX);
    o->consecutive_5xx = atomic_load_explicit(GWLB__A32(&r->consec_5xx), GWLB__RLX);
    o->consecutive_gateway_failure = atomic_load_explicit(GWLB__A32(&r->consec_gw), GWLB__RLX);
    o->consecutive_local_origin_failure =
        atomic_load_explicit(GWLB__A32(&r->consec_local), GWLB__RLX);
    o->ejection_backoff = atomic_load_explicit(GWLB__A32(&r->backoff), GWLB__RLX);
    o->ejections = atomic_load_explicit(GWLB__A32(&r->ejections), GWLB__RLX);
    o->ejection_cause = atomic_load_explicit(GWLB__A32(&r->eject_cause), GWLB__RLX);
    o->last_ejection_ns = atomic_load_explicit(GWLB__A64(&r->last_ejection_ns), GWLB__RLX);
    o->last_unejection_ns = atomic_load_explicit(GWLB__A64(&r->last_unejection_ns), GWLB__RLX);
    o->ejection_jitter_ns = atomic_load_explicit(GWLB__A64(&r->eject_jitter_ns), GWLB__RLX);
    o->next_probe_ns = atomic_load_explicit(GWLB__A64(&r->next_probe_ns), GWLB__RLX);
    o->last_probe_latency_ns = atomic_load_explicit(GWLB__A64(&r->last_latency_ns), GWLB__RLX);
    uint64_t b = atomic_load_explicit(GWLB__A64(&r->bucket), GWLB__RLX);
    o->interval_requests = b >> 32;
    o->interval_successes = b & UINT32_MAX;
    return GWLB_OK;
}

int gwlb_health_stats_get(const gwlb_health *h, gwlb_health_stats *o)
{
    if (h == NULL || o == NULL)
        return GWLB_EINVAL;
    memset(o, 0, sizeof *o);
#define C(slot) atomic_load_explicit(GWLB__A64(&h->sh->counters[slot]), GWLB__RLX)
    o->ejections_active = atomic_load_explicit(GWLB__A32(&h->sh->ejections_active), GWLB__RLX);
    o->ejections_enforced_total = C(GWLB__HC_ENFORCED_TOTAL);
    o->ejections_detected_consecutive_5xx = C(GWLB__HC_DETECTED_5XX);
    o->ejections_detected_consecutive_gateway_failure = C(GWLB__HC_DETECTED_GW);
    o->ejections_detected_consecutive_local_origin_failure = C(GWLB__HC_DETECTED_LOCAL);
    o->ejections_detected_success_rate = C(GWLB__HC_DETECTED_SR);
    o->ejections_detected_failure_percentage = C(GWLB__HC_DETECTED_FP);
    o->ejections_enforced_consecutive_5xx = C(GWLB__HC_ENFORCED_5XX);
    o->ejections_enforced_consecutive_gateway_failure = C(GWLB__HC_ENFORCED_GW);
    o->ejections_enforced_consecutive_local_origin_failure = C(GWLB__HC_ENFORCED_LOCAL);
    o->ejections_enforced_success_rate = C(GWLB__HC_ENFORCED_SR);
    o->ejections_enforced_failure_percentage = C(GWLB__HC_ENFORCED_FP);
    o->ejections_overflow = C(GWLB__HC_OVERFLOW);
    o->unejections = C(GWLB__HC_UNEJECTIONS);
    o->probes_sent = C(GWLB__HC_PROBES_SENT);
    o->probe_passes = C(GWLB__HC_PROBE_PASSES);
    o->probe_failures = C(GWLB__HC_PROBE_FAILURES);
    o->active_down_transitions = C(GWLB__HC_DOWN);
    o->active_up_transitions = C(GWLB__HC_UP);
    o->outlier_runs = C(GWLB__HC_RUNS);
    o->events_dropped = C(GWLB__HC_DROPPED);
    o->time_clamps = C(GWLB__HC_CLAMPS);
#undef C
    for (uint32_t i = 0; i < h->n; i++) {
        uint32_t f = gwlb__health_published(
            atomic_load_explicit(GWLB__A32(&h->hosts[i].reasons), GWLB__RLX));
        if (f & GWLB_HOST_INELIGIBLE_MASK)
            o->hosts_ineligible++;
        else if (f & GWLB_HOST_DEGRADED)
            o->hosts_degraded++;
        else
            o->hosts_eligible++;
    }
    /* Envoy's isHostSetInPanic with the default threshold, one level:
     * 100 x healthy / total + 100 x degraded / total < 50 */
    o->panic = (uint64_t)(o->hosts_eligible + o->hosts_degraded) * 2 < h->n;
    return GWLB_OK;
}
