"""gradfit's default and exact fits beside Intel's oneDAL (sklearnex) and NumPy, interleaved.

Usage::

    python benchmarks/bench_gram.py                         # N = 1e6, D = 100, float64
    python benchmarks/bench_gram.py --n 250000 --d 400 --dtype float32 --repeat 5
    python benchmarks/bench_gram.py --profile               # where a default fit's time goes

On a shared machine absolute times drift from one minute to the next, so the
candidates run in turn (one round = one call of each), ``--repeat`` rounds, and
each one's best time is kept; the load average is printed with the results and
ratios to oneDAL are what to quote. Every fit includes an intercept;
suboptimality is ``(f − f*)/f*`` with ``f*`` from the refined normal equations
(benchmarks/bench_fit.py). GFLOP/s counts ``N·D²`` (the symmetric rank-k update
that forms ``XᵀX``) over the whole fit's time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import conditioned_problem, machine
from bench_fit import loss, reference

from gradfit import GDRegressor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one default fit")
    parser.add_argument("--skip-numpy", action="store_true", help="leave out the NumPy anchors")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    print(f"machine: {machine()}")
    X, Y = conditioned_problem(args.n, args.d, args.k, dtype=dtype)
    y = Y[:, 0].copy() if args.k == 1 else Y
    X64, y64 = X.astype(np.float64), np.asarray(y, dtype=np.float64)
    if args.k == 1:
        w_star, b_star = reference(X64, y64)
        f_star = loss(X64, y64, w_star, b_star)
    GDRegressor().fit(X[:50_000], y[:50_000])  # compile the kernels once
    from sklearnex.linear_model import LinearRegression

    def gradfit(blas: bool = False, **options: Any) -> Callable[[], Any]:
        def fit() -> Any:
            before = os.environ.get("GRADFIT_GRAM_KERNEL")
            if blas:  # the BLAS Gram pass, as on a CPU without AVX-512
                os.environ["GRADFIT_GRAM_KERNEL"] = "0"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = GDRegressor(**options).fit(X, y)
            finally:
                if blas:
                    os.environ.pop("GRADFIT_GRAM_KERNEL")
                    if before is not None:
                        os.environ["GRADFIT_GRAM_KERNEL"] = before
            return m.coef_, m.intercept_

        return fit

    def onedal() -> Any:
        m = LinearRegression().fit(X, y)
        return m.coef_, m.intercept_

    def normal_equations() -> Any:
        n = len(X)
        mean = X.sum(axis=0, dtype=np.float64) / n
        H = (X.T @ X) / n - np.outer(mean, mean)
        rhs = (X.T @ y) / n - mean * (np.sum(y, dtype=np.float64) / n)
        w = np.linalg.solve(H, rhs)
        return w, float(np.mean(y)) - mean @ w

    def onedal_float64() -> Any:  # oneDAL at the accuracy float32 input deserves
        m = LinearRegression().fit(X.astype(np.float64), np.asarray(y, dtype=np.float64))
        return m.coef_, m.intercept_

    candidates: dict[str, Callable[[], Any]] = {
        "sklearnex LinearRegression (oneDAL)": onedal,
        "gradfit GDRegressor()": gradfit(),
        "gradfit method='exact'": gradfit(method="exact"),
        "gradfit GDRegressor(), BLAS Gram pass": gradfit(blas=True),
        "NumPy normal equations (X.T @ X)": normal_equations,
        "NumPy X.T @ X alone": lambda: (X.T @ X, 0.0),
    }
    if dtype == np.float32:
        candidates["sklearnex on a float64 copy (astype included)"] = onedal_float64
    if args.skip_numpy:
        candidates = {k: v for k, v in candidates.items() if not k.startswith("NumPy")}
    best = dict.fromkeys(candidates, float("inf"))
    answers: dict[str, Any] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeat):
        for name, fit in candidates.items():
            start = time.perf_counter()
            answers[name] = fit()
            best[name] = min(best[name], time.perf_counter() - start)
        loads.append(os.getloadavg()[0])
    base = best["sklearnex LinearRegression (oneDAL)"]
    print(
        f"data: N={args.n}, D={args.d}, K={args.k}, {dtype}; best of {args.repeat} interleaved "
        f"rounds; 1-min load average {min(loads):.2f}–{max(loads):.2f}"
    )
    print("\n| solver | best time (s) | × oneDAL | GFLOP/s (N·D²/time) | (f−f*)/f* |")
    print("|---|---:|---:|---:|---:|")
    for name, t in best.items():
        sub = ""
        if args.k == 1 and "alone" not in name:
            w, b = answers[name]
            w = np.asarray(w, dtype=np.float64).ravel()
            f = loss(X64, y64, w, float(np.ravel(b)[0]))
            sub = f"{(f - f_star) / f_star:.1e}"
        gflops = args.n * args.d**2 / t / 1e9
        print(f"| {name} | {t:.3f} | {t / base:.2f} | {gflops:.1f} | {sub} |")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        gradfit()()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
