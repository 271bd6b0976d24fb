/*
 * ngx_http_gwlb_module — libgwlb inside nginx: balancing, circuit breaking
 * and request limiting decided by libgwlb, I/O and clock owned by nginx.
 *
 *   upstream backend {
 *       gwlb_balancer p2c;            # p2c | ewma | swrr | least_conn | round_robin
 *                                     # | maglev key=$v | hash key=$v [consistent] | ip_hash
 *       gwlb_breaker failures=3 wait=30s;
 *       server 127.0.0.1:8081 weight=2;
 *       server 127.0.0.1:8082;
 *   }
 *   gwlb_limit_req_zone $binary_remote_addr zone=perip:1m rate=10r/s;
 *   location / { gwlb_limit_req zone=perip burst=5 nodelay; proxy_pass http://backend; }
 *
 * Key idea: libgwlb's runtime state is flat, pointer-free and updated with
 * atomics, so it lives directly in nginx shared memory zones and every
 * worker process decides on the same numbers:
 *
 *   zone "gwlb_upstream:<name>"  (one per upstream, sized from its servers)
 *   +--------+---------------------------+---------------------------+
 *   | header | gwlb_balancer_state       | gwlb_breaker[n] (per host) |
 *   +--------+---------------------------+---------------------------+
 *     in-flight counts, nginx fails/weights, EWMA costs, host flags; breakers
 *
 *   zone "<name>" of gwlb_limit_req_zone: a gwlb_limiter_table
 *   +--------+--------------------------------------------------------+
 *   | header | buckets of 4 slots { fingerprint, limit_req state word } |
 *   +--------+--------------------------------------------------------+
 *     (16 bytes per key, SipHash-1-3 under a per-zone secret, fresh-first eviction)
 *
 * The compiled objects (gwlb_balancer, the Maglev table) are built by the
 * master process when the zone is initialised and inherited by the workers
 * through fork; they only read their own memory and update the shared state.
 *
 * Peer callbacks follow nginx's own balancers: init_upstream collects the
 * servers, init_peer prepares per-request data, get picks (skipping hosts
 * whose breaker is open) and free reports the outcome (status, latency) to
 * the balancer and the host's breaker.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <gwlb/balancer.h>
#include <gwlb/breaker.h>
#include <gwlb/common.h>
#include <gwlb/hashing.h>
#include <gwlb/limiter.h>

/* hash-family choices (not gwlb_balancer_algorithm values): a gwlb_hash_table
 * picks through the balancer (gwlb_hash_balancer_pick) */
#define NGX_HTTP_GWLB_HASHED 1000
#define NGX_HTTP_GWLB_MAGLEV (NGX_HTTP_GWLB_HASHED + GWLB_HASH_MAGLEV)
#define NGX_HTTP_GWLB_HASH (NGX_HTTP_GWLB_HASHED + GWLB_HASH_NGINX_HASH)
#define NGX_HTTP_GWLB_CONSISTENT (NGX_HTTP_GWLB_HASHED + GWLB_HASH_NGINX_CONSISTENT)
#define NGX_HTTP_GWLB_IP_HASH (NGX_HTTP_GWLB_HASHED + GWLB_HASH_NGINX_IP)
#define NGX_HTTP_GWLB_MAGIC 0x67776c626e677831ULL /* "gwlbngx1" */
#define NGX_HTTP_GWLB_ALIGN 64
#define NGX_HTTP_GWLB_LIMIT_PROBES 8

/* ---- configuration -------------------------------------------------------- */

typedef struct {
    struct sockaddr *sockaddr;
    socklen_t socklen;
    ngx_str_t name;
} ngx_http_gwlb_addr_t;

/* Head of an upstream zone's region; the state and breakers follow. */
typedef struct {
    uint64_t magic;
    uint64_t signature;
    uint64_t state_size;
    uint32_t nhosts;
    uint32_t capacity;
} ngx_http_gwlb_shared_t;

typedef struct {
    ngx_uint_t enabled;
    ngx_uint_t algorithm;
    ngx_http_complex_value_t *key;  /* maglev, hash */
    ngx_uint_t panic;               /* panic threshold percent (0: off, as nginx) */
    ngx_uint_t breaker_on;
    gwlb_breaker_config breaker;
    ngx_uint_t nhosts;
    gwlb_balancer_host *hosts;
    ngx_http_gwlb_addr_t *addrs;
    u_char *down;                   /* server ... down */
    uint64_t signature;
    ngx_str_t name;                 /* the upstream's name */
    ngx_shm_zone_t *zone;
    ngx_http_gwlb_shared_t *shared; /* in the zone */
    gwlb_balancer *balancer;        /* built on the zone, rebuilt per worker */
    gwlb_balancer_state *state;     /* in the zone */
    gwlb_balancer_config bcfg;
    gwlb_hash_table *table;         /* hash family */
    gwlb_breaker *breakers;         /* in the zone, nhosts of them */
} ngx_http_gwlb_srv_conf_t;

typedef struct {
    ngx_str_t name;
    ngx_http_complex_value_t key;
    uint64_t rate;                  /* per unit, as written */
    enum gwlb_limit_req_unit unit;
    gwlb_limiter_policy policy;     /* the zone's rate (burst 0) */
    gwlb_limiter_table *table;      /* in the zone */
    void *memory;
    size_t bytes;
} ngx_http_gwlb_limit_zone_t;

typedef struct {
    ngx_shm_zone_t *zone;           /* NULL: no limit here */
    gwlb_limit_req_config cfg;
    ngx_uint_t status;
    ngx_flag_t headers;
} ngx_http_gwlb_loc_conf_t;

/* ---- per request ------------------------------------------------------------ */

typedef struct {
    ngx_http_gwlb_srv_conf_t *conf;
    ngx_http_request_t *r;
    gwlb_balancer_result pick;
    uint64_t ticket;
    uint64_t start;
    ngx_uint_t picked;
    ngx_str_t key;
    gwlb_hash_attempt attempt;
    uint32_t words;
    uint64_t *tried;
} ngx_http_gwlb_peer_data_t;

typedef struct {
    ngx_uint_t limited; /* the limit was applied to this (main) request */
} ngx_http_gwlb_ctx_t;

static void *ngx_http_gwlb_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_gwlb_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gwlb_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_gwlb_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_gwlb_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_gwlb_breaker(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_gwlb_limit_req_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_gwlb_limit_req(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_conf_num_bounds_t ngx_http_gwlb_status_bounds = {ngx_conf_check_num_bounds, 400, 599};

static ngx_command_t ngx_http_gwlb_commands[] = {
    {ngx_string("gwlb_balancer"), NGX_HTTP_UPS_CONF | NGX_CONF_1MORE, ngx_http_gwlb_balancer,
     NGX_HTTP_SRV_CONF_OFFSET, 0, NULL},
    {ngx_string("gwlb_breaker"), NGX_HTTP_UPS_CONF | NGX_CONF_ANY, ngx_http_gwlb_breaker,
     NGX_HTTP_SRV_CONF_OFFSET, 0, NULL},
    {ngx_string("gwlb_limit_req_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE3,
     ngx_http_gwlb_limit_req_zone, 0, 0, NULL},
    {ngx_string("gwlb_limit_req"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE123,
     ngx_http_gwlb_limit_req, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwlb_limit_req_status"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwlb_loc_conf_t, status), &ngx_http_gwlb_status_bounds},
    {ngx_string("gwlb_limit_req_headers"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwlb_loc_conf_t, headers), NULL},
    ngx_null_command};

static ngx_int_t ngx_http_gwlb_init_process(ngx_cycle_t *cycle);

static ngx_http_module_t ngx_http_gwlb_module_ctx = {
    NULL,                           /* preconfiguration */
    ngx_http_gwlb_postconfiguration, /* postconfiguration */
    NULL,                           /* create main configuration */
    NULL,                           /* init main configuration */
    ngx_http_gwlb_create_srv_conf,  /* create server configuration */
    NULL,                           /* merge server configuration */
    ngx_http_gwlb_create_loc_conf,  /* create location configuration */
    ngx_http_gwlb_merge_loc_conf    /* merge location configuration */
};

ngx_module_t ngx_http_gwlb_module = {NGX_MODULE_V1,
                                     &ngx_http_gwlb_module_ctx,
                                     ngx_http_gwlb_commands,
                                     NGX_HTTP_MODULE,
                                     NULL,                        /* init master */
                                     NULL,                        /* init module */
                                     ngx_http_gwlb_init_process,  /* init process */
                                     NULL,                        /* init thread */
                                     NULL,                        /* exit thread */
                                     NULL,                        /* exit process */
                                     NULL,                        /* exit master */
                                     NGX_MODULE_V1_PADDING};

/* ---- helpers ------------------------------------------------------------------ */

static size_t ngx_http_gwlb_align(size_t n)
{
    return (n + NGX_HTTP_GWLB_ALIGN - 1) & ~(size_t)(NGX_HTTP_GWLB_ALIGN - 1);
}

static ngx_int_t ngx_http_gwlb_parse_msec(ngx_str_t *v, uint64_t *ns)
{
    ngx_int_t ms = ngx_parse_time(v, 0);

    if (ms == NGX_ERROR)
        return NGX_ERROR;
    *ns = (uint64_t)ms * GWLB_NS_PER_MS;
    return NGX_OK;
}

static ngx_int_t ngx_http_gwlb_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t len = ngx_strlen(name);

    if (arg->len > len && ngx_strncmp(arg->data, name, len) == 0 && arg->data[len] == '=') {
        value->data = arg->data + len + 1;
        value->len = arg->len - len - 1;
        return 1;
    }
    return 0;
}

/* ==== upstream: gwlb_balancer, gwlb_breaker ========================================== */

static void *ngx_http_gwlb_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_gwlb_srv_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(*conf));

    return conf;
}

static ngx_int_t ngx_http_gwlb_init_upstream(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us);

/*
 * gwlb_balancer p2c | ewma | swrr | least_conn | round_robin
 *             | maglev key=<value> | hash key=<value> [consistent] | ip_hash
 *             [panic=<percent>]
 */
static char *ngx_http_gwlb_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwlb_srv_conf_t *gcf = conf;
    ngx_http_upstream_srv_conf_t *uscf;
    ngx_str_t *value = cf->args->elts;
    ngx_str_t key = ngx_null_string, v;
    ngx_http_compile_complex_value_t ccv;
    ngx_uint_t i, consistent = 0;
    ngx_int_t n;

    (void)cmd;
    if (gcf->enabled)
        return "is duplicate";

    if (ngx_strcmp(value[1].data, "p2c") == 0)
        gcf->algorithm = GWLB_BALANCER_LEAST_REQUEST;
    else if (ngx_strcmp(value[1].data, "ewma") == 0)
        gcf->algorithm = GWLB_BALANCER_PEAK_EWMA;
    else if (ngx_strcmp(value[1].data, "swrr") == 0)
        gcf->algorithm = GWLB_BALANCER_NGINX_ROUND_ROBIN;
    else if (ngx_strcmp(value[1].data, "least_conn") == 0)
        gcf->algorithm = GWLB_BALANCER_LEAST_CONN;
    else if (ngx_strcmp(value[1].data, "round_robin") == 0)
        gcf->algorithm = GWLB_BALANCER_WEIGHTED_ROUND_ROBIN;
    else if (ngx_strcmp(value[1].data, "maglev") == 0)
        gcf->algorithm = NGX_HTTP_GWLB_MAGLEV;
    else if (ngx_strcmp(value[1].data, "hash") == 0)
        gcf->algorithm = NGX_HTTP_GWLB_HASH;
    else if (ngx_strcmp(value[1].data, "ip_hash") == 0)
        gcf->algorithm = NGX_HTTP_GWLB_IP_HASH;
    else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "unknown gwlb_balancer algorithm \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_gwlb_param(&value[i], "key", &v) && v.len > 0) {
            key = v;
        } else if (ngx_http_gwlb_param(&value[i], "panic", &v)) {
            n = ngx_atoi(v.data, v.len);
            if (n < 0 || n > 100)
                goto invalid;
            gcf->panic = (ngx_uint_t)n;
        } else if (ngx_strcmp(value[i].data, "consistent") == 0 &&
                   gcf->algorithm == NGX_HTTP_GWLB_HASH) {
            consistent = 1;
        } else {
            goto invalid;
        }
    }
    if (consistent)
        gcf->algorithm = NGX_HTTP_GWLB_CONSISTENT;

    if (key.len) {
        if (gcf->algorithm != NGX_HTTP_GWLB_MAGLEV && gcf->algorithm != NGX_HTTP_GWLB_HASH &&
            gcf->algorithm != NGX_HTTP_GWLB_CONSISTENT)
            return "key= is only for maglev and hash";
        gcf->key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (gcf->key == NULL)
            return NGX_CONF_ERROR;
        ngx_memzero(&ccv, sizeof(ccv));
        ccv.cf = cf;
        ccv.value = &key;
        ccv.complex_value = gcf->key;
        if (ngx_http_compile_complex_value(&ccv) != NGX_OK)
            return NGX_CONF_ERROR;
    } else if (gcf->algorithm == NGX_HTTP_GWLB_MAGLEV || gcf->algorithm == NGX_HTTP_GWLB_HASH ||
               gcf->algorithm == NGX_HTTP_GWLB_CONSISTENT) {
        return "needs key=<value>";
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    if (uscf->peer.init_upstream)
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "load balancing method redefined");
    uscf->peer.init_upstream = ngx_http_gwlb_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE | NGX_HTTP_UPSTREAM_WEIGHT |
                  NGX_HTTP_UPSTREAM_MAX_CONNS | NGX_HTTP_UPSTREAM_MAX_FAILS |
                  NGX_HTTP_UPSTREAM_FAIL_TIMEOUT | NGX_HTTP_UPSTREAM_DOWN |
                  (gcf->algorithm >= NGX_HTTP_GWLB_HASHED ? 0 : NGX_HTTP_UPSTREAM_BACKUP);
    gcf->enabled = 1;
    return NGX_CONF_OK;

invalid:
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}

/*
 * gwlb_breaker [failures=N] [failure_rate=P window=N min_calls=N]
 *              [slow=TIME slow_rate=P] [wait=TIME] [max_wait=TIME] [half_open=N]
 */
static char *ngx_http_gwlb_breaker(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwlb_srv_conf_t *gcf = conf;
    ngx_str_t *value = cf->args->elts, v;
    gwlb_breaker_config *b = &gcf->breaker;
    gwlb_error_detail detail;
    ngx_uint_t i;
    ngx_int_t n;
    uint64_t ns;

    (void)cmd;
    if (gcf->breaker_on)
        return "is duplicate";
    gwlb_breaker_config_init(b);
    b->consecutive_failures = 5;
    b->open_wait_ns = 10 * GWLB_NS_PER_SEC;

    for (i = 1; i < cf->args->nelts; i++) {
        n = NGX_ERROR;
        if (ngx_http_gwlb_param(&value[i], "failures", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->consecutive_failures = (uint32_t)n;
        } else if (ngx_http_gwlb_param(&value[i], "failure_rate", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->failure_rate_percent = (uint32_t)n;
        } else if (ngx_http_gwlb_param(&value[i], "slow_rate", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->slow_call_rate_percent = (uint32_t)n;
        } else if (ngx_http_gwlb_param(&value[i], "window", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->window_kind = GWLB_BREAKER_WINDOW_COUNT;
            b->window_size = (uint32_t)n;
        } else if (ngx_http_gwlb_param(&value[i], "min_calls", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->minimum_calls = (uint32_t)n;
        } else if (ngx_http_gwlb_param(&value[i], "half_open", &v)) {
            n = ngx_atoi(v.data, v.len);
            b->half_open_permits = (uint32_t)n;
            b->half_open_successes = (uint32_t)n;
            b->half_open_failures = 1;
        } else if (ngx_http_gwlb_param(&value[i], "slow", &v)) {
            n = ngx_http_gwlb_parse_msec(&v, &ns);
            b->slow_call_ns = ns;
        } else if (ngx_http_gwlb_param(&value[i], "wait", &v)) {
            n = ngx_http_gwlb_parse_msec(&v, &ns);
            b->open_wait_ns = ns;
        } else if (ngx_http_gwlb_param(&value[i], "max_wait", &v)) {
            n = ngx_http_gwlb_parse_msec(&v, &ns);
            b->open_wait_max_ns = ns;
            b->open_wait_multiplier_percent = 200;
        }
        if (n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }
    if ((b->failure_rate_percent || b->slow_call_rate_percent) && b->window_size == 0) {
        b->window_kind = GWLB_BREAKER_WINDOW_COUNT;
        b->window_size = 100;
    }
    if (b->window_kind != GWLB_BREAKER_WINDOW_NONE && b->minimum_calls == 0)
        b->minimum_calls = b->window_size < 10 ? b->window_size : 10;

    if (gwlb_breaker_config_validate(b, &detail) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gwlb_breaker: %s: %s (%s)",
                           detail.field ? detail.field : "?", gwlb_strerror(detail.code),
                           detail.message);
        return NGX_CONF_ERROR;
    }
    gcf->breaker_on = 1;
    return NGX_CONF_OK;
}

static void ngx_http_gwlb_cleanup(void *data)
{
    ngx_http_gwlb_srv_conf_t *gcf = data;

    gwlb_balancer_free(gcf->balancer);
    gcf->balancer = NULL;
    gwlb_hash_table_free(gcf->table);
    gcf->table = NULL;
}

static size_t ngx_http_gwlb_region_size(ngx_http_gwlb_srv_conf_t *gcf, uint32_t capacity)
{
    return ngx_http_gwlb_align(sizeof(ngx_http_gwlb_shared_t)) +
           ngx_http_gwlb_align(gwlb_balancer_state_size(capacity)) +
           ngx_http_gwlb_align(gcf->nhosts * sizeof(gwlb_breaker));
}

/* Format (or, after a reload with the same servers, reuse) the region and build the balancer. */
static ngx_int_t ngx_http_gwlb_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gwlb_srv_conf_t *gcf = zone->data, *old = data;
    ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
    ngx_http_gwlb_shared_t *sh = NULL;
    gwlb_balancer_state *state;
    gwlb_balancer_config cfg;
    gwlb_error_detail detail;
    uint32_t capacity = (uint32_t)(2 * gcf->nhosts);
    size_t size = ngx_http_gwlb_region_size(gcf, capacity);
    uint64_t now = gwlb_clock_ns();
    u_char *base;
    ngx_uint_t i, reuse = 0, same = 0;
    int rc;

    /*
     * Reload: the zone's name carries the server count, so a reused zone has
     * the same layout. Its balancer state is kept whatever the servers are
     * now (slots are found by identity, 2n of them leave room for n new
     * ones); the per-index breakers are kept only when the server list and
     * the breaker settings are unchanged. Old workers may still be finishing
     * requests on this memory, so it is never freed or reformatted.
     */
    if (old != NULL && old->shared != NULL && old->shared->magic == NGX_HTTP_GWLB_MAGIC &&
        old->shared->capacity == capacity) {
        sh = old->shared;
        reuse = 1;
        same = sh->signature == gcf->signature;
    }
    if (sh == NULL) {
        sh = ngx_slab_alloc(shpool, size);
        if (sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gwlb: zone \"%V\" too small",
                          &zone->shm.name);
            return NGX_ERROR;
        }
    }
    base = (u_char *)sh;
    state = (gwlb_balancer_state *)(base + ngx_http_gwlb_align(sizeof(*sh)));
    gcf->breakers = (gwlb_breaker *)((u_char *)state +
                                     ngx_http_gwlb_align(gwlb_balancer_state_size(capacity)));
    if (reuse)
        rc = gwlb_balancer_state_attach(state, gwlb_balancer_state_size(capacity), &state);
    else
        rc = gwlb_balancer_state_init(state, gwlb_balancer_state_size(capacity), capacity, &state);
    if (!same) {
        for (i = 0; rc == 0 && gcf->breaker_on && i < gcf->nhosts; i++)
            rc = gwlb_breaker_init(&gcf->breakers[i], &gcf->breaker, now ^ i, NULL);
        sh->signature = gcf->signature;
        sh->capacity = capacity;
        sh->nhosts = (uint32_t)gcf->nhosts;
        sh->state_size = gwlb_balancer_state_size(capacity);
        sh->magic = NGX_HTTP_GWLB_MAGIC;
    }
    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gwlb: state of \"%V\": %s",
                      &gcf->name, gwlb_strerror(rc));
        return NGX_ERROR;
    }
    gcf->shared = sh;

    /* the hash family picks through a balancer; nginx's own hash modules fall
     * back to smooth weighted round robin, so that is its algorithm */
    gwlb_balancer_config_init(&cfg, gcf->algorithm >= NGX_HTTP_GWLB_HASHED
                                        ? GWLB_BALANCER_NGINX_ROUND_ROBIN
                                        : (gwlb_balancer_algorithm)gcf->algorithm);
    cfg.seed = now ^ (uint64_t)ngx_pid;
    /* nginx never sends to `down` or failed servers; Envoy's panic mode would */
    cfg.panic_threshold = (uint32_t)gcf->panic;
    gcf->bcfg = cfg;
    gcf->state = state;
    rc = gwlb_balancer_build(&cfg, gcf->hosts, (uint32_t)gcf->nhosts, state, now, &gcf->balancer,
                             &detail);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gwlb: upstream \"%V\": %s (%s)",
                      &gcf->name, gwlb_strerror(rc), detail.message);
        return NGX_ERROR;
    }
    for (i = 0; i < gcf->nhosts; i++) {
        rc = gwlb_balancer_host_flags_update(gcf->balancer, (uint32_t)i,
                                             gcf->down[i] ? GWLB_HOST_MAINTENANCE : 0,
                                             gcf->down[i] ? 0 : GWLB_HOST_MAINTENANCE);
        if (rc != 0)
            return NGX_ERROR;
    }
    return NGX_OK;
}

static ngx_int_t ngx_http_gwlb_init_peer(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us);

/*
 * Workers inherit the master's balancers through fork, and with them one
 * process-local PRNG state: every worker would draw the same P2C
 * candidates. Each worker rebuilds its balancers on the same shared state
 * with its own seed (state is kept: slots are found by identity).
 */
static ngx_int_t ngx_http_gwlb_init_process(ngx_cycle_t *cycle)
{
    ngx_http_upstream_main_conf_t *umcf;
    ngx_http_upstream_srv_conf_t **uscfp;
    ngx_http_gwlb_srv_conf_t *gcf;
    gwlb_balancer *bal;
    uint64_t now = gwlb_clock_ns();
    ngx_uint_t i;
    int rc;

    umcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_upstream_module);
    if (umcf == NULL)
        return NGX_OK;
    uscfp = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->srv_conf == NULL ||
            uscfp[i]->peer.init_upstream != ngx_http_gwlb_init_upstream)
            continue;
        gcf = ngx_http_conf_upstream_srv_conf(uscfp[i], ngx_http_gwlb_module);
        if (gcf->balancer == NULL || gcf->state == NULL)
            continue;
        gcf->bcfg.seed = gwlb_mix64(now ^ ((uint64_t)ngx_pid << 20) ^ i);
        rc = gwlb_balancer_build(&gcf->bcfg, gcf->hosts, (uint32_t)gcf->nhosts, gcf->state, now,
                                 &bal, NULL);
        if (rc != 0) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0, "gwlb: rebuilding \"%V\": %s",
                          &gcf->name, gwlb_strerror(rc));
            continue; /* keep the inherited one */
        }
        gwlb_balancer_free(gcf->balancer);
        gcf->balancer = bal;
    }
    return NGX_OK;
}

static ngx_int_t ngx_http_gwlb_init_upstream(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_gwlb_srv_conf_t *gcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_gwlb_module);
    ngx_http_upstream_server_t *server;
    ngx_pool_cleanup_t *cln;
    gwlb_hash_host *hh;
    gwlb_hash_config hcfg;
    gwlb_error_detail detail;
    ngx_str_t zname;
    ngx_uint_t i, j, n;
    size_t size;
    int rc;

    if (us->servers == NULL || us->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "no servers in upstream \"%V\"", &us->host);
        return NGX_ERROR;
    }
    server = us->servers->elts;
    for (n = 0, i = 0; i < us->servers->nelts; i++) {
        n += server[i].naddrs;
    }
    gcf->name = us->host;
    gcf->nhosts = n;
    gcf->hosts = ngx_pcalloc(cf->pool, n * sizeof(gwlb_balancer_host));
    gcf->addrs = ngx_pcalloc(cf->pool, n * sizeof(ngx_http_gwlb_addr_t));
    gcf->down = ngx_pcalloc(cf->pool, n);
    hh = ngx_pcalloc(cf->pool, n * sizeof(gwlb_hash_host));
    if (gcf->hosts == NULL || gcf->addrs == NULL || gcf->down == NULL || hh == NULL)
        return NGX_ERROR;

    gcf->signature = gwlb_hash64(&gcf->algorithm, sizeof(gcf->algorithm), n);
    for (n = 0, i = 0; i < us->servers->nelts; i++) {
        for (j = 0; j < server[i].naddrs; j++, n++) {
            gwlb_balancer_host *h = &gcf->hosts[n];
            ngx_addr_t *a = &server[i].addrs[j];

            /* identity: the address text, NUL-terminated copy */
            u_char *id = ngx_pnalloc(cf->pool, a->name.len + 1);
            if (id == NULL)
                return NGX_ERROR;
            ngx_memcpy(id, a->name.data, a->name.len);
            id[a->name.len] = '\0';
            gwlb_balancer_host_init(h, (const char *)id);
            h->identity_len = a->name.len;
            h->weight = (uint32_t)server[i].weight;
            h->backup = server[i].backup;
            h->max_inflight = (uint32_t)server[i].max_conns;
            h->max_fails = (uint32_t)server[i].max_fails;
            h->fail_timeout_ns = (uint64_t)server[i].fail_timeout * GWLB_NS_PER_SEC;
            h->user_data = n;
            gcf->down[n] = server[i].down ? 1 : 0;
            gcf->addrs[n].sockaddr = a->sockaddr;
            gcf->addrs[n].socklen = a->socklen;
            gcf->addrs[n].name = a->name;
            hh[n].identity = id;
            hh[n].identity_len = (uint32_t)a->name.len;
            hh[n].weight = h->weight;
            gcf->signature = gwlb_hash64(id, a->name.len, gcf->signature ^ h->weight);
        }
    }

    if (gcf->breaker_on)
        gcf->signature = gwlb_hash64(&gcf->breaker, sizeof(gcf->breaker), gcf->signature);

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL)
        return NGX_ERROR;
    cln->handler = ngx_http_gwlb_cleanup;
    cln->data = gcf;

    if (gcf->algorithm >= NGX_HTTP_GWLB_HASHED) {
        gwlb_hash_config_init(&hcfg, (uint32_t)(gcf->algorithm - NGX_HTTP_GWLB_HASHED));
        rc = gwlb_hash_table_new(&gcf->table, &hcfg, hh, (uint32_t)n, NULL, &detail);
        if (rc != 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "gwlb: hash table for \"%V\": %s (%s)",
                          &us->host, gwlb_strerror(rc), detail.message);
            return NGX_ERROR;
        }
    }

    /* one shared zone per upstream, sized from its servers */
    zname.data = ngx_pnalloc(cf->pool, sizeof("gwlb_upstream:#") - 1 + us->host.len + NGX_INT_T_LEN);
    if (zname.data == NULL)
        return NGX_ERROR;
    zname.len = ngx_sprintf(zname.data, "gwlb_upstream:%V#%ui", &us->host, n) - zname.data;
    size = ngx_http_gwlb_region_size(gcf, (uint32_t)(2 * n));
    size = ngx_align(size + size / 8 + 16 * ngx_pagesize, ngx_pagesize);
    gcf->zone = ngx_shared_memory_add(cf, &zname, size, &ngx_http_gwlb_module);
    if (gcf->zone == NULL)
        return NGX_ERROR;
    gcf->zone->init = ngx_http_gwlb_init_zone;
    gcf->zone->data = gcf;

    us->peer.init = ngx_http_gwlb_init_peer;
    return NGX_OK;
}

/* ---- peer callbacks ------------------------------------------------------------- */

static ngx_int_t ngx_http_gwlb_get_peer(ngx_peer_connection_t *pc, void *data);
static void ngx_http_gwlb_free_peer(ngx_peer_connection_t *pc, void *data, ngx_uint_t state);

/* ip_hash's key: the client address in network byte order (4 or 16 bytes),
 * as ngx_http_upstream_ip_hash_module reads it; empty for other families. */
static void ngx_http_gwlb_client_address(ngx_http_request_t *r, ngx_str_t *key)
{
    struct sockaddr *sa = r->connection->sockaddr;

    key->len = 0;
    key->data = NULL;
    if (sa->sa_family == AF_INET) {
        key->data = (u_char *)&((struct sockaddr_in *)sa)->sin_addr.s_addr;
        key->len = 4;
    }
#if (NGX_HAVE_INET6)
    else if (sa->sa_family == AF_INET6) {
        key->data = ((struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        key->len = 16;
    }
#endif
}

static ngx_int_t ngx_http_gwlb_init_peer(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_gwlb_srv_conf_t *gcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_gwlb_module);
    ngx_http_gwlb_peer_data_t *pd;
    uint32_t words = (uint32_t)((gcf->nhosts + 63) / 64);

    pd = ngx_pcalloc(r->pool, sizeof(*pd) + words * sizeof(uint64_t));
    if (pd == NULL)
        return NGX_ERROR;
    pd->conf = gcf;
    pd->r = r;
    pd->words = words;
    pd->tried = (uint64_t *)(pd + 1);
    if (gcf->table != NULL) {
        if (gcf->algorithm == NGX_HTTP_GWLB_IP_HASH) {
            ngx_http_gwlb_client_address(r, &pd->key);
        } else if (ngx_http_complex_value(r, gcf->key, &pd->key) != NGX_OK) {
            return NGX_ERROR;
        }
        gwlb_hash_attempt_init(&pd->attempt, gcf->nhosts > 256 ? pd->tried : NULL, words);
    }
    r->upstream->peer.data = pd;
    r->upstream->peer.get = ngx_http_gwlb_get_peer;
    r->upstream->peer.free = ngx_http_gwlb_free_peer;
    r->upstream->peer.tries = gcf->nhosts;
    return NGX_OK;
}

/* A host whose breaker opened is flagged EJECTED so that picks skip it; once
 * its wait has elapsed (the breaker polls half-open) the flag is cleared so
 * that probe requests can reach it. */
static void ngx_http_gwlb_poll_breakers(ngx_http_gwlb_srv_conf_t *gcf, uint64_t now)
{
    ngx_uint_t i;
    uint32_t flags;
    int st;

    for (i = 0; i < gcf->nhosts; i++) {
        if (gwlb_balancer_host_flags(gcf->balancer, (uint32_t)i, &flags) != 0 ||
            !(flags & GWLB_HOST_EJECTED))
            continue;
        st = gwlb_breaker_poll(&gcf->breakers[i], &gcf->breaker, now);
        if (st != GWLB_BREAKER_OPEN && st != GWLB_BREAKER_FORCED_OPEN)
            (void)gwlb_balancer_host_flags_update(gcf->balancer, (uint32_t)i, 0,
                                                  GWLB_HOST_EJECTED);
    }
}

static int ngx_http_gwlb_pick(ngx_http_gwlb_peer_data_t *pd, uint64_t now)
{
    ngx_http_gwlb_srv_conf_t *gcf = pd->conf;

    if (gcf->table == NULL)
        return gwlb_balancer_pick_excluding(gcf->balancer, now, pd->tried, pd->words, &pd->pick);
    /* the key's candidates in the algorithm's order, usable per the balancer */
    return gwlb_hash_balancer_pick(gcf->table, gcf->balancer, now, pd->key.data, pd->key.len,
                                   &pd->attempt, &pd->pick);
}

static ngx_int_t ngx_http_gwlb_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gwlb_peer_data_t *pd = data;
    ngx_http_gwlb_srv_conf_t *gcf = pd->conf;
    uint64_t now = gwlb_clock_ns();
    ngx_uint_t attempts;
    uint32_t host;
    int rc;

    pc->cached = 0;
    pc->connection = NULL;
    if (gcf->breaker_on)
        ngx_http_gwlb_poll_breakers(gcf, now);

    for (attempts = 0; attempts <= gcf->nhosts; attempts++) {
        rc = ngx_http_gwlb_pick(pd, now);
        if (rc != 0)
            break;
        host = pd->pick.host_index;
        pd->tried[host / 64] |= (uint64_t)1 << (host % 64);
        if (gcf->breaker_on) {
            rc = gwlb_breaker_allow(&gcf->breakers[host], &gcf->breaker, now, &pd->ticket);
            if (rc != 0) {
                /* rejected: give the in-flight slot back without an outcome */
                (void)gwlb_balancer_release(gcf->balancer, &pd->pick, GWLB_BALANCER_SUCCESS,
                                            GWLB_BALANCER_NO_LATENCY, now);
                if (rc != GWLB_BREAKER_REJECT_HALF_OPEN_FULL)
                    (void)gwlb_balancer_host_flags_update(gcf->balancer, host,
                                                          GWLB_HOST_EJECTED, 0);
                continue;
            }
        }
        pd->picked = 1;
        pd->start = now;
        pc->sockaddr = gcf->addrs[host].sockaddr;
        pc->socklen = gcf->addrs[host].socklen;
        pc->name = &gcf->addrs[host].name;
        return NGX_OK;
    }
    pc->name = &gcf->name;
    return NGX_BUSY;
}

static void ngx_http_gwlb_free_peer(ngx_peer_connection_t *pc, void *data, ngx_uint_t state)
{
    ngx_http_gwlb_peer_data_t *pd = data;
    ngx_http_gwlb_srv_conf_t *gcf = pd->conf;
    ngx_http_upstream_t *u = pd->r->upstream;
    uint64_t now, latency;
    ngx_uint_t status = 0;
    uint32_t host;
    int outcome, failed;

    if (!pd->picked)
        return;
    pd->picked = 0;
    now = gwlb_clock_ns();
    latency = now > pd->start ? now - pd->start : 0;
    host = pd->pick.host_index;
    if (u != NULL && u->state != NULL)
        status = u->state->status;

    /* the balancer sees nginx's notion of a failed attempt (max_fails) */
    outcome = GWLB_BALANCER_SUCCESS;
    if (state & NGX_PEER_FAILED) {
        if (status == 0)
            outcome = GWLB_BALANCER_LOCAL_ORIGIN_FAILURE;
        else if (status >= 502 && status <= 504)
            outcome = GWLB_BALANCER_GATEWAY_FAILURE;
        else
            outcome = GWLB_BALANCER_FAILURE;
    }
    (void)gwlb_balancer_release(gcf->balancer, &pd->pick, outcome,
                                outcome == GWLB_BALANCER_LOCAL_ORIGIN_FAILURE
                                    ? GWLB_BALANCER_NO_LATENCY
                                    : (int64_t)latency,
                                now);

    /* the breaker also counts 5xx responses that nginx passes through */
    if (gcf->breaker_on) {
        failed = (state & NGX_PEER_FAILED) || status >= 500;
        (void)gwlb_breaker_record(&gcf->breakers[host], &gcf->breaker, pd->ticket,
                                  failed ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS, latency,
                                  now);
        if (gwlb_breaker_state(&gcf->breakers[host]) == GWLB_BREAKER_OPEN) {
            (void)gwlb_balancer_host_flags_update(gcf->balancer, host, GWLB_HOST_EJECTED, 0);
            ngx_log_error(NGX_LOG_INFO, pc->log, 0, "gwlb: breaker of %V in \"%V\" is open",
                          &gcf->addrs[host].name, &gcf->name);
        }
    }
    if (pc->tries)
        pc->tries--;
}

/* ==== gwlb_limit_req_zone, gwlb_limit_req ========================================= */

static ngx_int_t ngx_http_gwlb_limit_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gwlb_limit_zone_t *lz = zone->data, *old = data;
    ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
    const gwlb_limiter_policy *prev;
    uint8_t sipkey[16];
    uint64_t k0, k1;
    gwlb_rng rng;
    int rc;

    if (old != NULL && old->table != NULL) {
        /* reload: keep the keys' state unless the rate changed */
        lz->memory = old->memory;
        lz->bytes = old->bytes;
        prev = gwlb_limiter_table_policy(old->table);
        if (prev != NULL && prev->u.limit_req.rate == lz->policy.u.limit_req.rate) {
            lz->table = old->table;
            return NGX_OK;
        }
    } else {
        /* the table takes what the slab allocator can give in one piece */
        lz->bytes = zone->shm.size - zone->shm.size / 8 - 8 * ngx_pagesize;
        lz->memory = ngx_slab_alloc(shpool, lz->bytes);
        if (lz->memory == NULL) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gwlb: zone \"%V\" too small",
                          &zone->shm.name);
            return NGX_ERROR;
        }
    }
    /* a per-zone secret, so that clients cannot aim keys at one bucket */
    gwlb_rng_seed(&rng, gwlb_clock_ns() ^ ((uint64_t)ngx_pid << 32) ^ (uint64_t)ngx_time() ^
                            (uint64_t)(uintptr_t)lz);
    k0 = gwlb_rng_next(&rng);
    k1 = gwlb_rng_next(&rng);
    ngx_memcpy(sipkey, &k0, 8);
    ngx_memcpy(sipkey + 8, &k1, 8);
    rc = gwlb_limiter_table_init(lz->memory, lz->bytes, &lz->policy, sipkey, &lz->table);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gwlb: zone \"%V\": %s",
                      &zone->shm.name, gwlb_strerror(rc));
        return NGX_ERROR;
    }
    return NGX_OK;
}

/* gwlb_limit_req_zone <key> zone=<name>:<size> rate=<N>r/s|r/m */
static char *ngx_http_gwlb_limit_req_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t *value = cf->args->elts, v, name = ngx_null_string;
    ngx_http_gwlb_limit_zone_t *lz;
    ngx_http_compile_complex_value_t ccv;
    ngx_shm_zone_t *zone;
    ssize_t size = 0;
    ngx_int_t rate = 0;
    enum gwlb_limit_req_unit unit = GWLB_LIMIT_REQ_PER_SECOND;
    ngx_uint_t i;
    u_char *p;

    (void)conf;
    lz = ngx_pcalloc(cf->pool, sizeof(*lz));
    if (lz == NULL)
        return NGX_CONF_ERROR;
    ngx_memzero(&ccv, sizeof(ccv));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &lz->key;
    if (ngx_http_compile_complex_value(&ccv) != NGX_OK)
        return NGX_CONF_ERROR;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_gwlb_param(&value[i], "zone", &v)) {
            p = (u_char *)ngx_strchr(v.data, ':');
            if (p == NULL)
                goto invalid;
            name.data = v.data;
            name.len = p - v.data;
            v.data = p + 1;
            v.len = value[i].data + value[i].len - v.data;
            size = ngx_parse_size(&v);
            if (name.len == 0 || size == NGX_ERROR)
                goto invalid;
            if (size < (ssize_t)(16 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }
        } else if (ngx_http_gwlb_param(&value[i], "rate", &v)) {
            if (v.len > 3 && ngx_strncmp(v.data + v.len - 3, "r/s", 3) == 0) {
                unit = GWLB_LIMIT_REQ_PER_SECOND;
            } else if (v.len > 3 && ngx_strncmp(v.data + v.len - 3, "r/m", 3) == 0) {
                unit = GWLB_LIMIT_REQ_PER_MINUTE;
            } else {
                goto invalid;
            }
            rate = ngx_atoi(v.data, v.len - 3);
            if (rate <= 0)
                goto invalid;
        } else {
            goto invalid;
        }
    }
    if (name.len == 0 || rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" needs zone= and rate=", &cmd->name);
        return NGX_CONF_ERROR;
    }
    lz->name = name;
    lz->rate = (uint64_t)rate;
    lz->unit = unit;
    lz->policy.kind = GWLB_LIMITER_LIMIT_REQ;
    if (gwlb_limit_req_config_init(&lz->policy.u.limit_req, lz->rate, unit, 0, 0) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "rate out of range in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }
    zone = ngx_shared_memory_add(cf, &name, (size_t)size, &ngx_http_gwlb_module);
    if (zone == NULL)
        return NGX_CONF_ERROR;
    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }
    zone->init = ngx_http_gwlb_limit_init_zone;
    zone->data = lz;
    return NGX_CONF_OK;

invalid:
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}

/* gwlb_limit_req zone=<name> [burst=N] [nodelay | delay=N] */
static char *ngx_http_gwlb_limit_req(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwlb_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts, v;
    ngx_http_gwlb_limit_zone_t *lz;
    ngx_shm_zone_t *zone = NULL;
    ngx_int_t burst = 0, delay = 0;
    ngx_uint_t i, nodelay = 0;
    int rc;

    (void)cmd;
    if (lcf->zone != NULL)
        return "is duplicate";
    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_gwlb_param(&value[i], "zone", &v)) {
            zone = ngx_shared_memory_add(cf, &v, 0, &ngx_http_gwlb_module);
            if (zone == NULL)
                return NGX_CONF_ERROR;
        } else if (ngx_http_gwlb_param(&value[i], "burst", &v)) {
            burst = ngx_atoi(v.data, v.len);
            if (burst < 0)
                goto invalid;
        } else if (ngx_http_gwlb_param(&value[i], "delay", &v)) {
            delay = ngx_atoi(v.data, v.len);
            if (delay < 0)
                goto invalid;
        } else if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            nodelay = 1;
        } else {
            goto invalid;
        }
    }
    if (zone == NULL)
        return "needs zone=";
    lz = zone->data;
    if (lz == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown zone \"%V\" (gwlb_limit_req_zone must come first)",
                           &zone->shm.name);
        return NGX_CONF_ERROR;
    }
    rc = gwlb_limit_req_config_init(&lcf->cfg, lz->rate, lz->unit, (uint64_t)burst,
                                    nodelay ? GWLB_LIMIT_REQ_NODELAY : (uint64_t)delay);
    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gwlb_limit_req: %s", gwlb_strerror(rc));
        return NGX_CONF_ERROR;
    }
    lcf->zone = zone;
    return NGX_CONF_OK;

invalid:
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}

static void *ngx_http_gwlb_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gwlb_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof(*lcf));

    if (lcf == NULL)
        return NULL;
    lcf->status = NGX_CONF_UNSET_UINT;
    lcf->headers = NGX_CONF_UNSET;
    return lcf;
}

static char *ngx_http_gwlb_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gwlb_loc_conf_t *prev = parent, *lcf = child;

    (void)cf;
    if (lcf->zone == NULL) {
        lcf->zone = prev->zone;
        lcf->cfg = prev->cfg;
    }
    ngx_conf_merge_uint_value(lcf->status, prev->status, 429);
    ngx_conf_merge_value(lcf->headers, prev->headers, 1);
    return NGX_CONF_OK;
}

static ngx_int_t ngx_http_gwlb_add_header(ngx_http_request_t *r, const char *name, u_char *value,
                                          size_t len)
{
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    u_char *copy = ngx_pnalloc(r->pool, len);

    if (h == NULL || copy == NULL)
        return NGX_ERROR;
    ngx_memcpy(copy, value, len);
    h->hash = 1;
    h->key.data = (u_char *)name;
    h->key.len = ngx_strlen(name);
    h->value.data = copy;
    h->value.len = len;
    return NGX_OK;
}

static uint64_t ngx_http_gwlb_ceil_sec(uint64_t ns)
{
    return (ns + GWLB_NS_PER_SEC - 1) / GWLB_NS_PER_SEC;
}

/* RateLimit-Policy / RateLimit (IETF draft -10) and Retry-After, with the
 * values written by libgwlb. The policy's window is the time a full burst
 * takes to drain: q requests at rate milli-requests per second. */
static ngx_int_t ngx_http_gwlb_limit_headers(ngx_http_request_t *r, ngx_http_gwlb_limit_zone_t *lz,
                                             const gwlb_limit_req_config *cfg,
                                             const gwlb_limit_result *res)
{
    char name[GWLB_RATELIMIT_NAME_MAX + 1];
    char buf[GWLB_RATELIMIT_NAME_MAX + 128];
    size_t len = 0, nlen = ngx_min(lz->name.len, (size_t)GWLB_RATELIMIT_NAME_MAX);
    uint64_t window = ngx_http_gwlb_ceil_sec(res->limit * 1000 * GWLB_NS_PER_SEC /
                                             (cfg->rate ? cfg->rate : 1));

    ngx_memcpy(name, lz->name.data, nlen);
    name[nlen] = '\0';
    if (gwlb_ratelimit_policy_item(buf, sizeof(buf), &len, name, res->limit, window) != 0 ||
        ngx_http_gwlb_add_header(r, "RateLimit-Policy", (u_char *)buf, len) != NGX_OK)
        return NGX_ERROR;
    len = 0;
    if (gwlb_ratelimit_item(buf, sizeof(buf), &len, name, res) != 0 ||
        ngx_http_gwlb_add_header(r, "RateLimit", (u_char *)buf, len) != NGX_OK)
        return NGX_ERROR;
    if (gwlb_ratelimit_legacy_value(res, GWLB_RETRY_AFTER, buf, sizeof(buf), &len) == 0 &&
        ngx_http_gwlb_add_header(r, "Retry-After", (u_char *)buf, len) != NGX_OK)
        return NGX_ERROR;
    return NGX_OK;
}

static void ngx_http_gwlb_limit_delay(ngx_http_request_t *r)
{
    ngx_event_t *wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK)
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}

static ngx_int_t ngx_http_gwlb_limit_handler(ngx_http_request_t *r)
{
    ngx_http_gwlb_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_gwlb_module);
    ngx_http_gwlb_limit_zone_t *lz;
    ngx_http_gwlb_ctx_t *ctx;
    gwlb_limit_result res;
    ngx_str_t key;
    uint64_t now, *word;
    ngx_msec_t delay;

    if (lcf->zone == NULL)
        return NGX_DECLINED;
    ctx = ngx_http_get_module_ctx(r->main, ngx_http_gwlb_module);
    if (ctx != NULL && ctx->limited)
        return NGX_DECLINED; /* once per request, as limit_req */
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(*ctx));
        if (ctx == NULL)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_set_ctx(r->main, ctx, ngx_http_gwlb_module);
    }
    ctx->limited = 1;

    lz = lcf->zone->data;
    if (ngx_http_complex_value(r, &lz->key, &key) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (key.len == 0)
        return NGX_DECLINED; /* empty keys are not limited, as nginx */

    /* the zone's table finds (or makes room for) the key's state word; this
     * location's burst and delay decide on it, as nginx's limit_req does */
    now = gwlb_clock_ns();
    if (gwlb_limiter_table_state(lz->table, key.data, key.len, now, &word) != 0 ||
        gwlb_limit_req_state_allow(&lcf->cfg, word, now, &res) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gwlb: key of %uz bytes not limited by zone \"%V\"", key.len, &lz->name);
        return NGX_DECLINED;
    }

    if (lcf->headers && ngx_http_gwlb_limit_headers(r, lz, &lcf->cfg, &res) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (!res.allowed) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gwlb: limiting requests by zone \"%V\"", &lz->name);
        return (ngx_int_t)lcf->status;
    }
    if (res.delay_ns == 0)
        return NGX_DECLINED;

    delay = (ngx_msec_t)(res.delay_ns / GWLB_NS_PER_MS);
    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_gwlb_limit_delay;
    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, delay);
    return NGX_AGAIN;
}

static ngx_int_t ngx_http_gwlb_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);

    if (h == NULL)
        return NGX_ERROR;
    *h = ngx_http_gwlb_limit_handler;
    return NGX_OK;
}
