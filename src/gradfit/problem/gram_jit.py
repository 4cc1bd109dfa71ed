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

__all__ = ["PANEL", "PANEL32", "compile_tiles", "gram_chunk", "gram_chunk32"]

#: Columns per packed panel: one AVX-512 vector of doubles.
PANEL = 8

#: Columns per packed float32 panel (:func:`gram_chunk32`): one AVX-512 vector of floats.
PANEL32 = 16

#: Right-hand panels per kernel call at most (3 × 8 accumulators of 8 doubles = 24 registers).
MAX_PANELS = 3

#: Rows ahead that the kernel prefetches in each panel it streams.
PREFETCH_ROWS = 16

#: Rows ahead of the packing loop that are prefetched from X.
PACK_PREFETCH_ROWS = 4

_LOCK = threading.Lock()
#: The compiled modules by products (``"float64"``, ``"float32"``), kept alive here.
_ENGINES: dict[str, Any] = {}


def _tile_ir(nv: int, single: bool = False) -> str:
    """LLVM IR of ``gradfit_gram_tile{nv}`` (float64) or ``gradfit_gram_tile32_{nv}`` (float32).

    ``C[0:8, 0:L·nv] += Aᵀ[B₀ … B_{nv−1}]`` over rows, ``L`` the lanes of a panel (8 doubles,
    or 16 floats). ``A`` is 8 columns of a packed panel and each ``B_v`` a whole panel
    (``rows × L``, row-major, row stride ``L``), ``B_v`` at ``B + v·pstride``; ``C`` is
    row-major float64 with leading dimension ``ldc``. The 8·nv accumulators sum the block's
    rows in the panels' precision (fused multiply-adds); float32 ones are widened to
    float64, half a vector at a time, when they are added into ``C``.
    """
    lanes = PANEL32 if single else PANEL
    et, size = ("float", 4) if single else ("double", 8)
    vt = f"<{lanes} x {et}>"
    fma = f"@llvm.fma.v{lanes}f{8 * size}"
    name = f"gradfit_gram_tile32_{nv}" if single else f"gradfit_gram_tile{nv}"
    out = [
        f"define void @{name}(ptr noalias %A, ptr noalias %B, i64 %pstride, "
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
    out.append(f"  %row = mul i64 %i, {lanes}")
    for v in range(nv):
        out += [
            f"  %bs{v} = mul i64 %pstride, {v}",
            f"  %bo{v} = add i64 %bs{v}, %row",
            f"  %bp{v} = getelementptr {et}, ptr %B, i64 %bo{v}",
            f"  %b{v} = load {vt}, ptr %bp{v}, align {size}",
            f"  %pf{v} = getelementptr {et}, ptr %bp{v}, i64 {PREFETCH_ROWS * lanes}",
            f"  call void @llvm.prefetch.p0(ptr %pf{v}, i32 0, i32 3, i32 1)",
        ]
    for a in range(PANEL):
        out += [
            f"  %ao{a} = add i64 %row, {a}",
            f"  %ap{a} = getelementptr {et}, ptr %A, i64 %ao{a}",
            f"  %as{a} = load {et}, ptr %ap{a}, align {size}",
            f"  %ai{a} = insertelement {vt} poison, {et} %as{a}, i64 0",
            f"  %av{a} = shufflevector {vt} %ai{a}, {vt} poison, <{lanes} x i32> zeroinitializer",
        ]
        for v in range(nv):
            args = f"{vt} %av{a}, {vt} %b{v}, {vt} %acc{a}_{v}"
            out.append(f"  %n{a}_{v} = call {vt} {fma}({args})")
    out += [
        "  %inext = add i64 %i, 1",
        "  %more = icmp slt i64 %inext, %rows",
        "  br i1 %more, label %loop, label %done",
        "done:",
    ]
    dt = f"<{PANEL} x double>"
    for a in range(PANEL):
        out.append(f"  %cr{a} = mul i64 %ldc, {a}")
        for v in range(nv):
            for h in range(lanes // PANEL):  # one piece of 8 doubles, or two halves of floats
                m = f"{a}_{v}_{h}" if single else f"{a}_{v}"
                piece = f"%n{a}_{v}"
                if single:
                    mask = ", ".join(f"i32 {PANEL * h + k}" for k in range(PANEL))
                    out += [
                        f"  %hf{m} = shufflevector {vt} %n{a}_{v}, {vt} poison, "
                        f"<{PANEL} x i32> <{mask}>",
                        f"  %hd{m} = fpext <{PANEL} x float> %hf{m} to {dt}",
                    ]
                    piece = f"%hd{m}"
                out += [
                    f"  %co{m} = add i64 %cr{a}, {v * lanes + h * PANEL}",
                    f"  %cp{m} = getelementptr double, ptr %C, i64 %co{m}",
                    f"  %cv{m} = load {dt}, ptr %cp{m}, align 8",
                    f"  %cs{m} = fadd {dt} %cv{m}, {piece}",
                    f"  store {dt} %cs{m}, ptr %cp{m}, align 8",
                ]
    out += ["  br label %exit", "exit:", "  ret void", "}"]
    return "\n".join(out)


def compile_tiles(products: str = "float64") -> None:
    """Compile one kind of kernel for the host CPU (once per process); register its symbols.

    numba's compiled code finds them by name: ``gradfit_gram_tile1`` … ``3`` for
    ``products="float64"``, ``gradfit_gram_tile32_1`` … ``3`` for ``"float32"`` (compiled
    only when a pass first asks for float32 products: 0.05 s that other fits do not pay).
    """
    with _LOCK:
        if products in _ENGINES:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        single = products == "float32"
        vt = "<16 x float>" if single else "<8 x double>"
        fma = "@llvm.fma.v16f32" if single else "@llvm.fma.v8f64"
        tiles = [_tile_ir(nv, single) for nv in range(1, MAX_PANELS + 1)]
        prefix = "gradfit_gram_tile32_" if single else "gradfit_gram_tile"
        source = "\n".join(
            [
                f"declare {vt} {fma}({vt}, {vt}, {vt})",
                "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)",
                *tiles,
            ]
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
            llvm.add_symbol(f"{prefix}{nv}", engine.get_function_address(f"{prefix}{nv}"))
        _ENGINES[products] = engine


_F64P = types.CPointer(types.float64)
_SIG = types.void(_F64P, _F64P, types.int64, types.int64, _F64P, types.int64)
_tile1 = types.ExternalFunction("gradfit_gram_tile1", _SIG)
_tile2 = types.ExternalFunction("gradfit_gram_tile2", _SIG)
_tile3 = types.ExternalFunction("gradfit_gram_tile3", _SIG)
_F32P = types.CPointer(types.float32)
_SIG32 = types.void(_F32P, _F32P, types.int64, types.int64, _F64P, types.int64)
_tile32_1 = types.ExternalFunction("gradfit_gram_tile32_1", _SIG32)
_tile32_2 = types.ExternalFunction("gradfit_gram_tile32_2", _SIG32)
_tile32_3 = types.ExternalFunction("gradfit_gram_tile32_3", _SIG32)


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


@numba.njit(nogil=True, boundscheck=False)
def _pack32(X, Y, sw, shift_x, shift_y, s, n, Pk, S):  # pragma: no cover - compiled
    """Float32 panels of rows ``s:s+n``: ``√ω·[x − x₀, y − y₀, 1]`` rounded to float32.

    The shift and weight are applied in float64, then each entry is rounded once; rows
    contiguous (the caller checks), read row by row with a prefetch ahead. ``S`` sums
    ``ω·[x − x₀, y − y₀, 1]`` in float64 on the way (the means, to float64's accuracy).
    """
    N, D = X.shape
    K = Y.shape[1]
    npan = Pk.shape[0]
    full = D // PANEL32
    weighted = sw.shape[0] > 0
    for i in range(n):
        r = s + i
        if r + PACK_PREFETCH_ROWS < N:
            for j in range(0, D, PANEL32):
                prefetch(X, r + PACK_PREFETCH_ROWS, j)
        w = sw[r] if weighted else 1.0
        for p in range(full):  # whole panels of X: no branches, so LLVM vectorises the lanes
            base = PANEL32 * p
            for lane in range(PANEL32):
                v = (np.float64(X[r, base + lane]) - shift_x[base + lane]) * w
                Pk[p, i, lane] = np.float32(v)
                S[base + lane] += v * w
        # the last panel written out as in _pack: a shared inline helper made this pack 25%
        # slower (0.305 s against 0.245 s for the pass at 250,000 × 400)
        for p in range(full, npan):
            for lane in range(PANEL32):
                j = PANEL32 * p + lane
                if j < D:
                    v = (np.float64(X[r, j]) - shift_x[j]) * w
                elif j < D + K:
                    v = (np.float64(Y[r, j - D]) - shift_y[j - D]) * w
                elif j == D + K:
                    v = w
                else:
                    v = 0.0
                Pk[p, i, lane] = np.float32(v)
                S[j] += v * w


@numba.njit(nogil=True, boundscheck=False, cache=True)
def gram_chunk32(X, Y, sw, shift_x, shift_y, r0, r1, Pk, C, S):  # pragma: no cover - compiled
    """As :func:`gram_chunk` with float32 products: ``Pk`` is ``(panels, R, 16)`` float32.

    ``S`` (``16·panels`` float64) accumulates ``Σ ω·[x − x₀, y − y₀, 1]`` in float64 from
    the packing (the sums the means come from, exact to float64's rounding).

    Each block's products and sums are float32 (at most ``R`` rows each), added into the
    float64 ``C`` once per block: about twice the multiply-adds per cycle of the float64
    kernel, with a relative error in each entry of ``C`` near ``√R·eps32`` (the caller
    refines and certifies on the rows in float64, decision 34). Left-hand slices of 8
    columns against right-hand panels of 16 cover the upper 8×8 block triangle.
    """
    npan, R, _ = Pk.shape
    ldc = C.shape[1]
    pstride = R * PANEL32
    for s in range(r0, r1, R):
        n = min(R, r1 - s)
        _pack32(X, Y, sw, shift_x, shift_y, s, n, Pk, S)
        for h in range(2 * npan):
            a = h // 2
            left_cols = Pk[a, :, (h % 2) * PANEL :].ctypes
            b = a
            while b < npan:
                left = npan - b
                out = C[PANEL * h :, PANEL32 * b :].ctypes
                if left >= 3:
                    _tile32_3(left_cols, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 3
                elif left == 2:
                    _tile32_2(left_cols, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 2
                else:
                    _tile32_1(left_cols, Pk[b].ctypes, pstride, n, out, ldc)
                    b += 1
