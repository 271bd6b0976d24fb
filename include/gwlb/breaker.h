/*
 * libgwlb — circuit breaker, resource limits and retry budgets.
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_BREAKER_H
#define GWLB_BREAKER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_BREAKER_H */
