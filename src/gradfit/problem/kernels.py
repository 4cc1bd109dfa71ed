"""The fused data pass: residuals and ``Xᵀ·residual`` in one read of X.

The seed's two products, ``X @ W`` then ``X.T @ R``, read X twice. Here each
row of X is read once: its residual ``r_i = x_i W − y_i + c`` is formed and
immediately accumulated into ``Xᵀ Ω r`` while the row is still in L1 cache.
Rows are split into a fixed number of chunks (independent of the number of
threads) that numba runs in parallel, each with its own accumulator; the
chunk results are summed in a fixed order, so the result is bit-identical
whatever the thread count. Products run in X's dtype (float32 stays
float32), with a per-row float64 correction of the accumulators.

numba compiles the kernel the first time it is used for a dtype and caches it
on disk; when numba is missing, or X is not C-contiguous, the NumPy blocked
pass of :class:`~gradfit.problem.objective.LeastSquaresProblem` is used instead.

This module does not import numba: the compiled part lives in
:mod:`gradfit.problem.kernels_jit`, which :func:`jit` imports the first time a kernel
runs, after setting the wait policy of the kernel's threads
(:data:`THREAD_POLICY`; docs/architecture.md, decision 20).
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["HAVE_NUMBA", "N_CHUNKS", "THREAD_POLICY", "column_scan", "fused_pass", "jit"]

#: Chunks of rows the pass is split into; fixed so that results do not depend on threads.
N_CHUNKS = 64

#: How far ahead (in bytes of X) rows are prefetched.
PREFETCH_BYTES = 12_800

#: Whether numba is installed (looked up, not imported).
HAVE_NUMBA = importlib.util.find_spec("numba") is not None

#: Environment the kernel's threads run under, set (unless the user set it) before numba's
#: threading layer loads. OpenMP's default wait policy lets a thread that finished its share
#: spin for a while (GNU: 300,000 polls) waiting for the others and for the next parallel
#: region; with two processes on the same cores each spins on the core the other needs, and
#: two concurrent data-path fits ran 6× (here) to 280× (issue 12) slower each. A passive
#: policy parks the idle threads in the kernel instead. OpenMP is placed first so that the
#: policy is the one tested (numba's own order puts TBB first where it is installed).
THREAD_POLICY = {
    "OMP_WAIT_POLICY": "PASSIVE",  # GNU and LLVM OpenMP: sleep at once, do not spin
    "KMP_BLOCKTIME": "0",  # Intel and LLVM OpenMP: spin for 0 ms after a region
    "NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue",
}

#: Passes over fewer elements of X than this run on the calling thread alone (about 1 ms of
#: work): with passive waiting, waking the other threads costs tens to hundreds of
#: microseconds on a virtual machine, more than the second core saves on a small pass.
PARALLEL_MIN_SIZE = 1 << 20

_JIT: ModuleType | None = None


def jit() -> ModuleType:
    """The compiled kernels (:mod:`gradfit.problem.kernels_jit`), imported on first use.

    Sets :data:`THREAD_POLICY` in the environment first, for the entries the
    user has not set: OpenMP reads its wait policy once, when numba's
    threading layer loads it at the first parallel kernel. A process that ran
    a parallel numba function before gradfit keeps the policy it started with.

    Examples
    --------
    >>> jit().SMALL_KERNELS[(1, 8)].__name__
    'fused_k1_r4'
    >>> import os; "OMP_WAIT_POLICY" in os.environ  # PASSIVE unless the user chose
    True
    """
    global _JIT
    if _JIT is None:
        user_set = {name for name in THREAD_POLICY if name in os.environ}
        for name, value in THREAD_POLICY.items():
            os.environ.setdefault(name, value)
        import numba

        if "NUMBA_THREADING_LAYER_PRIORITY" not in user_set:
            # numba reads its environment once, at import: also when it was imported earlier
            priority = THREAD_POLICY["NUMBA_THREADING_LAYER_PRIORITY"].split()
            numba.config.THREADING_LAYER_PRIORITY = priority  # type: ignore[attr-defined]
        from . import kernels_jit as _kernels_jit

        _JIT = _kernels_jit
    return _JIT


def column_scan(X: NDArray[Any]) -> tuple[NDArray[np.float64], float]:
    """Largest absolute value of each column and the sum of all entries, in one parallel read.

    A finite sum proves every entry finite (NaN and infinity propagate); the
    per-column magnitudes feed the range check of input validation.

    Examples
    --------
    >>> mags, total = column_scan(np.array([[1.0, -3.0], [2.0, 0.5]]))
    >>> mags, total
    (array([2., 3.]), 0.5)
    """
    mags, total = _launch(jit()._scan, X.size, X, N_CHUNKS)
    return np.asarray(mags), float(total)


def _launch(kernel: Any, size: int, *args: Any) -> Any:
    """Run a parallel kernel, on one thread when it reads fewer than PARALLEL_MIN_SIZE entries.

    The chunking is fixed, so the result is the same bit for bit either way.
    """
    if size >= PARALLEL_MIN_SIZE:
        return kernel(*args)
    import numba

    before = numba.get_num_threads()  # per calling thread in numba, so safe under Dask
    if before == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(before)


def padded_width(D: int, dtype: Any) -> int:
    """Columns the kernels sweep: float32 ``D`` rounded up to 16 (one 64-byte line).

    With ``D`` a multiple of the vector loop's width the compiled sweeps need no
    scalar remainder. Measured in cache on one thread (cycles per element of X,
    float32): D = 100, K = 4: 0.84 → 0.77; D = 20, K = 1..4: 10–15% fewer. float64
    measured no gain (its loop is bound by memory, not instructions), and X
    narrower than one line is not padded: the extra products would outweigh the
    remainder they save.

    Examples
    --------
    >>> padded_width(100, np.float32), padded_width(100, np.float64), padded_width(7, np.float32)
    (112, 100, 7)
    """
    if np.dtype(dtype) != np.float32 or D < 16:
        return D
    return -(-D // 16) * 16


def padded_weights(W: NDArray[np.float64], dtype: Any) -> NDArray[Any]:
    """``Wᵀ`` in X's dtype, zero-padded to :func:`padded_width` columns (C-contiguous)."""
    D, K = W.shape
    WT = np.zeros((K, padded_width(D, dtype)), dtype=dtype)
    WT[:, :D] = W.T
    return WT


def fused_pass(
    X: NDArray[Any],
    W: NDArray[np.float64],
    Y: NDArray[Any] | None,
    shift: NDArray[np.float64],
    omega: NDArray[Any] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(Xᵀ Ω r, Σ ω r², Σ ω r)`` for ``r = X W − Y + shift`` in one read of X.

    Parameters
    ----------
    X : ndarray of shape (N, D), C-contiguous float32 or float64
    W : ndarray of shape (D, K)
    Y : ndarray of shape (N, K) in X's dtype, or None for ``r = X W + shift``
    shift : ndarray of shape (K,)
    omega : ndarray of shape (N,) in X's dtype, or None for unit weights
        (the caller divides by N).

    Returns
    -------
    XtR : ndarray of shape (D, K)
    sq : ndarray of shape (K,)
    rsum : ndarray of shape (K,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 4)); W = rng.normal(size=(4, 2)); Y = rng.normal(size=(500, 2))
    >>> XtR, sq, rsum = fused_pass(X, W, Y, np.zeros(2), None)
    >>> R = X @ W - Y
    >>> bool(np.allclose(XtR, X.T @ R)), bool(np.allclose(sq, (R * R).sum(0)))
    (True, True)
    """
    if not X.flags.c_contiguous:  # the padded sweeps read past a row's end into the next row
        raise ValueError("fused_pass needs a C-contiguous X")
    dtype = X.dtype
    WT = padded_weights(W, dtype)
    c = np.asarray(shift, dtype=dtype)
    K = W.shape[1]
    Yk = Y if Y is not None else np.zeros((1, K), dtype=dtype)
    om = omega if omega is not None else np.zeros(1, dtype=dtype)
    compiled = jit()
    kernel = compiled.SMALL_KERNELS.get((K, dtype.itemsize), compiled._fused)
    line = max(1, 64 // dtype.itemsize)  # elements per 64-byte cache line
    ahead = max(4, PREFETCH_BYTES // max(1, X.shape[1] * dtype.itemsize))
    try:
        total, sq, rs = _launch(
            kernel,
            X.size,
            X,
            WT,
            Yk,
            c,
            om,
            omega is not None,
            Y is not None,
            N_CHUNKS,
            ahead,
            line,
        )
    except SystemError as err:
        # A signal handler that raised (Ctrl-C, or SIGTERM/SIGHUP under the command line's
        # policy) while the compiled kernel returned surfaces as "returned a result with an
        # exception set": re-raise the interruption itself so callers see what happened.
        from .._files import interruption

        stop = interruption(err)
        if stop is not None:
            raise stop from None
        raise
    return np.ascontiguousarray(total.T), sq, rs
