"""Sparse input: the same fits as dense input, without ever densifying X."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from gradfit import GDRegressor, GradfitInputError
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.sources.sparse import SparseProblem, sparse_statistics

METHODS = ["gd", "momentum", "nesterov", "cg", "exact", "sgd"]


def sparse_problem(n: int = 240, d: int = 7, k: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, d)) < 0.35
    X = np.where(mask, rng.normal(size=(n, d)) + 1.5, 0.0)
    Y = X @ rng.normal(size=(d, k)) + 2.0 + 0.1 * rng.normal(size=(n, k))
    return X, Y


def fit_both(X, Y, make_sparse, sw=None, **kw):
    settings = {"tol": 1e-12, "max_iter": 20000, "random_state": 0, **kw}
    if settings.get("method") == "sgd":
        settings.update(tol=1e-6, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = GDRegressor(**settings).fit(X, Y, sw)
        sparse = GDRegressor(**settings).fit(make_sparse(X), Y, sw)
    return dense, sparse


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_sparse_equals_dense(method, fit_intercept, standardize, weighted, k):
    X, Y = sparse_problem(k=k, seed=k)
    y = Y[:, 0] if k == 1 else Y
    sw = np.random.default_rng(5).uniform(0.2, 3.0, size=len(X)) if weighted else None
    dense, sparse = fit_both(
        X,
        y,
        sp.csr_matrix,
        sw,
        method=method,
        fit_intercept=fit_intercept,
        standardize=standardize,
    )
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-8, atol=1e-10)
    assert np.shape(sparse.coef_) == np.shape(dense.coef_)
    assert sparse.engine_ == dense.engine_


@pytest.mark.parametrize(
    "make", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.coo_matrix, sp.lil_array]
)
@pytest.mark.parametrize("gradient", ["data", "stats"])
def test_formats_and_engines(make, gradient):
    X, Y = sparse_problem(k=2)
    dense, sparse = fit_both(X, Y, make, gradient=gradient, alpha=0.01)
    assert sparse.engine_ == gradient
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8)
    np.testing.assert_allclose(sparse.predict(make(X)), dense.predict(X), rtol=1e-8)


def test_problem_matches_dense_problem_and_statistics():
    X, Y = sparse_problem(k=2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X))
    rng = np.random.default_rng(1)
    V, P = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    for sw in (None, w):
        s = SparseProblem(sp.csr_matrix(X), Y, sample_weight=sw, alpha=0.1)
        d = LeastSquaresProblem(X, Y, sample_weight=sw, alpha=0.1)
        for attr in ("x_offset", "y_offset", "x_rms", "x_scale", "loss_at_zero", "target_scale"):
            np.testing.assert_allclose(getattr(s, attr), getattr(d, attr), rtol=1e-12)
        for a, b in zip(s.loss_grad(V), d.loss_grad(V), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(s.hvp(P), d.hvp(P), rtol=1e-12)
        np.testing.assert_allclose(s.max_row_norm2(), d.max_row_norm2(), rtol=1e-12)
        rows = np.arange(0, 240, 7)
        np.testing.assert_allclose(s.batch_grad(V, rows), d.batch_grad(V, rows), rtol=1e-12)
        from gradfit.problem.gram import sufficient_statistics

        a, b = (
            sparse_statistics(sp.csr_matrix(X), Y, sample_weight=sw),
            sufficient_statistics(X, Y, sample_weight=sw),
        )
        for key in ("H", "B", "yy", "yy_raw", "x_offset", "y_offset"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-13)


def test_variance_without_cancellation():
    # a column with a huge mean and a tiny spread: E[x²] − x̄² would lose every digit
    rng = np.random.default_rng(0)
    X = np.zeros((400, 2))
    X[:, 0] = 1e8 + rng.normal(size=400)
    X[::3, 1] = rng.normal(size=len(X[::3]))
    s = SparseProblem(sp.csr_array(X), np.zeros((400, 1)))
    np.testing.assert_allclose(s.x_rms[0], X[:, 0].std(), rtol=1e-9)
    y = X @ [2.0, -1.0] + 0.01 * rng.normal(size=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(max_iter=5).fit(sp.csr_array(X), y)
    assert model.engine_ == "data"
    assert "cancel" in model.engine_reason_


def test_float32_kept():
    X, Y = sparse_problem()
    Xs = sp.csr_matrix(X.astype(np.float32))
    problem = SparseProblem(Xs, Y)
    assert problem.X.dtype == np.float32 and problem.Y.dtype == np.float32
    assert problem.X.data is Xs.data or np.shares_memory(problem.X.data, Xs.data)
    model = GDRegressor(gradient="data", tol=1e-5).fit(Xs, Y[:, 0])
    assert model.coef_.dtype == np.float32
    dense = GDRegressor(gradient="data", tol=1e-5).fit(X.astype(np.float32), Y[:, 0])
    np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-4)


@pytest.mark.parametrize("method", ["cg", "exact", "sgd"])
def test_never_densified(method, monkeypatch):
    rng = np.random.default_rng(0)
    n, d = 30_000, 400  # dense float64 would be 96 MB
    X = sp.random(n, d, density=0.002, format="csr", random_state=0, dtype=np.float64)
    y = X @ rng.normal(size=d) + 1.0

    def refuse(self, *args, **kwargs):
        if self.shape[0] == n:
            raise AssertionError("X was densified")
        return original(self, *args, **kwargs)

    original = sp.csr_array.toarray
    for cls in (sp.csr_array, sp.csr_matrix, sp.csc_array, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse, raising=False)
        monkeypatch.setattr(cls, "todense", refuse, raising=False)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GDRegressor(method=method, max_iter=3 if method == "sgd" else 50).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12e6, f"peak {peak / 1e6:.1f} MB"


def test_bad_sparse_input_messages():
    X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, np.inf], [2.0, 1.0]]))
    with pytest.raises(GradfitInputError, match=r"inf at row 1, column 1"):
        GDRegressor().fit(X, [1.0, 2.0, 3.0])
    good = sp.csr_matrix(np.eye(3))
    with pytest.raises(GradfitInputError, match="inconsistent numbers of samples"):
        GDRegressor().fit(good, [1.0, 2.0])
    with pytest.raises(GradfitInputError, match="Complex data not supported"):
        GDRegressor().fit(sp.csr_matrix(np.eye(3) * 1j), [1.0, 2.0, 3.0])
    with pytest.raises(GradfitInputError, match="0 sample"):
        GDRegressor().fit(sp.csr_matrix((0, 3)), [])
    with pytest.raises(GradfitInputError, match="sample_weight has 2 entries"):
        GDRegressor().fit(good, [1.0, 2.0, 3.0], sample_weight=[1.0, 1.0])
    with pytest.raises(TypeError, match="unexpected keyword"):
        GDRegressor().fit(good, [1.0, 2.0, 3.0], array_output=True)
    model = GDRegressor().fit(good, [1.0, 2.0, 3.0])
    with pytest.raises(GradfitInputError, match="fitted with 3 features"):
        model.predict(sp.csr_matrix(np.eye(4)))


def test_integers_and_duplicates():
    rows, cols = np.array([0, 0, 1, 2, 2]), np.array([1, 1, 0, 0, 1])
    X = sp.coo_matrix((np.array([1, 2, 3, 4, 5]), (rows, cols)), shape=(3, 2))
    y = np.array([1.0, 2.0, 4.0])
    dense = GDRegressor(tol=1e-12).fit(X.toarray().astype(float), y)
    sparse = GDRegressor(tol=1e-12).fit(X, y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9)
    assert X.has_canonical_format is False or X.nnz == 5  # the caller's matrix is untouched
