r"""Diagnose a regression problem before training, and a fit after it.

Before a fit, :func:`diagnose` measures what decides how gradient methods will
behave on the data: the curvature ``L`` (largest eigenvalue of the Hessian),
``μ`` (smallest), the condition number ``κ = L/μ`` with and without
standardisation, the largest stable learning rate ``2/L``, the iterations each
method is predicted to need, and what to do about it.

Where it is affordable (``N·D² ≤`` :data:`SVD_BUDGET`) the spectrum is exact:
the singular values of the centred, scaled design matrix (with the penalty as
extra rows), computed by a QR factorisation and an SVD of the small triangular
factor, never by forming ``XᵀX`` (which would square the condition number
before measuring it). Otherwise ``L`` and ``μ`` come from Lanczos, as in the
fit, and ``κ`` is a lower estimate.

Gradient methods work with ``G = Xᵀ(XW − Y)/N``, whose rounding error is
relative to ``L``; a coefficient error is that divided by ``μ``. So gradient
methods can only resolve the coefficients to a relative accuracy of about
``κ·ε`` (``ε`` = 2.2e-16 in float64): once ``κ·ε ≥ 1`` no gradient method can
recover them, whatever the iterations.

After a fit (``model=``), the report adds how far the result is from the
optimum: the bound ``‖V − V*‖ ≤ ‖G_V‖/μ`` from the gradient (in the loop's
coordinates, converted to the user's units) and, where affordable, the distance
to the exact least-squares solution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .._io import as_float_inputs
from .._validation import as_sample_weight
from ..problem.curvature import CurvatureEstimate
from ..problem.exact import exact_solution
from ..problem.objective import LeastSquaresProblem, centring_shift
from ..solve.loop import (
    predicted_iterations,
    reference_norms,
    relative_norms,
    stopping_limits,
)
from .render import Renderable, Report, Section, Table, fmt

__all__ = [
    "Diagnosis",
    "FitAssessment",
    "Recommendation",
    "Spectrum",
    "diagnose",
    "diagnose_statistics",
]

F64 = NDArray[np.float64]

#: Largest ``N·D²`` for which the exact spectrum and solution are computed.
SVD_BUDGET = 2e8
#: Methods whose iterations are predicted.
METHODS = ("gd", "momentum", "nesterov", "cg")
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Spectrum:
    """Extreme eigenvalues of the Hessian in one set of coordinates.

    Attributes
    ----------
    L : float
        The largest eigenvalue.
    mu : float
        The smallest eigenvalue (0 when the problem is singular).
    exact : bool
        True when computed from singular values; False for Lanczos estimates
        (then ``mu`` is an upper estimate and ``kappa`` a lower one).
    source : str
        ``"singular values"`` or ``"Lanczos"``.
    rank : int or None
        Numerical rank of the scaled design (with the penalty rows), from singular values.
    weakest : ndarray of shape (D,) or None
        The unit eigenvector of ``mu`` (loop coordinates), from singular values.
    """

    L: float
    mu: float
    exact: bool
    source: str
    rank: int | None = None
    weakest: F64 | None = None

    @property
    def kappa(self) -> float:
        """``L/μ`` (inf when ``μ = 0``)."""
        return self.L / self.mu if self.mu > 0 else math.inf


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice.

    Attributes
    ----------
    kind : str
        ``"ill_conditioned"`` (float64 cannot resolve the coefficients),
        ``"limited_accuracy"``, ``"standardize"``, ``"keep_standardize"``,
        ``"no_standardize"``, ``"accelerate"`` or ``"ok"``.
    text : str
        The advice with the numbers behind it.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class FitAssessment:
    """How far a fitted model is from the optimum.

    Attributes
    ----------
    loss : float
        ``f`` at the model's coefficients and intercept.
    grad_norm : float
        ``‖G_V‖`` (Frobenius, loop coordinates, intercept at its optimum).
    relative_grad_norm : ndarray of shape (K,)
        ``‖G_k‖/‖G_k(0)‖``, gradfit's stopping quantity.
    distance_bound : float
        Bound on ``‖W − W*‖`` (Frobenius, user units) from ``‖G_V‖/(μ·min s)``;
        inf when ``μ = 0``.
    loss_gap_bound : float
        Bound on ``f − f*``: ``‖G_V‖²/(2μ)``.
    rigorous : bool
        Whether ``μ`` was exact (else the bounds use an upper estimate of ``μ``
        and may be too small).
    exact_loss : float or None
        ``f*`` of the exact solution, when computed.
    exact_distance : float or None
        ``‖W − W*‖`` to the exact least-squares solution, when computed.
    exact_relative_distance : float or None
        ``‖W − W*‖/‖W*‖``.
    intercept_distance : float or None
        ``‖b − b*‖``.
    converged, stop_reason, n_iter
        Copied from the model when it has them.
    certificate : Certificate or None
        The model's own check of its answer (``certificate_``), when it has one.
    W_star : ndarray of shape (D, K) or None
        The exact least-squares coefficients, when computed.
    b_star : ndarray of shape (K,) or None
        Their intercept (zeros without ``fit_intercept``), when computed.
    loss_gap : float or None
        ``f − f*`` computed without cancellation (``½Δᵀ(H + α)Δ + ½r²``), when the
        diagnosis comes from the statistics; else None (use ``loss − exact_loss``).
    """

    loss: float
    grad_norm: float
    relative_grad_norm: F64
    distance_bound: float
    loss_gap_bound: float
    rigorous: bool
    exact_loss: float | None = None
    exact_distance: float | None = None
    exact_relative_distance: float | None = None
    intercept_distance: float | None = None
    converged: bool | None = None
    stop_reason: str | None = None
    n_iter: int | None = None
    certificate: Any = None
    W_star: F64 | None = field(default=None, repr=False)
    b_star: F64 | None = field(default=None, repr=False)
    loss_gap: float | None = None

    @property
    def gap(self) -> float | None:
        """``f − f*``: :attr:`loss_gap` when computed, else ``loss − exact_loss`` (or None)."""
        if self.loss_gap is not None:
            return self.loss_gap
        return None if self.exact_loss is None else self.loss - self.exact_loss


@dataclass(frozen=True)
class Diagnosis(Renderable):
    """What decides how gradient methods behave on one dataset; all numbers computed.

    Attributes
    ----------
    n_samples, n_features, n_outputs : int
    fit_intercept, standardize : bool
    alpha, tol : float
    spectrum : Spectrum
        The Hessian the loop sees (with the given options).
    raw, standardized : Spectrum
        Without and with standardisation (other options as given).
    lipschitz_lanczos, mu_lanczos : float
        The estimates a fit would use (``lipschitz_``).
    predicted_iterations : dict
        Method → predicted iterations to ``tol``.
    recommendations : tuple of Recommendation
    fit : FitAssessment or None
    feature_names, target_names : tuple of str
    """

    n_samples: int
    n_features: int
    n_outputs: int
    fit_intercept: bool
    standardize: bool
    alpha: float
    tol: float
    spectrum: Spectrum
    raw: Spectrum
    standardized: Spectrum
    lipschitz_lanczos: float
    mu_lanczos: float
    predicted_iterations: dict[str, float]
    recommendations: tuple[Recommendation, ...]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    fit: FitAssessment | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def L(self) -> float:
        """Largest eigenvalue of the loop's Hessian."""
        return self.spectrum.L

    @property
    def mu(self) -> float:
        """Smallest eigenvalue of the loop's Hessian."""
        return self.spectrum.mu

    @property
    def condition_number(self) -> float:
        """``κ = L/μ`` of the loop's Hessian."""
        return self.spectrum.kappa

    @property
    def max_stable_learning_rate(self) -> float:
        """``2/L``: plain gradient descent converges for smaller rates, diverges above."""
        return 2.0 / self.L

    @property
    def attainable_accuracy(self) -> float:
        """``κ·ε``: the relative coefficient accuracy any gradient method can reach."""
        return self.condition_number * EPS

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of the recommendations."""
        return tuple(r.kind for r in self.recommendations)

    def report(self) -> Report:
        """The diagnosis as a :class:`~gradfit.understand.render.Report`."""
        return _report(self)


# -- the spectrum -----------------------------------------------------------------------------
def _scaled_design(problem: LeastSquaresProblem, X: F64, omega: F64, alpha: float) -> F64:
    """``B`` with ``BᵀB`` = the loop's Hessian: centred, weighted, scaled X over penalty rows."""
    B = (X - problem.x_offset) * np.sqrt(omega)[:, None] / problem.x_scale
    if alpha > 0:
        B = np.vstack([B, np.diag(math.sqrt(alpha) / problem.x_scale)])
    return np.asarray(B)


def _exact_spectrum(problem: LeastSquaresProblem, X: F64, omega: F64, alpha: float) -> Spectrum:
    B = _scaled_design(problem, X, omega, alpha)
    D = problem.D
    R = np.linalg.qr(B, mode="r") if B.shape[0] >= D else B
    _, sv, Vt = np.linalg.svd(R, full_matrices=True)
    sv = np.concatenate([sv, np.zeros(D - len(sv))])
    rank = int(np.sum(sv > EPS * sv[0] * max(B.shape))) if sv[0] > 0 else 0
    return Spectrum(
        float(sv[0] ** 2), float(sv[-1] ** 2), True, "singular values", rank, Vt[-1].copy()
    )


def _spectrum(
    problem: LeastSquaresProblem,
    X: F64,
    omega: F64,
    alpha: float,
    affordable: bool,
    estimate: CurvatureEstimate | None = None,
) -> Spectrum:
    if affordable:
        return _exact_spectrum(problem, X, omega, alpha)
    est = estimate if estimate is not None else problem.curvature()
    return Spectrum(est.L, est.mu, est.exact, "Lanczos")


# -- the entry point -----------------------------------------------------------------------------
def diagnose(
    X: Any,
    y: Any,
    *,
    model: Any = None,
    fit_intercept: bool | None = None,
    standardize: bool | None = None,
    alpha: float | None = None,
    tol: float | None = None,
    sample_weight: Any = None,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
) -> Diagnosis:
    """Diagnose how gradient methods will behave on ``X, y`` (and how a fit did).

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    model : fitted estimator, optional
        Anything with ``coef_`` and ``intercept_`` (a :class:`~gradfit.GDRegressor`,
        or a scikit-learn linear model). Its distance from the optimum is assessed;
        for a ``GDRegressor`` its options are the defaults of the next four arguments.
    fit_intercept, standardize, alpha, tol : optional
        As in :class:`~gradfit.GDRegressor` (defaults ``True``, ``True``, ``0.0``,
        ``1e-6``, or the model's).
    sample_weight : array-like of shape (N,), optional
    feature_names, target_names : sequence of str, optional

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True, scaled=False)
    >>> d = diagnose(X, y)
    >>> round(d.raw.kappa), round(d.standardized.kappa)
    (76279, 470)
    >>> round(d.max_stable_learning_rate, 4), d.kinds
    (0.497, ('keep_standardize', 'accelerate'))
    >>> from gradfit import GDRegressor
    >>> after = diagnose(X, y, model=GDRegressor().fit(X, y))
    >>> after.fit.exact_relative_distance < 1e-6
    True
    """
    X64, Y, _, f_names, t_names = as_float_inputs(X, y, feature_names, target_names)
    N, D = X64.shape
    K = Y.shape[1]

    def option(value: Any, name: str, default: Any) -> Any:
        if value is not None:
            return value
        return getattr(model, name, default) if model is not None else default

    fit_intercept = bool(option(fit_intercept, "fit_intercept", True))
    standardize = bool(option(standardize, "standardize", True))
    alpha = float(option(alpha, "alpha", 0.0))
    tol = float(option(tol, "tol", 1e-6))
    if not (math.isfinite(alpha) and alpha >= 0):
        raise GradfitInputError(f"alpha={alpha!r}: use a non-negative finite float.")
    if not (math.isfinite(tol) and tol > 0):
        raise GradfitInputError(f"tol={tol!r}: use a positive float.")
    weights = as_sample_weight(sample_weight, N)
    affordable = N * D * D <= SVD_BUDGET

    def make(standardized: bool) -> LeastSquaresProblem:
        return LeastSquaresProblem(
            X64,
            Y,
            sample_weight=weights,
            fit_intercept=fit_intercept,
            standardize=standardized,
            alpha=alpha,
        )

    # the fit's own problem, and the other scaling for the comparison (each built once)
    problem = make(standardize)
    lanczos = problem.curvature()
    omega = np.full(N, 1.0 / N) if weights is None else weights / weights.sum()
    spectrum = _spectrum(problem, X64, omega, alpha, affordable, lanczos)
    other = _spectrum(make(not standardize), X64, omega, alpha, affordable)
    raw, scaled = (other, spectrum) if standardize else (spectrum, other)
    if not spectrum.L > 0:
        raise GradfitInputError(
            "every feature is constant"
            + (" (after centring)" if fit_intercept else "")
            + ": the loss does not depend on the coefficients."
        )
    predicted = {m: float(predicted_iterations(m, spectrum.kappa, tol, D)) for m in METHODS}
    kappa_gd = {
        "raw": predicted_iterations("gd", raw.kappa, tol, D),
        "standardized": predicted_iterations("gd", scaled.kappa, tol, D),
    }
    recs = _recommend(
        spectrum, raw, scaled, standardize, predicted, kappa_gd, f_names, N, D, fit_intercept
    )
    notes = []
    if not affordable:
        notes.append(
            f"N·D² = {N * D * D:.3g} exceeds {SVD_BUDGET:.3g}: L and μ are Lanczos estimates "
            "(μ from above, so κ is a lower estimate) and the exact solution is not computed."
        )
    fit = None
    if model is not None:
        fit = _assess(
            model, X64, Y, weights, omega, problem, spectrum, affordable, fit_intercept, alpha
        )
    return Diagnosis(
        n_samples=N,
        n_features=D,
        n_outputs=K,
        fit_intercept=fit_intercept,
        standardize=standardize,
        alpha=alpha,
        tol=tol,
        spectrum=spectrum,
        raw=raw,
        standardized=scaled,
        lipschitz_lanczos=lanczos.L,
        mu_lanczos=lanczos.mu,
        predicted_iterations=predicted,
        recommendations=tuple(recs),
        feature_names=tuple(f_names),
        target_names=tuple(t_names),
        fit=fit,
        notes=tuple(notes),
    )


def _loadings(spectrum: Spectrum, names: Sequence[str]) -> str:
    if spectrum.weakest is None:
        return ""
    v = spectrum.weakest
    order = np.argsort(-np.abs(v))
    keep = [j for j in order[:4] if abs(v[j]) >= 0.1]
    return ", ".join(f"{names[j]} ({v[j]:+.2f})" for j in keep)


def _recommend(
    spectrum: Spectrum,
    raw: Spectrum,
    scaled: Spectrum,
    standardize: bool,
    predicted: dict[str, float],
    gd: dict[str, float],
    names: Sequence[str],
    N: int,
    D: int,
    fit_intercept: bool,
) -> list[Recommendation]:
    recs: list[Recommendation] = []
    kappa = spectrum.kappa
    accuracy = kappa * EPS
    where = "standardized" if standardize else "unscaled"
    if accuracy >= 1:
        weak = _loadings(spectrum, names)
        rank = (
            f" The numerical rank is {spectrum.rank} of D = {D}."
            if spectrum.rank is not None and spectrum.rank < D
            else ""
        )
        rows = N - 1 if fit_intercept else N
        few = f" There are more features ({D}) than independent rows ({rows})." if rows < D else ""
        recs.append(
            Recommendation(
                "ill_conditioned",
                f"The data is too ill-conditioned for float64: κ = L/μ = {fmt(kappa, 3)} "
                f"({where}), so κ·ε = {fmt(accuracy, 3)} ≥ 1 with ε = {EPS:.3g}. A rounding "
                "error in the gradient can move the coefficients by more than their own size: "
                "no gradient method can recover them, whatever the iterations (the predictions "
                f"X·W can still be good).{rank}{few}"
                + (
                    f" The weakest direction combines {weak}: these columns are (nearly) "
                    "linearly dependent."
                    if weak
                    else ""
                )
                + " Fix: drop one of the dependent columns, or set alpha > 0.",
            )
        )
    elif accuracy > 1e-6:
        recs.append(
            Recommendation(
                "limited_accuracy",
                f"κ = {fmt(kappa, 3)} ({where}): gradient methods can resolve the coefficients "
                f"only to about κ·ε = {fmt(accuracy, 2)} relative, whatever tol says. "
                "Consider alpha > 0 or removing nearly collinear columns"
                + (f" ({_loadings(spectrum, names)})" if spectrum.weakest is not None else "")
                + ".",
            )
        )
    if raw.kappa > 10 * scaled.kappa:
        text = (
            f"standardization lowers κ from {fmt(raw.kappa, 3)} to {fmt(scaled.kappa, 3)}, "
            f"so gd needs about {fmt(gd['standardized'], 3)} iterations instead of "
            f"{fmt(gd['raw'], 3)}"
        )
        if standardize:
            recs.append(Recommendation("keep_standardize", f"Keep standardize=True: {text}."))
        else:
            recs.append(Recommendation("standardize", f"Use standardize=True: {text}."))
    elif standardize and scaled.kappa > 10 * raw.kappa:
        recs.append(
            Recommendation(
                "no_standardize",
                f"standardize=False conditions this data better: κ {fmt(raw.kappa, 3)} "
                f"unscaled against {fmt(scaled.kappa, 3)} standardized.",
            )
        )
    if accuracy < 1 and predicted["gd"] > 1000:
        recs.append(
            Recommendation(
                "accelerate",
                f"Use an accelerated method: with κ = {fmt(kappa, 3)} plain gd needs about "
                f"{fmt(predicted['gd'], 3)} iterations (more than the default max_iter=1000), "
                f"momentum and nesterov about {fmt(predicted['nesterov'], 3)}, cg (the "
                f"default) at most {fmt(predicted['cg'], 3)}.",
            )
        )
    if not recs:
        recs.append(
            Recommendation(
                "ok",
                f"Well conditioned (κ = {fmt(kappa, 3)}): plain gd needs about "
                f"{fmt(predicted['gd'], 3)} iterations, cg at most {fmt(predicted['cg'], 3)}.",
            )
        )
    return recs


# -- after a fit ------------------------------------------------------------------------------
def _model_weights(model: Any, D: int, K: int) -> tuple[F64, F64]:
    if not hasattr(model, "coef_"):
        raise GradfitInputError(
            f"model {type(model).__name__} has no coef_: fit it first, or pass model=None."
        )
    coef = np.asarray(model.coef_, dtype=np.float64)
    W = coef[:, None] if coef.ndim == 1 else coef.T
    if W.shape != (D, K):
        raise GradfitInputError(
            f"model.coef_ has shape {coef.shape}, which does not fit {D} features and {K} "
            "output(s); pass the data the model was fitted on."
        )
    b = np.broadcast_to(np.asarray(getattr(model, "intercept_", 0.0), np.float64), (K,)).copy()
    return W, b


def _stopping_reference(model: Any, problem: Any, G0: F64) -> F64:
    """The fit's own stopping reference (:func:`~gradfit.solve.loop.reference_norms`)."""
    tol = float(getattr(model, "tol", 1e-6))
    limits = stopping_limits(problem, problem.D, tol)
    return reference_norms(G0, centring_shift(problem, problem.x_scale), limits)


def _assess(
    model: Any,
    X: F64,
    Y: F64,
    weights: F64 | None,
    omega: F64,
    problem: LeastSquaresProblem,
    spectrum: Spectrum,
    affordable: bool,
    fit_intercept: bool,
    alpha: float,
) -> FitAssessment:
    D, K = problem.D, problem.K
    W, b = _model_weights(model, D, K)

    def loss(W: F64, b: F64) -> float:
        R = X @ W + b - Y
        return 0.5 * float(omega @ np.sum(R * R, axis=1)) + 0.5 * alpha * float(np.sum(W * W))

    _, G = problem.loss_grad(problem.from_user(W))
    _, G0 = problem.loss_grad(np.zeros((D, K)))
    # the fit's own stopping quantity
    rel = relative_norms(G, _stopping_reference(model, problem, G0))
    g = float(np.linalg.norm(G))
    mu = spectrum.mu
    bound = g / (mu * float(problem.x_scale.min())) if mu > 0 else math.inf
    gap = g * g / (2 * mu) if mu > 0 else math.inf
    exact_loss = exact_distance = exact_rel = b_dist = None
    W_star: F64 | None = None
    b_star: F64 | None = None
    if affordable:
        W_star, b_star = exact_solution(
            X, Y, fit_intercept=fit_intercept, alpha=alpha, sample_weight=weights
        )
        if not fit_intercept:
            b_star = np.zeros(K)
        exact_loss = loss(W_star, b_star)
        exact_distance = float(np.linalg.norm(W - W_star))
        exact_rel = exact_distance / max(float(np.linalg.norm(W_star)), np.finfo(float).tiny)
        b_dist = float(np.linalg.norm(b - b_star)) if fit_intercept else None
    return FitAssessment(
        loss=loss(W, b),
        grad_norm=g,
        relative_grad_norm=rel,
        distance_bound=bound,
        loss_gap_bound=gap,
        rigorous=spectrum.exact,
        exact_loss=exact_loss,
        exact_distance=exact_distance,
        exact_relative_distance=exact_rel,
        intercept_distance=b_dist,
        converged=getattr(model, "converged_", None),
        stop_reason=getattr(model, "stop_reason_", None),
        n_iter=getattr(model, "n_iter_", None),
        certificate=getattr(model, "certificate_", None),
        W_star=W_star,
        b_star=b_star,
    )


# -- from the sufficient statistics (rows of any number, read once) ----------------------------
#: ``Spectrum.source`` of a spectrum computed from the statistics.
STATISTICS_SOURCE = "eigenvalues of the statistics"


def _gram_spectrum(problem: Any) -> Spectrum:
    """``L``, ``μ``, rank and weakest direction from the eigenvalues of ``H_V`` (D×D)."""
    from scipy import linalg

    S = problem.x_scale
    HV = problem.H / np.outer(S, S) + problem.alpha * np.diag(1.0 / S**2)
    eig, Q = linalg.eigh(0.5 * (HV + HV.T))
    L = float(max(eig[-1], 0.0))
    return Spectrum(
        L, float(max(eig[0], 0.0)), True, STATISTICS_SOURCE, problem.rank, Q[:, 0].copy()
    )


def diagnose_statistics(
    statistics: Any,
    *,
    model: Any = None,
    fit_intercept: bool | None = None,
    standardize: bool | None = None,
    alpha: float | None = None,
    tol: float | None = None,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
) -> Diagnosis:
    r""":func:`diagnose` from the sufficient statistics: rows of any number, read once.

    Everything :func:`diagnose` reports comes from ``H = XᵀX/N``, ``B = XᵀY/N`` and
    ``yy`` (about the means): ``L``, ``μ`` and ``κ`` are the extreme eigenvalues of the
    loop's ``H`` (exact up to the rounding of ``H``, about ``ε·L`` absolute: a ``κ``
    beyond about ``1/(D·ε)`` cannot be told from a singular problem), the optimum
    ``W*`` is the exact solve of the D×D system, ``f`` and ``f*`` follow from the
    statistics, and ``f − f*`` is computed as ``½Δᵀ(H + α)Δ + ½r²`` (``Δ = W − W*``,
    ``r`` the intercept's error), which does not cancel.

    Parameters
    ----------
    statistics : Statistics
        Of the rows (``Statistics.from_data``, or a streamed pass), unweighted.
    model, fit_intercept, standardize, alpha, tol, feature_names, target_names
        As for :func:`diagnose`.

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from gradfit import GDRegressor, Statistics
    >>> X, y = load_diabetes(return_X_y=True, scaled=False)
    >>> d = diagnose_statistics(Statistics.from_data(X, y))
    >>> round(d.raw.kappa), round(d.standardized.kappa), d.kinds
    (76279, 470, ('keep_standardize', 'accelerate'))
    >>> after = diagnose_statistics(Statistics.from_data(X, y), model=GDRegressor().fit(X, y))
    >>> after.fit.exact_relative_distance < 1e-6
    True
    """
    from ..problem.gram import GramProblem

    N, D, K = statistics.n_samples, statistics.n_features, statistics.n_targets
    f_names = list(feature_names or statistics.feature_names or [f"x{j}" for j in range(D)])
    t_names = list(
        target_names
        or statistics.target_names
        or (["y"] if K == 1 else [f"y{k}" for k in range(K)])
    )

    def option(value: Any, name: str, default: Any) -> Any:
        if value is not None:
            return value
        return getattr(model, name, default) if model is not None else default

    fit_intercept = bool(option(fit_intercept, "fit_intercept", True))
    standardize = bool(option(standardize, "standardize", True))
    alpha = float(option(alpha, "alpha", 0.0))
    tol = float(option(tol, "tol", 1e-6))
    if not (math.isfinite(alpha) and alpha >= 0):
        raise GradfitInputError(f"alpha={alpha!r}: use a non-negative finite float.")
    if not (math.isfinite(tol) and tol > 0):
        raise GradfitInputError(f"tol={tol!r}: use a positive float.")
    gram = statistics.gram(fit_intercept)

    def make(standardized: bool) -> Any:
        return GramProblem(
            gram, np.float64, fit_intercept=fit_intercept, standardize=standardized, alpha=alpha
        )

    problem = make(standardize)
    spectrum = _gram_spectrum(problem)
    other = _gram_spectrum(make(not standardize))
    raw, scaled = (other, spectrum) if standardize else (spectrum, other)
    if not spectrum.L > 0:
        raise GradfitInputError(
            "every feature is constant"
            + (" (after centring)" if fit_intercept else "")
            + ": the loss does not depend on the coefficients."
        )
    predicted = {m: float(predicted_iterations(m, spectrum.kappa, tol, D)) for m in METHODS}
    kappa_gd = {
        "raw": predicted_iterations("gd", raw.kappa, tol, D),
        "standardized": predicted_iterations("gd", scaled.kappa, tol, D),
    }
    recs = _recommend(
        spectrum, raw, scaled, standardize, predicted, kappa_gd, f_names, N, D, fit_intercept
    )
    notes = (
        f"Computed from the sufficient statistics of all {N} rows (one pass): L and μ are "
        "the eigenvalues of H = XᵀX/N, the exact solution solves the D×D system.",
    )
    fit = None
    if model is not None:
        fit = _assess_statistics(model, statistics, gram, problem, spectrum, alpha)
    lanczos = problem.curvature()
    return Diagnosis(
        n_samples=N,
        n_features=D,
        n_outputs=K,
        fit_intercept=fit_intercept,
        standardize=standardize,
        alpha=alpha,
        tol=tol,
        spectrum=spectrum,
        raw=raw,
        standardized=scaled,
        lipschitz_lanczos=lanczos.L,
        mu_lanczos=lanczos.mu,
        predicted_iterations=predicted,
        recommendations=tuple(recs),
        feature_names=tuple(f_names),
        target_names=tuple(t_names),
        fit=fit,
        notes=notes,
    )


def statistics_loss(statistics: Any, W: F64, b: F64, alpha: float) -> F64:
    """Per output ``½·mean((XW + b − Y)²) + ½α‖W‖²`` from the statistics, for any ``W, b``.

    ``½(WᵀHW − 2WᵀB + yy) + ½(x̄W + b − ȳ)²`` with ``H``, ``B``, ``yy`` about the means.

    Examples
    --------
    >>> from gradfit import Statistics
    >>> X = np.array([[1.0], [2.0], [4.0]]); y = np.array([1.0, 3.0, 4.0])
    >>> W, b = np.array([[0.5]]), np.array([1.0])
    >>> direct = 0.5 * np.mean((X @ W + b - y[:, None]) ** 2)
    >>> bool(np.isclose(statistics_loss(Statistics.from_data(X, y), W, b, 0.0)[0], direct))
    True
    """
    gram = statistics.gram(True)
    H, B, yy = gram["H"], gram["B"], gram["yy"]
    r = gram["x_offset"] @ W + b - gram["y_offset"]
    quad = np.einsum("ij,ij->j", W, H @ W) - 2.0 * np.einsum("ij,ij->j", W, B) + yy
    return np.asarray(0.5 * np.maximum(quad, 0.0) + 0.5 * r * r + 0.5 * alpha * np.sum(W * W, 0))


def _assess_statistics(
    model: Any,
    statistics: Any,
    gram: dict[str, Any],
    problem: Any,
    spectrum: Spectrum,
    alpha: float,
) -> FitAssessment:
    D, K = problem.D, problem.K
    W, b = _model_weights(model, D, K)
    _, G = problem.loss_grad(problem.from_user(W))
    _, G0 = problem.loss_grad(np.zeros((D, K)))
    rel = relative_norms(G, _stopping_reference(model, problem, G0))
    g = float(np.linalg.norm(G))
    mu = spectrum.mu
    bound = g / (mu * float(problem.x_scale.min())) if mu > 0 else math.inf
    W_star, b_star = problem.to_user(problem.solve_exact())
    if not problem.fit_intercept:
        b_star = np.zeros(K)
    loss = float(statistics_loss(statistics, W, b, alpha).sum())
    delta = W - W_star
    H = gram["H"]
    gap = 0.5 * float(np.sum(delta * (H @ delta)) + alpha * np.sum(delta * delta))
    if problem.fit_intercept:  # the intercept's error: r = x̄Δ + (b − b*), r* = 0
        r = gram["x_offset"] @ delta + (b - b_star)
        gap += 0.5 * float(np.sum(r * r))
    else:  # H about zero, W* optimal for b = 0: a model's b ≠ 0 adds b(x̄W − ȳ) + ½b²
        gap += float(np.sum(b * (statistics.x_mean @ W - statistics.y_mean) + 0.5 * b * b))
    exact_distance = float(np.linalg.norm(delta))
    return FitAssessment(
        loss=loss,
        grad_norm=g,
        relative_grad_norm=rel,
        distance_bound=bound,
        loss_gap_bound=g * g / (2 * mu) if mu > 0 else math.inf,
        rigorous=spectrum.exact,
        exact_loss=loss - gap,
        exact_distance=exact_distance,
        exact_relative_distance=exact_distance
        / max(float(np.linalg.norm(W_star)), np.finfo(float).tiny),
        intercept_distance=float(np.linalg.norm(b - b_star)) if problem.fit_intercept else None,
        converged=getattr(model, "converged_", None),
        stop_reason=getattr(model, "stop_reason_", None),
        n_iter=getattr(model, "n_iter_", None),
        certificate=getattr(model, "certificate_", None),
        W_star=W_star,
        b_star=b_star,
        loss_gap=gap,
    )


# -- rendering --------------------------------------------------------------------------------
def _report(d: Diagnosis) -> Report:
    def spec_row(name: str, s: Spectrum) -> tuple[str, ...]:
        return (name, fmt(s.L), fmt(s.mu), fmt(s.kappa), fmt(s.kappa * EPS, 3), fmt(2 / s.L))

    if d.spectrum.source == "singular values":
        source = "exact (singular values of the centred, scaled design)"
    elif d.spectrum.source == STATISTICS_SOURCE:
        source = "from the sufficient statistics (eigenvalues of the centred, scaled H = XᵀX/N)"
    elif d.spectrum.exact:
        source = "by Lanczos, exact here (the Krylov space covers all D dimensions)"
    else:
        source = "Lanczos estimates (μ from above, so κ is a lower estimate)"
    options = (
        f"fit_intercept={d.fit_intercept}, standardize={d.standardize}, alpha={d.alpha:g}, "
        f"tol={d.tol:g}"
    )
    centred = "centred, " if d.fit_intercept else ""
    sections = [
        Section(
            "Data",
            (
                f"N = {d.n_samples} samples, D = {d.n_features} features, K = {d.n_outputs} "
                f"output(s) ({', '.join(d.target_names)}); options: {options}.",
                *d.notes,
            ),
        ),
        Section(
            "Curvature and conditioning",
            (
                f"Eigenvalues of the Hessian of f, {source}. The loop runs in the "
                f"{'standardized' if d.standardize else 'unscaled'} coordinates.",
                Table(
                    ("coordinates", "L (largest)", "μ (smallest)", "κ = L/μ", "κ·ε", "2/L"),
                    (
                        spec_row(f"{centred}unscaled", d.raw),
                        spec_row(f"{centred}standardized", d.standardized),
                    ),
                ),
                f"Largest stable learning rate for gd: 2/L = {fmt(d.max_stable_learning_rate)} "
                f"in gradfit's loop ({centred}"
                f"{'standardized' if d.standardize else 'unscaled'} coordinates); "
                "learning_rate='auto' uses 1/L with L from "
                f"Lanczos = {fmt(d.lipschitz_lanczos)} (1/L = {fmt(1 / d.lipschitz_lanczos)}). "
                "The other row's 2/L is for a loop run in those coordinates instead; the seed's "
                "loop on the raw (uncentred, unscaled) data has its own bound (gradfit explain).",
            ),
        ),
        Section(
            f"Predicted iterations to tol = {d.tol:g}",
            (
                Table(
                    ("method", "iterations", "rule"),
                    tuple(
                        (m, fmt(v, 3), rule)
                        for (m, v), rule in zip(
                            d.predicted_iterations.items(),
                            ("κ·ln(1/tol)", "√κ·ln(1/tol)", "√κ·ln(1/tol)", "min(D, √κ·ln(1/tol))"),
                            strict=True,
                        )
                    ),
                ),
            ),
        ),
        Section("Recommendations", tuple(f"- {r.text}" for r in d.recommendations)),
    ]
    if d.fit is not None:
        sections.append(Section("After the fit", tuple(_fit_blocks(d.fit, d))))
    return Report(
        f"gradfit diagnosis (N={d.n_samples}, D={d.n_features}, K={d.n_outputs})", sections
    )


def _fit_blocks(f: FitAssessment, d: Diagnosis) -> list[Any]:
    blocks: list[Any] = []
    if f.stop_reason is not None:
        blocks.append(f"The fit: {f.stop_reason}.")
    if f.certificate is not None:
        blocks.append(f"Its {str(f.certificate).splitlines()[0]}.")
    rows = [
        ("loss f(W, b)", fmt(f.loss, 10)),
        ("gradient norm ‖G‖ (loop coordinates)", fmt(f.grad_norm, 3)),
        ("relative gradient norm per output", ", ".join(fmt(v, 3) for v in f.relative_grad_norm)),
        (
            "bound on ‖W − W*‖ from ‖G‖/μ" + ("" if f.rigorous else " (μ estimated: indicative)"),
            fmt(f.distance_bound, 3),
        ),
        ("bound on f − f* from ‖G‖²/(2μ)", fmt(f.loss_gap_bound, 3)),
    ]
    if f.exact_distance is not None:
        assert f.exact_loss is not None and f.exact_relative_distance is not None
        rows += [
            (
                "exact optimum f* ("
                + (
                    "the D×D system of the statistics"
                    if d.spectrum.source == STATISTICS_SOURCE
                    else "least squares by SVD"
                )
                + ")",
                fmt(f.exact_loss, 10),
            ),
            ("f − f*", fmt(f.gap if f.gap is not None else math.nan, 3)),
            ("‖W − W*‖ to the exact solution", fmt(f.exact_distance, 3)),
            ("‖W − W*‖ / ‖W*‖", fmt(f.exact_relative_distance, 3)),
        ]
        if f.intercept_distance is not None:
            rows.append(("‖b − b*‖", fmt(f.intercept_distance, 3)))
    blocks.append(Table(("quantity", "value"), tuple(rows)))
    if d.mu == 0 or d.attainable_accuracy >= 1:
        blocks.append(
            "The problem is singular or numerically singular: many coefficient vectors reach "
            "the same loss, so compare losses, not coefficients."
        )
    return blocks
