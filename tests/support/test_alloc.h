/*
 * A counting allocator for tests: fails the Nth allocation (1-based; 0 =
 * never) and tracks live blocks and bytes, so a test can prove that every
 * allocation failure returns GWLB_ENOMEM and leaks nothing:
 *
 *   for (long n = 1;; n++) {
 *       test_alloc ta; test_alloc_init(&ta, n);
 *       int rc = build_something(&ta.allocator, ...);
 *       if (rc == GWLB_OK) { free_it(); ck_assert_int_eq(ta.live_blocks, 0); break; }
 *       ck_assert_int_eq(rc, GWLB_ENOMEM);
 *       ck_assert_int_eq(ta.live_blocks, 0);
 *   }
 */
#ifndef GWLB_TEST_ALLOC_H
#define GWLB_TEST_ALLOC_H

#include <stddef.h>

#include "gwlb/common.h"

typedef struct test_alloc {
    gwlb_allocator allocator; /* pass &ta.allocator to the library */
    long fail_at;             /* 1-based index of the allocation to fail; 0 = never */
    long calls;               /* malloc + realloc calls seen */
    long failures;            /* allocations refused */
    long live_blocks;         /* blocks allocated and not yet freed */
    size_t live_bytes;        /* bytes allocated and not yet freed (by reported size) */
    long size_mismatches;     /* frees whose size differed from the allocation's */
} test_alloc;

void test_alloc_init(test_alloc *ta, long fail_at);

#endif
