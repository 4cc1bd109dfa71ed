"""The compiled Gram pass (problem/gram_jit.py) against the BLAS pass and the definitions.

The kernel is forced on (``GRADFIT_GRAM_KERNEL=1``, no minimum size) so these
tests run it on any CPU that llvmlite compiles for, AVX-512 or not.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit._exceptions import GradfitInputError
from gradfit.problem import gram as gram_module
from gradfit.problem.gram import gram_kernel, sufficient_statistics

KEYS = ("H", "B", "yy", "yy_raw", "x_offset", "y_offset", "x_meansq")


@pytest.fixture
def kernel_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "1")
    monkeypatch.setattr(gram_module, "KERNEL_MIN_WORK", 0)
    if gram_kernel() is None:  # pragma: no cover - llvmlite could not compile here
        pytest.skip("the Gram kernel does not compile on this machine")


def _both(monkeypatch: pytest.MonkeyPatch, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``sufficient_statistics`` by the kernel, then by BLAS."""
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "1")
    fast = sufficient_statistics(*args, **kwargs)
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "0")
    blas = sufficient_statistics(*args, **kwargs)
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "1")
    return fast, blas


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-13) -> None:
    scale = max(float(np.max(np.abs(b))) if np.size(b) else 0.0, 1e-300)
    assert np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0) <= rtol * scale


@pytest.mark.usefixtures("kernel_on")
@pytest.mark.parametrize("D", [1, 7, 8, 9, 23, 64])
@pytest.mark.parametrize("K", [1, 3, 9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_kernel_equals_blas_and_the_definitions(
    monkeypatch: pytest.MonkeyPatch, D: int, K: int, dtype: type, weighted: bool, order: str
) -> None:
    rng = np.random.default_rng(D * 100 + K)
    N = 1001  # not a multiple of the block's rows, nor of the chunks
    X = (rng.normal(size=(N, D)) * rng.uniform(0.1, 10, D) + rng.normal(size=D)).astype(dtype)
    X = np.asarray(X, order=order)  # column-major X (pandas' to_numpy) is packed by columns
    Y = (rng.normal(size=(N, K)) + 3.0).astype(dtype)
    w = rng.uniform(0.0, 3.0, N) if weighted else None
    fast, blas = _both(monkeypatch, X, Y, sample_weight=w, block_rows=64)
    for key in KEYS:
        _close(fast[key], blas[key])
    # and the definitions, in float64
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    omega = np.full(N, 1.0 / N) if w is None else w / w.sum()
    xbar, ybar = omega @ X64, omega @ Y64
    Xc, Yc = X64 - xbar, Y64 - ybar
    _close(fast["H"], (Xc * omega[:, None]).T @ Xc, 1e-12)
    _close(fast["B"], (Xc * omega[:, None]).T @ Yc, 1e-12)
    _close(fast["yy"], omega @ (Yc * Yc), 1e-12)
    _close(fast["x_offset"], xbar, 1e-12)


@pytest.mark.usefixtures("kernel_on")
@pytest.mark.parametrize("weighted", [False, True])
def test_the_second_pass_about_the_means_runs_in_the_kernel(
    monkeypatch: pytest.MonkeyPatch, weighted: bool
) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 11)) + 1e6  # mean²/variance 1e12: the raw moments cancel
    Y = rng.normal(size=(3000, 2)) - 1e5
    w = rng.uniform(0.5, 1.5, 3000) if weighted else None
    fast, blas = _both(monkeypatch, X, Y, sample_weight=w)
    assert fast["passes"] == blas["passes"] == 2
    for key in ("H", "B", "yy", "x_offset", "y_offset"):
        _close(fast[key], blas[key], 1e-11)
    omega = np.full(3000, 1 / 3000) if w is None else w / w.sum()
    Xc = X - omega @ X
    _close(fast["H"], (Xc * omega[:, None]).T @ Xc, 1e-9)


@pytest.mark.usefixtures("kernel_on")
def test_the_kernel_result_does_not_depend_on_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(20_000, 30)), rng.normal(size=(20_000, 2))
    two = sufficient_statistics(X, Y)
    monkeypatch.setattr(gram_module, "gram_threads", lambda: 1)
    one = sufficient_statistics(X, Y)
    for key in KEYS:
        assert np.array_equal(one[key], two[key]), key


@pytest.mark.usefixtures("kernel_on")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_entry_propagates_through_the_kernel(bad: float) -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(500, 12)), rng.normal(size=(500, 1))
    X[321, 10] = bad
    with pytest.raises(GradfitInputError):
        sufficient_statistics(X, Y)


@pytest.mark.usefixtures("kernel_on")
def test_layouts_the_kernel_does_not_read_fall_back_to_blas() -> None:
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(700, 13)), rng.normal(size=(700, 1))
    for other in (X[::-1], X.astype(">f8"), np.repeat(X, 2, axis=1)[:, ::2]):
        got = sufficient_statistics(other, Y[::-1] if other.strides[0] < 0 else Y)
        reference = sufficient_statistics(
            np.ascontiguousarray(other, dtype=np.float64),
            np.ascontiguousarray(Y[::-1] if other.strides[0] < 0 else Y),
        )
        for key in KEYS:
            _close(got[key], reference[key])


@pytest.mark.usefixtures("kernel_on")
@pytest.mark.parametrize("method", ["cg", "exact"])
def test_a_fit_through_the_kernel_matches_the_blas_fit(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(4000, 40)) * rng.uniform(0.5, 5.0, 40)
    y = X @ rng.normal(size=40) + rng.normal(size=4000) + 7.0
    fast = GDRegressor(method=method).fit(X, y)
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "0")
    blas = GDRegressor(method=method).fit(X, y)
    assert fast.engine_ == blas.engine_ == "stats"
    np.testing.assert_allclose(fast.coef_, blas.coef_, rtol=1e-10)
    np.testing.assert_allclose(fast.intercept_, blas.intercept_, rtol=1e-10)
    assert fast.certificate_.verified and fast.converged_


def test_the_switch_turns_the_kernel_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "0")
    assert gram_kernel() is None


@pytest.mark.usefixtures("kernel_on")
@pytest.mark.parametrize("shifted", [False, True])
def test_block_moments_of_a_partition_run_in_the_kernel(
    monkeypatch: pytest.MonkeyPatch, shifted: bool
) -> None:
    from gradfit.problem.moments import block_moments

    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(2500, 21)) + 4.0, rng.normal(size=(2500, 2)) - 9.0
    shift = (X.mean(0), Y.mean(0)) if shifted else (None, None)
    fast = block_moments(X, Y, *shift)
    monkeypatch.setenv("GRADFIT_GRAM_KERNEL", "0")
    blas = block_moments(X, Y, *shift)
    assert fast.n == blas.n == 2500
    for name in ("Sxx", "Sxy", "Syy", "Yraw"):
        _close(getattr(fast, name), getattr(blas, name), 1e-12)
    # about the means, Σx and Σy are rounding: compare them on the scale of Σ|x|, Σ|y|
    for name, data, about in (("Sx", X, shift[0]), ("Sy", Y, shift[1])):
        size = np.sum(np.abs(data if about is None else data - about), axis=0)
        assert np.all(np.abs(getattr(fast, name) - getattr(blas, name)) <= 1e-13 * size)
    _close(fast.Yraw, np.sum(Y * Y, axis=0), 1e-13)  # about zero, whatever the shift
