"""Targets with a large mean (1e9–1e14 + signal) on every engine and input form.

Found by a hostile fuzz run (2026-12-07): float32 X with float64 targets around 1e9 on the
data path returned all-zero coefficients and said converged (the targets were stored in
float32, spacing 64 at 1e9); CSR input with targets around 1e10 gave coefficients 92% off
(``XᵀΩY − x̄ȳᵀ`` cancelled). The references subtract an exact power of ten from y (exact in
float64), so they carry none of that rounding.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from gradfit import GDRegressor


def reference(X: np.ndarray, y: np.ndarray, offset: float, w: np.ndarray | None = None):
    """Slopes of y − offset (exact) on [X, 1], weighted least squares by NumPy."""
    A = np.column_stack([np.asarray(X, dtype=np.float64), np.ones(len(X))])
    sw = np.ones(len(X)) if w is None else np.sqrt(w)
    return np.linalg.lstsq(A * sw[:, None], (y - offset) * sw, rcond=None)[0][:-1]


def fit(X, y, **options):
    weights = options.pop("sample_weight", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GDRegressor(**options).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize(
    ("method", "gradient"),
    [("cg", "stats"), ("cg", "data"), ("gd", "stats"), ("gd", "data"), ("exact", "stats")],
)
def test_float32_features_with_float64_targets_far_from_zero(method: str, gradient: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    y = 1e9 + X.astype(np.float64) @ [3.0, -2.0] + 0.1 * rng.normal(size=200)
    model = fit(X, y, method=method, gradient=gradient)
    ref = reference(X, y, 1e9)
    assert model.converged_
    # float32 coefficients: their own rounding (6e-8) is the limit
    np.testing.assert_allclose(model.coef_, ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict(X[:5]), y[:5], atol=1.0)


def test_float32_features_beyond_2000_columns_take_the_data_path_and_fit() -> None:
    rng = np.random.default_rng(0)
    n, d = 2100, 2001
    X = rng.normal(size=(n, d)).astype(np.float32)
    beta = np.zeros(d)
    beta[:2] = [3.0, -2.0]
    y = 1e9 + X.astype(np.float64) @ beta + 0.1 * rng.normal(size=n)
    model = fit(X, y)
    assert model.engine_ == "data"
    assert model.converged_
    ref = reference(X[:, :3], y, 1e9)  # the other columns hardly matter for these two
    np.testing.assert_allclose(model.coef_[:2], ref[:2], atol=0.05)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("gradient", ["stats", "data"])
def test_sparse_features_with_targets_far_from_zero(weighted: bool, gradient: str) -> None:
    rng = np.random.default_rng(38)
    n, d = 200, 5
    X = rng.normal(size=(n, d))
    X[rng.random(size=X.shape) < 0.5] = 0.0
    y = 1e10 + X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    w = 10.0 ** rng.uniform(-4, 4, size=n) if weighted else None
    dense = fit(X, y, sample_weight=w, gradient=gradient, tol=1e-10)
    csr = fit(sp.csr_matrix(X), y, sample_weight=w, gradient=gradient, tol=1e-10)
    ref = reference(X, y, 1e10, w)
    assert dense.converged_ and csr.converged_
    scale = np.abs(ref).max()
    np.testing.assert_allclose(dense.coef_, ref, atol=1e-6 * scale)
    np.testing.assert_allclose(csr.coef_, ref, atol=1e-6 * scale)


@pytest.mark.parametrize("method", ["cg", "gd", "nesterov"])
def test_the_data_path_with_a_penalty_and_targets_far_from_zero(method: str) -> None:
    rng = np.random.default_rng(1)
    n, d, alpha = 300, 4, 1e3
    X = rng.normal(size=(n, d))
    y = 1e12 + X @ rng.normal(size=d) + rng.normal(size=n)
    Xc = X - X.mean(0)
    yc = (y - 1e12) - (y - 1e12).mean()
    ref = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(d), Xc.T @ yc / n)
    model = fit(
        X,
        y,
        method=method,
        gradient="data",
        alpha=alpha,
        tol=1e-8,
        standardize=False,
        max_iter=5000,
    )
    assert model.converged_
    error = np.linalg.norm(model.coef_ - ref) / np.linalg.norm(ref)
    assert error <= 10 * np.max(model.certificate_.coef_error_bound) + 1e-12


@pytest.mark.parametrize("gradient", ["stats", "data"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_device_arrays_keep_float64_targets_beside_float32_features(
    gradient: str, as_tensor: bool
) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    y = 1e9 + X.astype(np.float64) @ [3.0, -2.0] + 0.1 * rng.normal(size=200)
    target = torch.from_numpy(y) if as_tensor else y
    model = fit(torch.from_numpy(X), target, gradient=gradient)
    assert model.converged_
    np.testing.assert_allclose(model.coef_, reference(X, y, 1e9), rtol=1e-6)
