"""gradfit.inference against statsmodels' OLS/WLS ``fit(cov_type=...)``, for every input form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

sm = pytest.importorskip("statsmodels.api")

from gradfit import GDRegressor, GradfitInputError, inference  # noqa: E402

COV_TYPES = ["nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"]
RTOL = 1e-8


def close(actual, expected, rtol=RTOL, what=""):
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, err_msg=what
    )


def reference(y, X, *, fit_intercept=True, weights=None, cov_type="nonrobust", groups=None):
    Z = sm.add_constant(X, has_constant="add") if fit_intercept else X
    model = sm.OLS(y, Z) if weights is None else sm.WLS(y, Z, weights=weights)
    kwds = {"groups": groups} if cov_type == "cluster" else {}
    return model.fit(cov_type=cov_type, cov_kwds=kwds)


def assert_matches(res, ref, rtol=RTOL, ci=True, f_rtol=RTOL):
    close(res.params, ref.params, rtol, "params")
    close(res.bse, ref.bse, rtol, "bse")
    close(res.tvalues, ref.tvalues, rtol, "tvalues")
    close(res.pvalues, ref.pvalues, rtol, "pvalues")
    if ci:
        # a bound is params ± q·bse, a difference: accurate to rtol of |params| + bse
        width = (np.abs(np.asarray(ref.params)) + np.asarray(ref.bse))[:, None]
        for level in (0.05, 0.1):
            err = np.abs(np.asarray(res.conf_int(level)) - np.asarray(ref.conf_int(level)))
            assert np.all(err <= rtol * width), f"conf_int({level})"
    # off-diagonal covariances are compared on the scale of √(C_ii C_jj) (a near-zero
    # correlation has no relative accuracy to speak of)
    C, R = np.asarray(res.cov_params()), np.asarray(ref.cov_params())
    scale = np.sqrt(np.outer(np.diag(R), np.diag(R)))
    assert np.max(np.abs(C - R) / scale) < rtol, "cov_params"
    close(res.rsquared, ref.rsquared, rtol, "rsquared")
    close(res.rsquared_adj, ref.rsquared_adj, rtol, "rsquared_adj")
    close(res.fvalue, ref.fvalue, f_rtol, "fvalue")
    close(res.f_pvalue, ref.f_pvalue, f_rtol, "f_pvalue")
    close(res.sigma2, ref.scale, rtol, "sigma2")
    close(res.ssr, ref.ssr, rtol, "ssr")
    assert res.df_resid == ref.df_resid
    assert res.df_model == ref.df_model
    assert res.use_t == ref.use_t
    assert res.nobs == ref.nobs


def heteroskedastic(N=120, D=3, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) + shift
    X[:, 0] += 5.0
    noise = rng.normal(size=N) * (0.5 + np.abs(X[:, 1]))
    y = X @ rng.normal(size=D) + 1.5 + noise
    groups = rng.integers(0, 11, size=N)
    weights = rng.uniform(0.2, 3.0, size=N)
    return X, y, groups, weights


# -- numbers: random problems, every cov_type, with/without intercept and weights ----------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_random_problem_equals_statsmodels(cov_type, fit_intercept, weighted):
    X, y, groups, weights = heteroskedastic(seed=3)
    w = weights if weighted else None
    model = GDRegressor(fit_intercept=fit_intercept, tol=1e-10).fit(X, y, sample_weight=w)
    g = groups if cov_type == "cluster" else None
    res = inference(model, X, y, sample_weight=w, cov_type=cov_type, groups=g)
    ref = reference(y, X, fit_intercept=fit_intercept, weights=w, cov_type=cov_type, groups=groups)
    assert_matches(res, ref)
    assert res.passes == (0 if cov_type == "nonrobust" else 1)
    if cov_type == "cluster":
        assert res.n_groups == 11


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "HC1", "HC2", "HC3"])
def test_longley_equals_statsmodels(cov_type):
    data = sm.datasets.longley.load_pandas()
    X, y = data.exog, data.endog
    model = GDRegressor(method="exact").fit(X, y)
    res = inference(model, X, y, cov_type=cov_type)
    # Longley is the classic ill-conditioned design: the robust Wald F inverts a covariance
    # with κ ≈ 1e9, so F agrees to ~6e-9 and its p-value (a far tail, 1e-11) to ~3e-8
    f_rtol = RTOL if cov_type == "nonrobust" else 1e-7
    assert_matches(res, reference(y.to_numpy(), X.to_numpy(), cov_type=cov_type), f_rtol=f_rtol)
    assert res.param_names == ["const", *X.columns]


@pytest.mark.parametrize("cov_type", ["cluster", "HC1", "nonrobust"])
def test_grunfeld_cluster_by_firm_named_column(cov_type):
    frame = sm.datasets.grunfeld.load_pandas().data
    X, y = frame[["value", "capital"]], frame["invest"]
    model = GDRegressor(method="exact").fit(X, y)
    groups = "firm" if cov_type == "cluster" else None
    # the groups column may be a column of the DataFrame given (it is not a feature)
    res = inference(model, frame.drop(columns=["invest"]), y, cov_type=cov_type, groups=groups)
    ref = reference(
        y.to_numpy(), X.to_numpy(), cov_type=cov_type, groups=pd.factorize(frame["firm"])[0]
    )
    assert_matches(res, ref)
    if cov_type == "cluster":
        assert res.n_groups == 11
        assert res.use_t is False


def test_use_t_for_clusters_uses_groups_minus_one_dof():
    X, y, groups, _ = heteroskedastic(seed=5)
    model = GDRegressor(method="exact").fit(X, y)
    res = inference(model, X, y, cov_type="cluster", groups=groups, use_t=True)
    Z = sm.add_constant(X)
    ref = sm.OLS(y, Z).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    close(res.pvalues, ref.pvalues)
    close(res.conf_int(), ref.conf_int())


def test_multi_output_is_one_table_per_output():
    X, y, groups, weights = heteroskedastic(seed=7)
    rng = np.random.default_rng(8)
    Y = np.column_stack([y, X @ [0.3, -1.0, 2.0] + rng.normal(size=len(y)) * (1 + X[:, 2] ** 2)])
    model = GDRegressor(method="exact").fit(X, Y, sample_weight=weights)
    for cov_type in COV_TYPES:
        res = inference(
            model,
            X,
            Y,
            sample_weight=weights,
            cov_type=cov_type,
            groups=groups if cov_type == "cluster" else None,
        )
        assert np.shape(res.params) == (4, 2)
        for k in range(2):
            ref = reference(Y[:, k], X, weights=weights, cov_type=cov_type, groups=groups)
            close(res.params[:, k], ref.params)
            close(res.bse[:, k], ref.bse)
            close(res.pvalues[:, k], ref.pvalues)
            close(res.cov_params(k), ref.cov_params())
            close(res.fvalue[k], ref.fvalue)
        frame = res.to_frame()
        assert frame.shape == (8, 8) and set(frame["output"]) == {"y0", "y1"}


def test_nonrobust_of_a_stats_fit_reads_no_data():
    X, y, _, _ = heteroskedastic()
    model = GDRegressor().fit(X, y)  # the default cg on the stats engine, tol 1e-6
    res = inference(model)
    assert res.passes == 0
    assert_matches(res, reference(y, X))


def test_model_fitted_on_the_data_path_needs_the_data():
    X, y, _, _ = heteroskedastic()
    model = GDRegressor(gradient="data", tol=1e-10).fit(X, y)
    with pytest.raises(GradfitInputError, match="pass the data it was fitted on"):
        inference(model)
    res = inference(model, X, y, cov_type="HC3")
    assert res.passes == 2  # the statistics, then the residuals
    assert_matches(res, reference(y, X, cov_type="HC3"))


def test_iterative_gap_is_reported():
    import warnings

    X, y, _, _ = heteroskedastic()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(method="gd", max_iter=2).fit(X, y)
    res = inference(model)
    assert res.coef_gap > 0.01
    assert any("standard errors" in n for n in res.notes)
    assert_matches(res, reference(y, X))  # the table is the exact solution's


# -- rank deficiency, refusals ---------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_rank_deficient_columns_are_not_identified(fit_intercept):
    X, y, groups, _ = heteroskedastic(seed=11)
    # without an intercept a constant column is an ordinary feature here, while statsmodels
    # would detect it as an implicit constant (centred R², F without it): use another column
    last = np.full(len(y), 3.0) if fit_intercept else np.random.default_rng(1).normal(size=len(y))
    full = np.column_stack([X[:, 0], X[:, 0] + 2 * X[:, 1], X[:, 1], X[:, 2], last])
    model = GDRegressor(method="exact", fit_intercept=fit_intercept).fit(full, y)
    for cov_type in COV_TYPES:
        res = inference(
            model, full, y, cov_type=cov_type, groups=groups if cov_type == "cluster" else None
        )
        # column 2 = a combination of columns 0 and 1; the constant column aliases the intercept
        dropped = [3, 5] if fit_intercept else [2]
        kept_cols = [0, 1, 3] if fit_intercept else [0, 1, 3, 4]
        off = 1 if fit_intercept else 0
        assert [i for i, ok in enumerate(res.identified) if not ok] == dropped
        assert np.all(np.isnan(res.params[dropped])) and np.all(np.isnan(res.bse[dropped]))
        assert "not identified" in res.to_text()
        ref = reference(
            y, full[:, kept_cols], fit_intercept=fit_intercept, cov_type=cov_type, groups=groups
        )
        keep = ([0] if fit_intercept else []) + [off + j for j in kept_cols]
        close(res.params[keep], ref.params)
        close(res.bse[keep], ref.bse)
        close(res.pvalues[keep], ref.pvalues)
        close(res.fvalue, ref.fvalue)
        assert res.df_resid == ref.df_resid


def test_ridge_is_refused():
    X, y, _, _ = heteroskedastic()
    model = GDRegressor(alpha=0.1).fit(X, y)
    with pytest.raises(GradfitInputError, match=r"alpha=0\.1.*Refit with alpha=0"):
        inference(model, X, y)


def test_bad_requests_are_refused_with_the_fix():
    X, y, groups, weights = heteroskedastic()
    model = GDRegressor().fit(X, y)
    with pytest.raises(GradfitInputError, match="not one of"):
        inference(model, X, y, cov_type="HC4")
    with pytest.raises(GradfitInputError, match="needs groups="):
        inference(model, X, y, cov_type="cluster")
    with pytest.raises(GradfitInputError, match="only used with cov_type='cluster'"):
        inference(model, X, y, groups=groups)
    with pytest.raises(GradfitInputError, match="needs the residuals"):
        inference(model, cov_type="HC1")
    with pytest.raises(GradfitInputError, match="rows"):
        inference(model, X[:-1], y[:-1], cov_type="HC1")
    with pytest.raises(GradfitInputError, match="sample_weight"):
        inference(model, X, y, sample_weight=weights, cov_type="HC1")
    with pytest.raises(GradfitInputError, match="not the data the model was fitted on"):
        inference(model, X + 1.0, y, cov_type="HC1")
    with pytest.raises(GradfitInputError, match="two clusters"):
        inference(model, X, y, cov_type="cluster", groups=np.zeros(len(y)))


def test_leverage_one_is_reported_not_hidden():
    X, y, _, _ = heteroskedastic(N=40)
    dummy = np.zeros(len(y))
    dummy[0] = 1.0  # a column that only row 0 has: that row alone determines its coefficient
    X = np.column_stack([X, dummy])
    model = GDRegressor(method="exact").fit(X, y)
    res = inference(model, X, y, cov_type="HC3")
    assert any("leverage" in n for n in res.notes)
    assert not np.all(np.isfinite(res.bse))  # 0/0 in the meat: undefined, not a number
    hc0 = inference(model, X, y, cov_type="HC0")  # HC0 does not divide by 1 − h
    assert not any("leverage" in n for n in hc0.notes)
    close(hc0.bse, reference(y, X, cov_type="HC0").bse, rtol=1e-6)


def test_no_residual_degrees_of_freedom_is_honest():
    X = np.array([[0.0], [1.0]])
    y = np.array([1.0, 3.0])
    res = inference(GDRegressor(method="exact").fit(X, y))
    assert res.df_resid == 0 and np.isnan(res.sigma2) and np.all(np.isnan(res.bse))
    assert any("df_resid" in n for n in res.notes)


# -- prediction intervals ----------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC3"])
def test_predict_interval_equals_statsmodels_get_prediction(cov_type):
    X, y, _, _ = heteroskedastic(seed=2)
    model = GDRegressor(method="exact").fit(X, y)
    res = inference(model, X, y, cov_type=cov_type)
    ref = reference(y, X, cov_type=cov_type)
    X_new = np.random.default_rng(4).normal(size=(7, 3)) * 2
    frame = ref.get_prediction(sm.add_constant(X_new, has_constant="add")).summary_frame(0.1)
    mean = res.predict_interval(X_new, alpha=0.1, kind="mean")
    close(mean[:, 0], frame["mean"])
    close(mean[:, 1], frame["mean_ci_lower"])
    close(mean[:, 2], frame["mean_ci_upper"])
    if cov_type == "nonrobust":
        obs = res.predict_interval(X_new, alpha=0.1, kind="obs")
        close(obs[:, 1], frame["obs_ci_lower"])
        close(obs[:, 2], frame["obs_ci_upper"])
    close(mean[:, 0], model.predict(X_new), rtol=1e-6)
    with pytest.raises(GradfitInputError, match="kind="):
        res.predict_interval(X_new, kind="median")


# -- presentation -------------------------------------------------------------------------------


def test_text_html_frame_and_json_agree():
    X, y, _, _ = heteroskedastic()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    res = inference(GDRegressor().fit(frame, y), frame, y, cov_type="HC1")
    text, html = res.to_text(), res._repr_html_()
    assert "cov_type=HC1" in text and "P>|z|" in text
    assert "<table>" in html and "<th>coef</th>" in html
    table = res.to_frame()
    assert list(table["term"]) == ["const", "a", "b", "c"]
    close(table["std_err"], res.bse)
    summary = res.summary_dict()
    assert summary["coefficients"][1]["term"] == "a" and summary["cov_type"] == "HC1"
    import json

    json.dumps(summary)


# -- every input form ------------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_sparse_equals_dense(cov_type):
    rng = np.random.default_rng(9)
    Xs = sp.random(300, 6, density=0.3, format="csr", random_state=9)
    X = Xs.toarray()
    y = X @ rng.normal(size=6) + rng.normal(size=300) * (1 + X[:, 0])
    w = rng.uniform(0.5, 2.0, size=300)
    groups = rng.integers(0, 15, size=300)
    g = groups if cov_type == "cluster" else None
    model = GDRegressor(method="exact").fit(Xs, y, sample_weight=w)
    res = inference(model, Xs, y, sample_weight=w, cov_type=cov_type, groups=g)
    assert_matches(res, reference(y, X, weights=w, cov_type=cov_type, groups=groups))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_files_stream_one_extra_pass(tmp_path, kind, cov_type):
    if kind == "parquet":
        pytest.importorskip("pyarrow")
    X, y, groups, _ = heteroskedastic(N=500, seed=13)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(firm=groups, y=y)
    path = tmp_path / f"data.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    model = GDRegressor(tol=1e-10).fit(
        str(path), None, target="y", features=["a", "b", "c"], block_rows=64
    )
    g = "firm" if cov_type == "cluster" else None
    res = inference(
        model,
        str(path),
        target="y",
        features=["a", "b", "c"],
        block_rows=64,
        cov_type=cov_type,
        groups=g,
    )
    assert res.passes == (0 if cov_type == "nonrobust" else 1)
    assert_matches(res, reference(y, X, cov_type=cov_type, groups=groups))
    assert res.param_names == ["const", "a", "b", "c"]
    # without the fit's statistics (a fresh model from the data path): statistics + residuals
    fresh = GDRegressor(gradient="data", tol=1e-10).fit(
        str(path), None, target="y", features=["a", "b", "c"]
    )
    res2 = inference(
        fresh, str(path), target="y", features=["a", "b", "c"], cov_type=cov_type, groups=g
    )
    assert res2.passes == (1 if cov_type == "nonrobust" else 2)
    assert_matches(res2, reference(y, X, cov_type=cov_type, groups=groups))


def test_file_with_other_rows_is_refused(tmp_path):
    X, y, _, _ = heteroskedastic(N=200)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    frame.to_csv(tmp_path / "fit.csv", index=False)
    frame.iloc[::-1].assign(a=frame["a"] * 2).to_csv(tmp_path / "other.csv", index=False)
    model = GDRegressor().fit(str(tmp_path / "fit.csv"), None, target="y")
    with pytest.raises(GradfitInputError, match="not the data the model was fitted on"):
        inference(model, str(tmp_path / "other.csv"), target="y", cov_type="HC0")


@pytest.mark.slow
def test_dask_one_compute_for_the_robust_pass():
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    import gradfit.sources.dask as gdask

    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        X, y, groups, _ = heteroskedastic(N=600, seed=17)
        Xd, yd = da.from_array(X, chunks=(150, 3)), da.from_array(y, chunks=150)
        model = GDRegressor(tol=1e-10).fit(Xd, yd)
        for cov_type in COV_TYPES:
            g = da.from_array(groups, chunks=150) if cov_type == "cluster" else None
            before = gdask.ROUND_TRIPS
            res = inference(model, Xd, yd, cov_type=cov_type, groups=g)
            assert gdask.ROUND_TRIPS - before == (0 if cov_type == "nonrobust" else 1)
            assert_matches(res, reference(y, X, cov_type=cov_type, groups=groups))
        # a Dask DataFrame with the cluster labels as a named column
        frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(firm=groups, y=y)
        ddf = dd.from_pandas(frame, npartitions=4)
        model = GDRegressor(tol=1e-10).fit(ddf[["a", "b", "c"]], ddf["y"])
        res = inference(
            model, ddf[["a", "b", "c", "firm"]], ddf["y"], cov_type="cluster", groups="firm"
        )
        assert_matches(res, reference(y, X, cov_type="cluster", groups=groups))
        # and without the fit's statistics: one reduction, then one compute for the residuals
        fresh = GDRegressor(gradient="data", tol=1e-10).fit(Xd, yd)
        before = gdask.ROUND_TRIPS
        res = inference(fresh, Xd, yd, cov_type="HC2")
        assert gdask.ROUND_TRIPS - before == 2
        assert_matches(res, reference(y, X, cov_type="HC2"))
    finally:
        client.close()
        cluster.close()


# -- the command line, model files and the report ----------------------------------------------


@pytest.fixture
def diabetes_csv(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    frame.insert(0, "clinic", np.arange(len(frame)) % 9)
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_cli_fit_inference_json_equals_statsmodels(diabetes_csv, capsys):
    import json

    from gradfit.cli import main

    path, frame = diabetes_csv
    features = [c for c in frame.columns if c not in ("clinic", "progression")]
    X, y = frame[features].to_numpy(), frame["progression"].to_numpy()
    for spec, cov_type in (
        ("nonrobust", "nonrobust"),
        ("hc3", "HC3"),
        ("cluster:clinic", "cluster"),
    ):
        code = main(
            ["fit", str(path), "-t", "progression", "--inference", spec, "--json"]
            + ([] if cov_type == "cluster" else ["-f", *features])
        )
        out = json.loads(capsys.readouterr().out)
        assert code == 0
        table = out["inference"]
        assert table["cov_type"] == cov_type and out["features"] == features
        ref = reference(y, X, cov_type=cov_type, groups=frame["clinic"].to_numpy())
        rows = table["coefficients"]
        assert [r["term"] for r in rows] == ["const", *features]
        close([r["estimate"] for r in rows], ref.params)
        close([r["std_err"] for r in rows], ref.bse)
        close([r["p_value"] for r in rows], ref.pvalues)
        close([[r["ci_lower"], r["ci_upper"]] for r in rows], ref.conf_int())
    code = main(["fit", str(path), "-t", "progression", "--inference", "HC1"])
    text = capsys.readouterr().out
    assert code == 0 and "cov_type=HC1" in text and "std err" in text


def test_cli_predict_interval_from_the_model_file(diabetes_csv, tmp_path, capsys):
    from gradfit.cli import main

    path, frame = diabetes_csv
    features = [c for c in frame.columns if c not in ("clinic", "progression")]
    model_path = tmp_path / "m.gfm"
    assert (
        main(
            [
                "fit",
                str(path),
                "-t",
                "progression",
                "-f",
                *features,
                "--inference",
                "nonrobust",
                "-o",
                str(model_path),
                "-q",
            ]
        )
        == 0
    )
    out = tmp_path / "p.csv"
    for kind, lower, upper in (
        ("obs", "obs_ci_lower", "obs_ci_upper"),
        ("mean", "mean_ci_lower", "mean_ci_upper"),
    ):
        assert (
            main(
                [
                    "predict",
                    str(model_path),
                    str(path),
                    "--interval",
                    "0.9",
                    "--interval-kind",
                    kind,
                    "-o",
                    str(out),
                    "-q",
                ]
            )
            == 0
        )
        got = pd.read_csv(out)
        X = frame[features].to_numpy()
        ref = reference(frame["progression"].to_numpy(), X)
        expected = ref.get_prediction(sm.add_constant(X)).summary_frame(0.1)
        # the model's own (iterative) prediction is the centre: compare to a fraction of the width
        width = (expected[upper] - expected[lower]).to_numpy()
        assert np.max(np.abs(got["lower_progression"] - expected[lower]) / width) < 1e-6
        assert np.max(np.abs(got["upper_progression"] - expected[upper]) / width) < 1e-6
    # a model saved without inference cannot give intervals: one line, exit 2
    plain = tmp_path / "plain.gfm"
    assert main(["fit", str(path), "-t", "progression", "-o", str(plain), "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(plain), str(path), "--interval", "0.95"]) == 2
    err = capsys.readouterr().err
    assert "--inference" in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_bad_inference_requests(diabetes_csv, capsys):
    from gradfit.cli import main

    path, _ = diabetes_csv
    assert main(["fit", str(path), "-t", "progression", "--inference", "HC4"]) == 2
    assert main(["fit", str(path), "-t", "progression", "--inference", "cluster:nope"]) == 2
    assert main(["fit", str(path), "-t", "progression", "--inference", "HC1", "--alpha", "1"]) == 2
    err = capsys.readouterr().err
    assert "HC4" in err and "'nope'" in err and "--alpha" in err


def test_model_file_keeps_inference_and_rejects_a_damaged_entry(tmp_path):
    from gradfit import load_model, save_model
    from gradfit.understand.inference import saved_intervals

    X, y, _, _ = heteroskedastic()
    model = GDRegressor(method="exact").fit(X, y)
    res = inference(model, X, y, cov_type="HC3")
    path = save_model(model, tmp_path / "m.gfm", inference=res)
    loaded = load_model(path)
    X_new = X[:5] * 1.5
    close(
        saved_intervals(loaded, X_new, 0.95, "mean")[:, 0, :],
        res.predict_interval(X_new, kind="mean"),
        rtol=1e-12,
    )
    # a file without the entry (as every file written before it) still loads
    assert not hasattr(load_model(save_model(model, tmp_path / "old.gfm")), "_saved_inference")
    from gradfit.understand.inference import check_saved

    arrays, meta = loaded._saved_inference
    broken = dict(arrays, **{"inference.sigma2": np.ones(3)})
    assert "inference.sigma2" in check_saved(broken, meta, 3, 1)


def test_report_shows_the_table_and_a_coefficient_plot(tmp_path):
    from gradfit.report import write_report

    X, y, _, _ = heteroskedastic()
    model = GDRegressor().fit(X, y)
    res = inference(model, X, y, cov_type="HC1")
    page = write_report(
        tmp_path / "r.html", model, X, y, explanation=False, inference=res
    ).read_text(encoding="utf-8")
    assert "<h3>Inference</h3>" in page and "alt='coefficient plot of y'" in page
    assert "cov_type=HC1" in page


def test_near_perfect_fit_recomputes_the_residuals_from_the_data():
    rng = np.random.default_rng(21)
    X = rng.normal(size=(300, 3)) + 10.0
    y = X @ [1.0, 2.0, 3.0] + 5.0 + 1e-6 * rng.normal(size=300)  # R² = 1 − 1e-13
    model = GDRegressor(method="exact").fit(X, y)
    alone = inference(model)  # yy − βᵀB has lost most of its digits: said, not hidden
    assert alone.passes == 0 and any("few correct digits" in n for n in alone.notes)
    res = inference(model, X, y)  # with the data: one pass for the residuals
    assert res.passes == 1 and not any("few correct digits" in n for n in res.notes)
    ref = reference(y, X)
    close(res.sigma2, ref.scale, rtol=1e-6)
    close(res.bse, ref.bse, rtol=1e-6)


def test_a_model_streamed_by_partial_fit_keeps_no_statistics():
    X, y, _, _ = heteroskedastic()
    model = GDRegressor(method="cg").fit(X, y)
    assert inference(model).passes == 0
    model.set_params(method="sgd").partial_fit(X, y)  # the coefficients are no longer the fit's
    with pytest.raises(GradfitInputError, match="kept no sufficient statistics"):
        inference(model)


@pytest.mark.parametrize("kind", ["nonrobust", "HC3"])
def test_cli_inference_on_a_streamed_file_equals_the_in_memory_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # a file read as a stream (--stream: as one larger than memory): nonrobust from the
    # fit's statistics, HC3 with one more pass; the same table as with the rows in memory
    import json

    from gradfit.cli import main

    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, -0.5, 2.0] + rng.normal(size=300) * (1 + np.abs(X[:, 0]))
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    runs = []
    for extra in ([], ["--stream"]):
        assert main(["fit", str(path), "-t", "y", "--inference", kind, "--json", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out)["inference"])
    memory, streamed = runs

    def numbers(value: object) -> list[float]:  # every number of the JSON, in order
        if isinstance(value, dict):
            return [x for key in sorted(value) for x in numbers(value[key])]
        if isinstance(value, list):
            return [x for item in value for x in numbers(item)]
        return [float(value)] if isinstance(value, int | float) else []

    assert memory.keys() == streamed.keys()
    np.testing.assert_allclose(numbers(streamed), numbers(memory), rtol=1e-9)
    assert main(["fit", str(path), "-t", "y", "--inference", "cluster:a", "--stream"]) == 2


def test_inference_after_a_power_of_two_rescaled_fit_never_gives_a_wrong_number() -> None:
    # issue 11 (9) fits columns beyond 1e±50 on exactly rescaled data; statistics of the
    # rescaled data once gave nonrobust standard errors in the rescaled units (1e99× off)
    from gradfit import GDRegressor, GradfitInputError, inference

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=200)
    model = GDRegressor().fit(X * 1e100, y * 1e-60)
    with pytest.raises(GradfitInputError, match="kept no sufficient statistics"):
        inference(model)
    with pytest.raises(GradfitInputError, match="too large"):
        inference(model, X * 1e100, y * 1e-60)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "HC3", "cluster"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_rows_of_weight_zero_are_no_observations(cov_type, kind):
    # R's lm drops rows of weight 0; counting them as degrees of freedom made standard errors
    # too small (statsmodels counts them). Invariant: adding rows of weight 0 changes nothing.
    rng = np.random.default_rng(11)
    n, d = 120, 3
    X = rng.normal(size=(n, d))
    y = X @ [1.0, -0.5, 2.0] + rng.normal(size=n) * (1 + np.abs(X[:, 0]))
    w = rng.uniform(0.5, 2.0, n)
    w[::4] = 0.0  # a quarter of the rows excluded
    groups = np.arange(n) % 7
    kept = w > 0
    extra = {"groups": groups} if cov_type == "cluster" else {}
    extra_kept = {"groups": groups[kept]} if cov_type == "cluster" else {}
    Xa = sp.csr_matrix(X) if kind == "sparse" else X
    Xk = sp.csr_matrix(X[kept]) if kind == "sparse" else X[kept]
    full = GDRegressor(method="exact").fit(Xa, y, sample_weight=w)
    sub = GDRegressor(method="exact").fit(Xk, y[kept], sample_weight=w[kept])
    a = inference(full, Xa, y, sample_weight=w, cov_type=cov_type, **extra)
    b = inference(sub, Xk, y[kept], sample_weight=w[kept], cov_type=cov_type, **extra_kept)
    assert a.nobs == b.nobs == int(kept.sum())
    assert a.df_resid == b.df_resid
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-8)
    assert any("weight 0" in note for note in a.notes)
    # from the statistics the fit kept (no data): the same
    if cov_type == "nonrobust" and kind == "dense":
        np.testing.assert_allclose(inference(full).bse, b.bse, rtol=1e-8)


def test_the_f_statistic_of_an_ill_conditioned_design_is_a_number():
    # a degree-10 polynomial: the Wald form's solve with C (κ ≈ 1e19) was refused and F was
    # NaN; nonrobust F is statsmodels' (ESS/df_model)/σ², robust F is solved on C's
    # correlation scale
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 3000)
    X = np.column_stack([x**k for k in range(1, 11)])
    y = np.sin(x) + 1e-3 * rng.normal(size=3000)
    model = GDRegressor().fit(X, y)
    res = inference(model, X, y)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    np.testing.assert_allclose(res.fvalue, ref.fvalue, rtol=1e-6)
    robust = inference(model, X, y, cov_type="HC1")
    assert np.isfinite(robust.fvalue) and robust.fvalue > 1e6
