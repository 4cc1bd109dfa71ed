"""Test problems built from an SVD, so their conditioning is known exactly."""

from __future__ import annotations

import numpy as np


def svd_problem(
    n: int,
    d: int,
    k: int = 1,
    *,
    cond: float = 10.0,
    seed: int = 0,
    noise: float = 0.1,
    offset: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) whose centred singular values span ``[√n/cond, √n]``, and Y = XW + b + noise.

    The centred X has rank ``min(n - 1, d)`` when ``offset`` (columns shifted
    by random means), else rank ``min(n, d)`` and no centring is implied.
    """
    rng = np.random.default_rng(seed)
    r = min(n - 1 if offset else n, d)
    A = rng.standard_normal((n, r))
    if offset:
        A -= A.mean(axis=0)
    U, _ = np.linalg.qr(A)
    Vt, _ = np.linalg.qr(rng.standard_normal((d, r)))
    s = np.sqrt(n) * np.logspace(0, -np.log10(cond), r)
    X = (U * s) @ Vt.T
    if offset:
        X += rng.uniform(-5, 5, size=d)
    W = rng.standard_normal((d, k))
    Y = X @ W + rng.uniform(-3, 3, size=k) + noise * rng.standard_normal((n, k))
    return X, Y
