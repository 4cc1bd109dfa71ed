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

The singular designs of issue 11 (constant, collinear, one-hot plus intercept, N < D)
are compared with lstsq's minimum-norm answer in the user's units.
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

import gradfit._exceptions
from gradfit import GDRegressor

TOL = 1e-6  # GDRegressor's default tol
SEEDS = [0, 42]
CSR = [sp.csr_matrix, sp.csr_array]


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
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, NDArray[np.float64]]:
    """``(S, x̄, κ, Z)`` of the problem the loop solves: scales, means, ``L/μ``, null space.

    ``μ`` is the smallest eigenvalue on the range (the iterates from zero stay
    in it), found by an eigendecomposition independent of gradfit; the columns
    of ``Z`` are an orthonormal basis of the Hessian's null space in the user's units
    (empty if regular), where lstsq's minimum norm lives. A constant column is exactly
    zero once centred (its mean is its value).
    """
    Xd = dense(X)
    N, D = Xd.shape
    w = np.ones(N) if sample_weight is None else np.broadcast_to(sample_weight, (N,))
    omega = w / w.sum()
    xbar = omega @ Xd if fit_intercept else np.zeros(D)
    Xc = Xd - xbar
    if fit_intercept:
        constant = np.ptp(Xd, axis=0) == 0
        xbar[constant] = Xd[0, constant]
        Xc[:, constant] = 0.0
    H = Xc.T @ (omega[:, None] * Xc)
    S = np.sqrt(np.maximum(np.diag(H), 0.0))
    tiny = np.finfo(np.float64).tiny
    S[np.less_equal(S, tiny)] = 1.0  # as gradfit: an all-zero column has nothing to scale
    A = (H + alpha * np.eye(D)) / np.outer(S, S)
    ev, Q = np.linalg.eigh(A)
    L = ev.max()
    on_range = ev > L * D * 1e-12
    # the null space in the user's units (W = V/S), where the minimum norm is defined
    Z = Q[:, ~on_range] / S[:, None]
    Z = np.linalg.qr(Z)[0] if Z.shape[1] else Z
    return S, xbar, float(L / ev[on_range].min()), Z


def certifying_tol(*problems: tuple[Any, Any, bool, float]) -> float:
    """The default tol where it certifies 1e-3 relative accuracy, else ``1e-5/κ``.

    ``problems`` are ``(X, sample_weight, fit_intercept, alpha)``; κ is the
    largest of theirs. Used (and said so) where scikit-learn's test needs more
    digits than ``tol=1e-6`` certifies on an ill-conditioned problem.
    """
    kappa = max(scaled_problem(*p)[2] for p in problems)
    return TOL if kappa < 1e2 else 1e-5 / kappa


def reference_ratio(X: Any, y: Any, sample_weight: Any, fit_intercept: bool) -> float:
    """``‖G(0)‖ / reference`` of gradfit's stopping rule (1 with an intercept).

    Without an intercept gradfit measures ``tol`` against the centred targets' gradient at
    zero (docs/architecture.md, decision 29), which is this factor smaller than ``‖G(0)‖``:
    a ``tol`` picked for ``‖G(0)‖`` is this factor larger against it. Computed here from
    the definitions (standardised columns), independently of gradfit.
    """
    if fit_intercept:
        return 1.0
    Xd = dense(X)
    N = Xd.shape[0]
    w = np.ones(N) if sample_weight is None else np.broadcast_to(sample_weight, (N,))
    omega = w / w.sum()
    rms = np.sqrt(omega @ (Xd * Xd))
    Xs = Xd / np.where(rms > 0, rms, 1.0)
    g0 = Xs.T @ (omega * y)
    gc = Xs.T @ (omega * (y - omega @ y))
    plain = float(np.linalg.norm(g0))
    return plain / max(float(np.linalg.norm(gc)), np.sqrt(np.finfo(float).eps) * plain)


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
    S, xbar, kappa, Z = scaled_problem(X, sample_weight, fit_intercept, alpha)
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
    # the gradient certifies the range only; along the null space both answers must have
    # nothing (minimum norm), up to rounding
    rounding = 1e-10
    shift = np.linalg.norm(xbar / S)  # b = ȳ − x̄W = ȳ − (x̄/S)·(S·W)
    for k in range(want.shape[0]):
        size = np.linalg.norm(S * want[k])
        diff = got[k] - want[k]
        along = Z.T @ diff  # the null space in the user's units: nothing, up to rounding
        null = np.linalg.norm(along)
        err = np.linalg.norm(S * (diff - Z @ along))  # the range, in scaled units
        assert null <= rounding * (np.linalg.norm(want[k]) + 1), (
            f"output {k}: {null:.3g} along the null space (not the minimum-norm answer)\n"
            f"got  {got[k]}\nwant {want[k]}"
        )
        assert err <= bound * size + rounding * (size + 1), (
            f"output {k}: scaled error {err:.3g} > {bound:.3g} × {size:.3g} (κ = {kappa:.3g})\n"
            f"got  {got[k]}\nwant {want[k]}"
        )
        b_tol = shift * (bound * size + rounding * (size + 1))
        b_tol += np.linalg.norm(xbar) * null + rounding * (abs(b_want[k]) + 1)
        assert abs(b_got[k] - b_want[k]) <= b_tol, (
            f"output {k}: intercept {b_got[k]!r} != {b_want[k]!r} (tolerance {b_tol:.3g})"
        )


#: Issue 11 announces a singular design in ``fit`` with a warning of its own (once it exists).
COLLINEARITY_WARNING = getattr(gradfit._exceptions, "CollinearityWarning", None)


def fit(X: Any, y: Any, sample_weight: Any = None, **params: Any) -> GDRegressor:
    """Fit ``GDRegressor(**params)``; it must say it converged and warn about nothing else.

    (A warning that the design is singular is expected where it is: it is not checked here.)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if COLLINEARITY_WARNING is not None:
            warnings.simplefilter("ignore", COLLINEARITY_WARNING)
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
    # the same gradient accuracy against gradfit's reference without an intercept (the largest
    # factor of the fits below: each is certified by its own relative gradient in assert_matches)
    variants = [(X, y, None), (X, y, np.random.RandomState(0).uniform(0.01, 2, n_samples))]
    tol *= max(reference_ratio(Xv, yv, wv, fit_intercept) for Xv, yv, wv in variants)
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


@pytest.mark.parametrize(
    "X_shape", [(10, 5), (10, 20), pytest.param((100, 100), marks=pytest.mark.slow)]
)
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
        pytest.param((10, 20), False),
        pytest.param((10, 20), True),
        ((100, 100), False),
        pytest.param((100, 100), True),
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


# -- test_ridge.py: Ridge ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["long", "wide"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_regression(fit_intercept: bool, kind: str, seed: int) -> None:
    # Port of test_ridge.py::test_ridge_regression (scikit-learn's version always fits an
    # intercept; here fit_intercept is the parameter it was meant to be). Ridge with α = 1
    # on the constructed data, with and without sample_weight=ones; also R².
    X, y, _, coef = ols_ridge_dataset(seed, kind)
    res_null = y - np.mean(y)
    R2_Ridge = 1 - np.sum((y - X @ coef) ** 2) / np.sum(res_null**2)
    X = X[:, :-1]
    if fit_intercept:
        intercept = coef[-1]
    else:
        X = X - X.mean(axis=0)
        y = y - y.mean()
        intercept = 0.0
    coef = coef[:-1]
    alpha = gd_alpha(1.0, len(y))
    for weights in (None, np.ones(len(y))):
        model = fit(X, y, weights, alpha=alpha, fit_intercept=fit_intercept)
        assert_matches(
            model,
            coef,
            intercept,
            X,
            sample_weight=weights,
            fit_intercept=fit_intercept,
            alpha=alpha,
        )
        assert model.score(X, y) == pytest.approx(R2_Ridge)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["long", "wide"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_regression_hstacked_X(fit_intercept: bool, kind: str, seed: int) -> None:
    # Port of test_ridge.py::test_ridge_regression_hstacked_X: [X, X]/2 with α/2 is X with
    # α, coefficients repeated. For long X, [X, X] is singular (the penalty makes it regular).
    X, y, _, coef = ols_ridge_dataset(seed, kind)
    n_samples, n_features = X.shape
    X = X[:, :-1]
    X = 0.5 * np.concatenate((X, X), axis=1)
    assert np.linalg.matrix_rank(X) <= min(n_samples, n_features - 1)
    if fit_intercept:
        intercept = coef[-1]
    else:
        X = X - X.mean(axis=0)
        y = y - y.mean()
        intercept = 0.0
    alpha = gd_alpha(0.5, n_samples)
    model = fit(X, y, alpha=alpha, fit_intercept=fit_intercept)
    coef = coef[:-1]
    assert_matches(model, np.r_[coef, coef], intercept, X, fit_intercept=fit_intercept, alpha=alpha)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["long", "wide"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_regression_vstacked_X(fit_intercept: bool, kind: str, seed: int) -> None:
    # Port of test_ridge.py::test_ridge_regression_vstacked_X: [X; X], [y; y] with 2α is X
    # with α. (In gradfit's units both are α_sk/N with N the rows fitted: the same α.)
    X, y, _, coef = ols_ridge_dataset(seed, kind)
    n_samples = X.shape[0]
    X = X[:, :-1]
    X = np.concatenate((X, X), axis=0)
    y = np.r_[y, y]
    if fit_intercept:
        intercept = coef[-1]
    else:
        X = X - X.mean(axis=0)
        y = y - y.mean()
        intercept = 0.0
    alpha = gd_alpha(2.0, 2 * n_samples)
    assert alpha == pytest.approx(gd_alpha(1.0, n_samples))
    model = fit(X, y, alpha=alpha, fit_intercept=fit_intercept)
    assert_matches(model, coef[:-1], intercept, X, fit_intercept=fit_intercept, alpha=alpha)


def _unpenalized_case(
    seed: int, kind: str, fit_intercept: bool, stack: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """X, y and the expected (minimum-norm) OLS answer of the unpenalised ports."""
    X, y, coef, _ = ols_ridge_dataset(seed, kind)
    if fit_intercept:
        X = X[:, :-1]
        intercept, coef = coef[-1], coef[:-1]
    else:
        intercept = 0.0
    if stack == "h":
        X = 0.5 * np.concatenate((X, X), axis=1)
        coef = np.r_[coef, coef]
    elif stack == "v":
        X = np.concatenate((X, X), axis=0)
        y = np.r_[y, y]
    if kind == "wide" and fit_intercept:
        # ols_ridge_dataset's coefficients minimise ‖(w, b)‖ with the ones column inside
        # the norm; LinearRegression (and the contract) minimise ‖w‖ of the centred
        # problem, b = ȳ − x̄w. That is the reference here.
        reference = LinearRegression().fit(X, y)
        coef, intercept = reference.coef_, float(reference.intercept_)
        np.testing.assert_allclose(X @ coef + intercept, y, atol=1e-10)
    return X, y, coef, intercept


def _unpenalized_params() -> list[Any]:
    params = []
    for stack in ("", "h", "v"):
        for kind in ("long", "wide"):
            for fit_intercept in (True, False):
                # singular when wide (also [X, X] of long X): lstsq's minimum norm either way
                params.append(pytest.param(stack, kind, fit_intercept))
    return params


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stack, kind, fit_intercept", _unpenalized_params())
def test_ridge_regression_unpenalized(
    stack: str, kind: str, fit_intercept: bool, seed: int
) -> None:
    # Port of test_ridge.py::test_ridge_regression_unpenalized (stack ""),
    # ::test_ridge_regression_unpenalized_hstacked_X ("h": [X, X]/2) and
    # ::test_ridge_regression_unpenalized_vstacked_X ("v": [X; X]). α = 0 is OLS; where the
    # problem is singular the answer must be the minimum-norm one (scikit-learn's Ridge
    # does not give it with an intercept and marks those xfail; LinearRegression does).
    X, y, coef, intercept = _unpenalized_case(seed, kind, fit_intercept, stack)
    model = fit(X, y, fit_intercept=fit_intercept)
    np.testing.assert_allclose(model.predict(X), X @ coef + intercept, rtol=1e-5, atol=1e-5)
    assert_matches(model, coef, intercept, X, fit_intercept=fit_intercept)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["long", "wide"])
@pytest.mark.parametrize("container", [None, *CSR])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha_sk", [1.0, 1e-2])
def test_ridge_regression_sample_weights(
    alpha_sk: float, fit_intercept: bool, container: Any, kind: str, seed: int
) -> None:
    # Port of test_ridge.py::test_ridge_regression_sample_weights: on [X; X] with weights
    # [sw; 1 − sw]·α_sk, ‖y − Xw‖² + ‖w‖² is ‖[y; y] − [X; X]w‖²_W + α_sk‖w‖²; here
    # Σw = α_sk·N, so gradfit's α is α_sk/Σw = 1/N whatever α_sk.
    X, y, _, coef = ols_ridge_dataset(seed, kind)
    n_samples = X.shape[0]
    sw = np.random.RandomState(seed).uniform(low=0, high=1, size=n_samples)
    X = X[:, :-1]
    X = np.concatenate((X, X), axis=0)
    y = np.r_[y, y]
    sw = np.r_[sw, 1 - sw] * alpha_sk
    if fit_intercept:
        intercept = coef[-1]
    else:
        X = X - X.mean(axis=0)
        y = y - y.mean()
        intercept = 0.0
    alpha = gd_alpha(alpha_sk, 2 * n_samples, sw)
    assert alpha == pytest.approx(1.0 / n_samples)
    model = fit(
        X if container is None else container(X), y, sw, alpha=alpha, fit_intercept=fit_intercept
    )
    assert_matches(
        model, coef[:-1], intercept, X, sample_weight=sw, fit_intercept=fit_intercept, alpha=alpha
    )


def test_ridge_shapes_type() -> None:
    # Port of test_ridge.py::test_ridge_shapes_type, shapes of coef_ and intercept_. coef_
    # follows LinearRegression: for y of shape (N, 1) it is (1, D) (Ridge gives (D,)).
    rng = np.random.RandomState(0)
    n_samples, n_features = 5, 10
    X = rng.randn(n_samples, n_features)
    y = rng.randn(n_samples)
    Y1 = y[:, np.newaxis]
    Y = np.c_[y, 1 + y]
    for target in (y, Y1, Y):
        model = GDRegressor(alpha=gd_alpha(1.0, n_samples)).fit(X, target)
        reference = LinearRegression().fit(X, target)
        assert isinstance(model.coef_, np.ndarray)
        assert model.coef_.shape == reference.coef_.shape
        assert np.shape(model.intercept_) == np.shape(reference.intercept_)
        assert model.predict(X).shape == reference.predict(X).shape
        if target.ndim == 2:
            assert isinstance(model.intercept_, np.ndarray)
    assert GDRegressor().fit(X, Y1).coef_.shape == (1, n_features)
    assert GDRegressor().fit(X, Y).intercept_.shape == (2,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_intercept_is_numpy_scalar(dtype: Any) -> None:
    # test_ridge.py::test_ridge_shapes_type checks isinstance(intercept_, float) for a 1-D y;
    # LinearRegression gives a NumPy scalar of X's dtype (np.float64 passes both). Issue 11
    # asks for the NumPy scalar of the fitted dtype.
    rng = np.random.RandomState(0)
    X = rng.randn(20, 3).astype(dtype)
    y = rng.randn(20).astype(dtype)
    reference = LinearRegression().fit(X, y)
    model = GDRegressor().fit(X, y)
    assert isinstance(reference.intercept_, np.generic)
    assert isinstance(model.intercept_, np.generic)
    assert isinstance(model.intercept_, float) == isinstance(reference.intercept_, float)
    assert model.intercept_.dtype == reference.intercept_.dtype == dtype
    assert np.shape(model.intercept_) == ()


def test_ridge_intercept() -> None:
    # Port of test_ridge.py::test_ridge_intercept (scikit-learn GH #708): with targets y and
    # 1 + y, the intercepts differ by exactly 1.
    rng = np.random.RandomState(0)
    n_samples, n_features = 5, 10
    X = rng.randn(n_samples, n_features)
    y = rng.randn(n_samples)
    Y = np.c_[y, 1.0 + y]
    alpha = gd_alpha(1.0, n_samples)
    intercept = fit(X, y, alpha=alpha).intercept_
    both = fit(X, Y, alpha=alpha)
    np.testing.assert_almost_equal(both.intercept_[0], intercept)
    np.testing.assert_almost_equal(both.intercept_[1], intercept + 1.0)
    reference = Ridge(alpha=1.0).fit(X, Y)
    assert_matches(both, reference.coef_, reference.intercept_, X, alpha=alpha)


def test_ridge_vs_lstsq() -> None:
    # Port of test_ridge.py::test_ridge_vs_lstsq: α = 0 without intercept is OLS.
    rng = np.random.RandomState(0)
    y = rng.randn(5)
    X = rng.randn(5, 4)
    model = fit(X, y, alpha=0.0, fit_intercept=False)
    ols = LinearRegression(fit_intercept=False).fit(X, y)
    np.testing.assert_almost_equal(model.coef_, ols.coef_)
    assert_matches(model, ols.coef_, 0.0, X, fit_intercept=False)


def test_ridge_multi_output_equals_single() -> None:
    # Port of test_ridge.py::test_ridge_individual_penalties, for one α shared by the targets
    # (gradfit has no per-target α): the 5-target fit equals 5 single-target Ridge fits.
    rng = np.random.RandomState(42)
    n_samples, n_features, n_targets = 20, 10, 5
    X = rng.randn(n_samples, n_features)
    y = rng.randn(n_samples, n_targets)
    alpha = gd_alpha(2.0, n_samples)
    model = fit(X, y, alpha=alpha)
    singles = np.array([Ridge(alpha=2.0).fit(X, target).coef_ for target in y.T])
    np.testing.assert_array_almost_equal(model.coef_, singles)
    reference = Ridge(alpha=2.0).fit(X, y)
    assert_matches(model, reference.coef_, reference.intercept_, X, alpha=alpha)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("container", [None, *CSR])
@pytest.mark.parametrize(
    "n_samples, dtype, proportion_nonzero",
    [(20, "float32", 0.1), (40, "float32", 1.0), (20, "float64", 0.2)],
)
def test_solver_consistency(
    n_samples: int, dtype: str, proportion_nonzero: float, container: Any, seed: int
) -> None:
    # Port of test_ridge.py::test_solver_consistency: agree with Ridge(solver="svd") fitted
    # in float64 to scikit-learn's atol = rtol = 1e-3, also from float32 and CSR input.
    noise = 50.0 if proportion_nonzero > 0.9 else 500.0
    X, y = make_sparse_offset_regression(
        bias=10,
        n_features=30,
        proportion_nonzero=proportion_nonzero,
        noise=noise,
        random_state=seed,
        n_samples=n_samples,
    )
    X = minmax_scale(X)
    svd_ridge = Ridge(solver="svd", alpha=1.0).fit(X, y)
    X = X.astype(dtype, copy=False)
    y = y.astype(dtype, copy=False)
    model = fit(X if container is None else container(X), y, alpha=gd_alpha(1.0, n_samples))
    assert model.coef_.dtype == np.dtype(dtype)
    np.testing.assert_allclose(model.coef_, svd_ridge.coef_, atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(model.intercept_, svd_ridge.intercept_, atol=1e-3, rtol=1e-3)


def _limit_params() -> list[Any]:
    params = []
    for alpha_sk in (1e-16, 1e16):
        for fit_intercept in (True, False):
            for shape in ((100, 50), (50, 100)):
                for container in (None, sp.csr_matrix):
                    params.append(pytest.param(alpha_sk, fit_intercept, shape, container))
    return params


@pytest.mark.parametrize("alpha_sk, fit_intercept, X_shape, container", _limit_params())
def test_regularization_limits_ridge(
    alpha_sk: float, fit_intercept: bool, X_shape: tuple[int, int], container: Any
) -> None:
    # Port of test_ridge.py::test_regularization_limits_ridge: α → 0 recovers
    # LinearRegression (the minimum-norm solution when wide), α → ∞ gives coef 0 and
    # intercept ȳ. scikit-learn asks atol=1e-10 with tol=1e-12; here the certified bound.
    n_samples, n_features = X_shape
    X, y = make_regression(
        n_samples=n_samples, n_features=n_features, noise=0, bias=10, random_state=42
    )
    alpha = gd_alpha(alpha_sk, n_samples)
    if alpha_sk < 1:
        reference = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
        coef, intercept = reference.coef_, reference.intercept_
    else:
        coef, intercept = np.zeros(n_features), (np.mean(y) if fit_intercept else 0.0)
    model = fit(
        X if container is None else container(X), y, alpha=alpha, fit_intercept=fit_intercept
    )
    if alpha_sk > 1:
        # the certified bound is relative, and coef = 0 here: check the answer directly
        # (‖W‖ ≤ ‖Xᵀy‖/(Nα) for the penalised problem)
        np.testing.assert_allclose(model.coef_, coef, atol=1e-10)
        np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-10, atol=1e-10)
    else:
        assert_matches(model, coef, intercept, X, fit_intercept=fit_intercept, alpha=alpha)


@pytest.mark.parametrize("n_samples, n_features", [(2, 3), (3, 2)])
@pytest.mark.parametrize(
    "container", [sp.coo_matrix, sp.csc_matrix, sp.csr_matrix, sp.dok_matrix, sp.lil_matrix]
)
def test_sparse_design_with_sample_weights(n_samples: int, n_features: int, container: Any) -> None:
    # Port of test_ridge.py::test_sparse_design_with_sample_weights.
    rng = np.random.RandomState(42)
    X = rng.randn(n_samples, n_features)
    y = rng.randn(n_samples)
    sample_weights = rng.randn(n_samples) ** 2 + 1
    alpha = gd_alpha(1.0, n_samples, sample_weights)
    sparse_model = fit(container(X), y, sample_weights, alpha=alpha, fit_intercept=False)
    dense_model = fit(X, y, sample_weights, alpha=alpha, fit_intercept=False)
    np.testing.assert_array_almost_equal(sparse_model.coef_, dense_model.coef_, decimal=6)
    reference = Ridge(alpha=1.0, fit_intercept=False).fit(X, y, sample_weight=sample_weights)
    for model in (sparse_model, dense_model):
        assert_matches(
            model,
            reference.coef_,
            0.0,
            X,
            sample_weight=sample_weights,
            fit_intercept=False,
            alpha=alpha,
        )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_sample_weight", [True, False])
@pytest.mark.parametrize("container", CSR)
def test_ridge_fit_intercept_sparse(with_sample_weight: bool, container: Any, seed: int) -> None:
    # Port of test_ridge.py::test_ridge_fit_intercept_sparse: dense and CSR agree, with and
    # without sample weights, and both equal Ridge's answer (X has a large offset, 30).
    X, y = make_sparse_offset_regression(n_features=20, random_state=seed)
    sample_weight = None
    if with_sample_weight:
        sample_weight = 1.0 + np.random.RandomState(seed).uniform(size=X.shape[0])
    alpha = gd_alpha(1.0, X.shape[0], sample_weight)
    dense_model = fit(X, y, sample_weight, alpha=alpha)
    sparse_model = fit(container(X), y, sample_weight, alpha=alpha)
    reference = Ridge(alpha=1.0, tol=1e-12).fit(X, y, sample_weight=sample_weight)
    for model in (dense_model, sparse_model):
        assert_matches(
            model,
            reference.coef_,
            reference.intercept_,
            X,
            sample_weight=sample_weight,
            alpha=alpha,
        )


def test_dtype_match() -> None:
    # Port of test_ridge.py::test_dtype_match: float32 in, float32 out, close to float64.
    rng = np.random.RandomState(0)
    n_samples, n_features = 6, 5
    X_64 = rng.randn(n_samples, n_features)
    y_64 = rng.randn(n_samples)
    X_32 = X_64.astype(np.float32)
    y_32 = y_64.astype(np.float32)
    alpha = gd_alpha(1.0, n_samples)
    model_32 = fit(X_32, y_32, alpha=alpha)
    model_64 = fit(X_64, y_64, alpha=alpha)
    assert model_32.coef_.dtype == X_32.dtype
    assert model_64.coef_.dtype == X_64.dtype
    assert model_32.predict(X_32).dtype == X_32.dtype
    assert model_64.predict(X_64).dtype == X_64.dtype
    np.testing.assert_allclose(model_32.coef_, model_64.coef_, rtol=1e-4, atol=5e-4)
    reference = Ridge(alpha=1.0).fit(X_64, y_64)
    assert_matches(model_64, reference.coef_, reference.intercept_, X_64, alpha=alpha)


def test_dtype_match_multi_output() -> None:
    # Port of test_ridge.py::test_dtype_match_cholesky, with one α for both targets.
    rng = np.random.RandomState(0)
    n_samples, n_features, n_target = 6, 7, 2
    X_64 = rng.randn(n_samples, n_features)
    y_64 = rng.randn(n_samples, n_target)
    X_32 = X_64.astype(np.float32)
    y_32 = y_64.astype(np.float32)
    alpha = gd_alpha(1.0, n_samples)
    model_32 = fit(X_32, y_32, alpha=alpha)
    model_64 = fit(X_64, y_64, alpha=alpha)
    assert model_32.coef_.dtype == X_32.dtype
    assert model_64.coef_.dtype == X_64.dtype
    assert model_32.intercept_.dtype == X_32.dtype
    assert model_32.predict(X_32).dtype == X_32.dtype
    assert model_64.predict(X_64).dtype == X_64.dtype
    np.testing.assert_almost_equal(model_32.coef_, model_64.coef_, decimal=5)


def test_ridge_regression_dtype_stability() -> None:
    # Port of test_ridge.py::test_ridge_regression_dtype_stability (ridge_regression has no
    # intercept): float32 and float64 fits agree to atol 1e-5, each in its own dtype.
    random_state = np.random.RandomState(0)
    n_samples, n_features = 6, 5
    X = random_state.randn(n_samples, n_features)
    coef = random_state.randn(n_features)
    y = np.dot(X, coef) + 0.01 * random_state.randn(n_samples)
    alpha = gd_alpha(1.0, n_samples)
    results = {
        dtype: fit(X.astype(dtype), y.astype(dtype), alpha=alpha, fit_intercept=False).coef_
        for dtype in (np.float32, np.float64)
    }
    assert results[np.float32].dtype == np.float32
    assert results[np.float64].dtype == np.float64
    np.testing.assert_allclose(results[np.float32], results[np.float64], atol=1e-5)


@pytest.mark.parametrize("container", [None, *CSR])
def test_ridge_diabetes_dense_sparse(container: Any) -> None:
    # Port of test_ridge.py::test_dense_sparse with _test_ridge_diabetes and
    # _test_multi_ridge_diabetes (and _test_tolerance): Ridge(α = 1, no intercept) on the
    # diabetes data, 1 and 2 outputs, dense and sparse; a tighter tol never scores worse.
    X, y = diabetes()
    Xin = X if container is None else container(X)
    alpha = gd_alpha(1.0, len(y))
    model = fit(Xin, y, alpha=alpha, fit_intercept=False)
    reference = Ridge(fit_intercept=False).fit(X, y)
    assert np.round(model.score(Xin, y), 5) == np.round(reference.score(X, y), 5)
    assert_matches(model, reference.coef_, 0.0, X, fit_intercept=False, alpha=alpha)
    Y = np.vstack((y, y)).T
    both = fit(Xin, Y, alpha=alpha, fit_intercept=False)
    assert both.coef_.shape == (2, X.shape[1])
    np.testing.assert_array_almost_equal(
        np.vstack((model.predict(Xin), model.predict(Xin))).T, both.predict(Xin), decimal=3
    )

    # _test_tolerance compares R², which the penalised optimum need not maximise (it did
    # not here); the quantity a tighter tol must not worsen is the objective itself
    def objective(m: GDRegressor) -> float:
        return float(np.mean((Xin @ m.coef_ - y) ** 2) / 2 + alpha / 2 * np.sum(m.coef_**2))

    loose = GDRegressor(alpha=alpha, fit_intercept=False, tol=1e-3).fit(Xin, y)
    tight = GDRegressor(alpha=alpha, fit_intercept=False, tol=1e-5).fit(Xin, y)
    assert objective(tight) <= objective(loose)


@pytest.mark.parametrize("container", [None, sp.csr_matrix])
@pytest.mark.parametrize("data", ["tall", "wide"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_ridge_sample_weight_consistency(fit_intercept: bool, data: str, container: Any) -> None:
    # Port of test_ridge.py::test_ridge_sample_weight_consistency (α_sk = 1): ones = None;
    # zero weights = removed rows; weights·π with α_sk·π = the same fit (in gradfit's units
    # the same α); weights·2 = repeated rows. Each fit also equals Ridge's.
    rng = np.random.RandomState(42)
    n_samples = 12
    n_features = n_samples // 2 if data == "tall" else n_samples * 2
    X = rng.rand(n_samples, n_features)
    y = rng.rand(n_samples)
    Xin = X if container is None else container(X)

    def ridge_fit(Xa: Any, ya: Any, sw: Any, alpha_sk: float = 1.0) -> GDRegressor:
        alpha = gd_alpha(alpha_sk, Xa.shape[0], sw)
        model = fit(Xa, ya, sw, alpha=alpha, fit_intercept=fit_intercept)
        reference = Ridge(alpha=alpha_sk, fit_intercept=fit_intercept).fit(
            dense(Xa), ya, sample_weight=sw
        )
        assert_matches(
            model,
            reference.coef_,
            reference.intercept_,
            Xa,
            sample_weight=sw,
            fit_intercept=fit_intercept,
            alpha=alpha,
        )
        return model

    def same(a: GDRegressor, b: GDRegressor, Xa: Any, sw: Any, alpha_sk: float = 1.0) -> None:
        assert_matches(
            a,
            b.coef_,
            b.intercept_,
            Xa,
            sample_weight=sw,
            fit_intercept=fit_intercept,
            alpha=gd_alpha(alpha_sk, Xa.shape[0], sw),
            reference=b,
        )

    # 1) sample_weight=np.ones(..) should be equivalent to sample_weight=None
    base = ridge_fit(Xin, y, None)
    same(ridge_fit(Xin, y, np.ones_like(y)), base, X, None)
    # 2) setting elements of sample_weight to 0 is equivalent to removing these samples
    sample_weight = rng.uniform(low=0.01, high=2, size=n_samples)
    sample_weight[-5:] = 0
    y = y.copy()
    y[-5:] *= 1000
    zeroed = ridge_fit(Xin, y, sample_weight)
    removed = ridge_fit(Xin[:-5], y[:-5], sample_weight[:-5])
    same(removed, zeroed, X[:-5], sample_weight[:-5])
    # 3) scaling of sample_weight (with α_sk scaled alike) should have no effect
    same(ridge_fit(Xin, y, np.pi * sample_weight, np.pi), zeroed, X, sample_weight)
    # 4) multiplying sample_weight by 2 is equivalent to repeating those samples twice
    X2 = np.concatenate([X, X[: n_samples // 2]], axis=0)
    y2 = np.concatenate([y, y[: n_samples // 2]])
    sample_weight_1 = sample_weight.copy()
    sample_weight_1[: n_samples // 2] *= 2
    sample_weight_2 = np.concatenate([sample_weight, sample_weight[: n_samples // 2]])
    X2in = X2 if container is None else container(X2)
    reg1 = ridge_fit(Xin, y, sample_weight_1)
    reg2 = ridge_fit(X2in, y2, sample_weight_2)
    same(reg1, reg2, X, sample_weight_1)


# -- rank deficiency: LinearRegression's minimum-norm answer -------------------------------------
def _rank_case(name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.RandomState(0)
    n = 60
    base = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.2]
    y = base @ [1.0, -2.0, 3.0] + 0.5 + 0.1 * rng.normal(size=n)
    X = {
        "constant": lambda: np.c_[base, np.full(n, 5.0)],
        "constant-1e12": lambda: np.c_[base, np.full(n, 1e12)],
        "collinear": lambda: np.c_[base, 3 * base[:, 1]],
        "one-hot": lambda: np.c_[base, np.eye(4)[rng.randint(0, 4, n)]],
        "wide": lambda: rng.normal(size=(n, 80)) * np.geomspace(0.1, 10, 80),
    }[name]()
    return X, y


def _rank_params() -> list[Any]:
    params = []
    for name in ("constant", "constant-1e12", "collinear", "one-hot", "wide"):
        for method in ("cg", "exact"):
            for variant in ("dense", "csr", "weights-ones"):
                params.append(pytest.param(name, method, variant))
    return params


@pytest.mark.parametrize("name, method, variant", _rank_params())
def test_linear_regression_rank_deficient(name: str, method: str, variant: str) -> None:
    # Not in scikit-learn's tests as such (its test_linear_regression_sparse and the
    # unpenalised Ridge ports above touch it): the singular designs issue 11 names: a
    # constant column (5.0, and 1e12), a column 3× another, one-hot columns next to the
    # intercept, and N < D with columns of different scales. LinearRegression's answer is
    # lstsq's minimum-norm solution of the centred problem, in the user's units (a constant
    # column gets 0); the default method and "exact" must give it.
    X, y = _rank_case(name)
    reference = LinearRegression().fit(X, y)
    weights = np.ones(len(y)) if variant == "weights-ones" else None
    Xin = sp.csr_matrix(X) if variant == "csr" else X
    model = GDRegressor(method=method).fit(Xin, y, sample_weight=weights)
    assert model.converged_, model.stop_reason_
    assert_matches(model, reference.coef_, reference.intercept_, X, sample_weight=weights)
