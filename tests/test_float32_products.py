"""Statistics from float32 products, refined and certified on the rows (decision 34).

Wide float32 X may form ``H`` with the compiled pass's float32 products (twice the
multiply-adds per cycle); ``H`` is then off by about ``√R·eps32``, so the fit's answer is
refined on the rows in float64 and certified by their gradient, never by that ``H``. The
kernel is forced on (``GRADFIT_GRAM_KERNEL=1``, no minimum size or width) so these tests
run on any CPU llvmlite compiles for.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit import estimator as estimator_module
from gradfit._exceptions import GradfitInputError
from gradfit.problem import gram as gram_module
from gradfit.problem import plan as plan_module
from gradfit.problem import qr as qr_module
from gradfit.problem.gram import gram_kernel, mixed_products_serve, sufficient_statistics
from gradfit.problem.qr import RowsProblem

MIXED = "float32 products"


@pytest.fixture
def mixed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "1")
    monkeypatch.setattr(gram_module, "KERNEL_MIN_WORK", 0)
    monkeypatch.setattr(gram_module, "MIXED_MIN_COLUMNS", 0)
    monkeypatch.setattr(estimator_module, "MIXED_MIN_COLUMNS_EXACT", 0)
    if gram_kernel() is None:  # pragma: no cover - llvmlite could not compile here
        pytest.skip("the Gram kernel does not compile on this machine")


def _data(N: int, D: int, K: int = 1, *, seed: int = 0, mean: float = 3.0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(N, D)) * rng.uniform(0.3, 4.0, D) + mean * rng.normal(size=D)).astype(
        np.float32
    )
    W = rng.normal(size=(D, K))
    Y = (X.astype(np.float64) @ W + 2.0 + 0.1 * rng.normal(size=(N, K))).astype(np.float32)
    return X, Y


def _lstsq(X, Y, w=None, intercept=True):  # type: ignore[no-untyped-def]
    X64, Y64 = X.astype(np.float64), np.asarray(Y, dtype=np.float64)
    if Y64.ndim == 1:
        Y64 = Y64[:, None]
    A = np.column_stack([X64, np.ones(len(X64))]) if intercept else X64
    root = np.ones(len(X64)) if w is None else np.sqrt(w)
    sol = np.linalg.lstsq(A * root[:, None], Y64 * root[:, None], rcond=None)[0]
    return (sol[:-1], sol[-1]) if intercept else (sol, np.zeros(Y64.shape[1]))


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize("D", [1, 7, 16, 17, 40])
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_float32_products_are_close_and_the_means_exact(
    D: int, K: int, weighted: bool, fit_intercept: bool
) -> None:
    X, Y = _data(3001, D, K, seed=D * 10 + K)
    w = np.random.default_rng(1).uniform(0.0, 3.0, len(X)) if weighted else None
    kwargs = {"sample_weight": w, "fit_intercept": fit_intercept, "block_rows": 64}
    mixed = sufficient_statistics(X, Y, products="float32", **kwargs)
    exact = sufficient_statistics(X, Y, **kwargs)
    assert mixed["products"] == "float32" and exact["products"] == "float64"
    for key in ("H", "B", "yy", "yy_raw"):  # float32 products over ≤ 64 rows, then float64
        scale = np.max(np.abs(exact[key]))
        assert np.max(np.abs(mixed[key] - exact[key])) <= 1e-5 * scale, key
    for key in ("x_offset", "y_offset", "x_mean", "y_mean"):  # the packing's float64 sums
        scale = max(np.max(np.abs(exact[key])), 1e-300)
        assert np.max(np.abs(mixed[key] - exact[key])) <= 1e-12 * scale, key
    assert mixed["N"] == exact["N"] and mixed["n_positive"] == exact["n_positive"]
    assert 1.0 <= mixed["cancellation"] <= gram_module.MIXED_CANCELLATION_LIMIT


@pytest.mark.usefixtures("mixed_on")
def test_where_float32_products_do_not_serve() -> None:
    X, Y = _data(2000, 20)
    assert mixed_products_serve(X, 1)
    assert not mixed_products_serve(X.astype(np.float64), 1)
    assert not mixed_products_serve(np.asfortranarray(X), 1)  # rows not contiguous
    assert not mixed_products_serve(X[:, ::2], 1)
    for Xo in (X.astype(np.float64), np.asfortranarray(X)):
        assert sufficient_statistics(Xo, Y, products="float32")["products"] == "float64"


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize(
    "case", ["huge", "tiny", "sorted means", "zero column", "constant column", "nan"]
)
def test_float32_products_step_aside_where_they_would_not_hold(case: str) -> None:
    X, Y = _data(40_000 if case == "sorted means" else 3000, 12, seed=5)
    if case == "huge":  # float32 X fine, its squares beyond float32: float64 products
        X[:, 3] *= np.float32(1e20)
    elif case == "tiny":  # squares near float32's underflow
        X[:, 3] *= np.float32(1e-20)
    elif case == "sorted means":  # the first rows' mean is no pilot for the rest
        X[: gram_module.MIXED_PILOT_ROWS, 2] += np.float32(1e4)
    elif case == "zero column":
        X[:, 4] = 0.0
    elif case == "constant column":
        X[:, 4] = np.float32(7.5)
    else:
        X[10, 1] = np.nan
    if case == "nan":
        with pytest.raises(GradfitInputError):
            sufficient_statistics(X, Y)
        with pytest.raises(GradfitInputError):
            sufficient_statistics(X, Y, products="float32")
        return
    mixed = sufficient_statistics(X, Y, products="float32")
    exact = sufficient_statistics(X, Y)
    if case in ("zero column", "constant column"):  # exact zeros about the pilot shift
        assert mixed["products"] == "float32"
        assert mixed["H"][4].tolist() == [0.0] * 12
    else:
        assert mixed["products"] == "float64"
        for key in ("H", "B", "x_offset"):
            np.testing.assert_array_equal(mixed[key], exact[key])


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize("method", ["cg", "exact"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("K", [1, 3])
def test_fit_with_float32_products_is_refined_and_certified_on_the_rows(
    method: str, weighted: bool, K: int
) -> None:
    X, Y = _data(4000, 30, K, seed=K + 7 * weighted)
    y = Y[:, 0] if K == 1 else Y
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X)) if weighted else None
    model = GDRegressor(method=method).fit(X, y, sample_weight=w)
    assert MIXED in model.engine_reason_
    assert "formed with float32 products" in model.stop_reason_
    assert model.converged_ and model.certificate_.verified
    W_ref, _ = _lstsq(X, Y, w)
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(K, -1).T
    # coef_ is float32 (X's dtype): its own rounding, 6e-8 relative, is the floor
    scale = np.max(np.abs(W_ref))
    bound = 2e-6 if method == "cg" else 3e-7
    assert np.max(np.abs(coef - W_ref)) <= bound * scale, np.max(np.abs(coef - W_ref)) / scale
    if method == "exact":  # refined to rounding on the rows in float64
        assert "refinement step(s) on the rows in float64" in model.stop_reason_
        assert float(np.max(model.certificate_.relative_grad_norm)) <= 1e-12
    # the same fit with float64 products agrees (CG on H stops anywhere within tol)
    plain = GDRegressor(method=method)
    gram_module.MIXED_MIN_COLUMNS = 10**9
    plain.fit(X, y, sample_weight=w)
    assert MIXED not in plain.engine_reason_
    agree = bound if method == "exact" else 3e-5
    np.testing.assert_allclose(model.coef_, plain.coef_, rtol=0, atol=agree * scale)
    np.testing.assert_allclose(model.intercept_, plain.intercept_, rtol=0, atol=10 * agree * scale)


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize(
    "options", [{"fit_intercept": False}, {"alpha": 3.0}, {"standardize": False}]
)
def test_fit_with_float32_products_and_other_settings(options: dict) -> None:
    X, Y = _data(3000, 25, seed=11)
    model = GDRegressor(method="exact", **options).fit(X, Y[:, 0])
    assert MIXED in model.engine_reason_ and model.converged_
    gram_module.MIXED_MIN_COLUMNS = 10**9
    plain = GDRegressor(method="exact", **options).fit(X, Y[:, 0])
    scale = np.max(np.abs(plain.coef_))
    np.testing.assert_allclose(model.coef_, plain.coef_, rtol=0, atol=3e-7 * scale)


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize(
    "how", ["callback", "tol=0", "warm_start", "checkpoint", "max_iter", "gradient", "float64"]
)
def test_fits_the_user_steers_keep_float64_products(how: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    X, Y = _data(3000, 20, seed=3)
    y = Y[:, 0]
    options: dict = {}
    fit_options: dict = {}
    if how == "callback":
        fit_options["callback"] = lambda i, info: None
    elif how == "tol=0":
        options.update(tol=0.0, max_iter=50)
    elif how == "warm_start":
        options["warm_start"] = True
    elif how == "checkpoint":
        options["checkpoint"] = str(tmp_path / "ck.npz")
    elif how == "max_iter":
        options["max_iter"] = 5  # fewer than D: the user watches CG's steps
    elif how == "gradient":
        options["gradient"] = "stats"
    else:
        X = X.astype(np.float64)
    model = GDRegressor(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "warm_start":
            model.fit(X, y)
        model.fit(X, y, **fit_options)
    assert MIXED not in model.engine_reason_


@pytest.mark.usefixtures("mixed_on")
def test_one_hot_with_an_intercept_forms_h_again_in_float64() -> None:
    rng = np.random.default_rng(4)
    N = 3000
    levels = rng.integers(0, 6, N)
    onehot = np.eye(6)[levels]
    X = np.column_stack([onehot, rng.normal(size=(N, 10))]).astype(np.float32)
    y = (X.astype(np.float64) @ rng.normal(size=16) + rng.normal(size=N)).astype(np.float32)
    model = GDRegressor(method="exact").fit(X, y)
    assert MIXED not in model.engine_reason_  # float32 rounding hides the null space
    assert model.converged_ and model.certificate_.rank == 15


@pytest.mark.usefixtures("mixed_on")
def test_ill_conditioned_forms_h_again_in_float64() -> None:
    rng = np.random.default_rng(6)
    N = 4000
    x = rng.uniform(0, 1, N)
    X = np.column_stack([x**k for k in range(1, 9)] + [rng.normal(size=(N, 4))]).astype(np.float32)
    y = (X.astype(np.float64) @ rng.normal(size=12) + 0.01 * rng.normal(size=N)).astype(np.float32)
    model = GDRegressor().fit(X, y)
    assert MIXED not in model.engine_reason_
    assert plan_module.MIXED_DRIFT_LIMIT == 1.0


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize("method", ["cg", "exact"])
@pytest.mark.parametrize("error", [1e-4, 1e-2, 0.3, 3.0])
def test_a_wrong_h_never_certifies_a_wrong_answer(
    monkeypatch: pytest.MonkeyPatch, method: str, error: float
) -> None:
    """H off by far more than float32 products leave: refined on the rows (1e-4, 1e-2),
    taken over by the QR of the rows (0.3: refinement does not contract) or formed again
    in float64 (3.0: H is no longer positive definite)."""
    X, Y = _data(3000, 20, seed=8)
    y = Y[:, 0]
    real = gram_module._mixed_statistics

    def corrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        stats = real(*args, **kwargs)
        if stats is not None:
            rng = np.random.default_rng(0)
            E = rng.normal(size=stats["H"].shape)
            stats["H"] = stats["H"] * (1.0 + error * (E + E.T) / 2)
        return stats

    monkeypatch.setattr(gram_module, "_mixed_statistics", corrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(method=method).fit(X, y)
    W_ref, _ = _lstsq(X, Y)
    off = np.max(np.abs(model.coef_ - W_ref[:, 0])) / np.max(np.abs(W_ref))
    assert model.converged_ and off <= 1e-6, (model.stop_reason_, off)


def test_rows_pass_kernel_equals_the_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    N, D, K = 2500, 13, 2
    for dtype in (np.float32, np.float64):
        X = (rng.normal(size=(N, D)) + 1e3).astype(dtype)
        Y = rng.normal(size=(N, K)) + 5.0
        for w in (None, rng.uniform(0.0, 2.0, N)):
            om = None if w is None else w / w.sum()
            x_off = X.astype(np.float64).mean(0) if om is None else om @ X.astype(np.float64)
            args = (X, Y, w, x_off, Y.mean(0), X.astype(np.float64).std(0))
            constant = np.zeros(D, bool)
            constant[3] = True
            fast = RowsProblem(*args, constant=constant)
            slow = RowsProblem(*args, constant=constant)
            W = rng.normal(size=(D, K))
            for with_targets in (True, False):
                G1, l1 = fast._compute_pass(W, with_targets)
                monkeypatch.setattr(qr_module, "_compiled_rows", lambda X: False)
                G2, l2 = slow._compute_pass(W, with_targets)
                monkeypatch.undo()
                np.testing.assert_allclose(G1, G2, rtol=1e-11, atol=1e-11 * np.abs(G2).max())
                np.testing.assert_allclose(l1, l2, rtol=1e-11)
                assert np.all(G1[3] == 0.0)


def test_rows_pass_remembers_its_last_points() -> None:
    rng = np.random.default_rng(10)
    X = rng.normal(size=(500, 4)).astype(np.float32)
    Y = rng.normal(size=(500, 1))
    rows = RowsProblem(X, Y, None, X.mean(0, dtype=np.float64), Y.mean(0), np.ones(4))
    W = rng.normal(size=(4, 1))
    first = rows._pass(W, True)
    again = rows._pass(W.copy(), True)
    assert rows.n_passes == 1
    np.testing.assert_array_equal(first[0], again[0])
    again[0][:] = 0.0  # a copy: the memo is not the caller's to change
    np.testing.assert_array_equal(rows._pass(W, True)[0], first[0])
    rows._pass(W + 1, True)
    rows._pass(W + 2, True)
    rows._pass(W, True)  # forgotten after two others
    assert rows.n_passes == 4


@pytest.mark.usefixtures("mixed_on")
def test_inference_after_float32_products_reads_the_rows_in_float64() -> None:
    from gradfit import inference

    X, Y = _data(3000, 20, seed=12)
    y = Y[:, 0]
    model = GDRegressor().fit(X, y)
    assert MIXED in model.engine_reason_
    with pytest.raises(GradfitInputError, match="float32 products"):
        inference(model)  # no statistics kept: H from float32 products would cancel in RSS
    res = inference(model, X, y)
    gram_module.MIXED_MIN_COLUMNS = 10**9
    plain = GDRegressor().fit(X, y)
    reference = inference(plain)
    np.testing.assert_allclose(res.bse, reference.bse, rtol=1e-4)


def test_rows_pass_takes_any_number_of_directions_and_checks_shapes() -> None:
    rng = np.random.default_rng(13)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    Y = rng.normal(size=(300, 1))
    rows = RowsProblem(X, Y, None, X.mean(0, dtype=np.float64), Y.mean(0), np.ones(6))
    P = np.eye(6)
    HP = rows.hvp(P)  # six directions at once, no targets
    Xc = X.astype(np.float64) - X.mean(0, dtype=np.float64)
    np.testing.assert_allclose(HP, Xc.T @ Xc / 300, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="expected"):
        rows._pass(np.zeros((6, 3)), True)
    with pytest.raises(ValueError, match="expected"):
        rows._pass(np.zeros((5, 1)), False)


def _tiny_beside_huge(noise: float):  # type: ignore[no-untyped-def]
    """One coefficient of 1e5 beside forty around 1e-2 (a hostile review's design)."""
    rng = np.random.default_rng(1)
    N, D = 4000, 40
    Z = rng.normal(size=(N, D))
    X = (Z + 0.5 * Z[:, :1]).astype(np.float32)
    w = rng.normal(size=D) * 1e-2
    w[0] = 1e5
    y = X.astype(np.float64) @ w + 2 + noise * rng.normal(size=N)
    return X, y


@pytest.mark.usefixtures("mixed_on")
@pytest.mark.parametrize("noise", [0.01, 1.0, 100.0])
def test_small_coefficients_beside_a_large_one_are_refined(noise: float) -> None:
    """Met tol normwise at the Cholesky solve with small coefficients 62–97% off (37 of them
    beyond a standard error, which the certificate, from ``yy − 2wᵀB + wᵀHw`` of the float32
    ``H``, inflated 2,000×): the default now refines until each is within 1e-4, and the
    standard errors take the residuals' loss from the rows."""
    X, y = _tiny_beside_huge(noise)
    model = GDRegressor().fit(X, y)
    assert MIXED in model.engine_reason_ and model.converged_
    W_ref, _ = _lstsq(X, y)
    relative = np.abs(model.coef_ - W_ref[:, 0]) / np.abs(W_ref[:, 0])
    assert relative.max() <= 1e-3, relative.max()
    assert model.certificate_.unresolved == ()


@pytest.mark.usefixtures("mixed_on")
def test_standard_errors_after_float32_products_are_the_rows() -> None:
    from gradfit.problem.plan import plan
    from gradfit.solve.certify import coefficient_errors
    from gradfit.sources.arrays import ArraySource

    X, y = _tiny_beside_huge(0.01)
    source = ArraySource(X, y[:, None])
    source.products = "float32"
    options = {"fit_intercept": True, "standardize": True, "alpha": 0.0}
    chosen = plan(source, method="exact", gradient="auto", **options)
    gram, rows = chosen.problem, chosen.refine
    assert gram.products == "float32" and rows is not None
    W_ref, _ = _lstsq(X, y)
    W = W_ref.copy()
    W[5:] *= 1.5  # small coefficients 50% off: far beyond their standard errors (1.5e-4)
    _, G_V = rows.loss_grad(rows.from_user(W))
    result = coefficient_errors(gram, W, G_V, np.zeros(40, bool))
    assert result is not None
    _, in_se, unresolved, below_rounding = result
    assert not below_rounding
    assert {j for j, _ in unresolved} == set(range(5, 40))
    # in standard errors as lstsq's own residuals give them (not inflated by H's rounding)
    X64 = np.column_stack([X.astype(np.float64), np.ones(len(X))])
    residual = y - X64 @ np.append(W_ref[:, 0], _lstsq(X, y)[1])
    sigma2 = residual @ residual / (len(X) - 41)
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(X64.T @ X64)))[:40]
    expected = np.abs(W[5:, 0] - W_ref[5:, 0]) / se[5:]
    np.testing.assert_allclose(in_se[5:, 0], expected, rtol=0.05)


@pytest.mark.usefixtures("mixed_on")
def test_exact_takes_float32_products_only_where_they_repay_its_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(estimator_module, "MIXED_MIN_COLUMNS_EXACT", 256)
    X, Y = _data(2000, 254, seed=14)  # 254 + 1 + 1 = 256 augmented columns
    assert MIXED in GDRegressor(method="exact").fit(X, Y[:, 0]).engine_reason_
    assert MIXED not in GDRegressor(method="exact").fit(X[:, :253], Y[:, 0]).engine_reason_
    assert MIXED in GDRegressor().fit(X[:, :253], Y[:, 0]).engine_reason_
