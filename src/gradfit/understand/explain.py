r"""Explain the seed's gradient-descent loop with the user's own data.

The loop people ask about::

    score = x.dot(w)
    error = y - score
    gradient = x.T.dot(error) / len(x)
    w += learning_rate * gradient

:func:`explain` answers the four questions asked about it — why this is a
gradient, why the transpose, why ``/len(x)``, which learning rate is safe and
whether the gradient can explode — plus a fifth point: ``error`` is the
gradient of the loss with respect to the scores (times ``−N``). Every number in
the answer is computed from the data passed in, and every claim is verified on
it (finite differences, the per-sample sum, runs of the loop itself).

The loop is explained on the data it actually sees in gradfit: with
``fit_intercept=True`` the columns are centred (the intercept is then
``b = ȳ − x̄W``), with ``standardize=True`` each column is divided by its root
mean square ``s_j`` (so the loop's weights are ``V = s·W``). On that data the
seed's loop *is* ``GDRegressor(method="gd")``.
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
from ..problem.curvature import lanczos_extremes
from ..problem.exact import exact_solution
from ..problem.objective import LeastSquaresProblem
from .render import Check, Code, Renderable, Report, Section, Table, fmt

__all__ = [
    "Explanation",
    "ExplanationStep",
    "LearningRateSweep",
    "StabilityRun",
    "explain",
    "learning_rate_sweep",
    "seed_loop",
]

F64 = NDArray[np.float64]

#: The seed's learning rate, the default rate :func:`explain` assesses.
SEED_LEARNING_RATE = 1e-4
#: A run above the stability bound stops once its loss has grown this much.
GROWTH_CAP = 1e6
#: Relative tolerance for identities that hold exactly up to rounding.
EXACT_RTOL = 1e-9


@dataclass(frozen=True)
class StabilityRun:
    """The seed's loop run for a few steps at one learning rate.

    Attributes
    ----------
    learning_rate : float
        The rate used.
    factor : float
        ``learning_rate / (2/L)``: below 1 the loop is stable, above 1 it explodes.
    losses : ndarray
        The loss before every step (``losses[0]`` at ``W = 0``).
    grad_norms : ndarray
        ``‖gradient‖`` before every step.
    top_rate : float
        ``(1 − learning_rate·L)²``, the factor by which the top eigen-direction's share
        of the loss is multiplied per step (above 1 means growth).
    """

    learning_rate: float
    factor: float
    losses: F64
    grad_norms: F64
    top_rate: float

    @property
    def steps(self) -> int:
        """Steps taken."""
        return len(self.losses) - 1

    @property
    def growth(self) -> float:
        """``losses[-1] / losses[0]``: below 1 the loss fell, above 1 it grew."""
        return float(self.losses[-1] / self.losses[0]) if self.losses[0] > 0 else math.nan

    @property
    def measured_rate(self) -> float:
        """The ratio of the last two losses (tends to ``top_rate`` while exploding)."""
        if len(self.losses) < 2 or self.losses[-2] <= 0:
            return math.nan
        return float(self.losses[-1] / self.losses[-2])

    @property
    def max_rise(self) -> float:
        """The largest step-to-step rise of the loss, relative to the first loss (≤ 0: none)."""
        if len(self.losses) < 2 or self.losses[0] <= 0:
            return 0.0
        return float(np.max(np.diff(self.losses)) / self.losses[0])


@dataclass(frozen=True)
class ExplanationStep:
    """One answered question.

    Attributes
    ----------
    key : str
        ``"setup"``, ``"gradient"``, ``"error"``, ``"transpose"``, ``"mean"``,
        ``"stability"`` or ``"sign"``.
    title : str
    question : str
        The seed's question it answers (empty for the set-up).
    blocks : tuple
        Paragraphs, tables, code and checks, in reading order.
    values : dict
        The step's computed numbers by name.
    """

    key: str
    title: str
    question: str
    blocks: tuple[Any, ...]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def checks(self) -> tuple[Check, ...]:
        """The claims verified in this step."""
        return tuple(b for b in self.blocks if isinstance(b, Check))


@dataclass(frozen=True)
class Explanation(Renderable):
    """The seed's loop explained on one dataset; every number computed from it.

    Render with :meth:`to_text`, :meth:`to_markdown` or :meth:`to_html`; inspect the
    numbers through the attributes and :meth:`step`.

    Attributes
    ----------
    n_samples, n_features, n_outputs : int
        ``N``, ``D`` and ``K``.
    feature_names, target_names : tuple of str
    fit_intercept, standardize : bool
    alpha : float
    learning_rate : float
        The rate assessed (the seed's 0.0001 unless given).
    lipschitz : float
        ``L``, the largest eigenvalue of the Hessian of the loop's loss (Lanczos).
    mu : float
        The smallest eigenvalue estimate ``μ``.
    stability_bound : float
        ``2/L``: the seed's loop converges for rates below it and explodes above.
    lipschitz_raw : float
        ``L`` of the seed's loop run on the raw ``X`` and ``y`` exactly as written
        (no centring, no scaling, no penalty).
    probe : ndarray of shape (D, K)
        The weights (loop coordinates) at which the gradient was checked.
    gradient : ndarray of shape (D, K)
        ``G`` at ``probe``.
    below, above : StabilityRun
        The loop at ``0.9·2/L`` and ``1.1·2/L``.
    at_learning_rate_raw : StabilityRun
        The seed's loop on the raw data at ``learning_rate``.
    steps : tuple of ExplanationStep
    """

    n_samples: int
    n_features: int
    n_outputs: int
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    fit_intercept: bool
    standardize: bool
    alpha: float
    learning_rate: float
    tol: float
    lipschitz: float
    mu: float
    stability_bound: float
    lipschitz_raw: float
    probe: F64
    gradient: F64
    below: StabilityRun
    above: StabilityRun
    at_learning_rate_raw: StabilityRun
    steps: tuple[ExplanationStep, ...]

    @property
    def condition_number(self) -> float:
        """``κ = L/μ`` (inf when singular)."""
        return self.lipschitz / self.mu if self.mu > 0 else math.inf

    @property
    def checks(self) -> tuple[Check, ...]:
        """Every verified claim, in order."""
        return tuple(c for s in self.steps for c in s.checks)

    @property
    def all_verified(self) -> bool:
        """Whether every check passed on this data."""
        return all(c.passed for c in self.checks)

    def step(self, key: str) -> ExplanationStep:
        """The step with this ``key`` (see :class:`ExplanationStep`)."""
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(f"no step {key!r}; steps are {[s.key for s in self.steps]}")

    def report(self) -> Report:
        """The explanation as a :class:`~gradfit.understand.render.Report`."""
        summary = Section("In short", tuple(_summary(self)))
        sections = [summary]
        for s in self.steps:
            heading = s.title if not s.question else f"{s.title} — {s.question}"
            sections.append(Section(heading, s.blocks))
        n = len(self.checks)
        passed = sum(c.passed for c in self.checks)
        sections.append(
            Section(
                "Verification",
                (f"{passed} of {n} claims verified on this data.",),
            )
        )
        return Report(
            f"The gradient-descent loop explained on your data (N={self.n_samples}, "
            f"D={self.n_features}, K={self.n_outputs})",
            sections,
        )


# -- the seed's loop ------------------------------------------------------------------------
def seed_loop(
    X: F64,
    Y: F64,
    learning_rate: float,
    steps: int,
    *,
    penalty: F64 | None = None,
    until_growth: float | None = None,
    max_steps: int | None = None,
) -> tuple[F64, F64]:
    """Run the seed's loop from ``W = 0`` and record the loss and gradient norm.

    ``score = X·W; error = Y − score; gradient = Xᵀ·error/N (− penalty·W); W += lr·gradient``.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    Y : ndarray of shape (N, K)
    learning_rate : float
    steps : int
        Steps to take.
    penalty : ndarray of shape (D,), optional
        Per-row L2 weights (``α/s_j²`` in standardised coordinates); none by default.
    until_growth : float, optional
        Keep going past ``steps`` (up to ``max_steps``) until the loss has grown by
        this factor; always stop once it has grown by :data:`GROWTH_CAP` or stopped
        being finite.
    max_steps : int, optional
        Most steps when ``until_growth`` is set (default ``10·steps``).

    Returns
    -------
    losses : ndarray
        ``½·mean(Σ_k error²)`` (+ penalty) before each step, then after the last.
    grad_norms : ndarray
        ``‖gradient‖`` at the same points.

    Examples
    --------
    >>> X = np.array([[1.0], [2.0], [3.0]]); Y = 2 * X
    >>> losses, _ = seed_loop(X, Y, 0.1, 3)
    >>> np.round(losses, 6)
    array([9.333333, 2.654815, 0.755147, 0.214797])
    """
    N, D = X.shape
    W = np.zeros((D, Y.shape[1]))
    pen = np.zeros(D) if penalty is None else np.asarray(penalty, dtype=np.float64)
    limit = steps if until_growth is None else (max_steps or 10 * steps)
    losses: list[float] = []
    norms: list[float] = []
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(limit + 1):
            score = X.dot(W)
            error = Y - score
            loss = 0.5 * float(np.sum(error**2)) / N + 0.5 * float(np.sum(pen[:, None] * W**2))
            gradient = X.T.dot(error) / len(X) - pen[:, None] * W
            losses.append(loss)
            norms.append(float(np.linalg.norm(gradient)))
            if t == limit or not math.isfinite(loss) or loss > GROWTH_CAP * losses[0]:
                break
            if until_growth is not None and t >= steps and loss >= until_growth * losses[0]:
                break
            W += learning_rate * gradient
    return np.asarray(losses), np.asarray(norms)


def _run(
    X: F64, Y: F64, lr: float, L: float, steps: int, penalty: F64 | None, *, above: bool
) -> StabilityRun:
    losses, norms = seed_loop(
        X, Y, lr, steps, penalty=penalty, until_growth=100.0 if above else None
    )
    return StabilityRun(lr, lr * L / 2.0, losses, norms, (1.0 - lr * L) ** 2)


@dataclass(frozen=True)
class _LoopData:
    """The data the loop sees: ``Z = (X − x̄)/s``, ``T = Y − ȳ``, and its curvature."""

    problem: LeastSquaresProblem
    Z: F64
    T: F64
    penalty: F64
    L: float
    mu: float


def _loop_data(X: F64, Y: F64, fit_intercept: bool, standardize: bool, alpha: float) -> _LoopData:
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha >= 0):
        raise GradfitInputError(f"alpha={alpha!r}: use a non-negative finite float.")
    problem = LeastSquaresProblem(
        X, Y, fit_intercept=fit_intercept, standardize=standardize, alpha=alpha
    )
    s = problem.x_scale
    curvature = lanczos_extremes(problem.hvp, problem.D)
    if not curvature.L > 0:
        raise GradfitInputError(
            "every feature is constant"
            + (" (after centring)" if fit_intercept else "")
            + ": the loss does not depend on W, so there is no gradient to explain."
        )
    return _LoopData(
        problem,
        (X - problem.x_offset) / s,
        Y - problem.y_offset,
        alpha / s**2,
        curvature.L,
        curvature.mu,
    )


@dataclass(frozen=True)
class LearningRateSweep:
    """The seed's loop run at a range of learning rates around ``2/L``.

    Attributes
    ----------
    L : float
        Largest eigenvalue of the loop's Hessian; the stability bound is ``2/L``.
    factors : ndarray
        ``learning_rate / (2/L)`` for each run.
    learning_rates : ndarray
    ratios : ndarray
        ``(f_T − f*)/(f_0 − f*)`` per run: the share of the initial excess loss left after
        the run (below 1: it converges; tiny: fast).
    optimum : float
        ``f*``, the loss of the exact least-squares solution.
    steps : ndarray of int
        Steps each run took (fewer when it grew past :data:`GROWTH_CAP` first).
    """

    L: float
    factors: F64
    learning_rates: F64
    ratios: F64
    steps: NDArray[np.int_]
    optimum: float

    @property
    def stability_bound(self) -> float:
        """``2/L``."""
        return 2.0 / self.L


def learning_rate_sweep(
    X: Any,
    y: Any,
    *,
    factors: Sequence[float] | None = None,
    steps: int = 50,
    fit_intercept: bool = True,
    standardize: bool = True,
    alpha: float = 0.0,
) -> LearningRateSweep:
    """Run the seed's loop for ``steps`` steps at each ``factor × 2/L`` and record the loss.

    Parameters
    ----------
    X : array-like of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    factors : sequence of float, optional
        Learning rates as multiples of ``2/L`` (default 24 values from 0.025 to 1.175).
    steps : int, default=50
    fit_intercept, standardize, alpha : as in :class:`~gradfit.GDRegressor`

    Returns
    -------
    LearningRateSweep

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> sweep = learning_rate_sweep(X, y, factors=[0.5, 0.99, 1.01, 1.1])
    >>> bool(np.all((sweep.ratios < 1) == (sweep.factors < 1)))
    True
    """
    X64, Y, _, _, _ = as_float_inputs(X, y)
    data = _loop_data(X64, Y, fit_intercept, standardize, alpha)
    grid = np.linspace(0.025, 1.175, 24) if factors is None else np.asarray(factors, np.float64)
    rates = grid * 2.0 / data.L
    problem = data.problem
    W_star, _ = exact_solution(X64, Y, fit_intercept=fit_intercept, alpha=float(alpha))
    optimum = float(np.sum(problem.loss_grad(problem.from_user(W_star))[0]))
    ratios = []
    taken = []
    for lr in rates:
        losses, _ = seed_loop(data.Z, data.T, float(lr), steps, penalty=data.penalty)
        excess = losses - optimum
        ratios.append(excess[-1] / excess[0] if excess[0] > 0 else math.nan)
        taken.append(len(losses) - 1)
    return LearningRateSweep(
        data.L, grid, rates, np.asarray(ratios), np.asarray(taken, dtype=np.int_), optimum
    )


# -- helpers --------------------------------------------------------------------------------
def _iterations_at(lr: float, L: float, mu: float, tol: float) -> float:
    """Steps of plain GD at ``lr`` to shrink the slowest error component by ``tol``."""
    if not 0 < lr < 2.0 / L:
        return math.inf
    rho = max(abs(1.0 - lr * mu), abs(1.0 - lr * L))
    if rho >= 1.0:
        return math.inf
    return math.log(1.0 / tol) / -math.log(rho)


def _entry(names: Sequence[str], targets: Sequence[str], j: int, k: int) -> str:
    return f"W[{j},{k}] ({names[j]} → {targets[k]})" if len(targets) > 1 else f"w[{j}] ({names[j]})"


def _rel(a: F64, b: F64) -> float:
    scale = max(float(np.max(np.abs(b))), np.finfo(float).tiny)
    return float(np.max(np.abs(a - b))) / scale


def _penalty_gradient(problem: LeastSquaresProblem, V: F64) -> F64:
    """The penalty's part of ``G`` at loop weights ``V``, from ``α`` and ``s`` themselves.

    The penalty is ``(α/2)‖W‖²`` with ``W = V/s``; its gradient with respect to ``V`` is
    ``αW/s`` (the chain rule through ``W = V/s``). Written out here, not taken from
    ``_LoopData.penalty``, so that checks using it are independent of ``G``.
    """
    s = problem.x_scale[:, None]
    return np.asarray(problem.alpha * (V / s) / s)


def _shape(shape: tuple[int, int] | None) -> str:
    return "undefined" if shape is None else f"({shape[0]}, {shape[1]})"


def explain(
    X: Any,
    y: Any,
    *,
    fit_intercept: bool = True,
    standardize: bool = True,
    alpha: float = 0.0,
    learning_rate: float = SEED_LEARNING_RATE,
    tol: float = 1e-6,
    steps: int = 50,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
    random_state: int = 0,
) -> Explanation:
    """Explain the seed's gradient-descent loop on ``X`` and ``y``, verifying every step.

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    fit_intercept, standardize, alpha : as in :class:`~gradfit.GDRegressor`
        They decide the data the loop sees (centred, scaled) and the loss (penalty).
    learning_rate : float, default=0.0001
        A learning rate to assess (the seed's by default), against ``2/L`` of the
        loop's data and of the raw data as the seed's code would see it.
    tol : float, default=1e-6
        The accuracy used to turn rates into iteration counts.
    steps : int, default=50
        Steps of the loop run just below and just above ``2/L``.
    feature_names, target_names : sequence of str, optional
        Names to use (default: DataFrame columns, else ``x0…`` and ``y``).
    random_state : int, default=0
        Seed for the probe weights and the sampled entries.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> data = load_diabetes()
    >>> e = explain(data.data, data.target, feature_names=data.feature_names)
    >>> e.n_samples, e.n_features, e.n_outputs, e.all_verified
    (442, 10, 1, True)
    >>> round(e.stability_bound, 4)
    0.497
    >>> e.below.growth < 1 < e.above.growth
    True
    >>> print(e.to_text().splitlines()[0])
    The gradient-descent loop explained on your data (N=442, D=10, K=1)
    """
    X64, Y, _, f_names, t_names = as_float_inputs(X, y, feature_names, target_names)
    N, D = X64.shape
    K = Y.shape[1]
    alpha = float(alpha)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise GradfitInputError(f"learning_rate={learning_rate!r}: use a positive float.")
    if not (math.isfinite(tol) and 0 < tol < 1):
        raise GradfitInputError(f"tol={tol!r}: use a float between 0 and 1.")
    if int(steps) != steps or steps < 2:
        raise GradfitInputError(f"steps={steps!r}: use an integer of at least 2.")
    data = _loop_data(X64, Y, fit_intercept, standardize, alpha)
    problem, Z, T, penalty, L, mu = data.problem, data.Z, data.T, data.penalty, data.L, data.mu
    rng = np.random.default_rng(random_state)

    def loss(V: F64) -> float:
        R = Z @ V - T
        return 0.5 * float(np.sum(R * R)) / N + 0.5 * float(np.sum(penalty[:, None] * V * V))

    def grad(V: F64) -> F64:
        return np.asarray(Z.T @ (Z @ V - T) / N + penalty[:, None] * V)

    t_rms = math.sqrt(float(np.mean(T * T))) or 1.0
    z_rms = math.sqrt(float(np.mean(Z * Z))) or 1.0
    V = rng.standard_normal((D, K)) * t_rms / (z_rms * math.sqrt(D))
    G = grad(V)
    names = tuple(f_names)
    targets = tuple(t_names)
    common = dict(N=N, D=D, K=K, names=names, targets=targets)

    steps_out = [
        _setup(problem, Z, T, V, G, fit_intercept, standardize, alpha, common),
        _gradient_step(loss, V, G, rng, common),
        _transpose_step(Z, T, V, G, common),
        _mean_step(Z, rng, L, common),
    ]
    raw = LeastSquaresProblem(X64, Y, fit_intercept=False, standardize=False)
    L_raw = lanczos_extremes(raw.hvp, D).L
    below = _run(Z, T, 0.9 * 2.0 / L, L, steps, penalty, above=False)
    above = _run(Z, T, 1.1 * 2.0 / L, L, steps, penalty, above=True)
    at_raw = _run(X64, Y, learning_rate, L_raw, steps, None, above=learning_rate > 2.0 / L_raw)
    affordable = D <= 500 and N * D * D <= 5e8
    dense = float(np.linalg.eigvalsh(problem.hvp(np.eye(D)))[-1]) if affordable else None
    steps_out.append(
        _stability_step(
            L,
            mu,
            dense,
            L_raw,
            learning_rate,
            tol,
            below,
            above,
            at_raw,
            fit_intercept,
            standardize,
            common,
        )
    )
    penalty_part = _penalty_gradient(problem, V)
    steps_out.append(_error_step(Z, T, V, G, penalty_part, rng, common))
    steps_out.append(_sign_step(loss, V, G, penalty_part, L, Z, T, common))
    return Explanation(
        n_samples=N,
        n_features=D,
        n_outputs=K,
        feature_names=names,
        target_names=targets,
        fit_intercept=bool(fit_intercept),
        standardize=bool(standardize),
        alpha=alpha,
        learning_rate=float(learning_rate),
        tol=float(tol),
        lipschitz=L,
        mu=mu,
        stability_bound=2.0 / L,
        lipschitz_raw=L_raw,
        probe=V,
        gradient=G,
        below=below,
        above=above,
        at_learning_rate_raw=at_raw,
        steps=tuple(steps_out),
    )


# -- the steps ------------------------------------------------------------------------------
def _setup(
    problem: LeastSquaresProblem,
    Z: F64,
    T: F64,
    V: F64,
    G: F64,
    fit_intercept: bool,
    standardize: bool,
    alpha: float,
    c: dict[str, Any],
) -> ExplanationStep:
    N, D, K, names, targets = c["N"], c["D"], c["K"], c["names"], c["targets"]
    j = int(np.argmax(np.abs(G).sum(axis=1)))
    shown = ", ".join(names[:8]) + (f", … ({D} in all)" if D > 8 else "")
    blocks: list[Any] = [
        f"Your data has N = {N} rows (samples), D = {D} features ({shown}) and K = {K} "
        f"output(s) ({', '.join(targets)}). In the seed's notation `x` is ({N}, {D}), `y` is "
        f"({N}, {K}) and `w` is ({D}, {K}): `score = x.dot(w)` is ({N}, {K}), one score per "
        "sample and output.",
        f"Each column of `w` belongs to one output and each row to one feature: row {j} of `w` "
        f"holds how much {names[j]} moves every output, column 0 is the model of "
        f"{targets[0]}. (Not the rows: with `score = x.dot(w)` it is the columns of `w` that "
        "belong to the outputs.)",
    ]
    what = []
    if fit_intercept:
        what.append("centres every column (the intercept is then `b = ȳ − x̄·w`)")
    if standardize:
        what.append(
            "divides every column by its root mean square `s_j` (so the loop's weights are "
            f"`v = s·w`; s ranges from {fmt(problem.x_scale.min())} to "
            f"{fmt(problem.x_scale.max())})"
        )
    loss_text = "f(w) = ‖x·w − y‖² / (2N)" + (" + penalty" if alpha else "")
    if what:
        blocks.append(
            "gradfit " + " and ".join(what) + ". Everything below uses that data, on which "
            "the seed's loop is exactly `GDRegressor(method='gd')`. The loss is "
            + loss_text
            + ", half the mean squared error"
            + (f" plus (α/2)‖w‖² with α = {alpha:g}" if alpha else "")
            + "."
        )
    else:
        blocks.append(
            f"The loop runs on your X and y as they are. The loss is {loss_text}, half the "
            "mean squared error" + (f" plus (α/2)‖w‖² with α = {alpha:g}" if alpha else "") + "."
        )
    loss_core, G_core = problem.loss_grad(V)
    R = Z @ V - T
    loss_here = 0.5 * np.sum(R * R, axis=0) / N + 0.5 * alpha * np.sum(
        (V / problem.x_scale[:, None]) ** 2, axis=0
    )
    blocks.append(
        Check(
            "gradfit's own objective (LeastSquaresProblem.loss_grad) gives the same loss and "
            "gradient as the formulas below, relative difference",
            max(_rel(G_core, G), _rel(loss_core, loss_here)),
            EXACT_RTOL,
        )
    )
    return ExplanationStep("setup", "Your data and the loop", "", tuple(blocks), dict(row=j))


def _gradient_step(
    loss: Any, V: F64, G: F64, rng: np.random.Generator, c: dict[str, Any]
) -> ExplanationStep:
    D, K, names, targets = c["D"], c["K"], c["names"], c["targets"]
    flat = np.argsort(-np.abs(G), axis=None)
    m = min(D * K, 12)
    chosen = list(flat[:1]) + list(rng.permutation(flat[1:])[: m - 1]) if D * K > 1 else [0]
    h = 1e-3 * max(1.0, float(np.max(np.abs(V))))
    rows = []
    errors = []
    for index in chosen:
        j, k = (int(i) for i in np.unravel_index(int(index), (D, K)))
        E = np.zeros_like(V)
        E[j, k] = h
        fd = (loss(V + E) - loss(V - E)) / (2 * h)
        errors.append(abs(fd - G[j, k]))
        rows.append((_entry(names, targets, j, k), fmt(fd, 10), fmt(G[j, k], 10)))
    scale = max(float(np.max(np.abs(G))), np.finfo(float).tiny)
    worst = max(errors) / scale
    blocks: list[Any] = [
        "Because the derivative was taken once, on paper; the line is its result. Write the "
        "loss out: f(w) = (1/2N) Σ_i Σ_k (score_ik − y_ik)², with score_ik = Σ_j x_ij·w_jk. "
        "The chain rule gives ∂f/∂w_jk = (1/N) Σ_i (score_ik − y_ik)·x_ij, and collecting "
        "all j and k into one matrix:",
        Code("G = ∂f/∂w = xᵀ·(score − y) / N      (+ penalty·w when alpha > 0)"),
        "The loss is a quadratic in w, so its derivative is linear in w: a matrix product, "
        "no limits or derivatives left to compute. The seed's line computes "
        "xᵀ·(y − score)/N = −G (see the last step for why the sign is flipped). The ½ in "
        "the loss is what makes this exact: plain MSE would bring a factor 2.",
        f"Check on your data: at a random w (loop coordinates, seeded), central finite "
        f"differences (f(w + h·e_jk) − f(w − h·e_jk)) / 2h with h = {fmt(h, 3)} against "
        f"the formula, for {len(chosen)} of the {D * K} entries:",
        Table(("entry", "finite difference", "formula xᵀ(score − y)/N"), tuple(rows)),
        Check(
            "finite differences equal the formula, largest difference relative to max |G|",
            worst,
            1e-6,
        ),
    ]
    return ExplanationStep(
        "gradient",
        "1. Why is this a gradient?",
        "I see no derivatives",
        tuple(blocks),
        dict(fd_relative_error=worst, h=h, entries=[int(i) for i in chosen]),
    )


def _error_step(
    Z: F64,
    T: F64,
    V: F64,
    G: F64,
    penalty_part: F64,
    rng: np.random.Generator,
    c: dict[str, Any],
) -> ExplanationStep:
    N, K = c["N"], c["K"]
    S = Z @ V
    error = T - S

    def f_of_score(Sx: F64) -> float:
        return 0.5 * float(np.sum((Sx - T) ** 2)) / N

    picks = rng.choice(N * K, size=min(N * K, 6), replace=False)
    h = 1e-3 * max(1.0, float(np.max(np.abs(S))))
    rows = []
    ratios = []
    for index in picks:
        i, k = (int(v) for v in np.unravel_index(int(index), (N, K)))
        E = np.zeros_like(S)
        E[i, k] = h
        d = (f_of_score(S + E) - f_of_score(S - E)) / (2 * h)
        ratios.append(error[i, k] / d if d != 0 else -float(N))
        rows.append(
            (
                f"sample {i}" + (f", output {k}" if K > 1 else ""),
                fmt(d, 8),
                fmt(error[i, k], 8),
                fmt(ratios[-1], 8),
            )
        )
    ratio_err = max(abs(r + N) for r in ratios) / N
    # Chain rule: the gradient with respect to w is xᵀ times the gradient with respect to scores;
    # the penalty's part αW/s is computed from α and s, so the sum is compared with G as computed.
    chain = Z.T @ (-error / N)
    chain_err = _rel(chain + penalty_part, G)
    blocks: list[Any] = [
        "The seed's `error = y − score` is itself a gradient: the loss depends on w only "
        "through the scores, f = (1/2N) Σ (score − y)², so ∂f/∂score = (score − y)/N and",
        Code(f"error = y − score = −N · ∂f/∂score      (N = {N})"),
        "The whole loop is the chain rule, as in any neural-network library: the forward pass "
        "`score = x·w`, the gradient at the output ∂f/∂score = −error/N, and the backward "
        "pass of a matrix product multiplies by the transpose: ∂f/∂w = xᵀ·∂f/∂score. That is "
        "the seed's line, with the sign and the N moved around.",
        "Check on your data: finite differences of the loss with respect to single scores:",
        Table(("score", "∂f/∂score (finite diff.)", "error", "error / ∂f/∂score"), tuple(rows)),
        Check(f"error / (∂f/∂score) = −N = −{N}, largest relative deviation", ratio_err, 1e-6),
        Check(
            "xᵀ·(∂f/∂score) (+ penalty) equals the gradient G, relative difference",
            chain_err,
            EXACT_RTOL,
        ),
    ]
    return ExplanationStep(
        "error",
        "5. The error is a gradient too",
        "what is `error`?",
        tuple(blocks),
        dict(ratio_relative_error=ratio_err, ratios=ratios),
    )


def _transpose_step(Z: F64, T: F64, V: F64, G: F64, c: dict[str, Any]) -> ExplanationStep:
    N, D, K, names, targets = c["N"], c["D"], c["K"], c["names"], c["targets"]
    R = Z @ V - T
    # The per-sample sum: each sample adds the outer product of its features and its residual.
    total = np.zeros((D, K))
    chunk = max(1, (1 << 20) // max(1, D * K))
    for start in range(0, N, chunk):
        Zb, Rb = Z[start : start + chunk], R[start : start + chunk]
        total += np.sum(Zb[:, :, None] * Rb[:, None, :], axis=0)
    per_sample = total / N
    data_grad = Z.T @ R / N
    sum_err = _rel(per_sample, data_grad)
    j = int(np.argmax(np.abs(data_grad).sum(axis=1)))
    first = " + ".join(f"({fmt(Z[i, j], 3)})·({fmt(R[i, 0], 3)})" for i in range(min(N, 3)))
    more = " + …" if N > 3 else ""
    E = -R  # the seed's error
    shapes: dict[str, tuple[int, int] | None] = {}
    operands = {
        "x": (N, D),
        "xᵀ": (D, N),
        "error": (N, K),
        "errorᵀ": (K, N),
    }
    arrays = {"x": Z, "xᵀ": Z.T, "error": E, "errorᵀ": E.T}
    rows = []
    right_shape: list[str] = []
    matching: list[str] = []
    target = Z.T @ E / N
    for a, b in [
        ("xᵀ", "error"),
        ("x", "error"),
        ("error", "x"),
        ("errorᵀ", "x"),
        ("x", "errorᵀ"),
        ("xᵀ", "errorᵀ"),
        ("error", "xᵀ"),
        ("errorᵀ", "xᵀ"),
    ]:
        sa, sb = operands[a], operands[b]
        shape = (sa[0], sb[1]) if sa[1] == sb[0] else None
        name = f"{a}·{b}"
        shapes[name] = shape
        verdict = "no: inner sizes differ" if shape is None else "wrong shape"
        if shape == (D, K):
            right_shape.append(name)
            values = arrays[a] @ arrays[b] / N
            if np.allclose(values, target, rtol=1e-12, atol=0):
                matching.append(name)
                verdict = "yes: shape of w, and it is the gradient"
            else:
                verdict = "shape of w, but not the gradient"
        elif shape == (K, D) and a.startswith("error"):
            verdict = "the gradient transposed: (K, D), the layout of coef_"
        rows.append((name, f"({sa[0]}, {sa[1]})·({sb[0]}, {sb[1]})", _shape(shape), verdict))
    blocks: list[Any] = [
        f"Shapes first. The gradient must have the shape of w, ({D}, {K}); `error` is "
        f"({N}, {K}) and x is ({N}, {D}). The N samples have to be summed over, so they must "
        "be the inner dimension of the product. Every way to multiply x or xᵀ with error or "
        "errorᵀ, with your sizes:",
        Table(("product", "shapes", "result", "usable as the gradient?"), tuple(rows)),
        f"Products with the shape of w: {', '.join(right_shape)}; equal to the gradient: "
        f"{', '.join(matching)}.",
        "Intuition: row j of xᵀ is column j of x, feature j across all samples. Its dot "
        "product with output k's error column adds up feature value × error over the "
        f"samples: how much raising w_jk would lower the error. For {names[j]} (and "
        f"{targets[0]}), with the residuals r = score − y = −error, that entry is "
        f"(1/N)·[{first}{more}] = {fmt(data_grad[j, 0], 6)} (in the loop's units).",
        "The same thing as a sum over samples: each sample i contributes the outer product "
        "of its features and its residual, x_iᵀ·(score_i − y_i), a "
        f"({D}, {K}) matrix, and G is their average. The matrix product xᵀ·r does exactly "
        "this sum in one call.",
        Check(
            f"the per-sample sum (1/N)·Σ_i x_iᵀ(score_i − y_i) over all {N} samples equals "
            "xᵀ(score − y)/N, relative difference",
            sum_err,
            EXACT_RTOL,
        ),
        Check(
            "products with the shape of w that equal the gradient, besides xᵀ·error",
            float(len([m for m in matching if m != "xᵀ·error"])),
            0.0,
        ),
    ]
    return ExplanationStep(
        "transpose",
        "2. Why transpose x?",
        "intuition",
        tuple(blocks),
        dict(
            per_sample_relative_error=sum_err,
            shapes=shapes,
            right_shape=right_shape,
            matching=matching,
        ),
    )


def _mean_step(Z: F64, rng: np.random.Generator, L: float, c: dict[str, Any]) -> ExplanationStep:
    N, D = c["N"], c["D"]
    order = rng.permutation(N)
    sizes = sorted({max(2, round(N * f)) for f in (0.125, 0.25, 0.5)} | {N})
    sizes = [n for n in sizes if n <= N]
    rows = []
    table_values = []
    for n in sizes:
        Zn = Z[order[:n]]

        def mean_op(v: F64, Zn: F64 = Zn, n: int = n) -> F64:
            return np.asarray(Zn.T @ (Zn @ v) / n)

        def sum_op(v: F64, Zn: F64 = Zn) -> F64:
            return np.asarray(Zn.T @ (Zn @ v))

        L_mean = lanczos_extremes(mean_op, D).L
        L_sum = lanczos_extremes(sum_op, D).L
        table_values.append((n, L_mean, L_sum))
        rows.append((str(n), fmt(L_mean), fmt(2 / L_mean), fmt(L_sum), fmt(2 / L_sum)))
    _, L_mean_all, L_sum_all = table_values[-1]
    ratio_err = abs(L_sum_all / L_mean_all - N) / N
    spread = max(v[1] for v in table_values) / min(v[1] for v in table_values)
    growth = table_values[-1][2] / table_values[0][2]
    blocks: list[Any] = [
        "With /N the gradient is the average of the N per-sample gradients, so its size does "
        "not grow with the number of samples, and neither does the curvature "
        "L = λmax(xᵀx/N) that decides the safe learning rate. Without /N the gradient is "
        f"N·G = {N}·G: the same as multiplying the learning rate by N. The safe rate "
        f"then shrinks like 1/N: 2/(N·L) = {fmt(2 / (N * L))} instead of 2/L = {fmt(2 / L)} "
        "for your data, and it changes whenever rows are added.",
        "Measured on random subsets of your rows (Lanczos on each, data term only):",
        Table(
            ("rows n", "L with /n", "safe rate 2/L", "L without /n", "safe rate without /n"),
            tuple(rows),
        ),
        f"From {sizes[0]} to {N} rows the averaged curvature varies by a factor "
        f"{fmt(spread, 3)}; the summed one grows by {fmt(growth, 3)} (the rows ratio is "
        f"{fmt(N / sizes[0], 3)}).",
        Check(
            f"L without /N divided by L with /N equals N = {N}, relative difference",
            ratio_err,
            1e-6,
        ),
    ]
    return ExplanationStep(
        "mean",
        "3. Why divide by len(x)?",
        "why /N",
        tuple(blocks),
        dict(
            subsets=table_values,
            ratio_relative_error=ratio_err,
            safe_rate_without_mean=2 / (N * L),
        ),
    )


def _stability_step(
    L: float,
    mu: float,
    dense: float | None,
    L_raw: float,
    lr: float,
    tol: float,
    below: StabilityRun,
    above: StabilityRun,
    at_raw: StabilityRun,
    fit_intercept: bool,
    standardize: bool,
    c: dict[str, Any],
) -> ExplanationStep:
    N = c["N"]
    kappa = L / mu if mu > 0 else math.inf
    it_auto = _iterations_at(1.0 / L, L, mu, tol)
    it_user = _iterations_at(lr, L, mu, tol)

    def trace(run: StabilityRun) -> str:
        picks = sorted({0, 1, 2, 5, 10, 20, run.steps // 2, run.steps} & set(range(run.steps + 1)))
        return "  ".join(f"t={t}: {fmt(run.losses[t], 6)}" for t in picks)

    blocks: list[Any] = [
        "No — a small rate is not needed *because* x holds all the examples. Thanks to /N "
        "the safe rate depends on the average curvature L, not on N, and with all the "
        "examples the gradient is exact (no sampling noise), so the largest stable rate can "
        "be used. The limit comes from L: each step multiplies the error's component along "
        "the i-th eigenvector of the Hessian by (1 − lr·λ_i). All of them shrink if and only "
        "if lr < 2/L, with L the largest eigenvalue.",
        Table(
            ("quantity", "your data"),
            (
                ("L = λmax of the Hessian (Lanczos, as gradfit uses it)", fmt(L, 6)),
                (
                    "λmax by numpy.linalg.eigvalsh (cross-check)",
                    fmt(dense, 6) if dense is not None else "skipped (D > 500)",
                ),
                ("μ = smallest eigenvalue (estimate)", fmt(mu, 6)),
                ("κ = L/μ", fmt(kappa, 6)),
                ("largest stable learning rate 2/L", fmt(2 / L, 6)),
                ("gradfit's automatic rate 1/L", fmt(1 / L, 6)),
                (f"gd iterations at 1/L to reach tol = {tol:g}", fmt(it_auto, 4)),
            ),
        ),
        "Will the gradient explode? Only above 2/L. There the top component is multiplied "
        "by |1 − lr·L| > 1 every step, so the weights, the gradient (G = H·(w − w*)) and the "
        "loss grow geometrically. The seed's loop on your data, from w = 0:",
        Code(
            f"lr = 0.9 × 2/L = {fmt(below.learning_rate, 6)}:  {trace(below)}\n"
            f"lr = 1.1 × 2/L = {fmt(above.learning_rate, 6)}:  {trace(above)}"
        ),
        f"Below the bound the loss fell by a factor {fmt(1 / below.growth, 4)} in "
        f"{below.steps} steps. Above it, it grew by a factor {fmt(above.growth, 4)} in "
        f"{above.steps} steps; the last step multiplied it by {fmt(above.measured_rate, 4)}, "
        f"close to the predicted (1 − lr·L)² = {fmt(above.top_rate, 4)}. The gradient norm "
        f"went from {fmt(above.grad_norms[0], 4)} to {fmt(above.grad_norms[-1], 4)}.",
        Check(
            "below 2/L the loss never rose, largest step-to-step rise relative to the start",
            max(below.max_rise, 0.0),
            1e-12,
        ),
        Check("above 2/L the loss grew, final / initial loss", above.growth, 1.0, at_least=True),
    ]
    coords = []
    if fit_intercept:
        coords.append("centred")
    if standardize:
        coords.append("standardized")
    where = " and ".join(coords)
    verdict_raw = "stable" if lr < 2 / L_raw else "UNSTABLE: it explodes"
    blocks.append(
        f"Your learning rate {lr:g}: for the seed's loop exactly as written (raw x, no "
        f"centring or scaling) L = {fmt(L_raw, 6)} and 2/L = {fmt(2 / L_raw, 6)}, so "
        f"{lr:g} is {verdict_raw}; run for {at_raw.steps} steps the loss went from "
        f"{fmt(at_raw.losses[0], 6)} to {fmt(at_raw.losses[-1], 6)}."
    )
    if where:
        state = (
            f"below 2/L = {fmt(2 / L, 6)}: stable; gd needs about {fmt(it_user, 4)} iterations "
            f"at this rate against {fmt(it_auto, 4)} at 1/L"
            if lr < 2 / L
            else f"above 2/L = {fmt(2 / L, 6)}: it explodes"
        )
        blocks.append(f"On the {where} data gradfit's loop uses, {lr:g} is {state}.")
    else:
        blocks.append(
            f"At this rate gd needs about {fmt(it_user, 4)} iterations to reach tol = {tol:g}, "
            f"against {fmt(it_auto, 4)} at 1/L."
            if lr < 2 / L
            else "Use learning_rate='auto' (1/L) in gradfit, which also rolls back a rising step."
        )
    return ExplanationStep(
        "stability",
        "4. Do we need a small learning rate? Will the gradient explode?",
        "the stability bound 2/L",
        tuple(blocks),
        dict(
            L=L,
            mu=mu,
            L_dense=dense,
            stability_bound=2 / L,
            L_raw=L_raw,
            stability_bound_raw=2 / L_raw,
            iterations_at_auto=it_auto,
            iterations_at_learning_rate=it_user,
            N=N,
        ),
    )


def _sign_step(
    loss: Any,
    V: F64,
    G: F64,
    penalty_part: F64,
    L: float,
    Z: F64,
    T: F64,
    c: dict[str, Any],
) -> ExplanationStep:
    N = c["N"]
    score = Z @ V
    error = T - score
    gradient = Z.T @ error / N  # the seed's line, verbatim
    # Against G as computed for the whole explanation, less its penalty part (the seed's
    # line has no penalty): the seed's `gradient` is minus that.
    sign_err = _rel(gradient, -(G - penalty_part))
    f0 = loss(V)
    lr = 1.0 / L
    f_plus = loss(V + lr * (-G))
    f_minus = loss(V - lr * (-G))
    blocks: list[Any] = [
        "The seed's `gradient` is xᵀ(y − score)/N = −G: it points downhill, the descent "
        "direction. That is why the seed writes `w += learning_rate * gradient`; with the "
        "true gradient G the update is `w -= learning_rate * G`, the same step.",
        Check(
            "the seed's `gradient` equals −xᵀ(score − y)/N, relative difference",
            sign_err,
            EXACT_RTOL,
        ),
        f"At the random w above, a step of size 1/L along the descent direction lowers the "
        f"loss from {fmt(f0, 8)} to {fmt(f_plus, 8)}; the same step along +G raises it to "
        f"{fmt(f_minus, 8)}.",
        Check("w += (1/L)·(−G) lowers the loss, relative change", (f_plus - f0) / f0, 0.0),
        Check(
            "w −= (1/L)·(−G) raises the loss, relative change",
            (f_minus - f0) / f0,
            0.0,
            at_least=True,
        ),
    ]
    return ExplanationStep(
        "sign",
        "The sign: why `w +=`",
        "descent direction",
        tuple(blocks),
        dict(sign_relative_error=sign_err, loss=f0, loss_descent=f_plus, loss_ascent=f_minus),
    )


def _summary(e: Explanation) -> list[str]:
    mean = e.step("mean").values
    stab = e.step("stability").values
    return [
        "1. It is a gradient because the derivative of the loss ‖x·w − y‖²/(2N) was taken "
        "once on paper: G = xᵀ(x·w − y)/N. Finite differences on your data agree to "
        f"{fmt(e.step('gradient').values['fd_relative_error'], 2)} (relative).",
        f"2. xᵀ lines the {e.n_samples} samples up for the sum: xᵀ·error is the only product "
        f"of x and error with the shape ({e.n_features}, {e.n_outputs}) of w that is the "
        "gradient; it adds up feature × error over the samples.",
        "3. /N makes G an average, so the safe learning rate does not depend on N; without "
        f"it the safe rate would be 2/(N·L) = {fmt(mean['safe_rate_without_mean'])} instead "
        f"of {fmt(e.stability_bound)}.",
        f"4. No small rate is needed: any rate below 2/L = {fmt(e.stability_bound)} converges "
        f"(1/L = {fmt(1 / e.lipschitz)} is gradfit's choice). Above it the loop explodes: at "
        f"1.1 × 2/L the loss grew {fmt(e.above.growth, 3)}× in {e.above.steps} steps. The "
        f"seed's loop on your raw data is stable below {fmt(stab['stability_bound_raw'])}, "
        f"so your rate {e.learning_rate:g} "
        + (
            "is stable there."
            if e.learning_rate < stab["stability_bound_raw"]
            else "explodes there."
        ),
        "5. `error` = y − score = −N·∂f/∂score: the gradient with respect to the scores, "
        "and the seed's `gradient` is −G, the descent direction, hence `w +=`.",
    ]
