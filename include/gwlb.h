/*
 * libgwlb — the policy brain of a gateway or load balancer, with no I/O of
 * its own: routing, admission (rate limits), backend selection, health and
 * circuit breaking as plain structs and functions the host calls per request.
 *
 * Umbrella header: includes every component header.
 */
#ifndef GWLB_H
#define GWLB_H

#include "gwlb/common.h"
#include "gwlb/balancer.h"
#include "gwlb/hashing.h"
#include "gwlb/health.h"
#include "gwlb/limiter.h"
#include "gwlb/router.h"
#include "gwlb/breaker.h"
#include "gwlb/redis.h"

#endif /* GWLB_H */
