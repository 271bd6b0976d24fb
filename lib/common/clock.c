/* gwlb_clock_ns: a convenience for hosts; the library never calls it. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "gwlb/common.h"

uint64_t gwlb_clock_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * GWLB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}
