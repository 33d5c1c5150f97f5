"""``gg.linalg``: the linear algebra NumPy keeps in ``np.linalg`` (and SciPy's triangular solve), for
traced values."""

from gradgen.ops.decompositions import EighResult, SVDResult, eigh, eigvalsh, svd, svdvals
from gradgen.ops.solvers import SlogdetResult, cholesky, det, inv, slogdet, solve, solve_triangular
from gradgen.ops.statistics import norm

__all__ = ["EighResult", "SVDResult", "SlogdetResult", "cholesky", "det", "eigh", "eigvalsh", "inv", "norm",
           "slogdet", "solve", "solve_triangular", "svd", "svdvals"]
