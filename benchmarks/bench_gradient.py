"""One loss+gradient evaluation against one read of X, the engines on a wide shape, and memory.

Usage::

    python benchmarks/bench_gradient.py             # N = 1e6, D = 100
    python benchmarks/bench_gradient.py --wide-only

The floor for one evaluation is one read of X, measured as one ``np.dot(X, v)``.
gradfit's data path (the fused kernel) is timed for K = 1 and 4, float64 and
float32, beside the seed's two products ``X.T @ (X @ W − Y)``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from typing import Any

import numpy as np
from _common import conditioned_problem, machine, peak_memory

from gradfit import GDRegressor
from gradfit.problem.objective import LeastSquaresProblem
from gradfit.solve.loop import quiet_blas


def evaluation(n: int, d: int, rounds: int = 7) -> None:
    """One loss+gradient against one ``np.dot(X, v)``, timed as the fit runs them.

    The loop holds BLAS to one thread while it runs (``quiet_blas``), so the data
    path is timed the same way; ``np.dot`` keeps all its BLAS threads. Worker
    threads of either library keep spinning for a while after a call and steal
    the cores from the other, so the two are timed in separate bursts of 5 calls
    with a pause between, alternating over ``rounds`` rounds. This VM also has
    slow spells that last a whole burst (±30%), so each burst counts by its best
    call: the table gives the median over the rounds of those, and the best call
    overall in brackets.
    """
    print(
        f"\none loss+gradient evaluation, N={n}, D={d} "
        f"({rounds} alternating rounds of 5 calls: median of the rounds' best, best in brackets)"
    )
    print(
        "| dtype | K | np.dot(X, v) ms | gradfit data path ms | ratio | seed's two products ms "
        "| ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)

    def burst(fn: Any, quiet: bool, times: list[float]) -> None:
        time.sleep(0.3)
        best = float("inf")
        with quiet_blas() if quiet else contextlib.nullcontext():
            fn()
            for _ in range(5):
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
        times.append(best)

    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((n, d)).astype(dtype)
        for k in (1, 4):
            Y = rng.standard_normal((n, k)).astype(dtype)
            problem = LeastSquaresProblem(X, Y, fit_intercept=True, standardize=True)
            V = rng.standard_normal((d, k))
            v = V[:, 0].astype(dtype)
            W = V.astype(dtype)
            t_dot: list[float] = []
            t_ours: list[float] = []
            t_seed: list[float] = []
            for _ in range(rounds):
                burst(lambda: np.dot(X, v), False, t_dot)
                burst(lambda: problem.loss_grad(V), True, t_ours)
            for _ in range(2):
                burst(lambda: X.T @ (X @ W - Y), False, t_seed)
            dot, ours, seed = (float(np.median(t)) for t in (t_dot, t_ours, t_seed))
            print(
                f"| {np.dtype(dtype).name} | {k} | {dot * 1e3:.1f} ({min(t_dot) * 1e3:.1f}) | "
                f"{ours * 1e3:.1f} ({min(t_ours) * 1e3:.1f}) | {ours / dot:.2f} "
                f"({min(t_ours) / min(t_dot):.2f}) | {seed * 1e3:.1f} | {seed / dot:.2f} |",
                flush=True,
            )


def fit_time(X: np.ndarray, y: np.ndarray, **options: Any) -> tuple[float, GDRegressor, int]:
    model = GDRegressor(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        peak, _ = peak_memory(lambda: model.fit(X, y))
        elapsed = time.perf_counter() - start
    return elapsed, model, peak


def wide(n: int, d: int) -> None:
    print(f"\nwide shape: N={n}, D={d}, float32, κ≈100, tol=1e-6")
    X, Y = conditioned_problem(n, d, 1, kappa=100.0, dtype=np.float32, seed=1)
    y = Y[:, 0].copy()
    GDRegressor(gradient="data").fit(X[:2000], y[:2000])  # compile once
    rows = []
    for engine in ("auto", "data", "stats"):
        elapsed, model, peak = fit_time(X, y, gradient=engine)
        rows.append((engine, elapsed, model, peak))
        print(
            f"  gradient={engine!r:<8} engine={model.engine_:<6} {elapsed:8.2f} s  "
            f"{model.n_iter_:5d} it  peak {peak / 2**20:7.1f} MiB ({peak / X.nbytes:.1%} of X)"
            f"  {model.stop_reason_[:60]}",
            flush=True,
        )
    fastest = min(r[1] for r in rows[1:])
    print(
        f"  auto chose {rows[0][2].engine_!r}: {rows[0][1] / fastest:.2f}× the faster engine; "
        f"reason: {rows[0][2].engine_reason_}"
    )


def memory(n: int, d: int) -> None:
    print(f"\nextra memory of a default fit (tracemalloc peak / X.nbytes), N={n}, D={d}")
    for dtype in (np.float64, np.float32):
        X, Y = conditioned_problem(n, d, 4, dtype=dtype, seed=2)
        for engine in ("stats", "data"):
            elapsed, model, peak = fit_time(X, Y, gradient=engine)
            print(
                f"  {np.dtype(dtype).name} K=4 gradient={engine!r:<8}: peak {peak / 2**20:7.1f} "
                f"MiB = {peak / X.nbytes:.1%} of X ({X.nbytes / 2**20:.0f} MiB); "
                f"coef_ {model.coef_.dtype}; {elapsed:.2f} s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--wide-n", type=int, default=100_000)
    parser.add_argument("--wide-d", type=int, default=4000)
    parser.add_argument("--wide-only", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if not args.wide_only:
        evaluation(args.n, args.d)
        memory(args.n, args.d)
    wide(args.wide_n, args.wide_d)


if __name__ == "__main__":
    main()
