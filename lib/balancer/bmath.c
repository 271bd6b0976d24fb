/*
 * exp, log and pow for the balancer (peak-EWMA decay, slow-start
 * aggression, least-request bias) without linking libm: the library is
 * libc-only. Classic range reduction: exp via x = k·ln2 + r, |r| <= ln2/2,
 * and a degree-13 Taylor polynomial; log via x = m·2^e, m in [√½, √2),
 * and the atanh series of (m-1)/(m+1). Both are within a few ulp of libm
 * over the ranges the balancer uses, which the tests check.
 */
#include <stdint.h>
#include <string.h>

#include "balancer_internal.h"

static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;

static double scale2(double v, int k)
{
    /* v * 2^k for k in [-1100, 1100], in steps that stay normal */
    while (k > 1000) {
        v *= 0x1p1000;
        k -= 1000;
    }
    while (k < -1000) {
        v *= 0x1p-1000;
        k += 1000;
    }
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double f;
    memcpy(&f, &bits, sizeof f);
    return v * f;
}

double gwlb__exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.78)
        return 0x1.fffffffffffffp1023 * 2.0; /* +inf */
    if (x < -745.2)
        return 0.0;
    double kd = x * INV_LN2;
    int k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    /* e^r: Taylor series to r^13 / 13!, evaluated by Estrin's scheme (a
     * short dependency chain: this sits on the peak-EWMA hot path) */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double a0 = 1.0 + r, a1 = 0.5 + r * (1.0 / 6.0);
    double a2 = 1.0 / 24.0 + r * (1.0 / 120.0), a3 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double b0 = a0 + a1 * r2, b1 = a2 + a3 * r2, b2 = a4 + a5 * r2;
    double p = (b0 + b1 * r4) + (b2 + a6 * r4) * r8;
    if (k >= -1022 && k <= 1023) {
        uint64_t bits = (uint64_t)(k + 1023) << 52;
        double f;
        memcpy(&f, &bits, sizeof f);
        return p * f;
    }
    return scale2(p, k);
}

double gwlb__log(double x)
{
    if (x != x || x < 0)
    {
        uint64_t nan_bits = UINT64_C(0x7ff8000000000000);
        double nan;
        memcpy(&nan, &nan_bits, sizeof nan);
        return nan;
    }
    if (x == 0)
        return -0x1.fffffffffffffp1023 * 2.0; /* -inf */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff);
    if (e == 0x7ff)
        return x; /* +inf */
    if (e == 0) { /* subnormal: normalise */
        x *= 0x1p54;
        memcpy(&bits, &x, sizeof bits);
        e = (int)((bits >> 52) & 0x7ff) - 54;
    }
    e -= 1022; /* x = m * 2^e with m in [0.5, 1) */
    bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3fe0000000000000);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double t = 1.0 / 23;
    t = t * s2 + 1.0 / 21;
    t = t * s2 + 1.0 / 19;
    t = t * s2 + 1.0 / 17;
    t = t * s2 + 1.0 / 15;
    t = t * s2 + 1.0 / 13;
    t = t * s2 + 1.0 / 11;
    t = t * s2 + 1.0 / 9;
    t = t * s2 + 1.0 / 7;
    t = t * s2 + 1.0 / 5;
    t = t * s2 + 1.0 / 3;
    t = t * s2 + 1.0;
    double lm = 2.0 * s * t;
    return e * LN2_HI + (lm + e * LN2_LO);
}

double gwlb__pow(double x, double y)
{
    if (y == 0.0 || x == 1.0)
        return 1.0;
    if (y == 1.0)
        return x;
    if (x == 0.0)
        return y > 0 ? 0.0 : 0x1.fffffffffffffp1023 * 2.0;
    if (y == 0.5 && x > 0) {
        /* exact-ish square root by Newton from the exp/log estimate */
        double g = gwlb__exp(0.5 * gwlb__log(x));
        return 0.5 * (g + x / g);
    }
    return gwlb__exp(y * gwlb__log(x));
}
