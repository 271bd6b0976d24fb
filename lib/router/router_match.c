/*
 * Router matcher: the hot path. A depth-first walk of the compiled tree,
 * one request segment per level, trying branches in precedence order
 * (static, constrained parameters, parameter, catch-all, prefix) and
 * backtracking when a branch yields no route. Captures are written straight
 * into the caller's result as offsets into the caller's path; nothing is
 * allocated or copied, and the router is only read, so any number of
 * threads may match on one router at once.
 *
 * Exact-case routers take a faster road to the same answers: static edges
 * are found by the segment's first byte (no hashing), and a stackless loop (match_tight) runs through nodes that offer
 * no alternative, handing over to the backtracking walk only at the first
 * node that does. With the default policies gwlb_router_match goes
 * straight into that loop (arguments checked once, *match written only on
 * the way out), and a leaf picks its route from one method word per list
 * entry (list_methods). The tight loop is laid out for latency: a
 * first-byte node's dispatch words travel with the edge that leads to it
 * (rt_static.key there), and a static segment's length is scanned for
 * from the path, so each level's search waits for the fewest loads. On
 * paths of 16 to 63 bytes every segment end comes from one mask of the
 * path's '/' bytes made before the walk (slash_mask): the next level's
 * first byte and length then wait for no tree load at all. The hot
 * functions are aligned (RT_HOT), so their speed does not change with the
 * size of unrelated code before them. The
 * plain walk stays as gwlb__router_match_reference, and tests and fuzz
 * targets check both give identical results.
 */
#include <stddef.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64: 16-byte compares for the byte searches */
#define RT_SSE2 1
#endif

#include "router_internal.h"

typedef struct mctx {
    const gwlb_router *r;
    const gwlb_router_request *req;
    const char *path;
    const char *end;
    const char *host;
    size_t host_len;
    uint32_t method;
    uint32_t allowed;
    gwlb_route_match *m;
} mctx;

#if defined(__GNUC__)
#define RT_INLINE static inline __attribute__((always_inline))
#define RT_NOINLINE static __attribute__((noinline))
#define RT_HOT __attribute__((aligned(64))) /* a hot function on its own cache line */
#else
#define RT_INLINE static inline
#define RT_NOINLINE static
#define RT_HOT
#endif

/* ---- methods -------------------------------------------------------------- */

static const char *const method_names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                           "CONNECT", "OPTIONS", "TRACE", "PATCH"};

/* Aligned, so where its branches fall does not depend on the code before
 * it (a branch across a 32-byte line costs on some x86 cores); GET, the
 * most common method, tested first on a short path of its own. */
RT_HOT uint32_t gwlb_method_from_string(const char *name, size_t len)
{
    if (name == NULL)
        return 0;
    if (len == 3 && memcmp(name, "GET", 3) == 0) /* most requests */
        return GWLB_METHOD_GET;
    switch (len) {
    case 3:
        if (memcmp(name, "PUT", 3) == 0)
            return GWLB_METHOD_PUT;
        return 0;
    case 4:
        if (memcmp(name, "POST", 4) == 0)
            return GWLB_METHOD_POST;
        if (memcmp(name, "HEAD", 4) == 0)
            return GWLB_METHOD_HEAD;
        return 0;
    case 5:
        if (memcmp(name, "PATCH", 5) == 0)
            return GWLB_METHOD_PATCH;
        if (memcmp(name, "TRACE", 5) == 0)
            return GWLB_METHOD_TRACE;
        return 0;
    case 6:
        return memcmp(name, "DELETE", 6) == 0 ? GWLB_METHOD_DELETE : 0;
    case 7:
        if (memcmp(name, "OPTIONS", 7) == 0)
            return GWLB_METHOD_OPTIONS;
        if (memcmp(name, "CONNECT", 7) == 0)
            return GWLB_METHOD_CONNECT;
        return 0;
    default:
        return 0;
    }
}

int gwlb_method_format_allow(uint32_t methods, char *buf, size_t size)
{
    if (buf == NULL)
        return GWLB_EINVAL;
    size_t w = 0;
    for (unsigned i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
        if (!(methods & (1u << i)))
            continue;
        size_t n = strlen(method_names[i]);
        size_t sep = w ? 2 : 0;
        if (w + sep + n + 1 > size) {
            if (size)
                buf[0] = '\0';
            return GWLB_ENOSPC;
        }
        if (sep) {
            buf[w++] = ',';
            buf[w++] = ' ';
        }
        memcpy(buf + w, method_names[i], n);
        w += n;
    }
    if (w + 1 > size)
        return GWLB_ENOSPC;
    buf[w] = '\0';
    return (int)w;
}

/* ---- conditions ------------------------------------------------------------ */

static int fold_eq(const char *a, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rt_lower((uint8_t)a[i]) != (uint8_t)lower[i])
            return 0;
    return 1;
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = rt_lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Does the percent-decoded form of raw equal lit? (invalid escapes literal) */
static int decoded_eq(const char *raw, size_t n, const char *lit, size_t lit_len)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++, j++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%' && i + 2 < n) {
            int hi = hexv((unsigned char)raw[i + 1]), lo = hexv((unsigned char)raw[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (j >= lit_len || (unsigned char)lit[j] != c)
            return 0;
    }
    return j == lit_len;
}

static int header_ok(const mctx *c, const rt_cond *cond)
{
    const char *pool = c->r->pool;
    const char *name = pool + cond->name;
    int found = 0;
    for (size_t i = 0; i < c->req->header_count; i++) {
        const gwlb_header *h = &c->req->headers[i];
        if (h->name_len != cond->name_len || h->name == NULL || !fold_eq(h->name, name, h->name_len))
            continue;
        found = 1;
        switch (cond->match) {
        case GWLB_HEADER_EXACT:
            if (h->value_len == cond->value_len &&
                (cond->value_len == 0 || memcmp(h->value, pool + cond->value, h->value_len) == 0))
                return 1;
            break;
        case GWLB_HEADER_PREFIX:
            if (h->value_len >= cond->value_len &&
                (cond->value_len == 0 || memcmp(h->value, pool + cond->value, cond->value_len) == 0))
                return 1;
            break;
        case GWLB_HEADER_PRESENT:
            return 1;
        default: /* ABSENT */
            return 0;
        }
    }
    return cond->match == GWLB_HEADER_ABSENT ? !found : 0;
}

static int query_ok(const mctx *c, const rt_cond *cond)
{
    const char *q = c->req->query, *qend = q + c->req->query_len;
    if (q == NULL)
        return 0;
    const char *pool = c->r->pool;
    while (q < qend) {
        const char *amp = q;
        while (amp < qend && *amp != '&')
            amp++;
        const char *eq = q;
        while (eq < amp && *eq != '=')
            eq++;
        if (decoded_eq(q, (size_t)(eq - q), pool + cond->name, cond->name_len)) {
            if (cond->match == GWLB_QUERY_PRESENT)
                return 1;
            if (eq < amp &&
                decoded_eq(eq + 1, (size_t)(amp - eq - 1), pool + cond->value, cond->value_len))
                return 1;
        }
        q = amp + 1;
    }
    return 0;
}

static int host_ok(const mctx *c, const rt_route *rt)
{
    const char *want = c->r->pool + rt->host;
    if (c->host == NULL)
        return 0;
    if (rt->host_kind == RT_HOST_EXACT)
        return c->host_len == rt->host_len && fold_eq(c->host, want, rt->host_len);
    return c->host_len > rt->host_len &&
           fold_eq(c->host + c->host_len - rt->host_len, want, rt->host_len);
}

static int extras_ok(const mctx *c, const rt_route *rt)
{
    if (rt->host_kind != RT_HOST_ANY && !host_ok(c, rt))
        return 0;
    const rt_cond *cond = c->r->conds + rt->cond_begin;
    for (uint32_t i = 0; i < rt->cond_count; i++) {
        int ok = cond[i].type == RT_COND_HEADER ? header_ok(c, &cond[i]) : query_ok(c, &cond[i]);
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- the walk -------------------------------------------------------------- */

/* Report route idx as the match: parameter names (offsets were written
 * during the walk). */
RT_INLINE void emit_route(const gwlb_router *r, gwlb_route_match *m, uint32_t idx)
{
    const rt_route *rt = &r->routes[idx];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    _Static_assert(offsetof(gwlb_route_match, allowed_methods) ==
                       offsetof(gwlb_route_match, route) + 4,
                   "route and allowed_methods adjacent");
    const uint64_t head = idx; /* route = idx, allowed_methods = 0: one store */
    memcpy((char *)m + offsetof(gwlb_route_match, route), &head, 8);
#else
    m->route = (int32_t)idx;
    m->allowed_methods = 0;
#endif
    m->id = rt->id;
    m->data = rt->data;
    const uint32_t count = rt->param_count;
    m->param_count = count;
    const rt_name *nm = r->names + rt->name_begin, *const ne = nm + count;
    for (gwlb_route_param *pp = m->params; nm < ne; nm++, pp++) {
        pp->name = nm->ptr;
        pp->name_len = nm->len;
    }
}

RT_INLINE void emit(mctx *c, uint32_t idx, const rt_route *rt)
{
    (void)rt;
    emit_route(c->r, c->m, idx);
}

RT_NOINLINE int try_list_slow(mctx *c, uint32_t begin, uint32_t count)
{
    const gwlb_router *r = c->r;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t idx = r->lists[begin + i];
        const rt_route *rt = &r->routes[idx];
        int method_ok = rt->methods == 0 || (rt->methods & c->method) != 0;
        if (!method_ok && (rt->methods & ~c->allowed) == 0)
            continue; /* would add nothing to the Allow set */
        if (!rt->simple && !extras_ok(c, rt))
            continue;
        if (!method_ok) {
            c->allowed |= rt->methods;
            continue;
        }
        emit(c, idx, rt);
        return 1;
    }
    return 0;
}

/* Routes with no host and no conditions (the common case) are decided by
 * their methods alone: take the first that accepts the request, collect
 * the others' methods for the Allow set. The general loop takes over at
 * the first route with a host or conditions. count >= 1. */
RT_INLINE int try_list(mctx *c, uint32_t begin, uint32_t count)
{
    const gwlb_router *r = c->r;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t idx = r->lists[begin + i];
        const rt_route *rt = &r->routes[idx];
        if (!rt->simple)
            return try_list_slow(c, begin + i, count - i);
        if (rt->methods == 0 || (rt->methods & c->method) != 0) {
            emit(c, idx, rt);
            return 1;
        }
        c->allowed |= rt->methods;
    }
    return 0;
}

static inline int seg_eq(const char *a, const char *b, size_t n, uint32_t ci)
{
    if (ci)
        return fold_eq(a, b, n);
    /* Segments are short: compare inline with (overlapping) word loads. */
    if (n >= 8) {
        uint64_t x, y;
        while (n > 8) {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x != y)
                return 0;
            a += 8;
            b += 8;
            n -= 8;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return x0 == y0 && x1 == y1;
    }
    while (n > 0) {
        if (*a++ != *b++)
            return 0;
        n--;
    }
    return 1;
}

static inline uint32_t find_static(const gwlb_router *r, const rt_node *n, const char *s,
                                   size_t len, uint32_t ci)
{
    uint32_t key = 0;
    if (n->flags & RT_NODE_STRONG) {
        key = rt_strong_key((const uint8_t *)s, len, ci);
    } else if (len > 0) {
        uint32_t l = len > 0xff ? 0xff : (uint32_t)len;
        uint8_t f = (uint8_t)s[0], mid = (uint8_t)s[len / 2], b = (uint8_t)s[len - 1];
        if (ci) {
            f = rt_lower(f);
            mid = rt_lower(mid);
            b = rt_lower(b);
        }
        key = (l << 24) | ((uint32_t)f << 16) | ((uint32_t)mid << 8) | b;
    }
    const rt_static *statics = r->statics + n->static_begin;
    const uint32_t *slots = r->slots + n->slot_begin;
    uint32_t mask = UINT32_MAX >> n->slot_shift;
    for (uint32_t h = rt_slot(key, n->slot_shift);; h = (h + 1) & mask) {
        uint32_t k = slots[h];
        if (k == 0)
            return RT_NONE;
        const rt_static *st = &statics[k - 1]; /* slots hold index + 1 */
        if (st->key != key && n->fb_words == 0) /* first-byte nodes: bytes only */
            continue;
        if (st->len == len && seg_eq(s, r->pool + st->str, len, ci))
            return st->child;
    }
}

static int class_ok(const rt_constraint *k, const char *s, size_t len)
{
    if (k->kind == RT_CONSTRAINT_UUID) {
        if (len != 36)
            return 0;
        for (size_t i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (s[i] != '-')
                    return 0;
            } else if (hexv((unsigned char)s[i]) < 0) {
                return 0;
            }
        }
        return 1;
    }
    if (len < k->min_len || len > k->max_len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (!(k->set[ch >> 3] & (1u << (ch & 7))))
            return 0;
    }
    return 1;
}

/* End of the segment starting at p: the next '/' or end. Eight bytes at a
 * time where the byte order allows (the classic "has zero byte" trick on
 * x ^ "////////": the lowest flagged byte is the first '/'). The last 1..7
 * bytes come from one load of the path's final eight bytes (paths of eight
 * bytes or more), shifted right so p's byte is the lowest: the zeros
 * shifted in read as '/' exactly at end, so the first flagged byte is the
 * first real '/' or end. */
/* The word-at-a-time scan of segment_end (below) for targets without
 * SSE2, and with SSE2 for paths shorter than sixteen bytes (out of line
 * in the tight walk, so its constants do not occupy registers there). */
RT_INLINE const char *segment_end_words(const char *p, const char *end, const char *start)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t slashes = UINT64_C(0x2f2f2f2f2f2f2f2f);
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t x, t;
    while (end - p >= 8) {
        memcpy(&x, p, 8);
        x ^= slashes;
        t = (x - ones) & ~x & highs;
        if (t != 0)
            return p + (__builtin_ctzll(t) >> 3);
        p += 8;
    }
    if (p != end && end - start >= 8) { /* the last 1..7 bytes: one load */
        memcpy(&x, end - 8, 8);
        x = (x ^ slashes) >> (8 * (8 - (end - p)));
        t = (x - ones) & ~x & highs;
        return p + (__builtin_ctzll(t) >> 3);
    }
#else
    (void)start;
#endif
    while (p < end && *p != '/')
        p++;
    return p;
}

#if defined(RT_SSE2) && defined(__GNUC__)
RT_NOINLINE const char *segment_end_short(const char *p, const char *end, const char *start)
{
    return segment_end_words(p, end, start);
}
#endif

/* End of the segment starting at p: the next '/' or end. Eight bytes at a
 * time where the byte order allows (the classic "has zero byte" trick on
 * x ^ "////////": the lowest flagged byte is the first '/'). The last 1..7
 * bytes come from one load of the path's final eight bytes (paths of eight
 * bytes or more), shifted right so p's byte is the lowest: the zeros
 * shifted in read as '/' exactly at end, so the first flagged byte is the
 * first real '/' or end. */
RT_INLINE const char *segment_end_at(const char *p, const char *end, const char *start,
                                     const int short_out_of_line)
{
#if defined(RT_SSE2) && defined(__GNUC__)
    /* Sixteen bytes at a time; the last 1..15 from one load of the path's
     * final sixteen bytes, the mask shifted so p's byte is bit 0 and bit
     * (end - p) set for the end itself. Paths shorter than sixteen bytes:
     * eight at a time. */
    const __m128i sl = _mm_set1_epi8('/');
    while (end - p >= 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), sl));
        if (m != 0)
            return p + __builtin_ctz(m);
        p += 16;
    }
    if (p == end)
        return p;
    if (end - start >= 16) {
        unsigned rem = (unsigned)(end - p);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(end - 16)), sl));
        m = (m >> (16 - rem)) | (1u << rem);
        return p + __builtin_ctz(m);
    }
    return short_out_of_line ? segment_end_short(p, end, start)
                             : segment_end_words(p, end, start);
#else
    (void)short_out_of_line;
    return segment_end_words(p, end, start);
#endif
}

RT_INLINE const char *segment_end(const char *p, const char *end, const char *start)
{
    return segment_end_at(p, end, start, 0);
}

/*
 * The depth-first walk, iterative: one frame per tree level that still has
 * untried alternatives (a frame records where to resume: which parameter
 * edge comes next). A node at depth k only sees segment k, so the stack
 * never exceeds the deepest pattern (GWLB_ROUTER_MAX_SEGMENTS).
 */
typedef struct frame {
    uint32_t node;
    uint32_t next_param;
    uint32_t np;
    uint32_t pad;
    const char *p;
    const char *q;
} frame;

RT_INLINE int walk(mctx *c, const uint32_t ci)
{
    const gwlb_router *r = c->r;
    const char *const end = c->end;
    frame stack[GWLB_ROUTER_MAX_SEGMENTS + 1];
    uint32_t sp = 0, ni = 0, np = 0, pi;
    const char *p = c->path + 1, *q, *next;
    const rt_node *n;
    size_t len;
enter:
    n = &r->nodes[ni];
    if (p == NULL) { /* the path is used up at this node */
        if (n->exact_count && try_list(c, n->exact_begin, n->exact_count))
            return 1;
        if (n->prefix_count && try_list(c, n->prefix_begin, n->prefix_count))
            return 1;
        goto back;
    }
    q = segment_end(p, end, c->path);
    len = (size_t)(q - p);
    next = q < end ? q + 1 : NULL;
    pi = 0;
    if (n->static_count) {
        uint32_t child = find_static(r, n, p, len, ci);
        if (child != RT_NONE) {
            if (n->alt)
                stack[sp++] = (frame){ni, 0, np, 0, p, q};
            ni = child;
            p = next;
            goto enter;
        }
    }
params:
    if (len > 0 && np < GWLB_ROUTER_MAX_PARAMS) {
        for (; pi < n->param_count; pi++) {
            const rt_param *e = &r->params[n->param_begin + pi];
            if (e->constraint != RT_NONE && !class_ok(&r->constraints[e->constraint], p, len))
                continue;
            c->m->params[np].offset = (uint32_t)(p - c->path);
            c->m->params[np].length = (uint32_t)len;
            if (pi + 1 < n->param_count || (n->catchall_count | n->prefix_count))
                stack[sp++] = (frame){ni, pi + 1, np, 0, p, q};
            ni = e->child;
            p = next;
            np++;
            goto enter;
        }
    }
    if (n->catchall_count && np < GWLB_ROUTER_MAX_PARAMS) {
        c->m->params[np].offset = (uint32_t)(p - c->path);
        c->m->params[np].length = (uint32_t)(end - p);
        if (try_list(c, n->catchall_begin, n->catchall_count))
            return 1;
    }
    if (n->prefix_count && try_list(c, n->prefix_begin, n->prefix_count))
        return 1;
back:
    if (sp == 0)
        return 0;
    sp--;
    ni = stack[sp].node;
    pi = stack[sp].next_param;
    np = stack[sp].np;
    p = stack[sp].p;
    q = stack[sp].q;
    n = &r->nodes[ni];
    len = (size_t)(q - p);
    next = q < end ? q + 1 : NULL;
    goto params;
}

/* The static edge of node n for the non-empty segment at p (p < end,
 * *p != '/') through the first-byte dispatch, or NULL. Exact case only. */
RT_INLINE const rt_static *find_static_fbo(const gwlb_router *r, const rt_node *n, uint32_t fbo,
                                           const char *p, const char *end)
{
    const uint8_t ch = (uint8_t)*p;
    const uint64_t *w = r->fb + fbo;
    const uint8_t *fbb = (const uint8_t *)w;
    uint32_t k = RT_NONE;
#if defined(RT_SSE2) && defined(__GNUC__)
    const __m128i pat = _mm_set1_epi8((char)ch);
    for (uint32_t i = 0;;) { /* fb_words is even and >= 2 */
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(w + i)), pat));
        if (m != 0) {
            k = i * 8 + (uint32_t)__builtin_ctz(m);
            break;
        }
        i += 2;
        if (i >= n->fb_words)
            return NULL;
    }
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    const uint64_t pat = ch * ones;
    for (uint32_t i = 0; i < n->fb_words; i++) {
        uint64_t x = w[i] ^ pat;
        uint64_t t = (x - ones) & ~x & highs;
        if (t != 0) { /* the lowest flagged byte is the first equal one */
            k = i * 8 + (uint32_t)(__builtin_ctzll(t) >> 3);
            break;
        }
    }
#else
    for (uint32_t i = 0; i < n->fb_words * 8; i++)
        if (fbb[i] == ch) {
            k = i;
            break;
        }
    if (k == RT_NONE)
        return NULL;
#endif
    const rt_static *st = r->statics + n->static_begin + k;
    const uint8_t *f = fbb + k;
    do { /* padding is '/', never ch: f is a real edge, and a group ends before the padding */
        const size_t len = st->len;
        const char *const se = p + len; /* where the segment ends if st fits */
        if (se < end) {
            if (*se == '/' && seg_eq(p, r->pool + st->str, len, 0))
                return st;
        } else if (se == end && seg_eq(p, r->pool + st->str, len, 0)) {
            return st;
        }
        st++;
    } while (*++f == ch);
    return NULL;
}

RT_INLINE const rt_static *find_static_fb(const gwlb_router *r, const rt_node *n, const char *p,
                                          const char *end)
{
    return find_static_fbo(r, n, n->fb_begin, p, end);
}

/* The tight walk's static lookup: like find_static_fb, with the dispatch
 * words at fbo (carried from the edge or parameter node that led to n)
 * and the segment's length len >= 1 already known (scanned for while the
 * dispatch words load). */
RT_INLINE const rt_static *find_static_len(const gwlb_router *r, const rt_node *n, uint32_t fbo,
                                           const char *p, size_t len)
{
    const uint8_t ch = (uint8_t)*p;
    const uint64_t *w = r->fb + fbo;
    uint32_t k = RT_NONE;
#if defined(RT_SSE2) && defined(__GNUC__)
    const __m128i pat = _mm_set1_epi8((char)ch);
    for (uint32_t i = 0;;) { /* fb_words is even and >= 2 */
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(w + i)), pat));
        if (m != 0) {
            k = i * 8 + (uint32_t)__builtin_ctz(m);
            break;
        }
        i += 2;
        if (i >= n->fb_words)
            return NULL;
    }
#else
    const uint8_t *const fb8 = (const uint8_t *)w;
    for (uint32_t i = 0; i < n->fb_words * 8; i++)
        if (fb8[i] == ch) {
            k = i;
            break;
        }
    if (k == RT_NONE)
        return NULL;
#endif
    const rt_static *st = r->statics + n->static_begin + k;
    const uint8_t *f = (const uint8_t *)w + k;
    do { /* padding is '/', never ch: f is a real edge, and a group ends before the padding */
        if (st->len == len && seg_eq(p, r->pool + st->str, len, 0))
            return st;
        st++;
    } while (*++f == ch);
    return NULL;
}

/* The walk for exact-case routers: the same search as walk(c, 0), but a
 * node with first-byte dispatch finds its static edge without scanning for
 * the segment's end first (the end is then known from the edge's length);
 * the scan runs only when parameters, catch-alls or the hash table need it. */
RT_NOINLINE int walk_fast(mctx *c, uint32_t ni, const char *p, uint32_t np)
{
    const gwlb_router *r = c->r;
    const char *const end = c->end;
    frame stack[GWLB_ROUTER_MAX_SEGMENTS + 1];
    uint32_t sp = 0, pi;
    const char *q, *next;
    const rt_node *n;
    size_t len;
enter:
    n = &r->nodes[ni];
    if (p == NULL) { /* the path is used up at this node */
        if (n->exact_count && try_list(c, n->exact_begin, n->exact_count))
            return 1;
        if (n->prefix_count && try_list(c, n->prefix_begin, n->prefix_count))
            return 1;
        goto back;
    }
    if (n->fb_words && p < end && *p != '/') {
        const rt_static *st = find_static_fb(r, n, p, end);
        if (st != NULL) {
            q = p + st->len;
            if (n->alt)
                stack[sp++] = (frame){ni, 0, np, 0, p, q};
            ni = st->child;
            p = q < end ? q + 1 : NULL;
            goto enter;
        }
        q = segment_end(p + 1, end, c->path);
        len = (size_t)(q - p);
    } else {
        q = segment_end(p, end, c->path);
        len = (size_t)(q - p);
        if (n->static_count) {
            uint32_t child = find_static(r, n, p, len, 0);
            if (child != RT_NONE) {
                if (n->alt)
                    stack[sp++] = (frame){ni, 0, np, 0, p, q};
                ni = child;
                p = q < end ? q + 1 : NULL;
                goto enter;
            }
        }
    }
    next = q < end ? q + 1 : NULL;
    pi = 0;
params:
    if (len > 0 && np < GWLB_ROUTER_MAX_PARAMS) {
        for (; pi < n->param_count; pi++) {
            const rt_param *e = &r->params[n->param_begin + pi];
            if (e->constraint != RT_NONE && !class_ok(&r->constraints[e->constraint], p, len))
                continue;
            c->m->params[np].offset = (uint32_t)(p - c->path);
            c->m->params[np].length = (uint32_t)len;
            if (pi + 1 < n->param_count || (n->catchall_count | n->prefix_count))
                stack[sp++] = (frame){ni, pi + 1, np, 0, p, q};
            ni = e->child;
            p = next;
            np++;
            goto enter;
        }
    }
    if (n->catchall_count && np < GWLB_ROUTER_MAX_PARAMS) {
        c->m->params[np].offset = (uint32_t)(p - c->path);
        c->m->params[np].length = (uint32_t)(end - p);
        if (try_list(c, n->catchall_begin, n->catchall_count))
            return 1;
    }
    if (n->prefix_count && try_list(c, n->prefix_begin, n->prefix_count))
        return 1;
back:
    if (sp == 0)
        return 0;
    sp--;
    ni = stack[sp].node;
    pi = stack[sp].next_param;
    np = stack[sp].np;
    p = stack[sp].p;
    q = stack[sp].q;
    n = &r->nodes[ni];
    len = (size_t)(q - p);
    next = q < end ? q + 1 : NULL;
    goto params;
}

/* Write a capture's offset and length (adjacent fields) with one store
 * where the byte order allows. */
RT_INLINE void capture(gwlb_route_param *cap, uint32_t offset, uint32_t length)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    _Static_assert(offsetof(gwlb_route_param, length) == offsetof(gwlb_route_param, offset) + 4,
                   "offset and length adjacent");
    const uint64_t both = offset | (uint64_t)length << 32;
    memcpy((char *)cap + offsetof(gwlb_route_param, offset), &both, 8);
#else
    cap->offset = offset;
    cap->length = length;
#endif
}

#if defined(RT_SSE2) && defined(__GNUC__)
/* Paths of 16 to RT_MASK_MAX bytes: the tight walk takes every segment's
 * end from one mask computed up front (below), so a level's first byte and
 * length wait for no load of the level before. */
#define RT_MASK_MAX 63

/* Bit i set where path[i] is '/', and bit len for the end itself
 * (16 <= len <= RT_MASK_MAX). Reads only path[0 .. len): four sixteen-byte
 * loads, each clipped to the path's last sixteen bytes (overlaps only set
 * the same bits again), with no branch on the length: path lengths vary
 * from one request to the next. Shorter paths keep the scans (a mask
 * there costs more than it saves, measured). */
RT_INLINE uint64_t slash_mask(const char *path, size_t len)
{
    const __m128i sl = _mm_set1_epi8('/');
    uint64_t m = UINT64_C(1) << len;
    const size_t last = len - 16;
    for (size_t off = 0; off < 64; off += 16) { /* unrolled: four independent loads */
        const size_t o = off < last ? off : last;
        m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                 _mm_loadu_si128((const __m128i *)(const void *)(path + o)), sl))
             << o;
    }
    return m;
}
#endif

/* Fill *match for "no route": GWLB_EMETHOD with the Allow set when some
 * route matched all but the method, else GWLB_ENOENT. */
RT_NOINLINE int not_found(gwlb_route_match *m, uint32_t allowed)
{
    m->route = -1;
    m->allowed_methods = allowed;
    m->param_count = 0;
    m->id = 0;
    m->data = NULL;
    return allowed ? GWLB_EMETHOD : GWLB_ENOENT;
}

static void ctx_init(mctx *c, const gwlb_router *router, const gwlb_router_request *request,
                     gwlb_route_match *match)
{
    c->r = router;
    c->req = request;
    c->path = request->path;
    c->end = request->path + request->path_len;
    c->method = request->method;
    c->allowed = 0;
    c->m = match;
    c->host = request->host;
    c->host_len = request->host ? request->host_len : 0;
    if (c->host != NULL) { /* drop a ":port" suffix */
        size_t i = c->host_len;
        while (i > 0 && c->host[i - 1] >= '0' && c->host[i - 1] <= '9')
            i--;
        if (i > 0 && c->host[i - 1] == ':' &&
            (c->host[0] != '[' || (i >= 2 && c->host[i - 2] == ']')))
            c->host_len = i - 1;
    }
}

/* The tight walk met a node with choices (or a route list with a host or
 * conditions): the backtracking walk takes over from node ni, segment p
 * (NULL: the path is used up), with np parameters captured. Nothing above
 * ni offered an alternative, so its answer is the final one. */
RT_NOINLINE int resume_walk(const gwlb_router *r, const gwlb_router_request *req,
                            gwlb_route_match *m, uint32_t ni, const char *p, uint32_t np)
{
    mctx c;
    ctx_init(&c, r, req, m);
    if (walk_fast(&c, ni, p, np))
        return 0;
    return not_found(m, c.allowed);
}

/*
 * The exact-case walk (default policies), tail-called from
 * gwlb_router_match once the arguments are checked (out of line: the
 * checks then need no saved registers, and the loop gets the registers
 * laid out for it alone). Most nodes of real route tables offer no
 * choice to come back to: only static edges (found by first byte), or a
 * single plain parameter. While the walk meets only such nodes it needs no
 * stack and runs here, in a tight loop; a dead end there is the final
 * answer, since no node above offered an alternative. At the first node
 * with choices (or needing the hash table, a constraint, a catch-all...)
 * it continues in walk_fast from that node (resume_walk), whose
 * backtracking then never needs to climb above it.
 *
 * q is the end of the segment just consumed: the '/' before the next one,
 * or end when the path is used up. A parameter capture needs no bound
 * check here: a node reached through k parameter edges exists only for
 * routes with at least k parameters, so a parameter edge is followed at
 * most GWLB_ROUTER_MAX_PARAMS times (the builder's limit).
 */
RT_INLINE int match_tight_at(const gwlb_router *const r, const gwlb_router_request *req,
                             gwlb_route_match *m, const char *const path, const char *const end,
                             const int masked)
{
    const rt_node *const nodes = r->nodes;
    const char *q = path; /* path[0] == '/' */
    gwlb_route_param *cap = m->params;
    const rt_node *n = nodes;
    uint32_t fbo = n->fb_begin; /* n's dispatch words, known with n (see the builder) */
    const int wide = end - path >= 16;
    /* masked (paths of 16 to RT_MASK_MAX bytes): every segment's end is
     * known before the walk starts; rest holds the ends after q (never
     * empty in the loop: its highest bit is end itself). */
#if defined(RT_SSE2) && defined(__GNUC__)
    uint64_t rest = masked ? slash_mask(path, (size_t)(end - path)) & ~UINT64_C(1) : 0;
#else
    (void)masked; /* always 0 here */
#endif
    while (q != end) {
        const char *p = q + 1;
        const uint32_t flags = n->flags;
#if defined(RT_SSE2) && defined(__GNUC__)
        if (masked) {
            /* The segment's end comes from the mask: the next level's
             * first byte and length depend on no load of this level. */
            const char *const se = path + __builtin_ctzll(rest);
            rest &= rest - 1;
            if ((flags & RT_NODE_FB_ONLY) && se != p) {
                const rt_static *st = find_static_len(r, n, fbo, p, (size_t)(se - p));
                if (st == NULL)
                    return not_found(m, 0); /* statics only, none fits */
                q = se;
                fbo = st->key;
                n = &nodes[st->child];
                continue;
            }
            if (flags & RT_NODE_PARAM1) {
                if (se == p)
                    return not_found(m, 0); /* empty segment: the only edge does not apply */
                capture(cap, (uint32_t)(p - path), (uint32_t)(se - p));
                cap++;
                q = se;
                fbo = n->slot_begin;
                n = &nodes[n->fb_begin]; /* the parameter edge's child */
                continue;
            }
            return resume_walk(r, req, m, (uint32_t)(n - nodes), p, (uint32_t)(cap - m->params));
        }
#endif
        if ((flags & RT_NODE_FB_ONLY) && p < end && *p != '/') {
            /* Latency, not instructions, bounds a lookup: the segment's
             * length comes from the path alone (a sixteen-byte scan, on
             * paths of sixteen bytes or more) and n's dispatch words from
             * the edge that led here (fbo), so the first-byte search waits
             * neither for n nor for the previous edge's length. Measured
             * on github: ~42.3 -> ~39.5 ns per lookup, though it runs
             * more instructions. */
            const rt_static *st;
            if (wide) {
                const char *const se = segment_end_at(p + 1, end, path, 1);
                st = find_static_len(r, n, fbo, p, (size_t)(se - p));
            } else {
                st = find_static_fbo(r, n, fbo, p, end);
            }
            if (st == NULL)
                return not_found(m, 0); /* statics only, none fits */
            q = p + st->len;
            fbo = st->key;
            n = &nodes[st->child];
            continue;
        }
        if (flags & RT_NODE_PARAM1) {
            q = segment_end_at(p, end, path, 1);
            if (q == p)
                return not_found(m, 0); /* empty segment: the only edge does not apply */
            capture(cap, (uint32_t)(p - path), (uint32_t)(q - p));
            cap++;
            fbo = n->slot_begin;
            n = &nodes[n->fb_begin]; /* the parameter edge's child */
            continue;
        }
        return resume_walk(r, req, m, (uint32_t)(n - nodes), p, (uint32_t)(cap - m->params));
    }
    /* The path is used up at n: its exact routes decided by their methods
     * alone. A route with a host or conditions, or prefix routes to try
     * after them (rare), hand the node over to the general walk. */
    const uint32_t want = (req->method & GWLB_METHOD_ALL) | RT_LM_ANY;
    const uint32_t *const lm = r->list_methods;
    const uint32_t *x = lm + n->exact_begin, *const xe = x + n->exact_count;
    uint32_t allowed = 0;
    for (; x < xe; x++) {
        if (*x & want) {
            emit_route(r, m, r->lists[x - lm]);
            return 0;
        }
        if (*x & RT_LM_SLOW)
            break;
        allowed |= *x;
    }
    if (x < xe || n->prefix_count)
        return resume_walk(r, req, m, (uint32_t)(n - nodes), NULL, (uint32_t)(cap - m->params));
    return not_found(m, allowed);
}

#if defined(RT_SSE2) && defined(__GNUC__)
RT_NOINLINE RT_HOT int match_tight_masked(const gwlb_router *const r,
                                          const gwlb_router_request *req, gwlb_route_match *m,
                                          const char *const path, const char *const end)
{
    return match_tight_at(r, req, m, path, end, 1);
}
#endif

RT_NOINLINE RT_HOT int match_tight(const gwlb_router *const r, const gwlb_router_request *req,
                                   gwlb_route_match *m, const char *const path,
                                   const char *const end)
{
    return match_tight_at(r, req, m, path, end, 0);
}

/* The walk compiled per case policy, so the policy is a constant inside. */
RT_NOINLINE int walk_exact_case(mctx *c)
{
    return walk_fast(c, 0, c->path + 1, 0);
}

/* The plain walk (hash lookups only) on an exact-case router: the
 * reference the first-byte dispatch is tested against. */
RT_NOINLINE int walk_reference(mctx *c)
{
    return walk(c, 0);
}

RT_NOINLINE int walk_any_case(mctx *c)
{
    return walk(c, GWLB_ROUTER_CASE_INSENSITIVE);
}

RT_INLINE int match_impl(const gwlb_router *router, const gwlb_router_request *request,
                         gwlb_route_match *match, const int reference)
{
    if (router == NULL || request == NULL || match == NULL)
        return GWLB_EINVAL;
    match->route = -1;
    match->allowed_methods = 0;
    match->param_count = 0;
    match->id = 0;
    match->data = NULL;
    const char *path = request->path;
    size_t len = request->path_len;
    if (path == NULL || len == 0 || path[0] != '/')
        return GWLB_EINVAL;
    if (len > GWLB_ROUTER_PATH_MAX)
        return GWLB_ETOOLONG;
    mctx c;
    ctx_init(&c, router, request, match);
    if (!(router->flags & (GWLB_ROUTER_CASE_INSENSITIVE | GWLB_ROUTER_IGNORE_TRAILING_SLASH))) {
        if (reference ? walk_reference(&c) : walk_exact_case(&c))
            return 0;
    } else {
        int (*const walk_fn)(mctx *) = (router->flags & GWLB_ROUTER_CASE_INSENSITIVE)
                                           ? walk_any_case
                                           : (reference ? walk_reference : walk_exact_case);
        if (walk_fn(&c))
            return 0;
        if ((router->flags & GWLB_ROUTER_IGNORE_TRAILING_SLASH) && len > 1 &&
            path[len - 1] == '/') {
            c.end = path + len - 1;
            if (walk_fn(&c))
                return 0;
        }
    }
    match->route = -1;
    match->param_count = 0;
    if (c.allowed) {
        match->allowed_methods = c.allowed;
        return GWLB_EMETHOD;
    }
    return GWLB_ENOENT;
}

/* Everything but the common case (default policies, valid arguments):
 * argument errors, case-insensitive and trailing-slash routers. */
RT_NOINLINE int match_general(const gwlb_router *router, const gwlb_router_request *request,
                              gwlb_route_match *match)
{
    return match_impl(router, request, match, 0);
}

RT_HOT int gwlb_router_match(const gwlb_router *router, const gwlb_router_request *request,
                             gwlb_route_match *match)
{
    /* The common case checks each argument once and initialises nothing
     * up front: every way out of match_tight fills *match completely. */
    if (router != NULL && request != NULL && match != NULL &&
        !(router->flags & (GWLB_ROUTER_CASE_INSENSITIVE | GWLB_ROUTER_IGNORE_TRAILING_SLASH))) {
        const char *path = request->path;
        const size_t len = request->path_len;
        if (path != NULL && len - 1 < GWLB_ROUTER_PATH_MAX && path[0] == '/') {
            /* A root with choices (a large table's root has too many
             * statics for the first-byte dispatch): the general walk at once. */
            if (!(router->nodes[0].flags & (RT_NODE_FB_ONLY | RT_NODE_PARAM1)))
                return resume_walk(router, request, match, 0, path + 1, 0);
#if defined(RT_SSE2) && defined(__GNUC__)
            if (len - 16 <= RT_MASK_MAX - 16)
                return match_tight_masked(router, request, match, path, path + len);
#endif
            return match_tight(router, request, match, path, path + len);
        }
    }
    return match_general(router, request, match);
}

int gwlb__router_match_reference(const gwlb_router *router, const gwlb_router_request *request,
                                 gwlb_route_match *match)
{
    return match_impl(router, request, match, 1);
}

int gwlb_router_match_param(const gwlb_route_match *match, const char *name, size_t name_len,
                            uint32_t *offset, uint32_t *length)
{
    if (match == NULL || name == NULL || offset == NULL || length == NULL)
        return GWLB_EINVAL;
    uint32_t n = match->param_count > GWLB_ROUTER_MAX_PARAMS ? GWLB_ROUTER_MAX_PARAMS
                                                             : match->param_count;
    for (uint32_t i = 0; i < n; i++) {
        const gwlb_route_param *p = &match->params[i];
        if (p->name_len == name_len && memcmp(p->name, name, name_len) == 0) {
            *offset = p->offset;
            *length = p->length;
            return 0;
        }
    }
    return GWLB_ENOENT;
}

int gwlb_router_pick_target(const gwlb_router *router, int32_t route, const void *key,
                            size_t key_len, uint32_t *index, uint64_t *id, void **data)
{
    if (router == NULL || index == NULL || (key == NULL && key_len > 0))
        return GWLB_EINVAL;
    if (route < 0 || (uint32_t)route >= router->route_count)
        return GWLB_ERANGE;
    const rt_route *rt = &router->routes[route];
    if (rt->target_count == 0)
        return GWLB_ENOENT;
    const rt_target *t = router->targets + rt->target_begin;
    uint64_t total = t[rt->target_count - 1].cumulative;
    uint64_t x = gwlb_hash64(key, key_len, 0) % total;
    uint32_t lo = 0, hi = rt->target_count - 1; /* first cumulative > x */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t[mid].cumulative > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    *index = lo;
    if (id != NULL)
        *id = t[lo].id;
    if (data != NULL)
        *data = t[lo].data;
    return 0;
}
