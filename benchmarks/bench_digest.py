"""The data digest of checkpoints beside a fit: seconds to hash X and Y vs seconds to fit.

Run: ``python benchmarks/bench_digest.py [N] [D]`` (default N = 1e6, D = 20, float64).
Prints one line per measurement; see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from gradfit import ConvergenceWarning, GDRegressor
from gradfit.solve.checkpoint import data_digest


def main() -> None:
    N = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    D = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = X @ rng.normal(size=D) + rng.normal(size=N)
    GDRegressor(max_iter=2).fit(X[:1000], y[:1000])  # compile the kernels first
    start = time.perf_counter()
    data_digest(X, y[:, None])
    digest = time.perf_counter() - start
    print(
        f"N={N} D={D}: digest of X and y ({X.nbytes / 1e6:.0f} MB) {digest:.3f} s "
        f"({X.nbytes / digest / 1e9:.2f} GB/s)"
    )
    for method, options in (("cg", {"gradient": "data"}), ("gd", {"max_iter": 200})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model = GDRegressor(method=method, **options).fit(X, y)
            seconds = time.perf_counter() - start
        print(
            f"  fit {method} ({model.n_iter_} iterations, data path): {seconds:.2f} s; "
            f"digest = {100 * digest / seconds:.1f}% of it"
        )


if __name__ == "__main__":
    main()
