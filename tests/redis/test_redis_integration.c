/*
 * Integration tests against the real Debian redis-server on 127.0.0.1
 * (ports 18500-18599, no persistence, a temporary directory, started and
 * killed by each test with bounded waits). The test is the host: it owns
 * the sockets, libgwlb writes the command bytes and reads the replies.
 *
 * Proves: SCRIPT LOAD answers our SHA1 constant; the Lua GCRA answers
 * redis-cell's published sequence and exactly what the local limiter
 * (gwlb_gcra_decide) answers on thousands of random pipelined calls; the
 * parser reads every RESP3 type the server really sends; NOSCRIPT falls
 * back to EVAL; CLUSTER KEYSLOT agrees with gwlb_redis_key_slot; 4 forked
 * gateways share one limit and admit exactly limit + rate x time; killing
 * Redis mid-run triggers the failure policy and a restart recovers.
 * Also prints pipelined decisions per second (a report, not a benchmark gate).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gwlb/redis.h"
#include "test_servers.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define EPOCH UINT64_C(1700000000000000000)
#define REDIS_BIN "/usr/bin/redis-server"

/* ---- the server ---------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
    char dir[64];
} server;

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static int tcp_connect(int port)
{
    int fd = test_loopback_connect(0, port);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {5, 0}; /* a bounded wait for every reply */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int ping_ok(int port)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return 0;
    char buf[16];
    int ok = send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 && recv(fd, buf, sizeof buf, 0) >= 7 &&
             memcmp(buf, "+PONG\r\n", 7) == 0;
    close(fd);
    return ok;
}

static void server_start_in(server *s, int port, const char *const *extra)
{
    s->port = port;
    if (s->dir[0] == 0) {
        strcpy(s->dir, "/tmp/gwlb-redis-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(s->dir));
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (chdir(s->dir) != 0)
            _exit(126);
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        const char *argv[24] = {"redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", s->dir};
        int n = 11;
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(REDIS_BIN, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 400; i++) { /* up to ~10 s */
        if (ping_ok(port))
            return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            ck_abort_msg("redis-server exited at start (port %d)", port);
        nap_ms(25);
    }
    ck_abort_msg("redis-server not ready on port %d", port);
}

static void server_start(server *s, int port)
{
    memset(s, 0, sizeof *s);
    server_start_in(s, port, NULL);
}

static void server_kill(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void server_stop(server *s)
{
    server_kill(s);
    char path[128];
    snprintf(path, sizeof path, "%s/nodes.conf", s->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/dump.rdb", s->dir);
    unlink(path);
    rmdir(s->dir);
}

/* ---- the host's connection ------------------------------------------------ */

typedef struct conn {
    int fd;
    size_t len;
    uint8_t buf[1 << 20];
} conn;

static conn *conn_new(int port)
{
    conn *c = calloc(1, sizeof *c);
    c->fd = tcp_connect(port);
    ck_assert_int_ge(c->fd, 0);
    return c;
}

static void conn_free(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static int conn_send(conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int conn_read(conn *c)
{
    if (c->len == sizeof c->buf)
        return -1;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    return 0;
}

static void conn_drop(conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Read one whole reply into v; the caller drops r->length afterwards. */
static int conn_reply(conn *c, gwlb_redis_value *v, size_t maxv, gwlb_redis_reply *r)
{
    gwlb_redis_parser p;
    gwlb_redis_parser_init(&p, NULL);
    for (;;) {
        int rc = gwlb_redis_parser_feed(&p, c->buf, c->len, v, maxv, r);
        if (rc != GWLB_EAGAIN)
            return rc;
        if (conn_read(c) != 0)
            return -1000;
    }
}

static int command(conn *c, gwlb_redis_value *v, size_t maxv, gwlb_redis_reply *r, uint32_t argc,
                   const char **argv)
{
    uint8_t out[4096];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_command(out, sizeof out, &n, argc,
                                               (const void *const *)argv, NULL),
                     GWLB_OK);
    if (conn_send(c, out, n) != 0)
        return -1000;
    return conn_reply(c, v, maxv, r);
}

/* Send a buffer of n script calls, decode n answers in order. */
static int calls(conn *c, const uint8_t *out, size_t len, gwlb_redis_gcra_answer *a, size_t n)
{
    if (conn_send(c, out, len) != 0)
        return -1000;
    size_t done = 0;
    while (done < n) {
        size_t used = 0, got = 0;
        int rc = gwlb_redis_decode_gcra_batch(c->buf, c->len, &used, a + done, n - done, &got);
        conn_drop(c, used);
        done += got;
        if (rc == GWLB_OK)
            break;
        if (rc != GWLB_EAGAIN)
            return rc;
        if (conn_read(c) != 0)
            return -1000;
    }
    return GWLB_OK;
}

static void load_script(conn *c)
{
    static uint8_t out[8192];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_script_load(out, sizeof out, &n), GWLB_OK);
    ck_assert_int_eq(conn_send(c, out, n), 0);
    gwlb_redis_value v[4];
    gwlb_redis_reply r;
    ck_assert_int_eq(conn_reply(c, v, 4, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_BULK_STRING);
    ck_assert_uint_eq(v[0].length, 40);
    ck_assert_int_eq(memcmp(c->buf + v[0].offset, GWLB_REDIS_GCRA_SHA1, 40), 0);
    conn_drop(c, r.length);
}

/* One decision through Redis. */
static gwlb_redis_gcra_answer one(conn *c, const gwlb_gcra_config *g, const char *key,
                                  uint64_t cost, uint64_t now, uint32_t flags)
{
    uint8_t out[8192];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_gcra(out, sizeof out, &n, g, key, strlen(key), cost, now,
                                            flags),
                     GWLB_OK);
    gwlb_redis_gcra_answer a;
    ck_assert_int_eq(calls(c, out, n, &a, 1), GWLB_OK);
    return a;
}

/* ---- script and protocol ------------------------------------------------- */

START_TEST(test_script_load_answers_the_sha1_constant)
{
    server s;
    server_start(&s, 18501);
    conn *c = conn_new(s.port);
    load_script(c);
    conn_free(c);
    server_stop(&s);
}
END_TEST

/* brandur/redis-cell src/cell/mod.rs it_rate_limits: limit 5 (burst 4), 1/s */
static const struct {
    uint64_t at_ms, cost, remaining, reset_ms;
    int64_t retry_ms;
    int limited;
} cell[] = {
    {0, 6, 5, 0, -1, 1},       {0, 1, 4, 1000, -1, 0},    {0, 1, 3, 2000, -1, 0},
    {0, 1, 2, 3000, -1, 0},    {0, 1, 1, 4000, -1, 0},    {0, 1, 0, 5000, -1, 0},
    {0, 1, 0, 5000, 1000, 1},  {3000, 1, 2, 3000, -1, 0}, {3100, 1, 1, 3900, -1, 0},
    {4000, 1, 1, 4000, -1, 0}, {8000, 1, 4, 1000, -1, 0}, {9500, 1, 4, 1000, -1, 0},
    {9500, 0, 4, 1000, -1, 0}, {9500, 2, 2, 3000, -1, 0}, {9500, 5, 2, 3000, 3000, 1},
};

START_TEST(test_lua_gcra_reproduces_redis_cell_sequence)
{
    server s;
    server_start(&s, 18502);
    conn *c = conn_new(s.port);
    load_script(c);
    gwlb_gcra_config g;
    ck_assert_int_eq(gwlb_gcra_config_init(&g, 1, SEC, 4), GWLB_OK);
    for (size_t i = 0; i < sizeof cell / sizeof cell[0]; i++) {
        gwlb_redis_gcra_answer a = one(c, &g, "cell", cell[i].cost, EPOCH + cell[i].at_ms * MS, 0);
        ck_assert_int_eq(a.status, GWLB_OK);
        ck_assert_msg(a.result.allowed == !cell[i].limited, "case %zu", i);
        ck_assert_uint_eq(a.result.limit, 5);
        ck_assert_msg(a.result.remaining == cell[i].remaining, "case %zu remaining %llu", i,
                      (unsigned long long)a.result.remaining);
        ck_assert_uint_eq(a.result.reset_after_ns, cell[i].reset_ms * MS);
        ck_assert_int_eq(a.result.retry_after_ns,
                         cell[i].retry_ms < 0 ? -1 : cell[i].retry_ms * (int64_t)MS);
    }
    /* README example: CL.THROTTLE user123 15 30 60 -> 0 16 15 -1 2 */
    gwlb_gcra_config r;
    ck_assert_int_eq(gwlb_gcra_config_init(&r, 30, 60 * SEC, 15), GWLB_OK);
    gwlb_redis_gcra_answer a = one(c, &r, "user123", 1, EPOCH, 0);
    int64_t reply[5];
    gwlb_gcra_throttle_reply(&a.result, reply);
    ck_assert_int_eq(reply[0], 0);
    ck_assert_int_eq(reply[1], 16);
    ck_assert_int_eq(reply[2], 15);
    ck_assert_int_eq(reply[3], -1);
    ck_assert_int_eq(reply[4], 2);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_lua_gcra_equals_local_limiter_on_random_pipelined_calls)
{
    server s;
    server_start(&s, 18503);
    conn *c = conn_new(s.port);
    load_script(c);
    gwlb_rng rng;
    gwlb_rng_seed(&rng, 42);
    /* (count, period) pairs: whole and fractional intervals, sub-microsecond T */
    static const uint64_t rates[][3] = {
        {1, SEC, 4},        {3, SEC, 0},          {7, 60 * SEC, 10},
        {1000, SEC, 99},    {3, 1000, 2},         {2000000, SEC, 1000},
        {1, 3600 * SEC, 5}, {999, 7 * SEC, 3},
    };
    static uint8_t out[1 << 16];
    size_t total_calls = 0, admitted = 0;
    uint64_t start = mono_ns();
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        gwlb_gcra_config g;
        ck_assert_int_eq(gwlb_gcra_config_init(&g, rates[ri][0], rates[ri][1], rates[ri][2]),
                         GWLB_OK);
        uint64_t tat[4] = {0, 0, 0, 0}; /* local copies of 4 keys */
        char keys[4][32];
        for (int k = 0; k < 4; k++)
            snprintf(keys[k], sizeof keys[k], "eq:{%zu}:%d", ri, k);
        uint64_t now = EPOCH + gwlb_rng_below(&rng, SEC);
        for (int round = 0; round < 20; round++) {
            /* simulated time never runs slower than real time, which runs the TTLs */
            uint64_t floor = EPOCH + mono_ns() - start;
            if (now < floor)
                now = floor;
            gwlb_redis_gcra_call call[64];
            gwlb_limit_result want[64];
            uint64_t want_tat[64];
            size_t n = 64;
            uint64_t when[64];
            for (size_t i = 0; i < n; i++) {
                int k = (int)gwlb_rng_below(&rng, 4);
                /* time moves by 0..3 intervals; sometimes a long idle gap */
                uint64_t step = gwlb_rng_below(&rng, 4) * g.emission_ns +
                                gwlb_rng_below(&rng, g.emission_ns);
                if (gwlb_rng_below(&rng, 50) == 0)
                    step += g.tolerance_ns * 2;
                now += step / 4;
                when[i] = now;
                uint64_t cost = gwlb_rng_below(&rng, 10) == 0 ? gwlb_rng_below(&rng, g.limit + 3)
                                                              : 1;
                call[i] = (gwlb_redis_gcra_call){&g, keys[k], strlen(keys[k]), cost, 0};
                gwlb_gcra_decide(&g, tat[k], now, cost, &want[i], &tat[k]);
                want_tat[i] = tat[k];
            }
            /* one pipeline per round, each call with its own time */
            size_t len = 0;
            for (size_t i = 0; i < n; i++) {
                size_t w;
                ck_assert_int_eq(gwlb_redis_encode_gcra(out + len, sizeof out - len, &w,
                                                        call[i].config, call[i].key,
                                                        call[i].key_len, call[i].cost, when[i], 0),
                                 GWLB_OK);
                len += w;
            }
            gwlb_redis_gcra_answer a[64];
            ck_assert_int_eq(calls(c, out, len, a, n), GWLB_OK);
            for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(a[i].status, GWLB_OK);
                ck_assert_msg(memcmp(&a[i].result, &want[i], sizeof want[i]) == 0,
                              "rate %zu round %d call %zu: allowed %d/%d remaining %llu/%llu "
                              "reset %llu/%llu retry %lld/%lld",
                              ri, round, i, a[i].result.allowed, want[i].allowed,
                              (unsigned long long)a[i].result.remaining,
                              (unsigned long long)want[i].remaining,
                              (unsigned long long)a[i].result.reset_after_ns,
                              (unsigned long long)want[i].reset_after_ns,
                              (long long)a[i].result.retry_after_ns,
                              (long long)want[i].retry_after_ns);
                if (want_tat[i] != 0)
                    ck_assert_uint_eq(a[i].tat, want_tat[i]);
                admitted += (size_t)want[i].allowed;
            }
            total_calls += n;
        }
    }
    printf("lua vs local limiter: %zu calls, %zu admitted, all fields equal\n", total_calls,
           admitted);
    ck_assert_uint_gt(admitted, 0);
    ck_assert_uint_lt(admitted, total_calls);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_all_or_nothing_script_equals_local_allow_all)
{
    server s;
    server_start(&s, 18515);
    conn *c = conn_new(s.port);
    static uint8_t out[1 << 16];
    size_t n;
    ck_assert_int_eq(gwlb_redis_encode_script_load_all(out, sizeof out, &n), GWLB_OK);
    ck_assert_int_eq(conn_send(c, out, n), 0);
    gwlb_redis_value v[4];
    gwlb_redis_reply r;
    ck_assert_int_eq(conn_reply(c, v, 4, &r), GWLB_OK);
    ck_assert_uint_eq(v[0].length, 40);
    ck_assert_int_eq(memcmp(c->buf + v[0].offset, GWLB_REDIS_GCRA_ALL_SHA1, 40), 0);
    conn_drop(c, r.length);

    /* per client (5/s burst 4), per route of 2 (20/s burst 9), global (30/s burst 14) */
    gwlb_gcra_config cfg[3];
    gwlb_gcra_config_init(&cfg[0], 5, SEC, 4);
    gwlb_gcra_config_init(&cfg[1], 20, SEC, 9);
    gwlb_gcra_config_init(&cfg[2], 30, SEC, 14);
    gwlb_limiter_policy pol[3];
    memset(pol, 0, sizeof pol);
    for (int i = 0; i < 3; i++) {
        pol[i].kind = GWLB_LIMITER_GCRA;
        pol[i].u.gcra = cfg[i];
    }
    uint64_t client_tat[16] = {0}, route_tat[2] = {0, 0}, global_tat = 0;
    char client_key[16][24];
    for (int i = 0; i < 16; i++)
        snprintf(client_key[i], sizeof client_key[i], "{t}:client:%d", i);
    gwlb_rng rng;
    gwlb_rng_seed(&rng, 9);
    uint64_t now = EPOCH + mono_ns();
    size_t rejected_at[3] = {0, 0, 0}, admitted = 0;
    for (int round = 0; round < 40; round++) {
        size_t len = 0;
        gwlb_limit_result want[50];
        int32_t want_index[50];
        for (int i = 0; i < 50; i++) {
            int cl = (int)gwlb_rng_below(&rng, 16);
            int rt = gwlb_rng_below(&rng, 5) == 0; /* 80% of the traffic on route 0 */
            uint64_t cost = gwlb_rng_below(&rng, 8) == 0 ? gwlb_rng_below(&rng, 4) : 1;
            now += gwlb_rng_below(&rng, 15 * MS);
            gwlb_redis_gcra_key keys[3] = {{&cfg[0], client_key[cl], strlen(client_key[cl])},
                                           {&cfg[1], rt ? "{t}:route1" : "{t}:route0", 10},
                                           {&cfg[2], "{t}:global", 10}};
            size_t w;
            ck_assert_int_eq(gwlb_redis_encode_gcra_all(out + len, sizeof out - len, &w, keys, 3,
                                                        cost, now, 0),
                             GWLB_OK);
            len += w;
            gwlb_limit_ref refs[3] = {{&pol[0], &client_tat[cl]}, {&pol[1], &route_tat[rt]},
                                      {&pol[2], &global_tat}};
            ck_assert_int_eq(gwlb_limiter_allow_all(refs, 3, now, cost, &want[i], &want_index[i]),
                             GWLB_OK);
        }
        ck_assert_int_eq(conn_send(c, out, len), 0);
        for (int i = 0; i < 50; i++) {
            gwlb_redis_gcra_answer a;
            int32_t idx = 7;
            size_t used = 0;
            int rc;
            while ((rc = gwlb_redis_decode_gcra_all(c->buf, c->len, &used, &a, &idx)) ==
                   GWLB_EAGAIN)
                ck_assert_int_eq(conn_read(c), 0);
            ck_assert_int_eq(rc, GWLB_OK);
            conn_drop(c, used);
            ck_assert_int_eq(idx, want_index[i]);
            ck_assert_msg(memcmp(&a.result, &want[i], sizeof want[i]) == 0,
                          "round %d request %d: allowed %d/%d remaining %llu/%llu", round, i,
                          a.result.allowed, want[i].allowed,
                          (unsigned long long)a.result.remaining,
                          (unsigned long long)want[i].remaining);
            if (idx >= 0)
                rejected_at[idx]++;
            else
                admitted++;
        }
    }
    printf("all-or-nothing (client, route, global) vs gwlb_limiter_allow_all: 2000 requests, "
           "%zu admitted, rejected by client %zu, route %zu, global %zu; all equal\n",
           admitted, rejected_at[0], rejected_at[1], rejected_at[2]);
    ck_assert_uint_gt(rejected_at[0], 0);
    ck_assert_uint_gt(rejected_at[1], 0);
    ck_assert_uint_gt(rejected_at[2], 0);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_noscript_is_enoent_and_eval_fallback_recovers)
{
    server s;
    server_start(&s, 18504);
    conn *c = conn_new(s.port);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 10, SEC, 1);
    gwlb_redis_gcra_answer a = {0};
    uint8_t out[8192];
    size_t n;
    gwlb_redis_encode_gcra(out, sizeof out, &n, &g, "ns", 2, 1, EPOCH, 0);
    ck_assert_int_eq(calls(c, out, n, &a, 1), GWLB_OK); /* the batch decodes... */
    ck_assert_int_eq(a.status, GWLB_ENOENT);            /* ...into NOSCRIPT */
    a = one(c, &g, "ns", 1, EPOCH, GWLB_REDIS_GCRA_EVAL);
    ck_assert_int_eq(a.status, GWLB_OK);
    ck_assert_int_eq(a.result.allowed, 1);
    a = one(c, &g, "ns", 1, EPOCH, 0); /* EVAL cached the script: EVALSHA works */
    ck_assert_int_eq(a.status, GWLB_OK);
    ck_assert_uint_eq(a.result.remaining, 0);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_idle_keys_expire_with_the_bucket)
{
    server s;
    server_start(&s, 18505);
    conn *c = conn_new(s.port);
    load_script(c);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 1, SEC, 4); /* 1 s per request */
    gwlb_redis_gcra_answer a = one(c, &g, "ttl", 3, EPOCH, 0);
    ck_assert_uint_eq(a.result.reset_after_ns, 3 * SEC);
    gwlb_redis_value v[4];
    gwlb_redis_reply r;
    const char *pttl[] = {"PTTL", "ttl"};
    ck_assert_int_eq(command(c, v, 4, &r, 2, pttl), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_INTEGER);
    ck_assert_int_le(v[0].integer, 3000 + 1000); /* reset + 1 s of slack */
    ck_assert_int_gt(v[0].integer, 1000);
    conn_drop(c, r.length);
    const char *get[] = {"GET", "ttl"};
    ck_assert_int_eq(command(c, v, 4, &r, 2, get), GWLB_OK);
    ck_assert_uint_eq(v[0].length, 19);
    ck_assert_int_eq(memcmp(c->buf + v[0].offset, "1700000003000000000", 19), 0);
    conn_drop(c, r.length);
    /* a peek writes nothing; a limited request writes nothing */
    a = one(c, &g, "peek", 0, EPOCH, 0);
    ck_assert_int_eq(a.result.allowed, 1);
    ck_assert_uint_eq(a.tat, 0);
    const char *exists[] = {"EXISTS", "peek"};
    ck_assert_int_eq(command(c, v, 4, &r, 2, exists), GWLB_OK);
    ck_assert_int_eq(v[0].integer, 0);
    conn_drop(c, r.length);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_server_time_mode_uses_redis_clock)
{
    server s;
    server_start(&s, 18506);
    conn *c = conn_new(s.port);
    load_script(c);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 1, 60 * SEC, 2);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
    gwlb_redis_gcra_answer a = one(c, &g, "st", 1, 0, GWLB_REDIS_GCRA_SERVER_TIME);
    ck_assert_int_eq(a.status, GWLB_OK);
    ck_assert_int_eq(a.result.allowed, 1);
    ck_assert_uint_eq(a.result.remaining, 2);
    ck_assert_uint_eq(a.result.reset_after_ns, 60 * SEC);
    /* TAT = Redis TIME + 60 s (same machine: within a few seconds of ours) */
    ck_assert_uint_ge(a.tat, wall + 60 * SEC - 5 * SEC);
    ck_assert_uint_le(a.tat, wall + 60 * SEC + 5 * SEC);
    ck_assert_uint_eq(a.tat % 1000, 0); /* microsecond resolution */
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_parser_reads_every_resp3_type_redis_sends)
{
    server s;
    memset(&s, 0, sizeof s);
    const char *extra[] = {"--enable-debug-command", "yes", NULL};
    server_start_in(&s, 18507, extra);
    conn *c = conn_new(s.port);
    gwlb_redis_value v[64];
    gwlb_redis_reply r;
    const char *hello[] = {"HELLO", "3"};
    ck_assert_int_eq(command(c, v, 64, &r, 2, hello), GWLB_OK);
    ck_assert_uint_eq(v[0].type, GWLB_REDIS_MAP);
    ck_assert_uint_eq(v[1].length, 6);
    ck_assert_int_eq(memcmp(c->buf + v[1].offset, "server", 6), 0);
    conn_drop(c, r.length);
    static const struct {
        const char *what;
        uint8_t type;
    } kinds[] = {
        {"string", GWLB_REDIS_BULK_STRING}, {"integer", GWLB_REDIS_INTEGER},
        {"double", GWLB_REDIS_DOUBLE},      {"bignum", GWLB_REDIS_BIG_NUMBER},
        {"null", GWLB_REDIS_NULL},          {"array", GWLB_REDIS_ARRAY},
        {"set", GWLB_REDIS_SET},            {"map", GWLB_REDIS_MAP},
        {"attrib", GWLB_REDIS_ATTRIBUTE},   {"push", GWLB_REDIS_PUSH},
        {"verbatim", GWLB_REDIS_VERBATIM},  {"true", GWLB_REDIS_BOOLEAN},
        {"false", GWLB_REDIS_BOOLEAN},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *argv[] = {"DEBUG", "PROTOCOL", kinds[i].what};
        int rc = command(c, v, 64, &r, 3, argv);
        ck_assert_msg(rc == GWLB_OK, "%s: %d", kinds[i].what, rc);
        /* the first value is the announced type (attrib: the attribute itself) */
        ck_assert_msg(v[0].type == kinds[i].type, "%s: type %u", kinds[i].what, v[0].type);
        if (kinds[i].type == GWLB_REDIS_PUSH) {
            /* a push is out of band: the command's own reply follows */
            conn_drop(c, r.length);
            ck_assert_int_eq(conn_reply(c, v, 64, &r), GWLB_OK);
        }
        if (i == 2)
            ck_assert(v[0].number > 3.14 && v[0].number < 3.15);
        if (i == 11)
            ck_assert_int_eq(v[0].integer, 1);
        conn_drop(c, r.length);
    }
    /* and the GCRA answers decode the same under RESP3 */
    load_script(c);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 1, SEC, 4);
    gwlb_redis_gcra_answer a = one(c, &g, "r3", 1, EPOCH, 0);
    ck_assert_int_eq(a.status, GWLB_OK);
    ck_assert_uint_eq(a.result.remaining, 4);
    ck_assert_uint_eq(a.tat, EPOCH + SEC);
    conn_free(c);
    server_stop(&s);
}
END_TEST

START_TEST(test_key_slot_equals_cluster_keyslot)
{
    server s;
    memset(&s, 0, sizeof s);
    const char *extra[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           NULL};
    server_start_in(&s, 18508, extra);
    conn *c = conn_new(s.port);
    static const char *const keys[] = {"123456789", "rl:{user42}:route:7", "foo{}{bar}",
                                       "foo{{bar}}zap", "{user1000}.following", "a", "",
                                       "x{y}z{w}"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        gwlb_redis_value v[4];
        gwlb_redis_reply r;
        const char *argv[] = {"CLUSTER", "KEYSLOT", keys[i]};
        ck_assert_int_eq(command(c, v, 4, &r, 3, argv), GWLB_OK);
        ck_assert_uint_eq(v[0].type, GWLB_REDIS_INTEGER);
        ck_assert_msg(v[0].integer == gwlb_redis_key_slot(keys[i], strlen(keys[i])), "key %s",
                      keys[i]);
        conn_drop(c, r.length);
    }
    conn_free(c);
    server_stop(&s);
}
END_TEST

/* ---- 4 gateways ----------------------------------------------------------- */

#define GATEWAYS 4
#define STEPS 1000 /* 10 ms each: 10 s of simulated time */
#define STEP_MS 10

typedef struct shared_run {
    pthread_barrier_t barrier;
    uint64_t admitted[GATEWAYS];
    uint64_t remote[GATEWAYS];
    int failed[GATEWAYS];
} shared_run;

/*
 * One gateway: every step (all gateways at the same simulated `now`, kept
 * in step by a process-shared barrier) it offers 2 requests. share 0 asks
 * Redis every time; share > 0 is the hybrid mode syncing every sync_steps.
 */
static void gateway(shared_run *run, int id, int port, uint64_t share, int sync_steps)
{
    conn *c = conn_new(port);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 100, SEC, 9); /* T = 10 ms, limit 10 */
    gwlb_redis_limit_config cfg;
    gwlb_redis_limit_config_init(&cfg, &g, share, 0, GWLB_REDIS_FAIL_CLOSED);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    static uint8_t out[8192];
    for (int step = 0; step < STEPS; step++) {
        pthread_barrier_wait(&run->barrier);
        uint64_t now = EPOCH + (uint64_t)step * STEP_MS * MS;
        if (share != 0 && step % sync_steps == id % sync_steps) {
            size_t n;
            uint64_t taken;
            gwlb_redis_gcra_answer a;
            gwlb_redis_limit_encode_sync(&cfg, &l, out, sizeof out, &n, "gw", 2, now, 0, &taken);
            if (calls(c, out, n, &a, 1) != GWLB_OK ||
                gwlb_redis_limit_merge(&cfg, &l, now, &a, NULL, NULL) != GWLB_OK)
                run->failed[id]++;
        }
        for (int req = 0; req < 2; req++) {
            gwlb_limit_result res;
            uint32_t verdict;
            gwlb_redis_limit_allow(&cfg, &l, now, 1, NULL, &res, &verdict);
            if (verdict == GWLB_REDIS_ASK_REDIS) {
                size_t n;
                uint64_t taken;
                uint32_t replies;
                gwlb_redis_gcra_answer a[2];
                gwlb_redis_limit_encode_remote(&cfg, &l, out, sizeof out, &n, "gw", 2, now, 1, 0,
                                               &taken, &replies);
                if (calls(c, out, n, a, replies) != GWLB_OK) {
                    run->failed[id]++;
                    continue;
                }
                for (uint32_t k = 0; k + 1 < replies; k++)
                    gwlb_redis_limit_merge(&cfg, &l, now, &a[k], NULL, NULL);
                if (gwlb_redis_limit_merge(&cfg, &l, now, &a[replies - 1], NULL, &res) != GWLB_OK)
                    run->failed[id]++;
                run->remote[id]++;
            }
            run->admitted[id] += (uint64_t)res.allowed;
        }
        /* everyone's requests of this step are done before time moves on */
        pthread_barrier_wait(&run->barrier);
    }
    conn_free(c);
}

static uint64_t run_gateways(int port, uint64_t share, int sync_steps, uint64_t *remote)
{
    shared_run *run = mmap(NULL, sizeof *run, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
    ck_assert_ptr_ne(run, MAP_FAILED);
    memset(run, 0, sizeof *run);
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&run->barrier, &attr, GATEWAYS);
    pid_t pids[GATEWAYS];
    for (int i = 0; i < GATEWAYS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            gateway(run, i, port, share, sync_steps);
            _exit(0);
        }
    }
    for (int i = 0; i < GATEWAYS; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    uint64_t total = 0;
    *remote = 0;
    for (int i = 0; i < GATEWAYS; i++) {
        ck_assert_int_eq(run->failed[i], 0);
        total += run->admitted[i];
        *remote += run->remote[i];
    }
    pthread_barrier_destroy(&run->barrier);
    munmap(run, sizeof *run);
    return total;
}

START_TEST(test_four_gateways_share_one_limit_exactly)
{
    server s;
    server_start(&s, 18509);
    conn *c = conn_new(s.port);
    load_script(c);
    conn_free(c);
    uint64_t remote = 0;
    uint64_t total = run_gateways(s.port, 0, 1, &remote);
    /* limit 10 at once, then one per 10 ms for the remaining 9.99 s */
    printf("4 gateways, exact mode: admitted %llu of %d offered (limit 10 + 100/s x 9.99 s = "
           "1009), %llu Redis calls\n",
           (unsigned long long)total, GATEWAYS * 2 * STEPS, (unsigned long long)remote);
    ck_assert_uint_eq(total, 10 + 999);
    /* requests the local view already knows to be over the limit never reach Redis */
    ck_assert_uint_le(remote, GATEWAYS * 2 * STEPS);
    ck_assert_uint_ge(remote, 1009);
    server_stop(&s);
}
END_TEST

START_TEST(test_four_gateways_hybrid_mode_stays_within_error_bound)
{
    server s;
    server_start(&s, 18510);
    conn *c = conn_new(s.port);
    load_script(c);
    conn_free(c);
    static const uint64_t shares[] = {2, 5};
    for (size_t i = 0; i < 2; i++) {
        const char *flush[] = {"FLUSHALL"};
        conn *f = conn_new(s.port);
        gwlb_redis_value v[2];
        gwlb_redis_reply r;
        ck_assert_int_eq(command(f, v, 2, &r, 1, flush), GWLB_OK);
        conn_free(f);
        uint64_t remote = 0;
        uint64_t total = run_gateways(s.port, shares[i], 5, &remote);
        printf("4 gateways, hybrid share %llu, sync every 50 ms: admitted %llu (exact 1009, "
               "bound %llu), %llu of %d decisions went to Redis\n",
               (unsigned long long)shares[i], (unsigned long long)total,
               (unsigned long long)(1009 + GATEWAYS * shares[i]), (unsigned long long)remote,
               GATEWAYS * 2 * STEPS);
        ck_assert_uint_le(total, 1009 + GATEWAYS * shares[i]);
        ck_assert_uint_ge(total, 1009 - 10);
        ck_assert_uint_lt(remote, GATEWAYS * 2 * STEPS);
    }
    server_stop(&s);
}
END_TEST

/* ---- Redis dies and comes back --------------------------------------------- */

typedef struct outage_result {
    uint64_t admitted_before, admitted_during, admitted_after;
    gwlb_redis_stats stats;
    uint64_t tat_before_restart;
    uint64_t tat_after_restart;
} outage_result;

/*
 * One gateway, exact mode (share 0) plus periodic syncs: 3000 steps of
 * 1 ms; Redis is SIGKILLed at step 1000 and restarted (empty: no
 * persistence, no script cache) at step 2000. The host reconnects when a
 * call fails and reports failures to libgwlb.
 */
static outage_result outage(int port, uint32_t policy)
{
    server s;
    server_start(&s, port);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 100, SEC, 9);
    gwlb_redis_limit_config cfg;
    gwlb_redis_limit_config_init(&cfg, &g, 0, 0, policy);
    gwlb_redis_limit l;
    gwlb_redis_limit_init(&l);
    outage_result out;
    memset(&out, 0, sizeof out);
    conn *c = conn_new(port);
    static uint8_t buf[8192];
    uint32_t eval = 0;
    for (uint64_t t = 0; t < 3000; t++) {
        uint64_t now = EPOCH + t * MS;
        if (t == 1000)
            server_kill(&s);
        if (t == 2000) {
            out.tat_before_restart = l.tat;
            server_start_in(&s, port, NULL);
        }
        if (c == NULL) { /* reconnect: refused at once while the server is down */
            int fd = tcp_connect(port);
            if (fd >= 0) {
                c = calloc(1, sizeof *c);
                c->fd = fd;
            }
        }
        gwlb_limit_result res;
        uint32_t verdict;
        gwlb_redis_limit_allow(&cfg, &l, now, 1, &out.stats, &res, &verdict);
        if (verdict == GWLB_REDIS_ASK_REDIS) {
            int ok = 0;
            for (int attempt = 0; attempt < 2 && c != NULL && !ok; attempt++) {
                size_t n;
                uint64_t taken;
                uint32_t replies;
                gwlb_redis_gcra_answer a[2];
                gwlb_redis_limit_encode_remote(&cfg, &l, buf, sizeof buf, &n, "out", 3, now, 1,
                                               eval, &taken, &replies);
                if (calls(c, buf, n, a, replies) != GWLB_OK) {
                    gwlb_redis_limit_restore(&l, taken);
                    conn_free(c);
                    c = NULL;
                    break;
                }
                if (a[0].status == GWLB_ENOENT) { /* restarted server: empty script cache */
                    gwlb_redis_limit_restore(&l, taken);
                    eval = GWLB_REDIS_GCRA_EVAL;
                    continue;
                }
                eval = 0;
                for (uint32_t k = 0; k + 1 < replies; k++)
                    gwlb_redis_limit_merge(&cfg, &l, now, &a[k], &out.stats, NULL);
                ok = gwlb_redis_limit_merge(&cfg, &l, now, &a[replies - 1], &out.stats, &res) ==
                     GWLB_OK;
            }
            if (!ok)
                gwlb_redis_limit_failed(&cfg, &l, now, 1, &out.stats, &res);
        }
        uint64_t *bucket = t < 1000 ? &out.admitted_before
                           : t < 2000 ? &out.admitted_during
                                      : &out.admitted_after;
        *bucket += (uint64_t)res.allowed;
    }
    out.tat_after_restart = l.tat;
    if (c != NULL)
        conn_free(c);
    server_stop(&s);
    return out;
}

START_TEST(test_redis_killed_fail_closed_rejects_then_recovers)
{
    outage_result r = outage(18511, GWLB_REDIS_FAIL_CLOSED);
    printf("outage fail-closed: admitted %llu before, %llu during, %llu after restart; "
           "failures %llu\n",
           (unsigned long long)r.admitted_before, (unsigned long long)r.admitted_during,
           (unsigned long long)r.admitted_after, (unsigned long long)r.stats.failures);
    ck_assert_uint_eq(r.admitted_before, 10 + 99);
    ck_assert_uint_eq(r.admitted_during, 0);
    ck_assert_uint_eq(r.stats.failed_closed, 1000);
    ck_assert_uint_eq(r.stats.failures, 1000);
    /* a fresh (empty) Redis: a full burst, then the rate */
    ck_assert_uint_eq(r.admitted_after, 10 + 99);
    /* local state survived the outage untouched */
    ck_assert_uint_eq(r.tat_before_restart, EPOCH + 1090 * MS);
}
END_TEST

START_TEST(test_redis_killed_fail_open_admits_then_recovers)
{
    outage_result r = outage(18512, GWLB_REDIS_FAIL_OPEN);
    ck_assert_uint_eq(r.admitted_before, 10 + 99);
    ck_assert_uint_eq(r.admitted_during, 1000);
    ck_assert_uint_eq(r.stats.failed_open, 1000);
    ck_assert_uint_eq(r.admitted_after, 10 + 99);
    ck_assert_uint_eq(r.tat_before_restart, EPOCH + 1090 * MS);
}
END_TEST

START_TEST(test_redis_killed_fail_local_keeps_pace_and_charges_backlog)
{
    outage_result r = outage(18513, GWLB_REDIS_FAIL_LOCAL);
    printf("outage fail-local: admitted %llu before, %llu during, %llu after restart\n",
           (unsigned long long)r.admitted_before, (unsigned long long)r.admitted_during,
           (unsigned long long)r.admitted_after);
    ck_assert_uint_eq(r.admitted_before, 10 + 99);
    /* the local bucket continues at the same pace: one per 10 ms */
    ck_assert_uint_eq(r.admitted_during, 100);
    ck_assert_uint_eq(r.stats.fallback_admitted, 100);
    ck_assert_uint_eq(r.stats.fallback_rejected, 0); /* known full: rejected before asking */
    ck_assert_uint_eq(r.tat_before_restart, EPOCH + 2090 * MS);
    /* the restarted Redis is empty (no persistence): the backlog is charged at
       its start time (TAT 1000 ms + 100 x 10 ms = 2000 ms = now), so the
       bucket is full again, as for every key a restart loses: 10 + 99 */
    ck_assert_uint_eq(r.admitted_after, 10 + 99);
    ck_assert_uint_eq(r.stats.failures, 100);
}
END_TEST

/* ---- throughput report ------------------------------------------------------ */

START_TEST(test_pipelined_decisions_per_second_report)
{
    server s;
    server_start(&s, 18514);
    conn *c = conn_new(s.port);
    load_script(c);
    gwlb_gcra_config g;
    gwlb_gcra_config_init(&g, 1000000, SEC, 1000);
    static uint8_t out[1 << 18];
    static const size_t depths[] = {1, 16, 128};
    char keys[256][16];
    for (int k = 0; k < 256; k++)
        snprintf(keys[k], sizeof keys[k], "tp:%d", k);
    uint64_t now = EPOCH;
    for (size_t d = 0; d < 3; d++) {
        size_t depth = depths[d];
        uint64_t decisions = 0, admitted = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int round = 0; decisions < 20000; round++) {
            gwlb_redis_gcra_call call[128];
            for (size_t i = 0; i < depth; i++)
                call[i] = (gwlb_redis_gcra_call){&g, keys[(decisions + i) % 256],
                                                 strlen(keys[(decisions + i) % 256]), 1, 0};
            size_t n;
            ck_assert_int_eq(gwlb_redis_encode_gcra_batch(out, sizeof out, &n, call, depth, now, 0),
                             GWLB_OK);
            gwlb_redis_gcra_answer a[128];
            ck_assert_int_eq(calls(c, out, n, a, depth), GWLB_OK);
            for (size_t i = 0; i < depth; i++) {
                ck_assert_int_eq(a[i].status, GWLB_OK);
                admitted += (uint64_t)a[i].result.allowed;
            }
            decisions += depth;
            now += MS;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("redis pipelined GCRA: depth %3zu: %llu decisions in %.3f s = %.0f decisions/s "
               "(%.1f us each)\n",
               depth, (unsigned long long)decisions, secs, (double)decisions / secs,
               secs * 1e6 / (double)decisions);
        ck_assert_uint_eq(admitted, decisions); /* 1M/s with burst 1000: all admitted */
    }
    conn_free(c);
    server_stop(&s);
}
END_TEST

Suite *redis_integration_suite(void);
Suite *redis_integration_suite(void)
{
    Suite *s = suite_create("redis_integration");
    TCase *tc = tcase_create("script");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_script_load_answers_the_sha1_constant);
    tcase_add_test(tc, test_lua_gcra_reproduces_redis_cell_sequence);
    tcase_add_test(tc, test_lua_gcra_equals_local_limiter_on_random_pipelined_calls);
    tcase_add_test(tc, test_all_or_nothing_script_equals_local_allow_all);
    tcase_add_test(tc, test_noscript_is_enoent_and_eval_fallback_recovers);
    tcase_add_test(tc, test_idle_keys_expire_with_the_bucket);
    tcase_add_test(tc, test_server_time_mode_uses_redis_clock);
    tcase_add_test(tc, test_parser_reads_every_resp3_type_redis_sends);
    tcase_add_test(tc, test_key_slot_equals_cluster_keyslot);
    suite_add_tcase(s, tc);
    tc = tcase_create("fleet");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_four_gateways_share_one_limit_exactly);
    tcase_add_test(tc, test_four_gateways_hybrid_mode_stays_within_error_bound);
    tcase_add_test(tc, test_redis_killed_fail_closed_rejects_then_recovers);
    tcase_add_test(tc, test_redis_killed_fail_open_admits_then_recovers);
    tcase_add_test(tc, test_redis_killed_fail_local_keeps_pace_and_charges_backlog);
    tcase_add_test(tc, test_pipelined_decisions_per_second_report);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* one run at a time on this machine: the ports are fixed (18501-18515) */
    int lock = open("/tmp/gwlb-redis-integration.lock", O_RDWR | O_CREAT, 0666);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    SRunner *sr = srunner_create(redis_integration_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (lock >= 0)
        close(lock); /* releases the lock */
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
