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

/*
 * Vector math. Built with GG_USE_LIBMVEC (gradgen does so where glibc's
 * libmvec links), these declarations tell GCC that vector versions of the
 * libm functions exist, so fused loops vectorize through them (libmvec is
 * accurate to a few ulp and keeps inf and NaN), and GG_KERNEL makes an AVX2
 * clone of each kernel beside the baseline one, picked at load time.
 */
#if defined(GG_USE_LIBMVEC) && defined(__GNUC__) && defined(__x86_64__)
#define GG_SIMD __attribute__((simd("notinbranch")))
GG_SIMD double exp(double);
GG_SIMD double log(double);
GG_SIMD double log1p(double);
GG_SIMD double expm1(double);
GG_SIMD double sin(double);
GG_SIMD double cos(double);
GG_SIMD double tanh(double);
GG_SIMD double pow(double, double);
GG_SIMD float expf(float);
GG_SIMD float logf(float);
GG_SIMD float log1pf(float);
GG_SIMD float expm1f(float);
GG_SIMD float sinf(float);
GG_SIMD float cosf(float);
GG_SIMD float tanhf(float);
GG_SIMD float powf(float, float);
#define GG_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define GG_KERNEL
#endif

#ifdef GG_USE_THREADS
#include <pthread.h>
#include <stddef.h>
#define GG_MAX_PARTS 64
/*
 * Runs part(parts + k * size) for k < count: part 0 on the calling thread, the
 * others on threads of their own, all joined before it returns, so a kernel
 * leaves no thread behind (and stays safe across fork). A part whose thread
 * cannot start runs on the calling thread instead.
 */
static void gg_run_parts(void *(*part)(void *), void *parts, size_t size, int count)
{
    pthread_t threads[GG_MAX_PARTS];
    int started[GG_MAX_PARTS] = {0};
    for (int k = 1; k < count && k < GG_MAX_PARTS; ++k)
        started[k] = pthread_create(&threads[k], NULL, part, (char *)parts + k * size) == 0;
    part(parts);
    for (int k = 1; k < count; ++k) {
        if (k < GG_MAX_PARTS && started[k])
            pthread_join(threads[k], NULL);
        else
            part((char *)parts + k * size);
    }
}
#endif

/* 1 / (1 + exp(-x)), evaluated so that exp never overflows: exact 0 and 1 at
   the far ends instead of inf / inf. */
static inline double gg_sigmoid(double x)
{
    /* One exp of a non-positive number, then a select: no branch, so loops vectorize.
       NaN propagates through exp. */
    const double z = exp(-fabs(x));
    const double r = 1.0 / (1.0 + z);
    const double small = z * r; /* both sides computed: a select, not a branch */
    return x >= 0.0 ? r : small;
}

/* log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0): finite wherever the value is. */
static inline double gg_softplus(double x)
{
    return log1p(exp(-fabs(x))) + (x > 0.0 ? x : 0.0);
}

/* max(x, 0) as np.maximum(x, 0.0) computes it: NaN stays NaN, -0.0 becomes 0.0. */
static inline double gg_relu(double x)
{
    return !(x <= 0.0) ? x : 0.0; /* NaN <= 0 is false: NaN stays */
}

/* np.sign: -1, 0 or 1, and NaN for NaN. */
static inline double gg_sign(double x)
{
    return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x == 0.0 ? 0.0 : x;
}

/* np.maximum / np.minimum: NaN if either argument is NaN (fmax/fmin would drop it). */
static inline double gg_maximum(double a, double b)
{
    return ((a > b) | (a != a)) ? a : b; /* | not ||: no branch, loops vectorize */
}

static inline double gg_minimum(double a, double b)
{
    return ((a < b) | (a != a)) ? a : b;
}

static inline float gg_sigmoidf(float x)
{
    const float z = expf(-fabsf(x));
    const float r = 1.0f / (1.0f + z);
    const float small = z * r;
    return x >= 0.0f ? r : small;
}

static inline float gg_softplusf(float x)
{
    return log1pf(expf(-fabsf(x))) + (x > 0.0f ? x : 0.0f);
}

static inline float gg_reluf(float x)
{
    return !(x <= 0.0f) ? x : 0.0f;
}

static inline float gg_signf(float x)
{
    return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x == 0.0f ? 0.0f : x;
}

static inline float gg_maximumf(float a, float b)
{
    return ((a > b) | (a != a)) ? a : b; /* | not ||: no branch, loops vectorize */
}

static inline float gg_minimumf(float a, float b)
{
    return ((a < b) | (a != a)) ? a : b;
}

/* np.mod (Python's %): the remainder with the sign of the divisor, NaN for a zero divisor, and a zero
   result signed like the divisor. */
static inline double gg_mod(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0.0) {
        if ((b < 0.0) != (r < 0.0))
            r += b;
    } else {
        r = copysign(0.0, b);
    }
    return r;
}

static inline float gg_modf(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0.0f) {
        if ((b < 0.0f) != (r < 0.0f))
            r += b;
    } else {
        r = copysignf(0.0f, b);
    }
    return r;
}

/* np.floor_divide (Python's //): the quotient that goes with gg_mod, computed from fmod as NumPy does, so
 * that a == b * (a // b) + a % b holds where floor(a / b) would round wrongly (1.0 // 0.1 is 9). */
static inline double gg_floordiv(double a, double b)
{
    if (b == 0.0)
        return a / b;
    double r = fmod(a, b);
    double q = (a - r) / b;
    if (r != 0.0 && (b < 0.0) != (r < 0.0))
        q -= 1.0;
    if (q == 0.0)
        return copysign(0.0, a / b);
    double whole = floor(q);
    return q - whole > 0.5 ? whole + 1.0 : whole;
}

static inline float gg_floordivf(float a, float b)
{
    if (b == 0.0f)
        return a / b;
    float r = fmodf(a, b);
    float q = (a - r) / b;
    if (r != 0.0f && (b < 0.0f) != (r < 0.0f))
        q -= 1.0f;
    if (q == 0.0f)
        return copysignf(0.0f, a / b);
    float whole = floorf(q);
    return q - whole > 0.5f ? whole + 1.0f : whole;
}

/* np.logaddexp: log(exp(a) + exp(b)) without overflow; a + log(2) where a == b (infinities too). */
static inline double gg_logaddexp(double a, double b)
{
    if (a == b)
        return a + 0.693147180559945309417232121458176568;
    const double d = a - b;
    return d > 0.0 ? a + log1p(exp(-d)) : d <= 0.0 ? b + log1p(exp(d)) : d; /* d is NaN */
}

static inline float gg_logaddexpf(float a, float b)
{
    if (a == b)
        return a + 0.693147180559945309417232121458176568f;
    const float d = a - b;
    return d > 0.0f ? a + log1pf(expf(-d)) : d <= 0.0f ? b + log1pf(expf(d)) : d;
}

#endif /* GRADGEN_RUNTIME_H */
