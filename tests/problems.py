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


def standardised_lstsq(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, fit_intercept: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """lstsq on the centred, unit-scaled (weighted) rows: ``(V, s, x̄, ȳ, A, t)``.

    ``V`` minimises ``‖A·V − t‖`` with ``A = √ω·(X − x̄)/s`` and ``t = √ω·(y − ȳ)``, so the
    coefficients in the user's units are ``V/s`` and the intercept ``ȳ − x̄·V/s``. With an
    intercept, the intercept's column (``√ω``) stands beside the centred ones, as in gradfit's
    QR: the rounding of the means ``x̄`` shifts each centred column by a constant, which that
    column absorbs (without it, means 1e4 times the spread put 6e-6 into the reference at
    κ = 2.4e6, where a long-double solve agreed with gradfit to 1e-10).
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    w = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
    xm = w @ X if fit_intercept else np.zeros(X.shape[1])
    ym = float(w @ y) if fit_intercept else 0.0
    s = np.sqrt(w @ (X - xm) ** 2)
    A = (X - xm) / s * np.sqrt(w)[:, None]
    t = (y - ym) * np.sqrt(w)
    if fit_intercept:
        V = np.linalg.lstsq(np.column_stack([np.sqrt(w), A]), t, rcond=None)[0][1:]
    else:
        V = np.linalg.lstsq(A, t, rcond=None)[0]
    return V, s, xm, ym, A, t
