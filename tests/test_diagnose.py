"""diagnose: spectra against numpy, recommendations for planted conditions, bounds after a fit."""

from __future__ import annotations

import importlib
import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from gradfit import GDRegressor, GradfitInputError, diagnose
from gradfit.understand.render import fmt
from problems import svd_problem

EPS = np.finfo(float).eps
# the module behind gradfit.diagnose
diagnose_module = importlib.import_module("gradfit.understand.diagnose")


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    return load_diabetes(return_X_y=True, scaled=False)


def kappa_by_svd(X: np.ndarray, standardize: bool) -> tuple[float, float]:
    Xc = X - X.mean(axis=0)
    if standardize:
        Xc = Xc / np.sqrt(np.mean(Xc**2, axis=0))
    s = np.linalg.svd(Xc / np.sqrt(len(X)), compute_uv=False)
    return float(s[0] ** 2), float(s[-1] ** 2)


def test_spectra_match_numpy(diabetes) -> None:
    X, y = diabetes
    d = diagnose(X, y)
    L_raw, mu_raw = kappa_by_svd(X, standardize=False)
    L_std, mu_std = kappa_by_svd(X, standardize=True)
    assert pytest.approx(L_raw, rel=1e-10) == d.raw.L
    assert d.raw.kappa == pytest.approx(L_raw / mu_raw, rel=1e-8)
    assert d.standardized.kappa == pytest.approx(L_std / mu_std, rel=1e-8)
    assert d.condition_number == d.standardized.kappa
    assert d.max_stable_learning_rate == pytest.approx(2 / L_std, rel=1e-10)
    assert d.lipschitz_lanczos == pytest.approx(L_std, rel=1e-8)
    assert d.spectrum.exact and d.spectrum.rank == 10
    assert d.spectrum.source == "singular values"
    assert d.attainable_accuracy == pytest.approx(L_std / mu_std * EPS, rel=1e-8)


def test_predicted_iterations(diabetes) -> None:
    X, y = diabetes
    d = diagnose(X, y, tol=1e-8)
    kappa = d.condition_number
    assert d.predicted_iterations["gd"] == pytest.approx(kappa * math.log(1e8))
    assert d.predicted_iterations["nesterov"] == pytest.approx(math.sqrt(kappa) * math.log(1e8))
    assert d.predicted_iterations["momentum"] == d.predicted_iterations["nesterov"]
    assert d.predicted_iterations["cg"] == 10


def test_standardize_recommendations(diabetes) -> None:
    X, y = diabetes
    off = diagnose(X, y, standardize=False)
    assert off.kinds[0] == "standardize"
    assert "Use standardize=True" in off.recommendations[0].text
    assert fmt(off.raw.kappa, 3) in off.recommendations[0].text
    on = diagnose(X, y)
    assert on.kinds == ("keep_standardize", "accelerate")


def test_well_conditioned_is_ok() -> None:
    X, y = svd_problem(300, 5, cond=2.0, seed=1)
    d = diagnose(X, y[:, 0], standardize=False)
    assert d.kinds == ("ok",)
    assert d.condition_number == pytest.approx(4.0, rel=1e-8)


def test_accelerate_when_gd_is_slow() -> None:
    X, y = svd_problem(300, 8, cond=100.0, seed=2)
    d = diagnose(X, y[:, 0], standardize=False)
    assert d.condition_number == pytest.approx(1e4, rel=1e-6)
    assert "accelerate" in d.kinds
    assert d.predicted_iterations["gd"] > 1000


def test_limited_accuracy() -> None:
    X, y = svd_problem(300, 6, cond=1e6, seed=3)
    d = diagnose(X, y[:, 0], standardize=False)
    assert d.condition_number == pytest.approx(1e12, rel=1e-3)
    assert "limited_accuracy" in d.kinds


def test_collinear_columns_are_too_ill_conditioned_for_float64() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 4))
    X = np.column_stack([X, X[:, 1] + 1e-12 * rng.normal(size=200)])
    y = X[:, :4] @ [1.0, 2.0, 3.0, 4.0] + rng.normal(size=200)
    names = ["a", "b", "c", "d", "b_copy"]
    d = diagnose(X, y, feature_names=names)
    assert d.kinds[0] == "ill_conditioned"
    assert d.attainable_accuracy >= 1
    text = d.recommendations[0].text
    assert "too ill-conditioned for float64" in text
    assert "no gradient method can recover" in text
    assert "b (" in text and "b_copy (" in text
    assert fmt(d.condition_number, 3) in text
    assert d.spectrum.rank == 5  # 1e-12 apart is still resolvable, but κ·ε ≫ 1


def test_duplicated_column_lowers_the_numerical_rank() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100, 3))
    X = np.column_stack([X, 2.0 * X[:, 0]])
    d = diagnose(X, X[:, :3] @ [1.0, 2.0, 3.0], standardize=False)
    assert d.spectrum.rank == 3
    assert d.kinds[0] == "ill_conditioned"
    assert "numerical rank is 3 of D = 4" in d.recommendations[0].text


def test_more_features_than_rows_is_singular() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 10))
    d = diagnose(X, rng.normal(size=6))
    assert d.mu == 0.0 and math.isinf(d.condition_number)
    assert d.kinds[0] == "ill_conditioned"
    assert "more features (10) than independent rows (5)" in d.recommendations[0].text


def test_after_fit_bounds_hold_and_match_lstsq(diabetes) -> None:
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(method="gd", max_iter=200).fit(X, y)
    d = diagnose(X, y, model=model)
    f = d.fit
    assert f is not None and f.rigorous
    ols = LinearRegression().fit(X, y)
    distance = np.linalg.norm(model.coef_ - ols.coef_)
    assert f.exact_distance == pytest.approx(distance, rel=1e-6)
    assert f.exact_relative_distance == pytest.approx(distance / np.linalg.norm(ols.coef_), 1e-6)
    assert f.intercept_distance == pytest.approx(abs(model.intercept_ - ols.intercept_), rel=1e-6)
    assert f.exact_distance <= f.distance_bound
    f_star = 0.5 * np.mean((ols.predict(X) - y) ** 2)
    assert f.exact_loss == pytest.approx(f_star, rel=1e-12)
    assert f.loss == pytest.approx(0.5 * np.mean((model.predict(X) - y) ** 2), rel=1e-12)
    assert 0 <= f.loss - f_star <= f.loss_gap_bound * (1 + 1e-9)
    assert f.converged is False and f.stop_reason.startswith("max_iter")
    assert f.relative_grad_norm[0] == pytest.approx(model.relative_grad_norm_[0], rel=1e-6)
    assert "After the fit" in d.to_text()


def test_converged_fit_and_model_options(diabetes) -> None:
    X, y = diabetes
    model = GDRegressor(standardize=False, tol=1e-10).fit(X, y)
    d = diagnose(X, y, model=model)
    assert d.standardize is False and d.tol == 1e-10
    assert d.fit.exact_relative_distance < 1e-6


def test_any_linear_model(diabetes) -> None:
    X, y = diabetes
    d = diagnose(X, y, model=LinearRegression().fit(X, y))
    assert d.fit.exact_relative_distance < 1e-10
    with pytest.raises(GradfitInputError, match="coef_"):
        diagnose(X, y, model=LinearRegression())
    with pytest.raises(GradfitInputError, match="does not fit"):
        diagnose(X[:, :3], y, model=LinearRegression().fit(X, y))


def test_lanczos_when_svd_is_too_expensive(monkeypatch) -> None:
    X, Y = svd_problem(300, 60, cond=30.0, seed=7)
    y = Y[:, 0]
    monkeypatch.setattr(diagnose_module, "SVD_BUDGET", 0)
    d = diagnose(X, y, model=GDRegressor().fit(X, y), standardize=False)
    L, mu = kappa_by_svd(X, standardize=False)
    # 40 Lanczos steps for D = 60: L is converged, μ only estimated from above
    assert not d.spectrum.exact and d.spectrum.weakest is None
    assert pytest.approx(L, rel=1e-6) == d.L
    assert d.mu >= mu * (1 - 1e-9)
    assert d.notes and "Lanczos" in d.notes[0]
    assert d.fit.exact_distance is None and not d.fit.rigorous
    assert "indicative" in d.to_text()


def test_small_problems_are_exact_even_by_lanczos(diabetes, monkeypatch) -> None:
    X, y = diabetes
    monkeypatch.setattr(diagnose_module, "SVD_BUDGET", 0)
    d = diagnose(X, y)
    L, mu = kappa_by_svd(X, standardize=True)
    assert d.spectrum.exact  # Lanczos exhausts a 10-dimensional space
    assert d.spectrum.source == "Lanczos" and "by Lanczos, exact here" in d.to_text()
    assert d.condition_number == pytest.approx(L / mu, rel=1e-6)


def test_integer_weights_equal_repeated_rows(diabetes) -> None:
    X, y = diabetes
    w = np.arange(len(y)) % 3
    weighted = diagnose(X, y, sample_weight=w)
    repeated = diagnose(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert weighted.condition_number == pytest.approx(repeated.condition_number, rel=1e-8)
    assert pytest.approx(repeated.L, rel=1e-10) == weighted.L


def test_renderings(diabetes) -> None:
    X, y = diabetes
    d = diagnose(X, y, feature_names=[f"<f{j}>" for j in range(10)], target_names=["<t>"])
    md = d.to_markdown()
    assert "| standardized |" in md and "## Recommendations" in md
    html = d.to_html()
    assert "&lt;t&gt;" in html and "<t>" not in html
    assert fmt(d.max_stable_learning_rate) in d.to_text()
