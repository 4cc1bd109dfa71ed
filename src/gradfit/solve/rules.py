r"""Update rules: small functions of (point, state) → (next point, state).

Each rule is a frozen dataclass of hyper-parameters with three methods, in the
spirit of optax's ``(init, update)`` pairs:

* ``init(point)`` — the rule's state at a starting point (no momentum);
* ``step(point, state, lr, active, oracle)`` — the next point, its state,
  which outputs had momentum (anything but a plain gradient step) in the
  step, and the step size taken;
* ``reset(state, point, mask)`` — the state with the momentum of the masked
  outputs dropped at ``point`` (after a rejected step);
* ``default_lr(L, mu)`` — the learning rate ``"auto"`` means for this rule.

Every output is an independent problem sharing X, so all of this works
column by column: ``lr`` is one value per output and a rejected step is
undone for the outputs whose loss rose only. A *point* carries the loop
coordinates ``V``, the loss per output and the gradient there. ``active``
(one flag per output) freezes outputs that have already converged, so a
K-output fit takes exactly the steps of K separate fits. The loop
(``_loop.solve``) owns everything else: stopping, the divergence guard,
history.

Rules
-----
gd
    ``V ← V − lr·G`` — the seed's loop. Stable iff ``lr < 2/L``; ``"auto"`` is ``1/L``.
momentum
    Heavy ball, ``V ← V − lr·G + β(V − V_prev)`` with ``lr = 1/L`` and
    ``β = (1 − 1/√κ)²`` from the estimated curvature: for a quadratic this
    makes every mode contract at least like ``(1 − 1/√κ)^t`` while the first
    step (which has no momentum yet) stays a safe gradient step. (Polyak's
    ``4/(√L+√μ)²`` is nearly ``4/L``, unstable without momentum.)
nesterov
    Accelerated gradient (FISTA momentum ``(t_k−1)/t_{k+1}``) with the
    gradient-based adaptive restart of O'Donoghue & Candès (2015); ``"auto"`` is ``1/L``.
cg
    Linear conjugate gradient on the normal equations, one Hessian-vector
    product per step and one independent line search per output; the
    gradient is updated recursively and recomputed exactly every
    ``refresh`` steps and before any stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

__all__ = ["CG", "GD", "METHODS", "RULES", "HeavyBall", "Nesterov", "Oracle", "Point"]


class Oracle(Protocol):
    """What a rule may ask of the problem."""

    def loss_grad(self, V: F64) -> tuple[F64, F64]:
        """Loss per output and gradient at ``V``."""
        ...

    def hvp(self, P: F64) -> F64:
        """Hessian times ``P``."""
        ...


class Point(NamedTuple):
    """An iterate with its loss per output and gradient (``exact`` False if recursive)."""

    V: F64
    loss: F64
    G: F64
    exact: bool = True


def evaluate(oracle: Oracle, V: F64) -> Point:
    """Evaluate the oracle at ``V``."""
    loss, G = oracle.loss_grad(V)
    return Point(V, loss, G, True)


def _colwise_dot(A: F64, B: F64) -> F64:
    return np.einsum("ij,ij->j", A, B)


Bool = NDArray[np.bool_]


@dataclass(frozen=True)
class GD:
    """Plain gradient descent, the seed's update."""

    name: str = "gd"
    uses_lr: bool = True

    def default_lr(self, L: float, mu: float) -> float:
        """``1/L``: the largest step with a guaranteed monotone decrease bound."""
        return 1.0 / L

    def init(self, point: Point) -> Any:
        """No state."""
        return None

    def reset(self, state: Any, point: Point, mask: Bool) -> Any:
        """No state."""
        return None

    def step(
        self, point: Point, state: Any, lr: F64, active: Bool, oracle: Oracle
    ) -> tuple[Point, Any, Bool, F64]:
        """One gradient step on the active outputs."""
        V = point.V - (lr * active) * point.G
        return evaluate(oracle, V), None, np.zeros(active.shape, bool), lr


@dataclass(frozen=True)
class HeavyBall:
    """Polyak's heavy-ball momentum with function-value restart."""

    beta: float | None = None
    name: str = "momentum"
    uses_lr: bool = True

    def default_lr(self, L: float, mu: float) -> float:
        """``1/L``."""
        return 1.0 / L

    def momentum(self, L: float, mu: float) -> float:
        """``β = (1 − 1/√κ)²``, with κ capped at 1e12 so that β < 1."""
        if self.beta is not None:
            return self.beta
        kappa = min(L / mu, 1e12) if mu > 0 else 1e12
        return (1.0 - 1.0 / math.sqrt(max(kappa, 1.0))) ** 2

    def configure(self, L: float, mu: float) -> HeavyBall:
        """Fix ``β`` from the estimated curvature."""
        return HeavyBall(beta=self.momentum(L, mu))

    def init(self, point: Point) -> Any:
        """Previous iterate = current one (no momentum)."""
        return point.V

    def reset(self, state: Any, point: Point, mask: Bool) -> Any:
        """Forget the velocity of the masked outputs."""
        return np.where(mask, point.V, state)

    def step(
        self, point: Point, state: Any, lr: F64, active: Bool, oracle: Oracle
    ) -> tuple[Point, Any, Bool, F64]:
        """``V − lr·G + β(V − V_prev)`` on the active outputs."""
        beta = self.beta or 0.0
        velocity = point.V - state
        used = active & (beta > 0) & np.any(velocity != 0, axis=0)
        V = point.V + (-lr * point.G + beta * velocity) * active
        return evaluate(oracle, V), point.V, used, lr


@dataclass(frozen=True)
class Nesterov:
    """Nesterov's accelerated gradient with adaptive (gradient) restart."""

    name: str = "nesterov"
    uses_lr: bool = True

    def default_lr(self, L: float, mu: float) -> float:
        """``1/L``."""
        return 1.0 / L

    def init(self, point: Point) -> Any:
        """``(x_prev, t)`` with ``t = 1`` per output: no momentum yet."""
        return point.V, np.ones(point.V.shape[1])

    def reset(self, state: Any, point: Point, mask: Bool) -> Any:
        """Restart the masked outputs at ``point``."""
        x_prev, t = state
        return np.where(mask, point.V, x_prev), np.where(mask, 1.0, t)

    def step(
        self, point: Point, state: Any, lr: F64, active: Bool, oracle: Oracle
    ) -> tuple[Point, Any, Bool, F64]:
        """Gradient step from the extrapolated point, then extrapolate again."""
        x_prev, t = state
        x_new = point.V - (lr * active) * point.G
        # Restart an output's momentum when its gradient points along the last move.
        restart = _colwise_dot(point.G, x_new - x_prev) > 0
        t = np.where(restart, 1.0, t)
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        coef = np.where(active, (t - 1.0) / t_next, 0.0)
        y_new = x_new + coef * (x_new - x_prev)
        used = coef > 0
        return evaluate(oracle, y_new), (x_new, np.where(active, t_next, t)), used, lr


@dataclass(frozen=True)
class CG:
    """Linear conjugate gradient (CGNR), one line search per output."""

    refresh: int = 50
    name: str = "cg"
    uses_lr: bool = False

    def default_lr(self, L: float, mu: float) -> float:
        """CG chooses its own steps; ``1/L`` is reported only for reference."""
        return 1.0 / L

    def init(self, point: Point) -> Any:
        """Direction ``−G``, ``‖G‖²`` per output, steps since the last refresh, fresh flags."""
        K = point.V.shape[1]
        return -point.G, _colwise_dot(point.G, point.G), 0, np.ones(K, bool)

    def reset(self, state: Any, point: Point, mask: Bool) -> Any:
        """Steepest descent again for the masked outputs."""
        P, gg, since, fresh = state
        return (
            np.where(mask, -point.G, P),
            np.where(mask, _colwise_dot(point.G, point.G), gg),
            since,
            fresh | mask,
        )

    def step(
        self, point: Point, state: Any, lr: F64, active: Bool, oracle: Oracle
    ) -> tuple[Point, Any, Bool, F64]:
        """Exact line search along P, then the next conjugate direction."""
        P, gg, since, fresh = state
        AP = oracle.hvp(P)
        pAp = _colwise_dot(P, AP)
        ok = active & (pAp > 0) & (gg > 0)
        # Exact minimiser of f along P: a = ‖G‖²/(Pᵀ A P) (= −GᵀP/PᵀAP for conjugate P).
        a = np.where(ok, gg / np.where(ok, pAp, 1.0), 0.0)
        V = point.V + a * P
        since += 1
        if since >= self.refresh:
            new = evaluate(oracle, V)
            since = 0
        else:
            G = point.G + a * AP
            loss = point.loss + a * _colwise_dot(point.G, P) + 0.5 * a * a * pAp
            new = Point(V, loss, G, False)
        gg_new = _colwise_dot(new.G, new.G)
        beta = np.where(ok, gg_new / np.where(gg > 0, gg, 1.0), 0.0)
        P_new = np.where(active, -new.G + beta * P, 0.0)
        used = active & ~fresh
        return new, (P_new, gg_new, since, fresh & ~active), used, a


SCHEDULES = ("invscaling", "constant")


@dataclass(frozen=True)
class SGD:
    """Mini-batch stochastic gradient descent; one loop iteration is one epoch.

    Each epoch visits the rows once in an order drawn from ``rng`` (batches of
    ``batch_size`` rows) and takes one step per batch along the batch's
    unbiased gradient estimate. Step ``t`` (counted over all epochs, and across
    ``partial_fit`` calls) uses ``lr_t = lr / sqrt(1 + t/T)`` with ``T`` the
    number of batches in one epoch (``schedule="invscaling"``), or ``lr``
    (``"constant"``). With ``average=True`` the reported iterate is the
    running (Polyak–Ruppert) average of the epoch's iterates, which removes
    most of the noise. At the end of each epoch the full loss and gradient
    are evaluated (one pass) for the loop's stopping rule and guard; a rise of
    less than 2× is treated as noise (the average restarts), a larger one as
    divergence.
    """

    batch_size: int = 256
    schedule: str = "invscaling"
    average: bool = True
    name: str = "sgd"
    uses_lr: bool = True

    def default_lr(self, L: float, mu: float) -> float:
        """``1/L`` (the loop replaces it by the batch-aware bound when it can)."""
        return 1.0 / L

    def init(self, point: Point) -> Any:
        """``(running V, steps taken, rng)``; the rng is attached by the loop."""
        return point.V.copy(), 0, None

    def reset(self, state: Any, point: Point, mask: Bool) -> Any:
        """Continue from ``point`` for the masked outputs."""
        V, t, rng = state
        return np.where(mask, point.V, V), t, rng

    def rate(self, lr: F64, t: int, per_epoch: int) -> F64:
        """Step size at step ``t``."""
        if self.schedule == "constant":
            return lr
        return lr / math.sqrt(1.0 + t / max(per_epoch, 1))

    def step(
        self, point: Point, state: Any, lr: F64, active: Bool, oracle: Any
    ) -> tuple[Point, Any, Bool, F64]:
        """One epoch of mini-batch steps, then a full evaluation."""
        V, t, rng = state
        V = V.copy()
        N = oracle.N
        size = max(1, min(int(self.batch_size), N))
        order = rng.permutation(N)
        per_epoch = (N + size - 1) // size
        total = np.zeros_like(V)
        count = 0
        last = lr
        for start in range(0, N, size):
            rows = np.sort(order[start : start + size])
            last = self.rate(lr, t, per_epoch)
            V -= (last * active) * oracle.batch_grad(V, rows)
            t += 1
            total += V
            count += 1
        out = total / count if self.average else V
        new = evaluate(oracle, np.where(active, out, point.V))
        noisy = active & (new.loss <= 2.0 * point.loss)
        return new, (V, t, rng), noisy, last


RULES: dict[str, type] = {
    "gd": GD,
    "momentum": HeavyBall,
    "nesterov": Nesterov,
    "cg": CG,
    "sgd": SGD,
}

#: Every ``method=`` of GDRegressor: the rules, and the normal equations solved exactly.
METHODS = (*RULES, "exact")
