"""gradfit on a 2-worker Dask LocalCluster beside dask-ml and a one-pass normal-equations reduction.

Usage::

    python benchmarks/bench_dask.py                  # N = 2e6, D = 100 (see RESULTS.md)
    python benchmarks/bench_dask.py --n 10000000     # the issue's size: 8 GB of float64

The cluster has two worker processes with one thread each. The same data runs
as a Dask array persisted on the workers and as a Dask DataFrame read from
Parquet files written to a temporary directory (deleted at the end). Every
candidate fits an intercept; suboptimality is ``(f − f*)/f*`` with ``f`` the
half mean squared residual (one Dask reduction) and ``f*`` from the one-pass
normal equations refined once. Fast candidates take the best of ``--repeat``
calls, interleaved; dask-ml's solvers run once (each takes tens of passes).
Needs the ``bench`` extra (dask-ml, distributed, pyarrow).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from gradfit import GDRegressor


def _block_moments(Xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, ...]:
    Xb = np.asarray(Xb, dtype=np.float64)
    yb = np.asarray(yb, dtype=np.float64).reshape(-1)
    return Xb.T @ Xb, Xb.T @ yb, Xb.sum(axis=0), np.array([yb.sum(), len(yb)])


def normal_equations(X: Any, y: Any) -> tuple[np.ndarray, float]:
    """One pass: per-chunk XᵀX, Xᵀy and sums on the workers, added on the client, solved."""
    import dask

    task = dask.delayed(_block_moments, pure=True)
    xs = X.to_delayed().ravel()
    ys = y.to_delayed().ravel()
    parts = dask.compute(*[task(a, b) for a, b in zip(xs, ys, strict=True)])
    return _solve(parts)


def _solve(parts: Any) -> tuple[np.ndarray, float]:
    G = sum(p[0] for p in parts)
    Xy = sum(p[1] for p in parts)
    Sx = sum(p[2] for p in parts)
    sy, n = sum(p[3] for p in parts)
    mean, ym = Sx / n, sy / n
    H = G / n - np.outer(mean, mean)
    w = np.linalg.solve(H, Xy / n - mean * ym)
    return w, float(ym - mean @ w)


def half_mse(X: Any, y: Any, w: np.ndarray, b: float) -> float:
    r = y - X @ w - b
    return float((0.5 * (r * r).mean()).compute())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated names to skip")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    import dask.array as da
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    from dask_ml.linear_model import LinearRegression

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="8GB")
    client = Client(cluster)
    tmp = tempfile.mkdtemp(prefix="gradfit-bench-dask-")
    try:
        rs = da.random.RandomState(0)
        X = rs.standard_normal((args.n, args.d), chunks=(args.chunk, args.d)) + 1.0
        w_true = np.random.default_rng(0).standard_normal(args.d)
        y = X @ w_true + 0.5 + rs.standard_normal(args.n, chunks=args.chunk)
        X, y = client.persist([X, y])
        start = time.perf_counter()
        frame = dd.from_dask_array(da.concatenate([X, y[:, None]], axis=1)).rename(
            columns={args.d: "target"}
        )
        frame.columns = [f"x{j}" for j in range(args.d)] + ["target"]
        frame.to_parquet(tmp, write_index=False)
        print(f"(wrote {args.n}×{args.d + 1} Parquet in {time.perf_counter() - start:.1f} s)")
        w_ne, b_ne = normal_equations(X, y)
        r = y - X @ w_ne - b_ne
        # one refinement with the data residual (an independent f*)
        parts = da.compute(X.T @ r, r.sum())
        mean = X.mean(axis=0).compute()
        G = (X.T @ X).compute() / args.n - np.outer(mean, mean)
        w_star = w_ne + np.linalg.solve(G, parts[0] / args.n - mean * float(parts[1]) / args.n)
        b_star = float(y.mean().compute() - mean @ w_star)
        f_star = half_mse(X, y, w_star, b_star)

        def parquet_frame() -> tuple[Any, Any]:
            ddf = dd.read_parquet(tmp)
            return ddf[[f"x{j}" for j in range(args.d)]], ddf["target"]

        def gradfit_array(**options: Any) -> Callable[[], Any]:
            def fit() -> Any:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = GDRegressor(**options).fit(X, y)
                return m.coef_, float(m.intercept_)

            return fit

        def gradfit_parquet() -> Any:
            Xf, yf = parquet_frame()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = GDRegressor().fit(Xf, yf)
            return m.coef_, float(m.intercept_)

        def ne_parquet() -> Any:
            import dask

            def moments(frame: Any) -> tuple[np.ndarray, ...]:
                values = frame.to_numpy(dtype=np.float64)
                return _block_moments(values[:, :-1], values[:, -1])

            task = dask.delayed(moments, pure=True)
            parts = dask.compute(*[task(p) for p in dd.read_parquet(tmp).to_delayed()])
            return _solve(parts)

        def dask_ml(solver: str) -> Callable[[], Any]:
            def fit() -> Any:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = LinearRegression(solver=solver, fit_intercept=True).fit(X, y)
                return np.asarray(m.coef_), float(m.intercept_)

            return fit

        fast: dict[str, Callable[[], Any]] = {
            "one-pass normal equations (array)": lambda: normal_equations(X, y),
            "gradfit GDRegressor() (array)": gradfit_array(),
            "gradfit method='exact' (array)": gradfit_array(method="exact"),
            "one-pass normal equations (Parquet frame)": ne_parquet,
            "gradfit GDRegressor() (Parquet frame)": gradfit_parquet,
        }
        slow = {f"dask-ml LinearRegression({s})": dask_ml(s) for s in ("admm", "lbfgs", "newton")}
        best = {name: float("inf") for name in [*fast, *slow] if name not in skip}
        answers: dict[str, Any] = {}
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeat):
            for name, fit in fast.items():
                if name in skip:
                    continue
                start = time.perf_counter()
                answers[name] = fit()
                best[name] = min(best[name], time.perf_counter() - start)
            loads.append(os.getloadavg()[0])
        for name, fit in slow.items():
            if name in skip:
                continue
            start = time.perf_counter()
            answers[name] = fit()
            best[name] = time.perf_counter() - start
            loads.append(os.getloadavg()[0])
        base = best["one-pass normal equations (array)"]
        print(
            f"data: N={args.n}, D={args.d}, float64, chunks of {args.chunk} rows; 2 workers × 1 "
            f"thread; 1-min load average {min(loads):.2f}–{max(loads):.2f}"
        )
        print("\n| solver | time (s) | × one-pass NE (array) | (f−f*)/f* |")
        print("|---|---:|---:|---:|")
        for name, t in best.items():
            w, b = answers[name]
            sub = (half_mse(X, y, np.ravel(w), b) - f_star) / f_star
            print(f"| {name} | {t:.2f} | {t / base:.2f} | {sub:.1e} |")
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
