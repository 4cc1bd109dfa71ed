"""``print()`` and Jupyter: every result object's ``str`` is its readable text and its
``_repr_html_`` is its ``to_html()``."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

import gradfit
from gradfit.persistence import read_model, save_model


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return X[:120], y[:120]


@pytest.fixture(scope="module")
def results(data, tmp_path_factory):
    X, y = data
    model = gradfit.GDRegressor().fit(X, y)
    path = tmp_path_factory.mktemp("display") / "m.gfm"
    save_model(model, path)
    return {
        "Diagnosis": gradfit.diagnose(X, y, model=model),
        "Explanation": gradfit.explain(X, y, steps=5),
        "GradientCheck": gradfit.check_gradient(lambda X, y, w: X.T @ (X @ w - y) / len(X), X, y),
        "Certificate": model.certificate_,
        "History": model.history_,
        "Inference": gradfit.inference(model, X, y),
        "Statistics": gradfit.Statistics.from_data(X, y),
        "SavedModel": read_model(path),
    }


NAMES = [
    "Diagnosis",
    "Explanation",
    "GradientCheck",
    "Certificate",
    "History",
    "Inference",
    "Statistics",
    "SavedModel",
]


@pytest.mark.parametrize("name", NAMES)
def test_str_is_the_readable_text_and_html_is_to_html(results, name) -> None:
    result = results[name]
    text = str(result)
    assert text == result.to_text()
    assert not re.match(r"^\w+\(", text), f"str({name}) is a repr: {text[:60]}"
    assert "\n" in text  # several readable lines, not one dataclass line
    assert result._repr_html_() == result.to_html()
    page = result.to_html()
    assert "<" in page and "<script" not in page


def test_print_of_a_diagnosis_prints_its_report(data, capsys) -> None:
    X, y = data
    print(gradfit.diagnose(X, y))
    out = capsys.readouterr().out
    assert out.startswith("gradfit diagnosis (N=120, D=10, K=1)")
    assert "Diagnosis(" not in out


def test_small_results_escape_their_text(results) -> None:
    history = results["History"]
    assert html.escape(history.to_text()) in history.to_html()


def test_statistics_text_shows_the_means_and_deviations(data) -> None:
    X, y = data
    text = gradfit.Statistics.from_data(X, y).to_text()
    assert text.splitlines()[0] == "statistics of 120 rows, 10 features, 1 target"
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    for j in range(10):
        assert float(rows[f"x{j}"][2]) == pytest.approx(X[:, j].mean(), rel=1e-5, abs=1e-12)
        assert float(rows[f"x{j}"][3]) == pytest.approx(X[:, j].std(), rel=1e-5)
    assert float(rows["y"][2]) == pytest.approx(y.mean(), rel=1e-5)
    assert float(rows["y"][3]) == pytest.approx(y.std(), rel=1e-5)


def test_saved_model_text_lists_the_saved_coefficients(results) -> None:
    saved = results["SavedModel"]
    lines = saved.to_text().splitlines()
    coef = np.asarray(saved.model.coef_)
    shown = [float(line.split()[-1]) for line in lines[3:]]
    np.testing.assert_allclose(shown, coef, rtol=1e-7)
    assert float(lines[2].split()[-1]) == pytest.approx(float(saved.model.intercept_), rel=1e-7)


def test_history_text_shows_the_first_and_last_loss(results) -> None:
    history = results["History"]
    line = history.to_text().splitlines()[1]
    first, last = (float(v) for v in re.findall(r"[-+0-9.e]+", line.split(":")[1]))
    assert first == pytest.approx(history.loss[0], rel=1e-5)
    assert last == pytest.approx(history.loss[-1], rel=1e-5)
