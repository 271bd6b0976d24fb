/*
 * libFuzzer target: arbitrary bytes as sticky tokens and as keys for every
 * algorithm. Decoding must never crash or accept a token the table did not
 * make; picks must return a host in range or a documented error.
 */
#include <stdint.h>
#include <string.h>

#include "gwlb/hashing.h"

static gwlb_hash_table *tables[7];

static void setup(void)
{
    static char ids[16][16];
    gwlb_hash_host h[16];
    for (int i = 0; i < 16; i++) {
        int n = 0;
        memcpy(ids[i], "10.0.0.", 7);
        n = 7;
        if (i >= 10)
            ids[i][n++] = (char)('0' + i / 10);
        ids[i][n++] = (char)('0' + i % 10);
        memcpy(ids[i] + n, ":80", 3);
        h[i].identity = ids[i];
        h[i].identity_len = (uint32_t)(n + 3);
        h[i].weight = 1 + (uint32_t)i % 3;
    }
    for (uint32_t a = 0; a < 7; a++) {
        gwlb_hash_config c;
        gwlb_hash_config_init(&c, a + 1);
        c.sticky_enabled = 1;
        memcpy(c.sticky_key, "fuzz-sticky-key!", 16);
        if (a + 1 == GWLB_HASH_JUMP)
            for (int i = 0; i < 16; i++)
                h[i].weight = 1;
        if (gwlb_hash_table_new(&tables[a], &c, h, 16, NULL, NULL) != GWLB_OK)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tables[0] == NULL)
        setup();
    uint32_t host;
    int rc = gwlb_hash_sticky_decode(tables[0], (const char *)data, size, &host);
    if (rc == GWLB_OK && host >= 16)
        __builtin_trap();
    for (int a = 0; a < 7; a++) {
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        for (int k = 0; k < 3; k++) {
            rc = gwlb_hash_table_pick(tables[a], data, size, &at, NULL, NULL, &host);
            if (rc == GWLB_OK && host >= 16)
                __builtin_trap();
        }
    }
    return 0;
}
