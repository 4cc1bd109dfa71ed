"""Held-out scores: ``gradfit fit --test-size`` and ``--cv K``, checked against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_validate

from gradfit import load_model
from gradfit._holdout import HoldoutSource, held_out_rows
from gradfit._tables import open_table
from gradfit.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("holdout")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    y = X @ [2.0, -0.3, 4.0] + 1.5 + rng.normal(size=300)
    z = X @ [0.5, 0.1, -2.0] + rng.normal(size=300)
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "z": z})
    frame.to_csv(path / "data.csv", index=False)
    frame.to_parquet(path / "data.parquet")
    return path


def frame(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "data.csv")


def sklearn_scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    return (
        r2_score(y, p),
        float(np.sqrt(mean_squared_error(y, p))),
        mean_absolute_error(y, p),
    )


def test_the_split_depends_on_the_row_index_and_the_seed_only() -> None:
    whole = held_out_rows(0, 5000, 0.3, seed=11)
    pieces = np.concatenate([held_out_rows(s, 1000, 0.3, seed=11) for s in range(0, 5000, 1000)])
    assert np.array_equal(whole, pieces)
    assert 0.27 < whole.mean() < 0.33  # about test_size of the rows
    assert not np.array_equal(whole, held_out_rows(0, 5000, 0.3, seed=12))
    assert np.array_equal(whole, held_out_rows(0, 5000, 0.3, seed=11))  # reproducible


@pytest.mark.parametrize("stream", [False, True])
def test_test_size_scores_equal_sklearn_on_the_same_split(folder, capsys, stream) -> None:
    model_path = folder / f"m{int(stream)}.gfm"
    predictions = folder / f"p{int(stream)}.csv"
    argv = [
        "fit",
        str(folder / "data.csv"),
        "-t",
        "y",
        "-f",
        "a",
        "b",
        "c",
        "--test-size",
        "0.25",
        "--seed",
        "4",
    ]
    argv += ["--json", "-o", str(model_path), "--predictions", str(predictions), "--tol", "1e-10"]
    assert main(argv + (["--stream"] if stream else [])) == 0
    summary = json.loads(capsys.readouterr().out)
    data = frame(folder)
    X, y = data[["a", "b", "c"]].to_numpy(), data["y"].to_numpy()
    test = held_out_rows(0, len(X), 0.25, seed=4)
    # the saved model is sklearn's least squares on the training rows only
    reference = LinearRegression().fit(X[~test], y[~test])
    saved = load_model(model_path)
    np.testing.assert_allclose(saved.coef_, reference.coef_, rtol=1e-8)
    held = summary["heldout"]
    assert held["n_test"] == int(test.sum()) and held["n_train"] == int((~test).sum())
    assert summary["n_samples"] == held["n_train"] and held["model_fitted_on"] == "train"
    assert held["seed"] == 4 and held["test_size"] == 0.25
    r2, rmse, mae = sklearn_scores(y[test], reference.predict(X[test]))
    score = held["scores"][0]
    assert score["r2"] == pytest.approx(r2, rel=1e-8)
    assert score["rmse"] == pytest.approx(rmse, rel=1e-8)
    assert score["mae"] == pytest.approx(mae, rel=1e-8)
    r2, rmse, mae = sklearn_scores(y[~test], reference.predict(X[~test]))
    train = summary["scores"][0]
    assert train["r2"] == pytest.approx(r2, rel=1e-8)
    assert train["rmse"] == pytest.approx(rmse, rel=1e-8)
    assert train["mae"] == pytest.approx(mae, rel=1e-8)
    written = pd.read_csv(predictions)
    assert list(written.columns) == ["split", "predicted_y"]
    assert np.array_equal(written["split"].to_numpy() == "test", test)
    np.testing.assert_allclose(written["predicted_y"], reference.predict(X), rtol=1e-8)


def test_streamed_and_in_memory_hold_out_the_same_rows(folder, capsys, monkeypatch) -> None:
    outputs = []
    for stream in ([], ["--stream"]):
        target = folder / f"split{len(stream)}.csv"
        argv = ["fit", str(folder / "data.parquet"), "-t", "y", "z", "--test-size", "0.4", "-q"]
        assert main([*argv, "--predictions", str(target), *stream]) == 0
        outputs.append(pd.read_csv(target))
    assert outputs[0]["split"].tolist() == outputs[1]["split"].tolist()
    np.testing.assert_allclose(outputs[0].iloc[:, 1:], outputs[1].iloc[:, 1:], rtol=1e-9)
    capsys.readouterr()


def test_holdout_source_keeps_the_training_rows(folder) -> None:
    source = open_table(folder / "data.csv", ["y"], ["a", "b", "c"])
    source.block_rows = 37  # blocks of any size give the same split
    train = HoldoutSource(source, 0.5, seed=0, part="train")
    rows = np.concatenate([X for X, _, _ in train._blocks()])
    X = frame(folder)[["a", "b", "c"]].to_numpy()
    assert np.array_equal(rows, X[~held_out_rows(0, len(X), 0.5, 0)])
    assert train.rows_seen == len(X) and train.rows_kept == len(rows)


def test_text_summary_names_both_parts(folder, capsys) -> None:
    argv = ["fit", str(folder / "data.csv"), "-t", "y", "z", "--test-size", "0.2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    test = held_out_rows(0, 300, 0.2, seed=0)
    assert f"held out: {int(test.sum())} of 300 rows (--test-size 0.2, seed 0)" in out
    assert f"fitted on the other {int((~test).sum())} rows only" in out
    data = frame(folder)
    X = data[["a", "b", "c"]].to_numpy()
    for t in ("y", "z"):
        y = data[t].to_numpy()
        reference = LinearRegression().fit(X[~test], y[~test])
        r2, rmse, mae = sklearn_scores(y[test], reference.predict(X[test]))
        assert f"held out: R² = {r2:.6g}, RMSE = {rmse:.6g}, MAE = {mae:.6g}" in out


def test_cv_scores_equal_sklearn_cross_validate(folder, capsys) -> None:
    argv = [
        "fit",
        str(folder / "data.csv"),
        "-t",
        "y",
        "-f",
        "a",
        "b",
        "c",
        "--cv",
        "4",
        "--seed",
        "3",
    ]
    assert main([*argv, "--alpha", "0.5", "--json", "--tol", "1e-12"]) == 0
    cv = json.loads(capsys.readouterr().out)["cross_validation"]
    data = frame(folder)
    X, y = data[["a", "b", "c"]].to_numpy(), data["y"].to_numpy()
    # gradfit's alpha is (α/2)‖W‖² on the mean loss: Ridge's alpha is N_train·α
    folds = list(KFold(4, shuffle=True, random_state=3).split(X))
    r2, rmse, mae = [], [], []
    for train, test in folds:
        ridge = Ridge(alpha=0.5 * len(train)).fit(X[train], y[train])
        scores = sklearn_scores(y[test], ridge.predict(X[test]))
        r2.append(scores[0])
        rmse.append(scores[1])
        mae.append(scores[2])
    score = cv["scores"][0]
    assert cv["folds"] == 4 and cv["seed"] == 3 and cv["rows"] == "all"
    assert score["r2"] == pytest.approx(np.mean(r2), rel=1e-7)
    assert score["r2_std"] == pytest.approx(np.std(r2, ddof=1), rel=1e-6)
    assert score["rmse"] == pytest.approx(np.mean(rmse), rel=1e-7)
    assert score["mae"] == pytest.approx(np.mean(mae), rel=1e-7)
    plain = cross_validate(
        LinearRegression(), X, y, cv=KFold(4, shuffle=True, random_state=3), scoring="r2"
    )
    assert main([*argv, "--json", "--tol", "1e-12"]) == 0
    cv = json.loads(capsys.readouterr().out)["cross_validation"]
    assert cv["scores"][0]["r2"] == pytest.approx(plain["test_score"].mean(), rel=1e-8)


def test_report_shows_the_heldout_table(folder, capsys) -> None:
    report = folder / "r.html"
    argv = [
        "fit",
        str(folder / "data.csv"),
        "-t",
        "y",
        "-f",
        "a",
        "b",
        "c",
        "--test-size",
        "0.2",
        "--json",
    ]
    assert main([*argv, "--report", str(report), "--no-explain"]) == 0
    score = json.loads(capsys.readouterr().out)["heldout"]["scores"][0]
    page = report.read_text(encoding="utf-8")
    assert "Held-out scores" in page
    assert f"<td>{score['r2']:.6g}</td><td>{score['rmse']:.6g}</td>" in page


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--test-size", "1"], "strictly between 0 and 1"),
        (["--test-size", "0"], "strictly between 0 and 1"),
        (["--test-size", "0.001"], "raise --test-size"),
        (["--stream", "--cv", "3"], "use --test-size"),
        (["--stream", "--test-size", "0.2", "--alpha", "auto"], "held-out rows"),
        (["--stream", "--test-size", "0.2", "--inference", "HC1"], "--inference nonrobust"),
    ],
)
def test_bad_holdout_options_are_clear_errors(folder, capsys, extra, words) -> None:
    model = folder / "never.gfm"
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "-o", str(model), *extra]) == 2
    assert words in capsys.readouterr().err
    assert not model.exists()


def test_cv_without_alpha_auto_is_still_refused_by_report(folder, capsys) -> None:
    assert (
        main(["report", str(folder / "data.csv"), "-t", "y", "-f", "a", "b", "c", "--cv", "3"]) == 2
    )
    assert "add --alpha auto" in capsys.readouterr().err


@pytest.mark.parametrize("intercept", [[], ["--no-intercept"]])
def test_streamed_held_out_fit_of_a_messy_table_matches_memory_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], intercept: list[str]
) -> None:
    # issues 12 × 13: --test-size wraps the file source (HoldoutSource); the wrapper must pass
    # on the text encoding (with or without intercept), the rows dropped, and the report must
    # predict its encoded sample (it once failed: "X has 6 features, … expecting 5")
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame(
        {
            "region": rng.choice(["east", "north", "west"], n),
            "sex": rng.choice(["f", "m"], n),
            "age": rng.integers(18, 80, n).astype(float),
        }
    )
    frame["y"] = 100 + 300 * (frame.region == "north") + 30 * frame.age + rng.normal(0, 5, n)
    frame.loc[[5, 17], "age"] = np.nan
    path = tmp_path / "messy.csv"
    frame.to_csv(path, sep=";", index=False)
    base = ["fit", str(path), "-t", "y", "--sep", ";", "--missing", "drop", "--test-size", "0.2"]
    summaries = {}
    for mode in ([], ["--stream", "--report", str(tmp_path / "r.html")]):
        assert main([*base, *intercept, *mode, "--json"]) == 0
        summaries[bool(mode)] = json.loads(capsys.readouterr().out)
    memory, streamed = summaries[False], summaries[True]
    assert streamed["rows_dropped"] == memory["rows_dropped"] == 2
    assert streamed["heldout"]["n_test"] == memory["heldout"]["n_test"]
    a, b = memory["scores"][0], streamed["scores"][0]
    assert a["coefficients"].keys() == b["coefficients"].keys()
    for name, value in a["coefficients"].items():
        assert b["coefficients"][name] == pytest.approx(value, rel=1e-9, abs=1e-9)
    assert (tmp_path / "r.html").exists()
