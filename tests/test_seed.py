"""Seed mode: gradfit's gd iterates are the seed's loop, step for step."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.solve.loop import solve


def seed_loop(X: np.ndarray, y: np.ndarray, learning_rate: float, steps: int) -> list[np.ndarray]:
    """The loop from SEED.txt, verbatim, recording w after every step."""
    w = np.zeros(X.shape[1]) if y.ndim == 1 else np.zeros((X.shape[1], y.shape[1]))
    iterates = [w.copy()]
    for _ in range(steps):
        score = X.dot(w)
        error = y - score
        gradient = X.T.dot(error) / len(X)
        w += learning_rate * gradient
        iterates.append(w.copy())
    return iterates


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("steps", [1, 7, 60])
def test_gd_iterates_equal_the_seed_loop(k: int, steps: int) -> None:
    rng = np.random.default_rng(k * 100 + steps)
    X = rng.normal(size=(80, 6)) + 0.5
    y = rng.normal(size=80) if k == 1 else rng.normal(size=(80, k))
    lr = 0.05
    expected = seed_loop(X, y, lr, steps)
    Y = y[:, None] if y.ndim == 1 else y
    recorded: list[np.ndarray] = []
    problem = LeastSquaresProblem(X, Y, fit_intercept=False, standardize=False)

    def capture(iteration: int, info: dict) -> None:
        recorded.append(info["loss"])

    result = solve(
        problem, method="gd", learning_rate=lr, max_iter=steps, tol=0.0, callback=capture
    )
    assert result.n_iter == steps
    W = result.W if y.ndim == 2 else result.W[:, 0]
    scale = np.abs(expected[-1]).max()
    assert np.abs(W - expected[-1]).max() <= 1e-12 * scale
    # every iterate, through the public estimator with max_iter = t
    for t in range(1, steps + 1, max(1, steps // 5)):
        model = GDRegressor(
            method="gd",
            learning_rate=lr,
            fit_intercept=False,
            standardize=False,
            max_iter=t,
            tol=0.0,
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        coef = model.coef_.T if y.ndim == 2 else model.coef_
        assert np.abs(coef - expected[t]).max() <= 1e-12 * np.abs(expected[t]).max()


def test_recorded_loss_is_half_the_mse_of_the_seed_iterate() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=50)
    iterates = seed_loop(X, y, 0.1, 10)
    model = GDRegressor(
        method="gd", learning_rate=0.1, fit_intercept=False, standardize=False, max_iter=10, tol=0.0
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    expected = [0.5 * np.mean((y - X @ w) ** 2) for w in iterates]
    np.testing.assert_allclose(model.history_.loss, expected, rtol=1e-12)
