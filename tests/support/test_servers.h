/*
 * Real servers on loopback for the compatibility tests: start and stop
 * Debian's nginx (/usr/sbin/nginx) in a temporary prefix under /tmp with a
 * configuration whose common head (one process, logs and temp paths inside
 * the prefix) is written here, and plain HTTP/TCP clients. Loopback only;
 * every wait is a bounded loop.
 */
#ifndef GWLB_TEST_SERVERS_H
#define GWLB_TEST_SERVERS_H

#include <stdint.h>
#include <sys/types.h>

#define TEST_NGINX "/usr/sbin/nginx"

typedef struct test_nginx {
    char prefix[256]; /* "" until prepared */
    pid_t pid;        /* -1 when not running */
} test_nginx;

/* Create the prefix /tmp/gwlb-<tag>-XXXXXX with logs/ and html/.
 * 0, or -1 (reason on stderr). */
int test_nginx_prepare(test_nginx *n, const char *tag);

/* Write text to <prefix>/<relative path>. 0 or -1. */
int test_nginx_write(const test_nginx *n, const char *rel, const char *text);

/* Write <prefix>/nginx.conf (the common head, then "http {", access_log
 * off and temp paths in the prefix, then http_body, then "}"), start nginx
 * and wait (up to 5 s) until 127.0.0.1:port accepts. 0, or -1 when nginx
 * exits or does not listen (its error log is in <prefix>/logs). */
int test_nginx_start(test_nginx *n, const char *http_body, int port);

/* SIGTERM, a bounded wait, SIGKILL if needed; then remove the prefix.
 * Safe to call twice or on a harness never started. */
void test_nginx_stop(test_nginx *n);

/* A TCP connection to 127.0.0.1:port, from 127.x.y.z source address src
 * (host byte order) when src is not 0. The socket, or -1. */
int test_loopback_connect(uint32_t src, int port);

/* Connect and send "GET path HTTP/1.0" with Host: localhost; the socket
 * (response not read), or -1. */
int test_http_send(uint32_t src, int port, const char *path);

/* Read a whole HTTP/1.x response (bounded: 2 s per read, buffer size) into
 * buf and close fd. The status code and *body (inside buf), or -1. */
int test_http_read(int fd, char *buf, size_t size, const char **body);

#endif
