/*
 * Feeding the balancer: copy each host's published health flags into the
 * balancer's per-host flags word, writing only where they differ (a write
 * bumps the balancer's flags epoch and invalidates its cached priority /
 * panic loads).
 */
#include "gwlb/balancer.h"
#include "health_internal.h"

static int sync_one(const gwlb_health *h, const gwlb_balancer *bal, uint32_t i, int *changed)
{
    uint32_t want = gwlb__health_published(
        atomic_load_explicit(GWLB__A32(&h->hosts[i].reasons), memory_order_acquire));
    uint32_t have = 0;
    int rc = gwlb_balancer_host_flags(bal, i, &have);
    if (rc != GWLB_OK)
        return rc;
    *changed = have != want;
    if (have == want)
        return GWLB_OK;
    return gwlb_balancer_host_flags_update(bal, i, want & ~have, have & ~want);
}

int gwlb_health_apply_to_balancer(const gwlb_health *h, const gwlb_balancer *bal,
                                  uint32_t *changed)
{
    if (h == NULL || bal == NULL)
        return GWLB_EINVAL;
    uint32_t n = gwlb_balancer_host_count(bal);
    if (n > h->n)
        n = h->n;
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        int c = 0;
        int rc = sync_one(h, bal, i, &c);
        if (rc != GWLB_OK)
            return rc;
        count += (uint32_t)c;
    }
    if (changed != NULL)
        *changed = count;
    return GWLB_OK;
}

int gwlb_health_apply_host(const gwlb_health *h, const gwlb_balancer *bal, uint32_t host)
{
    if (h == NULL || bal == NULL)
        return GWLB_EINVAL;
    if (host >= h->n || host >= gwlb_balancer_host_count(bal))
        return GWLB_EUNKNOWN;
    int c;
    return sync_one(h, bal, host, &c);
}
