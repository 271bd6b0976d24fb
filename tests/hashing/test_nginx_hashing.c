/*
 * Compatibility proof against the real nginx (Debian /usr/sbin/nginx): one
 * nginx in a temporary prefix serves backends on 127.0.0.1:18201.. that
 * answer with their own port, and a front server on 18200 whose locations
 * proxy to upstreams using `ip_hash`, `hash $arg_k` and
 * `hash $arg_k consistent` with several weight sets, `down` servers and a
 * server nobody listens on (nginx tries it, fails, and retries the next
 * candidate). For every key / client address the backend nginx chose must
 * be the host our table picks, with `down` and dead servers unusable.
 *
 * Client addresses for ip_hash: the client binds 127.a.b.1 before connect
 * (all of 127/8 is local on Linux), so nginx sees many /24 prefixes.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gwlb/balancer.h"
#include "gwlb/hashing.h"
#include "test_servers.h"

#define FRONT_PORT 18200
#define DEAD_PORT 18250 /* nothing listens here */

static test_nginx nginx = {.pid = -1};

/* One upstream under test. */
typedef struct server_def {
    int port;
    uint32_t weight;
    int down;
} server_def;

typedef struct upstream_def {
    const char *name;
    const char *method; /* "ip_hash;", "hash $arg_k;", ... */
    uint32_t algorithm;
    int count;
    server_def servers[24];
} upstream_def;

static const upstream_def upstreams[] = {
    {"ip_equal", "ip_hash;", GWLB_HASH_NGINX_IP, 4,
     {{18201, 1, 0}, {18202, 1, 0}, {18203, 1, 0}, {18204, 1, 0}}},
    {"ip_weighted", "ip_hash;", GWLB_HASH_NGINX_IP, 5,
     {{18201, 1, 0}, {18202, 3, 0}, {18203, 2, 0}, {18204, 1, 1}, {18205, 5, 0}}},
    {"hash_equal", "hash $arg_k;", GWLB_HASH_NGINX_HASH, 5,
     {{18201, 1, 0}, {18202, 1, 0}, {18203, 1, 0}, {18204, 1, 0}, {18205, 1, 0}}},
    {"hash_weighted", "hash $arg_k;", GWLB_HASH_NGINX_HASH, 5,
     {{18201, 2, 0}, {18202, 1, 0}, {18203, 4, 1}, {18204, 1, 0}, {18205, 3, 0}}},
    {"hash_dead", "hash $arg_k;", GWLB_HASH_NGINX_HASH, 4,
     {{18201, 1, 0}, {DEAD_PORT, 2, 0}, {18203, 1, 0}, {18204, 1, 0}}},
    {"chash_equal", "hash $arg_k consistent;", GWLB_HASH_NGINX_CONSISTENT, 6,
     {{18201, 1, 0}, {18202, 1, 0}, {18203, 1, 0}, {18204, 1, 0}, {18205, 1, 0},
      {18206, 1, 0}}},
    {"chash_weighted", "hash $arg_k consistent;", GWLB_HASH_NGINX_CONSISTENT, 6,
     {{18201, 1, 0}, {18202, 2, 0}, {18203, 3, 0}, {18204, 1, 1}, {18205, 5, 0},
      {18206, 1, 0}}},
    {"chash_dead", "hash $arg_k consistent;", GWLB_HASH_NGINX_CONSISTENT, 4,
     {{18201, 1, 0}, {18202, 1, 0}, {DEAD_PORT, 3, 0}, {18204, 1, 0}}},
    {"chash_twenty", "hash $arg_k consistent;", GWLB_HASH_NGINX_CONSISTENT, 20,
     {{18201, 1, 0}, {18202, 2, 0}, {18203, 1, 0}, {18204, 3, 0}, {18205, 1, 1},
      {18206, 1, 0}, {18207, 2, 0}, {18208, 1, 0}, {18209, 4, 0}, {18210, 1, 0},
      {18211, 1, 0}, {18212, 1, 0}, {18213, 2, 1}, {18214, 1, 0}, {18215, 1, 0},
      {18216, 5, 0}, {18217, 1, 0}, {18218, 1, 0}, {18219, 2, 0}, {18220, 1, 0}}},
    /* Mostly down: ~3% of keys miss 21 times and nginx falls back to its
     * smooth weighted round robin over the two live servers (weights 1, 2),
     * whose state carries across requests. */
    {"hash_mostly_down", "hash $arg_k;", GWLB_HASH_NGINX_HASH, 10,
     {{18201, 2, 1}, {18202, 1, 0}, {18203, 2, 1}, {18204, 2, 1}, {18205, 2, 1},
      {18206, 2, 0}, {18207, 2, 1}, {18208, 2, 1}, {18209, 2, 1}, {18210, 2, 1}}},
    {"chash_mostly_down", "hash $arg_k consistent;", GWLB_HASH_NGINX_CONSISTENT, 10,
     {{18201, 2, 1}, {18202, 1, 0}, {18203, 2, 1}, {18204, 2, 1}, {18205, 2, 1},
      {18206, 2, 0}, {18207, 2, 1}, {18208, 2, 1}, {18209, 2, 1}, {18210, 2, 1}}},
    {"ip_mostly_down", "ip_hash;", GWLB_HASH_NGINX_IP, 10,
     {{18201, 2, 1}, {18202, 1, 0}, {18203, 2, 1}, {18204, 2, 1}, {18205, 2, 1},
      {18206, 2, 0}, {18207, 2, 1}, {18208, 2, 1}, {18209, 2, 1}, {18210, 2, 1}}},
};
#define UPSTREAMS ((int)(sizeof upstreams / sizeof upstreams[0]))

/* GET path from source address src; returns the backend port in the body, or -1. */
static int backend_port(uint32_t src, const char *path)
{
    char buf[2048];
    const char *body;
    int fd = test_http_send(src, FRONT_PORT, path);
    if (fd < 0 || test_http_read(fd, buf, sizeof buf, &body) != 200)
        return -1;
    return atoi(body);
}

static void start_nginx(void)
{
    ck_assert_int_eq(test_nginx_prepare(&nginx, "hashing-nginx"), 0);
    static char conf[32768];
    size_t o = 0;
    for (int port = 18201; port <= 18220; port++)
        o += (size_t)snprintf(conf + o, sizeof conf - o,
                              " server { listen 127.0.0.1:%d; return 200 $server_port; }\n",
                              port);
    for (int u = 0; u < UPSTREAMS; u++) {
        o += (size_t)snprintf(conf + o, sizeof conf - o, " upstream %s {\n  %s\n",
                              upstreams[u].name, upstreams[u].method);
        for (int i = 0; i < upstreams[u].count; i++) {
            const server_def *s = &upstreams[u].servers[i];
            o += (size_t)snprintf(conf + o, sizeof conf - o,
                                  "  server 127.0.0.1:%d weight=%u%s;\n", s->port, s->weight,
                                  s->down ? " down" : "");
        }
        o += (size_t)snprintf(conf + o, sizeof conf - o, " }\n");
    }
    o += (size_t)snprintf(conf + o, sizeof conf - o, " server {\n  listen 127.0.0.1:%d;\n",
                          FRONT_PORT);
    for (int u = 0; u < UPSTREAMS; u++)
        o += (size_t)snprintf(conf + o, sizeof conf - o,
                              "  location /%s { proxy_pass http://%s; }\n", upstreams[u].name,
                              upstreams[u].name);
    o += (size_t)snprintf(conf + o, sizeof conf - o, " }\n");
    ck_assert_uint_lt(o, sizeof conf - 1);
    ck_assert_int_eq(test_nginx_start(&nginx, conf, FRONT_PORT), 0);
}

static void stop_nginx(void)
{
    test_nginx_stop(&nginx);
}

/* ---- the model ------------------------------------------------------------- */

static char identities[24][32];

static gwlb_hash_table *model_table(const upstream_def *u)
{
    gwlb_hash_host h[24];
    for (int i = 0; i < u->count; i++) {
        snprintf(identities[i], sizeof identities[i], "127.0.0.1:%d", u->servers[i].port);
        h[i].identity = identities[i];
        h[i].identity_len = (uint32_t)strlen(identities[i]);
        h[i].weight = u->servers[i].weight;
    }
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, u->algorithm);
    gwlb_hash_table *t = NULL;
    ck_assert_int_eq(gwlb_hash_table_new(&t, &c, h, (uint32_t)u->count, NULL, NULL), GWLB_OK);
    return t;
}

/* down servers, and the server nobody listens on, are unusable */
static int usable(void *ctx, uint32_t host)
{
    const upstream_def *u = ctx;
    return !u->servers[host].down && u->servers[host].port != DEAD_PORT;
}

static int model_port(const upstream_def *u, const gwlb_hash_table *t, const void *key,
                      size_t len)
{
    gwlb_hash_attempt at;
    gwlb_hash_attempt_init(&at, NULL, 0);
    uint32_t h;
    int rc = gwlb_hash_table_pick(t, key, len, &at, usable, (void *)u, &h);
    ck_assert_msg(rc == GWLB_OK, "%s: pick gave %d", u->name, rc);
    return u->servers[h].port;
}

static void key_for(int i, char *key, size_t size)
{
    /* short, long, numeric and mixed keys */
    switch (i % 4) {
    case 0:
        snprintf(key, size, "user%d", i);
        break;
    case 1:
        snprintf(key, size, "%d", i * 7919);
        break;
    case 2:
        snprintf(key, size, "session-%08x-%d", (unsigned)(i * 2654435761u), i);
        break;
    default:
        snprintf(key, size, "/img/%d/a_rather_long_cache_key_for_object_number_%d.png", i % 97,
                 i);
        break;
    }
}

static int compare_keys(const upstream_def *u, int nkeys)
{
    gwlb_hash_table *t = model_table(u);
    int mismatches = 0;
    for (int i = 0; i < nkeys; i++) {
        char key[128], path[256];
        key_for(i, key, sizeof key);
        snprintf(path, sizeof path, "/%s?k=%s", u->name, key);
        int got = backend_port(0, path);
        int want = model_port(u, t, key, strlen(key));
        if (got != want) {
            if (mismatches++ < 5)
                fprintf(stderr, "%s key %s: nginx %d, ours %d\n", u->name, key, got, want);
        }
    }
    gwlb_hash_table_free(t);
    return mismatches;
}

static int compare_sources(const upstream_def *u, int nsources)
{
    gwlb_hash_table *t = model_table(u);
    int mismatches = 0;
    for (int i = 0; i < nsources; i++) {
        uint32_t a = (uint32_t)(i * 37 % 256), b = (uint32_t)(i * 101 % 256);
        uint32_t src = (UINT32_C(127) << 24) | a << 16 | b << 8 | (uint32_t)(1 + i % 200);
        char path[128];
        snprintf(path, sizeof path, "/%s", u->name);
        int got = backend_port(src, path);
        uint8_t addr[4] = {127, (uint8_t)a, (uint8_t)b, (uint8_t)(1 + i % 200)};
        int want = model_port(u, t, addr, 4);
        if (got != want) {
            if (mismatches++ < 5)
                fprintf(stderr, "%s source 127.%u.%u.x: nginx %d, ours %d\n", u->name, a, b,
                        got, want);
        }
    }
    gwlb_hash_table_free(t);
    return mismatches;
}

/* The full chain through the balancer: eligibility from host flags (nginx
 * `down` = maintenance), the host taken and released, and nginx's round
 * robin fallback from the balancer's smooth WRR, state carried over. Every
 * 25th key is empty, which nginx's hash modules also send to round robin. */
static int compare_through_balancer(const upstream_def *u, int n, int by_source,
                                    int *fallbacks)
{
    gwlb_balancer_state *state = NULL;
    ck_assert_int_eq(gwlb_balancer_state_new(64, NULL, &state), GWLB_OK);
    gwlb_balancer_config bc;
    gwlb_balancer_config_init(&bc, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    gwlb_balancer_host bh[24];
    for (int i = 0; i < u->count; i++) {
        snprintf(identities[i], sizeof identities[i], "127.0.0.1:%d", u->servers[i].port);
        gwlb_balancer_host_init(&bh[i], identities[i]);
        bh[i].weight = u->servers[i].weight;
    }
    gwlb_balancer *bal = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&bc, bh, (uint32_t)u->count, state, 0, &bal, NULL),
                     GWLB_OK);
    for (int i = 0; i < u->count; i++)
        if (u->servers[i].down)
            ck_assert_int_eq(
                gwlb_balancer_host_flags_update(bal, (uint32_t)i, GWLB_HOST_MAINTENANCE, 0),
                GWLB_OK);
    gwlb_hash_config hc;
    gwlb_hash_config_init(&hc, u->algorithm);
    gwlb_hash_table *t = NULL;
    ck_assert_int_eq(gwlb_hash_table_new_from_balancer(&t, &hc, bal, NULL, NULL), GWLB_OK);

    int mismatches = 0;
    *fallbacks = 0;
    uint64_t now = 1000 * GWLB_NS_PER_SEC;
    for (int i = 0; i < n; i++) {
        char key[128], path[256];
        uint8_t addr[4];
        uint32_t src = 0;
        if (by_source) {
            uint32_t a = (uint32_t)(i * 37 % 256), b = (uint32_t)(i * 101 % 256);
            src = (UINT32_C(127) << 24) | a << 16 | b << 8 | 1u;
            addr[0] = 127;
            addr[1] = (uint8_t)a;
            addr[2] = (uint8_t)b;
            addr[3] = 1;
            snprintf(path, sizeof path, "/%s", u->name);
        } else {
            key_for(i, key, sizeof key);
            if (i % 25 == 24)
                key[0] = '\0'; /* empty key: nginx uses round robin */
            snprintf(path, sizeof path, "/%s?k=%s", u->name, key);
        }
        int got = backend_port(src, path);
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        /* Would the hash alone give up? (count the fallbacks exercised) */
        uint32_t h;
        gwlb_hash_attempt probe;
        gwlb_hash_attempt_init(&probe, NULL, 0);
        int prc = gwlb_hash_table_pick(t, by_source ? (const void *)addr : key,
                                       by_source ? 4 : strlen(key), &probe, usable, (void *)u,
                                       &h);
        if (prc == GWLB_HASH_USE_ROUND_ROBIN || prc == GWLB_EMPTY)
            (*fallbacks)++;
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_hash_balancer_pick(t, bal, now, by_source ? (const void *)addr : key,
                                                 by_source ? 4 : strlen(key), &at, &r),
                         GWLB_OK);
        int want = u->servers[r.host_index].port;
        ck_assert_int_eq(gwlb_balancer_release(bal, &r, GWLB_BALANCER_SUCCESS, 1000, now),
                         GWLB_OK);
        if (got != want && mismatches++ < 5)
            fprintf(stderr, "%s #%d: nginx %d, ours %d\n", u->name, i, got, want);
    }
    gwlb_hash_table_free(t);
    gwlb_balancer_free(bal);
    gwlb_balancer_state_free(state);
    return mismatches;
}

static const upstream_def *find_upstream(const char *name)
{
    for (int u = 0; u < UPSTREAMS; u++)
        if (strcmp(upstreams[u].name, name) == 0)
            return &upstreams[u];
    return NULL;
}

static void setup(void)
{
    start_nginx();
}

static void teardown(void)
{
    stop_nginx();
}

#define KEYS 1000
#define SOURCES 600

START_TEST(test_ip_hash_equal_weights_matches_nginx_for_every_source)
{
    ck_assert_int_eq(compare_sources(find_upstream("ip_equal"), SOURCES), 0);
}
END_TEST

START_TEST(test_ip_hash_weights_and_down_server_match_nginx_for_every_source)
{
    ck_assert_int_eq(compare_sources(find_upstream("ip_weighted"), SOURCES), 0);
}
END_TEST

START_TEST(test_hash_equal_weights_matches_nginx_for_every_key)
{
    ck_assert_int_eq(compare_keys(find_upstream("hash_equal"), KEYS), 0);
}
END_TEST

START_TEST(test_hash_weights_and_down_server_match_nginx_for_every_key)
{
    ck_assert_int_eq(compare_keys(find_upstream("hash_weighted"), KEYS), 0);
}
END_TEST

START_TEST(test_hash_retry_after_dead_server_matches_nginx)
{
    ck_assert_int_eq(compare_keys(find_upstream("hash_dead"), KEYS), 0);
}
END_TEST

START_TEST(test_consistent_equal_weights_matches_nginx_for_every_key)
{
    ck_assert_int_eq(compare_keys(find_upstream("chash_equal"), KEYS), 0);
}
END_TEST

START_TEST(test_consistent_weights_and_down_server_match_nginx_for_every_key)
{
    ck_assert_int_eq(compare_keys(find_upstream("chash_weighted"), KEYS), 0);
}
END_TEST

START_TEST(test_consistent_retry_after_dead_server_matches_nginx)
{
    ck_assert_int_eq(compare_keys(find_upstream("chash_dead"), KEYS), 0);
}
END_TEST

START_TEST(test_consistent_twenty_servers_matches_nginx_for_every_key)
{
    ck_assert_int_eq(compare_keys(find_upstream("chash_twenty"), KEYS), 0);
}
END_TEST

START_TEST(test_hash_round_robin_fallback_after_20_tries_matches_nginx)
{
    int fallbacks;
    ck_assert_int_eq(compare_through_balancer(find_upstream("hash_mostly_down"), KEYS, 0,
                                              &fallbacks),
                     0);
    printf("hash_mostly_down: %d of %d keys fell back to round robin\n", fallbacks, KEYS);
    ck_assert_int_gt(fallbacks, 5);
}
END_TEST

START_TEST(test_consistent_round_robin_fallback_after_20_tries_matches_nginx)
{
    int fallbacks;
    ck_assert_int_eq(compare_through_balancer(find_upstream("chash_mostly_down"), KEYS, 0,
                                              &fallbacks),
                     0);
    printf("chash_mostly_down: %d of %d keys fell back to round robin\n", fallbacks, KEYS);
    ck_assert_int_gt(fallbacks, 5);
}
END_TEST

START_TEST(test_ip_hash_round_robin_fallback_after_20_tries_matches_nginx)
{
    int fallbacks;
    ck_assert_int_eq(compare_through_balancer(find_upstream("ip_mostly_down"), SOURCES, 1,
                                              &fallbacks),
                     0);
    printf("ip_mostly_down: %d of %d sources fell back to round robin\n", fallbacks, SOURCES);
    ck_assert_int_gt(fallbacks, 0);
}
END_TEST

START_TEST(test_through_balancer_matches_nginx_for_weighted_upstreams)
{
    int fallbacks;
    ck_assert_int_eq(compare_through_balancer(find_upstream("chash_weighted"), KEYS, 0,
                                              &fallbacks),
                     0);
    ck_assert_int_eq(compare_through_balancer(find_upstream("hash_weighted"), KEYS, 0,
                                              &fallbacks),
                     0);
    ck_assert_int_eq(compare_through_balancer(find_upstream("ip_weighted"), SOURCES, 1,
                                              &fallbacks),
                     0);
}
END_TEST

int main(void)
{
    if (access(TEST_NGINX, X_OK) != 0) {
        fprintf(stderr, "%s not installed\n", TEST_NGINX);
        return 77; /* meson: skipped */
    }
    Suite *s = suite_create("hashing-nginx");
    TCase *tc = tcase_create("nginx");
    /* one nginx for all: checked fixture in a single (no-fork) process */
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ip_hash_equal_weights_matches_nginx_for_every_source);
    tcase_add_test(tc, test_ip_hash_weights_and_down_server_match_nginx_for_every_source);
    tcase_add_test(tc, test_hash_equal_weights_matches_nginx_for_every_key);
    tcase_add_test(tc, test_hash_weights_and_down_server_match_nginx_for_every_key);
    tcase_add_test(tc, test_hash_retry_after_dead_server_matches_nginx);
    tcase_add_test(tc, test_consistent_equal_weights_matches_nginx_for_every_key);
    tcase_add_test(tc, test_consistent_weights_and_down_server_match_nginx_for_every_key);
    tcase_add_test(tc, test_consistent_retry_after_dead_server_matches_nginx);
    tcase_add_test(tc, test_consistent_twenty_servers_matches_nginx_for_every_key);
    tcase_add_test(tc, test_through_balancer_matches_nginx_for_weighted_upstreams);
    tcase_add_test(tc, test_hash_round_robin_fallback_after_20_tries_matches_nginx);
    tcase_add_test(tc, test_consistent_round_robin_fallback_after_20_tries_matches_nginx);
    tcase_add_test(tc, test_ip_hash_round_robin_fallback_after_20_tries_matches_nginx);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_nginx(); /* in case a fixture aborted early */
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
