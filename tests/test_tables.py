"""Real tables (issue 13): categorical columns, ids, missing values, delimiters, repeated options.

Every prediction is compared with scikit-learn's ``OneHotEncoder`` + ``LinearRegression`` on
the same rows (an independent computation: one-hot of every level, minimum-norm least squares).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from gradfit import DataFile, DataNote, GDRegressor, GradfitInputError, load_model, save_model
from gradfit.cli import main

CATEGORICAL = ["region", "sex", "smoker"]
NUMERIC = ["age", "bmi"]
RTOL = 1e-8


def messy(n: int = 80, seed: int = 1) -> pd.DataFrame:
    """An index, an id, two text columns, a boolean, a few missing values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"p{i:04d}" for i in range(n)],
            "region": rng.choice(["north", "east", "west", "south"], n),
            "sex": rng.choice(["female", "male"], n),
            "smoker": rng.choice([True, False], n),
            "age": rng.integers(20, 65, n).astype(float),
            "bmi": rng.normal(27, 4, n).round(1),
        }
    )
    frame["y"] = (
        1000
        + 30 * frame.age
        + 200 * (frame.bmi - 27)
        + 300 * (frame.region == "north")
        - 120 * (frame.region == "south")
        - 150 * (frame.sex == "male")
        + 2000 * frame.smoker
        + rng.normal(0, 100, n)
    ).round(2)
    frame.loc[[3, 17], "bmi"] = np.nan
    frame.loc[25, "region"] = np.nan
    frame.loc[40, "y"] = np.nan
    return frame


def reference(frame: pd.DataFrame, fit_intercept: bool = True):
    """scikit-learn's one-hot + least squares, fitted on the complete rows of ``frame``."""
    rows = frame[CATEGORICAL + NUMERIC + ["y"]].dropna()
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), CATEGORICAL), remainder="passthrough"),
        LinearRegression(fit_intercept=fit_intercept),
    )
    pipe.fit(rows[CATEGORICAL + NUMERIC], rows["y"])
    return pipe, rows


def close(a, b) -> None:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    assert a.shape == b.shape
    assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)) < RTOL


@pytest.fixture
def table(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = messy()
    path = tmp_path / "data.csv"
    frame.to_csv(path, sep=";")  # with pandas' index column (an empty header)
    return path, frame


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the command line, end to end ------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_cli_messy_table_matches_sklearn(table, tmp_path, capsys, stream) -> None:
    path, frame = table
    model = tmp_path / "model.gfm"
    preds = tmp_path / "train.csv"
    args = ["fit", path, "-t", "y", "--sep", ";", "--missing", "drop", "--exclude", "id"]
    args += ["-o", model, "--predictions", preds, "--json"] + (["--stream"] if stream else [])
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    summary = json.loads(out)
    pipe, rows = reference(frame)
    assert summary["n_samples"] == len(rows) and summary["rows_dropped"] == len(frame) - len(rows)
    assert summary["categorical"] == {
        "region": ["east", "north", "south", "west"],
        "sex": ["female", "male"],
    }
    coefficients = summary["scores"][0]["coefficients"]
    assert list(coefficients) == [
        "region=north",
        "region=south",
        "region=west",
        "sex=male",
        "smoker",
        "age",
        "bmi",
    ]
    # the index column (pandas wrote it with an empty header) is left out, with a note
    assert "left out column" in err and "row index" in err
    close(pd.read_csv(preds)["predicted_y"], pipe.predict(rows[CATEGORICAL + NUMERIC]))
    # coefficients against the reference level: differences of sklearn's one-hot ones
    onehot = dict(zip(pipe[0].get_feature_names_out(), pipe[-1].coef_, strict=True))
    east = onehot["onehotencoder__region_east"]
    assert coefficients["region=north"] == pytest.approx(
        onehot["onehotencoder__region_north"] - east, rel=1e-6, abs=1e-6
    )
    # predict on new rows with the same categories, in memory and streamed
    new = frame.dropna().sample(12, random_state=0).drop(columns=["y"])
    new_path = tmp_path / "new.csv"
    new.to_csv(new_path, index=False)
    for extra in ([], ["--stream"]):
        code, out, err = cli(capsys, "predict", model, new_path, *extra)
        assert code == 0, err
        predicted = pd.read_csv(__import__("io").StringIO(out))["predicted_y"]
        close(predicted, pipe.predict(new[CATEGORICAL + NUMERIC]))


@pytest.mark.parametrize("stream", [False, True])
def test_cli_unseen_level_is_an_error_or_the_reference_level(table, tmp_path, capsys, stream):
    path, frame = table
    model = tmp_path / "model.gfm"
    fit = ["fit", path, "-t", "y", "--sep", ";", "--missing", "drop", "-x", "id", "-o", model]
    assert cli(capsys, *fit, "-q")[0] == 0
    new = frame.dropna().head(6).drop(columns=["y"])
    new.loc[new.index[2], "region"] = "mars"
    new_path = tmp_path / "new.csv"
    new.to_csv(new_path, index=False)
    extra = ["--stream"] if stream else []
    out_path = tmp_path / "p.csv"
    code, _, err = cli(capsys, "predict", model, new_path, "-o", out_path, *extra)
    assert code == 2
    assert "line 4, column 'region' has the level 'mars', not seen in fitting" in err
    assert "--unknown zeros" in err and not out_path.exists()
    code, _, err = cli(capsys, "predict", model, new_path, "-o", out_path, "--unknown", "zeros")
    assert code == 0, err
    as_reference = new.copy()
    as_reference.loc[new.index[2], "region"] = "east"  # the reference level
    pipe, _ = reference(frame)
    close(pd.read_csv(out_path)["predicted_y"], pipe.predict(as_reference[CATEGORICAL + NUMERIC]))


def test_cli_messages_for_messy_tables(table, tmp_path, capsys) -> None:
    path, _frame = table
    # a ';' file read with ',': the target is not found, and the hint names ';'
    code, _, err = cli(capsys, "fit", path, "-t", "y")
    assert code == 2 and "--sep ';'" in err
    # missing values: counted, the first one named by its line (header = line 1)
    code, _, err = cli(capsys, "fit", path, "-t", "y", "--sep", ";", "-x", "id")
    assert code == 2
    assert "4 of 80 rows have missing values (the first: line 5, column 'bmi')" in err
    assert "--missing drop" in err
    # an id column of text: not one-hot encoded into one level per row
    code, _, err = cli(capsys, "fit", path, "-t", "y", "--sep", ";", "--missing", "drop")
    assert code == 2 and "'id'" in err and "looks like an id" in err and "--exclude id" in err
    # a level cap
    code, _, err = cli(
        capsys, "fit", path, "-t", "y", "--sep", ";", "--missing", "drop", "-x", "id",
        "--max-levels", "3",
    )  # fmt: skip
    assert code == 2 and "column 'region' has 4 distinct values, more than max_levels=3" in err


def test_repeated_options_extend_and_duplicates_are_errors(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "ta": X @ [1.0, 2.0], "tb": X @ [3.0, -1]})
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    # --target ta --target tb fits two targets (not ta as a feature)
    code, out, err = cli(capsys, "fit", path, "--target", "ta", "--target", "tb", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["targets"] == ["ta", "tb"] and summary["features"] == ["a", "b"]
    code, out, _ = cli(capsys, "fit", path, "-t", "ta", "-f", "a", "-f", "b", "--json")
    assert code == 0 and json.loads(out)["features"] == ["a", "b"]
    for args, words in (
        (["-t", "ta", "-t", "ta"], "target columns name 'ta' twice"),
        (["-t", "ta", "-f", "a", "a"], "feature columns name 'a' twice"),
        (["-t", "ta", "-x", "b", "-x", "b"], "excluded columns name 'b' twice"),
    ):
        code, _, err = cli(capsys, "fit", path, *args)
        assert code == 2 and words in err, err
    # a header naming a column twice (pandas would read the second as 'a.1')
    twice = tmp_path / "twice.csv"
    twice.write_text("a,a,y\n1,2,3\n4,5,6\n7,8,10\n")
    for extra in ([], ["--stream"]):
        code, _, err = cli(capsys, "fit", twice, "-t", "y", *extra)
        assert code == 2 and "'a'" in err and "twice" in err, err


def test_exclude_leaves_columns_out(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({"key": np.arange(1000, 1000 + n), "a": rng.normal(size=n)})
    frame["y"] = 2 * frame.a + 1
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    code, out, err = cli(capsys, "fit", path, "-t", "y", "--json")
    assert code == 0 and "'key' holds a different integer on every row" in err
    assert json.loads(out)["features"] == ["key", "a"]  # kept: a careful note, not a guess
    code, out, err = cli(capsys, "fit", path, "-t", "y", "--exclude", "key", "--json")
    assert code == 0 and json.loads(out)["features"] == ["a"] and "key" not in err


# -- the library ---------------------------------------------------------------------------------


def test_dataframe_fit_matches_sklearn_and_round_trips(tmp_path) -> None:
    frame = messy().dropna()
    X = frame[CATEGORICAL + NUMERIC]
    model = GDRegressor().fit(X, frame["y"])
    pipe, _rows = reference(frame)
    close(model.predict(X), pipe.predict(X))
    assert list(model.feature_names_in_) == CATEGORICAL + NUMERIC
    assert model.n_features_in_ == 5 and len(model.coef_) == len(model.coef_names_) == 7
    assert model.coef_names_[:4] == ["region=north", "region=south", "region=west", "sex=male"]
    # the model file keeps the levels (JSON, no pickle); predictions are the same
    path = save_model(model, tmp_path / "m.gfm")
    restored = load_model(path)
    close(restored.predict(X), pipe.predict(X))
    with pytest.raises(GradfitInputError, match="column 'sex' has the level 'other'"):
        restored.predict(X.assign(sex="other"))
    zeros = restored.predict(X.assign(sex="other"), unknown="zeros")
    close(zeros, pipe.predict(X.assign(sex="female")))


def test_dataframe_categorical_dtype_and_no_intercept() -> None:
    frame = messy().dropna()
    X = frame[CATEGORICAL + NUMERIC].astype({"region": "category"})
    model = GDRegressor(fit_intercept=False).fit(X, frame["y"])
    # without an intercept the first text column keeps every level
    assert model.coef_names_[:5] == [
        "region=east",
        "region=north",
        "region=south",
        "region=west",
        "sex=male",
    ]
    pipe, _ = reference(frame, fit_intercept=False)
    close(model.predict(X), pipe.predict(X))


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_streamed_file_matches_sklearn(tmp_path, kind) -> None:
    frame = messy(n=300, seed=2)
    path = tmp_path / f"data.{kind}"
    if kind == "parquet":
        frame.astype({"sex": "category"}).to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="|", index=False)
    sep = "|" if kind == "csv" else None
    model = GDRegressor().fit(
        path, None, target="y", exclude=["id"], missing="drop", sep=sep, block_rows=32
    )
    pipe, rows = reference(frame)
    assert model.rows_dropped_ == len(frame) - len(rows)
    assert list(model.feature_names_in_) == CATEGORICAL + NUMERIC
    close(model.predict(rows[CATEGORICAL + NUMERIC]), pipe.predict(rows[CATEGORICAL + NUMERIC]))
    # prediction streams the file too (the complete rows)
    complete = tmp_path / f"complete.{kind}"
    if kind == "parquet":
        rows.to_parquet(complete, index=False)
    else:
        rows.to_csv(complete, sep="|", index=False)
    predicted = model.predict(DataFile(complete, sep=sep, block_rows=16))
    close(predicted, pipe.predict(rows[CATEGORICAL + NUMERIC]))


def test_file_levels_cap_and_index_note(tmp_path) -> None:
    frame = messy(n=60).dropna()
    path = tmp_path / "d.csv"
    frame.to_csv(path)  # an index column with an empty header
    with pytest.raises(GradfitInputError, match="'id' has a different value on every one"):
        GDRegressor().fit(path, None, target="y")
    with pytest.warns(DataNote, match="row index"):
        model = GDRegressor().fit(path, None, target="y", exclude=["id"])
    assert list(model.feature_names_in_) == CATEGORICAL + NUMERIC
    with pytest.raises(GradfitInputError, match="more than max_levels=2"):
        GDRegressor().fit(path, None, target="y", exclude=["id"], max_levels=2)


def test_dataframe_missing_level_is_named() -> None:
    frame = messy().fillna({"bmi": 27.0, "y": 0.0})  # region is missing on row 25
    with pytest.raises(GradfitInputError, match="row 25, column 'region' is missing"):
        GDRegressor().fit(frame[CATEGORICAL + NUMERIC], frame["y"])


def test_line_numbers_and_mixed_columns(tmp_path, capsys) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,c,y\n1,u,1\n2,v,2\n3,u,x\n4,v,5\n")
    code, _, err = cli(capsys, "fit", path, "-t", "y")
    assert code == 2 and "line 4, column 'y' is not numeric: it holds 'x'" in err
    path.write_text("a,c,y\n1,u,1\n,v,2\n3,u,\n4,v,5\n")
    for extra in ([], ["--stream"]):
        code, _, err = cli(capsys, "fit", path, "-t", "y", *extra)
        assert code == 2, err
        assert "2 of 4 rows have missing values (the first: line 3, column 'a')" in err
    path.write_text("a,c,y\n1,u,1\n2,v,2\ninf,u,3\n4,v,5\n")
    code, _, err = cli(capsys, "fit", path, "-t", "y")
    assert code == 2 and "line 4, column 'a' holds inf" in err
    # a numeric column with a typo is not a categorical column of three levels
    path.write_text("a,c,y\n1,u,1\n2,v,2\n1_000,u,3\n4,v,5\n")
    for extra in ([], ["--stream"]):
        code, _, err = cli(capsys, "fit", path, "-t", "y", *extra)
        assert code == 2 and "'a'" in err and "not numeric" in err and "1_000" in err, err


def test_cli_no_intercept_matches_sklearn(table, tmp_path, capsys) -> None:
    path, frame = table
    preds = tmp_path / "p.csv"
    args = ["fit", path, "-t", "y", "--sep", ";", "--missing", "drop", "-x", "id"]
    code, out, err = cli(capsys, *args, "--no-intercept", "--predictions", preds, "--json")
    assert code == 0, err
    assert list(json.loads(out)["scores"][0]["coefficients"])[:4] == [
        "region=east",
        "region=north",
        "region=south",
        "region=west",
    ]
    pipe, rows = reference(frame, fit_intercept=False)
    close(pd.read_csv(preds)["predicted_y"], pipe.predict(rows[CATEGORICAL + NUMERIC]))


def test_predict_names_a_missing_feature_by_line(tmp_path, capsys) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,1\n2,2\n3,4\n")
    model = tmp_path / "m.gfm"
    assert cli(capsys, "fit", path, "-t", "y", "-o", model, "-q")[0] == 0
    new = tmp_path / "new.csv"
    new.write_text("a,b\n1,x\n,y\n3,z\n")
    code, _, err = cli(capsys, "predict", model, new)
    assert code == 2 and "1 of 3 rows miss a feature value (the first: line 3, column 'a')" in err


def test_dataframe_index_column_is_named() -> None:
    frame = messy().dropna().reset_index()
    frame = frame.rename(columns={"index": "Unnamed: 0"})
    with pytest.warns(DataNote, match="'Unnamed: 0' looks like a row index"):
        GDRegressor().fit(frame[["Unnamed: 0", *NUMERIC]], frame["y"])


def test_report_diagnose_and_streamed_predict_read_messy_tables(tmp_path: Path) -> None:
    # after the merge of issues 12 and 13: report takes the table options, the streamed
    # diagnose and report pass them to the file source, and streamed prediction names a
    # missing feature by its line as the in-memory one does (it predicted NaN, or reported an
    # overflow), writing nothing
    rng = np.random.default_rng(4)
    n = 120
    frame = pd.DataFrame({"region": rng.choice(["a", "b", "c"], n), "x": rng.normal(size=n)})
    frame["y"] = 2.0 * frame.x + (frame.region == "b") + rng.normal(0, 0.1, n)
    frame.loc[7, "x"] = np.nan
    path = tmp_path / "t.csv"
    frame.to_csv(path, sep=";", index=False)
    table = ["--sep", ";", "--missing", "drop"]
    model = tmp_path / "m.gfm"
    assert main(["fit", str(path), "-t", "y", *table, "-o", str(model), "-q"]) == 0
    for stream in ([], ["--stream"]):
        page = tmp_path / f"r{len(stream)}.html"
        assert main(["report", str(path), "-t", "y", *table, *stream, "-o", str(page), "-q"]) == 0
        assert page.exists()
        assert main(["diagnose", str(path), "-t", "y", *table, *stream, "--fit"]) == 0
        out = tmp_path / f"p{len(stream)}.csv"
        argv = ["predict", str(model), str(path), "--sep", ";", "-o", str(out), *stream]
        assert main(argv) == 2 and not out.exists()
