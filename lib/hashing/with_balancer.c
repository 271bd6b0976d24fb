/*
 * Hash tables on top of the balancer's host table: build a table over a
 * balancer's hosts (same indices, identities, weights), and pick through
 * the balancer so eligibility is the balancer's (health flags, nginx
 * max_fails/fail_timeout, max in-flight), the chosen host is counted in
 * flight in the shared runtime state, and the nginx algorithms fall back to
 * the balancer's nginx smooth weighted round robin over untried hosts
 * exactly where nginx calls ngx_http_upstream_get_round_robin_peer.
 */
#include <string.h>

#include "balancer/balancer_internal.h"
#include "hashing_internal.h"

int gwlb_hash_table_new_from_balancer(gwlb_hash_table **out, const gwlb_hash_config *config,
                                      const gwlb_balancer *bal, const gwlb_allocator *allocator,
                                      gwlb_error_detail *detail)
{
    if (out == NULL || config == NULL || bal == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL argument");
    uint32_t n = gwlb__balancer_count(bal);
    if (n == 0)
        return gwlb__detail(detail, GWLB_EMPTY, -1, -1, -1, "hosts", "no hosts");
    gwlb_allocator a;
    gwlb__allocator_resolve(&a, allocator);
    size_t bytes = (size_t)n * sizeof(gwlb_hash_host);
    gwlb_hash_host *hosts = gwlb__alloc(&a, bytes);
    if (hosts == NULL)
        return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        hosts[i].identity = gwlb__balancer_identity(bal, i, &len);
        hosts[i].identity_len = (uint32_t)len;
        hosts[i].weight = gwlb__balancer_weight(bal, i);
    }
    int rc = gwlb_hash_table_new(out, config, hosts, n, allocator, detail);
    gwlb__free(&a, hosts, bytes);
    return rc;
}

typedef struct bal_ctx {
    const gwlb_balancer *bal;
    const gwlb_hash_table *table;
    uint64_t now;
    uint64_t scaled_total; /* bounded load: (T + 1) * factor, 0 = off */
    uint64_t denominator;  /* 100 * total weight */
} bal_ctx;

__extension__ typedef unsigned __int128 u128;

static int bal_usable(void *ctx, uint32_t host)
{
    const bal_ctx *c = ctx;
    if (!gwlb__balancer_usable(c->bal, host, c->now))
        return 0;
    if (c->scaled_total != 0) { /* full iff in * 100 W >= (T + 1) * factor * w */
        uint64_t in = gwlb__ld32(&gwlb__balancer_slotp(c->bal, host)->in_flight);
        if ((u128)in * c->denominator >= (u128)c->scaled_total * c->table->weight[host])
            return 0;
    }
    return 1;
}

/* nginx `hash ... consistent` runs its SWRR step over the peers sharing the
 * chosen server name; with unique identities the only lasting effect is
 * effective_weight recovering by one toward weight. */
static void nginx_chash_recover(const gwlb_balancer *bal, uint32_t host)
{
    gwlb__bslot *s = gwlb__balancer_slotp(bal, host);
    int32_t w = (int32_t)gwlb__ld32(&s->weight);
    int32_t e = atomic_load_explicit(GWLB__AI32(&s->effective_weight), memory_order_relaxed);
    while (e < w && !atomic_compare_exchange_weak_explicit(GWLB__AI32(&s->effective_weight), &e,
                                                           e + 1, memory_order_relaxed,
                                                           memory_order_relaxed)) {
    }
}

static int balancer_pick(const gwlb_hash_table *table, const gwlb_balancer *bal, uint64_t now,
                         const void *key, size_t key_len, gwlb_hash_attempt *attempt,
                         uint32_t factor_percent, gwlb_balancer_result *out)
{
    if (table == NULL || bal == NULL || attempt == NULL || out == NULL)
        return GWLB_EINVAL;
    if (gwlb__balancer_count(bal) != table->count)
        return GWLB_ECONFLICT;
    bal_ctx c = {bal, table, now, 0, 0};
    if (factor_percent != 0) {
        uint64_t total = 0; /* the balancer keeps no running sum: O(n) */
        for (uint32_t i = 0; i < table->count; i++)
            total += gwlb__ld32(&gwlb__balancer_slotp(bal, i)->in_flight);
        if (total >= UINT32_MAX)
            total = UINT32_MAX - 1;
        c.scaled_total = (total + 1) * factor_percent;
        c.denominator = 100 * table->total_weight;
    }
    int nginx = table->algorithm <= GWLB_HASH_NGINX_CONSISTENT;
    for (;;) {
        uint32_t host;
        int rc = gwlb_hash_table_pick(table, key, key_len, attempt, bal_usable, &c, &host);
        if (rc == GWLB_OK) {
            if (gwlb__balancer_take(bal, host, now, out) != GWLB_OK)
                continue; /* reached max in-flight since the check: next candidate */
            if (table->algorithm == GWLB_HASH_NGINX_CONSISTENT)
                nginx_chash_recover(bal, host);
            return GWLB_OK;
        }
        /* nginx: an empty key also means round robin */
        if (nginx && (rc == GWLB_HASH_USE_ROUND_ROBIN ||
                      (rc == GWLB_EMPTY && table->algorithm != GWLB_HASH_NGINX_IP))) {
            if ((uint64_t)attempt->tried_words * 64 < table->count)
                return GWLB_ENOSPC;
            uint64_t *w = attempt->tried != NULL ? attempt->tried : attempt->inline_tried;
            rc = gwlb__balancer_nginx_rr(bal, now, w, attempt->tried_words, out);
            if (rc == GWLB_OK) {
                w[out->host_index >> 6] |= UINT64_C(1) << (out->host_index & 63);
                attempt->picks++;
            }
            return rc;
        }
        return rc;
    }
}

int gwlb_hash_balancer_pick(const gwlb_hash_table *table, const gwlb_balancer *bal,
                            uint64_t now, const void *key, size_t key_len,
                            gwlb_hash_attempt *attempt, gwlb_balancer_result *out)
{
    return balancer_pick(table, bal, now, key, key_len, attempt, 0, out);
}

int gwlb_hash_balancer_pick_bounded(const gwlb_hash_table *table, const gwlb_balancer *bal,
                                    uint64_t now, const void *key, size_t key_len,
                                    gwlb_hash_attempt *attempt, uint32_t factor_percent,
                                    gwlb_balancer_result *out)
{
    if (table == NULL || bal == NULL || attempt == NULL || out == NULL)
        return GWLB_EINVAL;
    if (factor_percent < GWLB_HASH_BALANCE_FACTOR_MIN ||
        factor_percent > GWLB_HASH_BALANCE_FACTOR_MAX)
        return GWLB_ERANGE;
    if (table->algorithm <= GWLB_HASH_NGINX_CONSISTENT)
        return GWLB_ENOTSUP;
    return balancer_pick(table, bal, now, key, key_len, attempt, factor_percent, out);
}
