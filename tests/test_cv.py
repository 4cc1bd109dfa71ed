"""GDRegressorCV against scikit-learn's RidgeCV and GridSearchCV(Ridge), on every kind of input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold

from gradfit import GDRegressorCV, GradfitInputError, Statistics

ALPHAS = np.array([1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0])


def data(N=240, D=6, K=1, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * rng.uniform(0.5, 2.0, D) + shift
    W = rng.normal(size=(D, K)) * np.array([1.0, 0.5, 0.1, 0.0, 2.0, 0.0])[:D, None]
    Y = X @ W + rng.normal(size=(N, K)) * 1.5 + 1.0
    return X, (Y[:, 0] if K == 1 else Y)


def close(a, b, rtol=1e-8):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol)


# -- leave-one-out: RidgeCV(cv=None) ------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("K", [1, 3])
def test_loo_equals_ridgecv(fit_intercept, weighted, K):
    X, y = data(K=K)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X)) if weighted else None
    total = len(X) if w is None else w.sum()  # scikit-learn's alpha = gradfit's × Σw
    ours = GDRegressorCV(alphas=ALPHAS, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    ref = RidgeCV(alphas=ALPHAS * total, fit_intercept=fit_intercept, store_cv_results=True)
    ref.fit(X, y, sample_weight=w)
    assert ours.alpha_ * total == pytest.approx(ref.alpha_, rel=1e-12)
    close(ours.best_score_, ref.best_score_)
    per_alpha = -ref.cv_results_.reshape(len(X) * K, len(ALPHAS)).mean(axis=0)
    close(ours.cv_results_["mean_test_score"], per_alpha)
    close(ours.coef_, ref.coef_)
    close(ours.intercept_, ref.intercept_) if fit_intercept else None
    assert ours.cv_results_["rank_test_score"][ours.best_index_] == 1
    assert ours.n_passes_ == 2


@pytest.mark.parametrize("scoring", ["neg_mean_squared_error", "r2"])
@pytest.mark.parametrize("weighted", [False, True])
def test_loo_scorers_equal_ridgecv(scoring, weighted):
    X, y = data(K=2)
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(X)) if weighted else None
    total = len(X) if w is None else w.sum()
    for per_target in (False, True):
        ours = GDRegressorCV(alphas=ALPHAS, scoring=scoring, alpha_per_target=per_target)
        ours.fit(X, y, sample_weight=w)
        ref = RidgeCV(alphas=ALPHAS * total, scoring=scoring, alpha_per_target=per_target)
        ref.fit(X, y, sample_weight=w)
        close(np.asarray(ours.alpha_) * total, ref.alpha_, rtol=1e-12)
        close(ours.best_score_, ref.best_score_)
        close(ours.coef_, ref.coef_)


def test_loo_alpha_per_target_equals_ridgecv():
    X, Y = data(K=3, seed=4)
    Y[:, 1] *= 0.01  # different noise levels: different best alphas
    Y[:, 2] += 30 * np.random.default_rng(9).normal(size=len(Y))
    ours = GDRegressorCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y)
    ref = RidgeCV(alphas=ALPHAS * len(X), alpha_per_target=True, store_cv_results=True).fit(X, Y)
    close(ours.alpha_ * len(X), ref.alpha_, rtol=1e-12)
    assert len(set(np.asarray(ours.alpha_).tolist())) > 1
    close(ours.best_score_, ref.best_score_)
    close(ours.cv_results_["mean_test_score"], -ref.cv_results_.mean(axis=0).T)
    close(ours.coef_, ref.coef_)
    close(ours.intercept_, ref.intercept_)


def test_loo_is_the_mean_of_explicit_leave_one_out_refits():
    """Not only equal to RidgeCV: equal to N refits without each row (a ground truth)."""
    X, y = data(N=40, D=3, seed=5)
    alpha = 0.05
    errors = []
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        model = Ridge(alpha=alpha * len(X)).fit(X[keep], y[keep])
        errors.append((model.predict(X[i : i + 1])[0] - y[i]) ** 2)
    ours = GDRegressorCV(alphas=[alpha]).fit(X, y)
    close(ours.best_score_, -np.mean(errors), rtol=1e-10)


# -- K-fold: GridSearchCV(Ridge, cv=KFold(5)) ---------------------------------------------------


def grid(X, y, alphas_sk, scoring, fit_intercept=True, cv=None, w=None):
    search = GridSearchCV(
        Ridge(fit_intercept=fit_intercept, tol=1e-12),
        {"alpha": alphas_sk},
        cv=cv or KFold(5),
        scoring=scoring,
    )
    return search.fit(X, y, sample_weight=w)


def compare_results(ours, ref, n_splits=5):
    res = ours.cv_results_
    for key in ("mean_test_score", "std_test_score"):
        close(res[key], ref.cv_results_[key])
    for k in range(n_splits):
        close(res[f"split{k}_test_score"], ref.cv_results_[f"split{k}_test_score"])
    np.testing.assert_array_equal(res["rank_test_score"], ref.cv_results_["rank_test_score"])
    assert ours.best_index_ == ref.best_index_
    close(ours.best_score_, ref.best_score_)


@pytest.mark.parametrize("scoring", [None, "neg_mean_squared_error", "r2"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("K", [1, 2])
def test_kfold_equals_gridsearchcv(scoring, fit_intercept, K):
    X, y = data(N=250, K=K)  # 250 = 5 × 50: every training fold has 200 rows
    ours = GDRegressorCV(alphas=ALPHAS, cv=5, scoring=scoring, fit_intercept=fit_intercept)
    ours.fit(X, y)
    ref = grid(X, y, ALPHAS * 200, scoring, fit_intercept)
    compare_results(ours, ref)
    close(ours.cv_results_["param_alpha"] * 200, np.asarray(ref.cv_results_["param_alpha"]), 1e-15)
    assert [p["alpha"] * 200 for p in ours.cv_results_["params"]] == pytest.approx(
        [p["alpha"] for p in ref.cv_results_["params"]], rel=1e-15
    )
    assert ours.n_passes_ == 1
    # the refit is on all rows at the same gradfit alpha: scikit-learn's alpha × N
    final = Ridge(alpha=ours.alpha_ * len(X), fit_intercept=fit_intercept).fit(X, y)
    close(ours.coef_, final.coef_)


def test_kfold_with_weights_equals_gridsearchcv():
    """Weighted training and weighted test scores, as GridSearchCV routes sample_weight."""
    X, y = data(N=250, K=2, seed=3)
    pattern = np.random.default_rng(3).uniform(0.1, 4.0, 50)
    w = np.tile(pattern, 5)  # every fold has the same weight sum, so one sklearn alpha per grid
    train_weight = 4 * pattern.sum()
    for scoring in ("r2", "neg_mean_squared_error"):
        ours = GDRegressorCV(alphas=ALPHAS, cv=5, scoring=scoring).fit(X, y, sample_weight=w)
        ref = grid(X, y, ALPHAS * train_weight, scoring, w=w)
        compare_results(ours, ref)


def test_kfold_uneven_folds_and_a_splitter_object():
    X, y = data(N=203)  # folds of 41, 41, 41, 40, 40 rows
    splitter = KFold(5, shuffle=True, random_state=7)
    ours = GDRegressorCV(alphas=ALPHAS, cv=splitter, scoring="neg_mean_squared_error").fit(X, y)
    for k, (train, _) in enumerate(splitter.split(X)):
        # each fold at its own sklearn alpha (gradfit alpha × N_train): compare fold by fold
        ref = grid(X, y, ALPHAS * len(train), "neg_mean_squared_error", cv=splitter)
        close(ours.cv_results_[f"split{k}_test_score"], ref.cv_results_[f"split{k}_test_score"])


def test_kfold_alpha_per_target_is_per_target_gridsearch():
    X, Y = data(N=250, K=2, seed=8)
    Y[:, 1] += 20 * np.random.default_rng(0).normal(size=len(Y))
    ours = GDRegressorCV(alphas=ALPHAS, cv=5, alpha_per_target=True).fit(X, Y)
    for k in range(2):
        ref = grid(X, Y[:, k], ALPHAS * 200, None)
        close(ours.cv_results_["mean_test_score"][:, k], ref.cv_results_["mean_test_score"])
        assert ours.alpha_[k] * 200 == pytest.approx(ref.best_params_["alpha"], rel=1e-12)
        final = Ridge(alpha=ours.alpha_[k] * len(X)).fit(X, Y[:, k])
        close(ours.coef_[k], final.coef_)


def test_non_partition_splits_are_computed_directly():
    from sklearn.model_selection import TimeSeriesSplit

    X, y = data(N=120)
    splitter = TimeSeriesSplit(3)
    ours = GDRegressorCV(alphas=ALPHAS, cv=splitter, scoring="r2").fit(X, y)
    for k, (train, _) in enumerate(splitter.split(X)):
        ref = grid(X, y, ALPHAS * len(train), "r2", cv=splitter)
        close(ours.cv_results_[f"split{k}_test_score"], ref.cv_results_[f"split{k}_test_score"])


# -- hashed folds, edges ---------------------------------------------------------------------------


def test_shuffled_folds_are_a_seeded_hash_of_the_row_index():
    X, y = data(N=400)
    a = GDRegressorCV(alphas=ALPHAS, cv=4, shuffle=True, random_state=3).fit(X, y)
    b = GDRegressorCV(alphas=ALPHAS, cv=4, shuffle=True, random_state=3).fit(X, y)
    c = GDRegressorCV(alphas=ALPHAS, cv=4, shuffle=True, random_state=4).fit(X, y)
    close(a.cv_results_["split0_test_score"], b.cv_results_["split0_test_score"], rtol=0)
    assert not np.allclose(a.cv_results_["split0_test_score"], c.cv_results_["split0_test_score"])
    # the same folds given explicitly to a splitter-free GridSearchCV
    from gradfit.statistics import hashed_folds

    fold = hashed_folds(4, 3)(0, len(X))
    splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(4)]
    ours = GDRegressorCV(alphas=ALPHAS, cv=splits, scoring="r2").fit(X, y)
    close(ours.cv_results_["mean_test_score"], a.cv_results_["mean_test_score"], rtol=1e-12)


def test_singular_problem_takes_the_minimum_norm_answer():
    X, y = data(N=60, D=3)
    X = np.column_stack([X, X[:, 0] + X[:, 1]])  # collinear
    model = GDRegressorCV(alphas=[0.0], cv=3).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    close(model.coef_, np.linalg.pinv(Xc) @ yc, rtol=1e-7)


def test_bad_settings_say_what_to_do():
    X, y = data(N=20)
    with pytest.raises(ValueError, match="scoring="):
        GDRegressorCV(scoring="accuracy").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 folds"):
        GDRegressorCV(cv=1).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        GDRegressorCV(alphas=[-1.0]).fit(X, y)
    with pytest.raises(GradfitInputError, match="fold 1 of 3 received no rows"):
        GDRegressorCV(cv=3, shuffle=True).fit(X[:2], y[:2])


def test_default_grid_follows_the_data_scale():
    X, y = data()
    a = GDRegressorCV().fit(X, y)
    b = GDRegressorCV().fit(X * 100.0, y)
    close(b.alphas_, a.alphas_ * 1e4, rtol=1e-10)
    assert a.alpha_ * 1e4 == pytest.approx(b.alpha_, rel=1e-10)
    assert len(a.alphas_) == 30


# -- the same answer from every kind of input ------------------------------------------------------


def test_sparse_and_dataframe_inputs_give_the_array_answer():
    X, y = data(N=250, K=2)
    X[X < 3.0] = 0.0
    for cv in (None, 5):
        ref = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(X, y)
        for Xi in (sp.csr_matrix(X), pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])):
            got = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(Xi, y)
            close(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-10)
            close(got.coef_, ref.coef_, 1e-10)
            close(got.predict(Xi), ref.predict(X), 1e-10)
        sk = grid(sp.csr_matrix(X), y, ALPHAS * 200, None) if cv else None
        if sk is not None:
            close(ref.cv_results_["mean_test_score"], sk.cv_results_["mean_test_score"], 1e-7)


def test_torch_input_gives_the_array_answer():
    torch = pytest.importorskip("torch")
    X, y = data(N=250, K=2)
    for cv in (None, 5):
        ref = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(X, y)
        got = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(torch.from_numpy(X), torch.from_numpy(y))
        close(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-10)
        close(got.coef_, ref.coef_, 1e-10)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
@pytest.mark.parametrize("cv", [None, 5])
def test_files_give_the_array_answer(tmp_path, suffix, cv):
    X, y = data(N=300)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["y"] = y
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    else:
        pytest.importorskip("pyarrow")
        frame.to_parquet(path)
    ref = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(X, y)
    got = GDRegressorCV(alphas=ALPHAS, cv=cv).fit(str(path), target="y", block_rows=37)
    close(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-10)
    close(got.coef_, ref.coef_, 1e-10)
    assert list(got.feature_names_in_) == list(frame.columns[:-1])
    close(got.predict(str(path)), ref.predict(X), 1e-10)
    shuffled = GDRegressorCV(alphas=ALPHAS, cv=5, shuffle=True, random_state=1)
    in_memory = GDRegressorCV(alphas=ALPHAS, cv=5, shuffle=True, random_state=1).fit(X, y)
    shuffled.fit(str(path), target="y", block_rows=50)
    close(
        shuffled.cv_results_["split3_test_score"], in_memory.cv_results_["split3_test_score"], 1e-10
    )


def test_statistics_of_the_cv_are_kept_and_refit():
    from gradfit import GDRegressor

    X, y = data()
    cv = GDRegressorCV(alphas=ALPHAS, cv=5).fit(X, y)
    assert isinstance(cv.statistics_, Statistics)
    model = GDRegressor(method="exact", alpha=cv.alpha_, standardize=False).fit(cv.statistics_)
    close(model.coef_, cv.coef_, rtol=1e-9)


# -- Dask: the K-fold statistics in one compute ---------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.slow
def test_dask_gives_the_array_answer_with_one_compute_for_kfold(client):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    import gradfit.sources.dask as gdask

    X, Y = data(N=300, K=2)
    Xd, Yd = da.from_array(X, chunks=(70, 6)), da.from_array(Y, chunks=(70, 2))
    for cv, shuffle in ((5, False), (5, True), (None, False)):
        ref = GDRegressorCV(alphas=ALPHAS, cv=cv, shuffle=shuffle).fit(X, Y)
        before = gdask.ROUND_TRIPS
        got = GDRegressorCV(alphas=ALPHAS, cv=cv, shuffle=shuffle).fit(Xd, Yd)
        assert gdask.ROUND_TRIPS - before == (1 if cv else 2)
        close(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-10)
        close(got.coef_, ref.coef_, 1e-10)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcdef")), npartitions=3)
    target = dd.from_pandas(pd.Series(Y[:, 0], name="y"), npartitions=3)
    ref = GDRegressorCV(alphas=ALPHAS, cv=5, shuffle=True).fit(X, Y[:, 0])
    got = GDRegressorCV(alphas=ALPHAS, cv=5, shuffle=True).fit(frame, target)
    close(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-10)
    assert list(got.feature_names_in_) == list("abcdef")
    close(np.asarray(got.predict(frame).compute()), ref.predict(X), 1e-10)
    # contiguous folds need the partition lengths, unknown for a DataFrame: one counting compute
    ref = GDRegressorCV(alphas=ALPHAS, cv=5).fit(X, Y[:, 0])
    before = gdask.ROUND_TRIPS
    got = GDRegressorCV(alphas=ALPHAS, cv=5).fit(frame, target)
    assert gdask.ROUND_TRIPS - before == 2
    close(got.cv_results_["split4_test_score"], ref.cv_results_["split4_test_score"], 1e-10)


# -- the command line and the plot -----------------------------------------------------------------


def test_cli_fit_alpha_auto_uses_the_cv_alpha_and_reports_the_curve(tmp_path, monkeypatch, capsys):
    import json

    from gradfit.cli import main

    X, y = data(N=200)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    frame["y"] = y
    frame.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    monkeypatch.chdir(tmp_path)
    alphas = ["0.001", "0.01", "0.1", "1"]
    code = main(
        [
            "fit",
            "d.csv",
            "-t",
            "y",
            "--alpha",
            "auto",
            "--alphas",
            *alphas,
            "--cv",
            "5",
            "--json",
            "--report",
            "r.html",
            "--no-explain",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    ref = GDRegressorCV(alphas=[float(a) for a in alphas], cv=5).fit(X, y)
    assert summary["alpha_search"]["alpha"] == pytest.approx(ref.alpha_, rel=1e-12)
    assert summary["params"]["alpha"] == pytest.approx(ref.alpha_, rel=1e-12)
    close(summary["alpha_search"]["mean_test_score"], ref.cv_results_["mean_test_score"], 1e-9)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Choosing alpha" in page and "5-fold cross-validation over 4 alphas" in page
    assert main(["fit", "d.csv", "-t", "y", "--alphas", "1", "2"]) == 2
    assert "add --alpha auto" in capsys.readouterr().err
    assert main(["report", "d.csv", "-t", "y", "--cv", "5"]) == 2  # fit --cv K: held-out scores
    assert "add --alpha auto" in capsys.readouterr().err
    assert main(["fit", "d.csv", "-t", "y", "--alpha", "auto", "--alphas", "100", "1000"]) == 0
    assert "it is the smallest alpha tried" in capsys.readouterr().err


def test_the_cv_plot_marks_the_chosen_alpha_and_the_band():
    from gradfit.plots import plot_cv_curve

    X, Y = data(K=2)
    search = GDRegressorCV(alphas=ALPHAS, cv=4, alpha_per_target=True).fit(X, Y)
    ax = plot_cv_curve(search, target_names=["a", "b"])
    chosen = [line for line in ax.lines if line.get_gid().startswith("chosen")]
    assert [line.get_xdata()[0] for line in chosen] == list(search.alpha_)
    assert len(ax.collections) == 2  # one ± standard-error band per target
    close(ax.lines[0].get_ydata(), search.cv_results_["mean_test_score"][:, 0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(GDRegressorCV(), on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert not failed


def test_cli_alpha_auto_on_a_streamed_file_equals_the_in_memory_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 15 through the CLI on a file read as a stream (--stream: as a file larger than
    # memory): the search reads the file once and the fit takes its statistics (no second
    # pass over the file); same alpha, scores and coefficients as the in-memory search
    import json

    from gradfit.cli import main

    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=400)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y", comments="")
    runs = []
    for extra in ([], ["--stream"]):
        code = main(["fit", str(path), "-t", "y", "--alpha", "auto", "--cv", "5", "--json", *extra])
        assert code == 0
        runs.append(json.loads(capsys.readouterr().out))
    memory, streamed = runs
    assert streamed["streamed"] is True
    assert streamed["alpha_search"]["alpha"] == memory["alpha_search"]["alpha"]
    np.testing.assert_allclose(
        streamed["alpha_search"]["mean_test_score"],
        memory["alpha_search"]["mean_test_score"],
        rtol=1e-10,
    )
    got = streamed["scores"][0]["coefficients"]
    want = memory["scores"][0]["coefficients"]
    np.testing.assert_allclose([got[k] for k in "abcd"], [want[k] for k in "abcd"], rtol=1e-9)


def test_text_columns_of_a_dataframe_are_encoded_as_gdregressor_encodes_them() -> None:
    # issue 13: GDRegressorCV refused a DataFrame with text columns that GDRegressor fits
    rng = np.random.default_rng(6)
    n = 200
    X = pd.DataFrame(
        {
            "region": rng.choice(["east", "north", "west"], n),
            "sex": pd.Categorical(rng.choice(["f", "m"], n)),
            "age": rng.normal(40, 10, n),
        }
    )
    y = 3.0 * (X.region == "north") - 1.0 * (X.sex == "m") + 0.1 * X.age + rng.normal(0, 0.1, n)
    dummies = pd.get_dummies(X, columns=["region", "sex"], drop_first=True).astype(float)
    for cv in (None, 5):
        model = GDRegressorCV(alphas=[1e-3, 1e-1, 10.0], cv=cv).fit(X, y)
        same = GDRegressorCV(alphas=[1e-3, 1e-1, 10.0], cv=cv).fit(dummies.to_numpy(), y)
        assert model.alpha_ == same.alpha_
        assert model.coef_names_ == ["region=north", "region=west", "sex=m", "age"]
        assert list(model.feature_names_in_) == ["region", "sex", "age"]
        np.testing.assert_allclose(
            model.predict(X), same.predict(dummies.to_numpy()), rtol=1e-10, atol=1e-10
        )
    unseen = X.head(2).assign(region=["south", "east"])
    with pytest.raises(GradfitInputError, match="south"):
        model.predict(unseen)
