"""Hypothesis properties of the core."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradfit import DivergenceError, GDRegressor
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.solve.loop import solve

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def problems(draw: st.DrawFn, max_k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(3, 40))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(1, max_k))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scales = 10.0 ** np.array(draw(st.lists(st.floats(-2, 2), min_size=d, max_size=d)))
    X = rng.normal(size=(n, d)) * scales + rng.normal(size=d) * draw(st.sampled_from([0.0, 3.0]))
    Y = rng.normal(size=(n, k)) + X @ rng.normal(size=(d, k))
    return X, Y


def _quiet_fit(model: GDRegressor, *args: object, **kwargs: object) -> GDRegressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


@SETTINGS
@given(problems(), st.floats(0.05, 1.0), st.booleans(), st.booleans())
def test_loss_never_increases_with_lr_at_most_1_over_L(
    data: tuple[np.ndarray, np.ndarray], factor: float, intercept: bool, standardize: bool
) -> None:
    X, Y = data
    problem = LeastSquaresProblem(X, Y, fit_intercept=intercept, standardize=standardize)
    from gradfit.problem.curvature import lanczos_extremes

    L = lanczos_extremes(problem.hvp, problem.D).L
    if L == 0:
        return
    result = solve(problem, method="gd", learning_rate=factor / L, max_iter=60, tol=0.0)
    per_output = result.history.loss_per_output
    slack = np.array([problem.loss_slack(row) for row in per_output[:-1]])
    assert np.all(np.diff(per_output, axis=0) <= slack)
    assert not result.history.events


@SETTINGS
@given(problems(), st.sampled_from(["gd", "momentum", "nesterov", "cg"]))
def test_k_output_fit_equals_k_single_output_fits(
    data: tuple[np.ndarray, np.ndarray], method: str
) -> None:
    X, Y = data
    options = dict(method=method, tol=1e-7, max_iter=3000)
    joint = _quiet_fit(GDRegressor(**options), X, Y)
    for k in range(Y.shape[1]):
        single = _quiet_fit(GDRegressor(**options), X, Y[:, k])
        np.testing.assert_allclose(joint.coef_[k], single.coef_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(joint.intercept_[k], single.intercept_, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(problems(), st.integers(0, 2**31 - 1))
def test_permuting_rows_changes_nothing(data: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    X, Y = data
    order = np.random.default_rng(seed).permutation(len(X))
    a = _quiet_fit(GDRegressor(tol=1e-10), X, Y)
    b = _quiet_fit(GDRegressor(tol=1e-10), X[order], Y[order])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-6, atol=1e-6)


@SETTINGS
@given(problems(max_k=2), st.integers(0, 2**31 - 1))
def test_integer_sample_weights_equal_repeated_rows(
    data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    X, Y = data
    counts = np.random.default_rng(seed).integers(0, 4, size=len(X))
    if counts.sum() == 0:
        counts[0] = 1
    weighted = _quiet_fit(GDRegressor(tol=1e-10, alpha=0.1), X, Y, sample_weight=counts)
    repeated = _quiet_fit(
        GDRegressor(tol=1e-10, alpha=0.1),
        np.repeat(X, counts, axis=0),
        np.repeat(Y, counts, axis=0),
    )
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-6, atol=1e-8)


@SETTINGS
@given(problems(), st.sampled_from(["gd", "nesterov"]), st.booleans())
def test_lr_2_5_over_L_is_caught(
    data: tuple[np.ndarray, np.ndarray], method: str, standardize: bool
) -> None:
    X, Y = data
    probe = _quiet_fit(GDRegressor(method=method, max_iter=0, standardize=standardize), X, Y)
    if probe.lipschitz_ == 0:
        return
    model = GDRegressor(
        method=method,
        learning_rate=2.5 / probe.lipschitz_,
        max_iter=2000,
        tol=1e-12,
        standardize=standardize,
    )
    with pytest.raises(DivergenceError, match="diverged at iteration"):
        _quiet_fit(model, X, Y)
