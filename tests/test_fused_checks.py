"""The statistics pass proves X finite and in range (issue 17): the same refusals and rescaling
as the scan it replaces, on arrays large enough to take that path (N·D ≥ 2**16)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit._exceptions import GradfitInputError
from gradfit._validation import gram_proves_design, scannable
from gradfit.problem.gram import _accumulate, gram_chunks

N, D = 4000, 20  # 80,000 entries: above the parallel scan's threshold


def _data(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)).astype(dtype) + 1.0
    w = rng.normal(size=D)
    y = (X.astype(np.float64) @ w + 0.5 + 0.01 * rng.normal(size=N)).astype(dtype)
    return X, y, w


def _lstsq(X, y):
    A = np.column_stack([np.ones(len(X)), np.asarray(X, dtype=np.float64)])
    return np.linalg.lstsq(A, np.asarray(y, dtype=np.float64), rcond=None)[0][1:]


def test_the_data_takes_the_fused_path():
    X, _, _ = _data()
    assert scannable(X)


@pytest.mark.parametrize("method", ["cg", "exact"])
@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_entry_is_named_as_before(method, value, word):
    X, y, _ = _data()
    X[3001, 7] = value
    with pytest.raises(GradfitInputError) as info:
        GDRegressor(method=method).fit(X, y)
    assert f"Input X contains {word} at row 3001, column 7" in str(info.value)


def test_non_finite_float32_entry_is_named():
    X, y, _ = _data(np.float32)
    X[17, 0] = np.nan
    with pytest.raises(GradfitInputError, match="NaN at row 17, column 0"):
        GDRegressor().fit(X, y)


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e45, 1e-45])
def test_extreme_columns_are_rescaled_or_kept_exactly(scale):
    X, y, _ = _data()
    Xs = X.copy()
    Xs[:, 3] *= scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(tol=1e-10).fit(Xs, y)
    ref = _lstsq(X, y)
    got = model.coef_.copy()
    got[3] *= scale  # the coefficient of a column multiplied by s is divided by s
    assert np.allclose(got, ref, rtol=1e-6, atol=1e-8)


def test_all_zero_and_constant_columns_still_work():
    X, y, _ = _data()
    X[:, 2] = 0.0
    X[:, 5] = 7.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(tol=1e-10).fit(X, y)
    assert abs(model.coef_[2]) < 1e-12 and abs(model.coef_[5]) < 1e-12  # (main: ~1e-16 too)
    keep = [j for j in range(D) if j not in (2, 5)]
    assert np.allclose(model.coef_[keep], _lstsq(X[:, keep], y), rtol=1e-6, atol=1e-8)


def test_a_value_whose_square_overflows_is_rescaled_not_refused():
    X, y, _ = _data()
    X[10, 4] = 1e160  # finite, but x² overflows: the pass proves nothing and X is scanned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor().fit(X, y)
    assert np.all(np.isfinite(model.coef_))


def test_gram_proof_bounds():
    assert gram_proves_design(np.full(3, 1.0), 10**6)
    assert not gram_proves_design(np.array([1.0, np.nan]), 10)
    assert not gram_proves_design(np.array([1e99]), 10**6)  # max|x| could exceed 1e50
    assert not gram_proves_design(np.array([0.0, 1.0]), 10)  # zero, or squares underflowed


def test_chunked_pass_equals_one_product_and_is_reproducible():
    X, y, _ = _data()
    Y = y[:, None]
    args = (X, Y, None, np.zeros(D), np.zeros(1), 97)
    assert len(gram_chunks(N, D, 97)) > 1
    Sxx, Sxy, Sx, *_ = _accumulate(*args)
    assert np.allclose(Sxx, X.T @ X / N, rtol=1e-13, atol=1e-13)
    assert np.allclose(Sxy[:, 0], X.T @ y / N, rtol=1e-13, atol=1e-13)
    assert np.allclose(Sx, X.mean(axis=0), rtol=1e-13)
    again = _accumulate(*args)
    assert all(np.array_equal(a, b) for a, b in zip(_accumulate(*args), again, strict=True))
