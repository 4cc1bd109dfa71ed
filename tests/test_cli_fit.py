"""`gradfit fit`, `predict`, `report`, `sweep`: the real CLI in a subprocess on real files."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.metrics import r2_score

from gradfit import GDRegressor, load_model
from gradfit._io import read_table
from gradfit.cli import main

HAVE_PYARROW = True
try:
    import pyarrow  # noqa: F401
except ImportError:  # pragma: no cover - pyarrow is in the dev extra
    HAVE_PYARROW = False

COMMAND = [sys.executable, "-m", "gradfit.cli"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit")
    diabetes = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    diabetes.to_csv(path / "diabetes.csv", index=False)
    linnerud = load_linnerud(as_frame=True).frame
    linnerud.to_csv(path / "linnerud.csv", index=False)
    if HAVE_PYARROW:
        linnerud.to_parquet(path / "linnerud.parquet")
    new = diabetes.drop(columns=["progression"]).sample(frac=1.0, random_state=0).head(40)
    new.insert(0, "patient", [f"p{i}" for i in range(len(new))])
    new[list(reversed(new.columns))].to_csv(path / "new.csv", index=False)  # other order
    diabetes.drop(columns=["s6"]).to_csv(path / "nine.csv", index=False)
    text = diabetes.head(20).copy()
    text["sex"] = ["male", "female"] * 10
    text.to_csv(path / "text.csv", index=False)
    return path


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def run_all(
    cases: dict[str, list[str]], cwd: Path, timeout: float = 240
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run independent commands concurrently: each is a fresh interpreter, mostly importing."""
    processes = {
        name: subprocess.Popen(
            [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
        )
        for name, args in cases.items()
    }
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return results


GD = ["fit", "diabetes.csv", "-t", "progression", "--method", "gd", "--max-iter", "3000"]
FIRST = {  # need nothing but the data files
    "fit": [
        "fit",
        "diabetes.csv",
        "--target",
        "progression",
        "-o",
        "model.gfm",
        "--predictions",
        "train.csv",
        "--report",
        "report.html",
        "--no-explain",
    ],
    "parquet": [
        "fit",
        "linnerud.parquet" if HAVE_PYARROW else "linnerud.csv",
        "-t",
        "Weight",
        "Waist",
        "Pulse",
        "--method",
        "nesterov",
        "--tol",
        "1e-10",
        "--max-iter",
        "5000",
        "--json",
        "-o",
        "linnerud.gfm",
    ],
    "sweep": [
        "sweep",
        "diabetes.csv",
        "-t",
        "progression",
        "--factors",
        "0.5",
        "0.99",
        "1.01",
        "1.1",
        "--plot",
        "sweep.svg",
    ],
    "quiet": [*GD, "--quiet"],
    "verbose": [*GD, "--verbose"],
}
SECOND = {  # read model.gfm
    "predict": ["predict", "model.gfm", "diabetes.csv", "-o", "again.csv"],
    "report": ["report", "diabetes.csv", "--model", "model.gfm", "-o", "saved.html"],
}


@pytest.fixture(scope="module")
def runs(folder) -> dict[str, subprocess.CompletedProcess[str]]:
    results = run_all(FIRST, folder)
    assert results["fit"].returncode == 0, results["fit"].stderr
    damaged_models(folder)
    results.update(run_all({**SECOND, **{k: v for k, (v, _) in ERRORS.items()}}, folder))
    return results


@pytest.fixture(scope="module")
def fitted(runs) -> subprocess.CompletedProcess[str]:
    """One fit that writes all three files; several tests read them."""
    return runs["fit"]


def test_fit_summary_and_files(folder, fitted) -> None:
    X, Y, names, _ = read_table(folder / "diabetes.csv", "progression")
    model = GDRegressor().fit(X, Y[:, 0])
    out = fitted.stdout
    assert "N=442 rows, D=10 features, K=1 target (progression)" in out
    assert f"method cg: {model.stop_reason_}" in out
    assert f"iterations {model.n_iter_} in" in out
    r2 = r2_score(Y[:, 0], model.predict(X))
    rmse = float(np.sqrt(np.mean((Y[:, 0] - model.predict(X)) ** 2)))
    mae = float(np.mean(np.abs(Y[:, 0] - model.predict(X))))
    assert f"R² = {r2:.6g}, RMSE = {rmse:.6g}, MAE = {mae:.6g} (on the training data)" in out
    for name, value in zip(names, model.coef_, strict=True):
        assert f"{name:<11}  {value:>+.8g}" in out
    assert f"(intercept)  {model.intercept_:>+.8g}" in out
    assert "distance to the optimum: ‖W − W*‖/‖W*‖ = " in out
    for kind, name in (("model", "model.gfm"), ("predictions", "train.csv"), ("report", "html")):
        assert kind in out and name in out
    assert fitted.stderr == ""  # piped: no progress bar, and the fit converged
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2  # loss curve and residuals


def test_saved_model_predicts_exactly_in_a_new_process(folder, runs) -> None:
    X, Y, _, _ = read_table(folder / "diabetes.csv", "progression")
    expected = GDRegressor().fit(X, Y[:, 0]).predict(X)
    train = pd.read_csv(folder / "train.csv")
    assert list(train.columns) == ["predicted_progression"]
    assert np.array_equal(train["predicted_progression"].to_numpy(), expected)
    out = runs["predict"]
    assert out.returncode == 0, out.stderr
    assert "wrote 442 prediction(s) of progression to again.csv" in out.stdout
    assert "has the target progression: R² = 0.5" in out.stderr
    again = pd.read_csv(folder / "again.csv")["predicted_progression"].to_numpy()
    assert np.array_equal(again, expected)
    assert np.array_equal(load_model(folder / "model.gfm").predict(X), expected)


def test_predict_by_column_name_to_stdout(folder, fitted, capsys, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    assert main(["predict", "model.gfm", "new.csv", "--keep", "patient"]) == 0
    out = capsys.readouterr()
    got = pd.read_csv(io.StringIO(out.out))
    assert list(got.columns) == ["patient", "predicted_progression"]
    new = pd.read_csv(folder / "new.csv")
    features = list(pd.read_csv(folder / "diabetes.csv", nrows=0).columns[:-1])
    X = np.ascontiguousarray(new[features].to_numpy(np.float64))  # the layout the CLI reads
    expected = load_model(folder / "model.gfm").predict(X)
    assert np.array_equal(got["predicted_progression"].to_numpy(), expected)
    assert list(got["patient"]) == list(new["patient"])
    assert out.err == ""  # no target column in new.csv: nothing to score


def test_fit_three_targets_json(folder, runs) -> None:
    out = runs["parquet"]
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    data = load_linnerud()
    X, Y = data.data, data.target
    Xc = np.c_[X, np.ones(len(X))]
    exact = np.linalg.lstsq(Xc, Y, rcond=None)[0]
    assert summary["n_outputs"] == 3 and summary["targets"] == ["Weight", "Waist", "Pulse"]
    assert summary["converged"] and summary["params"]["method"] == "nesterov"
    assert summary["optimum"]["exact"] and summary["optimum"]["relative_distance"] < 1e-8
    for k, score in enumerate(summary["scores"]):
        coef = [score["coefficients"][n] for n in ("Chins", "Situps", "Jumps")]
        np.testing.assert_allclose(coef, exact[:3, k], rtol=1e-7, atol=1e-9)
        assert score["intercept"] == pytest.approx(exact[3, k], rel=1e-9)
        assert score["r2"] == pytest.approx(r2_score(Y[:, k], Xc @ exact[:, k]), abs=1e-10)
    assert summary["files"]["model"] == "linnerud.gfm"
    model = load_model(folder / "linnerud.gfm")
    assert model.coef_.shape == (3, 3)


def test_sweep_prints_and_draws(folder, runs) -> None:
    out = runs["sweep"]
    assert out.returncode == 0, out.stderr
    X, _, _, _ = read_table(folder / "diabetes.csv", "progression")
    Xc = X - X.mean(axis=0)
    Z = Xc / np.sqrt(np.mean(Xc**2, axis=0))
    bound = 2 / np.linalg.eigvalsh(Z.T @ Z / len(Z))[-1]
    assert f"2/L = {bound:.4g}" in out.stdout
    lines = [
        line
        for line in out.stdout.splitlines()
        if len(line.split()) > 3 and line.split()[3] in ("converges", "EXPLODES")
    ]
    assert [line.split()[3] for line in lines] == [
        "converges",
        "converges",
        "EXPLODES",
        "EXPLODES",
    ]
    assert "<svg" in (folder / "sweep.svg").read_text()


def test_report_of_a_saved_model(folder, runs) -> None:
    out = runs["report"]
    assert out.returncode == 0, out.stderr
    assert "wrote the report to saved.html" in out.stdout
    html = (folder / "saved.html").read_text(encoding="utf-8")
    assert "loaded from model.gfm" in html and "The gradient-descent loop explained" in html


def test_divergence_exit_status(folder, capsys, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    args = ["fit", "diabetes.csv", "-t", "progression", "--method", "gd", "--lr", "5"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "diverged at iteration 1" in err and "leave --learning-rate out" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- progress: a real pseudo-terminal, and pipes --------------------------------------------------
def run_in_pty(args: list[str], cwd: Path) -> tuple[int, str]:
    master, slave = pty.openpty()
    # a 160-column terminal (a fresh pseudo-terminal reports 0 columns)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.Popen(
        [*COMMAND, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, close_fds=True
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(folder) -> None:
    code, screen = run_in_pty(GD, folder)
    assert code == 0, screen
    redraws = [part for part in screen.split("\r") if part.startswith("it ")]
    assert len(redraws) >= 2  # the first iteration, then the final state
    assert "it    1/3000  loss " in redraws[0] and "ETA" in redraws[0]
    assert "‖G‖/‖G0‖" in redraws[0] and "] " in redraws[0] and "it/s" in redraws[0]
    assert "it 3000/3000" in redraws[-1] and "done in" in redraws[-1] and "it/s" in redraws[-1]
    assert "iterations 3000 in" in screen  # then the summary


def test_piped_runs_print_no_bar(runs) -> None:
    quiet, verbose = runs["quiet"], runs["verbose"]
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert verbose.returncode == 0
    assert "\r" not in verbose.stderr
    lines = [line for line in verbose.stderr.splitlines() if line.startswith("iteration")]
    assert lines[0].startswith("iteration 1/3000: loss ")
    assert lines[-1].startswith("iteration 3000/3000") and "done in" in lines[-1]
    assert "warning: GDRegressor did not converge" in verbose.stderr
    assert "--max-iter" in verbose.stderr  # the fix, in the command line's words


# -- errors -------------------------------------------------------------------------------------
ERRORS = {  # each in its own interpreter, as a person would meet it
    "missing file": (["fit", "nowhere.csv", "-t", "y"], "data file 'nowhere.csv' does not exist"),
    "missing target": (
        ["fit", "diabetes.csv", "-t", "y"],
        "target column 'y' is not in diabetes.csv; its columns are: age, sex",
    ),
    "text column over --max-levels": (
        ["fit", "text.csv", "-t", "progression", "--max-levels", "1"],
        "column 'sex' has 2 distinct values, more than max_levels=1",
    ),
    "bad option value": (
        ["fit", "diabetes.csv", "-t", "progression", "--max-iter", "-3"],
        "argument --max-iter: '-3': use a whole number of at least 0",
    ),
    "truncated model": (["predict", "truncated.gfm", "new.csv"], "truncated.gfm is truncated"),
    "corrupt model": (["predict", "corrupt.gfm", "new.csv"], "corrupt.gfm is corrupt"),
    "tampered model": (["predict", "tampered.gfm", "new.csv"], "has been modified since"),
    "too-new model": (["predict", "new-format.gfm", "new.csv"], "uses model format version 2"),
    "wrong feature count": (
        ["predict", "model.gfm", "nine.csv"],
        "the model needs 10 feature columns (age, sex, bmi, bp, s1, s2, s3, s4, s5, s6) but "
        "nine.csv lacks s6",
    ),
}
MORE_ERRORS = {  # the same handler, in this process (each interpreter costs a second or two)
    "bad method": (
        ["fit", "diabetes.csv", "-t", "progression", "--method", "adam"],
        "invalid choice: 'adam'",
    ),
    "options that do not go together": (
        ["fit", "diabetes.csv", "-t", "progression", "--learning-rate", "0.1"],
        "--learning-rate 0.1 needs --method gd, momentum, nesterov or sgd",
    ),
    "missing model": (["predict", "nothing.gfm", "diabetes.csv"], "model file 'nothing.gfm'"),
    "not a model": (["predict", "diabetes.csv", "new.csv"], "is not a gradfit model file"),
    "unwritable output": (
        ["fit", "diabetes.csv", "-t", "progression", "-o", "no/such/folder/m.gfm"],
        "the folder 'no/such/folder' does not exist",
    ),
    "report without target": (["report", "diabetes.csv"], "name the target column(s)"),
    "empty file": (["fit", "empty.csv", "-t", "y"], "empty.csv is empty"),
}


def damaged_models(folder: Path) -> None:
    import hashlib
    import zipfile

    data = (folder / "model.gfm").read_bytes()
    (folder / "truncated.gfm").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(folder / "model.gfm") as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
        info = zf.getinfo("arrays.npz")
    flipped = bytearray(data)
    flipped[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    (folder / "corrupt.gfm").write_bytes(bytes(flipped))

    def write(name: str, meta: dict, fix: bool) -> None:
        new = dict(parts, **{"metadata.json": json.dumps(meta).encode()})
        if fix:
            new["SHA256SUMS"] = "".join(
                f"{hashlib.sha256(new[m]).hexdigest()}  {m}\n"
                for m in ("metadata.json", "arrays.npz")
            ).encode()
        with zipfile.ZipFile(folder / name, "w") as zf:
            for member, content in new.items():
                zf.writestr(member, content)

    meta = json.loads(parts["metadata.json"])
    write("tampered.gfm", {**meta, "target_names": ["other"]}, fix=False)
    write("new-format.gfm", {**meta, "format_version": 2}, fix=True)


def check_error(code: int, stdout: str, stderr: str, args: list[str], expected: str) -> None:
    assert code == 2, (stdout, stderr)
    assert expected in stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith(f"gradfit {args[0]}: error: ")
    assert stdout == ""


@pytest.mark.parametrize("case", list(ERRORS))
def test_error_paths(runs, case) -> None:
    out = runs[case]
    check_error(out.returncode, out.stdout, out.stderr, *ERRORS[case])


@pytest.mark.parametrize("case", list(MORE_ERRORS))
def test_more_error_paths(folder, fitted, capsys, monkeypatch, case) -> None:
    monkeypatch.chdir(folder)
    (folder / "empty.csv").write_text("")
    args, expected = MORE_ERRORS[case]
    code = main(args)
    out = capsys.readouterr()
    check_error(code, out.out, out.err, args, expected)


def test_debug_shows_the_traceback(folder, capsys, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    assert main(["fit", "diabetes.csv", "-t", "y", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    columns = ", ".join(pd.read_csv(folder / "diabetes.csv", nrows=0).columns)
    assert err.rstrip().endswith("its columns are: " + columns)


def test_help_shows_examples(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "gradfit fit diabetes.csv" in text and "Exit status" in text
    commands = ["demo", "fit", "predict", "report", "sweep", "explain", "diagnose"]
    for command in [*commands, "check-gradient"]:
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "example" in text and f"gradfit {command}" in text.split("example")[-1], command


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "{model}", "{data}", "-o", "{data}"],
        ["predict", "{model}", "{data}", "-o", "{data}", "--stream"],
        ["fit", "{data}", "-t", "y", "--predictions", "{data}"],
        ["fit", "{data}", "-t", "y", "--predictions", "{data}", "--stream"],
        ["fit", "{data}", "-t", "y", "-o", "{link}"],
    ],
)
def test_an_output_that_is_the_data_file_is_refused_and_the_data_kept(
    tmp_path: Path, argv: list[str]
) -> None:
    # predict -o data.csv (or fit --predictions data.csv) replaced the data with predictions
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    np.savetxt(
        data, np.column_stack([X, X @ [1.0, 2.0]]), delimiter=",", header="a,b,y", comments=""
    )
    model = tmp_path / "m.gfm"
    assert main(["fit", str(data), "-t", "y", "-o", str(model), "-q"]) == 0
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    before = data.read_bytes()
    paths = {"model": str(model), "data": str(data), "link": str(link)}
    assert main([a.format(**paths) for a in argv]) == 2
    assert data.read_bytes() == before
