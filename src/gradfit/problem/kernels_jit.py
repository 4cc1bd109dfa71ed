"""The numba part of the fused data pass, imported on first use by :mod:`gradfit.problem.kernels`.

Importing this module imports numba (about 0.2 s and 40 MB), which is why
``import gradfit`` does not: :func:`gradfit.problem.kernels.jit` imports it when a
kernel first runs, after setting the threads' wait policy
(docs/architecture.md, decision 20). The entry points, with their documentation
and examples, are :func:`gradfit.problem.kernels.fused_pass` and
:func:`gradfit.problem.kernels.column_scan`.
"""

# mypy: ignore-errors
from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["SMALL_KERNELS", "prefetch"]


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
        builder.call(fn, [byte_ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# reassociation lets the sums vectorise; no "nnan"/"ninf", so NaN and inf still propagate
@numba.njit(parallel=True, fastmath={"reassoc", "contract", "nsz", "arcp"}, cache=True, nogil=True)
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
                            X[i, j] * w0 + X[i + 1, j] * w1 + X[i + 2, j] * w2 + X[i + 3, j] * w3
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


# the unrolled kernels import prefetch from here, so they come last
from .kernels_small import KERNELS as SMALL_KERNELS  # noqa: E402


@numba.njit(nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"}, cache=True)
def centred_rows_pass(X, Y, sw, x_offset, y_offset, keep, Wt, with_targets, r0, r1, accT, sq, a):
    """``accT += (Ω^½X_c)ᵀ r`` and ``sq += Σ r²`` over rows ``r0:r1``, all in float64.

    ``r = Ω^½(X_c W − Y_c)`` with ``X_c = (X − x̄)·keep`` and ``Y_c = Y − ȳ`` (zero without
    ``with_targets``); ``Wt`` is ``Wᵀ`` (K, D) and ``accT`` the gradient's transpose (K, D);
    ``sw`` is ``√ω`` or empty, ``a`` a scratch row of D. Each row is centred in float64 first
    (exact for values near the mean, unlike ``X·W − x̄·W``), then multiplied (the rows
    pass of :class:`gradfit.problem.qr.RowsProblem`). Rows contiguous; float32 or float64.
    """
    N, D = X.shape
    K = Wt.shape[0]
    weighted = sw.shape[0] > 0
    for i in range(r0, r1):
        if i + 4 < N:
            for j in range(0, D, 16):
                prefetch(X, i + 4, j)
        w = sw[i] if weighted else 1.0
        for j in range(D):
            a[j] = (np.float64(X[i, j]) - x_offset[j]) * keep[j] * w
        for k in range(K):
            s = 0.0
            for j in range(D):
                s += a[j] * Wt[k, j]
            if with_targets:
                s -= (np.float64(Y[i, k]) - y_offset[k]) * w
            sq[k] += s * s
            for j in range(D):
                accT[k, j] += a[j] * s
