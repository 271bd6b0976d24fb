/*
 * xxHash64 reference values shared by the tests of gwlb_hash64 and
 * gwlb_hash64_batch: every tail shape (8-byte lanes, a 4-byte lane, single
 * bytes) below and above the 32-byte stripes, with seeds. The key of
 * length len is bytes (i * 7 + 3) & 0xff for i < len; values from Debian's
 * python3-xxhash (xxHash 0.8.1).
 */
#ifndef GWLB_TEST_XXH64_VECTORS_H
#define GWLB_TEST_XXH64_VECTORS_H

#include <stddef.h>
#include <stdint.h>

static const struct xxh64_vector {
    size_t len;
    uint64_t seed, want;
} xxh64_vectors[] = {
    {8, UINT64_C(0x0), UINT64_C(0xdab99d95c6f90092)},
    {12, UINT64_C(0x0), UINT64_C(0xd52e407833af5133)},
    {16, UINT64_C(0x0), UINT64_C(0x434850232b787be2)},
    {16, UINT64_C(0x1), UINT64_C(0xc9681422ce33496d)},
    {17, UINT64_C(0x5), UINT64_C(0xcf75a582ba0a7b0c)},
    {24, UINT64_C(0x0), UINT64_C(0xc47c71bd4694ff81)},
    {31, UINT64_C(0x0), UINT64_C(0xa2aa5f33cc4a6119)},
    {32, UINT64_C(0x0), UINT64_C(0x23c3c17ef790fd97)},
    {33, UINT64_C(0x9), UINT64_C(0x3d2b8606a6e21b67)},
    {64, UINT64_C(0x0), UINT64_C(0x0eb64b3ef6eeb01f)},
    {100, UINT64_C(0x9e3779b97f4a7c15), UINT64_C(0xf6d8f65c625abb4f)},
};

enum { XXH64_VECTOR_COUNT = sizeof xxh64_vectors / sizeof xxh64_vectors[0], XXH64_VECTOR_MAX_LEN = 100 };

#endif
