/*
 * gradgen_routines.h: routines on whole arrays that generated C kernels call (the Routine statements
 * of their programs): the dense linear algebra of gg.linalg and sorting. Included after
 * gradgen_runtime.h, only by kernels that call one.
 *
 * C99, no state, nothing to link but libm.
 */
#ifndef GRADGEN_ROUTINES_H
#define GRADGEN_ROUTINES_H

#include <math.h>

/*
 * Row-major n x n matrices in double precision, on copies the kernel makes (the routines overwrite
 * them). Each returns 0, or 1 where the matrix is singular (a zero pivot, as LAPACK's) or not positive
 * definite; the kernel then returns the op's negative status. O(n^3) loops: the small and middle-sized
 * matrices of a gradient kernel.
 */

/* LU with partial pivoting of a, in place (unit lower factor below the diagonal), the same row swaps and
 * eliminations applied to the n x m matrix b. Returns 1 at the first zero pivot; *swaps counts the row
 * exchanges, for the sign of the determinant. */
static inline int gg_lu(long n, double *a, double *b, long m, long *swaps)
{
    for (long k = 0; k < n; ++k) {
        long p = k;
        double largest = fabs(a[k * n + k]);
        for (long i = k + 1; i < n; ++i) {
            if (fabs(a[i * n + k]) > largest) {
                largest = fabs(a[i * n + k]);
                p = i;
            }
        }
        if (largest == 0.0)
            return 1;
        if (p != k) {
            for (long j = 0; j < n; ++j) {
                const double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            for (long j = 0; j < m; ++j) {
                const double t = b[k * m + j];
                b[k * m + j] = b[p * m + j];
                b[p * m + j] = t;
            }
            ++*swaps;
        }
        for (long i = k + 1; i < n; ++i) {
            const double f = a[i * n + k] / a[k * n + k];
            a[i * n + k] = f;
            if (f == 0.0)
                continue;
            for (long j = k + 1; j < n; ++j)
                a[i * n + j] -= f * a[k * n + j];
            for (long j = 0; j < m; ++j)
                b[i * m + j] -= f * b[k * m + j];
        }
    }
    return 0;
}

/* x (n x m) with a x = b, reading a's lower triangle (lower = 1) or its upper one: substitution, row by
 * row from the first row (the last for upper). Returns 1 for a zero on the diagonal. */
static inline int gg_solve_triangular(long n, long m, long lower, double *a, double *b, double *x)
{
    if (x != b)
        for (long k = 0; k < n * m; ++k)
            x[k] = b[k];
    for (long step = 0; step < n; ++step) {
        const long i = lower ? step : n - 1 - step;
        if (a[i * n + i] == 0.0)
            return 1;
        for (long solved = 0; solved < step; ++solved) {
            const long k = lower ? solved : n - 1 - solved;
            const double f = a[i * n + k];
            for (long j = 0; j < m; ++j)
                x[i * m + j] -= f * x[k * m + j];
        }
        for (long j = 0; j < m; ++j)
            x[i * m + j] /= a[i * n + i];
    }
    return 0;
}

/* x (n x m) with a x = b: LU, then back substitution with the upper factor (whose pivots are nonzero). */
static inline int gg_solve(long n, long m, double *a, double *b, double *x)
{
    long swaps = 0;
    for (long k = 0; k < n * m; ++k)
        x[k] = b[k];
    if (gg_lu(n, a, x, m, &swaps))
        return 1;
    return gg_solve_triangular(n, m, 0, a, x, x);
}

/* The lower-triangular l with l l^T = a, from a's lower triangle (Cholesky-Banachiewicz). Returns 1 where
 * a is not positive definite; a NaN makes the whole factor NaN, as NumPy's reference does. */
static inline int gg_cholesky(long n, long m, double *a, double *l)
{
    (void)m;
    for (long k = 0; k < n * n; ++k)
        l[k] = 0.0;
    for (long i = 0; i < n; ++i) {
        for (long j = 0; j <= i; ++j) {
            double s = a[i * n + j];
            for (long k = 0; k < j; ++k)
                s -= l[i * n + k] * l[j * n + k];
            if (i != j) {
                l[i * n + j] = s / l[j * n + j];
            } else if (s != s) {
                for (long r = 0; r < n; ++r)
                    for (long c = 0; c <= r; ++c)
                        l[r * n + c] = s;
                return 0;
            } else if (s <= 0.0) {
                return 1;
            } else {
                l[i * n + i] = sqrt(s);
            }
        }
    }
    return 0;
}

/* The determinant, the sign of it and the log of its absolute value, from one LU of a (0, 0 and -inf for
 * a singular matrix, as NumPy; NaN in, NaN out). */
static inline void gg_slogdet(long n, double *a, double *sign, double *log_abs)
{
    long swaps = 0;
    if (gg_lu(n, a, 0, 0, &swaps)) {
        *sign = 0.0;
        *log_abs = -HUGE_VAL;
        return;
    }
    double s = swaps % 2 ? -1.0 : 1.0, l = 0.0;
    for (long i = 0; i < n; ++i) {
        const double u = a[i * n + i];
        s *= u > 0.0 ? 1.0 : u < 0.0 ? -1.0 : u;
        l += log(fabs(u));
    }
    *sign = s;
    *log_abs = l;
}

static inline int gg_det(long n, long m, double *a, double *det)
{
    (void)m;
    long swaps = 0;
    if (gg_lu(n, a, 0, 0, &swaps)) {
        *det = 0.0;
        return 0;
    }
    double d = swaps % 2 ? -1.0 : 1.0;
    for (long i = 0; i < n; ++i)
        d *= a[i * n + i];
    *det = d;
    return 0;
}

static inline int gg_det_sign(long n, long m, double *a, double *sign)
{
    double log_abs;
    (void)m;
    gg_slogdet(n, a, sign, &log_abs);
    return 0;
}

static inline int gg_logabsdet(long n, long m, double *a, double *log_abs)
{
    double sign;
    (void)m;
    gg_slogdet(n, a, &sign, log_abs);
    return 0;
}

/*
 * Sorting: order[r][k] is the index of the k-th smallest entry of row r of the n x m matrix a, as
 * np.argsort(kind="stable") orders it (equal entries by position, NaN last), written as doubles.
 * Heapsort on the indices, ties broken by index: O(m log m) per row, no memory beyond order.
 */
static inline int gg_sorted_before(const double *a, long i, long j)
{
    const double x = a[i], y = a[j];
    if (x < y)
        return 1;
    if (x > y)
        return 0;
    if (x == y || (x != x && y != y))
        return i < j;
    return y != y; /* one is NaN: the other comes first */
}

static inline void gg_sift_down(const double *a, double *order, long start, long end)
{
    long root = start;
    while (2 * root + 1 <= end) {
        long child = 2 * root + 1;
        if (child + 1 <= end && gg_sorted_before(a, (long)order[child], (long)order[child + 1]))
            ++child;
        if (!gg_sorted_before(a, (long)order[root], (long)order[child]))
            return;
        const double t = order[root];
        order[root] = order[child];
        order[child] = t;
        root = child;
    }
}

static inline int gg_argsort(long n, long m, double *a, double *order)
{
    for (long r = 0; r < n; ++r) {
        const double *row = a + r * m;
        double *out = order + r * m;
        for (long k = 0; k < m; ++k)
            out[k] = (double)k;
        for (long start = m / 2 - 1; start >= 0; --start)
            gg_sift_down(row, out, start, m - 1);
        for (long end = m - 1; end > 0; --end) {
            const double t = out[0];
            out[0] = out[end];
            out[end] = t;
            gg_sift_down(row, out, 0, end - 1);
        }
    }
    return 0;
}

#endif /* GRADGEN_ROUTINES_H */
