/*
 * Internal helpers shared by every component. Never installed.
 *
 * Allocation goes through the object's gwlb_allocator copy (gwlb__alloc*),
 * error details through gwlb__detail(). Everything here is hidden from the
 * shared library's symbol table (gwlb__ prefix, hidden visibility).
 */
#ifndef GWLB_INTERNAL_H
#define GWLB_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gwlb/common.h"

#if defined(__GNUC__)
#define GWLB__HIDDEN __attribute__((visibility("hidden")))
#define GWLB__LIKELY(x) __builtin_expect(!!(x), 1)
#define GWLB__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GWLB__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GWLB__HIDDEN
#define GWLB__LIKELY(x) (x)
#define GWLB__UNLIKELY(x) (x)
#define GWLB__PRINTF(a, b)
#endif

/* Resolve a caller's allocator pointer (NULL -> libc) into a copy. */
GWLB__HIDDEN void gwlb__allocator_resolve(gwlb_allocator *out, const gwlb_allocator *in);

static inline void *gwlb__alloc(const gwlb_allocator *a, size_t size)
{
    return a->malloc(size, a->user_data);
}

/* Zeroed allocation of n * size bytes; NULL on overflow or failure. */
GWLB__HIDDEN void *gwlb__calloc(const gwlb_allocator *a, size_t n, size_t size);

static inline void *gwlb__realloc(const gwlb_allocator *a, void *p, size_t old_size,
                                  size_t new_size)
{
    return a->realloc(p, old_size, new_size, a->user_data);
}

static inline void gwlb__free(const gwlb_allocator *a, void *p, size_t size)
{
    if (p != NULL)
        a->free(p, size, a->user_data);
}

/*
 * Fill *detail (when not NULL) and return code, so builders can write
 * `return gwlb__detail(d, GWLB_ESYNTAX, i, -1, col, "path", "unclosed '{'");`
 */
GWLB__HIDDEN int gwlb__detail(gwlb_error_detail *detail, int code, int32_t item, int32_t other,
                              int32_t column, const char *field, const char *fmt, ...)
    GWLB__PRINTF(7, 8);

/* Does this CPU run AVX-512 F and DQ (the 64-bit lane multiply and
 * conversions)? The run-time check of the two batch calls that have such a
 * path (gwlb_hash64_batch, gwlb_jump_hash_batch); 0 where it cannot be asked. */
static inline int gwlb__cpu_avx512dq(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

#endif /* GWLB_INTERNAL_H */
