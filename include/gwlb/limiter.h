/*
 * libgwlb — token bucket / GCRA, nginx limit_req mode, keyed limiter tables, concurrency limits, quotas, rate-limit headers.
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_LIMITER_H
#define GWLB_LIMITER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_LIMITER_H */
