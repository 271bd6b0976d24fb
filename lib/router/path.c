/*
 * Path normalization and rewriting: the explicit steps a gateway runs on a
 * request path before (normalize) and after (rewrite) routing.
 *
 * Normalization works segment by segment in a single left-to-right pass:
 * each segment is percent-canonicalized into the output, then "." and ".."
 * are resolved against what was already written. The output never grows,
 * so the write position never overtakes the read position and the same
 * buffer may be used for input and output.
 */
#include <string.h>

#include "router_internal.h"

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unreserved(unsigned v)
{
    return (v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') ||
           v == '-' || v == '.' || v == '_' || v == '~';
}

long gwlb__path_canon(const char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\0')
            return -(long)(1 + i);
        if (c != '%') {
            out[w++] = (char)c;
            continue;
        }
        if (i + 2 >= len)
            return -(long)(1 + i);
        int hi = hex_value((unsigned char)in[i + 1]), lo = hex_value((unsigned char)in[i + 2]);
        if (hi < 0 || lo < 0)
            return -(long)(1 + i);
        unsigned v = (unsigned)(hi * 16 + lo);
        if (v == 0)
            return -(long)(1 + i);
        if (unreserved(v)) {
            out[w++] = (char)v;
        } else {
            out[w++] = '%';
            out[w++] = hex[v >> 4];
            out[w++] = hex[v & 15];
        }
        i += 2;
    }
    return (long)w;
}

int gwlb_path_normalize(const char *in, size_t len, uint32_t flags, char *out, size_t out_size,
                        size_t *out_len)
{
    if (in == NULL || out == NULL || out_len == NULL || len == 0 || in[0] != '/')
        return GWLB_EINVAL;
    if (len > GWLB_ROUTER_PATH_MAX)
        return GWLB_ETOOLONG;
    if (out_size < len)
        return GWLB_ENOSPC;
    /* Invariant: out[0, w) is "/seg/seg" without a trailing '/', w <= i. */
    size_t w = 0, i = 0;
    while (i < len) {
        size_t s = i + 1, e = s;
        while (e < len && in[e] != '/')
            e++;
        int last = e >= len;
        out[w] = '/';
        long cl = gwlb__path_canon(in + s, e - s, out + w + 1);
        if (cl < 0)
            return GWLB_EPROTO;
        const char *seg = out + w + 1;
        if (cl == 1 && seg[0] == '.') {
            if (last)
                w += 1;
        } else if (cl == 2 && seg[0] == '.' && seg[1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--; /* drop the '/' before the popped segment */
            if (last) {
                out[w] = '/';
                w += 1;
            }
        } else if (cl == 0 && !last && (flags & GWLB_NORMALIZE_MERGE_SLASHES)) {
            /* "//": skip the empty segment */
        } else {
            w += 1 + (size_t)cl;
        }
        i = e;
    }
    if (w == 0)
        out[w++] = '/';
    if (flags & GWLB_NORMALIZE_STRIP_TRAILING_SLASH)
        while (w > 1 && out[w - 1] == '/')
            w--;
    if (flags & GWLB_NORMALIZE_LOWERCASE) {
        for (size_t k = 0; k < w; k++) {
            if (out[k] == '%')
                k += 2; /* keep escapes in canonical upper-case hex */
            else
                out[k] = (char)rt_lower((uint8_t)out[k]);
        }
    }
    *out_len = w;
    return 0;
}

int gwlb_path_rewrite_prefix(const char *path, size_t path_len, const char *from, const char *to,
                             char *out, size_t out_size, size_t *out_len)
{
    if (path == NULL || from == NULL || to == NULL || out == NULL || out_len == NULL)
        return GWLB_EINVAL;
    size_t fl = strlen(from), tl = strlen(to);
    if (fl > path_len || memcmp(path, from, fl) != 0)
        return GWLB_ENOENT;
    if (!(fl == path_len || path[fl] == '/' || (fl > 0 && from[fl - 1] == '/')))
        return GWLB_ENOENT; /* "/api" must not match "/apix" */
    const char *rest = path + fl;
    size_t rl = path_len - fl;
    if (tl > 0 && to[tl - 1] == '/' && rl > 0 && rest[0] == '/') {
        rest++;
        rl--;
    }
    int sep = rl > 0 && rest[0] != '/' && (tl == 0 || to[tl - 1] != '/');
    size_t n = tl + (size_t)sep + rl;
    int root = n == 0;
    if (root)
        n = 1;
    if (n > out_size)
        return GWLB_ENOSPC;
    if (root) {
        out[0] = '/';
    } else {
        memmove(out, to, tl);
        if (sep)
            out[tl] = '/';
        memmove(out + tl + (size_t)sep, rest, rl);
    }
    *out_len = n;
    return 0;
}

int gwlb_path_rewrite_template(const gwlb_route_match *match, const char *path, const char *templ,
                               char *out, size_t out_size, size_t *out_len)
{
    if (match == NULL || path == NULL || templ == NULL || out == NULL || out_len == NULL)
        return GWLB_EINVAL;
    size_t w = 0;
    for (const char *t = templ; *t != '\0';) {
        if (*t != '{') {
            if (w >= out_size)
                return GWLB_ENOSPC;
            out[w++] = *t++;
            continue;
        }
        const char *name = t + 1;
        if (*name == '*')
            name++;
        const char *close = strchr(name, '}');
        if (close == NULL || close == name)
            return GWLB_ESYNTAX;
        uint32_t off, plen;
        if (gwlb_router_match_param(match, name, (size_t)(close - name), &off, &plen) != 0)
            return GWLB_ENOENT;
        if (plen > out_size - w)
            return GWLB_ENOSPC;
        memcpy(out + w, path + off, plen);
        w += plen;
        t = close + 1;
    }
    *out_len = w;
    return 0;
}
