"""Checkpoints: atomic, resumed bit for bit, refused for other data or settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from gradfit import ConvergenceWarning, GDRegressor
from gradfit._checkpoint import CheckpointError
from problems import svd_problem


def _fit(**options: object) -> GDRegressor:
    X, Y = svd_problem(400, 12, 2, cond=30.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GDRegressor(**options).fit(X, Y)


@pytest.mark.parametrize(
    "options",
    [
        {"method": "gd"},
        {"method": "momentum"},
        {"method": "nesterov"},
        {"method": "cg", "gradient": "data"},
        {"method": "cg"},
        {"method": "sgd", "random_state": 3, "batch_size": 64},
    ],
    ids=lambda o: "-".join(str(v) for v in o.values()),
)
def test_interrupted_and_resumed_fit_is_bit_identical(tmp_path: Path, options: dict) -> None:
    total = {"sgd": 40, "cg": 15}.get(options["method"], 120)
    reference = _fit(**options, max_iter=total, tol=1e-14)
    path = tmp_path / "fit.npz"
    first = _fit(
        **options, max_iter=total // 3, tol=1e-14, checkpoint=str(path), checkpoint_every=1
    )
    assert path.exists() and first.n_iter_ == total // 3
    resumed = _fit(**options, max_iter=total, tol=1e-14, checkpoint=str(path), checkpoint_every=1)
    assert np.array_equal(resumed.coef_, reference.coef_)
    assert np.array_equal(resumed.intercept_, reference.intercept_)
    assert resumed.n_iter_ == reference.n_iter_
    assert np.array_equal(resumed.history_.loss, reference.history_.loss)
    assert [e.kind for e in resumed.history_.events if e.kind == "resume"] == ["resume"]
    # running the finished fit again returns the same answer at once
    again = _fit(**options, max_iter=total, tol=1e-14, checkpoint=str(path))
    assert np.array_equal(again.coef_, reference.coef_)


def test_checkpoint_from_other_data_or_settings_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fit.npz"
    _fit(method="gd", max_iter=5, checkpoint=str(path), checkpoint_every=1)
    with pytest.raises(CheckpointError, match=r"method: checkpoint 'gd' vs now 'nesterov'"):
        _fit(method="nesterov", max_iter=5, checkpoint=str(path))
    with pytest.raises(CheckpointError, match=r"alpha: checkpoint 0\.0 vs now 0\.5"):
        _fit(method="gd", alpha=0.5, max_iter=5, checkpoint=str(path))
    X, Y = svd_problem(401, 12, 2, cond=30.0, seed=1)
    with pytest.raises(CheckpointError, match=r"N: checkpoint 400 vs now 401"):
        GDRegressor(method="gd", max_iter=5, checkpoint=str(path)).fit(X, Y)


def test_corrupt_or_newer_checkpoints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "fit.npz"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable gradfit checkpoint"):
        _fit(method="gd", max_iter=3, checkpoint=str(path))
    path.unlink()
    _fit(method="gd", max_iter=3, checkpoint=str(path), checkpoint_every=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable gradfit checkpoint"):
        _fit(method="gd", max_iter=3, checkpoint=str(path))


def test_default_interval_is_seconds_and_int_means_iterations(tmp_path: Path) -> None:
    from gradfit._checkpoint import Checkpointer

    seconds = Checkpointer(tmp_path / "a.npz")
    assert seconds.every == 5.0 and not seconds.due(10_000)
    iterations = Checkpointer(tmp_path / "b.npz", every=3)
    assert not iterations.due(2) and iterations.due(3)
    with pytest.raises(ValueError, match="checkpoint_every"):
        Checkpointer(tmp_path / "c.npz", every=-1)


SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    sys.path.insert(0, {tests!r})
    from problems import svd_problem
    from gradfit import GDRegressor
    X, Y = svd_problem(3000, 40, 2, cond=100.0, seed=5)
    warnings.simplefilter("ignore")
    model = GDRegressor(method="gd", gradient="data", max_iter=3000, tol=1e-14,
                        checkpoint={path!r}, checkpoint_every=1).fit(X, Y)
    print(model.coef_.tobytes().hex())
    """
)


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume_is_bit_identical(tmp_path: Path) -> None:
    tests = str(Path(__file__).parent)
    reference = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests, path=str(tmp_path / "ref.npz"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = tmp_path / "killed.npz"
    code = SCRIPT.format(tests=tests, path=str(path))
    rng = np.random.default_rng()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(float(rng.uniform(0.05, 0.6)))  # a random moment inside the fit
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert path.exists()  # the last complete checkpoint (a write in flight is a temp file)
    resumed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert resumed == reference
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_cli_checkpoint_resume_and_errors(tmp_path: Path) -> None:
    import json

    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    csv = tmp_path / "diabetes.csv"
    data.to_csv(csv, index=False)
    cli = [
        sys.executable,
        "-m",
        "gradfit.cli",
        "fit",
        str(csv),
        "-t",
        "target",
        "--method",
        "gd",
        "--tol",
        "1e-14",
        "--json",
        "-q",
    ]
    cp = tmp_path / "cp.npz"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *extra], capture_output=True, text=True)

    first = run("--max-iter", "40", "--checkpoint", str(cp), "--checkpoint-every", "1")
    assert first.returncode == 0, first.stderr
    resumed = run("--max-iter", "90", "--checkpoint", str(cp), "--resume")
    straight = run("--max-iter", "90")
    assert resumed.returncode == 0 and straight.returncode == 0, resumed.stderr
    a, b = json.loads(resumed.stdout), json.loads(straight.stdout)
    assert a["n_iter"] == b["n_iter"] == 90
    assert a["loss"] == b["loss"] and json.dumps(a["scores"]) == json.dumps(b["scores"])
    missing = run("--checkpoint", str(tmp_path / "none.npz"), "--resume")
    assert missing.returncode == 2 and "no checkpoint at" in missing.stderr
    assert "Traceback" not in missing.stderr
    other = run("--method", "nesterov", "--checkpoint", str(cp))
    assert other.returncode == 2 and "method: checkpoint 'gd' vs now 'nesterov'" in other.stderr
