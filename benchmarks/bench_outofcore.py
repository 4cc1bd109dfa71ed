"""Out-of-core fits: a Parquet file larger than memory, fitted with bounded resident memory.

Usage::

    python benchmarks/bench_outofcore.py --dir /scratch              # 8 GiB file (default)
    python benchmarks/bench_outofcore.py --dir /tmp --size-gb 0.2    # a quick check

Generates (streaming, one row group at a time) a Parquet file of ``--size-gb``
GiB with ``--d`` float64 features and a target ``y``, then fits it twice, each
fit in a fresh process so that its peak memory is its own:

* ``stats``: the sufficient-statistics engine (the file is read once; the
  cache written during that pass is deleted right after it);
* ``data``: the data path (``gradient="data"``), which streams the cache in
  ``--dir`` at every iteration.

For each it reports the wall time, the iterations, and the peak resident
memory (``ru_maxrss`` and ``VmHWM`` from ``/proc/self/status``). The claim to
check: peak RSS under 1 GiB for an 8 GiB file. Needs about twice ``--size-gb``
of free disk in ``--dir`` (the file and the cache). ``--keep`` keeps the file.

``--cli`` measures the command line instead (issue 12)::

    python benchmarks/bench_outofcore.py --cli --dir /tmp/issue-12-bench --size-gb 1.5

It writes a CSV and a Parquet file of ``--size-gb`` GiB each (``--d`` features,
10 by default with ``--cli``), then runs ``gradfit fit FILE -t y -o model.gfm
--predictions …`` and ``gradfit predict model.gfm FILE -o …`` on each under
``/usr/bin/time -v`` and reports their peak RSS ("Maximum resident set size"),
and the largest relative difference between the coefficients of the streamed fit
and those of ``GDRegressor`` fitted on the same rows held in memory (goal: peak
RSS < 1 GiB, coefficients equal to 1e-10 relative). The files are deleted at the end.

With ``--cli`` it also measures, under ``/usr/bin/time -v``, ``gradfit report FILE -t y``
(a fit, then one bounded pass: statistics, scores, a seeded sample of rows), ``gradfit
diagnose FILE -t y --fit`` and ``gradfit predict MODEL FILE --keep x0`` (``--no-report``
leaves them out); the diagnosis's ``‖W − W*‖/‖W*‖`` (W* from the statistics) is reported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from typing import Any

import numpy as np
from _common import machine


def peak_rss() -> dict[str, float]:
    """Peak resident memory of this process in MiB (ru_maxrss and VmHWM)."""
    out = {"ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    out["vmhwm_mib"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def generate(path: str, size_gb: float, D: int, seed: int, queue: Any) -> None:
    """Write the Parquet file one ~64 MiB row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    w = rng.normal(size=D)
    rows = max(1, (64 << 20) // (8 * (D + 1)))
    names = [f"x{j}" for j in range(D)] + ["y"]
    schema = pa.schema([(name, pa.float64()) for name in names])
    target = size_gb * 2**30
    start = time.perf_counter()
    n = 0
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        while os.path.getsize(path) < target:
            X = rng.normal(size=(rows, D))
            y = X @ w + 3.0 + 0.1 * rng.normal(size=rows)
            columns = [pa.array(X[:, j]) for j in range(D)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            n += rows
    queue.put(
        {
            "step": "generate",
            "rows": n,
            "wall_s": time.perf_counter() - start,
            "weights": w.tolist(),
            **peak_rss(),
        }
    )


def fit(path: str, engine: str, cache_dir: str, queue: Any) -> None:
    """Fit the file with one engine and report time and peak memory."""
    from gradfit import DataFile, GDRegressor

    params = {"gradient": "data"} if engine == "data" else {}
    start = time.perf_counter()
    model = GDRegressor(**params).fit(
        DataFile(path, target="y", cache_dir=cache_dir, progress=None), None
    )
    wall = time.perf_counter() - start
    queue.put(
        {
            "step": f"fit-{engine}",
            "engine": model.engine_,
            "wall_s": wall,
            "n_iter": int(model.n_iter_),
            "converged": bool(model.converged_),
            "coef": np.asarray(model.coef_).tolist(),
            "intercept": float(model.intercept_),
            "left_in_cache_dir": sorted(
                p for p in os.listdir(cache_dir) if p.startswith("gradfit-cache-")
            ),
            **peak_rss(),
        }
    )


# -- the command line (issue 12) -------------------------------------------------------------


def cli_blocks(D: int, seed: int, n_rows: int, rows: int = 1 << 17) -> Any:
    """The rows of the CLI benchmark, block by block (the same for the file and the reference)."""
    rng = np.random.default_rng(seed)
    w = np.linspace(-2.0, 2.0, D)
    for start in range(0, n_rows, rows):
        n = min(rows, n_rows - start)
        X = rng.normal(size=(n, D)) * np.linspace(0.5, 5.0, D) + np.linspace(-1.0, 3.0, D)
        yield X, X @ w + 3.0 + 0.1 * rng.normal(size=n)


def cli_write(path: str, kind: str, size_gb: float, D: int, seed: int) -> int:
    """Write the CSV or Parquet file of about ``size_gb`` GiB; returns its rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    names = [f"x{j}" for j in range(D)] + ["y"]
    schema = pa.schema([(name, pa.float64()) for name in names])
    # bytes per row: 8 per value in Parquet (uncompressed), about 20 per value of CSV text
    per_row = 8 * (D + 1) if kind == "parquet" else 20.5 * (D + 1)
    n_rows = int(size_gb * 2**30 / per_row)
    writer: Any = (
        pq.ParquetWriter(path, schema, compression="none")
        if kind == "parquet"
        else pacsv.CSVWriter(path, schema)
    )
    with writer:
        for X, y in cli_blocks(D, seed, n_rows):
            columns = [pa.array(X[:, j]) for j in range(D)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return n_rows


def cli_reference(D: int, seed: int, n_rows: int, queue: Any) -> None:
    """``GDRegressor`` on the same rows in memory (in its own process)."""
    from gradfit import GDRegressor

    X = np.empty((n_rows, D))
    y = np.empty(n_rows)
    start = 0
    for Xb, yb in cli_blocks(D, seed, n_rows):  # filled in place: one copy of the rows
        X[start : start + len(Xb)] = Xb
        y[start : start + len(Xb)] = yb
        start += len(Xb)
    model = GDRegressor(tol=1e-12).fit(X, y)
    queue.put({"coef": np.asarray(model.coef_).tolist(), "intercept": float(model.intercept_)})


def time_v(command: list[str]) -> dict[str, Any]:
    """Run ``command`` under ``/usr/bin/time -v``: wall time, peak RSS, stdout."""
    import re
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {
        "wall_s": wall,
        "peak_rss_mib": int(peak.group(1)) / 1024 if peak else float("nan"),
        "stdout": done.stdout,
    }


def cli_main(args: argparse.Namespace) -> None:
    """Fit and predict a large CSV and Parquet file with the command line; peak RSS of each."""
    os.makedirs(args.dir, exist_ok=True)
    gradfit = [sys.executable, "-m", "gradfit.cli"]
    print(machine())
    results = []
    D = args.d
    for kind in ("csv", "parquet"):
        path = os.path.join(args.dir, f"bench-cli.{kind}")
        model = os.path.join(args.dir, f"bench-cli-{kind}.gfm")
        out = os.path.join(args.dir, f"bench-cli-predictions.{kind}")
        try:
            start = time.perf_counter()
            n_rows = cli_write(path, kind, args.size_gb, D, args.seed)
            size = os.path.getsize(path)
            print(
                f"wrote {path}: {size / 2**30:.2f} GiB, {n_rows:,} rows × {D + 1} columns "
                f"in {time.perf_counter() - start:.0f} s"
            )
            reference = run(cli_reference, D, args.seed, n_rows)
            command = ["fit", path, "-t", "y", "--tol", "1e-12", "--json", "-o", model]
            fit = time_v([*gradfit, *command, "--predictions", out])
            summary = json.loads(fit.pop("stdout"))
            coef = np.array([summary["scores"][0]["coefficients"][f"x{j}"] for j in range(D)])
            ref = np.asarray(reference["coef"])
            rel = float(np.max(np.abs(coef - ref)) / np.max(np.abs(ref)))
            b_rel = abs(summary["scores"][0]["intercept"] - reference["intercept"]) / abs(
                reference["intercept"]
            )
            predictions_bytes = os.path.getsize(out)
            os.remove(out)
            predict = time_v([*gradfit, "predict", model, path, "-o", out, "--json"])
            predict.pop("stdout")
            extra: dict[str, Any] = {}
            if not args.no_report:
                extra = cli_understanding(gradfit, path, model, out, args.dir)
            row = {
                "file": kind,
                "file_bytes": size,
                "rows": n_rows,
                "fit_wall_s": fit["wall_s"],
                "fit_peak_rss_mib": fit["peak_rss_mib"],
                "engine": summary["engine"],
                "n_iter": summary["n_iter"],
                "coef_max_rel_diff": rel,
                "intercept_rel_diff": b_rel,
                "predictions_bytes": predictions_bytes,
                "predict_wall_s": predict["wall_s"],
                "predict_peak_rss_mib": predict["peak_rss_mib"],
                **extra,
            }
            results.append(row)
            print(json.dumps(row))
        finally:
            for leftover in (path, model, out):
                if os.path.exists(leftover):
                    os.remove(leftover)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "results": results}, handle, indent=1)
    worst = max(max(v for k, v in r.items() if k.endswith("peak_rss_mib")) for r in results)
    print(f"largest peak RSS: {worst:,.0f} MiB (goal: < 1024 MiB)")


def cli_understanding(
    gradfit: list[str], path: str, model: str, out: str, folder: str
) -> dict[str, Any]:
    """``gradfit report``, ``diagnose --fit`` and ``predict --keep`` on ``path``: wall, peak RSS."""
    import re

    page = os.path.join(folder, "bench-cli-report.html")
    try:
        report = time_v([*gradfit, "report", path, "-t", "y", "-o", page, "-q"])
        page_bytes = os.path.getsize(page)
    finally:
        if os.path.exists(page):
            os.remove(page)
    diagnose = time_v([*gradfit, "diagnose", path, "-t", "y", "--fit"])
    text = diagnose.pop("stdout")
    found = re.search(r"‖W − W\*‖ / ‖W\*‖\s+(\S+)", text)
    try:
        keep = time_v([*gradfit, "predict", model, path, "-o", out, "--keep", "x0", "-q"])
    finally:
        if os.path.exists(out):
            os.remove(out)
    return {
        "report_wall_s": report["wall_s"],
        "report_peak_rss_mib": report["peak_rss_mib"],
        "report_bytes": page_bytes,
        "diagnose_wall_s": diagnose["wall_s"],
        "diagnose_peak_rss_mib": diagnose["peak_rss_mib"],
        "diagnose_relative_distance": found.group(1) if found else None,
        "predict_keep_wall_s": keep["wall_s"],
        "predict_keep_peak_rss_mib": keep["peak_rss_mib"],
    }


def run(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
    return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="folder for the file and the cache")
    parser.add_argument("--size-gb", type=float, default=8.0, help="file size in GiB")
    parser.add_argument("--d", type=int, default=50, help="number of features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--engines", default="stats,data", help="comma-separated: stats,data")
    parser.add_argument(
        "--cli", action="store_true", help="measure gradfit fit/predict on CSV and Parquet"
    )
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="with --cli: leave out gradfit report, diagnose and predict --keep",
    )
    args = parser.parse_args()
    if args.cli:
        if args.d == 50:
            args.d = 10
        cli_main(args)
        return
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, f"bench_outofcore_{args.size_gb:g}gb_d{args.d}.parquet")
    print(machine())
    results = []
    try:
        gen = run(generate, path, args.size_gb, args.d, args.seed)
        size = os.path.getsize(path)
        gen["file_bytes"] = size
        results.append(gen)
        print(
            f"generated {path}: {size / 2**30:.2f} GiB, {gen['rows']:,} rows × {args.d + 1} "
            f"columns in {gen['wall_s']:.1f} s (peak RSS {gen['ru_maxrss_mib']:.0f} MiB)"
        )
        w = np.asarray(gen["weights"])
        for engine in args.engines.split(","):
            r = run(fit, path, engine, args.dir)
            r["max_coef_error"] = float(np.max(np.abs(np.asarray(r["coef"]) - w)))
            del r["coef"]
            results.append(r)
            print(
                f"fit {engine:5s}: engine={r['engine']} {r['wall_s']:8.1f} s  "
                f"{r['n_iter']} iterations  {size / 2**20 / r['wall_s']:,.0f} MiB/s of file  "
                f"peak RSS {r['ru_maxrss_mib']:,.0f} MiB (VmHWM {r.get('vmhwm_mib', 0):,.0f} MiB)"
                f"  max |coef − w| {r['max_coef_error']:.2e}  cache left: "
                f"{r['left_in_cache_dir'] or 'none'}"
            )
    finally:
        if not args.keep and os.path.exists(path):
            os.remove(path)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "results": results}, handle, indent=1)
    worst = max(r["ru_maxrss_mib"] for r in results if r["step"].startswith("fit"))
    print(f"largest peak RSS of a fit: {worst:,.0f} MiB (goal: < 1024 MiB)")
    sys.exit(0)


if __name__ == "__main__":
    main()
