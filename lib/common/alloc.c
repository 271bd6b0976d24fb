/*
 * The default (libc) allocator and the calloc helper every object uses.
 * Objects keep a copy of the resolved allocator, so the caller's struct
 * need not outlive the call that passed it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *libc_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *libc_realloc(void *p, size_t old_size, size_t new_size, void *ud)
{
    (void)ud;
    (void)old_size;
    return realloc(p, new_size);
}

static void libc_free(void *p, size_t size, void *ud)
{
    (void)ud;
    (void)size;
    free(p);
}

static const gwlb_allocator libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};

const gwlb_allocator *gwlb_allocator_default(void)
{
    return &libc_allocator;
}

void gwlb__allocator_resolve(gwlb_allocator *out, const gwlb_allocator *in)
{
    if (in == NULL || in->malloc == NULL || in->free == NULL)
        *out = libc_allocator;
    else
        *out = *in;
}

void *gwlb__calloc(const gwlb_allocator *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    size_t total = n * size;
    void *p = a->malloc(total ? total : 1, a->user_data);
    if (p != NULL)
        memset(p, 0, total ? total : 1);
    return p;
}
