/*
 * libgwlb — host table and request-distribution algorithms (round robin, weighted, least request, P2C, peak EWMA, random, slow start, priorities).
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_BALANCER_H
#define GWLB_BALANCER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_BALANCER_H */
