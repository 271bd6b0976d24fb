/*
 * Rate-limit header values: the IETF RateLimit / RateLimit-Policy items
 * (draft-ietf-httpapi-ratelimit-headers-10, Structured Fields syntax) and
 * the legacy X-RateLimit-* / Retry-After numbers, formatted into a caller
 * buffer. Everything is first measured, then written, so a value that does
 * not fit leaves the buffer as it was.
 */
#include <string.h>

#include "gwlb/limiter.h"
#include "internal.h"

#define SF_INTEGER_MAX UINT64_C(999999999999999)

/* Decimal digits of v into out (no NUL); returns the count. */
static size_t format_u64(uint64_t v, char out[20])
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static uint64_t ceil_seconds(uint64_t ns)
{
    return ns / GWLB_NS_PER_SEC + (ns % GWLB_NS_PER_SEC != 0);
}

/* A small writer that only commits when everything fits. */
typedef struct writer {
    char piece[600]; /* a 256-byte name escaped, plus parameters, always fits */
    size_t n;
    int overflow;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (w->overflow || n > sizeof w->piece - w->n) {
        w->overflow = 1;
        return;
    }
    memcpy(w->piece + w->n, s, n);
    w->n += n;
}

static void put_str(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_u64(writer *w, uint64_t v)
{
    char d[20];
    put(w, d, format_u64(v, d));
}

/* sf-string: DQUOTE, printable ASCII with \" and \\ escaped, DQUOTE. */
static int put_sf_string(writer *w, const char *s)
{
    if (strlen(s) > GWLB_RATELIMIT_NAME_MAX)
        return GWLB_ETOOLONG;
    put(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return GWLB_ESYNTAX;
        if (*p == '"' || *p == '\\')
            put(w, "\\", 1);
        put(w, (const char *)p, 1);
    }
    put(w, "\"", 1);
    return GWLB_OK;
}

static int commit(const writer *w, char *buf, size_t cap, size_t *len, size_t at)
{
    if (w->overflow || w->n + 1 > cap - at)
        return w->overflow ? GWLB_ERANGE : GWLB_ENOSPC;
    memcpy(buf + at, w->piece, w->n);
    buf[at + w->n] = '\0';
    *len = at + w->n;
    return GWLB_OK;
}

static int check_out(char *buf, size_t cap, size_t *len)
{
    if (buf == NULL || len == NULL || *len > cap)
        return GWLB_EINVAL;
    return GWLB_OK;
}

int gwlb_ratelimit_policy_item(char *buf, size_t cap, size_t *len, const char *name,
                               uint64_t quota, uint64_t window_seconds)
{
    int rc = check_out(buf, cap, len);
    if (rc != GWLB_OK || name == NULL)
        return GWLB_EINVAL;
    if (quota > SF_INTEGER_MAX || window_seconds > SF_INTEGER_MAX)
        return GWLB_ERANGE;
    writer w = {.n = 0, .overflow = 0};
    if (*len > 0)
        put(&w, ", ", 2);
    rc = put_sf_string(&w, name);
    if (rc != GWLB_OK)
        return rc;
    put_str(&w, ";q=");
    put_u64(&w, quota);
    if (window_seconds != 0) {
        put_str(&w, ";w=");
        put_u64(&w, window_seconds);
    }
    return commit(&w, buf, cap, len, *len);
}

int gwlb_ratelimit_item(char *buf, size_t cap, size_t *len, const char *name,
                        const gwlb_limit_result *result)
{
    int rc = check_out(buf, cap, len);
    if (rc != GWLB_OK || name == NULL || result == NULL)
        return GWLB_EINVAL;
    uint64_t t = ceil_seconds(result->reset_after_ns);
    if (result->remaining > SF_INTEGER_MAX || t > SF_INTEGER_MAX)
        return GWLB_ERANGE;
    writer w = {.n = 0, .overflow = 0};
    if (*len > 0)
        put(&w, ", ", 2);
    rc = put_sf_string(&w, name);
    if (rc != GWLB_OK)
        return rc;
    put_str(&w, ";r=");
    put_u64(&w, result->remaining);
    put_str(&w, ";t=");
    put_u64(&w, t);
    return commit(&w, buf, cap, len, *len);
}

int gwlb_ratelimit_legacy_value(const gwlb_limit_result *result,
                                enum gwlb_ratelimit_legacy which, char *buf, size_t cap,
                                size_t *len)
{
    if (result == NULL || buf == NULL || len == NULL)
        return GWLB_EINVAL;
    uint64_t v;
    switch (which) {
    case GWLB_X_RATELIMIT_LIMIT:
        v = result->limit;
        break;
    case GWLB_X_RATELIMIT_REMAINING:
        v = result->remaining;
        break;
    case GWLB_X_RATELIMIT_RESET:
        v = ceil_seconds(result->reset_after_ns);
        break;
    case GWLB_RETRY_AFTER:
        if (result->allowed || result->retry_after_ns < 0)
            return GWLB_ENOENT;
        v = ceil_seconds((uint64_t)result->retry_after_ns);
        break;
    default:
        return GWLB_EINVAL;
    }
    writer w = {.n = 0, .overflow = 0};
    put_u64(&w, v);
    return commit(&w, buf, cap, len, 0);
}
