"""Regenerate the figures of docs/tutorial.md from scikit-learn's diabetes data.

Run from the repository root::

    .venv/bin/python docs/make_figures.py

Every figure is drawn by gradfit.plots from numbers computed here; nothing is pasted.
The script also prints the numbers the tutorial quotes, so that a change is easy to spot
(tests/test_explain.py checks that the tutorial still quotes them).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_diabetes, load_linnerud

from gradfit import ConvergenceWarning, GDRegressor, GDRegressorCV, diagnose, explain
from gradfit.plots import (
    plot_cv_curve,
    plot_learning_rate_sweep,
    plot_loss,
    plot_paths,
    plot_per_output_loss,
    save_figure,
)
from gradfit.problem.exact import exact_solution

FIGURES = Path(__file__).resolve().parent / "figures"
DPI = 80


def _axes(width: float = 6.4, height: float = 4.0) -> Any:
    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def cv_figure(X: Any, y: Any) -> None:
    """The guide's "Choosing alpha" figure: 5-fold CV over the default grid."""
    search = GDRegressorCV(cv=5).fit(X, y)
    ax = plot_cv_curve(search, _axes())
    ax.set_title(f"diabetes: 5-fold CV, alpha_ = {search.alpha_:.3g} (R² {search.best_score_:.3f})")
    save_figure(ax, FIGURES / "cv_curve.png", dpi=DPI)
    print(f"cv: alpha_={search.alpha_:.4g} best_score_={search.best_score_:.4f}")


def main() -> None:
    """Draw every figure into docs/figures and print the quoted numbers."""
    FIGURES.mkdir(exist_ok=True)
    data = load_diabetes(scaled=False)
    X, y, names = data.data, data.target, list(data.feature_names)

    # 1. The seed's loop exactly as written (raw X, no intercept): its 0.0001 is too large.
    ax = plot_learning_rate_sweep(
        X,
        y,
        _axes(),
        factors=np.linspace(0.05, 4.0, 80),
        fit_intercept=False,
        standardize=False,
        steps=50,
    )
    ax.axvline(1e-4, color="black", linewidth=1.5, gid="seed_rate", label="the seed's 0.0001")
    ax.legend(loc="center left", fontsize="small")
    ax.set_title("seed's loop on the raw diabetes data (no centring, no scaling)")
    save_figure(ax, FIGURES / "sweep_raw.png", dpi=DPI)

    # 2. The same sweep on the data gradfit's loop sees (centred, standardized).
    ax = plot_learning_rate_sweep(X, y, _axes(), steps=50)
    ax.set_title("gradfit's gd on the diabetes data (centred, standardized)")
    save_figure(ax, FIGURES / "sweep.png", dpi=DPI)

    # 3. Paths of the four methods on the most correlated pair of features.
    pair = (names.index("s1"), names.index("s2"))
    ax = plot_paths(X, y, _axes(), features=pair, max_iter=20)
    correlation = np.corrcoef(X[:, pair[0]], X[:, pair[1]])[0, 1]
    ax.set_xlabel("w[s1]")
    ax.set_ylabel("w[s2]")
    ax.set_title(
        f"diabetes: target on s1 and s2 (correlation {correlation:.2f}), "
        + ax.get_title().split(": ")[-1],
        fontsize="medium",
    )
    save_figure(ax, FIGURES / "paths.png", dpi=DPI)

    # 4. Loss above the optimum for each method, momentum restarts marked.
    W_star, b_star = exact_solution(X, y[:, None])
    f_star = 0.5 * float(np.mean((X @ W_star[:, 0] + b_star[0] - y) ** 2))
    ax = _axes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in ("gd", "momentum", "nesterov", "cg"):
            model = GDRegressor(method=method, max_iter=600, tol=1e-10).fit(X, y)
            plot_loss(model, ax, optimum=f_star, label=method)
    ax.set_title("diabetes: f − f* per iteration (tol = 1e-10, at most 600 steps)")
    save_figure(ax, FIGURES / "loss_curves.png", dpi=DPI)

    # 5. A multi-output fit: linnerud's three targets, one loss curve each.
    linnerud = load_linnerud()
    model = GDRegressor(method="gd", tol=1e-8).fit(linnerud.data, linnerud.target)
    W3, b3 = exact_solution(linnerud.data, linnerud.target)
    f3 = 0.5 * np.mean((linnerud.data @ W3 + b3 - linnerud.target) ** 2, axis=0)
    ax = plot_per_output_loss(model, _axes(), target_names=list(linnerud.target_names), optimum=f3)
    ax.set_title(f"linnerud: gd on {linnerud.target.shape[1]} outputs at once")
    save_figure(ax, FIGURES / "per_output.png", dpi=DPI)

    # 6. Choosing alpha (docs/guide.md).
    cv_figure(X, y)

    e = explain(X, y, feature_names=names)
    d = diagnose(X, y, feature_names=names)
    print(
        f"N={e.n_samples} D={e.n_features}  L={e.lipschitz:.4g}  2/L={e.stability_bound:.4g}  "
        f"L_raw={e.lipschitz_raw:.4g}  2/L_raw={2 / e.lipschitz_raw:.4g}  "
        f"kappa raw={d.raw.kappa:.4g} standardized={d.standardized.kappa:.4g}  "
        f"above growth={e.above.growth:.3g} in {e.above.steps} steps  "
        f"seed rate growth={e.at_learning_rate_raw.growth:.3g} in "
        f"{e.at_learning_rate_raw.steps} steps"
    )
    print(f"wrote {sorted(p.name for p in FIGURES.glob('*.png'))} to {FIGURES}")


if __name__ == "__main__":
    main()
