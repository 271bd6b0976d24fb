/*
 * libgwlb — fleet-wide limits through Redis, sans-I/O: RESP encoding/parsing and the GCRA Lua script.
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_REDIS_H
#define GWLB_REDIS_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_REDIS_H */
