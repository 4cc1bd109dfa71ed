"""Report, diagnose and ``predict --keep`` on streamed files (issue 12) and the report's
work on many rows (issue 13): the streamed numbers are the in-memory ones.

The files are small; ``--stream`` makes the command line read them as it reads a file
larger than memory. ``gradfit.understand.rows.SAMPLE_ROWS`` is lowered so that the seeded row
sample (residual plots, explanation) is a strict subset of the rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradfit import GDRegressor, Statistics
from gradfit.cli import main
from gradfit.report import fit_scores
from gradfit.understand.diagnose import diagnose, diagnose_statistics, statistics_loss
from gradfit.understand.rows import collect_rows, sample_indices

pytest.importorskip("pyarrow")

FEATURES = ["a", "b", "c", "d"]


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report-stream")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(900, 4)) * [1.0, 30.0, 0.2, 2.0] + [0.0, 100.0, -1.0, 5.0]
    Y = X @ [[0.5, 1.0], [-0.02, 0.0], [3.0, -1.0], [0.7, 0.2]] + [4.0, -2.0]
    Y += 0.3 * rng.normal(size=Y.shape)
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["y"], frame["z"] = Y[:, 0], Y[:, 1]
    frame.insert(0, "id", [f"=r{i}" if i % 7 == 0 else f"r{i}" for i in range(900)])
    frame.to_csv(path / "data.csv", index=False, float_format="%.17g")
    frame.to_parquet(path / "data.parquet", row_group_size=200)
    return path


def arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(folder / "data.csv")
    return frame[FEATURES].to_numpy(), frame[["y", "z"]].to_numpy()


@pytest.mark.parametrize(
    "options",
    [{}, {"fit_intercept": False}, {"alpha": 0.5}, {"standardize": False}],
    ids=["default", "no-intercept", "ridge", "unscaled"],
)
def test_diagnosis_from_statistics_is_the_in_memory_diagnosis(folder, options) -> None:
    X, Y = arrays(folder)
    # few iterations: a fit far enough from the optimum for f − f* to be well above rounding
    model = GDRegressor(method="gd", max_iter=2, **options)
    with pytest.warns(Warning):
        model.fit(X, Y)
    memory = diagnose(X, Y, model=model)
    streamed = diagnose_statistics(Statistics.from_data(X, Y), model=model)
    for a, b in (
        (memory.L, streamed.L),
        (memory.mu, streamed.mu),
        (memory.raw.kappa, streamed.raw.kappa),
        (memory.standardized.kappa, streamed.standardized.kappa),
    ):
        assert rel(a, b) < 1e-10
    assert memory.kinds == streamed.kinds
    assert memory.spectrum.rank == streamed.spectrum.rank == 4
    assert memory.predicted_iterations == pytest.approx(streamed.predicted_iterations, rel=1e-10)
    f, g = memory.fit, streamed.fit
    assert f is not None and g is not None and f.exact_loss is not None
    assert g.exact_loss is not None and g.exact_distance is not None
    assert rel(f.loss, g.loss) < 1e-10
    assert rel(f.exact_loss, g.exact_loss) < 1e-10
    # f − f* from the rows without cancellation: ½·mean((XΔ + δb)²) + ½α‖Δ‖² at the SVD's W*
    assert f.W_star is not None and f.b_star is not None
    W = model.coef_.T
    b = np.broadcast_to(model.intercept_, (2,))
    delta, shift = W - f.W_star, b - f.b_star
    alpha = options.get("alpha", 0.0)
    gap = 0.5 * np.sum(np.mean((X @ delta + shift) ** 2, axis=0)) + 0.5 * alpha * np.sum(delta**2)
    assert g.loss_gap is not None and rel(g.loss_gap, gap) < 1e-10 and g.gap == g.loss_gap
    # the in-memory difference of two losses agrees within its own rounding
    assert f.gap is not None
    assert abs(f.gap - gap) < 1e-10 * gap + 64 * np.finfo(float).eps * f.loss
    assert rel(f.exact_distance, g.exact_distance) < 1e-10
    assert rel(f.grad_norm, g.grad_norm) < 1e-10
    assert rel(f.distance_bound, g.distance_bound) < 1e-10
    np.testing.assert_allclose(g.W_star, f.W_star, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.b_star, f.b_star, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.relative_grad_norm, f.relative_grad_norm, rtol=1e-10)


def test_statistics_loss_is_the_mean_squared_error(folder) -> None:
    X, Y = arrays(folder)
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(4, 2)), rng.normal(size=2)
    direct = 0.5 * np.mean((X @ W + b - Y) ** 2, axis=0) + 0.5 * 0.3 * np.sum(W * W, axis=0)
    np.testing.assert_allclose(
        statistics_loss(Statistics.from_data(X, Y), W, b, 0.3), direct, rtol=1e-12
    )


def test_one_pass_keeps_statistics_ranges_scores_and_the_same_sample(folder) -> None:
    X, Y = arrays(folder)
    model = GDRegressor().fit(X, Y)
    blocks = [(X[i : i + 97], Y[i : i + 97]) for i in range(0, 900, 97)]
    seen = collect_rows(blocks, model=model, sample_rows=250)
    whole = collect_rows([(X, Y)], sample_rows=250)
    assert np.array_equal(seen.rows, whole.rows)
    assert np.array_equal(seen.rows, sample_indices(900, 250))
    assert np.array_equal(seen.X_sample, X[seen.rows]) and np.array_equal(
        seen.Y_sample, Y[seen.rows]
    )
    reference = Statistics.from_data(X, Y)
    np.testing.assert_allclose(seen.statistics.xx, reference.xx, rtol=1e-12)
    np.testing.assert_allclose(seen.statistics.xy, reference.xy, rtol=1e-12)
    np.testing.assert_allclose(seen.statistics.x_mean, reference.x_mean, rtol=1e-12)
    assert np.array_equal(seen.x_min, X.min(0)) and np.array_equal(seen.y_max, Y.max(0))
    r2, rmse = fit_scores(Y, model.predict(X))
    np.testing.assert_allclose(seen.r2, r2, rtol=1e-12)
    np.testing.assert_allclose(seen.rmse, rmse, rtol=1e-12)
    assert seen.sample_words() == "a seeded random sample of 250 of the 900 rows (seed 0)"


def _section(page: str, css: str) -> str:
    """From ``<section class='css'>`` to the next section of that level (or the page's end)."""
    start = page.index(f"<section class='{css}'>")
    ends = [page.find(f"<section class='{c}'>", start + 1) for c in ("diagnosis", "explanation")]
    ends = [e for e in ends if e > start] + [page.index("</body>")]
    return page[start : min(ends)]


def test_streamed_fit_report_matches_the_in_memory_one(folder, capsys, monkeypatch) -> None:
    monkeypatch.setattr("gradfit.understand.rows.SAMPLE_ROWS", 300)
    data = str(folder / "data.csv")
    pages = {}
    outs = {}
    for name, extra in (("memory", []), ("stream", ["--stream"])):
        page = folder / f"fit-{name}.html"
        argv = ["fit", data, "-t", "y", "-f", *FEATURES, "--tol", "1e-12", "--report", str(page)]
        assert main(argv + extra) == 0
        outs[name] = capsys.readouterr().out
        pages[name] = page.read_text(encoding="utf-8")
    for out in outs.values():  # the summary first, then the report's line
        assert out.index("target y: R²") < out.index("    report ") < len(out)
    words = "a seeded random sample of 300 of the 900 rows (seed 0)"
    for page in pages.values():
        assert words in page and "Residuals" in page
    # the explanation runs on the same rows, streamed or not: the same page section
    assert _section(pages["memory"], "explanation") == _section(pages["stream"], "explanation")
    # the streamed summary's optimum is computed (statistics), the in-memory one by SVD
    assert "W* = exact solve of the D×D system of the sufficient statistics" in outs["stream"]
    assert "W* = exact least squares by SVD" in outs["memory"]
    assert "the D×D system of the statistics" in _section(pages["stream"], "diagnosis")
    assert "the D×D system of the statistics" not in pages["memory"]


def test_streamed_fit_json_lists_the_report(folder, capsys) -> None:
    page = folder / "json.html"
    argv = ["fit", str(folder / "data.parquet"), "-t", "y", "z", "-f", *FEATURES, "--stream"]
    assert main([*argv, "--json", "--report", str(page)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"]["report"] == str(page) and page.exists()
    X, Y = arrays(folder)
    model = GDRegressor().fit(X, Y)
    memory = diagnose(X, Y, model=model)
    assert memory.fit is not None and memory.fit.exact_loss is not None
    assert rel(summary["loss"], memory.fit.loss) < 1e-10


def _table_rows(text: str) -> list[str]:
    """The curvature and the predicted-iterations tables of ``gradfit diagnose``'s text."""
    keep = ("centred", "unscaled", "standardized", "gd ", "momentum", "nesterov", "cg ")
    return [line for line in text.splitlines() if line.strip().startswith(keep)]


@pytest.mark.parametrize("extra", [[], ["--fit", "--method", "gd", "--max-iter", "5"]])
def test_streamed_diagnose_prints_the_in_memory_numbers(folder, capsys, extra) -> None:
    data = str(folder / "data.csv")
    texts = {}
    for name, stream in (("memory", []), ("stream", ["--stream"])):
        assert main(["diagnose", data, "-t", "y", "-f", *FEATURES, *extra, *stream]) == 0
        texts[name] = capsys.readouterr().out
    rows = _table_rows(texts["memory"])
    assert len(rows) >= 6 and rows == _table_rows(texts["stream"])
    assert "Computed from the sufficient statistics of all 900 rows" in texts["stream"]
    if extra:
        for label in ("loss f(W, b)", "f − f*", "‖W − W*‖ / ‖W*‖"):
            line = [ln for ln in texts["memory"].splitlines() if label in ln]
            other = [ln for ln in texts["stream"].splitlines() if label in ln]
            assert line and other
            assert line[0].split()[-1] == other[0].split()[-1], label


def test_streamed_report_of_a_saved_model(folder, capsys, monkeypatch) -> None:
    monkeypatch.setattr("gradfit.understand.rows.SAMPLE_ROWS", 300)
    model = str(folder / "saved.gfm")
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "-f", *FEATURES, "-o", model]) == 0
    pages = {}
    for name, extra in (("memory", []), ("stream", ["--stream"])):
        out = folder / f"report-{name}.html"
        argv = ["report", str(folder / "data.parquet"), "-m", model, "-o", str(out), *extra]
        assert main(argv) == 0
        pages[name] = out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert _section(pages["memory"], "explanation") == _section(pages["stream"], "explanation")
    assert "loaded from saved.gfm" in pages["stream"]
    assert main(["report", str(folder / "data.csv"), "-m", model, "--stream", "-t", "nope"]) == 2
    assert "lacks" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_predict_keeps_columns(folder, capsys, suffix) -> None:
    model = str(folder / "keep.gfm")
    assert main(["fit", str(folder / "data.csv"), "-t", "y", "-f", *FEATURES, "-o", model]) == 0
    outputs = {}
    for name, extra in (("memory", []), ("stream", ["--stream"])):
        out = str(folder / f"keep-{name}{suffix}")
        data = str(folder / f"data{'.parquet' if suffix == '.parquet' else '.csv'}")
        argv = ["predict", model, data, "-o", out, "--keep", "id", "z", *extra]
        assert main(argv) == 0
        capsys.readouterr()
        outputs[name] = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(outputs["stream"].columns) == ["id", "z", "predicted_y"]
    pd.testing.assert_frame_equal(outputs["memory"], outputs["stream"], check_exact=True)
    if suffix == ".csv":  # text that a spreadsheet would run is escaped, as in memory
        assert outputs["stream"]["id"].iloc[0] == "'=r0"


def test_report_steps_show_on_request_and_quiet_prints_nothing(folder, capsys) -> None:
    from gradfit.report import ReportInput, render_report

    X, Y = arrays(folder)
    model = GDRegressor().fit(X, Y[:, 0])
    seen = collect_rows([(X, Y[:, :1])], model=model)
    render_report(ReportInput(model, seen, None), progress=True)
    err = capsys.readouterr().err
    for step in ("1/4 diagnosis", "2/4 loss curve", "3/4 residuals", "4/4 explanation"):
        assert f"[gradfit] report: {step}" in err
    render_report(ReportInput(model, seen, None))
    assert capsys.readouterr().err == ""
    page = folder / "quiet.html"
    argv = ["fit", str(folder / "data.csv"), "-t", "y", "-f", *FEATURES, "--stream", "-q"]
    assert main([*argv, "--report", str(page)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and page.exists()


def test_streamed_report_and_diagnose_name_a_column_beyond_1e50(tmp_path, capsys) -> None:
    # the fit rescales such columns (issue 11, class 9) but the raw statistics a report and a
    # diagnosis need would overflow: refused with the column named (it was a generic overflow
    # message after a burst of RuntimeWarnings), and nothing written
    rng = np.random.default_rng(12)
    X = rng.normal(size=(60, 2))
    y = X @ np.array([1.0, 2.0]) + 3.0
    X[:, 1] *= 1e200
    path = tmp_path / "big.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,y", comments="")
    page = tmp_path / "r.html"
    assert main(["report", str(path), "-t", "y", "--stream", "-o", str(page)]) == 2
    assert "column 1 ('b') is too large" in capsys.readouterr().err and not page.exists()
    assert main(["diagnose", str(path), "-t", "y", "--stream"]) == 2
    assert "column 1 ('b') is too large" in capsys.readouterr().err
    assert main(["fit", str(path), "-t", "y", "--stream", "-q"]) == 0
