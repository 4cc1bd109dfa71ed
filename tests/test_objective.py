"""The loss and gradient are exact: central finite differences and the closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit.problem.curvature import lanczos_extremes
from gradfit.problem.objective import LeastSquaresProblem


def _problem(seed: int, k: int, **options: object) -> tuple[LeastSquaresProblem, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, d = 40, 5
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    Y = rng.normal(size=(n, k))
    weights = rng.uniform(0.1, 2.0, size=n) if options.pop("weighted", False) else None
    problem = LeastSquaresProblem(X, Y, sample_weight=weights, block_rows=7, **options)
    return problem, rng.normal(size=(d, k))


OPTIONS = [
    {"fit_intercept": False, "standardize": False},
    {"fit_intercept": True, "standardize": False},
    {"fit_intercept": True, "standardize": True},
    {"fit_intercept": False, "standardize": True, "alpha": 0.3},
    {"fit_intercept": True, "standardize": True, "alpha": 0.7, "weighted": True},
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("k", [1, 3])
def test_gradient_matches_central_differences(options: dict, k: int) -> None:
    problem, V = _problem(1, k, **dict(options))
    _, G = problem.loss_grad(V)
    h = 1e-6
    numeric = np.zeros_like(V)
    for index in np.ndindex(*V.shape):
        step = np.zeros_like(V)
        step[index] = h
        plus = problem.loss_grad(V + step)[0].sum()
        minus = problem.loss_grad(V - step)[0].sum()
        numeric[index] = (plus - minus) / (2 * h)
    error = np.linalg.norm(G - numeric) / np.linalg.norm(numeric)
    assert error <= 1e-7


@pytest.mark.parametrize("options", OPTIONS)
def test_loss_and_gradient_match_the_closed_form_in_user_units(options: dict) -> None:
    options = dict(options)
    weighted = bool(options.get("weighted", False))
    problem, V = _problem(2, 2, **options)
    loss, G_V = problem.loss_grad(V)
    W, b = problem.to_user(V)
    X, Y = problem.X, problem.Y + problem._y_stored  # stored about ȳ (_centre_targets)
    n = len(X)
    omega = problem.omega if weighted else np.full(n, 1.0 / n)
    R = X @ W + b - Y
    alpha = float(options.get("alpha", 0.0))
    expected_loss = 0.5 * (omega[:, None] * R**2).sum(axis=0) + 0.5 * alpha * (W**2).sum(axis=0)
    expected_G_W = X.T @ (omega[:, None] * R) + alpha * W
    if options.get("fit_intercept"):
        # with the intercept at its optimum the residuals sum to zero (weighted)
        assert np.allclose(omega @ R, 0.0, atol=1e-12)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(G_V * problem.x_scale[:, None], expected_G_W, rtol=1e-10, atol=1e-12)


def test_seed_gradient_is_minus_G() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = rng.normal(size=30)
    w = rng.normal(size=4)
    seed_gradient = X.T.dot(y - X.dot(w)) / len(X)  # the seed's line
    problem = LeastSquaresProblem(X, y[:, None], fit_intercept=False, standardize=False)
    _, G = problem.loss_grad(w[:, None])
    np.testing.assert_allclose(-G[:, 0], seed_gradient, rtol=1e-13)


def test_hvp_is_the_hessian() -> None:
    problem, _ = _problem(4, 1, fit_intercept=True, standardize=True, alpha=0.2)
    P = np.random.default_rng(0).normal(size=(problem.D, 2))
    Xc = problem.X - problem.x_offset
    S = problem.x_scale
    A = (Xc / S).T @ (Xc / S) / problem.N + problem.alpha * np.diag(1 / S**2)
    np.testing.assert_allclose(problem.hvp(P), A @ P, rtol=1e-12)


def test_blocks_do_not_change_the_result() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(101, 6))
    Y = rng.normal(size=(101, 2))
    V = rng.normal(size=(6, 2))
    one = LeastSquaresProblem(X, Y, block_rows=1000).loss_grad(V)
    many = LeastSquaresProblem(X, Y, block_rows=3).loss_grad(V)
    np.testing.assert_allclose(one[0], many[0], rtol=1e-13)
    np.testing.assert_allclose(one[1], many[1], rtol=1e-12, atol=1e-15)


def test_float32_is_computed_in_float32_without_copying_x() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    problem = LeastSquaresProblem(X, rng.normal(size=(50, 1)))
    assert problem.X is X
    loss, G = problem.loss_grad(np.ones((3, 1)))
    assert np.all(np.isfinite(loss)) and G.dtype == np.float64


@pytest.mark.parametrize("d", [3, 12, 80])
def test_lanczos_finds_the_extreme_eigenvalues(d: int) -> None:
    rng = np.random.default_rng(d)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    eig = np.logspace(0, 3, d)
    A = (Q * eig) @ Q.T
    est = lanczos_extremes(lambda v: A @ v, d)
    assert eig.max() * (1 - 1e-9) <= est.L
    assert eig.max() * (1 + 1e-5) >= est.L
    assert est.mu >= eig.min() * (1 - 1e-9)
    if est.exact:
        np.testing.assert_allclose(est.mu, eig.min(), rtol=1e-8)
    assert est.n_matvec <= 40


def test_lanczos_is_deterministic_and_detects_singular_operators() -> None:
    rng = np.random.default_rng(0)
    B = rng.normal(size=(6, 3))
    A = B @ B.T  # rank 3
    first = lanczos_extremes(lambda v: A @ v, 6)
    second = lanczos_extremes(lambda v: A @ v, 6)
    assert first == second
    assert first.mu == 0.0 and first.kappa == np.inf
    np.testing.assert_allclose(first.L, np.linalg.eigvalsh(A).max(), rtol=1e-12)


@pytest.mark.parametrize("y_dtype", [np.float32, np.float64])
def test_targets_are_stored_centred_only_where_their_mean_needs_it(y_dtype: type) -> None:
    """A mean within the targets' spread: stored as given (no N×K copy); a large mean: stored
    about it in X's dtype (decision 31), in place when the stored array is a private cast —
    the caller's targets are never written."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    near = (rng.normal(size=(3000, 2)) + 0.5).astype(y_dtype)
    far = (rng.normal(size=(3000, 2)) + 1e6).astype(y_dtype)
    for Y, centred in ((near, False), (far, True)):
        before = Y.copy()
        problem = LeastSquaresProblem(X, Y)
        np.testing.assert_array_equal(Y, before)  # the caller's targets are untouched
        assert bool(np.any(problem._y_stored)) == centred
        stored = problem.Y + problem._y_stored if centred else problem.Y
        np.testing.assert_allclose(stored, Y.astype(np.float32), rtol=1e-6)
        if not centred and y_dtype == np.float32:
            assert problem.Y is Y  # no copy at all
        # and the passes agree with the float64 definition either way
        W = rng.normal(size=(5, 2))
        Xc = X.astype(np.float64) - problem.x_offset
        r = Xc @ W - (Y.astype(np.float64) - problem.y_offset)
        G, _ = problem._pass(W, with_targets=True)
        np.testing.assert_allclose(G, Xc.T @ r / 3000, rtol=2e-4, atol=2e-4 * np.abs(G).max())


@pytest.mark.parametrize("y_dtype", [np.float32, np.float64])
def test_a_sparse_fit_never_writes_the_callers_targets(y_dtype: type) -> None:
    """A float32 CSR fit of float32 targets with a large mean wrote ``Y − ȳ`` into the caller's
    array (its own float64 copy of them passed the overlap test), and a refit then found an
    intercept of 0 instead of 5e4, converged."""
    import scipy.sparse as sp

    from gradfit import GDRegressor

    rng = np.random.default_rng(0)
    dense = rng.normal(size=(2000, 5)).astype(np.float32)
    dense[rng.random((2000, 5)) < 0.5] = 0.0
    X = sp.csr_matrix(dense)
    Y = np.empty((2000, 2), dtype=y_dtype)  # owns its memory (base is None)
    Y[:, 0] = 5e4 + dense.astype(np.float64) @ np.arange(1.0, 6.0) + rng.normal(size=2000)
    Y[:, 1] = 0.5 * Y[:, 0]
    before = Y.copy()
    first = GDRegressor(gradient="data").fit(X, Y)
    np.testing.assert_array_equal(Y, before)
    again = GDRegressor(gradient="data").fit(X, Y)
    np.testing.assert_allclose(again.intercept_, first.intercept_, rtol=1e-6)
    assert abs(float(first.intercept_[0]) - 5e4) < 10
