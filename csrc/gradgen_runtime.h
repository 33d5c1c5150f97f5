/*
 * gradgen_runtime.h: the helpers that gradgen's generated C kernels call.
 *
 * C99, no state, nothing to link but libm. Each helper follows NumPy on the
 * same input, NaN and infinities included, so the C and Python backends
 * agree; float variants carry the suffix `f`.
 */
#ifndef GRADGEN_RUNTIME_H
#define GRADGEN_RUNTIME_H

#include <math.h>

/* 1 / (1 + exp(-x)), evaluated so that exp never overflows: exact 0 and 1 at
   the far ends instead of inf / inf. */
static inline double gg_sigmoid(double x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    {
        double z = exp(x); /* also reached by NaN, which propagates */
        return z / (1.0 + z);
    }
}

/* log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0): finite wherever the value is. */
static inline double gg_softplus(double x)
{
    return log1p(exp(-fabs(x))) + (x > 0.0 ? x : 0.0);
}

/* max(x, 0) as np.maximum(x, 0.0) computes it: NaN stays NaN, -0.0 becomes 0.0. */
static inline double gg_relu(double x)
{
    return (x > 0.0 || isnan(x)) ? x : 0.0;
}

/* np.sign: -1, 0 or 1, and NaN for NaN. */
static inline double gg_sign(double x)
{
    if (x > 0.0) {
        return 1.0;
    }
    if (x < 0.0) {
        return -1.0;
    }
    return x == 0.0 ? 0.0 : x;
}

/* np.maximum / np.minimum: NaN if either argument is NaN (fmax/fmin would drop it). */
static inline double gg_maximum(double a, double b)
{
    return (a > b || isnan(a)) ? a : b;
}

static inline double gg_minimum(double a, double b)
{
    return (a < b || isnan(a)) ? a : b;
}

static inline float gg_sigmoidf(float x)
{
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    {
        float z = expf(x);
        return z / (1.0f + z);
    }
}

static inline float gg_softplusf(float x)
{
    return log1pf(expf(-fabsf(x))) + (x > 0.0f ? x : 0.0f);
}

static inline float gg_reluf(float x)
{
    return (x > 0.0f || isnan(x)) ? x : 0.0f;
}

static inline float gg_signf(float x)
{
    if (x > 0.0f) {
        return 1.0f;
    }
    if (x < 0.0f) {
        return -1.0f;
    }
    return x == 0.0f ? 0.0f : x;
}

static inline float gg_maximumf(float a, float b)
{
    return (a > b || isnan(a)) ? a : b;
}

static inline float gg_minimumf(float a, float b)
{
    return (a < b || isnan(a)) ? a : b;
}

#endif /* GRADGEN_RUNTIME_H */
