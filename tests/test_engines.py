"""Issue 3: the two gradient engines, the fused kernel, exact and sgd, engine choice."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numba
import numpy as np
import pytest

from gradfit import ConvergenceWarning, GDRegressor
from gradfit.problem.gram import GramProblem, sufficient_statistics
from gradfit.problem.kernels import fused_pass
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.problem.plan import KAPPA_LIMIT, choose_engine
from problems import svd_problem

METHODS = ["gd", "momentum", "nesterov", "cg"]


def _lstsq(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0)
    return np.linalg.lstsq(Xc, Y - Y.mean(axis=0), rcond=None)[0]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("intercept", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_stats_engine_equals_data_engine(weighted: bool, intercept: bool, alpha: float) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.1, 10, size=6) + rng.normal(size=6) * 3
    Y = rng.normal(size=(300, 2))
    sw = rng.uniform(0, 2, size=300) if weighted else None
    options = dict(fit_intercept=intercept, standardize=True, alpha=alpha)
    data = LeastSquaresProblem(X, Y, sample_weight=sw, **options)
    gram = GramProblem(
        sufficient_statistics(X, Y, sample_weight=sw, fit_intercept=intercept), X.dtype, **options
    )
    V = rng.normal(size=(6, 2))
    for a, b in zip(data.loss_grad(V), gram.loss_grad(V), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(data.hvp(V), gram.hvp(V), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(data.x_scale, gram.x_scale, rtol=1e-12)
    exact = gram.curvature()
    est = data.curvature()
    assert exact.exact and pytest.approx(exact.L, rel=1e-6) == est.L


def test_large_means_take_a_second_pass_and_stay_accurate() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 3)) + 1e7
    Y = X @ np.array([[1.0], [2.0], [3.0]]) + rng.normal(size=(2000, 1))
    stats = sufficient_statistics(X, Y)
    assert stats["passes"] == 2
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(stats["H"], Xc.T @ Xc / len(X), rtol=1e-12)


@pytest.mark.parametrize("method", [*METHODS, "exact"])
@pytest.mark.parametrize("cond", [1.0, 1e2, 1e4])
def test_every_method_reaches_the_exact_solution_on_both_engines(method: str, cond: float) -> None:
    X, Y = svd_problem(200, 10, 2, cond=cond, seed=int(cond))
    W = _lstsq(X, Y)
    reference = GDRegressor(method="exact").fit(X, Y)
    assert _rel(reference.coef_.T, W) <= 1e-9
    if method in ("gd", "momentum", "nesterov") and cond > 1e2:
        return  # κ = 1e8: 1e5 to 1e9 iterations (the ill-conditioning warning's case)
    for engine in ("stats", "data"):
        if method == "exact" and engine == "data":
            continue
        model = GDRegressor(method=method, gradient=engine, tol=1e-13, max_iter=300_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, Y)
        assert _rel(model.coef_, reference.coef_) <= 1e-6, (engine, model.stop_reason_)


def test_auto_engine_choices_and_reasons() -> None:
    X, Y = svd_problem(300, 8, 1, cond=10.0, seed=2)
    model = GDRegressor().fit(X, Y[:, 0])
    assert model.engine_ == "stats" and "O(D²K)" in model.engine_reason_
    wide_X, wide_Y = svd_problem(20, 50, 1, cond=10.0, seed=3)
    wide = GDRegressor(standardize=False).fit(wide_X, wide_Y[:, 0])
    assert wide.engine_ == "data" and "D=50 > N=20" in wide.engine_reason_
    forced = GDRegressor(gradient="data").fit(X, Y[:, 0])
    assert forced.engine_ == "data" and "requested" in forced.engine_reason_
    assert choose_engine(10_000, 5000, "cg", "auto")[0] == "data"
    assert choose_engine(10_000, 50, "sgd", "auto")[0] == "data"
    assert choose_engine(10, 50, "exact", "auto")[0] == "stats"


def test_ill_conditioned_data_switches_to_the_data_path() -> None:
    X, Y = svd_problem(300, 12, 1, cond=1e6, seed=4)
    model = GDRegressor(standardize=False, tol=1e-12, max_iter=10_000).fit(X, Y[:, 0])
    assert model.engine_ == "data" and f"{KAPPA_LIMIT:.0e}" in model.engine_reason_
    W = _lstsq(X, Y)[:, 0]
    stats = GDRegressor(standardize=False, gradient="stats", tol=1e-12, max_iter=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        stats.fit(X, Y[:, 0])
    # the data path is markedly more accurate than the reassociated form here
    assert _rel(model.coef_, W) < 0.1 * _rel(stats.coef_, W)


def test_stats_engine_stays_trustworthy_when_r2_is_nearly_one() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(5000, 8)) * 3 + 10
    W = rng.normal(size=8)
    y = X @ W + 7 + 1e-4 * rng.normal(size=5000)
    for method in METHODS:
        model = GDRegressor(method=method, gradient="stats", tol=1e-10, max_iter=50_000).fit(X, y)
        assert model.score(X, y) > 0.99999
        assert model.converged_, model.stop_reason_
        assert not [e for e in model.history_.events if e.kind in ("rollback", "stalled")]
        loss = model.history_.loss
        assert np.all(loss >= 0)
        data_loss = 0.5 * np.mean((y - model.predict(X)) ** 2)
        assert loss[-1] == pytest.approx(data_loss, rel=1e-4)
        np.testing.assert_allclose(model.coef_, W, rtol=1e-3)
    # a too-large step is still caught at once on the stats engine
    L = GDRegressor(method="cg", gradient="stats").fit(X, y).lipschitz_
    from gradfit import DivergenceError

    with pytest.raises(DivergenceError, match="iteration 1:"):
        GDRegressor(method="gd", gradient="stats", learning_rate=2.5 / L).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_fused_kernel_matches_numpy(dtype: type, weighted: bool, k: int) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20_003, 7)).astype(dtype)
    Y = rng.normal(size=(20_003, k))
    sw = rng.uniform(0, 1, size=20_003) if weighted else None
    kernel = LeastSquaresProblem(X, Y, sample_weight=sw)
    numpy = LeastSquaresProblem(X, Y, sample_weight=sw)
    numpy.use_kernel = False
    assert kernel.use_kernel
    V = rng.normal(size=(7, k))
    rtol = 1e-11 if dtype == np.float64 else 2e-4
    for a, b in zip(kernel.loss_grad(V), numpy.loss_grad(V), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(kernel.hvp(V), numpy.hvp(V), rtol=rtol, atol=rtol)


def test_fused_kernel_is_bit_identical_across_thread_counts() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(50_000, 9))
    Y = rng.normal(size=(50_000, 2))
    W = rng.normal(size=(9, 2))
    before = numba.get_num_threads()
    try:
        results = []
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.append(fused_pass(X, W, Y, np.zeros(2), None))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(results[0], results[-1], strict=True):
        assert np.array_equal(a, b)


def test_exact_method_is_refined_on_the_data() -> None:
    X, Y = svd_problem(300, 10, 2, cond=1e4, seed=8)  # κ(H) ≈ 1e8: H carries it, refined
    W = _lstsq(X, Y)
    model = GDRegressor(method="exact", standardize=False).fit(X, Y)
    assert _rel(model.coef_.T, W) <= 1e-9
    assert model.stop_reason_.startswith("converged: Cholesky") and model.n_iter_ >= 2
    # beyond KAPPA_LIMIT (κ of the unit-scaled H 6.6e11) the rows are solved by QR (decision 32)
    X, Y = svd_problem(300, 10, 2, cond=1e6, seed=8)
    model = GDRegressor(method="exact", standardize=False).fit(X, Y)
    assert _rel(model.coef_.T, _lstsq(X, Y)) <= 1e-7
    assert "QR factorisation of the rows" in model.stop_reason_


def test_exact_method_handles_singular_problems_with_the_minimum_norm_solution() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(100, 2))
    X = np.column_stack([x, x[:, 0]])  # duplicated column
    y = x @ [1.0, 2.0]
    model = GDRegressor(method="exact", standardize=False).fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.5, 2.0, 0.5], atol=1e-8)


def test_sgd_reaches_a_good_solution_and_is_reproducible() -> None:
    X, Y = svd_problem(2000, 5, 1, cond=3.0, seed=10, noise=0.01)
    exact = GDRegressor(method="exact").fit(X, Y[:, 0])
    a = GDRegressor(method="sgd", random_state=0, max_iter=40, tol=1e-4, batch_size=64)
    b = GDRegressor(method="sgd", random_state=0, max_iter=40, tol=1e-4, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, Y[:, 0])
        b.fit(X, Y[:, 0])
    assert np.array_equal(a.coef_, b.coef_)
    np.testing.assert_allclose(a.coef_, exact.coef_, rtol=1e-2, atol=1e-2)
    assert a.engine_ == "data"
    c = GDRegressor(method="sgd", random_state=1, max_iter=3, tol=0.0).fit(X, Y[:, 0])
    assert not np.array_equal(c.coef_, a.coef_)


def test_partial_fit_keeps_its_schedule_and_state_across_calls() -> None:
    rng = np.random.default_rng(11)
    W = np.array([1.0, -2.0, 0.5])
    model = GDRegressor(method="sgd", batch_size=50, random_state=0, schedule="invscaling")
    steps = []
    for _ in range(40):
        X = rng.normal(size=(400, 3)) * [1, 10, 0.1] + [0, 5, 0]
        y = X @ W + 3.0 + 0.01 * rng.normal(size=400)
        model.partial_fit(X, y)
        steps.append(model.t_)
    assert steps == [8 * (i + 1) for i in range(40)]  # the counter never resets
    np.testing.assert_allclose(model.coef_, W, rtol=2e-2, atol=2e-2)
    assert model.intercept_ == pytest.approx(3.0, abs=5e-2)
    assert model.n_iter_ == 40
    # the schedule continued: the last step is lr/sqrt(1 + t/T), far below the first
    first = GDRegressor(method="sgd", batch_size=50, random_state=0).partial_fit(X, y)
    assert model.learning_rate_ < first.learning_rate_ / 3
    assert hasattr(GDRegressor(), "partial_fit")  # full-batch methods refit from statistics
    model.fit(X, y)  # a full fit forgets the stream
    assert model._stream is None


def _reference_pass(X: np.ndarray, W: np.ndarray, Y: Any, shift: np.ndarray, omega: Any) -> tuple:
    R = X.astype(np.float64) @ W + shift
    if Y is not None:
        R -= Y
    Rw = R if omega is None else R * omega[:, None]
    return X.astype(np.float64).T @ Rw, (R * Rw).sum(0), Rw.sum(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 15, 16, 17, 100])
def test_fused_pass_matches_numpy_for_every_shape(dtype: type, d: int) -> None:
    """Every unrolled kernel (K = 1..4, and the general one for K = 5) against float64 NumPy,
    for row counts around the row groups and the padded sweeps (float32, D ≥ 16)."""
    rng = np.random.default_rng(d)
    for n in (1, 2, 3, 5, 8, 67, 1001):
        for k in (1, 2, 3, 4, 5):
            X = rng.normal(size=(n, d)).astype(dtype)
            W = rng.normal(size=(d, k))
            Y = rng.normal(size=(n, k)).astype(dtype) if (n + k) % 2 else None
            omega = rng.uniform(0, 1, size=n).astype(dtype) if (n * k) % 3 == 1 else None
            shift = rng.normal(size=k)
            got = fused_pass(X, W, Y, shift, omega)
            want = _reference_pass(X, W, Y, shift, omega)
            tol = 1e-12 if dtype == np.float64 else 1e-5
            for a, b in zip(got, want, strict=True):
                scale = max(1.0, float(np.abs(b).max()))
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=f"{n=} {k=}")


_GUARD_PAGE_SCRIPT = """
import ctypes, mmap, sys
import numpy as np
from gradfit.problem.kernels import fused_pass

libc = ctypes.CDLL(None, use_errno=True)
page = mmap.PAGESIZE
for d, n in ((17, 5), (100, 41), (20, 3), (33, 1000)):
    size = (n * d * 4 // page + 2) * page
    buf = mmap.mmap(-1, size, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert libc.mprotect(ctypes.c_void_p(base + size - page), page, 0) == 0
    X = np.frombuffer(buf, np.float32, count=n * d, offset=size - page - n * d * 4).reshape(n, d)
    X[...] = np.random.default_rng(d).normal(size=(n, d))
    for k in (1, 2, 3, 4):
        W = np.ones((d, k))
        XtR, sq, rs = fused_pass(X, W, None, np.zeros(k), None)
        R = X.astype(np.float64) @ W
        assert np.allclose(XtR, X.astype(np.float64).T @ R, rtol=1e-4, atol=1e-3), (d, n, k)
    del X
print("ok")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect guard page: Linux")
def test_padded_sweeps_never_read_past_the_end_of_x() -> None:
    """X ends right before a page that may not be read: any read past X's last row crashes."""
    result = subprocess.run(
        [sys.executable, "-c", _GUARD_PAGE_SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
