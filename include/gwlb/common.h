/*
 * libgwlb — common definitions shared by every component.
 *
 * What lives here: version macros, the export macro, the error model
 * (negative GWLB_E* codes, gwlb_strerror, gwlb_err_name, the error-detail
 * struct builders fill), the per-object allocator, time, the seeded PRNG
 * and the library's documented hash functions (xxHash64, SipHash-2-4/1-3,
 * CRC32 as nginx computes it).
 *
 * Conventions (they hold for every header):
 *   - Fallible calls return int: 0 (GWLB_OK) on success, a negative GWLB_E*
 *     code on failure; results go through out-parameters. A rejected input
 *     leaves the object exactly as it was.
 *   - Time is an input: uint64_t monotonic nanoseconds passed by the host.
 *     The library never reads a clock itself.
 *   - Thread safety is stated per function. Functions that only read
 *     immutable data or take their arguments by value are safe everywhere.
 *   - _free(NULL) is a no-op; a NULL required argument is GWLB_EINVAL.
 */
#ifndef GWLB_COMMON_H
#define GWLB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ---------------------------------------------------------- */

#define GWLB_VERSION_MAJOR 1
#define GWLB_VERSION_MINOR 0
#define GWLB_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH, as in SQLITE_VERSION_NUMBER. */
#define GWLB_VERSION_NUMBER \
    (GWLB_VERSION_MAJOR * 10000 + GWLB_VERSION_MINOR * 100 + GWLB_VERSION_PATCH)
#define GWLB_VERSION_STRING "1.0.0"

/* ---- Export macro ----------------------------------------------------- */

#if defined(GWLB_BUILDING) && defined(__GNUC__)
#define GWLB_API __attribute__((visibility("default")))
#else
#define GWLB_API
#endif

/**
 * The library's version number (GWLB_VERSION_NUMBER of the build).
 * Compare it with GWLB_VERSION_NUMBER to check that header and library agree.
 * Thread-safe.
 */
GWLB_API int gwlb_version_number(void);

/** The library's version as a static string ("1.0.0"). Thread-safe. */
GWLB_API const char *gwlb_version_string(void);

/* ---- Errors ----------------------------------------------------------- */

/*
 * One table gives the codes, their names and their messages (X-macro, as in
 * libuv's UV_ERRNO_MAP). Codes are stable ABI: never renumber; append only.
 */
#define GWLB_ERROR_MAP(X)                                                     \
    X(EINVAL, -1, "invalid argument")                                        \
    X(ENOMEM, -2, "out of memory")                                           \
    X(ERANGE, -3, "value out of range")                                      \
    X(EEXIST, -4, "already exists (duplicate identity)")                     \
    X(ENOENT, -5, "not found")                                               \
    X(ENOHOST, -6, "no host available")                                      \
    X(ESTATE, -7, "operation not valid in the current state")                \
    X(EOVERFLOW, -8, "arithmetic overflow")                                  \
    X(ETOOLONG, -9, "input too long")                                        \
    X(ESYNTAX, -10, "syntax error")                                          \
    X(ECONFLICT, -11, "conflicting definitions")                             \
    X(EAGAIN, -12, "incomplete input: need more bytes")                      \
    X(EPROTO, -13, "malformed protocol data")                                \
    X(EVERSION, -14, "header and library versions or sizes disagree")        \
    X(ENOSPC, -15, "output buffer too small")                                \
    X(EFULL, -16, "table full")                                              \
    X(EBUSY, -17, "resource busy")                                           \
    X(ELIMIT, -18, "limit reached")                                          \
    X(EMPTY, -19, "empty input")                                             \
    X(ENOTPRIME, -20, "table size must be prime")                            \
    X(EWEIGHT, -21, "weight out of range")                                   \
    X(ETIME, -22, "time went backwards")                                     \
    X(ENOTSUP, -23, "not supported by this object or algorithm")             \
    X(EUNKNOWN, -24, "unknown host, key or generation")                      \
    X(EFORGED, -25, "token authentication failed")                           \
    X(EMETHOD, -26, "method not allowed")

enum gwlb_error {
    GWLB_OK = 0,
#define GWLB__ERR_ENUM(name, value, msg) GWLB_##name = (value),
    GWLB_ERROR_MAP(GWLB__ERR_ENUM)
#undef GWLB__ERR_ENUM
};

/**
 * A static English message for an error code. Unknown codes (including
 * positive values) give "unknown error". Never returns NULL. Thread-safe.
 */
GWLB_API const char *gwlb_strerror(int code);

/**
 * The symbolic name of a code ("GWLB_EINVAL", "GWLB_OK"); "GWLB_E?" for an
 * unknown code. Never returns NULL. Thread-safe.
 */
GWLB_API const char *gwlb_err_name(int code);

#define GWLB_ERROR_MESSAGE_MAX 160

/**
 * Where a builder found a problem. Caller-allocated; pass NULL where the
 * detail is not wanted. Builders fill it only on failure.
 *   code    the error returned
 *   item    index of the offending input item (route, host, ...), or -1
 *   other   index of a second item involved (e.g. the conflicting route), or -1
 *   column  0-based column/offset inside the item's text, or -1
 *   field   static name of the offending field ("weight", "path"...), or NULL
 *   message a short NUL-terminated explanation
 */
typedef struct gwlb_error_detail {
    int32_t code;
    int32_t item;
    int32_t other;
    int32_t column;
    const char *field;
    char message[GWLB_ERROR_MESSAGE_MAX];
} gwlb_error_detail;

/** Reset a detail to "no error" (code 0, indices -1, empty message). */
GWLB_API void gwlb_error_detail_init(gwlb_error_detail *detail);

/* ---- Allocator -------------------------------------------------------- */

/**
 * Per-object allocator. Every object that allocates takes one (NULL means
 * libc malloc/realloc/free) and keeps a copy; whatever the library
 * allocates through it, the library frees through it. `size` is passed to
 * free so arena/pool allocators need no header. The functions must be
 * callable from whatever thread calls the object's build/free functions.
 */
typedef struct gwlb_allocator {
    void *(*malloc)(size_t size, void *user_data);
    void *(*realloc)(void *ptr, size_t old_size, size_t new_size, void *user_data);
    void (*free)(void *ptr, size_t size, void *user_data);
    void *user_data;
} gwlb_allocator;

/** The libc allocator (static, never NULL). Thread-safe. */
GWLB_API const gwlb_allocator *gwlb_allocator_default(void);

/* ---- Time ------------------------------------------------------------- */

#define GWLB_NS_PER_US UINT64_C(1000)
#define GWLB_NS_PER_MS UINT64_C(1000000)
#define GWLB_NS_PER_SEC UINT64_C(1000000000)

/**
 * Convenience for hosts: CLOCK_MONOTONIC in nanoseconds. The library never
 * calls it internally; every time-dependent call takes `now` from the host.
 * Thread-safe.
 */
GWLB_API uint64_t gwlb_clock_ns(void);

/* ---- Host eligibility flags -------------------------------------------- */

/*
 * Independent reasons a host may not take new requests. Health tracking sets
 * and clears them; the balancer reads them. A host is eligible for new
 * requests iff none of GWLB_HOST_INELIGIBLE_MASK is set. GWLB_HOST_DEGRADED
 * hosts are used only when healthy ones are not enough.
 */
enum gwlb_host_flag {
    GWLB_HOST_FAILED_ACTIVE = 1u << 0,  /* failed active health check */
    GWLB_HOST_EJECTED = 1u << 1,        /* ejected as an outlier */
    GWLB_HOST_FAILED_PASSIVE = 1u << 2, /* passive threshold (max_fails) */
    GWLB_HOST_DRAINING = 1u << 3,       /* admin drain: in-flight finish */
    GWLB_HOST_MAINTENANCE = 1u << 4,    /* admin maintenance */
    GWLB_HOST_DEGRADED = 1u << 5,       /* usable, but last choice */
    GWLB_HOST_PENDING_REMOVAL = 1u << 6 /* removed from config, in-flight finish */
};
#define GWLB_HOST_INELIGIBLE_MASK                                          \
    (GWLB_HOST_FAILED_ACTIVE | GWLB_HOST_EJECTED | GWLB_HOST_FAILED_PASSIVE | \
     GWLB_HOST_DRAINING | GWLB_HOST_MAINTENANCE | GWLB_HOST_PENDING_REMOVAL)

/* ---- PRNG ------------------------------------------------------------- */

/**
 * Seeded pseudo-random generator: SplitMix64 (Steele, Lea & Flood 2014),
 * one 64-bit word of state advanced with an atomic add, so a single
 * generator may be shared by threads and by processes (in shared memory)
 * without a lock. Not cryptographic.
 */
typedef struct gwlb_rng {
    uint64_t state; /* accessed atomically; plain word for embedding */
} gwlb_rng;

/** Seed a generator. Needs exclusive access. */
GWLB_API void gwlb_rng_seed(gwlb_rng *rng, uint64_t seed);

/** Next 64 random bits. Safe to call concurrently on one generator. */
GWLB_API uint64_t gwlb_rng_next(gwlb_rng *rng);

/**
 * A uniform value in [0, bound) (bound > 0), by Lemire's multiply-shift
 * (bias below 2^-32 for bound < 2^32). Returns 0 when bound is 0.
 * Safe to call concurrently.
 */
GWLB_API uint64_t gwlb_rng_below(gwlb_rng *rng, uint64_t bound);

/** The SplitMix64 output function applied to x (a good 64-bit mixer). */
GWLB_API uint64_t gwlb_mix64(uint64_t x);

/* ---- Hash functions ---------------------------------------------------- */

/**
 * xxHash64 (XXH64 by Yann Collet) of `len` bytes with `seed`: the library's
 * fast 64-bit key hash, also what Envoy uses for ring hash and Maglev.
 * `data` may be NULL only when len is 0. Thread-safe.
 */
GWLB_API uint64_t gwlb_hash64(const void *data, size_t len, uint64_t seed);

/**
 * gwlb_hash64 of `count` keys of the same length in one call:
 * out[i] = gwlb_hash64((const char *)keys + i * stride, key_len, seed), bit
 * for bit, for i < count. Keys of 8 or 16 bytes run 8 or 16 at a time in
 * 64-bit vector lanes on x86-64 CPUs with AVX-512 F+DQ (checked at run
 * time); other lengths and CPUs hash one key after another. stride is the
 * distance in bytes from one key to the next (key_len for packed keys; 16
 * for an array of 16-byte keys, the fastest layout). Thread-safe; reads
 * only key bytes, writes only out[0..count).
 * Returns GWLB_OK, or GWLB_EINVAL (nothing written) when stride < key_len,
 * keys or out is NULL with count > 0, or (count - 1) * stride + key_len
 * does not fit in size_t.
 */
GWLB_API int gwlb_hash64_batch(const void *keys, size_t key_len, size_t stride, uint32_t count,
                               uint64_t seed, uint64_t *out);

/**
 * SipHash-2-4 (Aumasson & Bernstein) with a 16-byte key: the keyed hash for
 * tables exposed to client-chosen keys. Thread-safe.
 */
GWLB_API uint64_t gwlb_siphash24(const uint8_t key[16], const void *data, size_t len);

/** SipHash-1-3: the faster variant (as used by Rust's HashMap). Thread-safe. */
GWLB_API uint64_t gwlb_siphash13(const uint8_t key[16], const void *data, size_t len);

/**
 * CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, init and final XOR
 * 0xFFFFFFFF) — bit-identical to nginx's ngx_crc32_long/ngx_crc32_short.
 * gwlb_crc32("123456789", 9) == 0xCBF43926. Thread-safe.
 */
GWLB_API uint32_t gwlb_crc32(const void *data, size_t len);

/**
 * Incremental CRC-32 as nginx's ngx_crc32_init/update/final:
 * crc = GWLB_CRC32_INIT; crc = gwlb_crc32_update(crc, p, n)...;
 * result = gwlb_crc32_final(crc).
 */
#define GWLB_CRC32_INIT UINT32_C(0xffffffff)
GWLB_API uint32_t gwlb_crc32_update(uint32_t crc, const void *data, size_t len);
#define gwlb_crc32_final(crc) ((uint32_t)((crc) ^ UINT32_C(0xffffffff)))

#ifdef __cplusplus
}
#endif

#endif /* GWLB_COMMON_H */
