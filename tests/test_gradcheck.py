"""check_gradient: each planted mistake is named, for one output and for several."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit import GradfitInputError, check_gradient

RNG = np.random.default_rng(11)
X = RNG.normal(size=(40, 4))
Y1 = X @ [1.0, -2.0, 0.5, 3.0] + RNG.normal(size=40)
Y3 = X @ RNG.normal(size=(4, 3)) + RNG.normal(size=(40, 3))


def seed_gradient(X, y, w):
    """The seed's lines, verbatim."""
    score = X.dot(w)
    error = y - score
    gradient = X.T.dot(error) / len(X)
    return gradient


def true(X, y, w):
    return X.T @ (X @ w - y) / len(X)


PLANTED = {
    "correct": (true, ()),
    "seed": (seed_gradient, ("sign",)),
    "no_mean": (lambda X, y, w: X.T @ (X @ w - y), ("missing_mean",)),
    "no_mean_descent": (lambda X, y, w: X.T @ (y - X @ w), ("sign", "missing_mean")),
    "mse": (lambda X, y, w: 2 * X.T @ (X @ w - y) / len(X), ("mse_factor",)),
    "mse_descent": (lambda X, y, w: 2 * X.T @ (y - X @ w) / len(X), ("sign", "mse_factor")),
    "sum_of_squares": (lambda X, y, w: 2 * X.T @ (X @ w - y), ("mse_factor", "missing_mean")),
    "by_D": (lambda X, y, w: X.T @ (X @ w - y) / X.shape[1], ("divides_by_D",)),
    "mae": (lambda X, y, w: X.T @ np.sign(X @ w - y) / len(X), ("absolute_error",)),
    "mae_descent": (lambda X, y, w: X.T @ np.sign(y - X @ w) / len(X), ("absolute_error", "sign")),
    "ignores_w": (lambda X, y, w: X.T @ (X @ np.zeros_like(w) - y) / len(X), ("ignores_W",)),
    "cubic": (lambda X, y, w: X.T @ (X @ w - y) ** 3 / len(X), ("different_loss",)),
    "error_only": (lambda X, y, w: y - X @ w, ("per_sample",)),
    "loss": (lambda X, y, w: 0.5 * np.mean((X @ w - y) ** 2), ("scalar",)),
    "none": (lambda X, y, w: None, ("not_an_array",)),
    "raises": (lambda X, y, w: X @ X, ("raised",)),
    "nan": (lambda X, y, w: true(X, y, w) / 0.0, ("non_finite",)),
}


@pytest.mark.parametrize("y", [Y1, Y3], ids=["1-output", "3-outputs"])
@pytest.mark.parametrize("name", list(PLANTED))
def test_planted_mistake_is_named(name: str, y: np.ndarray) -> None:
    fn, expected = PLANTED[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        result = check_gradient(fn, X, y)
    assert result.mistakes == expected
    assert result.ok == (expected == ())
    assert result.expected_shape == ((4,) if y.ndim == 1 else (4, 3))


def test_seed_line_is_the_descent_direction_of_half_mse() -> None:
    result = check_gradient(seed_gradient, X, Y1)
    assert result.factor == pytest.approx(-1.0, abs=1e-12)
    assert "descent direction −G of ½·MSE" in result.diagnosis
    assert "w += lr·g" in result.fix
    assert result.relative_error == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("fn", "factor"),
    [
        (PLANTED["no_mean"][0], 40.0),
        (PLANTED["mse_descent"][0], -2.0),
        (PLANTED["by_D"][0], 10.0),
    ],
)
def test_fitted_factor(fn, factor) -> None:
    assert check_gradient(fn, X, Y1).factor == pytest.approx(factor, rel=1e-12)


def test_multi_output_specific_mistakes() -> None:
    transposed = check_gradient(lambda X, Y, W: (X @ W - Y).T @ X / len(X), X, Y3)
    assert transposed.mistakes == ("transposed",)
    assert transposed.returned_shape == (3, 4)
    assert "(3, 4)" in transposed.diagnosis
    both = check_gradient(lambda X, Y, W: (Y - X @ W).T @ X / len(X), X, Y3)
    assert both.mistakes == ("transposed", "sign")
    mean_all = check_gradient(lambda X, Y, W: X.T @ (X @ W - Y) / Y.size, X, Y3)
    assert mean_all.mistakes == ("output_mean",)
    mse_all = check_gradient(lambda X, Y, W: 2 * X.T @ (X @ W - Y) / Y.size, X, Y3)
    assert mse_all.mistakes == ("mse_factor", "output_mean")


def test_square_w_transposed_is_found_from_values() -> None:
    Y4 = X @ RNG.normal(size=(4, 4))
    result = check_gradient(lambda X, Y, W: (X @ W - Y).T @ X / len(X), X, Y4)
    assert result.mistakes == ("transposed",)


def test_column_for_a_vector_is_a_shape_mistake() -> None:
    result = check_gradient(lambda X, y, w: true(X, y, w)[:, None], X, Y1)
    assert result.mistakes == ("wrong_shape",)
    assert result.returned_shape == (4, 1)
    assert "otherwise the values are G" in result.diagnosis


def test_per_sample_names_what_was_returned() -> None:
    error = check_gradient(lambda X, y, w: y - X @ w, X, Y1)
    assert "the seed's `error` y − x·w" in error.diagnosis
    dscore = check_gradient(lambda X, y, w: (X @ w - y) / len(X), X, Y1)
    assert "∂f/∂score" in dscore.diagnosis
    assert "multiply by Xᵀ" in dscore.fix


def test_loss_instead_of_gradient() -> None:
    result = check_gradient(PLANTED["loss"][0], X, Y1)
    assert "returns the loss" in result.diagnosis


def test_penalty() -> None:
    assert check_gradient(lambda X, y, w: true(X, y, w) + 0.3 * w, X, Y1, alpha=0.3).ok
    missing = check_gradient(true, X, Y1, alpha=0.3)
    assert missing.mistakes == ("missing_penalty",)


def test_worst_entries_at_a_given_point() -> None:
    W = np.array([0.5, -1.0, 2.0, 0.0])

    def wrong(X, y, w):
        g = true(X, y, w)
        g[2] += 5.0
        g[0] -= 1.0
        return g

    result = check_gradient(wrong, X, Y1, W=W, n_points=0)
    assert result.n_points == 1
    assert result.mistakes == ("different_loss",)
    G = X.T @ (X @ W - Y1) / len(X)
    (i0, got0, exp0), (i1, got1, exp1) = result.worst_entries[:2]
    assert (i0, i1) == ((2,), (0,))
    assert exp0 == pytest.approx(G[2]) and got0 == pytest.approx(G[2] + 5.0)
    assert exp1 == pytest.approx(G[0]) and got1 == pytest.approx(G[0] - 1.0)
    assert "Largest differences" in result.to_text()


def test_float32_arithmetic_passes() -> None:
    def f32(X, y, w):
        X32, y32, w32 = (a.astype(np.float32) for a in (X, y, w))
        return X32.T @ (X32 @ w32 - y32) / np.float32(len(X))

    assert check_gradient(f32, X, Y1).ok


def test_in_place_mutation_is_noted_and_inputs_are_protected() -> None:
    W = np.zeros(4)

    def mutating(X, y, w):
        w += 1.0
        return true(X, y, w - 1.0)

    result = check_gradient(mutating, X, Y1, W=W)
    assert result.ok
    assert any("modified its arguments" in n for n in result.notes)
    assert np.all(W == 0.0)


def test_bad_arguments() -> None:
    with pytest.raises(GradfitInputError, match="must be"):
        check_gradient(true, X, Y1, W=np.zeros((4, 1)))
    with pytest.raises(GradfitInputError, match="at least one point"):
        check_gradient(true, X, Y1, n_points=0)


def test_renderings() -> None:
    result = check_gradient(PLANTED["no_mean"][0], X, Y1)
    assert "Verdict: not the gradient G." in result.to_text()
    assert "| mistakes | missing_mean |" in result.to_markdown()
    assert result.to_html().startswith("<!DOCTYPE html>")
