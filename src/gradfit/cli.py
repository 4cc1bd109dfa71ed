"""The ``gradfit`` command line.

``gradfit demo`` fits real datasets bundled with scikit-learn and reports what
happened, every number computed on the spot.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import __version__
from ._curvature import CurvatureEstimate, lanczos_extremes
from ._exact import exact_solution
from ._exceptions import ConvergenceWarning
from ._objective import LeastSquaresProblem
from .estimator import GDRegressor

__all__ = ["main"]


def _r2(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    Y = Y.reshape(len(Y), -1)
    P = P.reshape(len(P), -1)
    ss_res = ((Y - P) ** 2).sum(axis=0)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    return np.asarray(1.0 - ss_res / ss_tot)


def _report_fit(
    name: str,
    model: GDRegressor,
    X: np.ndarray,
    Y: np.ndarray,
    W_exact: np.ndarray,
    caught: list[warnings.WarningMessage],
) -> list[str]:
    coef = np.asarray(model.coef_).reshape(-1, X.shape[1]).T
    error = float(np.linalg.norm(coef - W_exact)) / max(float(np.linalg.norm(W_exact)), 1e-300)
    r2 = _r2(Y, model.predict(X))
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


def _demo_dataset(title: str, X: np.ndarray, Y: np.ndarray, names: Sequence[str]) -> None:
    W_exact, b_exact = exact_solution(X, Y.reshape(len(Y), -1))
    print(
        f"\n{title}: N={X.shape[0]} rows, D={X.shape[1]} features, "
        f"K={Y.shape[1] if Y.ndim == 2 else 1} output(s)"
    )
    Y2 = Y.reshape(len(Y), -1)
    raw = _curvature(X, Y2, standardize=False)
    scaled = _curvature(X, Y2, standardize=True)
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


def _curvature(X: np.ndarray, Y: np.ndarray, *, standardize: bool) -> CurvatureEstimate:
    problem = LeastSquaresProblem(X, Y, standardize=standardize)
    return lanczos_extremes(problem.hvp, problem.D)


def _demo(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_diabetes, load_linnerud

    print(f"gradfit {__version__} demo: gradient methods against the exact least-squares answer")
    diabetes = load_diabetes()
    _demo_dataset("diabetes (scikit-learn)", diabetes.data, diabetes.target, diabetes.feature_names)
    linnerud = load_linnerud()
    _demo_dataset(
        f"linnerud (scikit-learn), targets {', '.join(linnerud.target_names)}",
        linnerud.data,
        linnerud.target,
        linnerud.feature_names,
    )
    print("\nSeed loop: score = X·w; error = y − score; gradient = Xᵀ·error/N; w += lr·gradient")
    print("  (on diabetes with X and y centred, so that no intercept is needed)")
    X = diabetes.data - diabetes.data.mean(axis=0)
    y = diabetes.target - diabetes.target.mean()
    L = _curvature(X, y[:, None], standardize=False).L
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
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradfit",
        description="Linear regression trained by gradient methods.",
        epilog="example: gradfit demo",
    )
    parser.add_argument("--version", action="version", version=f"gradfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="fit bundled real datasets and compare with the exact solution",
        description="Fit scikit-learn's diabetes (1 output) and linnerud (3 outputs) datasets "
        "with each method and compare with the exact least-squares solution.",
        epilog="example: gradfit demo",
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for usage errors.

    Examples
    --------
    >>> main(["--version"])
    gradfit 0.1.0
    0
    """
    try:
        args: Any = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
