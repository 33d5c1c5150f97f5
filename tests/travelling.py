"""Functions defined in an importable module, so kernels made from them carry them when pickled (and can
trace new signatures in another process): the models of ``test_pickling``."""

import gradgen as gg


def logreg(w, b, X, y):
    """A module-level function: it travels with its kernels, which can then trace new signatures."""
    z = X @ w + b
    return gg.mean(gg.softplus(z) - y * z)


def residual(p, t):
    return p[0] * gg.exp(-p[1] * t)


def structured(params, X):
    return gg.sum((X @ params["W"] + params["b"]) ** 2)
