/*
 * Redis Cluster key naming: hash tags and the key slot.
 *
 * Redis Cluster places a key by CRC16 (XMODEM: polynomial 0x1021, init 0,
 * not reflected) of the key modulo 16384, except that when the key holds a
 * "{...}" with at least one byte inside, only the bytes between the first
 * '{' and the first '}' after it are hashed. Keys built as
 * "prefix{tag}suffix" with the same tag therefore share one slot, so the
 * limits of one client (per route, per method...) can be touched together.
 */
#include <string.h>

#include "gwlb/redis.h"
#include "internal.h"

int gwlb_redis_key_format(uint8_t *out, size_t cap, size_t *written, const char *prefix,
                          const void *tag, size_t tag_len, const void *suffix, size_t suffix_len)
{
    if (written != NULL)
        *written = 0;
    if (out == NULL || written == NULL || tag == NULL || tag_len == 0 ||
        (suffix == NULL && suffix_len != 0))
        return GWLB_EINVAL;
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    /* a '{' in the prefix would open the tag early; a '}' in the tag would close it early */
    if ((plen != 0 && memchr(prefix, '{', plen) != NULL) || memchr(tag, '}', tag_len) != NULL)
        return GWLB_EINVAL;
    if (tag_len > SIZE_MAX - plen - 2 || suffix_len > SIZE_MAX - plen - 2 - tag_len)
        return GWLB_EOVERFLOW;
    size_t need = plen + 1 + tag_len + 1 + suffix_len;
    if (need > cap) {
        *written = need;
        return GWLB_ENOSPC;
    }
    uint8_t *p = out;
    if (plen != 0)
        memcpy(p, prefix, plen);
    p += plen;
    *p++ = '{';
    memcpy(p, tag, tag_len);
    p += tag_len;
    *p++ = '}';
    if (suffix_len != 0)
        memcpy(p, suffix, suffix_len);
    *written = need;
    return GWLB_OK;
}

static uint16_t crc16_xmodem(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t gwlb_redis_crc16(const void *data, size_t len)
{
    if (data == NULL)
        return 0;
    return crc16_xmodem(data, len);
}

uint16_t gwlb_redis_key_slot(const void *key, size_t len)
{
    if (key == NULL)
        return 0;
    const uint8_t *k = key;
    const uint8_t *open = memchr(k, '{', len);
    if (open != NULL) {
        size_t s = (size_t)(open - k) + 1;
        const uint8_t *close = s < len ? memchr(k + s, '}', len - s) : NULL;
        if (close != NULL && close > k + s)
            return crc16_xmodem(k + s, (size_t)(close - (k + s))) & 16383;
    }
    return crc16_xmodem(k, len) & 16383;
}
