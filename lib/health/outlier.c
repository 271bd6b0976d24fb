/*
 * The outlier-detection pass (Envoy DetectorImpl::onIntervalTimer), run by
 * the host once per interval.
 *
 *   1. per host: uneject if min(base x backoff, max) + jitter has elapsed
 *      since its ejection; close the interval's request bucket (swap to 0);
 *   2. success rate: among non-ejected hosts with >= request_volume requests
 *      (at least minimum_hosts of them), threshold = mean - factor/1000 x
 *      population stdev of their success rates; eject those below it;
 *   3. failure percentage: among non-ejected hosts with >= its volume (at
 *      least its minimum hosts), eject those with 100 - rate >= threshold;
 *   4. per non-ejected host unejected at least one interval ago: backoff - 1.
 *
 * Success rates are doubles computed exactly as Envoy does (successes x
 * 100.0 / total), so the published vectors reproduce bit for bit. The pass
 * keeps the closed intervals in two compact scratch arrays of the handle
 * (allocated at create, so the pass allocates nothing); a shared try-lock
 * makes one pass run at a time across threads and processes.
 */
#include "health_internal.h"

#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* Dekker's product below needs unfused multiplies */
#endif

/* x * x - v, computed exactly enough to compare neighbours (Dekker's product). */
static double square_residual(double x, double v)
{
    double c = 134217729.0 * x; /* 2^27 + 1 */
    double hi = c - (c - x), lo = x - hi;
    double p = x * x;
    double e = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo;
    return (p - v) + e;
}

static double next_double(double x, int up)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    b = up ? b + 1 : b - 1; /* x > 0 */
    memcpy(&x, &b, sizeof b);
    return x;
}

/* Square root without libm: Newton's iteration from above (monotone, so it
 * terminates), then the neighbour whose square is nearest v. Exact for
 * perfect squares; the correctly rounded root otherwise except possibly at
 * near-halfway cases. 0 for v <= 0 or NaN. */
double gwlb__health_sqrt(double v)
{
    if (!(v > 0.0) || v > 1.7e308)
        return v > 1.7e308 ? v : 0.0;
    double x = v >= 1.0 ? v : 1.0;
    for (int i = 0; i < 2100; i++) {
        double next = 0.5 * (x + v / x);
        if (!(next < x))
            break;
        x = next;
    }
    double best = x, r = square_residual(x, v);
    double cand[2] = {next_double(x, 0), next_double(x, 1)};
    for (int i = 0; i < 2; i++) {
        double rc = square_residual(cand[i], v);
        if ((rc < 0 ? -rc : rc) < (r < 0 ? -r : r)) {
            best = cand[i];
            r = rc;
        }
    }
    return best;
}

static uint64_t ejection_duration(const gwlb_health_config *c, uint32_t backoff)
{
    /* min(base x backoff, max) without overflow */
    if (backoff > c->max_ejection_time_ns / c->base_ejection_time_ns)
        return c->max_ejection_time_ns;
    uint64_t t = c->base_ejection_time_ns * backoff;
    return t < c->max_ejection_time_ns ? t : c->max_ejection_time_ns;
}

int gwlb_health_outlier_run(gwlb_health *h, uint64_t now, gwlb_health_outlier_report *report)
{
    if (h == NULL)
        return GWLB_EINVAL;
    uint32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(GWLB__A32(&h->sh->run_lock), &zero, 1,
                                                 memory_order_acquire, GWLB__RLX))
        return GWLB_EBUSY;
    now = gwlb__health_clamp_now(h, now);
    gwlb__health_count(h, GWLB__HC_RUNS);
    const gwlb_health_config *c = &h->cfg;
    gwlb_health_outlier_report rep = {.success_rate_mean = -1, .success_rate_threshold = -1};
    const uint32_t n = h->n;
    const uint64_t sr_vol = c->success_rate_request_volume;
    const uint64_t fp_vol = c->failure_percentage_request_volume;
    double *rate = h->pass_rate;
    uint64_t *total = h->pass_total;
    double sum = 0;

    /* 1. unejection, interval close, success rates (Envoy: successes x 100.0 / total) */
    for (uint32_t i = 0; i < n; i++) {
        gwlb__health_host *r = &h->hosts[i];
        uint32_t reasons = atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire);
        if ((reasons & GWLB_HOST_EJECTED) && gwlb__health_claim(r)) {
            reasons = atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire);
            if (reasons & GWLB_HOST_EJECTED) {
                uint64_t since = atomic_load_explicit(GWLB__A64(&r->last_ejection_ns), GWLB__RLX);
                uint64_t jit = atomic_load_explicit(GWLB__A64(&r->eject_jitter_ns), GWLB__RLX);
                uint32_t b = atomic_load_explicit(GWLB__A32(&r->backoff), GWLB__RLX);
                uint64_t need = ejection_duration(c, b) + jit; /* both <= 2^62 */
                uint64_t elapsed = now >= since ? now - since : 0;
                if (need <= elapsed) {
                    gwlb__health_uneject_locked(h, i, GWLB_HEALTH_CAUSE_UNEJECT, now);
                    rep.unejected++;
                    reasons &= ~(uint32_t)GWLB_HOST_EJECTED;
                }
            }
            gwlb__health_unclaim(r);
        }
        uint64_t closed = atomic_exchange_explicit(GWLB__A64(&r->bucket), 0, GWLB__RLX);
        uint64_t t = closed >> 32;
        /* Ejected hosts, and hosts without requests, take no part this pass. */
        if ((reasons & GWLB_HOST_EJECTED) || t == 0) {
            total[i] = 0;
            rate[i] = -1;
            continue;
        }
        total[i] = t;
        rate[i] = (double)(closed & UINT32_MAX) * 100.0 / (double)t;
        if (t >= sr_vol) {
            rep.success_rate_hosts++;
            sum += rate[i];
        }
        if (t >= fp_vol)
            rep.failure_percentage_hosts++;
    }

    int detect = !(n < c->success_rate_minimum_hosts && n < c->failure_percentage_minimum_hosts);
    /* 2. success rate: mean - factor/1000 x population stdev */
    if (detect && rep.success_rate_hosts > 0 &&
        rep.success_rate_hosts >= c->success_rate_minimum_hosts) {
        double mean = sum / rep.success_rate_hosts;
        double var = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (total[i] >= sr_vol && total[i] != 0) {
                double d = rate[i] - mean;
                var += d * d;
            }
        }
        var /= rep.success_rate_hosts;
        double thr = mean - (c->success_rate_stdev_factor / 1000.0) * gwlb__health_sqrt(var);
        rep.success_rate_mean = mean;
        rep.success_rate_threshold = thr;
        for (uint32_t i = 0; i < n; i++) {
            if (total[i] >= sr_vol && total[i] != 0 && rate[i] < thr)
                rep.ejected +=
                    (uint32_t)gwlb__health_eject(h, i, GWLB_HEALTH_CAUSE_SUCCESS_RATE, now);
        }
    }

    /* 3. failure percentage, then 4. backoff decay of hosts that stayed in
     * service a full interval (host by host: its own ejections are decided first) */
    int fp = detect && rep.failure_percentage_hosts > 0 &&
             rep.failure_percentage_hosts >= c->failure_percentage_minimum_hosts;
    const double fp_thr = c->failure_percentage_threshold;
    for (uint32_t i = 0; i < n; i++) {
        if (fp && total[i] >= fp_vol && total[i] != 0 && 100.0 - rate[i] >= fp_thr)
            rep.ejected +=
                (uint32_t)gwlb__health_eject(h, i, GWLB_HEALTH_CAUSE_FAILURE_PERCENTAGE, now);
        gwlb__health_host *r = &h->hosts[i];
        if (atomic_load_explicit(GWLB__A32(&r->backoff), GWLB__RLX) == 0)
            continue;
        if (atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire) & GWLB_HOST_EJECTED)
            continue;
        uint64_t un = atomic_load_explicit(GWLB__A64(&r->last_unejection_ns), GWLB__RLX);
        if (un == UINT64_MAX || now < un || now - un < c->interval_ns)
            continue;
        if (!gwlb__health_claim(r))
            continue;
        if (!(atomic_load_explicit(GWLB__A32(&r->reasons), memory_order_acquire) &
              GWLB_HOST_EJECTED)) {
            uint32_t b = atomic_load_explicit(GWLB__A32(&r->backoff), GWLB__RLX);
            if (b != 0)
                atomic_store_explicit(GWLB__A32(&r->backoff), b - 1, GWLB__RLX);
        }
        gwlb__health_unclaim(r);
    }

    atomic_store_explicit(GWLB__A32(&h->sh->run_lock), 0, memory_order_release);
    if (report != NULL)
        *report = rep;
    return GWLB_OK;
}
