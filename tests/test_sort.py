"""gg.sort and gg.argsort: NumPy's stable order (ties by position, NaN last) on both backends, and the
gradient of a sorted array through the permutation."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen as gg

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:
    jax = None

BACKENDS = ["python", "c"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_argsort_is_numpys_stable_order_with_ties_and_nan(backend):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, size=(3, 5000)).astype(float)  # many ties
    x[rng.uniform(size=x.shape) < 0.01] = np.nan
    x[0, :7] = [-0.0, 0.0, np.inf, -np.inf, np.nan, 0.0, -0.0]
    f = gg.compile(lambda x: (gg.argsort(x), gg.argsort(x, axis=0), gg.sort(x)), backend=backend,
                   x=gg.Array(x.shape))
    rows, columns, ordered = f(x)
    np.testing.assert_array_equal(rows, np.argsort(x, axis=-1, kind="stable"))
    np.testing.assert_array_equal(columns, np.argsort(x, axis=0, kind="stable"))
    np.testing.assert_array_equal(ordered, np.sort(x, axis=-1))
    assert rows.dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_of_a_sorted_array_goes_back_through_the_permutation(backend):
    x = np.array([3.0, 1.0, 2.0, 1.0])
    weights = np.array([1.0, 10.0, 100.0, 1000.0])
    value, grads = gg.value_and_grad(lambda x: gg.sum(gg.sort(x) * weights), backend=backend,
                                     x=gg.Array((4,)))(x)
    assert value == 1 * 1.0 + 10 * 1.0 + 100 * 2.0 + 1000 * 3.0
    # sorted: x[1], x[3] (the tie in order of position), x[2], x[0]
    np.testing.assert_array_equal(grads["x"], [1000.0, 1.0, 100.0, 10.0])


@pytest.mark.skipif(jax is None, reason="JAX (x64) is the reference; the test extra installs it")
@pytest.mark.parametrize("backend", BACKENDS)
def test_sorting_losses_agree_with_jax(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6))

    def trimmed(x):  # the mean of each row without its smallest and largest entry, squared
        return gg.sum(gg.mean(gg.sort(x, axis=1)[:, 1:-1], axis=1) ** 2) + gg.sum(gg.sort(x, axis=0)[-1])

    def reference(x):
        return jnp.sum(jnp.mean(jnp.sort(x, axis=1)[:, 1:-1], axis=1) ** 2) + jnp.sum(jnp.sort(x, axis=0)[-1])

    value, grads = gg.value_and_grad(trimmed, backend=backend, x=gg.Array(x.shape))(x)
    assert value == pytest.approx(float(reference(x)), rel=1e-14)
    np.testing.assert_allclose(grads["x"], jax.grad(reference)(x), rtol=1e-14)


def test_numpy_spellings_and_concrete_arrays():
    f = gg.compile(lambda x: (np.sort(x, axis=None), np.argsort(x)), backend="python", x=gg.Array((2, 3)))
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, -1.0]])
    ordered, order = f(x)
    np.testing.assert_array_equal(ordered, np.sort(x, axis=None))
    np.testing.assert_array_equal(order, np.argsort(x))
    np.testing.assert_array_equal(gg.sort(np.array([2, 1])), [1, 2])
    with pytest.raises(gg.ShapeError, match="a scalar has no axis to order along"):
        gg.compile(lambda s: gg.sort(s), backend="python", s=gg.Scalar())
    with pytest.raises(gg.InputError, match="argsort: kind must be one of"):
        gg.compile(lambda x: gg.argsort(x, kind="bogo"), backend="python", x=gg.Array((3,)))
