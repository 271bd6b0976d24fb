/*
 * Router internals (never installed): the compiled, immutable layout shared
 * by the builder (router_build.c) and the matcher (router_match.c).
 *
 * The compiled router is one allocation carved into flat arrays that refer
 * to each other by 32-bit index, so the hot path follows no malloc'd
 * pointers and the whole structure is position-independent except for the
 * host's opaque `data` pointers, the allocator copy and the parameter
 * names' pointers into the pool (rt_name.ptr, ready to hand out).
 *
 *   nodes[0] = root (depth 0, nothing matched yet)
 *
 *   node ──static edges──> statics[static_begin .. +static_count]
 *        │                  either by first byte (fb, see RT_FB_MAX_STATICS) or
 *        │                  key (in the edge) = len<<24 | first | middle | last byte; found
 *        │                  through slots[slot_begin ..], a per-node
 *        │                  open-addressing table (2x the edges, rounded
 *        │                  up to a power of two) indexed by a
 *        │                  multiplicative hash of the key
 *        ├─param edges───> params[param_begin .. +param_count]
 *        │                  constrained first (in precedence order), the
 *        │                  unconstrained edge (constraint = NONE) last
 *        ├─exact routes──> lists[exact_begin .. +exact_count]   path ends here
 *        ├─catch-all ────> lists[catchall_begin .. +count]      >= 1 more segment
 *        └─prefix ───────> lists[prefix_begin .. +count]        anything after
 *
 *   Route lists hold route indices sorted by precedence (host rank, number
 *   of conditions, priority, index). Strings (segments, hosts, condition
 *   names and values, parameter names) live in one pool.
 *
 * A node at depth k is only ever compared with request segment k, so a
 * match visits every node at most once: backtracking is linear in the size
 * of the tree, never exponential.
 */
#ifndef GWLB_ROUTER_INTERNAL_H
#define GWLB_ROUTER_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "gwlb/router.h"
#include "internal.h"

#define RT_NONE UINT32_MAX

typedef struct rt_node {
    uint32_t static_begin;
    uint32_t static_count;
    uint32_t slot_begin; /* open-addressing table over this node's statics; on a
                            RT_NODE_PARAM1 node: its child's fb_begin */
    uint32_t slot_shift; /* 32 - log2(table size) */
    uint32_t flags;      /* RT_NODE_* */
    uint32_t param_begin;
    uint32_t param_count;
    uint32_t exact_begin;
    uint32_t exact_count;
    uint32_t catchall_begin;
    uint32_t catchall_count;
    uint32_t prefix_begin;
    uint32_t prefix_count;
    uint32_t alt;    /* param_count | catchall_count | prefix_count: a static
                        match may have to be backtracked */
    uint32_t fb_begin; /* first-byte dispatch: words fb[fb_begin ..]; on a
                          RT_NODE_PARAM1 node (no statics): the child of its
                          parameter edge, so the tight walk skips params[] */
    uint32_t fb_words; /* 0 = none (use the hash table); 64 bytes: a node is
                          one cache line, indexed by a shift */
} rt_node;

enum {
    RT_NODE_STRONG = 1u << 0, /* static keys are rt_strong_key (cheap keys collided) */
    RT_NODE_PARAM1 = 1u << 1, /* no statics, one unconstrained parameter edge, no
                                 catch-all, no prefix: the matcher's shortcut */
    RT_NODE_FB_ONLY = 1u << 2 /* first-byte dispatch, no parameter, catch-all or
                                 prefix (alt == 0): the other shortcut */
};

/* list_methods[i] summarises the route lists[i] for the matcher's leaf
 * test: its GWLB_METHOD_* bits, RT_LM_ANY for a route accepting every
 * method, RT_LM_SLOW (alone) for a route with a host or conditions. A
 * request accepts entry x when x & (method & GWLB_METHOD_ALL | RT_LM_ANY). */
#define RT_LM_ANY (UINT32_C(1) << 30)
#define RT_LM_SLOW (UINT32_C(1) << 31)

/* First-byte dispatch (exact-case routers): a node with at most
 * RT_FB_MAX_STATICS static edges, no more than RT_FB_MAX_GROUP of them
 * sharing a first byte, keeps its statics sorted by first byte and those
 * bytes in fb (8 per word, padded with at least one '/', so a group ends
 * at a byte that differs from its first byte). The matcher finds the group
 * of the request segment's first byte with a word-at-a-time byte search
 * (fb_words is even: 16 bytes per step with SSE2)
 * and compares each candidate in full, so a static segment costs no scan
 * for its end and no hashing. */
#define RT_FB_MAX_STATICS 64
#define RT_FB_MAX_GROUP 16

typedef struct rt_static {
    uint32_t key;   /* rt_static_key, or rt_strong_key on a strong node; on a
                       first-byte node (fb_words != 0): the child's fb_begin */
    uint32_t str;   /* pool offset */
    uint32_t len;
    uint32_t child; /* node index */
} rt_static;

typedef struct rt_param {
    uint32_t constraint; /* index into constraints, or RT_NONE */
    uint32_t child;
} rt_param;

enum { RT_CONSTRAINT_CLASS = 0, RT_CONSTRAINT_UUID = 1 };

typedef struct rt_constraint {
    uint32_t kind;       /* RT_CONSTRAINT_* */
    uint32_t min_len;    /* class: 1..255 */
    uint32_t max_len;    /* class: min..255, or UINT32_MAX = unbounded */
    uint32_t popcount;   /* bytes allowed by the class */
    uint8_t set[32];     /* class bitmap */
} rt_constraint;

enum { RT_HOST_ANY = 0, RT_HOST_EXACT = 1, RT_HOST_WILDCARD = 2 };
enum { RT_COND_HEADER = 0, RT_COND_QUERY = 1 };

typedef struct rt_cond {
    uint8_t type;  /* RT_COND_* */
    uint8_t match; /* gwlb_header_match or gwlb_query_match */
    uint16_t pad;
    uint32_t name; /* pool offset; header names stored lower-case */
    uint32_t name_len;
    uint32_t value;
    uint32_t value_len;
} rt_cond;

typedef struct rt_name {
    const char *ptr; /* pool + str, set when the router is laid out */
    uint32_t str;    /* pool offset, NUL-terminated */
    uint32_t len;
} rt_name;

typedef struct rt_target {
    uint64_t id;
    void *data;
    uint64_t cumulative; /* sum of weights up to and including this one */
} rt_target;

typedef struct rt_route {
    uint32_t methods;  /* GWLB_METHOD_* bits; 0 = any */
    uint32_t simple;   /* 1 when no host and no conditions */
    uint32_t host_kind;
    uint32_t host;     /* pool offset; lower-case; wildcard: ".example.com" */
    uint32_t host_len;
    uint32_t cond_begin;
    uint32_t cond_count;
    int32_t priority;
    uint32_t param_count;
    uint32_t name_begin;
    uint32_t target_begin;
    uint32_t target_count;
    uint64_t id;
    void *data;
} rt_route;

struct gwlb_router {
    gwlb_allocator alloc;
    size_t bytes; /* size of this single allocation */
    uint32_t flags;
    uint32_t node_count;
    uint32_t route_count;
    uint32_t static_count;
    const rt_node *nodes;
    const uint32_t *slots; /* static index + 1, 0 = empty */
    const uint64_t *fb;    /* first-byte dispatch words */
    const rt_static *statics;
    const rt_param *params;
    const rt_constraint *constraints;
    const uint32_t *lists;
    const uint32_t *list_methods; /* parallel to lists: RT_LM_* summary */
    const rt_route *routes;
    const rt_cond *conds;
    const rt_name *names;
    const rt_target *targets;
    const char *pool;
};

static inline uint8_t rt_lower(uint8_t c)
{
    return (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
}

/* Key of a static segment: length (capped at 255), first, middle and last
 * byte (already lowered when the router is case-insensitive). The empty
 * segment has key 0. */
static inline uint32_t rt_static_key(const uint8_t *s, uint32_t len)
{
    if (len == 0)
        return 0;
    uint32_t l = len > 0xff ? 0xff : len;
    return (l << 24) | ((uint32_t)s[0] << 16) | ((uint32_t)s[len / 2] << 8) | s[len - 1];
}

/* Key over all bytes of a segment, for nodes whose siblings share length,
 * first and last byte ("svc1", "svc2"...). Lower-cases when ci is set. */
static inline uint32_t rt_strong_key(const uint8_t *s, size_t len, uint32_t ci)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ len;
    if (ci) {
        for (size_t i = 0; i < len; i++)
            h = (h ^ rt_lower(s[i])) * UINT64_C(0x100000001b3);
    } else {
        uint64_t x = 0;
        if (len >= 8) {
            const uint8_t *last8 = s + len - 8;
            while (len > 8) {
                memcpy(&x, s, 8);
                h = (h ^ x) * UINT64_C(0xff51afd7ed558ccd);
                h ^= h >> 32;
                s += 8;
                len -= 8;
            }
            memcpy(&x, last8, 8); /* the last 8 bytes (may overlap the previous word) */
        } else if (len >= 4) {
            uint32_t lo, hi;
            memcpy(&lo, s, 4);
            memcpy(&hi, s + len - 4, 4);
            x = lo | (uint64_t)hi << 32;
        } else if (len > 0) {
            x = s[0] | (uint64_t)s[len / 2] << 8 | (uint64_t)s[len - 1] << 16;
        }
        h = (h ^ x) * UINT64_C(0xff51afd7ed558ccd);
    }
    h ^= h >> 29;
    return (uint32_t)h ^ (uint32_t)(h >> 32);
}

static inline uint32_t rt_slot(uint32_t key, uint32_t shift)
{
    return (uint32_t)((key * UINT32_C(2654435761)) >> shift);
}

/* Validate percent-escapes and canonicalize one path piece: unreserved
 * escapes decoded, the rest upper-cased. Writes at most len bytes to out
 * (out may equal in). Returns the output length, or -(1 + offset) of the
 * first invalid escape or NUL. Shared by patterns and gwlb_path_normalize. */
GWLB__HIDDEN long gwlb__path_canon(const char *in, size_t len, char *out);

/* gwlb_router_match with the plain segment walk (hash lookups, no
 * first-byte dispatch) for exact-case routers: the reference the fast walk
 * is tested against (tests and fuzz targets only). */
GWLB__HIDDEN int gwlb__router_match_reference(const gwlb_router *router,
                                              const gwlb_router_request *request,
                                              gwlb_route_match *match);

#endif /* GWLB_ROUTER_INTERNAL_H */
