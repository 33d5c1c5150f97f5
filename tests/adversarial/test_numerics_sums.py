"""Long sums are accurate on the C backend: taken block by block, float32 values summed in float64.

The mean of 10**7 values of 0.1 used to be off by 6e-3 in float32 and to differ from NumPy by 2.2e-11
in float64; math.fsum is the exact reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg
from gradgen.build import find_compiler

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="needs a C compiler")

N = 10**7


@pytest.mark.parametrize("dtype, bound", [("float64", 1e-12), ("float32", 2.4e-7)])  # float32: two ulps
def test_sums_of_ten_million_values_are_accurate(dtype, bound, monkeypatch):
    monkeypatch.setenv("GRADGEN_NUM_THREADS", "2")  # the parts of a shared loop keep the blocks too
    rng = np.random.default_rng(3)
    for values in (np.full(N, 0.1, dtype=dtype), rng.random(N).astype(dtype), rng.normal(1.0, 3.0, N).astype(dtype)):
        exact = math.fsum(values.astype(np.float64).tolist())
        for backend in ("c", "python"):
            kernel = gg.compile(lambda x: (gg.sum(x), gg.mean(x * 2.0)), backend=backend, x=gg.Array((N,), dtype))
            total, mean = kernel(values)
            assert abs(total - exact) <= bound * abs(exact) + 1e-300, (backend, total, exact)
            assert abs(mean - 2.0 * exact / N) <= 2 * bound * abs(2.0 * exact / N), (backend, mean)


def test_the_gradient_of_a_long_mean_agrees_with_python():
    x = np.random.default_rng(4).normal(size=N)
    (vc, gc), (vp, gp) = (gg.value_and_grad(lambda x: gg.mean(x * x), backend=b, x=gg.Array((N,)))(x)
                          for b in ("c", "python"))
    assert vc == pytest.approx(vp, rel=1e-12)
    np.testing.assert_allclose(gc["x"], gp["x"], rtol=1e-13)
