/*
 * Counting, failure-injecting allocator for tests. Each block carries a
 * 16-byte header holding its size so frees can be checked against it.
 */
#include "test_alloc.h"

#include <stdlib.h>
#include <string.h>

#define HDR 16

static int should_fail(test_alloc *ta)
{
    ta->calls++;
    if (ta->fail_at > 0 && ta->calls == ta->fail_at) {
        ta->failures++;
        return 1;
    }
    return 0;
}

static void *ta_malloc(size_t size, void *ud)
{
    test_alloc *ta = ud;
    if (should_fail(ta))
        return NULL;
    unsigned char *p = malloc(size + HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    ta->live_blocks++;
    ta->live_bytes += size;
    return p + HDR;
}

static void ta_free(void *ptr, size_t size, void *ud)
{
    test_alloc *ta = ud;
    if (ptr == NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t real;
    memcpy(&real, p, sizeof real);
    if (real != size)
        ta->size_mismatches++;
    ta->live_blocks--;
    ta->live_bytes -= real;
    free(p);
}

static void *ta_realloc(void *ptr, size_t old_size, size_t new_size, void *ud)
{
    test_alloc *ta = ud;
    if (ptr == NULL)
        return ta_malloc(new_size, ud);
    if (should_fail(ta))
        return NULL;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t real;
    memcpy(&real, p, sizeof real);
    if (real != old_size)
        ta->size_mismatches++;
    unsigned char *q = realloc(p, new_size + HDR);
    if (q == NULL)
        return NULL;
    memcpy(q, &new_size, sizeof new_size);
    ta->live_bytes = ta->live_bytes - real + new_size;
    return q + HDR;
}

void test_alloc_init(test_alloc *ta, long fail_at)
{
    memset(ta, 0, sizeof *ta);
    ta->fail_at = fail_at;
    ta->allocator.malloc = ta_malloc;
    ta->allocator.realloc = ta_realloc;
    ta->allocator.free = ta_free;
    ta->allocator.user_data = ta;
}
