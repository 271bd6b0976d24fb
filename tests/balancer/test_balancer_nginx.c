/*
 * nginx compatibility, against the real program: Debian's nginx proxies to
 * local backends on 127.0.0.1 (ports 18100-18199) and we compare the
 * backend sequence it produces with ours, for smooth weighted round robin
 * (several weight sets) and least_conn (sequential, and with connections
 * held open so in-flight counts differ). The test starts nginx in a
 * temporary prefix and stops it itself; every wait is a bounded loop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gwlb.h"
#include "test_servers.h"
#include "test_run.h"

#define FRONT_PORT 18100
#define RET_BASE 18101  /* `return 200 $server_port` backends: 18101..18106 */
#define HOLD_BASE 18121 /* our own silent backends (held connections): 18121..18123 */
#define NREQ 60

static test_nginx nginx = {.pid = -1};
static int hold_fd[3] = {-1, -1, -1};

typedef struct upstream_def {
    const char *name;
    const char *method; /* "" or "least_conn;" */
    int n;
    uint32_t weight[6];
    int hold; /* 1: servers are our silent listeners */
} upstream_def;

static const upstream_def ups[] = {
    {"swrr511", "", 3, {5, 1, 1}, 0},
    {"swrr3214", "", 4, {3, 2, 1, 4}, 0},
    {"swrr_equal", "", 3, {1, 1, 1}, 0},
    {"swrr_big", "", 6, {10, 7, 3, 1, 1, 2}, 0},
    {"lc_seq", "least_conn;", 4, {3, 2, 1, 4}, 0},
    {"lc_hold", "least_conn;", 3, {1, 2, 3}, 1},
};
#define NUPS (int)(sizeof ups / sizeof ups[0])

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_request(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/%s", name);
    return test_http_send(0, FRONT_PORT, path);
}

/* One sequential request; returns the backend port from the body, or -1. */
static int request_port(const char *name)
{
    char buf[2048];
    const char *body;
    int fd = send_request(name);
    if (fd < 0 || test_http_read(fd, buf, sizeof buf, &body) != 200)
        return -1;
    return atoi(body);
}

static void stop_nginx(void)
{
    test_nginx_stop(&nginx);
    for (int i = 0; i < 3; i++)
        if (hold_fd[i] >= 0) {
            close(hold_fd[i]);
            hold_fd[i] = -1;
        }
}

static int start_nginx(void)
{
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(stop_nginx); /* also on a failed assertion */
    }
    if (test_nginx_prepare(&nginx, "balancer-nginx") != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if ((hold_fd[i] = listen_on(HOLD_BASE + i)) < 0)
            return -1;
    char conf[8192];
    size_t o = 0;
    o += (size_t)snprintf(conf + o, sizeof conf - o, "  server {\n");
    for (int p = 0; p < 6; p++)
        o += (size_t)snprintf(conf + o, sizeof conf - o, "    listen 127.0.0.1:%d;\n", RET_BASE + p);
    o += (size_t)snprintf(conf + o, sizeof conf - o, "    return 200 $server_port;\n  }\n");
    for (int u = 0; u < NUPS; u++) {
        o += (size_t)snprintf(conf + o, sizeof conf - o, "  upstream %s {\n    %s\n", ups[u].name,
                              ups[u].method);
        for (int i = 0; i < ups[u].n; i++)
            o += (size_t)snprintf(conf + o, sizeof conf - o, "    server 127.0.0.1:%d weight=%u;\n",
                                  (ups[u].hold ? HOLD_BASE : RET_BASE) + i,
                                  (unsigned)ups[u].weight[i]);
        o += (size_t)snprintf(conf + o, sizeof conf - o, "  }\n");
    }
    o += (size_t)snprintf(conf + o, sizeof conf - o, "  server {\n    listen 127.0.0.1:%d;\n",
                          FRONT_PORT);
    for (int u = 0; u < NUPS; u++)
        o += (size_t)snprintf(conf + o, sizeof conf - o,
                              "    location = /%s { proxy_pass http://%s; proxy_read_timeout 30s; "
                              "proxy_next_upstream off; }\n",
                              ups[u].name, ups[u].name);
    o += (size_t)snprintf(conf + o, sizeof conf - o, "  }\n");
    if (o >= sizeof conf - 1)
        return -1;
    return test_nginx_start(&nginx, conf, FRONT_PORT);
}

static gwlb_balancer *our_balancer(gwlb_balancer_state **st, const upstream_def *u, int alg)
{
    gwlb_balancer_host h[6];
    char ids[6][32];
    for (int i = 0; i < u->n; i++) {
        snprintf(ids[i], sizeof ids[i], "127.0.0.1:%d", (u->hold ? HOLD_BASE : RET_BASE) + i);
        gwlb_balancer_host_init(&h[i], ids[i]);
        h[i].weight = u->weight[i];
    }
    ck_assert_int_eq(gwlb_balancer_state_new(16, NULL, st), GWLB_OK);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, (uint32_t)u->n, *st, 0, &b, NULL), GWLB_OK);
    return b;
}

static void compare_sequential(int ui, int alg)
{
    const upstream_def *u = &ups[ui];
    gwlb_balancer_state *st;
    gwlb_balancer *b = our_balancer(&st, u, alg);
    char theirs[NREQ + 1], ours[NREQ + 1];
    for (int i = 0; i < NREQ; i++) {
        int port = request_port(u->name);
        ck_assert_msg(port >= RET_BASE && port < RET_BASE + u->n, "%s: bad port %d", u->name, port);
        theirs[i] = (char)('a' + port - RET_BASE);
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        ours[i] = (char)('a' + r.host_index);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    }
    theirs[NREQ] = ours[NREQ] = 0;
    printf("%-10s nginx %s\n%-10s gwlb  %s\n", u->name, theirs, "", ours);
    ck_assert_str_eq(ours, theirs);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}

START_TEST(test_nginx_swrr_sequences_match)
{
    ck_assert_int_eq(start_nginx(), 0);
    compare_sequential(0, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    compare_sequential(1, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    compare_sequential(2, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    compare_sequential(3, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    /* least_conn with nothing in flight is all ties: smooth WRR among them */
    compare_sequential(4, GWLB_BALANCER_LEAST_CONN);
    stop_nginx();
}
END_TEST

START_TEST(test_nginx_least_conn_with_held_connections_matches)
{
    ck_assert_int_eq(start_nginx(), 0);
    const upstream_def *u = &ups[5];
    gwlb_balancer_state *st;
    gwlb_balancer *b = our_balancer(&st, u, GWLB_BALANCER_LEAST_CONN);
    enum { N = 12 };
    int client[N], backend[N];
    char theirs[N + 1], ours[N + 1];
    for (int i = 0; i < N; i++) {
        client[i] = send_request(u->name);
        ck_assert_int_ge(client[i], 0);
        /* which silent backend gets the connection? (bounded wait) */
        struct pollfd p[3];
        for (int k = 0; k < 3; k++)
            p[k] = (struct pollfd){hold_fd[k], POLLIN, 0};
        ck_assert_int_gt(poll(p, 3, 5000), 0);
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (p[k].revents & POLLIN)
                which = k;
        ck_assert_int_ge(which, 0);
        backend[i] = accept(hold_fd[which], NULL, NULL); /* keep it open: in flight */
        ck_assert_int_ge(backend[i], 0);
        theirs[i] = (char)('a' + which);
        gwlb_balancer_result r; /* not released: in flight, like nginx's */
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        ours[i] = (char)('a' + r.host_index);
    }
    theirs[N] = ours[N] = 0;
    printf("lc_hold    nginx %s\n           gwlb  %s\n", theirs, ours);
    ck_assert_str_eq(ours, theirs);
    for (int i = 0; i < N; i++) {
        close(backend[i]);
        close(client[i]);
    }
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
    stop_nginx();
}
END_TEST

int main(void)
{
    if (access(TEST_NGINX, X_OK) != 0) {
        printf("SKIP: %s not installed\n", TEST_NGINX);
        return 77;
    }
    Suite *s = suite_create("balancer_nginx");
    TCase *t = tcase_create("nginx");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_nginx_swrr_sequences_match);
    tcase_add_test(t, test_nginx_least_conn_with_held_connections_matches);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}
