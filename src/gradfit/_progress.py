r"""A small progress display for ``gradfit fit``, fed by ``GDRegressor.fit``'s callback.

Three modes:

``"bar"``
    On a terminal: one line redrawn in place (``\r``) at most every ``interval`` seconds,
    with the iteration, the loss, the relative gradient norm against ``tol``, a bar, the
    speed and an ETA.
``"lines"``
    Piped, with ``--verbose``: a plain line at the first iteration, then every
    ``line_interval`` seconds, and at the end.
``"off"``
    Nothing (piped without ``--verbose``, or ``--quiet``).

The ETA
-------
The stopping quantity, the relative gradient norm ``r``, falls roughly geometrically for
every method, so ``log r`` falls roughly linearly. The ETA is the number of iterations
left at the recent rate of decrease of ``log r`` to reach ``log tol`` (measured over the
last :data:`WINDOW` iterations), capped by the iterations left before ``max_iter``, times
the measured seconds per iteration. Before there is a rate (or while ``r`` does not fall)
the cap alone is used, and the ETA reads as an upper bound (``≤``).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["WINDOW", "Progress", "format_seconds"]

#: Iterations over which the rate of decrease of ``log r`` is measured.
WINDOW = 20
_BAR = 12


def format_seconds(seconds: float) -> str:
    """Seconds in a short human form.

    Examples
    --------
    >>> format_seconds(0.0123), format_seconds(4.56), format_seconds(75), format_seconds(7300)
    ('0.01s', '4.6s', '1m15s', '2h01m')
    """
    if not math.isfinite(seconds):
        return "?"
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


class Progress:
    """Callable progress display: pass it as ``fit(..., callback=progress)``.

    Parameters
    ----------
    stream : text file
        Where to write (``sys.stderr``).
    max_iter : int
    tol : float
    mode : {"bar", "lines", "off"}
    interval : float, default=0.1
        Least seconds between two redraws of the bar.
    line_interval : float, default=2.0
        Least seconds between two plain lines.
    clock : callable, default=time.monotonic

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> ticks = iter(range(100))
    >>> p = Progress(out, max_iter=100, tol=1e-6, mode="lines", clock=lambda: next(ticks))
    >>> for t in range(1, 5):
    ...     _ = p(t, {"loss": 1.0 / t, "relative_grad_norm": 10.0 ** -t, "learning_rate": 0.1})
    >>> p.close()
    >>> print(out.getvalue().rstrip())
    iteration 1/100: loss 1, relative gradient norm 0.1 (tol 1e-06), ETA ≤ 1m39s
    iteration 3/100: loss 0.3333333333, relative gradient norm 0.001 (tol 1e-06), ETA 3.0s
    iteration 4/100: loss 0.25, relative gradient norm 0.0001 (tol 1e-06), done in 5.0s
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        max_iter: int,
        tol: float,
        mode: str = "bar",
        interval: float = 0.1,
        line_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("bar", "lines", "off"):
            raise ValueError(f"mode={mode!r}: use 'bar', 'lines' or 'off'")
        self.stream = stream
        self.max_iter = max(int(max_iter), 1)
        self.tol = float(tol)
        self.mode = mode
        self.interval = interval
        self.line_interval = line_interval
        self.clock = clock
        self.start = clock()
        self.last_draw = -math.inf
        self.width = 0
        self.recent: deque[tuple[int, float]] = deque(maxlen=WINDOW + 1)
        self.iteration = 0
        self.info: dict[str, Any] = {}
        self.now = self.start
        self.drawn = False
        self.outcome = "done in"

    # -- the callback ---------------------------------------------------------------------
    def __call__(self, iteration: int, info: dict[str, Any]) -> bool:
        """Record one iteration and redraw if it is time; never stops the fit."""
        self.iteration = iteration
        self.info = info
        r = float(info.get("relative_grad_norm", math.nan))
        if r > 0 and math.isfinite(r):
            self.recent.append((iteration, math.log(r)))
        if self.mode == "off":
            return False
        self.now = self.clock()
        wait = self.interval if self.mode == "bar" else self.line_interval
        if not self.drawn or self.now - self.last_draw >= wait:
            self._draw(final=False)
        return False

    def close(self, outcome: str = "done in") -> None:
        """Draw the final state (and end the bar's line).

        Parameters
        ----------
        outcome : str, default="done in"
            Shown with the elapsed time in place of the ETA (``"stopped after"`` when the
            fit was interrupted or failed).
        """
        if self.mode == "off" or self.iteration == 0:
            return
        self.now = self.clock()
        self.outcome = outcome
        self._draw(final=True)
        if self.mode == "bar":
            self.stream.write("\n")
        self.stream.flush()

    # -- numbers ----------------------------------------------------------------------------
    def eta(self) -> tuple[float, bool]:
        """Seconds left and whether that is only the ``max_iter`` bound.

        Returns
        -------
        seconds : float
        bound_only : bool
            True when no rate of decrease is known yet, so the ETA is the time to
            ``max_iter`` (an upper bound).
        """
        elapsed = self.now - self.start
        if self.iteration <= 0:
            return math.inf, True
        per_iteration = elapsed / self.iteration
        left = self.max_iter - self.iteration
        bound_only = True
        if len(self.recent) >= 2 and self.tol > 0:
            (i0, l0), (i1, l1) = self.recent[0], self.recent[-1]
            rate = (l0 - l1) / (i1 - i0) if i1 > i0 else 0.0
            if rate > 0:
                needed = max(l1 - math.log(self.tol), 0.0) / rate
                if needed < left:
                    left, bound_only = math.ceil(needed), False
        return max(left, 0) * per_iteration, bound_only

    def fraction(self) -> float:
        """How far along: the larger of ``iteration/max_iter`` and ``log r / log tol``."""
        done = self.iteration / self.max_iter
        r = float(self.info.get("relative_grad_norm", math.nan))
        if 0 < self.tol < 1 and r > 0 and math.isfinite(r):
            done = max(done, math.log(r) / math.log(self.tol))
        return min(max(done, 0.0), 1.0)

    # -- drawing ----------------------------------------------------------------------------
    def _text(self, final: bool) -> str:
        loss = float(self.info.get("loss", math.nan))
        r = float(self.info.get("relative_grad_norm", math.nan))
        elapsed = self.now - self.start
        if final:
            when = f"{self.outcome} {format_seconds(elapsed)}"
        else:
            seconds, bound_only = self.eta()
            when = f"ETA {'≤ ' if bound_only else ''}{format_seconds(seconds)}"
        if self.mode == "lines":
            return (
                f"iteration {self.iteration}/{self.max_iter}: loss {loss:.10g}, relative "
                f"gradient norm {r:.3g} (tol {self.tol:g}), {when}"
            )
        filled = round(self.fraction() * _BAR)
        bar = "#" * filled + "." * (_BAR - filled)
        speed = self.iteration / elapsed if elapsed > 0 else math.inf
        if not math.isfinite(speed):
            rate = "- it/s"
        else:
            rate = f"{speed:.0f} it/s" if speed >= 10 else f"{speed:.2g} it/s"
        # most important first: a narrow terminal cuts the end of the line
        return (
            f"it {self.iteration:>{len(str(self.max_iter))}}/{self.max_iter}  loss {loss:.6e}  "
            f"‖G‖/‖G0‖ {r:.2e} → {self.tol:.0e}  {when}  [{bar}] {rate}"
        )

    def _draw(self, *, final: bool) -> None:
        text = self._text(final)
        self.last_draw = self.now
        self.drawn = True
        if self.mode == "lines":
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        columns = columns or shutil.get_terminal_size((120, 24)).columns
        text = text[: max(columns - 1, 20)]
        # Pad over what the previous, longer line left; no terminal escape codes needed.
        padding = " " * max(self.width - len(text), 0)
        self.width = len(text)
        self.stream.write("\r" + text + padding)
        self.stream.flush()
