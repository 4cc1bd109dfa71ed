r"""The objective: the one place where the loss and its gradient are written down.

For features ``X`` (N, D), targets ``Y`` (N, K), weights ``W`` (D, K), intercept
``b`` (K,) and sample weights normalised to ``ω_i = s_i / Σ s`` (``ω_i = 1/N``
without sample weights)::

    f(W, b) = ½ Σ_i ω_i ‖x_i W + b − y_i‖² + (α/2) ‖W‖²

With ``ω_i = 1/N`` this is ``‖XW − Y‖²/(2N) + (α/2)‖W‖²``, whose gradient is::

    G = Xᵀ(XW − Y)/N + αW

— the seed's ``gradient`` with the sign flipped: the seed writes ``W += lr·gradient``
because its ``gradient`` is the descent direction ``−G``. The ½ is why the seed's
line is exactly a gradient (plain MSE would bring a factor 2).

The intercept is never penalised, so for any ``W`` its best value is known in
closed form, ``b(W) = ȳ − x̄W`` (weighted means). Substituting it leaves a
problem in ``W`` alone on implicitly centred data: residuals are
``r_i = x_i W − y_i + (ȳ − x̄W)`` and the gradient is
``Xᵀ Ω r − x̄ᵀ (Σ ω r)``; no centred copy of X is ever made.

Standardisation is a change of variables ``W = V / s`` with ``s_j`` the (weighted,
centred) root mean square of column j — i.e. Jacobi preconditioning. The loss,
the penalty and therefore the solution are unchanged; only the path and the
speed differ. The loop sees ``V`` and the gradient ``G_V = G_W / s``.

The gradient is a sum over rows, so it is accumulated over row blocks:
``G = Σ_b X_bᵀ Ω_b r_b``. Each block of X is read once per evaluation while its
residual is formed and consumed, and no temporary larger than a block's
residual (N_b × K) is created.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError

__all__ = ["LeastSquaresProblem"]

F64 = NDArray[np.float64]

#: Target size of one row block of X, in bytes.
BLOCK_BYTES = 1 << 24


class LeastSquaresProblem:
    """Regularised multi-output least squares seen by the solve loop.

    Parameters
    ----------
    X : ndarray of shape (N, D), float32 or float64
        Features; used in place, never copied.
    Y : ndarray of shape (N, K)
        Targets.
    sample_weight : ndarray of shape (N,), optional
        Non-negative row weights; normalised to sum to one.
    fit_intercept : bool, default=True
        Eliminate an unpenalised intercept ``b = ȳ − x̄W``.
    standardize : bool, default=True
        Precondition by the columns' root mean square (solution unchanged).
    alpha : float, default=0.0
        L2 penalty strength on ``W`` (never on the intercept).
    block_rows : int, optional
        Rows per block of the gradient pass; chosen from :data:`BLOCK_BYTES`
        when omitted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); Y = X @ np.ones((3, 1))
    >>> problem = LeastSquaresProblem(X, Y, fit_intercept=False, standardize=False)
    >>> loss, G = problem.loss_grad(np.zeros((3, 1)))
    >>> bool(np.allclose(G, -X.T @ Y / 100))
    True
    """

    def __init__(
        self,
        X: NDArray[Any],
        Y: NDArray[Any],
        *,
        sample_weight: F64 | None = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
        block_rows: int | None = None,
    ) -> None:
        if X.dtype not in (np.float32, np.float64):
            raise TypeError(f"X must be float32 or float64, got {X.dtype}")
        self.X = X
        self.dtype = X.dtype
        self.N, self.D = X.shape
        self.K = Y.shape[1]
        self.Y = np.asarray(Y, dtype=self.dtype)
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        if block_rows is None:
            block_rows = max(1, BLOCK_BYTES // max(1, self.D * X.dtype.itemsize))
        self.block_rows = int(block_rows)
        self.blocks = [
            (start, min(start + self.block_rows, self.N))
            for start in range(0, self.N, self.block_rows)
        ]
        if sample_weight is None:
            self.omega: F64 | None = None
        else:
            sw = np.asarray(sample_weight, dtype=np.float64)
            self.omega = sw / sw.sum()
        self._omega_c = None if self.omega is None else self.omega.astype(self.dtype)
        Y64 = np.asarray(Y, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            self._statistics(Y64)

    def _statistics(self, Y64: F64) -> None:
        if self.fit_intercept:
            self.x_offset = self._column_means()
            self.y_offset = (Y64.mean(axis=0) if self.omega is None else self.omega @ Y64).astype(
                np.float64
            )
        else:
            self.x_offset = np.zeros(self.D)
            self.y_offset = np.zeros(self.K)
        self.x_rms = self._column_rms()
        if self.standardize:
            scale = self.x_rms.copy()
            scale[scale <= np.finfo(np.float64).tiny] = 1.0
            self.x_scale = scale
        else:
            self.x_scale = np.ones(self.D)
        Yc = Y64 - self.y_offset
        per_row = Yc * Yc if self.omega is None else Yc * Yc * self.omega[:, None]
        reduce = np.mean if self.omega is None else np.sum
        #: Loss of the zero model (the intercept alone), per output.
        self.loss_at_zero = 0.5 * reduce(per_row, axis=0)
        #: Half the weighted mean square of the raw targets: the scale of rounding in the loss.
        raw = Y64 * Y64 if self.omega is None else Y64 * Y64 * self.omega[:, None]
        self.target_scale = 0.5 * reduce(raw, axis=0)
        self.n_passes = 0
        if not (
            np.all(np.isfinite(self.x_rms))
            and np.all(np.isfinite(self.target_scale))
            and np.all(np.isfinite(self.x_offset))
        ):
            raise GradfitInputError(
                "the data's magnitude overflows float64 arithmetic (largest |X| = "
                f"{np.max(np.abs(self.X)):.3g}, largest |y| = {np.max(np.abs(Y64)):.3g}): "
                "squares of these values are not representable. Fix: rescale X and y, e.g. "
                "divide each column by its largest absolute value, and fit again."
            )

    # -- one-time statistics -------------------------------------------------
    def _column_means(self) -> F64:
        total = np.zeros(self.D)
        for start, stop in self.blocks:
            Xb = self.X[start:stop]
            if self._omega_c is None:
                total += Xb.sum(axis=0, dtype=np.float64)
            else:
                total += self._omega_c[start:stop] @ Xb
        return total / self.N if self.omega is None else total

    def _column_rms(self) -> F64:
        """Weighted root mean square of the (centred, if fitting an intercept) columns."""
        total = np.zeros(self.D)
        offset = self.x_offset.astype(self.dtype)
        for start, stop in self.blocks:
            Xb = self.X[start:stop] - offset if self.fit_intercept else self.X[start:stop]
            if self._omega_c is None:
                total += np.einsum("ij,ij->j", Xb, Xb, dtype=np.float64)
            else:
                total += np.einsum(
                    "ij,ij,i->j", Xb, Xb, self._omega_c[start:stop], dtype=np.float64
                )
        if self.omega is None:
            total /= self.N
        return np.sqrt(total)

    # -- coordinates -----------------------------------------------------------
    def to_user(self, V: F64) -> tuple[F64, F64]:
        """Return ``(W, b)`` in the user's units for loop coordinates ``V``."""
        W = V / self.x_scale[:, None]
        b = self.y_offset - self.x_offset @ W
        return W, b

    def from_user(self, W: F64) -> F64:
        """Loop coordinates ``V = s·W`` for user weights ``W`` (D, K)."""
        return np.asarray(W, dtype=np.float64) * self.x_scale[:, None]

    # -- the passes over the data --------------------------------------------
    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        """Accumulate ``Σ_b X_bᵀ Ω_b r_b`` and ``Σ ω r²`` over row blocks.

        ``r = X W − Y + c`` with ``c = ȳ − x̄W`` when ``with_targets``, else
        ``r = X W − x̄W`` (the centred matrix-vector product of the Hessian).
        """
        self.n_passes += 1
        Wc = W.astype(self.dtype, copy=False)
        shift = (self.y_offset if with_targets else 0.0) - self.x_offset @ W
        shift_c = shift.astype(self.dtype) if self.fit_intercept else None
        cols = W.shape[1]
        acc = np.zeros((self.D, cols))
        sq = np.zeros(cols)
        rsum = np.zeros(cols)
        for start, stop in self.blocks:
            Xb = self.X[start:stop]
            R = Xb @ Wc
            if with_targets:
                R -= self.Y[start:stop]
            if shift_c is not None:
                R += shift_c
            if self._omega_c is None:
                acc += Xb.T @ R
                if with_targets:
                    sq += np.einsum("ij,ij->j", R, R, dtype=np.float64)
                if self.fit_intercept:
                    rsum += R.sum(axis=0, dtype=np.float64)
            else:
                Rw = R * self._omega_c[start:stop, None]
                acc += Xb.T @ Rw
                if with_targets:
                    sq += np.einsum("ij,ij->j", R, Rw, dtype=np.float64)
                if self.fit_intercept:
                    rsum += Rw.sum(axis=0, dtype=np.float64)
        if self.omega is None:
            acc /= self.N
            sq /= self.N
            rsum /= self.N
        if self.fit_intercept:
            # Centring correction x̄ᵀ(Σ ω r); zero in exact arithmetic, kept for rounding.
            acc -= np.outer(self.x_offset, rsum)
        return acc, 0.5 * sq

    def loss_grad(self, V: F64) -> tuple[F64, F64]:
        """Loss per output (K,) and gradient in loop coordinates (D, K) at ``V``.

        Parameters
        ----------
        V : ndarray of shape (D, K)
            Loop coordinates (``W = V / x_scale``).

        Returns
        -------
        loss : ndarray of shape (K,)
            ``½ Σ ω ‖r‖² + (α/2)‖W‖²`` per output; their sum is ``f``.
        G : ndarray of shape (D, K)
            ``(Xᵀ Ω r + αW) / s``.
        """
        W = V / self.x_scale[:, None]
        G, loss = self._pass(W, with_targets=True)
        if self.alpha:
            G += self.alpha * W
            loss = loss + 0.5 * self.alpha * np.einsum("ij,ij->j", W, W)
        G /= self.x_scale[:, None]
        return loss, G

    def hvp(self, P: F64) -> F64:
        """Hessian-vector product ``A P`` in loop coordinates (one pass over X).

        ``A = S⁻¹ (X_cᵀ Ω X_c + α I) S⁻¹`` with ``S = diag(x_scale)``.
        """
        W = P / self.x_scale[:, None]
        AP, _ = self._pass(W, with_targets=False)
        if self.alpha:
            AP += self.alpha * W
        AP /= self.x_scale[:, None]
        return AP
