/*
 * libgwlb — per-host health state: active probe scheduling, passive outcomes, outlier detection, admin states.
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_HEALTH_H
#define GWLB_HEALTH_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_HEALTH_H */
