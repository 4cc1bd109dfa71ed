"""One self-contained HTML report of a fit: data, diagnosis, loss, coefficients, residuals.

:func:`write_report` writes a single ``.html`` file that needs nothing else: the plots are
PNG images embedded as ``data:`` URIs, the style is inline, there is no script, and a
Content-Security-Policy forbids the page from loading anything at all. Every string that
comes from the user (column names, file names, titles) is HTML-escaped.

For each dataset the report has:

- **Data** — N, D, K and every column's role, mean, standard deviation, minimum and maximum.
- **Fit** — the method and options, the stop reason, iterations, ``L`` and ``κ``, and R² and
  RMSE per target.
- **Loss curve** — the loss per iteration minus the exact optimum ``f*`` (per output too
  when there are several).
- **Coefficients** — per target, next to the exact least-squares solution.
- **Residuals** — predicted against actual, and the residuals' histogram, per target.
- **Diagnosis** — :func:`gradfit.diagnose` with the model (curvature, conditioning,
  distance to the optimum).
- **Explanation** — :func:`gradfit.explain` (the seed's loop on this data) and the
  learning-rate sweep.

Rows of any number: the work is proportional to what is shown. The figures that have a
closed form come from all rows (R², RMSE, the diagnosis and the exact optimum from the
sufficient statistics when the rows were streamed); what needs rows one by one (the
residual plots of streamed data, the explanation and the sweep of more than
:data:`~gradfit.understand.rows.SAMPLE_ROWS` rows) uses a seeded random sample of rows
(:mod:`gradfit.understand.rows`), and says so. Give
:class:`~gradfit.understand.rows.RowSummary` (one
bounded pass over a file) as ``X`` to report on rows that were never in memory.
"""

from __future__ import annotations

import base64
import datetime as _datetime
import html
import io
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import ConvergenceWarning, GradfitInputError
from ._files import atomic_write
from ._io import as_float_inputs
from .understand.diagnose import Diagnosis, diagnose, diagnose_statistics, statistics_loss
from .understand.render import Table, _html_block, fmt
from .understand.rows import SAMPLE_SEED, RowSummary, sample_indices

__all__ = ["ReportInput", "fit_scores", "render_report", "write_report"]

F64 = NDArray[np.float64]

#: Most points drawn in a predicted-against-actual scatter plot.
SCATTER_POINTS = 5000

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#222}pre{background:#f5f5f5;padding:.6rem;overflow-x:auto}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;"
    "padding:.2rem .5rem;text-align:right}th{background:#eee}td:first-child,th:first-child"
    "{text-align:left}.ok{color:#186a1d}.failed{color:#b00020;font-weight:bold}"
    "figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}"
    "figcaption{font-size:.9rem;color:#555}section.dataset{border-top:3px solid #446;"
    "margin-top:2.5rem}nav li{margin:.1rem 0}.meta{color:#555;font-size:.9rem}"
)


@dataclass(frozen=True)
class ReportInput:
    """One dataset and the model fitted to it, for :func:`render_report`.

    Attributes
    ----------
    model : GDRegressor
        A fitted model.
    X : array-like of shape (N, D), or RowSummary
        The rows, or :func:`gradfit.understand.rows.collect_rows`'s one pass over them (then ``y``
        is None: the statistics, R², RMSE and a seeded sample of rows stand for them).
    y : array-like of shape (N,) or (N, K), or None
    feature_names, target_names : sequence of str, optional
        Default: DataFrame columns, else ``x0…`` and ``y…``.
    name : str, default="data"
        The dataset's name (a file name, say), shown as its heading.
    note : str, optional
        A sentence shown under the heading.
    diagnosis : Diagnosis, optional
        ``diagnose(X, y, model=model)`` of this model on this data, if already computed;
        otherwise the report computes it. It gives the diagnosis section and the exact
        least-squares solution the loss curve and the coefficients are compared with.
    inference : Inference, optional
        :func:`gradfit.inference` of this model: adds the coefficient table (estimate,
        standard error, t, p, confidence interval) and a coefficient plot.
    cv : GDRegressorCV, optional
        The search that chose the model's ``alpha`` (``--alpha auto``); the report then
        shows its CV curve with the chosen alpha and a one-standard-error band.
    heldout : dict, optional
        Held-out scores, as ``gradfit fit --test-size``/``--cv K`` put them in the JSON
        summary (keys ``heldout`` and/or ``cross_validation``): adds a table of R², RMSE
        and MAE on rows the model did not see.
    """

    model: Any
    X: Any
    y: Any
    feature_names: Sequence[str] | None = None
    target_names: Sequence[str] | None = None
    name: str = "data"
    note: str | None = None
    diagnosis: Diagnosis | None = None
    inference: Any = None
    cv: Any = None
    heldout: dict[str, Any] | None = None


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fit_scores(Y: F64, P: F64) -> tuple[F64, F64]:
    """R² and RMSE per output.

    Parameters
    ----------
    Y : ndarray of shape (N, K)
        Actual values.
    P : ndarray of shape (N, K)
        Predictions.

    Returns
    -------
    r2 : ndarray of shape (K,)
        ``1 − Σ(y − p)²/Σ(y − ȳ)²`` (nan for a constant target).
    rmse : ndarray of shape (K,)

    Examples
    --------
    >>> Y = np.array([[1.0], [2.0], [3.0]]); P = np.array([[1.0], [2.5], [3.0]])
    >>> r2, rmse = fit_scores(Y, P)
    >>> round(float(r2[0]), 4), round(float(rmse[0]), 4)
    (0.875, 0.2887)
    """
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    P = np.asarray(P, dtype=np.float64).reshape(len(P), -1)
    ss_res = np.sum((Y - P) ** 2, axis=0)
    ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)
    return r2, np.sqrt(ss_res / len(Y))


# -- pieces -----------------------------------------------------------------------------------
def _figure(figure: Any, alt: str, caption: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    width, height = (round(v * 100) for v in figure.get_size_inches())
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{_esc(alt)}' width='{width}' "
        f"height='{height}'><figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """An escaped HTML table; cells need not be strings (a column name may be a number)."""
    return _html_block(
        Table(tuple(str(h) for h in header), tuple(tuple(str(c) for c in row) for row in rows))
    )


def _new_figure(width: float = 6.4, height: float = 4.0, columns: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, axes


def _columns(X: F64, Y: F64) -> tuple[F64, F64, F64, F64, int]:
    """Each column's mean, standard deviation, minimum and maximum (features then targets)."""
    M = np.hstack([X, Y])
    return M.mean(0), M.std(0), M.min(0), M.max(0), len(X)


def _summary_columns(s: RowSummary) -> tuple[F64, F64, F64, F64, int]:
    """As :func:`_columns`, from one pass: the statistics and the ranges."""
    st = s.statistics
    n = float(st.n_samples)
    std = np.sqrt(np.concatenate([np.diag(st.xx), st.yy]) / n)
    mean = np.concatenate([st.x_mean, st.y_mean])
    lo, hi = np.concatenate([s.x_min, s.y_min]), np.concatenate([s.x_max, s.y_max])
    return mean, std, lo, hi, int(st.n_samples)


def _data_section(
    columns: tuple[F64, F64, F64, F64, int], f_names: list[str], t_names: list[str]
) -> str:
    mean, std, lo, hi, N = columns
    D, K = len(f_names), len(t_names)
    rows = []
    roles = ["feature"] * D + ["target"] * K
    for j, (name, role) in enumerate(zip([*f_names, *t_names], roles, strict=True)):
        rows.append((name, role, fmt(mean[j]), fmt(std[j]), fmt(lo[j]), fmt(hi[j])))
    return (
        "<section><h3>Data</h3>"
        f"<p>N = {N} rows, D = {D} features, K = {K} target(s).</p>"
        + _table(("column", "role", "mean", "std", "min", "max"), rows)
        + "</section>"
    )


def _fit_section(model: Any, r2: F64, rmse: F64, t_names: list[str]) -> str:
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    options = ", ".join(
        f"{k}={v!r}"
        for k, v in (
            ("method", model.method),
            ("learning_rate", model.learning_rate),
            ("max_iter", model.max_iter),
            ("tol", model.tol),
            ("fit_intercept", model.fit_intercept),
            ("alpha", model.alpha),
            ("standardize", model.standardize),
        )
    )
    lines = [
        f"<p>GDRegressor({_esc(options)}).</p>",
        f"<p>{_esc(model.stop_reason_)}. Iterations: {int(model.n_iter_)}; curvature "
        f"L = {_esc(fmt(model.lipschitz_))}, condition number κ ≈ "
        f"{_esc(fmt(model.condition_number_))}"
        + (f"; engine: {_esc(model.engine_)}" if hasattr(model, "engine_") else "")
        + ".</p>",
    ]
    certificate = getattr(model, "certificate_", None)
    if certificate is not None:
        lines.append(
            "<p>"
            + "<br>".join(_esc(line.strip()) for line in str(certificate).splitlines())
            + "</p>"
        )
    rows = [
        (t_names[k], fmt(r2[k], 6), fmt(rmse[k], 6), fmt(intercept[k], 8))
        for k in range(len(t_names))
    ]
    return (
        "<section><h3>Fit</h3>"
        + "".join(lines)
        + _table(("target", "R²", "RMSE", "intercept"), rows)
        + "</section>"
    )


def _per_output_loss(W: F64, b: F64, X: F64, Y: F64, alpha: float) -> F64:
    R = X @ W + b - Y
    return np.asarray(0.5 * np.mean(R * R, axis=0) + 0.5 * alpha * np.sum(W * W, axis=0))


def _loss_section(model: Any, optimum: F64 | None, t_names: list[str]) -> str:
    from .plots import plot_loss, plot_per_output_loss

    history = model.history_
    if len(history) < 2:
        return (
            "<section><h3>Loss curve</h3><p>The fit took no recorded steps "
            f"({_esc(model.stop_reason_)}), so there is no curve to draw.</p></section>"
        )
    figures = []
    figure, (ax,) = _new_figure()
    plot_loss(
        history, ax=ax, optimum=None if optimum is None else float(optimum.sum()), label="loss"
    )
    ax.set_title(f"{model.method}: {int(model.n_iter_)} iterations", fontsize="medium")
    what = "f − f* (f* from the exact least-squares solution)" if optimum is not None else "f"
    figures.append(_figure(figure, "loss curve", f"The loss {what} at every iteration, log scale."))
    if len(t_names) > 1:
        figure, (ax,) = _new_figure()
        plot_per_output_loss(
            history, ax=ax, target_names=t_names, optimum=None if optimum is None else list(optimum)
        )
        figures.append(_figure(figure, "loss per target", "Each target's own loss per iteration."))
    return "<section><h3>Loss curve</h3>" + "".join(figures) + "</section>"


def _coefficient_section(
    model: Any,
    exact: tuple[F64, F64] | None,
    distance: float | None,
    f_names: list[str],
    t_names: list[str],
) -> str:
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(len(t_names), len(f_names))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    header = ["feature"]
    for t in t_names:
        header += [f"{t}: gradfit", f"{t}: exact"] if exact is not None else [t]
    rows = []
    for j, name in enumerate(["(intercept)", *f_names]):
        row = [name]
        for k in range(len(t_names)):
            value = intercept[k] if j == 0 else coef[k, j - 1]
            row.append(fmt(value, 8))
            if exact is not None:
                W, b = exact
                row.append(fmt(b[k] if j == 0 else W[j - 1, k], 8))
        rows.append(row)
    note = ""
    if distance is not None:
        note = (
            "<p>Exact: the least-squares solution by SVD. Relative distance "
            f"‖W − W*‖/‖W*‖ = {_esc(fmt(distance, 3))}.</p>"
        )
    return (
        "<section><h3>Coefficients</h3><p>In the data's own units; row j is feature j's "
        "weight in each target.</p>" + _table(header, rows) + note + "</section>"
    )


def _inference_section(result: Any, alpha: float = 0.05) -> str:
    """The coefficient table(s) of :func:`gradfit.inference` and a coefficient plot."""
    level = f"{100 * (1 - alpha):g}%"
    rows = result.records(alpha)
    stat = "t" if result.use_t else "z"
    figures = []
    for output in result.output_names:
        mine = [
            r
            for r in rows
            if r["output"] == output and r["term"] != "const" and r["estimate"] is not None
        ]
        if not mine:
            continue
        figure, (ax,) = _new_figure(6.4, max(2.0, 0.35 * len(mine) + 1.0))
        ys = np.arange(len(mine))[::-1]
        est = np.array([r["estimate"] for r in mine])
        lo = np.array([np.nan if r["ci_lower"] is None else r["ci_lower"] for r in mine])
        hi = np.array([np.nan if r["ci_upper"] is None else r["ci_upper"] for r in mine])
        ax.errorbar(est, ys, xerr=[est - lo, hi - est], fmt="o", color="#335", capsize=3)
        ax.axvline(0.0, color="#a33", linewidth=1)
        ax.set_yticks(ys, [r["term"] for r in mine])
        ax.set_xlabel(f"estimate with its {level} confidence interval")
        ax.set_title(f"{output}: coefficients ({result.cov_type})")
        figures.append(
            _figure(
                figure,
                f"coefficient plot of {output}",
                f"{output}: each feature's estimate (dot) and {level} confidence interval "
                f"(bar), {result.cov_type} covariance; an interval that crosses the red "
                "line at 0 is not significant at that level (intercept left out).",
            )
        )
    return (
        "<section class='inference'><h3>Inference</h3><p>Standard errors, "
        f"{stat} statistics, p-values and {level} confidence intervals of the exact "
        f"least-squares solution (covariance: {_esc(result.cov_type)}; see the guide's "
        "Inference section for what each kind assumes).</p>"
        + result.to_html(alpha)
        + "".join(figures)
        + "</section>"
    )


def _residual_section(Y: F64, P: F64, t_names: list[str], sample: str | None = None) -> str:
    """Predicted against actual and the residuals' histogram; ``sample`` says which rows."""
    N = len(Y)
    take = np.arange(N)
    if N > SCATTER_POINTS:
        take = np.sort(np.random.default_rng(0).choice(N, SCATTER_POINTS, replace=False))
    figures = []
    for k, name in enumerate(t_names):
        figure, (left, right) = _new_figure(9.0, 3.6, columns=2)
        y, p = Y[:, k], P[:, k]
        left.scatter(y[take], p[take], s=8, alpha=0.6, color="tab:blue", gid="scatter")
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        left.plot([lo, hi], [lo, hi], color="0.4", linewidth=1, linestyle="--", gid="identity")
        left.set_xlabel(f"actual {name}")
        left.set_ylabel(f"predicted {name}")
        left.set_title("predicted against actual", fontsize="medium")
        residual = y - p
        right.hist(residual, bins=min(40, max(5, int(math.sqrt(N)))), color="tab:gray")
        right.axvline(0.0, color="black", linewidth=1)
        right.set_xlabel(f"residual {name} − predicted")
        right.set_ylabel("rows")
        right.set_title(f"residuals (std {fmt(residual.std(), 3)})", fontsize="medium")
        shown = f" ({SCATTER_POINTS} of {N} rows drawn at random)" if N > SCATTER_POINTS else ""
        rows = f" Both on {sample}." if sample else ""
        figures.append(
            _figure(
                figure,
                f"residuals of {name}",
                f"{name}: predicted against actual{shown}, the dashed line is perfect "
                f"prediction; and the histogram of the residuals.{rows}",
            )
        )
    return "<section><h3>Residuals</h3>" + "".join(figures) + "</section>"


def _diagnosis_section(result: Diagnosis) -> str:
    return "<section class='diagnosis'>" + result.report().to_html_fragment(level=3) + "</section>"


def _diagnosis(
    item: ReportInput, model: Any, X: F64, Y: F64, f_names: list[str], t_names: list[str]
) -> Diagnosis:
    """The item's diagnosis (with the fit assessed), computed here unless given."""
    result = item.diagnosis
    if result is None:
        return diagnose(X, Y, model=model, feature_names=f_names, target_names=t_names)
    if result.fit is None:
        raise GradfitInputError(
            "the report's diagnosis must assess the model: diagnose(X, y, model=model)"
        )
    if (result.n_samples, result.n_features, result.n_outputs) != (len(X), X.shape[1], Y.shape[1]):
        raise GradfitInputError(
            f"the diagnosis is of {result.n_samples} rows, {result.n_features} features and "
            f"{result.n_outputs} output(s) but the data has {len(X)}, {X.shape[1]} and "
            f"{Y.shape[1]}; pass the diagnosis of this data"
        )
    return result


def _explanation_section(
    model: Any,
    X: F64,
    Y: F64,
    f_names: list[str],
    t_names: list[str],
    sample: str | None = None,
) -> str:
    """The explanation and the sweep on ``X, Y`` (``sample`` says which rows they are)."""
    from .plots import plot_learning_rate_sweep
    from .understand.explain import explain

    fit_intercept, standardize = bool(model.fit_intercept), bool(model.standardize)
    alpha = float(model.alpha)
    result = explain(
        X,
        Y,
        feature_names=f_names,
        target_names=t_names,
        fit_intercept=fit_intercept,
        standardize=standardize,
        alpha=alpha,
    )
    figure, (ax,) = _new_figure()
    plot_learning_rate_sweep(
        X, Y, ax=ax, fit_intercept=fit_intercept, standardize=standardize, alpha=alpha
    )
    sweep = _figure(
        figure,
        "learning-rate sweep",
        "The seed's loop for 50 steps at learning rates around the stability bound 2/L: "
        "below it the loss falls, above it the loss explodes.",
    )
    note = ""
    if sample:
        note = (
            f"<p class='meta'>The explanation and the sweep run the seed's loop on {_esc(sample)}"
            " (the work is proportional to the rows shown; every other figure of this report "
            "is of all rows).</p>"
        )
    return (
        "<section class='explanation'>"
        + note
        + result.report().to_html_fragment(level=3)
        + sweep
        + "</section>"
    )


def _heldout_section(heldout: dict[str, Any]) -> str:
    """R², RMSE and MAE on rows the model did not see (``--test-size``, ``--cv K``)."""
    rows: list[tuple[str, ...]] = []
    notes = []

    def num(value: Any) -> str:
        return fmt(value if value is not None else math.nan, 6)

    part = heldout.get("heldout")
    if part is not None:
        how = f"test part ({part['n_test']} rows, seed {part['seed']})"
        rows += [
            (s["target"], how, num(s["r2"]), num(s["rmse"]), num(s["mae"])) for s in part["scores"]
        ]
        notes.append(
            f"The model was fitted on the training part only ({part['n_train']} rows); about "
            f"{part['test_size']:g} of the rows were held out by a seeded hash of their position."
        )
    cv = heldout.get("cross_validation")
    if cv is not None:
        how = f"{cv['folds']}-fold cross-validation (mean ± sd)"
        rows += [
            (
                s["target"],
                how,
                f"{num(s['r2'])} ± {num(s['r2_std'])}",
                f"{num(s['rmse'])} ± {num(s['rmse_std'])}",
                f"{num(s['mae'])} ± {num(s['mae_std'])}",
            )
            for s in cv["scores"]
        ]
    return (
        "<section><h3>Held-out scores</h3>"
        + "".join(f"<p>{_esc(n)}</p>" for n in notes)
        + _table(("target", "rows", "R²", "RMSE", "MAE"), rows)
        + "</section>"
    )


def _cv_section(search: Any, t_names: list[str]) -> str:
    from .plots import plot_cv_curve

    figure, (ax,) = _new_figure()
    plot_cv_curve(search, ax, target_names=t_names)
    how = "leave-one-out" if search.cv is None else f"{search.n_splits_}-fold"
    alphas = np.atleast_1d(np.asarray(search.alpha_, dtype=np.float64))
    chosen = ", ".join(f"{a:.4g}" for a in alphas)
    caption = (
        f"{how} cross-validation over {len(search.alphas_)} alphas, computed exactly from "
        f"the sufficient statistics; the band is ± one standard error. Chosen alpha: {chosen}."
    )
    return (
        "<section><h3>Choosing alpha</h3>"
        + _figure(figure, "cross-validation curve", caption)
        + "</section>"
    )


class _Steps:
    """``[gradfit] report: step i/n (what)`` on stderr while the report is computed."""

    def __init__(self, enabled: bool | None, total: int) -> None:
        if enabled is None:
            enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.enabled, self.total, self.done = enabled, total, 0
        self.start = time.monotonic()
        self.width = 0

    def __call__(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        line = (
            f"[gradfit] report: {min(self.done, self.total)}/{self.total} {what} "
            f"({time.monotonic() - self.start:.1f}s)"
        )
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def _check_model(model: Any, D: int, K: int | None = None) -> None:
    if not hasattr(model, "coef_"):
        raise GradfitInputError("the report needs a fitted model: call fit(X, y) first")
    coef = np.asarray(model.coef_)
    if coef.shape[-1] != D:
        raise GradfitInputError(
            f"the model has {coef.shape[-1]} features but the data has {D}; pass the data the "
            "model was fitted on"
        )
    outputs = 1 if coef.ndim == 1 else coef.shape[0]
    if K is not None and outputs != K:
        raise GradfitInputError(f"the model has {outputs} output(s) but y has {K} column(s)")


def _dataset(item: ReportInput, index: int, explanation: bool, step: _Steps) -> tuple[str, str]:
    if isinstance(item.X, RowSummary):
        return _summary_dataset(item, index, explanation, step)
    X, Y, _, f_names, t_names = as_float_inputs(
        item.X, item.y, item.feature_names, item.target_names
    )
    model = item.model
    _check_model(model, X.shape[1])
    P = np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)
    if P.shape[1] != Y.shape[1]:
        raise GradfitInputError(
            f"the model has {P.shape[1]} output(s) but y has {Y.shape[1]} column(s)"
        )
    step("diagnosis")
    diagnosis = _diagnosis(item, model, X, Y, f_names, t_names)
    fit = diagnosis.fit
    assert fit is not None
    exact = optimum = None
    if fit.W_star is not None and fit.b_star is not None:
        exact = (fit.W_star, fit.b_star)
        optimum = _per_output_loss(*exact, X, Y, float(model.alpha))
    r2, rmse = fit_scores(Y, P)
    explained = None
    if explanation:
        sample = None
        rows = sample_indices(len(X), seed=SAMPLE_SEED)
        if len(rows) < len(X):
            sample = (
                f"a seeded random sample of {len(rows)} of the {len(X)} rows (seed {SAMPLE_SEED})"
            )
        explained = (X[rows], Y[rows], sample)
    return _assemble(
        item,
        index,
        model,
        diagnosis,
        exact,
        optimum,
        (r2, rmse),
        _columns(X, Y),
        (Y, P, None),
        explained,
        f_names,
        t_names,
        step,
    )


def _summary_dataset(
    item: ReportInput, index: int, explanation: bool, step: _Steps
) -> tuple[str, str]:
    """A dataset given as one pass over its rows (:class:`~gradfit.understand.rows.RowSummary`)."""
    summary: RowSummary = item.X
    stats = summary.statistics
    D, K = stats.n_features, stats.n_targets
    f_names = list(item.feature_names or stats.feature_names or [f"x{j}" for j in range(D)])
    t_names = list(
        item.target_names
        or stats.target_names
        or (["y"] if K == 1 else [f"y{k}" for k in range(K)])
    )
    model = item.model
    _check_model(model, D, K)
    step("diagnosis")
    diagnosis = item.diagnosis
    if diagnosis is None:
        diagnosis = diagnose_statistics(
            stats, model=model, feature_names=f_names, target_names=t_names
        )
    fit = diagnosis.fit
    if fit is None:
        raise GradfitInputError(
            "the report's diagnosis must assess the model: diagnose_statistics(s, model=model)"
        )
    exact = optimum = None
    if fit.W_star is not None and fit.b_star is not None:
        exact = (fit.W_star, fit.b_star)
        optimum = statistics_loss(stats, fit.W_star, fit.b_star, float(model.alpha))
    if summary.r2 is None or summary.rmse is None:
        raise GradfitInputError(
            "the RowSummary has no scores: collect_rows(..., model=model) computes them"
        )
    Xs, Ys = summary.X_sample, summary.Y_sample
    from ._tables import predict_block

    # the sample holds the rows as the fit saw them (text columns already encoded)
    Ps = predict_block(model, Xs)
    words = summary.sample_words() if summary.sampled else None
    explained = (Xs, Ys, words) if explanation else None
    return _assemble(
        item,
        index,
        model,
        diagnosis,
        exact,
        optimum,
        (summary.r2, summary.rmse),
        _summary_columns(summary),
        (Ys, Ps, words),
        explained,
        f_names,
        t_names,
        step,
    )


def _assemble(
    item: ReportInput,
    index: int,
    model: Any,
    diagnosis: Diagnosis,
    exact: tuple[F64, F64] | None,
    optimum: F64 | None,
    scores: tuple[F64, F64],
    columns: tuple[F64, F64, F64, F64, int],
    residuals: tuple[F64, F64, str | None],
    explained: tuple[F64, F64, str | None] | None,
    f_names: list[str],
    t_names: list[str],
    step: _Steps,
) -> tuple[str, str]:
    fit = diagnosis.fit
    assert fit is not None
    anchor = f"dataset-{index}"
    step("loss curve")
    parts = [
        f"<section class='dataset' id='{anchor}'><h2>{_esc(item.name)}</h2>",
        f"<p>{_esc(item.note)}</p>" if item.note else "",
        _data_section(columns, f_names, t_names),
        _fit_section(model, *scores, t_names),
        _heldout_section(item.heldout) if item.heldout else "",
        _cv_section(item.cv, t_names) if item.cv is not None else "",
        _loss_section(model, optimum, t_names),
        _coefficient_section(model, exact, fit.exact_relative_distance, f_names, t_names),
        _inference_section(item.inference) if item.inference is not None else "",
    ]
    step("residuals")
    parts += [
        _residual_section(residuals[0], residuals[1], t_names, residuals[2]),
        _diagnosis_section(diagnosis),
    ]
    if explained is not None:
        step("explanation")
        parts.append(_explanation_section(model, *explained[:2], f_names, t_names, explained[2]))
    parts.append("</section>")
    return anchor, "\n".join(parts)


def render_report(
    inputs: ReportInput | Sequence[ReportInput],
    *,
    title: str = "gradfit report",
    explanation: bool = True,
    progress: bool | None = False,
) -> str:
    """The HTML of a report on one or several fitted datasets.

    Parameters
    ----------
    inputs : ReportInput or sequence of ReportInput
    title : str, default="gradfit report"
    explanation : bool, default=True
        Include :func:`gradfit.explain` and the learning-rate sweep (they run the seed's
        loop about 25 times for 50 steps, on a seeded sample of at most
        :data:`~gradfit.understand.rows.SAMPLE_ROWS` rows, stated as such in the report).
    progress : bool or None, default=False
        Show the step being computed on stderr (None: when stderr is a terminal).

    Returns
    -------
    str
        A complete HTML page.

    Examples
    --------
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = X @ [1.0, -1.0] + 0.1 * rng.normal(size=60)
    >>> page = render_report(ReportInput(GDRegressor().fit(X, y), X, y, name="<toy>"))
    >>> page.startswith("<!DOCTYPE html>"), "&lt;toy&gt;" in page, "<toy>" in page
    (True, True, False)
    >>> page.count("data:image/png;base64,")  # loss curve, residuals, learning-rate sweep
    3
    """
    items = [inputs] if isinstance(inputs, ReportInput) else list(inputs)
    if not items:
        raise GradfitInputError("render_report needs at least one ReportInput")
    from . import __version__

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # plots refit; the fit is given
        step = _Steps(progress, 4 * len(items))
        try:
            sections = [_dataset(item, i, explanation, step) for i, item in enumerate(items)]
        finally:
            step.close()
    created = _datetime.datetime.now(_datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = ""
    if len(sections) > 1:
        nav = (
            "<nav><ul>"
            + "".join(
                f"<li><a href='#{anchor}'>{_esc(item.name)}</a></li>"
                for (anchor, _), item in zip(sections, items, strict=True)
            )
            + "</ul></nav>"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{_esc(title)}</h1><p class='meta'>Written by gradfit {_esc(__version__)} on "
        f"{created}. Every number was computed from the data; nothing is loaded from the "
        "network.</p>\n" + nav + "\n".join(body for _, body in sections) + "\n</body></html>\n"
    )


def write_report(
    path: str | Path,
    model: Any,
    X: Any,
    y: Any,
    *,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
    name: str = "data",
    title: str | None = None,
    explanation: bool = True,
    diagnosis: Diagnosis | None = None,
    inference: Any = None,
    cv: Any = None,
    progress: bool | None = False,
    heldout: dict[str, Any] | None = None,
) -> Path:
    """Write a self-contained HTML report of ``model`` fitted on ``X, y``.

    Parameters
    ----------
    path : str or Path
        The ``.html`` file to write (atomically).
    model : GDRegressor
        Fitted on ``X, y``.
    X : array-like of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    feature_names, target_names : sequence of str, optional
    name : str, default="data"
        The dataset's name, e.g. its file name.
    title : str, optional
        Default ``"gradfit report: NAME"``.
    explanation : bool, default=True
        Include the explanation and the learning-rate sweep.
    diagnosis : Diagnosis, optional
        ``diagnose(X, y, model=model)``, if already computed (see :class:`ReportInput`).
    inference : Inference, optional
        :func:`gradfit.inference` of the model: adds its coefficient table and plot.
    cv : GDRegressorCV, optional
        The search that chose ``alpha``: adds its CV curve (see :class:`ReportInput`).
    progress : bool or None, default=False
        As for :func:`render_report`.
    heldout : dict, optional
        Held-out scores: adds their table (see :class:`ReportInput`).

    Returns
    -------
    Path

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_linnerud
    >>> from gradfit import GDRegressor
    >>> data = load_linnerud()
    >>> model = GDRegressor().fit(data.data, data.target)
    >>> path = write_report(os.path.join(tempfile.mkdtemp(), "report.html"), model,
    ...                     data.data, data.target, feature_names=data.feature_names,
    ...                     target_names=data.target_names, name="linnerud")
    >>> text = path.read_text(encoding="utf-8")
    >>> "Weight" in text and "Residuals" in text and "http://" not in text
    True
    """
    item = ReportInput(
        model,
        X,
        y,
        feature_names,
        target_names,
        name,
        diagnosis=diagnosis,
        inference=inference,
        cv=cv,
        heldout=heldout,
    )
    page = render_report(
        item,
        title=title or f"gradfit report: {name}",
        explanation=explanation,
        progress=progress,
    )
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
