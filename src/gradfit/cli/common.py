"""Options and helpers shared by the commands.

Argument types, the estimator from the options, the fit with its progress line,
messages, table reading and writing.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._exceptions import CollinearityWarning, GradfitInputError
from .._files import atomic_write, printable

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    from ..estimator import GDRegressor


def _one_column(Y: np.ndarray) -> np.ndarray:
    """A one-column target as a vector (N,); several columns as they are (N, K)."""
    return Y[:, 0] if Y.shape[1] == 1 else Y


def _read(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``DATA --target … --features …``: X, y (a vector for one target), names, targets.

    Text columns are one-hot encoded (``names`` are then ``column=level``); the
    encoding and the rows dropped are kept on ``args`` for the model file and the
    summary, and the notes (a row index left out) are printed.
    """
    from .._io import read_prepared
    from .tables import table_options

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
    if table.dropped and getattr(args, "command", None) != "fit":  # fit says it in its summary
        _note(args, f"note: left out {table.dropped} row(s) with missing values (--missing drop)")
    return table.X, _one_column(table.Y), table.names, table.targets


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


# -- shared helpers -----------------------------------------------------------------------------
class UsageError(Exception):
    """A wrong combination of options: reported like argparse's own errors, exit status 2."""


#: The options that name a file a command writes.
OUTPUT_OPTIONS = (
    "output",
    "predictions",
    "report",
    "checkpoint",
    "plot",
    "plot_paths",
    "plot_outputs",
)


def refuse_overwriting_data(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output path that is the DATA file itself.

    ``gradfit predict model.gfm data.csv -o data.csv`` (or ``fit --predictions
    data.csv``) replaced the user's data with the predictions once the command
    finished. Symbolic and hard links count as the same file (``os.path.samefile``).
    """
    data = getattr(args, "data", None)
    if not isinstance(data, str) or not os.path.isfile(data):
        return
    for option in OUTPUT_OPTIONS:
        path = getattr(args, option, None)
        if isinstance(path, str) and os.path.exists(path) and os.path.samefile(path, data):
            flag = "--" + option.replace("_", "-")
            raise UsageError(
                f"{flag} {path} is the data file itself: writing it would replace your data; "
                "choose another path"
            )


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
    from ..cv import GDRegressorCV
    from ..understand.render import fmt

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
    from ..estimator import GDRegressor

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
    from .._exceptions import ConvergenceWarning, DataNote
    from .._progress import Progress

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
    (re.compile(r"\btol=(\d[\w.+-]*)"), r"--tol \1"),
)


def _cli_words(message: str) -> str:
    """Say a warning's fix in options (``--max-iter 9742``) rather than parameters.

    Examples
    --------
    >>> _cli_words("did not converge (max_iter=1000). Fix: max_iter=9742 or method='cg'.")
    'did not converge (max_iter=1000). Fix: --max-iter 9742 or --method cg.'
    >>> _cli_words("met tol=1e-06, but … Fix: tol=1e-09, or method='cg'.")
    'met tol=1e-06, but … Fix: --tol 1e-09, or --method cg.'
    """
    head, sep, fix = message.partition("Fix:")
    for pattern, words in _CLI_WORDS:
        fix = pattern.sub(words, fix)
    return head + sep + fix


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


def _sep_option(text: str) -> str:
    from .tables import _sep

    return _sep(text)
