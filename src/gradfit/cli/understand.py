"""``gradfit explain``, ``diagnose``, ``check-gradient``, ``report`` and ``sweep``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import GradfitInputError
from .._files import describe_size

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    pass

from .common import (
    UsageError,
    _estimator,
    _finite,
    _fit_with_progress,
    _load_function,
    _one_column,
    _read,
    _say,
    _terminal,
    _write_text,
)
from .fit import _collect
from .tables import table_options


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
    from ..plots import save_figure

    save_figure(ax, path)
    print(f"wrote figure {path}")


def _explain(args: argparse.Namespace) -> int:
    from ..understand.explain import explain

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
        from ..plots import plot_learning_rate_sweep

        _save(plot_learning_rate_sweep(X, y, steps=args.steps, **options), args.plot)
    if args.plot_paths:
        import pandas as pd

        from ..plots import plot_paths

        frame = pd.DataFrame(X, columns=names)
        target = pd.Series(y, name=targets[0]) if y.ndim == 1 else pd.DataFrame(y, columns=targets)
        _save(plot_paths(frame, target, features=args.pair, **options), args.plot_paths)
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from .._exceptions import ConvergenceWarning
    from .._tables import streams
    from ..estimator import GDRegressor
    from ..understand.diagnose import diagnose, diagnose_statistics

    streamed = streams(args.data, args.stream)
    if streamed:  # one source: the fit (if any) reads it, then one pass for the statistics
        from .._tables import open_table, source_blocks

        source = open_table(args.data, args.target, args.features, **table_options(args))
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
        from ..plots import plot_loss

        optimum = result.fit.exact_loss if result.fit is not None else None
        _save(plot_loss(model, optimum=optimum, label=args.method), args.plot)
    if model is not None and args.plot_outputs:
        from ..plots import plot_per_output_loss

        _save(plot_per_output_loss(model, target_names=targets), args.plot_outputs)
    return 0


def _check_gradient(args: argparse.Namespace) -> int:
    from ..gradcheck import check_gradient

    function = _load_function(args.function)
    X, y, _, _ = _read(args)
    result = check_gradient(function, X, y, alpha=args.alpha)
    _emit(args, result)
    return 0 if result.ok else 1


# -- report -----------------------------------------------------------------------------------
def _report(args: argparse.Namespace) -> int:
    from .._io import read_features
    from .._tables import streams
    from ..report import ReportInput, render_report

    if streams(args.data, args.stream):
        return _report_streamed(args)
    name = Path(args.data).name
    note = None
    if args.model:
        from ..persistence import read_model

        saved = read_model(args.model)
        features = args.features or list(saved.feature_names)
        targets = args.target or list(saved.target_names)
        if list(features) != list(saved.feature_names):
            raise UsageError(
                f"--features must be the model's features ({', '.join(saved.feature_names)}), "
                "in that order; leave it out to use them"
            )
        X, Y, _ = read_features(
            args.data, features, targets, encoding=saved.encoding, sep=getattr(args, "sep", None)
        )
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
    from .._tables import open_features, open_table, source_blocks
    from ..report import ReportInput, render_report

    name = Path(args.data).name
    note = None
    if args.model:
        from ..persistence import read_model

        saved = read_model(args.model)
        features = list(saved.feature_names)
        targets = list(args.target or saved.target_names)
        if args.features and list(args.features) != features:
            raise UsageError(
                f"--features must be the model's features ({', '.join(features)}), "
                "in that order; leave it out to use them"
            )
        table = open_features(
            args.data, features, targets, encoding=saved.encoding, sep=getattr(args, "sep", None)
        )
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
        source = open_table(args.data, args.target, args.features, **table_options(args))
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
    from ..understand.explain import _coordinates, learning_rate_sweep
    from ..understand.render import fmt

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
        from ..plots import plot_learning_rate_sweep, save_figure

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
