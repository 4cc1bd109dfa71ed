"""The training history: one row per iteration, plus the events that explain it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Event", "History"]


@dataclass(frozen=True)
class Event:
    """Something the loop did besides a plain step.

    Attributes
    ----------
    iteration : int
        The iteration at which it happened.
    kind : str
        ``"rollback"`` (the loss rose; weights restored, step halved),
        ``"restart"`` (momentum reset after the loss rose),
        ``"refresh"`` (a recursively updated gradient was recomputed exactly),
        ``"stalled"`` (no further decrease is possible in floating point),
        ``"refinement"`` (``exact``: a correction stopped helping),
        ``"resume"`` (the fit continued from a checkpoint).
    message : str
        The numbers behind it, in words.
    """

    iteration: int
    kind: str
    message: str


@dataclass
class History:
    """Per-iteration record of a fit (``GDRegressor.history_``).

    Row ``t`` describes the accepted iterate after ``t`` steps (row 0 is the
    starting point). ``loss`` is the objective ``f`` (half the mean squared
    error plus the penalty; MSE = 2·f when ``alpha=0``), ``grad_norm`` the
    Frobenius norm of the gradient, ``relative_grad_norm`` the stopping
    quantity ``max_k ‖G_k‖/‖G_k(0)‖`` and ``learning_rate`` the step used to
    reach the row (for ``cg`` the exact line-search step, averaged over outputs).

    Examples
    --------
    >>> h = History()
    >>> h.append(0.5, np.array([0.5]), 1.0, 1.0, 0.0)
    >>> h.append(0.25, np.array([0.25]), 0.5, 0.5, 0.1)
    >>> h.finish()
    >>> h.loss
    array([0.5 , 0.25])
    >>> len(h)
    2
    """

    loss: Any = field(default_factory=list)
    loss_per_output: Any = field(default_factory=list)
    grad_norm: Any = field(default_factory=list)
    relative_grad_norm: Any = field(default_factory=list)
    learning_rate: Any = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def append(
        self,
        loss: float,
        loss_per_output: NDArray[np.float64],
        grad_norm: float,
        relative_grad_norm: float,
        learning_rate: float,
    ) -> None:
        """Record one accepted iterate."""
        self.loss.append(float(loss))
        self.loss_per_output.append(np.array(loss_per_output, dtype=np.float64))
        self.grad_norm.append(float(grad_norm))
        self.relative_grad_norm.append(float(relative_grad_norm))
        self.learning_rate.append(float(learning_rate))

    def replace_last(
        self,
        loss: float,
        loss_per_output: NDArray[np.float64],
        grad_norm: float,
        relative_grad_norm: float,
    ) -> None:
        """Overwrite the last row after :meth:`finish` (a final step that is no iteration).

        Examples
        --------
        >>> h = History()
        >>> h.append(0.5, np.array([0.5]), 1.0, 1.0, 0.0); h.finish()
        >>> h.replace_last(0.25, np.array([0.25]), 0.5, 0.5)
        >>> h.loss
        array([0.25])
        """
        self.loss[-1] = float(loss)
        self.loss_per_output[-1] = np.asarray(loss_per_output, dtype=np.float64)
        self.grad_norm[-1] = float(grad_norm)
        self.relative_grad_norm[-1] = float(relative_grad_norm)

    def event(self, iteration: int, kind: str, message: str) -> None:
        """Record an event at ``iteration``."""
        self.events.append(Event(iteration, kind, message))

    def finish(self) -> None:
        """Turn the recorded lists into arrays (called once at the end of a fit)."""
        self.loss = np.asarray(self.loss, dtype=np.float64)
        self.loss_per_output = np.asarray(self.loss_per_output, dtype=np.float64)
        self.grad_norm = np.asarray(self.grad_norm, dtype=np.float64)
        self.relative_grad_norm = np.asarray(self.relative_grad_norm, dtype=np.float64)
        self.learning_rate = np.asarray(self.learning_rate, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python lists and dicts, ready for :func:`json.dumps`."""
        return {
            "loss": np.asarray(self.loss).tolist(),
            "loss_per_output": np.asarray(self.loss_per_output).tolist(),
            "grad_norm": np.asarray(self.grad_norm).tolist(),
            "relative_grad_norm": np.asarray(self.relative_grad_norm).tolist(),
            "learning_rate": np.asarray(self.learning_rate).tolist(),
            "events": [vars(e) for e in self.events],
        }

    def to_json(self) -> str:
        """The history as a JSON string."""
        return json.dumps(self.to_dict())

    def to_text(self) -> str:
        """A readable summary: rows, first and last loss and gradient norm, the events.

        Examples
        --------
        >>> from gradfit import GDRegressor
        >>> X = np.random.default_rng(0).normal(size=(20, 2)); y = X @ [1.0, 2.0]
        >>> print(GDRegressor(method="exact").fit(X, y).history_.to_text().splitlines()[0])
        history of 2 rows (iterations 0..1)
        """
        n = len(self)
        lines = [f"history of {n} rows" + (f" (iterations 0..{n - 1})" if n else "")]
        if n:
            lines.append(f"  loss: {self.loss[0]:.6g} → {self.loss[-1]:.6g}")
            rel = np.asarray(self.relative_grad_norm)
            if rel.size:
                lines.append(f"  relative gradient norm: {rel[0]:.3g} → {rel[-1]:.3g}")
        if self.events:
            lines.append(f"  events ({len(self.events)}):")
            lines += [f"    iteration {e.iteration}: {e.kind}: {e.message}" for e in self.events]
        else:
            lines.append("  no events")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self) -> str:
        """:meth:`to_text` as HTML (escaped)."""
        from html import escape

        return f"<div class='gradfit-history'><pre>{escape(self.to_text())}</pre></div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        n = len(self)
        last = f", final loss {self.loss[-1]:.6g}" if n else ""
        return f"History({n} rows{last}, {len(self.events)} events)"
