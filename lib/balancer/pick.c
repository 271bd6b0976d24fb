/*
 * Picking and releasing: the per-request hot path of every algorithm.
 *
 * A pick first chooses a group and a mode from the (cached) Envoy priority
 * loads: a priority level (or the backup group) and whether it takes
 * healthy hosts, degraded hosts, or any host (panic). Then the configured
 * algorithm chooses a member of that group, skipping members that are not
 * usable now (flags for the mode, nginx max_fails/fail_timeout, max in
 * flight, the caller's tried set). If the chosen group has nothing usable,
 * the other levels are tried in order, then the backups.
 *
 * All per-host mutation goes through C11 atomics on the state slot, so the
 * same code runs across threads and across processes sharing the state.
 */
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "balancer_internal.h"

__extension__ typedef unsigned __int128 u128;

#if defined(__GNUC__)
#define GWLB__NOINLINE __attribute__((noinline))
#define GWLB__ALWAYS_INLINE __attribute__((always_inline))
/* hot entry points start on a cache line: their loops and branches keep
 * one placement whatever code precedes them (measured: a 16-byte shift
 * moved exclusive-mode nginx SWRR by 25 %) */
#define GWLB__LINE_ALIGNED __attribute__((aligned(64)))
/* a condition the branch predictor cannot learn: compilers then select
 * (cmov) rather than branch */
#define GWLB__COINFLIP(x) __builtin_expect_with_probability(!!(x), 1, 0.5)
/* v's value is hidden from the optimiser (no code) */
#define GWLB__OPAQUE(v) __asm__("" : "+r"(v))
/* stores before it are not merged with stores after it (no code) */
#define GWLB__STORE_FENCE() __asm__("" ::: "memory")
#else
#define GWLB__OPAQUE(v) ((void)0)
#define GWLB__STORE_FENCE() ((void)0)
#define GWLB__COINFLIP(x) (x)
#define GWLB__NOINLINE
#define GWLB__ALWAYS_INLINE
#define GWLB__LINE_ALIGNED
#endif

#define STRIDE_MASK ((UINT64_C(1) << 24) - 1)
#define ALL_FLAGS UINT32_C(0x7f)

enum { MODE_HEALTHY = 0, MODE_DEGRADED = 1, MODE_ANY = 2, MODE_ELIGIBLE = 3 };

typedef struct filter {
    uint32_t mask;
    uint32_t want;
    const uint64_t *tried;
    uint32_t tried_words;
    uint32_t no_count; /* gwlb_balancer_choose: do not count in flight */
} filter;

static void filter_mode(filter *f, int mode)
{
    switch (mode) {
    case MODE_HEALTHY:
        f->mask = GWLB_HOST_INELIGIBLE_MASK | GWLB_HOST_DEGRADED;
        f->want = 0;
        break;
    case MODE_DEGRADED:
        f->mask = GWLB_HOST_INELIGIBLE_MASK | GWLB_HOST_DEGRADED;
        f->want = GWLB_HOST_DEGRADED;
        break;
    case MODE_ELIGIBLE:
        f->mask = GWLB_HOST_INELIGIBLE_MASK;
        f->want = 0;
        break;
    default:
        f->mask = 0;
        f->want = 0;
        break;
    }
}

static inline gwlb__bslot *slot_of(const gwlb_balancer *b, uint32_t slot)
{
    return &b->state->slots[slot];
}

static inline int member_ok(const gwlb_balancer *b, const gwlb__bmember *m, const filter *f,
                            uint64_t now)
{
    if (f == NULL) /* clean fast path: checked once for the whole group */
        return 1;
    const gwlb__bslot *s = slot_of(b, m->slot);
    if ((gwlb__ld32(&s->flags) & f->mask) != f->want)
        return 0;
    if (GWLB__UNLIKELY(f->tried != NULL) && (m->host >> 6) < f->tried_words &&
        (f->tried[m->host >> 6] >> (m->host & 63) & 1))
        return 0;
    if (GWLB__UNLIKELY(gwlb__ld32(&s->fails) != 0) && gwlb__slot_nginx_failed(s, now))
        return 0;
    uint32_t mi = gwlb__ld32(&s->max_inflight);
    return mi == 0 || gwlb__ld32(&s->in_flight) < mi;
}

/*
 * Read-modify-writes of per-host counters. Default: locked atomic RMW.
 * Exclusive mode (gwlb_balancer_set_exclusive): the caller guarantees one
 * thread at a time, so a relaxed load and a relaxed store do the same
 * without a bus lock (still atomic accesses: stats readers race-free).
 */
static inline uint32_t rmw_add32(const gwlb_balancer *b, uint32_t *p, uint32_t v)
{
    if (b->exclusive) {
        uint32_t old = gwlb__ld32(p);
        gwlb__st32(p, old + v);
        return old;
    }
    return atomic_fetch_add_explicit(GWLB__A32(p), v, memory_order_relaxed);
}

static inline int64_t rmw_add64s(const gwlb_balancer *b, int64_t *p, int64_t v)
{
    _Atomic int64_t *a = GWLB__AI64(p);
    if (b->exclusive) {
        int64_t old = atomic_load_explicit(a, memory_order_relaxed);
        atomic_store_explicit(a, old + v, memory_order_relaxed);
        return old;
    }
    return atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

static inline uint64_t pick_token(const gwlb_balancer_state *st, uint32_t slot)
{
    return (st->h.instance ^ ((uint64_t)(slot + 1) * UINT64_C(0x9e3779b97f4a7c15))) | 2;
}

static inline int take(const gwlb_balancer *b, uint32_t i, uint64_t now,
                       gwlb_balancer_result *out, int count)
{
    uint32_t slot = b->hosts[i].slot;
    gwlb__bslot *s = slot_of(b, slot);
    uint32_t mi = gwlb__ld32(&s->max_inflight);
    if (!count) {
        if (mi != 0 && gwlb__ld32(&s->in_flight) >= mi)
            return GWLB_ENOHOST;
    } else if (mi == 0) {
        rmw_add32(b, &s->in_flight, 1);
    } else if (b->exclusive) {
        uint32_t cur = gwlb__ld32(&s->in_flight);
        if (cur >= mi)
            return GWLB_ENOHOST;
        gwlb__st32(&s->in_flight, cur + 1);
    } else {
        uint32_t cur = gwlb__ld32(&s->in_flight);
        do {
            if (cur >= mi)
                return GWLB_ENOHOST;
        } while (!atomic_compare_exchange_weak_explicit(GWLB__A32(&s->in_flight), &cur, cur + 1,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed));
    }
    /* nginx: `if (now - best->checked > best->fail_timeout) best->checked = now;`
     * (only observable while fails > 0: a failure rewrites checked anyway) */
    if (GWLB__UNLIKELY(gwlb__ld32(&s->fails) != 0) &&
        gwlb__elapsed(now, gwlb__ld64(&s->checked)) > gwlb__ld64(&s->fail_timeout))
        gwlb__st64(&s->checked, now);
    out->host_index = i;
    out->slot = slot;
    out->user_data = b->hosts[i].user_data;
    out->token = count ? pick_token(b->state, slot) : 1;
    out->aux = 0;
    return GWLB_OK;
}

int gwlb__balancer_take(const gwlb_balancer *b, uint32_t i, uint64_t now,
                        gwlb_balancer_result *out)
{
    return take(b, i, now, out, 1);
}

/* ---- Slow start ---------------------------------------------------------------- */

double gwlb_balancer_slow_start_factor(uint64_t elapsed_ns, uint64_t window_ns, double aggression,
                                       double min_weight_percent)
{
    if (window_ns == 0 || elapsed_ns >= window_ns)
        return 1.0;
    uint64_t e = elapsed_ns < GWLB_NS_PER_MS ? GWLB_NS_PER_MS : elapsed_ns;
    double tf = (double)e / (double)window_ns;
    if (tf > 1.0)
        tf = 1.0;
    double f = (aggression == 1.0 || tf == 1.0) ? tf : gwlb__pow(tf, 1.0 / aggression);
    double m = min_weight_percent / 100.0;
    return f > m ? f : m;
}

/* Weight factor of a slot in slow start at `now` (1.0 outside it). */
static double slow_factor(const gwlb_balancer *b, gwlb__bslot *s, uint64_t now)
{
    uint64_t v = gwlb__ld64(&s->slow_start);
    if (GWLB__LIKELY(v == GWLB__SS_NONE))
        return 1.0;
    if (v == GWLB__SS_PENDING) {
        uint64_t stamp = (now >= UINT64_MAX - 2 ? UINT64_MAX - 3 : now) + 1;
        if (atomic_compare_exchange_strong_explicit(GWLB__A64(&s->slow_start), &v, stamp,
                                                    memory_order_relaxed, memory_order_relaxed))
            v = stamp;
        if (v == GWLB__SS_NONE)
            return 1.0;
    }
    uint64_t el = gwlb__elapsed(now, v - 1);
    if (el >= b->cfg.slow_start_window_ns) {
        atomic_compare_exchange_strong_explicit(GWLB__A64(&s->slow_start), &v, GWLB__SS_NONE,
                                                memory_order_relaxed, memory_order_relaxed);
        return 1.0;
    }
    return gwlb_balancer_slow_start_factor(el, b->cfg.slow_start_window_ns,
                                           b->cfg.slow_start_aggression,
                                           b->cfg.slow_start_min_weight_percent);
}

static inline double eff_weight(const gwlb_balancer *b, const gwlb__bmember *m, uint64_t now)
{
    if (b->cfg.slow_start_window_ns == 0)
        return (double)m->weight;
    return (double)m->weight * slow_factor(b, slot_of(b, m->slot), now);
}

/* ---- Algorithms over one group: return a member offset, or -1 ------------------- */

static inline uint32_t fastmod(uint32_t x, const gwlb__bgroup *g)
{
    uint64_t low = g->fastmod * x;
    return (uint32_t)(((u128)low * g->count) >> 64);
}

static inline uint32_t fastdiv(uint32_t x, const gwlb__bgroup *g)
{
    return (uint32_t)(((u128)g->fastmod * x) >> 64);
}

static int64_t scan_from(const gwlb_balancer *b, const gwlb__bgroup *g, uint32_t from,
                         const filter *f, uint64_t now)
{
    for (uint32_t t = 0; t < g->count; t++) {
        uint32_t k = from + t < g->count ? from + t : from + t - g->count;
        if (member_ok(b, &b->members[g->first + k], f, now))
            return k;
    }
    return -1;
}

/*
 * Next position of a round-robin sequence. A relaxed load and store rather
 * than a locked read-modify-write: single-threaded the sequence is exact;
 * concurrent pickers may occasionally read the same position (both get the
 * same host once), which costs nothing in fairness worth a locked bus cycle.
 */
static inline uint64_t seq_next(_Atomic uint64_t *seq)
{
    uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, v + 1, memory_order_relaxed);
    return v;
}

/* Per-balancer SplitMix64 step with the same relaxed load/store policy. */
static inline uint64_t fast_rand(gwlb_rng *rng)
{
    _Atomic uint64_t *s = GWLB__A64(&rng->state);
    uint64_t v = atomic_load_explicit(s, memory_order_relaxed) + GWLB__RNG_GAMMA;
    atomic_store_explicit(s, v, memory_order_relaxed);
    /* gwlb_mix64, inlined (a call through the PLT per draw otherwise) */
    return gwlb__rng_mix(v);
}

/*
 * The clean peak-EWMA pick's draw: the pair fast_rand's output gives
 * (gwlb__pair_draw), computed by the previous draw (ahead_pair, valid
 * when ahead_key is the state: any other draw leaves it stale), so the
 * pick's dependency chain starts at a load instead of the ~12-cycle mix
 * and the draw; this draw computes the pair for the next state (*next:
 * the prefetch above 256 hosts fetches its slots). One word, so a pair
 * is never torn; concurrent drawers may read a pair of another state:
 * then the pick uses another output of the generator, as racing relaxed
 * steps already allow. Single-threaded (and in exclusive mode) the
 * sequence is exactly fast_rand's.
 */
static inline uint64_t pair_ahead(const gwlb_balancer *b, uint32_t c, uint64_t *next)
{
    _Atomic uint64_t *sp = GWLB__A64((uint64_t *)(uintptr_t)&b->rng.state);
    _Atomic uint64_t *kp = GWLB__A64((uint64_t *)(uintptr_t)&b->ahead_key);
    _Atomic uint64_t *op = GWLB__A64((uint64_t *)(uintptr_t)&b->ahead_pair);
    uint64_t s = atomic_load_explicit(sp, memory_order_relaxed);
    uint64_t key = atomic_load_explicit(kp, memory_order_relaxed);
    uint64_t pr = atomic_load_explicit(op, memory_order_relaxed);
    uint64_t v = s + GWLB__RNG_GAMMA;
    if (GWLB__UNLIKELY(key != s))
        pr = gwlb__pair_draw(gwlb__rng_mix(v), c);
    atomic_store_explicit(sp, v, memory_order_relaxed);
    uint64_t nx = gwlb__pair_draw(gwlb__rng_mix(v + GWLB__RNG_GAMMA), c);
    atomic_store_explicit(op, nx, memory_order_relaxed);
    atomic_store_explicit(kp, v, memory_order_relaxed);
    *next = nx;
    return pr;
}

static inline uint64_t fast_below(gwlb_rng *rng, uint64_t bound)
{
    return (uint64_t)(((u128)fast_rand(rng) * bound) >> 64);
}

static int64_t pick_rr(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now)
{
    const gwlb__bgroup *g = &b->groups[gi];
    _Atomic uint64_t *seq = GWLB__A64(&b->state->h.sequence[gi].value);
    uint32_t k = 0;
    for (uint32_t t = 0; t < g->count; t++) {
        uint32_t x = (uint32_t)(seq_next(seq) + b->start);
        k = g->count == 1 ? 0 : fastmod(x, g);
        /* the next pick will most likely want the next member: fetch its slot */
        uint32_t nk = k + 1 < g->count ? k + 1 : 0;
        GWLB__PREFETCH_W(&b->state->slots[b->members[g->first + nk].slot]);
        if (member_ok(b, &b->members[g->first + k], f, now))
            return k;
    }
    return scan_from(b, g, k, f, now);
}

static int64_t pick_wrr(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now)
{
    const gwlb__bgroup *g = &b->groups[gi];
    _Atomic uint64_t *seq = GWLB__A64(&b->state->h.sequence[gi].value);
    uint32_t limit = 2 * g->count + 64, k = 0;
    for (uint32_t t = 0; t < limit; t++) {
        uint32_t x = (uint32_t)(seq_next(seq) + b->start);
        uint32_t gen;
        if (g->count == 1) {
            k = 0;
            gen = x;
        } else {
            k = fastmod(x, g);
            gen = fastdiv(x, g);
        }
        const gwlb__bmember *m = &b->members[g->first + k];
        uint64_t stride = m->stride;
        if (b->cfg.slow_start_window_ns != 0) {
            double sf = slow_factor(b, slot_of(b, m->slot), now);
            if (sf < 1.0) {
                stride = (uint64_t)((double)stride * sf);
                if (stride == 0)
                    stride = 1;
            }
        }
        uint64_t offset = ((uint64_t)k * UINT64_C(0x9e3779b9)) & STRIDE_MASK;
        if (((stride * gen + offset) & STRIDE_MASK) >= stride)
            continue;
        if (member_ok(b, m, f, now))
            return k;
    }
    return scan_from(b, g, k, f, now);
}

/* One nginx SWRR step for a slot: current += effective (returned, new
 * value), effective recovers by one toward weight. `excl`: exclusive mode. */
static inline int64_t swrr_step(gwlb__bslot *s, uint32_t weight, int excl, int64_t *total)
{
    _Atomic int32_t *ep = GWLB__AI32(&s->effective_weight);
    _Atomic int64_t *cp = GWLB__AI64(&s->current_weight);
    int32_t eff = atomic_load_explicit(ep, memory_order_relaxed);
    int64_t cur;
    *total += eff;
    if (excl) {
        cur = atomic_load_explicit(cp, memory_order_relaxed) + eff;
        atomic_store_explicit(cp, cur, memory_order_relaxed);
        if (GWLB__UNLIKELY(eff < (int32_t)weight))
            atomic_store_explicit(ep, eff + 1, memory_order_relaxed);
    } else {
        cur = atomic_fetch_add_explicit(cp, eff, memory_order_relaxed) + eff;
        if (GWLB__UNLIKELY(eff < (int32_t)weight))
            atomic_compare_exchange_strong_explicit(ep, &eff, eff + 1, memory_order_relaxed,
                                                    memory_order_relaxed);
    }
    return cur;
}

/* nginx ngx_http_upstream_get_peer over one group. */
static GWLB__LINE_ALIGNED int64_t pick_swrr(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now)
{
    const gwlb__bgroup *g = &b->groups[gi];
    const gwlb__bmember *mem = b->members + g->first;
    gwlb__bslot *slots = b->state->slots;
    const int excl = (int)b->exclusive;
    const uint32_t c = g->count;
    int64_t best = -1, best_cur = 0, total = 0;
    for (uint32_t k = 0; k < c; k++) {
        const gwlb__bmember *m = &mem[k];
        if (f != NULL && !member_ok(b, m, f, now))
            continue;
        int64_t cur = swrr_step(&slots[m->slot], m->weight, excl, &total);
        if (best < 0 || cur > best_cur) {
            best = k;
            best_cur = cur;
        }
    }
    if (best >= 0)
        rmw_add64s(b, &slots[mem[best].slot].current_weight, -total);
    return best;
}

/* nginx ngx_http_upstream_get_least_conn_peer over one group. */
static GWLB__LINE_ALIGNED int64_t pick_least_conn(const gwlb_balancer *b, uint32_t gi, const filter *f,
                               uint64_t now)
{
    const gwlb__bgroup *g = &b->groups[gi];
    const gwlb__bmember *mem = b->members + g->first;
    gwlb__bslot *slots = b->state->slots;
    const int excl = (int)b->exclusive;
    const uint32_t c = g->count;
    int64_t best = -1;
    uint64_t bconns = 0, bw = 1;
    int many = 0;
    for (uint32_t k = 0; k < c; k++) {
        const gwlb__bmember *m = &mem[k];
        if (f != NULL && !member_ok(b, m, f, now))
            continue;
        uint64_t conns = gwlb__ld32(&slots[m->slot].in_flight);
        uint64_t lhs = conns * bw, rhs = bconns * m->weight;
        if (best < 0 || lhs < rhs) {
            best = k;
            bconns = conns;
            bw = m->weight;
            many = 0;
        } else if (lhs == rhs) {
            many = 1;
        }
    }
    if (best < 0 || !many)
        return best;
    int64_t first = best, total = 0, best_cur = 0;
    int have = 0;
    for (uint32_t k = (uint32_t)first; k < c; k++) {
        const gwlb__bmember *m = &mem[k];
        if (f != NULL && !member_ok(b, m, f, now))
            continue;
        gwlb__bslot *s = &slots[m->slot];
        uint64_t conns = gwlb__ld32(&s->in_flight);
        if (conns * bw != bconns * m->weight)
            continue;
        int64_t cur = swrr_step(s, m->weight, excl, &total);
        if (!have) {
            have = 1;
            if ((int64_t)k == first) {
                best_cur = cur;
                continue;
            }
            best_cur = atomic_load_explicit(GWLB__AI64(&slots[mem[first].slot].current_weight),
                                            memory_order_relaxed);
        }
        if (cur > best_cur) {
            best = k;
            best_cur = cur;
        }
    }
    rmw_add64s(b, &slots[mem[best].slot].current_weight, -total);
    return best;
}

/* Walker/Vose draw: column k, kept when the low half is within its
 * threshold, else its alias. Selected arithmetically: whether a draw is
 * kept is a coin flip to the branch predictor. */
static inline uint32_t alias_draw(const gwlb_balancer *b, const gwlb__bgroup *g, uint64_t r)
{
    uint32_t k = (uint32_t)(((r >> 32) * g->count) >> 32);
    uint32_t other = b->alias_other[g->first + k];
    uint32_t keep = (uint32_t)((uint32_t)r <= b->alias_prob[g->first + k]);
    return other ^ ((other ^ k) & (0u - keep));
}

/* Weighted random draw honouring slow start by rejection (slow hosts accepted with p = factor). */
static uint32_t weighted_draw(const gwlb_balancer *b, const gwlb__bgroup *g, gwlb_rng *rng,
                              uint64_t now)
{
    for (int t = 0;; t++) {
        uint32_t k = alias_draw(b, g, fast_rand(rng));
        if (b->cfg.slow_start_window_ns == 0 || t >= 16)
            return k;
        double sf = slow_factor(b, slot_of(b, b->members[g->first + k].slot), now);
        if (sf >= 1.0 || (double)(fast_rand(rng) >> 11) * 0x1p-53 < sf)
            return k;
    }
}

/* Is member a a better least-request choice than member c? (strictly) */
static int lr_better(const gwlb_balancer *b, const gwlb__bmember *a, const gwlb__bmember *c,
                     uint64_t now)
{
    uint64_t aa = gwlb__ld32(&slot_of(b, a->slot)->in_flight);
    uint64_t ac = gwlb__ld32(&slot_of(b, c->slot)->in_flight);
    if (b->cfg.slow_start_window_ns == 0 && b->bias_mode != 2) {
        if (b->bias_mode == 0)
            return a->weight > c->weight;
        return (uint64_t)a->weight * (ac + 1) > (uint64_t)c->weight * (aa + 1);
    }
    double wa = eff_weight(b, a, now), wc = eff_weight(b, c, now);
    double bias = b->cfg.active_request_bias;
    if (b->bias_mode == 1)
        return wa * (double)(ac + 1) > wc * (double)(aa + 1);
    if (b->bias_mode == 0)
        return wa > wc;
    return wa / gwlb__pow((double)(aa + 1), bias) > wc / gwlb__pow((double)(ac + 1), bias);
}

static int64_t pick_least_request(const gwlb_balancer *b, uint32_t gi, const filter *f,
                                  uint64_t now, gwlb_rng *rng)
{
    const gwlb__bgroup *g = &b->groups[gi];
    uint32_t c = g->count;
    const gwlb__bmember *base = &b->members[g->first];
    if (c == 1)
        return member_ok(b, base, f, now) ? 0 : -1;
    int64_t best = -1;
    if (b->cfg.full_scan) {
        uint32_t start = (uint32_t)fast_below(rng, c);
        for (uint32_t t = 0; t < c; t++) {
            uint32_t k = start + t < c ? start + t : start + t - c;
            if (!member_ok(b, &base[k], f, now))
                continue;
            if (best < 0 || lr_better(b, &base[k], &base[best], now))
                best = k;
        }
        return best;
    }
    /*
     * Envoy weights a host by weight / (active + 1)^bias. Lock-free form:
     * candidates are drawn with probability proportional to weight (uniform
     * when all weights are equal, which is Envoy's unweighted P2C), and the
     * one with fewer active requests wins (first drawn on ties, or always
     * with bias 0). At equal active counts the share is exactly weight/sum,
     * like Envoy's EDF over weight/(active+1)^bias.
     */
    for (uint32_t round = 0; round < 4 && best < 0; round++) {
        uint32_t active_best = 0, first_k = 0;
        uint64_t pair = 0;
        for (uint32_t j = 0; j < b->cfg.choice_count; j++) {
            uint32_t k;
            if (g->all_equal && b->cfg.slow_start_window_ns == 0) {
                /* the first two choices are distinct (one 64-bit draw) */
                if (j == 0) {
                    pair = fast_rand(rng);
                    k = (uint32_t)(((pair >> 32) * c) >> 32);
                    first_k = k;
                } else if (j == 1) {
                    k = (uint32_t)(((pair & 0xffffffffu) * (c - 1)) >> 32);
                    if (k >= first_k)
                        k++;
                } else {
                    k = (uint32_t)fast_below(rng, c);
                }
            } else {
                k = weighted_draw(b, g, rng, now);
            }
            if (!member_ok(b, &base[k], f, now))
                continue;
            uint32_t a = gwlb__ld32(&slot_of(b, base[k].slot)->in_flight);
            if (best < 0 || (b->bias_mode != 0 && a < active_best)) {
                best = k;
                active_best = a;
            }
        }
    }
    if (best < 0)
        best = scan_from(b, g, (uint32_t)fast_below(rng, c), f, now);
    return best;
}

/*
 * load = cost × exp(-age/tau) × (pending + 1) / weight. Comparing two loads
 * needs only one exp: exp(-(age1 - age2)/tau) on one side.
 */
static inline double ewma_slot_parts(const gwlb_balancer *b, const gwlb__bslot *s, uint64_t now,
                                     uint64_t *age)
{
    uint64_t stamp = gwlb__ld64(&s->ewma_stamp);
    double cost;
    if (stamp == 0) {
        cost = b->ewma_initial;
        *age = 0;
    } else {
        uint64_t bits = gwlb__ld64(&s->ewma_cost);
        memcpy(&cost, &bits, sizeof cost);
        *age = gwlb__elapsed(now, stamp - 1);
    }
    /* (double)n + 1.0, one conversion (both exact below 2^53) */
    return cost * (double)((uint64_t)gwlb__ld32(&s->in_flight) + 1);
}

static void ewma_parts(const gwlb_balancer *b, const gwlb__bmember *m, uint64_t now,
                       double *base, uint64_t *age)
{
    *base = ewma_slot_parts(b, slot_of(b, m->slot), now, age);
}

/* (double)x - (double)y, exactly as written: when both are below 2^53 they
 * convert exactly and so does their integer difference (one signed
 * conversion instead of two unsigned ones). */
static inline double u64_diff(uint64_t x, uint64_t y)
{
    if (GWLB__LIKELY(((x | y) >> 53) == 0))
        return (double)(int64_t)(x - y);
    return (double)x - (double)y;
}

/*
 * Is load (la at age aa, weight wa) strictly below load (lc, ac, wc)?
 * (cost × in-flight parts la/lc, ages in ns, effective weights.)
 * 1 or 0 when the bounds settle it, 2 when ewma_exact must (near-ties).
 */
static inline int ewma_bounds(const gwlb_balancer *b, double la, uint64_t aa, double wa,
                              double lc, uint64_t ac, double wc)
{
    if (aa != ac) {
        /*
         * The decay factor f = exp(-d) (d = age difference / tau) is in
         * (0, 1] for d >= 0 and above 1 for d < 0, and 1 - d <= exp(-d) <=
         * 1 / (1 + d) for d >= 0. Most comparisons are settled by these
         * bounds (with a 1e-9 relative margin for rounding) without the
         * exp; only near-ties compute it, with the original formula.
         */
        /* the bounds have a 1e-9 margin: d by the reciprocal (1 ulp off) is
         * plenty for them; the exp uses the exactly divided d */
        double d = u64_diff(aa, ac) * b->inv_decay;
        double x = la * wc, y = lc * wa;
        if (d > 0) {
            /* x·f < y ? certainly when x / (1 + d) < y, never when x·(1 - d) >= y */
            if (x < y * (1.0 + d) * (1.0 - 1e-9))
                return 1;
            if (d < 1.0 && x * (1.0 - d) > y * (1.0 + 1e-9))
                return 0;
        } else {
            /* f = exp(|d|) >= 1 + |d|: x·f >= y certainly when x·(1 + |d|) >= y */
            if (x * (1.0 - d) > y * (1.0 + 1e-9))
                return 0;
            /* and f <= 1 / (1 - |d|) for |d| < 1: x·f < y when x < y·(1 - |d|) */
            if (d > -1.0 && x < y * (1.0 + d) * (1.0 - 1e-9))
                return 1;
        }
        return 2;
    }
    /* la / wa < lc / wc without dividing */
    return la * wc < lc * wa;
}

/* The comparison with the decay computed (aa != ac). */
static int ewma_exact(const gwlb_balancer *b, double la, uint64_t aa, double wa, double lc,
                      uint64_t ac, double wc)
{
    la *= gwlb__exp(-(u64_diff(aa, ac) / (double)b->cfg.ewma_decay_ns));
    return la * wc < lc * wa;
}

static inline int ewma_less_parts(const gwlb_balancer *b, double la, uint64_t aa, double wa,
                                  double lc, uint64_t ac, double wc)
{
    int r = ewma_bounds(b, la, aa, wa, lc, ac, wc);
    return r != 2 ? r : ewma_exact(b, la, aa, wa, lc, ac, wc);
}

/* Is the load of member a strictly below that of member c? */
static int ewma_less(const gwlb_balancer *b, const gwlb__bmember *a, const gwlb__bmember *c,
                     uint64_t now)
{
    double la, lc;
    uint64_t aa, ac;
    ewma_parts(b, a, now, &la, &aa);
    ewma_parts(b, c, now, &lc, &ac);
    return ewma_less_parts(b, la, aa, eff_weight(b, a, now), lc, ac, eff_weight(b, c, now));
}

static int64_t pick_peak_ewma(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now,
                              gwlb_rng *rng)
{
    const gwlb__bgroup *g = &b->groups[gi];
    uint32_t c = g->count;
    const gwlb__bmember *base = &b->members[g->first];
    if (c == 1)
        return member_ok(b, base, f, now) ? 0 : -1;
    for (uint32_t round = 0; round < 4; round++) {
        uint64_t r = fast_rand(rng);
        uint32_t k1 = (uint32_t)(((r >> 32) * c) >> 32);
        uint32_t k2 = (uint32_t)(((r & 0xffffffffu) * (c - 1)) >> 32);
        if (k2 >= k1)
            k2++;
        int ok1 = member_ok(b, &base[k1], f, now), ok2 = member_ok(b, &base[k2], f, now);
        if (ok1 && ok2)
            return ewma_less(b, &base[k2], &base[k1], now) ? k2 : k1;
        if (ok1)
            return k1;
        if (ok2)
            return k2;
    }
    return scan_from(b, g, (uint32_t)fast_below(rng, c), f, now);
}

static int64_t pick_random(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now,
                           gwlb_rng *rng)
{
    const gwlb__bgroup *g = &b->groups[gi];
    uint32_t k = 0;
    for (int t = 0; t < 8; t++) {
        k = weighted_draw(b, g, rng, now);
        if (member_ok(b, &b->members[g->first + k], f, now))
            return k;
    }
    return scan_from(b, g, k, f, now);
}

static int64_t pick_random_two(const gwlb_balancer *b, uint32_t gi, const filter *f,
                               uint64_t now, gwlb_rng *rng)
{
    const gwlb__bgroup *g = &b->groups[gi];
    const gwlb__bmember *base = &b->members[g->first];
    uint32_t k1 = 0;
    for (int t = 0; t < 4; t++) {
        k1 = weighted_draw(b, g, rng, now);
        uint32_t k2 = weighted_draw(b, g, rng, now);
        int ok1 = member_ok(b, &base[k1], f, now), ok2 = member_ok(b, &base[k2], f, now);
        if (ok1 && ok2) {
            /* the draws carry the weights; fewer in flight wins; ties: first draw */
            uint32_t a1 = gwlb__ld32(&slot_of(b, base[k1].slot)->in_flight);
            uint32_t a2 = gwlb__ld32(&slot_of(b, base[k2].slot)->in_flight);
            return a2 < a1 ? k2 : k1;
        }
        if (ok1)
            return k1;
        if (ok2)
            return k2;
    }
    return scan_from(b, g, k1, f, now);
}

static int64_t pick_in_group(const gwlb_balancer *b, uint32_t gi, const filter *f, uint64_t now)
{
    gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
    if (b->groups[gi].count == 0)
        return -1;
    switch (b->cfg.algorithm) {
    case GWLB_BALANCER_ROUND_ROBIN:
        return pick_rr(b, gi, f, now);
    case GWLB_BALANCER_WEIGHTED_ROUND_ROBIN:
        return pick_wrr(b, gi, f, now);
    case GWLB_BALANCER_NGINX_ROUND_ROBIN:
        return pick_swrr(b, gi, f, now);
    case GWLB_BALANCER_LEAST_CONN:
        return pick_least_conn(b, gi, f, now);
    case GWLB_BALANCER_LEAST_REQUEST:
        return pick_least_request(b, gi, f, now, rng);
    case GWLB_BALANCER_PEAK_EWMA:
        return pick_peak_ewma(b, gi, f, now, rng);
    case GWLB_BALANCER_RANDOM:
        return pick_random(b, gi, f, now, rng);
    default:
        return pick_random_two(b, gi, f, now, rng);
    }
}

/* Pick in a group and take the host; retries a few times when a concurrent
 * pick filled the chosen host's max in-flight in between. */
static int take_in_group(const gwlb_balancer *b, uint32_t gi, int mode, filter *f, uint64_t now,
                         gwlb_balancer_result *out)
{
    filter_mode(f, mode);
    for (int attempt = 0; attempt < 4; attempt++) {
        int64_t k = pick_in_group(b, gi, f, now);
        if (k < 0)
            return GWLB_ENOHOST;
        if (take(b, b->members[b->groups[gi].first + (uint32_t)k].host, now, out,
                 !f->no_count) == GWLB_OK)
            return GWLB_OK;
    }
    return GWLB_ENOHOST;
}

/* ---- Priority loads (Envoy LoadBalancerBase), cached per flags epoch ---------------- */

static void prio_compute(const gwlb_balancer *b, gwlb__bprio *p)
{
    uint32_t levels = 0;
    for (uint32_t l = 0; l < 8; l++)
        if (b->levels_used & (1u << l))
            levels = l + 1;
    uint32_t total[8] = {0}, healthy[8] = {0}, degraded[8] = {0};
    uint32_t health[8] = {0}, dhealth[8] = {0};
    uint32_t all_hosts = 0, sum = 0;
    memset(p, 0, sizeof *p);
    for (uint32_t l = 0; l < levels; l++) {
        const gwlb__bgroup *g = &b->groups[l];
        total[l] = g->count;
        all_hosts += g->count;
        for (uint32_t k = 0; k < g->count; k++) {
            uint32_t fl = gwlb__ld32(&slot_of(b, b->members[g->first + k].slot)->flags);
            if (fl & GWLB_HOST_INELIGIBLE_MASK)
                continue;
            if (fl & GWLB_HOST_DEGRADED)
                degraded[l]++;
            else
                healthy[l]++;
        }
        if (total[l] > 0) {
            uint64_t h = (uint64_t)b->cfg.overprovisioning_factor * healthy[l] / total[l];
            uint64_t d = (uint64_t)b->cfg.overprovisioning_factor * degraded[l] / total[l];
            health[l] = h > 100 ? 100 : (uint32_t)h;
            dhealth[l] = d > 100 ? 100 : (uint32_t)d;
        }
        sum += health[l] + dhealth[l];
    }
    uint32_t avail = sum > 100 ? 100 : sum;
    p->available = avail;
    int all_panic = 1;
    for (uint32_t l = 0; l < levels; l++) {
        int panic;
        if (avail == 0)
            panic = 1;
        else if (total[l] == 0)
            panic = 1;
        else
            panic = 100.0 * healthy[l] / total[l] + 100.0 * degraded[l] / total[l] <
                    (double)b->cfg.panic_threshold;
        if (panic)
            p->panic_mask |= 1u << l;
        else
            all_panic = 0;
    }
    if (b->cfg.panic_threshold == 0) {
        p->panic_mask = 0;
        all_panic = 0;
    }
    if (avail > 0) {
        /* healthy first, then degraded; each level min(remaining, avail_l*100/total) */
        uint32_t remaining = 100;
        int first_h = -1, first_d = -1;
        for (uint32_t l = 0; l < levels; l++) {
            if (first_h < 0 && health[l] > 0)
                first_h = (int)l;
            uint32_t v = health[l] * 100 / avail;
            if (v > remaining)
                v = remaining;
            p->healthy_load[l] = (uint8_t)v;
            remaining -= v;
        }
        for (uint32_t l = 0; l < levels; l++) {
            if (first_d < 0 && dhealth[l] > 0)
                first_d = (int)l;
            uint32_t v = dhealth[l] * 100 / avail;
            if (v > remaining)
                v = remaining;
            p->degraded_load[l] = (uint8_t)v;
            remaining -= v;
        }
        if (remaining != 0) {
            if (first_h >= 0)
                p->healthy_load[first_h] = (uint8_t)(p->healthy_load[first_h] + remaining);
            else if (first_d >= 0)
                p->degraded_load[first_d] = (uint8_t)(p->degraded_load[first_d] + remaining);
        }
    }
    if (all_panic && all_hosts > 0) {
        uint32_t remaining = 100;
        int first = -1;
        for (uint32_t l = 0; l < levels; l++) {
            uint32_t v = 100 * total[l] / all_hosts;
            if (first < 0 && total[l] > 0)
                first = (int)l;
            p->total_panic_load[l] = (uint8_t)v;
            remaining -= v;
        }
        p->total_panic_load[first] = (uint8_t)(p->total_panic_load[first] + remaining);
        p->total_panic = 1;
    }
    p->simple = !p->total_panic && avail > 0 && p->healthy_load[0] == 100 && !(p->panic_mask & 1u);
    p->clean0 = p->simple && total[0] > 0 && healthy[0] == total[0];
}

/* The cache: words published under a sequence lock (readers never block). */
#define PRIO_WORDS (sizeof(gwlb__bprio) / sizeof(uint64_t))

static void prio_get(const gwlb_balancer *b, gwlb__bprio *out)
{
    gwlb_balancer *mb = (gwlb_balancer *)(uintptr_t)b;
    uint64_t epoch = atomic_load_explicit(GWLB__A64(&b->state->h.flags_epoch),
                                          memory_order_acquire) +
                     1;
    _Atomic uint64_t *seq = GWLB__A64(&mb->prio_seq);
    uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
    if ((s1 & 1) == 0) {
        uint64_t words[PRIO_WORDS];
        for (size_t i = 0; i < PRIO_WORDS; i++)
            words[i] = gwlb__ld64((uint64_t *)(void *)&mb->prio + i);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) == s1 && words[0] == epoch) {
            memcpy(out, words, sizeof *out);
            return;
        }
    }
    prio_compute(b, out);
    out->epoch = epoch;
    if (out->simple)
        atomic_store_explicit(GWLB__A64(&mb->prio_fast), epoch, memory_order_relaxed);
    if (out->clean0)
        atomic_store_explicit(GWLB__A64(&mb->clean_epoch), epoch, memory_order_relaxed);
    /* publish if nobody else is writing */
    if ((s1 & 1) == 0 &&
        atomic_compare_exchange_strong_explicit(seq, &s1, s1 + 1, memory_order_acquire,
                                                memory_order_relaxed)) {
        atomic_thread_fence(memory_order_release);
        uint64_t words[PRIO_WORDS];
        memcpy(words, out, sizeof words);
        for (size_t i = 0; i < PRIO_WORDS; i++)
            gwlb__st64((uint64_t *)(void *)&mb->prio + i, words[i]);
        atomic_store_explicit(seq, s1 + 2, memory_order_release);
    }
}

static uint32_t choose_level(const uint8_t *load, uint32_t r, int *found)
{
    uint32_t acc = 0;
    for (uint32_t l = 0; l < 8; l++) {
        acc += load[l];
        if (r < acc) {
            *found = 1;
            return l;
        }
    }
    *found = 0;
    return 0;
}

static int pick_main(const gwlb_balancer *b, uint64_t now, filter *f, gwlb_balancer_result *out)
{
    gwlb__bprio p;
    uint64_t epoch = atomic_load_explicit(GWLB__A64(&b->state->h.flags_epoch),
                                          memory_order_acquire) +
                     1;
    if (GWLB__LIKELY(gwlb__ld64(&b->prio_fast) == epoch))
        p.simple = 1;
    else
        prio_get(b, &p);
    uint32_t tried_group = UINT32_MAX;
    int tried_mode = -1;
    if (GWLB__LIKELY(p.simple)) {
        if (take_in_group(b, 0, MODE_HEALTHY, f, now, out) == GWLB_OK)
            return GWLB_OK;
        tried_group = 0;
        tried_mode = MODE_HEALTHY;
    } else {
        gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
        _Atomic uint64_t *panics = GWLB__A64(&b->state->h.panic_picks);
        int found = 0;
        if (p.available == 0 && b->groups[GWLB__GROUP_BACKUP].count > 0) {
            if (take_in_group(b, GWLB__GROUP_BACKUP, MODE_HEALTHY, f, now, out) == GWLB_OK ||
                take_in_group(b, GWLB__GROUP_BACKUP, MODE_DEGRADED, f, now, out) == GWLB_OK) {
                atomic_fetch_add_explicit(GWLB__A64(&b->state->h.backup_picks), 1,
                                          memory_order_relaxed);
                return GWLB_OK;
            }
        }
        if (p.total_panic) { /* total panic: level by host count, any host */
            uint32_t l = choose_level(p.total_panic_load, (uint32_t)fast_below(rng, 100),
                                      &found);
            if (found && take_in_group(b, l, MODE_ANY, f, now, out) == GWLB_OK) {
                atomic_fetch_add_explicit(panics, 1, memory_order_relaxed);
                return GWLB_OK;
            }
        } else if (p.available > 0) {
            uint32_t r = (uint32_t)fast_below(rng, 100);
            int mode = MODE_HEALTHY;
            uint32_t l = choose_level(p.healthy_load, r, &found);
            if (!found) {
                uint32_t acc = 0;
                for (uint32_t i = 0; i < 8; i++)
                    acc += p.healthy_load[i];
                l = choose_level(p.degraded_load, r - acc, &found);
                mode = MODE_DEGRADED;
            }
            if (found) {
                if (p.panic_mask & (1u << l))
                    mode = MODE_ANY;
                if (take_in_group(b, l, mode, f, now, out) == GWLB_OK) {
                    if (mode == MODE_ANY)
                        atomic_fetch_add_explicit(panics, 1, memory_order_relaxed);
                    return GWLB_OK;
                }
                tried_group = l;
                tried_mode = mode;
            }
        }
    }
    /* fallback: levels in order (healthy, then degraded), then backups */
    for (uint32_t l = 0; l < 8; l++) {
        if (!(b->levels_used & (1u << l)))
            continue;
        for (int mode = MODE_HEALTHY; mode <= MODE_DEGRADED; mode++) {
            if (l == tried_group && mode == tried_mode)
                continue;
            if (take_in_group(b, l, mode, f, now, out) == GWLB_OK)
                return GWLB_OK;
        }
    }
    if (b->groups[GWLB__GROUP_BACKUP].count > 0 &&
        (take_in_group(b, GWLB__GROUP_BACKUP, MODE_HEALTHY, f, now, out) == GWLB_OK ||
         take_in_group(b, GWLB__GROUP_BACKUP, MODE_DEGRADED, f, now, out) == GWLB_OK)) {
        atomic_fetch_add_explicit(GWLB__A64(&b->state->h.backup_picks), 1, memory_order_relaxed);
        return GWLB_OK;
    }
    atomic_fetch_add_explicit(GWLB__A64(&b->state->h.no_host), 1, memory_order_relaxed);
    return GWLB_ENOHOST;
}

/*
 * The common configuration, specialised twice.
 *
 * Clean (tier 1): level 0 takes all traffic, every level-0 host is healthy
 * (both known from the priority cache of the current flags epoch:
 * b->clean_epoch) and no slot of the state has nginx fails or a max
 * in-flight limit (header.hazards == 0). Then every member is usable and
 * the algorithms run without any per-host check: a RR pick is one cursor
 * step, a modulo and the result. Decisions are exactly those of the
 * general path (which would accept every member it examines).
 *
 * Simple (tier 2): level 0 takes all traffic, healthy hosts only, no tried
 * set; members are checked one by one with a constant filter.
 *
 * Returns 1 when the general path must decide.
 */
static const filter healthy_filter = {GWLB_HOST_INELIGIBLE_MASK | GWLB_HOST_DEGRADED, 0, NULL, 0,
                                      0};

/* Round robin over level 0 (members of group 0 start at index 0). */
static inline uint32_t clean_rr(const gwlb_balancer *b, gwlb_balancer_state *st)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint64_t v = seq_next(GWLB__A64(&st->h.sequence[0].value));
    return g->count == 1 ? 0 : fastmod((uint32_t)(v + b->start), g);
}

/* Index of the lowest set bit of a non-zero word. */
static inline uint32_t lowest_bit(uint32_t m)
{
#if defined(__GNUC__)
    return (uint32_t)__builtin_ctz(m);
#else
    uint32_t i = 0;
    while (!(m & 1u)) {
        m >>= 1;
        i++;
    }
    return i;
#endif
}

/* Sequence positions one WRR acceptance window covers (bits of a mask). */
#define WRR_WINDOW 32u

/*
 * Acceptance mask of the WRR_WINDOW positions from (member k < c,
 * generation gen) of level 0. Position k + i is member m = (k + i) mod c
 * of generation gen + q, q = (k + i) / c, and pick_wrr accepts it iff
 * (s_m × (gen + q) + m × golden) mod 2^24 < s_m. The build laid out, for
 * i < c + 32: wrr_s[i] = s_m and wrr_po[i] = (s_m × q + m × golden) mod 2^24
 * (b->strides, two halves), so the test is (wrr_s × gen + wrr_po) mod 2^24
 * < wrr_s for every lane, one generation for all: only the low 24 bits of
 * each 32-bit product matter.
 */
#if !defined(__SSE2__)
static uint32_t wrr_mask_scalar(const uint32_t *sd, const uint32_t *po, uint32_t gen)
{
    uint32_t mask = 0;
    for (uint32_t i = 0; i < WRR_WINDOW; i++)
        mask |= (uint32_t)(((sd[i] * gen + po[i]) & STRIDE_MASK) < sd[i]) << i;
    return mask;
}
#else
/* The same, four lanes at a time (SSE2 multiplies 32x32->64 on two lanes:
 * even and odd lanes apart). Signed compares are exact: values < 2^25. */
static uint32_t wrr_mask_sse2(const uint32_t *sd, const uint32_t *po, uint32_t gen)
{
    const __m128i gv = _mm_set1_epi32((int32_t)gen);
    const __m128i low24 = _mm_set1_epi32((int32_t)STRIDE_MASK);
    uint32_t mask = 0;
    for (uint32_t i = 0; i < WRR_WINDOW; i += 4) {
        __m128i s = _mm_loadu_si128((const __m128i *)(const void *)(sd + i));
        __m128i p = _mm_loadu_si128((const __m128i *)(const void *)(po + i));
        __m128i even = _mm_mul_epu32(s, gv);
        __m128i odd = _mm_mul_epu32(_mm_srli_epi64(s, 32), gv);
        __m128i prod = _mm_unpacklo_epi32(_mm_shuffle_epi32(even, _MM_SHUFFLE(0, 0, 2, 0)),
                                          _mm_shuffle_epi32(odd, _MM_SHUFFLE(0, 0, 2, 0)));
        __m128i ph = _mm_and_si128(_mm_add_epi32(prod, p), low24);
        mask |= (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(ph, s))) << i;
    }
    return mask;
}
#endif

static inline uint32_t wrr_mask(const gwlb_balancer *b, uint32_t c, uint32_t k, uint32_t gen)
{
    const uint32_t *sd = b->strides + k, *po = b->strides + c + WRR_WINDOW + k;
#if defined(__SSE2__)
    return wrr_mask_sse2(sd, po, gen);
#else
    return wrr_mask_scalar(sd, po, gen);
#endif
}

/*
 * Stride WRR over level 0, as pick_wrr with every member usable.
 *
 * Whether a position accepts is a pure function of the 32-bit position x,
 * and to the branch predictor a coin flip once the hosts are many: probing
 * with branches cost a mispredicted branch per pick at 1k hosts and more,
 * and probing branch-free makes the next pick wait for this pick's whole
 * computation (the cursor is a chain from pick to pick). So the
 * acceptances of 32 consecutive positions are computed together (SSE2,
 * four at a time, see wrr_mask), every ~17 picks, into a mask (b->wrr_window), and a pick
 * is: cursor, shift, lowest set bit, cursor + distance (pick_entry).
 * The member is the position modulo the count, off the cursor's chain.
 * Decisions are exactly pick_wrr's: a pick inside the window takes the
 * first accepting position from x, well before the probe limit; every
 * other case is wrr_refill's.
 *
 * wrr_refill: compute and publish the window from x (unless the 32-bit
 * position is about to wrap), pick from it, and past it probe one by one
 * as pick_wrr does. Returns the positions consumed; *k_out the member.
 */
static GWLB__NOINLINE uint32_t wrr_refill(const gwlb_balancer *b, uint32_t x, uint32_t *k_out)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint32_t c = g->count, k, gen, t = 1;
    if (c == 1) {
        k = 0;
        gen = x;
    } else {
        k = fastmod(x, g);
        gen = fastdiv(x, g);
    }
    if (GWLB__LIKELY(x <= UINT32_MAX - WRR_WINDOW)) {
        uint32_t mask = wrr_mask(b, c, k, gen);
        gwlb_balancer *mb = (gwlb_balancer *)(uintptr_t)b;
        atomic_store_explicit(GWLB__A64(&mb->wrr_window), (uint64_t)x << 32 | mask,
                              memory_order_relaxed);
        if (GWLB__LIKELY(mask != 0)) {
            uint32_t j = lowest_bit(mask);
            *k_out = c == 1 ? 0 : fastmod(x + j, g);
            return j + 1;
        }
        x += WRR_WINDOW;
        k = c == 1 ? 0 : fastmod(x, g);
        gen = c == 1 ? x : fastdiv(x, g);
        t = WRR_WINDOW + 1;
    }
    const gwlb__bmember *mem = b->members;
    uint32_t limit = 2 * c + 64;
    for (;; t++) {
        uint64_t stride = mem[k].stride;
        uint64_t offset = ((uint64_t)k * UINT64_C(0x9e3779b9)) & STRIDE_MASK;
        if (((stride * gen + offset) & STRIDE_MASK) < stride || t == limit) {
            *k_out = k;
            return t;
        }
        if (GWLB__UNLIKELY(++x == 0)) { /* 32-bit position wrapped */
            k = 0;
            gen = 0;
        } else if (++k == c) {
            k = 0;
            gen++;
        }
    }
}

/* Pick member k at cursor v without the window (wrr_refill), store the cursor. */
static inline uint32_t clean_wrr(const gwlb_balancer *b)
{
    _Atomic uint64_t *seq = GWLB__A64(&b->state->h.sequence[0].value);
    uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
    uint32_t k, n = wrr_refill(b, (uint32_t)(v + b->start), &k);
    atomic_store_explicit(seq, v + n, memory_order_relaxed);
    return k;
}

/* Is the clean fast path valid now? (see above) */
static inline int clean_now(const gwlb_balancer *b, const gwlb_balancer_state *st)
{
    uint64_t epoch = atomic_load_explicit(GWLB__A64(&st->h.flags_epoch), memory_order_acquire) + 1;
    return gwlb__ld64(&b->clean_epoch) == epoch && gwlb__ld64(&st->h.hazards) == 0;
}

/* Least request (P2C / N choices) over level 0 with every member usable:
 * pick_least_request's first round, without the checks. */
static inline uint32_t clean_lr(const gwlb_balancer *b)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint32_t c = g->count;
    if (c == 1)
        return 0;
    gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
    const gwlb__bmember *base = b->members;
    const gwlb__bslot *slots = b->state->slots;
    uint32_t cc = b->cfg.choice_count, bias = b->bias_mode;
    uint32_t best, active_best = 0, j;
    if (g->all_equal) {
        /* the first two choices are distinct (one 64-bit draw) */
        uint64_t pair = fast_rand(rng);
        uint32_t k1 = (uint32_t)(((pair >> 32) * c) >> 32);
        uint32_t k2 = (uint32_t)(((pair & 0xffffffffu) * (c - 1)) >> 32);
        k2 += k2 >= k1;
        best = k1;
        if (bias != 0) {
            active_best = gwlb__ld32(&slots[base[k1].slot].in_flight);
            uint32_t a2 = gwlb__ld32(&slots[base[k2].slot].in_flight);
            if (a2 < active_best) {
                best = k2;
                active_best = a2;
            }
        }
        j = 2;
    } else {
        best = alias_draw(b, g, fast_rand(rng));
        if (bias != 0)
            active_best = gwlb__ld32(&slots[base[best].slot].in_flight);
        j = 1;
    }
    for (; j < cc; j++) {
        uint32_t k = g->all_equal ? (uint32_t)fast_below(rng, c) : alias_draw(b, g, fast_rand(rng));
        if (bias != 0) {
            uint32_t a = gwlb__ld32(&slots[base[k].slot].in_flight);
            if (a < active_best) {
                best = k;
                active_best = a;
            }
        }
    }
    return best;
}

/* Peak EWMA over level 0 with every member usable (pick_peak_ewma's first round). */
static inline uint32_t clean_ewma(const gwlb_balancer *b, uint64_t now)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint32_t c = g->count;
    if (c == 1)
        return 0;
    uint64_t r = fast_rand((gwlb_rng *)(uintptr_t)&b->rng);
    uint32_t k1 = (uint32_t)(((r >> 32) * c) >> 32);
    uint32_t k2 = (uint32_t)(((r & 0xffffffffu) * (c - 1)) >> 32);
    k2 += k2 >= k1;
    return ewma_less(b, &b->members[k2], &b->members[k1], now) ? k2 : k1;
}

/* Clean path of the algorithms other than RR/WRR: a member, or -1. */
static inline int64_t clean_other(const gwlb_balancer *b, uint64_t now)
{
    gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
    switch (b->fast_kind) {
    case GWLB__FAST_LR:
        return clean_lr(b);
    case GWLB__FAST_EWMA: /* (pick_entry takes GWLB__FAST_EWMA_UNIT itself) */
        return clean_ewma(b, now);
    case GWLB__FAST_RANDOM:
        return alias_draw(b, &b->groups[0], fast_rand(rng));
    default:
        if (b->cfg.algorithm == GWLB_BALANCER_NGINX_ROUND_ROBIN)
            return pick_swrr(b, 0, NULL, now);
        if (b->cfg.algorithm == GWLB_BALANCER_LEAST_CONN)
            return pick_least_conn(b, 0, NULL, now);
        return -1;
    }
}

/* Fill *out for member k of level 0 on the clean path (no checks needed). */
static inline void clean_take(const gwlb_balancer *b, gwlb_balancer_state *st, uint32_t k,
                              gwlb_balancer_result *out, int count)
{
    const gwlb__bpick *p = &b->picks[k];
    uint32_t host = p->host, slot = p->slot;
    uint64_t ud = p->user_data;
    if (count)
        rmw_add32(b, &st->slots[slot].in_flight, 1);
    out->host_index = host;
    out->slot = slot;
    out->user_data = ud;
    out->aux = 0;
    out->token = count ? pick_token(st, slot) : 1;
}

/* clean_take with the record and its slot already at hand. */
static inline void clean_take_rec(const gwlb_balancer *b, gwlb_balancer_state *st,
                                  const gwlb__bpick *p, uint32_t slot, gwlb_balancer_result *out,
                                  int count)
{
    /* the slot and the token first, each a store of its own (not merged
     * with the host's: the release reads them back at once, and their
     * values are ready before the record's load) */
    out->slot = slot;
    out->token = count ? pick_token(st, slot) : 1;
    GWLB__STORE_FENCE();
    if (count)
        rmw_add32(b, &st->slots[slot].in_flight, 1);
    out->host_index = p->host;
    out->user_data = p->user_data;
    out->aux = 0;
}

/* Tier 2: level 0 takes everything; members checked one by one. */
static GWLB__NOINLINE int simple_pick(const gwlb_balancer *b, uint64_t now,
                                      gwlb_balancer_result *out, int count)
{
    uint64_t epoch = atomic_load_explicit(GWLB__A64(&b->state->h.flags_epoch),
                                          memory_order_acquire) +
                     1;
    if (GWLB__UNLIKELY(gwlb__ld64(&b->prio_fast) != epoch))
        return 1;
    gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
    int64_t k;
    switch (b->cfg.algorithm) {
    case GWLB_BALANCER_ROUND_ROBIN:
        k = pick_rr(b, 0, &healthy_filter, now);
        break;
    case GWLB_BALANCER_WEIGHTED_ROUND_ROBIN:
        k = pick_wrr(b, 0, &healthy_filter, now);
        break;
    case GWLB_BALANCER_LEAST_REQUEST:
        k = pick_least_request(b, 0, &healthy_filter, now, rng);
        break;
    case GWLB_BALANCER_PEAK_EWMA:
        k = pick_peak_ewma(b, 0, &healthy_filter, now, rng);
        break;
    case GWLB_BALANCER_RANDOM:
        k = pick_random(b, 0, &healthy_filter, now, rng);
        break;
    default:
        return 1;
    }
    if (k < 0)
        return 1;
    return take(b, b->members[(uint32_t)k].host, now, out, count) == GWLB_OK ? 0 : 1;
}

/* Everything but the inlined RR/WRR clean paths. */
static GWLB__NOINLINE int pick_slow(const gwlb_balancer *bal, uint64_t now,
                                    gwlb_balancer_result *out, int count)
{
    if (GWLB__UNLIKELY(bal == NULL || out == NULL))
        return GWLB_EINVAL;
    if (simple_pick(bal, now, out, count) == 0)
        return GWLB_OK;
    filter f = {0, 0, NULL, 0, (uint32_t)!count};
    return pick_main(bal, now, &f, out);
}

/* The clean path of the other algorithms, else the general one (a tail
 * call from the entry points, so they need no stack frame). */
static int clean_ewma_pick(const gwlb_balancer *b, uint64_t now, gwlb_balancer_result *out,
                           int count);

static GWLB__NOINLINE int clean_pick_other(const gwlb_balancer *b, uint64_t now,
                                           gwlb_balancer_result *out, int count)
{
    /* peak EWMA with weights other than 1: dispatched here (pick_entry
     * tests for the unit-weight kind only, so its RR/WRR code keeps its
     * placement) */
    if (b->fast_kind == GWLB__FAST_EWMA)
        return clean_ewma_pick(b, now, out, count);
    int64_t r = clean_other(b, now);
    if (GWLB__UNLIKELY(r < 0))
        return pick_slow(b, now, out, count);
    clean_take(b, b->state, (uint32_t)r, out, count);
    return GWLB_OK;
}

/* Least request over level 0 on the clean path, any number of choices. */
static GWLB__NOINLINE int clean_lr_general(const gwlb_balancer *b, gwlb_balancer_result *out,
                                           int count)
{
    clean_take(b, b->state, clean_lr(b), out, count);
    return GWLB_OK;
}

/* The end of a clean P2C pick: the candidate with fewer in flight (ties
 * and bias 0: the first). The slots come from the pick records. */
static inline int clean_p2c_take(const gwlb_balancer *b, uint32_t k1, uint32_t k2,
                                 gwlb_balancer_result *out, int count)
{
    gwlb_balancer_state *st = b->state;
    const gwlb__bpick *base = b->picks;
    uint32_t best = k1;
    if (b->bias_mode != 0 && gwlb__ld32(&st->slots[base[k2].slot].in_flight) <
                                 gwlb__ld32(&st->slots[base[k1].slot].in_flight))
        best = k2;
    clean_take(b, st, best, out, count);
    return GWLB_OK;
}

/* Weighted P2C: two alias draws (its own frame: the unweighted pick stays
 * light). */
static GWLB__NOINLINE int clean_lr_pick_weighted(const gwlb_balancer *b,
                                                 gwlb_balancer_result *out, int count)
{
    const gwlb__bgroup *g = &b->groups[0];
    gwlb_rng *rng = (gwlb_rng *)(uintptr_t)&b->rng;
    uint32_t k1 = alias_draw(b, g, fast_rand(rng));
    uint32_t k2 = alias_draw(b, g, fast_rand(rng));
    return clean_p2c_take(b, k1, k2, out, count);
}

/* P2C (clean_lr with two choices and c > 1: the same draws and comparison)
 * needs few registers: no stack frame. */
static GWLB__NOINLINE int clean_lr_pick(const gwlb_balancer *b, gwlb_balancer_result *out,
                                        int count)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint32_t c = g->count;
    if (GWLB__UNLIKELY(b->cfg.choice_count != 2 || c == 1))
        return clean_lr_general(b, out, count);
    if (!g->all_equal)
        return clean_lr_pick_weighted(b, out, count);
    /* two distinct members from one draw */
    uint64_t pair = fast_rand((gwlb_rng *)(uintptr_t)&b->rng);
    uint32_t k1 = (uint32_t)(((pair >> 32) * c) >> 32);
    uint32_t k2 = (uint32_t)(((pair & 0xffffffffu) * (c - 1)) >> 32);
    k2 += k2 >= k1;
    return clean_p2c_take(b, k1, k2, out, count);
}

/* clean_ewma_pick's near-tie: the member of record p2 against that of p1,
 * with the exp (or equal ages: factor 1). */
static GWLB__NOINLINE int clean_ewma_tie(const gwlb_balancer *b, gwlb_balancer_result *out,
                                         int count, const gwlb__bpick *p1, const gwlb__bpick *p2,
                                         uint64_t a2, uint64_t a1, double l2, double w2,
                                         double l1, double w1)
{
    const gwlb__bpick *p = ewma_less_parts(b, l2, a2, w2, l1, a1, w1) ? p2 : p1;
    clean_take_rec(b, b->state, p, p->slot, out, count);
    return GWLB_OK;
}

/* Above this many hosts the slots of a clean peak-EWMA pick miss L1 (two
 * random 128-byte lines per pick); below, prefetching only costs. */
#define EWMA_PREFETCH_HOSTS 256

/* Start fetching the slots of both candidates of the NEXT clean peak-EWMA
 * pick: its pair is known now (pair_ahead's *next). A hint only: if
 * another thread draws first, some line is fetched for nothing. */
static inline void ewma_prefetch_next(const gwlb_balancer *b, const gwlb_balancer_state *st,
                                      uint64_t pair)
{
    GWLB__PREFETCH_W(&st->slots[b->picks[(uint32_t)pair].slot]);
    GWLB__PREFETCH_W(&st->slots[b->picks[pair >> 32].slot]);
}

/* Peak EWMA over level 0 with every member usable: clean_ewma (the first
 * round of pick_peak_ewma: two distinct members from one draw, the lower
 * load wins, ties to the first) without the general dispatch, for the
 * members of records p1 and p2 as drawn, in the general form (`now` at or
 * above 2^53). The rare near-tie that needs the exp is a tail call. */
static GWLB__NOINLINE int clean_ewma_general(const gwlb_balancer *b, uint64_t now,
                                             gwlb_balancer_result *out, int count,
                                             const gwlb__bpick *p1, const gwlb__bpick *p2)
{
    gwlb_balancer_state *st = b->state;
    const gwlb__bmember *m1 = &b->members[p1 - b->picks], *m2 = &b->members[p2 - b->picks];
    uint64_t a1, a2;
    double l2 = ewma_slot_parts(b, &st->slots[p2->slot], now, &a2);
    double l1 = ewma_slot_parts(b, &st->slots[p1->slot], now, &a1);
    double w2 = (double)m2->weight, w1 = (double)m1->weight;
    int less = ewma_bounds(b, l2, a2, w2, l1, a1, w1);
    if (less == 2)
        return clean_ewma_tie(b, out, count, p1, p2, a2, a1, l2, w2, l1, w1);
    const gwlb__bpick *p = less ? p2 : p1;
    clean_take_rec(b, st, p, p->slot, out, count);
    return GWLB_OK;
}

/*
 * The clean peak-EWMA pick. Below now = 2^53 (always, for a clock of ns
 * since boot or since 1970) no age is needed: with t = stamp, or now + 1
 * for a slot without a sample or stamped after now (age 0, as
 * ewma_slot_parts clamps), age = now + 1 - t, so the ages differ by
 * t1 - t2 exactly and d is that count over tau. The bounds of ewma_bounds
 * settle the comparison without a branch on its outcome (which of two
 * random hosts is less loaded is a coin flip to the branch predictor):
 * lo = "certainly less", hi = "certainly not less". Their guards (d > -1
 * for lo, d < 1 for hi) are implied: loads are >= 0, so a factor 1 + d <= 0
 * (1 - d <= 0) already makes the test false. For d > 0 ewma_bounds tests
 * lo first, for d <= 0 hi first; d = 0 (equal ages) gives lo = x < y,
 * hi = x > y as its plain comparison, with near-ties to ewma_less_parts.
 */
static inline GWLB__ALWAYS_INLINE int clean_ewma_body(const gwlb_balancer *b, uint64_t now,
                                                       gwlb_balancer_result *out, int count,
                                                       int unit, int prefetch)
{
    const gwlb__bgroup *g = &b->groups[0];
    uint32_t c = g->count, k = 0;
    gwlb_balancer_state *st = b->state;
    if (GWLB__LIKELY(c > 1)) {
        uint64_t next, pair = pair_ahead(b, c, &next);
        uint32_t k1 = (uint32_t)pair, k2 = (uint32_t)(pair >> 32);
        if (prefetch) /* above EWMA_PREFETCH_HOSTS: the next pick's slots */
            ewma_prefetch_next(b, st, next);
        /* the slots from the pick records (read again for the result);
         * the members only for the weights */
        const gwlb__bpick *p1 = &b->picks[k1], *p2 = &b->picks[k2];
        if (GWLB__UNLIKELY((now >> 53) != 0))
            return clean_ewma_general(b, now, out, count, p1, p2);
        uint32_t sl1 = p1->slot, sl2 = p2->slot;
        const gwlb__bslot *s1 = &st->slots[sl1], *s2 = &st->slots[sl2];
        uint64_t t1 = gwlb__ld64(&s1->ewma_stamp), t2 = gwlb__ld64(&s2->ewma_stamp);
        uint64_t c1 = gwlb__ld64(&s1->ewma_cost), c2 = gwlb__ld64(&s2->ewma_cost);
        /* selects (cmov): whether a slot has a sample is a coin flip too
         * (GWLB__OPAQUE: the compiler would branch on t == 0 otherwise,
         * since t - 1 > now follows from it) */
        uint64_t ib = b->ewma_initial_bits, u1 = t1 - 1, u2 = t2 - 1;
        GWLB__OPAQUE(u1);
        GWLB__OPAQUE(u2);
        c1 = GWLB__COINFLIP(t1 != 0) ? c1 : ib;
        c2 = GWLB__COINFLIP(t2 != 0) ? c2 : ib;
        /* u = t - 1 = now - age: min(stamp - 1, now); stamp 0 (t - 1
         * wraps) and stamps after now give age 0 */
        u1 = GWLB__COINFLIP(u1 > now) ? now : u1;
        u2 = GWLB__COINFLIP(u2 > now) ? now : u2;
        double cost1, cost2;
        memcpy(&cost1, &c1, sizeof cost1);
        memcpy(&cost2, &c2, sizeof cost2);
        /* (double)n + 1.0, one conversion (both exact below 2^53) */
        double l1 = cost1 * (double)((uint64_t)gwlb__ld32(&s1->in_flight) + 1);
        double l2 = cost2 * (double)((uint64_t)gwlb__ld32(&s2->in_flight) + 1);
        /* l2/w2 < l1/w1 without dividing (unit: the weights are 1.0) */
        double w2 = unit ? 1.0 : (double)b->members[k2].weight;
        double w1 = unit ? 1.0 : (double)b->members[k1].weight;
        double x = unit ? l2 : l2 * w1, y = unit ? l1 : l1 * w2;
        /* age2 - age1 = u1 - u2 (both ages below 2^53): D exactly. The
         * bounds only need to hold with their margin (rounding is far
         * below it), so they take the short forms y·c1·(1 + d) =
         * y·(c1 + c1/tau·D) and 1 - d = 1 - D/tau */
        double D = (double)(int64_t)(u1 - u2);
        uint32_t lo = (uint32_t)(x < y * (b->ewma_lo_c + b->ewma_lo_cd * D));
        uint32_t hi = (uint32_t)(x * (1.0 - b->inv_decay * D) > y * (1.0 + 1e-9));
        if (GWLB__UNLIKELY(lo + hi == 0)) /* (+: one test, not two branches) */
            return clean_ewma_tie(b, out, count, p1, p2, now - u2, now - u1, l2, w2, l1, w1);
        /* d > 0 exactly when u1 > u2 (a positive count times 1/tau) */
        uint32_t less = lo & ((uint32_t)(u1 > u2) | (hi ^ 1u));
        GWLB__OPAQUE(less); /* (one select on it, not a branch on a part) */
        /* the winner's record and slot by select, not by a dependent load */
        const gwlb__bpick *p = GWLB__COINFLIP(less) ? p2 : p1;
        uint32_t slot = GWLB__COINFLIP(less) ? sl2 : sl1;
        clean_take_rec(b, st, p, slot, out, count);
        return GWLB_OK;
    }
    clean_take(b, st, k, out, count);
    return GWLB_OK;
}

/* (count a constant in each body: one register less in the pick) */
static GWLB__NOINLINE int clean_ewma_pick(const gwlb_balancer *b, uint64_t now,
                                          gwlb_balancer_result *out, int count)
{
    if (!count) /* choose: no prefetch */
        return clean_ewma_body(b, now, out, 0, 0, 0);
    if (b->groups[0].count > EWMA_PREFETCH_HOSTS)
        return clean_ewma_body(b, now, out, 1, 0, 1);
    return clean_ewma_body(b, now, out, 1, 0, 0);
}

/* The same with every level-0 weight 1 (GWLB__FAST_EWMA_UNIT). */
static GWLB__NOINLINE int clean_ewma_pick_unit(const gwlb_balancer *b, uint64_t now,
                                               gwlb_balancer_result *out, int count)
{
    if (!count)
        return clean_ewma_body(b, now, out, 0, 1, 0);
    if (b->groups[0].count > EWMA_PREFETCH_HOSTS)
        return clean_ewma_body(b, now, out, 1, 1, 1);
    return clean_ewma_body(b, now, out, 1, 1, 0);
}

/* Start fetching the slot of member k + 4 of level 0 (see pick_entry). */
static inline void prefetch_ahead(const gwlb_balancer *bal, const gwlb_balancer_state *st,
                                  uint32_t k)
{
    uint32_t c = bal->groups[0].count, nk = k + 4;
    if (c > 8)
        GWLB__PREFETCH_W(&st->slots[bal->picks[nk < c ? nk : nk - c].slot]);
}

/* WRR clean pick when the acceptance window does not settle it. */
static GWLB__NOINLINE int clean_wrr_slow(const gwlb_balancer *bal, gwlb_balancer_result *out,
                                         int count)
{
    gwlb_balancer_state *st = bal->state;
    uint32_t k = clean_wrr(bal);
    if (count)
        prefetch_ahead(bal, st, k);
    clean_take(bal, st, k, out, count);
    return GWLB_OK;
}

/*
 * The window also tells the picks to come (on this cursor): `rest` holds
 * the accepting positions from the current pick's at bit 0. The distance
 * to the next pick (at the window's end: a guess).
 */
static inline uint32_t wrr_ahead(uint32_t rest)
{
    rest &= rest - 1;
    return rest != 0 ? lowest_bit(rest) : 6;
}

/*
 * The public entry points keep the RR clean path inline and small (no
 * callee-saved registers to spill); everything else is a tail call.
 */
static inline int pick_entry(const gwlb_balancer *bal, uint64_t now, gwlb_balancer_result *out,
                             int count)
{
    if (GWLB__LIKELY(bal != NULL && out != NULL)) {
        /* the state pointer never changes: loaded once (atomics force reloads) */
        gwlb_balancer_state *st = bal->state;
        if (GWLB__LIKELY(clean_now(bal, st))) {
            if (bal->fast_kind == GWLB__FAST_RR) {
                uint32_t k = clean_rr(bal, st);
                /* the picks after next will most likely want member k + 4:
                 * start fetching its slot (slots are placed by identity
                 * hash, so the hardware prefetcher cannot guess them) */
                if (count)
                    prefetch_ahead(bal, st, k);
                clean_take(bal, st, k, out, count);
                return GWLB_OK;
            }
            if (bal->fast_kind == GWLB__FAST_WRR) {
                /* stride WRR from the acceptance window (see clean_wrr_slow
                 * and wrr_refill for the rest) */
                _Atomic uint64_t *seq = GWLB__A64(&st->h.sequence[0].value);
                uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
                uint64_t w = atomic_load_explicit(GWLB__A64(&bal->wrr_window),
                                                  memory_order_relaxed);
                uint32_t x = (uint32_t)(v + bal->start), d = x - (uint32_t)(w >> 32);
                uint32_t m = d < WRR_WINDOW ? (uint32_t)w >> d : 0;
                if (GWLB__UNLIKELY(m == 0))
                    return clean_wrr_slow(bal, out, count);
                uint32_t j = lowest_bit(m);
                atomic_store_explicit(seq, v + j + 1, memory_order_relaxed);
                /* the member: 0 for one member (fastmod constant 0) */
                uint32_t k = fastmod(x + j, &bal->groups[0]);
                /* start fetching the slot of the next pick (slots are
                 * placed by identity hash: the hardware prefetcher cannot
                 * guess them; the next is the accurate guess, an L3 hit
                 * takes about one pick); up to 2048 hosts the slots stay
                 * in cache and the prefetch only costs */
                if (count && bal->groups[0].count > 2048)
                    GWLB__PREFETCH_W(
                        &st->slots[bal->picks[fastmod(x + j + wrr_ahead(m >> j), &bal->groups[0])]
                                       .slot]);
                clean_take(bal, st, k, out, count);
                return GWLB_OK;
            }
            if (bal->fast_kind == GWLB__FAST_LR)
                return clean_lr_pick(bal, out, count);
            if (bal->fast_kind == GWLB__FAST_EWMA_UNIT)
                return clean_ewma_pick_unit(bal, now, out, count);
            return clean_pick_other(bal, now, out, count);
        }
    }
    return pick_slow(bal, now, out, count);
}

GWLB__LINE_ALIGNED int gwlb_balancer_pick(const gwlb_balancer *bal, uint64_t now,
                                      gwlb_balancer_result *out)
{
    return pick_entry(bal, now, out, 1);
}

int gwlb_balancer_choose(const gwlb_balancer *bal, uint64_t now, gwlb_balancer_result *out)
{
    return pick_entry(bal, now, out, 0);
}

int gwlb_balancer_pick_excluding(const gwlb_balancer *bal, uint64_t now, const uint64_t *tried,
                                 uint32_t tried_words, gwlb_balancer_result *out)
{
    if (bal == NULL || out == NULL || (tried == NULL && tried_words != 0))
        return GWLB_EINVAL;
    filter f = {0, 0, tried_words ? tried : NULL, tried_words, 0};
    return pick_main(bal, now, &f, out);
}

int gwlb__balancer_nginx_rr(const gwlb_balancer *b, uint64_t now, const uint64_t *tried,
                            uint32_t tried_words, gwlb_balancer_result *out)
{
    filter f = {0, 0, tried_words ? tried : NULL, tried_words, 0};
    for (uint32_t gi = 0; gi < GWLB__GROUPS; gi++) {
        if (b->groups[gi].count == 0)
            continue;
        filter_mode(&f, MODE_ELIGIBLE);
        int64_t k = pick_swrr(b, gi, &f, now);
        if (k >= 0 && gwlb__balancer_take(b, b->members[b->groups[gi].first + (uint32_t)k].host,
                                          now, out) == GWLB_OK)
            return GWLB_OK;
    }
    return GWLB_ENOHOST;
}

int gwlb_balancer_acquire_host(const gwlb_balancer *bal, uint32_t host_index, uint64_t now,
                               gwlb_balancer_result *out)
{
    if (bal == NULL || out == NULL)
        return GWLB_EINVAL;
    if (host_index >= bal->n)
        return GWLB_ENOENT;
    if (!gwlb__balancer_usable(bal, host_index, now))
        return GWLB_ENOHOST;
    return gwlb__balancer_take(bal, host_index, now, out);
}

/* ---- Release -------------------------------------------------------------------- */

/* e^x for the EWMA decay: x = -dt/tau is usually tiny (dt of a request,
 * tau seconds); below 2^-11 the Taylor polynomial to x^4 is exact to well
 * under an ulp (x^5/120 < 2^-62), above it the general exp. */
static inline double decay_poly(double x)
{
    return 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0))));
}

static inline double decay_exp(double x)
{
    if (x > -0x1p-11)
        return decay_poly(x);
    return gwlb__exp(x);
}

/* (double)x for a count of ns: one signed conversion below 2^63 (the same
 * value), the unsigned sequence above. */
static inline double u64_to_double(uint64_t x)
{
    if (GWLB__LIKELY((int64_t)x >= 0))
        return (double)(int64_t)x;
    return (double)x;
}

/* Peak EWMA sample, general form: w = exp(-dt/tau) from the given stamp
 * (the last sample's time + 1, 0 = none), then the cost moves by CAS. */
static GWLB__NOINLINE int ewma_observe_from(const gwlb_balancer *b, gwlb__bslot *s, double rtt,
                                            uint64_t stamp, uint64_t now)
{
    _Atomic uint64_t *cp = GWLB__A64(&s->ewma_cost);
    uint64_t old_bits = atomic_load_explicit(cp, memory_order_relaxed);
    double w = 0.0;
    if (stamp != 0) {
        uint64_t dt = gwlb__elapsed(now, stamp - 1);
        w = dt == 0 ? 1.0 : decay_exp(-u64_to_double(dt) * b->inv_decay);
    }
    for (;;) {
        double cost;
        memcpy(&cost, &old_bits, sizeof cost);
        double next = (stamp == 0 || rtt > cost) ? rtt : cost * w + rtt * (1.0 - w);
        uint64_t nb;
        memcpy(&nb, &next, sizeof nb);
        if (b->exclusive) {
            atomic_store_explicit(cp, nb, memory_order_relaxed);
            break;
        }
        if (atomic_compare_exchange_weak_explicit(cp, &old_bits, nb, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    gwlb__st64(&s->ewma_stamp, (now >= UINT64_MAX - 1 ? UINT64_MAX - 2 : now) + 1);
    return GWLB_OK;
}

/*
 * Peak EWMA sample (Finagle): a slower sample replaces the cost,
 * otherwise cost·w + rtt·(1 - w) with w = exp(-dt/tau) since the last
 * sample. The common case in one pass without a stack frame: w only when
 * needed, by the polynomial (dt of requests, tau of seconds); a large dt
 * or a lost CAS goes on in ewma_observe_from with the same stamp, as one
 * loop would. Returns GWLB_OK (release ends with a tail call to it).
 */
static GWLB__NOINLINE int ewma_observe(const gwlb_balancer *b, gwlb__bslot *s, uint64_t rtt_ns,
                                       uint64_t now)
{
    /* rtt_ns < 2^63 (release rejects the rest): one signed conversion */
    double rtt = (double)(int64_t)rtt_ns;
    uint64_t stamp = gwlb__ld64(&s->ewma_stamp);
    _Atomic uint64_t *cp = GWLB__A64(&s->ewma_cost);
    uint64_t old_bits = atomic_load_explicit(cp, memory_order_relaxed);
    double cost;
    memcpy(&cost, &old_bits, sizeof cost);
    if (GWLB__UNLIKELY(stamp == 0))
        return ewma_observe_from(b, s, rtt, stamp, now);
    /* u = stamp - 1 clamped to now (time going backwards: dt 0, w = 1 as
     * the polynomial gives at 0); dt up to ewma_poly_dt is exactly where
     * x = -dt/tau > -2^-11 (fixed at build), an integer test off the
     * chain of the arithmetic */
    uint64_t u = stamp - 1;
    u = u > now ? now : u;
    if (GWLB__UNLIKELY(now - u > b->ewma_poly_dt))
        return ewma_observe_from(b, s, rtt, stamp, now);
    /* -(double)dt * (1/tau) exactly as written: -dt converts exactly */
    double x = (double)(int64_t)(u - now) * b->inv_decay;
    double w = decay_poly(x), blend = cost * w + rtt * (1.0 - w);
    /* peak or blend, selected without a branch (a coin flip under load) */
    uint64_t rb, bb, up = 0u - (uint64_t)(rtt > cost);
    memcpy(&rb, &rtt, sizeof rb);
    memcpy(&bb, &blend, sizeof bb);
    uint64_t nb = (rb & up) | (bb & ~up);
    if (b->exclusive)
        atomic_store_explicit(cp, nb, memory_order_relaxed);
    else if (GWLB__UNLIKELY(!atomic_compare_exchange_strong_explicit(
                 cp, &old_bits, nb, memory_order_relaxed, memory_order_relaxed)))
        return ewma_observe_from(b, s, rtt, stamp, now);
    gwlb__st64(&s->ewma_stamp, (now >= UINT64_MAX - 1 ? UINT64_MAX - 2 : now) + 1);
    return GWLB_OK;
}

/* nginx failure accounting at release (off the common path: a failure, or
 * a host with fails != 0). fails 0 <-> non-0 moves are counted in
 * header.hazards, which keeps the clean fast path exact. */
static GWLB__NOINLINE void release_accounting(const gwlb_balancer *bal, gwlb__bslot *s,
                                              int outcome, uint64_t now)
{
    gwlb_balancer_state *st = bal->state;
    if (gwlb__ld32(&s->single)) {
        if (gwlb__ld32(&s->fails))
            gwlb__slot_clear_fails(st, s);
    } else if (outcome != GWLB_BALANCER_SUCCESS) {
        if (atomic_fetch_add_explicit(GWLB__A32(&s->fails), 1, memory_order_relaxed) == 0)
            gwlb__hazard_add(st, GWLB__HAZARD_FAIL);
        gwlb__st64(&s->accessed, now);
        gwlb__st64(&s->checked, now);
        uint32_t mf = gwlb__ld32(&s->max_fails);
        if (mf) {
            int32_t dec = (int32_t)(gwlb__ld32(&s->weight) / mf);
            _Atomic int32_t *ew = GWLB__AI32(&s->effective_weight);
            int32_t e = atomic_load_explicit(ew, memory_order_relaxed);
            int32_t ne;
            do {
                ne = e - dec;
                if (ne < 0)
                    ne = 0;
            } while (!atomic_compare_exchange_weak_explicit(ew, &e, ne, memory_order_relaxed,
                                                            memory_order_relaxed));
        }
    } else if (gwlb__ld32(&s->fails) != 0) {
        /* nginx: mark peer live if check passed */
        if (gwlb__ld64(&s->accessed) < gwlb__ld64(&s->checked))
            gwlb__slot_clear_fails(st, s);
    }
    if (outcome != GWLB_BALANCER_SUCCESS)
        atomic_fetch_add_explicit(GWLB__A64(&s->failures), 1, memory_order_relaxed);
}

/* Release after the in-flight decrement when there is more to do than the
 * ticket reset (a tail call: the clean release needs no stack frame). */
static GWLB__NOINLINE int release_rest(const gwlb_balancer *bal, gwlb_balancer_result *pick,
                                       int outcome, int64_t latency_ns, uint64_t now)
{
    gwlb__bslot *s = &bal->state->slots[pick->slot];
    if (outcome != GWLB_BALANCER_SUCCESS || gwlb__ld32(&s->fails) != 0)
        release_accounting(bal, s, outcome, now);
    pick->token = 1;
    if (latency_ns != GWLB_BALANCER_NO_LATENCY && bal->cfg.algorithm == GWLB_BALANCER_PEAK_EWMA)
        return ewma_observe(bal, s, (uint64_t)latency_ns, now);
    return GWLB_OK;
}

int gwlb_balancer_release(const gwlb_balancer *bal, gwlb_balancer_result *pick, int outcome,
                          int64_t latency_ns, uint64_t now)
{
    if (GWLB__UNLIKELY(bal == NULL || pick == NULL))
        return GWLB_EINVAL;
    if (GWLB__UNLIKELY((unsigned)outcome > GWLB_BALANCER_LOCAL_ORIGIN_FAILURE))
        return GWLB_EINVAL;
    /* negative other than NO_LATENCY (INT64_MIN): as unsigned, above 2^63 */
    if (GWLB__UNLIKELY((uint64_t)latency_ns > (UINT64_C(1) << 63)))
        return GWLB_ERANGE;
    gwlb_balancer_state *st = bal->state;
    uint64_t token = pick->token;
    uint32_t slot = pick->slot;
    /* a released ticket (token 1) never matches: one test for both errors */
    if (GWLB__UNLIKELY(slot >= st->h.capacity || token != pick_token(st, slot)))
        return token == 1 ? GWLB_ESTATE : GWLB_EUNKNOWN;
    gwlb__bslot *s = &st->slots[slot];
    _Atomic uint32_t *inf = GWLB__A32(&s->in_flight);
    if (bal->exclusive) {
        uint32_t v = atomic_load_explicit(inf, memory_order_relaxed);
        if (GWLB__UNLIKELY(v == 0))
            return GWLB_ESTATE;
        atomic_store_explicit(inf, v - 1, memory_order_release);
    } else if (GWLB__UNLIKELY(atomic_fetch_sub_explicit(inf, 1, memory_order_release) == 0)) {
        atomic_fetch_add_explicit(inf, 1, memory_order_relaxed); /* undo: nothing was in flight */
        return GWLB_ESTATE;
    }
    /* clean release (a success, no nginx failures on the host, no EWMA to
     * feed): the decrement above and the ticket reset are all there is; a
     * clean peak-EWMA release adds the sample (a tail call) */
    uint32_t bad = (uint32_t)outcome | gwlb__ld32(&s->fails);
    if (GWLB__UNLIKELY(bad != 0 || bal->cfg.algorithm == GWLB_BALANCER_PEAK_EWMA)) {
        if (bad != 0)
            return release_rest(bal, pick, outcome, latency_ns, now);
        pick->token = 1;
        if (latency_ns != GWLB_BALANCER_NO_LATENCY)
            return ewma_observe(bal, s, (uint64_t)latency_ns, now);
        return GWLB_OK;
    }
    pick->token = 1;
    return GWLB_OK;
}

/* ---- Flags, stats ------------------------------------------------------------------ */

int gwlb_balancer_host_flags_update(const gwlb_balancer *bal, uint32_t host_index,
                                    uint32_t set_mask, uint32_t clear_mask)
{
    if (bal == NULL || ((set_mask | clear_mask) & ~ALL_FLAGS) || (set_mask & clear_mask))
        return GWLB_EINVAL;
    if (host_index >= bal->n)
        return GWLB_ENOENT;
    gwlb__bslot *s = gwlb__balancer_slotp(bal, host_index);
    _Atomic uint32_t *fp = GWLB__A32(&s->flags);
    uint32_t old = atomic_load_explicit(fp, memory_order_relaxed), nf;
    do {
        nf = (old | set_mask) & ~clear_mask;
        if (nf == old)
            return GWLB_OK;
    } while (!atomic_compare_exchange_weak_explicit(fp, &old, nf, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if ((old & GWLB_HOST_INELIGIBLE_MASK) && !(nf & GWLB_HOST_INELIGIBLE_MASK))
        gwlb__st64(&s->slow_start, GWLB__SS_PENDING);
    atomic_fetch_add_explicit(GWLB__A64(&bal->state->h.flags_epoch), 1, memory_order_acq_rel);
    return GWLB_OK;
}

int gwlb_balancer_host_flags(const gwlb_balancer *bal, uint32_t host_index, uint32_t *flags)
{
    if (bal == NULL || flags == NULL)
        return GWLB_EINVAL;
    if (host_index >= bal->n)
        return GWLB_ENOENT;
    *flags = atomic_load_explicit(GWLB__A32(&gwlb__balancer_slotp(bal, host_index)->flags),
                                  memory_order_acquire);
    return GWLB_OK;
}

int gwlb_balancer_host_slow_start(const gwlb_balancer *bal, uint32_t host_index, uint64_t now)
{
    if (bal == NULL)
        return GWLB_EINVAL;
    if (host_index >= bal->n)
        return GWLB_ENOENT;
    gwlb__st64(&gwlb__balancer_slotp(bal, host_index)->slow_start,
               (now >= UINT64_MAX - 2 ? UINT64_MAX - 3 : now) + 1);
    return GWLB_OK;
}

int gwlb_balancer_host_stats_get(const gwlb_balancer *bal, uint32_t host_index,
                                 gwlb_balancer_host_stats *out)
{
    if (bal == NULL || out == NULL)
        return GWLB_EINVAL;
    if (host_index >= bal->n)
        return GWLB_ENOENT;
    const gwlb__bslot *s = gwlb__balancer_slotp(bal, host_index);
    memset(out, 0, sizeof *out);
    out->slot = bal->hosts[host_index].slot;
    out->flags = gwlb__ld32(&s->flags);
    out->in_flight = gwlb__ld32(&s->in_flight);
    out->fails = gwlb__ld32(&s->fails);
    out->current_weight =
        atomic_load_explicit(GWLB__AI64(&s->current_weight), memory_order_relaxed);
    out->effective_weight =
        atomic_load_explicit(GWLB__AI32(&s->effective_weight), memory_order_relaxed);
    out->weight = gwlb__ld32(&s->weight);
    uint64_t bits = gwlb__ld64(&s->ewma_cost);
    memcpy(&out->ewma_cost_ns, &bits, sizeof bits);
    if (gwlb__ld64(&s->ewma_stamp) == 0)
        out->ewma_cost_ns = (double)bal->cfg.ewma_initial_rtt_ns;
    out->failures = gwlb__ld64(&s->failures);
    return GWLB_OK;
}

int gwlb_balancer_stats_get(const gwlb_balancer *bal, uint64_t now, gwlb_balancer_stats *out)
{
    if (bal == NULL || out == NULL)
        return GWLB_EINVAL;
    memset(out, 0, sizeof *out);
    const gwlb__bstate_header *h = &bal->state->h;
    out->no_host = gwlb__ld64(&h->no_host);
    out->panic_picks = gwlb__ld64(&h->panic_picks);
    out->backup_picks = gwlb__ld64(&h->backup_picks);
    out->slots_used = gwlb__ld64(&h->slots_used);
    out->hosts = bal->n;
    for (uint32_t i = 0; i < bal->n; i++)
        out->eligible += (uint32_t)gwlb__balancer_usable(bal, i, now);
    return GWLB_OK;
}
