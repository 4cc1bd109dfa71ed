"""The planner: which gradient engine runs a fit, and why, for every source in one place.

:func:`plan` takes a :class:`~gradfit.sources.base.Source` (arrays, sparse, device
arrays, files, Dask, a plug-in) and the estimator's settings and returns the
problem the loop iterates on; sources only describe data. Two engines compute the same objective:

``"stats"`` (sufficient statistics)
    One pass over the data forms ``H = X_cᵀΩX_c`` and ``B = X_cᵀΩY_c``; every
    iteration then costs ``O(D²K)`` whatever N is, and the curvature is exact
    (an eigenvalue problem of size D). Forming H costs ``N·D²`` flops.
``"data"`` (the fused data path)
    Every gradient is one read of X (``Xᵀ(XW − Y)`` fused by row blocks);
    nothing of size D² is formed and nothing is squared, so it stays accurate
    however ill-conditioned X is.

``gradient="auto"`` picks ``"stats"`` unless one of these holds, in order:

1. the method is ``"sgd"`` (it needs rows);
2. ``D > N`` (H would be bigger than X);
3. ``D > STATS_MAX_FEATURES``: forming H costs about ``D/10`` data passes
   (measured on the 2-core reference machine; see ``benchmarks/RESULTS.md``),
   more than the ~100–200 passes a data-path fit needs;
4. after forming H, its condition number ``κ`` exceeds :data:`KAPPA_LIMIT`:
   gradients from ``HW − B`` then carry a relative error near ``κ·eps`` and
   the data path is used instead (over the source's rows: X in memory, a
   file's cache, persisted Dask partitions).

``method="exact"`` always forms the statistics (Cholesky needs H) and, when X
is in memory and the measured κ says the Cholesky solve may be off by more than
:data:`~gradfit.problem.gram.EXACT_FORWARD_ERROR` (:func:`~gradfit.problem.gram.refinement_needed`),
refines on the data path. The choice and its reason are
recorded on the fitted model (``engine_``, ``engine_reason_``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..sources.base import Source
from .gram import GramProblem, forming_drift, refinement_needed
from .objective import Problem

__all__ = [
    "ENGINES",
    "KAPPA_LIMIT",
    "MIXED_DRIFT_LIMIT",
    "STATS_MAX_FEATURES",
    "Plan",
    "choose_engine",
    "kappa_fallback",
    "make_problem",
    "mixed_refusal",
    "plan",
    "wants_statistics",
]

ENGINES = ("auto", "stats", "data")

#: Above this many features the data path is preferred (forming H costs ~D/10 passes).
STATS_MAX_FEATURES = 2000

#: Above this condition number of the (preconditioned) Hessian the data path is used.
KAPPA_LIMIT = 1e10


def choose_engine(N: int, D: int, method: str, requested: str) -> tuple[str, str]:
    """The engine for a fit of an N×D problem, and the reason, before looking at the data.

    Examples
    --------
    >>> choose_engine(1_000_000, 100, "cg", "auto")[0]
    'stats'
    >>> choose_engine(100, 4000, "cg", "auto")
    ('data', 'auto: D=4000 > N=100, so H (D×D) would be larger than X')
    """
    if method == "exact":
        return "stats", "method='exact' solves the normal equations, which needs H"
    if method == "sgd":
        if requested == "stats":
            raise ValueError(
                "method='sgd' draws mini-batches of rows; use gradient='data' or 'auto'"
            )
        return "data", "method='sgd' draws mini-batches of rows, so it runs on the data"
    if requested != "auto":
        return requested, f"gradient={requested!r} was requested"
    if D > N:
        return "data", f"auto: D={D} > N={N}, so H (D×D) would be larger than X"
    if D > STATS_MAX_FEATURES:
        return "data", (
            f"auto: D={D} > {STATS_MAX_FEATURES}: forming H costs N·D² flops, about D/10 = "
            f"{D // 10} passes over the data, more than a data-path fit needs"
        )
    return "stats", (
        f"auto: D={D} <= {STATS_MAX_FEATURES} and N={N} >= D: one pass forms H and B, then each "
        "iteration costs O(D²K) whatever N is"
    )


def wants_statistics(D: int, method: str, requested: str) -> bool:
    """Whether a streamed input's reading pass should form H, before N is known.

    :func:`choose_engine`'s own rules with N unbounded (files and Dask learn N by
    reading, and read once): exact always, sgd and ``"data"`` never, ``"auto"``
    up to :data:`STATS_MAX_FEATURES` features.

    Examples
    --------
    >>> wants_statistics(100, "cg", "auto"), wants_statistics(5000, "cg", "auto")
    (True, False)
    """
    return choose_engine(sys.maxsize, D, method, requested)[0] == "stats"


def kappa_fallback(gram: GramProblem, requested: str) -> str | None:
    """Why ``gradient="auto"`` leaves the statistics engine for the data path, or None.

    Rule 4 of the module docstring, shared by every input adapter: once H is
    formed, a condition number above :data:`KAPPA_LIMIT` means gradients from
    ``HW − B`` would lose about ``log10 κ`` digits.

    Examples
    --------
    >>> from gradfit.problem.gram import sufficient_statistics
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); Y = X @ np.ones((3, 1))
    >>> gram = GramProblem(sufficient_statistics(X, Y), X.dtype)
    >>> kappa_fallback(gram, "auto") is None, kappa_fallback(gram, "stats") is None
    (True, True)
    """
    if requested != "auto":
        return None
    kappa = gram.curvature().kappa
    if kappa <= KAPPA_LIMIT:
        return None
    return (
        f"auto: the normal equations have κ = {kappa:.3g} > {KAPPA_LIMIT:.0e}; "
        "gradients from H would lose about log10(κ) digits, so the data path is used"
    )


@dataclass
class Plan:
    """The planner's decision: what the loop iterates on, and why."""

    problem: Problem
    #: A data-path problem for ``method="exact"``'s refinement, or None.
    refine: Problem | None
    engine: str
    reason: str
    #: The statistics problem when ``H`` was formed but the data path runs (a veto, or κ above
    #: :data:`KAPPA_LIMIT`): the certificate solves each coefficient's error from it.
    gram: GramProblem | None = None


def plan(
    source: Source,
    *,
    method: str,
    gradient: str,
    fit_intercept: bool,
    standardize: bool,
    alpha: float,
) -> Plan:
    """Choose the engine for ``source`` and build its problem: the one place that decides.

    The rules are :func:`choose_engine`'s, applied to every source alike. When
    the source knows N before reading (arrays), the choice is made first and
    only the chosen engine reads the data; otherwise (files, Dask, generators)
    the reading pass forms the full statistics when :func:`wants_statistics`
    says the statistics engine may run (only their diagonal otherwise), and the
    choice is made with the N it counted. A source may refuse mini-batches
    (``sgd_refusal``), veto its statistics (``veto``, e.g. sparse centring that
    would cancel), and word the reason (``explain``, ``where``); it never sees
    ``method``.

    Examples
    --------
    >>> from gradfit.sources.arrays import ArraySource
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); Y = X @ np.ones((3, 1))
    >>> options = dict(fit_intercept=True, standardize=True, alpha=0.0)
    >>> chosen = plan(ArraySource(X, Y), method="cg", gradient="auto", **options)
    >>> chosen.engine, chosen.refine is None
    ('stats', True)
    >>> plan(ArraySource(X, Y), method="sgd", gradient="auto", **options).engine
    'data'
    """
    if method == "sgd" and source.sgd_refusal is not None:
        raise ValueError(source.sgd_refusal)
    options: dict[str, Any] = {
        "fit_intercept": fit_intercept,
        "standardize": standardize,
        "alpha": alpha,
    }
    D = source.n_features
    N = source.n_rows

    def done(
        problem: Problem,
        refine: Problem | None,
        engine: str,
        reason: str,
        *,
        fallback: bool = False,
        gram: GramProblem | None = None,
    ) -> Plan:
        where = source.where(engine, refine=refine is not None, fallback=fallback)
        source.planned(rows_used=engine == "data" or refine is not None)
        return Plan(problem, refine, engine, reason + where, gram)

    if N is not None:
        engine, reason = choose_engine(N, D, method, gradient)
        shape_rule = gradient == "auto" and method not in ("exact", "sgd") and D <= N
        reason = source.explain(engine, reason, shape_rule=shape_rule)
        if engine == "data":
            return done(source.data_problem(options, None), None, "data", reason)
        want_H = True
    else:
        want_H = wants_statistics(D, method, gradient)
    # the rows are kept (Dask: persisted) for a data path that will probably follow; `exact`
    # refines on them only when κ asks (refinement_needed), and then reads them again
    keep_rows = not want_H or gradient == "data"
    stats = source.statistics(options, diagonal=not want_H, keep_rows=keep_rows)
    if N is None:
        N = int(stats["N"])
        engine, reason = choose_engine(N, D, method, gradient)
        shape_rule = gradient == "auto" and method not in ("exact", "sgd") and D <= N
        reason = source.explain(engine, reason, shape_rule=shape_rule)
    if engine == "data" or "H" not in stats:
        return done(source.data_problem(options, stats), None, "data", reason)
    gram = GramProblem(stats, source.dtype, **options)
    if gram.products == "float32":
        refusal = mixed_refusal(gram)
        if refusal is None:
            rows = source.refine_problem(options, stats, gram)  # type: ignore[attr-defined]
            # L, μ and the gradient at zero from the statistics: no Lanczos or extra pass
            rows.known_curvature = gram.curvature()
            rows.known_zero_gradient = -gram.B
            # ... and the certificate's standard errors take the residuals' loss from the rows
            gram.loss_rows = rows
            reason += (
                "; H formed with float32 products (twice the multiply-adds per cycle), its "
                "solution refined and certified on the rows in float64"
            )
            return done(gram, rows, engine, reason)
        source.products = "float64"  # type: ignore[attr-defined]
        stats = source.statistics(options, diagonal=False, keep_rows=keep_rows)
        gram = GramProblem(stats, source.dtype, **options)
    if not source.has_rows:  # statistics alone: no data path to refine on or fall back to
        if kappa_fallback(gram, gradient) is not None:
            reason += (
                f"; κ = {gram.curvature().kappa:.3g} is large and there are no rows for the "
                "data path, so gradients from H may lose about log10(κ) digits"
            )
        return done(gram, None, engine, reason)
    if method == "exact":
        # the data-path problem (and its pass over X) only where the refinement needs it
        # (a source may offer rows fit for refinement: centred float64 passes, for instance)
        make = getattr(source, "refine_problem", source.data_problem)
        refine = make(options, stats, gram) if refinement_needed(gram) else None
        return done(gram, refine, engine, reason)
    if gradient == "auto" and (veto := source.veto(stats)) is not None:
        problem = source.data_problem(options, stats, gram)
        return done(problem, None, "data", veto, fallback=True, gram=gram)
    fallback = kappa_fallback(gram, gradient)
    if fallback is not None:
        problem = source.data_problem(options, stats, gram)
        return done(problem, None, "data", fallback, fallback=True, gram=gram)
    return done(gram, None, engine, reason)


#: Statistics from float32 products are kept where ``forming_drift`` (with float32's eps) is at
#: most this: iterative refinement on the rows then contracts by about 1e-3 or better a step.
MIXED_DRIFT_LIMIT = 1.0


def mixed_refusal(gram: GramProblem) -> str | None:
    """Why the statistics from float32 products will not do for this fit, or None.

    Where ``H`` has a null space (float32 rounding cannot tell it from a small eigenvalue)
    or ``16·c·κ·√D·eps32`` exceeds :data:`MIXED_DRIFT_LIMIT` (refinement would contract
    slowly, or not at all), the planner forms ``H`` again with float64 products.

    Examples
    --------
    >>> from gradfit.problem.gram import sufficient_statistics
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> gram = GramProblem(sufficient_statistics(X, X[:, :1]), X.dtype)
    >>> gram.forming_eps = float(np.finfo(np.float32).eps)
    >>> mixed_refusal(gram) is None
    True
    """
    if gram.null_space.shape[1]:
        return "H has a null space"
    kappa = gram.standardised_kappa()
    drift = forming_drift(gram, kappa)
    if not math.isfinite(drift) or drift > MIXED_DRIFT_LIMIT:
        return f"κ = {kappa:.3g} is too large for float32 products"
    return None


def make_problem(
    X: NDArray[Any],
    Y: NDArray[Any],
    *,
    sample_weight: NDArray[np.float64] | None,
    fit_intercept: bool,
    standardize: bool,
    alpha: float,
    method: str,
    gradient: str,
) -> tuple[Problem, Problem | None, str, str]:
    """Build the objective for a fit of arrays in memory (:func:`plan` on an :class:`ArraySource`).

    Returns
    -------
    problem : Problem
        What the loop iterates on.
    refine : Problem or None
        A data-path problem for ``method="exact"``'s refinement.
    engine : str
    reason : str

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 2)); Y = X @ np.ones((2, 1))
    >>> make_problem(X, Y, sample_weight=None, fit_intercept=True, standardize=True,
    ...              alpha=0.0, method="cg", gradient="data")[2]
    'data'
    """
    from ..sources.arrays import ArraySource

    chosen = plan(
        ArraySource(X, Y, sample_weight),
        method=method,
        gradient=gradient,
        fit_intercept=fit_intercept,
        standardize=standardize,
        alpha=alpha,
    )
    return chosen.problem, chosen.refine, chosen.engine, chosen.reason
