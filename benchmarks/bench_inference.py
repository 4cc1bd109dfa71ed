"""Inference at size: standard errors from the fit's statistics, robust ones in one pass.

Usage::

    python benchmarks/bench_inference.py memory                    # N = 1e6, D = 100 in memory
    python benchmarks/bench_inference.py parquet --dir /tmp        # a ~0.8 GB Parquet file

``memory``: in one process, side by side, the wall time of

* ``GDRegressor().fit(X, y)`` alone (the stats engine: one pass forms ``XᵀX``);
* the same fit followed by ``gradfit.inference(model)`` (nonrobust: no pass over X);
* ``gradfit.inference(model, X, y, cov_type="HC3")`` (one extra pass);
* statsmodels' ``OLS(y, add_constant(X)).fit()`` and ``.fit(cov_type="HC3")``,

and the largest relative difference between the two libraries' standard errors.
gradfit's times are the best of three; statsmodels' one run (its HC3 peaked at 4.3 GiB
resident here; ``--no-statsmodels`` times gradfit alone, in about 1 GiB).

``parquet``: writes a Parquet file of ``--rows`` rows, ``--d`` float64 features and a
target (one row group at a time), then runs, each in a fresh process under
``/usr/bin/time -v`` so that its peak resident memory is its own:

* ``fit``: the fit alone (the file is read once);
* ``nonrobust``: the fit, then nonrobust inference (no further pass);
* ``HC3``: the fit, then HC3 inference (one further pass).

The file is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
from _common import machine


def problem(N: int, D: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    X[:, : D // 2] += 3.0
    y = X @ (0.1 * rng.normal(size=D)) + 2.0 + rng.normal(size=N) * (1.0 + 0.5 * np.abs(X[:, 0]))
    return X, y


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def memory(args: argparse.Namespace) -> dict:
    import statsmodels.api as sm

    from gradfit import GDRegressor, inference

    X, y = problem(args.rows, args.d)
    t_fit, model = timed(lambda: GDRegressor().fit(X, y), 3)

    def fit_and_infer():
        m = GDRegressor().fit(X, y)
        return inference(m)

    t_both, res = timed(fit_and_infer, 3)
    t_alone, _ = timed(lambda: inference(model), 5)  # the extra cost itself (O(D³), no pass)
    t_hc3, res_hc3 = timed(lambda: inference(model, X, y, cov_type="HC3"), 3)
    t_hc1, _ = timed(lambda: inference(model, X, y, cov_type="HC1"), 3)
    gradfit_only = {
        "N": args.rows,
        "D": args.d,
        "fit_s": t_fit,
        "fit_plus_nonrobust_s": t_both,
        "ratio_to_fit": t_both / t_fit,
        "nonrobust_alone_s": t_alone,
        "ratio_fit_plus_alone_to_fit": (t_fit + t_alone) / t_fit,
        "hc1_after_fit_s": t_hc1,
        "hc3_after_fit_s": t_hc3,
    }
    if args.no_statsmodels:
        return gradfit_only
    # statsmodels on the same numbers: [1, X] (X itself freed first to stay under ~3 GB)
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = 1.0
    Z[:, 1:] = X
    X = None  # freed: statsmodels needs room for its copies
    t_sm, ref = timed(lambda: sm.OLS(y, Z).fit(), 1)
    t_sm_hc3, ref_hc3 = timed(lambda: sm.OLS(y, Z).fit(cov_type="HC3"), 1)
    return {
        **gradfit_only,
        "statsmodels_fit_s": t_sm,
        "statsmodels_fit_hc3_s": t_sm_hc3,
        "speedup_vs_statsmodels": t_sm / t_both,
        "speedup_hc3_vs_statsmodels": t_sm_hc3 / (t_fit + t_hc3),
        "max_rel_diff_bse": float(np.max(np.abs(res.bse / ref.bse - 1.0))),
        "max_rel_diff_bse_hc3": float(np.max(np.abs(res_hc3.bse / ref_hc3.bse - 1.0))),
    }


def generate(path: str, rows: int, D: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{j}" for j in range(D)] + ["y"]
    schema = pa.schema([(n, pa.float64()) for n in names])
    group = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, group):
            X, y = problem(min(group, rows - start), D, seed=start)
            table = pa.table({**{f"x{j}": X[:, j] for j in range(D)}, "y": y}, schema=schema)
            writer.write_table(table)


def child(args: argparse.Namespace) -> dict:
    """One measured run on the file (in its own process)."""
    import gradfit.sources.files as datafile
    from gradfit import GDRegressor, inference

    reads = {"n": 0}
    original = datafile._ParquetReader.blocks

    def counted(self, *a, **k):  # count whole passes over the file
        reads["n"] += 1
        return original(self, *a, **k)

    datafile._ParquetReader.blocks = counted
    start = time.perf_counter()
    model = GDRegressor().fit(args.file, None, target="y")
    t_fit = time.perf_counter() - start
    passes_fit = reads["n"]
    out = {"mode": args.mode, "fit_s": t_fit, "file_passes_fit": passes_fit}
    if args.mode != "fit":
        start = time.perf_counter()
        if args.mode == "nonrobust":
            res = inference(model)
        else:
            res = inference(model, args.file, target="y", cov_type=args.mode)
        out["inference_s"] = time.perf_counter() - start
        out["file_passes_inference"] = reads["n"] - passes_fit
        out["inference_passes_reported"] = res.passes
        out["bse_head"] = [float(v) for v in np.asarray(res.bse)[:3]]
    return out


def parquet(args: argparse.Namespace) -> list[dict]:
    path = os.path.join(args.dir, f"issue-16-bench-{os.getpid()}.parquet")
    start = time.perf_counter()
    generate(path, args.rows, args.d)
    size = os.path.getsize(path)
    print(f"wrote {path}: {size / 2**30:.2f} GiB in {time.perf_counter() - start:.1f} s")
    results = []
    try:
        for mode in ("fit", "nonrobust", "HC3"):
            command = [
                "/usr/bin/time",
                "-v",
                sys.executable,
                __file__,
                "child",
                "--file",
                path,
                "--mode",
                mode,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
            result["peak_rss_mib"] = int(rss.group(1)) / 1024 if rss else None
            result["file_gib"] = size / 2**30
            print(json.dumps(result))
            results.append(result)
    finally:
        if not args.keep:
            os.remove(path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("memory", "parquet", "child"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--no-statsmodels", action="store_true", help="memory: time gradfit only (~1 GB)"
    )
    parser.add_argument("--file")
    parser.add_argument("--mode", default="fit")
    args = parser.parse_args()
    if args.what == "child":
        print(json.dumps(child(args)))
        return
    print(machine())
    if args.what == "memory":
        print(json.dumps(memory(args), indent=1))
    else:
        parquet(args)


if __name__ == "__main__":
    main()
