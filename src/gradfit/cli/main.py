"""The parser, the signal policy and :func:`main` (exit status: see :mod:`gradfit.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._exceptions import DivergenceError, GradfitInputError, GradfitModelError
from .._files import interruption, printable
from ..solve.rules import METHODS

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    pass

from .common import (
    UsageError,
    _alpha_option,
    _bounded,
    _common,
    _cv_folds,
    _every,
    _Formatter,
    _fraction,
    _inference_kind,
    _learning_rate,
    _non_negative_float,
    _non_negative_int,
    _Parser,
    _positive_float,
    _positive_int,
    _sep_option,
    _tolerance,
    refuse_overwriting_data,
)
from .demo import _demo
from .fit import _fit, _predict
from .understand import _check_gradient, _diagnose, _explain, _report, _sweep


def _add_data_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument("data", help="a CSV (or .tsv, .parquet) file with a header row")
    from .tables import add_table_arguments

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


def _add_daily(sub: Any) -> None:
    from .tables import add_unknown_argument

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
    report.add_argument(
        "--target",
        "-t",
        nargs="+",
        action="extend",
        help="target column(s) (default: the model's; repeating -t adds to the list)",
    )
    report.add_argument(
        "--features",
        "-f",
        nargs="+",
        action="extend",
        help="feature columns (default: all others / the model's)",
    )
    from .tables import add_table_arguments

    add_table_arguments(report)
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
        refuse_overwriting_data(args)
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
