/*
 * libgwlb — compiled request matcher over method, host, path, headers and query.
 *
 * A host describes its routes as an array of gwlb_route and compiles them
 * once with gwlb_router_build() into an immutable gwlb_router. Matching
 * (gwlb_router_match) reads only that immutable structure: it allocates
 * nothing, copies nothing (parameters come back as offsets into the
 * caller's path) and is safe to call from any number of threads at once.
 * To change the routes, build a new router and swap it in.
 *
 * Path patterns
 *   /users/{id}          named parameter: exactly one segment, non-empty
 *   /users/:id           the same, in the common ":name" spelling
 *   /files/{*rest}       catch-all (also "*rest"): must be the last segment;
 *                        captures everything after "/files/", slashes
 *                        included, possibly empty ("/files/" -> rest = "");
 *                        never matches "/files" itself
 *   /items/{id:int}      constrained parameter; constraints are
 *                          int      1..N ASCII digits
 *                          hex      1..N hex digits (either case)
 *                          uuid     8-4-4-4-12 hex digits (either case)
 *                          [a-z0-9_-]        a character class (ranges and
 *                          [a-z0-9_-]{1,64}  literal bytes; "-" literal at
 *                                            either end; optional length
 *                                            bounds {n} or {min,max}, max
 *                                            <= 255, default 1..unbounded)
 *   A parameter is always a whole segment ("/a{b}" is a syntax error). A
 *   ':' that does not start a segment is literal ("/v1/jobs:cancel").
 *   Static text is stored in normalized form (see gwlb_path_normalize:
 *   unreserved characters percent-decoded, other escapes in upper-case hex),
 *   so "/%7Euser" and "/~user" are the same pattern.
 *   GWLB_ROUTE_PREFIX turns the pattern into a segment-respecting prefix:
 *   "/api" matches "/api", "/api/" and "/api/x/y", never "/apix"; "/" matches
 *   every path; "/api/" (trailing slash) matches "/api/..." but not "/api".
 *
 * Request paths are matched byte for byte as given (after the router's own
 * optional case and trailing-slash policies, see gwlb_router_options). They
 * must start with '/' and carry no query string. Normalize untrusted paths
 * first with gwlb_path_normalize(): matching an un-normalized path is the
 * access-control bypass of Envoy CVE-2019-9901. "%2F" is never a separator,
 * neither in gwlb_path_normalize nor in matching: "/a%2Fb" is one segment.
 *
 * Precedence (fixed, independent of the order routes are given in):
 *   1. Path, segment by segment from the left: a static segment beats a
 *      constrained parameter, which beats a plain parameter, which beats a
 *      catch-all, which beats a prefix route. Among constrained parameters
 *      at one position: uuid, int, hex, then character classes (fewer
 *      allowed bytes first, then narrower length bounds). An exact route
 *      ending at a segment beats a catch-all or prefix ending there. The
 *      search backtracks: if the better branch has no route for the rest of
 *      the path (or none whose method, host and conditions match), the next
 *      branch is tried, so "/user/new/x" finds "/user/{id}/x" although
 *      "/user/new" exists.
 *   2. Among routes with the same path shape: the more specific host
 *      (exact, then wildcard with the longer suffix, then no host).
 *   3. Then more header/query conditions.
 *   4. Then the higher gwlb_route.priority.
 *   5. Then the lower index in the route array.
 *   A route matches only if method, host and all conditions match; if no
 *   route matches but some route matched everything except the method, the
 *   result is GWLB_EMETHOD with the union of those routes' methods.
 *
 * Conflicts: two routes with the same path shape (parameter names aside),
 * the same kind (exact / catch-all / prefix), overlapping methods, the same
 * host, the same set of conditions and the same priority can never be told
 * apart: gwlb_router_build() fails with GWLB_ECONFLICT, detail.item = the
 * later route, detail.other = the earlier one.
 */
#ifndef GWLB_ROUTER_H
#define GWLB_ROUTER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------ */

/** Longest path pattern accepted by gwlb_router_build (bytes). */
#define GWLB_ROUTER_PATTERN_MAX 1024
/** Most segments in one path pattern ("/a/b/c" has 3). */
#define GWLB_ROUTER_MAX_SEGMENTS 64
/** Longest request path gwlb_router_match accepts (bytes). */
#define GWLB_ROUTER_PATH_MAX 8192
/** Most parameters (including a catch-all) one route may capture. */
#define GWLB_ROUTER_MAX_PARAMS 16
/** Longest host name in a route (bytes). */
#define GWLB_ROUTER_HOST_MAX 255

/* ---- Methods ------------------------------------------------------------ */

/** Method bits for gwlb_route.methods and gwlb_router_request.method. */
enum gwlb_method {
    GWLB_METHOD_GET = 1u << 0,
    GWLB_METHOD_HEAD = 1u << 1,
    GWLB_METHOD_POST = 1u << 2,
    GWLB_METHOD_PUT = 1u << 3,
    GWLB_METHOD_DELETE = 1u << 4,
    GWLB_METHOD_CONNECT = 1u << 5,
    GWLB_METHOD_OPTIONS = 1u << 6,
    GWLB_METHOD_TRACE = 1u << 7,
    GWLB_METHOD_PATCH = 1u << 8
};
/** gwlb_route.methods = GWLB_METHOD_ANY: the route accepts every method. */
#define GWLB_METHOD_ANY 0u
#define GWLB_METHOD_ALL 0x1ffu

/**
 * The bit for a method name (exact, case-sensitive, as HTTP requires:
 * "GET" -> GWLB_METHOD_GET). Unknown or extension methods give 0, which
 * only GWLB_METHOD_ANY routes accept. Thread-safe.
 */
GWLB_API uint32_t gwlb_method_from_string(const char *name, size_t len);

/**
 * Write the methods of `methods` as an HTTP Allow header value
 * ("GET, HEAD, POST") into buf (NUL-terminated). Returns the length written
 * (without the NUL), or GWLB_ENOSPC when buf is too small (buf then holds
 * ""), GWLB_EINVAL when buf is NULL. Thread-safe.
 */
GWLB_API int gwlb_method_format_allow(uint32_t methods, char *buf, size_t size);

/* ---- Route description (input to gwlb_router_build) -------------------- */

/** Header condition kinds. Header names compare case-insensitively. */
enum gwlb_header_match {
    GWLB_HEADER_EXACT = 0,   /* a header with this name has exactly `value` */
    GWLB_HEADER_PREFIX = 1,  /* a header with this name starts with `value` */
    GWLB_HEADER_PRESENT = 2, /* a header with this name exists */
    GWLB_HEADER_ABSENT = 3   /* no header with this name exists */
};

typedef struct gwlb_route_header {
    const char *name;   /* NUL-terminated, non-empty token */
    const char *value;  /* NUL-terminated; ignored for PRESENT/ABSENT */
    uint32_t match;     /* enum gwlb_header_match */
} gwlb_route_header;

/**
 * Query conditions. Names and values are compared with the request's query
 * string after percent-decoding of the request side ("a%20b" equals
 * "a b"); '+' is not treated as a space.
 */
enum gwlb_query_match {
    GWLB_QUERY_EXACT = 0,  /* some "name=value" pair has exactly `value` */
    GWLB_QUERY_PRESENT = 1 /* the name occurs ("name", "name=" or "name=x") */
};

typedef struct gwlb_route_query {
    const char *name;  /* NUL-terminated, non-empty */
    const char *value; /* NUL-terminated; ignored for PRESENT */
    uint32_t match;    /* enum gwlb_query_match */
} gwlb_route_query;

/** One weighted target for traffic splitting (e.g. 95/5 canary). */
typedef struct gwlb_route_target {
    uint64_t id;     /* the host's identifier (cluster, upstream...) */
    void *data;      /* the host's pointer, returned as is */
    uint32_t weight; /* 1..1000000 */
} gwlb_route_target;

/** Route flags. */
enum gwlb_route_flag {
    GWLB_ROUTE_PREFIX = 1u << 0 /* path is a segment-respecting prefix */
};

/**
 * One route. Initialize with gwlb_route_init() (zero means "any" for every
 * optional field), then set what you need. Everything is copied by
 * gwlb_router_build(); the arrays and strings may be freed afterwards.
 */
typedef struct gwlb_route {
    uint32_t methods;       /* GWLB_METHOD_* bits; GWLB_METHOD_ANY = all */
    uint32_t flags;         /* enum gwlb_route_flag */
    const char *host;       /* NULL = any host; "api.example.com" or
                               "*.example.com" (one or more labels before
                               the suffix); case-insensitive */
    const char *path;       /* the pattern, starts with '/' */
    size_t path_len;        /* 0 = strlen(path); otherwise the exact length
                               (an embedded NUL is then an error) */
    int32_t priority;       /* higher wins among otherwise equal routes */
    const gwlb_route_header *headers;
    size_t header_count;
    const gwlb_route_query *queries;
    size_t query_count;
    const gwlb_route_target *targets; /* optional weighted targets */
    size_t target_count;
    uint64_t id;            /* returned in a match, untouched */
    void *data;             /* returned in a match, untouched */
} gwlb_route;

/** Fill *route with defaults (any method, any host, no conditions). */
GWLB_API void gwlb_route_init(gwlb_route *route);

/* ---- Building ----------------------------------------------------------- */

/** Router-wide matching policies. */
enum gwlb_router_flag {
    /* Static segments compare ASCII case-insensitively. Captured parameter
     * values are offsets into the caller's path, so they keep their case. */
    GWLB_ROUTER_CASE_INSENSITIVE = 1u << 0,
    /* "/a/" and "/a" are the same path: patterns lose a trailing slash at
     * build time (so "/a" and "/a/" conflict), and a request ending in '/'
     * that finds nothing is retried without it. A catch-all still sees the
     * first attempt: "/files/" gives rest = "". */
    GWLB_ROUTER_IGNORE_TRAILING_SLASH = 1u << 1
};

typedef struct gwlb_router_options {
    uint32_t size;  /* sizeof(gwlb_router_options), set by _init */
    uint32_t flags; /* enum gwlb_router_flag */
} gwlb_router_options;

/** Fill *options with defaults (exact case, trailing slash significant). */
GWLB_API void gwlb_router_options_init(gwlb_router_options *options);

typedef struct gwlb_router gwlb_router;

/**
 * Compile `count` routes into a new router (*out). `options` may be NULL
 * (defaults); `allocator` may be NULL (libc); `detail` may be NULL.
 * The router keeps a copy of the allocator and allocates only here.
 *
 * Errors (detail.item = route index, detail.column = byte offset inside the
 * offending string, detail.field = "path", "host", "headers", "queries",
 * "targets" or "methods"); on any error nothing is allocated and *out is
 * left untouched:
 *   GWLB_EINVAL     NULL out/routes (with count > 0), NULL path, bad method
 *                   bits or flags, options->size mismatch, a condition with
 *                   an unknown kind or an empty name, a zero or too large
 *                   target weight
 *   GWLB_ESYNTAX    pattern does not start with '/', unclosed or stray brace,
 *                   empty parameter name, catch-all not last, malformed
 *                   character class or bounds, embedded NUL, invalid host
 *   GWLB_ENOTSUP    unknown constraint name ("{id:float}")
 *   GWLB_EEXIST     the same parameter name twice in one route
 *   GWLB_ELIMIT     more than GWLB_ROUTER_MAX_PARAMS parameters
 *   GWLB_ETOOLONG   pattern longer than GWLB_ROUTER_PATTERN_MAX or with more
 *                   than GWLB_ROUTER_MAX_SEGMENTS segments, host longer than
 *                   GWLB_ROUTER_HOST_MAX
 *   GWLB_EPROTO     invalid percent-encoding in the pattern ("%G1", "%4")
 *   GWLB_ECONFLICT  two routes can never be told apart (detail.other)
 *   GWLB_ENOMEM     allocation failed (nothing leaks)
 * Thread-safe (touches only its arguments).
 */
GWLB_API int gwlb_router_build(gwlb_router **out, const gwlb_route *routes, size_t count,
                               const gwlb_router_options *options,
                               const gwlb_allocator *allocator, gwlb_error_detail *detail);

/** Free a router (NULL is a no-op). Needs exclusive access: no match may run. */
GWLB_API void gwlb_router_free(gwlb_router *router);

/** Counters describing a compiled router. */
typedef struct gwlb_router_stats {
    uint32_t routes;      /* routes compiled */
    uint32_t nodes;       /* tree nodes (one per distinct segment position) */
    uint64_t bytes;       /* bytes allocated for the router in total */
} gwlb_router_stats;

/** Fill *stats. GWLB_EINVAL on NULL. Safe to call concurrently. */
GWLB_API int gwlb_router_stats_get(const gwlb_router *router, gwlb_router_stats *stats);

/* ---- Matching ----------------------------------------------------------- */

/** One request header, as parsed by the host (pointers into its buffers). */
typedef struct gwlb_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} gwlb_header;

/** What gwlb_router_match looks at. Unused fields may be NULL/0. */
typedef struct gwlb_router_request {
    uint32_t method;              /* one GWLB_METHOD_* bit, or 0 (unknown) */
    const char *host;             /* NULL = no host; a ":port" suffix is ignored */
    size_t host_len;
    const char *path;             /* starts with '/', no query string */
    size_t path_len;
    const char *query;            /* the part after '?', or NULL */
    size_t query_len;
    const gwlb_header *headers;
    size_t header_count;
} gwlb_router_request;

/** A captured parameter: name (owned by the router) and place in the path. */
typedef struct gwlb_route_param {
    const char *name;  /* NUL-terminated, lives as long as the router */
    uint32_t name_len;
    uint32_t offset;   /* into request.path */
    uint32_t length;
} gwlb_route_param;

/** The result of gwlb_router_match. Caller-allocated; no init needed. */
typedef struct gwlb_route_match {
    int32_t route;              /* index into the built route array, or -1 */
    uint32_t allowed_methods;   /* on GWLB_EMETHOD: methods that would match */
    uint64_t id;                /* the route's id */
    void *data;                 /* the route's data */
    uint32_t param_count;
    gwlb_route_param params[GWLB_ROUTER_MAX_PARAMS];
} gwlb_route_match;

/**
 * Find the route for a request.
 * Returns 0 and fills *match (route, id, data, params in pattern order);
 * GWLB_ENOENT when no route matches (match->route = -1);
 * GWLB_EMETHOD when routes match everything but the method
 *   (match->allowed_methods = their union, for a 405 Allow header);
 * GWLB_ETOOLONG when path_len > GWLB_ROUTER_PATH_MAX;
 * GWLB_EINVAL on NULL arguments or a path not starting with '/'.
 * Allocates nothing, copies no request bytes, no locks: safe to call
 * concurrently on one router.
 */
GWLB_API int gwlb_router_match(const gwlb_router *router, const gwlb_router_request *request,
                               gwlb_route_match *match);

/**
 * Look up a captured parameter by name in a match. Returns 0 and sets
 * *offset / *length, or GWLB_ENOENT. Thread-safe.
 */
GWLB_API int gwlb_router_match_param(const gwlb_route_match *match, const char *name,
                                     size_t name_len, uint32_t *offset, uint32_t *length);

/**
 * Choose one of a route's weighted targets deterministically from a key
 * (user id, session cookie...): h = gwlb_hash64(key, key_len, 0), then the
 * target whose cumulative weight range contains h % total_weight (targets
 * in the order given). Every gateway with the same routes picks the same
 * target for the same key. Returns 0 with *index (into the route's target
 * array), *id and *data set (id/data may be NULL); GWLB_ENOENT when the
 * route has no targets; GWLB_ERANGE for a bad route index; GWLB_EINVAL on
 * NULL router/index. Allocates nothing; safe to call concurrently.
 */
GWLB_API int gwlb_router_pick_target(const gwlb_router *router, int32_t route, const void *key,
                                     size_t key_len, uint32_t *index, uint64_t *id, void **data);

/* ---- Path normalization and rewriting ----------------------------------- */

/** Policies for gwlb_path_normalize. */
enum gwlb_normalize_flag {
    GWLB_NORMALIZE_MERGE_SLASHES = 1u << 0,        /* "//" -> "/" */
    GWLB_NORMALIZE_STRIP_TRAILING_SLASH = 1u << 1, /* "/a/" -> "/a" ("/" stays) */
    GWLB_NORMALIZE_LOWERCASE = 1u << 2             /* ASCII lower-case the path;
                                                      note: parameter values
                                                      are lowered too */
};
#define GWLB_NORMALIZE_DEFAULT GWLB_NORMALIZE_MERGE_SLASHES

/**
 * Normalize a request path (no query string) into out:
 *   1. percent-escapes are validated; escapes of unreserved characters
 *      (ALPHA DIGIT - . _ ~) are decoded, all other escapes are kept with
 *      upper-case hex ("%2f" -> "%2F": an encoded '/' never becomes a
 *      separator);
 *   2. "." and ".." segments are removed as in RFC 3986 section 5.2.4
 *      (also when written "%2E"); ".." never climbs above the root;
 *   3. the flags' policies are applied.
 * The output is never longer than the input, so out_size >= len always
 * suffices; out may equal in (in-place). On success *out_len is set (out is
 * not NUL-terminated).
 * Errors: GWLB_EINVAL (NULL argument, path not starting with '/'),
 * GWLB_EPROTO (invalid percent-encoding, an embedded NUL, raw or "%00"),
 * GWLB_ETOOLONG (len > GWLB_ROUTER_PATH_MAX), GWLB_ENOSPC (out too small).
 * On error out's content is unspecified and *out_len is untouched.
 * Thread-safe.
 */
GWLB_API int gwlb_path_normalize(const char *in, size_t len, uint32_t flags, char *out,
                                 size_t out_size, size_t *out_len);

/**
 * Segment-respecting prefix rewrite: if path starts with `from` at a segment
 * boundary (from = "/api" matches "/api" and "/api/x", not "/apix"), write
 * `to` followed by the rest of the path into out. An empty result becomes
 * "/", a doubled '/' at the join is merged ("/api" -> "/" on "/api/x" gives
 * "/x"). Returns 0 and *out_len; GWLB_ENOENT when the prefix does not match;
 * GWLB_ENOSPC when out is too small; GWLB_EINVAL on NULL arguments.
 * Thread-safe.
 */
GWLB_API int gwlb_path_rewrite_prefix(const char *path, size_t path_len, const char *from,
                                      const char *to, char *out, size_t out_size,
                                      size_t *out_len);

/**
 * Template rewrite after a match: copy `templ` into out, replacing every
 * "{name}" (or "{*name}") with the value the match captured for that name
 * from `path` (the path given to gwlb_router_match). Example: route
 * "/v1/users/{id}", template "/users/{id}", path "/v1/users/42" ->
 * "/users/42". Returns 0 and *out_len; GWLB_ENOENT when the template names
 * a parameter the match lacks; GWLB_ESYNTAX for an unclosed or empty brace;
 * GWLB_ENOSPC when out is too small; GWLB_EINVAL on NULL arguments.
 * Thread-safe.
 */
GWLB_API int gwlb_path_rewrite_template(const gwlb_route_match *match, const char *path,
                                        const char *templ, char *out, size_t out_size,
                                        size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_ROUTER_H */
