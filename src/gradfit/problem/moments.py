r"""Streaming sufficient statistics: moments of row blocks that add up.

:func:`gradfit.problem.gram.sufficient_statistics` needs X in memory. Files and Dask
collections arrive as blocks (or partitions) instead, so here the same
accumulation is split into three steps:

1. :func:`block_moments` — the *unnormalised* raw sums of one block
   (``Σxxᵀ``, ``Σxyᵀ``, ``Σx``, ``Σy``, ``Σy²`` per output, ``Σy²`` of the raw
   targets and the row count), optionally about a shift;
2. :func:`add_moments` — sums of two blocks' moments (associative, so blocks
   may be reduced on different machines; callers add them in block order so
   that results do not depend on scheduling);
3. :func:`statistics_from_moments` — the centred ``H``, ``B``, ``yy`` and the
   means, in the dictionary :class:`~gradfit.problem.gram.GramProblem` takes.

When a column's ``mean²/variance`` exceeds
:data:`~gradfit.problem.gram.CANCELLATION_LIMIT` the raw form would cancel; then
:func:`needs_second_pass` says so and a second pass of :func:`block_moments`
about the means of the first gives the centred moments accurately — the same
rule as the in-memory engine.

``diagonal=True`` keeps only ``diag(Σxxᵀ)`` (for the data path, which needs the
columns' scales but not ``H``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .gram import cancels, centre, raw_sums

__all__ = [
    "Moments",
    "add_moments",
    "block_moments",
    "needs_second_pass",
    "statistics_from_moments",
    "sum_moments",
]

F64 = NDArray[np.float64]


class Moments(NamedTuple):
    """Unnormalised moments of some rows (about ``shift_x``/``shift_y`` when given)."""

    n: int
    Sxx: F64
    Sxy: F64
    Sx: F64
    Sy: F64
    Syy: F64
    Yraw: F64


def block_moments(
    X: NDArray[Any],
    Y: NDArray[Any],
    shift_x: F64 | None = None,
    shift_y: F64 | None = None,
    *,
    diagonal: bool = False,
) -> Moments:
    """Raw sums of one block of rows.

    Parameters
    ----------
    X : ndarray of shape (n, D)
    Y : ndarray of shape (n, K)
    shift_x, shift_y : ndarray, optional
        Accumulate about these (the second pass of a cancelling problem).
    diagonal : bool, default=False
        Keep only ``Σx²`` per column instead of ``Σxxᵀ``.

    Returns
    -------
    Moments

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]]); Y = np.array([[1.0], [2.0]])
    >>> m = block_moments(X, Y)
    >>> m.n, m.Sxx.tolist(), m.Sxy.ravel().tolist(), m.Sx.tolist()
    (2, [[10.0, 14.0], [14.0, 20.0]], [7.0, 10.0], [4.0, 6.0])
    """
    n = X.shape[0]
    if not diagonal:
        # on this thread (a Dask worker's, a file block's): X is read from memory once
        D, K = X.shape[1], Y.shape[1]
        Sxx, Sxy, Sx, Sy, Syy, Yraw = raw_sums(
            X,
            Y,
            None,
            np.zeros(D) if shift_x is None else np.asarray(shift_x, dtype=np.float64),
            np.zeros(K) if shift_y is None else np.asarray(shift_y, dtype=np.float64),
            parallel=False,
        )
        return Moments(n=int(n), Sxx=Sxx, Sxy=Sxy, Sx=Sx, Sy=Sy, Syy=Syy, Yraw=Yraw)
    if shift_x is not None and np.any(shift_x):
        Xb = np.subtract(X, shift_x, dtype=np.float64)
    else:
        Xb = np.asarray(X, dtype=np.float64)
    Y64 = np.asarray(Y, dtype=np.float64)
    Yb = Y64 - shift_y if shift_y is not None and np.any(shift_y) else Y64
    K = Y64.shape[1]
    Z = np.empty((n, K + 1))
    Z[:, :K] = Yb
    Z[:, K] = 1.0
    XZ = Xb.T @ Z
    Sxx = np.einsum("ij,ij->j", Xb, Xb) if diagonal else Xb.T @ Xb
    return Moments(
        n=int(n),
        Sxx=Sxx,
        Sxy=XZ[:, :K].copy(),
        Sx=XZ[:, K].copy(),
        Sy=Yb.sum(axis=0),
        Syy=np.einsum("ij,ij->j", Yb, Yb),
        Yraw=np.einsum("ij,ij->j", Y64, Y64),
    )


def add_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two sets of rows.

    Examples
    --------
    >>> X = np.arange(8.0).reshape(4, 2); Y = np.ones((4, 1))
    >>> m = add_moments(block_moments(X[:1], Y[:1]), block_moments(X[1:], Y[1:]))
    >>> bool(np.allclose(m.Sxx, X.T @ X)), m.n
    (True, 4)
    """
    return Moments(
        a.n + b.n,
        a.Sxx + b.Sxx,
        a.Sxy + b.Sxy,
        a.Sx + b.Sx,
        a.Sy + b.Sy,
        a.Syy + b.Syy,
        a.Yraw + b.Yraw,
    )


def sum_moments(parts: Iterable[Moments]) -> Moments:
    """Add moments in the order given (a fixed order gives reproducible sums)."""
    total: Moments | None = None
    for part in parts:
        total = part if total is None else add_moments(total, part)
    if total is None or total.n == 0:
        raise GradfitInputError("the data has no rows; a fit needs at least one row.")
    return total


def needs_second_pass(m: Moments, fit_intercept: bool = True) -> bool:
    """Whether centring the raw moments would lose more than three digits.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(100, 2)); Y = X[:, :1]
    >>> needs_second_pass(block_moments(X, Y)), needs_second_pass(block_moments(X + 1e6, Y))
    (False, True)
    """
    if not fit_intercept:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        diag = np.diag(m.Sxx) if m.Sxx.ndim == 2 else m.Sxx
        return cancels(diag / m.n, m.Sx / m.n, m.Syy / m.n, m.Sy / m.n)


def statistics_from_moments(
    first: Moments, second: Moments | None = None, *, fit_intercept: bool = True
) -> dict[str, Any]:
    """The statistics dictionary of :func:`~gradfit.problem.gram.sufficient_statistics`.

    Parameters
    ----------
    first : Moments
        Raw moments (about zero) of all rows.
    second : Moments, optional
        Moments about the first pass's means (when :func:`needs_second_pass`).
    fit_intercept : bool, default=True

    Returns
    -------
    dict
        ``H`` (D, D) — or ``H_diag`` (D,) for diagonal moments — ``B``, ``yy``,
        ``yy_raw``, ``x_offset``, ``y_offset``, ``x_mean``, ``y_mean``, ``N``, ``passes``.

    Examples
    --------
    >>> from gradfit.problem.gram import sufficient_statistics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)) + 1e4; Y = rng.normal(size=(300, 1))
    >>> m = sum_moments(block_moments(X[i:i + 70], Y[i:i + 70]) for i in range(0, 300, 70))
    >>> shift = (m.Sx / m.n, m.Sy / m.n)
    >>> m2 = sum_moments(block_moments(X[i:i + 70], Y[i:i + 70], *shift) for i in range(0, 300, 70))
    >>> s = statistics_from_moments(m, m2)
    >>> ref = sufficient_statistics(X, Y)
    >>> s["passes"], bool(np.allclose(s["H"], ref["H"], rtol=1e-12))
    (2, True)
    """
    N = first.n
    D = first.Sx.shape[0]
    K = first.Sy.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        yraw = first.Yraw / N
        if second is not None and fit_intercept:
            shift_x, shift_y = first.Sx / N, first.Sy / N
            m = second
            passes = 2
        else:
            shift_x, shift_y = np.zeros(D), np.zeros(K)
            m = first
            passes = 1
        H, B, yy, dx, dy = centre(
            m.Sxx / N, m.Sxy / N, m.Sx / N, m.Sy / N, m.Syy / N, fit_intercept
        )
    out: dict[str, Any] = {"H" if H.ndim == 2 else "H_diag": H}
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(B)) and np.all(np.isfinite(yraw))):
        raise GradfitInputError.overflow()
    out.update(
        B=B,
        yy=yy,
        yy_raw=yraw,
        x_offset=shift_x + dx,
        y_offset=shift_y + dy,
        x_mean=shift_x + m.Sx / N,
        y_mean=shift_y + m.Sy / N,
        N=N,
        passes=passes,
    )
    return out
