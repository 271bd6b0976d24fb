/*
 * Loader for the router data sets in tests/router/data (shared by the
 * router tests and bench/router): "<name>.routes.txt" and
 * "<name>.requests.txt", one "METHOD /path" per line, line N of the
 * requests resolving to route N. Test/bench support code, not library code.
 */
#ifndef GWLB_TEST_ROUTER_DATA_H
#define GWLB_TEST_ROUTER_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"

typedef struct rd_line {
    uint32_t method;
    char *path; /* NUL-terminated, malloc'd */
    size_t path_len;
} rd_line;

typedef struct rd_set {
    size_t count;
    rd_line *routes;
    rd_line *requests;
} rd_set;

static size_t rd_read(const char *dir, const char *name, const char *kind, rd_line **out)
{
    char file[1024];
    snprintf(file, sizeof file, "%s/%s.%s.txt", dir, name, kind);
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    size_t n = 0, cap = 0;
    rd_line *lines = NULL;
    char buf[4096];
    while (fgets(buf, sizeof buf, f) != NULL) {
        size_t len = strcspn(buf, "\r\n");
        buf[len] = '\0';
        char *sp = strchr(buf, ' ');
        if (sp == NULL)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            lines = realloc(lines, cap * sizeof *lines);
        }
        lines[n].method = gwlb_method_from_string(buf, (size_t)(sp - buf));
        size_t pl = strlen(sp + 1);
        lines[n].path = malloc(pl + 1);
        memcpy(lines[n].path, sp + 1, pl + 1);
        lines[n].path_len = pl;
        n++;
    }
    fclose(f);
    *out = lines;
    return n;
}

static void rd_free(rd_set *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->routes[i].path);
        free(s->requests[i].path);
    }
    free(s->routes);
    free(s->requests);
    memset(s, 0, sizeof *s);
}

/* Load a set; returns its size (0 when missing or when the files disagree). */
static size_t rd_load(const char *dir, const char *name, rd_set *s)
{
    memset(s, 0, sizeof *s);
    size_t a = rd_read(dir, name, "routes", &s->routes);
    size_t b = rd_read(dir, name, "requests", &s->requests);
    s->count = a < b ? a : b;
    if (a != b) {
        s->count = a < b ? a : b;
        rd_free(s);
        return 0;
    }
    return s->count;
}

/* Fill gwlb_route entries (caller's array of s->count) from the set. */
static void rd_routes(const rd_set *s, gwlb_route *routes)
{
    for (size_t i = 0; i < s->count; i++) {
        gwlb_route_init(&routes[i]);
        routes[i].methods = s->routes[i].method;
        routes[i].path = s->routes[i].path;
        routes[i].id = i;
    }
}

#endif
