"""The ``gradfit`` command line.

``gradfit fit`` goes from a CSV or Parquet file to a fitted model file, an HTML report and
predictions in one command; ``gradfit predict`` applies a saved model to new data;
``gradfit report`` and ``gradfit sweep`` draw; ``gradfit explain``, ``gradfit diagnose`` and
``gradfit check-gradient`` answer questions about the method on your data; ``gradfit demo``
fits real datasets bundled with scikit-learn and writes a report, every number computed on
the spot.

Exit status: 0 on success; 1 when ``check-gradient`` finds a mistake or a fit with your own
learning rate diverges; 2 for usage and data errors (one or two lines on stderr naming the
cause and the fix; ``--debug`` adds the traceback); 130, 143 or 129 when stopped by SIGINT
(Ctrl-C), SIGTERM or SIGHUP, after removing temporary files and caches.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from ._exceptions import CollinearityWarning, DivergenceError, GradfitInputError, GradfitModelError
from ._files import atomic_write, describe_size, interruption, printable
from .solve.rules import METHODS

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    from .estimator import GDRegressor
    from .understand.diagnose import FitAssessment

__all__ = ["main"]


def _report_fit(
    name: str,
    model: GDRegressor,
    X: np.ndarray,
    Y: np.ndarray,
    W_exact: np.ndarray,
    caught: list[warnings.WarningMessage],
) -> list[str]:
    from .report import fit_scores

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
    from ._exceptions import ConvergenceWarning
    from .estimator import GDRegressor
    from .problem.exact import exact_solution
    from .problem.objective import LeastSquaresProblem

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

    from .problem.objective import LeastSquaresProblem

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
    from .understand.inference import inference

    diabetes_inference = inference(
        diabetes_model, feature_names=list(diabetes.feature_names), target_names=["progression"]
    )
    print("\nInference on diabetes (from the fit's sufficient statistics, no extra pass):")
    print("\n".join("  " + line for line in diabetes_inference.to_text().splitlines()))
    if args.no_report:
        return 0
    from .report import ReportInput, render_report

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


# -- explain, diagnose, check-gradient ----------------------------------------------------------
def _emit(args: argparse.Namespace, result: Any) -> None:
    """Print the report, or write it to ``--output``."""
    render = {"text": result.to_text, "markdown": result.to_markdown, "html": result.to_html}
    text = render[args.format]()
    if args.output:
        _write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        print(text)


def _save(ax: Any, path: str) -> None:
    from .plots import save_figure

    save_figure(ax, path)
    print(f"wrote figure {path}")


def _one_column(Y: np.ndarray) -> np.ndarray:
    """A one-column target as a vector (N,); several columns as they are (N, K)."""
    return Y[:, 0] if Y.shape[1] == 1 else Y


def _read(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``DATA --target … --features …``: X, y (a vector for one target), names, targets.

    Text columns are one-hot encoded (``names`` are then ``column=level``); the
    encoding and the rows dropped are kept on ``args`` for the model file and the
    summary, and the notes (a row index left out) are printed.
    """
    from ._cli_tables import table_options
    from ._io import read_prepared

    table = read_prepared(
        args.data,
        args.target,
        args.features,
        fit_intercept=not getattr(args, "no_intercept", False),
        **table_options(args),
    )
    args.encoding, args.rows_dropped = table.encoding, table.dropped
    for note in table.notes:
        _note(args, f"note: {note}")
    if table.dropped and getattr(args, "func", None) is not _fit:  # fit says it in its summary
        _note(args, f"note: left out {table.dropped} row(s) with missing values (--missing drop)")
    return table.X, _one_column(table.Y), table.names, table.targets


def _explain(args: argparse.Namespace) -> int:
    from .understand.explain import explain

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
    from ._exceptions import ConvergenceWarning
    from ._tables import streams
    from .estimator import GDRegressor
    from .understand.diagnose import diagnose, diagnose_statistics

    streamed = streams(args.data, args.stream)
    if streamed:  # one source: the fit (if any) reads it, then one pass for the statistics
        from ._tables import open_table, source_blocks

        source = open_table(args.data, args.target, args.features)
        data: Any = source
        y = None
        names, targets = list(source.columns), list(source.target_names)
    else:
        data, y, names, targets = _read(args)
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
            ).fit(data, y)
        if streamed and hasattr(model, "feature_names_in_"):
            del model.feature_names_in_  # it predicts the blocks' arrays below
    options = dict(
        fit_intercept=not args.no_intercept,
        standardize=not args.no_standardize,
        alpha=args.alpha,
        tol=args.tol,
        feature_names=names,
        target_names=targets,
    )
    if streamed:
        seen = _collect(
            args, source_blocks(source, with_bytes=True), None, names, targets, source.size()
        )
        result = diagnose_statistics(seen.statistics, model=model, **options)
    else:
        result = diagnose(data, y, model=model, **options)
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
    # registered as a module while it runs, as an import would (dataclasses need it)
    sys.modules[module_spec.name] = module
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
    from ._cli_tables import add_table_arguments

    parser.add_argument(
        "--target",
        "-t",
        nargs="+",
        action="extend",
        required=True,
        help="target column(s); several = multi-output (repeating -t adds to the list)",
    )
    parser.add_argument(
        "--features",
        "-f",
        nargs="+",
        action="extend",
        help="feature columns (default: all other columns; text ones are one-hot encoded)",
    )
    add_table_arguments(parser)


def _add_streaming(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream DATA (CSV, Parquet, .npy) in blocks with bounded memory, as is done "
        "automatically above 256 MiB (GRADFIT_STREAM_ABOVE bytes)",
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
        **_common(),
        help="explain the gradient-descent loop step by step with your data",
        description="Answer the seed's questions (why X.T.dot(error)/N is a gradient, why "
        "the transpose, why /N, which learning rate is safe) with your data's own numbers, "
        "each step verified on it.",
        epilog="example: gradfit explain diabetes.csv --target progression --plot sweep.png",
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
        **_common(),
        help="curvature, conditioning, safe learning rate and advice, before or after a fit",
        description="Measure L, μ and κ (unscaled and standardized), the largest stable "
        "learning rate and the iterations each method needs; with --fit, also how far the "
        "fit is from the optimum.",
        epilog="example: gradfit diagnose diabetes.csv --target progression --plot curve.png",
    )
    _add_data_arguments(diagnose)
    _add_options(diagnose)
    diagnose.add_argument("--tol", type=_tolerance, default=1e-6, help="tolerance (default 1e-6)")
    diagnose.add_argument("--fit", action="store_true", help="fit, then assess the result")
    diagnose.add_argument(
        "--method", choices=("cg", "gd", "momentum", "nesterov"), default="cg", help="for --fit"
    )
    diagnose.add_argument("--max-iter", type=int, default=1000, help="for --fit")
    _add_output(diagnose)
    diagnose.add_argument("--plot", help="fit and write the loss curve (.png or .svg)")
    diagnose.add_argument("--plot-outputs", help="fit and write the loss of each output")
    _add_streaming(diagnose)
    diagnose.set_defaults(func=_diagnose)

    check = sub.add_parser(
        "check-gradient",
        **_common(),
        help="check your gradient function and name the mistake",
        description="Call FUNCTION(X, y, W) from a Python file at a few random W and compare "
        "with the gradient of ½·MSE, G = Xᵀ(XW − y)/N (+ αW). Exit status 0 when it is G, "
        "1 when it is not (the report names the mistake), 2 for usage errors.",
        epilog="example: gradfit check-gradient mygrad.py:gradient --data diabetes.csv "
        "--target progression",
    )
    check.add_argument("function", help="path/to/module.py:function_name")
    check.add_argument("--data", required=True, help="a CSV (or .parquet) file")
    _add_data_arguments(check, positional=False)
    check.add_argument("--alpha", type=float, default=0.0, help="L2 penalty of the loss")
    _add_output(check)
    check.set_defaults(func=_check_gradient)


# -- shared helpers -----------------------------------------------------------------------------
class UsageError(Exception):
    """A wrong combination of options: reported like argparse's own errors, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in two lines (the cause, then where the help is)."""

    def error(self, message: str) -> Any:
        self.exit(
            2,
            f"{self.prog}: error: {message}\n  run '{self.prog} --help' for the options "
            "and an example\n",
        )


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wrap one-paragraph descriptions; keep multi-line texts (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def _common() -> dict[str, Any]:
    """What every subcommand's parser shares: ``--debug`` and the layout of its help."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on an error, show the Python traceback too",
    )
    return {"parents": [common], "formatter_class": _Formatter}


def _write_text(path: str | Path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def _bounded(parse: Callable[[str], Any], low: float, strict: bool, words: str) -> Any:
    """An argparse ``type`` that parses a number and checks it against ``low``."""
    noun = "whole number" if parse is int else "number"

    def check(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text!r}: use {words}")
        return value

    return check


_positive_int = _bounded(int, 1, False, "a whole number of at least 1")
_non_negative_int = _bounded(int, 0, False, "a whole number of at least 0")
_non_negative_float = _bounded(float, 0.0, False, "a finite number of at least 0")
_positive_float = _bounded(float, 0.0, True, "a positive number")
# a relative gradient norm below float64's precision can never be measured: refused up front
_tolerance = _bounded(
    float, 1e-15, False, "a number of at least 1e-15 (float64 cannot measure a smaller gradient)"
)


def _fraction(text: str) -> float:
    """``--test-size``: a fraction strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use a fraction of the rows strictly between 0 and 1, e.g. 0.2"
        )
    return value


def _learning_rate(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use 'auto' or a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: use 'auto' or a positive number")
    return value


def _say(args: argparse.Namespace, text: str = "") -> None:
    """Print to stdout unless ``--quiet`` (or ``--json``, whose output is the JSON)."""
    if not getattr(args, "quiet", False) and not getattr(args, "json", False):
        print(text)


def _note(args: argparse.Namespace, text: str) -> None:
    """A message on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def _finite(value: Any) -> Any:
    """JSON has no inf or NaN: None instead."""
    value = float(value)
    return value if math.isfinite(value) else None


def _progress_mode(args: argparse.Namespace) -> str:
    if args.quiet:
        return "off"
    if sys.stderr.isatty():
        return "bar"
    return "lines" if args.verbose else "off"


def _terminal(args: argparse.Namespace) -> bool:
    """Whether progress lines show: stderr is a terminal and no ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model options (as in GDRegressor)")
    group.add_argument(
        "--method",
        choices=METHODS,
        default="cg",
        help="update rule: cg (default, no learning rate), gd (the seed's loop), momentum, "
        "nesterov, sgd (mini-batches), exact (direct solve)",
    )
    group.add_argument(
        "--learning-rate",
        "--lr",
        type=_learning_rate,
        default="auto",
        metavar="RATE",
        help="'auto' (1/L from the data, halved if the loss rises) or a positive number "
        "(gd, momentum, nesterov, sgd)",
    )
    group.add_argument(
        "--max-iter", type=_non_negative_int, default=1000, metavar="N", help="(default 1000)"
    )
    group.add_argument(
        "--tol",
        type=_tolerance,
        default=1e-6,
        help="stop when every target's ‖G‖/‖G(0)‖ <= TOL (default 1e-6)",
    )
    group.add_argument(
        "--no-intercept", action="store_true", help="fit_intercept=False: no intercept"
    )
    group.add_argument(
        "--alpha",
        type=_alpha_option,
        default=0.0,
        help="L2 penalty (α/2)‖W‖² (default 0), or 'auto': chosen by exact cross-validation "
        "from the sufficient statistics (leave-one-out, or --cv K folds)",
    )
    group.add_argument(
        "--alphas",
        type=_non_negative_float,
        nargs="+",
        metavar="A",
        help="with --alpha auto: the alphas to try (default: 30 log-spaced values scaled "
        "to the data)",
    )
    group.add_argument(
        "--cv",
        type=_cv_folds,
        metavar="K",
        help="with --alpha auto: K-fold cross-validation (one pass) instead of leave-one-out",
    )
    group.add_argument(
        "--no-standardize",
        action="store_true",
        help="standardize=False (the answer is the same; only the speed changes)",
    )
    group.add_argument(
        "--seed", type=_non_negative_int, default=None, help="random_state (sgd's batch order)"
    )
    group.add_argument(
        "--batch-size", type=_positive_int, default=256, metavar="N", help="sgd's batch size"
    )
    group.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="write the fit's state to PATH while it runs (atomically) and resume from it if "
        "it exists: a killed fit, run again, ends with the same coefficients",
    )
    group.add_argument(
        "--checkpoint-every",
        type=_every,
        default=5.0,
        metavar="N|Ts",
        help="checkpoint every N iterations, or every T seconds with a trailing 's' (default 5s)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="require the --checkpoint file to exist (fail instead of starting afresh)",
    )


def _add_chatter(parser: argparse.ArgumentParser, *, json_option: bool = True) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing but errors" + (" (and --json)" if json_option else ""),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="when stderr is not a terminal, print a progress line every few seconds",
    )


def _alpha_option(text: str) -> float | str:
    """``--alpha``: a non-negative number or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _non_negative_float(text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(
            f"{err}; or 'auto' to choose it by cross-validation"
        ) from None


def _cv_folds(text: str) -> int:
    """``--cv K``: at least 2 folds."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number of folds, e.g. 5") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: K-fold needs at least 2 folds")
    return value


def _choose_alpha(args: argparse.Namespace, model: GDRegressor, X: Any, y: Any) -> None:
    """``--alpha auto``: choose alpha by cross-validation (GDRegressorCV) before the fit."""
    if getattr(args, "alpha", None) != "auto":
        if getattr(args, "alphas", None):
            raise UsageError("--alphas is for choosing alpha: add --alpha auto")
        if getattr(args, "cv", None) and not getattr(args, "cv_scores", False):
            raise UsageError(
                "--cv is for choosing alpha here: add --alpha auto (gradfit fit --cv K without "
                "it reports K-fold held-out scores)"
            )
        return
    from .cv import GDRegressorCV
    from .understand.render import fmt

    search = GDRegressorCV(alphas=args.alphas, cv=args.cv, fit_intercept=not args.no_intercept)
    if y is None:  # a streamed file: the search reads it once, with the same columns
        spec = getattr(X, "spec", None)
        if spec is None:
            raise UsageError(
                "--alpha auto reads a file's rows for cross-validation; it is not available "
                "with --source: give --alpha a number"
            )
        X = spec
    search.fit(X, y)
    model.set_params(alpha=float(search.alpha_))
    args.alpha_search = search
    how = "leave-one-out" if args.cv is None else f"{args.cv}-fold"
    scoring = "R²" if args.cv else "−MSE"
    edge = ""
    if search.alpha_ in (float(search.alphas_.min()), float(search.alphas_.max())):
        side = "smallest" if search.alpha_ == float(search.alphas_.min()) else "largest"
        edge = f"; it is the {side} alpha tried, so a better one may lie beyond: widen --alphas"
    _note(
        args,
        f"alpha chosen by {how} cross-validation over {len(search.alphas_)} values: "
        f"α = {fmt(float(search.alpha_))} (mean {scoring} {fmt(float(search.best_score_), 6)})"
        + edge,
    )


def _alpha_search(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``--alpha auto`` search for the JSON summary, or None."""
    search = getattr(args, "alpha_search", None)
    if search is None:
        return None
    results = search.cv_results_
    return {
        "cv": "leave-one-out" if search.cv is None else int(search.cv),
        "scoring": "neg_mean_squared_error" if search.cv is None else "r2",
        "alpha": float(search.alpha_),
        "best_score": _finite(search.best_score_),
        "alphas": [float(a) for a in search.alphas_],
        "mean_test_score": [_finite(v) for v in results["mean_test_score"]],
        "std_error_test_score": [_finite(v) for v in results["std_error_test_score"]],
    }


def _every(text: str) -> int | float:
    """``100`` → every 100 iterations; ``2.5s`` → every 2.5 seconds."""
    try:
        value: int | float = float(text[:-1]) if text.endswith("s") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use a number of iterations (e.g. 100) or seconds (e.g. 5s)"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must not be negative")
    return value


def _estimator(args: argparse.Namespace) -> GDRegressor:
    from .estimator import GDRegressor

    checkpoint = getattr(args, "checkpoint", None)
    if getattr(args, "resume", False):
        if checkpoint is None:
            raise UsageError("--resume needs --checkpoint PATH (the checkpoint to resume from)")
        if not os.path.exists(checkpoint):
            raise UsageError(
                f"--resume: no checkpoint at {checkpoint}; run without --resume to start afresh"
            )
    if args.learning_rate != "auto" and args.method in ("cg", "exact"):
        raise UsageError(
            f"--learning-rate {args.learning_rate} needs --method gd, momentum, nesterov or sgd: "
            f"{args.method} chooses its own steps (leave --learning-rate out)"
        )
    return GDRegressor(
        method=args.method,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        tol=args.tol,
        fit_intercept=not args.no_intercept,
        alpha=0.0 if args.alpha == "auto" else args.alpha,  # auto: set by _choose_alpha
        standardize=not args.no_standardize,
        random_state=args.seed,
        batch_size=args.batch_size,
        checkpoint=checkpoint,
        checkpoint_every=getattr(args, "checkpoint_every", 5.0),
    )


def _fit_with_progress(
    args: argparse.Namespace,
    model: GDRegressor,
    X: Any,
    y: np.ndarray | None,
    names: Sequence[str] | None = None,
) -> tuple[float, list[str]]:
    """Fit with the progress display; returns the seconds taken and the warnings.

    ``names`` are the table's feature columns: a warning's ``x3`` becomes its name.
    """
    from ._exceptions import ConvergenceWarning, DataNote
    from ._progress import Progress

    _choose_alpha(args, model, X, y)
    progress = Progress(sys.stderr, max_iter=args.max_iter, tol=args.tol, mode=_progress_mode(args))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", CollinearityWarning)
        warnings.simplefilter("always", DataNote)
        start = time.perf_counter()
        try:
            search = getattr(args, "alpha_search", None)
            if y is None and search is not None:
                # streamed, and the search already read the file: its statistics are all
                # the fit needs (no second pass over the file)
                model.fit(search.statistics_, None, callback=progress)
            else:
                model.fit(X, y, callback=progress)
        except BaseException:  # Ctrl-C or a divergence: end the bar's line, then report
            progress.close("stopped after")
            raise
        progress.close()
        seconds = time.perf_counter() - start
    for w in caught:
        if issubclass(w.category, DataNote):
            _note(args, f"note: {_cli_words(str(w.message)).replace('features=', '--features')}")
    messages = [
        _cli_words(_column_names(str(w.message), names))
        for w in caught
        if issubclass(w.category, ConvergenceWarning | CollinearityWarning)
    ]
    for message in messages:
        _note(args, f"warning: {message}")
    return seconds, messages


def _column_names(message: str, names: Sequence[str] | None) -> str:
    """The estimator's ``x0``, ``x1``… (it fitted an array) as the table's column names.

    Examples
    --------
    >>> _column_names("constant column(s) x1, x3 (coefficient 0)", ["a", "b", "c", "d"])
    'constant column(s) b, d (coefficient 0)'
    """
    if not names:
        return message

    def name(match: re.Match[str]) -> str:
        j = int(match.group(1))
        return printable(str(names[j]), 60) if j < len(names) else match.group(0)

    return re.sub(r"\bx(\d+)\b", name, message)


_CLI_WORDS = (
    (re.compile(r"max_iter=(\d+)"), r"--max-iter \1"),
    (re.compile(r"method=['\"](\w+)['\"]"), r"--method \1"),
    (re.compile(r"learning_rate='auto'"), "leaving --learning-rate out (auto)"),
    (re.compile(r"standardize=True"), "leaving --no-standardize out"),
    (re.compile(r"alpha > 0"), "--alpha > 0"),
    (re.compile(r"raise tol"), "raise --tol"),
)


def _cli_words(message: str) -> str:
    """Say a warning's fix in options (``--max-iter 9742``) rather than parameters.

    Examples
    --------
    >>> _cli_words("did not converge (max_iter=1000). Fix: max_iter=9742 or method='cg'.")
    'did not converge (max_iter=1000). Fix: --max-iter 9742 or --method cg.'
    """
    head, sep, fix = message.partition("Fix:")
    for pattern, words in _CLI_WORDS:
        fix = pattern.sub(words, fix)
    return head + sep + fix


def _prediction_frame(
    P: np.ndarray, targets: Sequence[str], kept: Any = None, *, escape: bool = True
) -> Any:
    import pandas as pd

    frame = pd.DataFrame({f"predicted_{t}": P[:, k] for k, t in enumerate(targets)})
    if kept is not None and len(kept.columns):
        frame = pd.concat([kept.reset_index(drop=True), frame], axis=1)
    return escape_formulas(frame) if escape else frame


#: What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape_cell(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:  # a number such as -1.5 or +3 is data, not a formula
        float(value)
    except ValueError:
        return "'" + value
    return value


def escape_formulas(frame: Any) -> Any:
    """Text cells and headers a spreadsheet would run as a formula, made plain text.

    A cell of a text column (and a column name) that starts with ``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return and is not a number gets a leading ``'``, which spreadsheets
    read as "this is text" (CSV injection). Numbers, including negative ones, are unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": ["=HYPERLINK(1)", "-2", "@x", "ok"], "p": [-1.0, 2, 3, 4]})
    >>> escape_formulas(frame)["id"].tolist()
    ["'=HYPERLINK(1)", '-2', "'@x", 'ok']
    >>> list(escape_formulas(frame.rename(columns={"id": "=cmd"})).columns)
    ["'=cmd", 'p']
    """
    frame = frame.copy()
    frame.columns = [_escape_cell(str(c)) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
            frame[column] = frame[column].map(_escape_cell)
    return frame


def _write_table(frame: Any, path: str) -> None:
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        buffer = frame.to_parquet(index=False)
        with atomic_write(path, "wb") as f:
            f.write(buffer)
        return
    sep = "\t" if suffix == ".tsv" else ","
    _write_text(path, frame.to_csv(index=False, sep=sep))


# -- fit --------------------------------------------------------------------------------------
def _summary(
    args: argparse.Namespace,
    model: GDRegressor,
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    targets: list[str],
    seconds: float,
    messages: list[str],
    files: dict[str, str | None],
    assessment: FitAssessment,
) -> dict[str, Any]:
    from .report import fit_scores

    P = np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)
    r2, rmse = fit_scores(y, P)
    mae = np.mean(np.abs(np.asarray(y, dtype=np.float64).reshape(P.shape) - P), axis=0)
    optimum = _optimum(assessment)
    return _summary_dict(
        args,
        model,
        int(X.shape[0]),
        names,
        targets,
        seconds,
        messages,
        files,
        r2=r2,
        rmse=rmse,
        mae=mae,
        loss=assessment.loss,
        optimum=optimum,
    )


def _optimum(assessment: FitAssessment, how: str = "svd") -> dict[str, Any]:
    """The summary's ``optimum``: the distance to the exact solution, or the bound from ‖G‖/μ."""
    optimum: dict[str, Any] = {
        "exact": assessment.exact_relative_distance is not None,
        "relative_distance": None,
        "loss_gap": None,
        "distance_bound": _finite(assessment.distance_bound),
        "bound_is_rigorous": bool(assessment.rigorous),
    }
    if assessment.exact_relative_distance is not None and assessment.exact_loss is not None:
        optimum["relative_distance"] = _finite(assessment.exact_relative_distance)
        optimum["loss_gap"] = _finite(assessment.gap)
        optimum["exact_method"] = how
    return optimum


def _summary_dict(
    args: argparse.Namespace,
    model: GDRegressor,
    n_samples: int,
    names: list[str],
    targets: list[str],
    seconds: float,
    messages: list[str],
    files: dict[str, str | None],
    *,
    r2: Any,
    rmse: Any,
    loss: float | None,
    optimum: dict[str, Any],
    streamed: bool = False,
    mae: Any = None,
) -> dict[str, Any]:
    """The fit summary (printed, or ``--json``), in-memory and streamed alike."""
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(len(targets), len(names))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    params = {
        k: (v if v is None or isinstance(v, bool | int | float | str) else repr(v))
        for k, v in model.get_params().items()
    }
    summary: dict[str, Any] = {
        "command": "fit",
        "gradfit_version": __version__,
        "data": str(args.data),
        "n_samples": n_samples,
        "n_features": len(names),
        "n_outputs": len(targets),
        "features": names,
        "targets": targets,
        "params": params,
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
        "stop_reason": model.stop_reason_,
        "seconds": seconds,
        "loss": None if loss is None else _finite(loss),
        "lipschitz": _finite(model.lipschitz_),
        "condition_number": _finite(model.condition_number_),
        "engine": getattr(model, "engine_", None),
        "certificate": (
            model.certificate_.to_dict() if getattr(model, "certificate_", None) else None
        ),
    }
    if streamed:
        summary["streamed"] = True
    summary["rows_dropped"] = int(getattr(args, "rows_dropped", 0) or 0)
    encoding = getattr(args, "encoding", None)
    summary["categorical"] = (
        {c.name: list(c.levels) for c in encoding.columns if c.levels is not None}
        if encoding is not None
        else {}
    )
    summary["optimum"] = optimum
    summary["scores"] = [
        {
            "target": t,
            "r2": _finite(r2[k]),
            "rmse": _finite(rmse[k]),
            "mae": None if mae is None else _finite(mae[k]),
            "intercept": float(intercept[k]),
            "coefficients": {n: float(coef[k, j]) for j, n in enumerate(names)},
        }
        for k, t in enumerate(targets)
    ]
    summary["files"] = files
    summary["warnings"] = messages
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    from ._progress import format_seconds
    from .understand.render import fmt

    K = summary["n_outputs"]
    print(
        f"gradfit fit {summary['data']}: N={summary['n_samples']} rows, "
        f"D={summary['n_features']} features, K={K} target{'s' if K > 1 else ''} "
        f"({', '.join(summary['targets'])})"
    )
    if summary.get("rows_dropped"):
        print(f"  left out {summary['rows_dropped']} row(s) with missing values (--missing drop)")
    for column, levels in summary.get("categorical", {}).items():
        print(
            f"  {column}: {len(levels)} levels one-hot encoded; reference level "
            f"{levels[0]!r} (the other levels' coefficients are differences from it)"
            if summary["params"].get("fit_intercept")
            else f"  {column}: {len(levels)} levels one-hot encoded"
        )
    print(f"  method {summary['params']['method']}: {summary['stop_reason']}")
    kappa = summary["condition_number"]
    print(
        f"  iterations {summary['n_iter']} in {format_seconds(summary['seconds'])}; "
        f"L = {fmt(summary['lipschitz'] or math.inf)}, "
        f"κ ≈ {fmt(kappa if kappa is not None else math.inf)}; engine {summary['engine']}"
    )
    certificate = summary.get("certificate")
    if certificate is not None:
        worst = max(certificate["relative_grad_norm"], default=0.0)
        bound = max((b for b in certificate["coef_error_bound"] if b is not None), default=None)
        rank = certificate["rank"]
        D = certificate["n_features"]
        print(
            f"  certificate: {'verified' if certificate['verified'] else 'NOT verified'} "
            f"(float64 gradient {fmt(worst, 3)} of its start, standardised); rank {rank} of {D}"
            + (f", minimum norm {certificate['minimum_norm']}" if rank < D else "")
            + (f"; ‖W − W*‖/‖W‖ <= {fmt(bound, 3)}" if bound is not None else "")
        )
    optimum = summary["optimum"]
    if optimum.get("not_assessed"):
        print(f"  distance to the optimum: not assessed: {optimum['not_assessed']}")
    elif optimum["exact"]:
        how = (
            "solve of the D×D system of the sufficient statistics"
            if optimum.get("exact_method") == "statistics"
            else "least squares by SVD"
        )
        print(
            "  distance to the optimum: ‖W − W*‖/‖W*‖ = "
            f"{fmt(optimum['relative_distance'] or 0.0, 3)}, f − f* = "
            f"{fmt(optimum['loss_gap'] or 0.0, 3)} (W* = exact {how})"
        )
    else:
        bound = optimum["distance_bound"]
        bound_text = fmt(bound if bound is not None else math.inf, 3)
        print(
            f"  distance to the optimum: ‖W − W*‖ <= {bound_text} from ‖G‖/μ"
            + ("" if optimum["bound_is_rigorous"] else " (μ estimated: indicative)")
        )
    heldout = summary.get("heldout")
    if heldout is not None:
        print(
            f"  held out: {heldout['n_test']} of {heldout['n_train'] + heldout['n_test']} rows "
            f"(--test-size {heldout['test_size']:g}, seed {heldout['seed']}); the model is "
            f"fitted on the other {heldout['n_train']} rows only"
        )
    for k, score in enumerate(summary["scores"]):
        r2 = score["r2"] if score["r2"] is not None else math.nan
        mae = score.get("mae")
        print(
            f"\n  target {score['target']}: R² = {fmt(r2, 6)}, "
            f"RMSE = {fmt(score['rmse'], 6)}"
            + (f", MAE = {fmt(mae, 6)}" if mae is not None else "")
            + (" (on the training data)" if heldout is None else " (on the training rows)")
        )
        _print_heldout(summary, k)
        rows = [("(intercept)", score["intercept"]), *score["coefficients"].items()]
        width = max(len("term"), *(len(n) for n, _ in rows))
        print(f"    {'term':<{width}}  coefficient")
        for name, value in rows:
            print(f"    {name:<{width}}  {value:>+.8g}")
    files = {k: v for k, v in summary["files"].items() if v}
    print("\n  files:")
    for kind, path in files.items():
        print(f"    {kind:<12} {path} ({describe_size(path)})")
    if not summary["files"].get("model"):
        print("    (the model was not saved: add -o model.gfm to keep it)")


def _inference_kind(text: str) -> tuple[str, str | None]:
    """``--inference`` values: ``nonrobust``, ``HC0``–``HC3`` or ``cluster:COL``.

    Examples
    --------
    >>> _inference_kind("hc3"), _inference_kind("cluster:firm")
    (('HC3', None), ('cluster', 'firm'))
    """
    kind, _, column = text.partition(":")
    known = {"nonrobust": "nonrobust", **{f"hc{i}": f"HC{i}" for i in range(4)}}
    if kind.lower() == "cluster" and column:
        return "cluster", column
    if kind.lower() in known and not column:
        return known[kind.lower()], None
    raise argparse.ArgumentTypeError(
        f"{text!r}: use nonrobust, HC0, HC1, HC2, HC3 or cluster:COL (COL holds the cluster labels)"
    )


def _cluster_labels(args: argparse.Namespace) -> np.ndarray:
    """The ``cluster:COL`` column; COL is then left out of the default features."""
    from ._io import _load_frame

    column = args.inference[1]
    frame = _load_frame(Path(args.data), getattr(args, "sep", None))
    columns = [str(c) for c in frame.columns]
    if column not in columns:
        raise UsageError(
            f"--inference cluster:{column}: {Path(args.data).name} has no column {column!r}; "
            f"its columns are: {', '.join(columns)}"
        )
    if column in args.target or (args.features and column in args.features):
        raise UsageError(f"--inference cluster:{column}: {column} is a target or a feature")
    if args.features is None:
        from ._encode import index_like

        left_out = set(getattr(args, "exclude", None) or [])
        args.features = [
            c
            for c in columns
            if c not in args.target and c != column and c not in left_out and not index_like(c)
        ]
    labels = np.asarray(frame[frame.columns[columns.index(column)]].to_numpy())
    if getattr(args, "missing", "error") == "drop":  # the rows the fit keeps (as _read drops)
        frame.columns = columns
        used = [*(args.features or []), *args.target]
        labels = labels[~frame[used].isna().any(axis=1).to_numpy()]
    return labels


def _fit(args: argparse.Namespace) -> int:
    from ._tables import streams
    from .persistence import save_model
    from .understand.diagnose import diagnose

    if getattr(args, "source", None) is not None or streams(args.data, args.stream):
        return _fit_streamed(args)
    model = _estimator(args)
    groups = None
    if args.inference is not None:
        if args.alpha > 0:
            raise UsageError(
                "--inference needs an unpenalised fit: leave --alpha out (the OLS standard "
                "errors do not hold for ridge)"
            )
        if args.inference[0] == "cluster":
            groups = _cluster_labels(args)
    from ._validation import MagnitudeError

    try:
        X, y, names, targets = _read(args)
    except MagnitudeError:
        # columns beyond 1e±50: the in-memory diagnosis cannot carry them; the streamed
        # fit rescales them by exact powers of two (issue 11, class 9)
        if args.report or args.inference is not None:
            raise
        return _fit_streamed(args)
    args.cv_scores = True
    split = _split_rows(args, len(X), names)
    X_all, y_all = X, y
    if split is not None:
        X, y = X[~split], y[~split]
        if groups is not None:
            groups = groups[~split]
    seconds, messages = _fit_with_progress(args, model, X, y, names)
    # one diagnosis (with its exact solution) for the report and the summary; computed
    # under -q too, since it refuses data it cannot assess and -q keeps the exit status.
    # It comes before any file is written: a command that fails leaves no new outputs.
    diagnosis = diagnose(X, y, model=model, feature_names=names, target_names=targets)
    result = None
    if args.inference is not None:
        from .understand.inference import inference

        result = inference(
            model,
            X,
            y,
            cov_type=args.inference[0],
            groups=groups,
            feature_names=names,
            target_names=targets,
        )
    files: dict[str, str | None] = {"model": None, "predictions": None, "report": None}
    if args.output:
        save_model(
            model,
            args.output,
            feature_names=names,
            target_names=targets,
            inference=result,
            encoding=getattr(args, "encoding", None),
        )
        files["model"] = args.output
    heldout = _heldout(args, model, X_all, y_all, split, targets)
    if args.predictions:  # every row, in the file's order; with --test-size, which part
        P = np.asarray(model.predict(X_all), dtype=np.float64).reshape(len(X_all), -1)
        kept = None
        if split is not None:
            import pandas as pd

            kept = pd.DataFrame({"split": np.where(split, "test", "train")})
        _write_table(_prediction_frame(P, targets, kept), args.predictions)
        files["predictions"] = args.predictions
    assert diagnosis.fit is not None
    summary = _summary(args, model, X, y, names, targets, seconds, messages, files, diagnosis.fit)
    summary.update(heldout)

    def report() -> None:
        from .report import write_report

        write_report(
            args.report,
            model,
            X,
            y,
            feature_names=names,
            target_names=targets,
            name=Path(args.data).name,
            explanation=not args.no_explain,
            diagnosis=diagnosis,
            inference=result,
            cv=getattr(args, "alpha_search", None),
            heldout=heldout,
            progress=_terminal(args),
        )

    return _summary_then_report(args, summary, result, report)


def _summary_then_report(
    args: argparse.Namespace, summary: dict[str, Any], result: Any, report: Callable[[], None]
) -> int:
    """Print the fit summary, then write ``--report`` (with its progress on a terminal).

    The summary comes first, as soon as the fit is known; the report's line follows it.
    ``--json`` prints one document, so there the report is written first and listed in it;
    ``-q`` prints nothing.
    """
    if not args.report:
        return _emit_fit_summary(args, summary, result) if args.json or not args.quiet else 0
    if args.json or args.quiet:
        report()
        summary["files"]["report"] = args.report
        return _emit_fit_summary(args, summary, result) if args.json else 0
    _emit_fit_summary(args, summary, result)
    sys.stdout.flush()
    report()
    summary["files"]["report"] = args.report
    print(f"    {'report':<12} {args.report} ({describe_size(args.report)})")
    return 0


# -- held-out scores (--test-size, --cv K) ----------------------------------------------------
def _split_seed(args: argparse.Namespace) -> int:
    return 0 if args.seed is None else int(args.seed)


def _split_rows(args: argparse.Namespace, n: int, names: Sequence[str]) -> np.ndarray | None:
    """``--test-size``: which rows are held out (True), or None without it."""
    from ._holdout import held_out_rows, split_counts

    if args.test_size is None:
        return None
    split = held_out_rows(0, n, args.test_size, _split_seed(args))
    n_test = int(split.sum())
    split_counts(n - n_test, n_test, len(names), str(args.data))
    return split


def _score_list(targets: Sequence[str], scores: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"target": t, **{name: _finite(values[k]) for name, values in scores.items()}}
        for k, t in enumerate(targets)
    ]


def _heldout_dict(
    args: argparse.Namespace, n_train: int, n_test: int, scores: dict[str, Any], targets: Any
) -> dict[str, Any]:
    return {
        "test_size": float(args.test_size),
        "seed": _split_seed(args),
        "n_train": n_train,
        "n_test": n_test,
        "model_fitted_on": "train",
        "scores": _score_list(targets, scores),
    }


def _heldout(
    args: argparse.Namespace,
    model: GDRegressor,
    X: np.ndarray,
    y: np.ndarray,
    split: np.ndarray | None,
    targets: Sequence[str],
) -> dict[str, Any]:
    """The summary's ``heldout`` (``--test-size``) and ``cross_validation`` (``--cv K``)."""
    from ._holdout import cross_validated_scores, regression_scores

    out: dict[str, Any] = {}
    if split is not None:
        P = np.asarray(model.predict(X[split]), dtype=np.float64)
        scores = regression_scores(y[split], P)
        out["heldout"] = _heldout_dict(args, int((~split).sum()), int(split.sum()), scores, targets)
    if args.cv is not None and args.alpha != "auto":
        train = slice(None) if split is None else ~split
        cv = cross_validated_scores(model, X[train], y[train], args.cv, _split_seed(args))
        out["cross_validation"] = {
            "folds": cv.pop("folds"),
            "seed": cv.pop("seed"),
            "rows": "train" if split is not None else "all",
            "scores": _score_list(targets, cv),
        }
    return out


def _print_heldout(summary: dict[str, Any], k: int) -> None:
    """The held-out lines of target ``k`` in the text summary."""
    from .understand.render import fmt

    def num(value: Any) -> str:
        return fmt(value if value is not None else math.nan, 6)

    heldout = summary.get("heldout")
    if heldout is not None:
        s = heldout["scores"][k]
        print(
            f"    held out: R² = {num(s['r2'])}, RMSE = {num(s['rmse'])}, MAE = {num(s['mae'])} "
            f"(on the {heldout['n_test']} test rows, not used by the fit)"
        )
    cv = summary.get("cross_validation")
    if cv is not None:
        s = cv["scores"][k]
        print(
            f"    {cv['folds']}-fold cross-validation: R² = {num(s['r2'])} ± {num(s['r2_std'])}, "
            f"RMSE = {num(s['rmse'])} ± {num(s['rmse_std'])}, MAE = {num(s['mae'])} ± "
            f"{num(s['mae_std'])} (mean ± sd over the folds"
            + (", within the training part)" if cv["rows"] == "train" else ")")
        )


def _emit_fit_summary(args: argparse.Namespace, summary: dict[str, Any], result: Any) -> int:
    """Add the inference table and the alpha search, then print the summary (or its JSON)."""
    if result is not None:
        summary["inference"] = result.summary_dict()
    if (search := _alpha_search(args)) is not None:
        summary["alpha_search"] = search
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        _print_summary(summary)
        if result is not None:
            print("\n  inference (standard errors of the exact least-squares solution):")
            print("\n".join("    " + line for line in result.to_text().splitlines()))
    return 0


def _streamed_source(args: argparse.Namespace) -> Any:
    """The source of a streamed fit: the data file's, or ``--source FILE.py:FUNCTION``'s."""
    from ._tables import open_table
    from .sources.files import StreamSource

    if args.source is None:
        from ._cli_tables import table_options

        return open_table(args.data, args.target, args.features, **table_options(args))
    make = _load_function(args.source)
    source = make(args.data, list(args.target), args.features)
    if not isinstance(source, StreamSource):
        raise GradfitInputError(
            f"{args.source} returned {type(source).__name__}, not a gradfit StreamSource; "
            "return an instance of a StreamSource subclass (see docs/architecture.md)"
        )
    return source


def _fit_streamed(args: argparse.Namespace) -> int:
    """``gradfit fit`` on a file larger than memory: one source, bounded memory.

    The fit reads the file through its source exactly like ``GDRegressor().fit(path)``;
    one more pass (:func:`gradfit.understand.rows.collect_rows`) writes the training predictions,
    computes R² and RMSE, the sufficient statistics (for the exact optimum: the D×D
    solve) and keeps a seeded sample of rows for the report's residual plots and
    explanation.
    """
    from ._holdout import held_out_rows, split_counts
    from ._tables import PredictionWriter, Scores, predict_block, source_blocks
    from .persistence import save_model
    from .understand.diagnose import diagnose_statistics

    args.cv_scores = True
    if args.inference is not None:
        if args.alpha == "auto" or args.alpha > 0:
            raise UsageError(
                "--inference needs an unpenalised fit: leave --alpha out (the OLS standard "
                "errors do not hold for ridge)"
            )
        if args.inference[0] == "cluster":
            raise UsageError(
                f"--inference cluster:COL reads the labels with the rows in memory, but "
                f"{args.data} is streamed; use nonrobust or HC0..HC3, or fit a sample"
            )
    if args.cv is not None and args.alpha != "auto":
        raise UsageError(
            f"--cv K refits K times with the rows in memory, but {args.data} is streamed; "
            "use --test-size (a held-out part, streamed) instead"
        )
    if args.test_size is not None and args.alpha == "auto":
        raise UsageError(
            f"--alpha auto with --test-size: the search would read the held-out rows of the "
            f"streamed {args.data}; give --alpha a number, or leave --test-size out"
        )
    if args.test_size is not None and args.inference not in (None, ("nonrobust", None)):
        raise UsageError(
            f"--inference {args.inference[0]} with --test-size reads every row of the "
            f"streamed {args.data} again; use --inference nonrobust"
        )
    model = _estimator(args)
    source = _streamed_source(args)
    fit_source = source
    if args.test_size is not None:
        from ._holdout import HoldoutSource

        fit_source = HoldoutSource(source, args.test_size, _split_seed(args), "train")
    seconds, messages = _fit_with_progress(args, model, fit_source, None)
    names, targets = list(source.columns), list(source.target_names)
    # columns beyond 1e±50 were fitted on exactly rescaled rows (issue 11, class 9); the
    # statistics of the raw rows (the optimum, the report's figures) would overflow
    rescaled = getattr(fit_source, "units", None) is not None
    if rescaled and args.report:
        raise UsageError(
            f"{Path(str(args.data)).name} has columns beyond 1e±50, which the fit rescaled by "
            "powers of two but the report's figures cannot carry; leave --report out, or "
            "rescale the columns (e.g. to units near 1) and run gradfit report"
        )
    args.encoding = getattr(source, "encoding", None)
    args.rows_dropped = getattr(model, "rows_dropped_", 0)
    # as after a fit read whole: the model file carries the names, and the model predicts
    # arrays in that column order without a warning about missing feature names
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    result = None
    if args.inference is not None:  # nonrobust: from the kept statistics; HC*: one more pass
        from .understand.inference import inference

        spec = getattr(source, "spec", None)
        if args.inference[0] != "nonrobust" and spec is None:
            raise UsageError(
                f"--inference {args.inference[0]} reads the rows again, which --source does "
                "not offer; use --inference nonrobust"
            )
        result = inference(
            model,
            None if args.inference[0] == "nonrobust" else spec,
            cov_type=args.inference[0],
            feature_names=names,
            target_names=targets,
        )
    files: dict[str, str | None] = {"model": None, "predictions": None, "report": None}
    if args.output:
        save_model(
            model,
            args.output,
            feature_names=names,
            target_names=targets,
            inference=result,
            encoding=getattr(args, "encoding", None),
        )
        files["model"] = args.output
    test_scores = Scores(len(targets))
    writer = PredictionWriter(args.predictions, targets) if args.predictions else None

    def rows() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """The training rows (all, or those --test-size keeps); the held-out ones are scored."""
        start = 0
        for X, Y, done in source_blocks(source, with_bytes=True):
            if args.test_size is None:
                if writer is not None:
                    writer.write(predict_block(model, X))
                yield X, Y, done
                continue
            P = predict_block(model, X)
            test = held_out_rows(start, len(X), args.test_size, _split_seed(args))
            start += len(X)
            test_scores.add(Y[test], P[test])
            if writer is not None:
                writer.write(P, extra={"split": np.where(test, "test", "train")})
            yield X[~test], Y[~test], done

    if writer is not None:
        writer.__enter__()
    try:
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            seen = _collect(args, rows(), model, names, targets, source.size())
    except BaseException as err:
        if writer is not None:
            writer.__exit__(type(err), err, err.__traceback__)
        raise
    if writer is not None:
        writer.__exit__(None, None, None)
        files["predictions"] = args.predictions
    if rescaled:
        diagnosis = None
        loss = None
        optimum = {
            "exact": False,
            "relative_distance": None,
            "loss_gap": None,
            "distance_bound": None,
            "bound_is_rigorous": False,
            "not_assessed": "columns beyond 1e±50 (fitted on exactly rescaled rows; the "
            "certificate above holds, the raw statistics would overflow)",
        }
    else:
        diagnosis = diagnose_statistics(
            seen.statistics, model=model, feature_names=names, target_names=targets
        )
        assert diagnosis.fit is not None
        loss, optimum = diagnosis.fit.loss, _optimum(diagnosis.fit, "statistics")
    r2 = seen.r2 if seen.r2 is not None else np.full(len(targets), np.nan)
    rmse = seen.rmse if seen.rmse is not None else np.full(len(targets), np.nan)
    heldout: dict[str, Any] = {}
    if args.test_size is not None:
        split_counts(seen.n_rows, int(test_scores.n), len(names), str(args.data))
        test_r2, test_rmse = test_scores.result()
        heldout["heldout"] = _heldout_dict(
            args,
            seen.n_rows,
            int(test_scores.n),
            {"r2": test_r2, "rmse": test_rmse, "mae": test_scores.mae()},
            targets,
        )
    summary = _summary_dict(
        args,
        model,
        seen.n_rows,
        names,
        targets,
        seconds,
        messages,
        files,
        r2=r2,
        rmse=rmse,
        loss=loss,
        optimum=optimum,
        streamed=True,
        mae=seen.mae,
    )
    summary.update(heldout)

    def report() -> None:
        from .report import ReportInput, render_report

        page = render_report(
            ReportInput(
                model,
                seen,
                None,
                names,
                targets,
                name=Path(args.data).name,
                diagnosis=diagnosis,
                inference=result,
                cv=getattr(args, "alpha_search", None),
                heldout=heldout or None,
            ),
            title=f"gradfit report: {Path(args.data).name}",
            explanation=not args.no_explain,
            progress=_terminal(args),
        )
        _write_text(args.report, page)

    return _summary_then_report(args, summary, result, report)


def _collect(
    args: argparse.Namespace,
    blocks: Iterator[tuple[np.ndarray, Any, int]],
    model: Any,
    names: Sequence[str],
    targets: Sequence[str],
    size: int,
) -> Any:
    """One bounded pass over a streamed file: statistics, scores, a seeded row sample.

    ``blocks`` yields ``(X, Y, bytes read so far)``; a progress line shows on a terminal.
    """
    from .sources.files import Progress
    from .understand.rows import collect_rows

    label = Path(str(args.data)).name
    what = "scoring" if model is not None else "reading"
    bar = Progress(size, f"{what} {label}", enabled=_terminal(args) and size > 0)

    def pairs() -> Iterator[tuple[np.ndarray, Any]]:
        for X, Y, done in blocks:
            bar.update(done)
            yield X, Y

    try:
        return collect_rows(pairs(), model=model, feature_names=names, target_names=targets)
    finally:
        bar.close()


# -- predict ----------------------------------------------------------------------------------
def _predict_streamed(args: argparse.Namespace, saved: Any) -> int:
    """``gradfit predict`` on a large file: rows in, predictions out, block by block."""
    from ._tables import KeptColumns, PredictionWriter, Scores, open_features, predict_block

    targets = list(saved.target_names)
    table = open_features(
        args.data,
        saved.feature_names,
        targets,
        encoding=saved.encoding,
        unknown=args.unknown,
        sep=args.sep,
    )
    kept = KeptColumns(args.data, args.keep, sep=args.sep) if args.keep else None
    scores = Scores(len(targets)) if table.y_cols else None
    block_rows = max(1, (16 << 20) // (8 * (len(table.x_cols) + len(table.y_cols))))
    escape = None if getattr(args, "no_formula_escape", False) else escape_formulas
    with PredictionWriter(args.output, targets, args.keep or (), escape) as writer:
        for X, Y in table.blocks(block_rows):
            P = predict_block(saved.model, X)
            if scores is not None and Y is not None:
                scores.add(Y, P)
            if args.output or not args.json:
                writer.write(P, None if kept is None else kept.take(len(P)))
    n = writer.rows
    results = []
    if scores is not None and scores.finite and scores.n:
        r2, rmse = scores.result()
        results = [
            {"target": t, "r2": _finite(r2[k]), "rmse": _finite(rmse[k])}
            for k, t in enumerate(targets)
        ]
    return _predict_done(args, saved, n, results)


def _predict(args: argparse.Namespace) -> int:
    from ._io import read_features
    from ._tables import streams
    from .persistence import read_model
    from .report import fit_scores

    saved = read_model(args.model)
    if streams(args.data, args.stream):
        return _predict_streamed(args, saved)
    X, Y, kept = read_features(
        args.data,
        saved.feature_names,
        saved.target_names,
        keep=args.keep or (),
        encoding=saved.encoding,
        unknown=args.unknown,
        sep=args.sep,
    )
    with np.errstate(over="ignore", invalid="ignore"):
        P = np.asarray(saved.model.predict(X), dtype=np.float64).reshape(len(X), -1)
    if not np.isfinite(P).all():  # never a file of empty or infinite cells
        row, k = np.argwhere(~np.isfinite(P))[0]
        raise GradfitInputError(
            f"the prediction of {printable(saved.target_names[k], 60)} for row {row + 1} of "
            f"{Path(args.data).name} overflows float64 (|X| up to {np.abs(X).max():.3g}): the "
            "data is far outside the range the model was fitted on; nothing was written. "
            "Check the units of the features."
        )
    # text for spreadsheets (CSV, TSV, stdout) is escaped; Parquet keeps its values as they are
    parquet = bool(args.output) and Path(args.output).suffix.lower() in (".parquet", ".pq")
    escape = not (parquet or getattr(args, "no_formula_escape", False))
    frame = _prediction_frame(P, saved.target_names, kept, escape=escape)
    if args.interval is not None:
        from .understand.inference import saved_intervals

        bounds = saved_intervals(saved.model, X, args.interval, args.interval_kind)
        for k, t in enumerate(saved.target_names):
            frame[f"lower_{t}"] = bounds[:, k, 1]
            frame[f"upper_{t}"] = bounds[:, k, 2]
    scores = []
    if Y is not None:
        r2, rmse = fit_scores(Y, P)
        scores = [
            {"target": t, "r2": _finite(r2[k]), "rmse": _finite(rmse[k])}
            for k, t in enumerate(saved.target_names)
        ]
    if args.output:
        _write_table(frame, args.output)
    elif not args.json:
        sys.stdout.write(frame.to_csv(index=False))
    interval = (
        None if args.interval is None else {"level": args.interval, "kind": args.interval_kind}
    )
    return _predict_done(args, saved, len(X), scores, interval)


def _predict_done(
    args: argparse.Namespace,
    saved: Any,
    n: int,
    scores: list[Any],
    interval: dict[str, Any] | None = None,
) -> int:
    """The JSON summary, or the lines on stderr, of a prediction (in memory or streamed)."""
    if args.json:
        print(
            json.dumps(
                {
                    "command": "predict",
                    "model": str(args.model),
                    "data": str(args.data),
                    "n_samples": n,
                    "targets": list(saved.target_names),
                    "interval": interval,
                    "output": args.output,
                    "scores": scores,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        if not args.output:
            _note(args, "(no -o given: the predictions were not written anywhere)")
        return 0
    if args.output:
        _say(
            args,
            f"wrote {n} prediction(s) of {', '.join(saved.target_names)} to {args.output} "
            f"({describe_size(args.output)})",
        )
    for score in scores:
        _note(
            args,
            f"{Path(args.data).name} has the target {printable(score['target'], 60)}: R² = "
            f"{'n/a' if score['r2'] is None else round(score['r2'], 6)}, "
            f"RMSE = {'n/a' if score['rmse'] is None else format(score['rmse'], '.6g')}",
        )
    return 0


# -- report -----------------------------------------------------------------------------------
def _report(args: argparse.Namespace) -> int:
    from ._io import read_features
    from ._tables import streams
    from .report import ReportInput, render_report

    if streams(args.data, args.stream):
        return _report_streamed(args)
    name = Path(args.data).name
    note = None
    if args.model:
        from .persistence import read_model

        saved = read_model(args.model)
        features = args.features or list(saved.feature_names)
        targets = args.target or list(saved.target_names)
        if list(features) != list(saved.feature_names):
            raise UsageError(
                f"--features must be the model's features ({', '.join(saved.feature_names)}), "
                "in that order; leave it out to use them"
            )
        X, Y, _ = read_features(args.data, features, targets, encoding=saved.encoding)
        if Y is None:
            raise GradfitInputError(
                f"{name} lacks the target column(s) {', '.join(targets)} (or they are not "
                "numeric): a report compares predictions with the targets"
            )
        y = _one_column(Y)
        model = saved.model
        note = (
            f"The model was loaded from {Path(args.model).name} (written by gradfit "
            f"{saved.gradfit_version} on {saved.created}); the diagnosis measures it on {name}."
        )
    else:
        if not args.target:
            raise UsageError("name the target column(s) with --target, or give --model")
        model = _estimator(args)
        X, y, features, targets = _read(args)
        _fit_with_progress(args, model, X, y, features)
    output = args.output or f"{Path(args.data).stem}-report.html"
    page = render_report(
        ReportInput(
            model,
            X,
            y,
            list(features),
            list(targets),
            name,
            note,
            cv=getattr(args, "alpha_search", None),
        ),
        title=f"gradfit report: {name}",
        explanation=not args.no_explain,
        progress=_terminal(args),
    )
    _write_text(output, page)
    _say(args, f"wrote the report to {output} ({describe_size(output)})")
    return 0


def _report_streamed(args: argparse.Namespace) -> int:
    """``gradfit report`` on a large file: one bounded pass (statistics, scores, a sample)."""
    from ._tables import open_features, open_table, source_blocks
    from .report import ReportInput, render_report

    name = Path(args.data).name
    note = None
    if args.model:
        from .persistence import read_model

        saved = read_model(args.model)
        features = list(saved.feature_names)
        targets = list(args.target or saved.target_names)
        if args.features and list(args.features) != features:
            raise UsageError(
                f"--features must be the model's features ({', '.join(features)}), "
                "in that order; leave it out to use them"
            )
        table = open_features(args.data, features, targets)
        if len(table.y_cols) != len(targets):
            raise GradfitInputError(
                f"{name} lacks the target column(s) {', '.join(targets)} (or they are not "
                "numeric): a report compares predictions with the targets"
            )
        model = saved.model
        block_rows = max(1, (16 << 20) // (8 * (len(table.x_cols) + len(table.y_cols))))
        blocks: Any = ((X, Y, 0) for X, Y in table.blocks(block_rows))
        size = 0
        note = (
            f"The model was loaded from {Path(args.model).name} (written by gradfit "
            f"{saved.gradfit_version} on {saved.created}); the diagnosis measures it on {name}."
        )
    else:
        if not args.target:
            raise UsageError("name the target column(s) with --target, or give --model")
        model = _estimator(args)
        source = open_table(args.data, args.target, args.features)
        _fit_with_progress(args, model, source, None)
        if hasattr(model, "feature_names_in_"):
            del model.feature_names_in_  # it predicts the blocks' arrays
        features, targets = list(source.columns), list(source.target_names)
        blocks = source_blocks(source, with_bytes=True)
        size = source.size()
    seen = _collect(args, blocks, model, features, targets, size)
    output = args.output or f"{Path(args.data).stem}-report.html"
    page = render_report(
        ReportInput(
            model, seen, None, features, targets, name, note, cv=getattr(args, "alpha_search", None)
        ),
        title=f"gradfit report: {name}",
        explanation=not args.no_explain,
        progress=_terminal(args),
    )
    _write_text(output, page)
    _say(args, f"wrote the report to {output} ({describe_size(output)})")
    return 0


# -- sweep ------------------------------------------------------------------------------------
def _sweep(args: argparse.Namespace) -> int:
    from .understand.explain import _coordinates, learning_rate_sweep
    from .understand.render import fmt

    X, y, _, targets = _read(args)
    options = {
        "fit_intercept": not args.no_intercept,
        "standardize": not args.no_standardize,
        "alpha": args.alpha,
    }
    sweep = learning_rate_sweep(X, y, factors=args.factors, steps=args.steps, **options)
    bound = sweep.stability_bound
    where = _coordinates(bool(options["fit_intercept"]), bool(options["standardize"]))
    plot = None if args.no_plot else args.plot
    if plot:
        from .plots import plot_learning_rate_sweep, save_figure

        ax = plot_learning_rate_sweep(X, y, steps=args.steps, sweep=sweep, **options)
        save_figure(ax, plot)
    rows = [
        {
            "learning_rate": float(lr),
            "fraction_of_bound": float(f),
            "excess_loss_ratio": _finite(r),
            "converges": bool(r < 1) if math.isfinite(r) else None,
            "steps": int(t),
        }
        for lr, f, r, t in zip(
            sweep.learning_rates, sweep.factors, sweep.ratios, sweep.steps, strict=True
        )
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "command": "sweep",
                    "data": str(args.data),
                    "targets": targets,
                    "L": sweep.L,
                    "stability_bound": bound,
                    "auto_learning_rate": bound / 2,
                    "steps": args.steps,
                    "runs": rows,
                    "plot": plot,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    _say(
        args,
        f"gradfit sweep {args.data}: the seed's loop for {args.steps} steps at each rate, on "
        f"the {where} data gradfit's loop uses (the rates below are for those coordinates); "
        f"L = {fmt(sweep.L)}, stability bound 2/L = {fmt(bound)}, "
        f"learning_rate='auto' = 1/L = {fmt(bound / 2)}",
    )
    _say(args, f"  {'learning rate':>14}  {'× 2/L':>7}  {'(f − f*) left':>14}  verdict")
    for row in rows:
        ratio = row["excess_loss_ratio"]
        verdict = {True: "converges", False: "EXPLODES", None: "no excess loss to measure"}[
            row["converges"]
        ]
        if row["steps"] < args.steps:  # the loss grew past 1e6× its start: stopped early
            verdict += f" (stopped after {row['steps']} steps, beyond 1e6× the start)"
        _say(
            args,
            f"  {fmt(row['learning_rate']):>14}  {row['fraction_of_bound']:>7.3f}  "
            f"{fmt(ratio if ratio is not None else math.inf, 3):>14}  {verdict}",
        )
    if plot:
        _say(args, f"wrote the plot to {plot} ({describe_size(plot)})")
    return 0


# -- the parser -------------------------------------------------------------------------------
_EXAMPLES = """examples:
  gradfit demo                                      fit bundled datasets, write a report
  gradfit fit diabetes.csv --target progression -o model.gfm --report report.html
  gradfit predict model.gfm new_patients.csv -o predictions.csv
  gradfit report diabetes.csv --model model.gfm -o report.html
  gradfit sweep diabetes.csv --target progression --plot sweep.png
  gradfit explain diabetes.csv --target progression
  gradfit diagnose diabetes.csv --target progression --fit
  gradfit check-gradient mygrad.py:gradient --data diabetes.csv --target progression

Every command has its own help with an example: gradfit fit --help.
Exit status: 0 success; 1 a mistake found (check-gradient) or a fit with your own
learning rate diverged; 2 a usage or data error (the message says the cause and the
fix; add --debug for the traceback); 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP
(temporary files and caches removed, earlier outputs unchanged)."""


def _sep_option(text: str) -> str:
    from ._cli_tables import _sep

    return _sep(text)


def _add_daily(sub: Any) -> None:
    from ._cli_tables import add_unknown_argument

    fit = sub.add_parser(
        "fit",
        **_common(),
        help="fit a model to a CSV or Parquet file; save it, report, predict",
        description="Fit GDRegressor to a table (CSV, TSV or Parquet with a header row): a "
        "progress bar while it runs (on a terminal), then a summary per target (R², RMSE, "
        "coefficients), the iterations, the stop reason, the distance to the exact optimum "
        "and where the files went.",
        epilog="examples:\n"
        "  gradfit fit diabetes.csv --target progression -o model.gfm --report report.html\n"
        "  gradfit fit linnerud.parquet -t Weight Waist Pulse --method nesterov --json",
    )
    _add_data_arguments(fit)
    fit.add_argument("-o", "--output", metavar="MODEL", help="save the model here (.gfm)")
    fit.add_argument("--report", metavar="HTML", help="write a self-contained HTML report here")
    fit.add_argument(
        "--predictions", metavar="FILE", help="write the training predictions (.csv/.parquet)"
    )
    fit.add_argument(
        "--no-explain", action="store_true", help="leave the explanation out of the report"
    )
    fit.add_argument("--json", action="store_true", help="print a JSON summary instead")
    fit.add_argument(
        "--test-size",
        metavar="F",
        type=_fraction,
        help="hold out about this fraction of the rows (seeded by --seed, default 0; streamed "
        "too), fit on the rest and report R², RMSE and MAE on the held-out rows",
    )
    fit.add_argument(
        "--inference",
        metavar="KIND",
        type=_inference_kind,
        help="standard errors, t, p and confidence intervals: nonrobust, HC0..HC3 or "
        "cluster:COL (saved with -o for predict --interval)",
    )
    _add_streaming(fit)
    fit.add_argument(
        "--source",
        metavar="FILE.py:FUNCTION",
        help="read DATA with your own source: FUNCTION(DATA, targets, features) returns a "
        "gradfit StreamSource (streamed like a large file)",
    )
    _add_chatter(fit)
    _add_model_options(fit)
    fit.set_defaults(func=_fit)

    predict = sub.add_parser(
        "predict",
        **_common(),
        help="predict with a saved model",
        description="Load a model saved by 'gradfit fit -o' (checked: never executed) and "
        "predict for every row of DATA, which must have the model's feature columns (by "
        "name, in any order). Writes CSV to stdout, or to -o (.csv, .tsv or .parquet). When "
        "DATA also has the target columns, R² and RMSE are reported on stderr.",
        epilog="example:\n  gradfit predict model.gfm new_patients.csv -o predictions.csv",
    )
    predict.add_argument("model", help="a model file written by 'gradfit fit -o'")
    predict.add_argument("data", help="a CSV (or .tsv, .parquet) file with the feature columns")
    predict.add_argument("-o", "--output", metavar="FILE", help="write the predictions here")
    predict.add_argument(
        "--keep", nargs="+", metavar="COL", help="copy these columns (an id) to the output"
    )
    predict.add_argument("--json", action="store_true", help="print a JSON summary")
    predict.add_argument(
        "--sep",
        type=_sep_option,
        metavar="CHAR",
        help="the delimiter of a text table (default ',')",
    )
    add_unknown_argument(predict)
    _add_streaming(predict)
    predict.add_argument(
        "--interval",
        metavar="LEVEL",
        type=_bounded(float, 0.0, True, "a level between 0 and 1, e.g. 0.95"),
        help="add lower_/upper_ columns: a LEVEL interval (needs a model saved by fit --inference)",
    )
    predict.add_argument(
        "--interval-kind",
        choices=("obs", "mean"),
        default="obs",
        help="obs: for a new observation (default); mean: for the expected value",
    )
    predict.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (and --json)"
    )
    predict.add_argument(
        "--no-formula-escape",
        action="store_true",
        help="write --keep text starting with = + - @ as it is (default: prefix a ' so that "
        "spreadsheets do not run it as a formula)",
    )
    predict.set_defaults(func=_predict)

    report = sub.add_parser(
        "report",
        **_common(),
        help="write a self-contained HTML report of a fit",
        description="Write one HTML file (plots embedded, no network): the data summary, the "
        "fit, the loss curve, the coefficients against the exact solution, residual plots, "
        "the diagnosis and the explanation. With --model, of a saved model on DATA; "
        "otherwise DATA is fitted first with the model options.",
        epilog="examples:\n"
        "  gradfit report diabetes.csv --model model.gfm -o report.html\n"
        "  gradfit report diabetes.csv --target progression --method gd",
    )
    report.add_argument("data", help="a CSV (or .tsv, .parquet) file with a header row")
    report.add_argument("--target", "-t", nargs="+", help="target column(s) (default: the model's)")
    report.add_argument(
        "--features", "-f", nargs="+", help="feature columns (default: all others / the model's)"
    )
    report.add_argument("--model", "-m", help="a model file written by 'gradfit fit -o'")
    report.add_argument(
        "-o", "--output", metavar="HTML", help="where to write (default DATA-report.html)"
    )
    report.add_argument("--no-explain", action="store_true", help="leave the explanation out")
    _add_streaming(report)
    _add_chatter(report, json_option=False)
    _add_model_options(report)
    report.set_defaults(func=_report)

    sweep = sub.add_parser(
        "sweep",
        **_common(),
        help="run the seed's loop at learning rates around 2/L and plot the result",
        description="Run plain gradient descent (the seed's loop) from zero for --steps steps "
        "at learning rates from 0.025 to 1.175 times the stability bound 2/L, print how much "
        "of the excess loss each leaves (below 1: converges; above: explodes) and draw it.",
        epilog="example:\n  gradfit sweep diabetes.csv --target progression --plot sweep.png",
    )
    _add_data_arguments(sweep)
    _add_options(sweep)
    sweep.add_argument(
        "--steps", type=_positive_int, default=50, help="steps of each run (default 50)"
    )
    sweep.add_argument(
        "--factors",
        nargs="+",
        type=_positive_float,
        metavar="F",
        help="learning rates as multiples of 2/L (default 24 from 0.025 to 1.175)",
    )
    sweep.add_argument(
        "--plot", default="sweep.png", help="the plot, .png or .svg (default sweep.png)"
    )
    sweep.add_argument("--no-plot", action="store_true", help="do not draw")
    sweep.add_argument("--json", action="store_true", help="print the runs as JSON")
    sweep.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    sweep.set_defaults(func=_sweep)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradfit",
        description="Linear regression trained by gradient methods, from a CSV or Parquet "
        "file to a model, a report and predictions.",
        epilog=_EXAMPLES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"gradfit {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="on an error, show the Python traceback too"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        **_common(),
        help="fit bundled real datasets, compare with the exact solution, write a report",
        description="Fit scikit-learn's diabetes (1 output) and linnerud (3 outputs) datasets "
        "with each method, compare with the exact least-squares solution, show the seed's "
        "loop below and above 2/L, and write an HTML report of both fits.",
        epilog="examples:\n  gradfit demo\n  gradfit demo --report /tmp/demo.html",
    )
    demo.add_argument(
        "--report",
        default="gradfit-demo-report.html",
        metavar="HTML",
        help="where to write the report (default gradfit-demo-report.html)",
    )
    demo.add_argument("--no-report", action="store_true", help="do not write the report")
    demo.set_defaults(func=_demo)
    _add_daily(sub)
    _add_understanding(sub)
    return parser


def _describe(err: BaseException) -> str:
    """One line naming the cause; an OSError says which file."""
    if isinstance(err, OSError) and err.filename and type(err) is not FileNotFoundError:
        return f"cannot use {err.filename!r}: {err.strerror or err}"
    if isinstance(err, FileNotFoundError) and err.filename:
        return f"{err.filename!r} does not exist: check the name and the folder"
    # a message can carry names and values from the user's files: escape sequences are shown
    # escaped, and a huge field is cut, so the terminal gets one readable line
    text = printable(" ".join(str(err).split()), 2000) or type(err).__name__
    return text


class Stopped(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives: stop like Ctrl-C.

    A ``KeyboardInterrupt``, so every clean-up that runs for Ctrl-C (an atomic write's
    temporary file, a file input's cache, a checkpoint's lock) runs for these too.

    Examples
    --------
    >>> err = Stopped(15)
    >>> isinstance(err, KeyboardInterrupt), 128 + err.signum
    (True, 143)
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: The signals that stop a command at the next safe point: Ctrl-C, ``kill``/``timeout``/
#: batch schedulers/containers, and a closed terminal. Exit status 128 + the number.
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` while the block runs (SIGINT already is).

    The handler raises once; a second signal during the clean-up that follows is recorded
    but does not interrupt it. A signal that was ignored when the command started (``nohup``
    ignores SIGHUP) stays ignored. Outside the main thread nothing is installed.

    Examples
    --------
    >>> import os, signal
    >>> import time
    >>> try:
    ...     with stop_on_signals():
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...         time.sleep(5)
    ... except Stopped as err:
    ...     print(128 + err.signum)
    143
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        fired.append(signum)
        if len(fired) == 1:
            raise Stopped(signum)

    previous: dict[int, Any] = {}
    for name in STOP_SIGNALS[1:]:
        number = getattr(signal, name, None)
        if number is None:  # pragma: no cover - Windows has no SIGHUP
            continue
        current = signal.getsignal(number)
        if current is signal.SIG_IGN:
            continue
        previous[number] = current
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _stopped_status(err: KeyboardInterrupt) -> tuple[int, str]:
    """The exit status and the signal's name for an interruption."""
    number = getattr(err, "signum", signal.SIGINT)
    return 128 + int(number), signal.Signals(number).name


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 1 when ``check-gradient`` finds a mistake or a fit with a
        learning rate of your own diverges; 2 for usage and data errors (a missing file
        or column, a bad option value, a damaged model file), printed as one or two lines
        without a traceback unless ``--debug``; 130, 143 or 129 when stopped by SIGINT,
        SIGTERM or SIGHUP.

    Examples
    --------
    >>> main(["--version"])
    gradfit 0.1.0
    0
    """
    parser = _parser()
    try:
        args: Any = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    command = f"gradfit {args.command}"
    debug = bool(getattr(args, "debug", False))
    try:
        with stop_on_signals():
            return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`gradfit predict … | head`): not an error; keep Python from
        # complaining while it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except (KeyboardInterrupt, SystemError) as err:
        stop = interruption(err)
        if stop is None:
            raise
        if debug:
            traceback.print_exc()
        status, name = _stopped_status(stop)
        print(
            f"{command}: interrupted; no file was left half-written ({name}: temporary "
            "files and caches removed, earlier outputs unchanged)",
            file=sys.stderr,
        )
        return status
    except UsageError as err:
        if debug:
            traceback.print_exc()
        print(
            f"{command}: error: {err}\n  run '{command} --help' for the options and an example",
            file=sys.stderr,
        )
        return 2
    except DivergenceError as err:
        if debug:
            traceback.print_exc()
        text = _describe(err)
        if math.isfinite(err.stability_bound) and math.isfinite(err.learning_rate):
            text = (
                f"diverged at iteration {err.iteration}: --learning-rate {err.learning_rate:g} "
                f"exceeds the stability bound 2/L = {err.stability_bound:.4g} for this data"
                + (" (rates apply to the standardized features)" if "standardized" in text else "")
                + ". "
                f"Fix: leave --learning-rate out (auto: 1/L = {err.stability_bound / 2:.4g}, "
                f"halved if the loss rises) or give a value below {err.stability_bound:.4g}."
            )
        print(f"{command}: {text}", file=sys.stderr)
        return 1
    except (GradfitInputError, GradfitModelError, ValueError, TypeError, OSError) as err:
        if debug:
            traceback.print_exc()
        print(f"{command}: error: {_describe(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
