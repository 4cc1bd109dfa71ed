r"""The sufficient-statistics engine: one pass over the data, then iterations that cost O(D²K).

The gradient reassociates exactly::

    Xᵀ Ω (X W − Y) = H W − B,    H = X_cᵀ Ω X_c,   B = X_cᵀ Ω Y_c

so one pass over the rows (block by block) that accumulates ``H`` (D×D),
``B`` (D×K) and ``yy = diag(Y_cᵀ Ω Y_c)`` is all the data any gradient method
needs; after it, every iteration costs ``O(D²K)`` whatever ``N`` is, and
files or Dask partitions are read once for the whole fit.

Centring without a centred copy: the raw moments are accumulated and the
means folded in at the end, ``H = Σ ω xxᵀ − x̄x̄ᵀ``. Where that would cancel
(a column whose mean is large against its spread) a second pass accumulates
about the exact means, ``H = Σ ω (x−x̄)(x−x̄)ᵀ``; see :func:`sufficient_statistics`.

The trap of this form is the loss: ``f = ½WᵀHW − WᵀB + ½yy`` is a difference of
numbers of size ``yy``; when R² ≈ 1 it cancels. Its absolute rounding error
is about ``eps·√D·yy``, which :meth:`GramProblem.loss_slack` reports to the
divergence guard; the gradient ``HW − B`` and the stopping rule do not suffer
from it. A loss below that floor is reported as the floor's honest value,
never as a negative number.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from .._exceptions import GradfitInputError
from .curvature import CurvatureEstimate
from .objective import CONSTANT_RTOL, constant_columns, preconditioner, raw_means

__all__ = [
    "CONSTANT_RTOL",
    "GramProblem",
    "constant_columns",
    "rank_tolerance",
    "sufficient_statistics",
]

F64 = NDArray[np.float64]

_EPS = float(np.finfo(np.float64).eps)


#: Up to this many features the eigendecomposition of ``H`` runs on one BLAS thread: as fast
#: as two there (measured: 6.0 against 7.8 ms at D = 400, 31 against 23 ms at D = 800), and
#: OpenBLAS's worker threads, which spin for about 0.1 s after a call, would otherwise take a
#: core from the parallel pass that follows (the rows check of a one-hot design: 75 ms
#: instead of 37 at 1e6 × 100).
QUIET_EIGEN_MAX_D = 400


def rank_tolerance(D: int) -> float:
    """Relative eigenvalue below which a direction of the standardised ``H`` is null.

    ``H`` formed from the data carries a rounding error of a few ``eps`` relative
    to its largest eigenvalue in every entry (in standardised units), so
    eigenvalues below ``16·D·eps·λmax`` (and never less than ``1e-13·λmax``)
    cannot be told from zero: their directions are treated as the null space and
    the minimum-norm answer is returned there.

    Examples
    --------
    >>> rank_tolerance(10) == 1e-13, rank_tolerance(2000) > 1e-13
    (True, True)
    """
    return max(1e-13, 16.0 * D * _EPS)


#: Largest ratio mean²/variance (of any column of X or Y) for which the one-pass
#: uncentred accumulation is kept; beyond it (more than three digits would cancel
#: in ``Σxxᵀ/N − x̄x̄ᵀ``) a second pass accumulates about the exact means.
CANCELLATION_LIMIT = 1e3


def mean_to_spread(mean: F64, variance: F64) -> F64:
    """``mean²/variance`` by column: the ulps that centring after one pass about zero loses.

    Examples
    --------
    >>> mean_to_spread(np.array([0.0, 100.0]), np.array([1.0, 4.0])).tolist()
    [0.0, 2500.0]
    """
    return np.asarray(mean * mean / np.maximum(variance, np.finfo(np.float64).tiny))


def cancels(diag_xx: F64, Sx: F64, Syy: F64, Sy: F64) -> bool:
    """Whether centring these normalised raw moments would lose more than three digits.

    ``diag_xx``, ``Sx``, ``Syy``, ``Sy`` are ``Σω x²``, ``Σω x``, ``Σω y²``, ``Σω y``;
    the rule is ``mean²/variance > CANCELLATION_LIMIT`` for some column of X or Y.
    """
    return _worst_mean_to_spread(diag_xx, Sx, Syy, Sy) > CANCELLATION_LIMIT


def _worst_mean_to_spread(diag_xx: F64, Sx: F64, Syy: F64, Sy: F64) -> float:
    """The largest ``mean²/variance`` over X's and Y's columns, from normalised moments."""
    ratio_x = mean_to_spread(Sx, diag_xx - Sx * Sx)
    ratio_y = mean_to_spread(Sy, Syy - Sy * Sy)
    return max(float(np.max(ratio_x)), float(np.max(ratio_y)))


def centre(
    Sxx: F64, Sxy: F64, Sx: F64, Sy: F64, Syy: F64, fit_intercept: bool
) -> tuple[F64, F64, F64, F64, F64]:
    """``(H, B, yy, x̄, ȳ)`` from normalised moments (about zero or about a shift).

    ``H = Sxx − x̄x̄ᵀ`` (symmetrised), or ``max(Sxx − x̄², 0)`` when ``Sxx`` holds
    only the diagonal; without an intercept the means are zero.
    """
    dx = Sx if fit_intercept else np.zeros(len(Sx))
    dy = Sy if fit_intercept else np.zeros(len(Sy))
    if Sxx.ndim == 2:
        H = Sxx - np.outer(dx, dx)
        H = 0.5 * (H + H.T)
    else:
        H = np.maximum(Sxx - dx * dx, 0.0)
    B = Sxy - np.outer(dx, dy)
    yy = np.maximum(Syy - dy * dy, 0.0)
    return H, B, yy, dx, dy


#: Bytes of X per block of the Gram pass: a block stays in a core's L2 cache (2 MiB on the
#: reference machine) while BLAS forms its ``XᵀX`` and ``Xᵀ[Y, 1]``, so X is read from memory once.
GRAM_BLOCK_BYTES = 1 << 20

#: The Gram pass is split into at most this many chunks of consecutive blocks, each with its own
#: accumulator, summed in chunk order: the chunking depends on N and D only, so the result is
#: the same bit for bit whatever the number of threads that run the chunks.
GRAM_CHUNKS = 8


_CONTROLLER: Any = None


def single_threaded_blas() -> Any:
    """A context in which BLAS runs on the calling thread (threadpoolctl's limit).

    The controller, which finds the loaded BLAS libraries by scanning the
    process's shared objects (about 18 ms), is made once and reused; libraries
    loaded later are found again when the first controller sees none.

    Examples
    --------
    >>> with single_threaded_blas():
    ...     pass
    """
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None or not _CONTROLLER.select(user_api="blas").lib_controllers:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def gram_threads() -> int:
    """Threads that run the Gram pass's chunks: the cores this process may use (at most 8).

    Examples
    --------
    >>> 1 <= gram_threads() <= GRAM_CHUNKS
    True
    """
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(GRAM_CHUNKS, cores))


def gram_chunks(N: int, D: int, block_rows: int) -> list[list[tuple[int, int]]]:
    """Row blocks ``(start, stop)`` grouped into chunks of consecutive blocks.

    At most :data:`GRAM_CHUNKS` chunks, fewer when there are few blocks or when
    the chunks' accumulators (``D²`` each) would exceed an eighth of X.

    Examples
    --------
    >>> gram_chunks(100, 2, 30)
    [[(0, 30)], [(30, 60)], [(60, 90)], [(90, 100)]]
    >>> [len(c) for c in gram_chunks(1000, 2, 10)]
    [13, 13, 13, 13, 12, 12, 12, 12]
    """
    blocks = [(start, min(N, start + block_rows)) for start in range(0, N, block_rows)]
    by_memory = max(1, (N * D) // (8 * max(1, D * D)))
    n_chunks = max(1, min(GRAM_CHUNKS, len(blocks), by_memory))
    size, extra = divmod(len(blocks), n_chunks)
    out, at = [], 0
    for c in range(n_chunks):
        take = size + (c < extra)
        out.append(blocks[at : at + take])
        at += take
    return out


def _accumulate_chunk(
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    shift_x: F64,
    shift_y: F64,
    blocks: list[tuple[int, int]],
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Raw (weighted) sums over some row blocks, about ``shift_x``/``shift_y``."""
    D = X.shape[1]
    K = Y.shape[1]
    Sxx = np.zeros((D, D))
    Sxy = np.zeros((D, K))
    Sx = np.zeros(D)
    Sy = np.zeros(K)
    Syy = np.zeros(K)
    Yraw = np.zeros(K)
    shifted = bool(np.any(shift_x))
    y_shifted = bool(np.any(shift_y))
    rows = max(stop - start for start, stop in blocks)
    # [Y_b, 1] (weighted: [ω Y_b, ω]) so that one product gives Σxyᵀ and Σx together
    Z_all = np.empty((rows, K + 1))
    Z_all[:, K] = 1.0
    for start, stop in blocks:
        if shifted:
            Xb = np.subtract(X[start:stop], shift_x, dtype=np.float64)
        elif X.dtype != np.float64:
            Xb = X[start:stop].astype(np.float64)  # a block (in cache), never the whole of X
        else:
            Xb = X[start:stop]
        Y64 = np.asarray(Y[start:stop], dtype=np.float64)
        Yb = Y64 - shift_y if y_shifted else Y64
        Z = Z_all[: stop - start]
        if omega is None:
            Z[:, :K] = Yb
            # a symmetric rank-k update (BLAS syrk) of an L2-resident block; NumPy's matmul
            # releases the GIL, SciPy's f2py dsyrk (which could add in place) holds it and
            # measured the chunks' threads serialised
            Sxx += Xb.T @ Xb
            Syy += np.einsum("ij,ij->j", Yb, Yb)
            Yraw += np.einsum("ij,ij->j", Y64, Y64)
            Sy += Yb.sum(axis=0)
        else:
            wb = omega[start:stop]
            Z[:, :K] = Yb * wb[:, None]
            Z[:, K] = wb
            Sxx += (Xb * wb[:, None]).T @ Xb
            Syy += np.einsum("ij,ij,i->j", Yb, Yb, wb)
            Yraw += np.einsum("ij,ij,i->j", Y64, Y64, wb)
            Sy += wb @ Yb
        XZ = Xb.T @ Z  # the block is still in cache: no second read of X from memory
        Sxy += XZ[:, :K]
        Sx += XZ[:, K]
    return Sxx, Sxy, Sx, Sy, Syy, Yraw


#: The compiled Gram pass (:mod:`gradfit.problem.gram_jit`) serves X with at most this many
#: columns (plus targets and one): each chunk's accumulator is ``P × P`` and stays in cache.
KERNEL_MAX_COLUMNS = 1024

#: ... and passes of at least this many multiply-adds (``N·P²/2``); smaller ones (a few
#: milliseconds of BLAS) do not pay for compiling the kernel in a fresh process.
KERNEL_MIN_WORK = 1 << 28

_KERNEL: Any = None


def gram_kernel() -> ModuleType | None:
    """The compiled Gram pass, or None where it is not used.

    Used on x86-64 CPUs with AVX-512 (where it was measured faster than BLAS),
    or wherever ``GRADFIT_GRAM_KERNEL=1``; ``GRADFIT_GRAM_KERNEL=0`` turns it
    off. The kernels are compiled for the host CPU on first use (llvmlite,
    about 0.1 s per process); if that fails the BLAS pass is used.

    Examples
    --------
    >>> module = gram_kernel()
    >>> module is None or module.PANEL == 8
    True
    """
    import os

    choice = os.environ.get("GRADFIT_GRAM_KERNEL", "").strip()
    if choice == "0" or (choice != "1" and not _host_has_avx512()):
        return None
    global _KERNEL
    if _KERNEL is None:
        try:
            from .kernels import jit

            jit()  # the threads' wait policy first (decision 20), then numba
            from . import gram_jit

            gram_jit.compile_tiles()
            _KERNEL = gram_jit
        except Exception:  # pragma: no cover - no llvmlite, or a compiler failure
            _KERNEL = False
    return _KERNEL or None


@functools.cache
def _host_has_avx512() -> bool:
    """Whether this is an x86-64 CPU with AVX-512 (LLVM's view of the host)."""
    try:
        import llvmlite.binding as llvm
    except ImportError:  # pragma: no cover - llvmlite comes with numba
        return False
    return bool(
        llvm.get_process_triple().startswith(("x86_64", "amd64"))
        and llvm.get_host_cpu_features().get("avx512f", False)
    )


def _kernel_rows(P: int) -> int:
    """Rows per packed block: at most 256, and the block (``R·P`` doubles) within 1 MiB."""
    return max(64, min(256, (GRAM_BLOCK_BYTES // (8 * P)) // 8 * 8))


def _kernel_for(X: NDArray[Any], P: int) -> ModuleType | None:
    """The compiled pass when it serves this X (``P`` augmented columns), else None."""
    N = X.shape[0]
    if (
        P <= KERNEL_MAX_COLUMNS
        and N * P * P // 2 >= KERNEL_MIN_WORK
        and X.itemsize in (X.strides[0], X.strides[1])  # rows or columns contiguous
        and X.dtype in (np.float32, np.float64)
        and X.dtype.isnative
    ):
        return gram_kernel()
    return None


def _kernel_sums(
    kernel: ModuleType,
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    shift_x: F64,
    shift_y: F64,
    block_rows: int | None,
    parallel: bool,
    products: str = "float64",
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Raw sums from the augmented Gram matrices ``Σ z zᵀ``, ``z = √ω·[x − x₀, y − y₀, 1]``."""
    N, D = X.shape
    K = Y.shape[1]
    single = products == "float32"
    width = kernel.PANEL32 if single else kernel.PANEL
    panels = -(-(D + K + 1) // width)
    rows = block_rows if block_rows is not None else _kernel_rows(panels * width)
    sw = np.sqrt(omega) if omega is not None else np.zeros(0)
    if not (Y.dtype in (np.float32, np.float64) and Y.dtype.isnative):
        Y = Y.astype(np.float64)
    ranges = [(c[0][0], c[-1][1]) for c in gram_chunks(N, D, rows)] if parallel else [(0, N)]
    threads = min(gram_threads(), len(ranges))
    if single:
        kernel.compile_tiles("float32")

    def run(r: tuple[int, int]) -> F64:
        # float32 products: row D + K + 1 of C is left for the float64 sums of the packing
        C = np.zeros((panels * width + int(single), panels * width))
        if single:
            Pk32 = np.empty((panels, rows, width), dtype=np.float32)
            kernel.gram_chunk32(X, Y, sw, shift_x, shift_y, r[0], r[1], Pk32, C[:-1], C[-1])
        else:
            Pk = np.empty((panels, rows, width))
            kernel.gram_chunk(X, Y, sw, shift_x, shift_y, r[0], r[1], Pk, C)
        return C

    if threads <= 1:
        grams = [run(r) for r in ranges]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            grams = list(pool.map(run, ranges))
    C = grams[0]
    for other in grams[1:]:
        C += other
    if single:  # Σωx and Σωy from the packing's float64 sums, not the float32 products
        C[:D, D + K] = C[-1, :D]
        C[D : D + K, D + K] = C[-1, D : D + K]
    Sxx = np.triu(C[:D, :D])
    Sxx = Sxx + np.triu(Sxx, 1).T
    Syy = np.diag(C[D : D + K, D : D + K]).copy()
    if np.any(shift_y):  # Σωy² about zero as well, as the BLAS pass gives it
        Y64 = np.asarray(Y, dtype=np.float64)
        Yraw = np.einsum("ij,ij->j", Y64, Y64) if omega is None else omega @ (Y64 * Y64)
    else:
        Yraw = Syy.copy()
    return Sxx, C[:D, D : D + K].copy(), C[:D, D + K].copy(), C[D : D + K, D + K].copy(), Syy, Yraw


def raw_sums(
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    shift_x: F64,
    shift_y: F64,
    block_rows: int | None = None,
    *,
    parallel: bool = True,
    products: str = "float64",
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """``(Σωxxᵀ, Σωxyᵀ, Σωx, Σωy, Σωy², Σωy²_raw)`` about the shifts (``ω = 1`` when None).

    Where :func:`gram_kernel` serves (AVX-512, up to :data:`KERNEL_MAX_COLUMNS`
    columns, at least :data:`KERNEL_MIN_WORK`), each chunk of rows is one call
    of the compiled pass, which forms every sum at once from packed blocks.
    Otherwise each chunk runs cache-sized blocks through single-threaded BLAS
    (NumPy's products release the GIL); OpenBLAS's own threading of one tall
    ``XᵀX`` was measured slower on two cores, and far slower when another
    process shares them. With ``parallel`` the chunks run on the process's
    cores (:func:`gram_threads`), otherwise all on the calling thread (a Dask
    worker's, a file block's). The chunking depends on N and D only and the
    chunks' sums are added in chunk order (reproducible bit for bit). The
    last entry, ``Σωy²`` about zero, is the raw scale of the targets.

    ``products="float32"`` asks for the compiled pass's float32 products (blocks summed in
    float32, then in float64: :func:`mixed_products_serve` says where it runs); its sums
    are off by about ``√R·eps32`` relative, which only a caller that refines and certifies
    on the rows may accept (decision 34). Elsewhere it is ignored.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]]); Y = np.array([[1.0], [2.0]])
    >>> Sxx, Sxy, Sx, Sy, Syy, Yraw = raw_sums(X, Y, None, np.zeros(2), np.zeros(1))
    >>> Sxx.tolist(), Sxy.ravel().tolist(), Sx.tolist(), Sy.tolist(), Syy.tolist()
    ([[10.0, 14.0], [14.0, 20.0]], [7.0, 10.0], [4.0, 6.0], [3.0], [5.0])
    """
    N, D = X.shape
    K = Y.shape[1]
    kernel = _kernel_for(X, D + K + 1) if N else None
    if kernel is not None:
        if products == "float32" and not (X.dtype == np.float32 and X.strides[1] == 4):
            products = "float64"
        return _kernel_sums(kernel, X, Y, omega, shift_x, shift_y, block_rows, parallel, products)
    if block_rows is None:
        block_rows = max(256, GRAM_BLOCK_BYTES // (8 * max(1, D)))
    if not parallel:
        blocks = [(start, min(N, start + block_rows)) for start in range(0, N, block_rows)]
        return _accumulate_chunk(X, Y, omega, shift_x, shift_y, blocks or [(0, 0)])
    chunks = gram_chunks(N, D, block_rows)
    threads = min(gram_threads(), len(chunks))

    def run(blocks: list[tuple[int, int]]) -> tuple[F64, F64, F64, F64, F64, F64]:
        return _accumulate_chunk(X, Y, omega, shift_x, shift_y, blocks)

    if threads <= 1:
        parts = [run(blocks) for blocks in chunks]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with single_threaded_blas(), ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(run, chunks))
    totals = [np.array(a, copy=True) for a in parts[0]]
    for part in parts[1:]:
        for total, a in zip(totals, part, strict=True):
            total += a
    Sxx, Sxy, Sx, Sy, Syy, Yraw = totals
    return Sxx, Sxy, Sx, Sy, Syy, Yraw


def _accumulate(
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    shift_x: F64,
    shift_y: F64,
    block_rows: int | None,
    products: str = "float64",
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """:func:`raw_sums` over all rows on the process's cores, divided by N when unweighted."""
    sums = raw_sums(X, Y, omega, shift_x, shift_y, block_rows, products=products)
    if omega is None:
        for array in sums:
            array /= X.shape[0]
    return sums


def sufficient_statistics(
    X: NDArray[Any],
    Y: NDArray[Any],
    *,
    sample_weight: F64 | None = None,
    fit_intercept: bool = True,
    block_rows: int | None = None,
    products: str = "float64",
) -> dict[str, Any]:
    """Accumulate ``H``, ``B``, ``yy`` and the means over row blocks (one pass, or two).

    The first pass accumulates the raw moments (``Σxxᵀ``, ``Σxyᵀ``, ``Σx``, …)
    with one symmetric rank-k BLAS update per block and centres at the end.
    That subtraction cancels when a column's mean is large against its spread;
    when ``mean²/variance`` exceeds :data:`CANCELLATION_LIMIT` for any column of
    X or Y, a second pass accumulates about the exact means instead, so no more
    than three digits are ever lost.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    Y : ndarray of shape (N, K)
    sample_weight : ndarray of shape (N,), optional
    fit_intercept : bool, default=True
        Centre (implicitly) by the weighted means.
    block_rows : int, optional
        Rows per block (about :data:`GRAM_BLOCK_BYTES` of float64 by default, so a
        block is read from memory once and multiplied in cache).
    products : {"float64", "float32"}, default="float64"
        ``"float32"`` allows float32 products where :func:`mixed_products_serve` (wide
        float32 X on the compiled pass), about the means of the first rows: ``H`` is then
        off by about ``√R·eps32`` relative, and the result says ``products="float32"``.
        Only a fit that refines and certifies on the rows in float64 asks for it
        (decision 34); where it does not serve, where a sum is not finite, or where the
        columns are far from float32's range or centring would cancel, the float64 pass
        runs instead.

    Returns
    -------
    dict
        ``H`` (D, D), ``B`` (D, K), ``yy`` (K,), ``yy_raw`` (K,), ``x_offset`` (D,),
        ``y_offset`` (K,) (the means when centring, else zero), ``x_mean`` (D,) and
        ``y_mean`` (K,) (the weighted means whatever ``fit_intercept``: the stopping
        rule's reference without an intercept, :func:`~gradfit.solve.loop.reference_norms`),
        ``N``, ``n_positive`` (rows of positive weight), ``passes``, ``x_meansq`` (D,),
        the (weighted) mean of each column's square (for
        :func:`~gradfit._validation.gram_proves_design`), ``products`` (``"float64"`` or
        ``"float32"``) and, with float32 products, ``cancellation`` (``1 + max
        mean²/variance`` about the shift).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3)) + 5.0; Y = rng.normal(size=(1000, 2))
    >>> s = sufficient_statistics(X, Y, block_rows=100)
    >>> Xc = X - X.mean(0)
    >>> bool(np.allclose(s["H"], Xc.T @ Xc / 1000)), bool(np.allclose(s["x_offset"], X.mean(0)))
    (True, True)
    >>> s["passes"], sufficient_statistics(X + 1e6, Y)["passes"]
    (1, 2)
    """
    N, D = X.shape
    K = Y.shape[1]
    omega = None if sample_weight is None else sample_weight / np.sum(sample_weight)
    # rows of positive weight: the observations that count as degrees of freedom
    n_positive = N if sample_weight is None else int(np.count_nonzero(sample_weight > 0))
    if products == "float32" and mixed_products_serve(X, K):
        mixed = _mixed_statistics(X, Y, omega, fit_intercept, block_rows)
        if mixed is not None:
            mixed["n_positive"] = n_positive
            return mixed
    passes = 1
    with np.errstate(over="ignore", invalid="ignore"):
        Sxx, Sxy, Sx, Sy, Syy, Yraw = _accumulate(X, Y, omega, np.zeros(D), np.zeros(K), block_rows)
        x_meansq = np.diag(Sxx).copy()
        shift_x = np.zeros(D)
        shift_y = np.zeros(K)
        if fit_intercept and cancels(np.diag(Sxx), Sx, Syy, Sy):
            shift_x, shift_y = Sx.copy(), Sy.copy()
            Sxx, Sxy, Sx, Sy, Syy, _ = _accumulate(X, Y, omega, shift_x, shift_y, block_rows)
            passes = 2
        H, B, yy, dx, dy = centre(Sxx, Sxy, Sx, Sy, Syy, fit_intercept)
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(B)) and np.all(np.isfinite(Yraw))):
        raise GradfitInputError.overflow(float(np.max(np.abs(X))), float(np.max(np.abs(Y))))
    stats = _statistics(H, B, yy, Yraw, (shift_x, shift_y), (dx, dy), (Sx, Sy), N, x_meansq)
    stats["n_positive"] = n_positive
    stats["passes"] = passes
    return stats


def _statistics(
    H: F64,
    B: F64,
    yy: F64,
    yy_raw: F64,
    shift: tuple[F64, F64],
    centring: tuple[F64, F64],
    sums: tuple[F64, F64],
    N: int,
    x_meansq: F64,
    products: str = "float64",
) -> dict[str, Any]:
    """:func:`sufficient_statistics`' result from a pass about ``shift`` (its keys, one place)."""
    return {
        "H": H,
        "B": B,
        "yy": yy,
        "yy_raw": yy_raw,
        "x_offset": shift[0] + centring[0],
        "y_offset": shift[1] + centring[1],
        "x_mean": shift[0] + sums[0],
        "y_mean": shift[1] + sums[1],
        "N": N,
        "n_positive": N,
        "passes": 1,
        "x_meansq": x_meansq,
        "products": products,
    }


#: Float32 products serve X with at least this many augmented columns (``D + K + 1``):
#: below it the pass is bound by reading X, and the float64 passes that refine and
#: certify the answer (two reads of X) cost more than the faster multiply-adds save
#: (1e6 × 100: 0.133 s against 0.150 s for the pass, benchmarks/RESULTS.md).
MIXED_MIN_COLUMNS = 192

#: The pilot shift (float32 products centre about it) is the mean of the first rows.
MIXED_PILOT_ROWS = 1024

#: Float32 products are kept only where every column's mean square (about the shift) is
#: zero or within ``[1/LIMIT, LIMIT]``: no product near float32's underflow or overflow.
MIXED_RANGE_LIMIT = 1e30

#: ... and where centring about the shift loses at most this factor (``1 + mean²/var``).
MIXED_CANCELLATION_LIMIT = 16.0


def mixed_products_serve(X: Any, K: int) -> bool:
    """Whether float32 products can form the statistics of this X (the compiled pass).

    Dense float32 NumPy X with contiguous rows, at least :data:`MIXED_MIN_COLUMNS`
    augmented columns, on a CPU where :func:`gram_kernel` runs (and the pass is large
    enough for it).

    Examples
    --------
    >>> mixed_products_serve(np.zeros((10, 3), dtype=np.float32), 1)
    False
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.float32 or X.ndim != 2:
        return False
    P = X.shape[1] + K + 1
    if P < MIXED_MIN_COLUMNS or X.strides[1] != X.itemsize:
        return False
    return _kernel_for(X, P) is not None


def _cancellation_of(Sxx: F64, Sx: F64, Syy: F64, Sy: F64) -> float:
    """``1 + max mean²/variance`` of normalised moments about a shift (X's and Y's columns)."""
    with np.errstate(over="ignore", invalid="ignore"):
        worst = _worst_mean_to_spread(np.diag(Sxx), Sx, Syy, Sy)
    return 1.0 + min(worst, CANCELLATION_LIMIT) if math.isfinite(worst) else math.inf


def _mixed_statistics(
    X: NDArray[Any],
    Y: NDArray[Any],
    omega: F64 | None,
    fit_intercept: bool,
    block_rows: int | None,
) -> dict[str, Any] | None:
    """The statistics from float32 products about a pilot shift, or None where they do not hold.

    With an intercept the rows are centred about the mean of the first
    :data:`MIXED_PILOT_ROWS` rows (float64) before rounding to float32, which keeps
    centring's cancellation near 1 for columns whose mean is large beside their spread.
    """
    N, D = X.shape
    K = Y.shape[1]
    shift_x, shift_y = np.zeros(D), np.zeros(K)
    if fit_intercept:
        head = slice(0, min(N, MIXED_PILOT_ROWS))
        shift_x = np.mean(X[head], axis=0, dtype=np.float64)
        shift_y = np.mean(np.asarray(Y[head], dtype=np.float64), axis=0)
        if not (np.all(np.isfinite(shift_x)) and np.all(np.isfinite(shift_y))):
            return None
    with np.errstate(over="ignore", invalid="ignore"):
        Sxx, Sxy, Sx, Sy, Syy, Yraw = _accumulate(
            X, Y, omega, shift_x, shift_y, block_rows, products="float32"
        )
        sums = (Sxx, Sxy, Sx, Sy, Syy, Yraw)
        if not all(np.all(np.isfinite(a)) for a in sums):
            return None  # overflow in float32 products (or a non-finite entry): float64 decides
        squares = np.concatenate([np.diag(Sxx), Syy])
        inside = (squares == 0) | (
            (squares >= 1.0 / MIXED_RANGE_LIMIT) & (squares <= MIXED_RANGE_LIMIT)
        )
        cancellation = _cancellation_of(Sxx, Sx, Syy, Sy) if fit_intercept else 1.0
        if not np.all(inside) or not cancellation <= MIXED_CANCELLATION_LIMIT:
            return None
        # finite sums whose squares are within 1e±30 centre and shift back without overflow
        H, B, yy, dx, dy = centre(Sxx, Sxy, Sx, Sy, Syy, fit_intercept)
        # each column's mean square about zero, from the shifted sums (for the range check)
        x_meansq = np.diag(Sxx) + shift_x * (2.0 * Sx + shift_x)
    stats = _statistics(
        H, B, yy, Yraw, (shift_x, shift_y), (dx, dy), (Sx, Sy), N, x_meansq, "float32"
    )
    stats["cancellation"] = cancellation
    return stats


#: ``method="exact"`` refines on the data only when the Cholesky solve of the formed ``H`` may
#: be further than this (relative, in the coefficients) from the exact minimiser.
EXACT_FORWARD_ERROR = 1e-10


def refinement_needed(gram: Any) -> bool:
    """Whether ``method="exact"`` must refine its Cholesky solve on the data.

    Forming ``H`` (standardised) in float64 perturbs it by about ``√D·eps``
    relative to its largest eigenvalue (times ``c = 1 + mean²/variance`` after one
    pass about zero, :attr:`GramProblem.cancellation`), which moves the solution by
    up to ``c·κ·√D·eps`` relative; with a factor 16 of margin, the solve is kept as it
    is when ``16·c·κ·√D·eps ≤`` :data:`EXACT_FORWARD_ERROR` and refined on the data
    otherwise (each step one pass over X). κ is measured (the exact eigenvalues
    of ``H``); a singular problem (pseudo-inverse on the row space) always refines.

    Examples
    --------
    >>> x = np.random.default_rng(0).uniform(0, 10, 500)
    >>> well = np.random.default_rng(0).normal(size=(500, 3))
    >>> polynomial = np.column_stack([x**k for k in range(1, 6)])
    >>> [refinement_needed(GramProblem(sufficient_statistics(X, X[:, :1]), X.dtype))
    ...  for X in (well, polynomial)]
    [False, True]
    """
    if gram.null_space.shape[1]:
        return True
    kappa = float(gram.curvature().kappa)
    return bool(not math.isfinite(kappa) or forming_drift(gram, kappa) > EXACT_FORWARD_ERROR)


def forming_drift(gram: Any, kappa: float) -> float:
    """``16·c·κ·√D·eps``: how far (relative) forming ``H`` in float64 may move its solution.

    ``c`` is :attr:`GramProblem.cancellation` (1 where unknown), ``κ`` the caller's
    (the loop's own, or standardised), ``eps`` that of the products that formed ``H``
    (:attr:`GramProblem.forming_eps`: float32's after float32 products).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> f"{forming_drift(GramProblem(sufficient_statistics(X, X[:, :1]), X.dtype), 1e6):.1e}"
    '6.3e-09'
    """
    c = float(getattr(gram, "cancellation", 1.0))
    eps = float(getattr(gram, "forming_eps", np.finfo(np.float64).eps))
    return 16.0 * c * kappa * math.sqrt(gram.D) * eps


class GramProblem:
    """The objective of :class:`~.objective.LeastSquaresProblem`, from ``H``, ``B``, ``yy``.

    Same interface (``loss_grad``, ``hvp``, ``curvature``, ``loss_slack``,
    ``to_user``, ``from_user``), so every update rule and the solve loop run
    on it unchanged.

    Parameters
    ----------
    stats : dict
        The output of :func:`sufficient_statistics`.
    dtype : numpy dtype
        The dtype of the data (reported, and used for messages).
    fit_intercept, standardize : bool
    alpha : float

    Examples
    --------
    >>> from gradfit.problem.objective import LeastSquaresProblem
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(200, 4)); Y = rng.normal(size=(200, 2))
    >>> gram = GramProblem(sufficient_statistics(X, Y), X.dtype)
    >>> data = LeastSquaresProblem(X, Y)
    >>> V = rng.normal(size=(4, 2))
    >>> bool(np.allclose(gram.loss_grad(V)[1], data.loss_grad(V)[1]))
    True
    """

    engine = "stats"

    def __init__(
        self,
        stats: dict[str, Any],
        dtype: Any,
        *,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
    ) -> None:
        self.H: F64 = stats["H"]
        self.B: F64 = stats["B"]
        self.yy: F64 = stats["yy"]
        self.N = int(stats["N"])
        #: Rows of positive weight (rows of weight 0 are no observations: degrees of freedom).
        self.n_positive = int(stats.get("n_positive", self.N))
        self.D, self.K = self.B.shape
        self.dtype = np.dtype(dtype)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        self.alpha = float(alpha)
        self.x_offset: F64 = stats["x_offset"] if fit_intercept else np.zeros(self.D)
        self.y_offset: F64 = stats["y_offset"] if fit_intercept else np.zeros(self.K)
        #: Weighted means of X's columns and of Y whatever fit_intercept, or None where the
        #: statistics do not carry them (:func:`~gradfit.solve.loop.reference_norms`).
        self.raw_means = raw_means(stats)
        self.x_rms = np.sqrt(np.maximum(np.diag(self.H), 0.0))
        #: Columns constant to rounding (no information beyond the intercept): coefficient 0.
        self.constant = constant_columns(self.x_rms, self.x_offset, self.fit_intercept)
        if self.constant.any():
            # what is left of them after centring is rounding noise: drop it from H and B
            self.H = self.H.copy()
            self.B = self.B.copy()
            self.H[self.constant, :] = 0.0
            self.H[:, self.constant] = 0.0
            self.B[self.constant, :] = 0.0
            self.x_rms = np.where(self.constant, 0.0, self.x_rms)
        self.x_scale = preconditioner(self.x_rms, standardize)
        self.loss_at_zero = 0.5 * self.yy
        self.target_scale = 0.5 * stats["yy_raw"]
        self.n_passes = int(stats.get("passes", 1))
        #: ``"float32"`` where the statistics came from float32 products
        #: (:func:`sufficient_statistics`): ``H`` is then off by about ``√R·eps32``, which
        #: only the rows can correct and judge (decision 34).
        self.products = str(stats.get("products", "float64"))
        #: The rows of the same data (a ``RowsProblem``) where ``H`` came from float32 products:
        #: the certificate takes the residuals' loss from them, not from ``H`` (decision 34).
        self.loss_rows: Any = None
        #: The relative rounding of the products that formed ``H`` (:func:`forming_drift`).
        self.forming_eps = float(
            np.finfo(np.float32 if self.products == "float32" else np.float64).eps
        )
        #: How much larger than ``eps`` the rounding of ``H`` and ``B`` may be, relative to
        #: the spreads: one pass about zero subtracts ``x̄x̄ᵀ`` from ``Σωxxᵀ``, which loses up
        #: to ``mean²/variance`` ulps (kept up to :data:`CANCELLATION_LIMIT`; beyond it a
        #: second pass about the means makes it 1).
        self.cancellation = self._cancellation(stats)
        S = self.x_scale
        self._HV = self.H / np.outer(S, S) + self.alpha * np.diag(1.0 / S**2)
        self._BV = self.B / S[:, None]
        #: Orthonormal basis (loop coordinates) of the numerical null space of H, (D, r0).
        self.null_space: F64 = np.zeros((self.D, 0))
        #: The same directions in the user's units, orthonormalised (for the minimum norm).
        self._null_user: F64 = np.zeros((self.D, 0))
        self._curvature: CurvatureEstimate | None = None
        if self.D <= QUIET_EIGEN_MAX_D:
            with single_threaded_blas():
                self._analyse_spectrum()
        else:
            self._analyse_spectrum()

    def _cancellation(self, stats: dict[str, Any]) -> float:
        """``1 + max mean²/variance`` over X's and Y's columns after one pass about zero."""
        if self.products == "float32":
            return float(stats["cancellation"])  # about the pilot shift
        if not self.fit_intercept or self.n_passes != 1 or "x_mean" not in stats:
            return 1.0
        free = ~self.constant
        x_mean = np.asarray(stats["x_mean"], dtype=np.float64)[free]
        ratio_x = mean_to_spread(x_mean, self.x_rms[free] ** 2)
        ratio_y = mean_to_spread(np.asarray(stats["y_mean"], dtype=np.float64), self.yy)
        worst = max([0.0, *ratio_x.tolist(), *ratio_y.tolist()])
        return 1.0 + float(min(worst, CANCELLATION_LIMIT))

    @property
    def rank(self) -> int:
        """Numerical rank of the (centred) design seen by the fit."""
        return self.D - self.null_space.shape[1]

    def _analyse_spectrum(self) -> None:
        """Eigenvalues of ``H_V`` once: exact ``L``, ``μ`` and the null space if any.

        Directions whose eigenvalue is below :func:`rank_tolerance` of the largest
        are the null space (collinear or constant columns, ``D ≥ N``). They are
        removed from ``H_V`` and ``B_V`` (where they hold only rounding), so the
        iterates stay in the row space, and :meth:`to_user` returns the
        minimum-norm solution in the user's units, as ``numpy.linalg.lstsq`` does.
        """
        eig = linalg.eigvalsh(self._HV)
        L = float(max(eig[-1], 0.0))
        floor = rank_tolerance(self.D) * max(L, np.finfo(float).tiny)
        # (a penalty α makes H_V regular, but α/s² below the floor is rounding-level too)
        if eig[0] > floor or L == 0.0:
            mu = float(eig[0]) if eig[0] > floor else 0.0
            self._curvature = CurvatureEstimate(L=L, mu=mu, n_matvec=0, exact=True)
            return
        eig, Q = linalg.eigh(self._HV)
        null = eig <= floor
        Q0 = Q[:, null]
        self.null_space = Q0
        self._HV = (Q[:, ~null] * eig[~null]) @ Q[:, ~null].T
        self._HV = 0.5 * (self._HV + self._HV.T)
        self._BV = self._BV - Q0 @ (Q0.T @ self._BV)
        # null directions of H in the user's units: W = V/s
        Z = Q0 / self.x_scale[:, None]
        self._null_user = np.linalg.qr(Z)[0] if Z.shape[1] else Z
        kept = eig[~null]
        self._row_basis, self._row_eig = Q[:, ~null], kept
        mu = float(kept[0]) if kept.size else 0.0
        self._curvature = CurvatureEstimate(L=L, mu=mu, n_matvec=0, exact=True)

    def to_user(self, V: F64) -> tuple[F64, F64]:
        """Return ``(W, b)`` in the user's units for loop coordinates ``V``.

        For a singular problem the null-space component (in the user's units) is
        removed: the minimum-norm solution, whatever the preconditioning.
        """
        W = V / self.x_scale[:, None]
        if self._null_user.shape[1]:
            W = W - self._null_user @ (self._null_user.T @ W)
        if self.constant.any():
            # exactly zero: the null-space basis mixes rounding (1e-16) into a constant column,
            # and times its mean (a column of 1e44) that moved the intercept by 4e28
            W = np.array(W, dtype=np.float64)
            W[self.constant] = 0.0
        return W, self.y_offset - self.x_offset @ W

    def from_user(self, W: F64) -> F64:
        """Loop coordinates ``V = s·W``."""
        return np.asarray(W, dtype=np.float64) * self.x_scale[:, None]

    def loss_grad(self, V: F64) -> tuple[F64, F64]:
        """Loss per output and gradient ``H_V V − B_V`` in loop coordinates."""
        HV = self._HV @ V
        G = HV - self._BV
        # ½VᵀH_V V − Vᵀ B_V + ½yy, written as ½Vᵀ(G − B_V) + ½yy to save a product
        loss = 0.5 * np.einsum("ij,ij->j", V, G - self._BV) + 0.5 * self.yy
        # the size of the terms that cancel in it, for the rounding allowance: H_V V carries
        # an error of eps·L·‖V‖ whatever VᵀH_V V is (V may lie along small curvature)
        L = self._curvature.L if self._curvature is not None else 0.0
        self._terms = 0.5 * L * np.einsum("ij,ij->j", V, V)
        return np.maximum(loss, 0.0), G

    def hvp(self, P: F64) -> F64:
        """Hessian-vector product ``H_V P``."""
        return self._HV @ P

    def curvature(self) -> CurvatureEstimate:
        """Exact extreme eigenvalues of ``H_V`` (computed once, at construction).

        ``mu`` is the smallest eigenvalue on the row space: for a singular
        problem, the smallest one above the null space's (see :attr:`rank`).
        """
        assert self._curvature is not None
        return self._curvature

    @functools.cached_property
    def _standardised_kappa(self) -> float:
        if self.standardize:
            return float(self.curvature().kappa)
        free = (self.x_rms > 0) & ~np.asarray(self.constant)
        if not free.any():
            return 1.0
        rms = self.x_rms[free]
        eig = linalg.eigvalsh(self.H[np.ix_(free, free)] / np.outer(rms, rms), check_finite=False)
        return float(eig[-1] / eig[0]) if eig[0] > 0 else math.inf

    def standardised_kappa(self) -> float:
        """κ of ``H`` with unit-scaled columns (the loop's own when standardising).

        Column scales alone do not hurt a Cholesky solve or its refinement (an unstandardised
        design of condition 1e6 refines to 1e-7): what decides whether ``H`` can carry the
        problem is the conditioning of the columns' correlations. Computed once (under
        ``standardize=False``, an eigenvalue problem of size D).

        Examples
        --------
        >>> X = np.random.default_rng(0).normal(size=(500, 2)) * [1.0, 1e4]
        >>> gram = GramProblem(sufficient_statistics(X, X[:, :1]), X.dtype, standardize=False)
        >>> bool(gram.curvature().kappa > 1e7), round(gram.standardised_kappa(), 2)
        (True, 1.1)
        """
        return self._standardised_kappa

    def loss_slack(self, loss: F64) -> F64:
        """Rounding uncertainty of a loss computed as ``½WᵀHW − WᵀB + ½yy``."""
        eps = float(np.finfo(np.float64).eps)
        # ½L‖V‖² (of the last point evaluated) can exceed yy by far when V is large along
        # directions of small curvature (ill-conditioned, unstandardised): its rounding counts
        terms = getattr(self, "_terms", 0.0)
        return 64.0 * eps * np.sqrt(self.D) * (self.loss_at_zero + np.abs(loss) + terms) + 1e-300

    def solve_exact(self) -> F64:
        """Minimiser in loop coordinates by Cholesky (minimum-norm via eigh if singular)."""
        if self.null_space.shape[1]:
            return np.asarray(self._pseudo_solve(self._BV))
        try:
            factor = linalg.cho_factor(self._HV, lower=True, check_finite=False)
            V = linalg.cho_solve(factor, self._BV, check_finite=False)
            if np.all(np.isfinite(V)):
                return np.asarray(V)
        except linalg.LinAlgError:
            pass
        eig, Q = linalg.eigh(self._HV)
        keep = eig > self.D * np.finfo(np.float64).eps * max(eig[-1], 0.0)
        return np.asarray(Q[:, keep] @ ((Q[:, keep].T @ self._BV) / eig[keep, None]))

    def _pseudo_solve(self, R: F64) -> F64:
        """``H_V⁺ R`` on the row space (the null space's component of R is dropped)."""
        Q, eig = self._row_basis, self._row_eig
        return np.asarray(Q @ ((Q.T @ R) / eig[:, None]))

    def exact_factor(self) -> Any:
        """A callable ``R ↦ H_V⁻¹ R`` (for iterative refinement), or None if singular.

        For a singular problem it is the pseudo-inverse on the row space. ``H_V`` does not
        change after construction, so the Cholesky factor is made once and kept (the exact
        solve, the certificate's coefficient errors and the Newton step all use it).
        """
        if self.null_space.shape[1]:
            return self._pseudo_solve
        if not hasattr(self, "_cholesky"):
            try:
                self._cholesky: Any = linalg.cho_factor(self._HV, lower=True, check_finite=False)
            except linalg.LinAlgError:
                self._cholesky = None
        factor = self._cholesky
        if factor is None:
            return None
        return lambda R: linalg.cho_solve(factor, R, check_finite=False)
