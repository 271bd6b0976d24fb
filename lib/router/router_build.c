/*
 * Router compiler: validates the host's gwlb_route array and turns it into
 * the flat, immutable layout described in router_internal.h.
 *
 * Two phases. First every route is parsed and inserted into a temporary
 * tree built from growable arrays (static edges found through a hash table
 * keyed by parent node and segment bytes, so 10k siblings stay linear).
 * Then the tree is flattened into one allocation: per node, static edges
 * sorted by key (or by first byte for the first-byte dispatch), parameter edges in precedence order, and route lists
 * sorted by precedence, where neighbours that can never be told apart are
 * reported as conflicts. Any error frees everything: nothing is compiled.
 */
#include <string.h>

#include "router_internal.h"

/* ---- growable arrays ---------------------------------------------------- */

typedef struct vec {
    void *p;
    size_t len, cap, elem;
} vec;

static int vec_grow(const gwlb_allocator *a, vec *v, size_t need)
{
    if (need <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / v->elem)
            return GWLB_ENOMEM;
        cap *= 2;
    }
    void *p = gwlb__realloc(a, v->p, v->cap * v->elem, cap * v->elem);
    if (p == NULL)
        return GWLB_ENOMEM;
    v->p = p;
    v->cap = cap;
    return 0;
}

/* Append n zeroed elements; returns a pointer to the first, or NULL. */
static void *vec_push(const gwlb_allocator *a, vec *v, size_t n)
{
    if (vec_grow(a, v, v->len + n) != 0)
        return NULL;
    void *p = (char *)v->p + v->len * v->elem;
    memset(p, 0, n * v->elem);
    v->len += n;
    return p;
}

static void vec_free(const gwlb_allocator *a, vec *v)
{
    gwlb__free(a, v->p, v->cap * v->elem);
    v->p = NULL;
    v->len = v->cap = 0;
}

#define VEC(type) {NULL, 0, 0, sizeof(type)}
#define AT(v, type, i) (((type *)(v).p)[i])

/* ---- heapsort with a context (C11 has no qsort_r) ------------------------ */

typedef int (*cmp_fn)(const void *a, const void *b, const void *ctx);

static void swap_bytes(unsigned char *a, unsigned char *b, size_t n)
{
    unsigned char t[64];
    while (n > 0) {
        size_t k = n < sizeof t ? n : sizeof t;
        memcpy(t, a, k);
        memcpy(a, b, k);
        memcpy(b, t, k);
        a += k;
        b += k;
        n -= k;
    }
}

static void sift(unsigned char *base, size_t size, size_t root, size_t n, cmp_fn cmp,
                 const void *ctx)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size, ctx) < 0)
            child++;
        if (cmp(base + root * size, base + child * size, ctx) >= 0)
            return;
        swap_bytes(base + root * size, base + child * size, size);
        root = child;
    }
}

static void sort(void *vbase, size_t n, size_t size, cmp_fn cmp, const void *ctx)
{
    unsigned char *base = vbase;
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift(base, size, i, n, cmp, ctx);
    for (size_t end = n - 1; end > 0; end--) {
        swap_bytes(base, base + end * size, size);
        sift(base, size, 0, end, cmp, ctx);
    }
}

/* ---- temporary tree ------------------------------------------------------ */

typedef struct tnode {
    uint32_t static_head, param_head;
    uint32_t list_head[3]; /* exact, catch-all, prefix */
    uint32_t static_count, param_count;
    uint32_t list_count[3];
} tnode;

enum { L_EXACT = 0, L_CATCHALL = 1, L_PREFIX = 2 };

typedef struct tedge {
    uint32_t next;
    uint32_t parent;
    uint32_t str; /* static: pool offset; param: constraint or RT_NONE */
    uint32_t len;
    uint32_t child;
} tedge;

typedef struct tlist {
    uint32_t next;
    uint32_t route;
} tlist;

typedef struct builder {
    const gwlb_allocator *a;
    uint32_t flags;
    gwlb_error_detail *detail;
    vec nodes, statics, params, lists, constraints, routes, conds, names, targets, pool;
    uint32_t *table; /* static edge hash: edge index + 1, 0 = empty */
    size_t table_cap;
    size_t table_used;
} builder;

static void builder_free(builder *b)
{
    vec_free(b->a, &b->nodes);
    vec_free(b->a, &b->statics);
    vec_free(b->a, &b->params);
    vec_free(b->a, &b->lists);
    vec_free(b->a, &b->constraints);
    vec_free(b->a, &b->routes);
    vec_free(b->a, &b->conds);
    vec_free(b->a, &b->names);
    vec_free(b->a, &b->targets);
    vec_free(b->a, &b->pool);
    gwlb__free(b->a, b->table, b->table_cap * sizeof(uint32_t));
}

static int pool_add(builder *b, const char *s, size_t len, int nul, uint32_t *off)
{
    if (b->pool.len + len + 1 > UINT32_MAX)
        return GWLB_ENOMEM;
    *off = (uint32_t)b->pool.len;
    if (len == 0 && !nul)
        return 0;
    char *p = vec_push(b->a, &b->pool, len + (nul ? 1 : 0));
    if (p == NULL)
        return GWLB_ENOMEM;
    if (len)
        memcpy(p, s, len);
    return 0;
}

static uint32_t new_node(builder *b)
{
    tnode *n = vec_push(b->a, &b->nodes, 1);
    if (n == NULL)
        return RT_NONE;
    n->static_head = n->param_head = RT_NONE;
    n->list_head[0] = n->list_head[1] = n->list_head[2] = RT_NONE;
    return (uint32_t)(b->nodes.len - 1);
}

static uint64_t edge_hash(uint32_t parent, const char *s, size_t len)
{
    return gwlb_hash64(s, len, parent);
}

static int table_grow(builder *b)
{
    size_t cap = b->table_cap ? b->table_cap * 2 : 64;
    uint32_t *t = gwlb__calloc(b->a, cap, sizeof(uint32_t));
    if (t == NULL)
        return GWLB_ENOMEM;
    const char *pool = b->pool.p;
    for (size_t i = 0; i < b->statics.len; i++) {
        const tedge *e = &AT(b->statics, tedge, i);
        size_t h = (size_t)edge_hash(e->parent, pool + e->str, e->len) & (cap - 1);
        while (t[h] != 0)
            h = (h + 1) & (cap - 1);
        t[h] = (uint32_t)i + 1;
    }
    gwlb__free(b->a, b->table, b->table_cap * sizeof(uint32_t));
    b->table = t;
    b->table_cap = cap;
    return 0;
}

/* Child of `parent` through static segment s, created when missing. */
static int static_child(builder *b, uint32_t parent, const char *s, size_t len, uint32_t *child)
{
    if ((b->statics.len + 1) * 2 > b->table_cap && table_grow(b) != 0)
        return GWLB_ENOMEM;
    size_t mask = b->table_cap - 1;
    size_t h = (size_t)edge_hash(parent, s, len) & mask;
    for (; b->table[h] != 0; h = (h + 1) & mask) {
        const tedge *e = &AT(b->statics, tedge, b->table[h] - 1);
        if (e->parent == parent && e->len == len &&
            memcmp((const char *)b->pool.p + e->str, s, len) == 0) {
            *child = e->child;
            return 0;
        }
    }
    uint32_t str;
    if (pool_add(b, s, len, 0, &str) != 0)
        return GWLB_ENOMEM;
    uint32_t c = new_node(b);
    if (c == RT_NONE)
        return GWLB_ENOMEM;
    tedge *e = vec_push(b->a, &b->statics, 1);
    if (e == NULL)
        return GWLB_ENOMEM;
    tnode *pn = &AT(b->nodes, tnode, parent);
    e->next = pn->static_head;
    e->parent = parent;
    e->str = str;
    e->len = (uint32_t)len;
    e->child = c;
    pn->static_head = (uint32_t)(b->statics.len - 1);
    pn->static_count++;
    b->table[h] = (uint32_t)b->statics.len;
    *child = c;
    return 0;
}

static int param_child(builder *b, uint32_t parent, uint32_t constraint, uint32_t *child)
{
    for (uint32_t i = AT(b->nodes, tnode, parent).param_head; i != RT_NONE;
         i = AT(b->params, tedge, i).next) {
        if (AT(b->params, tedge, i).str == constraint) {
            *child = AT(b->params, tedge, i).child;
            return 0;
        }
    }
    uint32_t c = new_node(b);
    if (c == RT_NONE)
        return GWLB_ENOMEM;
    tedge *e = vec_push(b->a, &b->params, 1);
    if (e == NULL)
        return GWLB_ENOMEM;
    tnode *pn = &AT(b->nodes, tnode, parent);
    e->next = pn->param_head;
    e->parent = parent;
    e->str = constraint;
    e->child = c;
    pn->param_head = (uint32_t)(b->params.len - 1);
    pn->param_count++;
    *child = c;
    return 0;
}

static int list_add(builder *b, uint32_t node, int which, uint32_t route)
{
    tlist *l = vec_push(b->a, &b->lists, 1);
    if (l == NULL)
        return GWLB_ENOMEM;
    tnode *n = &AT(b->nodes, tnode, node);
    l->next = n->list_head[which];
    l->route = route;
    n->list_head[which] = (uint32_t)(b->lists.len - 1);
    n->list_count[which]++;
    return 0;
}

/* ---- constraints --------------------------------------------------------- */

static void set_add(rt_constraint *c, unsigned lo, unsigned hi)
{
    for (unsigned x = lo; x <= hi; x++)
        c->set[x >> 3] |= (uint8_t)(1u << (x & 7));
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* Parse a decimal 1..255 at s[*i]; returns -1 when malformed. */
static int parse_small(const char *s, size_t end, size_t *i)
{
    int v = 0, digits = 0;
    while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        if (v > 255)
            return -1;
        (*i)++;
        digits++;
    }
    return digits ? v : -1;
}

/*
 * Parse the constraint text path[start, end) ("int", "[a-z]{1,8}"...) into
 * *c. Returns 0 or an error with *col set.
 */
static int parse_constraint(const char *path, size_t start, size_t end, rt_constraint *c,
                            size_t *col)
{
    memset(c, 0, sizeof *c);
    c->kind = RT_CONSTRAINT_CLASS;
    c->min_len = 1;
    c->max_len = UINT32_MAX;
    size_t i = start;
    *col = start;
    if (i == end)
        return GWLB_ESYNTAX;
    if (path[i] == '[') {
        i++;
        if (i < end && path[i] == ']') {
            *col = i;
            return GWLB_ESYNTAX; /* empty class */
        }
        while (i < end && path[i] != ']') {
            unsigned lo = (unsigned char)path[i], hi = lo;
            if (i + 2 < end && path[i + 1] == '-' && path[i + 2] != ']') {
                hi = (unsigned char)path[i + 2];
                if (hi < lo) {
                    *col = i;
                    return GWLB_ESYNTAX;
                }
                i += 3;
            } else {
                i++;
            }
            set_add(c, lo, hi);
        }
        if (i >= end) {
            *col = start;
            return GWLB_ESYNTAX; /* unclosed '[' */
        }
        i++; /* ']' */
    } else {
        size_t w = i;
        while (i < end && is_word(path[i]))
            i++;
        size_t n = i - w;
        if (n == 3 && memcmp(path + w, "int", 3) == 0) {
            set_add(c, '0', '9');
        } else if (n == 3 && memcmp(path + w, "hex", 3) == 0) {
            set_add(c, '0', '9');
            set_add(c, 'a', 'f');
            set_add(c, 'A', 'F');
        } else if (n == 4 && memcmp(path + w, "uuid", 4) == 0) {
            c->kind = RT_CONSTRAINT_UUID;
            c->min_len = c->max_len = 36;
        } else {
            *col = w;
            return n ? GWLB_ENOTSUP : GWLB_ESYNTAX;
        }
    }
    if (i < end && path[i] == '{') {
        if (c->kind == RT_CONSTRAINT_UUID) {
            *col = i;
            return GWLB_ESYNTAX;
        }
        size_t b = i++;
        int lo = parse_small(path, end, &i);
        int hi = lo;
        if (lo >= 0 && i < end && path[i] == ',') {
            i++;
            hi = parse_small(path, end, &i);
        }
        if (lo < 1 || hi < lo || i >= end || path[i] != '}') {
            *col = b;
            return GWLB_ESYNTAX;
        }
        i++;
        c->min_len = (uint32_t)lo;
        c->max_len = (uint32_t)hi;
    }
    if (i != end) {
        *col = i;
        return GWLB_ESYNTAX;
    }
    for (int k = 0; k < 32; k++) {
        unsigned v = c->set[k];
        v = v - ((v >> 1) & 0x55u);
        v = (v & 0x33u) + ((v >> 2) & 0x33u);
        c->popcount += (v + (v >> 4)) & 0x0fu;
    }
    return 0;
}

static int constraint_index(builder *b, const rt_constraint *c, uint32_t *idx)
{
    for (size_t i = 0; i < b->constraints.len; i++) {
        if (memcmp(&AT(b->constraints, rt_constraint, i), c, sizeof *c) == 0) {
            *idx = (uint32_t)i;
            return 0;
        }
    }
    rt_constraint *n = vec_push(b->a, &b->constraints, 1);
    if (n == NULL)
        return GWLB_ENOMEM;
    *n = *c;
    *idx = (uint32_t)(b->constraints.len - 1);
    return 0;
}

/* ---- one route ----------------------------------------------------------- */

static int err(builder *b, int code, size_t item, long other, long col, const char *field,
               const char *msg)
{
    return gwlb__detail(b->detail, code, (int32_t)item, (int32_t)other, (int32_t)col, field,
                        "%s", msg);
}

static int name_char_ok(char c)
{
    return c != '{' && c != '}' && c != ':' && c != '*' && c != '\0' && c != '/';
}

static int parse_host(builder *b, size_t ri, const char *host, rt_route *r)
{
    if (host == NULL) {
        r->host_kind = RT_HOST_ANY;
        return 0;
    }
    size_t len = strlen(host);
    if (len > GWLB_ROUTER_HOST_MAX)
        return err(b, GWLB_ETOOLONG, ri, -1, GWLB_ROUTER_HOST_MAX, "host", "host too long");
    size_t start = 0;
    r->host_kind = RT_HOST_EXACT;
    if (len >= 1 && host[0] == '*') {
        if (len < 3 || host[1] != '.')
            return err(b, GWLB_ESYNTAX, ri, -1, 0, "host",
                       "wildcard host must look like \"*.example.com\"");
        r->host_kind = RT_HOST_WILDCARD;
        start = 1; /* keep the dot: suffix ".example.com" */
    }
    if (len == 0)
        return err(b, GWLB_ESYNTAX, ri, -1, 0, "host", "empty host");
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c >= 0x7f || c == '*' || c == '/' || c == '?' || c == '#' || c == '@')
            return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "host", "invalid byte in host");
    }
    if (host[len - 1] == '.' && r->host_kind == RT_HOST_WILDCARD && len == 2)
        return err(b, GWLB_ESYNTAX, ri, -1, 1, "host", "empty wildcard suffix");
    uint32_t off;
    if (pool_add(b, host + start, len - start, 1, &off) != 0)
        return GWLB_ENOMEM;
    char *p = (char *)b->pool.p + off;
    for (size_t i = 0; i < len - start; i++)
        p[i] = (char)rt_lower((uint8_t)p[i]);
    r->host = off;
    r->host_len = (uint32_t)(len - start);
    return 0;
}

static int cond_cmp(const void *va, const void *vb, const void *ctx)
{
    const rt_cond *a = va, *b = vb;
    const char *pool = *(const char *const *)ctx;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    if (a->match != b->match)
        return a->match < b->match ? -1 : 1;
    if (a->name_len != b->name_len)
        return a->name_len < b->name_len ? -1 : 1;
    int c = memcmp(pool + a->name, pool + b->name, a->name_len);
    if (c != 0)
        return c;
    if (a->value_len != b->value_len)
        return a->value_len < b->value_len ? -1 : 1;
    return memcmp(pool + a->value, pool + b->value, a->value_len);
}

static int add_cond(builder *b, size_t ri, size_t ci, int type, const char *name,
                    const char *value, uint32_t match)
{
    const char *field = type == RT_COND_HEADER ? "headers" : "queries";
    uint32_t kinds = type == RT_COND_HEADER ? 4 : 2;
    if (name == NULL || name[0] == '\0')
        return err(b, GWLB_EINVAL, ri, -1, (long)ci, field, "empty condition name");
    if (match >= kinds)
        return err(b, GWLB_EINVAL, ri, -1, (long)ci, field, "unknown condition kind");
    int needs_value = type == RT_COND_HEADER ? match <= GWLB_HEADER_PREFIX
                                             : match == GWLB_QUERY_EXACT;
    if (needs_value && value == NULL)
        return err(b, GWLB_EINVAL, ri, -1, (long)ci, field, "condition needs a value");
    rt_cond c;
    memset(&c, 0, sizeof c);
    c.type = (uint8_t)type;
    c.match = (uint8_t)match;
    size_t nl = strlen(name), vl = needs_value ? strlen(value) : 0;
    if (nl > UINT32_MAX / 2 || vl > UINT32_MAX / 2)
        return err(b, GWLB_ETOOLONG, ri, -1, (long)ci, field, "condition too long");
    if (pool_add(b, name, nl, 1, &c.name) != 0 ||
        pool_add(b, needs_value ? value : "", vl, 1, &c.value) != 0)
        return GWLB_ENOMEM;
    c.name_len = (uint32_t)nl;
    c.value_len = (uint32_t)vl;
    if (type == RT_COND_HEADER) {
        char *p = (char *)b->pool.p + c.name;
        for (size_t i = 0; i < nl; i++)
            p[i] = (char)rt_lower((uint8_t)p[i]);
    }
    rt_cond *slot = vec_push(b->a, &b->conds, 1);
    if (slot == NULL)
        return GWLB_ENOMEM;
    *slot = c;
    return 0;
}

/* Parse route ri's pattern and insert it into the tree. */
static int parse_path(builder *b, size_t ri, const gwlb_route *in, rt_route *r)
{
    const char *path = in->path;
    size_t len = in->path_len ? in->path_len : strlen(path);
    if (len > GWLB_ROUTER_PATTERN_MAX)
        return err(b, GWLB_ETOOLONG, ri, -1, GWLB_ROUTER_PATTERN_MAX, "path",
                   "pattern too long");
    if (len == 0 || path[0] != '/')
        return err(b, GWLB_ESYNTAX, ri, -1, 0, "path", "pattern must start with '/'");
    for (size_t i = 0; i < len; i++)
        if (path[i] == '\0')
            return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "path", "embedded NUL in pattern");

    int prefix = (in->flags & GWLB_ROUTE_PREFIX) != 0;
    int tail_catchall = 0; /* unnamed catch-all from a prefix ending in '/' */
    size_t end = len;
    if (prefix && path[len - 1] == '/') {
        tail_catchall = 1;
        prefix = 0;
        end = len - 1;
    } else if (!prefix && (b->flags & GWLB_ROUTER_IGNORE_TRAILING_SLASH) && len > 1 &&
               path[len - 1] == '/') {
        end = len - 1;
    }

    uint32_t node = 0;
    size_t name_off[GWLB_ROUTER_MAX_PARAMS], name_len[GWLB_ROUTER_MAX_PARAMS];
    size_t np = 0;
    int catchall = 0;
    size_t nseg = 0;
    char canon[GWLB_ROUTER_PATTERN_MAX];
    size_t s = 1;
    while (end > 0 && s <= end) {
        size_t e = s;
        while (e < end && path[e] != '/')
            e++;
        const char *seg = path + s;
        size_t sl = e - s;
        if (catchall)
            return err(b, GWLB_ESYNTAX, ri, -1, (long)s - 1, "path", "catch-all must be last");
        if (++nseg > GWLB_ROUTER_MAX_SEGMENTS)
            return err(b, GWLB_ETOOLONG, ri, -1, (long)s, "path", "too many segments");
        int is_param = 0, is_catch = 0;
        size_t nb = 0, ne = 0; /* name range */
        uint32_t cons = RT_NONE;
        if (sl > 0 && seg[0] == '{') {
            size_t i = s + 1;
            if (i < e && path[i] == '*') {
                is_catch = 1;
                i++;
            }
            nb = i;
            while (i < e && name_char_ok(path[i]))
                i++;
            ne = i;
            if (i >= e)
                return err(b, GWLB_ESYNTAX, ri, -1, (long)s, "path", "unclosed '{'");
            if (ne == nb)
                return err(b, GWLB_ESYNTAX, ri, -1, (long)nb, "path", "empty parameter name");
            if (path[i] == ':' && !is_catch) {
                if (path[e - 1] != '}')
                    return err(b, GWLB_ESYNTAX, ri, -1, (long)s, "path", "unclosed '{'");
                rt_constraint c;
                size_t col;
                int rc = parse_constraint(path, i + 1, e - 1, &c, &col);
                if (rc == GWLB_ENOTSUP)
                    return err(b, rc, ri, -1, (long)col, "path", "unknown constraint");
                if (rc != 0)
                    return err(b, rc, ri, -1, (long)col, "path", "malformed constraint");
                if (constraint_index(b, &c, &cons) != 0)
                    return GWLB_ENOMEM;
            } else if (path[i] != '}') {
                return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "path",
                           path[i] == '{' ? "unexpected '{' in parameter name"
                                          : "unexpected character in parameter");
            } else if (i + 1 != e) {
                return err(b, GWLB_ESYNTAX, ri, -1, (long)i + 1, "path",
                           "a parameter must be a whole segment");
            }
            is_param = !is_catch;
        } else if (sl > 0 && (seg[0] == ':' || seg[0] == '*')) {
            is_catch = seg[0] == '*';
            is_param = !is_catch;
            nb = s + 1;
            ne = e;
            if (ne == nb)
                return err(b, GWLB_ESYNTAX, ri, -1, (long)nb, "path", "empty parameter name");
            for (size_t i = nb; i < ne; i++)
                if (!name_char_ok(path[i]))
                    return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "path",
                               "invalid character in parameter name");
        } else {
            for (size_t i = s; i < e; i++) {
                if (path[i] == '{')
                    return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "path",
                               "a parameter must be a whole segment");
                if (path[i] == '}')
                    return err(b, GWLB_ESYNTAX, ri, -1, (long)i, "path", "stray '}'");
            }
        }
        if (is_param || is_catch) {
            if (np == GWLB_ROUTER_MAX_PARAMS)
                return err(b, GWLB_ELIMIT, ri, -1, (long)s, "path", "too many parameters");
            for (size_t k = 0; k < np; k++)
                if (name_len[k] == ne - nb && memcmp(path + name_off[k], path + nb, ne - nb) == 0)
                    return err(b, GWLB_EEXIST, ri, -1, (long)nb, "path",
                               "duplicate parameter name");
            name_off[np] = nb;
            name_len[np] = ne - nb;
            np++;
        }
        if (is_catch) {
            if (prefix)
                return err(b, GWLB_ESYNTAX, ri, -1, (long)s, "path",
                           "a prefix route cannot end in a catch-all");
            catchall = 1;
        } else if (is_param) {
            if (param_child(b, node, cons, &node) != 0)
                return GWLB_ENOMEM;
        } else {
            long cl = gwlb__path_canon(seg, sl, canon);
            if (cl < 0)
                return err(b, GWLB_EPROTO, ri, -1, (long)s + (-cl - 1), "path",
                           "invalid percent-encoding");
            if (b->flags & GWLB_ROUTER_CASE_INSENSITIVE)
                for (long i = 0; i < cl; i++)
                    canon[i] = (char)rt_lower((uint8_t)canon[i]);
            if (static_child(b, node, canon, (size_t)cl, &node) != 0)
                return GWLB_ENOMEM;
        }
        s = e + 1;
    }
    r->param_count = (uint32_t)np;
    r->name_begin = (uint32_t)b->names.len;
    if (np > 0 && vec_push(b->a, &b->names, np) == NULL)
        return GWLB_ENOMEM;
    for (size_t k = 0; k < np; k++) {
        uint32_t off;
        if (pool_add(b, path + name_off[k], name_len[k], 1, &off) != 0)
            return GWLB_ENOMEM;
        rt_name *names = &AT(b->names, rt_name, r->name_begin);
        names[k].str = off;
        names[k].len = (uint32_t)name_len[k];
    }
    int which = (catchall || tail_catchall) ? L_CATCHALL : prefix ? L_PREFIX : L_EXACT;
    return list_add(b, node, which, (uint32_t)ri) != 0 ? GWLB_ENOMEM : 0;
}

static int add_route(builder *b, size_t ri, const gwlb_route *in)
{
    rt_route *r = vec_push(b->a, &b->routes, 1);
    if (r == NULL)
        return GWLB_ENOMEM;
    rt_route tmp;
    memset(&tmp, 0, sizeof tmp);
    if (in->path == NULL)
        return err(b, GWLB_EINVAL, ri, -1, -1, "path", "NULL path");
    if (in->methods & ~GWLB_METHOD_ALL)
        return err(b, GWLB_EINVAL, ri, -1, -1, "methods", "unknown method bits");
    if (in->flags & ~(uint32_t)GWLB_ROUTE_PREFIX)
        return err(b, GWLB_EINVAL, ri, -1, -1, "flags", "unknown route flags");
    if ((in->header_count && in->headers == NULL) || (in->query_count && in->queries == NULL) ||
        (in->target_count && in->targets == NULL))
        return err(b, GWLB_EINVAL, ri, -1, -1, in->header_count && !in->headers ? "headers"
                                              : in->query_count && !in->queries ? "queries"
                                                                                : "targets",
                   "NULL array with a non-zero count");
    if (in->header_count + in->query_count > 64)
        return err(b, GWLB_ELIMIT, ri, -1, -1, "headers", "more than 64 conditions");
    tmp.methods = in->methods;
    tmp.priority = in->priority;
    tmp.id = in->id;
    tmp.data = in->data;
    int rc = parse_host(b, ri, in->host, &tmp);
    if (rc != 0)
        return rc;
    tmp.cond_begin = (uint32_t)b->conds.len;
    for (size_t i = 0; i < in->header_count; i++)
        if ((rc = add_cond(b, ri, i, RT_COND_HEADER, in->headers[i].name, in->headers[i].value,
                           in->headers[i].match)) != 0)
            return rc;
    for (size_t i = 0; i < in->query_count; i++)
        if ((rc = add_cond(b, ri, i, RT_COND_QUERY, in->queries[i].name, in->queries[i].value,
                           in->queries[i].match)) != 0)
            return rc;
    tmp.cond_count = (uint32_t)(b->conds.len - tmp.cond_begin);
    const char *pool = b->pool.p;
    if (tmp.cond_count > 1)
        sort(&AT(b->conds, rt_cond, tmp.cond_begin), tmp.cond_count, sizeof(rt_cond), cond_cmp,
             &pool);
    tmp.simple = tmp.host_kind == RT_HOST_ANY && tmp.cond_count == 0;
    tmp.target_begin = (uint32_t)b->targets.len;
    tmp.target_count = (uint32_t)in->target_count;
    uint64_t total = 0;
    for (size_t i = 0; i < in->target_count; i++) {
        uint32_t w = in->targets[i].weight;
        if (w == 0 || w > 1000000)
            return err(b, GWLB_EINVAL, ri, -1, (long)i, "targets", "target weight must be 1..1000000");
        rt_target *t = vec_push(b->a, &b->targets, 1);
        if (t == NULL)
            return GWLB_ENOMEM;
        total += w;
        t->id = in->targets[i].id;
        t->data = in->targets[i].data;
        t->cumulative = total;
    }
    if ((rc = parse_path(b, ri, in, &tmp)) != 0)
        return rc;
    AT(b->routes, rt_route, ri) = tmp;
    return 0;
}

/* ---- flattening ---------------------------------------------------------- */

typedef struct flat_ctx {
    const rt_route *routes;
    const rt_constraint *constraints;
    const char *pool;
} flat_ctx;

static uint32_t host_rank(const rt_route *r)
{
    return r->host_kind == RT_HOST_EXACT      ? 0x20000u
           : r->host_kind == RT_HOST_WILDCARD ? 0x10000u + r->host_len
                                              : 0u;
}

static int route_cmp(const void *va, const void *vb, const void *vctx)
{
    const flat_ctx *ctx = vctx;
    uint32_t ia = *(const uint32_t *)va, ib = *(const uint32_t *)vb;
    const rt_route *a = &ctx->routes[ia], *b = &ctx->routes[ib];
    uint32_t ha = host_rank(a), hb = host_rank(b);
    if (ha != hb)
        return ha > hb ? -1 : 1;
    if (a->cond_count != b->cond_count)
        return a->cond_count > b->cond_count ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static int static_cmp(const void *va, const void *vb, const void *vctx)
{
    const flat_ctx *ctx = vctx;
    const rt_static *a = va, *b = vb;
    uint32_t ka = rt_static_key((const uint8_t *)ctx->pool + a->str, a->len);
    uint32_t kb = rt_static_key((const uint8_t *)ctx->pool + b->str, b->len);
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(ctx->pool + a->str, ctx->pool + b->str, a->len);
}

/* Order for the first-byte dispatch: by first byte (the empty segment as
 * '/', a byte no other static segment starts with), then length, bytes. */
static int fb_cmp(const void *va, const void *vb, const void *vctx)
{
    const flat_ctx *ctx = vctx;
    const rt_static *a = va, *b = vb;
    unsigned fa = a->len ? (unsigned char)ctx->pool[a->str] : '/';
    unsigned fb = b->len ? (unsigned char)ctx->pool[b->str] : '/';
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(ctx->pool + a->str, ctx->pool + b->str, a->len);
}

static int param_cmp(const void *va, const void *vb, const void *vctx)
{
    const flat_ctx *ctx = vctx;
    const rt_param *a = va, *b = vb;
    if (a->constraint == b->constraint)
        return 0;
    if (a->constraint == RT_NONE || b->constraint == RT_NONE)
        return a->constraint == RT_NONE ? 1 : -1;
    const rt_constraint *x = &ctx->constraints[a->constraint];
    const rt_constraint *y = &ctx->constraints[b->constraint];
    if (x->kind != y->kind)
        return x->kind == RT_CONSTRAINT_UUID ? -1 : 1;
    if (x->popcount != y->popcount)
        return x->popcount < y->popcount ? -1 : 1;
    uint64_t sx = (uint64_t)x->max_len - x->min_len, sy = (uint64_t)y->max_len - y->min_len;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    if (x->min_len != y->min_len)
        return x->min_len < y->min_len ? -1 : 1;
    return memcmp(x->set, y->set, sizeof x->set);
}

static int same_conditions(const flat_ctx *ctx, const rt_cond *conds, const rt_route *a,
                           const rt_route *b)
{
    if (a->cond_count != b->cond_count)
        return 0;
    const char *pool = ctx->pool;
    for (uint32_t i = 0; i < a->cond_count; i++)
        if (cond_cmp(&conds[a->cond_begin + i], &conds[b->cond_begin + i], &pool) != 0)
            return 0;
    return 1;
}

static int indistinguishable(const flat_ctx *ctx, const rt_cond *conds, const rt_route *a,
                             const rt_route *b, const char **why)
{
    if (a->priority != b->priority || a->host_kind != b->host_kind ||
        a->host_len != b->host_len ||
        memcmp(ctx->pool + a->host, ctx->pool + b->host, a->host_len) != 0)
        return 0;
    if (a->methods != 0 && b->methods != 0 && (a->methods & b->methods) == 0)
        return 0;
    if (!same_conditions(ctx, conds, a, b))
        return 0;
    *why = a->methods == 0 || b->methods == 0 ? "any method" : "a shared method";
    return 1;
}

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)

static int flatten(builder *b, gwlb_router **out)
{
    size_t nn = b->nodes.len, ns = b->statics.len, npar = b->params.len, nl = b->lists.len;
    size_t nc = b->constraints.len, nr = b->routes.len, ncond = b->conds.len;
    size_t nnames = b->names.len, nt = b->targets.len, npool = b->pool.len;
    size_t off_nodes = ALIGN8(sizeof(gwlb_router));
    size_t nslots = 0;
    for (size_t i = 0; i < nn; i++) {
        uint32_t c = AT(b->nodes, tnode, i).static_count;
        if (c > 0) {
            size_t size = 2;
            while (size < 2 * (size_t)c)
                size *= 2;
            nslots += size;
        }
    }
    size_t nfb = 0; /* first-byte dispatch words */
    if (!(b->flags & GWLB_ROUTER_CASE_INSENSITIVE))
        for (size_t i = 0; i < nn; i++) {
            uint32_t c = AT(b->nodes, tnode, i).static_count;
            if (c > 0 && c <= RT_FB_MAX_STATICS)
                nfb += 2 * ((c + 16) / 16);
        }
    size_t off_slots = ALIGN8(off_nodes + nn * sizeof(rt_node));
    size_t off_fb = ALIGN8(off_slots + nslots * sizeof(uint32_t));
    size_t off_statics = ALIGN8(off_fb + nfb * sizeof(uint64_t));
    size_t off_params = ALIGN8(off_statics + ns * sizeof(rt_static));
    size_t off_cons = ALIGN8(off_params + npar * sizeof(rt_param));
    size_t off_lists = ALIGN8(off_cons + nc * sizeof(rt_constraint));
    size_t off_lmeth = ALIGN8(off_lists + nl * sizeof(uint32_t));
    size_t off_routes = ALIGN8(off_lmeth + nl * sizeof(uint32_t));
    size_t off_conds = ALIGN8(off_routes + nr * sizeof(rt_route));
    size_t off_names = ALIGN8(off_conds + ncond * sizeof(rt_cond));
    size_t off_targets = ALIGN8(off_names + nnames * sizeof(rt_name));
    size_t off_pool = ALIGN8(off_targets + nt * sizeof(rt_target));
    size_t total = ALIGN8(off_pool + npool + 1);
    unsigned char *mem = gwlb__alloc(b->a, total);
    if (mem == NULL)
        return GWLB_ENOMEM;
    memset(mem, 0, total);
    gwlb_router *rt = (gwlb_router *)(void *)mem;
    rt_node *nodes = (rt_node *)(void *)(mem + off_nodes);
    uint32_t *slots = (uint32_t *)(void *)(mem + off_slots);
    uint64_t *fbw = (uint64_t *)(void *)(mem + off_fb);
    rt_static *statics = (rt_static *)(void *)(mem + off_statics);
    rt_param *params = (rt_param *)(void *)(mem + off_params);
    rt_constraint *cons = (rt_constraint *)(void *)(mem + off_cons);
    uint32_t *lists = (uint32_t *)(void *)(mem + off_lists);
    uint32_t *lmeth = (uint32_t *)(void *)(mem + off_lmeth);
    rt_route *routes = (rt_route *)(void *)(mem + off_routes);
    rt_cond *conds = (rt_cond *)(void *)(mem + off_conds);
    rt_name *names = (rt_name *)(void *)(mem + off_names);
    rt_target *targets = (rt_target *)(void *)(mem + off_targets);
    char *pool = (char *)(mem + off_pool);
    if (nc)
        memcpy(cons, b->constraints.p, nc * sizeof(rt_constraint));
    if (nr)
        memcpy(routes, b->routes.p, nr * sizeof(rt_route));
    if (ncond)
        memcpy(conds, b->conds.p, ncond * sizeof(rt_cond));
    if (nnames)
        memcpy(names, b->names.p, nnames * sizeof(rt_name));
    if (nt)
        memcpy(targets, b->targets.p, nt * sizeof(rt_target));
    if (npool)
        memcpy(pool, b->pool.p, npool);
    for (size_t k = 0; k < nnames; k++)
        names[k].ptr = pool + names[k].str;
    flat_ctx ctx = {routes, cons, pool};

    uint32_t si = 0, pi = 0, li = 0, sl = 0, fi = 0;
    for (size_t i = 0; i < nn; i++) {
        const tnode *t = &AT(b->nodes, tnode, i);
        rt_node *n = &nodes[i];
        n->static_begin = si;
        n->static_count = t->static_count;
        for (uint32_t e = t->static_head; e != RT_NONE; e = AT(b->statics, tedge, e).next) {
            const tedge *te = &AT(b->statics, tedge, e);
            statics[si].str = te->str;
            statics[si].len = te->len;
            statics[si].child = te->child;
            si++;
        }
        sort(&statics[n->static_begin], n->static_count, sizeof(rt_static), static_cmp, &ctx);
        for (uint32_t k = n->static_begin; k < si; k++)
            statics[k].key = rt_static_key((const uint8_t *)pool + statics[k].str, statics[k].len);
        for (uint32_t k = n->static_begin; k + 1 < si; k++)
            if (statics[k].key == statics[k + 1].key)
                n->flags |= RT_NODE_STRONG; /* sorted: equal cheap keys are neighbours */
        if (!(b->flags & GWLB_ROUTER_CASE_INSENSITIVE) && n->static_count > 0 &&
            n->static_count <= RT_FB_MAX_STATICS) {
            /* First-byte dispatch: statics grouped by first byte, their
             * first bytes in whole words padded with '/'. Used only when no
             * group is larger than RT_FB_MAX_GROUP (each candidate of a
             * group is compared in full). */
            sort(&statics[n->static_begin], n->static_count, sizeof(rt_static), fb_cmp, &ctx);
            /* at least one '/' after the last first byte: it ends every group */
            uint32_t words = 2 * ((n->static_count + 16) / 16), group = 0, worst = 0;
            unsigned char *fbb = (unsigned char *)(void *)(fbw + fi);
            memset(fbb, '/', (size_t)words * 8);
            for (uint32_t k = 0; k < n->static_count; k++) {
                const rt_static *st = &statics[n->static_begin + k];
                fbb[k] = st->len ? (unsigned char)pool[st->str] : '/';
                group = (k > 0 && fbb[k] == fbb[k - 1]) ? group + 1 : 1;
                if (fbb[k] != '/' && group > worst)
                    worst = group;
            }
            if (worst <= RT_FB_MAX_GROUP) {
                n->fb_begin = fi;
                n->fb_words = words;
                if ((t->param_count | t->list_count[1] | t->list_count[2]) == 0)
                    n->flags |= RT_NODE_FB_ONLY;
            }
            fi += words;
            for (uint32_t k = n->static_begin; k < si; k++)
                statics[k].key = rt_static_key((const uint8_t *)pool + statics[k].str, statics[k].len);
        }
        if (n->flags & RT_NODE_STRONG)
            for (uint32_t k = n->static_begin; k < si; k++)
                statics[k].key = rt_strong_key((const uint8_t *)pool + statics[k].str, statics[k].len,
                                        b->flags & GWLB_ROUTER_CASE_INSENSITIVE);
        if (n->static_count > 0) {
            uint32_t bits = 1;
            while ((UINT32_C(1) << bits) < 2 * n->static_count)
                bits++;
            n->slot_begin = sl;
            n->slot_shift = 32 - bits;
            uint32_t mask = (UINT32_C(1) << bits) - 1;
            for (uint32_t k = 0; k < n->static_count; k++) {
                uint32_t h = rt_slot(statics[n->static_begin + k].key, n->slot_shift);
                while (slots[sl + h] != 0)
                    h = (h + 1) & mask;
                slots[sl + h] = k + 1;
            }
            sl += mask + 1;
        }
        n->param_begin = pi;
        n->param_count = t->param_count;
        for (uint32_t e = t->param_head; e != RT_NONE; e = AT(b->params, tedge, e).next) {
            params[pi].constraint = AT(b->params, tedge, e).str;
            params[pi].child = AT(b->params, tedge, e).child;
            pi++;
        }
        sort(&params[n->param_begin], n->param_count, sizeof(rt_param), param_cmp, &ctx);
        n->alt = n->param_count | t->list_count[1] | t->list_count[2];
        if (n->static_count == 0 && n->param_count == 1 &&
            params[n->param_begin].constraint == RT_NONE && t->list_count[1] == 0 &&
            t->list_count[2] == 0) {
            n->flags |= RT_NODE_PARAM1;
            n->fb_begin = params[n->param_begin].child; /* no statics: fb unused */
        }
        uint32_t *begin[3] = {&n->exact_begin, &n->catchall_begin, &n->prefix_begin};
        uint32_t *count[3] = {&n->exact_count, &n->catchall_count, &n->prefix_count};
        for (int w = 0; w < 3; w++) {
            *begin[w] = li;
            *count[w] = t->list_count[w];
            for (uint32_t e = t->list_head[w]; e != RT_NONE; e = AT(b->lists, tlist, e).next)
                lists[li++] = AT(b->lists, tlist, e).route;
            uint32_t *l = &lists[*begin[w]];
            uint32_t c = *count[w];
            sort(l, c, sizeof(uint32_t), route_cmp, &ctx);
            /* Routes that could be confused sort next to each other: same
             * host rank, condition count and priority form one run. */
            for (uint32_t x = 0; x < c; x++) {
                for (uint32_t y = x + 1; y < c; y++) {
                    const rt_route *ra = &routes[l[x]], *rb = &routes[l[y]];
                    if (host_rank(ra) != host_rank(rb) || ra->cond_count != rb->cond_count ||
                        ra->priority != rb->priority)
                        break;
                    const char *why;
                    if (indistinguishable(&ctx, conds, ra, rb, &why)) {
                        uint32_t lo = l[x] < l[y] ? l[x] : l[y];
                        uint32_t hi = l[x] < l[y] ? l[y] : l[x];
                        gwlb__detail(b->detail, GWLB_ECONFLICT, (int32_t)hi, (int32_t)lo, 0,
                                     "path",
                                     "route %u can never be told apart from route %u: same "
                                     "path shape, host, conditions and priority, and %s",
                                     (unsigned)hi, (unsigned)lo, why);
                        gwlb__free(b->a, mem, total);
                        return GWLB_ECONFLICT;
                    }
                }
            }
        }
    }
    /* The tight walk's next dispatch words, known with the next node: an
     * edge of a first-byte node keeps its child's fb_begin in place of its
     * key (the hash lookups compare such edges by their bytes), a
     * RT_NODE_PARAM1 node its child's in slot_begin (it has no statics). */
    for (size_t i = 0; i < nn; i++) {
        rt_node *n = &nodes[i];
        if (n->fb_words)
            for (uint32_t k = n->static_begin; k < n->static_begin + n->static_count; k++)
                statics[k].key = nodes[statics[k].child].fb_begin;
        if (n->flags & RT_NODE_PARAM1)
            n->slot_begin = nodes[n->fb_begin].fb_begin;
    }
    for (uint32_t k = 0; k < li; k++) {
        const rt_route *ro = &routes[lists[k]];
        lmeth[k] = !ro->simple ? RT_LM_SLOW : ro->methods ? ro->methods : RT_LM_ANY;
    }
    rt->alloc = *b->a;
    rt->bytes = total;
    rt->flags = b->flags;
    rt->node_count = (uint32_t)nn;
    rt->route_count = (uint32_t)nr;
    rt->static_count = (uint32_t)ns;
    rt->nodes = nodes;
    rt->slots = slots;
    rt->fb = fbw;
    rt->statics = statics;
    rt->params = params;
    rt->constraints = cons;
    rt->lists = lists;
    rt->list_methods = lmeth;
    rt->routes = routes;
    rt->conds = conds;
    rt->names = names;
    rt->targets = targets;
    rt->pool = pool;
    *out = rt;
    return 0;
}

/* ---- public -------------------------------------------------------------- */

void gwlb_route_init(gwlb_route *route)
{
    if (route != NULL)
        memset(route, 0, sizeof *route);
}

void gwlb_router_options_init(gwlb_router_options *options)
{
    if (options != NULL) {
        memset(options, 0, sizeof *options);
        options->size = sizeof *options;
    }
}

int gwlb_router_build(gwlb_router **out, const gwlb_route *routes, size_t count,
                      const gwlb_router_options *options, const gwlb_allocator *allocator,
                      gwlb_error_detail *detail)
{
    if (out == NULL || (routes == NULL && count > 0))
        return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, NULL, "NULL argument");
    if (count > (size_t)INT32_MAX / 2)
        return gwlb__detail(detail, GWLB_ERANGE, -1, -1, -1, NULL, "too many routes");
    uint32_t flags = 0;
    if (options != NULL) {
        if (options->size != sizeof *options)
            return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "size",
                                "options->size mismatch (call gwlb_router_options_init)");
        if (options->flags &
            ~(uint32_t)(GWLB_ROUTER_CASE_INSENSITIVE | GWLB_ROUTER_IGNORE_TRAILING_SLASH))
            return gwlb__detail(detail, GWLB_EINVAL, -1, -1, -1, "flags",
                                "unknown router flags");
        flags = options->flags;
    }
    gwlb_allocator a;
    gwlb__allocator_resolve(&a, allocator);
    builder b = {
        .a = &a,
        .flags = flags,
        .detail = detail,
        .nodes = VEC(tnode),
        .statics = VEC(tedge),
        .params = VEC(tedge),
        .lists = VEC(tlist),
        .constraints = VEC(rt_constraint),
        .routes = VEC(rt_route),
        .conds = VEC(rt_cond),
        .names = VEC(rt_name),
        .targets = VEC(rt_target),
        .pool = VEC(char),
    };
    int rc = 0;
    uint32_t empty;
    if (new_node(&b) == RT_NONE || pool_add(&b, "", 0, 1, &empty) != 0)
        rc = GWLB_ENOMEM; /* the pool starts with "" so it is never NULL */
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = add_route(&b, i, &routes[i]);
    if (rc == 0)
        rc = flatten(&b, out);
    if (rc == GWLB_ENOMEM)
        gwlb__detail(detail, GWLB_ENOMEM, -1, -1, -1, NULL, "out of memory");
    builder_free(&b);
    return rc;
}

void gwlb_router_free(gwlb_router *router)
{
    if (router == NULL)
        return;
    gwlb_allocator a = router->alloc;
    gwlb__free(&a, router, router->bytes);
}

int gwlb_router_stats_get(const gwlb_router *router, gwlb_router_stats *stats)
{
    if (router == NULL || stats == NULL)
        return GWLB_EINVAL;
    stats->routes = router->route_count;
    stats->nodes = router->node_count;
    stats->bytes = router->bytes;
    return 0;
}
