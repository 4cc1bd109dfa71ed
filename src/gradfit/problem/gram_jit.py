"""The compiled Gram pass: packed row blocks and a register-blocked AVX-512 kernel.

Imported on first use by :func:`gradfit.problem.gram.gram_kernel` (this module
imports numba and llvmlite). What it computes, for the rows ``r0:r1`` of one
chunk, is the upper triangle (by 8×8 blocks) of the Gram matrix of the
augmented rows ``z = √ω·[x − x₀, y − y₀, 1]``::

    C += Σ_i z_i z_iᵀ

so ``Σωxxᵀ``, ``Σωxyᵀ``, ``Σωx``, ``Σωy²``, ``Σωy`` and ``Σω`` all come from one
read of X (docs/architecture.md, decision 28).

How: each block of ``R`` rows is first *packed* into panels of 8 columns
(``Pk[p, i, :] = z_i[8p:8p+8]``, zero beyond the last column), which reads X once
from memory and leaves the block in L2 cache in the order the kernel reads it.
The kernel (LLVM IR written here, compiled once per process by llvmlite for
the host CPU) multiplies an 8-column panel against 1–3 panels: per row, one
vector load per right-hand panel and 8 broadcasts of the left panel feed up to
24 fused multiply-adds into 24 accumulators of 8 doubles held in registers
(the shape of a BLAS micro-kernel), and prefetches the rows 16 ahead. Products
and sums are IEEE float64 (no fast-math): NaN and infinity propagate, so a
non-finite Gram still proves a non-finite input.

NumPy and BLAS have no fused ``[X, Y, 1]ᵀ[X, Y, 1]`` and OpenBLAS's ``dsyrk`` on a
tall, narrow block runs at 40–45% of a core's peak where this kernel runs at
80–90% in cache (benchmarks/RESULTS.md).
"""

# mypy: ignore-errors
from __future__ import annotations

import threading
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types

from .kernels_jit import prefetch

__all__ = ["PANEL", "compile_tiles", "gram_chunk"]

#: Columns per packed panel: one AVX-512 vector of doubles.
PANEL = 8

#: Right-hand panels per kernel call at most (3 × 8 accumulators of 8 doubles = 24 registers).
MAX_PANELS = 3

#: Rows ahead that the kernel prefetches in each panel it streams.
PREFETCH_ROWS = 16

#: Rows ahead of the packing loop that are prefetched from X.
PACK_PREFETCH_ROWS = 4

_LOCK = threading.Lock()
_ENGINE: Any = None


def _tile_ir(nv: int) -> str:
    """LLVM IR of ``gradfit_gram_tile{nv}``: ``C[0:8, 0:8·nv] += Aᵀ[B₀ … B_{nv−1}]`` over rows.

    ``A`` and each ``B_v`` are packed panels (``rows × 8`` doubles, row-major),
    ``B_v`` at ``B + v·pstride``; ``C`` is row-major with leading dimension ``ldc``.
    """
    vt = "<8 x double>"
    out = [
        f"define void @gradfit_gram_tile{nv}(ptr noalias %A, ptr noalias %B, i64 %pstride, "
        "i64 %rows, ptr noalias %C, i64 %ldc) {",
        "entry:",
        "  %has = icmp sgt i64 %rows, 0",
        "  br i1 %has, label %loop, label %exit",
        "loop:",
        "  %i = phi i64 [0, %entry], [%inext, %loop]",
    ]
    for a in range(PANEL):
        for v in range(nv):
            out.append(f"  %acc{a}_{v} = phi {vt} [zeroinitializer, %entry], [%n{a}_{v}, %loop]")
    out.append(f"  %row = mul i64 %i, {PANEL}")
    for v in range(nv):
        out += [
            f"  %bs{v} = mul i64 %pstride, {v}",
            f"  %bo{v} = add i64 %bs{v}, %row",
            f"  %bp{v} = getelementptr double, ptr %B, i64 %bo{v}",
            f"  %b{v} = load {vt}, ptr %bp{v}, align 8",
            f"  %pf{v} = getelementptr double, ptr %bp{v}, i64 {PREFETCH_ROWS * PANEL}",
            f"  call void @llvm.prefetch.p0(ptr %pf{v}, i32 0, i32 3, i32 1)",
        ]
    for a in range(PANEL):
        out += [
            f"  %ao{a} = add i64 %row, {a}",
            f"  %ap{a} = getelementptr double, ptr %A, i64 %ao{a}",
            f"  %as{a} = load double, ptr %ap{a}, align 8",
            f"  %ai{a} = insertelement {vt} poison, double %as{a}, i64 0",
            f"  %av{a} = shufflevector {vt} %ai{a}, {vt} poison, <8 x i32> zeroinitializer",
        ]
        for v in range(nv):
            args = f"{vt} %av{a}, {vt} %b{v}, {vt} %acc{a}_{v}"
            out.append(f"  %n{a}_{v} = call {vt} @llvm.fma.v8f64({args})")
    out += [
        "  %inext = add i64 %i, 1",
        "  %more = icmp slt i64 %inext, %rows",
        "  br i1 %more, label %loop, label %done",
        "done:",
    ]
    for a in range(PANEL):
        out.append(f"  %cr{a} = mul i64 %ldc, {a}")
        for v in range(nv):
            out += [
                f"  %co{a}_{v} = add i64 %cr{a}, {v * PANEL}",
                f"  %cp{a}_{v} = getelementptr double, ptr %C, i64 %co{a}_{v}",
                f"  %cv{a}_{v} = load {vt}, ptr %cp{a}_{v}, align 8",
                f"  %cs{a}_{v} = fadd {vt} %cv{a}_{v}, %n{a}_{v}",
                f"  store {vt} %cs{a}_{v}, ptr %cp{a}_{v}, align 8",
            ]
    out += ["  br label %exit", "exit:", "  ret void", "}"]
    return "\n".join(out)


def compile_tiles() -> None:
    """Compile the kernels for the host CPU (once per process) and register their symbols.

    numba's compiled code finds them by name (``gradfit_gram_tile1`` … ``3``).
    """
    global _ENGINE
    with _LOCK:
        if _ENGINE is not None:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        source = "\n".join(
            [
                "declare <8 x double> @llvm.fma.v8f64(<8 x double>, <8 x double>, <8 x double>)",
                "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)",
            ]
            + [_tile_ir(nv) for nv in range(1, MAX_PANELS + 1)]
        )
        module = llvm.parse_assembly(source)
        module.verify()
        target = llvm.Target.from_default_triple()
        machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(),
            opt=3,
        )
        builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(3))
        builder.getModulePassManager().run(module, builder)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        for nv in range(1, MAX_PANELS + 1):
            name = f"gradfit_gram_tile{nv}"
            llvm.add_symbol(name, engine.get_function_address(name))
        _ENGINE = engine


_F64P = types.CPointer(types.float64)
_SIG = types.void(_F64P, _F64P, types.int64, types.int64, _F64P, types.int64)
_tile1 = types.ExternalFunction("gradfit_gram_tile1", _SIG)
_tile2 = types.ExternalFunction("gradfit_gram_tile2", _SIG)
_tile3 = types.ExternalFunction("gradfit_gram_tile3", _SIG)


@numba.njit(nogil=True, boundscheck=False)
def _pack(X, Y, sw, shift_x, shift_y, s, n, Pk):  # pragma: no cover - compiled
    """Panels of rows ``s:s+n``: ``√ω·[x − x₀, y − y₀, 1]``, zero-padded (no fast-math).

    Row-major X is read row by row (prefetching rows ahead); column-major X
    (``X.strides[0]`` one element, as pandas' ``to_numpy`` gives) column by
    column, each a contiguous run of ``n`` entries.
    """
    N, D = X.shape
    K = Y.shape[1]
    full = D // PANEL
    npan = Pk.shape[0]
    weighted = sw.shape[0] > 0
    if X.strides[0] == X.itemsize and D > 1:
        for j in range(D):
            p = j // PANEL
            lane = j - PANEL * p
            x0 = shift_x[j]
            for i in range(n):
                Pk[p, i, lane] = np.float64(X[s + i, j]) - x0
        if weighted:
            for p in range(full):
                for i in range(n):
                    w = sw[s + i]
                    for lane in range(PANEL):
                        Pk[p, i, lane] *= w
        for i in range(n):
            w = sw[s + i] if weighted else 1.0
            for p in range(full, npan):
                for lane in range(PANEL):
                    j = PANEL * p + lane
                    if j < D:
                        v = Pk[p, i, lane] * w
                    elif j < D + K:
                        v = (np.float64(Y[s + i, j - D]) - shift_y[j - D]) * w
                    elif j == D + K:
                        v = w
                    else:
                        v = 0.0
                    Pk[p, i, lane] = v
        return
    for i in range(n):
        r = s + i
        if r + PACK_PREFETCH_ROWS < N:
            for j in range(0, D, PANEL):
                prefetch(X, r + PACK_PREFETCH_ROWS, j)
        w = sw[r] if weighted else 1.0
        for p in range(full):
            for lane in range(PANEL):
                j = PANEL * p + lane
                Pk[p, i, lane] = (np.float64(X[r, j]) - shift_x[j]) * w
        for p in range(full, npan):
            for lane in range(PANEL):
                j = PANEL * p + lane
                if j < D:
                    v = (np.float64(X[r, j]) - shift_x[j]) * w
                elif j < D + K:
                    v = (np.float64(Y[r, j - D]) - shift_y[j - D]) * w
                elif j == D + K:
                    v = w
                else:
                    v = 0.0
                Pk[p, i, lane] = v


@numba.njit(nogil=True, boundscheck=False, cache=True)
def gram_chunk(X, Y, sw, shift_x, shift_y, r0, r1, Pk, C):  # pragma: no cover - compiled
    """``C += Σ z zᵀ`` (upper 8×8 block triangle) over rows ``r0:r1``, blocks of ``Pk.shape[1]``.

    ``Pk`` is a scratch array ``(panels, R, 8)`` and ``C`` an accumulator of
    ``(8·panels, 8·panels)`` (a tile never reaches past the last panel); ``sw`` is
    ``√ω`` or empty.
    """
    npan, R, _ = Pk.shape
    ldc = C.shape[1]
    pstride = R * PANEL
    for s in range(r0, r1, R):
        n = min(R, r1 - s)
        _pack(X, Y, sw, shift_x, shift_y, s, n, Pk)
        for a in range(npan):
            b = a
            while b < npan:
                left = npan - b
                out = C[PANEL * a :, PANEL * b :].ctypes
                if left >= 3:
                    _tile3(Pk[a].ctypes, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 3
                elif left == 2:
                    _tile2(Pk[a].ctypes, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 2
                else:
                    _tile1(Pk[a].ctypes, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 1
