/*
 * libgwlb — compiled request matcher over method, host, path, headers and query.
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_ROUTER_H
#define GWLB_ROUTER_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_ROUTER_H */
