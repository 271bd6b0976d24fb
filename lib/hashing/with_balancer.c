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
    uint64_t now;
} bal_ctx;

static int bal_usable(void *ctx, uint32_t host)
{
    const bal_ctx *c = ctx;
    return gwlb__balancer_usable(c->bal, host, c->now);
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

int gwlb_hash_balancer_pick(const gwlb_hash_table *table, const gwlb_balancer *bal,
                            uint64_t now, const void *key, size_t key_len,
                            gwlb_hash_attempt *attempt, gwlb_balancer_result *out)
{
    if (table == NULL || bal == NULL || attempt == NULL || out == NULL)
        return GWLB_EINVAL;
    if (gwlb__balancer_count(bal) != table->count)
        return GWLB_ECONFLICT;
    bal_ctx c = {bal, now};
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
