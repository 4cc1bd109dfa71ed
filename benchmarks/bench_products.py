"""Where float32 products pay (decision 34): the same float32 fits with and without them.

Usage::

    python benchmarks/bench_products.py                      # four widths, best of 3
    python benchmarks/bench_products.py --shapes 250000x400 --repeat 5

For each ``N × D`` (float32 X of ``_common.conditioned_problem``, one target, with intercept)
the default fit and ``exact`` run with float32 products allowed (``MIXED_MIN_COLUMNS`` and
``MIXED_MIN_COLUMNS_EXACT`` at 0) and forbidden (both huge), interleaved, each one's best
time kept; the table also gives the suboptimality ``(f − f*)/f*`` of each, ``f*`` from the
refined normal equations. The shapes keep ``N·D²`` near 1e10, so the times compare the pass's
cost as the width grows.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import conditioned_problem, machine
from bench_fit import loss, reference

from gradfit import GDRegressor, estimator
from gradfit.problem import gram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1000000x100,500000x150,400000x200,300000x300")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        "| N × D | products | default (s) | `exact` (s) | default (f−f*)/f* | `exact` (f−f*)/f* |"
    )
    print("|---|---|---:|---:|---:|---:|")
    default_limit, exact_limit = gram.MIXED_MIN_COLUMNS, estimator.MIXED_MIN_COLUMNS_EXACT
    for shape in args.shapes.split(","):
        n, d = (int(v) for v in shape.split("x"))
        X, Y = conditioned_problem(n, d, 1, dtype=np.float32)
        y = Y[:, 0].copy()
        X64, y64 = X.astype(np.float64), y.astype(np.float64)
        w_star, b_star = reference(X64, y64)
        f_star = loss(X64, y64, w_star, b_star)
        GDRegressor().fit(X[:20_000], y[:20_000])  # compile once
        time.sleep(0.5)  # OpenBLAS's workers stop spinning
        best: dict[tuple[str, str], float] = {}
        subopt: dict[tuple[str, str], float] = {}
        answers: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
        for _ in range(args.repeat):
            for products, limit in (("float32", 0), ("float64", 10**9)):
                gram.MIXED_MIN_COLUMNS = limit
                estimator.MIXED_MIN_COLUMNS_EXACT = limit
                for method in ("cg", "exact"):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        start = time.perf_counter()
                        model = GDRegressor(method=method).fit(X, y)
                        elapsed = time.perf_counter() - start
                    used = "float32 products" in model.engine_reason_
                    key = (products if used or products == "float64" else "float64*", method)
                    best[key] = min(best.get(key, np.inf), elapsed)
                    answers[key] = (np.asarray(model.coef_, np.float64), float(model.intercept_))
        gram.MIXED_MIN_COLUMNS = default_limit
        estimator.MIXED_MIN_COLUMNS_EXACT = exact_limit
        # after the timing: NumPy's multi-threaded products leave OpenBLAS's workers spinning,
        # which slowed the next fit by a third when the losses were computed between fits
        for key, (w, b) in answers.items():
            subopt[key] = (loss(X64, y64, w, b) - f_star) / f_star
        for products in sorted({k[0] for k in best}):
            row = [best.get((products, m), np.nan) for m in ("cg", "exact")]
            sub = [subopt.get((products, m), np.nan) for m in ("cg", "exact")]
            print(
                f"| {n:,} × {d} | {products} | {row[0]:.3f} | {row[1]:.3f} | "
                f"{sub[0]:.1e} | {sub[1]:.1e} |"
            )
    print("(float64* = float32 products were allowed but not used: see decision 34's fallbacks)")


if __name__ == "__main__":
    main()
