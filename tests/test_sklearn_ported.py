"""scikit-learn's tests of ``LinearRegression`` and ``Ridge`` that concern results, ported.

Each test names the scikit-learn test it ports (scikit-learn 1.9,
``sklearn/linear_model/tests/test_base.py`` and ``tests/test_ridge.py``; BSD-3-Clause).
Tests of solver names, of sklearn-internal helpers (``_preprocess_data``,
``_rescale_data``, ``make_dataset``, GCV internals), of ``positive=True`` and
of per-target ``alpha`` arrays (neither exists in gradfit) are not ported.

Every fit here uses ``GDRegressor``'s default settings (``method="cg"``,
``tol=1e-6``, ``standardize=True``) unless a test says otherwise, and is
compared with scikit-learn's own estimator on the same data.

The penalty
-----------
gradfit minimises ``‖XW + b − Y‖²_Ω/(2·Σω) + (α/2)‖W‖²`` (``Ω`` the sample
weights, ones by default); scikit-learn's ``Ridge`` minimises
``‖XW + b − Y‖²_Ω + α_sk‖W‖²``. Multiplying gradfit's objective by ``2·Σω``
gives scikit-learn's, so ``α_sk = α · Σω`` (``α · N`` without weights).
:func:`test_alpha_conversion` checks this numerically.

Tolerances
----------
The fit stops when ``‖G(V)‖ ≤ tol·‖G(0)‖`` in the loop's coordinates
``V = S·W`` (``S`` the columns' root mean squares). For a quadratic with Hessian
``A`` (eigenvalues in ``[μ, L]`` on the space the iterates live in),
``G(V) = A(V − V*)`` and ``G(0) = −A·V*``, so
``‖V − V*‖ ≤ ‖G(V)‖/μ ≤ tol·κ·‖V*‖``: the certified relative error, in the
scaled norm, is ``κ·tol``. :func:`assert_matches` computes ``κ`` of the scaled
problem independently (an eigendecomposition in float64) and checks exactly
that bound (times 10 for the slightly different scale estimates, plus 1e-10
for the reference's own rounding), and refuses a bound that would make the
comparison vacuous (> 1e-2). The intercept ``b = ȳ − x̄W`` then errs by at most
``‖x̄/S‖`` times the coefficient error. On these small problems the default
``cg`` lands far inside the bound (measured: 1e-15 to 1e-7 relative).

Known bugs of issue 11 are marked ``xfail(strict=True)``: they start to pass
(and the strict mark flags them) once fixed.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import linalg
from sklearn.datasets import (
    load_diabetes,
    make_low_rank_matrix,
    make_regression,
    make_sparse_uncorrelated,
)
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.preprocessing import add_dummy_feature, minmax_scale

from gradfit import GDRegressor

TOL = 1e-6  # GDRegressor's default tol
SEEDS = [0, 1, 42]
CSR = [sp.csr_matrix, sp.csr_array]

ISSUE_MIN_NORM = pytest.mark.xfail(
    strict=True,
    reason="issue 11 (4): singular problems return the minimum-norm solution in "
    "standardised units, not lstsq's in the user's units",
)
ISSUE_INTERCEPT_TYPE = pytest.mark.xfail(
    strict=True,
    reason="issue 11: intercept_ for a 1-D target is a Python float, not a NumPy scalar "
    "of the fitted dtype",
)


# -- helpers -------------------------------------------------------------------------------------
def dense(X: Any) -> NDArray[np.float64]:
    """X as a dense float64 array."""
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


def gd_alpha(alpha_sk: float, n_samples: int, sample_weight: Any = None) -> float:
    """gradfit's ``alpha`` for scikit-learn's Ridge ``alpha_sk`` (module docstring)."""
    if sample_weight is None:
        return alpha_sk / n_samples
    total = float(np.sum(np.broadcast_to(sample_weight, (n_samples,))))
    return alpha_sk / total


def scaled_problem(
    X: Any, sample_weight: Any, fit_intercept: bool, alpha: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """``(S, x̄, κ)`` of the problem the loop solves: scales, means, and ``L/μ``.

    ``μ`` is the smallest eigenvalue on the range (the iterates from zero stay
    in it), found by an eigendecomposition independent of gradfit.
    """
    Xd = dense(X)
    N, D = Xd.shape
    w = np.ones(N) if sample_weight is None else np.broadcast_to(sample_weight, (N,))
    omega = w / w.sum()
    xbar = omega @ Xd if fit_intercept else np.zeros(D)
    Xc = Xd - xbar
    H = Xc.T @ (omega[:, None] * Xc)
    S = np.sqrt(np.maximum(np.diag(H), 0.0))
    S[S <= np.finfo(np.float64).tiny] = 1.0
    A = (H + alpha * np.eye(D)) / np.outer(S, S)
    ev = np.linalg.eigvalsh(A)
    L = ev.max()
    mu = ev[ev > L * D * 1e-12].min()
    return S, xbar, float(L / mu)


def certifying_tol(*problems: tuple[Any, Any, bool, float]) -> float:
    """The default tol where it certifies 1e-3 relative accuracy, else ``1e-5/κ``.

    ``problems`` are ``(X, sample_weight, fit_intercept, alpha)``; κ is the
    largest of theirs. Used (and said so) where scikit-learn's test needs more
    digits than ``tol=1e-6`` certifies on an ill-conditioned problem.
    """
    kappa = max(scaled_problem(*p)[2] for p in problems)
    return TOL if kappa < 1e2 else 1e-5 / kappa


def assert_matches(
    model: Any,
    coef: Any,
    intercept: Any,
    X: Any,
    *,
    sample_weight: Any = None,
    fit_intercept: bool = True,
    alpha: float = 0.0,
    tol: float = TOL,
    reference: Any = None,
) -> None:
    """``model``'s coefficients and intercept equal ``coef``, ``intercept`` to the certified bound.

    The bound is ``10·κ·r`` with ``r ≤ tol`` the relative gradient norm the fit
    reached; when the reference is itself a gradfit fit (``reference``), its own
    ``r`` is added.
    """
    S, xbar, kappa = scaled_problem(X, sample_weight, fit_intercept, alpha)
    reached = np.max(np.asarray(model.relative_grad_norm_, dtype=np.float64))
    assert reached <= tol
    if reference is not None:
        reached += np.max(np.asarray(reference.relative_grad_norm_, dtype=np.float64))
    bound = 10 * kappa * reached
    assert bound < 1e-2, f"κ = {kappa:.3g}: the certified bound would make this test vacuous"
    got = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    want = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    assert got.shape == want.shape
    b_got = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    b_want = np.broadcast_to(np.atleast_1d(np.asarray(intercept, dtype=np.float64)), b_got.shape)
    for k in range(want.shape[0]):
        size = np.linalg.norm(S * want[k])
        err = np.linalg.norm(S * (got[k] - want[k]))
        assert err <= bound * size + 1e-10 * (size + 1), (
            f"output {k}: scaled error {err:.3g} > {bound:.3g} × {size:.3g} (κ = {kappa:.3g})\n"
            f"got  {got[k]}\nwant {want[k]}"
        )
        b_tol = np.linalg.norm(xbar / S) * (bound * size + 1e-10 * (size + 1))
        assert abs(b_got[k] - b_want[k]) <= b_tol + 1e-10 * (abs(b_want[k]) + 1), (
            f"output {k}: intercept {b_got[k]!r} != {b_want[k]!r} (tolerance {b_tol:.3g})"
        )


def fit(X: Any, y: Any, sample_weight: Any = None, **params: Any) -> GDRegressor:
    """Fit ``GDRegressor(**params)``; it must say it converged and warn about nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDRegressor(**params).fit(X, y, sample_weight=sample_weight)
    assert model.converged_, model.stop_reason_
    return model


# -- the datasets of test_ridge.py ---------------------------------------------------------------
def ols_ridge_dataset(
    seed: int, kind: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Port of test_ridge.py's fixture ``ols_ridge_dataset``.

    X (last column all ones, the intercept), y, the minimum-norm OLS
    coefficients and the Ridge coefficients for ``‖Xw − y‖² + ‖w‖²`` (the
    intercept, last, unpenalised).
    """
    n_samples, n_features = (12, 4) if kind == "long" else (4, 12)
    k = min(n_samples, n_features)
    rng = np.random.RandomState(seed)
    X = make_low_rank_matrix(
        n_samples=n_samples, n_features=n_features, effective_rank=k, random_state=rng
    )
    X[:, -1] = 1
    U, s, Vt = linalg.svd(X)
    assert np.all(s > 1e-3)
    U1, U2 = U[:, :k], U[:, k:]
    Vt1 = Vt[:k, :]
    if kind == "long":
        coef_ols = rng.uniform(low=-10, high=10, size=n_features)
        y = X @ coef_ols
        y += U2 @ rng.normal(size=n_samples - n_features) ** 2
    else:
        y = rng.uniform(low=-10, high=10, size=n_samples)
        coef_ols = Vt1.T @ np.diag(1 / s) @ U1.T @ y
    d = np.identity(n_features)
    d[-1, -1] = 0
    coef_ridge = linalg.solve(X.T @ X + d, X.T @ y)
    return X, y, coef_ols, coef_ridge


def make_sparse_offset_regression(
    n_samples: int = 100,
    n_features: int = 100,
    proportion_nonzero: float = 0.5,
    n_informative: int = 10,
    bias: float = 13.0,
    X_offset: float = 30.0,
    noise: float = 30.0,
    random_state: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Port of test_ridge.py's ``_make_sparse_offset_regression`` (one target)."""
    X, y, c = make_regression(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        bias=bias,
        noise=noise,
        coef=True,
        random_state=random_state,
    )
    X += X_offset
    mask = np.random.RandomState(random_state).binomial(1, proportion_nonzero, X.shape) > 0
    removed_X = X.copy()
    X[~mask] = 0.0
    removed_X[mask] = 0.0
    y -= removed_X.dot(c)
    return X, y


def diabetes() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The 200 shuffled rows of the diabetes data that test_ridge.py uses."""
    X, y = load_diabetes(return_X_y=True)
    ind = np.arange(X.shape[0])
    np.random.RandomState(0).shuffle(ind)
    return X[ind[:200]], y[ind[:200]]


# -- the conversion of alpha ---------------------------------------------------------------------
@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_alpha_conversion(with_sw: bool, fit_intercept: bool) -> None:
    # Not a port: checks the module docstring's α_sk = α·Σω that every Ridge port relies on.
    rng = np.random.RandomState(3)
    X = rng.normal(size=(30, 5)) * [1, 2, 3, 4, 5]
    y = X @ rng.normal(size=5) + rng.normal(size=30)
    sw = rng.uniform(0.5, 3.0, size=30) if with_sw else None
    alpha = 0.7
    model = fit(X, y, sw, alpha=alpha, fit_intercept=fit_intercept)
    total = 30 if sw is None else sw.sum()
    assert gd_alpha(alpha * total, 30, sw) == pytest.approx(alpha)
    ridge = Ridge(alpha=alpha * total, fit_intercept=fit_intercept)
    ridge.fit(X, y, sample_weight=sw)
    assert_matches(
        model,
        ridge.coef_,
        ridge.intercept_,
        X,
        sample_weight=sw,
        fit_intercept=fit_intercept,
        alpha=alpha,
    )
    # another conversion (α alone, or α·N with weights) gives a visibly different answer
    wrong = Ridge(alpha=alpha * (1 if sw is None else 30), fit_intercept=fit_intercept)
    wrong.fit(X, y, sample_weight=sw)
    assert not np.allclose(model.coef_, wrong.coef_, rtol=1e-3)


# -- test_base.py: LinearRegression --------------------------------------------------------------
def test_linear_regression() -> None:
    # Port of test_base.py::test_linear_regression.
    X = [[1], [2]]
    Y = [1, 2]
    reg = fit(X, Y)
    np.testing.assert_array_almost_equal(reg.coef_, [1])
    np.testing.assert_array_almost_equal(reg.intercept_, [0])
    np.testing.assert_array_almost_equal(reg.predict(X), [1, 2])


def test_linear_regression_degenerate() -> None:
    # Port of test_base.py::test_linear_regression, its degenerate input: one row, so the
    # centred feature is all zero and carries nothing; LinearRegression gives 0 and ȳ.
    X = [[1]]
    Y = [0]
    reg = GDRegressor().fit(X, Y)
    np.testing.assert_array_almost_equal(reg.coef_, [0])
    np.testing.assert_array_almost_equal(reg.intercept_, [0])
    np.testing.assert_array_almost_equal(reg.predict(X), [0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_regression_vs_lstsq(dtype: Any) -> None:
    # Port of test_base.py::test_linear_regression_vs_lstsq (sklearn issue #33032), with
    # 50_000 rows instead of 500_000. Two strongly correlated columns; the residual norm
    # must equal lstsq's. With tol=1e-6 the excess loss is at most ‖G‖²/(2μ) ≤ tol²κ·f(0),
    # far below 1e-6 of the residual here.
    rng = np.random.RandomState(1137)
    n_samples = 50_000
    x1 = rng.rand(n_samples)
    x2 = 0.3 * x1 + 0.1 * rng.rand(n_samples)
    X = np.column_stack([x1, x2])
    y = X @ [0.5, 2.0] + 0.1 * rng.rand(n_samples)
    X = X.astype(dtype)
    y = y.astype(dtype)
    coef_scipy = linalg.lstsq(X, y)[0]
    coef_gd = fit(X, y, fit_intercept=False).coef_
    assert coef_gd.dtype == dtype
    rmse_scipy = np.linalg.norm(y - X @ coef_scipy)
    rmse_gd = np.linalg.norm(y - X @ coef_gd)
    assert rmse_gd == pytest.approx(rmse_scipy, rel=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("container", [None, *CSR])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_sample_weights(container: Any, fit_intercept: bool, seed: int) -> None:
    # Port of test_base.py::test_linear_regression_sample_weights: the closed form of
    # weighted least squares, (XᵀWX)⁻¹XᵀWy.
    rng = np.random.RandomState(seed)
    n_samples, n_features = 6, 5
    X = rng.normal(size=(n_samples, n_features))
    Xin = X if container is None else container(X)
    y = rng.normal(size=n_samples)
    sample_weight = 1.0 + rng.uniform(size=n_samples)
    reg = fit(Xin, y, sample_weight, fit_intercept=fit_intercept)
    assert reg.coef_.shape == (X.shape[1],)
    W = np.diag(sample_weight)
    X_aug = X if not fit_intercept else add_dummy_feature(X)
    coefs2 = linalg.solve(X_aug.T @ W @ X_aug, X_aug.T @ W @ y)
    coef, intercept = (coefs2[1:], coefs2[0]) if fit_intercept else (coefs2, 0.0)
    assert_matches(
        reg, coef, intercept, X, sample_weight=sample_weight, fit_intercept=fit_intercept
    )


@pytest.mark.parametrize("n_samples, n_features", [(2, 3), (3, 2)])
def test_scalar_sample_weights(n_samples: int, n_features: int) -> None:
    # Port of test_base.py::test_raises_value_error_if_sample_weights_greater_than_1d (its
    # "OK" weights): a scalar weight is every row's weight, the same fit as no weights.
    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, n_features)
    y = rng.randn(n_samples)
    reference = GDRegressor().fit(X, y, rng.randn(n_samples) ** 2 + 1)
    assert np.all(np.isfinite(reference.coef_))
    plain = GDRegressor().fit(X, y)
    for weight in (1.0, 2.0):
        reg = GDRegressor().fit(X, y, weight)
        np.testing.assert_allclose(reg.coef_, plain.coef_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(reg.intercept_, plain.intercept_, rtol=1e-12, atol=1e-12)


def test_fit_intercept_shapes() -> None:
    # Port of test_base.py::test_fit_intercept: coef_ has the same shape with and without
    # an intercept, and the same as LinearRegression's.
    X2 = np.array([[0.38349978, 0.61650022], [0.58853682, 0.41146318]])
    X3 = np.array([[0.27677969, 0.70693172, 0.01628859], [0.08385139, 0.20692515, 0.70922346]])
    y = np.array([1, 1])
    for X in (X2, X3):
        without = GDRegressor(fit_intercept=False).fit(X, y)
        with_ = GDRegressor().fit(X, y)
        assert with_.coef_.shape == without.coef_.shape
        assert with_.coef_.shape == LinearRegression().fit(X, y).coef_.shape
    assert GDRegressor(fit_intercept=False).fit(X2, y).coef_.ndim == (
        GDRegressor(fit_intercept=False).fit(X3, y).coef_.ndim
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_regression_sparse(seed: int) -> None:
    # Port of test_base.py::test_linear_regression_sparse: X = I (100×100, sparse); with an
    # intercept the centred problem is singular (rank 99) and coef_ + intercept_ = β.
    rng = np.random.RandomState(seed)
    n = 100
    X = sp.eye(n, n, format="csr")
    beta = rng.rand(n)
    y = X @ beta
    ols = fit(X, y)
    np.testing.assert_array_almost_equal(beta, ols.coef_ + ols.intercept_)
    np.testing.assert_array_almost_equal(ols.predict(X) - y, 0)
    reference = LinearRegression().fit(X, y)
    assert_matches(ols, reference.coef_, reference.intercept_, X)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("container", CSR)
def test_linear_regression_sparse_equal_dense(fit_intercept: bool, container: Any) -> None:
    # Port of test_base.py::test_linear_regression_sparse_equal_dense.
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    X[X < 0.1] = 0.0
    y = rng.rand(200)
    clf_dense = fit(X, y, fit_intercept=fit_intercept)
    clf_sparse = fit(container(X), y, fit_intercept=fit_intercept)
    reference = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    for clf in (clf_dense, clf_sparse):
        assert_matches(clf, reference.coef_, reference.intercept_, X, fit_intercept=fit_intercept)


@pytest.mark.parametrize("container", [None, sp.coo_matrix, sp.coo_array])
def test_linear_regression_multiple_outcome(container: Any) -> None:
    # Port of test_base.py::test_linear_regression_multiple_outcome (dense, make_regression:
    # 100×100, singular once centred) and ::test_linear_regression_sparse_multiple_outcome
    # (COO, make_sparse_uncorrelated): a 2-output fit predicts like the 1-output fit.
    rng = np.random.RandomState(0)
    if container is None:
        X, y = make_regression(random_state=rng)
    else:
        X, y = make_sparse_uncorrelated(random_state=rng)
        X = container(X)
    Y = np.vstack((y, y)).T
    reg = fit(X, Y)
    assert reg.coef_.shape == (2, X.shape[1])
    assert reg.intercept_.shape == (2,)
    Y_pred = reg.predict(X)
    y_pred = fit(X, y).predict(X)
    np.testing.assert_array_almost_equal(np.vstack((y_pred, y_pred)).T, Y_pred, decimal=3)


def test_linear_regression_multiple_outcome_vs_sklearn() -> None:
    # Port of test_base.py::test_linear_regression_sparse_multiple_outcome, compared with
    # LinearRegression's coefficients (a regular problem: 100 rows, 4 features).
    X, y = make_sparse_uncorrelated(random_state=np.random.RandomState(0))
    Y = np.c_[y, 2 * y - 1]
    reg = fit(sp.coo_matrix(X), Y)
    reference = LinearRegression().fit(X, Y)
    assert_matches(reg, reference.coef_, reference.intercept_, X)


def _sample_weight_consistency(
    X: Any, y: NDArray[np.float64], fit_intercept: bool, rng: np.random.RandomState, **params: Any
) -> None:
    """Body of test_base.py::test_linear_regression_sample_weight_consistency.

    Two gradfit fits are compared with :func:`assert_matches` (both errors
    certified): scikit-learn's ``rtol=1e-6`` assumes an exact solver.
    """
    n_samples = X.shape[0]
    alpha = params.get("alpha", 0.0)
    tol = certifying_tol((X, None, fit_intercept, alpha), (X[:-5], None, fit_intercept, alpha))
    params = {"fit_intercept": fit_intercept, "tol": tol, **params}

    def same(a: GDRegressor, b: GDRegressor, Xa: Any, weights: Any) -> None:
        assert_matches(
            a,
            b.coef_,
            b.intercept_,
            Xa,
            sample_weight=weights,
            fit_intercept=fit_intercept,
            alpha=alpha,
            tol=tol,
            reference=b,
        )

    base = fit(X, y, None, **params)
    # 1) sample_weight=np.ones(..) must be equivalent to sample_weight=None
    same(fit(X, y, np.ones_like(y), **params), base, X, None)
    # 2) sample_weight=None should be equivalent to sample_weight = number
    same(fit(X, y, 123.0, **params), base, X, None)
    # 3) scaling of sample_weight should have no effect, cf. np.average()
    sample_weight = rng.uniform(low=0.01, high=2, size=n_samples)
    weighted = fit(X, y, sample_weight, **params)
    same(fit(X, y, np.pi * sample_weight, **params), weighted, X, sample_weight)
    # 4) setting elements of sample_weight to 0 is equivalent to removing these samples
    sample_weight_0 = sample_weight.copy()
    sample_weight_0[-5:] = 0
    y = y.copy()
    y[-5:] *= 1000
    zeroed = fit(X, y, sample_weight_0, **params)
    removed = fit(X[:-5], y[:-5], sample_weight[:-5], **params)
    same(removed, zeroed, X[:-5], sample_weight[:-5])
    # 5) multiplying sample_weight by 2 is equivalent to repeating those samples twice
    if sp.issparse(X):
        X2 = sp.vstack([X, X[: n_samples // 2]], format="csr")
    else:
        X2 = np.concatenate([X, X[: n_samples // 2]], axis=0)
    y2 = np.concatenate([y, y[: n_samples // 2]])
    sample_weight_1 = sample_weight.copy()
    sample_weight_1[: n_samples // 2] *= 2
    sample_weight_2 = np.concatenate([sample_weight, sample_weight[: n_samples // 2]])
    reg1 = fit(X, y, sample_weight_1, **params)
    reg2 = fit(X2, y2, sample_weight_2, **params)
    same(reg1, reg2, X, sample_weight_1)


@pytest.mark.parametrize("X_shape", [(10, 5), (10, 20), (100, 100)])
@pytest.mark.parametrize("container", [None, sp.csr_matrix])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_linear_regression_sample_weight_consistency(
    X_shape: tuple[int, int], container: Any, fit_intercept: bool
) -> None:
    # Port of test_base.py::test_linear_regression_sample_weight_consistency (scikit-learn
    # marks the CSR case xfail; gradfit must pass it).
    rng = np.random.RandomState(42)
    X = rng.rand(*X_shape)
    y = rng.rand(X_shape[0])
    _sample_weight_consistency(X if container is None else container(X), y, fit_intercept, rng)


@pytest.mark.parametrize(
    "X_shape, fit_intercept",
    [
        ((10, 5), False),
        ((10, 5), True),
        pytest.param((10, 20), False, marks=ISSUE_MIN_NORM),
        pytest.param((10, 20), True, marks=ISSUE_MIN_NORM),
        ((100, 100), False),
        pytest.param((100, 100), True, marks=ISSUE_MIN_NORM),
    ],
)
@pytest.mark.parametrize("container", [None, sp.csr_matrix])
def test_linear_regression_vs_sklearn(
    X_shape: tuple[int, int], container: Any, fit_intercept: bool
) -> None:
    # The data of test_base.py::test_linear_regression_sample_weight_consistency, with
    # LinearRegression's own answer as the reference (lstsq's minimum-norm solution of the
    # centred problem when it is singular: (10, 20) and (100, 100) with an intercept).
    rng = np.random.RandomState(42)
    X = rng.rand(*X_shape)
    y = rng.rand(X_shape[0])
    sw = rng.uniform(low=0.01, high=2, size=X_shape[0])
    for weights in (None, sw):
        # tol=1e-6 where it certifies 1e-3; square (100, 100) without intercept has κ ~ 1e6
        tol = certifying_tol((X, weights, fit_intercept, 0.0))
        Xin = X if container is None else container(X)
        reg = fit(Xin, y, weights, fit_intercept=fit_intercept, tol=tol)
        reference = LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=weights)
        assert_matches(
            reg,
            reference.coef_,
            reference.intercept_,
            X,
            sample_weight=weights,
            fit_intercept=fit_intercept,
            tol=tol,
        )
