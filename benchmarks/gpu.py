"""GPU benchmark: gradfit on PyTorch and CuPy arrays against the card's memory-bandwidth floor.

For each library (torch, then CuPy if installed) and K in (1, 8), on an N×D float32 X
that lives on the device, it times

* the floor: one read of X, measured (``X.sum(0)``) and computed (``X.nbytes`` over the
  device-to-device copy bandwidth measured on a 1 GiB buffer);
* one loss+gradient evaluation through gradfit's ``XPProblem`` (reads X twice: ``X @ W``
  and ``Xᵀ @ R``);
* a whole ``GDRegressor(method="cg")`` fit with ``gradient="auto"`` (statistics engine:
  ``H`` formed on the device) and with ``gradient="data"``,

and prints a Markdown table with each time and its ratio to the measured floor.

Usage::

    python benchmarks/gpu.py                  # CUDA, N=4,000,000, D=256 (about 2 minutes)
    python benchmarks/gpu.py --device cpu --small   # a quick check of the script itself

Without a CUDA device or without torch it prints why and exits with status 0.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls after one warm-up, synchronising the device."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_backend(device: str) -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        print("torch is not installed: torch skipped.")
        return None
    if device == "cuda" and not torch.cuda.is_available():
        print("torch: no CUDA device available: torch skipped.")
        return None
    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    gen = torch.Generator(device=dev).manual_seed(0)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
    return {
        "lib": "torch",
        "name": name or "cpu",
        "sync": sync,
        "randn": lambda *shape: torch.randn(*shape, generator=gen, device=dev),
        "empty_like": torch.empty_like,
        "copy": lambda dst, src: dst.copy_(src),
        "free": lambda: torch.cuda.empty_cache() if dev.type == "cuda" else None,
    }


def cupy_backend(device: str) -> dict[str, Any] | None:
    if device != "cuda":
        return None
    try:
        import cupy
    except ImportError:
        print("CuPy is not installed: CuPy skipped.")
        return None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver/runtime errors come in many classes
        print(f"CuPy: no usable CUDA device ({err}): CuPy skipped.")
        return None
    if count == 0:
        print("CuPy: no CUDA device: CuPy skipped.")
        return None
    rng = cupy.random.default_rng(0)
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return {
        "lib": "cupy",
        "name": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
        "sync": lambda: cupy.cuda.Device().synchronize(),
        "randn": lambda *shape: rng.standard_normal(shape, dtype=cupy.float32),
        "empty_like": cupy.empty_like,
        "copy": lambda dst, src: dst.__setitem__(Ellipsis, src),
        "free": lambda: cupy.get_default_memory_pool().free_all_blocks(),
    }


def copy_bandwidth(backend: dict[str, Any]) -> float:
    """Bytes per second of a device-to-device copy of a 1 GiB buffer (read + write)."""
    src = backend["randn"](1 << 28)  # 2^28 float32 = 1 GiB
    dst = backend["empty_like"](src)
    seconds = timed(lambda: backend["copy"](dst, src), backend["sync"])
    nbytes = 2 * 4 * (1 << 28)
    backend["free"]()
    return nbytes / seconds


def run(backend: dict[str, Any], N: int, D: int, outputs: tuple[int, ...]) -> list[list[str]]:
    from gradfit import GDRegressor
    from gradfit.sources.device import XPProblem

    sync = backend["sync"]
    rows: list[list[str]] = []
    bandwidth = copy_bandwidth(backend) if backend["name"] != "cpu" else math.nan
    X = backend["randn"](N, D)
    Xb = X.shape[0] * X.shape[1] * 4
    read = timed(lambda: X.sum(0), sync)
    computed = Xb / bandwidth if math.isfinite(bandwidth) else math.nan
    lib = backend["lib"]
    print(
        f"{lib}: X {N}×{D} float32 = {Xb / 2**30:.2f} GiB; one read (X.sum(0)) "
        f"{read * 1e3:.2f} ms = {Xb / read / 1e9:.0f} GB/s; copy bandwidth "
        f"{bandwidth / 1e9:.0f} GB/s → floor {computed * 1e3:.2f} ms",
        flush=True,
    )

    def row(what: str, K: int, seconds: float, note: str = "") -> None:
        rows.append(
            [
                lib,
                str(K),
                what,
                f"{seconds * 1e3:.2f}",
                f"{seconds / read:.2f}",
                f"{seconds / computed:.2f}" if math.isfinite(computed) else "n/a",
                note,
            ]
        )
        print("  " + " | ".join(rows[-1]), flush=True)

    row("one read of X (floor)", 0, read)
    W_true = backend["randn"](D, max(outputs))
    for K in outputs:
        Y = X @ W_true[:, :K] + 0.1 * backend["randn"](N, K)
        problem = XPProblem(X, Y, fit_intercept=True, standardize=True)
        V = np.random.default_rng(0).normal(size=(D, K))
        row("loss+gradient (XPProblem)", K, timed(lambda: problem.loss_grad(V), sync), "2 reads")
        for gradient in ("auto", "data"):
            model = GDRegressor(method="cg", gradient=gradient, tol=1e-6)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = timed(lambda: model.fit(X, Y), sync, repeat=2)
            row(
                f"fit cg, gradient={gradient!r}",
                K,
                seconds,
                f"engine {model.engine_}, {model.n_iter_} iterations",
            )
        backend["free"]()
    backend["free"]()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--small", action="store_true", help="N=100,000, D=64 (a quick check)")
    parser.add_argument("--n", type=int, default=None, help="rows (default 4,000,000)")
    parser.add_argument("--d", type=int, default=None, help="features (default 256)")
    args = parser.parse_args(argv)
    N = args.n or (100_000 if args.small else 4_000_000)
    D = args.d or (64 if args.small else 256)
    backends = [b for b in (torch_backend(args.device), cupy_backend(args.device)) if b]
    if not backends:
        print(f"No array library with a {args.device} device is available: nothing to time.")
        return 0
    import gradfit

    print(f"gradfit {gradfit.__version__}, Python {sys.version.split()[0]}, N={N}, D={D}")
    table: list[list[str]] = []
    for backend in backends:
        print(f"device: {backend['name']} ({backend['lib']})", flush=True)
        try:
            table += run(backend, N, D, (1, 8))
        except Exception as err:  # report and go on with the next library
            print(f"{backend['lib']} failed: {type(err).__name__}: {err}", flush=True)
    header = ["library", "K", "what", "ms", "× measured read", "× bandwidth floor", "note"]
    print()
    print(f"Device: {backends[0]['name']}; X is {N}×{D} float32.")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in table:
        print("| " + " | ".join(line) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
