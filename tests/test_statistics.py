"""Statistics: one pass from every source, exact merge and subtraction, files, fits, partial_fit."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradfit import GDRegressor, GradfitInputError, GradfitModelError, Statistics, load_statistics


def data(N=300, D=4, K=2, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * rng.uniform(0.2, 3.0, D) + shift
    Y = X @ rng.normal(size=(D, K)) + rng.normal(size=(N, K)) + 2.0
    return X, Y


def reference(X, Y, w=None):
    """Two-pass textbook statistics (exact means first, then centred sums)."""
    w = np.ones(len(X)) if w is None else w
    W = w.sum()
    xm, ym = w @ X / W, w @ Y / W
    Xc, Yc = X - xm, Y - ym
    return W, xm, ym, (Xc * w[:, None]).T @ Xc, (Xc * w[:, None]).T @ Yc, w @ (Yc * Yc)


def assert_same(s, X, Y, w=None, rtol=1e-10, scale=None):
    """``scale``: statistics whose magnitudes bound the rounding (those of a subtraction)."""
    W, xm, ym, xx, xy, yy = reference(X, Y, w)
    ref = scale if scale is not None else Statistics(len(X), W, xm, ym, xx, xy, yy)
    assert s.n_samples == len(X)
    np.testing.assert_allclose(s.weight_sum, W, rtol=1e-13)
    np.testing.assert_allclose(s.x_mean, xm, rtol=rtol, atol=rtol * np.abs(ref.x_mean).max())
    np.testing.assert_allclose(s.y_mean, ym, rtol=rtol, atol=rtol * np.abs(ref.y_mean).max())
    # centred sums of few rows far from zero are rounding noise of size eps·W·mean²
    noise_x, noise_y = 1e-14 * W * np.abs(xm).max() ** 2, 1e-14 * W * np.abs(ym).max() ** 2
    noise_xy = 1e-14 * W * np.abs(xm).max() * np.abs(ym).max()
    np.testing.assert_allclose(s.xx, xx, rtol=rtol, atol=rtol * np.abs(ref.xx).max() + noise_x)
    np.testing.assert_allclose(s.xy, xy, rtol=rtol, atol=rtol * np.abs(ref.xy).max() + noise_xy)
    np.testing.assert_allclose(s.yy, yy, rtol=rtol, atol=rtol * np.abs(ref.yy).max() + noise_y)


def test_from_data_equals_the_two_pass_formula_with_and_without_weights():
    X, Y = data()
    assert_same(Statistics.from_data(X, Y), X, Y)
    w = np.random.default_rng(1).uniform(0, 3, len(X))
    assert_same(Statistics.from_data(X, Y, sample_weight=w), X, Y, w)


def test_large_means_do_not_cancel_in_one_pass():
    """mean²/variance = 1e16: raw sums would lose every digit; block centring loses none."""
    X, Y = data(N=2000, shift=1e8)
    s = Statistics.from_data(X, Y)
    assert_same(s, X, Y, rtol=1e-7)
    fit = GDRegressor(method="exact", standardize=False).fit(s)
    ref = GDRegressor(method="exact").fit(X, Y)
    np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-7)


# -- property tests: merging and subtracting ---------------------------------------------------

splits = st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=splits, seed=st.integers(0, 2**16), shift=st.sampled_from([0.0, 10.0, 1e5]))
def test_merged_statistics_equal_those_of_the_concatenation(sizes, seed, shift):
    X, Y = data(N=sum(sizes), seed=seed, shift=shift)
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 2.0, len(X)) if seed % 2 else None
    parts, start = [], 0
    for n in sizes:
        parts.append(
            Statistics.from_data(
                X[start : start + n],
                Y[start : start + n],
                None if w is None else w[start : start + n],
            )
        )
        start += n
    merged = sum(parts[1:], parts[0])
    shuffled = sum(reversed(parts[:-1]), parts[-1])  # any order
    for s in (merged, shuffled):
        assert_same(s, X, Y, w, rtol=1e-9)
    if len(X) > X.shape[1] + 2:
        whole = GDRegressor(method="exact", alpha=1e-3).fit(X, Y, sample_weight=w)
        fit = GDRegressor(method="exact", alpha=1e-3).fit(merged)
        # 1e-10 relative to the coefficients' size; data 1e5 from zero carry their deviations
        # only to eps·1e5 (2e-11 of a unit spread) in float64, which both fits inherit
        tol = 1e-10 if shift <= 10 else 1e-8
        scale = np.abs(whole.coef_).max()
        np.testing.assert_allclose(fit.coef_, whole.coef_, rtol=tol, atol=tol * scale)
        b_scale = np.abs(whole.intercept_).max() + shift * scale * X.shape[1]
        np.testing.assert_allclose(fit.intercept_, whole.intercept_, rtol=tol, atol=tol * b_scale)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 60), min_size=2, max_size=5), seed=st.integers(0, 2**16))
def test_subtracting_a_batch_leaves_the_statistics_of_the_rest(sizes, seed):
    X, Y = data(N=sum(sizes), seed=seed, shift=3.0)
    parts, start = [], 0
    for n in sizes:
        parts.append(Statistics.from_data(X[start : start + n], Y[start : start + n]))
        start += n
    total = sum(parts[1:], parts[0])
    k = seed % len(sizes)
    rest = total - parts[k]
    keep = np.ones(len(X), bool)
    begin = sum(sizes[:k])
    keep[begin : begin + sizes[k]] = False
    assert_same(rest, X[keep], Y[keep], rtol=1e-9, scale=total)
    back = rest + parts[k]
    assert_same(back, X, Y, rtol=1e-7)


def test_a_sliding_window_refits_exactly():
    X, Y = data(N=600, seed=3)
    blocks = [Statistics.from_data(X[i : i + 100], Y[i : i + 100]) for i in range(0, 600, 100)]
    window = blocks[0] + blocks[1] + blocks[2]
    for i in range(3, 6):
        window = window + blocks[i] - blocks[i - 3]
        rows = slice((i - 2) * 100, (i + 1) * 100)
        ref = GDRegressor(method="exact").fit(X[rows], Y[rows])
        got = GDRegressor(method="exact").fit(window)
        np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9)


def test_incompatible_statistics_are_refused():
    X, Y = data()
    a = Statistics.from_data(X, Y)
    with pytest.raises(GradfitInputError, match=r"3 features .* same columns"):
        a + Statistics.from_data(X[:, :3], Y)
    with pytest.raises(GradfitInputError, match="only rows that were added"):
        Statistics.from_data(X[:10], Y[:10]) - a
    named = Statistics.from_data(pd.DataFrame(X, columns=list("abcd")), Y)
    other = Statistics.from_data(pd.DataFrame(X, columns=list("abdc")), Y)
    with pytest.raises(GradfitInputError, match="different feature names"):
        named + other
    with pytest.raises(TypeError, match="only add Statistics"):
        a + np.ones(3)


# -- every source, one code path -------------------------------------------------------------


def test_sparse_torch_and_dataframe_sources_give_the_array_statistics():
    X, Y = data()
    X[X < 0.5] = 0.0
    ref = Statistics.from_data(X, Y)
    for source in (sp.csr_matrix(X), sp.csc_matrix(X), pd.DataFrame(X)):
        s = Statistics.from_data(source, Y)
        np.testing.assert_allclose(s.xx, ref.xx, rtol=1e-12)
        np.testing.assert_allclose(s.xy, ref.xy, rtol=1e-12)
    torch = pytest.importorskip("torch")
    s = Statistics.from_data(torch.from_numpy(X), torch.from_numpy(Y))
    np.testing.assert_allclose(s.xx, ref.xx, rtol=1e-12)
    assert s.dtype == "float64"


@pytest.mark.parametrize("suffix", ["parquet", "csv", "npy"])
def test_file_statistics_equal_the_array_statistics(tmp_path, suffix):
    X, Y = data(N=500, K=1, shift=50.0)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(4)])
    frame["x4"] = Y[:, 0]
    path = tmp_path / f"d.{suffix}"
    if suffix == "parquet":
        pytest.importorskip("pyarrow")
        frame.to_parquet(path)
    elif suffix == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    else:
        np.save(path, frame.to_numpy())
    s = Statistics.from_data(str(path), target="x4", block_rows=64)
    assert_same(s, X, Y, rtol=1e-10)
    assert s.y_1d and s.n_targets == 1
    model = GDRegressor(method="exact").fit(s)
    np.testing.assert_allclose(
        model.coef_, GDRegressor(method="exact").fit(X, Y[:, 0]).coef_, rtol=1e-10
    )


# -- files -------------------------------------------------------------------------------------


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    X, Y = data()
    s = Statistics.from_data(
        pd.DataFrame(X, columns=list("abcd")), Y, sample_weight=np.linspace(0.5, 2, len(X))
    )
    t = load_statistics(s.save(tmp_path / "s.gfs"))
    for name in ("x_mean", "y_mean", "xx", "xy", "yy"):
        np.testing.assert_array_equal(getattr(t, name), getattr(s, name))
    assert (t.n_samples, t.weight_sum, t.feature_names) == (
        s.n_samples,
        s.weight_sum,
        s.feature_names,
    )
    with zipfile.ZipFile(tmp_path / "s.gfs") as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "arrays.npz", "metadata.json"]


def test_damaged_or_foreign_files_are_refused(tmp_path):
    X, Y = data()
    path = Statistics.from_data(X, Y).save(tmp_path / "s.gfs")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["metadata.json"] = members["metadata.json"].replace(
        b'"n_samples": 300', b'"n_samples": 301'
    )
    edited = tmp_path / "edited.gfs"
    with zipfile.ZipFile(edited, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(GradfitModelError, match="modified"):
        load_statistics(edited)
    model_path = tmp_path / "m.gfm"
    from gradfit import save_model

    save_model(GDRegressor().fit(X, Y), model_path)
    with pytest.raises(GradfitModelError, match="load_model"):
        load_statistics(model_path)
    (tmp_path / "junk.gfs").write_bytes(b"not a zip")
    with pytest.raises(GradfitModelError):
        load_statistics(tmp_path / "junk.gfs")


# -- fitting statistics and partial_fit --------------------------------------------------------


@pytest.mark.parametrize("method", ["cg", "exact", "gd", "nesterov"])
def test_fit_statistics_equals_fit_on_rows(method):
    X, Y = data(seed=2)
    ref = GDRegressor(method=method, tol=1e-10, alpha=0.01, max_iter=5000).fit(X, Y)
    got = GDRegressor(method=method, tol=1e-10, alpha=0.01, max_iter=5000).fit_statistics(
        Statistics.from_data(X, Y)
    )
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-8)
    assert got.engine_ == "stats" and "Statistics of 300 rows" in got.engine_reason_


def test_fitting_statistics_refuses_what_needs_rows():
    s = Statistics.from_data(*data())
    with pytest.raises(ValueError, match="statistics hold none"):
        GDRegressor(method="sgd").fit(s)
    with pytest.raises(ValueError, match="gradient='data'"):
        GDRegressor(gradient="data").fit(s)
    with pytest.raises(TypeError, match="no y"):
        GDRegressor().fit(s, np.ones(3))


@pytest.mark.parametrize("method", ["exact", "cg"])
def test_partial_fit_of_full_batch_methods_is_the_fit_on_all_rows_seen(method):
    X, Y = data(N=900, seed=4)
    model = GDRegressor(method=method, tol=1e-12, alpha=1e-3)
    for start in range(0, 900, 150):
        model.partial_fit(X[start : start + 150], Y[start : start + 150])
        ref = GDRegressor(method="exact", alpha=1e-3).fit(X[: start + 150], Y[: start + 150])
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-9)
        np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-9)
    assert model.statistics_.n_samples == 900
    model.fit(X[:10], Y[:10])  # a full fit starts over
    assert model._partial_statistics is None


def test_partial_fit_warm_starts_from_the_previous_coefficients():
    X, Y = data(N=4000, seed=6)
    model = GDRegressor(method="gd", tol=1e-8)
    model.partial_fit(X[:2000], Y[:2000])
    cold = GDRegressor(method="gd", tol=1e-8).fit(X, Y).n_iter_
    model.partial_fit(X[2000:], Y[2000:])
    assert model.n_iter_ < cold  # the second half changes the answer little
