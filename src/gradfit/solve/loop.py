"""The solve loop: one plain loop that owns stopping, the divergence guard and history.

Stopping rule (the only one): output ``k`` has converged when its relative
gradient norm ``‖G_k(W)‖ / ‖G_k(0)‖`` is at most ``tol``; the fit stops when
every output has converged, or after ``max_iter`` steps. ``G(0)`` is the
gradient of the zero model, so the rule does not depend on where a (warm)
start was. Gradients are measured in the loop's coordinates (standardised
ones when ``standardize=True``).

Divergence guard: after every step the new loss of each output is compared
with the last accepted one. A rise larger than rounding (see
:meth:`Problem.loss_slack`) or any non-finite value rejects the step:

* if momentum contributed to the step, momentum is reset (event ``restart``)
  and the loop retries from the last accepted point;
* else, with ``learning_rate="auto"``, the step size is halved (event
  ``rollback``); with a user's float, :class:`DivergenceError` is raised
  naming the iteration, the learning rate and the bound ``2/L``;
* for ``cg`` (no step size to cut) a rise after a fresh restart means the
  rounding floor is reached and the loop stops (``stalled``).

The accepted losses are therefore non-increasing for every method.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from .._exceptions import DivergenceError
from ..problem.curvature import CurvatureEstimate
from ..problem.gram import refinement_needed, single_threaded_blas
from ..problem.objective import Problem, centring_shift
from .checkpoint import Checkpointer
from .history import History
from .rules import RULES, SGD, HeavyBall, Point, evaluate

__all__ = ["SolveResult", "predicted_iterations", "solve", "solve_exact"]

F64 = NDArray[np.float64]

#: After this many consecutive halvings the step is too small to be useful.
MAX_HALVINGS = 60


@dataclass
class SolveResult:
    """Everything a fit produced, in the user's units."""

    W: F64
    intercept: F64
    V: F64
    n_iter: int
    history: History
    converged: bool
    stop_reason: str
    curvature: CurvatureEstimate
    learning_rate: F64
    relative_grad_norm: F64
    n_passes: int
    method: str
    rule_state: Any = None


def predicted_iterations(method: str, kappa: float, tol: float, dim: int) -> float:
    """Iterations a method is expected to need to reach ``tol``, from ``κ``.

    gd: ``κ·ln(1/tol)``; momentum and nesterov: ``√κ·ln(1/tol)``; cg: the same
    but never more than the dimension ``D`` (in exact arithmetic); exact: 1;
    sgd: NaN (a stochastic method's gradient norm stalls at its noise level).

    Examples
    --------
    >>> round(predicted_iterations("gd", 100.0, 1e-6, 10))
    1382
    >>> predicted_iterations("cg", 1e8, 1e-6, 10)
    10
    """
    if method == "exact":
        return 1.0  # one Cholesky solve (plus at most three refinement steps)
    if method == "sgd":
        return math.nan  # stochastic: the gradient norm stalls at the noise level, see docs
    log_term = math.log(1.0 / max(tol, 1e-300))
    if not math.isfinite(kappa):
        return math.inf if method != "cg" else dim
    if method == "gd":
        return kappa * log_term
    accelerated = math.sqrt(kappa) * log_term
    if method == "cg":
        return min(dim, math.ceil(accelerated))
    return accelerated


#: Without an intercept the stopping rule's reference (the centred targets' gradient at zero)
#: is at least this fraction of the plain ``‖G_k(0)‖`` in float64 (see :func:`centred_limits`).
CENTRED_REFERENCE_FLOOR = math.sqrt(float(np.finfo(np.float64).eps))
_EPS64 = float(np.finfo(np.float64).eps)


def centred_limits(dtype: Any, D: int, tol: float) -> tuple[float, float]:
    """``(floor, rounding)``: fractions of ``‖G_k(0)‖`` that bound the centred reference.

    ``floor``: a gradient of uncentred targets is formed with an error of about
    ``16·√D·eps·‖G_k(0)‖`` in the dtype (the certificate's allowance), so ``tol``
    of a reference below ``16·√D·eps/tol`` of ``‖G_k(0)‖`` could not be met; never
    below :data:`CENTRED_REFERENCE_FLOOR`. In float32 at the default tol it is
    above 1: the loop keeps ``‖G_k(0)‖`` and the float64 certificate alone
    measures against the centred targets.

    ``rounding``: a centred gradient at most ``64·√D·eps`` of ``‖G_k(0)‖`` is
    rounding: the targets are constant (to rounding), there is nothing beyond
    their mean to resolve, and ``‖G_k(0)‖`` is kept.

    Examples
    --------
    >>> floor, rounding = centred_limits(np.float64, 4, 1e-6)
    >>> floor == CENTRED_REFERENCE_FLOOR, rounding < 1e-12
    (True, True)
    >>> centred_limits(np.float32, 4, 1e-6)[0] > 1.0
    True
    """
    dt = np.dtype(dtype)
    eps = float(np.finfo(dt).eps) if dt.kind == "f" else float(np.finfo(np.float64).eps)
    root = math.sqrt(max(D, 1))
    floor = CENTRED_REFERENCE_FLOOR if tol <= 0 else 16.0 * root * eps / tol
    return max(CENTRED_REFERENCE_FLOOR, floor), 64.0 * root * eps


def arithmetic_dtype(problem: Any) -> np.dtype[Any]:
    """The precision of a data-path problem's passes.

    Float64 for passes with float64 products (overflow or ``promote_products``),
    else X's dtype. (Only problems that can switch ask: every other problem stops
    by float64's limits, :func:`stopping_limits`.)

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> arithmetic_dtype(SimpleNamespace(_float64_products=True, dtype=np.dtype(np.float32)))
    dtype('float64')
    >>> arithmetic_dtype(SimpleNamespace(_float64_products=False, dtype=np.dtype(np.float32)))
    dtype('float32')
    """
    if getattr(problem, "_float64_products", False):
        return np.dtype(np.float64)
    return np.dtype(getattr(problem, "dtype", np.float64))


def stopping_limits(problem: Any, D: int, tol: float) -> tuple[float, float]:
    """The :func:`centred_limits` a fit of ``problem`` stops by.

    Float64's, except for a problem that could switch to float64 products
    (``promote_products``) and did not: its float32 passes keep their own floor
    (the loop promoted it where the centred reference was beyond them). A
    problem without that switch (sparse float32) tries the centred reference; if
    its float32 sums cannot meet it, the loop stalls and says so.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> stopping_limits(SimpleNamespace(dtype=np.dtype(np.float32)), 4, 1e-6)[0] < 1
    True
    """
    if hasattr(problem, "promote_products") and not getattr(problem, "_promoted", False):
        return centred_limits(arithmetic_dtype(problem), D, tol)
    return centred_limits(np.float64, D, tol)


def reference_norms(
    G0: F64,
    shift: F64 | None = None,
    limits: tuple[float, float] = (CENTRED_REFERENCE_FLOOR, 0.0),
) -> F64:
    """Per-output ``‖G_k(0)‖``, the stopping rule's denominator.

    An output whose zero model is already optimal (``G_k(0) = 0``) borrows the
    largest reference of the others, or 1 if every output's is zero.

    Without an intercept, ``shift`` is ``x̄ȳᵀ`` in ``G0``'s coordinates
    (:func:`~gradfit.problem.objective.centring_shift`) and the reference is the
    gradient at zero of the *centred* targets, ``‖G_k(0) + x̄ȳ_kᵀ‖``, when that is
    smaller, but at least ``floor·‖G_k(0)‖`` (``limits`` from :func:`centred_limits`).
    Otherwise a targets' mean far above their spread (a ones column of the
    user's, a column like 1e9 + noise) makes ``‖G_k(0)‖`` so large that ``tol`` of
    it leaves the smaller coefficients unresolved: slopes off by several units
    while the fit said converged. Where the dtype cannot meet ``tol`` of the floor
    (``floor ≥ 1``) or the centred gradient is rounding (constant targets), the
    plain ``‖G_k(0)‖`` is kept.

    Examples
    --------
    >>> G0 = np.array([[-3e7], [-1.0]]); shift = np.array([[3e7], [0.0]])
    >>> reference_norms(G0).tolist(), reference_norms(G0, shift).tolist()
    ([30000000.0], [1.0])
    >>> reference_norms(G0, shift, (1e-6, 1e-12)).tolist()  # at least 1e-6 of 3e7
    [30.0]
    >>> reference_norms(G0, np.array([[3e7 - 1e-9], [1.0]]), (1e-6, 1e-12)).tolist()
    [30000000.0]
    """
    reference = np.sqrt(np.einsum("ij,ij->j", G0, G0))
    if np.all(reference == 0):
        return np.ones(len(reference))
    reference = np.where(reference > 0, reference, reference.max())
    floor, rounding = limits
    if shift is None or floor >= 1.0:
        return reference
    Gc = G0 + shift
    centred = np.sqrt(np.einsum("ij,ij->j", Gc, Gc))
    clamped = np.minimum(reference, np.maximum(centred, floor * reference))
    return np.where(centred > rounding * reference, clamped, reference)


def relative_norms(G: F64, reference: F64) -> F64:
    """Per-output ``‖G_k‖ / reference_k``: the quantity the stopping rule compares with tol."""
    return np.sqrt(np.einsum("ij,ij->j", G, G)) / reference


def _finite(point: Point) -> bool:
    return bool(np.all(np.isfinite(point.loss)) and np.all(np.isfinite(point.G)))


@contextmanager
def quiet_blas() -> Iterator[None]:
    """Run BLAS on the calling thread while the loop runs.

    Inside the loop the heavy work is the fused kernel's own threads (data
    path) or D×D products too small to split (statistics path). BLAS worker
    threads that spin between calls would compete with the kernel's threads
    for the same cores, which on a 2-core machine was seen to slow passes a
    hundredfold.
    """
    try:
        limit = single_threaded_blas()
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        yield
        return
    with limit:
        yield


F = TypeVar("F", bound=Callable[..., Any])


def with_quiet_blas(fn: F) -> F:
    """Decorate ``fn`` to run inside :func:`quiet_blas`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with quiet_blas():
            return fn(*args, **kwargs)

    return cast(F, wrapper)


def sgd_learning_rate(problem: Problem, L: float, batch_size: int) -> float:
    """The default step of sgd, ``1/(L + max‖x‖²/B)``: safe for every mini-batch of B rows.

    A mini-batch of B rows has curvature at most ``L + max‖x‖²/B`` (a one-row
    batch is as curved as its longest row).
    """
    row_curvature = float(problem.max_row_norm2())  # type: ignore[attr-defined]
    batch_curvature = L + row_curvature / max(1, min(batch_size, problem.N))
    return 1.0 / batch_curvature if batch_curvature > 0 else 1.0


@with_quiet_blas
def solve(
    problem: Problem,
    *,
    method: str = "cg",
    learning_rate: float | str = "auto",
    max_iter: int = 1000,
    tol: float = 1e-6,
    V0: F64 | None = None,
    verbose: int = 0,
    callback: Callable[[int, dict[str, Any]], bool | None] | None = None,
    curvature: CurvatureEstimate | None = None,
    rule_options: dict[str, Any] | None = None,
    rng: np.random.Generator | None = None,
    steps_done: int = 0,
    checkpointer: Checkpointer | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> SolveResult:
    """Minimise ``problem`` with ``method`` and return a :class:`SolveResult`.

    Parameters
    ----------
    problem : Problem
        The objective.
    method : {"gd", "momentum", "nesterov", "cg"}
        The update rule.
    learning_rate : "auto" or float
        ``"auto"`` takes the rule's default from the estimated curvature
        (``1/L`` for gd and nesterov) and halves it if the loss ever rises;
        a float is used as given and a rise raises :class:`DivergenceError`.
    max_iter : int
        Most steps to take.
    tol : float
        Relative gradient norm at which an output has converged.
    V0 : ndarray of shape (D, K), optional
        Start, in loop coordinates (default zero).
    verbose : int
        0 silent, 1 a line at start and end, 2 a line per iteration.
    callback : callable, optional
        ``callback(iteration, info)`` after every step; return True to stop.
    curvature : CurvatureEstimate, optional
        Reuse a known estimate instead of computing it.
    rule_options : dict, optional
        Hyper-parameters of the rule (``batch_size``, ``schedule``, ``average`` for sgd).
    rng : numpy.random.Generator, optional
        Randomness of stochastic rules (sgd's batch order).
    steps_done : int, default=0
        Steps an earlier call already took (sgd's schedule continues from there).
    checkpointer : Checkpointer, optional
        Resume from its file when one exists for ``fingerprint``, and write the
        loop's whole state to it as often as it says (and once at the end).
    fingerprint : dict, optional
        What a checkpoint must match (see :func:`gradfit.solve.checkpoint.fingerprint`).

    Returns
    -------
    SolveResult
    """
    if method not in RULES:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(RULES)}")
    D, K = problem.D, problem.K
    saved = checkpointer.load(fingerprint or {}) if checkpointer is not None else None
    if saved is not None:
        curvature = CurvatureEstimate(*saved["curvature"])
    if curvature is None:
        curvature = problem.curvature()
    L, mu = curvature.L, curvature.mu
    rule: Any = RULES[method](**(rule_options or {}))
    if isinstance(rule, HeavyBall):
        rule = rule.configure(L, mu) if L > 0 else replace(rule, beta=0.0)
    auto = isinstance(learning_rate, str)
    lr0 = (rule.default_lr(L, mu) if L > 0 else 1.0) if auto else float(learning_rate)
    if isinstance(rule, SGD) and auto:
        lr0 = sgd_learning_rate(problem, L, rule.batch_size)
    lr = np.full(K, lr0)
    history = History()

    start = evaluate(problem, np.zeros((D, K)))
    shift = centring_shift(problem, problem.x_scale)
    limits = stopping_limits(problem, D, tol)
    plain = reference_norms(start.G)
    promoted_now = False
    if shift is not None and hasattr(problem, "promote_products"):
        # where the targets' mean hides the slopes (the centred reference is under a tenth of
        # ‖G(0)‖: the certificate's margin) beyond what float32 sums can meet (its floor), run
        # the passes with float64 products (docs/architecture.md, 29)
        precise = centred_limits(np.float64, D, tol)
        ratio = reference_norms(start.G, shift, precise) / plain
        if np.any((ratio < 0.1) & (ratio < limits[0])):
            problem.promote_products()
            promoted_now = True
            start = evaluate(problem, np.zeros((D, K)))
            limits = precise
            plain = reference_norms(start.G)
    reference = reference_norms(start.G, shift, limits)
    point = start if V0 is None else evaluate(problem, np.asarray(V0, dtype=np.float64))
    if not _finite(point):
        raise DivergenceError(
            "the loss or gradient is not finite at the starting point: the data's magnitude "
            "overflows floating-point arithmetic. Rescale X and y (e.g. divide each by its "
            "largest absolute value) and fit again."
        )
    rel = relative_norms(point.G, reference)

    def record(step: F64) -> None:
        history.append(
            point.loss.sum(),
            point.loss,
            math.sqrt(float(np.sum(point.G**2))),
            float(rel.max()),
            float(np.mean(step)),
        )

    record(np.zeros(K))
    if verbose:
        print(
            f"[gradfit] {method}: N={problem.N} D={D} K={K}  L={L:.4g}  mu~{mu:.3g}  "
            f"lr={f'{lr0:.4g}' if rule.uses_lr else 'line search'}  "
            f"start loss={point.loss.sum():.6g}"
        )
    state = rule.init(point)
    if isinstance(rule, SGD):
        state = (state[0], steps_done, rng if rng is not None else np.random.default_rng())
    # On the statistics engine an iteration costs O(D²K), nothing beside forming H: CG then
    # goes on past tol down to tol/κ (or its rounding floor), where the relative gradient
    # also bounds the coefficients' relative error by tol. Converged still means ≤ tol.
    work_tol: Any = tol
    if method == "cg" and problem.engine == "stats" and mu > 0 and L > 0:
        # ... but not below the gradient's rounding, about 16·√D·eps of the plain ‖G(0)‖: with
        # the centred reference (no intercept, decision 29) that is far above tol/κ, and CG
        # only stopped through the stall patience or max_iter (550 iterations instead of 6)
        rounding = 16.0 * math.sqrt(D) * _EPS64 * plain / reference
        work_tol = np.minimum(tol, np.maximum(tol * mu / L, rounding))
    active = rel > work_tol
    stalled = np.zeros(K, bool)
    halvings = np.zeros(K, int)
    n_iter = 0
    stop = ""
    patience = stall_patience(D)
    recomputed = False
    if saved is not None:
        # resume exactly where the checkpoint left off ...
        point = Point(saved["V"], saved["loss"], saved["G"], saved["exact"])
        if promoted_now:  # the checkpoint's loss and gradient came from float32 passes
            point = evaluate(problem, np.asarray(saved["V"], dtype=np.float64))
        else:
            # ... after checking its loss and gradient against one pass of this problem: a
            # checkpoint whose passes rounded otherwise (an older gradfit's float32 targets)
            # would feed CG's recurrence a wrong gradient (7,900 iterations instead of 5)
            fresh = evaluate(problem, np.asarray(saved["V"], dtype=np.float64))
            # (a recursively updated loss and gradient, as CG keeps them, drift a little)
            drift = 1.0 if saved["exact"] else 64.0
            eps = float(np.finfo(np.float64 if problem.dtype == np.float64 else np.float32).eps)
            agree = np.abs(fresh.loss - point.loss) <= drift * problem.loss_slack(fresh.loss)
            agree &= (
                relative_norms(fresh.G - point.G, reference) <= drift * 16.0 * math.sqrt(D) * eps
            )
            if not np.all(agree):
                point, recomputed = fresh, True
        state, lr = saved["state"], saved["lr"]
        if recomputed:
            state = rule.reset(state, point, np.ones(K, bool))
        active, stalled, halvings = saved["active"], saved["stalled"], saved["halvings"]
        n_iter = saved["n_iter"]
        history = _history_from(saved["history"])
        history.event(n_iter, "resume", f"resumed from checkpoint {checkpointer.path}")  # type: ignore[union-attr]
        if recomputed:
            history.event(
                n_iter,
                "recomputed",
                "the checkpoint's loss and gradient differ from this problem's pass beyond "
                "rounding (written by another version?): recomputed, and the rule restarted",
            )
        rel = relative_norms(point.G, reference)
        # the stopping settings may differ from the checkpointed fit's (a tighter tol, a
        # larger max_iter): every output not yet at *this* tol continues
        active = (rel > work_tol) & ~stalled

    def snapshot() -> dict[str, Any]:
        return {
            "V": point.V,
            "loss": point.loss,
            "G": point.G,
            "exact": point.exact,
            "state": state,
            "lr": lr,
            "active": active,
            "stalled": stalled,
            "halvings": halvings,
            "n_iter": n_iter,
            "history": _history_to(history),
            "curvature": tuple(curvature),
            "best": (best.V, best.rel, best.iteration, lowest),
        }

    # the best accepted point per output (by its exactly computed relative gradient norm),
    # and the lowest accepted loss: the guard measures rises from it, so rises that each
    # stay inside the rounding allowance cannot add up (float32 CG crept up that way)
    best = _Best(point, rel, n_iter)
    lowest = point.loss.copy()
    if saved is not None and "best" in saved and not (promoted_now or recomputed):
        best.V, best.rel, best.iteration, lowest = (np.array(a) for a in saved["best"])
    stagnant = np.zeros(K, bool)
    while n_iter < max_iter and active.any():
        new, new_state, used, step = rule.step(point, state, lr, active, problem)
        n_iter += 1
        finite = np.isfinite(new.loss) & np.all(np.isfinite(new.G), axis=0)
        # a step may land up to one allowance above the last accepted loss, which may itself
        # be one above the lowest: two allowances from the lowest, never more (no creep)
        slack = problem.loss_slack(lowest)
        with np.errstate(invalid="ignore"):
            bad = active & (~finite | (new.loss > lowest + 2 * slack))
        if bad.any():
            what = _describe_rise(point.loss, new.loss, bad)
            restart = bad & used
            cut = bad & ~used
            if cut.any() and rule.uses_lr and not auto:
                W_good, b_good = problem.to_user(point.V)
                raise _divergence(problem, n_iter, float(lr[cut].max()), L, what, W_good, b_good)
            if not point.exact:
                point = evaluate(problem, point.V)
            new = Point(
                np.where(bad, point.V, new.V),
                np.where(bad, point.loss, new.loss),
                np.where(bad, point.G, new.G),
                point.exact and new.exact,
            )
            new_state = rule.reset(new_state, new, bad)
            if restart.any():
                history.event(
                    n_iter, "restart", f"loss {what}; momentum reset at the last accepted point"
                )
            if cut.any() and rule.uses_lr:
                lr = np.where(cut, 0.5 * lr, lr)
                halvings += cut
                history.event(
                    n_iter,
                    "rollback",
                    f"loss {what} with lr={2 * lr[cut].max():.4g} (2/L={2 / L:.4g}); weights "
                    f"restored and step halved to {lr[cut].max():.4g}",
                )
                stalled |= halvings > MAX_HALVINGS
            elif cut.any():
                stalled |= cut
                history.event(
                    n_iter,
                    "stalled",
                    f"loss {what} on a fresh conjugate-gradient step: rounding floor",
                )
            active &= ~stalled
            step = np.where(bad, 0.0, step)
        point, state = new, new_state
        rel = relative_norms(point.G, reference)
        if not point.exact and np.any(active & (rel <= work_tol)):
            # Never stop on a recursively updated gradient: recompute it exactly.
            point = evaluate(problem, point.V)
            rel = relative_norms(point.G, reference)
            history.event(n_iter, "refresh", "gradient recomputed exactly before stopping")
        lowest = np.minimum(lowest, point.loss)
        if point.exact:
            best.update(point, rel, n_iter)
            # no new best gradient for `patience` iterations: the attainable accuracy
            stagnant = active & (rel > work_tol) & (n_iter - best.iteration > patience)
            if stagnant.any():
                stalled |= stagnant
                history.event(
                    n_iter,
                    "stalled",
                    f"no smaller gradient in {patience} iterations (best "
                    f"{float(best.rel[stagnant].max()):.3g}): {problem.dtype} rounding floor",
                )
                active &= ~stagnant
        active &= rel > work_tol
        record(step)
        if verbose >= 2:
            print(
                f"[gradfit] iter {n_iter:6d}  loss={point.loss.sum():.10g}  "
                f"rel_grad={rel.max():.3e}  step={float(np.mean(step)):.4g}"
            )
        if callback is not None and callback(
            n_iter,
            {
                "loss": float(point.loss.sum()),
                "relative_grad_norm": float(rel.max()),
                "learning_rate": float(np.mean(step)),
            },
        ):
            stop = f"stopped by callback at iteration {n_iter}"
            break
        if checkpointer is not None and checkpointer.due(n_iter):
            checkpointer.save(fingerprint or {}, snapshot(), n_iter)

    if checkpointer is not None:
        checkpointer.save(fingerprint or {}, snapshot(), n_iter)
    if not point.exact:
        point = evaluate(problem, point.V)
        rel = relative_norms(point.G, reference)
    best.update(point, rel, n_iter)
    worse = 2 * best.rel < rel
    if tol > 0 and np.any(worse):
        # a later point is clearly worse for some output (drift at the rounding floor):
        # return that output's best accepted iterate (tol=0 asks for the last one)
        point = evaluate(problem, np.where(worse, best.V, point.V))
        rel = relative_norms(point.G, reference)
        history.event(n_iter, "best", "returned each output's best iterate")
    history.finish()
    worst = float(rel.max())
    converged = bool(np.all(rel <= tol))
    if converged:
        stop = (
            f"converged: relative gradient norm {worst:.3g} <= tol={tol:g} "
            f"after {n_iter} iterations"
        )
    elif stalled.any() and not active.any():
        stop = (
            f"stalled: the loss cannot decrease further in {problem.dtype} arithmetic at "
            f"iteration {n_iter}; relative gradient norm {worst:.3g} > tol={tol:g}"
        )
    elif not stop:
        stop = (
            f"max_iter: reached max_iter={max_iter} with relative gradient norm "
            f"{worst:.3g} > tol={tol:g}"
        )
    if verbose:
        print(f"[gradfit] {stop}; loss={point.loss.sum():.10g}")
    W, b = problem.to_user(point.V)
    steps = np.asarray(history.learning_rate)
    if rule.uses_lr and not isinstance(rule, SGD):
        final_lr = lr
    else:  # the last step actually taken (line search, or sgd's schedule)
        final_lr = np.full(K, steps[steps > 0][-1] if np.any(steps > 0) else 0.0)
    return SolveResult(
        W=W,
        intercept=b,
        V=point.V,
        n_iter=n_iter,
        history=history,
        converged=converged,
        stop_reason=stop,
        curvature=curvature,
        learning_rate=final_lr,
        relative_grad_norm=rel,
        n_passes=problem.n_passes,
        method=method,
        rule_state=state,
    )


def stall_patience(D: int) -> int:
    """Iterations without a smaller (exact) gradient after which a fit has stalled.

    Conjugate gradients are not monotone in the gradient norm and recompute it
    exactly only every 50 steps (or before stopping); near float64's floor on
    ill-conditioned problems a new best was seen to take 260 iterations. Beyond
    ``max(500, 5·D)`` iterations without one the fit is at its rounding floor.

    Examples
    --------
    >>> stall_patience(10), stall_patience(1000)
    (500, 5000)
    """
    return max(500, 5 * D)


class _Best:
    """Each output's best accepted point by its exact relative gradient norm."""

    def __init__(self, point: Point, rel: F64, iteration: int) -> None:
        self.V = point.V.copy()
        self.rel = rel.copy()
        self.iteration = np.full(len(rel), iteration)

    def update(self, point: Point, rel: F64, iteration: int) -> None:
        better = rel < self.rel
        if better.any():
            self.V[:, better] = point.V[:, better]
            self.rel = np.where(better, rel, self.rel)
            self.iteration = np.where(better, iteration, self.iteration)


def _history_to(history: History) -> tuple[Any, ...]:
    K = len(history.loss_per_output[0]) if history.loss_per_output else 0
    return (
        np.asarray(history.loss, dtype=np.float64),
        np.asarray(history.loss_per_output, dtype=np.float64).reshape(-1, K),
        np.asarray(history.grad_norm, dtype=np.float64),
        np.asarray(history.relative_grad_norm, dtype=np.float64),
        np.asarray(history.learning_rate, dtype=np.float64),
        tuple((e.iteration, e.kind, e.message) for e in history.events),
    )


def _history_from(saved: tuple[Any, ...]) -> History:
    loss, per_output, grad_norm, relative, steps, events = saved
    history = History()
    for row in range(len(loss)):
        history.append(loss[row], per_output[row], grad_norm[row], relative[row], steps[row])
    for iteration, kind, message in events:
        history.event(int(iteration), str(kind), str(message))
    return history


def _describe_rise(old: F64, new: F64, bad: NDArray[np.bool_]) -> str:
    k = int(np.flatnonzero(bad)[0])
    which = f" (output {k})" if len(old) > 1 else ""
    if not np.isfinite(new[k]):
        return f"became non-finite{which}"
    return f"rose from {old[k]:.6g} to {new[k]:.6g}{which}"


def _divergence(
    problem: Problem,
    iteration: int,
    lr: float,
    L: float,
    what: str,
    W_good: F64,
    b_good: F64,
) -> DivergenceError:
    bound = 2.0 / L if L > 0 else math.inf
    if lr >= bound:
        hint = f"learning_rate={lr:g} exceeds the stability bound 2/L = {bound:.4g} for this data"
    else:
        hint = (
            f"learning_rate={lr:g} is below 2/L = {bound:.4g}, so momentum or rounding is to blame"
        )
    where = " (standardized coordinates)" if problem.standardize else ""
    return DivergenceError(
        f"diverged at iteration {iteration}: the loss {what}; {hint}{where}, where L = {L:.4g} "
        f"is the largest eigenvalue of XᵀX/N{' + alpha' if problem.alpha else ''}. Fix: use "
        f"learning_rate='auto' (1/L = {1 / L:.4g}, with automatic rollback) or a float below "
        f"{bound:.4g}. The last good weights are on this exception (last_good_coef).",
        iteration=iteration,
        learning_rate=lr,
        stability_bound=bound,
        last_good_coef=W_good,
        last_good_intercept=b_good,
    )


@with_quiet_blas
def refine(
    checker: Problem,
    solve: Callable[[F64], F64],
    point: Point,
    max_steps: int,
    on_step: Callable[[Point, float], None] | None = None,
    enough: Callable[[Point], bool] | None = None,
) -> tuple[Point, bool, bool]:
    """Iterative refinement: ``V ← V − solve(G(V))`` with gradients from ``checker``.

    Continues while each correction is at most half the previous one (a contraction),
    until the correction is at rounding level in ``V``, ``enough`` says a new point will do,
    or after ``max_steps`` steps (one evaluation of ``checker`` each, reported to
    ``on_step`` with the correction's size).

    Returns
    -------
    point : Point
        The last point reached (the starting one if no step was taken).
    contracting : bool
        False when the corrections stopped shrinking while still above ``1e-6·‖V‖``, or
        were not finite: the problem is too ill-conditioned for this factor.
    stalled : bool
        Whether the corrections stopped shrinking (at rounding level or not).
    """
    previous = math.inf
    eps = float(np.finfo(np.float64).eps)
    for _ in range(max_steps):
        delta = np.asarray(solve(point.G))
        size = float(np.linalg.norm(delta))
        if not math.isfinite(size) or size > 0.5 * previous:
            # stopped shrinking: fine at rounding level, a failure while still large
            return point, size <= 1e-6 * max(float(np.linalg.norm(point.V)), eps), True
        point = evaluate(checker, point.V - delta)
        previous = size
        if on_step is not None:
            on_step(point, size)
        if size <= 4 * eps * max(float(np.linalg.norm(point.V)), eps):
            break
        if enough is not None and enough(point):
            break
    return point, True, False


def solve_exact(
    gram: Any,
    *,
    refine_with: Problem | None = None,
    tol: float = 1e-6,
    max_refine: int = 30,
    verbose: int = 0,
    to_tol: bool = False,
    coefficient_tol: float = 0.01,
) -> SolveResult:
    """Solve the normal equations by Cholesky, then refine iteratively.

    ``V = H_V⁻¹ B_V`` from the sufficient statistics. When the measured
    conditioning says that solve may be off by more than
    :data:`EXACT_FORWARD_ERROR` (:func:`refinement_needed`), it is refined: each
    refinement step computes the gradient at ``V`` — on the data itself when ``refine_with``
    is given, which removes the error made in forming ``H`` — and corrects
    ``V ← V − H_V⁻¹ G``. It continues while each correction is at most half the
    previous one, until the correction is at rounding level in ``V`` (or after
    ``max_refine`` steps); corrections that stop contracting from the first mean
    the problem is too ill-conditioned for float64 (not converged). Singular
    problems use the pseudo-inverse on the row space (minimum norm).

    Parameters
    ----------
    gram : GramProblem
    refine_with : Problem, optional
        A data-path problem over the same data for the refinement residuals.
    tol : float
        Relative gradient norm that counts as converged (reported, not iterated on).
    max_refine : int
        Most refinement steps (each one pass over the data).
    verbose : int
        Print a line per step when ≥ 2, a summary when ≥ 1.
    to_tol : bool
        Stop at the first point whose relative gradient (on ``refine_with``) is within
        ``tol`` and whose every coefficient is within ``coefficient_tol`` of its size by the
        factor's estimate of its error (``H⁻¹G``) — the Cholesky solve itself, or a
        refinement step — instead of refining to rounding level (the default fit on
        statistics from float32 products, decision 34: a normwise ``tol`` alone let a small
        coefficient beside a large one stay 97% off).
    coefficient_tol : float
        See ``to_tol`` (the estimator passes ``MIXED_COEFFICIENT_TOL = 1e-4``).

    Returns
    -------
    SolveResult
    """
    if refine_with is not None and not refinement_needed(gram):
        refine_with = None  # the one-shot solve is already within EXACT_FORWARD_ERROR
    checker: Any = refine_with if refine_with is not None else gram
    mixed = getattr(gram, "products", "float64") == "float32"
    K = gram.K
    history = History()
    # the reference (the gradient at zero, −B) needs no pass: after float32 products its
    # relative error of about 1e-8 leaves a tolerance where it was
    start = evaluate(gram if mixed else checker, np.zeros((gram.D, K)))
    reference = reference_norms(
        start.G,
        centring_shift(checker, checker.x_scale),
        stopping_limits(checker, gram.D, tol),
    )

    def record(point: Point) -> F64:
        rel = relative_norms(point.G, reference)
        history.append(
            point.loss.sum(),
            point.loss,
            math.sqrt(float(np.sum(point.G**2))),
            float(rel.max()),
            0.0,
        )
        return rel

    record(start)
    V = gram.solve_exact()
    point = evaluate(checker, V)
    rel = record(point)
    solve = gram.exact_factor()
    n_iter = 1
    contracting = True

    def enough(new: Point) -> bool:
        """``to_tol``: the rows' gradient meets tol, each coefficient is within coefficient_tol."""
        if not to_tol or solve is None or not np.all(relative_norms(new.G, reference) <= tol):
            return False
        # in loop coordinates (V = s·W: each coefficient's relative error is the same as in the
        # user's units). No floor for coefficients that are exactly zero: they refine to
        # rounding (two passes more), since the certificate's own check, relative to each
        # coefficient, would otherwise flag them and hand the fit to the QR of the rows
        delta = np.asarray(solve(new.G), dtype=np.float64)  # V − V*
        error = np.abs(delta)
        best = np.abs(new.V - delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(error > 0, error / best, 0.0)
        relative[np.asarray(gram.constant)] = 0.0
        return bool(np.all(relative <= coefficient_tol))

    # to_tol: the Cholesky solve itself will do where the rows say it meets tol
    if solve is not None and refine_with is not None and not enough(point):
        best, best_rel = point, rel

        def step(new: Point, size: float) -> None:
            nonlocal rel, best, best_rel, n_iter
            n_iter += 1
            rel = record(new)
            if np.all(rel <= best_rel):
                best, best_rel = new, rel
            if verbose >= 2:
                print(f"[gradfit] refinement {n_iter - 1}: |correction|={size:.3e}")

        point, contracting, stalled = refine(checker, solve, point, max_refine, step, enough)
        if stalled:
            history.event(n_iter, "refinement", "corrections stopped shrinking")
        if not contracting:
            # corrections that stopped shrinking while large: keep the point of least gradient
            point, rel = best, best_rel
        # otherwise the last point: each correction was at most half the previous one, so it
        # is the closest; its relative gradient may be above an earlier one's by rounding alone
        # (at a few 1e-12, noise: choosing by it returned the unrefined solve, 1.5e-7 off)
    history.finish()
    worst = float(rel.max())
    curvature = gram.curvature()
    too_ill = not contracting or curvature.kappa * float(np.finfo(np.float64).eps) >= 0.5
    converged = bool(np.all(rel <= tol)) and not too_ill
    if too_ill:
        stop = (
            f"too ill-conditioned: κ = {curvature.kappa:.3g} of the normal equations; "
            f"refinement on the data does not contract (relative gradient norm {worst:.3g})"
        )
    else:
        formed = " (formed with float32 products)" if mixed else ""
        stop = (
            f"{'converged' if converged else 'exact'}: Cholesky solve of the normal equations"
            f"{formed} with {n_iter - 1} refinement step(s)"
            f"{' on the rows in float64' if mixed and n_iter > 1 else ''}; relative gradient "
            f"norm {worst:.3g}{' <= ' if converged else ' > '}tol={tol:g}"
        )
    if verbose:
        print(f"[gradfit] {stop}")
    W, b = gram.to_user(point.V)
    return SolveResult(
        W=W,
        intercept=b,
        V=point.V,
        n_iter=n_iter,
        history=history,
        converged=converged,
        stop_reason=stop,
        curvature=gram.curvature(),
        learning_rate=np.zeros(K),
        relative_grad_norm=rel,
        n_passes=gram.n_passes + (refine_with.n_passes if refine_with is not None else 0),
        method="exact",
    )
