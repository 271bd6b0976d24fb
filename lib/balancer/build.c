/*
 * Building a balancer: defaults, validation (every bad input is rejected
 * before the state is touched), compilation of the host list into groups
 * (priority levels 0..7, then backups) with per-algorithm tables (stride
 * weights, alias tables), the identity index, and slot claims in the
 * shared state. A built balancer never changes; gwlb_balancer_free drops
 * its slot references.
 */
#include <string.h>

#include "balancer_internal.h"

__extension__ typedef unsigned __int128 u128;

#define STRIDE_ONE (UINT32_C(1) << 24)

void gwlb_balancer_host_init(gwlb_balancer_host *host, const char *identity)
{
    if (host == NULL)
        return;
    memset(host, 0, sizeof *host);
    host->identity = identity;
    host->weight = 1;
    host->max_fails = 1;
    host->fail_timeout_ns = 10 * GWLB_NS_PER_SEC;
}

void gwlb_balancer_config_init(gwlb_balancer_config *config, gwlb_balancer_algorithm algorithm)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof *config);
    config->struct_size = (uint32_t)sizeof *config;
    config->algorithm = (uint32_t)algorithm;
    config->start_mode = GWLB_BALANCER_START_RANDOM;
    config->choice_count = 2;
    config->overprovisioning_factor = 140;
    /* nginx algorithms follow nginx: no panic routing to unhealthy hosts */
    config->panic_threshold = (algorithm == GWLB_BALANCER_NGINX_ROUND_ROBIN ||
                               algorithm == GWLB_BALANCER_LEAST_CONN)
                                  ? 0
                                  : 50;
    config->active_request_bias = 1.0;
    config->ewma_decay_ns = 10 * GWLB_NS_PER_SEC;
    config->ewma_initial_rtt_ns = 30 * GWLB_NS_PER_MS;
    config->slow_start_aggression = 1.0;
    config->slow_start_min_weight_percent = 10.0;
}

static int is_finite(double x)
{
    return x == x && x - x == 0.0;
}

static int check_config(const gwlb_balancer_config *c, gwlb_error_detail *d)
{
    if (c->struct_size != sizeof *c)
        return gwlb__detail(d, GWLB_EINVAL, -1, -1, -1, "struct_size",
                            "config not initialised with gwlb_balancer_config_init");
    if (c->algorithm > GWLB_BALANCER_RANDOM_TWO_CHOICES)
        return gwlb__detail(d, GWLB_EINVAL, -1, -1, -1, "algorithm", "unknown algorithm %u",
                            (unsigned)c->algorithm);
    if (c->start_mode > GWLB_BALANCER_START_FIXED)
        return gwlb__detail(d, GWLB_EINVAL, -1, -1, -1, "start_mode", "unknown start mode");
    if (c->reserved != 0)
        return gwlb__detail(d, GWLB_EINVAL, -1, -1, -1, "reserved", "reserved must be 0");
    if (c->choice_count < 2 || c->choice_count > GWLB_BALANCER_CHOICES_MAX)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "choice_count",
                            "choice_count must be 2..%u", GWLB_BALANCER_CHOICES_MAX);
    if (c->full_scan > 1)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "full_scan", "full_scan must be 0 or 1");
    if (!(c->active_request_bias >= 0.0 && c->active_request_bias <= 16.0))
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "active_request_bias",
                            "bias must be a number in 0..16");
    if (c->ewma_decay_ns == 0)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "ewma_decay_ns", "decay must be > 0");
    if (!(c->slow_start_aggression > 0.0) || !is_finite(c->slow_start_aggression))
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "slow_start_aggression",
                            "aggression must be a finite number > 0");
    if (!(c->slow_start_min_weight_percent >= 0.0 && c->slow_start_min_weight_percent <= 100.0))
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "slow_start_min_weight_percent",
                            "min weight percent must be 0..100");
    if (c->overprovisioning_factor == 0 || c->overprovisioning_factor > 1000)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "overprovisioning_factor",
                            "overprovisioning factor must be 1..1000 (percent)");
    if (c->panic_threshold > 100)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "panic_threshold",
                            "panic threshold must be 0..100 (percent)");
    return GWLB_OK;
}

/* (strlen: the identity is NUL-terminated when identity_len is 0; libc's
 * strlen is several times faster than a byte loop, which showed in builds
 * of 10k hosts) */
static size_t host_id_len(const gwlb_balancer_host *h)
{
    return h->identity_len != 0 ? h->identity_len : strlen(h->identity);
}

static int check_host(const gwlb_balancer_host *h, int32_t i, gwlb_error_detail *d,
                      uint32_t *len_out)
{
    if (h->identity == NULL)
        return gwlb__detail(d, GWLB_EINVAL, i, -1, -1, "identity", "host %d has no identity",
                            (int)i);
    size_t len = host_id_len(h);
    if (len == 0)
        return gwlb__detail(d, GWLB_EMPTY, i, -1, -1, "identity", "host %d: empty identity",
                            (int)i);
    if (len > GWLB_BALANCER_IDENTITY_MAX)
        return gwlb__detail(d, GWLB_ETOOLONG, i, -1, -1, "identity",
                            "host %d: identity longer than %u bytes", (int)i,
                            GWLB_BALANCER_IDENTITY_MAX);
    if (h->weight == 0 || h->weight > GWLB_BALANCER_WEIGHT_MAX)
        return gwlb__detail(d, GWLB_EWEIGHT, i, -1, -1, "weight",
                            "host %d: weight %u not in 1..%u", (int)i, (unsigned)h->weight,
                            GWLB_BALANCER_WEIGHT_MAX);
    if (h->priority > GWLB_BALANCER_PRIORITY_MAX)
        return gwlb__detail(d, GWLB_ERANGE, i, -1, -1, "priority",
                            "host %d: priority %u not in 0..%u", (int)i,
                            (unsigned)h->priority, GWLB_BALANCER_PRIORITY_MAX);
    if (h->backup > 1)
        return gwlb__detail(d, GWLB_ERANGE, i, -1, -1, "backup", "host %d: backup must be 0 or 1",
                            (int)i);
    if (h->reserved != 0)
        return gwlb__detail(d, GWLB_EINVAL, i, -1, -1, "reserved",
                            "host %d: reserved must be 0", (int)i);
    *len_out = (uint32_t)len;
    return GWLB_OK;
}

/*
 * The identity index is immutable once built, so a rebuild that keeps every
 * identity at its index shares its predecessor's instead of copying it: a
 * reference count (atomic: balancers are freed from any thread) sits in the
 * two words before the table.
 */
static uint32_t *index_alloc(gwlb_balancer *b, uint32_t isz)
{
    uint32_t *raw = gwlb__alloc(&b->alloc, ((size_t)isz + 2) * sizeof *raw);
    if (raw == NULL)
        return NULL;
    atomic_store_explicit(GWLB__A32(raw), 1, memory_order_relaxed);
    return raw + 2;
}

static void index_release(const gwlb_allocator *a, uint32_t *index, uint32_t mask)
{
    if (index == NULL)
        return;
    uint32_t *raw = index - 2;
    if (atomic_fetch_sub_explicit(GWLB__A32(raw), 1, memory_order_acq_rel) == 1)
        gwlb__free(a, raw, ((size_t)mask + 1 + 2) * sizeof *raw);
}

static int same_allocator(const gwlb_allocator *x, const gwlb_allocator *y)
{
    return x->malloc == y->malloc && x->realloc == y->realloc && x->free == y->free &&
           x->user_data == y->user_data;
}

static void balancer_release_memory(gwlb_balancer *b)
{
    gwlb_allocator a = b->alloc;
    uint32_t n = b->n;
    gwlb__free(&a, b->hosts, (size_t)n * sizeof *b->hosts);
    gwlb__free(&a, b->ids, b->ids_size);
    gwlb__free(&a, b->members, (size_t)n * sizeof *b->members);
    gwlb__free(&a, b->picks, (size_t)b->picks_n * sizeof *b->picks);
    gwlb__free(&a, b->alias_prob, (size_t)n * sizeof *b->alias_prob);
    gwlb__free(&a, b->alias_other, (size_t)n * sizeof *b->alias_other);
    gwlb__free(&a, b->strides, (size_t)b->strides_n * sizeof *b->strides);
    index_release(&a, b->index, b->index_mask);
    gwlb__free(&a, b, sizeof *b);
}

/* Vose's alias method with integer arithmetic for one group. */
static void build_alias(gwlb_balancer *b, const gwlb__bgroup *g, uint32_t *small,
                        uint32_t *large, uint64_t *p)
{
    uint32_t c = g->count;
    uint64_t total = g->total_weight;
    uint32_t ns = 0, nl = 0;
    for (uint32_t k = 0; k < c; k++) {
        p[k] = (uint64_t)b->members[g->first + k].weight * c; /* compare with total */
        if (p[k] < total)
            small[ns++] = k;
        else
            large[nl++] = k;
    }
    uint32_t *prob = b->alias_prob + g->first;
    uint32_t *other = b->alias_other + g->first;
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns];
        uint32_t l = large[--nl];
        /* accept s with probability p[s]/total: r32 <= prob */
        uint64_t q; /* ceil(p*2^32/total) */
        if (p[s] < (UINT64_C(1) << 31) && total < (UINT64_C(1) << 32))
            q = ((p[s] << 32) + total - 1) / total; /* fits in 64 bits */
        else
            q = (uint64_t)((((u128)p[s] << 32) + total - 1) / total);
        prob[s] = q == 0 ? 0 : (uint32_t)(q - 1);
        if (q == 0)
            prob[s] = 0; /* p[s] == 0 cannot happen (weights >= 1) */
        other[s] = l;
        p[l] = p[l] + p[s] - total;
        if (p[l] < total)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    while (nl > 0) {
        uint32_t l = large[--nl];
        prob[l] = UINT32_MAX;
        other[l] = l;
    }
    while (ns > 0) { /* rounding leftovers: always accept */
        uint32_t s = small[--ns];
        prob[s] = UINT32_MAX;
        other[s] = s;
    }
}

/* Insert host i into the identity index; UINT32_MAX, or the earlier host it repeats. */
static uint32_t index_insert(gwlb_balancer *b, uint32_t i)
{
    const gwlb__bhost *bh = &b->hosts[i];
    for (uint32_t pos = (uint32_t)bh->key & b->index_mask;; pos = (pos + 1) & b->index_mask) {
        uint32_t e = b->index[pos];
        if (e == 0) {
            b->index[pos] = i + 1;
            return UINT32_MAX;
        }
        const gwlb__bhost *o = &b->hosts[e - 1];
        if (o->key == bh->key && o->id_len == bh->id_len &&
            memcmp(b->ids + o->id_off, b->ids + bh->id_off, bh->id_len) == 0)
            return e - 1;
    }
}

static int compile(gwlb_balancer *b, const gwlb_balancer_host *hosts, const gwlb_balancer *prev,
                   gwlb_error_detail *d)
{
    uint32_t n = b->n;
    /* identities, index, duplicates */
    /* every field of hosts[] and members[] is written below: no zeroing */
    b->hosts = gwlb__alloc(&b->alloc, (size_t)n * sizeof *b->hosts);
    if (b->hosts == NULL)
        return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    /* validation here, so each identity is measured once (the state is
     * not touched before it passes) */
    size_t ids = 0;
    for (uint32_t i = 0; i < n; i++) {
        int rc = check_host(&hosts[i], (int32_t)i, d, &b->hosts[i].id_len);
        if (rc != GWLB_OK)
            return rc;
        ids += b->hosts[i].id_len;
    }
    if (n > b->state->h.capacity)
        return gwlb__detail(d, GWLB_EFULL, -1, -1, -1, "hosts",
                            "%u hosts exceed the state's %u slots", (unsigned)n,
                            (unsigned)b->state->h.capacity);
    b->ids_size = ids;
    b->ids = gwlb__alloc(&b->alloc, ids);
    uint32_t isz = 4;
    while (isz < 2 * n)
        isz <<= 1;
    b->index_mask = isz - 1;
    /* shared with prev when every identity stays at its index (then with
     * prev's allocator: only when it is ours too); else ours, zeroed below */
    int can_share = prev != NULL && prev->n == n && same_allocator(&b->alloc, &prev->alloc);
    b->index = can_share ? NULL : index_alloc(b, isz);
    b->members = gwlb__alloc(&b->alloc, (size_t)n * sizeof *b->members);
    uint32_t alg = b->cfg.algorithm;
    int need_alias = alg == GWLB_BALANCER_RANDOM || alg == GWLB_BALANCER_RANDOM_TWO_CHOICES ||
                     alg == GWLB_BALANCER_LEAST_REQUEST;
    if (need_alias) {
        b->alias_prob = gwlb__calloc(&b->alloc, n, sizeof *b->alias_prob);
        b->alias_other = gwlb__calloc(&b->alloc, n, sizeof *b->alias_other);
    }
    if (b->ids == NULL || (b->index == NULL && !can_share) || b->hosts == NULL ||
        b->members == NULL ||
        (need_alias && (b->alias_prob == NULL || b->alias_other == NULL)))
        return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    size_t off = 0;
    uint32_t count[GWLB__GROUPS] = {0};
    int reused_all = prev != NULL && prev->n == n;
    uint32_t skipped = 0; /* hosts 0..skipped-1 not indexed yet (same as prev's) */
    int index_zeroed = 0;
    for (uint32_t i = 0; i < n; i++) {
        const gwlb_balancer_host *h = &hosts[i];
        gwlb__bhost *bh = &b->hosts[i];
        size_t len = bh->id_len;
        memcpy(b->ids + off, h->identity, len);
        bh->id_off = (uint32_t)off;
        off += len;
        bh->ref = 0;
        const gwlb__bhost *ph = prev != NULL && i < prev->n ? &prev->hosts[i] : NULL;
        if (ph != NULL && ph->id_len == len && ph->ref != GWLB__REF_MOVED &&
            memcmp(prev->ids + ph->id_off, h->identity, len) == 0) {
            /* same identity at the same index: its key and slot carry over */
            bh->key = ph->key;
            bh->slot = ph->slot;
            bh->ref = GWLB__REF_REUSED;
        } else {
            bh->key = gwlb__identity_key(h->identity, len);
            reused_all = 0;
        }
        bh->max_fails = h->max_fails;
        bh->fail_timeout = h->fail_timeout_ns;
        bh->weight = h->weight;
        bh->max_inflight = h->max_inflight;
        bh->user_data = h->user_data;
        bh->priority = h->priority;
        bh->backup = h->backup;
        bh->group = h->backup ? GWLB__GROUP_BACKUP : h->priority;
        count[bh->group]++;
        if (reused_all) { /* identities as prev's so far: its index is ours (below) */
            skipped = i + 1;
            continue;
        }
        if (!index_zeroed) { /* the index is ours to fill: start empty */
            if (b->index == NULL && (b->index = index_alloc(b, isz)) == NULL)
                return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
            memset(b->index, 0, ((size_t)b->index_mask + 1) * sizeof *b->index);
            index_zeroed = 1;
        }
        for (uint32_t j = 0; j < skipped; j++) /* first divergence: index the prefix */
            index_insert(b, j);
        skipped = 0;
        uint32_t dup = index_insert(b, i);
        if (dup != UINT32_MAX)
            return gwlb__detail(d, GWLB_EEXIST, (int32_t)i, (int32_t)dup, -1, "identity",
                                "host %u repeats the identity of host %u", (unsigned)i,
                                (unsigned)dup);
    }
    if (reused_all && can_share) {
        atomic_fetch_add_explicit(GWLB__A32(prev->index - 2), 1, memory_order_relaxed);
        b->index = prev->index;
    } else if (reused_all) {
        memcpy(b->index, prev->index, ((size_t)b->index_mask + 1) * sizeof *b->index);
    }
    /* groups */
    uint32_t first = 0, largest = 0;
    for (uint32_t g = 0; g < GWLB__GROUPS; g++) {
        b->groups[g].first = first;
        b->groups[g].count = 0;
        first += count[g];
        if (count[g] > largest)
            largest = count[g];
        if (g < GWLB__GROUP_BACKUP && count[g] > 0)
            b->levels_used |= 1u << g;
    }
    for (uint32_t i = 0; i < n; i++) {
        gwlb__bgroup *g = &b->groups[b->hosts[i].group];
        gwlb__bmember *m = &b->members[g->first + g->count++];
        m->host = i;
        m->weight = b->hosts[i].weight;
        g->total_weight += m->weight;
        if (m->weight > g->max_weight)
            g->max_weight = m->weight;
    }
    /* level 0 as the clean paths return it (filled in with the slots) and,
     * for WRR, the window tables of the clean path (wrr_mask in pick.c): for
     * i < c0 + 32, member m = i mod c0 of generation offset q = i / c0:
     * strides[i] = its stride, strides[c0 + 32 + i] = (stride × q + m ×
     * golden) mod 2^24 */
    uint32_t c0 = count[0], *sd = NULL, *po = NULL;
    if (c0 > 0) {
        b->picks = gwlb__alloc(&b->alloc, (size_t)c0 * sizeof *b->picks);
        if (b->picks == NULL)
            return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
        b->picks_n = c0;
        if (alg == GWLB_BALANCER_WEIGHTED_ROUND_ROBIN) {
            b->strides = gwlb__alloc(&b->alloc, (size_t)2 * (c0 + 32) * sizeof *b->strides);
            if (b->strides == NULL)
                return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
            b->strides_n = 2 * (c0 + 32);
            sd = b->strides;
            po = b->strides + c0 + 32;
        }
    }
    for (uint32_t gi = 0; gi < GWLB__GROUPS; gi++) {
        gwlb__bgroup *g = &b->groups[gi];
        g->all_equal = 1;
        g->fastmod = g->count > 1 ? UINT64_MAX / g->count + 1 : 0;
        double scale = (double)STRIDE_ONE / (double)(g->max_weight ? g->max_weight : 1);
        for (uint32_t k = 0; k < g->count; k++) {
            gwlb__bmember *m = &b->members[g->first + k];
            if (m->weight == g->max_weight) {
                m->stride = STRIDE_ONE;
            } else {
                uint32_t s = (uint32_t)((double)m->weight * scale);
                m->stride = s == 0 ? 1 : s;
                g->all_equal = 0;
            }
        }
        if (gi == 0 && sd != NULL)
            for (uint32_t k = 0, off = 0; k < c0; k++, off += UINT32_C(0x9e3779b9)) {
                sd[k] = b->members[k].stride;
                po[k] = off & (STRIDE_ONE - 1);
            }
    }
    if (sd != NULL)
        for (uint32_t i = c0, m = 0, q = 1; i < c0 + 32; i++) {
            sd[i] = sd[m];
            po[i] = (sd[m] * q + po[m]) & (STRIDE_ONE - 1);
            if (++m == c0) {
                m = 0;
                q++;
            }
        }
    b->single = (count[GWLB__GROUP_BACKUP] == 0 && n == 1);
    /* alias tables (only the random-draw algorithms use them) */
    if (largest > 0 && need_alias) {
        uint32_t *tmp = gwlb__calloc(&b->alloc, (size_t)largest, 2 * sizeof(uint32_t));
        uint64_t *p = gwlb__calloc(&b->alloc, (size_t)largest, sizeof(uint64_t));
        if (tmp == NULL || p == NULL) {
            gwlb__free(&b->alloc, tmp, (size_t)largest * 2 * sizeof(uint32_t));
            gwlb__free(&b->alloc, p, (size_t)largest * sizeof(uint64_t));
            return gwlb__detail(d, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
        }
        for (uint32_t gi = 0; gi < GWLB__GROUPS; gi++)
            if (b->groups[gi].count > 0)
                build_alias(b, &b->groups[gi], tmp, tmp + largest, p);
        gwlb__free(&b->alloc, tmp, (size_t)largest * 2 * sizeof(uint32_t));
        gwlb__free(&b->alloc, p, (size_t)largest * sizeof(uint64_t));
    }
    return GWLB_OK;
}

/* The largest dt whose peak EWMA decay exponent -(double)dt * inv (as the
 * release computes it) is above -2^-11, the polynomial's range: the
 * expression is monotone in dt, so a bisection finds the exact bound
 * (the release then tests dt, an integer, instead of the exponent). */
static uint64_t ewma_poly_dt(double inv)
{
    uint64_t lo = 0, hi = UINT64_C(1) << 63; /* x(0) = -0 is in, x(2^63) is not */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (-(double)mid * inv > -0x1p-11)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int build_common(const gwlb_balancer_config *config, const gwlb_balancer_host *hosts,
                        uint32_t n, gwlb_balancer_state *state, uint64_t now,
                        gwlb_balancer *prev, gwlb_balancer **out, gwlb_error_detail *detail)
{
    if (config == NULL || state == NULL || out == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL argument");
    if (atomic_load_explicit(GWLB__A64(&state->h.magic), memory_order_acquire) !=
        GWLB__BSTATE_MAGIC)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "state",
                            "state not initialised");
    int rc = check_config(config, detail);
    if (rc != GWLB_OK)
        return rc;
    if (n == 0)
        return gwlb__detail(detail, GWLB_EMPTY, -1, -1, -1, "hosts", "no hosts");
    if (hosts == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "hosts", "NULL hosts");
    if (n > GWLB_BALANCER_HOSTS_MAX)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, "hosts", "too many hosts");
    /* the hosts are validated by compile(), before the state is touched */

    gwlb_allocator a;
    gwlb__allocator_resolve(&a, config->allocator);
    gwlb_balancer *b = gwlb__calloc(&a, 1, sizeof *b);
    if (b == NULL)
        return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    b->alloc = a;
    b->cfg = *config;
    b->cfg.allocator = NULL;
    b->state = state;
    b->n = n;
    double bias = config->active_request_bias;
    b->bias_mode = bias == 0.0 ? 0 : bias == 1.0 ? 1 : 2;
    b->inv_decay = 1.0 / (double)config->ewma_decay_ns;
    b->ewma_initial = (double)config->ewma_initial_rtt_ns;
    memcpy(&b->ewma_initial_bits, &b->ewma_initial, sizeof b->ewma_initial_bits);
    b->ewma_lo_c = 1.0 - 1e-9;
    b->ewma_lo_cd = (1.0 - 1e-9) * b->inv_decay;
    b->ewma_poly_dt = ewma_poly_dt(b->inv_decay);
    int no_slow = config->slow_start_window_ns == 0;
    switch (config->algorithm) {
    case GWLB_BALANCER_ROUND_ROBIN:
        b->fast_kind = GWLB__FAST_RR;
        break;
    case GWLB_BALANCER_WEIGHTED_ROUND_ROBIN:
        b->fast_kind = no_slow ? GWLB__FAST_WRR : GWLB__FAST_NONE;
        break;
    case GWLB_BALANCER_LEAST_REQUEST:
        b->fast_kind = no_slow && !config->full_scan ? GWLB__FAST_LR : GWLB__FAST_NONE;
        break;
    case GWLB_BALANCER_PEAK_EWMA:
        b->fast_kind = no_slow ? GWLB__FAST_EWMA : GWLB__FAST_NONE;
        break;
    case GWLB_BALANCER_RANDOM:
        b->fast_kind = no_slow ? GWLB__FAST_RANDOM : GWLB__FAST_NONE;
        break;
    default:
        b->fast_kind = GWLB__FAST_NONE;
        break;
    }
    b->start = config->start_mode == GWLB_BALANCER_START_FIXED
                   ? config->start
                   : gwlb_mix64(config->seed + UINT64_C(0x9e3779b97f4a7c15));
    rc = compile(b, hosts, prev, detail);
    if (rc != GWLB_OK) {
        balancer_release_memory(b);
        return rc;
    }
    /* peak EWMA, every level-0 weight 1: the clean pick leaves the weights
     * out of its comparison (a load times 1.0 is that load, exactly) */
    if (b->fast_kind == GWLB__FAST_EWMA && b->groups[0].all_equal && b->groups[0].max_weight == 1)
        b->fast_kind = GWLB__FAST_EWMA_UNIT;
    /* the generator (and its draw ahead, from the group sizes) */
    gwlb__balancer_seed(b, gwlb_mix64(config->seed ^ UINT64_C(0x62616c616e636572)));

    /* Claim slots (the only step that touches the state). */
    int first_build = atomic_load_explicit(GWLB__A64(&state->h.builds),
                                                   memory_order_relaxed) == 0;
    int single_same = prev != NULL && prev->single == b->single;
    uint32_t cap = state->h.capacity;
    for (uint32_t i = 0; i < n; i++) {
        gwlb__bhost *bh = &b->hosts[i];
        int fresh = 0;
        if (bh->ref == GWLB__REF_REUSED) {
            /* rebuild: the slot and its reference come from prev; touch the
             * slot only when this host's configuration changed */
            const gwlb__bhost *ph = &prev->hosts[i];
            if (single_same && ph->weight == bh->weight && ph->max_fails == bh->max_fails &&
                ph->max_inflight == bh->max_inflight && ph->fail_timeout == bh->fail_timeout)
                continue;
        } else {
            if (i + 8 < n && b->hosts[i + 8].ref != GWLB__REF_REUSED) {
                /* overlap the cache misses of slots further ahead */
                uint32_t home = (uint32_t)(((u128)b->hosts[i + 8].key * cap) >> 64);
                GWLB__PREFETCH_W(&state->slots[home]);
                GWLB__PREFETCH_W((char *)&state->slots[home] + 64);
            }
            rc = gwlb__state_claim(state, bh->key, &bh->slot, &fresh);
            if (rc != GWLB_OK) {
                for (uint32_t j = 0; j < i; j++)
                    if (b->hosts[j].ref != GWLB__REF_REUSED)
                        gwlb__state_unref(state, b->hosts[j].slot);
                balancer_release_memory(b);
                return gwlb__detail(detail, rc, (int32_t)i, -1, -1, "identity",
                                    "no state slot for host %u", (unsigned)i);
            }
        }
        gwlb__bslot *s = &state->slots[bh->slot];
        uint32_t w = bh->weight;
        uint32_t old_w = gwlb__ld32(&s->weight);
        if (old_w != w) {
            atomic_store_explicit(GWLB__AI32(&s->effective_weight), (int32_t)w,
                                  memory_order_relaxed);
            gwlb__st32(&s->weight, w);
        }
        /* store only what changed: unchanged slots stay clean in other caches */
        if (gwlb__ld32(&s->max_fails) != bh->max_fails)
            gwlb__st32(&s->max_fails, bh->max_fails);
        if (gwlb__ld32(&s->max_inflight) != bh->max_inflight)
            gwlb__slot_set_limit(state, s, bh->max_inflight);
        if (gwlb__ld64(&s->fail_timeout) != bh->fail_timeout)
            gwlb__st64(&s->fail_timeout, bh->fail_timeout);
        if (gwlb__ld32(&s->single) != b->single)
            gwlb__st32(&s->single, b->single);
        if (fresh && !first_build)
            gwlb__st64(&s->slow_start, (now >= UINT64_MAX - 2 ? UINT64_MAX - 3 : now) + 1);
    }
    for (uint32_t k = 0; k < b->picks_n; k++) { /* level 0: members and picks */
        uint32_t host = b->members[k].host;
        const gwlb__bhost *bh = &b->hosts[host];
        b->members[k].slot = bh->slot;
        b->picks[k].host = host;
        b->picks[k].slot = bh->slot;
        b->picks[k].user_data = bh->user_data;
    }
    for (uint32_t k = b->picks_n; k < n; k++)
        b->members[k].slot = b->hosts[b->members[k].host].slot;
    /* success: the references taken over from prev are ours now */
    if (prev != NULL)
        for (uint32_t i = 0; i < n; i++)
            if (b->hosts[i].ref == GWLB__REF_REUSED)
                prev->hosts[i].ref = GWLB__REF_MOVED;
    atomic_fetch_add_explicit(GWLB__A64(&state->h.builds), 1, memory_order_relaxed);
    *out = b;
    return GWLB_OK;
}

int gwlb_balancer_build(const gwlb_balancer_config *config, const gwlb_balancer_host *hosts,
                        uint32_t n, gwlb_balancer_state *state, uint64_t now,
                        gwlb_balancer **out, gwlb_error_detail *detail)
{
    return build_common(config, hosts, n, state, now, NULL, out, detail);
}

int gwlb_balancer_rebuild(gwlb_balancer *prev, const gwlb_balancer_config *config,
                          const gwlb_balancer_host *hosts, uint32_t n, uint64_t now,
                          gwlb_balancer **out, gwlb_error_detail *detail)
{
    if (prev == NULL)
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL argument");
    return build_common(config, hosts, n, prev->state, now, prev, out, detail);
}

void gwlb_balancer_free(gwlb_balancer *bal)
{
    if (bal == NULL)
        return;
    for (uint32_t i = 0; i < bal->n; i++) {
        if (bal->hosts[i].ref == GWLB__REF_MOVED)
            continue; /* handed over to a rebuilt balancer */
        if (i + 8 < bal->n)
            GWLB__PREFETCH_W(&bal->state->slots[bal->hosts[i + 8].slot].owner);
        gwlb__state_unref(bal->state, bal->hosts[i].slot);
    }
    balancer_release_memory(bal);
}

gwlb_balancer *gwlb_balancer_swap(gwlb_balancer **slot, gwlb_balancer *bal)
{
    return atomic_exchange_explicit((_Atomic(gwlb_balancer *) *)slot, bal,
                                    memory_order_acq_rel);
}

gwlb_balancer *gwlb_balancer_load(gwlb_balancer *const *slot)
{
    return atomic_load_explicit((_Atomic(gwlb_balancer *) *)(void *)(uintptr_t)slot,
                                memory_order_acquire);
}

uint32_t gwlb_balancer_host_count(const gwlb_balancer *bal)
{
    return bal == NULL ? 0 : bal->n;
}

int gwlb_balancer_find_host(const gwlb_balancer *bal, const char *identity,
                            size_t identity_len, uint32_t *host_index)
{
    if (bal == NULL || identity == NULL || host_index == NULL)
        return GWLB_EINVAL;
    size_t len = identity_len;
    if (len == 0)
        while (len <= GWLB_BALANCER_IDENTITY_MAX && identity[len] != '\0')
            len++;
    if (len == 0 || len > GWLB_BALANCER_IDENTITY_MAX)
        return GWLB_ENOENT;
    uint64_t key = gwlb__identity_key(identity, len);
    for (uint32_t pos = (uint32_t)key & bal->index_mask;; pos = (pos + 1) & bal->index_mask) {
        uint32_t e = bal->index[pos];
        if (e == 0)
            return GWLB_ENOENT;
        const gwlb__bhost *h = &bal->hosts[e - 1];
        if (h->key == key && h->id_len == len && memcmp(bal->ids + h->id_off, identity, len) == 0) {
            *host_index = e - 1;
            return GWLB_OK;
        }
    }
}

int gwlb_balancer_set_exclusive(gwlb_balancer *bal, int exclusive)
{
    if (bal == NULL || (exclusive != 0 && exclusive != 1))
        return GWLB_EINVAL;
    atomic_store_explicit(GWLB__A32(&bal->exclusive), (uint32_t)exclusive, memory_order_relaxed);
    return GWLB_OK;
}

int gwlb_balancer_exclusive(const gwlb_balancer *bal)
{
    return bal == NULL ? 0 : (int)gwlb__ld32(&bal->exclusive);
}

int gwlb_balancer_reseed(gwlb_balancer *bal, uint64_t seed)
{
    if (bal == NULL)
        return GWLB_EINVAL;
    /* the same derivation as build: reseed(b, s) draws as a build with seed s */
    gwlb__balancer_seed(bal, gwlb_mix64(seed ^ UINT64_C(0x62616c616e636572)));
    return GWLB_OK;
}
