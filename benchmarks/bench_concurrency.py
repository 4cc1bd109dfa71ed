"""Two gradfit processes at once against one alone: the cost of sharing the cores.

Usage::

    python benchmarks/bench_concurrency.py                 # the tree on PYTHONPATH
    python benchmarks/bench_concurrency.py --src /path/to/other/src --repeat 3

Two workloads, each in a fresh child process that prepares its data, warms up
(numba compilation, a first call), then waits for the parent's "go" on stdin so
that concurrent children start their timed part together:

- ``data``: 1000 loss+gradient evaluations of the data path (the fused numba
  kernel) on N = 20,000, D = 10, with BLAS held to one thread as the fit does —
  small passes, where the cost of waking and parking the kernel's threads weighs
  most (since issue 12 they run on one thread: below ``PARALLEL_MIN_SIZE``);
- ``data-big``: 200 evaluations on N = 200,000, D = 10 (16 MB, above
  ``PARALLEL_MIN_SIZE``: both threads run every pass);
- ``fit``: one default ``GDRegressor().fit`` on N = 200,000, D = 50, κ = 100
  (statistics engine: the parallel validation scan, BLAS ``syrk``, CG).

Each is run alone ``--repeat`` times and as two simultaneous children
``--repeat`` times; the table gives the medians and the ratio of a concurrent
child's time to a lone one's (2 would be a fair share of 2 cores each running 2
threads). A child that runs past ``--timeout`` seconds is killed and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ["data", "data-big", "fit"]


def child(workload: str) -> None:
    """Prepare, warm up, wait for the go line, run the workload and print a JSON result."""
    import warnings

    import numpy as np

    from gradfit import ConvergenceWarning, GDRegressor
    from gradfit.problem.objective import LeastSquaresProblem
    from gradfit.solve.loop import quiet_blas

    warnings.simplefilter("ignore", ConvergenceWarning)
    sys.path.insert(0, str(HERE))
    from _common import conditioned_problem

    if workload.startswith("data"):
        n, repeat = (20_000, 1000) if workload == "data" else (200_000, 200)
        X, Y = conditioned_problem(n, 10, kappa=100.0)
        problem = LeastSquaresProblem(X, Y, fit_intercept=True, standardize=True)
        V = np.zeros((10, 1))

        def run() -> None:
            with quiet_blas():
                for _ in range(repeat):
                    problem.loss_grad(V)

        with quiet_blas():
            problem.loss_grad(V)
    else:
        X, Y = conditioned_problem(200_000, 50, kappa=100.0)
        y = Y[:, 0]

        def run() -> None:
            GDRegressor().fit(X, y)

        GDRegressor(max_iter=2).fit(X[:100_000], y[:100_000])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    import numba

    info = {
        "seconds": seconds,
        "layer": numba.threading_layer(),
        "threads": numba.get_num_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }
    sys.stdout.write(json.dumps(info) + "\n")


def run_children(workload: str, count: int, env: dict[str, str], timeout: float) -> list[dict]:
    """Start ``count`` children, release them together, return their results."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", workload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results.append(json.loads(out.strip().splitlines()[-1]))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results.append({"seconds": float("inf"), "layer": "?", "OMP_WAIT_POLICY": "?"})
    return results


def main() -> None:
    """Run both workloads alone and two at a time, and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=WORKLOADS)
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    parser.add_argument("--src", help="gradfit source tree to import (default: PYTHONPATH)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    print(f"load average before: {os.getloadavg()[0]:.2f}; src: {env.get('PYTHONPATH', '')}")
    print("| workload | alone s (median) | two at once s (median of both) | ratio | layer |")
    print("|---|---:|---:|---:|---|")
    for workload in args.workloads:
        alone = [run_children(workload, 1, env, args.timeout)[0] for _ in range(args.repeat)]
        pairs = [run_children(workload, 2, env, args.timeout) for _ in range(args.repeat)]
        t_alone = statistics.median(r["seconds"] for r in alone)
        t_pair = statistics.median(r["seconds"] for pair in pairs for r in pair)
        layer = f"{alone[0]['layer']}, OMP_WAIT_POLICY={alone[0]['OMP_WAIT_POLICY']}"
        print(
            f"| {workload} | {t_alone:.3f} | {t_pair:.3f} | {t_pair / t_alone:.1f} | {layer} |",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
