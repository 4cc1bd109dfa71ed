"""Choosing alpha: GDRegressorCV against scikit-learn's RidgeCV and GridSearchCV(Ridge).

Usage::

    python benchmarks/bench_cv.py                      # N = 1e6, D = 100, 30 alphas
    python benchmarks/bench_cv.py --n 100000           # a quicker check
    python benchmarks/bench_cv.py --outofcore-gb 2 --dir /tmp   # also a Parquet file

Side by side in one process, on the same data (float64, y = Xw + noise):

* leave-one-out: ``GDRegressorCV(cv=None)`` against ``RidgeCV(alphas × N)`` (its
  efficient eigen mode for N > D);
* 5-fold: ``GDRegressorCV(cv=5)`` against ``GridSearchCV(Ridge(), cv=KFold(5))`` with
  the same (contiguous) folds and alphas ``× N_train``.

Each is run once (the machine may be shared: the times are indicative), and the
chosen alphas and the scores of every alpha are compared (largest relative difference).

With ``--outofcore-gb``, a Parquet file of that size is written (streaming) and, in a
fresh process whose peak RSS is reported, ``GDRegressorCV(cv=5)`` chooses alpha from it
(one pass) and ``GDRegressor(alpha=alpha_)`` is fitted on it (a second pass).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any

import numpy as np
from _common import machine


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def in_memory(N: int, D: int, n_alphas: int, seed: int) -> dict[str, Any]:
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import GridSearchCV, KFold

    from gradfit import GDRegressorCV

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * rng.uniform(0.5, 2.0, D) + rng.normal(size=D)
    w = rng.normal(size=D) * (rng.uniform(size=D) < 0.3)
    y = X @ w + 2.0 * rng.normal(size=N)
    alphas = np.logspace(-4, 2, n_alphas)  # gradfit units
    out: dict[str, Any] = {"N": N, "D": D, "n_alphas": n_alphas}

    t_ours, ours = timed(lambda: GDRegressorCV(alphas=alphas).fit(X, y))
    t_ref, ref = timed(lambda: RidgeCV(alphas=alphas * N, store_cv_results=True).fit(X, y))
    loo_scores = -ref.cv_results_.mean(axis=0)
    out["loo"] = {
        "gradfit_s": t_ours,
        "sklearn_s": t_ref,
        "speedup": t_ref / t_ours,
        "same_alpha": bool(np.isclose(ours.alpha_ * N, ref.alpha_, rtol=1e-12)),
        "score_rel_diff": rel(ours.cv_results_["mean_test_score"], loo_scores),
        "coef_rel_diff": rel(ours.coef_, ref.coef_),
    }
    print(
        f"leave-one-out: GDRegressorCV {t_ours:7.2f} s   RidgeCV {t_ref:7.2f} s   "
        f"speed-up {t_ref / t_ours:5.1f}×   same alpha: {out['loo']['same_alpha']}   "
        f"scores rel. diff {out['loo']['score_rel_diff']:.1e}",
        flush=True,
    )
    del ref

    n_train = N - N // 5
    t_ours, ours = timed(lambda: GDRegressorCV(alphas=alphas, cv=5).fit(X, y))
    search = GridSearchCV(Ridge(), {"alpha": alphas * n_train}, cv=KFold(5))
    t_ref, ref = timed(lambda: search.fit(X, y))
    out["kfold"] = {
        "gradfit_s": t_ours,
        "sklearn_s": t_ref,
        "speedup": t_ref / t_ours,
        "same_alpha": bool(ours.best_index_ == ref.best_index_),
        "score_rel_diff": rel(
            ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"]
        ),
        "split_rel_diff": max(
            rel(ours.cv_results_[f"split{k}_test_score"], ref.cv_results_[f"split{k}_test_score"])
            for k in range(5)
        ),
    }
    print(
        f"5-fold:        GDRegressorCV {t_ours:7.2f} s   GridSearchCV {t_ref:7.2f} s   "
        f"speed-up {t_ref / t_ours:5.1f}×   same alpha: {out['kfold']['same_alpha']}   "
        f"scores rel. diff {out['kfold']['score_rel_diff']:.1e} "
        f"(per fold {out['kfold']['split_rel_diff']:.1e})",
        flush=True,
    )
    return out


def outofcore_child(path: str, queue: Any) -> None:
    from bench_outofcore import peak_rss

    from gradfit import DataFile, GDRegressor, GDRegressorCV, Statistics

    start = time.perf_counter()
    Statistics.from_data(DataFile(path, target="y", progress=None))
    t_pass = time.perf_counter() - start  # one reading pass, the unit of the others
    start = time.perf_counter()
    search = GDRegressorCV(cv=5).fit(DataFile(path, target="y", progress=None))
    t_cv = time.perf_counter() - start
    start = time.perf_counter()
    model = GDRegressor(alpha=search.alpha_).fit(DataFile(path, target="y", progress=None), None)
    t_fit = time.perf_counter() - start
    queue.put(
        {
            "one_pass_s": t_pass,
            "cv_s": t_cv,
            "refit_s": t_fit,
            "alpha": float(search.alpha_),
            "n_passes_cv": int(search.n_passes_),
            "coef_vs_cv_refit": rel(model.coef_, search.coef_),
            **peak_rss(),
        }
    )


def outofcore(size_gb: float, folder: str, D: int, seed: int) -> dict[str, Any]:
    from bench_outofcore import generate, run

    path = os.path.join(folder, f"issue-15-bench_cv_{size_gb:g}gb.parquet")
    try:
        gen = run(generate, path, size_gb, D, seed)
        size = os.path.getsize(path)
        res = run(outofcore_child, path)
    finally:
        if os.path.exists(path):
            os.remove(path)
    res.update(file_gib=size / 2**30, rows=gen["rows"])
    print(
        f"Parquet {size / 2**30:.2f} GiB ({gen['rows']:,} rows × {D + 1}): one reading pass "
        f"(Statistics.from_data) {res['one_pass_s']:.1f} s; alpha by 5-fold CV "
        f"{res['cv_s']:.1f} s ({res['n_passes_cv']} pass), refit at alpha_ {res['refit_s']:.1f} s "
        f"(1 pass); total {(res['cv_s'] + res['refit_s']) / res['one_pass_s']:.2f} passes; "
        f"peak RSS {res['ru_maxrss_mib']:,.0f} MiB; refit coef vs CV's own "
        f"{res['coef_vs_cv_refit']:.1e}",
        flush=True,
    )
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--alphas", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-in-memory", action="store_true")
    parser.add_argument("--outofcore-gb", type=float, default=0.0)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    print(machine(), flush=True)
    results: dict[str, Any] = {"machine": machine()}
    if not args.skip_in_memory:
        results["in_memory"] = in_memory(args.n, args.d, args.alphas, args.seed)
    if args.outofcore_gb > 0:
        mp.set_start_method("spawn", force=True)
        results["outofcore"] = outofcore(args.outofcore_gb, args.dir, args.d, args.seed)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    sys.exit(0)


if __name__ == "__main__":
    main()
