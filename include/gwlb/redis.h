/*
 * libgwlb — fleet-wide limits through Redis, sans-I/O.
 *
 * libgwlb never opens a socket. It writes the bytes of the commands the
 * host should send (RESP, into a caller buffer), and it reads the bytes the
 * host received (an incremental RESP2/RESP3 reply parser whose results are
 * offsets into the caller's buffer). On top of that:
 *
 *   - the GCRA Lua script (SCRIPT LOAD / EVALSHA, EVAL on NOSCRIPT) that
 *     takes the same decision as the local GCRA limiter, atomically on the
 *     server, with Redis-side TTLs so idle keys vanish;
 *   - pipelining: encode several decisions back to back into one buffer,
 *     decode the replies in order;
 *   - Redis Cluster key naming (hash tags) and the key slot (CRC16);
 *   - a hybrid fleet limiter (local share + periodic sync) and a failure
 *     policy (fail open / fail closed / fall back to the local limiter).
 *
 * Thread safety: functions that take only buffers and values are safe to
 * call concurrently. A gwlb_redis_parser needs exclusive access (one per
 * connection).
 */
#ifndef GWLB_REDIS_H
#define GWLB_REDIS_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * RESP command encoding
 * ====================================================================== */

/**
 * Encode one command as a RESP array of bulk strings
 * ("*<argc>\r\n$<len>\r\n<arg>\r\n..."), the form Redis accepts under both
 * RESP2 and RESP3, at `out`. To pipeline, encode the next command at
 * out + *written.
 *
 *   argv[i]      bytes of argument i (may be NULL only when its length is 0)
 *   argv_len     lengths; NULL means every argv[i] is a NUL-terminated string
 *   *written     on success the bytes written; on GWLB_ENOSPC the bytes the
 *                command needs (nothing is written then, not even inside cap)
 *
 * Errors: GWLB_EINVAL (out/written/argv NULL, argc 0, an argument NULL with
 * a non-zero length), GWLB_ENOSPC (cap too small), GWLB_EOVERFLOW (size
 * overflows size_t). Thread-safe.
 */
GWLB_API int gwlb_redis_encode_command(uint8_t *out, size_t cap, size_t *written,
                                       uint32_t argc, const void *const *argv,
                                       const size_t *argv_len);

/**
 * Encode "HELLO <protover>" (protover 2 or 3) to switch the connection's
 * protocol; Redis answers with a map (RESP3) or an array (RESP2).
 * Errors as gwlb_redis_encode_command, GWLB_ERANGE for another protover.
 */
GWLB_API int gwlb_redis_encode_hello(uint8_t *out, size_t cap, size_t *written,
                                     uint32_t protover);

/* ======================================================================
 * RESP2 / RESP3 reply parser
 * ====================================================================== */

/** Value types. Every RESP2 and RESP3 type has one. */
enum gwlb_redis_type {
    GWLB_REDIS_SIMPLE_STRING = 1, /* +OK                                    */
    GWLB_REDIS_ERROR,             /* -ERR message                            */
    GWLB_REDIS_INTEGER,           /* :42                                     */
    GWLB_REDIS_BULK_STRING,       /* $3 foo                                  */
    GWLB_REDIS_ARRAY,             /* *2 ...                                  */
    GWLB_REDIS_NULL,              /* _  and RESP2 $-1 / *-1 (see marker)     */
    GWLB_REDIS_DOUBLE,            /* ,3.14  ,inf  ,-inf  ,nan                */
    GWLB_REDIS_BOOLEAN,           /* #t  #f                                  */
    GWLB_REDIS_BIG_NUMBER,        /* (3492890328409238509324850943850943825  */
    GWLB_REDIS_BLOB_ERROR,        /* !21 SYNTAX invalid syntax               */
    GWLB_REDIS_VERBATIM,          /* =15 txt:Some string                     */
    GWLB_REDIS_MAP,               /* %2 k v k v                              */
    GWLB_REDIS_SET,               /* ~3 ...                                  */
    GWLB_REDIS_ATTRIBUTE,         /* |1 k v, then the value it annotates     */
    GWLB_REDIS_PUSH               /* >3 out-of-band data (pub/sub, tracking) */
};

/** gwlb_redis_value.flags */
enum gwlb_redis_value_flag {
    /* BIG_NUMBER: the number fits int64_t and is in .integer */
    GWLB_REDIS_FLAG_INTEGER_VALID = 1u << 0
};

/**
 * One parsed value: 32 bytes, no pointers. A reply is a flat array of
 * values in pre-order (an aggregate is followed by its elements).
 *
 *   type     enum gwlb_redis_type
 *   marker   the RESP prefix byte received ('$' for a RESP2 null bulk,
 *            '*' for a null array, '_' for the RESP3 null, ...)
 *   depth    nesting level (0 = top level)
 *   flags    enum gwlb_redis_value_flag
 *   next     index of the first value after this one and all its elements
 *            (skip a subtree: i = v[i].next)
 *   offset,  strings (simple, error, bulk, blob error, verbatim, big number,
 *   length   double): the payload bytes are buf[offset .. offset+length),
 *            zero-copy in the buffer given to the parser. For VERBATIM the
 *            payload excludes the "txt:" prefix; its 3-byte format is at
 *            buf[offset-4]. Aggregates: length = element count as sent
 *            (pairs for MAP and ATTRIBUTE, whose elements are 2 * length
 *            values: key, value, key, value...).
 *   integer  INTEGER value; BOOLEAN 1/0; BIG_NUMBER if INTEGER_VALID
 *   number   DOUBLE value (correctly rounded for up to 15 significant
 *            digits with a decimal exponent within ±22, otherwise within a
 *            few ulp; the exact text is at offset/length); INTEGER as double
 *
 * An ATTRIBUTE annotates the value that follows it and is not counted as
 * an element of its parent. A reply's value is at gwlb_redis_reply.root.
 */
typedef struct gwlb_redis_value {
    uint8_t type;
    uint8_t marker;
    uint8_t depth;
    uint8_t flags;
    uint32_t next;
    uint32_t offset;
    uint32_t length;
    int64_t integer;
    double number;
} gwlb_redis_value;

/** The deepest nesting a parser can track (size of its stack). */
#define GWLB_REDIS_MAX_DEPTH 32

/**
 * Parser limits. Zero fields take the defaults:
 *   max_depth     nested aggregate levels (default 8, at most 32)
 *   max_elements  elements in one aggregate (default 1048576)
 *   max_bulk      bytes in one bulk / blob error / verbatim (default
 *                 536870912, Redis's proto-max-bulk-len)
 *   max_line      bytes in one simple string / error / number line
 *                 (default 65536)
 */
typedef struct gwlb_redis_limits {
    uint32_t max_depth;
    uint32_t max_elements;
    uint32_t max_bulk;
    uint32_t max_line;
} gwlb_redis_limits;

/**
 * An incremental reply parser: a plain struct (about 300 bytes) the host
 * embeds per connection. It keeps its progress across calls, so input that
 * arrives byte by byte is parsed in linear time.
 */
typedef struct gwlb_redis_parser {
    uint32_t pos;        /* bytes of the current reply already parsed */
    uint32_t count;      /* values filled so far */
    uint32_t depth;      /* open aggregates */
    uint32_t root;       /* index of the reply's value, once known */
    int32_t error;       /* sticky error after malformed input, else 0 */
    uint32_t max_depth;
    uint32_t max_elements;
    uint32_t max_bulk;
    uint32_t max_line;
    uint32_t reserved;
    struct {
        uint32_t value;     /* index of the open aggregate */
        uint32_t remaining; /* elements still to come */
    } stack[GWLB_REDIS_MAX_DEPTH];
} gwlb_redis_parser;

/** Where a complete reply is. */
typedef struct gwlb_redis_reply {
    size_t length;  /* bytes of input the reply occupied: drop them, keep the rest */
    uint32_t count; /* values filled in the caller's array */
    uint32_t root;  /* index of the reply's value (after leading attributes) */
} gwlb_redis_reply;

/**
 * Initialise (or reset) a parser. limits may be NULL (defaults).
 * Errors: GWLB_EINVAL (parser NULL), GWLB_ERANGE (max_depth above
 * GWLB_REDIS_MAX_DEPTH); the parser is unchanged then. Exclusive access.
 */
GWLB_API int gwlb_redis_parser_init(gwlb_redis_parser *parser, const gwlb_redis_limits *limits);

/**
 * Parse one reply from buf[0 .. len), where buf starts at the reply's first
 * byte. Never reads at or past buf + len.
 *
 * Returns 0 when a whole reply is there: *reply says how many bytes it took
 * (the host drops them; any further bytes are the next reply's) and where
 * its values are; the parser is ready for the next reply.
 *
 * GWLB_EAGAIN: the reply is incomplete. Call again when more bytes have
 * arrived, with the same reply start (the host keeps the bytes; the buffer
 * may have moved) and the same `values` array (its filled part is kept).
 *
 * Errors (sticky until gwlb_redis_parser_init; the connection is unusable):
 *   GWLB_EPROTO    malformed input (unknown type byte, bad length, missing
 *                  CRLF, non-digit in a number, integer overflow, ...)
 *   GWLB_ETOOLONG  a line, bulk or aggregate above the parser's limits
 *   GWLB_ELIMIT    nesting deeper than max_depth
 *   GWLB_ENOSPC    the values array is full (not sticky: the parser stays
 *                  where it was; call again with a bigger array holding
 *                  the same filled prefix)
 *   GWLB_ENOTSUP   RESP3 streamed strings/aggregates ("$?", "*?")
 *   GWLB_EINVAL    NULL argument, or len shorter than what was parsed
 * Exclusive access to the parser.
 */
GWLB_API int gwlb_redis_parser_feed(gwlb_redis_parser *parser, const uint8_t *buf, size_t len,
                                    gwlb_redis_value *values, size_t max_values,
                                    gwlb_redis_reply *reply);

/**
 * One-shot parse: a fresh default parser fed once. Same results as
 * gwlb_redis_parser_feed (GWLB_EAGAIN = the reply is not complete yet).
 * Thread-safe.
 */
GWLB_API int gwlb_redis_parse(const uint8_t *buf, size_t len, gwlb_redis_value *values,
                              size_t max_values, gwlb_redis_reply *reply);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_REDIS_H */
