/*
 * libgwlb — hash-based balancing: the same key goes to the same backend, and
 * as few keys as possible move when hosts come and go.
 *
 * One opaque, immutable table (gwlb_hash_table) is built from an array of
 * hosts (stable identity bytes such as "10.0.0.1:8080", and a weight) with
 * one of these algorithms:
 *
 *   GWLB_HASH_NGINX_IP          nginx `ip_hash`, bit-exact
 *   GWLB_HASH_NGINX_HASH        nginx `hash $key` (Cache::Memcached), bit-exact
 *   GWLB_HASH_NGINX_CONSISTENT  nginx `hash $key consistent` (ketama), bit-exact
 *   GWLB_HASH_RING              ring hash as Envoy builds it (xxHash64 points)
 *   GWLB_HASH_MAGLEV            Maglev (NSDI 2016), prime table, O(1) lookup;
 *                               built as Envoy builds it (offset/skip from
 *                               xxHash64 seeds 0/1, weights by turns); a key
 *                               hash h picks slot (h >> 32) * M >> 32 (no
 *                               division), not Envoy's h % M
 *   GWLB_HASH_RENDEZVOUS        weighted rendezvous (highest random weight)
 *   GWLB_HASH_JUMP              jump consistent hash (Lamping & Veach)
 *
 * Everything is deterministic: the mapping depends only on the host list
 * (identities, weights, and for the nginx algorithms and jump hash their
 * order), the algorithm's parameters and the key — never on pointers,
 * addresses or random seeds — so every gateway instance with the same host
 * list maps a key identically.
 *
 * Per request the host calls gwlb_hash_table_pick() with a small
 * caller-owned gwlb_hash_attempt. The first call gives the key's host; each
 * further call with the same attempt gives the next candidate for the same
 * key (a retry after a failed attempt), never one already returned.
 * Eligibility is the caller's: an optional callback says whether a host may
 * take the request now (healthy, not at its limit...); unusable hosts are
 * skipped exactly as the algorithm's reference implementation skips them.
 *
 * Lookups allocate nothing, take no lock, and only read the table, so one
 * table may be used by any number of threads at once. To change the host
 * list, build a new table and swap it in.
 */
#ifndef GWLB_HASHING_H
#define GWLB_HASHING_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits and defaults ---------------------------------------------- */

#define GWLB_HASH_WEIGHT_MAX 10000u        /* host weight: 1 .. this */
#define GWLB_HASH_IDENTITY_MAX 255u        /* identity bytes: 1 .. this */
#define GWLB_HASH_KEY_MAX 65536u           /* key bytes: 1 .. this */
#define GWLB_HASH_HOSTS_MAX 1000000u       /* hosts per table */
#define GWLB_HASH_POINTS_MAX 67108864u     /* ring / nginx consistent points (2^26) */
#define GWLB_HASH_MAGLEV_DEFAULT_SIZE 65537u
#define GWLB_HASH_MAGLEV_MAX_SIZE 67108859u /* largest prime below 2^26 */
#define GWLB_HASH_RING_DEFAULT_MIN 1024u
#define GWLB_HASH_RING_DEFAULT_MAX 8388608u
#define GWLB_HASH_NGINX_POINTS_PER_WEIGHT 160u
#define GWLB_HASH_NGINX_TRIES 20u          /* nginx gives up after 20 rehashes */
#define GWLB_HASH_BALANCE_FACTOR_MIN 100u  /* bounded load factor, percent */
#define GWLB_HASH_BALANCE_FACTOR_MAX 10000u

/*
 * Returned by gwlb_hash_table_pick() for the nginx algorithms where nginx
 * itself stops hashing and falls back to its round robin (smooth weighted
 * round robin over usable, untried peers): more than 20 unusable hashes in a
 * row, or a single-host table. The caller then picks by round robin.
 */
#define GWLB_HASH_USE_ROUND_ROBIN GWLB_ELIMIT

enum gwlb_hash_algorithm {
    GWLB_HASH_NGINX_IP = 1,
    GWLB_HASH_NGINX_HASH = 2,
    GWLB_HASH_NGINX_CONSISTENT = 3,
    GWLB_HASH_RING = 4,
    GWLB_HASH_MAGLEV = 5,
    GWLB_HASH_RENDEZVOUS = 6,
    GWLB_HASH_JUMP = 7
};

/* ---- Building a table -------------------------------------------------- */

/**
 * One host. `identity` is copied by the builder; it names the host stably
 * across rebuilds and processes (sticky tokens and the Maglev/ring/rendezvous
 * placement derive from it). For GWLB_HASH_NGINX_CONSISTENT it must be the
 * text of nginx's `server` directive ("127.0.0.1:8080", "unix:/path"):
 * nginx hashes its host and port parts.
 */
typedef struct gwlb_hash_host {
    const void *identity;
    uint32_t identity_len; /* 1 .. GWLB_HASH_IDENTITY_MAX */
    uint32_t weight;       /* 1 .. GWLB_HASH_WEIGHT_MAX */
} gwlb_hash_host;

/**
 * Table parameters. Always fill with gwlb_hash_config_init() first, then
 * change fields: new fields are added at the end and struct_size tells the
 * library which ones the caller knows.
 */
typedef struct gwlb_hash_config {
    uint32_t struct_size;       /* sizeof(gwlb_hash_config), set by _init */
    uint32_t algorithm;         /* enum gwlb_hash_algorithm */
    uint64_t ring_min_size;     /* GWLB_HASH_RING: minimum points (default 1024) */
    uint64_t ring_max_size;     /* GWLB_HASH_RING: maximum points (default 8M) */
    uint32_t maglev_table_size; /* GWLB_HASH_MAGLEV: prime M >= hosts (65537) */
    uint32_t sticky_enabled;    /* 1: sticky_key is set, tokens can be made */
    uint8_t sticky_key[16];     /* SipHash-2-4 key for sticky tokens (secret) */
} gwlb_hash_config;

/** Fill `config` with the defaults for `algorithm`. NULL is ignored. */
GWLB_API void gwlb_hash_config_init(gwlb_hash_config *config, uint32_t algorithm);

typedef struct gwlb_hash_table gwlb_hash_table;

/**
 * Build a table over `hosts[0..count)`. Host i of the input is host index i
 * in every result. `allocator` NULL means libc; the table keeps a copy.
 *
 * Errors (nothing is allocated on failure; `detail`, when not NULL, names
 * the offending host index and field):
 *   GWLB_EINVAL    out, config or hosts NULL; identity NULL; unknown algorithm
 *   GWLB_EVERSION  config->struct_size unknown
 *   GWLB_EMPTY     count 0, or an identity of length 0
 *   GWLB_ETOOLONG  identity longer than GWLB_HASH_IDENTITY_MAX
 *   GWLB_ERANGE    count above GWLB_HASH_HOSTS_MAX; Maglev size below the
 *                  host count or above GWLB_HASH_MAGLEV_MAX_SIZE; ring
 *                  min > max, or a size of 0; more points than
 *                  GWLB_HASH_POINTS_MAX
 *   GWLB_ENOTPRIME Maglev table size not prime
 *   GWLB_EWEIGHT   weight 0 or above GWLB_HASH_WEIGHT_MAX
 *   GWLB_ENOTSUP   GWLB_HASH_JUMP with unequal weights (jump hash has none)
 *   GWLB_EEXIST    two hosts with the same identity (detail: both indices)
 *   GWLB_ENOMEM    allocation failed
 * Thread-safe (touches only its arguments).
 */
GWLB_API int gwlb_hash_table_new(gwlb_hash_table **out, const gwlb_hash_config *config,
                                 const gwlb_hash_host *hosts, uint32_t count,
                                 const gwlb_allocator *allocator, gwlb_error_detail *detail);

/** Free a table (NULL: no-op). No lookup may be running on it. */
GWLB_API void gwlb_hash_table_free(gwlb_hash_table *table);

/** Number of hosts (0 for NULL). Thread-safe. */
GWLB_API uint32_t gwlb_hash_table_count(const gwlb_hash_table *table);

/** The table's algorithm (0 for NULL). Thread-safe. */
GWLB_API uint32_t gwlb_hash_table_algorithm(const gwlb_hash_table *table);

/**
 * Bytes the table owns (struct, identities, points or lookup table...).
 * A Maglev table stores 2 bytes per slot up to 65535 hosts, 4 above.
 * Thread-safe.
 */
GWLB_API size_t gwlb_hash_table_memory(const gwlb_hash_table *table);

/**
 * The index of the host with this identity: 0 and *index, or GWLB_ENOENT;
 * GWLB_EINVAL for NULL arguments. O(log n). Thread-safe.
 */
GWLB_API int gwlb_hash_table_find(const gwlb_hash_table *table, const void *identity,
                                  size_t identity_len, uint32_t *index);

/* ---- Picking a host ---------------------------------------------------- */

/**
 * Eligibility test: nonzero when host `host` may take a request now. NULL
 * means every host is usable.
 */
typedef int (*gwlb_hash_usable_fn)(void *ctx, uint32_t host);

/**
 * Per-request pick state, owned by the caller (stack is fine), initialised
 * with gwlb_hash_attempt_init(). It remembers which hosts were returned
 * ("tried", as nginx's per-request bitmap) and where the algorithm's
 * candidate sequence stands. Fields are private.
 */
typedef struct gwlb_hash_attempt {
    uint64_t hash;
    uint64_t *tried;
    uint32_t tried_words;
    uint32_t tries;
    uint32_t rehash;
    uint32_t position;
    uint32_t picks;
    uint32_t flags;
    uint64_t inline_tried[4];
} gwlb_hash_attempt;

/**
 * Start an attempt. With tried_words NULL the attempt's own bitmap serves
 * tables of up to 256 hosts; for bigger tables pass a zeroed array of at
 * least (count + 63) / 64 words that lives as long as the attempt.
 */
GWLB_API void gwlb_hash_attempt_init(gwlb_hash_attempt *attempt, uint64_t *tried_words,
                                     uint32_t word_count);

/** Nonzero when `host` was already returned by this attempt. */
GWLB_API int gwlb_hash_attempt_tried(const gwlb_hash_attempt *attempt, uint32_t host);

/**
 * The key's host, ignoring eligibility and attempts: what a pick with every
 * host usable returns first. Same key rules and errors as
 * gwlb_hash_table_pick(). Thread-safe. Keys of 4, 8 or 16 bytes take the
 * fastest path (their xxHash64 is computed inline; same value as
 * gwlb_hash64(key, len, 0)). For GWLB_HASH_JUMP this is key -> bucket:
 * gwlb_jump_hash(gwlb_hash64(key, len, 0), count).
 */
GWLB_API int gwlb_hash_table_lookup(const gwlb_hash_table *table, const void *key,
                                    size_t key_len, uint32_t *host);

/**
 * Pick the next candidate host for `key` that is usable and not yet tried
 * by `attempt`, record it as tried, and return 0 with *host set. Call again
 * with the same attempt and the same key for a retry.
 *
 * The key: GWLB_HASH_NGINX_IP takes a client address in network byte order,
 * 4 bytes (IPv4: nginx hashes the first three) or 16 (IPv6; for an
 * IPv4-mapped address nginx also uses all 16). Others take any bytes.
 *
 * Candidate sequences:
 *   nginx ip_hash / hash: nginx's rehash sequence, counting its 20 tries
 *     (unusable and tried hosts both count, as in nginx).
 *   nginx consistent: the ring points after the key's point, 20 tries.
 *   ring, Maglev, rendezvous, jump: the key's host, then every other host
 *     once in a pseudo-random order derived from the key (a full cycle
 *     start + i*step mod n with step coprime to n): deterministic, and
 *     retries of one hot key spread instead of cascading to one neighbour.
 *
 * Returns:
 *   0                          *host set
 *   GWLB_HASH_USE_ROUND_ROBIN  nginx algorithms only: nginx would now use
 *                              round robin (20 tries spent, or a single
 *                              host); pick by smooth WRR, skipping hosts
 *                              gwlb_hash_attempt_tried() reports
 *   GWLB_ENOHOST               other algorithms: every host was tried or
 *                              is unusable
 *   GWLB_EMPTY                 key_len 0 (nginx `hash` then also uses
 *                              round robin)
 *   GWLB_ETOOLONG              key longer than GWLB_HASH_KEY_MAX
 *   GWLB_EINVAL                NULL table/attempt/host, NULL key with a
 *                              length, ip_hash key not 4 or 16 bytes
 *   GWLB_ENOSPC                the attempt's bitmap is too small
 * Argument errors record nothing in the attempt. GWLB_HASH_USE_ROUND_ROBIN
 * leaves nginx's try counter past 20 (as nginx: later calls go straight to
 * round robin); GWLB_ENOHOST leaves the walk exhausted.
 * Thread-safe on the table; the attempt needs exclusive access. O(1) for
 * Maglev and the first nginx ip/hash try, O(log n) for rings, O(n) for
 * rendezvous; each further candidate costs O(1) (O(log n) for nginx hash).
 */
GWLB_API int gwlb_hash_table_pick(const gwlb_hash_table *table, const void *key,
                                  size_t key_len, gwlb_hash_attempt *attempt,
                                  gwlb_hash_usable_fn usable, void *ctx, uint32_t *host);

/* ---- Bounded load ------------------------------------------------------ */

/**
 * In-flight counts for bounded-load picks: `count` per-host counters and
 * their sum, in memory the caller owns (it may be MAP_SHARED; the library
 * updates it with C11 atomics and keeps no pointer into it). Zero both
 * arrays before first use. Indices are the table's host indices.
 */
typedef struct gwlb_hash_loads {
    uint32_t *inflight; /* count counters */
    uint64_t *total;    /* one counter: the sum */
    uint32_t count;
} gwlb_hash_loads;

/** Count one request started on `host`. GWLB_EINVAL / GWLB_ERANGE (index). Thread-safe. */
GWLB_API int gwlb_hash_loads_acquire(const gwlb_hash_loads *loads, uint32_t host);

/**
 * Count one request finished on `host`. GWLB_ESTATE (nothing changed) when
 * its counter is already 0 (a release without acquire). Thread-safe.
 */
GWLB_API int gwlb_hash_loads_release(const gwlb_hash_loads *loads, uint32_t host);

/**
 * gwlb_hash_table_pick() with "consistent hashing with bounded loads"
 * (Mirrokni, Thorup, Zadimoghaddam 2016; HAProxy hash-balance-factor, Envoy
 * hash_balance_factor). With factor c = factor_percent / 100 and T requests
 * in flight over all hosts, host i of weight w_i (sum W) accepts the
 * request only while
 *     inflight_i < ceil((T + 1) * c * w_i / W)
 * so no host carries more than ceil(c × its weighted share of the average).
 * A full host is skipped like an unusable one and the key's candidate
 * sequence continues (the deterministic walk of gwlb_hash_table_pick()).
 * Does not acquire: call gwlb_hash_loads_acquire() for the host you use.
 * The counters are read without a lock: under concurrent acquires the bound
 * holds up to the requests racing with this pick.
 * Errors as gwlb_hash_table_pick(), plus GWLB_ERANGE (factor outside
 * GWLB_HASH_BALANCE_FACTOR_MIN..MAX), GWLB_EINVAL (loads NULL or its count
 * differs from the table's), GWLB_ENOTSUP (nginx algorithms: nginx has no
 * bounded load). Thread-safe on table and loads.
 */
GWLB_API int gwlb_hash_table_pick_bounded(const gwlb_hash_table *table, const void *key,
                                          size_t key_len, gwlb_hash_attempt *attempt,
                                          gwlb_hash_usable_fn usable, void *ctx,
                                          const gwlb_hash_loads *loads,
                                          uint32_t factor_percent, uint32_t *host);

/* ---- Sticky sessions --------------------------------------------------- */

/*
 * A sticky token names a host by its identity, not its index, so it
 * survives rebuilds that keep the host. It is 23 URL/cookie-safe characters
 * (base64url of: version byte 1, an 8-byte tag = SipHash-2-4(key, identity),
 * an 8-byte MAC = SipHash-2-4(key, version || tag)). It reveals nothing
 * about the host without the key. Tokens do not expire; change the key to
 * invalidate them all.
 */
#define GWLB_HASH_STICKY_TOKEN_LEN 23u

/**
 * Write the token for `host` into buf (no NUL is added; buf_len >=
 * GWLB_HASH_STICKY_TOKEN_LEN) and its length into *token_len.
 * GWLB_ESTATE: the table was built without sticky_enabled. GWLB_ERANGE:
 * host index out of range. GWLB_ENOSPC: buffer too small. Thread-safe.
 */
GWLB_API int gwlb_hash_sticky_encode(const gwlb_hash_table *table, uint32_t host, char *buf,
                                     size_t buf_len, size_t *token_len);

/**
 * The host a token names: 0 and *host, or
 *   GWLB_EPROTO   not a token (length, alphabet, version)
 *   GWLB_EFORGED  MAC check failed (tampered, or made with another key)
 *   GWLB_EUNKNOWN authentic, but no host of this table has that identity
 *                 (removed since the token was made)
 *   GWLB_ESTATE   the table has no sticky key
 * O(log n), constant-time MAC compare. Thread-safe.
 */
GWLB_API int gwlb_hash_sticky_decode(const gwlb_hash_table *table, const char *token,
                                     size_t token_len, uint32_t *host);

/**
 * Honour a sticky token, else balance normally: when `token` decodes to a
 * host that is usable and not yet tried, return it (recorded in the attempt)
 * with *sticky_status = 0. Otherwise *sticky_status says why the token was
 * not honoured (GWLB_EMPTY no token given, GWLB_EPROTO, GWLB_EFORGED,
 * GWLB_EUNKNOWN, GWLB_ESTATE as in _decode, GWLB_ENOHOST the named host is
 * unusable or tried) and the result is gwlb_hash_table_pick() for `key`.
 * Returns what that pick returns (0 when the token was honoured).
 */
GWLB_API int gwlb_hash_table_pick_sticky(const gwlb_hash_table *table, const char *token,
                                         size_t token_len, const void *key, size_t key_len,
                                         gwlb_hash_attempt *attempt,
                                         gwlb_hash_usable_fn usable, void *ctx,
                                         uint32_t *host, int *sticky_status);

/* ---- On top of a balancer ----------------------------------------------- */

/* Declared in gwlb/balancer.h; named by tag here so either header may come first. */
struct gwlb_balancer;
struct gwlb_balancer_result;

/**
 * Build a table over the hosts of a balancer (gwlb/balancer.h): table host i
 * is balancer host i, with its identity and weight (backups and priorities
 * are not hashing concepts: every host of the balancer is in the table).
 * Rebuild it whenever the balancer is rebuilt. Errors as
 * gwlb_hash_table_new(). Thread-safe.
 */
GWLB_API int gwlb_hash_table_new_from_balancer(gwlb_hash_table **out,
                                               const gwlb_hash_config *config,
                                               const struct gwlb_balancer *bal,
                                               const gwlb_allocator *allocator,
                                               gwlb_error_detail *detail);

/**
 * gwlb_hash_table_pick() through a balancer built on the same host list:
 * a host is usable iff the balancer says so at `now` (no ineligible flag,
 * not nginx-failed, below max in-flight); the chosen host is taken (counted
 * in flight) and *out filled as by gwlb_balancer_pick(), to be released
 * with gwlb_balancer_release(). For the nginx algorithms, where nginx falls
 * back to round robin (20 tries, one host, or an empty key) this does too:
 * the balancer's nginx smooth weighted round robin over hosts the attempt
 * has not tried, as ngx_http_upstream_get_round_robin_peer. nginx
 * `hash ... consistent` also lets the chosen host's effective weight
 * recover by one, as nginx's per-server SWRR step does.
 * Errors: as gwlb_hash_table_pick(); GWLB_ECONFLICT when the table's host
 * count differs from the balancer's; GWLB_ENOHOST when nothing is usable.
 * Thread-safe (attempt: exclusive).
 */
GWLB_API int gwlb_hash_balancer_pick(const gwlb_hash_table *table,
                                     const struct gwlb_balancer *bal,
                                     uint64_t now, const void *key, size_t key_len,
                                     gwlb_hash_attempt *attempt,
                                     struct gwlb_balancer_result *out);

/**
 * gwlb_hash_balancer_pick() with bounded load over the balancer's own
 * in-flight counts: the rule of gwlb_hash_table_pick_bounded() with T =
 * the sum of the hosts' in-flight counts (summed per call: O(n), the
 * balancer keeps no running total). Errors as gwlb_hash_balancer_pick(),
 * plus GWLB_ERANGE (factor) and GWLB_ENOTSUP (nginx algorithms).
 */
GWLB_API int gwlb_hash_balancer_pick_bounded(const gwlb_hash_table *table,
                                             const struct gwlb_balancer *bal, uint64_t now,
                                             const void *key, size_t key_len,
                                             gwlb_hash_attempt *attempt, uint32_t factor_percent,
                                             struct gwlb_balancer_result *out);

/* ---- Key to bucket ------------------------------------------------------ */

/**
 * Jump consistent hash (Lamping & Veach 2014): the bucket in [0, buckets)
 * for a 64-bit key; growing buckets from n to n+1 moves only 1/(n+1) of the
 * keys, all to the new bucket. Bit-identical to the paper's reference
 * loop (including its double rounding). GWLB_EINVAL: bucket NULL or
 * buckets 0 or above 2^31 - 1. Thread-safe.
 *
 * Cost: H(buckets) = about ln(buckets) + 0.58 turns (3 at 10 buckets, 7.5
 * at 1000), each one double divide (off the critical chain) and one
 * integer multiply; the latency of the first divide and the variable turn
 * count (one mispredicted exit branch; up to 16 buckets the first three
 * turns run without a branch) dominate.
 */
GWLB_API int gwlb_jump_hash(uint64_t key, uint32_t buckets, uint32_t *bucket);

/**
 * Jump hash of many keys: out[i] = the bucket gwlb_jump_hash(keys[i],
 * buckets) gives, for i < count, bit for bit. GWLB_EINVAL: keys or out
 * NULL (even with count 0), buckets 0 or above 2^31 - 1; nothing is
 * written then. count 0 is valid (writes nothing). keys and out may not
 * overlap. Pure and thread-safe (touches only its arguments).
 *
 * Faster per key than one call a key: the keys walk the reference loop in
 * lockstep, so their turns overlap and one loop exit serves the group, at
 * the price of running each group as long as its longest walk (12 turns
 * for 16 keys at 1000 buckets, against 7.5 for one key on average). CPUs
 * with AVX-512 F/DQ (checked at run time) take 16 keys at a time, eight
 * to a register, without a divide: a reciprocal estimate refined by
 * Newton steps brackets each turn's product, and the few keys (about one
 * in 1000 at 1000 buckets) where the bracket straddles an integer are
 * recomputed one at a time, so every bucket is still the reference's
 * (on some Intel CPUs 512-bit arithmetic lowers the core's clock for a
 * while, about 15% on the Cascade Lake it was measured on). Else AVX2:
 * 16 keys four to a register with the reference's divides; else SSE2: 8
 * keys two to a register; else one key at a time. Every bucket count
 * takes this path. Batches of a multiple of 16 keys pay no padding.
 */
GWLB_API int gwlb_jump_hash_batch(const uint64_t *keys, uint32_t count, uint32_t buckets,
                                  uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif /* GWLB_HASHING_H */
