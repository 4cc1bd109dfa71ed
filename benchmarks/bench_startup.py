"""Startup: ``import gradfit`` and ``gradfit --help`` against ``import numpy``.

Usage::

    python benchmarks/bench_startup.py                   # the tree on PYTHONPATH
    python benchmarks/bench_startup.py --src /other/src --runs 7

Each command runs ``--runs`` times in a fresh interpreter (alternating, so that
a slow spell of a shared machine hits all of them); the table gives the median
and the smallest wall time, and the ratio of the medians to ``import numpy``.
Then ``python -X importtime`` of ``import gradfit`` and of ``gradfit --help``
gives the modules that take longest (cumulative microseconds, one run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HELP = (
    "import runpy, sys; sys.argv = ['gradfit', '--help']\n"
    "try:\n    runpy.run_module('gradfit.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass"
)

COMMANDS = {
    "import numpy": "import numpy",
    "import gradfit": "import gradfit",
    "gradfit --help": HELP,
    "from gradfit import GDRegressor": "from gradfit import GDRegressor",
}


def wall(code: str, env: dict[str, str]) -> float:
    """Seconds for one fresh interpreter to run ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def importtime(code: str, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The ``top`` imports by cumulative time (µs) under ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    """Time each command and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="gradfit source tree to import (default: PYTHONPATH)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    for code in COMMANDS.values():  # warm the file cache and numba's/Python's bytecode caches
        wall(code, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            times[name].append(wall(code, env))
    base = statistics.median(times["import numpy"])
    print(f"load average {os.getloadavg()[0]:.2f}; src: {env.get('PYTHONPATH', '')}")
    print(f"\n| command | median s | best s | × import numpy (medians) | runs: {args.runs}")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {min(values):.3f} | {median / base:.2f} |")
    for name in ("import gradfit", "gradfit --help"):
        print(f"\n`python -X importtime`, {name}: top {args.top} by cumulative time")
        print("| module | cumulative ms |\n|---|---:|")
        for cumulative, module in importtime(COMMANDS[name], env, args.top):
            print(f"| `{module.strip()}` | {cumulative / 1000:.1f} |")


if __name__ == "__main__":
    main()
