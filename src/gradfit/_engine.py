"""Which gradient engine runs a fit, and why.

Two engines compute the same objective:

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
   the data path is used instead (this needs X in memory).

``method="exact"`` always forms the statistics (Cholesky needs H) and, when X
is in memory, refines on the data path. The choice and its reason are
recorded on the fitted model (``engine_``, ``engine_reason_``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._gram import GramProblem, sufficient_statistics
from ._objective import LeastSquaresProblem, Problem

__all__ = [
    "ENGINES",
    "KAPPA_LIMIT",
    "STATS_MAX_FEATURES",
    "choose_engine",
    "kappa_fallback",
    "make_problem",
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
    >>> from gradfit._gram import sufficient_statistics
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
    """Build the objective for a fit.

    Returns
    -------
    problem : Problem
        What the loop iterates on.
    refine : Problem or None
        A data-path problem for ``method="exact"``'s refinement.
    engine : str
    reason : str
    """
    N, D = X.shape
    engine, reason = choose_engine(N, D, method, gradient)
    options: dict[str, Any] = {
        "fit_intercept": fit_intercept,
        "standardize": standardize,
        "alpha": alpha,
    }

    def data(known: GramProblem | None = None) -> LeastSquaresProblem:
        # after the statistics pass the means and scales are known: no second pass for them,
        # and both problems then share exactly the same centring and preconditioning
        return LeastSquaresProblem(
            X,
            Y,
            sample_weight=sample_weight,
            **options,
            x_offset=None if known is None else known.x_offset,
            y_offset=None if known is None else known.y_offset,
            x_scale=None if known is None else known.x_scale,
        )

    if engine == "data":
        return data(), None, engine, reason
    gram = GramProblem(
        sufficient_statistics(X, Y, sample_weight=sample_weight, fit_intercept=fit_intercept),
        X.dtype,
        **options,
    )
    if method == "exact":
        return gram, data(gram), engine, reason
    fallback = kappa_fallback(gram, gradient)
    if fallback is not None:
        return data(gram), None, "data", fallback
    return gram, None, engine, reason
