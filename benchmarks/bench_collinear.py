"""Nearly collinear designs: accuracy and time of gradfit beside lstsq-based and Gram-based peers.

Usage::

    python benchmarks/bench_collinear.py                 # N = 1e6, D = 100 and a polynomial
    python benchmarks/bench_collinear.py --n 200000 --repeat 2

Two designs whose normal equations cannot carry them in float64 but whose rows can:

* ``near-duplicate``: N × D standard normal columns, column 1 = column 0 + 1e-8·noise, targets
  with noise 1e-6 (κ of the standardised H ≈ 1e17, of X ≈ 1e8);
* ``polynomial``: x, x², …, x¹⁰ of x ~ U(0, 10), N/10 rows, targets sin(x) + 1e-3·noise.

The reference is ``numpy.linalg.lstsq`` on the centred, standardised design (on unscaled
columns its rank rule truncates the high powers itself). Each candidate: best time of
``--repeat`` fits, the largest relative coefficient error against the reference, and
``(f − f*)/f*`` (negative: a lower loss than the reference's, within its rounding).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import machine


def near_duplicate(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    X[:, 1] = X[:, 0] + 1e-8 * rng.standard_normal(n)
    w = rng.standard_normal(d)
    return X, X @ w + 3.0 + 1e-6 * rng.standard_normal(n)


def polynomial(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, n)
    X = np.column_stack([x**k for k in range(1, 11)])
    return X, np.sin(x) + 1e-3 * rng.standard_normal(n)


def reference(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    xm, s = X.mean(0), X.std(0)
    V = np.linalg.lstsq((X - xm) / s, y - y.mean(), rcond=None)[0]
    coef = V / s
    return coef, float(y.mean() - xm @ coef)


def loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    r = X @ coef + intercept - y
    return float(r @ r)


def candidates() -> dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]]:
    from sklearn.linear_model import LinearRegression, Ridge

    from gradfit import GDRegressor

    def gradfit(**options: Any) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
        def fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
            model = GDRegressor(**options).fit(X, y)
            return model.coef_, float(model.intercept_)

        return fit

    def sklearn(model: Any) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
        def fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
            fitted = model.fit(X, y)
            return fitted.coef_, float(fitted.intercept_)

        return fit

    out = {
        "gradfit GDRegressor()": gradfit(),
        "gradfit method='exact'": gradfit(method="exact"),
        "numpy lstsq (standardised; the reference)": reference,
        "scikit-learn LinearRegression (lstsq)": sklearn(LinearRegression()),
        "scikit-learn Ridge(alpha=0, cholesky)": sklearn(Ridge(alpha=0.0, solver="cholesky")),
    }
    try:
        from sklearnex.linear_model import LinearRegression as OneDAL

        out["sklearnex LinearRegression (oneDAL)"] = sklearn(OneDAL())
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    warnings.simplefilter("ignore")
    designs = {
        f"near-duplicate, {args.n} × {args.d}": near_duplicate(args.n, args.d),
        f"polynomial of degree 10, {args.n // 10} rows": polynomial(args.n // 10),
    }
    for name, (X, y) in designs.items():
        coef_ref, b_ref = reference(X, y)
        f_ref = loss(X, y, coef_ref, b_ref)
        print(f"\n### {name}\n")
        print("| solver | best time (s) | max rel. coef error | (f − f*)/f* |")
        print("|---|---:|---:|---:|")
        for label, fit in candidates().items():
            best = float("inf")
            result = None
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = fit(X, y)
                best = min(best, time.perf_counter() - start)
            assert result is not None
            coef, b = result
            error = float(np.max(np.abs(np.ravel(coef) - coef_ref) / np.abs(coef_ref)))
            gap = (loss(X, y, np.ravel(coef), b) - f_ref) / f_ref
            print(f"| {label} | {best:.3f} | {error:.1e} | {gap:.1e} |")


if __name__ == "__main__":
    main()
