"""Shared helpers for the benchmarks: machine description, timing, peak memory, data."""

from __future__ import annotations

import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def machine() -> str:
    """One line describing the machine and the libraries that matter for speed."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        info = [
            f"{p['internal_api']} {p.get('version', '')} ({p['num_threads']} threads)"
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
        blas = "; BLAS " + ", ".join(info)
    except ImportError:
        pass
    import numba

    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, numba {numba.__version__} ({numba.get_num_threads()} threads)"
        f"{blas}"
    )


def best_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Smallest wall time over ``repeat`` runs, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_memory(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes allocated through Python/NumPy while ``fn`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def conditioned_problem(
    n: int, d: int, k: int = 1, *, kappa: float = 100.0, dtype: Any = np.float64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) with correlated columns whose covariance has condition number ``kappa``.

    Mixing the columns (a random rotation of the singular directions) keeps the
    columns' scales alike, so standardisation does not remove the conditioning.
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sigma = np.logspace(0, np.log10(np.sqrt(kappa)), d)
    M = (Q * sigma) @ np.linalg.qr(rng.standard_normal((d, d)))[0].T
    X = np.empty((n, d), dtype=dtype)
    step = 100_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        X[start:stop] = rng.standard_normal((stop - start, d)) @ M + 1.0
    W = rng.standard_normal((d, k))
    Y = (X @ W.astype(dtype)).astype(dtype) + rng.standard_normal((n, k)).astype(dtype)
    return X, Y
