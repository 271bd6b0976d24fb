/*
 * libgwlb — hash-based balancing (nginx ip_hash / hash / hash consistent, ring hash, Maglev, rendezvous, jump hash, bounded load, sticky tokens).
 *
 * (This component's API is defined in its own issue; this header is its home.)
 */
#ifndef GWLB_HASHING_H
#define GWLB_HASHING_H

#include "gwlb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* GWLB_HASHING_H */
