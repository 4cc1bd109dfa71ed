"""gradfit explain / diagnose / check-gradient on a real CSV file, and the table reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from gradfit import GradfitInputError
from gradfit._io import read_table
from gradfit.cli import main
from gradfit.understand.render import fmt

SEED_MODULE = """
def gradient(X, y, w):
    score = X.dot(w)
    error = y - score
    return X.T.dot(error) / len(X)


def true_gradient(X, y, w):
    return X.T.dot(X.dot(w) - y) / len(X)


def summed(X, y, w):
    return X.T.dot(X.dot(w) - y)
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.to_csv(path / "diabetes.csv", index=False)
    (path / "grads.py").write_text(SEED_MODULE)
    bad = frame.head(20).copy()
    bad["sex"] = ["male", "female"] * 10
    bad.to_csv(path / "text.csv", index=False)
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gradfit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def centred_bounds() -> tuple[float, float]:
    X, _ = load_diabetes(return_X_y=True, scaled=False)
    Xc = X - X.mean(axis=0)
    Z = Xc / np.sqrt(np.mean(Xc**2, axis=0))
    return (
        2 / np.linalg.eigvalsh(Z.T @ Z / len(Z))[-1],
        2 / np.linalg.eigvalsh(X.T @ X / len(X))[-1],
    )


def test_explain_subprocess(folder) -> None:
    out = run(
        "explain",
        "diabetes.csv",
        "--target",
        "target",
        "--plot",
        "sweep.png",
        "--plot-paths",
        "paths.svg",
        cwd=folder,
    )
    assert out.returncode == 0, out.stderr
    bound, raw_bound = centred_bounds()
    assert "N = 442 rows" in out.stdout
    assert f"2/L = {fmt(bound)}" in out.stdout
    assert fmt(raw_bound, 6) in out.stdout  # the seed's loop on the raw file
    assert "UNSTABLE" in out.stdout
    assert "12 of 12 claims verified" in out.stdout
    assert (folder / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (folder / "paths.svg").read_text()


def test_diagnose_subprocess_with_fit_and_plot(folder) -> None:
    out = run(
        "diagnose",
        "diabetes.csv",
        "-t",
        "target",
        "--method",
        "gd",
        "--plot",
        "curve.png",
        cwd=folder,
    )
    assert out.returncode == 0, out.stderr
    bound, _ = centred_bounds()
    assert f"2/L = {fmt(bound)}" in out.stdout
    assert "After the fit" in out.stdout
    assert "did not converge" in out.stderr  # gd with 1000 iterations, κ ≈ 470
    assert (folder / "curve.png").stat().st_size > 1000


def test_check_gradient_subprocess(folder) -> None:
    out = run(
        "check-gradient", "grads.py:gradient", "--data", "diabetes.csv", "-t", "target", cwd=folder
    )
    assert out.returncode == 1
    assert "descent direction −G of ½·MSE" in out.stdout


def test_missing_column_subprocess(folder) -> None:
    out = run("diagnose", "diabetes.csv", "--target", "progression", cwd=folder)
    assert out.returncode == 2
    assert "'progression' is not in diabetes.csv" in out.stderr
    assert "age, sex, bmi" in out.stderr


def test_check_gradient_in_process(folder, capsys) -> None:
    data = str(folder / "diabetes.csv")
    assert (
        main(
            [
                "check-gradient",
                f"{folder / 'grads.py'}:true_gradient",
                "--data",
                data,
                "-t",
                "target",
            ]
        )
        == 0
    )
    assert "correct: it returns the gradient G" in capsys.readouterr().out
    assert (
        main(
            [
                "check-gradient",
                f"{folder / 'grads.py'}:summed",
                "--data",
                data,
                "-t",
                "target",
                "--format",
                "markdown",
            ]
        )
        == 1
    )
    assert "| mistakes | missing_mean |" in capsys.readouterr().out
    assert (
        main(["check-gradient", f"{folder / 'grads.py'}:nope", "--data", data, "-t", "target"]) == 2
    )
    assert "it defines: gradient, summed, true_gradient" in capsys.readouterr().err
    assert main(["check-gradient", "grads.py", "--data", data, "-t", "target"]) == 2
    assert "module.py:function" in capsys.readouterr().err


def test_reports_to_files_in_process(folder, capsys) -> None:
    data = str(folder / "diabetes.csv")
    html = folder / "explain.html"
    assert main(["explain", data, "-t", "target", "--format", "html", "-o", str(html)]) == 0
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    md = folder / "diagnose.md"
    code = main(
        [
            "diagnose",
            data,
            "-t",
            "target",
            "--fit",
            "--format",
            "markdown",
            "-o",
            str(md),
            "--no-standardize",
        ]
    )
    assert code == 0
    text = md.read_text(encoding="utf-8")
    assert "## After the fit" in text and "standardize=False" in text
    assert "Use standardize=True" in text
    capsys.readouterr()


def test_multi_output_plot(folder, capsys) -> None:
    data = str(folder / "diabetes.csv")
    target = str(folder / "outputs.svg")
    code = main(["diagnose", data, "-t", "target", "bmi", "--plot-outputs", target])
    assert code == 0
    assert "K = 2 output(s) (target, bmi)" in capsys.readouterr().out
    assert "<svg" in Path(target).read_text()


def test_non_numeric_column(folder, capsys) -> None:
    # a text column is one-hot encoded (issue 13); over --max-levels it is named
    assert main(["explain", str(folder / "text.csv"), "-t", "target", "--max-levels", "1"]) == 2
    err = capsys.readouterr().err
    assert "'sex'" in err and "2 distinct values" in err and "--max-levels" in err
    assert main(["explain", str(folder / "text.csv"), "-t", "target"]) == 0
    assert "sex=" in capsys.readouterr().out


def test_read_table(folder) -> None:
    X, Y, names, targets = read_table(folder / "diabetes.csv", ["target"], ["bmi", "bp"])
    assert X.shape == (442, 2) and Y.shape == (442, 1)
    assert (names, targets) == (["bmi", "bp"], ["target"])
    with pytest.raises(GradfitInputError, match="feature column 'height'"):
        read_table(folder / "diabetes.csv", "target", ["height"])
    with pytest.raises(GradfitInputError, match="both as feature and as target"):
        read_table(folder / "diabetes.csv", "target", ["target", "bmi"])
    with pytest.raises(FileNotFoundError):
        read_table(folder / "missing.csv", "target")
    with pytest.raises(GradfitInputError, match=r"\.csv, \.tsv or \.parquet"):
        read_table(folder / "grads.py", "target")


def test_parquet_needs_an_engine_or_works(folder) -> None:
    import pandas as pd

    frame = pd.read_csv(folder / "diabetes.csv")
    path = folder / "diabetes.parquet"
    try:
        frame.to_parquet(path)
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(GradfitInputError, match="pyarrow"):
            read_table(path, "target")
        return
    X, _, _, _ = read_table(path, "target")
    assert X.shape == (442, 10)
