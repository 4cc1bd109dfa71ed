"""explain: every number checked against an independent computation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from gradfit import GDRegressor, GradfitInputError, explain
from gradfit.understand.explain import learning_rate_sweep, seed_loop
from gradfit.understand.render import fmt


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    data = load_diabetes(scaled=False)
    return data.data, data.target, list(data.feature_names)


@pytest.fixture(scope="module")
def explained(diabetes):
    X, y, names = diabetes
    return explain(X, y, feature_names=names)


def loop_data(X, Y, fit_intercept=True, standardize=True):
    """The centred, scaled data, computed here without gradfit."""
    Xc = X - X.mean(axis=0) if fit_intercept else X
    Yc = Y - Y.mean(axis=0) if fit_intercept else Y
    s = np.sqrt(np.mean(Xc**2, axis=0)) if standardize else np.ones(X.shape[1])
    return Xc / s, Yc, s


def test_curvature_and_bound_match_eigvalsh(diabetes, explained) -> None:
    X, y, _ = diabetes
    Z, _, _ = loop_data(X, y[:, None])
    lam = np.linalg.eigvalsh(Z.T @ Z / len(Z))
    assert explained.lipschitz == pytest.approx(lam[-1], rel=1e-10)
    assert explained.mu == pytest.approx(lam[0], rel=1e-8)
    assert explained.stability_bound == pytest.approx(2 / lam[-1], rel=1e-10)
    raw = np.linalg.eigvalsh(X.T @ X / len(X))[-1]
    assert explained.lipschitz_raw == pytest.approx(raw, rel=1e-10)
    stab = explained.step("stability").values
    assert stab["L_dense"] == pytest.approx(lam[-1], rel=1e-12)
    assert stab["iterations_at_auto"] == pytest.approx(
        math.log(1e6) / -math.log(1 - lam[0] / explained.lipschitz), rel=1e-6
    )


def test_gradient_matches_own_finite_differences(diabetes, explained) -> None:
    X, y, _ = diabetes
    Z, T, _ = loop_data(X, y[:, None])
    V = explained.probe
    G = Z.T @ (Z @ V - T) / len(Z)
    np.testing.assert_allclose(explained.gradient, G, rtol=1e-12, atol=0)

    def f(V):
        return 0.5 * np.mean(np.sum((Z @ V - T) ** 2, axis=1))

    h = 1e-2
    fd = np.zeros_like(V)
    for j in range(V.shape[0]):
        E = np.zeros_like(V)
        E[j, 0] = h
        fd[j, 0] = (f(V + E) - f(V - E)) / (2 * h)
    np.testing.assert_allclose(explained.gradient, fd, rtol=1e-7)
    assert explained.step("gradient").values["fd_relative_error"] < 1e-8


def test_every_check_passes_and_steps_are_in_order(explained) -> None:
    assert explained.all_verified
    assert len(explained.checks) >= 10
    keys = [s.key for s in explained.steps]
    assert keys == ["setup", "gradient", "transpose", "mean", "stability", "error", "sign"]
    with pytest.raises(KeyError):
        explained.step("nope")


def test_error_is_minus_n_times_dloss_dscore(explained) -> None:
    ratios = explained.step("error").values["ratios"]
    assert len(ratios) == 6
    np.testing.assert_allclose(ratios, -explained.n_samples, rtol=1e-8)


def test_transpose_is_the_only_product_that_is_the_gradient(explained) -> None:
    v = explained.step("transpose").values
    N, D, K = 442, 10, 1
    assert v["shapes"]["xᵀ·error"] == (D, K)
    assert v["shapes"]["errorᵀ·x"] == (K, D)
    assert v["shapes"]["x·error"] is None
    assert v["right_shape"] == ["xᵀ·error"]
    assert v["matching"] == ["xᵀ·error"]
    assert v["per_sample_relative_error"] < 1e-13
    assert explained.n_samples == N


def test_square_shapes_still_single_out_the_transpose() -> None:
    # D == K: errorᵀ·x has the shape of W too, but not its values.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    Y = rng.normal(size=(40, 3))
    v = explain(X, Y).step("transpose").values
    assert set(v["right_shape"]) == {"xᵀ·error", "errorᵀ·x"}
    assert v["matching"] == ["xᵀ·error"]


def test_mean_step_curvature_scales_with_n(diabetes, explained) -> None:
    X, y, _ = diabetes
    Z, _, _ = loop_data(X, y[:, None])
    values = explained.step("mean").values
    sizes = [n for n, _, _ in values["subsets"]]
    assert sizes == [55, 110, 221, 442]
    for n, L_mean, L_sum in values["subsets"]:
        assert L_sum == pytest.approx(n * L_mean, rel=1e-9)
    assert values["subsets"][-1][1] == pytest.approx(
        np.linalg.eigvalsh(Z.T @ Z / len(Z))[-1], rel=1e-10
    )
    assert values["safe_rate_without_mean"] == pytest.approx(
        2 / (442 * explained.lipschitz), rel=1e-12
    )


def test_stability_runs_are_the_seed_loop(diabetes, explained) -> None:
    X, y, _ = diabetes
    Z, T, _ = loop_data(X, y[:, None])
    L = explained.lipschitz
    for run, factor in ((explained.below, 0.9), (explained.above, 1.1)):
        assert run.learning_rate == pytest.approx(factor * 2 / L, rel=1e-15)
        w = np.zeros((Z.shape[1], 1))
        losses = []
        for _ in range(run.steps + 1):
            score = Z.dot(w)
            error = T - score
            losses.append(0.5 * np.mean(error**2))
            gradient = Z.T.dot(error) / len(Z)
            w += run.learning_rate * gradient
        np.testing.assert_allclose(run.losses, losses, rtol=1e-10)
    assert explained.below.steps == 50
    assert np.all(np.diff(explained.below.losses) < 0)
    assert explained.above.growth > 100
    # the top eigen-direction dominates: each step multiplies the loss by (1 − lr·L)² = 1.44
    assert explained.above.measured_rate == pytest.approx(1.44, rel=0.02)
    assert explained.above.top_rate == pytest.approx(1.44, rel=1e-12)


def test_seed_learning_rate_explodes_on_raw_diabetes(explained) -> None:
    run = explained.at_learning_rate_raw
    assert explained.learning_rate == 1e-4
    assert 2 / explained.lipschitz_raw < 1e-4
    assert run.growth > 1e3
    assert "UNSTABLE" in explained.to_text()


def test_gd_estimator_follows_the_explained_loop(diabetes, explained) -> None:
    # "on that data the seed's loop is exactly GDRegressor(method='gd')"
    X, y, _ = diabetes
    model = GDRegressor(
        method="gd", learning_rate=explained.below.learning_rate, max_iter=50, tol=0.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    np.testing.assert_allclose(model.history_.loss, explained.below.losses, rtol=1e-9)


def test_renderings_show_the_computed_numbers(explained) -> None:
    text = explained.to_text()
    assert "N = 442 rows" in text
    assert f"2/L = {fmt(explained.stability_bound)}" in text
    assert "[FAILED]" not in text
    md = explained.to_markdown()
    assert md.startswith("# The gradient-descent loop explained")
    assert "## 1. Why is this a gradient?" in md
    assert "| entry | finite difference |" in md
    html = explained.to_html()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html


def test_html_escapes_user_names() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=30)
    html = explain(X, y, feature_names=["<script>alert(1)</script>", "b&c"]).to_html()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("fit_intercept", "standardize", "alpha"), [(False, False, 0.0), (True, True, 0.3)]
)
def test_options_change_the_loop_data(diabetes, fit_intercept, standardize, alpha) -> None:
    X, y, _ = diabetes
    e = explain(X, y, fit_intercept=fit_intercept, standardize=standardize, alpha=alpha)
    Z, _, s = loop_data(X, y[:, None], fit_intercept, standardize)
    H = Z.T @ Z / len(Z) + np.diag(alpha / s**2)
    assert e.lipschitz == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-9)
    assert e.all_verified


def test_multi_output() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    Y = X @ rng.normal(size=(4, 2)) + rng.normal(size=(60, 2))
    e = explain(X, Y, target_names=["a", "b"])
    assert (e.n_outputs, e.gradient.shape) == (2, (4, 2))
    assert e.all_verified
    assert "W[" in e.to_text()


def test_learning_rate_sweep_against_lstsq(diabetes) -> None:
    X, y, _ = diabetes
    sweep = learning_rate_sweep(X, y, factors=[0.3, 0.95, 1.05], steps=30)
    Z, T, _ = loop_data(X, y[:, None])
    V = np.linalg.lstsq(Z, T, rcond=None)[0]
    assert sweep.optimum == pytest.approx(0.5 * np.mean((Z @ V - T) ** 2), rel=1e-10)
    assert list(sweep.ratios < 1) == [True, True, False]
    assert sweep.stability_bound == pytest.approx(2 / np.linalg.eigvalsh(Z.T @ Z / 442)[-1])


def test_seed_loop_stops_growing_runs_without_overflow() -> None:
    X = np.array([[1.0], [2.0], [3.0]])
    losses, norms = seed_loop(X, 2 * X, 10.0, 5, until_growth=100.0, max_steps=10_000)
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(norms))
    assert losses[-1] > 1e6 * losses[0]


def test_bad_input_is_named() -> None:
    X = np.ones((10, 2))
    with pytest.raises(GradfitInputError, match="constant"):
        explain(X, np.arange(10.0))
    with pytest.raises(GradfitInputError, match="learning_rate"):
        explain(np.eye(3), np.arange(3.0), learning_rate=-1.0)
    with pytest.raises(GradfitInputError, match="alpha"):
        explain(np.eye(3), np.arange(3.0), alpha=-1.0)
    with pytest.raises(GradfitInputError, match="steps"):
        explain(np.eye(3), np.arange(3.0), steps=1)
    with pytest.raises(GradfitInputError, match="tol"):
        explain(np.eye(3), np.arange(3.0), tol=0.0)


def test_tutorial_quotes_current_numbers(diabetes, explained) -> None:
    """docs/tutorial.md quotes gradfit's output on diabetes; fail when it goes stale."""
    from pathlib import Path

    from gradfit import diagnose

    text = (Path(__file__).parents[1] / "docs" / "tutorial.md").read_text(encoding="utf-8")
    tutorial = " ".join(text.split())
    X, y, _ = diabetes
    e = explained
    d = diagnose(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = diagnose(X, y, model=GDRegressor(method="gd").fit(X, y)).fit
    mean = e.step("mean").values
    L_means = [v[1] for v in mean["subsets"]]
    stab = e.step("stability").values
    quoted = {
        "s1 root mean square": f"{np.sqrt(np.mean(X[:, 4] ** 2)):.1f}",
        "fd error": "better than 1e-12"
        if e.step("gradient").values["fd_relative_error"] < 1e-12
        else "stale",
        "per-sample": "below 1e-14"
        if e.step("transpose").values["per_sample_relative_error"] < 1e-14
        else "stale",
        "L min": fmt(min(L_means)),
        "L max": fmt(max(L_means)),
        "L_sum first": fmt(mean["subsets"][0][2]),
        "L_sum last": fmt(mean["subsets"][-1][2]),
        "2/(N·L)": fmt(mean["safe_rate_without_mean"]),
        "2/L": fmt(e.stability_bound),
        "1/L": fmt(1 / e.lipschitz),
        "L": fmt(e.lipschitz),
        "L raw": fmt(e.lipschitz_raw),
        "2/L raw": fmt(2 / e.lipschitz_raw),
        "seed start": fmt(e.at_learning_rate_raw.losses[0], 6),
        "seed end": fmt(e.at_learning_rate_raw.losses[-1], 6),
        "seed steps": f"in {e.at_learning_rate_raw.steps} steps",
        "below": fmt(1 / e.below.growth),
        "above": fmt(e.above.growth),
        "above steps": f"in {e.above.steps} steps",
        "rate": fmt(e.above.measured_rate, 3),
        "iterations at 1e-4": fmt(stab["iterations_at_learning_rate"]),
        "iterations at 1/L": fmt(stab["iterations_at_auto"]),
        "kappa raw": fmt(d.raw.kappa),
        "kappa std": fmt(d.standardized.kappa),
        "gd": fmt(d.predicted_iterations["gd"], 3),
        "nesterov": fmt(d.predicted_iterations["nesterov"], 3),
        "cg": f"at most {fmt(d.predicted_iterations['cg'], 3)}",
        "rel grad": fmt(after.relative_grad_norm[0], 3),
        "gap": f"{fmt(after.loss - after.exact_loss, 3)} above",
        "gap bound": f"at most {fmt(after.loss_gap_bound, 3)}",
        "distance": fmt(after.exact_relative_distance, 3),
    }
    stale = {k: v for k, v in quoted.items() if v not in tutorial}
    assert not stale, f"docs/tutorial.md is stale; current values: {stale}"


def test_tutorial_figures_exist() -> None:
    from pathlib import Path

    docs = Path(__file__).parents[1] / "docs"
    tutorial = (docs / "tutorial.md").read_text(encoding="utf-8")
    import re

    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", tutorial)
    assert len(figures) == 5
    for figure in figures:
        assert (docs / figure).read_bytes()[:4] == b"\x89PNG"
