/*
 * Loopback servers and clients of the compatibility tests (see
 * test_servers.h): one place for nginx's temporary prefix, configuration
 * head, fork/exec with a bounded wait for its listener and teardown, and
 * for connecting to 127.0.0.1 from a chosen 127.x.y.z source.
 */
#define _GNU_SOURCE
#include "test_servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

int test_nginx_prepare(test_nginx *n, const char *tag)
{
    n->pid = -1;
    snprintf(n->prefix, sizeof n->prefix, "/tmp/gwlb-%s-XXXXXX", tag);
    if (mkdtemp(n->prefix) == NULL) {
        fprintf(stderr, "nginx harness: mkdtemp %s failed\n", n->prefix);
        n->prefix[0] = '\0';
        return -1;
    }
    chmod(n->prefix, 0755);
    char path[300];
    snprintf(path, sizeof path, "%s/logs", n->prefix);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/html", n->prefix);
    mkdir(path, 0755);
    return 0;
}

int test_nginx_write(const test_nginx *n, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", n->prefix, rel);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int test_nginx_start(test_nginx *n, const char *http_body, int port)
{
    const char *p = n->prefix;
    size_t size = strlen(http_body) + 2048;
    char *conf = malloc(size);
    if (conf == NULL)
        return -1;
    snprintf(conf, size,
             "daemon off;\nmaster_process off;\nworker_processes 1;\n"
             "error_log %s/logs/error.log;\npid %s/logs/nginx.pid;\n"
             "events { worker_connections 256; }\n"
             "http {\n access_log off;\n"
             " client_body_temp_path %s/logs/cb; proxy_temp_path %s/logs/px;\n"
             " fastcgi_temp_path %s/logs/fc; uwsgi_temp_path %s/logs/uw;\n"
             " scgi_temp_path %s/logs/sc;\n%s}\n",
             p, p, p, p, p, p, p, http_body);
    int rc = test_nginx_write(n, "nginx.conf", conf);
    free(conf);
    if (rc != 0)
        return -1;

    char conf_path[300], err_path[300];
    snprintf(conf_path, sizeof conf_path, "%s/nginx.conf", p);
    snprintf(err_path, sizeof err_path, "%s/logs/error.log", p);
    n->pid = fork();
    if (n->pid < 0)
        return -1;
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        execl(TEST_NGINX, TEST_NGINX, "-p", p, "-e", err_path, "-c", conf_path, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* bounded: 5 s in 10 ms steps */
        int fd = test_loopback_connect(0, port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        int st;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            n->pid = -1;
            fprintf(stderr, "nginx exited at startup (see %s)\n", err_path);
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "nginx did not listen on 127.0.0.1:%d\n", port);
    return -1;
}

void test_nginx_stop(test_nginx *n)
{
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        int st, reaped = 0;
        for (int i = 0; i < 500 && !reaped; i++) { /* bounded: 5 s */
            if (waitpid(n->pid, &st, WNOHANG) == n->pid)
                reaped = 1;
            else
                sleep_ms(10);
        }
        if (!reaped) {
            kill(n->pid, SIGKILL);
            waitpid(n->pid, &st, 0);
        }
    }
    n->pid = -1;
    if (strncmp(n->prefix, "/tmp/gwlb-", 10) == 0 && strchr(n->prefix, '\'') == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->prefix);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", n->prefix);
    }
    n->prefix[0] = '\0';
}

int test_loopback_connect(uint32_t src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (src != 0) {
        struct sockaddr_in s = {0};
        s.sin_family = AF_INET;
        s.sin_addr.s_addr = htonl(src);
        if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int test_http_send(uint32_t src, int port, const char *path)
{
    int fd = test_loopback_connect(src, port);
    if (fd < 0)
        return -1;
    char req[512];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    if (len < 0 || (size_t)len >= sizeof req || write(fd, req, (size_t)len) != len) {
        close(fd);
        return -1;
    }
    return fd;
}

int test_http_read(int fd, char *buf, size_t size, const char **body)
{
    size_t got = 0;
    while (got + 1 < size) { /* bounded by the buffer */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 2000) != 1)
            break;
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *b = strstr(buf, "\r\n\r\n");
    if (body != NULL)
        *body = b != NULL ? b + 4 : buf + got;
    return status;
}
