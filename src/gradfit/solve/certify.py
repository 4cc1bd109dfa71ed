"""The certificate: every fit checks its own answer before it says "converged".

The solve loop stops on its own measure (the relative gradient norm in the
loop's coordinates, in the data's dtype). That measure can be fooled: columns of
very different scales with ``standardize=False`` make the largest column hide
the others, float32 rounding can hide a drift, a singular problem has many
solutions. So after every fit, independently of the path that produced the
answer, :func:`certify`

1. returns the **minimum-norm** solution in the user's units when the problem is
   singular (the statistics engine does this exactly from its eigendecomposition;
   on the data path the answer is projected onto the row space of the centred
   design by conjugate gradients on ``H Z = H W``, unpreconditioned, from zero);
2. recomputes the gradient **in float64**, from the statistics or from the data,
   in the user's coordinates, and measures it **scale-free**: the gradient with
   respect to standardised coefficients ``∂f/∂(σ_j w_j)``, relative to its value
   at zero — what the stopping rule means whatever the preconditioning;
3. bounds the distance to the optimum where the smallest curvature ``μ`` on the
   row space is known: ``‖V − V*‖ ≤ ‖G‖/μ`` and ``f − f* ≤ ‖G‖²/(2μ)``, and states
   the attainable accuracy ``κ·eps``.

If the recomputed gradient does not meet the tolerance the fit is **not**
converged, whatever the loop's own measure said, and the warning names why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..problem.objective import Problem, centring_shift
from .loop import centred_limits, reference_norms

__all__ = ["Certificate", "certify", "coefficient_errors", "minimum_norm", "newton_step"]

F64 = NDArray[np.float64]
EPS64 = float(np.finfo(np.float64).eps)

#: The recomputed scale-free gradient may exceed ``tol`` by this factor (the loop measures
#: in its own coordinates: raw ones when ``standardize=False``); an answer that is wrong
#: for some column shows a gradient orders of magnitude above it.
CERTIFY_FACTOR = 10.0


@dataclass(frozen=True)
class Certificate:
    """What gradfit checked about a fitted answer, independently of how it was found.

    Attributes
    ----------
    verified : bool
        The recomputed gradient meets the tolerance (``converged_`` requires it).
    relative_grad_norm : ndarray of shape (K,)
        ``‖g_k(W)‖/‖g_k(0)‖`` with ``g`` the float64 gradient with respect to
        standardised coefficients, recomputed from the data or the statistics.
    tol : float
        The fit's tolerance; verified means ``relative_grad_norm ≤ 10·tol + allowance``.
    allowance : float
        The rounding allowance added to ``tol`` (``16·√D·eps`` of the loop's dtype).
    rank : int
        Numerical rank of the centred design (``n_features`` when full rank).
    n_features : int
    constant_features : tuple of int
        Columns constant to rounding (coefficient 0 when fitting an intercept).
    minimum_norm : str
        ``"not needed"`` (full rank or ``alpha > 0``), ``"exact"`` (from the
        eigendecomposition of the statistics), ``"projected"`` (data path), or
        ``"not reached: …"``.
    mu, L : float
        Smallest (on the row space) and largest eigenvalue of the Hessian in the
        loop's coordinates; ``mu`` is an upper estimate when it comes from Lanczos.
    coef_error_bound : ndarray of shape (K,)
        Bound on the relative error of the coefficients in the user's units,
        ``‖W − W*‖/‖W‖ ≤ ‖G_V‖/(μ·min s·‖W‖)`` (``V = s·W`` the loop's coordinates);
        inf if ``μ`` is unknown. A guarantee on the statistics engine (``μ`` exact); on
        the data path ``μ`` comes from Lanczos and the bound is an estimate.
    suboptimality_bound : ndarray of shape (K,)
        Bound on ``f − f*`` (``‖G‖²/(2μ)``), absolute.
    attainable : float
        ``κ·eps``: the relative coefficient accuracy the data's conditioning allows
        in float64 (1 or more: the data cannot determine the coefficients).
    reason : str
        One line: what was found.
    rigorous : bool
        Whether ``mu`` is exact (statistics engine, or Lanczos that became exact), so
        that the bounds are guarantees; otherwise they are estimates (``mu`` from
        Lanczos is an upper estimate of the smallest eigenvalue).
    coef_relative_error : ndarray of shape (D, K) or None
        Each coefficient's own error, ``|w − w*|/|w*|``, with ``w − w* = H⁻¹G``
        solved from the statistics (on the data path from a Gram pass where one is
        cheap, else None: see ``coef_check``). A norm-wise tolerance lets a coefficient
        that is small beside the largest be far off: this says which. Where the
        normwise bound ``‖G_V‖/(μ·s_j)`` already puts every coefficient within 1% of
        its size (CG and exact fits), no solve is made and this holds that bound
        (an upper bound; ``coef_error_se`` is then NaN).
    coef_error_se : ndarray of shape (D, K) or None
        The same error in standard errors of the estimate
        (``√(σ²·(XᵀX)⁻¹_jj)``, ``σ²`` from the residuals at ``w*``), for the coefficients
        more than 1% off (NaN for the others, and where no degree of freedom is left); a
        lower bound where ``noise_below_rounding``.
    unresolved : tuple of (int, int)
        ``(feature, target)`` pairs whose error exceeds both 1% of the coefficient
        and one standard error: the fit met its tolerance, but these coefficients
        are not the least-squares ones to the data's own precision (gradfit warns).
    noise_below_rounding : bool
        The residual noise is below what the statistics resolve in float64 (a target
        with ``R² ≈ 1 − 1e-16``, or noise-free data): ``coef_error_se`` then uses the
        rounding's bound on ``σ``, so it is a lower bound.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = X @ [1.0, 2.0, 3.0] + rng.normal(size=100)
    >>> cert = GDRegressor().fit(X, y).certificate_
    >>> cert.verified, cert.rank, cert.minimum_norm, cert.rigorous
    (True, 3, 'not needed', True)
    >>> bool(np.max(cert.coef_error_bound) < 1e-6)
    True
    """

    verified: bool
    relative_grad_norm: F64
    tol: float
    allowance: float
    rank: int
    n_features: int
    constant_features: tuple[int, ...]
    minimum_norm: str
    mu: float
    L: float
    coef_error_bound: F64
    suboptimality_bound: F64
    attainable: float
    reason: str
    rigorous: bool = True
    coef_relative_error: F64 | None = None
    coef_error_se: F64 | None = None
    unresolved: tuple[tuple[int, int], ...] = ()
    noise_below_rounding: bool = False
    coef_check: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (floats, ints, lists, strings)."""
        return {
            "verified": self.verified,
            "relative_grad_norm": [float(v) for v in self.relative_grad_norm],
            "tol": self.tol,
            "allowance": self.allowance,
            "rank": self.rank,
            "n_features": self.n_features,
            "constant_features": list(self.constant_features),
            "minimum_norm": self.minimum_norm,
            "mu": self.mu,
            "L": self.L,
            "coef_error_bound": [_json_float(v) for v in self.coef_error_bound],
            "suboptimality_bound": [_json_float(v) for v in self.suboptimality_bound],
            "attainable": _json_float(self.attainable),
            "reason": self.reason,
            "rigorous": self.rigorous,
            "coef_relative_error": _json_matrix(self.coef_relative_error),
            "coef_error_se": _json_matrix(self.coef_error_se),
            "unresolved": [list(pair) for pair in self.unresolved],
            "noise_below_rounding": self.noise_below_rounding,
            "coef_check": self.coef_check,
        }

    def __str__(self) -> str:
        """One readable paragraph (:meth:`to_text`)."""
        return self.to_text()

    def to_html(self) -> str:
        """:meth:`to_text` as HTML (escaped), for Jupyter and reports."""
        from html import escape

        return f"<div class='gradfit-certificate'><pre>{escape(self.to_text())}</pre></div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_text(self) -> str:
        """One readable paragraph."""
        worst = float(np.max(self.relative_grad_norm, initial=0.0))
        bound = float(np.max(self.coef_error_bound, initial=0.0))
        lines = [
            f"certificate: {'verified' if self.verified else 'NOT verified'} — {self.reason}",
            f"  recomputed relative gradient (float64, standardised) {worst:.3g} "
            f"(tol {self.tol:g} + rounding {self.allowance:.2g})",
            f"  rank {self.rank} of {self.n_features}"
            + (
                f"; constant columns {list(self.constant_features)}"
                if self.constant_features
                else ""
            )
            + f"; minimum norm: {self.minimum_norm}",
            f"  ‖W − W*‖/‖W‖ ≤ {bound:.3g}{'' if self.rigorous else ' (μ estimated: indicative)'}"
            f"; attainable κ·eps = {self.attainable:.3g}",
        ]
        if self.coef_relative_error is not None and self.coef_error_se is not None:
            relative = float(np.max(self.coef_relative_error, initial=0.0))
            in_se = self.coef_error_se[np.isfinite(self.coef_error_se)]
            how = "R⁻¹R⁻ᵀG" if self.coef_check == "from the rows' QR factor" else "H⁻¹G"
            line = f"  each coefficient ({how}): largest error {100 * relative:.3g}% of its size"
            if in_se.size:
                at_least = "≥ " if self.noise_below_rounding else ""
                line += f", {at_least}{float(in_se.max()):.3g} standard errors"
            if self.unresolved:
                features = sorted({j for j, _ in self.unresolved})
                line += f"; NOT resolved at this tol: features {features}"
            lines.append(line)
        elif self.coef_check.startswith("not checked"):
            lines.append(f"  each coefficient: {self.coef_check}")
        return "\n".join(lines)


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_matrix(values: F64 | None) -> list[list[float | None]] | None:
    if values is None:
        return None
    return [[_json_float(v) for v in row] for row in np.asarray(values)]


#: A coefficient is *unresolved* when its error ``|w − w*|`` exceeds this fraction of ``|w*|``
#: and one standard error (:func:`coefficient_errors`).
UNRESOLVED_RELATIVE = 0.01


def coefficient_errors(
    problem: Problem, W: F64, G_loop: F64, constant: NDArray[np.bool_]
) -> tuple[F64, F64, tuple[tuple[int, int], ...], bool] | None:
    """Each coefficient's error from the statistics, beside its size and its standard error.

    The stopping rule and the certificate measure the gradient norm-wise, relative
    to its value at zero, which the largest effects dominate: gradient descent on
    ``y = 1e7·x₀ + x₁ + 2·x₂ + noise`` meets ``tol=1e-6`` with ``x₁`` and ``x₂`` 17% and
    75% off. Where ``H`` is formed the error itself is one solve away,
    ``V − V* = H_V⁻¹ G_V`` (loop coordinates; the factor ``method="exact"`` uses). Each
    error is compared with the coefficient and with its standard error
    ``√(2·loss(w*)/(N − p) · (H⁻¹)_jj)`` (``H = XᵀX/N``; the residuals' loss, without
    the penalty). A coefficient is *unresolved* when its error exceeds 1% of it and one
    standard error: the data pin it down better than the fit did. Where the statistics
    cannot resolve the residual noise (the loss at ``w*`` within their rounding), the
    rounding's bound on it bounds each standard error from above, so a flag is still a
    proof. Singular designs: the errors are those of the minimum-norm answer in the
    user's units, and the standard errors those of the minimum-norm estimator. With a
    penalty, ``(H + α)⁻¹`` bounds the ridge estimator's variance from above.

    Parameters
    ----------
    problem : Problem
        The statistics engine's problem (:class:`~gradfit.problem.gram.GramProblem`).
    W : ndarray of shape (D, K)
        The answer in the user's units.
    G_loop : ndarray of shape (D, K)
        The float64 gradient at ``W`` in loop coordinates.
    constant : ndarray of bool, shape (D,)
        Constant columns (coefficient held at zero).

    Returns
    -------
    tuple or None
        ``(relative, in standard errors, unresolved, noise below rounding)`` as in
        :class:`Certificate`; None where ``H`` cannot be factored (or on the data path).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3))
    >>> y = 1e7 * X[:, 0] + X[:, 1] + 2 * X[:, 2] + 0.1 * rng.normal(size=2000)
    >>> GDRegressor(method="gd", tol=1e-6).fit(X, y).certificate_.unresolved
    ((1, 0), (2, 0))
    >>> GDRegressor(method="cg").fit(X, y).certificate_.unresolved
    ()
    """
    if not hasattr(problem, "exact_factor"):
        return None
    s = np.asarray(problem.x_scale, dtype=np.float64)
    # null directions in the user's units: the minimum-norm answer W and W* both lie outside
    # them, so the error is taken there too (the loop's null space differs when the scales do)
    null_user = np.asarray(getattr(problem, "_null_user", np.zeros((problem.D, 0))))
    singular = null_user.shape[1] > 0
    W = np.asarray(W, dtype=np.float64)
    # first the normwise bound on |w_j − w*_j| (μ exact here): ‖G_V‖/(μ·s_j), or ‖G_V‖/(μ·min s)
    # after the projection; where it already puts every coefficient within 1% of its size (a
    # CG or exact fit), no factorisation is needed
    mu = float(problem.curvature().mu)
    if mu > 0:
        with np.errstate(all="ignore"):
            G_norm = np.sqrt(np.einsum("ij,ij->j", G_loop, G_loop))
            per_column = np.full_like(s, float(s.min())) if singular else s
            bound = G_norm[None, :] / (mu * per_column[:, None])
            size = np.abs(W) - bound
            relative_bound = np.where(size > 0, bound / np.where(size > 0, size, 1.0), np.inf)
            relative_bound = np.where(bound > 0, relative_bound, 0.0)
        relative_bound[constant] = 0.0
        if np.all(relative_bound <= UNRESOLVED_RELATIVE):
            return relative_bound, np.full_like(relative_bound, np.nan), (), False
    factor = problem.exact_factor()
    if factor is None:
        return None

    def project(A: F64) -> F64:
        return A - null_user @ (null_user.T @ A) if singular else A

    with np.errstate(all="ignore"):
        delta = _user_error(problem, factor, G_loop)  # W − W* in the user's units
        if not np.all(np.isfinite(delta)):
            return None
        best_W = W - delta
        error = np.abs(delta)
        best = np.abs(best_W)
        relative = np.where(best > 0, error / np.where(best > 0, best, 1.0), np.inf)
        relative = np.where(error > 0, relative, 0.0)
        relative[constant] = 0.0
        rows = getattr(problem, "loss_rows", None)
        if rows is not None:
            # H from float32 products (decision 34): ½yy − wᵀB + ½wᵀHw would cancel to its
            # rounding, about 1e-8·yy, and inflate every standard error (2,000× was seen); the
            # rows' float64 pass at W (the certificate's own, remembered) less the step to W*
            # gives the residuals' loss, ½‖r − X_cδ‖² = ½‖r‖² − δᵀX_cᵀr + ½δᵀHδ
            G_rows, loss_W = rows._pass(rows._free(W), True)
            H_user = np.asarray(getattr(problem, "H"), dtype=np.float64)  # noqa: B009
            loss = (
                np.asarray(loss_W, dtype=np.float64)
                - np.einsum("ij,ij->j", np.asarray(G_rows, dtype=np.float64), delta)
                + 0.5 * np.einsum("ij,ij->j", delta, H_user @ delta)
            )
            slack = np.asarray(rows.loss_slack(loss), dtype=np.float64)
        else:
            best_V = np.asarray(problem.from_user(best_W), dtype=np.float64)
            loss, _ = problem.loss_grad(best_V)
            # the residuals' part of the loss (the penalty ½α‖w‖² is no noise)
            penalty = 0.5 * float(problem.alpha) * np.einsum("ij,ij->j", best_W, best_W)
            loss = np.asarray(loss, dtype=np.float64) - penalty
            # the statistics give the loss only to their rounding (½yy·eps·…): where the
            # residual noise is below it, that bound on it bounds each standard error from above
            slack = np.asarray(problem.loss_slack(loss), dtype=np.float64)
        resolved = loss > slack
        rank = int(getattr(problem, "rank", problem.D))
        # rows of weight 0 are no observations (as R's lm): they are not degrees of freedom
        n_obs = int(getattr(problem, "n_positive", problem.N))
        df = n_obs - rank - int(problem.fit_intercept)
        in_se = np.full_like(error, np.nan)
        candidates = np.flatnonzero(np.any(relative > UNRESOLVED_RELATIVE, axis=1) & ~constant)
        if df > 0 and candidates.size:
            # Var(w*_j) = σ²/N · t_jᵀ H_V⁺ t_j with t_j = S⁻¹P e_j (P: off the null space);
            # with a penalty (H_V + α/s²)⁻¹ bounds the ridge estimator's variance from above
            T = np.zeros((problem.D, candidates.size))
            T[candidates, np.arange(candidates.size)] = 1.0
            T = project(T) / s[:, None]
            inverse_diag = np.einsum("ij,ij->j", T, np.asarray(factor(T)))
            variance = 2.0 * np.maximum(loss, slack) / df  # σ²/N: H is XᵀX/N
            se = np.sqrt(np.maximum(inverse_diag, 0.0)[:, None] * variance[None, :])
            ratio = error[candidates] / np.where(se > 0, se, 1.0)
            in_se[candidates] = np.where(se > 0, ratio, np.inf)
    flagged = (relative > UNRESOLVED_RELATIVE) & (in_se > 1.0)
    unresolved = tuple((int(j), int(k)) for j, k in zip(*np.nonzero(flagged), strict=True))
    return relative, in_se, unresolved, bool(not np.all(resolved))


def _user_error(problem: Problem, factor: Any, G_loop: F64) -> F64:
    """``W − W* = P·S⁻¹·H_V⁺G_V``: the error in the user's units, off the null space there.

    (The minimum-norm answer and ``W`` both lie outside the user-unit null space, which
    differs from the loop's when the column scales do.)
    """
    s = np.asarray(problem.x_scale, dtype=np.float64)[:, None]
    delta = np.asarray(factor(G_loop), dtype=np.float64) / s
    null_user = np.asarray(getattr(problem, "_null_user", np.zeros((problem.D, 0))))
    if null_user.shape[1]:
        delta = delta - null_user @ (null_user.T @ delta)
    return delta


def newton_step(problem: Problem, W: F64) -> F64 | None:
    """``W − H⁻¹G(W)`` on the statistics (user's units, minimum norm), or None if no factor.

    One step of Newton's method on a quadratic: the least-squares answer to rounding,
    from the factor ``method="exact"`` uses. The estimator takes it after CG on the
    statistics when :func:`coefficient_errors` finds coefficients still off.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit.problem.gram import GramProblem, sufficient_statistics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3)); Y = X @ np.array([[1.0], [2.0], [3.0]])
    >>> gram = GramProblem(sufficient_statistics(X, Y), X.dtype)
    >>> np.round(newton_step(gram, np.zeros((3, 1))).ravel(), 12)
    array([1., 2., 3.])
    """
    factor = problem.exact_factor() if hasattr(problem, "exact_factor") else None
    if factor is None:
        return None
    W = np.asarray(W, dtype=np.float64)
    _, G_V = problem.loss_grad(problem.from_user(W))
    step = W - _user_error(problem, factor, np.asarray(G_V, dtype=np.float64))
    constant = np.asarray(getattr(problem, "constant", np.zeros(problem.D, bool)))
    step[constant] = 0.0
    return step if np.all(np.isfinite(step)) else None


def _standardised_gradient(problem: Problem, W: F64) -> tuple[F64, F64, F64]:
    """Float64 gradient at W and at 0, with respect to ``σ_j w_j`` (σ = column spread).

    The third result is the σ used (zero for constant columns, whose rows are zero).
    """
    spread = np.asarray(problem.x_rms, dtype=np.float64)
    constant = getattr(problem, "constant", np.zeros(problem.D, bool))
    inverse = np.where((spread > 0) & ~constant, 1.0, 0.0)
    if hasattr(problem, "H"):  # the statistics: G = H W − B + αW in the user's coordinates
        H, B = getattr(problem, "H"), getattr(problem, "B")  # noqa: B009
        G = H @ W - B + problem.alpha * W
        G0 = -B
    else:
        G = _data_gradient(problem, W)  # the claim: one float64 pass
        # the denominator (the gradient at zero, a large number) needs no float64 pass: the
        # problem's own pass, taken back from loop coordinates (G_V = G_W/s), or −B from
        # statistics of the same rows where the fit has them (float32 products: decision 34) ...
        known = getattr(problem, "known_zero_gradient", None)
        if known is not None:
            G0 = np.asarray(known, dtype=np.float64)
        else:
            _, G0_V = problem.loss_grad(np.zeros_like(W))
            G0 = np.asarray(G0_V, dtype=np.float64) * np.asarray(problem.x_scale)[:, None]
        shift = centring_shift(problem, np.ones(problem.D))
        if shift is not None and (known is not None or _pass_dtype(problem) != np.float64):
            # ... except without an intercept where the centring matters: the reference is then
            # G(0) + x̄ȳᵀ, and G(0)'s rounding in a narrower dtype (about 16·√D·eps·‖G(0)‖)
            # could pass for the centred targets' gradient
            plain = np.sqrt(np.einsum("ij,ij->j", G0, G0))
            centred = np.sqrt(np.einsum("ij,ij->j", G0 + shift, G0 + shift))
            if np.any(centred < 0.1 * plain):
                G0 = _data_gradient(problem, np.zeros_like(W))
    # the standardised coordinate of column j is v_j = σ_j·w_j, so ∂f/∂v_j = G_j/σ_j
    scale = np.where(inverse > 0, spread, 0.0)[:, None]
    safe = np.where(scale > 0, scale, 1.0)
    g = np.where(scale > 0, G / safe, 0.0)
    g0 = np.where(scale > 0, G0 / safe, 0.0)
    return g, g0, scale[:, 0]


def _data_gradient(problem: Problem, W: F64) -> F64:
    """``Xᵀ Ω r + αW`` at user weights ``W`` from one pass over the data, in float64."""
    prob: Any = problem
    restore = None
    if getattr(prob, "dtype", np.float64) != np.float64 and hasattr(prob, "_float64_products"):
        restore = (prob.use_kernel, prob._float64_products)
        prob.use_kernel, prob._float64_products = False, True
    try:
        W = prob._free(np.asarray(W, dtype=np.float64)) if hasattr(prob, "_free") else W
        G, _ = prob._pass(W, with_targets=True)
    finally:
        if restore is not None:
            prob.use_kernel, prob._float64_products = restore
    G = np.asarray(G, dtype=np.float64)
    if prob.alpha:
        G = G + prob.alpha * W
    if hasattr(prob, "_free"):
        G = prob._free(G)
    return G


def minimum_norm(problem: Problem, W: F64, *, rtol: float = 1e-12) -> tuple[F64, str]:
    """The minimum-norm point (user's units) with the same fit as ``W``, on the data path.

    Solves ``H Z = H W`` by unpreconditioned conjugate gradients from ``Z = 0``
    with ``H`` the centred Hessian in the user's units (``H P = s·A(s·P)`` from
    the problem's Hessian-vector product ``A`` in loop coordinates ``V = s·W``):
    the iterates stay in the row space, so the limit is the row-space part of
    ``W``. Returns ``(Z, status)``.
    """
    prob: Any = problem
    s = np.asarray(problem.x_scale, dtype=np.float64)[:, None]

    def H(P: F64) -> F64:
        return np.asarray(s * prob.hvp(s * P), dtype=np.float64)

    eps = float(np.finfo(_pass_dtype(problem)).eps)
    with np.errstate(all="ignore"):  # non-finite values are caught below, not warned
        return _minimum_norm(H, W, problem, max(rtol, 10 * eps))


def _pass_dtype(problem: Problem) -> np.dtype[Any]:
    """The precision the projection iterates to.

    Float64 once the loop promoted the passes (``promote_products``), else X's dtype.
    """
    if getattr(problem, "_promoted", False):
        return np.dtype(np.float64)
    return np.dtype(getattr(problem, "dtype", np.float64))


def _minimum_norm(H: Any, W: F64, problem: Problem, rtol: float) -> tuple[F64, str]:
    R = H(W)
    norm0 = np.sqrt(np.einsum("ij,ij->j", R, R))
    if not np.all(np.isfinite(norm0)):
        return W, "not reached: the projection's products overflow float64"
    if not np.any(norm0 > 0):
        return np.zeros_like(W), "projected"
    Z = np.zeros_like(W)
    P = R.copy()
    rr = norm0**2
    limit = 4 * min(problem.D, problem.N) + 100
    done = np.sqrt(rr) <= rtol * norm0
    best, since = np.sqrt(rr), 0
    for _ in range(limit):
        if done.all():
            break
        # rounding (a float32 data path) can keep the residual from ever reaching rtol, or
        # make it grow: stop after 50 iterations without a smaller residual
        size = np.sqrt(rr)
        since = 0 if np.any(size < 0.999 * best) else since + 1
        best = np.minimum(best, size)
        if since > 50:
            break
        AP = H(P)
        pAp = np.einsum("ij,ij->j", P, AP)
        step = np.where((pAp > 0) & ~done, rr / np.where(pAp > 0, pAp, 1.0), 0.0)
        Z += step * P
        R -= step * AP
        rr_new = np.einsum("ij,ij->j", R, R)
        done |= np.sqrt(rr_new) <= rtol * norm0
        beta = np.where(rr > 0, rr_new / np.where(rr > 0, rr, 1.0), 0.0)
        P = R + beta * P
        rr = rr_new
    check = H(Z) - H(W)
    residual = float(np.max(np.sqrt(np.einsum("ij,ij->j", check, check)) / norm0))
    eps = float(np.finfo(np.dtype(getattr(problem, "dtype", np.float64))).eps)
    if not (residual <= max(1e-6, 1e3 * eps) and np.all(np.isfinite(Z))):
        return W, (
            f"not reached: the projection onto the row space stopped at relative "
            f"residual {residual:.2g} (the unscaled problem is too ill-conditioned)"
        )
    return Z, "projected"


def certify(
    problem: Problem,
    W: F64,
    *,
    tol: float,
    singular_hint: bool,
    in_row_space: bool = False,
    statistics: Callable[[], Any] | None = None,
) -> tuple[F64, Certificate]:
    """Check ``W`` (user's units, (D, K)) against the problem; return the final W and the proof.

    Parameters
    ----------
    problem : Problem
        The objective the fit ran on (statistics or data path).
    W : ndarray of shape (D, K)
        The loop's answer in the user's units.
    tol : float
        The fit's tolerance.
    singular_hint : bool
        Whether the data path should look for the minimum-norm answer (the
        problem is singular, or Lanczos found ``μ`` at rounding level, and any
        penalty is too small to matter there).
    in_row_space : bool
        The iterates already stay in the row space in the user's units (an
        unpreconditioned first-order method started from zero): no projection.
    statistics : callable, optional
        On the data path: returns a statistics problem
        (:class:`~gradfit.problem.gram.GramProblem`) of the same data and settings, or
        a string saying why there is none; each coefficient's error is solved from it
        (:func:`coefficient_errors`).

    Returns
    -------
    W : ndarray of shape (D, K)
        The answer, projected to the minimum norm where that was needed.
    certificate : Certificate
    """
    D, K = W.shape
    constant = np.asarray(getattr(problem, "constant", np.zeros(D, bool)))
    curvature = problem.curvature()
    L, mu = float(curvature.L), float(curvature.mu)
    null = getattr(problem, "null_space", None)
    if null is not None:  # the statistics engine: rank and minimum norm are exact
        rank = problem.D - null.shape[1]
        status = "exact" if null.shape[1] else "not needed"
    else:
        rank = D - int(constant.sum())
        status = "not needed"
        if singular_hint:
            if in_row_space:
                status = "reached from zero without preconditioning"
            else:
                W, status = minimum_norm(problem, W)
            rank = min(rank, problem.N - int(problem.fit_intercept))
    if status == "not needed" and constant.any():
        status = "exact"  # constant columns are held at zero
    g, g0, spread_used = _standardised_gradient(problem, W)
    # the stopping rule's reference (the centred targets' gradient at zero without an intercept),
    # from float64 gradients
    limits = centred_limits(np.float64, D, tol)
    ref = reference_norms(g0, centring_shift(problem, spread_used), limits)
    gnorm = np.sqrt(np.einsum("ij,ij->j", g, g))
    relative = gnorm / ref
    dtype = np.dtype(getattr(problem, "dtype", np.float64))
    eps = float(np.finfo(dtype).eps) if dtype.kind == "f" else EPS64
    allowance = 16.0 * math.sqrt(max(D, 1)) * eps
    verified = bool(np.all(relative <= CERTIFY_FACTOR * tol + allowance))
    # bounds from the float64 gradient, taken to the loop's coordinates V = s·W (where μ
    # is known): ‖V − V*‖ ≤ ‖G_V‖/μ, and W − W* = (V − V*)/s in the user's units
    s = np.asarray(problem.x_scale, dtype=np.float64)
    spread = np.where(np.asarray(problem.x_rms) > 0, np.asarray(problem.x_rms), 0.0)
    G_loop = g * (spread / s)[:, None]
    G_norm = np.sqrt(np.einsum("ij,ij->j", G_loop, G_loop))
    W_norm = np.sqrt(np.einsum("ij,ij->j", W, W))
    free = ~constant
    s_min = float(s[free].min()) if free.any() else 1.0
    if mu > 0:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            coef_bound = np.where(
                W_norm > 0, G_norm / (mu * s_min * W_norm), np.where(G_norm > 0, np.inf, 0.0)
            )
        sub_bound = G_norm**2 / (2 * mu)
        kappa = L / mu
    else:
        coef_bound = np.full(K, np.inf)
        sub_bound = np.full(K, np.inf)
        kappa = math.inf
    attainable = kappa * EPS64
    errors = None
    if problem.engine in ("stats", "qr"):
        errors = coefficient_errors(problem, W, G_loop, constant)
        checked = "from the statistics" if problem.engine == "stats" else "from the rows' QR factor"
    else:
        gram = statistics() if statistics is not None else "the data path forms no H"
        if isinstance(gram, str):
            checked = f"not checked: {gram}"
        else:
            # the same gradient, in the statistics problem's loop coordinates
            G_user = g * spread_used[:, None]
            G_gram = G_user / np.asarray(gram.x_scale, dtype=np.float64)[:, None]
            errors = coefficient_errors(gram, W, G_gram, np.asarray(gram.constant) | constant)
            checked = "from the statistics of the data (one Gram pass)"
    if errors is None and not checked.startswith("not checked"):
        checked = "not checked: H could not be factored"
    source = "statistics" if problem.engine == "stats" else "data"
    worst = float(relative.max())
    if verified:
        reason = f"the float64 gradient recomputed from the {source} meets tol ({worst:.3g})"
    else:
        reason = (
            f"the float64 gradient recomputed from the {source} is {worst:.3g} of its value "
            f"at zero (standardised units), above tol={tol:g}"
        )
    if status.startswith("not reached"):
        reason += f"; minimum norm {status}"
    certificate = Certificate(
        verified=verified,
        relative_grad_norm=relative,
        tol=float(tol),
        allowance=allowance,
        rank=int(rank),
        n_features=D,
        constant_features=tuple(int(j) for j in np.flatnonzero(constant)),
        minimum_norm=status,
        mu=mu,
        L=L,
        coef_error_bound=np.asarray(coef_bound, dtype=np.float64),
        suboptimality_bound=np.asarray(sub_bound, dtype=np.float64),
        attainable=float(attainable),
        reason=reason,
        # Lanczos in float32 arithmetic cannot resolve eigenvalues below ~eps32·L
        rigorous=bool(curvature.exact) and (problem.engine == "stats" or dtype == np.float64),
        coef_relative_error=None if errors is None else errors[0],
        coef_error_se=None if errors is None else errors[1],
        unresolved=() if errors is None else errors[2],
        noise_below_rounding=False if errors is None else errors[3],
        coef_check=checked,
    )
    return W, certificate
