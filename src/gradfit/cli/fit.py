"""``gradfit fit`` and ``gradfit predict``, in memory and streamed.

The fit summary, held-out scores, predictions and the streamed scoring pass.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from .._exceptions import GradfitInputError
from .._files import atomic_write, describe_size, printable

# The commands import what they use when they run: ``gradfit --help`` and ``import
# gradfit.cli`` load neither scikit-learn (GDRegressor, ConvergenceWarning), pandas (tables)
# nor numba (docs/architecture.md, decision 19).
if TYPE_CHECKING:
    from ..estimator import GDRegressor
    from ..understand.diagnose import FitAssessment

from .common import (
    UsageError,
    _alpha_search,
    _estimator,
    _finite,
    _fit_with_progress,
    _load_function,
    _note,
    _read,
    _say,
    _terminal,
    _write_text,
)


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
    from .._holdout import regression_scores

    scores = regression_scores(y, model.predict(X))
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
        r2=scores["r2"],
        rmse=scores["rmse"],
        mae=scores["mae"],
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
    from .._progress import format_seconds
    from ..understand.render import fmt

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
        check = certificate.get("coef_check", "")
        if check.startswith("not checked"):
            print(f"  each coefficient's error: {check}")
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


def _cluster_labels(args: argparse.Namespace) -> np.ndarray:
    """The ``cluster:COL`` column; COL is then left out of the default features."""
    from .._io import _load_frame

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
        from .._encode import index_like

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


def _save_model_file(
    args: argparse.Namespace, model: Any, names: list[str], targets: list[str], result: Any
) -> dict[str, str | None]:
    """Write ``-o model.gfm`` (with the encoding and inference) and start the files listing."""
    from ..persistence import save_model

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
    return files


def _fit(args: argparse.Namespace) -> int:
    from .._tables import streams
    from ..understand.diagnose import diagnose

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
    from .._validation import MagnitudeError

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
        from ..understand.inference import inference

        result = inference(
            model,
            X,
            y,
            cov_type=args.inference[0],
            groups=groups,
            feature_names=names,
            target_names=targets,
        )
    files = _save_model_file(args, model, names, targets, result)
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
        from ..report import write_report

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
    from .._holdout import held_out_rows, split_counts

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
    from .._holdout import cross_validated_scores, regression_scores

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
    from ..understand.render import fmt

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
    from .._tables import open_table
    from ..sources.files import StreamSource

    if args.source is None:
        from .tables import table_options

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
    from .._holdout import held_out_rows, split_counts
    from .._tables import PredictionWriter, Scores, predict_block, source_blocks
    from ..understand.diagnose import diagnose_statistics

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
        from .._holdout import HoldoutSource

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
        from ..understand.inference import inference

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
    files = _save_model_file(args, model, names, targets, result)
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
            seen = _collect(
                args, rows(), model, names, targets, source.size(), check_range=not rescaled
            )
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
        from ..report import ReportInput, render_report

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
    check_range: bool = True,
) -> Any:
    """One bounded pass over a streamed file: statistics, scores, a seeded row sample.

    ``blocks`` yields ``(X, Y, bytes read so far)``; a progress line shows on a terminal.
    ``check_range=False`` for a fit that rescaled columns beyond 1e±50 (its statistics
    of the raw rows are not used).
    """
    from ..sources.files import Progress
    from ..understand.rows import collect_rows

    label = Path(str(args.data)).name
    what = "scoring" if model is not None else "reading"
    bar = Progress(size, f"{what} {label}", enabled=_terminal(args) and size > 0)

    def pairs() -> Iterator[tuple[np.ndarray, Any]]:
        for X, Y, done in blocks:
            bar.update(done)
            yield X, Y

    try:
        return collect_rows(
            pairs(),
            model=model,
            feature_names=names,
            target_names=targets,
            check_range=check_range,
        )
    finally:
        bar.close()


# -- predict ----------------------------------------------------------------------------------
def _predict_streamed(args: argparse.Namespace, saved: Any) -> int:
    """``gradfit predict`` on a large file: rows in, predictions out, block by block."""
    from .._tables import KeptColumns, PredictionWriter, Scores, open_features, predict_block

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
    from .._io import read_features
    from .._tables import streams
    from ..persistence import read_model
    from ..report import fit_scores

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
        from ..understand.inference import saved_intervals

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
