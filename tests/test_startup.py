"""Startup and threads: what ``import gradfit`` loads, and how the kernel's threads wait.

Each check runs in a fresh interpreter (a subprocess), since this test session
has long since imported everything. These are correctness tests, not timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

#: Libraries that ``import gradfit`` and ``gradfit --help`` must not load.
HEAVY = ("sklearn", "matplotlib", "pandas", "numba", "pyarrow", "dask", "torch")

#: Variables gradfit sets before the threading layer loads; cleared so that its defaults show.
THREAD_VARIABLES = (
    "OMP_WAIT_POLICY",
    "KMP_BLOCKTIME",
    "GOMP_SPINCOUNT",
    "NUMBA_THREADING_LAYER",
    "NUMBA_THREADING_LAYER_PRIORITY",
    "NUMBA_NUM_THREADS",
)


def _python(code: str, **env_changes: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_changes)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


LOADED = f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"


def test_import_gradfit_loads_no_heavy_library() -> None:
    out = _python(f"import json, sys, gradfit\n{LOADED}").stdout
    assert json.loads(out.splitlines()[-1]) == []


def test_cli_help_loads_no_heavy_library() -> None:
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['gradfit', '--help']\n"
        "try:\n"
        "    runpy.run_module('gradfit.cli', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        f"{LOADED}"
    )
    out = _python(code).stdout
    assert "usage: gradfit" in out
    assert json.loads(out.splitlines()[-1]) == []


def test_public_names_load_on_first_use() -> None:
    code = (
        "import json, sys\n"
        "import sklearn.exceptions\n"
        "from gradfit import ConvergenceWarning, GDRegressor, DataFile, load_model\n"
        "import gradfit\n"
        "assert issubclass(ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)\n"
        "assert gradfit.ConvergenceWarning is ConvergenceWarning\n"
        "assert gradfit._exceptions.ConvergenceWarning is ConvergenceWarning\n"
        "assert set(gradfit.__all__) <= set(dir(gradfit))\n"
        "print(json.dumps([a.name for a in gradfit.sources.base._SOURCES]))\n"
    )
    out = _python(code).stdout
    # every input adapter registered, in the order the estimator asks them
    expected = ["source", "array-api", "dask", "file", "sparse", "statistics"]
    assert json.loads(out.splitlines()[-1]) == expected


def test_convergence_warning_is_one_class_that_pickles() -> None:
    import pickle

    import sklearn.exceptions

    import gradfit
    from gradfit import _exceptions

    cls = gradfit.ConvergenceWarning
    assert cls is _exceptions.ConvergenceWarning
    assert issubclass(cls, sklearn.exceptions.ConvergenceWarning)
    assert pickle.loads(pickle.dumps(cls)) is cls
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.ConvergenceWarning)
        with pytest.raises(cls):
            warnings.warn("stopped early", cls, stacklevel=1)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _exceptions.Nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gradfit.Nope  # noqa: B018


# -- threads --------------------------------------------------------------------------------
KERNEL_RUN = (
    "import ctypes, json, os, sys\n"
    "import numpy as np\n"
    "from gradfit.problem.kernels import fused_pass\n"
    "X = np.ones((2000, 700))\n"  # above PARALLEL_MIN_SIZE: the parallel region runs
    "fused_pass(X, np.zeros((700, 1)), None, np.zeros(1), None)\n"
    "import numba\n"
    "spin = None\n"
    "if numba.threading_layer() == 'omp':\n"
    "    sys.stderr.flush()\n"
    "    try:\n"
    "        ctypes.CDLL('libgomp.so.1').omp_display_env(1)\n"  # to stderr, by the C library
    "    except (OSError, AttributeError):\n"
    "        pass\n"
    "print(json.dumps({'layer': numba.threading_layer(),\n"
    "                  'policy': os.environ.get('OMP_WAIT_POLICY'),\n"
    "                  'blocktime': os.environ.get('KMP_BLOCKTIME')}))\n"
)


def _omp_available() -> bool:
    try:
        import numba.np.ufunc.omppool  # noqa: F401
    except ImportError:
        return False
    return True


def _spin_count(stderr: str) -> str | None:
    for line in stderr.splitlines():
        if line.strip().startswith("GOMP_SPINCOUNT"):
            return line.split("=", 1)[1].strip().strip("'")
    return None


@pytest.mark.skipif(not _omp_available(), reason="numba's OpenMP threading layer is not installed")
def test_kernel_threads_wait_passively_under_openmp() -> None:
    result = _python(KERNEL_RUN)
    info = json.loads(result.stdout.splitlines()[-1])
    assert info == {"layer": "omp", "policy": "PASSIVE", "blocktime": "0"}
    spin = _spin_count(result.stderr)
    if spin is not None:  # GNU libgomp says what it read: no spinning at all
        assert spin == "0", result.stderr


@pytest.mark.skipif(not _omp_available(), reason="numba's OpenMP threading layer is not installed")
def test_the_users_thread_settings_win() -> None:
    result = _python(KERNEL_RUN, OMP_WAIT_POLICY="ACTIVE", NUMBA_THREADING_LAYER="workqueue")
    info = json.loads(result.stdout.splitlines()[-1])
    assert info == {"layer": "workqueue", "policy": "ACTIVE", "blocktime": "0"}


def test_small_and_large_passes_agree_bit_for_bit_across_thread_counts() -> None:
    numba = pytest.importorskip("numba")
    from gradfit.problem.kernels import PARALLEL_MIN_SIZE, column_scan, fused_pass

    rng = np.random.default_rng(3)
    before = numba.get_num_threads()
    for n in (PARALLEL_MIN_SIZE // 10 - 7, PARALLEL_MIN_SIZE // 10 + 5000):
        X = rng.normal(size=(n, 10))
        Y = rng.normal(size=(n, 1))
        W = rng.normal(size=(10, 1))
        results = []
        try:
            for threads in sorted({1, before}):
                numba.set_num_threads(threads)
                results.append((fused_pass(X, W, Y, np.zeros(1), None), column_scan(X)))
                assert numba.get_num_threads() == threads  # restored after a small pass
        finally:
            numba.set_num_threads(before)
        (first, scan_first), (last, scan_last) = results[0], results[-1]
        for a, b in zip(first, last, strict=True):
            assert np.array_equal(a, b)
        assert np.array_equal(scan_first[0], scan_last[0]) and scan_first[1] == scan_last[1]
