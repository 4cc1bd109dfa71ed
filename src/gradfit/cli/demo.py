"""``gradfit demo``: the bundled datasets fitted by every method, with a report."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from .._files import describe_size

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    from ..estimator import GDRegressor

from .common import _write_text


def _report_fit(
    name: str,
    model: GDRegressor,
    X: np.ndarray,
    Y: np.ndarray,
    W_exact: np.ndarray,
    caught: list[warnings.WarningMessage],
) -> list[str]:
    from ..report import fit_scores

    coef = np.asarray(model.coef_).reshape(-1, X.shape[1]).T
    error = float(np.linalg.norm(coef - W_exact)) / max(float(np.linalg.norm(W_exact)), 1e-300)
    r2, _ = fit_scores(Y, model.predict(X))
    lr = " ".join(f"{v:.4g}" for v in np.unique(np.atleast_1d(model.learning_rate_)))
    lines = [
        f"  {name:<10} {model.n_iter_:>6d} it  loss {model.history_.loss[-1]:.10g}  "
        f"R² {' '.join(f'{v:.6f}' for v in np.atleast_1d(r2))}  "
        f"‖W−W*‖/‖W*‖ {error:.2e}  lr {lr}",
        f"  {'':<10} {model.stop_reason_}",
    ]
    rollbacks = [e for e in model.history_.events if e.kind == "rollback"]
    if rollbacks:
        lines.append(f"  {'':<10} {len(rollbacks)} rollback(s); first: {rollbacks[0].message}")
    lines.extend(f"  {'':<10} warning: {w.message}" for w in caught)
    return lines


def _demo_dataset(title: str, X: np.ndarray, Y: np.ndarray, names: Sequence[str]) -> GDRegressor:
    from .._exceptions import ConvergenceWarning
    from ..estimator import GDRegressor
    from ..problem.exact import exact_solution
    from ..problem.objective import LeastSquaresProblem

    W_exact, b_exact = exact_solution(X, Y.reshape(len(Y), -1))
    print(
        f"\n{title}: N={X.shape[0]} rows, D={X.shape[1]} features, "
        f"K={Y.shape[1] if Y.ndim == 2 else 1} output(s)"
    )
    Y2 = Y.reshape(len(Y), -1)
    raw = LeastSquaresProblem(X, Y2, standardize=False).curvature()
    scaled = LeastSquaresProblem(X, Y2, standardize=True).curvature()
    print(
        f"  curvature of the centred data:  L = λmax(XcᵀXc/N) = {raw.L:.4g}, κ ≈ "
        f"{raw.kappa:.4g}, plain GD is stable for lr < 2/L = {2 / raw.L:.4g}"
    )
    print(f"  after standardization (inside): L = {scaled.L:.4g}, κ ≈ {scaled.kappa:.4g}")
    for method in ("cg", "nesterov", "gd"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = GDRegressor(method=method, tol=1e-8, max_iter=20000).fit(X, Y)
        for line in _report_fit(method, model, X, Y, W_exact, list(caught)):
            print(line)
    model = GDRegressor(tol=1e-10).fit(X, Y)
    coef = np.asarray(model.coef_).reshape(-1, X.shape[1])
    intercept = np.atleast_1d(model.intercept_)
    print("  coefficients (cg, user units) vs exact least squares:")
    for k in range(coef.shape[0]):
        label = f"output {k}: " if coef.shape[0] > 1 else ""
        pairs = ", ".join(f"{n}={c:+.4f}" for n, c in zip(names, coef[k], strict=True))
        print(f"    {label}intercept={intercept[k]:+.4f} (exact {b_exact[k]:+.4f}); {pairs}")
    return model


def _demo(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_diabetes, load_linnerud

    from ..problem.objective import LeastSquaresProblem

    print(f"gradfit {__version__} demo: gradient methods against the exact least-squares answer")
    diabetes = load_diabetes()
    diabetes_model = _demo_dataset(
        "diabetes (scikit-learn)", diabetes.data, diabetes.target, diabetes.feature_names
    )
    linnerud = load_linnerud()
    linnerud_model = _demo_dataset(
        f"linnerud (scikit-learn), targets {', '.join(linnerud.target_names)}",
        linnerud.data,
        linnerud.target,
        linnerud.feature_names,
    )
    print("\nSeed loop: score = X·w; error = y − score; gradient = Xᵀ·error/N; w += lr·gradient")
    print("  (on diabetes with X and y centred, so that no intercept is needed)")
    X = diabetes.data - diabetes.data.mean(axis=0)
    y = diabetes.target - diabetes.target.mean()
    L = LeastSquaresProblem(X, y[:, None], standardize=False).curvature().L
    for factor in (1.0, 1.9, 2.1):
        lr = factor / L
        w = np.zeros(X.shape[1])
        losses = []
        for _ in range(200):
            score = X.dot(w)
            error = y - score
            losses.append(0.5 * float(np.mean(error**2)))
            gradient = X.T.dot(error) / len(X)
            w += lr * gradient
        verdict = "decreases" if losses[-1] < losses[0] else "EXPLODES"
        print(
            f"  lr = {factor:.1f}/L = {lr:.4g}: loss {losses[0]:.6g} -> {losses[-1]:.6g} "
            f"after 200 steps ({verdict}; the bound is 2/L = {2 / L:.4g})"
        )
    from ..understand.inference import inference

    diabetes_inference = inference(
        diabetes_model, feature_names=list(diabetes.feature_names), target_names=["progression"]
    )
    print("\nInference on diabetes (from the fit's sufficient statistics, no extra pass):")
    print("\n".join("  " + line for line in diabetes_inference.to_text().splitlines()))
    if args.no_report:
        return 0
    from ..report import ReportInput, render_report

    inputs = [
        ReportInput(
            diabetes_model,
            diabetes.data,
            diabetes.target,
            diabetes.feature_names,
            ["progression"],
            "diabetes (scikit-learn, 1 target)",
            "442 patients, 10 baseline measurements (scaled by scikit-learn), disease "
            "progression one year later; fitted with method='cg', tol=1e-10.",
            inference=diabetes_inference,
        ),
        ReportInput(
            linnerud_model,
            linnerud.data,
            linnerud.target,
            linnerud.feature_names,
            linnerud.target_names,
            "linnerud (scikit-learn, 3 targets at once)",
            "20 middle-aged men: exercises (chins, sit-ups, jumps) and three physiological "
            "measurements, fitted as one multi-output model with method='cg', tol=1e-10.",
        ),
    ]
    page = render_report(inputs, title="gradfit demo: diabetes and linnerud")
    _write_text(args.report, page)
    print(
        f"\nReport: wrote {args.report} ({describe_size(args.report)}): the data, the fit, "
        "the loss curves, the coefficients against the exact solution, residual plots, "
        "the diagnosis and the explanation, for both datasets; open it in a browser."
    )
    return 0
