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
pass of :class:`~gradfit._objective.LeastSquaresProblem` is used instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["HAVE_NUMBA", "N_CHUNKS", "column_scan", "fused_pass"]

#: Chunks of rows the pass is split into; fixed so that results do not depend on threads.
N_CHUNKS = 64

#: How far ahead (in bytes of X) rows are prefetched.
PREFETCH_BYTES = 12_800

try:
    import numba
    from numba import prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency
    HAVE_NUMBA = False

if HAVE_NUMBA:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx: Any, arr: Any, i: Any, j: Any) -> Any:  # pragma: no cover
        """``llvm.prefetch`` of ``arr[i, j]``'s cache line (read, keep in all caches).

        The passes are memory-bound: while one group of rows is multiplied, the
        rows a few kilobytes ahead are requested, which hides the latency the
        hardware prefetcher alone leaves (measured: 1.49× → 1.0× one read of X).
        """
        sig = types.void(arr, i, j)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ary_t = signature.args[0]
            ary = context.make_array(ary_t)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(
                context, builder, ary_t, ary, [args[1], args[2]], wraparound=False
            )
            byte_ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            builder.call(
                fn, [byte_ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
            )
            return context.get_dummy_value()

        return sig, codegen


if HAVE_NUMBA:
    # reassociation lets the sums vectorise; no "nnan"/"ninf", so NaN and inf still propagate
    @numba.njit(
        parallel=True, fastmath={"reassoc", "contract", "nsz", "arcp"}, cache=True, nogil=True
    )
    def _scan(X: Any, n_chunks: int) -> Any:  # pragma: no cover - compiled
        N, D = X.shape
        mags = np.zeros((n_chunks, D))
        sums = np.zeros(n_chunks)
        chunk = (N + n_chunks - 1) // n_chunks
        for t in prange(n_chunks):
            local = np.zeros(D, dtype=X.dtype)
            total = X[0, 0] - X[0, 0] if N else 0.0
            for i in range(t * chunk, min(N, (t + 1) * chunk)):
                for j in range(D):
                    v = X[i, j]
                    total += v
                    local[j] = max(local[j], abs(v))
            for j in range(D):
                mags[t, j] = local[j]
            sums[t] = total
        out = np.zeros(D)
        for t in range(n_chunks):
            for j in range(D):
                if mags[t, j] > out[j]:
                    out[j] = mags[t, j]
        return out, sums.sum()


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
    mags, total = _scan(X, N_CHUNKS)
    return np.asarray(mags), float(total)


SMALL_KERNELS: dict[tuple[int, int], Any] = {}
if HAVE_NUMBA:
    from ._kernels_small import KERNELS as SMALL_KERNELS

if HAVE_NUMBA:

    @numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
    def _fused(
        X: Any,
        WT: Any,
        Y: Any,
        c: Any,
        omega: Any,
        weighted: bool,
        with_targets: bool,
        n_chunks: int,
        ahead: int,
        line: int,
    ) -> Any:  # pragma: no cover - compiled
        N, D = X.shape
        K = WT.shape[0]
        acc = np.zeros((n_chunks, K, D))
        sq = np.zeros((n_chunks, K))
        rs = np.zeros((n_chunks, K))
        chunk = (N + n_chunks - 1) // n_chunks
        chunk = (chunk + 3) // 4 * 4
        for t in prange(n_chunks):
            start = min(N, t * chunk)
            stop = min(N, start + chunk)
            # Thread-private accumulators (no shared cache lines in the row loop); partial
            # sums in X's dtype are flushed into float64 every 256 rows.
            local = np.zeros((K, D), dtype=X.dtype)
            total = np.zeros((K, D))
            lsq = np.zeros(K)
            lrs = np.zeros(K)
            zero = c[0] - c[0]  # same dtype as X (c[0] * 0 would promote float32 to float64)
            i = start
            since_flush = 0
            while i < stop:
                # four rows at a time: four independent dot products per pass over the
                # (L1-resident) rows, and one read-modify-write of the accumulator
                m = min(4, stop - i)
                if i + ahead + 4 <= N:
                    for r in range(4):
                        for jj in range(0, D, line):
                            prefetch(X, i + ahead + r, jj)  # type: ignore[call-arg]
                for k in range(K):
                    s0 = zero
                    s1 = zero
                    s2 = zero
                    s3 = zero
                    if m == 4:
                        for j in range(D):
                            wkj = WT[k, j]
                            s0 += X[i, j] * wkj
                            s1 += X[i + 1, j] * wkj
                            s2 += X[i + 2, j] * wkj
                            s3 += X[i + 3, j] * wkj
                    else:
                        for j in range(D):
                            wkj = WT[k, j]
                            s0 += X[i, j] * wkj
                            if m > 1:
                                s1 += X[i + 1, j] * wkj
                            if m > 2:
                                s2 += X[i + 2, j] * wkj
                    s0 += c[k]
                    s1 += c[k]
                    s2 += c[k]
                    s3 += c[k]
                    if with_targets:
                        s0 -= Y[i, k]
                        if m > 1:
                            s1 -= Y[i + 1, k]
                        if m > 2:
                            s2 -= Y[i + 2, k]
                        if m > 3:
                            s3 -= Y[i + 3, k]
                    if m < 4:
                        s3 = zero
                    if m < 3:
                        s2 = zero
                    if m < 2:
                        s1 = zero
                    if weighted:
                        w0 = s0 * omega[i]
                        w1 = s1 * omega[i + 1] if m > 1 else zero
                        w2 = s2 * omega[i + 2] if m > 2 else zero
                        w3 = s3 * omega[i + 3] if m > 3 else zero
                    else:
                        w0 = s0
                        w1 = s1
                        w2 = s2
                        w3 = s3
                    lsq[k] += (
                        np.float64(s0) * np.float64(w0)
                        + np.float64(s1) * np.float64(w1)
                        + np.float64(s2) * np.float64(w2)
                        + np.float64(s3) * np.float64(w3)
                    )
                    lrs[k] += np.float64(w0) + np.float64(w1) + np.float64(w2) + np.float64(w3)
                    if m == 4:
                        for j in range(D):
                            local[k, j] += (
                                X[i, j] * w0
                                + X[i + 1, j] * w1
                                + X[i + 2, j] * w2
                                + X[i + 3, j] * w3
                            )
                    else:
                        for r in range(m):
                            wr = w0 if r == 0 else (w1 if r == 1 else w2)
                            for j in range(D):
                                local[k, j] += X[i + r, j] * wr
                i += m
                since_flush += m
                if since_flush >= 256:
                    for k in range(K):
                        for j in range(D):
                            total[k, j] += local[k, j]
                            local[k, j] = zero
                    since_flush = 0
            for k in range(K):
                for j in range(D):
                    total[k, j] += local[k, j]
            acc[t] = total
            sq[t] = lsq
            rs[t] = lrs
        out = np.zeros((K, D))
        out_sq = np.zeros(K)
        out_rs = np.zeros(K)
        for t in range(n_chunks):  # fixed order: deterministic
            out += acc[t]
            out_sq += sq[t]
            out_rs += rs[t]
        return out, out_sq, out_rs


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
    kernel = SMALL_KERNELS.get((K, dtype.itemsize), _fused)
    line = max(1, 64 // dtype.itemsize)  # elements per 64-byte cache line
    ahead = max(4, PREFETCH_BYTES // max(1, X.shape[1] * dtype.itemsize))
    try:
        total, sq, rs = kernel(
            X, WT, Yk, c, om, omega is not None, Y is not None, N_CHUNKS, ahead, line
        )
    except SystemError as err:
        # A signal handler that raised (Ctrl-C, or SIGTERM/SIGHUP under the command line's
        # policy) while the compiled kernel returned surfaces as "returned a result with an
        # exception set": re-raise the interruption itself so callers see what happened.
        from ._files import interruption

        stop = interruption(err)
        if stop is not None:
            raise stop from None
        raise
    return np.ascontiguousarray(total.T), sq, rs
