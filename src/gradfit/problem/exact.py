"""The exact least-squares solution, the reference every gradient method is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["exact_solution"]


def exact_solution(
    X: NDArray[Any],
    Y: NDArray[Any],
    *,
    fit_intercept: bool = True,
    alpha: float = 0.0,
    sample_weight: NDArray[Any] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Minimum-norm minimiser of gradfit's objective by an SVD-based least-squares solve.

    Solves ``min_W ½ Σ ω_i ‖x_i W + b − y_i‖² + (α/2)‖W‖²`` with the intercept
    ``b`` eliminated by weighted centring and the penalty written as ``√(α)·I``
    extra rows; ``numpy.linalg.lstsq`` returns the minimum-norm solution when
    the problem is singular. It builds a centred copy of X, so it is meant for
    data that fits in memory comfortably.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    Y : ndarray of shape (N, K)
    fit_intercept : bool, default=True
    alpha : float, default=0.0
    sample_weight : ndarray of shape (N,), optional

    Returns
    -------
    W : ndarray of shape (D, K)
    b : ndarray of shape (K,)

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]]); Y = np.array([[1.0], [3.0], [5.0]])
    >>> W, b = exact_solution(X, Y)
    >>> np.round(W, 12), np.round(b, 12)
    (array([[2.]]), array([1.]))
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    N, D = X.shape
    omega = np.full(N, 1.0 / N) if sample_weight is None else sample_weight / np.sum(sample_weight)
    x_mean = omega @ X if fit_intercept else np.zeros(D)
    y_mean = omega @ Y if fit_intercept else np.zeros(Y.shape[1])
    root = np.sqrt(omega)[:, None]
    A = (X - x_mean) * root
    B = (Y - y_mean) * root
    if alpha > 0:
        A = np.vstack([A, np.sqrt(alpha) * np.eye(D)])
        B = np.vstack([B, np.zeros((D, Y.shape[1]))])
    W = np.linalg.lstsq(A, B, rcond=None)[0]
    return W, y_mean - x_mean @ W
