"""The ``gradfit`` command line.

``gradfit demo`` fits real datasets bundled with scikit-learn and reports what
happened, every number computed on the spot. ``gradfit explain``, ``gradfit diagnose``
and ``gradfit check-gradient`` do the same for a CSV or Parquet file of your own.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._curvature import CurvatureEstimate, lanczos_extremes
from ._exact import exact_solution
from ._exceptions import ConvergenceWarning, GradfitInputError
from ._io import read_table
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


# -- explain, diagnose, check-gradient ----------------------------------------------------------
def _emit(args: argparse.Namespace, result: Any) -> None:
    """Print the report, or write it to ``--output``."""
    render = {"text": result.to_text, "markdown": result.to_markdown, "html": result.to_html}
    text = render[args.format]()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text)


def _save(ax: Any, path: str) -> None:
    from .plots import save_figure

    save_figure(ax, path)
    print(f"wrote figure {path}")


def _read(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    X, Y, names, targets = read_table(args.data, args.target, args.features)
    return X, (Y[:, 0] if Y.shape[1] == 1 else Y), names, targets


def _explain(args: argparse.Namespace) -> int:
    from ._explain import explain

    X, y, names, targets = _read(args)
    options = dict(
        fit_intercept=not args.no_intercept, standardize=not args.no_standardize, alpha=args.alpha
    )
    result = explain(
        X,
        y,
        learning_rate=args.learning_rate,
        steps=args.steps,
        feature_names=names,
        target_names=targets,
        **options,
    )
    _emit(args, result)
    if args.plot:
        from .plots import plot_learning_rate_sweep

        _save(plot_learning_rate_sweep(X, y, steps=args.steps, **options), args.plot)
    if args.plot_paths:
        import pandas as pd

        from .plots import plot_paths

        frame = pd.DataFrame(X, columns=names)
        target = pd.Series(y, name=targets[0]) if y.ndim == 1 else pd.DataFrame(y, columns=targets)
        _save(plot_paths(frame, target, features=args.pair, **options), args.plot_paths)
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from ._diagnose import diagnose

    X, y, names, targets = _read(args)
    model = None
    caught: list[warnings.WarningMessage] = []
    if args.fit or args.plot or args.plot_outputs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = GDRegressor(
                method=args.method,
                tol=args.tol,
                max_iter=args.max_iter,
                fit_intercept=not args.no_intercept,
                standardize=not args.no_standardize,
                alpha=args.alpha,
            ).fit(X, y)
    result = diagnose(
        X,
        y,
        model=model,
        fit_intercept=not args.no_intercept,
        standardize=not args.no_standardize,
        alpha=args.alpha,
        tol=args.tol,
        feature_names=names,
        target_names=targets,
    )
    _emit(args, result)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if model is not None and args.plot:
        from .plots import plot_loss

        optimum = result.fit.exact_loss if result.fit is not None else None
        _save(plot_loss(model, optimum=optimum, label=args.method), args.plot)
    if model is not None and args.plot_outputs:
        from .plots import plot_per_output_loss

        _save(plot_per_output_loss(model, target_names=targets), args.plot_outputs)
    return 0


def _load_function(spec: str) -> Callable[..., Any]:
    """Load ``path/to/module.py:function`` from a file path."""
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text or not name:
        raise GradfitInputError(
            f"expected path/to/module.py:function_name, got {spec!r} (the colon separates the "
            "file from the function)"
        )
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"module file {path_text!r} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"_gradfit_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise GradfitInputError(f"{path_text!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's module: report whatever it raised
        raise GradfitInputError(
            f"importing {path.name} failed: {type(err).__name__}: {err}"
        ) from err
    finally:
        sys.path.pop(0)
    function = getattr(module, name, None)
    if not callable(function):
        defined = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
        )
        raise GradfitInputError(
            f"{path.name} has no function {name!r}; it defines: {', '.join(defined) or 'none'}"
        )
    return function


def _check_gradient(args: argparse.Namespace) -> int:
    from .gradcheck import check_gradient

    function = _load_function(args.function)
    X, y, _, _ = _read(args)
    result = check_gradient(function, X, y, alpha=args.alpha)
    _emit(args, result)
    return 0 if result.ok else 1


def _add_data_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument("data", help="a CSV (or .tsv, .parquet) file with a header row")
    parser.add_argument(
        "--target", "-t", nargs="+", required=True, help="target column(s); several = multi-output"
    )
    parser.add_argument(
        "--features", "-f", nargs="+", help="feature columns (default: all other columns)"
    )


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-intercept", action="store_true", help="fit_intercept=False")
    parser.add_argument("--no-standardize", action="store_true", help="standardize=False")
    parser.add_argument("--alpha", type=float, default=0.0, help="L2 penalty (default 0)")


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("text", "markdown", "html"), default="text", help="report format"
    )
    parser.add_argument("--output", "-o", help="write the report to this file")


def _add_understanding(sub: Any) -> None:
    explain = sub.add_parser(
        "explain",
        help="explain the gradient-descent loop step by step with your data",
        description="Answer the seed's questions (why X.T.dot(error)/N is a gradient, why "
        "the transpose, why /N, which learning rate is safe) with your data's own numbers, "
        "each step verified on it.",
        epilog="example: gradfit explain diabetes.csv --target target --plot sweep.png",
    )
    _add_data_arguments(explain)
    _add_options(explain)
    explain.add_argument(
        "--learning-rate", type=float, default=1e-4, help="a rate to assess (default 0.0001)"
    )
    explain.add_argument("--steps", type=int, default=50, help="steps of the stability runs")
    _add_output(explain)
    explain.add_argument("--plot", help="write the learning-rate sweep (.png or .svg)")
    explain.add_argument(
        "--plot-paths", help="write the loss contours with the paths of each method (.png/.svg)"
    )
    explain.add_argument(
        "--pair", nargs=2, metavar="FEATURE", help="the two features of --plot-paths"
    )
    explain.set_defaults(func=_explain)

    diagnose = sub.add_parser(
        "diagnose",
        help="curvature, conditioning, safe learning rate and advice, before or after a fit",
        description="Measure L, μ and κ (unscaled and standardized), the largest stable "
        "learning rate and the iterations each method needs; with --fit, also how far the "
        "fit is from the optimum.",
        epilog="example: gradfit diagnose diabetes.csv --target target --plot curve.png",
    )
    _add_data_arguments(diagnose)
    _add_options(diagnose)
    diagnose.add_argument("--tol", type=float, default=1e-6, help="tolerance (default 1e-6)")
    diagnose.add_argument("--fit", action="store_true", help="fit, then assess the result")
    diagnose.add_argument(
        "--method", choices=("cg", "gd", "momentum", "nesterov"), default="cg", help="for --fit"
    )
    diagnose.add_argument("--max-iter", type=int, default=1000, help="for --fit")
    _add_output(diagnose)
    diagnose.add_argument("--plot", help="fit and write the loss curve (.png or .svg)")
    diagnose.add_argument("--plot-outputs", help="fit and write the loss of each output")
    diagnose.set_defaults(func=_diagnose)

    check = sub.add_parser(
        "check-gradient",
        help="check your gradient function and name the mistake",
        description="Call FUNCTION(X, y, W) from a Python file at a few random W and compare "
        "with the gradient of ½·MSE, G = Xᵀ(XW − y)/N (+ αW). Exit status 0 when it is G, "
        "1 when it is not (the report names the mistake), 2 for usage errors.",
        epilog="example: gradfit check-gradient mygrad.py:gradient --data diabetes.csv "
        "--target target",
    )
    check.add_argument("function", help="path/to/module.py:function_name")
    check.add_argument("--data", required=True, help="a CSV (or .parquet) file")
    _add_data_arguments(check, positional=False)
    check.add_argument("--alpha", type=float, default=0.0, help="L2 penalty of the loss")
    _add_output(check)
    check.set_defaults(func=_check_gradient)


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
    _add_understanding(sub)
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
        0 on success, 1 when ``check-gradient`` finds a mistake, 2 for usage errors
        (a missing file or column, a function that cannot be loaded).

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
    try:
        return int(args.func(args))
    except (GradfitInputError, FileNotFoundError, IsADirectoryError, TypeError) as err:
        print(f"gradfit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
