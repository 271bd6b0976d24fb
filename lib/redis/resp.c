/*
 * RESP2/RESP3 encoding and the incremental reply parser.
 *
 * Encoding: a command is an array of bulk strings. The size is computed
 * first, so a buffer that is too small is reported (with the size needed)
 * without a byte written.
 *
 * Parsing: a reply becomes a flat pre-order array of 32-byte values whose
 * strings are offsets into the caller's buffer (zero copy). The parser is
 * resumable: it commits one element at a time and remembers, in a small
 * stack of (aggregate, elements remaining) frames, where it is:
 *
 *     *2\r\n  $3\r\nfoo\r\n  %1\r\n +k\r\n :7\r\n
 *     ^pos=0  ^pos=4         ^pos=13 ...
 *     stack: [ {value 0, remaining 2} ]  -> after $3: remaining 1
 *            [ {0, 1}, {value 2, remaining 2} ] after %1 ...
 *
 * An incomplete element is not committed: the next call re-reads it from
 * its first byte (headers are short, so total work stays linear). Every
 * read is bounds-checked against len; nothing reads at or past buf + len.
 */
#include <math.h>
#include <string.h>

#include "gwlb/redis.h"
#include "internal.h"
#include "redis_internal.h"

/* ---- encoding ---------------------------------------------------------- */

static const uint64_t pow10_u64[20] = {
    UINT64_C(1),
    UINT64_C(10),
    UINT64_C(100),
    UINT64_C(1000),
    UINT64_C(10000),
    UINT64_C(100000),
    UINT64_C(1000000),
    UINT64_C(10000000),
    UINT64_C(100000000),
    UINT64_C(1000000000),
    UINT64_C(10000000000),
    UINT64_C(100000000000),
    UINT64_C(1000000000000),
    UINT64_C(10000000000000),
    UINT64_C(100000000000000),
    UINT64_C(1000000000000000),
    UINT64_C(10000000000000000),
    UINT64_C(100000000000000000),
    UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000),
};

/* Decimal digits of v: log10 from the bit length (x 1233 / 4096 ~ log10(2)), fixed by one compare. */
static size_t dec_len(uint64_t v)
{
    if (v < 10)
        return 1;
    unsigned bits = 64u - (unsigned)__builtin_clzll(v);
    size_t n = (bits * 1233u) >> 12; /* floor(log10(2^bits)) */
    return n + (v >= pow10_u64[n]);
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Write v in decimal (dec_len(v) bytes) at p, two digits per step; returns the end. */
static uint8_t *put_dec(uint8_t *p, uint64_t v)
{
    uint8_t *end = p + dec_len(v);
    uint8_t *q = end;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        *--q = (uint8_t)digit_pairs[i + 1];
        *--q = (uint8_t)digit_pairs[i];
    }
    if (v >= 10) {
        *--q = (uint8_t)digit_pairs[v * 2 + 1];
        *--q = (uint8_t)digit_pairs[v * 2];
    } else {
        *--q = (uint8_t)('0' + v);
    }
    return end;
}

size_t gwlb__redis_u64_text(char *buf, uint64_t v)
{
    return (size_t)(put_dec((uint8_t *)buf, v) - (uint8_t *)buf);
}

int gwlb_redis_encode_command(uint8_t *out, size_t cap, size_t *written, uint32_t argc,
                              const void *const *argv, const size_t *argv_len)
{
    if (written == NULL)
        return GWLB_EINVAL;
    *written = 0;
    if (out == NULL || argv == NULL || argc == 0)
        return GWLB_EINVAL;
    /* "*<argc>\r\n" then per argument "$<len>\r\n<bytes>\r\n" */
    size_t need = 3 + dec_len(argc);
    for (uint32_t i = 0; i < argc; i++) {
        size_t len = argv_len != NULL ? argv_len[i] : (argv[i] != NULL ? strlen(argv[i]) : 0);
        if (argv[i] == NULL && len != 0)
            return GWLB_EINVAL;
        size_t piece = 5 + dec_len(len);
        if (len > SIZE_MAX - piece || need > SIZE_MAX - piece - len)
            return GWLB_EOVERFLOW;
        need += piece + len;
    }
    if (need > cap) {
        *written = need;
        return GWLB_ENOSPC;
    }
    uint8_t *p = out;
    *p++ = '*';
    p = put_dec(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (uint32_t i = 0; i < argc; i++) {
        size_t len = argv_len != NULL ? argv_len[i] : (argv[i] != NULL ? strlen(argv[i]) : 0);
        *p++ = '$';
        p = put_dec(p, len);
        *p++ = '\r';
        *p++ = '\n';
        if (len != 0)
            memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *written = (size_t)(p - out);
    return GWLB_OK;
}

int gwlb_redis_encode_hello(uint8_t *out, size_t cap, size_t *written, uint32_t protover)
{
    if (written != NULL)
        *written = 0;
    if (protover != 2 && protover != 3) {
        if (written == NULL || out == NULL)
            return GWLB_EINVAL;
        return GWLB_ERANGE;
    }
    const char *argv[2] = {"HELLO", protover == 2 ? "2" : "3"};
    return gwlb_redis_encode_command(out, cap, written, 2, (const void *const *)argv, NULL);
}

/* ---- parsing ----------------------------------------------------------- */

#define DEFAULT_MAX_DEPTH 8u
#define DEFAULT_MAX_ELEMENTS (1u << 20)
#define DEFAULT_MAX_BULK (512u << 20)
#define DEFAULT_MAX_LINE (1u << 16)

int gwlb_redis_parser_init(gwlb_redis_parser *p, const gwlb_redis_limits *limits)
{
    if (p == NULL)
        return GWLB_EINVAL;
    gwlb_redis_limits l = {0, 0, 0, 0};
    if (limits != NULL)
        l = *limits;
    if (l.max_depth > GWLB_REDIS_MAX_DEPTH)
        return GWLB_ERANGE;
    memset(p, 0, sizeof *p);
    p->max_depth = l.max_depth != 0 ? l.max_depth : DEFAULT_MAX_DEPTH;
    p->max_elements = l.max_elements != 0 ? l.max_elements : DEFAULT_MAX_ELEMENTS;
    p->max_bulk = l.max_bulk != 0 ? l.max_bulk : DEFAULT_MAX_BULK;
    p->max_line = l.max_line != 0 ? l.max_line : DEFAULT_MAX_LINE;
    return GWLB_OK;
}

/*
 * Find the CRLF ending the line that starts at `start`. Returns the index of
 * the '\r', GWLB_EAGAIN when the buffer ends first, GWLB_EPROTO on a bare
 * CR or LF inside the line, GWLB_ETOOLONG beyond max_line.
 */
static int64_t line_end(const uint8_t *buf, size_t len, size_t start, uint32_t max_line)
{
    size_t limit = len;
    int capped = 0;
    if (len - start > (size_t)max_line + 1) {
        limit = start + (size_t)max_line + 1; /* room for the '\r' */
        capped = 1;
    }
    for (size_t i = start; i < limit; i++) {
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return GWLB_EAGAIN;
            return buf[i + 1] == '\n' ? (int64_t)i : GWLB_EPROTO;
        }
        if (buf[i] == '\n')
            return GWLB_EPROTO;
    }
    return capped ? GWLB_ETOOLONG : GWLB_EAGAIN;
}

/* Signed decimal integer in buf[s, e): optional sign, 1..19 digits, no overflow. */
static int parse_int(const uint8_t *buf, size_t s, size_t e, int64_t *out)
{
    int neg = 0;
    if (s < e && (buf[s] == '-' || buf[s] == '+')) {
        neg = buf[s] == '-';
        s++;
    }
    if (s == e)
        return GWLB_EPROTO;
    uint64_t v = 0;
    if (e - s <= 18) { /* cannot overflow: no per-digit check */
        for (size_t i = s; i < e; i++) {
            unsigned d = (unsigned)buf[i] - '0';
            if (d > 9)
                return GWLB_EPROTO;
            v = v * 10 + d;
        }
    } else {
        uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (size_t i = s; i < e; i++) {
            unsigned d = (unsigned)buf[i] - '0';
            if (d > 9)
                return GWLB_EPROTO;
            if (v > (lim - d) / 10)
                return GWLB_EPROTO;
            v = v * 10 + d;
        }
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return GWLB_OK;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double scale10(double v, int64_t e)
{
    /* exact steps while possible, then repeated scaling (approximate) */
    while (e > 22) {
        v *= 1e22;
        e -= 22;
        if (v > 1.7976931348623157e308)
            return v;
    }
    while (e < -22) {
        v /= 1e22;
        e += 22;
        if (v == 0.0)
            return v;
    }
    return e >= 0 ? v * pow10_exact[e] : v / pow10_exact[-e];
}

/*
 * RESP3 double: [+-] (inf | nan | digits [. digits] [e [+-] digits]).
 * Locale-independent (no strtod).
 */
static int parse_double(const uint8_t *buf, size_t s, size_t e, double *out)
{
    int neg = 0;
    if (s < e && (buf[s] == '-' || buf[s] == '+')) {
        neg = buf[s] == '-';
        s++;
    }
    size_t n = e - s;
    if (n == 3 && memcmp(buf + s, "inf", 3) == 0) {
        *out = neg ? -(double)INFINITY : (double)INFINITY;
        return GWLB_OK;
    }
    if (n == 3 && memcmp(buf + s, "nan", 3) == 0) {
        *out = (double)NAN;
        return GWLB_OK;
    }
    uint64_t mant = 0;
    int64_t exp10 = 0;
    size_t digits = 0, sig = 0;
    size_t i = s;
    for (; i < e && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
        if (mant == 0 && buf[i] == '0')
            continue;
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)(buf[i] - '0');
            sig++;
        } else {
            exp10++;
        }
    }
    if (i < e && buf[i] == '.') {
        i++;
        for (; i < e && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
            if (mant == 0 && buf[i] == '0') {
                exp10--;
                continue;
            }
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(buf[i] - '0');
                sig++;
                exp10--;
            }
        }
    }
    if (digits == 0)
        return GWLB_EPROTO;
    if (i < e && (buf[i] == 'e' || buf[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < e && (buf[i] == '-' || buf[i] == '+')) {
            eneg = buf[i] == '-';
            i++;
        }
        if (i == e)
            return GWLB_EPROTO;
        int64_t ev = 0;
        for (; i < e; i++) {
            unsigned d = (unsigned)buf[i] - '0';
            if (d > 9)
                return GWLB_EPROTO;
            if (ev < 100000)
                ev = ev * 10 + d;
        }
        exp10 += eneg ? -ev : ev;
    }
    if (i != e)
        return GWLB_EPROTO;
    double v = mant == 0 ? 0.0 : scale10((double)mant, exp10);
    *out = neg ? -v : v;
    return GWLB_OK;
}

/* Length field of a bulk / aggregate header: "-1" (when allowed) or digits. */
static int parse_len(const uint8_t *buf, size_t s, size_t e, int allow_null, int64_t *out)
{
    if (s < e && buf[s] == '?')
        return e == s + 1 ? GWLB_ENOTSUP : GWLB_EPROTO;
    if (s < e && buf[s] == '-') {
        if (allow_null && e == s + 2 && buf[s + 1] == '1') {
            *out = -1;
            return GWLB_OK;
        }
        return GWLB_EPROTO;
    }
    if (s < e && buf[s] == '+')
        return GWLB_EPROTO;
    return parse_int(buf, s, e, out);
}

static int fail(gwlb_redis_parser *p, int code)
{
    if (code != GWLB_EAGAIN && code != GWLB_ENOSPC)
        p->error = code;
    return code;
}

static int feed(gwlb_redis_parser *p, const uint8_t *buf, size_t len, gwlb_redis_value *values,
                size_t max_values, gwlb_redis_reply *reply);

int gwlb_redis_parser_feed(gwlb_redis_parser *p, const uint8_t *buf, size_t len,
                           gwlb_redis_value *values, size_t max_values, gwlb_redis_reply *reply)
{
    if (p == NULL || reply == NULL || values == NULL || (buf == NULL && len != 0))
        return GWLB_EINVAL;
    if (p->error != 0)
        return p->error;
    if (len < p->pos || p->max_depth == 0)
        return GWLB_EINVAL;
    if (len <= UINT32_MAX)
        return feed(p, buf, len, values, max_values, reply);
    /* offsets are 32-bit: a reply that does not end within 4 GiB is too long */
    int rc = feed(p, buf, UINT32_MAX, values, max_values, reply);
    return rc == GWLB_EAGAIN ? fail(p, GWLB_ETOOLONG) : rc;
}

static int feed(gwlb_redis_parser *p, const uint8_t *buf, size_t len, gwlb_redis_value *values,
                size_t max_values, gwlb_redis_reply *reply)
{
    for (;;) {
        size_t pos = p->pos;
        if (pos >= len)
            return GWLB_EAGAIN;
        if (p->count >= max_values)
            return GWLB_ENOSPC;
        uint8_t marker = buf[pos];
        int64_t le = line_end(buf, len, pos + 1, p->max_line);
        if (le < 0)
            return fail(p, (int)le);
        size_t s = pos + 1, e = (size_t)le;
        size_t next_pos = e + 2;
        gwlb_redis_value v;
        memset(&v, 0, sizeof v);
        v.marker = marker;
        v.depth = (uint8_t)p->depth;
        int64_t n = 0;
        int rc = GWLB_OK;
        int aggregate = 0;

        switch (marker) {
        case '+':
        case '-':
            v.type = marker == '+' ? GWLB_REDIS_SIMPLE_STRING : GWLB_REDIS_ERROR;
            v.offset = (uint32_t)s;
            v.length = (uint32_t)(e - s);
            break;
        case ':':
            v.type = GWLB_REDIS_INTEGER;
            rc = parse_int(buf, s, e, &v.integer);
            v.number = (double)v.integer;
            break;
        case '_':
            v.type = GWLB_REDIS_NULL;
            if (e != s)
                rc = GWLB_EPROTO;
            break;
        case '#':
            v.type = GWLB_REDIS_BOOLEAN;
            if (e != s + 1 || (buf[s] != 't' && buf[s] != 'f'))
                rc = GWLB_EPROTO;
            else
                v.integer = buf[s] == 't';
            break;
        case ',':
            v.type = GWLB_REDIS_DOUBLE;
            v.offset = (uint32_t)s;
            v.length = (uint32_t)(e - s);
            rc = parse_double(buf, s, e, &v.number);
            break;
        case '(': {
            v.type = GWLB_REDIS_BIG_NUMBER;
            v.offset = (uint32_t)s;
            v.length = (uint32_t)(e - s);
            size_t d = s;
            if (d < e && (buf[d] == '-' || buf[d] == '+'))
                d++;
            if (d == e)
                rc = GWLB_EPROTO;
            for (; d < e && rc == GWLB_OK; d++)
                if (buf[d] < '0' || buf[d] > '9')
                    rc = GWLB_EPROTO;
            if (rc == GWLB_OK && parse_int(buf, s, e, &v.integer) == GWLB_OK)
                v.flags |= GWLB_REDIS_FLAG_INTEGER_VALID;
            break;
        }
        case '$':
        case '!':
        case '=':
            v.type = marker == '$'   ? GWLB_REDIS_BULK_STRING
                     : marker == '!' ? GWLB_REDIS_BLOB_ERROR
                                     : GWLB_REDIS_VERBATIM;
            rc = parse_len(buf, s, e, marker == '$', &n);
            if (rc != GWLB_OK)
                break;
            if (n < 0) {
                v.type = GWLB_REDIS_NULL;
                break;
            }
            if ((uint64_t)n > p->max_bulk) {
                rc = GWLB_ETOOLONG;
                break;
            }
            if (marker == '=' && n < 4) {
                rc = GWLB_EPROTO;
                break;
            }
            if ((uint64_t)n + 2 > len - next_pos)
                return (uint64_t)n + 2 > (uint64_t)UINT32_MAX - next_pos ? fail(p, GWLB_ETOOLONG)
                                                                         : GWLB_EAGAIN;
            if (buf[next_pos + (size_t)n] != '\r' || buf[next_pos + (size_t)n + 1] != '\n') {
                rc = GWLB_EPROTO;
                break;
            }
            if (marker == '=' && buf[next_pos + 3] != ':') {
                rc = GWLB_EPROTO;
                break;
            }
            v.offset = (uint32_t)next_pos + (marker == '=' ? 4u : 0u);
            v.length = (uint32_t)n - (marker == '=' ? 4u : 0u);
            next_pos += (size_t)n + 2;
            break;
        case '*':
        case '%':
        case '~':
        case '|':
        case '>':
            v.type = marker == '*'   ? GWLB_REDIS_ARRAY
                     : marker == '%' ? GWLB_REDIS_MAP
                     : marker == '~' ? GWLB_REDIS_SET
                     : marker == '|' ? GWLB_REDIS_ATTRIBUTE
                                     : GWLB_REDIS_PUSH;
            rc = parse_len(buf, s, e, marker == '*', &n);
            if (rc != GWLB_OK)
                break;
            if (n < 0) {
                v.type = GWLB_REDIS_NULL;
                break;
            }
            if ((uint64_t)n > p->max_elements ||
                ((marker == '%' || marker == '|') && (uint64_t)n > UINT32_MAX / 2)) {
                rc = GWLB_ETOOLONG;
                break;
            }
            v.length = (uint32_t)n;
            if (n > 0) {
                if (p->depth + 1 > p->max_depth) {
                    rc = GWLB_ELIMIT;
                    break;
                }
                aggregate = 1;
            }
            break;
        default:
            rc = GWLB_EPROTO;
            break;
        }
        if (rc != GWLB_OK)
            return fail(p, rc);

        /* commit the element */
        uint32_t idx = p->count;
        v.next = idx + 1;
        values[idx] = v;
        p->count = idx + 1;
        p->pos = (uint32_t)next_pos;
        if (aggregate) {
            uint32_t elems = (uint32_t)n;
            if (v.type == GWLB_REDIS_MAP || v.type == GWLB_REDIS_ATTRIBUTE)
                elems *= 2; /* n <= UINT32_MAX / 2 checked above */
            p->stack[p->depth].value = idx;
            p->stack[p->depth].remaining = elems;
            p->depth++;
            continue;
        }
        /* an element completed: close every aggregate it completes */
        uint32_t done = idx;
        for (;;) {
            int is_attr = values[done].type == GWLB_REDIS_ATTRIBUTE;
            if (p->depth == 0) {
                if (is_attr)
                    break; /* the reply's value still follows */
                reply->length = p->pos;
                reply->count = p->count;
                reply->root = done;
                p->pos = 0;
                p->count = 0;
                return GWLB_OK;
            }
            if (is_attr)
                break; /* attributes are not elements of their parent */
            uint32_t top = p->depth - 1;
            if (--p->stack[top].remaining != 0)
                break;
            done = p->stack[top].value;
            values[done].next = p->count;
            p->depth = top;
        }
    }
}

int gwlb_redis_parse(const uint8_t *buf, size_t len, gwlb_redis_value *values, size_t max_values,
                     gwlb_redis_reply *reply)
{
    /* a default parser; its stack needs no zeroing (frames are written before read) */
    gwlb_redis_parser p;
    p.pos = p.count = p.depth = p.root = 0;
    p.error = 0;
    p.max_depth = DEFAULT_MAX_DEPTH;
    p.max_elements = DEFAULT_MAX_ELEMENTS;
    p.max_bulk = DEFAULT_MAX_BULK;
    p.max_line = DEFAULT_MAX_LINE;
    p.reserved = 0;
    return gwlb_redis_parser_feed(&p, buf, len, values, max_values, reply);
}
