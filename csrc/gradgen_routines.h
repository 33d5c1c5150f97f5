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
 * Symmetric eigenproblems and singular values. A kernel that links the BLAS (GG_USE_LAPACK) calls the
 * LAPACK of the same scipy-openblas32 library, divide and conquer as NumPy calls it. Otherwise (an
 * exported kernel, which needs nothing to link, or GRADGEN_BLAS=none), and wherever LAPACK reports no
 * convergence, Jacobi rotations: accurate to the last digits and simple; about ten sweeps of n^2/2
 * rotations, on the matrix scaled by a power of two so that nothing overflows or underflows.
 *
 * Eigenvectors and singular vectors are unique up to sign only; a column is made unique by turning the
 * first of its entries at least 1/(2 sqrt(n)) in magnitude positive (every unit vector has one), the
 * rule NumPy's answers are brought to as well (gradgen/ops/decompositions.py). Where two eigenvalues
 * (singular values) are equal the vectors are not unique at all, and the backends may differ.
 */
#ifdef GG_USE_LAPACK
#include <stdlib.h>
int scipy_LAPACKE_dsyevd(int layout, char jobz, char uplo, int n, double *a, int lda, double *w);
int scipy_LAPACKE_dgesdd(int layout, char jobz, int m, int n, double *a, int lda, double *s, double *u, int ldu,
                         double *vt, int ldvt);
#define GG_ROW_MAJOR 101
#endif

/* 1 if any of the n entries is NaN or infinite (then every result is NaN, as NumPy's). */
static inline int gg_not_finite(long n, const double *a)
{
    for (long k = 0; k < n; ++k)
        if (!isfinite(a[k]))
            return 1;
    return 0;
}

static inline void gg_fill_nan(long n, double *x)
{
    for (long k = 0; k < n; ++k)
        x[k] = NAN;
}

/* The n x n matrix a made symmetric from its lower triangle (the triangle eigh reads). */
static inline void gg_symmetrize(long n, double *a)
{
    for (long i = 0; i < n; ++i)
        for (long j = i + 1; j < n; ++j)
            a[i * n + j] = a[j * n + i];
}

/* The power of two that brings the largest magnitude of the n entries near 1 (1 for zeros), and a
 * scaled by it: exact, and no square in the rotations can overflow or underflow. */
static inline double gg_scale_down(long n, double *a)
{
    double largest = 0.0;
    for (long k = 0; k < n; ++k)
        largest = fabs(a[k]) > largest ? fabs(a[k]) : largest;
    if (largest == 0.0)
        return 1.0;
    int exponent;
    frexp(largest, &exponent);
    for (long k = 0; k < n; ++k)
        a[k] = ldexp(a[k], -exponent);
    return ldexp(1.0, exponent);
}

/* The sign (1 or -1) that makes the first entry of column j of the n x m matrix v at least
 * 1/(2 sqrt(n)) in magnitude positive. */
static inline double gg_sign_of(long n, long m, long j, const double *v)
{
    const double enough = 0.5 / sqrt((double)n);
    for (long k = 0; k < n; ++k)
        if (fabs(v[k * m + j]) >= enough)
            return v[k * m + j] < 0.0 ? -1.0 : 1.0;
    return 1.0;
}

/* Column j of the n x m matrix v (and of the r x m matrix w, if given) times v's sign. */
static inline void gg_fix_sign(long n, long m, long j, double *v, long r, double *w)
{
    if (gg_sign_of(n, m, j, v) > 0.0)
        return;
    for (long i = 0; i < n; ++i)
        v[i * m + j] = -v[i * m + j];
    for (long i = 0; w && i < r; ++i)
        w[i * m + j] = -w[i * m + j];
}

/* Swap columns i and j of the n x m matrix v. */
static inline void gg_swap_columns(long n, long m, double *v, long i, long j)
{
    for (long k = 0; k < n; ++k) {
        const double t = v[k * m + i];
        v[k * m + i] = v[k * m + j];
        v[k * m + j] = t;
    }
}

/* The q x q matrix m transposed in place. */
static inline void gg_transpose_in_place(long q, double *m)
{
    for (long i = 0; i < q; ++i)
        for (long j = i + 1; j < q; ++j) {
            const double t = m[i * q + j];
            m[i * q + j] = m[j * q + i];
            m[j * q + i] = t;
        }
}

/* The symmetric n x n matrix a diagonalised in place by cyclic Jacobi rotations (the eigenvalues end on
 * a's diagonal, ascending), the rotations gathered in v (the eigenvectors, as columns, signs fixed)
 * when v is given. */
static inline void gg_symmetric_eigen(long n, double *a, double *v)
{
    const double scale = gg_scale_down(n * n, a);
    for (long k = 0; v && k < n * n; ++k)
        v[k] = k % (n + 1) == 0 ? 1.0 : 0.0;
    for (long sweep = 0; sweep < 64; ++sweep) {
        double off = 0.0;
        for (long p = 0; p < n; ++p)
            for (long q = p + 1; q < n; ++q)
                off += fabs(a[p * n + q]);
        if (off == 0.0)
            break;
        for (long p = 0; p < n; ++p) {
            for (long q = p + 1; q < n; ++q) {
                const double apq = a[p * n + q], g = 100.0 * fabs(apq);
                const double app = a[p * n + p], aqq = a[q * n + q];
                if (sweep > 3 && fabs(app) + g == fabs(app) && fabs(aqq) + g == fabs(aqq)) {
                    a[p * n + q] = a[q * n + p] = 0.0; /* below rounding of both diagonal entries */
                    continue;
                }
                if (apq == 0.0)
                    continue;
                /* the rotation by t = tan(phi) that zeroes a[p][q] (Rutishauser's form) */
                const double h = aqq - app;
                double t;
                if (fabs(h) + g == fabs(h)) {
                    t = apq / h;
                } else {
                    const double theta = 0.5 * h / apq;
                    t = 1.0 / (fabs(theta) + sqrt(1.0 + theta * theta));
                    if (theta < 0.0)
                        t = -t;
                }
                const double c = 1.0 / sqrt(1.0 + t * t), s = t * c, tau = s / (1.0 + c);
                a[p * n + p] = app - t * apq;
                a[q * n + q] = aqq + t * apq;
                a[p * n + q] = a[q * n + p] = 0.0;
                for (long k = 0; k < n; ++k) {
                    if (k == p || k == q)
                        continue;
                    const double x = a[k * n + p], y = a[k * n + q];
                    a[k * n + p] = a[p * n + k] = x - s * (y + x * tau);
                    a[k * n + q] = a[q * n + k] = y + s * (x - y * tau);
                }
                for (long k = 0; v && k < n; ++k) {
                    const double x = v[k * n + p], y = v[k * n + q];
                    v[k * n + p] = x - s * (y + x * tau);
                    v[k * n + q] = y + s * (x - y * tau);
                }
            }
        }
    }
    for (long i = 0; i < n; ++i) { /* selection sort, ascending, the vectors alongside */
        long smallest = i;
        for (long j = i + 1; j < n; ++j)
            if (a[j * n + j] < a[smallest * n + smallest])
                smallest = j;
        if (smallest != i) {
            const double t = a[i * n + i];
            a[i * n + i] = a[smallest * n + smallest];
            a[smallest * n + smallest] = t;
            if (v)
                gg_swap_columns(n, n, v, i, smallest);
        }
    }
    for (long i = 0; i < n; ++i)
        a[i * n + i] *= scale;
    for (long j = 0; v && j < n; ++j)
        gg_fix_sign(n, n, j, v, 0, 0);
}

/* The eigenvalues w (ascending) of the symmetric matrix a's lower triangle stands for, and its
 * eigenvectors v (columns, signs fixed) when v is given: LAPACK where linked, else (or where it reports
 * no convergence) Jacobi rotations on a. NaN everywhere for a matrix that is not finite. */
static inline void gg_eigh_all(long n, double *a, double *w, double *v)
{
    gg_symmetrize(n, a);
    if (gg_not_finite(n * n, a)) {
        gg_fill_nan(n, w);
        if (v)
            gg_fill_nan(n * n, v);
        return;
    }
#ifdef GG_USE_LAPACK
    double *work = v ? v : malloc(sizeof(double) * (size_t)(n * n + 1)); /* LAPACK overwrites it; a stays */
    for (long k = 0; work && k < n * n; ++k)
        work[k] = a[k];
    const int info = work ? scipy_LAPACKE_dsyevd(GG_ROW_MAJOR, v ? 'V' : 'N', 'L', (int)n, work,
                                                 (int)(n > 1 ? n : 1), w) : 1;
    if (!v)
        free(work);
    if (info == 0) {
        for (long j = 0; v && j < n; ++j)
            gg_fix_sign(n, n, j, v, 0, 0);
        return;
    }
#endif
    gg_symmetric_eigen(n, a, v);
    for (long i = 0; i < n; ++i)
        w[i] = a[i * n + i];
}

static inline int gg_eigvalsh(long n, long m, double *a, double *w)
{
    (void)m;
    gg_eigh_all(n, a, w, 0);
    return 0;
}

static inline int gg_eigh_vectors(long n, long m, double *a, double *v)
{
    double w[n > 0 ? n : 1];
    (void)m;
    gg_eigh_all(n, a, w, v);
    return 0;
}

/* Both at once, where a kernel needs the eigenvalues and the eigenvectors of one matrix: out holds
 * the n eigenvalues, then the n x n eigenvectors. */
static inline int gg_eigh_packed(long n, long m, double *a, double *out)
{
    (void)m;
    gg_eigh_all(n, a, out, out + n);
    return 0;
}

/* Columns j of the p x q matrix u that are zero (a zero singular value) replaced by unit vectors
 * orthogonal to every other column, by Gram-Schmidt (twice) on e_0, e_1, ...: u stays orthonormal. */
static inline void gg_complete_columns(long p, long q, double *u, const double *s)
{
    for (long j = 0; j < q; ++j) {
        if (s[j] != 0.0)
            continue;
        for (long e = 0; e < p; ++e) {
            for (long k = 0; k < p; ++k)
                u[k * q + j] = k == e ? 1.0 : 0.0;
            for (long twice = 0; twice < 2; ++twice) {
                for (long i = 0; i < q; ++i) {
                    if (i == j || (s[i] == 0.0 && i > j))
                        continue; /* the columns still to be completed are zeros */
                    double dot = 0.0;
                    for (long k = 0; k < p; ++k)
                        dot += u[k * q + i] * u[k * q + j];
                    for (long k = 0; k < p; ++k)
                        u[k * q + j] -= dot * u[k * q + i];
                }
            }
            double norm = 0.0;
            for (long k = 0; k < p; ++k)
                norm += u[k * q + j] * u[k * q + j];
            if (norm > 0.25) { /* e was far enough from the span of the others */
                for (long k = 0; k < p; ++k)
                    u[k * q + j] /= sqrt(norm);
                break;
            }
        }
    }
}

/* One-sided (Hestenes) Jacobi on the p x q matrix u, p >= q: rotations of column pairs until all are
 * orthogonal, gathered in the q x q v when given. The columns of u end as the left singular vectors, s
 * gets the singular values, descending, and the signs are fixed on u. */
static inline void gg_svd_jacobi(long p, long q, double *u, double *s, double *v)
{
    const double scale = gg_scale_down(p * q, u);
    for (long k = 0; v && k < q * q; ++k)
        v[k] = k % (q + 1) == 0 ? 1.0 : 0.0;
    for (long sweep = 0; sweep < 64; ++sweep) {
        int rotated = 0;
        for (long i = 0; i < q; ++i) {
            for (long j = i + 1; j < q; ++j) {
                double alpha = 0.0, beta = 0.0, gamma = 0.0;
                for (long k = 0; k < p; ++k) {
                    alpha += u[k * q + i] * u[k * q + i];
                    beta += u[k * q + j] * u[k * q + j];
                    gamma += u[k * q + i] * u[k * q + j];
                }
                if (gamma == 0.0 || fabs(gamma) <= 1e-15 * sqrt(alpha) * sqrt(beta))
                    continue; /* orthogonal to rounding */
                rotated = 1;
                const double zeta = (beta - alpha) / (2.0 * gamma);
                const double t = (zeta < 0.0 ? -1.0 : 1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                const double c = 1.0 / sqrt(1.0 + t * t), sn = c * t;
                for (long k = 0; k < p; ++k) {
                    const double x = u[k * q + i], y = u[k * q + j];
                    u[k * q + i] = c * x - sn * y;
                    u[k * q + j] = sn * x + c * y;
                }
                for (long k = 0; v && k < q; ++k) {
                    const double x = v[k * q + i], y = v[k * q + j];
                    v[k * q + i] = c * x - sn * y;
                    v[k * q + j] = sn * x + c * y;
                }
            }
        }
        if (!rotated)
            break;
    }
    for (long j = 0; j < q; ++j) {
        double norm = 0.0;
        for (long k = 0; k < p; ++k)
            norm += u[k * q + j] * u[k * q + j];
        s[j] = sqrt(norm);
    }
    for (long i = 0; i < q; ++i) { /* selection sort, descending, the vectors alongside */
        long largest = i;
        for (long j = i + 1; j < q; ++j)
            if (s[j] > s[largest])
                largest = j;
        if (largest != i) {
            const double t = s[i];
            s[i] = s[largest];
            s[largest] = t;
            gg_swap_columns(p, q, u, i, largest);
            if (v)
                gg_swap_columns(q, q, v, i, largest);
        }
    }
    for (long j = 0; j < q; ++j)
        for (long k = 0; s[j] > 0.0 && k < p; ++k)
            u[k * q + j] /= s[j];
    gg_complete_columns(p, q, u, s);
    for (long j = 0; j < q; ++j) {
        gg_fix_sign(p, q, j, u, q, v);
        s[j] *= scale;
    }
}

#ifdef GG_USE_LAPACK
/* s, u (p x q) and vt (q x q) of the tall p x q matrix a by LAPACK (a kept), signs fixed on u, the rows of
 * vt following; 0 on success. u or vt may be 0 (not wanted), s must hold q values. */
static inline int gg_svd_lapack(long p, long q, const double *a, double *s, double *u, double *vt)
{
    const int vectors = u || vt;
    double *scratch = malloc(sizeof(double) * (size_t)(p * q + (vectors ? p * q + q * q : 0) + 1));
    if (!scratch)
        return 1;
    double *copy = scratch, *us = u ? u : scratch + p * q, *vts = vt ? vt : scratch + 2 * p * q;
    for (long k = 0; k < p * q; ++k)
        copy[k] = a[k];
    const int ld = (int)(q > 1 ? q : 1); /* LAPACK wants leading dimensions of at least 1 */
    const int info = scipy_LAPACKE_dgesdd(GG_ROW_MAJOR, vectors ? 'S' : 'N', (int)p, (int)q, copy, ld, s,
                                          vectors ? us : 0, ld, vectors ? vts : 0, ld);
    for (long j = 0; info == 0 && vectors && j < q; ++j) {
        if (gg_sign_of(p, q, j, us) > 0.0)
            continue;
        for (long k = 0; k < p; ++k) /* the left vector flips, and the right one with it */
            us[k * q + j] = -us[k * q + j];
        for (long k = 0; k < q; ++k)
            vts[j * q + k] = -vts[j * q + k];
    }
    free(scratch);
    return info;
}
#endif

/* The singular values s (descending) of the tall p x q matrix a = u diag(s) vt, and u (p x q) and vt
 * (q x q) where given: LAPACK where linked, else (or where it reports no convergence) one-sided Jacobi.
 * NaN everywhere for a matrix that is not finite. */
static inline void gg_svd_all(long p, long q, double *a, double *s, double *u, double *vt)
{
    if (gg_not_finite(p * q, a)) {
        gg_fill_nan(q, s);
        if (u)
            gg_fill_nan(p * q, u);
        if (vt)
            gg_fill_nan(q * q, vt);
        return;
    }
#ifdef GG_USE_LAPACK
    if (gg_svd_lapack(p, q, a, s, u, vt) == 0)
        return;
#endif
    for (long k = 0; u && k < p * q; ++k)
        u[k] = a[k];
    gg_svd_jacobi(p, q, u ? u : a, s, vt); /* the rotations gather v; vt is its transpose */
    if (vt)
        gg_transpose_in_place(q, vt);
}

static inline int gg_svdvals(long p, long q, double *a, double *s)
{
    gg_svd_all(p, q, a, s, 0, 0);
    return 0;
}

static inline int gg_svd_u(long p, long q, double *a, double *u)
{
    double s[q > 0 ? q : 1];
    gg_svd_all(p, q, a, s, u, 0);
    return 0;
}

static inline int gg_svd_vt(long p, long q, double *a, double *vt)
{
    double s[q > 0 ? q : 1];
    gg_svd_all(p, q, a, s, 0, vt);
    return 0;
}

/* The whole SVD of the tall p x q matrix a at once: out holds u (p x q), then s (q), then vt (q x q). */
static inline int gg_svd_packed(long p, long q, double *a, double *out)
{
    gg_svd_all(p, q, a, out + p * q, out, out + p * q + q);
    return 0;
}

/* The n x n matrix of 1 / (w[j] - w[i]), 0 on the diagonal: how eigenvectors (singular vectors, with
 * w their squares) turn as the matrix changes. Returns 1 where two of the w are equal to rounding
 * (closer than 16 n eps times the largest magnitude): the vectors are not unique there. */
static inline int gg_inverse_gaps(long n, long m, double *w, double *f)
{
    (void)m;
    double largest = 0.0;
    for (long i = 0; i < n; ++i)
        largest = fabs(w[i]) > largest ? fabs(w[i]) : largest;
    const double tolerance = 16.0 * (double)n * 2.220446049250313e-16 * largest;
    for (long i = 0; i < n; ++i)
        for (long j = 0; j < n; ++j) {
            if (i != j && fabs(w[j] - w[i]) <= tolerance)
                return 1;
            f[i * n + j] = i == j ? 0.0 : 1.0 / (w[j] - w[i]);
        }
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
