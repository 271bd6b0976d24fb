/*
 * Building and freeing hash tables (gwlb_hash_table_new/free), the identity
 * index, and the per-algorithm structures:
 *
 *   nginx ip_hash / hash  cumulative weights, so "walk the peers until w <
 *                         weight" becomes a binary search with the same result
 *   nginx consistent      160 x weight CRC32 points per host, chained from
 *                         crc32(host "\0" port) exactly as nginx builds them,
 *                         stable-sorted (equal points keep host order, as
 *                         glibc's merge-sort qsort does for nginx) and
 *                         deduplicated keeping the first
 *   ring                  Envoy's construction: scale so the lightest host gets
 *                         ceil(min_ring * its share) points, capped by max_ring,
 *                         points xxHash64("<identity>_<i>"), sorted
 *   Maglev                offset = xxHash64(id, 0) % M, skip = xxHash64(id, 1)
 *                         % (M - 1) + 1, hosts filled in identity order with
 *                         an occupancy bitmap (fits L1) instead of probing the
 *                         table itself, and for the last sqrt(M) slots a
 *                         direct search of the free slots (see the fill)
 *   rendezvous            xxHash64 of each identity
 *
 * All allocations are recorded in the table so that any failure frees
 * exactly what was taken and leaves nothing behind.
 */
#include <string.h>

#include "hashing_internal.h"

__extension__ typedef unsigned __int128 u128;

/* ---- small helpers ------------------------------------------------------ */

int gwlb__hash_is_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

void gwlb__nginx_server_parts(const uint8_t *s, size_t len, size_t *host_off, size_t *host_len,
                              size_t *port_off, size_t *port_len)
{
    static const char unix_prefix[] = "unix:";
    int is_unix = len >= 5;
    for (size_t i = 0; is_unix && i < 5; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)unix_prefix[i])
            is_unix = 0;
    }
    if (is_unix) {
        *host_off = 5;
        *host_len = len - 5;
        *port_off = 0;
        *port_len = 0;
        return;
    }
    /* From the end: digits, then a ':' makes host:port; anything else
     * means the whole string is the host. */
    for (size_t j = 0; j < len; j++) {
        uint8_t c = s[len - j - 1];
        if (c == ':') {
            *host_off = 0;
            *host_len = len - j - 1;
            *port_off = len - j;
            *port_len = j;
            return;
        }
        if (c < '0' || c > '9')
            break;
    }
    *host_off = 0;
    *host_len = len;
    *port_off = 0;
    *port_len = 0;
}

/* ---- allocation bookkeeping --------------------------------------------- */

typedef struct build {
    gwlb_hash_table *t;
    void *blocks[24];
    size_t sizes[24];
    int nblocks;
} build;

static void *take(build *b, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    if (b->nblocks == (int)(sizeof b->blocks / sizeof b->blocks[0]))
        return NULL;
    size_t bytes = n * size;
    if (bytes == 0)
        bytes = 1;
    void *p = gwlb__alloc(&b->t->alloc, bytes);
    if (p == NULL)
        return NULL;
    b->blocks[b->nblocks] = p;
    b->sizes[b->nblocks] = bytes;
    b->nblocks++;
    return p;
}

/* Scratch: allocated and freed within the build. */
static void *scratch(const gwlb_allocator *a, size_t n, size_t size, size_t *bytes)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    *bytes = n * size != 0 ? n * size : 1;
    return gwlb__alloc(a, *bytes);
}

/* ---- sorting ------------------------------------------------------------ */

/* Scratch for sorting n (key, value) pairs: the arrays and the merge
 * sort's second buffers, all freed together. */
typedef struct pairs {
    uint64_t *key, *tk;
    uint32_t *val, *tv;
    size_t key_bytes, tk_bytes, val_bytes, tv_bytes;
} pairs;

static int pairs_alloc(pairs *p, const gwlb_allocator *a, size_t n)
{
    p->key = scratch(a, n, sizeof *p->key, &p->key_bytes);
    p->tk = scratch(a, n, sizeof *p->tk, &p->tk_bytes);
    p->val = scratch(a, n, sizeof *p->val, &p->val_bytes);
    p->tv = scratch(a, n, sizeof *p->tv, &p->tv_bytes);
    if (p->key == NULL || p->tk == NULL || p->val == NULL || p->tv == NULL)
        return GWLB_ENOMEM;
    return GWLB_OK;
}

static void pairs_free(pairs *p, const gwlb_allocator *a)
{
    gwlb__free(a, p->key, p->key_bytes);
    gwlb__free(a, p->tk, p->tk_bytes);
    gwlb__free(a, p->val, p->val_bytes);
    gwlb__free(a, p->tv, p->tv_bytes);
}

/* Stable bottom-up merge sort of (key, value) pairs by key. */
static void sort_pairs(uint64_t *key, uint32_t *val, uint32_t n, uint64_t *tk, uint32_t *tv)
{
    uint64_t *ka = key, *kb = tk;
    uint32_t *va = val, *vb = tv;
    for (uint64_t width = 1; width < n; width *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * width) {
            uint64_t mid = lo + width < n ? lo + width : n;
            uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                if (ka[j] < ka[i]) {
                    kb[o] = ka[j];
                    vb[o++] = va[j++];
                } else {
                    kb[o] = ka[i];
                    vb[o++] = va[i++];
                }
            }
            while (i < mid) {
                kb[o] = ka[i];
                vb[o++] = va[i++];
            }
            while (j < hi) {
                kb[o] = ka[j];
                vb[o++] = va[j++];
            }
        }
        uint64_t *sk = ka;
        ka = kb;
        kb = sk;
        uint32_t *sv = va;
        va = vb;
        vb = sv;
    }
    if (ka != key) {
        memcpy(key, ka, (size_t)n * sizeof *key);
        memcpy(val, va, (size_t)n * sizeof *val);
    }
}

static int identity_cmp(const gwlb_hash_table *t, uint32_t a, uint32_t b)
{
    size_t la = t->id_len[a], lb = t->id_len[b];
    int c = memcmp(t->id_bytes + t->id_offset[a], t->id_bytes + t->id_offset[b],
                   la < lb ? la : lb);
    if (c != 0)
        return c;
    return la < lb ? -1 : la > lb;
}

/* Stable merge sort of host indices by identity. */
static void sort_by_identity(const gwlb_hash_table *t, uint32_t *idx, uint32_t *tmp, uint32_t n)
{
    uint32_t *a = idx, *b = tmp;
    for (uint64_t width = 1; width < n; width *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * width) {
            uint64_t mid = lo + width < n ? lo + width : n;
            uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                b[o++] = identity_cmp(t, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                b[o++] = a[i++];
            while (j < hi)
                b[o++] = a[j++];
        }
        uint32_t *s = a;
        a = b;
        b = s;
    }
    if (a != idx)
        memcpy(idx, a, (size_t)n * sizeof *idx);
}

/* ---- per-algorithm builders --------------------------------------------- */

static int build_cumulative(build *b)
{
    gwlb_hash_table *t = b->t;
    t->cum = take(b, (size_t)t->count + 1, sizeof *t->cum);
    if (t->cum == NULL)
        return GWLB_ENOMEM;
    t->cum[0] = 0;
    for (uint32_t i = 0; i < t->count; i++)
        t->cum[i + 1] = t->cum[i] + t->weight[i];
    return GWLB_OK;
}

static int build_point_index(build *b, int width);

static int build_nginx_points(build *b)
{
    gwlb_hash_table *t = b->t;
    uint64_t total = t->total_weight * GWLB_HASH_NGINX_POINTS_PER_WEIGHT;
    uint32_t n = (uint32_t)total;
    pairs pr;
    int rc = pairs_alloc(&pr, &t->alloc, n);
    uint64_t *key = pr.key;
    uint32_t *val = pr.val;
    if (rc != GWLB_OK)
        goto out;
    rc = GWLB_ENOMEM;

    uint32_t k = 0;
    for (uint32_t h = 0; h < t->count; h++) {
        const uint8_t *s = t->id_bytes + t->id_offset[h];
        size_t ho, hl, po, pl;
        gwlb__nginx_server_parts(s, t->id_len[h], &ho, &hl, &po, &pl);
        uint32_t base = gwlb_crc32_update(GWLB_CRC32_INIT, s + ho, hl);
        base = gwlb_crc32_update(base, "", 1);
        base = gwlb_crc32_update(base, s + po, pl);
        uint32_t prev = 0;
        uint32_t np = t->weight[h] * GWLB_HASH_NGINX_POINTS_PER_WEIGHT;
        for (uint32_t j = 0; j < np; j++) {
            /* the previous point, as 4 little-endian bytes */
            uint8_t le[4] = {(uint8_t)prev, (uint8_t)(prev >> 8), (uint8_t)(prev >> 16),
                             (uint8_t)(prev >> 24)};
            uint32_t p = gwlb_crc32_final(gwlb_crc32_update(base, le, 4));
            key[k] = p;
            val[k++] = h;
            prev = p;
        }
    }
    sort_pairs(key, val, n, pr.tk, pr.tv);
    /* Drop repeated points, keeping the first (host order among equals). */
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (m == 0 || key[j] != key[m - 1]) {
            key[m] = key[j];
            val[m++] = val[j];
        }
    }
    t->point_count = m;
    t->point32 = take(b, m, sizeof *t->point32);
    t->point_host = take(b, m, sizeof *t->point_host);
    if (t->point32 == NULL || t->point_host == NULL)
        goto out;
    for (uint32_t j = 0; j < m; j++) {
        t->point32[j] = (uint32_t)key[j];
        t->point_host[j] = val[j];
    }
    rc = build_point_index(b, 32);
out:
    pairs_free(&pr, &t->alloc);
    return rc;
}

/* The bucket index over sorted points: 2^bits buckets of the hash space
 * (bits chosen for about two points per bucket); bucket j holds the index
 * of the first point >= j << (width - bits). */
static int build_point_index(build *b, int width)
{
    gwlb_hash_table *t = b->t;
    uint32_t bits = 1;
    while (bits < 26 && (UINT64_C(1) << (bits + 1)) < t->point_count)
        bits++;
    t->index_bits = bits;
    uint32_t buckets = UINT32_C(1) << bits;
    t->point_index = take(b, buckets, sizeof *t->point_index);
    if (t->point_index == NULL)
        return GWLB_ENOMEM;
    uint32_t i = 0;
    for (uint32_t j = 0; j < buckets; j++) {
        if (width == 64) {
            uint64_t lower = (uint64_t)j << (64 - bits);
            while (i < t->point_count && t->point64[i] < lower)
                i++;
        } else {
            uint32_t lower = j << (32 - bits);
            while (i < t->point_count && t->point32[i] < lower)
                i++;
        }
        t->point_index[j] = i;
    }
    return GWLB_OK;
}

/* Decimal digits of v into buf (no NUL); returns the length. */
static size_t decimal(uint64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* Envoy's ring size: scale = min(ceil(min_share * min_ring) / min_share, max_ring). */
static double ring_scale(const gwlb_hash_table *t, uint64_t min_ring, uint64_t max_ring)
{
    uint32_t min_w = UINT32_MAX;
    for (uint32_t i = 0; i < t->count; i++)
        if (t->weight[i] < min_w)
            min_w = t->weight[i];
    double min_share = (double)min_w / (double)t->total_weight;
    double ceil_arg = min_share * (double)min_ring;
    double c = (double)(uint64_t)ceil_arg;
    if (c < ceil_arg)
        c += 1.0;
    double scale = c / min_share;
    if (scale > (double)max_ring)
        scale = (double)max_ring;
    return scale;
}

static int build_ring(build *b, uint64_t min_ring, uint64_t max_ring, gwlb_error_detail *d)
{
    gwlb_hash_table *t = b->t;
    double scale = ring_scale(t, min_ring, max_ring);
    /* Count exactly as the construction below will produce. */
    double current = 0.0, target = 0.0;
    uint64_t n = 0;
    for (uint32_t h = 0; h < t->count; h++) {
        target += scale * ((double)t->weight[h] / (double)t->total_weight);
        while (current < target) {
            current += 1.0;
            n++;
        }
        if (n > GWLB_HASH_POINTS_MAX)
            return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "ring_max_size",
                                "ring would exceed %u points", GWLB_HASH_POINTS_MAX);
    }
    pairs pr;
    int rc = pairs_alloc(&pr, &t->alloc, n);
    uint64_t *key = pr.key;
    uint32_t *val = pr.val;
    if (rc != GWLB_OK)
        goto out;
    rc = GWLB_ENOMEM;
    current = 0.0;
    target = 0.0;
    uint64_t k = 0;
    char buf[GWLB_HASH_IDENTITY_MAX + 1 + 24];
    for (uint32_t h = 0; h < t->count; h++) {
        size_t il = t->id_len[h];
        memcpy(buf, t->id_bytes + t->id_offset[h], il);
        buf[il] = '_';
        target += scale * ((double)t->weight[h] / (double)t->total_weight);
        uint64_t i = 0;
        while (current < target) {
            size_t dl = decimal(i, buf + il + 1);
            key[k] = gwlb_hash64(buf, il + 1 + dl, 0);
            val[k++] = h;
            i++;
            current += 1.0;
        }
    }
    sort_pairs(key, val, (uint32_t)n, pr.tk, pr.tv);
    t->point_count = (uint32_t)n;
    t->point64 = take(b, n, sizeof *t->point64);
    t->point_host = take(b, n, sizeof *t->point_host);
    if (t->point64 == NULL || t->point_host == NULL)
        goto out;
    memcpy(t->point64, key, (size_t)n * sizeof *key);
    memcpy(t->point_host, val, (size_t)n * sizeof *val);
    rc = build_point_index(b, 64);
out:
    pairs_free(&pr, &t->alloc);
    return rc;
}

/* ---- Maglev fill ---------------------------------------------------------- */

/* x mod m for x < 2^64, m < 2^32, with mu = floor(2^64 / m) (Barrett: the
 * quotient estimate is low by at most one). */
static inline uint64_t mod_reduce(uint64_t x, uint64_t m, uint64_t mu)
{
    uint64_t q = (uint64_t)(((u128)x * mu) >> 64);
    uint64_t r = x - q * m;
    return r >= m ? r - m : r;
}

/* s^-1 mod m for prime m (Fermat: s^(m-2)), 0 < s < m. */
static uint64_t mod_inverse(uint64_t s, uint64_t m, uint64_t mu)
{
    uint64_t result = 1, base = s;
    for (uint64_t e = m - 2; e != 0; e >>= 1) {
        if (e & 1)
            result = mod_reduce(result * base, m, mu);
        base = mod_reduce(base * base, m, mu);
    }
    return result;
}

uint32_t gwlb__maglev_late_slots(uint32_t m)
{
    uint32_t t = 1;
    while ((uint64_t)(t + 1) * (t + 1) <= m)
        t++;
    return t;
}

/*
 * The fill loop, shared by gwlb__maglev_fill (the tests' entry: entry
 * numbers into a uint32 table) and the builder (host indices straight into
 * the final uint16 or uint32 table: no scratch table, no copy pass).
 * Inlined into each caller with the output choice constant.
 *
 * A turn takes the first free slot along the entry's permutation c, c + s,
 * c + 2s, ... (mod m). Probing costs 1 / (free share) steps, so with F slots
 * free it costs m / F, and over the whole fill about m ln m probes, most of
 * them in the last few hundred turns. There, with the F free slots listed,
 * the first free slot along the permutation is found directly: slot f is
 * reached after (f - c) * s^-1 mod m steps (m prime), so the first one is
 * the free slot with the fewest steps (F multiplications instead of m / F
 * probes; the steps of distinct slots are distinct, so it is unique). The
 * result is exactly the probing result. The switch happens at
 * F = gwlb__maglev_late_slots(m) = isqrt(m), where the two costs meet.
 */
/* The first free slot at or after permutation position c (step s). Not
 * inlined: on its own the loop compiles to the bit test and the select,
 * without the caller's bookkeeping hoisted into it. */
static __attribute__((noinline)) uint32_t maglev_probe(const uint64_t *occupied, uint32_t c, uint32_t s, uint32_t m)
{
    /* c + s wraps exactly when c >= d = m - s, to c + (s - m) (mod 2^32):
     * both outcomes and the test come from c, a two-cycle chain */
    uint32_t d = m - s, back = s - m;
    while ((occupied[c >> 6] >> (c & 63)) & 1u) {
        uint32_t plain = c + s, wrapped = c + back;
        c = c < d ? plain : wrapped;
    }
    return c;
}

/* The first free slot along the permutation from c, among the listed free
 * slots: the one reached in the fewest steps (f - c) * s^-1 mod m. */
static inline uint32_t maglev_first_listed(const uint32_t *free_slots, uint32_t nfree,
                                           uint32_t c, uint32_t s, uint32_t m, uint64_t mu,
                                           uint32_t *at)
{
    uint64_t inv = mod_inverse(s, m, mu);
    uint32_t best = 0;
    uint64_t best_steps = UINT64_MAX;
    for (uint32_t k = 0; k < nfree; k++) {
        uint64_t f = free_slots[k];
        uint64_t steps = mod_reduce((f >= c ? f - c : f + m - c) * inv, m, mu);
        if (steps < best_steps) {
            best_steps = steps;
            best = k;
        }
    }
    *at = best;
    return free_slots[best];
}

static inline void maglev_fill_core(uint32_t m, uint32_t n, const uint32_t *offset,
                                    const uint32_t *skip, const uint32_t *weight,
                                    const uint32_t *value, void *out, int wide,
                                    uint64_t *occupied, uint32_t *next, uint64_t *target,
                                    uint32_t *free_slots)
{
    uint16_t *out16 = out;
    uint32_t *out32 = out;
    uint32_t max_w = 0, uniform = 1;
    for (uint32_t i = 0; i < n; i++) {
        next[i] = offset[i]; /* next[] holds the current permutation position */
        target[i] = weight[i];
        if (weight[i] > max_w)
            max_w = weight[i];
        uniform &= weight[i] == weight[0];
    }
    size_t words = ((size_t)m + 63) / 64;
    memset(occupied, 0, words * sizeof *occupied);
    const uint64_t mu = UINT64_MAX / m;
    const uint32_t late = gwlb__maglev_late_slots(m);
    /* Turns in order: round 1, 2, ...; entries 0..n-1 within a round; an
     * entry takes its turn when round * weight >= target (with equal
     * weights, always). `left` counts the free slots. */
    uint64_t round = 1;
    uint32_t i = 0, left = m, nfree = 0;
    while (left > 0) {
        if (i == n) {
            i = 0;
            round++;
        }
        if (!uniform) {
            if (round * weight[i] < target[i]) {
                i++;
                continue;
            }
            target[i] += max_w;
        }
        uint32_t s = skip[i], c;
        if (left > late) {
            c = maglev_probe(occupied, next[i], s, m);
            occupied[c >> 6] |= UINT64_C(1) << (c & 63);
        } else {
            if (nfree == 0) { /* list the free slots once */
                for (size_t w = 0; w < words; w++) {
                    uint64_t bits = ~occupied[w];
                    if (w == words - 1 && (m & 63) != 0)
                        bits &= (UINT64_C(1) << (m & 63)) - 1;
                    for (; bits != 0; bits &= bits - 1)
                        free_slots[nfree++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
                }
            }
            uint32_t at;
            c = maglev_first_listed(free_slots, nfree, next[i], s, m, mu, &at);
            free_slots[at] = free_slots[--nfree];
        }
        uint32_t v = value != NULL ? value[i] : i;
        if (wide)
            out32[c] = v;
        else
            out16[c] = (uint16_t)v;
        c += s;
        next[i] = c >= m ? c - m : c;
        left--;
        i++;
    }
}

void gwlb__maglev_fill(uint32_t m, uint32_t n, const uint32_t *offset, const uint32_t *skip,
                       const uint32_t *weight, uint32_t *table, uint64_t *occupied,
                       uint32_t *next, uint64_t *target, uint32_t *free_slots)
{
    maglev_fill_core(m, n, offset, skip, weight, NULL, table, 1, occupied, next, target,
                     free_slots);
}

static int build_maglev(build *b)
{
    gwlb_hash_table *t = b->t;
    uint32_t m = t->maglev_size, n = t->count;
    size_t ob, sb, wb, ocb, nb, tgb, fb;
    uint32_t *off = scratch(&t->alloc, n, sizeof(uint32_t), &ob);
    uint32_t *skp = scratch(&t->alloc, n, sizeof(uint32_t), &sb);
    uint32_t *wt = scratch(&t->alloc, n, sizeof(uint32_t), &wb);
    uint64_t *occ = scratch(&t->alloc, (m + 63) / 64, sizeof(uint64_t), &ocb);
    uint32_t *nxt = scratch(&t->alloc, n, sizeof(uint32_t), &nb);
    uint64_t *tgt = scratch(&t->alloc, n, sizeof(uint64_t), &tgb);
    uint32_t *fre = scratch(&t->alloc, gwlb__maglev_late_slots(m), sizeof(uint32_t), &fb);
    int rc = GWLB_ENOMEM;
    if (!off || !skp || !wt || !occ || !nxt || !tgt || !fre)
        goto out;
    if (n < 65536)
        t->maglev16 = take(b, m, sizeof *t->maglev16);
    else
        t->maglev32 = take(b, m, sizeof *t->maglev32);
    if (t->maglev16 == NULL && t->maglev32 == NULL)
        goto out;
    /* Fill in identity order, so the table does not depend on input order;
     * the slots get host indices (by_id[r] for the r-th identity). */
    for (uint32_t r = 0; r < n; r++) {
        uint32_t h = t->by_id[r];
        const uint8_t *id = t->id_bytes + t->id_offset[h];
        off[r] = (uint32_t)(gwlb_hash64(id, t->id_len[h], 0) % m);
        skp[r] = (uint32_t)(gwlb_hash64(id, t->id_len[h], 1) % (m - 1) + 1);
        wt[r] = t->weight[h];
    }
    if (t->maglev16 != NULL)
        maglev_fill_core(m, n, off, skp, wt, t->by_id, t->maglev16, 0, occ, nxt, tgt, fre);
    else
        maglev_fill_core(m, n, off, skp, wt, t->by_id, t->maglev32, 1, occ, nxt, tgt, fre);
    rc = GWLB_OK;
out:
    gwlb__free(&t->alloc, off, ob);
    gwlb__free(&t->alloc, skp, sb);
    gwlb__free(&t->alloc, wt, wb);
    gwlb__free(&t->alloc, occ, ocb);
    gwlb__free(&t->alloc, nxt, nb);
    gwlb__free(&t->alloc, tgt, tgb);
    gwlb__free(&t->alloc, fre, fb);
    return rc;
}

static int build_sticky(build *b, gwlb_error_detail *d)
{
    gwlb_hash_table *t = b->t;
    uint32_t n = t->count;
    pairs pr;
    int rc = pairs_alloc(&pr, &t->alloc, n);
    uint64_t *key = pr.key;
    uint32_t *val = pr.val;
    if (rc != GWLB_OK)
        goto out;
    rc = GWLB_ENOMEM;
    for (uint32_t h = 0; h < n; h++) {
        key[h] = gwlb_siphash24(t->sticky_key, t->id_bytes + t->id_offset[h], t->id_len[h]);
        val[h] = h;
    }
    sort_pairs(key, val, n, pr.tk, pr.tv);
    for (uint32_t i = 1; i < n; i++) {
        if (key[i] == key[i - 1]) {
            rc = gwlb__detail(d, GWLB_ECONFLICT, (int32_t)val[i], (int32_t)val[i - 1], -1,
                              "sticky_key", "two identities share a sticky tag");
            goto out;
        }
    }
    t->sticky = take(b, n, sizeof *t->sticky);
    if (t->sticky == NULL)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        t->sticky[i].tag = key[i];
        t->sticky[i].host = val[i];
        t->sticky[i].pad = 0;
    }
    rc = GWLB_OK;
out:
    pairs_free(&pr, &t->alloc);
    return rc;
}

/* A few step sizes coprime to n (fixed, key-independent constants), for the
 * retry walk start + i * step (mod n), which then visits every host once. */
static void build_steps(gwlb_hash_table *t)
{
    uint32_t n = t->count;
    t->step_count = 0;
    t->count_mu = UINT64_MAX / n; /* n >= 1: validated */
    if (n <= 2) {
        t->steps[t->step_count++] = 1;
        t->steps_mu = UINT64_MAX;
        return;
    }
    for (uint64_t j = 0; j < 64 && t->step_count < GWLB__HASH_STEPS; j++) {
        uint32_t s = (uint32_t)(1 + gwlb_mix64(j + 0x6777u) % (n - 1));
        if (gcd64(s, n) != 1)
            continue;
        int dup = 0;
        for (uint32_t k = 0; k < t->step_count; k++)
            dup |= t->steps[k] == s;
        if (!dup)
            t->steps[t->step_count++] = s;
    }
    if (t->step_count == 0)
        t->steps[t->step_count++] = 1;
    t->steps_mu = UINT64_MAX / t->step_count;
}

/* ---- validation and the public builder ---------------------------------- */

void gwlb_hash_config_init(gwlb_hash_config *config, uint32_t algorithm)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof *config);
    config->struct_size = (uint32_t)sizeof *config;
    config->algorithm = algorithm;
    config->ring_min_size = GWLB_HASH_RING_DEFAULT_MIN;
    config->ring_max_size = GWLB_HASH_RING_DEFAULT_MAX;
    config->maglev_table_size = GWLB_HASH_MAGLEV_DEFAULT_SIZE;
}

static int validate(const gwlb_hash_config *c, const gwlb_hash_host *hosts, uint32_t count,
                    gwlb_error_detail *d)
{
    if (c->struct_size != sizeof *c)
        return gwlb__detail(d, GWLB_EVERSION, -1, -1, -1, "struct_size",
                            "config struct_size %u, library expects %u", c->struct_size,
                            (unsigned)sizeof *c);
    if (c->algorithm < GWLB_HASH_NGINX_IP || c->algorithm > GWLB_HASH_JUMP)
        return gwlb__detail(d, GWLB_EINVAL, -1, -1, -1, "algorithm", "unknown algorithm %u",
                            c->algorithm);
    if (count == 0)
        return gwlb__detail(d, GWLB_EMPTY, -1, -1, -1, "hosts", "no hosts");
    if (count > GWLB_HASH_HOSTS_MAX)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "hosts", "more than %u hosts",
                            GWLB_HASH_HOSTS_MAX);
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        const gwlb_hash_host *h = &hosts[i];
        if (h->identity_len == 0)
            return gwlb__detail(d, GWLB_EMPTY, (int32_t)i, -1, -1, "identity",
                                "empty identity");
        if (h->identity == NULL)
            return gwlb__detail(d, GWLB_EINVAL, (int32_t)i, -1, -1, "identity",
                                "identity is NULL");
        if (h->identity_len > GWLB_HASH_IDENTITY_MAX)
            return gwlb__detail(d, GWLB_ETOOLONG, (int32_t)i, -1, -1, "identity",
                                "identity longer than %u bytes", GWLB_HASH_IDENTITY_MAX);
        if (h->weight == 0 || h->weight > GWLB_HASH_WEIGHT_MAX)
            return gwlb__detail(d, GWLB_EWEIGHT, (int32_t)i, -1, -1, "weight",
                                "weight %u outside 1..%u", h->weight, GWLB_HASH_WEIGHT_MAX);
        if (c->algorithm == GWLB_HASH_JUMP && h->weight != hosts[0].weight)
            return gwlb__detail(d, GWLB_ENOTSUP, (int32_t)i, 0, -1, "weight",
                                "jump hash cannot weight buckets");
        total += h->weight;
    }
    if (c->algorithm == GWLB_HASH_NGINX_CONSISTENT &&
        total * GWLB_HASH_NGINX_POINTS_PER_WEIGHT > GWLB_HASH_POINTS_MAX)
        return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "weight",
                            "160 x total weight exceeds %u points", GWLB_HASH_POINTS_MAX);
    if (c->algorithm == GWLB_HASH_MAGLEV) {
        uint32_t m = c->maglev_table_size;
        if (m < count || m > GWLB_HASH_MAGLEV_MAX_SIZE || m < 2)
            return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "maglev_table_size",
                                "table size %u outside hosts (%u) .. %u", m, count,
                                GWLB_HASH_MAGLEV_MAX_SIZE);
        if (!gwlb__hash_is_prime(m))
            return gwlb__detail(d, GWLB_ENOTPRIME, -1, -1, -1, "maglev_table_size",
                                "table size %u is not prime", m);
    }
    if (c->algorithm == GWLB_HASH_RING) {
        if (c->ring_min_size == 0 || c->ring_max_size == 0 ||
            c->ring_min_size > c->ring_max_size)
            return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "ring_min_size",
                                "ring sizes need 0 < min <= max");
        if (c->ring_max_size > GWLB_HASH_POINTS_MAX)
            return gwlb__detail(d, GWLB_ERANGE, -1, -1, -1, "ring_max_size",
                                "ring_max_size above %u", GWLB_HASH_POINTS_MAX);
    }
    return GWLB_OK;
}

static void release_blocks(build *b)
{
    for (int i = b->nblocks - 1; i >= 0; i--)
        gwlb__free(&b->t->alloc, b->blocks[i], b->sizes[i]);
}

/* The table keeps its block list after the build, for free(). */
typedef struct table_with_blocks {
    gwlb_hash_table table;
    build blocks;
} table_with_blocks;

int gwlb_hash_table_new(gwlb_hash_table **out, const gwlb_hash_config *config,
                        const gwlb_hash_host *hosts, uint32_t count,
                        const gwlb_allocator *allocator, gwlb_error_detail *detail)
{
    if (out == NULL || config == NULL || (hosts == NULL && count != 0))
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL argument");
    int rc = validate(config, hosts, count, detail);
    if (rc != GWLB_OK)
        return rc;

    gwlb_allocator a;
    gwlb__allocator_resolve(&a, allocator);
    table_with_blocks *tw = gwlb__alloc(&a, sizeof *tw);
    if (tw == NULL)
        return gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, NULL);
    memset(tw, 0, sizeof *tw);
    gwlb_hash_table *t = &tw->table;
    build *b = &tw->blocks;
    b->t = t;
    t->alloc = a;
    t->algorithm = config->algorithm;
    t->count = count;

    size_t id_total = 0;
    for (uint32_t i = 0; i < count; i++)
        id_total += hosts[i].identity_len;
    t->weight = take(b, count, sizeof *t->weight);
    t->id_offset = take(b, count, sizeof *t->id_offset);
    t->id_len = take(b, count, sizeof *t->id_len);
    t->id_bytes = take(b, id_total, 1);
    t->by_id = take(b, count, sizeof *t->by_id);
    t->id_bytes_size = id_total;
    rc = GWLB_ENOMEM;
    if (!t->weight || !t->id_offset || !t->id_len || !t->id_bytes || !t->by_id)
        goto fail;
    size_t off = 0;
    t->uniform_weight = 1;
    for (uint32_t i = 0; i < count; i++) {
        t->weight[i] = hosts[i].weight;
        t->id_offset[i] = (uint32_t)off;
        t->id_len[i] = (uint8_t)hosts[i].identity_len;
        memcpy(t->id_bytes + off, hosts[i].identity, hosts[i].identity_len);
        off += hosts[i].identity_len;
        t->total_weight += hosts[i].weight;
        if (hosts[i].weight > t->max_weight)
            t->max_weight = hosts[i].weight;
        if (hosts[i].weight != hosts[0].weight)
            t->uniform_weight = 0;
        t->by_id[i] = i;
    }
    {
        size_t tb;
        uint32_t *tmp = scratch(&a, count, sizeof *tmp, &tb);
        if (tmp == NULL)
            goto fail;
        sort_by_identity(t, t->by_id, tmp, count);
        gwlb__free(&a, tmp, tb);
    }
    for (uint32_t r = 1; r < count; r++) {
        if (identity_cmp(t, t->by_id[r - 1], t->by_id[r]) == 0) {
            uint32_t x = t->by_id[r - 1], y = t->by_id[r];
            rc = gwlb__detail(detail, GWLB_EEXIST, (int32_t)(x > y ? x : y),
                              (int32_t)(x < y ? x : y), -1, "identity", "duplicate identity");
            goto fail_quiet;
        }
    }

    switch (t->algorithm) {
    case GWLB_HASH_NGINX_IP:
    case GWLB_HASH_NGINX_HASH:
        rc = build_cumulative(b);
        break;
    case GWLB_HASH_NGINX_CONSISTENT:
        rc = build_nginx_points(b);
        break;
    case GWLB_HASH_RING:
        rc = build_ring(b, config->ring_min_size, config->ring_max_size, detail);
        if (rc != GWLB_OK && rc != GWLB_ENOMEM)
            goto fail_quiet;
        break;
    case GWLB_HASH_MAGLEV:
        t->maglev_size = config->maglev_table_size;
        rc = build_maglev(b);
        break;
    case GWLB_HASH_RENDEZVOUS:
        t->host_hash = take(b, count, sizeof *t->host_hash);
        rc = t->host_hash ? GWLB_OK : GWLB_ENOMEM;
        for (uint32_t i = 0; rc == GWLB_OK && i < count; i++)
            t->host_hash[i] = gwlb_hash64(t->id_bytes + t->id_offset[i], t->id_len[i], 0);
        break;
    default: /* GWLB_HASH_JUMP needs nothing more */
        rc = GWLB_OK;
        break;
    }
    if (rc != GWLB_OK)
        goto fail;

    if (config->sticky_enabled) {
        t->sticky_enabled = 1;
        memcpy(t->sticky_key, config->sticky_key, 16);
        rc = build_sticky(b, detail);
        if (rc == GWLB_ECONFLICT)
            goto fail_quiet;
        if (rc != GWLB_OK)
            goto fail;
    }
    build_steps(t);

    t->memory = sizeof *tw;
    for (int i = 0; i < b->nblocks; i++)
        t->memory += b->sizes[i];
    *out = t;
    return GWLB_OK;

fail:
    gwlb__detail(detail, rc, -1, -1, -1, NULL, NULL);
fail_quiet:
    release_blocks(b);
    gwlb__free(&a, tw, sizeof *tw);
    return rc;
}

void gwlb_hash_table_free(gwlb_hash_table *table)
{
    if (table == NULL)
        return;
    table_with_blocks *tw = (table_with_blocks *)(void *)table;
    gwlb_allocator a = table->alloc;
    release_blocks(&tw->blocks);
    gwlb__free(&a, tw, sizeof *tw);
}

uint32_t gwlb_hash_table_count(const gwlb_hash_table *table)
{
    return table != NULL ? table->count : 0;
}

uint32_t gwlb_hash_table_algorithm(const gwlb_hash_table *table)
{
    return table != NULL ? table->algorithm : 0;
}

size_t gwlb_hash_table_memory(const gwlb_hash_table *table)
{
    return table != NULL ? table->memory : 0;
}

int gwlb_hash_table_find(const gwlb_hash_table *table, const void *identity,
                         size_t identity_len, uint32_t *index)
{
    if (table == NULL || index == NULL || (identity == NULL && identity_len != 0))
        return GWLB_EINVAL;
    if (identity_len == 0)
        return GWLB_ENOENT; /* identities are never empty */
    uint32_t lo = 0, hi = table->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t h = table->by_id[mid];
        size_t hl = table->id_len[h];
        int c = memcmp(table->id_bytes + table->id_offset[h], identity,
                       hl < identity_len ? hl : identity_len);
        if (c == 0)
            c = hl < identity_len ? -1 : hl > identity_len;
        if (c == 0) {
            *index = h;
            return GWLB_OK;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return GWLB_ENOENT;
}
