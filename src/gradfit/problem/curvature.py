r"""Curvature of the objective: the largest and smallest eigenvalues of its Hessian.

The Hessian of ``f`` in loop coordinates is ``A = S⁻¹(X_cᵀ Ω X_c + αI)S⁻¹``; for
the plain problem that is ``XᵀX/N + αI``. Its largest eigenvalue ``L`` is the
Lipschitz constant of the gradient: plain gradient descent is stable iff
``0 < lr < 2/L`` and ``lr = 1/L`` is the safe automatic choice. The ratio
``κ = L/μ`` predicts how many iterations a method needs (GD ~ κ·ln(1/ε),
accelerated methods and CG ~ √κ·ln(1/ε)).

Both are estimated by the Lanczos method with full reorthogonalisation, using
only Hessian-vector products — i.e. passes over the very data the loop sees,
never a D×D matrix. Lanczos finds the top eigenvalue far faster than power
iteration (its error shrinks like that of a Chebyshev polynomial), and with
``D`` steps it is exact up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["CurvatureEstimate", "lanczos_extremes"]


class CurvatureEstimate(NamedTuple):
    """Result of :func:`lanczos_extremes`.

    Attributes
    ----------
    L : float
        Upper estimate of the largest eigenvalue (Ritz value plus its residual bound).
    mu : float
        Smallest Ritz value, an upper estimate of the smallest eigenvalue
        (exact when ``exact`` is True); 0 for singular problems.
    n_matvec : int
        Hessian-vector products used (each one pass over the data).
    exact : bool
        True when the Krylov space became invariant (all of the spectrum seen).
    """

    L: float
    mu: float
    n_matvec: int
    exact: bool

    @property
    def kappa(self) -> float:
        """Estimated condition number ``L/μ`` (inf when singular)."""
        if self.mu <= 0.0:
            return float("inf")
        return self.L / self.mu


def lanczos_extremes(
    matvec: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    dim: int,
    *,
    max_steps: int = 40,
    rtol: float = 1e-6,
    min_steps: int = 40,
    seed: int = 0,
) -> CurvatureEstimate:
    """Estimate the extreme eigenvalues of a symmetric positive semi-definite operator.

    Parameters
    ----------
    matvec : callable
        ``v ↦ A v`` for ``v`` of shape (dim, 1).
    dim : int
        Dimension of the operator.
    max_steps : int, default=40
        Largest Krylov dimension (matrix-vector products).
    rtol : float, default=1e-6
        Stop early when the top Ritz value is this close to an eigenvalue
        (relative residual bound) and ``min_steps`` were taken.
    min_steps : int, default=40
        Steps to take before stopping on ``rtol``: the smallest eigenvalue
        (hence ``κ``) converges far more slowly than the largest.
    seed : int, default=0
        Seed of the start vector. Fixed by default so that ``L`` — and hence
        the learning rate and every iterate — is the same on every run.

    Returns
    -------
    CurvatureEstimate

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 10.0])
    >>> est = lanczos_extremes(lambda v: A @ v, 3)
    >>> round(est.L, 10), round(est.mu, 10), est.exact
    (10.0, 1.0, True)
    """
    rng = np.random.default_rng(seed)
    steps = min(max_steps, dim)
    Q = np.zeros((dim, steps + 1))
    alphas: list[float] = []
    betas: list[float] = []
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    Q[:, 0] = q
    n_matvec = 0
    exact = False
    L_est = 0.0
    mu_est = 0.0
    for k in range(steps):
        w = matvec(Q[:, k : k + 1])[:, 0].astype(np.float64)
        n_matvec += 1
        a = float(Q[:, k] @ w)
        alphas.append(a)
        # Full reorthogonalisation (twice is enough): keeps Ritz values honest.
        for _ in range(2):
            w -= Q[:, : k + 1] @ (Q[:, : k + 1].T @ w)
        b = float(np.linalg.norm(w))
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        theta, S = np.linalg.eigh(T)
        top = float(theta[-1])
        scale = max(abs(top), float(np.max(np.abs(alphas))), np.finfo(float).tiny)
        residual = abs(b * S[-1, -1])
        L_est = top + residual
        mu_est = max(float(theta[0]), 0.0)
        if b <= 1e-12 * scale or k + 1 == dim:
            exact = True
            L_est = top
            break
        if residual <= rtol * scale and k + 1 >= min_steps:
            break
        betas.append(b)
        Q[:, k + 1] = w / b
    if exact and mu_est <= 1e-13 * max(L_est, np.finfo(float).tiny):
        mu_est = 0.0
    return CurvatureEstimate(L=max(L_est, 0.0), mu=mu_est, n_matvec=n_matvec, exact=exact)
