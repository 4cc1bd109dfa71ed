"""The divergence guard notices growth, not just NaN, and never returns NaN weights."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit import DivergenceError, GDRegressor, GradfitInputError
from gradfit.problem.curvature import CurvatureEstimate, lanczos_extremes
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.solve.loop import solve
from problems import svd_problem


def _true_L(X: np.ndarray) -> float:
    Xc = X - X.mean(axis=0)
    return float(np.linalg.eigvalsh(Xc.T @ Xc / len(X)).max())


@pytest.mark.parametrize(
    ("method", "factor"),
    [
        ("gd", 2.05),
        ("gd", 2.5),
        ("gd", 10.0),
        ("gd", 1e6),
        ("nesterov", 2.05),
        ("nesterov", 2.5),
        ("nesterov", 1e6),
        ("momentum", 10.0),
        ("momentum", 1e6),
    ],
)
def test_float_learning_rate_above_2_over_L_raises_at_the_step(method: str, factor: float) -> None:
    # (heavy ball is stable up to lr = 2(1+β)/L, so it is only tested far beyond)
    X, Y = svd_problem(100, 5, 1, cond=10.0, seed=0)
    L = _true_L(X)
    model = GDRegressor(method=method, learning_rate=factor / L, standardize=False, max_iter=500)
    with pytest.raises(DivergenceError) as info:
        model.fit(X, Y[:, 0])
    err = info.value
    message = str(err)
    assert message.startswith("diverged at iteration")
    assert f"2/L = {2 / L:.4g}" in message and "learning_rate='auto'" in message
    assert err.iteration <= 40  # caught as it grows, long before any overflow
    assert err.stability_bound == pytest.approx(2 / L, rel=1e-6)
    assert np.all(np.isfinite(err.last_good_coef)) and np.all(np.isfinite(err.last_good_intercept))
    assert not hasattr(model, "coef_")


def test_gd_at_2_5_over_L_raises_at_iteration_one() -> None:
    X, Y = svd_problem(100, 5, 2, cond=3.0, seed=1)
    L = _true_L(X)
    with pytest.raises(DivergenceError, match=r"^diverged at iteration 1: the loss rose from"):
        GDRegressor(method="gd", learning_rate=2.5 / L, standardize=False).fit(X, Y)


def test_auto_rolls_back_and_halves_when_the_curvature_is_underestimated() -> None:
    X, Y = svd_problem(200, 6, 2, cond=20.0, seed=2)
    problem = LeastSquaresProblem(X, Y, standardize=False)
    true = lanczos_extremes(problem.hvp, problem.D)
    wrong = CurvatureEstimate(L=true.L / 3.0, mu=true.mu, n_matvec=0, exact=False)
    result = solve(problem, method="gd", curvature=wrong, max_iter=50_000, tol=1e-13)
    rollbacks = [e for e in result.history.events if e.kind == "rollback"]
    assert rollbacks, "lr = 3/L must be caught"
    assert rollbacks[0].iteration == 1
    assert result.converged
    np.testing.assert_allclose(result.learning_rate, 1.5 / true.L, rtol=1e-9)
    loss = result.history.loss
    assert np.all(np.diff(loss) <= 1e-12 * loss[0])  # accepted losses never rise
    W = np.linalg.lstsq(X - X.mean(0), Y - Y.mean(0), rcond=None)[0]
    np.testing.assert_allclose(result.W, W, rtol=1e-7)


def test_data_whose_squares_overflow_is_rescaled_not_nan() -> None:
    # issue 11 (9): exact powers of two bring the columns into range; the answer is that of
    # the rescaled data, scaled back (it once raised; before that, it returned NaN)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 2))
    y = rng.normal(size=20)
    big = GDRegressor(method="gd", tol=1e-10).fit(X * 1e200, y * 1e200)
    small = GDRegressor(method="gd", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(big.coef_, small.coef_, rtol=1e-8)
    np.testing.assert_allclose(big.intercept_ / 1e200, small.intercept_, rtol=1e-8, atol=1e-12)
    with pytest.raises(GradfitInputError, match=r"too large.*rescale"):
        GDRegressor(method="gd", alpha=0.1).fit(X * 1e200, y)


def test_momentum_methods_restart_instead_of_diverging() -> None:
    X, Y = svd_problem(300, 10, 1, cond=100.0, seed=4)
    model = GDRegressor(method="nesterov", tol=1e-10, max_iter=50_000, standardize=False).fit(
        X, Y[:, 0]
    )
    assert model.converged_
    kinds = {e.kind for e in model.history_.events}
    assert "rollback" not in kinds
    assert np.all(np.diff(model.history_.loss) <= 1e-12 * model.history_.loss[0])


def test_no_method_returns_non_finite_weights_on_hard_data() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 4)) * [1e-6, 1.0, 1e6, 1e3]
    y = X @ [1e6, 1.0, 1e-6, 1e-3] + rng.normal(size=60)
    import warnings

    for method in ("gd", "momentum", "nesterov", "cg"):
        for standardize in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = GDRegressor(method=method, standardize=standardize, max_iter=300)
                model.fit(X, y)
            assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_)
