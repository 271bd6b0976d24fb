/*
 * SplitMix64: state advances by the golden-ratio gamma with one atomic add,
 * the output is a mix of the new state. Because the state is one word and
 * the step is an add, concurrent callers (threads, or processes sharing the
 * struct in MAP_SHARED memory) each get a distinct draw without a lock.
 */
#include <stdatomic.h>

#include "gwlb/common.h"

__extension__ typedef unsigned __int128 u128;

#define GAMMA UINT64_C(0x9e3779b97f4a7c15)

uint64_t gwlb_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void gwlb_rng_seed(gwlb_rng *rng, uint64_t seed)
{
    if (rng != NULL)
        atomic_store_explicit((_Atomic uint64_t *)&rng->state, seed, memory_order_relaxed);
}

uint64_t gwlb_rng_next(gwlb_rng *rng)
{
    uint64_t s = atomic_fetch_add_explicit((_Atomic uint64_t *)&rng->state, GAMMA,
                                           memory_order_relaxed);
    return gwlb_mix64(s + GAMMA);
}

uint64_t gwlb_rng_below(gwlb_rng *rng, uint64_t bound)
{
    if (bound == 0)
        return 0;
    uint64_t r = gwlb_rng_next(rng);
    return (uint64_t)(((u128)r * bound) >> 64);
}
