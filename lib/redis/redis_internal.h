/*
 * Internal helpers shared by the redis component's files. Never installed.
 */
#ifndef GWLB_REDIS_INTERNAL_H
#define GWLB_REDIS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Decimal text of v into buf (room for 20 bytes); returns the length. */
GWLB__HIDDEN size_t gwlb__redis_u64_text(char *buf, uint64_t v);

#endif
