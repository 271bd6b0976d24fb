/*
 * Sticky-session tokens: a cookie-safe string naming a host by identity.
 *
 *   raw (17 bytes) = version 0x01 | tag (8, LE) | mac (8, LE)
 *   tag  = SipHash-2-4(key, identity)            -- opaque without the key
 *   mac  = SipHash-2-4(key, "gwlbstk" 0x01 tag)   -- authenticates the tag
 *   text = base64url(raw), no padding: 23 characters
 *
 * Decoding checks the alphabet and canonical form, the MAC (one 64-bit
 * compare, constant time), then finds the tag among the table's hosts by
 * binary search over the (tag, host) array built with the table.
 */
#include <string.h>

#include "hashing_internal.h"

#define RAW_LEN 17
#define VERSION 1

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url value + 1 per byte; 0 = not in the alphabet (no branches) */
static const uint8_t b64url_plus1[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P']
    = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] =
    23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
    ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44,
    ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,
    ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58,
    ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64
};

static uint64_t token_mac(const uint8_t key[16], uint64_t tag)
{
    uint8_t msg[16] = {'g', 'w', 'l', 'b', 's', 't', 'k', VERSION};
    for (int i = 0; i < 8; i++)
        msg[8 + i] = (uint8_t)(tag >> (8 * i));
    return gwlb_siphash24(key, msg, sizeof msg);
}

int gwlb_hash_sticky_encode(const gwlb_hash_table *table, uint32_t host, char *buf,
                            size_t buf_len, size_t *token_len)
{
    if (table == NULL || buf == NULL || token_len == NULL)
        return GWLB_EINVAL;
    if (!table->sticky_enabled)
        return GWLB_ESTATE;
    if (host >= table->count)
        return GWLB_ERANGE;
    if (buf_len < GWLB_HASH_STICKY_TOKEN_LEN)
        return GWLB_ENOSPC;
    uint64_t tag = gwlb_siphash24(table->sticky_key, table->id_bytes + table->id_offset[host],
                                  table->id_len[host]);
    uint64_t mac = token_mac(table->sticky_key, tag);
    uint8_t raw[RAW_LEN + 1] = {VERSION};
    for (int i = 0; i < 8; i++) {
        raw[1 + i] = (uint8_t)(tag >> (8 * i));
        raw[9 + i] = (uint8_t)(mac >> (8 * i));
    }
    size_t o = 0;
    for (size_t i = 0; i < RAW_LEN; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     (i + 2 < RAW_LEN ? raw[i + 2] : 0u);
        size_t chars = i + 2 < RAW_LEN ? 4 : 3; /* last group has 2 bytes */
        for (size_t c = 0; c < chars; c++)
            buf[o++] = b64url[(v >> (18 - 6 * c)) & 63];
    }
    *token_len = o;
    return GWLB_OK;
}

int gwlb_hash_sticky_decode(const gwlb_hash_table *table, const char *token, size_t token_len,
                            uint32_t *host)
{
    if (table == NULL || host == NULL || (token == NULL && token_len != 0))
        return GWLB_EINVAL;
    if (!table->sticky_enabled)
        return GWLB_ESTATE;
    if (token_len != GWLB_HASH_STICKY_TOKEN_LEN)
        return GWLB_EPROTO;
    uint8_t raw[RAW_LEN + 1];
    size_t o = 0;
    for (size_t i = 0; i < GWLB_HASH_STICKY_TOKEN_LEN; i += 4) {
        size_t chars = i + 4 <= GWLB_HASH_STICKY_TOKEN_LEN ? 4 : 3;
        uint32_t v = 0, bad = 0;
        for (size_t c = 0; c < 4; c++) {
            uint32_t x = c < chars ? b64url_plus1[(uint8_t)token[i + c]] : 1u;
            bad |= x == 0;
            v = v << 6 | ((x - 1) & 63);
        }
        if (bad)
            return GWLB_EPROTO;
        raw[o++] = (uint8_t)(v >> 16);
        raw[o++] = (uint8_t)(v >> 8);
        if (chars == 4)
            raw[o++] = (uint8_t)v;
        else if ((v & 0xff) != 0)
            return GWLB_EPROTO; /* non-canonical trailing bits */
    }
    if (raw[0] != VERSION)
        return GWLB_EPROTO;
    uint64_t tag = 0, mac = 0;
    for (int i = 7; i >= 0; i--) {
        tag = tag << 8 | raw[1 + i];
        mac = mac << 8 | raw[9 + i];
    }
    if ((token_mac(table->sticky_key, tag) ^ mac) != 0)
        return GWLB_EFORGED;
    /* branchless lower bound (tags are random: branches would mispredict) */
    const gwlb__sticky_entry *b = table->sticky;
    uint32_t n = table->count;
    while (n > 1) {
        uint32_t half = n / 2;
        b = b[half - 1].tag < tag ? b + half : b;
        n -= half;
    }
    if (b->tag != tag)
        return GWLB_EUNKNOWN;
    *host = b->host;
    return GWLB_OK;
}

int gwlb_hash_table_pick_sticky(const gwlb_hash_table *table, const char *token,
                                size_t token_len, const void *key, size_t key_len,
                                gwlb_hash_attempt *attempt, gwlb_hash_usable_fn usable,
                                void *ctx, uint32_t *host, int *sticky_status)
{
    if (table == NULL || attempt == NULL || host == NULL || sticky_status == NULL)
        return GWLB_EINVAL;
    if ((uint64_t)attempt->tried_words * 64 < table->count)
        return GWLB_ENOSPC;
    int st;
    uint32_t h = 0;
    if (token == NULL || token_len == 0)
        st = GWLB_EMPTY;
    else
        st = gwlb_hash_sticky_decode(table, token, token_len, &h);
    if (st == GWLB_OK) {
        if (gwlb_hash_attempt_tried(attempt, h) || (usable != NULL && !usable(ctx, h))) {
            st = GWLB_ENOHOST;
        } else {
            uint64_t *w = attempt->tried != NULL ? attempt->tried : attempt->inline_tried;
            w[h >> 6] |= UINT64_C(1) << (h & 63);
            attempt->picks++;
            *host = h;
            *sticky_status = GWLB_OK;
            return GWLB_OK;
        }
    }
    *sticky_status = st;
    return gwlb_hash_table_pick(table, key, key_len, attempt, usable, ctx, host);
}
