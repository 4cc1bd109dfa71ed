"""Checkpoints: atomic, resumed bit for bit, refused for other data or settings."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradfit import ConvergenceWarning, GDRegressor
from gradfit.solve.checkpoint import CheckpointError
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
    from gradfit.solve.checkpoint import Checkpointer

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


# -- the fingerprint identifies the data exactly ------------------------------------------------
def _fingerprint_of(X: np.ndarray, Y: np.ndarray, **settings: object) -> dict:
    from gradfit.problem.objective import LeastSquaresProblem
    from gradfit.solve.checkpoint import data_digest, fingerprint

    settings = {"method": "gd", "alpha": 0.0, **settings}
    return fingerprint(LeastSquaresProblem(X, Y), settings, data_digest(X, Y))


def _changes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each data component of the fingerprint, data that changes it."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    Y = X @ [[1.0], [2.0], [-1.0]] + rng.normal(size=(40, 1))
    swapped = X.copy()
    swapped[[3, 7], 1] = swapped[[7, 3], 1]
    scaled = X.copy()
    scaled[:, 2] = X[:, 2].mean() + 2 * (X[:, 2] - X[:, 2].mean())
    Ys = Y.mean() + 2 * (Y - Y.mean())
    return {
        "base": (X, Y),
        "data_digest": (swapped, Y),
        "x_offset": (X + np.array([0.0, 0.0, 5.0]), Y),
        "y_offset": (X, Y + 3.0),
        "x_rms": (scaled, Y),
        "loss_at_zero": (X, Ys),
        "N": (np.vstack([X, X[:1]]), np.vstack([Y, Y[:1]])),
        "D": (np.c_[X, X[:, :1] * 2.0], Y),
        "K": (X, np.c_[Y, Y * 2.0]),
        "dtype": (X.astype(np.float32), Y.astype(np.float32)),
    }


def test_fingerprint_has_exactly_these_components() -> None:
    X, Y = _changes()["base"]
    assert set(_fingerprint_of(X, Y)) == {
        "method",
        "alpha",
        "engine",
        "N",
        "D",
        "K",
        "dtype",
        "x_offset",
        "y_offset",
        "x_rms",
        "loss_at_zero",
        "data_digest",
    }


@pytest.mark.parametrize(
    "component",
    ["data_digest", "x_offset", "y_offset", "x_rms", "loss_at_zero", "N", "D", "K", "dtype"],
)
def test_each_fingerprint_component_refuses_a_resume_by_itself(
    tmp_path: Path, component: str
) -> None:
    from gradfit.solve.checkpoint import Checkpointer

    changes = _changes()
    before = _fingerprint_of(*changes["base"])
    after = _fingerprint_of(*changes[component])
    assert before[component] != after[component]
    Checkpointer(tmp_path / "cp.npz").save(before, {"n_iter": 0}, 0)
    with pytest.raises(CheckpointError, match=rf"{component}: checkpoint .* vs now"):
        Checkpointer(tmp_path / "cp.npz").load(after)


@pytest.mark.parametrize("kind", ["array", "csv"])
def test_two_values_swapped_in_a_column_are_refused(tmp_path: Path, kind: str) -> None:
    import pandas as pd

    X, Y = svd_problem(200, 4, 1, cond=10.0, seed=2)
    swapped = X.copy()
    swapped[[5, 9], 0] = swapped[[9, 5], 0]
    cp = str(tmp_path / "cp.npz")

    def fit(X: np.ndarray, max_iter: int) -> GDRegressor:
        model = GDRegressor(method="gd", max_iter=max_iter, tol=1e-14, checkpoint=cp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if kind == "array":
                return model.fit(X, Y[:, 0])
            frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=Y[:, 0])
            csv = tmp_path / "data.csv"
            frame.to_csv(csv, index=False)
            return model.fit(str(csv), None, target="y")

    fit(X, 10)
    with pytest.raises(
        CheckpointError, match=r"data_digest: checkpoint 'xxh3-128:[0-9a-f]{32}' vs now"
    ):
        fit(swapped, 20)
    assert fit(X, 20).n_iter_ == 20  # the same data resumes


def test_digest_costs_little_and_ignores_where_blocks_are_cut() -> None:
    from gradfit.solve.checkpoint import DataDigest, data_digest

    X, Y = svd_problem(1000, 5, 2, cond=10.0, seed=3)
    pieces = DataDigest()
    for start in range(0, 1000, 137):
        pieces.update(X[start : start + 137], Y[start : start + 137])
    assert pieces.hexdigest() == data_digest(X, Y) == data_digest(np.asfortranarray(X), Y)
    assert data_digest(X, Y) != data_digest(X, Y, np.ones(1000))


# -- hostile checkpoints ------------------------------------------------------------------------
def _good_checkpoint(tmp_path: Path) -> tuple[Path, dict, dict]:
    path = tmp_path / "fit.npz"
    _fit(method="sgd", random_state=1, max_iter=3, checkpoint=str(path), checkpoint_every=1)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    return path, meta, arrays


def _write_checkpoint(path: Path, meta: object, arrays: dict, raw: bytes | None = None) -> None:
    from gradfit._files import npz_bytes

    text = raw if raw is not None else json.dumps(meta).encode()
    path.write_bytes(npz_bytes({**arrays, "__meta__": np.frombuffer(text, np.uint8)}))


def _edit(meta: dict, where: str, value: object) -> dict:
    meta = json.loads(json.dumps(meta))
    *parents, last = where.split(".")
    target = meta
    for key in parents:
        target = target[key] if not key.isdigit() else target[int(key)]
    if value is KeyError:
        del target[last]
    else:
        target[last if not last.isdigit() else int(last)] = value  # type: ignore[index]
    return meta


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("meta-list", "not a JSON object"),
        ("no-fingerprint", "fingerprint is missing"),
        ("fingerprint-list", "fingerprint is missing"),
        ("version-text", "version is 'x'"),
        ("short-keys", "state is damaged"),
        ("keys-not-names", "keys are not a list"),
        ("wrong-W", "its V is (3, 3)"),
        ("state-not-object", "state is damaged"),
        ("generator-attribute", "unknown bit generator 'seed'"),
        ("deep-json", "nested deeper"),
        ("big-integer", "digits"),
        ("bomb", "decompression bomb"),
        ("pickle", "not a plain number type"),
    ],
)
def test_hostile_checkpoints_are_refused_naming_the_file(
    tmp_path: Path, case: str, words: str
) -> None:
    path, meta, arrays = _good_checkpoint(tmp_path)
    raw = None
    if case == "meta-list":
        meta = [meta]
    elif case == "no-fingerprint":
        meta = _edit(meta, "fingerprint", KeyError)
    elif case == "fingerprint-list":
        meta = _edit(meta, "fingerprint", [1, 2])
    elif case == "version-text":
        meta = _edit(meta, "version", "x")
    elif case == "short-keys":
        meta = _edit(meta, "keys", meta["keys"][:-2])
    elif case == "keys-not-names":
        meta = _edit(meta, "keys", [1] * len(meta["keys"]))
    elif case == "wrong-W":
        name = meta["state"]["tuple"][0]["array"]
        arrays[name] = np.zeros((3, 3))
    elif case == "state-not-object":
        meta = _edit(meta, "state", [1, 2, 3])
    elif case == "generator-attribute":
        text = json.dumps(meta).replace('"bit_generator": "PCG64"', '"bit_generator": "seed"')
        assert "seed" in text
        meta = json.loads(text)
    elif case == "deep-json":
        raw = b"[" * 100_000
    elif case == "big-integer":
        raw = json.dumps(meta).replace('"version": 1', '"version": ' + "9" * 5001).encode()
    elif case == "pickle":
        arrays["s.0"] = np.array([object()], dtype=object)
    if case == "bomb":
        import test_hostile as hostile

        stream, crc = hostile.zeros_deflated(1 << 30, hostile.npy_header((1 << 27,)))
        good = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(good)) as zf:
            entries = [hostile.deflated(i.filename, zf.read(i)) for i in zf.infolist()]
        entries.append(("s.99.npy", stream, 8, crc, (1 << 30) + 128))
        path.write_bytes(hostile.raw_zip(entries))
    elif case == "pickle":
        from gradfit._files import npz_bytes

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, array in {**arrays, "__meta__": None}.items():
                with zf.open(f"{name}.npy", "w") as f:
                    value = (
                        array
                        if name != "__meta__"
                        else np.frombuffer(json.dumps(meta).encode(), np.uint8)
                    )
                    np.lib.format.write_array(f, value, allow_pickle=True)
        path.write_bytes(buffer.getvalue())
        del npz_bytes
    else:
        _write_checkpoint(path, meta, arrays, raw)
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            _fit(method="sgd", random_state=1, max_iter=5, checkpoint=str(path))
        top = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(str(path)) and words in message, message
    assert "\n" not in message and len(message) < 600
    assert top < 64 << 20


def test_a_second_fit_on_the_same_checkpoint_is_refused_and_spares_the_first(
    tmp_path: Path,
) -> None:
    from gradfit.solve.checkpoint import Checkpointer

    path = tmp_path / "cp.npz"
    first = Checkpointer(path)
    assert first.load({}) is None
    # the first fit's write in flight
    in_flight = tmp_path / f".cp.npz.{first._owner()}.abc123.tmp"
    in_flight.write_bytes(b"partial")
    with pytest.raises(CheckpointError, match=r"in use by another fit \(pid\d+@"):
        Checkpointer(path).load({})
    assert in_flight.exists()
    first.save({}, {"n_iter": 0}, 0)
    first.close()
    assert not (tmp_path / ".cp.npz.lock").exists()
    # once the owner is gone, its leftovers are cleared by the next fit
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".cp.npz.pid{dead}@{first._owner().partition('@')[2]}.xyz.tmp"
    stale.write_bytes(b"left by a killed fit")
    second = Checkpointer(path)
    assert second.load({}) is not None
    assert not stale.exists() and in_flight.exists()  # a live owner's file is kept
    second.close()


def test_a_checkpoint_whose_gradient_disagrees_with_this_problem_is_recomputed(
    tmp_path, monkeypatch
) -> None:
    # a checkpoint written by another version's arithmetic (before 1d21cdb, float32 passes
    # rounded targets around 1e6): CG resumed on its stale gradient took 7,900 iterations
    from gradfit.solve.checkpoint import Checkpointer

    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 8)) * np.linspace(1, 20, 8) + 1.0
    y = X @ rng.normal(size=8) + 0.1 * rng.normal(size=4000)
    path = tmp_path / "fit.npz"
    GDRegressor(max_iter=3, gradient="data", checkpoint=str(path), checkpoint_every=1).fit(X, y)
    fresh = GDRegressor(gradient="data").fit(X, y)
    resumed = GDRegressor(gradient="data", checkpoint=str(path)).fit(X, y)
    assert "recomputed" not in [e.kind for e in resumed.history_.events]  # it agreed

    GDRegressor(max_iter=3, gradient="data", checkpoint=str(path), checkpoint_every=1).fit(X, y)
    load = Checkpointer.load

    def stale(self, print_):
        state = load(self, print_)
        if state is not None:
            state["G"] = state["G"] * 1.001
            state["loss"] = state["loss"] * 1.001
        return state

    monkeypatch.setattr(Checkpointer, "load", stale)
    resumed = GDRegressor(gradient="data", checkpoint=str(path)).fit(X, y)
    assert "recomputed" in [e.kind for e in resumed.history_.events]
    assert resumed.converged_ and resumed.n_iter_ <= fresh.n_iter_ + 5
    np.testing.assert_allclose(resumed.coef_, fresh.coef_, rtol=1e-5)
