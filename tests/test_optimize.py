"""gradgen.optimize: scipy.optimize with compiled gradients, Hessian-vector products, Hessians and
Jacobians, on structured parameters, reaching SciPy's own optima."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as scipy_optimize  # a test dependency; the package does not need it

import gradgen as gg
from gradgen import optimize


def rosenbrock(x):
    return gg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # SciPy's tutorial start


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "Newton-CG", "trust-krylov", "trust-exact"])
def test_rosenbrock_reaches_scipys_own_optimum(method):
    got = optimize.minimize(rosenbrock, X0, method=method, backend="c", tol=1e-10)
    derivatives = {"hessp": scipy_optimize.rosen_hess_prod} if method in ("Newton-CG", "trust-krylov") else \
        {"hess": scipy_optimize.rosen_hess} if method == "trust-exact" else {}
    expected = scipy_optimize.minimize(scipy_optimize.rosen, X0, method=method, jac=scipy_optimize.rosen_der,
                                       tol=1e-10, **derivatives)
    assert got.success and expected.success
    np.testing.assert_allclose(got.x, expected.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.x, np.ones(5), atol=1e-6)
    assert got.nit == expected.nit  # the same iterates: the same numbers went in


def logistic(params, X, y):
    z = X @ params["w"] + params["b"]
    return gg.mean(gg.softplus(z) - y * z) + 1e-3 * gg.sum(params["w"] ** 2)


def test_logistic_regression_by_newton_steps_comes_back_as_a_dict_at_the_optimum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3)))).astype(float)
    start = {"w": np.zeros(4), "b": 0.0}
    gradient = gg.value_and_grad(lambda w, b, X, y: logistic({"w": w, "b": b}, X, y), wrt=["w", "b"],
                                 backend="python")
    lbfgs = optimize.minimize(logistic, start, args=(X, y), method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15})
    newton = optimize.minimize(logistic, start, args=(X, y), method="Newton-CG", options={"xtol": 1e-12})
    exact = optimize.minimize(logistic, start, args=(X, y), method="trust-exact", tol=1e-12)  # the Hessian kernel
    for result, gradient_bound in ((lbfgs, 1e-9), (newton, 1e-7), (exact, 1e-11)):
        assert set(result.x) == {"w", "b"} and result.x["w"].shape == (4,) and np.shape(result.x["b"]) == ()
        _, grads = gradient(result.x["w"], float(result.x["b"]), X, y)
        assert max(np.max(np.abs(grads["w"])), abs(grads["b"])) < gradient_bound
    np.testing.assert_allclose(exact.x["w"], lbfgs.x["w"], atol=1e-8)
    assert newton.nit < lbfgs.nit and exact.nit < lbfgs.nit  # Newton's steps use the curvature


def decay(params, t, y):
    a, k = params
    return a * gg.exp(-k * t) - y


def test_least_squares_recovers_the_model_with_the_compiled_jacobian():
    t = np.linspace(0.0, 3.0, 200)
    y = 2.5 * np.exp(-1.3 * t) + np.random.default_rng(1).normal(size=200) * 1e-3
    got = optimize.least_squares(decay, (1.0, 0.5), args=(t, y), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    expected = scipy_optimize.least_squares(lambda p: p[0] * np.exp(-p[1] * t) - y, [1.0, 0.5],
                                            jac=lambda p: np.stack([np.exp(-p[1] * t),
                                                                    -p[0] * t * np.exp(-p[1] * t)], axis=1),
                                            xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert isinstance(got.x, tuple) and len(got.x) == 2
    np.testing.assert_allclose(got.x_flat, expected.x, rtol=1e-10)
    assert abs(got.x[0] - 2.5) < 0.01 and abs(got.x[1] - 1.3) < 0.01


def test_parameters_must_be_numbers():
    with pytest.raises(gg.InputError, match=r"parameter params\['w'\] is 'zero'"):
        optimize.minimize(logistic, {"w": "zero", "b": 0.0}, args=(np.ones((2, 4)), np.ones(2)))


def test_the_example_fits_both_problems():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "optimize_newton.py"
    spec = importlib.util.spec_from_file_location("optimize_newton", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    fits = example.fit_logistic()
    newton, lbfgs = fits["Newton-CG"]["result"], fits["L-BFGS-B"]["result"]
    assert newton.fun == pytest.approx(lbfgs.fun, rel=1e-9) and newton.nhev > 0
    decays = example.fit_decays()
    np.testing.assert_allclose(decays.x["a"], [3.0, 1.0], atol=0.02)
    np.testing.assert_allclose(decays.x["k"], [2.0, 0.3], atol=0.02)
