/*
 * CRC-32 (IEEE, reflected, poly 0xEDB88320) with a 256-entry table, the same
 * function nginx's ngx_crc32_long computes (its upstream hash module and
 * `hash ... consistent` depend on it). The table is a const array computed
 * at compile time by the generator below, so there is no init step.
 */
#include "gwlb/common.h"

#define C1(c) (((c) & 1) ? (UINT32_C(0xedb88320) ^ ((c) >> 1)) : ((c) >> 1))
#define C8(c) C1(C1(C1(C1(C1(C1(C1(C1((uint32_t)(c)))))))))
#define R4(n) C8(n), C8((n) + 1), C8((n) + 2), C8((n) + 3)
#define R16(n) R4(n), R4((n) + 4), R4((n) + 8), R4((n) + 12)
#define R64(n) R16(n), R16((n) + 16), R16((n) + 32), R16((n) + 48)

static const uint32_t crc_table[256] = {R64(0), R64(64), R64(128), R64(192)};

uint32_t gwlb_crc32_update(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

uint32_t gwlb_crc32(const void *data, size_t len)
{
    return gwlb_crc32_final(gwlb_crc32_update(GWLB_CRC32_INIT, data, len));
}
