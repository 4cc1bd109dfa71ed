"""Every method reaches the exact least-squares solution on problems of known conditioning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradfit import ConvergenceWarning, GDRegressor
from gradfit.problem.exact import exact_solution
from problems import svd_problem


def _lstsq(
    X: np.ndarray, Y: np.ndarray, fit_intercept: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: numpy.linalg.lstsq on an explicit ones column / centred data."""
    if fit_intercept:
        Xc = X - X.mean(axis=0)
        W = np.linalg.lstsq(Xc, Y - Y.mean(axis=0), rcond=None)[0]
        return W, Y.mean(axis=0) - X.mean(axis=0) @ W
    return np.linalg.lstsq(X, Y, rcond=None)[0], np.zeros(Y.shape[1])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("cond", [1.0, 1e2, 1e4])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("standardize", [True, False])
def test_cg_matches_lstsq_on_long_problems(cond: float, k: int, standardize: bool) -> None:
    X, Y = svd_problem(300, 20, k, cond=cond, seed=int(cond) + k)
    W, b = _lstsq(X, Y)
    model = GDRegressor(tol=1e-13, max_iter=5000, standardize=standardize).fit(X, Y)
    assert model.converged_, model.stop_reason_
    assert _rel(model.coef_.T, W) <= 1e-6
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cond", [1.0, 1e2, 1e4])
@pytest.mark.parametrize("k", [1, 3])
def test_wide_problems_reach_the_minimum_norm_solution(cond: float, k: int) -> None:
    X, Y = svd_problem(40, 100, k, cond=cond, seed=7)
    W, b = _lstsq(X, Y)  # lstsq returns the minimum-norm solution
    model = GDRegressor(tol=3e-13, max_iter=20000, standardize=False).fit(X, Y)
    assert model.converged_, model.stop_reason_
    assert _rel(model.coef_.T, W) <= 1e-6
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-6, atol=1e-9)


def test_wide_problem_with_standardization_is_still_a_least_squares_solution() -> None:
    X, Y = svd_problem(40, 100, 2, cond=10.0, seed=8)
    W, b = _lstsq(X, Y)
    model = GDRegressor(tol=1e-13, max_iter=20000).fit(X, Y)
    # a different minimiser (minimum norm in standardised units) with the same fit
    np.testing.assert_allclose(model.predict(X), X @ W + b, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "cg"])
@pytest.mark.parametrize("cond", [1.0, 10.0, 100.0])
def test_every_method_reaches_lstsq(method: str, cond: float) -> None:
    X, Y = svd_problem(200, 8, 2, cond=cond, seed=3)
    W, _b = _lstsq(X, Y)
    model = GDRegressor(method=method, tol=1e-12, max_iter=200_000, standardize=False).fit(X, Y)
    assert model.converged_, model.stop_reason_
    assert _rel(model.coef_.T, W) <= 1e-6


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "cg"])
def test_ridge_and_weights_match_the_exact_solution(method: str) -> None:
    X, Y = svd_problem(150, 6, 2, cond=30.0, seed=11)
    weights = np.random.default_rng(0).uniform(0.0, 3.0, size=len(X))
    W, b = exact_solution(X, Y, alpha=0.5, sample_weight=weights)
    model = GDRegressor(method=method, alpha=0.5, tol=1e-12, max_iter=100_000)
    model.fit(X, Y, sample_weight=weights)
    assert _rel(model.coef_.T, W) <= 1e-8
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-8)


def test_intercept_is_not_penalised() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2))
    y = X @ [1.0, -1.0] + 1000.0
    model = GDRegressor(alpha=10.0, tol=1e-12).fit(X, y)
    # a penalised intercept would be pulled towards 0; the unpenalised one is ȳ − x̄·w
    np.testing.assert_allclose(
        model.intercept_, y.mean() - X.mean(axis=0) @ model.coef_, rtol=1e-12
    )
    W, _b = exact_solution(X, y[:, None], alpha=10.0)
    np.testing.assert_allclose(model.coef_, W[:, 0], rtol=1e-9)


def test_standardize_changes_the_path_not_the_answer() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4)) * [1e-3, 1.0, 1e3, 10.0]
    y = X @ [1e3, 1.0, 1e-3, 0.1] + rng.normal(size=300)
    plain = GDRegressor(standardize=False, tol=1e-13, max_iter=10_000).fit(X, y)
    scaled = GDRegressor(standardize=True, tol=1e-13).fit(X, y)
    np.testing.assert_allclose(plain.coef_, scaled.coef_, rtol=1e-7)
    assert scaled.condition_number_ < plain.condition_number_ / 1e3
    assert scaled.n_iter_ < plain.n_iter_


def test_multi_output_equals_separate_fits_for_every_method() -> None:
    X, Y = svd_problem(120, 5, 3, cond=20.0, seed=5)
    for method in ("gd", "momentum", "nesterov", "cg"):
        joint = GDRegressor(method=method, tol=1e-9, max_iter=50_000).fit(X, Y)
        for k in range(3):
            single = GDRegressor(method=method, tol=1e-9, max_iter=50_000).fit(X, Y[:, k])
            np.testing.assert_allclose(joint.coef_[k], single.coef_, rtol=1e-9, atol=1e-12)


def test_converged_coefficients_are_within_the_gradient_bound() -> None:
    """‖W − W*‖ ≤ ‖G‖/μ: the stopping quantity really bounds the error."""
    X, Y = svd_problem(200, 10, 1, cond=100.0, seed=9, offset=False)
    W, _ = _lstsq(X, Y, fit_intercept=False)
    model = GDRegressor(
        method="gd", tol=1e-6, standardize=False, fit_intercept=False, max_iter=100_000
    ).fit(X, Y[:, 0])
    mu = np.linalg.eigvalsh(X.T @ X / len(X)).min()
    G = X.T @ (X @ model.coef_ - Y[:, 0]) / len(X)
    assert np.linalg.norm(model.coef_ - W[:, 0]) <= np.linalg.norm(G) / mu * (1 + 1e-6)


def test_max_iter_warning_names_cause_and_fix() -> None:
    X, Y = svd_problem(100, 5, 1, cond=30.0, seed=1)
    with pytest.warns(ConvergenceWarning, match=r"too few iterations.*max_iter=\d+"):
        model = GDRegressor(method="gd", max_iter=3).fit(X, Y[:, 0])
    assert not model.converged_ and model.stop_reason_.startswith("max_iter")


def test_ill_conditioning_warning_gives_the_condition_number() -> None:
    X, Y = svd_problem(100, 20, 1, cond=1e4, seed=2)
    with pytest.warns(ConvergenceWarning, match=r"ill-conditioning.*κ = L/μ ≈ 1(\.\d+)?e\+08"):
        GDRegressor(method="gd", max_iter=50, standardize=False).fit(X, Y[:, 0])


def test_unscaled_features_warning() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)) * [1.0, 100.0, 1e4]
    y = X @ [1.0, 1.0, 1.0]
    with pytest.warns(ConvergenceWarning, match=r"unscaled features.*standardize=True"):
        GDRegressor(method="gd", standardize=False, max_iter=20).fit(X, y)


def test_converged_fit_does_not_warn() -> None:
    X, Y = svd_problem(100, 5, 2, cond=10.0, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GDRegressor().fit(X, Y)
