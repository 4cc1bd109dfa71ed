r"""Least squares by a QR factorisation of the rows, where the normal equations cannot decide.

The statistics engine solves ``H W = B`` with ``H = X_cᵀΩX_c`` formed in float64. Forming ``H``
squares the design's condition number, and its rounding (about ``√D·eps`` of its largest
eigenvalue) hides every direction whose singular value is below about ``3e-7`` of the largest
(:func:`~gradfit.problem.gram.rank_tolerance`): nearly collinear columns that the rows
themselves separate well (``x₁ = x₀ + 1e-8·noise``, a polynomial of degree ten) look exactly
like duplicated ones, and the minimum-norm answer on ``H``'s row space is then not the least
squares answer at all. A QR factorisation of the rows themselves works with the design's own
condition number, as ``numpy.linalg.lstsq`` does:

* :func:`null_directions_hold` checks, in one float64 pass over the rows, whether the
  directions that ``H`` calls null are null for the data too (one-hot levels plus an
  intercept, duplicated columns) or only look so (nearly collinear columns);
* :class:`QRProblem` factors the centred, standardised rows block by block (a tall-skinny QR:
  ``R ← qr([R; A_b])``, memory of one block plus ``D×D``), decides the rank from ``R``'s
  singular values with ``lstsq``'s rule, and solves for the minimum-norm answer in the user's
  units. It is also a :class:`~gradfit.problem.objective.PassObjective` (float64 passes over
  the same rows), so the certificate recomputes the gradient from the data and solves each
  coefficient's error with ``R`` instead of the formed ``H``.

Rows are read from arrays in memory: NumPy (pandas once validated) and scipy.sparse CSR
matrices, whose blocks are made dense (the statistics engine serves at most 2,000 columns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from .curvature import CurvatureEstimate
from .gram import GRAM_CHUNKS, gram_threads, single_threaded_blas
from .objective import PassObjective

__all__ = ["QRProblem", "RowsProblem", "null_directions_hold", "qr_rank_rcond"]

F64 = NDArray[np.float64]

_EPS = float(np.finfo(np.float64).eps)

T = TypeVar("T")

#: Bytes of float64 rows per block of the QR and of the float64 passes.
QR_BLOCK_BYTES = 4 << 20


def qr_rank_rcond(N: int, D: int) -> float:
    """Singular values below this fraction of the largest are zero: ``lstsq``'s default rule.

    ``numpy.linalg.lstsq(rcond=None)`` uses ``eps·max(N, D)``; gradfit applies it to the
    centred, standardised design (so a column's units do not decide its rank).

    Examples
    --------
    >>> bool(qr_rank_rcond(1000, 10) == 1000 * np.finfo(float).eps)
    True
    """
    return _EPS * max(int(N), int(D))


def _block_rows(D: int, K: int) -> int:
    return max(256, 4 * (D + K), QR_BLOCK_BYTES // (8 * max(D + K, 1)))


def _in_chunks(N: int, step: int, work: Callable[[list[tuple[int, int]]], T]) -> list[T]:
    """``work`` over consecutive row blocks of ``step`` rows, chunked across the cores.

    At most :data:`~gradfit.problem.gram.GRAM_CHUNKS` chunks, run on the cores (BLAS on one
    thread each); the results come in chunk order, so they do not depend on the threads.
    """
    blocks = [(start, min(N, start + step)) for start in range(0, N, step)] or [(0, 0)]
    n_chunks = min(GRAM_CHUNKS, len(blocks))
    size, extra = divmod(len(blocks), n_chunks)
    chunks, at = [], 0
    for i in range(n_chunks):
        take = size + (1 if i < extra else 0)
        chunks.append(blocks[at : at + take])
        at += take
    threads = min(gram_threads(), len(chunks))
    if threads <= 1:
        return [work(chunk) for chunk in chunks]
    with single_threaded_blas(), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, chunks))


def dense_block(X: Any, start: int, stop: int) -> F64:
    """Rows ``start:stop`` of a dense array or a scipy.sparse CSR matrix, as float64.

    (A view of a float64 array: the caller makes the centred copy.)
    """
    block = X[start:stop]
    if hasattr(block, "toarray"):
        return np.asarray(block.toarray(), dtype=np.float64)
    return np.asarray(block, dtype=np.float64)


def _rows(
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    x_offset: F64,
    y_offset: F64,
    keep: NDArray[np.bool_],
    blocks: list[tuple[int, int]],
) -> Iterator[tuple[F64, F64]]:
    """Blocks ``(A, T)`` of ``√ω·(X − x̄)`` (constant columns zero) and ``√ω·(Y − ȳ)``, float64."""
    root = None if omega is None else np.sqrt(omega)
    for start, stop in blocks:
        A = dense_block(X, start, stop) - x_offset
        A[:, ~keep] = 0.0
        T = np.asarray(Y[start:stop], dtype=np.float64) - y_offset
        if root is not None:
            A *= root[start:stop, None]
            T *= root[start:stop, None]
        yield A, T


def null_directions_hold(
    X: NDArray[Any],
    sample_weight: NDArray[Any] | None,
    x_offset: F64,
    scale: F64,
    directions: F64,
    constant: NDArray[np.bool_],
) -> tuple[bool, F64]:
    """Whether the rows confirm the directions the statistics call null (one float64 pass).

    ``directions`` are orthonormal columns in the loop's coordinates ``V = s·W``; each
    one's curvature on the data, ``‖Ω^½ X_c S⁻¹ q‖²``, is computed from the rows in
    float64 (constant columns left out). A direction is null when the square root of that,
    against the largest column scale's, is within :func:`qr_rank_rcond`: one-hot levels
    plus an intercept and duplicated columns give about ``eps``; nearly collinear columns
    give their true (small) singular value.

    Returns
    -------
    hold : bool
        All of them are null for the data too.
    ratio : ndarray
        Each direction's singular value relative to ``√λ`` of a unit standardised column (1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> duplicated = np.column_stack([x, 2 * x])
    >>> near = np.column_stack([x, x + 1e-9 * rng.normal(size=200)])
    >>> q = np.array([[1.0], [-1.0]]) / np.sqrt(2)
    >>> [null_directions_hold(X, None, X.mean(0), X.std(0), q, np.zeros(2, bool))[0]
    ...  for X in (duplicated, near)]
    [True, False]
    """
    N, D = X.shape
    Z = np.asarray(directions, dtype=np.float64) / np.asarray(scale, dtype=np.float64)[:, None]
    Z[np.asarray(constant, dtype=bool)] = 0.0
    # directions along constant columns alone (held at zero anyway) need no pass
    span = np.sqrt(np.einsum("ij,ij->j", directions, directions))
    left = np.sqrt(np.einsum("ij,ij->j", Z, Z)) * np.max(np.asarray(scale, np.float64))
    mixed = left > 1e-12 * np.maximum(span, 1e-300)
    total = np.zeros(Z.shape[1])
    if np.any(mixed):
        Zm = Z[:, mixed]
        shift = np.asarray(x_offset, dtype=np.float64) @ Zm
        omega = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        if omega is not None:
            omega = omega / omega.sum()
        # large blocks: a float64 X is read by BLAS in place (43 ms at 1e6 × 100 whole, 86 ms
        # in blocks of 4 MiB); a float32 block is converted (32 MiB of float64 at most)
        step = max(1024, (32 << 20) // (8 * max(D, Zm.shape[1])))
        weights = omega

        def work(blocks: list[tuple[int, int]]) -> F64:
            part = np.zeros(Zm.shape[1])
            for start, stop in blocks:
                # X_b·Z − x̄·Z: one read of the block, no centred copy (a cancellation here can
                # only make a direction look less null, never more)
                U = np.asarray(X[start:stop] @ Zm, dtype=np.float64) - shift
                if weights is None:
                    part += np.einsum("ij,ij->j", U, U)
                else:
                    part += weights[start:stop] @ (U * U)
            return part

        part = np.sum(_in_chunks(N, step, work), axis=0)
        total[mixed] = part / N if omega is None else part
    ratio = np.sqrt(np.maximum(total, 0.0))
    # the standardised columns have unit mean square: their largest singular value (per √N)
    # is at least 1, so this is lstsq's relative rule with a margin of at most √D
    return bool(np.all(ratio <= qr_rank_rcond(N, D))), ratio


class RowsProblem(PassObjective):
    """The objective over rows in memory, every pass in float64 about the means.

    The data path's kernel forms ``X_b·W − x̄·W``, which cancels where a column's mean is
    large beside its spread (columns around 1e5 ± 0.25: ``exact``'s refinement stalled at a
    relative gradient of 4e-10, 1.7e-7 off lstsq). Here each block is centred first
    (``X_b − x̄`` is exact for values near the mean), then multiplied: slower than the fused
    kernel (a centred float64 copy of each block), used where that accuracy is needed —
    ``exact``'s refinement on such columns, and the QR's certificate (:class:`QRProblem`).

    Parameters
    ----------
    X : ndarray of shape (N, D) or scipy.sparse CSR matrix
        Read block by block (never copied whole).
    Y : ndarray of shape (N, K)
    sample_weight : ndarray of shape (N,), optional
    x_offset, y_offset, x_scale : ndarray
        The centring and column scales of the fit (shared with its other problems).
    fit_intercept, standardize : bool
    alpha : float
    constant : ndarray of bool, shape (D,)
        Columns held at zero (constant to rounding).
    raw_means : tuple of ndarray, optional
        ``(x̄, ȳ)`` whatever ``fit_intercept``, as the other problems of the fit carry them.
    scales : tuple of ndarray, optional
        ``(x_rms, loss_at_zero, target_scale)`` from the statistics (else set by a subclass).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)) + 1e8; Y = (X - 1e8) @ np.ones((2, 1))
    >>> rows = RowsProblem(X, Y, None, X.mean(0), Y.mean(0), X.std(0))
    >>> bool(np.max(np.abs(rows.loss_grad(rows.from_user(np.ones((2, 1))))[1])) < 1e-12)
    True
    """

    engine = "data"

    def __init__(
        self,
        X: NDArray[Any],
        Y: NDArray[Any],
        sample_weight: NDArray[Any] | None,
        x_offset: F64,
        y_offset: F64,
        x_scale: F64,
        *,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
        constant: NDArray[np.bool_] | None = None,
        raw_means: tuple[F64, F64] | None = None,
        scales: tuple[F64, F64, F64] | None = None,
    ) -> None:
        self.X = X
        #: The weighted means whatever ``fit_intercept`` (the stopping rule's reference without
        #: an intercept, :func:`~gradfit.problem.objective.centring_shift`).
        self.raw_means = raw_means
        self.Y = Y
        self.N, self.D = X.shape
        self.K = Y.shape[1]
        self.dtype = np.dtype(np.float64)
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        self.omega: F64 | None = None
        #: Rows of positive weight (the observations that count as degrees of freedom).
        self.n_positive = self.N
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            self.omega = sw / sw.sum()
            self.n_positive = int(np.count_nonzero(sw > 0))
        zero_x, zero_y = np.zeros(self.D), np.zeros(self.K)
        self.x_offset = np.asarray(x_offset, dtype=np.float64) if fit_intercept else zero_x
        self.y_offset = np.asarray(y_offset, dtype=np.float64) if fit_intercept else zero_y
        self.x_scale = np.asarray(x_scale, dtype=np.float64)
        fixed = np.zeros(self.D, bool) if constant is None else np.asarray(constant, bool)
        self.__dict__["_constant"] = fixed
        self.n_passes = 0
        #: ``L`` and ``μ`` from statistics of the same rows, where the fit has them (else
        #: :meth:`curvature` runs Lanczos on the rows).
        self.known_curvature: CurvatureEstimate | None = None
        #: The gradient at zero in the user's units (``−B``) from those statistics, for the
        #: certificate's reference (else one pass at zero).
        self.known_zero_gradient: F64 | None = None
        self._memo: dict[Any, tuple[F64, F64]] = {}  # the last passes by W (_pass)
        if scales is not None:
            x_rms, loss_at_zero, target_scale = scales
            self.x_rms = np.asarray(x_rms, dtype=np.float64)
            self.loss_at_zero = np.asarray(loss_at_zero, dtype=np.float64)
            self.target_scale = np.asarray(target_scale, dtype=np.float64)

    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        """``(X_cᵀΩr, ½Σωr²)`` in float64 over the rows (``r = X_c W − Y_c``).

        The last :data:`PASS_MEMO` results are remembered by ``W`` (a refinement's last point
        is the one the certificate evaluates again: no second pass for it).
        """
        key = (
            np.shape(W),
            np.asarray(W, dtype=np.float64).tobytes(),
            bool(with_targets),
            np.asarray(self.constant).tobytes(),
        )
        memo = self._memo
        if key in memo:
            G, loss = memo[key]
            return G.copy(), loss.copy()
        G, loss = self._compute_pass(W, with_targets)
        if len(memo) >= PASS_MEMO:
            memo.pop(next(iter(memo)))
        memo[key] = (G.copy(), loss.copy())
        return G, loss

    def curvature(self) -> CurvatureEstimate:
        """``L`` and ``μ``: the statistics' where the fit set ``known_curvature``, else Lanczos."""
        return self.known_curvature if self.known_curvature is not None else super().curvature()

    def _compute_pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        self.n_passes += 1
        keep = ~self.constant
        if _compiled_rows(self.X):
            acc, sq = self._kernel_sums(W, with_targets, keep)
        else:
            acc, sq = self._block_sums(W, with_targets, keep)
        if self.omega is None:
            acc /= self.N
            sq /= self.N
        return acc, 0.5 * sq

    def _block_sums(self, W: F64, with_targets: bool, keep: NDArray[np.bool_]) -> tuple[F64, F64]:
        """``(Σ X_cᵀΩr, Σωr²)`` by NumPy blocks (sparse rows, or rows not contiguous)."""
        Y = self.Y if with_targets else np.zeros((self.N, 0))
        X, omega, xm, ym = self.X, self.omega, self.x_offset, self.y_offset[: Y.shape[1]]
        D, K = self.D, self.K

        def work(blocks: list[tuple[int, int]]) -> tuple[F64, F64]:
            acc = np.zeros((D, K))
            sq = np.zeros(K)
            for A, T in _rows(X, Y, omega, xm, ym, keep, blocks):
                r = A @ W
                if with_targets:
                    r -= T
                acc += A.T @ r  # √ω twice: Xᵀ Ω r
                sq += np.einsum("ij,ij->j", r, r)
            return acc, sq

        parts = _in_chunks(self.N, _block_rows(D, K), work)
        return np.sum([part[0] for part in parts], axis=0), np.sum([p[1] for p in parts], axis=0)

    def _kernel_sums(self, W: F64, with_targets: bool, keep: NDArray[np.bool_]) -> tuple[F64, F64]:
        """``(Σ X_cᵀΩr, Σωr²)`` by the compiled rows pass (dense rows in memory)."""
        from .kernels import jit

        kernel = jit().centred_rows_pass
        X, D, K = self.X, self.D, self.K
        Y = np.asarray(self.Y)
        if not (Y.dtype in (np.float32, np.float64) and Y.dtype.isnative):
            Y = Y.astype(np.float64)
        sw = np.sqrt(self.omega) if self.omega is not None else np.zeros(0)
        Wt = np.ascontiguousarray(np.asarray(W, dtype=np.float64).T)
        mask = keep.astype(np.float64)
        # columns of W: K with the targets; any number for a product (hvp of a block)
        cols = Wt.shape[0]
        if Wt.shape[1] != D or (with_targets and cols != K):
            raise ValueError(f"W has shape {W.shape}: ({D}, {K}) expected with the targets")

        def work(blocks: list[tuple[int, int]]) -> tuple[F64, F64]:
            accT = np.zeros((cols, D))
            sq = np.zeros(cols)
            kernel(
                X, Y, sw, self.x_offset, self.y_offset, mask, Wt, with_targets,
                blocks[0][0], blocks[-1][1], accT, sq, np.empty(D),
            )  # fmt: skip
            return accT, sq

        parts = _in_chunks(self.N, _block_rows(D, K), work)
        return np.sum([p[0] for p in parts], axis=0).T.copy(), np.sum([p[1] for p in parts], axis=0)


#: :class:`RowsProblem` remembers its last passes (by ``W``) up to this many.
PASS_MEMO = 2


def _compiled_rows(X: Any) -> bool:
    """Whether the compiled rows pass reads X: dense, native float32/64, rows contiguous."""
    return (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.dtype.isnative
        and X.shape[1] > 0
        and X.strides[1] == X.itemsize
    )


class QRProblem(RowsProblem):
    """Least squares over dense rows by a tall-skinny QR of the centred, standardised design.

    Parameters
    ----------
    *args, **kwargs
        As :class:`RowsProblem` (``X`` dense or CSR, float32 or float64; ``scales`` come
        from the factorisation).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3)); X[:, 1] = X[:, 0] + 1e-8 * rng.normal(size=500)
    >>> y = X @ [1.0, 2.0, 3.0]
    >>> qr = QRProblem(X, y[:, None], None, X.mean(0), np.array([y.mean()]), X.std(0))
    >>> W, b = qr.to_user(qr.solve())
    >>> qr.rank, np.round(W.ravel(), 6)
    (3, array([1., 2., 3.]))
    """

    engine = "qr"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._factor()
        self.n_passes = 1  # the factorisation's

    def _factor(self) -> None:
        """``R`` of ``[Ω^½ | Ω^½ X_c S⁻¹ | Ω^½ Y_c]`` block by block, then its SVD and the rank.

        With an intercept the first column is the weights' root (the intercept's column), so
        an error in the means ``x̄`` used for centring is absorbed there, as ``lstsq`` with a
        column of ones would: eliminating it leaves ``R₁₁``, ``R₁₂`` (its first row gives the
        intercept's correction, :meth:`to_user`).
        """
        D, K = self.D, self.K
        c = int(self.fit_intercept)  # the intercept's column, first
        M = c + D + K
        keep = ~self.constant
        s = self.x_scale
        X, Y, omega, xm, ym = self.X, self.Y, self.omega, self.x_offset, self.y_offset

        def work(blocks: list[tuple[int, int]]) -> tuple[F64, F64, F64]:
            R = np.zeros((0, M))
            sq_x = np.zeros(D)
            sq_y = np.zeros(K)
            for (start, stop), (A, T) in zip(
                blocks, _rows(X, Y, omega, xm, ym, keep, blocks), strict=True
            ):
                sq_x += np.einsum("ij,ij->j", A, A)
                sq_y += np.einsum("ij,ij->j", T, T)
                A /= s
                parts = [A, T]
                if c:
                    root = np.ones(stop - start) if omega is None else np.sqrt(omega[start:stop])
                    parts.insert(0, root[:, None])
                stacked = np.vstack([R, np.hstack(parts)])
                R = linalg.qr(stacked, mode="r", check_finite=False)[0][:M]
            return R, sq_x, sq_y

        parts = _in_chunks(self.N, _block_rows(D + c, K), work)
        # the chunks' R factors stacked and factored again: the tall-skinny QR's reduction
        R = parts[0][0]
        if len(parts) > 1:
            stacked = np.vstack([part[0] for part in parts])
            R = linalg.qr(stacked, mode="r", check_finite=False)[0][:M]
        sq_x = np.sum([part[1] for part in parts], axis=0)
        sq_y = np.sum([part[2] for part in parts], axis=0)
        if self.omega is None:
            R = R / np.sqrt(self.N)
            sq_x /= self.N
            sq_y /= self.N
        if self.alpha:
            # the penalty ½α‖W‖² = ½α‖S⁻¹V‖²: rows √α·S⁻¹ below the data (not on the intercept)
            extra = np.zeros((D, M))
            extra[np.arange(D), c + np.arange(D)] = np.sqrt(self.alpha) / s
            extra[~keep] = 0.0
            R = linalg.qr(np.vstack([R, extra]), mode="r", check_finite=False)[0][:M]
        if R.shape[0] < M:  # fewer rows than columns
            R = np.vstack([R, np.zeros((M - R.shape[0], M))])
        # the intercept's row: r00·c0 + r0x·V = r0t (c0 corrects ȳ − x̄·W)
        self._r00 = float(R[0, 0]) if c else 0.0
        self._r0x = R[0, c : c + D] if c else np.zeros(D)
        self._r0t = R[0, c + D :] if c else np.zeros(K)
        R = R[c:, c:]
        self.R11 = np.triu(R[:D, :D])
        self.R12 = R[:D, D:]
        #: The targets' part left after all of X (K×K): ``‖R₂₂‖²`` by column is the residual's.
        self.R22 = R[D:, D:]
        self.x_rms = np.sqrt(np.maximum(sq_x, 0.0))
        self.loss_at_zero = 0.5 * sq_y
        self.target_scale = 0.5 * sq_y
        U, sigma, Vt = linalg.svd(self.R11, check_finite=False)
        top = float(sigma[0]) if sigma.size else 0.0
        self.rcond = qr_rank_rcond(self.N, D)
        kept = sigma > self.rcond * top if top > 0 else np.zeros(D, bool)
        self.singular_values = sigma
        self._U, self._sigma, self._Vt = U[:, kept], sigma[kept], Vt[kept]
        null = Vt[~kept].T
        #: Orthonormal basis (loop coordinates) of the rows' numerical null space.
        self.null_space: F64 = null
        Z = null / s[:, None]
        self._null_user: F64 = np.linalg.qr(Z)[0] if Z.shape[1] else Z
        L = top**2
        mu = float(self._sigma[-1]) ** 2 if self._sigma.size else 0.0
        self._curvature = CurvatureEstimate(L=L, mu=mu, n_matvec=0, exact=True)

    @property
    def rank(self) -> int:
        """Numerical rank of the centred design by ``lstsq``'s rule (constant columns excluded)."""
        return int(self._sigma.size)

    def curvature(self) -> CurvatureEstimate:
        """Exact extreme eigenvalues of ``H_V = R₁₁ᵀR₁₁`` (``μ`` on the row space)."""
        return self._curvature

    def solve(self) -> F64:
        """The minimum-norm least-squares answer in loop coordinates (``R₁₁⁺ R₁₂``)."""
        V = self._Vt.T @ ((self._U.T @ self.R12) / self._sigma[:, None])
        return np.asarray(V, dtype=np.float64)

    def exact_factor(self) -> Any:
        """``G ↦ H_V⁺ G`` with ``H_V = R₁₁ᵀR₁₁`` from the SVD of ``R₁₁`` (no squared κ)."""
        Vt, sigma = self._Vt, self._sigma
        return lambda G: Vt.T @ ((Vt @ G) / (sigma**2)[:, None])

    def to_user(self, V: F64) -> tuple[F64, F64]:
        """``(W, b)`` in the user's units, off the rows' null space there (minimum norm).

        With an intercept, ``b = ȳ − x̄·W + c₀`` where ``c₀`` (rounding-sized) is what the
        intercept's column of the QR absorbed of the error in the means.
        """
        W = self._free(V / self.x_scale[:, None])
        if self._null_user.shape[1]:
            W = self._free(W - self._null_user @ (self._null_user.T @ W))
        b = self.y_offset - self.x_offset @ W
        if self._r00 > 0:
            b = b + (self._r0t - self._r0x @ (W * self.x_scale[:, None])) / self._r00
        return W, b
