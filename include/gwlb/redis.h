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
 *   - a second script for several limits of one request (per client, per
 *     route, global), all-or-nothing, as gwlb_limiter_allow_all;
 *   - pipelining: encode several decisions back to back into one buffer,
 *     decode the replies in order;
 *   - Redis Cluster key naming (hash tags) and the key slot (CRC16);
 *   - a hybrid fleet limiter (local share + periodic sync) and a failure
 *     policy (fail open / fail closed / fall back to the local limiter),
 *     with counters.
 *
 * Nothing in this component allocates: every output goes to a caller
 * buffer or struct.
 *
 * Thread safety: functions that take only buffers and values are safe to
 * call concurrently. A gwlb_redis_parser needs exclusive access (one per
 * connection).
 */
#ifndef GWLB_REDIS_H
#define GWLB_REDIS_H

#include "gwlb/common.h"
#include "gwlb/limiter.h"

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

/* ======================================================================
 * The GCRA script: fleet-wide GCRA buckets in Redis
 * ====================================================================== */

/*
 * The script takes gwlb_gcra_decide()'s decision (redis-cell CL.THROTTLE
 * semantics, see gwlb/limiter.h) atomically in Redis, on the bucket stored
 * at one key, and answers the same gwlb_limit_result fields. Usage:
 *
 *   once per connection (or lazily): SCRIPT LOAD   gwlb_redis_encode_script_load
 *   per decision:                    EVALSHA       gwlb_redis_encode_gcra
 *   reply -> gwlb_redis_decode_gcra; GWLB_ENOENT there means NOSCRIPT (the
 *   server lost its script cache): send the same call again with
 *   GWLB_REDIS_GCRA_EVAL (the full text; it also caches the script).
 *
 * Key value: the TAT as decimal ns since the Unix epoch (what redis-cell
 * stores), written with SET ... PX (TAT - now) + 1 s, so a key vanishes
 * one second after its bucket is full again (the second absorbs a Redis
 * clock that runs up to 1 s ahead of the hosts'; an expired TAT and a
 * missing key decide the same).
 *
 * Time. `now` comes from the host, as everywhere in libgwlb, but for a
 * fleet it must be the SAME clock on every gateway: wall-clock ns since
 * the Unix epoch (CLOCK_REALTIME), not a per-machine monotonic clock.
 * Skew between gateways shifts their decisions: a gateway whose clock is
 * d ns ahead sees every bucket d ns emptier (it admits up to d / T extra
 * requests in a burst), one that is behind sees it fuller. With NTP
 * (skew ~1 ms) and T = 10 ms that is at most one request. Alternatively
 * GWLB_REDIS_GCRA_SERVER_TIME makes the script read Redis's TIME (us
 * resolution): one clock for all gateways, no skew, but decisions then
 * depend on the server (not reproducible from the host's inputs), a
 * failover to a replica with another clock moves time, and the hybrid
 * mode below cannot be used (it needs host time).
 *
 * Exactness. Lua numbers are doubles; the script keeps absolute times as
 * two exact parts and works on durations, which must stay below 2^53 ns
 * (about 104 days): the encoder refuses (GWLB_ERANGE) a config whose
 * tolerance DVT exceeds 2^53 ns. Within that range the script's answers
 * equal gwlb_gcra_decide's bit for bit (tested against redis-server).
 */

/** SHA1 of the script text: the EVALSHA handle (checked against SCRIPT LOAD by a test). */
#define GWLB_REDIS_GCRA_SHA1 "2070e8c28ce8849186068994285cb263d5b765e8"

/** The script text (static); *len gets its length when len is not NULL. Thread-safe. */
GWLB_API const char *gwlb_redis_gcra_script(size_t *len);

/** GWLB_REDIS_GCRA_SHA1 as a function (for bindings). Thread-safe. */
GWLB_API const char *gwlb_redis_gcra_sha1(void);

/**
 * Encode "SCRIPT LOAD <script>" (Redis answers the SHA1 as a bulk string).
 * Errors as gwlb_redis_encode_command. Thread-safe.
 */
GWLB_API int gwlb_redis_encode_script_load(uint8_t *out, size_t cap, size_t *written);

/** Flags for gwlb_redis_encode_gcra. */
enum gwlb_redis_gcra_flag {
    /* EVAL with the script text instead of EVALSHA (after NOSCRIPT) */
    GWLB_REDIS_GCRA_EVAL = 1u << 0,
    /* the script reads Redis TIME; `now` is ignored (see "Time" above) */
    GWLB_REDIS_GCRA_SERVER_TIME = 1u << 1,
    /* add cost * T to the bucket without a limit check and answer the new
       TAT: how the hybrid mode reports what it admitted locally */
    GWLB_REDIS_GCRA_CHARGE = 1u << 2
};

/**
 * Encode one decision: EVALSHA <sha> 1 <key> <now> <T> <DVT> <cost> <charge>
 * (EVAL <script> ... with GWLB_REDIS_GCRA_EVAL). `config` is the local
 * limiter's gwlb_gcra_config (gwlb_gcra_config_init); `key` is the Redis
 * key (see gwlb_redis_key_format for Cluster hash tags); `now` is wall
 * clock ns since the epoch; cost 0 peeks.
 *
 * Errors (nothing written): GWLB_EINVAL (NULL out/written/config, empty
 * key, T = 0, unknown flag), GWLB_ERANGE (DVT above 2^53 ns, or a charge
 * that would take the TAT more than 2^53 ns ahead), GWLB_ENOSPC (*written
 * = bytes needed). Thread-safe.
 */
GWLB_API int gwlb_redis_encode_gcra(uint8_t *out, size_t cap, size_t *written,
                                    const gwlb_gcra_config *config, const void *key,
                                    size_t key_len, uint64_t cost, uint64_t now, uint32_t flags);

/** One decision of a pipelined batch. */
typedef struct gwlb_redis_gcra_call {
    const gwlb_gcra_config *config;
    const void *key;
    size_t key_len;
    uint64_t cost;
    uint32_t flags; /* OR-ed with the batch's flags */
} gwlb_redis_gcra_call;

/**
 * Encode n decisions back to back (a pipeline: one write, n replies in
 * order). On GWLB_ENOSPC *written is the size the whole batch needs (the
 * buffer may hold a partial batch: do not send it). Other errors as
 * gwlb_redis_encode_gcra for the first bad call. Thread-safe.
 */
GWLB_API int gwlb_redis_encode_gcra_batch(uint8_t *out, size_t cap, size_t *written,
                                          const gwlb_redis_gcra_call *calls, size_t n,
                                          uint64_t now, uint32_t flags);

/** A decoded script reply. */
typedef struct gwlb_redis_gcra_answer {
    int32_t status;           /* 0, GWLB_ENOENT (NOSCRIPT), GWLB_EBUSY, GWLB_EPROTO */
    uint32_t reserved_;
    gwlb_limit_result result; /* valid when status is 0 */
    uint64_t tat;             /* the bucket's TAT after the decision (ns since epoch; 0 = none) */
} gwlb_redis_gcra_answer;

/**
 * Decode one script reply from buf[0 .. len) (RESP2 or RESP3; out-of-band
 * push messages before it are skipped). *consumed = bytes to drop.
 * Returns 0 (answer filled), GWLB_EAGAIN (incomplete: *consumed may be
 * non-zero when pushes were skipped), or, with the reply consumed and
 * answer->status set:
 *   GWLB_ENOENT  NOSCRIPT error: resend the call with GWLB_REDIS_GCRA_EVAL
 *   GWLB_EBUSY   any other error reply (BUSY, OOM, READONLY, LOADING...):
 *                treat as a failed call (gwlb_redis_limit_failed)
 *   GWLB_EPROTO  a well-formed reply of the wrong shape (*consumed > 0)
 * GWLB_EPROTO with *consumed 0 (or another parser error) means the byte
 * stream is malformed: close the connection. GWLB_EINVAL for NULL
 * arguments. Thread-safe.
 */
GWLB_API int gwlb_redis_decode_gcra(const uint8_t *buf, size_t len, size_t *consumed,
                                    gwlb_redis_gcra_answer *answer);

/**
 * Decode up to n replies of a pipelined batch, in order, into answers[]
 * (each with its own status). *decoded = replies decoded, *consumed = their
 * bytes. Returns 0 when all n are decoded, GWLB_EAGAIN when more bytes are
 * needed (call again from buf + *consumed for the rest), or a stream error
 * as gwlb_redis_decode_gcra. Thread-safe.
 */
GWLB_API int gwlb_redis_decode_gcra_batch(const uint8_t *buf, size_t len, size_t *consumed,
                                          gwlb_redis_gcra_answer *answers, size_t n,
                                          size_t *decoded);

/* ---- several limits of one request, all-or-nothing ------------------------ */

/*
 * A second script does for GCRA limits what gwlb_limiter_allow_all does
 * locally: apply `cost` to every key in order; the first limit that
 * rejects makes the whole request rejected with nothing written (the
 * answer describes that limit, failed_index = its position); when all
 * admit, every key is written and the answer describes the limit with the
 * fewest remaining (the first of equals), failed_index = -1. In Redis
 * Cluster all keys of one call must hash to one slot: give them one hash
 * tag (gwlb_redis_key_format), e.g. "rl:{client7}:route3", "rl:{client7}:all".
 */

/** SHA1 of the all-or-nothing script (checked against SCRIPT LOAD by a test). */
#define GWLB_REDIS_GCRA_ALL_SHA1 "bc8d5e90419e77f2186eabc0f88c567240b4692b"
/** Most keys in one all-or-nothing call (gwlb_limiter_allow_all's limit). */
#define GWLB_REDIS_GCRA_ALL_MAX 64

/** One limit of an all-or-nothing call. */
typedef struct gwlb_redis_gcra_key {
    const gwlb_gcra_config *config;
    const void *key;
    size_t key_len;
} gwlb_redis_gcra_key;

/** The all-or-nothing script text (static). Thread-safe. */
GWLB_API const char *gwlb_redis_gcra_all_script(size_t *len);

/** Encode "SCRIPT LOAD <all-or-nothing script>". Errors as gwlb_redis_encode_command. */
GWLB_API int gwlb_redis_encode_script_load_all(uint8_t *out, size_t cap, size_t *written);

/**
 * Encode EVALSHA <sha> n <key...> <now> <cost> (<T> <DVT>)... for the n
 * limits of one request (EVAL with GWLB_REDIS_GCRA_EVAL; Redis TIME with
 * GWLB_REDIS_GCRA_SERVER_TIME). Errors (nothing written): GWLB_EINVAL
 * (NULL, empty key, T = 0, another flag), GWLB_EMPTY (n = 0), GWLB_ERANGE
 * (n above GWLB_REDIS_GCRA_ALL_MAX, a DVT above 2^53 ns), GWLB_ENOSPC
 * (*written = bytes needed). Thread-safe.
 */
GWLB_API int gwlb_redis_encode_gcra_all(uint8_t *out, size_t cap, size_t *written,
                                        const gwlb_redis_gcra_key *keys, size_t n,
                                        uint64_t cost, uint64_t now, uint32_t flags);

/**
 * Decode the all-or-nothing reply: as gwlb_redis_decode_gcra, plus
 * *failed_index (the rejecting limit, or -1 when all admitted).
 * GWLB_EINVAL when failed_index is NULL. Thread-safe.
 */
GWLB_API int gwlb_redis_decode_gcra_all(const uint8_t *buf, size_t len, size_t *consumed,
                                        gwlb_redis_gcra_answer *answer, int32_t *failed_index);

/* ======================================================================
 * Redis Cluster key naming
 * ====================================================================== */

/**
 * Build "prefix{tag}suffix" at out: keys with the same tag land on the
 * same Redis Cluster slot (e.g. tag = client id, suffix = ":route:7"), so
 * several limits of one client stay on one node. prefix may be NULL.
 * Errors (nothing written): GWLB_EINVAL (NULL out/written/tag, empty tag,
 * a '{' in the prefix or a '}' in the tag, which would move the tag),
 * GWLB_ENOSPC (*written = bytes needed), GWLB_EOVERFLOW. Thread-safe.
 */
GWLB_API int gwlb_redis_key_format(uint8_t *out, size_t cap, size_t *written,
                                   const char *prefix, const void *tag, size_t tag_len,
                                   const void *suffix, size_t suffix_len);

/**
 * The Redis Cluster slot (0..16383) of a key, as CLUSTER KEYSLOT computes
 * it: CRC16 of the hash tag (the bytes between the first '{' and the next
 * '}', when not empty) or of the whole key, modulo 16384. 0 for NULL.
 * Thread-safe.
 */
GWLB_API uint16_t gwlb_redis_key_slot(const void *key, size_t len);

/** CRC16-XMODEM as Redis Cluster uses it (crc16("123456789") = 0x31C3). Thread-safe. */
GWLB_API uint16_t gwlb_redis_crc16(const void *data, size_t len);

/* ======================================================================
 * Fleet limits: hybrid local/remote decisions and the failure policy
 * ====================================================================== */

/*
 * A gwlb_redis_limit is one key's fleet-wide GCRA bucket as one gateway
 * sees it: a local TAT (the fleet TAT from the last answer, plus what this
 * gateway admitted since) and the cost admitted locally but not yet
 * charged to Redis ("pending"). Three 64-bit words, pointer-free, updated
 * atomically: embed it in the host's per-key table, shared memory included.
 *
 * Hybrid mode (like Tyk's DRL and Kong's sync_rate): gwlb_redis_limit_allow
 * decides locally while the gateway's unreported cost stays within
 * `local_share`; beyond it the answer is GWLB_REDIS_ASK_REDIS and the host
 * asks Redis for this decision (gwlb_redis_limit_encode_remote). Whenever
 * the host chooses (a timer; gwlb_redis_limit_sync_due says when), it
 * reports the pending cost with a CHARGE call and merges the fleet TAT
 * the answer carries (gwlb_redis_limit_encode_sync / _merge).
 *
 * A CHARGE is applied as if the whole pending batch had been admitted when
 * its first unit was (pending_since): exact for a backlog admitted at once,
 * and a backlog spread over a long outage is not charged as one burst.
 *
 * Error bound. A local decision only misses what other gateways admitted
 * and have not reported yet, and each gateway holds at most local_share
 * unreported, so over any interval of length D the fleet should admit at
 * most
 *
 *     rate * D + limit + N * local_share        (N gateways)
 *
 * (an argument, not a proof; the bound held in every measured run:
 * tests/redis/test_fleet.c over 9 share/sync combinations, and 4 real
 * processes against redis-server in the integration test).
 * local_share 0 = every admission decided in Redis: exact (4 processes
 * admit exactly limit + rate x time). Even then a request the local view
 * already knows to be over the limit is rejected without a Redis call:
 * the local TAT is a max of Redis answers, never ahead of the fleet's.
 *
 * Failure policy: when a Redis call failed or timed out, the host calls
 * gwlb_redis_limit_failed, which answers by the limit's policy: FAIL_OPEN
 * admits, FAIL_CLOSED rejects, FAIL_LOCAL decides on the local bucket
 * alone (and keeps the admitted cost pending, to be charged when Redis is
 * back). Cost taken for a failed sync is given back
 * (gwlb_redis_limit_restore), so no local state is lost. (A Redis that
 * restarts without persistence has lost every TAT: each key starts with
 * a full bucket there, as with redis-cell.)
 *
 * `now` is the fleet clock (ns since the epoch, see "Time" above).
 */

/** What to do when Redis cannot answer. */
enum gwlb_redis_failure_policy {
    GWLB_REDIS_FAIL_OPEN = 1,   /* admit (availability over precision) */
    GWLB_REDIS_FAIL_CLOSED = 2, /* reject (protect the backend) */
    GWLB_REDIS_FAIL_LOCAL = 3   /* decide on this gateway's local bucket */
};

/** Where gwlb_redis_limit_allow's decision was taken. */
enum gwlb_redis_verdict {
    GWLB_REDIS_DECIDED_LOCALLY = 1, /* *result is the decision */
    GWLB_REDIS_ASK_REDIS = 2        /* local share used up: decide in Redis */
};

/** Immutable per-limit configuration (gwlb_redis_limit_config_init). */
typedef struct gwlb_redis_limit_config {
    gwlb_gcra_config gcra;     /* the fleet-wide limit */
    uint64_t local_share;      /* cost a gateway may admit unreported (0 = exact) */
    uint64_t sync_interval_ns; /* sync at least this often (0 = only by share) */
    uint32_t failure_policy;   /* enum gwlb_redis_failure_policy */
    uint32_t reserved_;
} gwlb_redis_limit_config;

/** One key's state on one gateway (32 bytes; all words atomic). */
typedef struct gwlb_redis_limit {
    uint64_t tat;           /* local view of the fleet TAT (ns since epoch; 0 = fresh) */
    uint64_t pending;       /* cost admitted locally, not yet charged to Redis */
    uint64_t pending_since; /* now of the first admission in the pending batch */
    uint64_t last_sync;     /* now of the last merged answer (0 = never) */
} gwlb_redis_limit;

/**
 * Counters, updated atomically (relaxed) by every call that gets a non-NULL
 * stats pointer; one struct per limit, per gateway or per process, as the
 * host likes. Zero it to start.
 */
typedef struct gwlb_redis_stats {
    uint64_t local_admitted;  /* hybrid: admitted without Redis */
    uint64_t local_rejected;  /* hybrid: rejected without Redis (bucket known full) */
    uint64_t ask_redis;       /* hybrid: decisions handed to Redis */
    uint64_t remote_admitted; /* Redis answers merged: admitted */
    uint64_t remote_rejected; /* Redis answers merged: rejected */
    uint64_t syncs;           /* sync answers merged */
    uint64_t failures;        /* failed or timed-out calls reported */
    uint64_t failed_open;     /* admitted by FAIL_OPEN */
    uint64_t failed_closed;   /* rejected by FAIL_CLOSED */
    uint64_t fallback_admitted; /* FAIL_LOCAL: admitted by the local bucket */
    uint64_t fallback_rejected; /* FAIL_LOCAL: rejected by the local bucket */
} gwlb_redis_stats;

/**
 * Fill a config. gcra from gwlb_gcra_config_init; local_share 0 makes
 * every decision remote. Errors (cfg untouched): GWLB_EINVAL (NULL, gcra
 * with T = 0, unknown policy), GWLB_ERANGE (DVT above 2^53 ns, or
 * local_share so large that a charge could exceed 2^53 ns). Thread-safe.
 */
GWLB_API int gwlb_redis_limit_config_init(gwlb_redis_limit_config *cfg,
                                          const gwlb_gcra_config *gcra, uint64_t local_share,
                                          uint64_t sync_interval_ns, uint32_t failure_policy);

/** A fresh key state (all zero). Errors: GWLB_EINVAL. Exclusive access. */
GWLB_API int gwlb_redis_limit_init(gwlb_redis_limit *limit);

/**
 * Hybrid decision for `cost` at `now`. Sets *verdict:
 *   GWLB_REDIS_DECIDED_LOCALLY  *result holds the decision. Admitted: the
 *       local TAT moved and cost joined `pending`. Rejected: the bucket as
 *       known here is already full (the fleet's can only be fuller).
 *   GWLB_REDIS_ASK_REDIS  the local bucket would admit but pending + cost
 *       exceeds local_share: encode the decision for Redis
 *       (gwlb_redis_limit_encode_remote); nothing changed.
 * Errors: GWLB_EINVAL (NULL). Lock-free; safe to call concurrently.
 */
GWLB_API int gwlb_redis_limit_allow(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                                    uint64_t now, uint64_t cost, gwlb_redis_stats *stats,
                                    gwlb_limit_result *result, uint32_t *verdict);

/**
 * Encode a remote decision for `cost` at `now` on `key`, preceded (in the
 * same pipeline) by a CHARGE of the pending cost when there is any.
 * *taken = cost taken from pending (0 if none), *replies = replies to
 * expect (1 or 2; decode them in order with gwlb_redis_decode_gcra_batch).
 * flags: GWLB_REDIS_GCRA_EVAL after NOSCRIPT. On an encoding error nothing
 * is taken. Errors as gwlb_redis_encode_gcra. Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_encode_remote(const gwlb_redis_limit_config *cfg,
                                            gwlb_redis_limit *limit, uint8_t *out, size_t cap,
                                            size_t *written, const void *key, size_t key_len,
                                            uint64_t now, uint64_t cost, uint32_t flags,
                                            uint64_t *taken, uint32_t *replies);

/**
 * Encode a sync: CHARGE the pending cost (possibly 0: then it only reads
 * the fleet TAT). *taken = cost taken from pending (capped so the charge
 * stays exact; the rest stays pending). Errors as gwlb_redis_encode_gcra
 * (nothing taken then). Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_encode_sync(const gwlb_redis_limit_config *cfg,
                                          gwlb_redis_limit *limit, uint8_t *out, size_t cap,
                                          size_t *written, const void *key, size_t key_len,
                                          uint64_t now, uint32_t flags, uint64_t *taken);

/**
 * Merge a Redis answer (of a sync, a charge or a remote decision) into the
 * local state: the local TAT becomes max(local, answer's TAT) and
 * last_sync = now. For a remote decision pass `decision` non-NULL: it gets
 * the answer's result, and stats count it. Errors: GWLB_EINVAL (NULL
 * cfg/limit/answer), GWLB_ESTATE (answer->status is not 0: nothing
 * merged; treat as a failure). Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_merge(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                                    uint64_t now, const gwlb_redis_gcra_answer *answer,
                                    gwlb_redis_stats *stats, gwlb_limit_result *decision);

/**
 * Give back cost taken for a sync or charge that failed (it stays pending
 * and is charged by a later sync). Errors: GWLB_EINVAL. Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_restore(gwlb_redis_limit *limit, uint64_t taken);

/**
 * The Redis call for a decision of `cost` failed or timed out: decide by
 * the failure policy into *result (FAIL_LOCAL admissions join pending).
 * Counts stats->failures and the policy's counter.
 * Errors: GWLB_EINVAL (NULL). Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_failed(const gwlb_redis_limit_config *cfg, gwlb_redis_limit *limit,
                                     uint64_t now, uint64_t cost, gwlb_redis_stats *stats,
                                     gwlb_limit_result *result);

/**
 * 1 when a sync is due: pending reached half the local share, or
 * sync_interval_ns passed since the last merge while cost is pending;
 * else 0 (also for NULL). Safe concurrently.
 */
GWLB_API int gwlb_redis_limit_sync_due(const gwlb_redis_limit_config *cfg,
                                       const gwlb_redis_limit *limit, uint64_t now);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_REDIS_H */
