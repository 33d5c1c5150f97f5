"""``gg.linalg``: the linear algebra NumPy keeps in ``np.linalg``, for traced values."""

from gradgen.ops.statistics import norm

__all__ = ["norm"]
