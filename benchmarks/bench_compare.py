"""Two gradfit source trees side by side: the default, ``exact`` and data-path fits (no regression).

Usage::

    git worktree add /tmp/old <commit>
    python benchmarks/bench_compare.py --old /tmp/old            # against this checkout
    python benchmarks/bench_compare.py --old /tmp/old --rounds 3 --n 1000000 --d 100

Each tree runs in its own process (two versions of one package cannot share one), the
processes alternate old/new for ``--rounds`` rounds, and each process keeps the best of
``--repeat`` fits per case; the table gives the range of those bests over the rounds. The data
are ``_common.conditioned_problem`` (the same seed in every process); the one-hot cases replace
its last ten columns by the one-hot coding of a ten-level factor (a null space beside the
intercept).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import machine

HERE = Path(__file__).resolve().parent
NEW = HERE.parent

CHILD = r"""
import json, sys, time, warnings
import numpy as np
sys.path.insert(0, {src!r}); sys.path.insert(0, {bench!r})
from _common import conditioned_problem
from gradfit import GDRegressor
warnings.simplefilter("ignore")
n, d, repeat = {n}, {d}, {repeat}


def best_of(times, X, Y, **options):
    best, iterations = float("inf"), 0
    for _ in range(times):
        start = time.perf_counter()
        model = GDRegressor(**options).fit(X, Y)
        best = min(best, time.perf_counter() - start)
        iterations = int(model.n_iter_)
    return [best, iterations]


out = {{}}
X, Y = conditioned_problem(n, d, 1, dtype=np.float64)
y = Y[:, 0].copy()
GDRegressor().fit(X[:50000], y[:50000])  # compile once
out["default, K=1 float64"] = best_of(repeat, X, y)
out["exact, K=1 float64"] = best_of(repeat, X, y, method="exact")
# one-hot levels plus an intercept: H has a null space (the rows check it, one float64 pass)
levels = np.random.default_rng(0).integers(0, 10, n)
X[:, d - 10:] = np.eye(10)[levels]
out["default, one-hot + intercept"] = best_of(repeat, X, y)
out["exact, one-hot + intercept"] = best_of(repeat, X, y, method="exact")
for dtype in ("float64", "float32"):
    X, Y = conditioned_problem(n, d, 4, dtype=np.dtype(dtype))
    out[f"data path, K=4 {{dtype}}"] = best_of(max(1, repeat // 2), X, Y, gradient="data")
print(json.dumps(out))
"""


def run(tree: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    code = CHILD.format(
        src=str(tree / "src"), bench=str(HERE), n=args.n, d=args.d, repeat=args.repeat
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other tree (a worktree)")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results: dict[str, dict[str, list[list[float]]]] = {"old": {}, "new": {}}
    for _ in range(args.rounds):
        for label, tree in (("old", args.old), ("new", NEW)):
            for case, measured in run(tree, args).items():
                results[label].setdefault(case, []).append(measured)
    print(f"\nN = {args.n}, D = {args.d}; best of {args.repeat} per process, {args.rounds} rounds")
    print("| case | old | new |\n|---|---:|---:|")
    for case in results["new"]:
        cells = []
        for label in ("old", "new"):
            runs = results[label].get(case, [])
            if not runs:
                cells.append("—")
                continue
            times = [t for t, _ in runs]
            cells.append(f"{min(times):.3f}–{max(times):.3f} s ({int(runs[-1][1])} it)")
        print(f"| {case} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
