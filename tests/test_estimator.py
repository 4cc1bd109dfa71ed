"""GDRegressor's public behaviour: fitted attributes, history, warm start, verbosity, CLI demo."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gradfit
from gradfit import GDRegressor
from problems import svd_problem


def test_public_names() -> None:
    assert {"GDRegressor", "DivergenceError", "ConvergenceWarning"} <= set(gradfit.__all__)
    assert issubclass(gradfit.ConvergenceWarning, UserWarning)
    assert issubclass(gradfit.DivergenceError, RuntimeError)


def test_fitted_attributes_single_output() -> None:
    X, Y = svd_problem(100, 4, 1, cond=10.0, seed=0)
    model = GDRegressor().fit(X, Y[:, 0])
    assert model.coef_.shape == (4,) and isinstance(model.intercept_, float)
    assert model.n_features_in_ == 4
    assert model.converged_ and model.stop_reason_.startswith("converged")
    assert isinstance(model.n_iter_, int) and len(model.history_) == model.n_iter_ + 1
    assert model.lipschitz_ > 0 and model.condition_number_ >= 1
    assert isinstance(model.learning_rate_, float)
    assert model.relative_grad_norm_.shape == (1,)
    assert model.relative_grad_norm_[0] <= model.tol
    assert model.predict(X).shape == (100,)


def test_fitted_attributes_multi_output() -> None:
    X, Y = svd_problem(100, 4, 3, cond=10.0, seed=1)
    model = GDRegressor(method="gd").fit(X, Y)
    assert model.coef_.shape == (3, 4) and model.intercept_.shape == (3,)
    assert model.learning_rate_.shape == (3,)
    assert model.history_.loss_per_output.shape == (model.n_iter_ + 1, 3)
    np.testing.assert_allclose(model.history_.loss, model.history_.loss_per_output.sum(axis=1))
    assert model.predict(X).shape == (100, 3)
    Y2 = Y[:, :1]
    assert GDRegressor().fit(X, Y2).predict(X).shape == (100, 1)


def test_history_rows_are_consistent_and_exportable() -> None:
    X, Y = svd_problem(80, 3, 1, cond=5.0, seed=2)
    model = GDRegressor(method="gd", tol=1e-8).fit(X, Y[:, 0])
    h = model.history_
    assert h.relative_grad_norm[0] == pytest.approx(1.0)
    assert h.relative_grad_norm[-1] <= 1e-8
    np.testing.assert_allclose(h.learning_rate[1:], model.learning_rate_)
    # the loss recorded is f = MSE/2 of the returned model at the last row
    residual = Y[:, 0] - model.predict(X)
    assert h.loss[-1] == pytest.approx(0.5 * np.mean(residual**2), rel=1e-9)
    data = json.loads(h.to_json())
    assert len(data["loss"]) == len(h) and data["events"] == []


def test_warm_start_continues_from_the_previous_fit() -> None:
    X, Y = svd_problem(200, 6, 1, cond=30.0, seed=3)
    y = Y[:, 0]
    cold = GDRegressor(method="gd", tol=1e-8, max_iter=20_000).fit(X, y)
    warm = GDRegressor(method="gd", tol=1e-8, max_iter=20_000, warm_start=True).fit(X, y)
    again = warm.fit(X, y)
    assert again.n_iter_ == 0 and again.converged_
    np.testing.assert_allclose(again.coef_, cold.coef_)
    # shape change: start from zero again, without error
    warm.fit(X[:, :3], y)
    assert warm.coef_.shape == (3,)


@pytest.mark.filterwarnings("ignore::gradfit.ConvergenceWarning")
def test_fits_are_bit_identical_across_runs() -> None:
    X, Y = svd_problem(150, 8, 2, cond=100.0, seed=4)
    for method in ("gd", "momentum", "nesterov", "cg"):
        a = GDRegressor(method=method, max_iter=300).fit(X, Y)
        b = GDRegressor(method=method, max_iter=300).fit(X, Y)
        assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.history_.loss, b.history_.loss)


def test_verbose_prints_start_and_stop(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = svd_problem(50, 3, 1, cond=3.0, seed=5)
    GDRegressor(verbose=1).fit(X, Y[:, 0])
    out = capsys.readouterr().out
    assert "[gradfit] cg: N=50 D=3 K=1" in out and "converged" in out


def test_verbose_2_prints_every_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = svd_problem(50, 3, 1, cond=3.0, seed=5)
    # tol=0 runs exactly max_iter steps, as asked: no ConvergenceWarning (issue 11)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gradfit.ConvergenceWarning)
        GDRegressor(method="gd", verbose=2, max_iter=3, tol=0.0).fit(X, Y[:, 0])
    assert capsys.readouterr().out.count("iter ") == 3


def test_callback_can_stop_the_fit() -> None:
    X, Y = svd_problem(100, 5, 1, cond=30.0, seed=6)
    seen: list[int] = []

    def stop_at_five(iteration: int, info: dict) -> bool:
        seen.append(iteration)
        assert {"loss", "relative_grad_norm", "learning_rate"} <= set(info)
        return iteration == 5

    model = GDRegressor(method="gd").fit(X, Y[:, 0], callback=stop_at_five)
    assert seen == [1, 2, 3, 4, 5] and model.n_iter_ == 5
    assert model.stop_reason_ == "stopped by callback at iteration 5"


def test_float32_input_stays_float32() -> None:
    X, Y = svd_problem(200, 5, 2, cond=10.0, seed=7)
    X32 = X.astype(np.float32)
    model = GDRegressor(tol=1e-5).fit(X32, Y)
    assert model.coef_.dtype == np.float32
    ref = GDRegressor(tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-3, atol=1e-3)


def test_score_is_r2() -> None:
    X, Y = svd_problem(100, 4, 1, cond=5.0, seed=8, noise=1.0)
    model = GDRegressor().fit(X, Y[:, 0])
    residual = Y[:, 0] - model.predict(X)
    expected = 1 - residual @ residual / np.sum((Y[:, 0] - Y[:, 0].mean()) ** 2)
    assert model.score(X, Y[:, 0]) == pytest.approx(expected, rel=1e-12)


def test_constant_and_zero_columns_are_harmless() -> None:
    rng = np.random.default_rng(9)
    X = np.column_stack([rng.normal(size=50), np.full(50, 3.0), np.zeros(50)])
    y = 2 * X[:, 0] + 1
    model = GDRegressor().fit(X, y)
    np.testing.assert_allclose(model.coef_, [2.0, 0.0, 0.0], atol=1e-10)
    assert model.intercept_ == pytest.approx(1.0)


def test_zero_targets_converge_at_once() -> None:
    X = np.random.default_rng(10).normal(size=(30, 3))
    model = GDRegressor().fit(X, np.zeros(30))
    assert model.n_iter_ == 0 and model.converged_
    np.testing.assert_array_equal(model.coef_, 0.0)


@pytest.mark.slow
def test_demo_runs_and_reports_exact_agreement(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gradfit.cli", "demo", "--no-report"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    out = result.stdout
    assert "diabetes" in out and "linnerud" in out
    assert out.count("converged") >= 6
    assert "EXPLODES" in out and "decreases" in out
