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

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .curvature import CurvatureEstimate, lanczos_extremes
from .kernels import HAVE_NUMBA, fused_pass

__all__ = ["LeastSquaresProblem", "PassObjective", "Problem"]

F64 = NDArray[np.float64]

#: Largest size of one row block, in bytes.
BLOCK_BYTES = 1 << 24

#: Smallest size of one row block, in bytes (smaller blocks cost more in call overhead).
MIN_BLOCK_BYTES = 1 << 18


#: A column whose spread (weighted standard deviation) is at most this fraction of
#: its mean is constant to rounding: the mean itself is only known to a few ulps,
#: so what is left after centring is noise, not information (2.3e-13).
CONSTANT_RTOL = 1024 * float(np.finfo(np.float64).eps)


def constant_columns(spread: F64, mean: F64, fit_intercept: bool) -> NDArray[np.bool_]:
    """Columns that carry no information beyond the intercept (or are all zero).

    With an intercept a column is constant when its spread is within
    :data:`CONSTANT_RTOL` of its magnitude (an id column of equal 64-bit
    integers, a column of 1e12s); without one only all-zero columns are.

    Examples
    --------
    >>> constant_columns(np.array([1.0, 1e-4, 0.0]), np.array([5.0, 1e12, 0.0]), True)
    array([False,  True,  True])
    >>> constant_columns(np.array([1.0, 0.0]), np.array([0.0, 0.0]), False)
    array([False,  True])
    """
    spread = np.asarray(spread, dtype=np.float64)
    if not fit_intercept:
        return np.asarray(spread <= 0.0)
    return np.asarray(spread <= CONSTANT_RTOL * np.abs(np.asarray(mean, dtype=np.float64)))


def raw_means(stats: dict[str, Any]) -> tuple[F64, F64] | None:
    """``(x̄, ȳ)``, the weighted means of X's columns and of Y, from a statistics dictionary.

    Every statistics pass computes them (``x_mean``, ``y_mean``) whatever
    ``fit_intercept``; None for a dictionary without them.

    Examples
    --------
    >>> raw_means({"x_mean": [1.0, 2.0], "y_mean": [3.0]}), raw_means({})
    ((array([1., 2.]), array([3.])), None)
    """
    if "x_mean" not in stats or "y_mean" not in stats:
        return None
    return (
        np.asarray(stats["x_mean"], dtype=np.float64),
        np.asarray(stats["y_mean"], dtype=np.float64),
    )


def centring_shift(problem: Any, scale: F64) -> F64 | None:
    """``x̄ȳᵀ/s``: what centring the targets adds to the gradient at zero, or None.

    Without an intercept the gradient at zero is ``G(0) = −XᵀΩY``; with the
    targets centred it is ``−XᵀΩ(Y − ȳ) = G(0) + x̄ȳᵀ``. Here in the coordinates
    whose gradient rows are the user's divided by ``scale`` (rows of zero scale
    are zero). None when an intercept is fitted (the targets are centred already)
    or the problem does not know its means.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> p = SimpleNamespace(fit_intercept=False, raw_means=(np.array([2.0, 0.0]), np.array([3.0])))
    >>> centring_shift(p, np.array([2.0, 1.0])).ravel().tolist()
    [3.0, 0.0]
    >>> centring_shift(SimpleNamespace(fit_intercept=True), np.ones(2)) is None
    True
    """
    if getattr(problem, "fit_intercept", True):
        return None
    means = getattr(problem, "raw_means", None)
    if means is None:
        return None
    x_mean, y_mean = means
    scale = np.asarray(scale, dtype=np.float64)
    safe = np.where(scale > 0, scale, 1.0)
    rows = np.where(scale > 0, np.asarray(x_mean, dtype=np.float64) / safe, 0.0)
    return np.outer(rows, np.asarray(y_mean, dtype=np.float64))


def preconditioner(x_rms: F64, standardize: bool) -> F64:
    """The columns' scales ``s`` of the change of variables ``W = V/s``.

    The root mean squares when standardising (1 for an all-zero column, which
    has nothing to scale), else ones.

    Examples
    --------
    >>> preconditioner(np.array([2.0, 0.0]), True), preconditioner(np.array([2.0, 0.0]), False)
    (array([2., 1.]), array([1., 1.]))
    """
    if not standardize:
        return np.ones(len(x_rms))
    scale = np.array(x_rms, dtype=np.float64)
    scale[scale <= np.finfo(np.float64).tiny] = 1.0
    return scale


def block_rows_for(N: int, D: int, itemsize: int = 8) -> int:
    """Rows per block: about 5% of X (so block temporaries stay small), 256 KiB to 16 MiB.

    Examples
    --------
    >>> block_rows_for(1_000_000, 100)
    20971
    >>> block_rows_for(20_000, 20, 8)
    1638
    """
    target = min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, N * D * itemsize // 20))
    return max(1, target // max(1, D * itemsize))


#: Smallest N·D for which the fused kernel is used (below it NumPy's dispatch is cheaper).
KERNEL_MIN_SIZE = 1 << 16


class Problem(Protocol):
    """What the solve loop needs from an objective (data path or sufficient statistics)."""

    engine: str
    N: int
    D: int
    K: int
    dtype: Any
    alpha: float
    fit_intercept: bool
    standardize: bool
    x_offset: F64
    y_offset: F64
    x_rms: F64
    x_scale: F64
    loss_at_zero: F64
    n_passes: int

    def loss_grad(self, V: F64) -> tuple[F64, F64]:
        """Loss per output and gradient at ``V`` (loop coordinates)."""
        ...

    def hvp(self, P: F64) -> F64:
        """Hessian times ``P``."""
        ...

    def curvature(self) -> CurvatureEstimate:
        """Extreme eigenvalues of the Hessian."""
        ...

    def loss_slack(self, loss: F64) -> F64:
        """Rounding uncertainty of a computed loss, per output."""
        ...

    def to_user(self, V: F64) -> tuple[F64, F64]:
        """``(W, b)`` in the user's units."""
        ...

    def from_user(self, W: F64) -> F64:
        """Loop coordinates of user weights."""
        ...


class PassObjective:
    """The objective's one home for every engine that reads rows: loss, gradient, curvature.

    A subclass provides the data (``N, D, K, dtype, alpha, fit_intercept,
    x_offset, y_offset, x_scale, target_scale``) and one method,
    ``_pass(W, with_targets) -> (Xᵀ Ω r − x̄ᵀ Σ ω r, ½ Σ ω r²)`` — the sums over
    its rows, however they are stored (NumPy blocks, sparse, a device, a file
    cache, Dask partitions). Everything else — the penalty, the change of
    variables of standardisation, the intercept's reconstruction, the rounding
    allowance and the curvature estimate — is written once, here.
    """

    N: int
    D: int
    K: int
    dtype: Any
    alpha: float
    fit_intercept: bool
    x_offset: F64
    y_offset: F64
    x_scale: F64
    target_scale: F64
    n_passes: int
    #: The offset already subtracted from the stored targets ``self.Y`` (:meth:`_centre_targets`),
    #: so the passes add ``y_offset − _y_stored`` to the residuals, not ``y_offset``.
    _y_stored: Any = 0.0

    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        raise NotImplementedError

    def _centre_targets(self, Y64: NDArray[Any]) -> None:
        """Store the targets about their mean (``Y − ȳ`` in float64, then in X's dtype).

        With an intercept the residual is ``x·w − y + (ȳ − x̄·w)``: stored as given, targets
        with a large mean (1e9 + signal) carry that mean into every pass, where float32 (spacing
        64 at 1e9) rounded the signal away — a float32 fit said converged with every
        coefficient 0 — and float64 rounds at ``eps·|ȳ|`` instead of ``eps·|y − ȳ|``. Centred
        once in float64, the passes see only the spread. Costs one N×K copy of the targets
        (written in place where ``self.Y`` is already a private cast), and only where the mean
        is beyond the targets' spread: within it, ``|y| ≤ |ȳ| + spread`` costs the passes at
        most a bit, and the targets stay as given (the float32 K = 4 data-path fit had grown
        from 8% to 13% of X's size with the copy).
        """
        if not self.fit_intercept or not np.any(self.y_offset):
            return
        # a mean within the targets' spread costs the passes at most a bit (|y| ≤ |ȳ| + spread):
        # no copy then (N×K in X's dtype: 4% of X at K = 4, D = 100)
        if np.all(self.y_offset**2 <= 2.0 * np.asarray(self.loss_at_zero)):
            return
        Y = getattr(self, "Y", None)
        # centred in place only where self.Y is our own copy (a cast made by _init_rows), never
        # the caller's: decided where the copy is made (a sparse fit's Y64 is itself a copy, so
        # no overlap test against it could tell the caller's float32 targets from a cast)
        if not (
            self.__dict__.get("_Y_private", False)
            and isinstance(Y, np.ndarray)
            and Y.shape == (self.N, self.K)
            and Y.dtype == self.dtype
            and Y.flags.c_contiguous
            and Y.flags.writeable
        ):
            Y = np.empty((self.N, self.K), dtype=self.dtype)
        for start in range(0, self.N, 65536):  # by blocks: no N×K float64 temporary
            stop = min(start + 65536, self.N)
            Y[start:stop] = np.asarray(Y64[start:stop], dtype=np.float64) - self.y_offset
        setattr(self, "Y", Y)  # noqa: B010 - the subclass's targets
        self._y_stored = np.array(self.y_offset, dtype=np.float64)
        # the residuals' rounding now scales with the centred targets, not the raw ones
        self.target_scale = np.minimum(self.target_scale, self.loss_at_zero)

    def _init_rows(
        self,
        X: Any,
        Y: NDArray[Any],
        sample_weight: F64 | None,
        *,
        fit_intercept: bool,
        standardize: bool,
        alpha: float,
    ) -> None:
        """The settings shared by engines that hold X's rows in memory (dense or sparse).

        Y is kept in X's dtype; sample weights are normalised to ``ω`` summing to one
        (``_omega_c`` is ``ω`` in X's dtype, for the passes).
        """
        if X.dtype not in (np.float32, np.float64):
            raise TypeError(f"X must be float32 or float64, got {X.dtype}")
        self.X = X
        self.dtype = X.dtype
        self.N, self.D = X.shape
        self.K = Y.shape[1]
        self.Y = np.ascontiguousarray(Y, dtype=self.dtype)
        #: Whether ``self.Y`` is a copy of the caller's targets (a cast), which
        #: :meth:`_centre_targets` may overwrite; never the caller's own array.
        self._Y_private = self.Y is not Y and not np.shares_memory(self.Y, Y)
        #: The targets as given when they are float64 and X is not (a reference, no copy): the
        #: float64-products passes use them, so float32 X does not round the targets as well.
        self._Y64 = Y if Y.dtype == np.float64 and self.dtype != np.float64 else None
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        self.omega: F64 | None = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            self.omega = sw / sw.sum()
        self._omega_c = None if self.omega is None else self.omega.astype(self.dtype)

    def _adopt_statistics(
        self,
        stats: dict[str, Any],
        D: int,
        K: int,
        *,
        fit_intercept: bool,
        standardize: bool,
        alpha: float,
    ) -> None:
        """Take the centring, scaling and loss scales from a statistics pass (float64 data).

        For engines whose data was already read once for the statistics (a file's
        cache, Dask partitions): ``stats`` is what :func:`~.gram.sufficient_statistics`
        or the per-partition moments give, with ``H`` or just its diagonal ``H_diag``.
        """
        self.N, self.D, self.K = int(stats["N"]), D, K
        self.dtype = np.dtype(np.float64)
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        self.x_offset = stats["x_offset"] if fit_intercept else np.zeros(D)
        self.y_offset = stats["y_offset"] if fit_intercept else np.zeros(K)
        self.raw_means = raw_means(stats)
        diag = stats["H_diag"] if "H_diag" in stats else np.diag(stats["H"])
        self.x_rms = np.sqrt(np.maximum(diag, 0.0))
        self.x_scale = preconditioner(self.x_rms, standardize)
        self.loss_at_zero = 0.5 * stats["yy"]
        self.target_scale = 0.5 * stats["yy_raw"]
        self.n_passes = 0

    def _finish_pass(self, acc: F64, sq: F64, rsum: F64) -> tuple[F64, F64]:
        """From the sums ``Σ X_bᵀ Ω r``, ``Σ ω r²``, ``Σ ω r`` to ``_pass``'s result.

        Unweighted sums are divided by N (weights are already normalised); the
        centring correction ``x̄ᵀ(Σ ω r)`` is zero in exact arithmetic, kept for rounding.
        """
        if getattr(self, "omega", None) is None:
            acc /= self.N
            sq /= self.N
            rsum /= self.N
        if self.fit_intercept:
            acc -= np.outer(self.x_offset, rsum)
        return acc, 0.5 * sq

    @property
    def constant(self) -> NDArray[np.bool_]:
        """Columns constant to rounding (see :func:`constant_columns`): held at zero."""
        mask: NDArray[np.bool_] | None = self.__dict__.get("_constant")
        if mask is None:
            spread = getattr(self, "x_rms", np.ones(self.D))
            mask = constant_columns(spread, self.x_offset, self.fit_intercept)
            self.__dict__["_constant"] = mask
        return mask

    def _free(self, W: F64) -> F64:
        """``W`` with the constant columns' rows set to zero (a copy when any are)."""
        if not self.constant.any():
            return W
        W = np.array(W, dtype=np.float64)
        W[self.constant] = 0.0
        return W

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
        W = self._free(V / self.x_scale[:, None])
        G, loss = self._pass(W, with_targets=True)
        if self.alpha:
            G += self.alpha * W
            loss = loss + 0.5 * self.alpha * np.einsum("ij,ij->j", W, W)
        G /= self.x_scale[:, None]
        return loss, self._free(G)

    def hvp(self, P: F64) -> F64:
        """Hessian-vector product ``A P`` in loop coordinates (one pass over the rows).

        ``A = S⁻¹ (X_cᵀ Ω X_c + α I) S⁻¹`` with ``S = diag(x_scale)``.
        """
        W = self._free(P / self.x_scale[:, None])
        AP, _ = self._pass(W, with_targets=False)
        if self.alpha:
            AP += self.alpha * W
        AP /= self.x_scale[:, None]
        return self._free(AP)

    def curvature(self) -> CurvatureEstimate:
        """Lanczos estimate of the Hessian's extreme eigenvalues (``min(D, 40)`` passes)."""
        return lanczos_extremes(self.hvp, self.D)

    def loss_slack(self, loss: F64) -> F64:
        """How much a loss may rise from rounding alone, per output.

        The loss is a weighted sum of squared residuals ``r = XW − Y + c``. Each
        residual carries an absolute error of order ``eps·√D·(|y| + |xW|)``, so the
        computed loss is uncertain by about ``eps·√D·√(f·f_y)`` plus the
        summation error ``eps·f``; ``f_y`` is half the mean square of the targets
        as the passes see them (about their mean where :meth:`_centre_targets`
        stored them so). A factor of 64 keeps honest steps from being rejected.
        """
        precise = getattr(self, "_promoted", False)
        eps = float(np.finfo(np.float64 if precise else self.dtype).eps)
        loss = np.maximum(loss, 0.0)
        spread = np.sqrt(self.D) * np.sqrt(loss * (self.target_scale + loss))
        return 64.0 * eps * (loss + spread) + np.finfo(np.float64).tiny

    def to_user(self, V: F64) -> tuple[F64, F64]:
        """Return ``(W, b)`` in the user's units for loop coordinates ``V``."""
        W = self._free(V / self.x_scale[:, None])
        return W, self.y_offset - self.x_offset @ W

    def from_user(self, W: F64) -> F64:
        """Loop coordinates ``V = s·W`` for user weights ``W`` (D, K)."""
        return np.asarray(W, dtype=np.float64) * self.x_scale[:, None]

    def _rows(self, rows: NDArray[np.intp]) -> tuple[Any, Any]:
        """The rows ``rows`` of X and Y (a copy of just those rows)."""
        X: Any = getattr(self, "X")  # noqa: B009 - provided by the subclass
        Y: Any = getattr(self, "Y")  # noqa: B009
        return X[rows], Y[rows]

    def batch_grad(self, V: F64, rows: NDArray[np.intp]) -> F64:
        """Unbiased estimate of the gradient at ``V`` from the rows ``rows`` (mini-batch)."""
        W = self._free(V / self.x_scale[:, None])
        Xb, Yb = self._rows(rows)
        # a diverging float32 step overflows here: the loop's guard sees the non-finite
        # gradient and says so; no RuntimeWarning on the way
        with np.errstate(over="ignore", invalid="ignore"):
            return self._batch_gradient(W, Xb, Yb, rows)

    def _batch_gradient(self, W: F64, Xb: Any, Yb: Any, rows: NDArray[np.intp]) -> F64:
        R = Xb @ W.astype(self.dtype) - Yb
        if self.fit_intercept:
            R += (self.y_offset - self._y_stored - self.x_offset @ W).astype(self.dtype)
        omega: F64 | None = getattr(self, "omega", None)
        if omega is None:
            scale = np.full(len(rows), 1.0 / len(rows))
        else:
            scale = omega[rows] * (self.N / len(rows))
        Rw = R * scale[:, None].astype(self.dtype)
        G = np.asarray(Xb.T @ Rw, dtype=np.float64) - np.outer(self.x_offset, Rw.sum(axis=0))
        if self.alpha:
            G += self.alpha * W
        return self._free(G / self.x_scale[:, None])


class LeastSquaresProblem(PassObjective):
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
    x_offset, y_offset, x_scale : ndarray, optional
        Centring and scaling supplied by the caller instead of computed from
        this data (streaming fits keep running means across chunks).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); Y = X @ np.ones((3, 1))
    >>> problem = LeastSquaresProblem(X, Y, fit_intercept=False, standardize=False)
    >>> loss, G = problem.loss_grad(np.zeros((3, 1)))
    >>> bool(np.allclose(G, -X.T @ Y / 100))
    True
    """

    engine = "data"

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
        x_offset: F64 | None = None,
        y_offset: F64 | None = None,
        x_scale: F64 | None = None,
    ) -> None:
        self._given = (x_offset, y_offset, x_scale)
        self._init_rows(
            X,
            Y,
            sample_weight,
            fit_intercept=fit_intercept,
            standardize=standardize,
            alpha=alpha,
        )
        if block_rows is None:
            block_rows = block_rows_for(self.N, self.D, X.dtype.itemsize)
        self.block_rows = int(block_rows)
        #: Whether the fused one-read kernel runs the passes (else NumPy row blocks).
        self.use_kernel = bool(
            HAVE_NUMBA and X.flags.c_contiguous and self.N * self.D >= KERNEL_MIN_SIZE
        )
        #: float32 data whose products would overflow float32: passes run in float64 by blocks.
        self._float64_products = False
        #: Set by :meth:`promote_products`.
        self._promoted = False
        self.blocks = [
            (start, min(start + self.block_rows, self.N))
            for start in range(0, self.N, self.block_rows)
        ]
        with np.errstate(over="ignore", invalid="ignore"):
            self._statistics(Y)  # Y converted to float64 block by block

    def _statistics(self, Y64: F64) -> None:
        given_x, given_y, given_scale = self._given
        if self.fit_intercept and given_x is not None and given_y is not None:
            # centring supplied by the caller (partial_fit's running means)
            self.x_offset = np.asarray(given_x, dtype=np.float64)
            self.y_offset = np.asarray(given_y, dtype=np.float64)
        elif self.fit_intercept:
            self.x_offset = self._column_means()
            if self.omega is None:
                self.y_offset = np.asarray(Y64.mean(axis=0, dtype=np.float64))
            else:
                omega = self.omega
                self.y_offset = sum(
                    (omega[a:b] @ np.asarray(Y64[a:b], dtype=np.float64) for a, b in self.blocks),
                    np.zeros(self.K),
                )
        else:
            self.x_offset = np.zeros(self.D)
            self.y_offset = np.zeros(self.K)
        self.x_rms = self._column_rms()
        y_sum = np.zeros(self.K)
        if given_scale is not None:
            self.x_scale = np.asarray(given_scale, dtype=np.float64)
        else:
            self.x_scale = preconditioner(self.x_rms, self.standardize)
        centred = np.zeros(self.K)
        raw = np.zeros(self.K)
        for start, stop in self.blocks:  # by blocks: no N×K temporaries
            Yb = np.asarray(Y64[start:stop], dtype=np.float64)
            Ycb = Yb - self.y_offset
            if self.omega is None:
                centred += np.einsum("ij,ij->j", Ycb, Ycb)
                raw += np.einsum("ij,ij->j", Yb, Yb)
                y_sum += Yb.sum(axis=0)
            else:
                wb = self.omega[start:stop]
                centred += np.einsum("ij,ij,i->j", Ycb, Ycb, wb)
                raw += np.einsum("ij,ij,i->j", Yb, Yb, wb)
                y_sum += wb @ Yb
        if self.omega is None:
            centred /= self.N
            raw /= self.N
            y_sum /= self.N
        #: Weighted means of X's columns and of Y (the stopping rule's reference without an
        #: intercept: :func:`~gradfit.solve.loop.reference_norms`).
        self.raw_means = (self.x_offset if self.fit_intercept else self._x_mean, y_sum)
        if self.dtype == np.float32:
            # float32 products x·r summed in float32 overflow when |x|·|y| nears 3.4e38/(rows·D):
            # then run the passes with float64 products (block copies) instead of the kernel
            y_max = float(np.max(np.abs(Y64))) if self.N else 0.0
            if self._x_max * max(y_max, 1.0) > 1e30:
                self.use_kernel = False
                self._float64_products = True
        #: Loss of the zero model (the intercept alone), per output.
        self.loss_at_zero = 0.5 * centred
        #: Half the weighted mean square of the raw targets: the scale of rounding in the loss.
        self.target_scale = 0.5 * raw
        self.n_passes = 0
        if not (
            np.all(np.isfinite(self.x_rms))
            and np.all(np.isfinite(self.target_scale))
            and np.all(np.isfinite(self.x_offset))
        ):
            raise GradfitInputError.overflow(
                float(np.max(np.abs(self.X))), float(np.max(np.abs(Y64)))
            )
        self._centre_targets(Y64)

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
        x_max = 0.0
        x_sum = np.zeros(self.D)  # the means, without an intercept (from the same blocks)
        for start, stop in self.blocks:
            if self.dtype == np.float32:
                x_max = max(x_max, float(np.max(np.abs(self.X[start:stop]))))
            Xb = self.X[start:stop] - offset if self.fit_intercept else self.X[start:stop]
            if self._omega_c is None:
                total += np.einsum("ij,ij->j", Xb, Xb, dtype=np.float64)
                if not self.fit_intercept:
                    x_sum += Xb.sum(axis=0, dtype=np.float64)
            else:
                total += np.einsum(
                    "ij,ij,i->j", Xb, Xb, self._omega_c[start:stop], dtype=np.float64
                )
                if not self.fit_intercept:
                    x_sum += np.einsum("ij,i->j", Xb, self._omega_c[start:stop], dtype=np.float64)
        if self.omega is None:
            total /= self.N
            x_sum /= self.N
        self._x_max = x_max
        self._x_mean = x_sum
        return np.sqrt(total)

    # -- what the loop asks besides loss and gradient ----------------------------
    def promote_products(self) -> None:
        """Run the passes with float64 products (float32 blocks copied to float64).

        The loop asks for it when float32 sums could not meet ``tol`` of the stopping
        rule's reference (no intercept, targets' mean far above their spread:
        :func:`~gradfit.solve.loop.reference_norms`); X itself is not copied.
        """
        self.use_kernel = False
        self._float64_products = True
        #: Promoted by the loop: the passes also use the float64 targets and weights as given.
        self._promoted = True

    def max_row_norm2(self) -> float:
        """Largest squared norm of a (centred, scaled) row: the curvature of one sample's loss."""
        best = 0.0
        offset = self.x_offset.astype(self.dtype)
        for start, stop in self.blocks:
            Xb = (self.X[start:stop] - offset) / self.x_scale.astype(self.dtype)
            best = max(best, float(np.einsum("ij,ij->i", Xb, Xb, dtype=np.float64).max()))
        return best

    # -- the passes over the data --------------------------------------------
    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        """Accumulate ``Σ_b X_bᵀ Ω_b r_b`` and ``Σ ω r²`` over row blocks.

        ``r = X W − Y + c`` with ``c = ȳ − x̄W`` when ``with_targets``, else
        ``r = X W − x̄W`` (the centred matrix-vector product of the Hessian).
        """
        self.n_passes += 1
        # the stored targets are centred already (_centre_targets, with an intercept); the
        # promoted passes' float64 targets are raw, but promotion is for fits without one
        shift = (self.y_offset - self._y_stored if with_targets else 0.0) - self.x_offset @ W
        if self.use_kernel:
            acc, sq, rsum = fused_pass(
                self.X,
                W,
                self.Y if with_targets else None,
                shift if self.fit_intercept else np.zeros(W.shape[1]),
                self._omega_c,
            )
            return self._finish_pass(acc, sq, rsum)
        Wc = W.astype(self.dtype, copy=False)
        shift_c = shift.astype(self.dtype) if self.fit_intercept else None
        cols = W.shape[1]
        acc = np.zeros((self.D, cols))
        sq = np.zeros(cols)
        rsum = np.zeros(cols)
        omega_c = self._omega_c
        Y = self.Y
        if self._float64_products:
            Wc = W
            shift_c = shift if self.fit_intercept else None
        if self._promoted:  # float64 throughout, the weights and targets too
            omega_c = self.omega
            if self._Y64 is not None:
                Y = self._Y64
        for start, stop in self.blocks:
            Xb = self.X[start:stop]
            if self._float64_products:
                Xb = Xb.astype(np.float64)
            R = Xb @ Wc
            if with_targets:
                R -= Y[start:stop]
            if shift_c is not None:
                R += shift_c
            if omega_c is None:
                acc += Xb.T @ R
                if with_targets:
                    sq += np.einsum("ij,ij->j", R, R, dtype=np.float64)
                if self.fit_intercept:
                    rsum += R.sum(axis=0, dtype=np.float64)
            else:
                Rw = R * omega_c[start:stop, None]
                acc += Xb.T @ Rw
                if with_targets:
                    sq += np.einsum("ij,ij->j", R, Rw, dtype=np.float64)
                if self.fit_intercept:
                    rsum += Rw.sum(axis=0, dtype=np.float64)
        return self._finish_pass(acc, sq, rsum)
