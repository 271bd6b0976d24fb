/*
 * Internal to the limiter component: the policy dispatch shared by the
 * keyed table and the multi-limit call. Never installed.
 */
#ifndef GWLB_LIMITER_INTERNAL_H
#define GWLB_LIMITER_INTERNAL_H

#include "gwlb/limiter.h"
#include "internal.h"

/* GWLB_OK when the policy's kind and config are usable, else GWLB_EINVAL. */
GWLB__HIDDEN int gwlb__limiter_policy_check(const gwlb_limiter_policy *p);

/*
 * Decide and CAS-update *word; report the word found and the word stored
 * (equal when nothing changed). Applies dry-run. GWLB_ERANGE for a cost
 * limit_req cannot take.
 */
GWLB__HIDDEN int gwlb__limiter_apply(const gwlb_limiter_policy *p, uint64_t *word, uint64_t now,
                                     uint64_t cost, gwlb_limit_result *r, uint64_t *before,
                                     uint64_t *after);

#endif
