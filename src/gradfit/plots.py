"""Plots of what gradient descent does: loss curves, learning-rate sweeps, paths on contours.

matplotlib is imported only when a plot is drawn. Every function takes ``ax=``
(draw into your own axes, e.g. from ``plt.subplots()``) and returns the axes it drew
on. Without ``ax`` a new bare :class:`matplotlib.figure.Figure` is made: it needs no
display, no GUI backend and no pyplot (so nothing is left open), is saved with
:func:`save_figure` and shows in notebooks as ``ax.figure``. :func:`pyplot` imports
pyplot with the Agg backend selected when there is no display.

Artists carry a ``gid`` so that they can be found again: ``"loss"``,
``"event_<kind>"``, ``"loss_<output>"``, ``"sweep"``, ``"stability_bound"``,
``"auto_rate"``, ``"loss_contours"``, ``"path_<method>"``, ``"optimum"``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import ConvergenceWarning, GradfitInputError
from ._io import as_float_inputs
from .solve.history import History

__all__ = [
    "plot_learning_rate_sweep",
    "plot_loss",
    "plot_paths",
    "plot_per_output_loss",
    "pyplot",
    "save_figure",
]

F64 = NDArray[np.float64]

#: How each event kind is marked on a loss curve: (marker, colour, legend text).
EVENT_STYLE = {
    "rollback": ("v", "tab:red", "rollback (step halved)"),
    "restart": ("o", "tab:orange", "momentum restart"),
    "stalled": ("X", "black", "stalled"),
}
PATH_STYLE = {
    "gd": ("tab:blue", "o"),
    "momentum": ("tab:orange", "s"),
    "nesterov": ("tab:green", "^"),
    "cg": ("tab:red", "D"),
}


def _headless() -> bool:
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _axes(ax: Any, figsize: tuple[float, float] = (6.4, 4.0)) -> Any:
    if ax is not None:
        return ax
    # A bare Figure needs no backend, no display and no pyplot state (nothing to close).
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").add_subplot()


def pyplot() -> Any:
    """Import ``matplotlib.pyplot``, selecting the Agg backend when there is no display.

    Examples
    --------
    >>> plt = pyplot()
    >>> fig, ax = plt.subplots()
    >>> plot_loss(History(loss=[4.0, 2.0, 1.0]), ax=ax) is ax
    True
    >>> plt.close(fig)
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and _headless() and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure_or_ax: Any, path: str | Path, *, dpi: float = 100) -> Path:
    """Write a figure (or the figure of an axes) as PNG or SVG, chosen by the extension.

    Parameters
    ----------
    figure_or_ax : Figure or Axes
    path : str or Path
        Ends in ``.png`` or ``.svg``.
    dpi : float, default=100
        Resolution of a PNG.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> ax = plot_loss(History(loss=[4.0, 2.0, 1.0]))
    >>> path = save_figure(ax, os.path.join(tempfile.mkdtemp(), "loss.svg"))
    >>> path.read_text().lstrip().startswith("<?xml")
    True
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise GradfitInputError(
            f"cannot write a figure to {path.name!r}: use a .png or .svg file name"
        )
    figure = getattr(figure_or_ax, "figure", figure_or_ax)
    figure.savefig(path, format=suffix[1:], dpi=dpi)
    return path


def _history(source: Any) -> History:
    history = getattr(source, "history_", source)
    if not isinstance(history, History):
        raise TypeError(
            f"expected a fitted GDRegressor or a History, got {type(source).__name__}; "
            "fit the model first"
        )
    return history


def _positive(values: F64) -> F64:
    return np.where(values > 0, values, np.nan)


def plot_loss(
    source: Any,
    ax: Any = None,
    *,
    optimum: float | None = None,
    label: str | None = None,
    events: bool = True,
) -> Any:
    """Plot the loss per iteration on a log scale, with rollbacks and restarts marked.

    Parameters
    ----------
    source : GDRegressor or History
        A fitted model (its ``history_``) or a history.
    ax : matplotlib Axes, optional
    optimum : float, optional
        Subtract it (``f*``, e.g. from the exact solution) to show ``f − f*``.
    label : str, optional
        Legend label of the curve (call again with the same ``ax`` to compare fits).
    events : bool, default=True
        Mark the history's events (``rollback``: the loss rose, the step was halved;
        ``restart``: momentum was reset; ``stalled``).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from gradfit import GDRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 3)); y = X @ [1.0, 2.0, 3.0]
    >>> ax = plot_loss(GDRegressor(method="gd").fit(X, y), label="gd")
    >>> ax.get_yscale(), ax.lines[0].get_gid()
    ('log', 'loss')
    """
    history = _history(source)
    ax = _axes(ax)
    loss = np.asarray(history.loss, dtype=np.float64)
    values = loss - optimum if optimum is not None else loss
    iterations = np.arange(len(values))
    (curve,) = ax.plot(iterations, _positive(values), label=label or "loss", gid="loss")
    if events:
        for kind, (marker, colour, text) in EVENT_STYLE.items():
            at = sorted({e.iteration for e in history.events if e.kind == kind})
            at = [t for t in at if 0 <= t < len(values)]
            if at:
                ax.plot(
                    at,
                    _positive(values[at]),
                    linestyle="none",
                    marker=marker,
                    color=colour if label is None else curve.get_color(),
                    markeredgecolor="black",
                    markersize=7,
                    label=text if label is None else f"{label}: {kind}",
                    gid=f"event_{kind}",
                )
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss − f*" if optimum is not None else "loss f = ½·MSE (+ penalty)")
    ax.legend(loc="upper right")
    return ax


def plot_per_output_loss(
    source: Any,
    ax: Any = None,
    *,
    target_names: Sequence[str] | None = None,
    optimum: Sequence[float] | None = None,
) -> Any:
    """Plot each output's loss per iteration (log scale) for a multi-output fit.

    Parameters
    ----------
    source : GDRegressor or History
    ax : matplotlib Axes, optional
    target_names : sequence of str, optional
        Legend labels (default ``output 0``, ``output 1``, …).
    optimum : sequence of float, optional
        Each output's optimal loss ``f_k*``; subtracted to show ``f_k − f_k*``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); Y = X @ rng.normal(size=(3, 2))
    >>> ax = plot_per_output_loss(GDRegressor(method="gd").fit(X, Y))
    >>> [line.get_gid() for line in ax.lines]
    ['loss_0', 'loss_1']
    """
    history = _history(source)
    ax = _axes(ax)
    per_output = np.atleast_2d(np.asarray(history.loss_per_output, dtype=np.float64))
    if per_output.shape[0] != len(history.loss):
        per_output = per_output.T
    K = per_output.shape[1]
    names = list(target_names) if target_names is not None else [f"output {k}" for k in range(K)]
    if len(names) != K:
        raise GradfitInputError(f"got {len(names)} target names for {K} outputs")
    if optimum is not None:
        shift = np.asarray(optimum, dtype=np.float64)
        if shift.shape != (K,):
            raise GradfitInputError(f"got {shift.size} optimal losses for {K} outputs")
        per_output = per_output - shift
    iterations = np.arange(per_output.shape[0])
    for k in range(K):
        ax.plot(iterations, _positive(per_output[:, k]), label=names[k], gid=f"loss_{k}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss − f* per output" if optimum is not None else "loss per output")
    ax.legend(loc="upper right")
    return ax


def plot_learning_rate_sweep(
    X: Any,
    y: Any,
    ax: Any = None,
    *,
    factors: Sequence[float] | None = None,
    steps: int = 50,
    fit_intercept: bool = True,
    standardize: bool = True,
    alpha: float = 0.0,
    sweep: Any = None,
) -> Any:
    """Run the seed's loop at learning rates around ``2/L`` and plot the loss reached.

    Each point is one run of ``steps`` steps from ``W = 0``: how much of the distance to
    the optimum in loss, ``f − f*``, is left (log scale; below 1 it converges). The
    vertical line is the stability bound ``2/L``, the dotted one ``1/L`` (gradfit's
    automatic rate).

    Parameters
    ----------
    X : array-like of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    ax : matplotlib Axes, optional
    factors : sequence of float, optional
        Learning rates as multiples of ``2/L`` (default 0.025 to 1.175).
    steps : int, default=50
    fit_intercept, standardize, alpha : as in :class:`~gradfit.GDRegressor`
    sweep : LearningRateSweep, optional
        A sweep already run by ``learning_rate_sweep`` (then ``X``, ``y``,
        ``factors`` and the options are not used, except ``steps`` for the label).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ax = plot_learning_rate_sweep(X, y)
    >>> bound = [line for line in ax.lines if line.get_gid() == "stability_bound"][0]
    >>> round(float(bound.get_xdata()[0]), 4)
    0.497
    """
    from .understand.explain import GROWTH_CAP, learning_rate_sweep

    if sweep is None:
        sweep = learning_rate_sweep(
            X,
            y,
            factors=factors,
            steps=steps,
            fit_intercept=fit_intercept,
            standardize=standardize,
            alpha=alpha,
        )
    ax = _axes(ax)
    stable = sweep.factors < 1
    ratios = np.minimum(sweep.ratios, GROWTH_CAP)
    ax.plot(
        sweep.learning_rates,
        ratios,
        color="0.6",
        linewidth=1,
        gid="sweep",
        label=f"one run of {steps} steps each (growth capped at {GROWTH_CAP:.0e})",
    )
    ax.plot(
        sweep.learning_rates[stable],
        ratios[stable],
        linestyle="none",
        marker="o",
        color="tab:blue",
        gid="sweep_stable",
        label="below 2/L: converges",
    )
    ax.plot(
        sweep.learning_rates[~stable],
        ratios[~stable],
        linestyle="none",
        marker="x",
        color="tab:red",
        gid="sweep_unstable",
        label="above 2/L: explodes",
    )
    ax.axvline(
        sweep.stability_bound,
        color="tab:red",
        linestyle="--",
        gid="stability_bound",
        label=f"2/L = {sweep.stability_bound:.4g}",
    )
    ax.axvline(
        0.5 * sweep.stability_bound,
        color="tab:green",
        linestyle=":",
        gid="auto_rate",
        label=f"1/L = {0.5 * sweep.stability_bound:.4g} (auto)",
    )
    ax.axhline(1.0, color="0.8", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"(f − f*) after {steps} steps / (f − f*) at start")
    ax.legend(loc="center left", fontsize="small")
    return ax


def _pick_features(
    X: F64, features: Sequence[int | str] | None, names: list[str]
) -> tuple[int, int]:
    D = X.shape[1]
    if features is not None:
        if len(features) != 2:
            raise GradfitInputError(f"features must name exactly two columns, got {features!r}")
        chosen = []
        for f in features:
            if isinstance(f, str):
                if f not in names:
                    raise GradfitInputError(f"no feature {f!r}; features are {', '.join(names)}")
                chosen.append(names.index(f))
            else:
                if not 0 <= int(f) < D:
                    raise GradfitInputError(f"feature index {f} out of range for D = {D}")
                chosen.append(int(f))
        if chosen[0] == chosen[1]:
            raise GradfitInputError("features must be two different columns")
        return chosen[0], chosen[1]
    if D < 2:
        raise GradfitInputError("a contour plot of paths needs at least two features")
    if D == 2:
        return 0, 1
    # The most correlated pair gives the most elongated contours: where methods differ most.
    Xc = X - X.mean(axis=0)
    norms = np.sqrt(np.sum(Xc * Xc, axis=0))
    norms[norms == 0] = 1.0
    C = np.abs((Xc / norms).T @ (Xc / norms))
    np.fill_diagonal(C, -1.0)
    i, j = np.unravel_index(int(np.argmax(C)), C.shape)
    return int(min(i, j)), int(max(i, j))


def plot_paths(
    X: Any,
    y: Any,
    ax: Any = None,
    *,
    features: Sequence[int | str] | None = None,
    methods: Sequence[str] = ("gd", "momentum", "nesterov", "cg"),
    max_iter: int = 20,
    fit_intercept: bool = True,
    standardize: bool = True,
    alpha: float = 0.0,
    output: int = 0,
    levels: int = 14,
) -> Any:
    """Draw the loss contours of a two-feature problem and each method's path on them.

    The problem is the regression of output ``output`` on two columns of ``X`` (the
    most correlated pair by default: the most elongated contours, where the methods
    differ most). Each path is gradfit's own iterates, ``coef_`` after
    ``t = 0, 1, …, max_iter`` iterations, in your units.

    Parameters
    ----------
    X : array-like of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    ax : matplotlib Axes, optional
    features : pair of int or str, optional
        The two columns (indices, or names when ``X`` is a DataFrame).
    methods : sequence of str, default=("gd", "momentum", "nesterov", "cg")
    max_iter : int, default=20
    fit_intercept, standardize, alpha : as in :class:`~gradfit.GDRegressor`
    output : int, default=0
        Which output when ``y`` has several.
    levels : int, default=14
        Number of contour levels (geometrically spaced above the optimum).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)) @ [[1.0, 0.9], [0.0, 0.3]]; y = X @ [1.0, -2.0]
    >>> ax = plot_paths(X, y, max_iter=20)
    >>> sorted(line.get_gid() for line in ax.lines)
    ['optimum', 'path_cg', 'path_gd', 'path_momentum', 'path_nesterov']
    """
    from .estimator import GDRegressor

    X64, Y, _, names, t_names = as_float_inputs(X, y)
    i, j = _pick_features(X64, features, names)
    X2 = np.ascontiguousarray(X64[:, [i, j]])
    yk = Y[:, output]
    N = len(yk)
    ax = _axes(ax)
    paths: dict[str, F64] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in methods:
            points = [np.zeros(2)]
            for t in range(1, max_iter + 1):
                model = GDRegressor(
                    method=method,
                    max_iter=t,
                    tol=1e-12,
                    fit_intercept=fit_intercept,
                    standardize=standardize,
                    alpha=alpha,
                ).fit(X2, yk)
                if model.n_iter_ < t:
                    break
                points.append(np.asarray(model.coef_, dtype=np.float64).copy())
            paths[method] = np.asarray(points)
    # f(w) with the intercept at its optimum: ½ wᵀHw − bᵀw + c on centred data.
    x_mean = X2.mean(axis=0) if fit_intercept else np.zeros(2)
    y_mean = float(yk.mean()) if fit_intercept else 0.0
    Xc, yc = X2 - x_mean, yk - y_mean
    H = Xc.T @ Xc / N + alpha * np.eye(2)
    b = Xc.T @ yc / N
    c = 0.5 * float(yc @ yc) / N
    w_star = np.linalg.lstsq(H, b, rcond=None)[0]
    f_star = 0.5 * float(w_star @ H @ w_star) - float(b @ w_star) + c
    everything = np.vstack([*paths.values(), w_star[None, :]])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-12 + 1e-6 * np.abs(hi))
    g1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160)
    g2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160)
    A, B = np.meshgrid(g1, g2)
    F = 0.5 * (H[0, 0] * A * A + 2 * H[0, 1] * A * B + H[1, 1] * B * B) - b[0] * A - b[1] * B + c
    top = float(F.max()) - f_star
    gaps = np.geomspace(max(top, 1e-300) * 1e-4, top, levels) if top > 0 else np.array([1.0])
    contours = ax.contour(A, B, F, levels=f_star + gaps, colors="0.55", linewidths=0.7)
    contours.set_gid("loss_contours")
    scale = max(float(np.linalg.norm(w_star)), np.finfo(float).tiny)
    for method, path in paths.items():
        colour, marker = PATH_STYLE.get(method, ("tab:purple", "."))
        left = float(np.linalg.norm(path[-1] - w_star)) / scale
        ax.plot(
            path[:, 0],
            path[:, 1],
            color=colour,
            marker=marker,
            markersize=4,
            markerfacecolor="none",
            linewidth=1.0,
            label=f"{method}: {len(path) - 1} steps, ‖w − w*‖/‖w*‖ = {left:.2g}",
            gid=f"path_{method}",
        )
    ax.plot(
        [w_star[0]],
        [w_star[1]],
        linestyle="none",
        marker="*",
        markersize=14,
        color="gold",
        markeredgecolor="black",
        label="optimum w*",
        gid="optimum",
    )
    ax.set_xlabel(f"w[{names[i]}]")
    ax.set_ylabel(f"w[{names[j]}]")
    rms = np.sqrt(np.diag(Xc.T @ Xc) / N) if standardize else np.ones(2)
    rms[rms == 0] = 1.0
    eig = np.linalg.eigvalsh(H / np.outer(rms, rms))
    kappa = float(eig[-1] / eig[0]) if eig[0] > 0 else math.inf
    ax.set_title(
        f"{t_names[output]} on {names[i]} and {names[j]}: κ = {kappa:.3g}"
        + (" (standardized)" if standardize else ""),
        fontsize="medium",
    )
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_cv_curve(search: Any, ax: Any = None, *, target_names: Sequence[str] | None = None) -> Any:
    """Plot a :class:`~gradfit.GDRegressorCV`'s score against alpha, with the chosen alpha.

    The band is the mean score ± one standard error (``cv_results_["std_error_test_score"]``:
    over the folds for K-fold, over the rows for leave-one-out); the dashed line marks
    ``alpha_`` and the dotted line the largest alpha whose score is within one standard
    error of the best (the "one-standard-error rule", a simpler model about as good).

    Parameters
    ----------
    search : GDRegressorCV
        Fitted.
    ax : matplotlib Axes, optional
    target_names : sequence of str, optional
        Legend labels when alphas were chosen per target.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from gradfit import GDRegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = X @ [1.0, 0.0, -1.0] + rng.normal(size=100)
    >>> ax = plot_cv_curve(GDRegressorCV(cv=5).fit(X, y))
    >>> [line.get_gid() for line in ax.lines]
    ['cv_score_0', 'chosen_alpha_0', 'one_se_alpha_0']
    """
    if not hasattr(search, "cv_results_"):
        raise TypeError("plot_cv_curve needs a fitted GDRegressorCV: call fit first")
    ax = _axes(ax)
    results = search.cv_results_
    alphas = np.asarray(results["param_alpha"], dtype=np.float64)
    mean = np.asarray(results["mean_test_score"], dtype=np.float64)
    se = np.asarray(results["std_error_test_score"], dtype=np.float64)
    if mean.ndim == 1:
        mean, se = mean[:, None], se[:, None]
    K = mean.shape[1]
    names = list(target_names) if target_names is not None else [f"output {k}" for k in range(K)]
    chosen = np.broadcast_to(np.atleast_1d(np.asarray(search.alpha_, dtype=np.float64)), (K,))
    order = np.argsort(alphas)
    for k in range(K):
        m, s = mean[order, k], se[order, k]
        label = "mean CV score" if K == 1 else f"{names[k]}"
        (line,) = ax.plot(alphas[order], m, marker=".", label=label, gid=f"cv_score_{k}")
        ax.fill_between(alphas[order], m - s, m + s, alpha=0.2, color=line.get_color())
        ax.axvline(
            chosen[k],
            color=line.get_color(),
            linestyle="--",
            gid=f"chosen_alpha_{k}",
            label=f"alpha_ = {chosen[k]:.3g}",
        )
        best = int(np.nanargmax(m))
        within = np.flatnonzero(m >= m[best] - s[best])
        one_se = alphas[order][within.max()] if within.size else alphas[order][best]
        ax.axvline(
            one_se,
            color=line.get_color(),
            linestyle=":",
            gid=f"one_se_alpha_{k}",
            label=f"one-SE rule: {one_se:.3g}",
        )
    if np.all(alphas > 0):
        ax.set_xscale("log")
    else:
        positive = alphas[alphas > 0]
        ax.set_xscale("symlog", linthresh=float(positive.min()) if positive.size else 1.0)
    folds = getattr(search, "n_splits_", None)
    how = "leave-one-out" if search.cv is None else f"{folds}-fold"
    ax.set_xlabel("alpha (gradfit units: (α/2)‖W‖² added to the mean squared error / 2)")
    scoring = search.scoring or ("neg_mean_squared_error" if search.cv is None else "r2")
    ax.set_ylabel(f"{how} score ({scoring})")
    ax.legend(loc="best", fontsize="small")
    return ax
