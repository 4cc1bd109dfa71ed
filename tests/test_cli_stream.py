"""``gradfit fit``/``predict`` streaming a file through its source (issue 12).

Files above ``GRADFIT_STREAM_ABOVE`` bytes (256 MiB by default), or with
``--stream``, are read block by block through the same source as
``GDRegressor().fit(path)``; the answers must be those of the in-memory run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradfit import GDRegressor, load_model
from gradfit.cli import main

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(900, 4)) * [1.0, 30.0, 0.2, 2.0] + [0.0, 100.0, -1.0, 5.0]
    Y = X @ [[0.5, 1.0], [-0.02, 0.0], [3.0, -1.0], [0.7, 0.2]] + [4.0, -2.0]
    Y += 0.05 * rng.normal(size=Y.shape)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"], frame["z"] = Y[:, 0], Y[:, 1]
    frame.to_csv(path / "data.csv", index=False, float_format="%.17g")
    frame.to_parquet(path / "data.parquet", row_group_size=200)
    np.save(path / "data.npy", frame.to_numpy())
    frame[["a", "b", "c", "d"]].to_csv(path / "new.csv", index=False, float_format="%.17g")
    return path


def arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(folder / "data.npy")
    return data[:, :4], data[:, 4:]


@pytest.mark.parametrize("kind", ["csv", "parquet", "npy"])
def test_streamed_fit_is_the_in_memory_fit(folder, kind, capsys) -> None:
    target = "4" if kind == "npy" else "y"
    model_path = folder / f"{kind}.gfm"
    predictions = folder / f"{kind}-train.csv"
    features = ["0", "1", "2", "3"] if kind == "npy" else ["a", "b", "c", "d"]
    argv = ["fit", str(folder / f"data.{kind}"), "-t", target, "-f", *features, "--stream"]
    argv += ["--tol", "1e-12", "--json", "-o", str(model_path), "--predictions", str(predictions)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    X, Y = arrays(folder)
    reference = GDRegressor(tol=1e-12).fit(X, Y[:, 0])
    names = ["x0", "x1", "x2", "x3"] if kind == "npy" else ["a", "b", "c", "d"]
    assert summary["features"] == names and summary["streamed"] is True
    assert summary["n_samples"] == 900 and summary["optimum"]["assessed"] is False
    assert summary["certificate"]["verified"] is True  # issue 11's check, on the streamed fit
    coef = [summary["scores"][0]["coefficients"][n] for n in names]
    np.testing.assert_allclose(coef, reference.coef_, rtol=1e-10)
    np.testing.assert_allclose(summary["scores"][0]["intercept"], reference.intercept_, rtol=1e-10)
    P = reference.predict(X)
    r2 = 1 - np.sum((Y[:, 0] - P) ** 2) / np.sum((Y[:, 0] - Y[:, 0].mean()) ** 2)
    assert summary["scores"][0]["r2"] == pytest.approx(r2, rel=1e-12)
    saved = load_model(model_path)
    written = pd.read_csv(predictions)
    assert list(written.columns) == [f"predicted_{'x4' if kind == 'npy' else 'y'}"]
    assert np.array_equal(written.iloc[:, 0].to_numpy(), saved.predict(np.ascontiguousarray(X)))


def test_streamed_fit_of_two_targets_prints_an_honest_summary(folder, capsys) -> None:
    argv = ["fit", str(folder / "data.parquet"), "-t", "y", "z", "--stream"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "N=900 rows, D=4 features, K=2 targets (y, z)" in out
    assert "distance to the optimum: not assessed (the data was streamed" in out
    X, Y = arrays(folder)
    reference = GDRegressor().fit(X, Y)
    for k, t in enumerate(("y", "z")):
        r2 = 1 - np.sum((Y[:, k] - reference.predict(X)[:, k]) ** 2) / np.sum(
            (Y[:, k] - Y[:, k].mean()) ** 2
        )
        assert f"target {t}: R² = {r2:.6g}" in out


def test_files_above_the_limit_stream_by_themselves(folder, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GRADFIT_STREAM_ABOVE", "0")
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["streamed"] is True
    monkeypatch.setenv("GRADFIT_STREAM_ABOVE", str(10**9))
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "z", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "streamed" not in summary and summary["optimum"]["exact"] is True


def test_streamed_errors_read_as_in_memory(folder, capsys) -> None:
    data = str(folder / "data.csv")
    messages = []
    for extra in ([], ["--stream"]):
        assert main(["fit", data, "-t", "nope", *extra]) == 2
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1]
    assert (
        "target column 'nope' is not in data.csv; its columns are: a, b, c, d, y, z"
        in (messages[1])
    )
    assert main(["fit", data, "-t", "y", "--stream", "--report", str(folder / "r.html")]) == 2
    assert "--report needs the rows in memory" in capsys.readouterr().err
    assert not (folder / "r.html").exists()


def test_streamed_prediction_is_the_in_memory_prediction(folder, capsys) -> None:
    model = str(folder / "two.gfm")
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "z", "-o", model, "-q"]) == 0
    outputs = {}
    notes = {}
    for name, extra in (("memory", []), ("stream", ["--stream"])):
        out = str(folder / f"pred-{name}.csv")
        assert main(["predict", model, str(folder / "data.csv"), "-o", out, *extra]) == 0
        captured = capsys.readouterr()
        outputs[name] = pd.read_csv(out)
        notes[name] = captured.err
        assert "wrote 900 prediction(s) of y, z to" in captured.out
    pd.testing.assert_frame_equal(outputs["memory"], outputs["stream"], check_exact=True)
    assert notes["memory"] == notes["stream"] and "has the target y: R² = " in notes["stream"]
    # to stdout, and to Parquet, without targets in the file
    assert main(["predict", model, str(folder / "new.csv"), "--stream"]) == 0
    captured = capsys.readouterr()
    streamed = pd.read_csv(__import__("io").StringIO(captured.out))
    pd.testing.assert_frame_equal(streamed, outputs["memory"], check_exact=True)
    assert captured.err == ""
    parquet = str(folder / "pred.parquet")
    assert main(["predict", model, str(folder / "new.csv"), "--stream", "-o", parquet]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), outputs["memory"], check_exact=True)
    assert main(["predict", model, str(folder / "new.csv"), "--stream", "--keep", "a"]) == 2
    assert "--keep is not available" in capsys.readouterr().err


def test_npy_in_memory_by_column_number(folder, capsys) -> None:
    assert main(["fit", str(folder / "data.npy"), "-t", "-2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["targets"] == ["x4"] and summary["features"] == ["x0", "x1", "x2", "x3", "x5"]
    assert summary["optimum"]["exact"] is True


def test_csv_text_reaches_arrow_in_small_blocks(folder, monkeypatch) -> None:
    """Arrow reads 32 text blocks ahead: the text block must stay small, the row block not."""
    import pyarrow.csv as pacsv

    from gradfit.sources import files as _datafile

    sizes = []
    original = pacsv.open_csv

    def spy(source, read_options=None, **kwargs):
        sizes.append(read_options.block_size)
        return original(source, read_options=read_options, **kwargs)

    monkeypatch.setattr(pacsv, "open_csv", spy)
    monkeypatch.setattr(_datafile, "CSV_BLOCK_BYTES", 4096)  # many text blocks per row block
    reader = _datafile.open_reader(folder / "data.csv")
    blocks = [X.shape[0] for X, _, _ in reader.blocks([0, 1, 2, 3], [4], 10**6)]
    assert sizes[-1] <= 4096
    assert blocks == [900]  # gathered into one block of rows after parsing
    blocks = [X.shape[0] for X, _, _ in reader.blocks([0, 1, 2, 3], [4], 400)]
    assert sum(blocks) == 900 and all(n >= 400 for n in blocks[:-1])
