"""One signal policy: SIGINT, SIGTERM and SIGHUP stop a command cleanly (exit 130/143/129).

Each test runs the real command line in a subprocess, sends the signal while it works, and
checks the exit status, that no temporary file (``.*.tmp``) or cache folder
(``gradfit-cache-*``) is left, and that the outputs of an earlier run are unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STATUS = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}

#: Runs the command line with fsync slowed down, to hold it inside an atomic write (its
#: temporary file written, not yet renamed) long enough for the signal to arrive there.
SLOW_FSYNC = textwrap.dedent(
    """
    import os, sys, time
    real = os.fsync
    def slow(fd):
        print("in fsync", file=sys.stderr, flush=True)
        time.sleep(30)
        real(fd)
    os.fsync = slow
    from gradfit.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6)) * np.logspace(0, 3, 6)  # κ ≈ 1e6: gd runs for ever
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])
    frame["y"] = X @ rng.normal(size=6) + rng.normal(size=2000)
    frame.to_csv(folder / "data.csv", index=False)


def _start(folder: Path, args: list[str], *, driver: str | None = None) -> subprocess.Popen[str]:
    head = [sys.executable, "-c", driver] if driver else [sys.executable, "-m", "gradfit.cli"]
    env = {**os.environ, "TMPDIR": str(folder / "tmp"), "PYTHONUNBUFFERED": "1"}
    (folder / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen(
        [*head, *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a background job inherits SIGINT ignored: give the child the terminal's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _stop(process: subprocess.Popen[str], name: str) -> str:
    process.send_signal(getattr(signal, name))
    _, err = process.communicate(timeout=60)
    assert process.returncode == STATUS[name], err
    assert "Traceback" not in err and f"({name}: temporary files" in err, err
    return err


def _leftovers(folder: Path) -> list[str]:
    names = [*os.listdir(folder), *os.listdir(folder / "tmp")]
    return sorted(n for n in names if n.endswith(".tmp") or n.startswith(("gradfit-cache", ".")))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_signal_during_the_fit(tmp_path: Path, name: str) -> None:
    _data(tmp_path)
    (tmp_path / "model.gfm").write_bytes(b"the previous model")
    (tmp_path / "p.csv").write_text("the previous predictions\n")
    process = _start(
        tmp_path,
        ["fit", "data.csv", "-t", "y", "-o", "model.gfm", "--predictions", "p.csv",
         "--method", "gd", "--max-iter", "100000000", "--tol", "1e-15", "--no-standardize", "-v",
         "--checkpoint", "cp.npz", "--checkpoint-every", "1"],
    )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()  # "iteration 1/…" once the loop runs
    assert first.startswith("iteration 1/"), first
    deadline = time.monotonic() + 30
    while not (tmp_path / "cp.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    _stop(process, name)
    assert (tmp_path / "model.gfm").read_bytes() == b"the previous model"
    assert (tmp_path / "p.csv").read_text() == "the previous predictions\n"
    assert _leftovers(tmp_path) == []  # no .tmp, no checkpoint lock, no cache
    assert (tmp_path / "cp.npz").exists()  # the last complete checkpoint, resumable


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_signal_while_writing_predictions(tmp_path: Path, name: str) -> None:
    from gradfit import GDRegressor, save_model

    _data(tmp_path)
    frame = pd.read_csv(tmp_path / "data.csv")
    model = GDRegressor().fit(frame.drop(columns="y").to_numpy(), frame["y"].to_numpy())
    save_model(model, tmp_path / "model.gfm")
    (tmp_path / "p.csv").write_text("the previous predictions\n")
    process = _start(
        tmp_path, ["predict", "model.gfm", "data.csv", "-o", "p.csv"], driver=SLOW_FSYNC
    )
    assert process.stderr is not None
    assert process.stderr.readline().strip() == "in fsync"
    temporary = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(temporary) == 1 and temporary[0].startswith(".p.csv.")  # caught mid-write
    _stop(process, name)
    assert (tmp_path / "p.csv").read_text() == "the previous predictions\n"
    assert _leftovers(tmp_path) == []


def test_library_file_cache_is_removed_on_sigterm(tmp_path: Path) -> None:
    """A file input's on-disk cache goes too (the command line reads files the same way)."""
    X = np.random.default_rng(1).normal(size=(20_000, 8)) * np.logspace(0, 3, 8)
    np.save(tmp_path / "data.npy", np.c_[X, X @ np.arange(8.0)])
    script = textwrap.dedent(
        """
        import sys
        from gradfit import GDRegressor
        from gradfit.cli import Stopped, stop_on_signals
        try:
            with stop_on_signals():
                GDRegressor(method="gd", gradient="data", max_iter=10**8, tol=0,
                            standardize=False, verbose=1).fit("data.npy", None, target=8)
        except Stopped as err:
            sys.exit(128 + err.signum)
        """
    )
    process = _start(tmp_path, [], driver=script)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        n.startswith("gradfit-cache") for n in os.listdir(tmp_path / "tmp")
    ):
        time.sleep(0.02)
    assert process.stdout is not None
    process.stdout.readline()  # "[gradfit] gd: …": the loop is running over the cache
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    assert _leftovers(tmp_path) == []


def test_a_signal_ignored_at_start_stays_ignored() -> None:
    from gradfit.cli import stop_on_signals

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    term = signal.getsignal(signal.SIGTERM)
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # nohup keeps working
            assert signal.getsignal(signal.SIGTERM) not in (term, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is term  # restored afterwards
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_second_process_on_the_same_checkpoint_is_refused_and_the_first_goes_on(
    tmp_path: Path,
) -> None:
    from gradfit import GDRegressor
    from gradfit.solve.checkpoint import CheckpointError

    _data(tmp_path)
    process = _start(
        tmp_path,
        ["fit", "data.csv", "-t", "y", "--method", "gd", "--max-iter", "100000000",
         "--tol", "1e-15", "--no-standardize", "-v", "--checkpoint", "cp.npz",
         "--checkpoint-every", "1"],
    )  # fmt: skip
    assert process.stderr is not None
    assert process.stderr.readline().startswith("iteration 1/")
    frame = pd.read_csv(tmp_path / "data.csv")
    second = GDRegressor(method="gd", max_iter=5, checkpoint=str(tmp_path / "cp.npz"))
    with pytest.raises(CheckpointError, match=rf"in use by another fit \(pid{process.pid}@"):
        second.fit(frame.drop(columns="y").to_numpy(), frame["y"].to_numpy())
    time.sleep(0.5)
    assert process.poll() is None  # the first fit is still working
    _stop(process, "SIGTERM")
    assert _leftovers(tmp_path) == []
