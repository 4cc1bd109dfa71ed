"""Fused data-pass kernels unrolled for K = 1..4 outputs (from tools/gen_kernels.py).

Do not edit by hand. Each kernel processes ``R`` rows at a time, one scalar
accumulator per (row, output) pair, so that the dot products of a row group
with every column of W are formed in registers in one sweep over the row,
then the group is accumulated into the chunk's ``Xᵀr`` in a second sweep
while it is still in L1 cache. Semantics are those of ``_kernels_jit._fused``.

Both sweeps run over ``Dp = WT.shape[1] ≥ D`` columns: ``WT`` is padded with
zeros to a whole number of vector widths, so the vectorised loops need no
scalar remainder. The padded reads of a row run into the next row of X (finite
data times a zero weight, and accumulator columns ``≥ D`` that are never read),
which is why the last rows, whose padded read would leave X, take the exact
one-row path at the end of each chunk.
"""

# mypy: ignore-errors
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .kernels_jit import prefetch


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k1_r4(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 1, D))
    sq = np.zeros((n_chunks, 1))
    rs = np.zeros((n_chunks, 1))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 3) // 4 * 4
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((1, Dp), dtype=X.dtype)
        total = np.zeros((1, D))
        lsq = np.zeros(1)
        lrs = np.zeros(1)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 4 <= fast_stop:
            if i + ahead + 4 <= N:
                for r in range(4):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s1_0 = zero
            s2_0 = zero
            s3_0 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                w0 = WT[0, j]
                s0_0 += x0 * w0
                s1_0 += x1 * w0
                s2_0 += x2 * w0
                s3_0 += x3 * w0
            s0_0 += c[0]
            s1_0 += c[0]
            s2_0 += c[0]
            s3_0 += c[0]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s1_0 -= Y[i + 1, 0]
                s2_0 -= Y[i + 2, 0]
                s3_0 -= Y[i + 3, 0]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u2_0 = s2_0 * omega[i + 2]
                u3_0 = s3_0 * omega[i + 3]
            else:
                u0_0 = s0_0
                u1_0 = s1_0
                u2_0 = s2_0
                u3_0 = s3_0
            lsq[0] += (
                np.float64(s0_0) * np.float64(u0_0)
                + np.float64(s1_0) * np.float64(u1_0)
                + np.float64(s2_0) * np.float64(u2_0)
                + np.float64(s3_0) * np.float64(u3_0)
            )
            lrs[0] += np.float64(u0_0) + np.float64(u1_0) + np.float64(u2_0) + np.float64(u3_0)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0 + x2 * u2_0 + x3 * u3_0
            i += 4
            since_flush += 4
            if since_flush >= 256:
                for k in range(1):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(1):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(1):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(1):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((1, D))
    out_sq = np.zeros(1)
    out_rs = np.zeros(1)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(1):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k2_r4(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 2, D))
    sq = np.zeros((n_chunks, 2))
    rs = np.zeros((n_chunks, 2))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 3) // 4 * 4
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((2, Dp), dtype=X.dtype)
        total = np.zeros((2, D))
        lsq = np.zeros(2)
        lrs = np.zeros(2)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 4 <= fast_stop:
            if i + ahead + 4 <= N:
                for r in range(4):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s0_1 = zero
            s1_0 = zero
            s1_1 = zero
            s2_0 = zero
            s2_1 = zero
            s3_0 = zero
            s3_1 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                w0 = WT[0, j]
                w1 = WT[1, j]
                s0_0 += x0 * w0
                s0_1 += x0 * w1
                s1_0 += x1 * w0
                s1_1 += x1 * w1
                s2_0 += x2 * w0
                s2_1 += x2 * w1
                s3_0 += x3 * w0
                s3_1 += x3 * w1
            s0_0 += c[0]
            s0_1 += c[1]
            s1_0 += c[0]
            s1_1 += c[1]
            s2_0 += c[0]
            s2_1 += c[1]
            s3_0 += c[0]
            s3_1 += c[1]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s0_1 -= Y[i + 0, 1]
                s1_0 -= Y[i + 1, 0]
                s1_1 -= Y[i + 1, 1]
                s2_0 -= Y[i + 2, 0]
                s2_1 -= Y[i + 2, 1]
                s3_0 -= Y[i + 3, 0]
                s3_1 -= Y[i + 3, 1]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u0_1 = s0_1 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u1_1 = s1_1 * omega[i + 1]
                u2_0 = s2_0 * omega[i + 2]
                u2_1 = s2_1 * omega[i + 2]
                u3_0 = s3_0 * omega[i + 3]
                u3_1 = s3_1 * omega[i + 3]
            else:
                u0_0 = s0_0
                u0_1 = s0_1
                u1_0 = s1_0
                u1_1 = s1_1
                u2_0 = s2_0
                u2_1 = s2_1
                u3_0 = s3_0
                u3_1 = s3_1
            lsq[0] += (
                np.float64(s0_0) * np.float64(u0_0)
                + np.float64(s1_0) * np.float64(u1_0)
                + np.float64(s2_0) * np.float64(u2_0)
                + np.float64(s3_0) * np.float64(u3_0)
            )
            lrs[0] += np.float64(u0_0) + np.float64(u1_0) + np.float64(u2_0) + np.float64(u3_0)
            lsq[1] += (
                np.float64(s0_1) * np.float64(u0_1)
                + np.float64(s1_1) * np.float64(u1_1)
                + np.float64(s2_1) * np.float64(u2_1)
                + np.float64(s3_1) * np.float64(u3_1)
            )
            lrs[1] += np.float64(u0_1) + np.float64(u1_1) + np.float64(u2_1) + np.float64(u3_1)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0 + x2 * u2_0 + x3 * u3_0
                local[1, j] += x0 * u0_1 + x1 * u1_1 + x2 * u2_1 + x3 * u3_1
            i += 4
            since_flush += 4
            if since_flush >= 256:
                for k in range(2):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(2):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(2):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(2):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((2, D))
    out_sq = np.zeros(2)
    out_rs = np.zeros(2)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(2):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k3_r2(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 3, D))
    sq = np.zeros((n_chunks, 3))
    rs = np.zeros((n_chunks, 3))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 1) // 2 * 2
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((3, Dp), dtype=X.dtype)
        total = np.zeros((3, D))
        lsq = np.zeros(3)
        lrs = np.zeros(3)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 2 <= fast_stop:
            if i + ahead + 2 <= N:
                for r in range(2):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s0_1 = zero
            s0_2 = zero
            s1_0 = zero
            s1_1 = zero
            s1_2 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                w0 = WT[0, j]
                w1 = WT[1, j]
                w2 = WT[2, j]
                s0_0 += x0 * w0
                s0_1 += x0 * w1
                s0_2 += x0 * w2
                s1_0 += x1 * w0
                s1_1 += x1 * w1
                s1_2 += x1 * w2
            s0_0 += c[0]
            s0_1 += c[1]
            s0_2 += c[2]
            s1_0 += c[0]
            s1_1 += c[1]
            s1_2 += c[2]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s0_1 -= Y[i + 0, 1]
                s0_2 -= Y[i + 0, 2]
                s1_0 -= Y[i + 1, 0]
                s1_1 -= Y[i + 1, 1]
                s1_2 -= Y[i + 1, 2]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u0_1 = s0_1 * omega[i + 0]
                u0_2 = s0_2 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u1_1 = s1_1 * omega[i + 1]
                u1_2 = s1_2 * omega[i + 1]
            else:
                u0_0 = s0_0
                u0_1 = s0_1
                u0_2 = s0_2
                u1_0 = s1_0
                u1_1 = s1_1
                u1_2 = s1_2
            lsq[0] += np.float64(s0_0) * np.float64(u0_0) + np.float64(s1_0) * np.float64(u1_0)
            lrs[0] += np.float64(u0_0) + np.float64(u1_0)
            lsq[1] += np.float64(s0_1) * np.float64(u0_1) + np.float64(s1_1) * np.float64(u1_1)
            lrs[1] += np.float64(u0_1) + np.float64(u1_1)
            lsq[2] += np.float64(s0_2) * np.float64(u0_2) + np.float64(s1_2) * np.float64(u1_2)
            lrs[2] += np.float64(u0_2) + np.float64(u1_2)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0
                local[1, j] += x0 * u0_1 + x1 * u1_1
                local[2, j] += x0 * u0_2 + x1 * u1_2
            i += 2
            since_flush += 2
            if since_flush >= 256:
                for k in range(3):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(3):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(3):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(3):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((3, D))
    out_sq = np.zeros(3)
    out_rs = np.zeros(3)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(3):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k3_r4(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 3, D))
    sq = np.zeros((n_chunks, 3))
    rs = np.zeros((n_chunks, 3))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 3) // 4 * 4
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((3, Dp), dtype=X.dtype)
        total = np.zeros((3, D))
        lsq = np.zeros(3)
        lrs = np.zeros(3)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 4 <= fast_stop:
            if i + ahead + 4 <= N:
                for r in range(4):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s0_1 = zero
            s0_2 = zero
            s1_0 = zero
            s1_1 = zero
            s1_2 = zero
            s2_0 = zero
            s2_1 = zero
            s2_2 = zero
            s3_0 = zero
            s3_1 = zero
            s3_2 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                w0 = WT[0, j]
                w1 = WT[1, j]
                w2 = WT[2, j]
                s0_0 += x0 * w0
                s0_1 += x0 * w1
                s0_2 += x0 * w2
                s1_0 += x1 * w0
                s1_1 += x1 * w1
                s1_2 += x1 * w2
                s2_0 += x2 * w0
                s2_1 += x2 * w1
                s2_2 += x2 * w2
                s3_0 += x3 * w0
                s3_1 += x3 * w1
                s3_2 += x3 * w2
            s0_0 += c[0]
            s0_1 += c[1]
            s0_2 += c[2]
            s1_0 += c[0]
            s1_1 += c[1]
            s1_2 += c[2]
            s2_0 += c[0]
            s2_1 += c[1]
            s2_2 += c[2]
            s3_0 += c[0]
            s3_1 += c[1]
            s3_2 += c[2]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s0_1 -= Y[i + 0, 1]
                s0_2 -= Y[i + 0, 2]
                s1_0 -= Y[i + 1, 0]
                s1_1 -= Y[i + 1, 1]
                s1_2 -= Y[i + 1, 2]
                s2_0 -= Y[i + 2, 0]
                s2_1 -= Y[i + 2, 1]
                s2_2 -= Y[i + 2, 2]
                s3_0 -= Y[i + 3, 0]
                s3_1 -= Y[i + 3, 1]
                s3_2 -= Y[i + 3, 2]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u0_1 = s0_1 * omega[i + 0]
                u0_2 = s0_2 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u1_1 = s1_1 * omega[i + 1]
                u1_2 = s1_2 * omega[i + 1]
                u2_0 = s2_0 * omega[i + 2]
                u2_1 = s2_1 * omega[i + 2]
                u2_2 = s2_2 * omega[i + 2]
                u3_0 = s3_0 * omega[i + 3]
                u3_1 = s3_1 * omega[i + 3]
                u3_2 = s3_2 * omega[i + 3]
            else:
                u0_0 = s0_0
                u0_1 = s0_1
                u0_2 = s0_2
                u1_0 = s1_0
                u1_1 = s1_1
                u1_2 = s1_2
                u2_0 = s2_0
                u2_1 = s2_1
                u2_2 = s2_2
                u3_0 = s3_0
                u3_1 = s3_1
                u3_2 = s3_2
            lsq[0] += (
                np.float64(s0_0) * np.float64(u0_0)
                + np.float64(s1_0) * np.float64(u1_0)
                + np.float64(s2_0) * np.float64(u2_0)
                + np.float64(s3_0) * np.float64(u3_0)
            )
            lrs[0] += np.float64(u0_0) + np.float64(u1_0) + np.float64(u2_0) + np.float64(u3_0)
            lsq[1] += (
                np.float64(s0_1) * np.float64(u0_1)
                + np.float64(s1_1) * np.float64(u1_1)
                + np.float64(s2_1) * np.float64(u2_1)
                + np.float64(s3_1) * np.float64(u3_1)
            )
            lrs[1] += np.float64(u0_1) + np.float64(u1_1) + np.float64(u2_1) + np.float64(u3_1)
            lsq[2] += (
                np.float64(s0_2) * np.float64(u0_2)
                + np.float64(s1_2) * np.float64(u1_2)
                + np.float64(s2_2) * np.float64(u2_2)
                + np.float64(s3_2) * np.float64(u3_2)
            )
            lrs[2] += np.float64(u0_2) + np.float64(u1_2) + np.float64(u2_2) + np.float64(u3_2)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0 + x2 * u2_0 + x3 * u3_0
                local[1, j] += x0 * u0_1 + x1 * u1_1 + x2 * u2_1 + x3 * u3_1
                local[2, j] += x0 * u0_2 + x1 * u1_2 + x2 * u2_2 + x3 * u3_2
            i += 4
            since_flush += 4
            if since_flush >= 256:
                for k in range(3):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(3):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(3):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(3):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((3, D))
    out_sq = np.zeros(3)
    out_rs = np.zeros(3)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(3):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k4_r2(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 4, D))
    sq = np.zeros((n_chunks, 4))
    rs = np.zeros((n_chunks, 4))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 1) // 2 * 2
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((4, Dp), dtype=X.dtype)
        total = np.zeros((4, D))
        lsq = np.zeros(4)
        lrs = np.zeros(4)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 2 <= fast_stop:
            if i + ahead + 2 <= N:
                for r in range(2):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s0_1 = zero
            s0_2 = zero
            s0_3 = zero
            s1_0 = zero
            s1_1 = zero
            s1_2 = zero
            s1_3 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                w0 = WT[0, j]
                w1 = WT[1, j]
                w2 = WT[2, j]
                w3 = WT[3, j]
                s0_0 += x0 * w0
                s0_1 += x0 * w1
                s0_2 += x0 * w2
                s0_3 += x0 * w3
                s1_0 += x1 * w0
                s1_1 += x1 * w1
                s1_2 += x1 * w2
                s1_3 += x1 * w3
            s0_0 += c[0]
            s0_1 += c[1]
            s0_2 += c[2]
            s0_3 += c[3]
            s1_0 += c[0]
            s1_1 += c[1]
            s1_2 += c[2]
            s1_3 += c[3]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s0_1 -= Y[i + 0, 1]
                s0_2 -= Y[i + 0, 2]
                s0_3 -= Y[i + 0, 3]
                s1_0 -= Y[i + 1, 0]
                s1_1 -= Y[i + 1, 1]
                s1_2 -= Y[i + 1, 2]
                s1_3 -= Y[i + 1, 3]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u0_1 = s0_1 * omega[i + 0]
                u0_2 = s0_2 * omega[i + 0]
                u0_3 = s0_3 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u1_1 = s1_1 * omega[i + 1]
                u1_2 = s1_2 * omega[i + 1]
                u1_3 = s1_3 * omega[i + 1]
            else:
                u0_0 = s0_0
                u0_1 = s0_1
                u0_2 = s0_2
                u0_3 = s0_3
                u1_0 = s1_0
                u1_1 = s1_1
                u1_2 = s1_2
                u1_3 = s1_3
            lsq[0] += np.float64(s0_0) * np.float64(u0_0) + np.float64(s1_0) * np.float64(u1_0)
            lrs[0] += np.float64(u0_0) + np.float64(u1_0)
            lsq[1] += np.float64(s0_1) * np.float64(u0_1) + np.float64(s1_1) * np.float64(u1_1)
            lrs[1] += np.float64(u0_1) + np.float64(u1_1)
            lsq[2] += np.float64(s0_2) * np.float64(u0_2) + np.float64(s1_2) * np.float64(u1_2)
            lrs[2] += np.float64(u0_2) + np.float64(u1_2)
            lsq[3] += np.float64(s0_3) * np.float64(u0_3) + np.float64(s1_3) * np.float64(u1_3)
            lrs[3] += np.float64(u0_3) + np.float64(u1_3)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0
                local[1, j] += x0 * u0_1 + x1 * u1_1
                local[2, j] += x0 * u0_2 + x1 * u1_2
                local[3, j] += x0 * u0_3 + x1 * u1_3
            i += 2
            since_flush += 2
            if since_flush >= 256:
                for k in range(4):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(4):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(4):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(4):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((4, D))
    out_sq = np.zeros(4)
    out_rs = np.zeros(4)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(4):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def fused_k4_r4(
    X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line
):  # pragma: no cover
    N, D = X.shape
    Dp = WT.shape[1]
    # rows whose padded read X[i, :Dp] stays inside X
    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0
    acc = np.zeros((n_chunks, 4, D))
    sq = np.zeros((n_chunks, 4))
    rs = np.zeros((n_chunks, 4))
    chunk = (N + n_chunks - 1) // n_chunks
    chunk = (chunk + 3) // 4 * 4
    for t in prange(n_chunks):
        start = min(N, t * chunk)
        stop = min(N, start + chunk)
        local = np.zeros((4, Dp), dtype=X.dtype)
        total = np.zeros((4, D))
        lsq = np.zeros(4)
        lrs = np.zeros(4)
        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)
        i = start
        since_flush = 0
        fast_stop = min(stop, fast_end)
        while i + 4 <= fast_stop:
            if i + ahead + 4 <= N:
                for r in range(4):
                    for jj in range(0, D, line):
                        prefetch(X, i + ahead + r, jj)
            s0_0 = zero
            s0_1 = zero
            s0_2 = zero
            s0_3 = zero
            s1_0 = zero
            s1_1 = zero
            s1_2 = zero
            s1_3 = zero
            s2_0 = zero
            s2_1 = zero
            s2_2 = zero
            s2_3 = zero
            s3_0 = zero
            s3_1 = zero
            s3_2 = zero
            s3_3 = zero
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                w0 = WT[0, j]
                w1 = WT[1, j]
                w2 = WT[2, j]
                w3 = WT[3, j]
                s0_0 += x0 * w0
                s0_1 += x0 * w1
                s0_2 += x0 * w2
                s0_3 += x0 * w3
                s1_0 += x1 * w0
                s1_1 += x1 * w1
                s1_2 += x1 * w2
                s1_3 += x1 * w3
                s2_0 += x2 * w0
                s2_1 += x2 * w1
                s2_2 += x2 * w2
                s2_3 += x2 * w3
                s3_0 += x3 * w0
                s3_1 += x3 * w1
                s3_2 += x3 * w2
                s3_3 += x3 * w3
            s0_0 += c[0]
            s0_1 += c[1]
            s0_2 += c[2]
            s0_3 += c[3]
            s1_0 += c[0]
            s1_1 += c[1]
            s1_2 += c[2]
            s1_3 += c[3]
            s2_0 += c[0]
            s2_1 += c[1]
            s2_2 += c[2]
            s2_3 += c[3]
            s3_0 += c[0]
            s3_1 += c[1]
            s3_2 += c[2]
            s3_3 += c[3]
            if with_targets:
                s0_0 -= Y[i + 0, 0]
                s0_1 -= Y[i + 0, 1]
                s0_2 -= Y[i + 0, 2]
                s0_3 -= Y[i + 0, 3]
                s1_0 -= Y[i + 1, 0]
                s1_1 -= Y[i + 1, 1]
                s1_2 -= Y[i + 1, 2]
                s1_3 -= Y[i + 1, 3]
                s2_0 -= Y[i + 2, 0]
                s2_1 -= Y[i + 2, 1]
                s2_2 -= Y[i + 2, 2]
                s2_3 -= Y[i + 2, 3]
                s3_0 -= Y[i + 3, 0]
                s3_1 -= Y[i + 3, 1]
                s3_2 -= Y[i + 3, 2]
                s3_3 -= Y[i + 3, 3]
            if weighted:
                u0_0 = s0_0 * omega[i + 0]
                u0_1 = s0_1 * omega[i + 0]
                u0_2 = s0_2 * omega[i + 0]
                u0_3 = s0_3 * omega[i + 0]
                u1_0 = s1_0 * omega[i + 1]
                u1_1 = s1_1 * omega[i + 1]
                u1_2 = s1_2 * omega[i + 1]
                u1_3 = s1_3 * omega[i + 1]
                u2_0 = s2_0 * omega[i + 2]
                u2_1 = s2_1 * omega[i + 2]
                u2_2 = s2_2 * omega[i + 2]
                u2_3 = s2_3 * omega[i + 2]
                u3_0 = s3_0 * omega[i + 3]
                u3_1 = s3_1 * omega[i + 3]
                u3_2 = s3_2 * omega[i + 3]
                u3_3 = s3_3 * omega[i + 3]
            else:
                u0_0 = s0_0
                u0_1 = s0_1
                u0_2 = s0_2
                u0_3 = s0_3
                u1_0 = s1_0
                u1_1 = s1_1
                u1_2 = s1_2
                u1_3 = s1_3
                u2_0 = s2_0
                u2_1 = s2_1
                u2_2 = s2_2
                u2_3 = s2_3
                u3_0 = s3_0
                u3_1 = s3_1
                u3_2 = s3_2
                u3_3 = s3_3
            lsq[0] += (
                np.float64(s0_0) * np.float64(u0_0)
                + np.float64(s1_0) * np.float64(u1_0)
                + np.float64(s2_0) * np.float64(u2_0)
                + np.float64(s3_0) * np.float64(u3_0)
            )
            lrs[0] += np.float64(u0_0) + np.float64(u1_0) + np.float64(u2_0) + np.float64(u3_0)
            lsq[1] += (
                np.float64(s0_1) * np.float64(u0_1)
                + np.float64(s1_1) * np.float64(u1_1)
                + np.float64(s2_1) * np.float64(u2_1)
                + np.float64(s3_1) * np.float64(u3_1)
            )
            lrs[1] += np.float64(u0_1) + np.float64(u1_1) + np.float64(u2_1) + np.float64(u3_1)
            lsq[2] += (
                np.float64(s0_2) * np.float64(u0_2)
                + np.float64(s1_2) * np.float64(u1_2)
                + np.float64(s2_2) * np.float64(u2_2)
                + np.float64(s3_2) * np.float64(u3_2)
            )
            lrs[2] += np.float64(u0_2) + np.float64(u1_2) + np.float64(u2_2) + np.float64(u3_2)
            lsq[3] += (
                np.float64(s0_3) * np.float64(u0_3)
                + np.float64(s1_3) * np.float64(u1_3)
                + np.float64(s2_3) * np.float64(u2_3)
                + np.float64(s3_3) * np.float64(u3_3)
            )
            lrs[3] += np.float64(u0_3) + np.float64(u1_3) + np.float64(u2_3) + np.float64(u3_3)
            for j in range(Dp):
                x0 = X[i + 0, j]
                x1 = X[i + 1, j]
                x2 = X[i + 2, j]
                x3 = X[i + 3, j]
                local[0, j] += x0 * u0_0 + x1 * u1_0 + x2 * u2_0 + x3 * u3_0
                local[1, j] += x0 * u0_1 + x1 * u1_1 + x2 * u2_1 + x3 * u3_1
                local[2, j] += x0 * u0_2 + x1 * u1_2 + x2 * u2_2 + x3 * u3_2
                local[3, j] += x0 * u0_3 + x1 * u1_3 + x2 * u2_3 + x3 * u3_3
            i += 4
            since_flush += 4
            if since_flush >= 256:
                for k in range(4):
                    for j in range(D):
                        total[k, j] += local[k, j]
                    for j in range(Dp):
                        local[k, j] = zero
                since_flush = 0
        while i < stop:
            for k in range(4):
                s = zero
                for j in range(D):
                    s += X[i, j] * WT[k, j]
                s += c[k]
                if with_targets:
                    s -= Y[i, k]
                u = s * omega[i] if weighted else s
                lsq[k] += np.float64(s) * np.float64(u)
                lrs[k] += np.float64(u)
                for j in range(D):
                    local[k, j] += X[i, j] * u
            i += 1
        for k in range(4):
            for j in range(D):
                total[k, j] += local[k, j]
        for k in range(4):
            sq[t, k] = lsq[k]
            rs[t, k] = lrs[k]
            for j in range(D):
                acc[t, k, j] = total[k, j]
    out = np.zeros((4, D))
    out_sq = np.zeros(4)
    out_rs = np.zeros(4)
    for t in range(n_chunks):  # fixed order: deterministic
        for k in range(4):
            out_sq[k] += sq[t, k]
            out_rs[k] += rs[t, k]
            for j in range(D):
                out[k, j] += acc[t, k, j]
    return out, out_sq, out_rs


#: (K, X's item size) → kernel
KERNELS = {
    (1, 4): fused_k1_r4,
    (2, 4): fused_k2_r4,
    (3, 4): fused_k3_r4,
    (4, 4): fused_k4_r4,
    (1, 8): fused_k1_r4,
    (2, 8): fused_k2_r4,
    (3, 8): fused_k3_r2,
    (4, 8): fused_k4_r2,
}
