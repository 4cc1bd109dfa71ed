"""Generate src/gradfit/problem/kernels_small.py: the fused pass unrolled for K = 1..4 outputs.

numba cannot keep a variable number of accumulators in registers, so for the common
small K the kernel is written out with one scalar per (row, output) pair. Run
``python tools/gen_kernels.py`` after changing the template; the output is committed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: rows per group, by X's item size and K: chosen by measurement (benchmarks/bench_gradient.py
#: and in-cache timings): float32 is bound by instructions, and four rows share each load
#: of W and each update of the accumulator; float64 with K ≥ 3 streams better two rows at
#: a time (N = 1e6, D = 100, K = 4: 1.30× one read of X with two rows, 1.41× with four).
ROWS = {4: {1: 4, 2: 4, 3: 4, 4: 4}, 8: {1: 4, 2: 4, 3: 2, 4: 2}}

HEADER = '''"""Fused data-pass kernels unrolled for K = 1..4 outputs (from tools/gen_kernels.py).

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
'''


def kernel(K: int, R: int) -> str:
    """Source of the kernel for ``K`` outputs, ``R`` rows at a time."""
    pairs = [(r, k) for r in range(R) for k in range(K)]
    ind = " " * 16
    lines = [
        "",
        "",
        "@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)",
        f"def fused_k{K}_r{R}(X, WT, Y, c, omega, weighted, with_targets, n_chunks, ahead, line):"
        "  # pragma: no cover",
        "    N, D = X.shape",
        "    Dp = WT.shape[1]",
        "    # rows whose padded read X[i, :Dp] stays inside X",
        "    fast_end = N - (Dp + D - 1) // D + 1 if D > 0 else 0",
        f"    acc = np.zeros((n_chunks, {K}, D))",
        f"    sq = np.zeros((n_chunks, {K}))",
        f"    rs = np.zeros((n_chunks, {K}))",
        "    chunk = (N + n_chunks - 1) // n_chunks",
        f"    chunk = (chunk + {R - 1}) // {R} * {R}",
        "    for t in prange(n_chunks):",
        "        start = min(N, t * chunk)",
        "        stop = min(N, start + chunk)",
        f"        local = np.zeros(({K}, Dp), dtype=X.dtype)",
        f"        total = np.zeros(({K}, D))",
        f"        lsq = np.zeros({K})",
        f"        lrs = np.zeros({K})",
        "        zero = c[0] - c[0]  # X's dtype (c[0] * 0 would promote float32 to float64)",
        "        i = start",
        "        since_flush = 0",
        "        fast_stop = min(stop, fast_end)",
        f"        while i + {R} <= fast_stop:",
        f"            if i + ahead + {R} <= N:",
        f"                for r in range({R}):",
        "                    for jj in range(0, D, line):",
        "                        prefetch(X, i + ahead + r, jj)",
    ]
    for r, k in pairs:
        lines.append(f"            s{r}_{k} = zero")
    lines.append("            for j in range(Dp):")
    for r in range(R):
        lines.append(f"{ind}x{r} = X[i + {r}, j]")
    for k in range(K):
        lines.append(f"{ind}w{k} = WT[{k}, j]")
    for r, k in pairs:
        lines.append(f"{ind}s{r}_{k} += x{r} * w{k}")
    for r, k in pairs:
        lines.append(f"            s{r}_{k} += c[{k}]")
    lines.append("            if with_targets:")
    for r, k in pairs:
        lines.append(f"                s{r}_{k} -= Y[i + {r}, {k}]")
    lines.append("            if weighted:")
    for r, k in pairs:
        lines.append(f"                u{r}_{k} = s{r}_{k} * omega[i + {r}]")
    lines.append("            else:")
    for r, k in pairs:
        lines.append(f"                u{r}_{k} = s{r}_{k}")
    for k in range(K):
        terms = " + ".join(f"np.float64(s{r}_{k}) * np.float64(u{r}_{k})" for r in range(R))
        lines.append(f"            lsq[{k}] += {terms}")
        sums = " + ".join(f"np.float64(u{r}_{k})" for r in range(R))
        lines.append(f"            lrs[{k}] += {sums}")
    lines.append("            for j in range(Dp):")
    for r in range(R):
        lines.append(f"{ind}x{r} = X[i + {r}, j]")
    for k in range(K):
        terms = " + ".join(f"x{r} * u{r}_{k}" for r in range(R))
        lines.append(f"{ind}local[{k}, j] += {terms}")
    lines += [
        f"            i += {R}",
        f"            since_flush += {R}",
        "            if since_flush >= 256:",
        f"                for k in range({K}):",
        "                    for j in range(D):",
        "                        total[k, j] += local[k, j]",
        "                    for j in range(Dp):",
        "                        local[k, j] = zero",
        "                since_flush = 0",
        "        while i < stop:",
        f"            for k in range({K}):",
        "                s = zero",
        "                for j in range(D):",
        "                    s += X[i, j] * WT[k, j]",
        "                s += c[k]",
        "                if with_targets:",
        "                    s -= Y[i, k]",
        "                u = s * omega[i] if weighted else s",
        "                lsq[k] += np.float64(s) * np.float64(u)",
        "                lrs[k] += np.float64(u)",
        "                for j in range(D):",
        "                    local[k, j] += X[i, j] * u",
        "            i += 1",
        f"        for k in range({K}):",
        "            for j in range(D):",
        "                total[k, j] += local[k, j]",
        f"        for k in range({K}):",
        "            sq[t, k] = lsq[k]",
        "            rs[t, k] = lrs[k]",
        "            for j in range(D):",
        "                acc[t, k, j] = total[k, j]",
        f"    out = np.zeros(({K}, D))",
        f"    out_sq = np.zeros({K})",
        f"    out_rs = np.zeros({K})",
        "    for t in range(n_chunks):  # fixed order: deterministic",
        f"        for k in range({K}):",
        "            out_sq[k] += sq[t, k]",
        "            out_rs[k] += rs[t, k]",
        "            for j in range(D):",
        "                out[k, j] += acc[t, k, j]",
        "    return out, out_sq, out_rs",
    ]
    return "\n".join(lines)


def main() -> None:
    """Write the module."""
    pairs = sorted({(K, R) for rows in ROWS.values() for K, R in rows.items()})
    body = HEADER + "".join(kernel(K, R) for K, R in pairs)
    table = ", ".join(
        f"({K}, {size}): fused_k{K}_r{R}"
        for size, rows in sorted(ROWS.items())
        for K, R in rows.items()
    )
    body += "\n\n\n#: (K, X's item size) → kernel\nKERNELS = {" + table + "}\n"
    path = Path(__file__).resolve().parents[1] / "src" / "gradfit" / "problem" / "kernels_small.py"
    path.write_text(body)
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(path)], check=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
