"""Model files: exact round trips, and every way a file can be bad fails with a clear message."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_linnerud

from gradfit import GDRegressor, GradfitModelError, load_model, save_model
from gradfit.persistence import FORMAT_VERSION, read_model

pytestmark = pytest.mark.filterwarnings("ignore::gradfit.ConvergenceWarning")

HISTORY = ("loss", "loss_per_output", "grad_norm", "relative_grad_norm", "learning_rate")


def fitted(kind: str) -> tuple[GDRegressor, Any]:
    diabetes = load_diabetes()
    linnerud = load_linnerud()
    if kind == "diabetes":
        return GDRegressor().fit(diabetes.data, diabetes.target), diabetes.data
    if kind == "linnerud":
        return GDRegressor(method="nesterov").fit(linnerud.data, linnerud.target), linnerud.data
    if kind == "float32":
        X = diabetes.data.astype(np.float32)
        model = GDRegressor(method="gd", max_iter=50, tol=1e-4)
        return model.fit(X, diabetes.target.astype(np.float32)), X
    if kind == "frame":
        frame = pd.DataFrame(linnerud.data, columns=linnerud.feature_names)
        return GDRegressor(alpha=0.5, fit_intercept=False).fit(frame, linnerud.target[:, 0]), frame
    if kind == "sgd":
        model = GDRegressor(method="sgd", random_state=np.random.default_rng(3), max_iter=20)
        return model.fit(diabetes.data, diabetes.target), diabetes.data
    assert kind == "exact"
    return GDRegressor(method="exact").fit(linnerud.data, linnerud.target), linnerud.data


@pytest.mark.parametrize("kind", ["diabetes", "linnerud", "float32", "frame", "sgd", "exact"])
def test_round_trip_is_exact(tmp_path, kind) -> None:
    model, X = fitted(kind)
    path = save_model(model, tmp_path / "model.gfm")
    restored = load_model(path)
    assert np.array_equal(restored.predict(X), model.predict(X))
    assert restored.predict(X).dtype == model.predict(X).dtype
    assert restored.coef_.dtype == model.coef_.dtype
    assert type(restored.intercept_) is type(model.intercept_)
    for name in ("n_iter_", "converged_", "stop_reason_", "lipschitz_", "condition_number_"):
        assert getattr(restored, name) == getattr(model, name), name
    for name in ("learning_rate_", "relative_grad_norm_", "coef_", "intercept_"):
        assert np.array_equal(getattr(restored, name), getattr(model, name)), name
    for name in HISTORY:
        assert np.array_equal(getattr(restored.history_, name), getattr(model.history_, name))
    assert restored.history_.events == model.history_.events
    params = model.get_params()
    if kind == "sgd":
        params["random_state"] = None  # a Generator has no JSON form; documented
    assert restored.get_params() == params
    if kind == "frame":
        assert list(restored.feature_names_in_) == list(model.feature_names_in_)
        assert read_model(path).feature_names == tuple(X.columns)
    else:
        assert not hasattr(restored, "feature_names_in_")
    # the restored estimator refits like the original
    assert np.array_equal(restored.fit(X, model.predict(X)).coef_.shape, model.coef_.shape)


def test_prediction_in_a_new_process_is_bit_identical(tmp_path) -> None:
    model, X = fitted("linnerud")
    save_model(model, tmp_path / "m.gfm", target_names=["Weight", "Waist", "Pulse"])
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        """
        import sys, numpy as np
        from gradfit import load_model
        folder = sys.argv[1]
        model = load_model(folder + "/m.gfm")
        np.save(folder + "/P.npy", model.predict(np.load(folder + "/X.npy")))
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    assert np.array_equal(np.load(tmp_path / "P.npy"), model.predict(X))


def test_metadata_is_documented_and_plain(tmp_path) -> None:
    model, _ = fitted("linnerud")
    path = save_model(model, tmp_path / "m.gfm", feature_names=["c", "s", "j"])
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "arrays.npz", "metadata.json"]
        meta = json.loads(zf.read("metadata.json"))
        sums = zf.read("SHA256SUMS").decode()
        assert hashlib.sha256(zf.read("metadata.json")).hexdigest() in sums
    assert meta["format"] == "gradfit-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["feature_names"] == ["c", "s", "j"] and meta["target_names"] == ["y0", "y1", "y2"]
    assert meta["dtype"] == "float64" and meta["gradfit_version"] == "0.1.0"
    assert meta["params"]["method"] == "nesterov"
    assert set(meta["arrays"]) >= {"coef_", "intercept_", "history.loss"}
    saved = read_model(path)
    assert saved.created == meta["created"] and saved.target_names == ("y0", "y1", "y2")


# -- bad files ---------------------------------------------------------------------------------
def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path: Path, parts: dict[str, bytes], *, fix_sums: bool = True) -> None:
    parts = dict(parts)
    if fix_sums and {"SHA256SUMS", "metadata.json", "arrays.npz"} <= set(parts):
        parts["SHA256SUMS"] = "".join(
            f"{hashlib.sha256(parts[n]).hexdigest()}  {n}\n"
            for n in ("metadata.json", "arrays.npz")
        ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def npz(arrays: dict[str, Any], *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, array in arrays.items():
            with zf.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def arrays_of(parts: dict[str, bytes]) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(parts["arrays.npz"])) as data:
        return {name: data[name] for name in data.files}


def edit_metadata(parts: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    meta = json.loads(parts["metadata.json"])
    meta.update(changes)
    return {**parts, "metadata.json": json.dumps(meta).encode()}


class Marker:
    """Unpickling this would create a file: proof that nothing was executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


@pytest.fixture
def good(tmp_path) -> Path:
    model, _ = fitted("diabetes")
    return save_model(model, tmp_path / "good.gfm")


def expect(path: Path, reason: str, *words: str) -> str:
    with pytest.raises(GradfitModelError) as info:
        load_model(path)
    assert info.value.reason == reason, str(info.value)
    message = str(info.value)
    assert message.startswith(path.name)
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return message


def test_missing_and_empty(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing.gfm")
    (tmp_path / "empty.gfm").write_bytes(b"")
    expect(tmp_path / "empty.gfm", "truncated", "empty")


def test_not_a_model(tmp_path, good) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    expect(tmp_path / "data.csv", "not_a_model", "not a gradfit model file", "gradfit fit")
    (tmp_path / "other.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    expect(tmp_path / "other.zip", "not_a_model", "not a gradfit model file")
    parts = edit_metadata(members(good), format="something-else")
    write_zip(tmp_path / "renamed.gfm", parts)
    expect(tmp_path / "renamed.gfm", "not_a_model", "'something-else'")


def test_a_pickle_is_refused_and_never_run(tmp_path) -> None:
    marker = tmp_path / "executed"
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Marker(str(marker))))
    expect(tmp_path / "model.pkl", "not_a_model", "pickle", "never loads")
    assert not marker.exists()


def test_pickled_array_inside_is_refused_and_never_run(tmp_path, good) -> None:
    marker = tmp_path / "executed"
    parts = members(good)
    arrays = arrays_of(parts)
    arrays["coef_"] = np.array([Marker(str(marker))], dtype=object)
    evil = npz(arrays, allow_pickle=True)
    meta = json.loads(parts["metadata.json"])
    meta["arrays"]["coef_"] = {"shape": [1], "dtype": "|O", "sha256": "0"}
    parts = {**parts, "arrays.npz": evil, "metadata.json": json.dumps(meta).encode()}
    write_zip(tmp_path / "evil.gfm", parts)  # checksums made to match: only safety stops it
    expect(tmp_path / "evil.gfm", "unsafe", "pickled", "nothing in it was executed")
    assert not marker.exists()


def test_truncated(tmp_path, good) -> None:
    data = good.read_bytes()
    for keep in (10, len(data) // 2, len(data) - 5):
        cut = tmp_path / f"cut{keep}.gfm"
        cut.write_bytes(data[:keep])
        expect(cut, "truncated", "is truncated", "interrupted copy")


def test_corrupt_bytes_fail_the_crc(tmp_path, good) -> None:
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("arrays.npz")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "flipped.gfm"
    bad.write_bytes(bytes(data))
    expect(bad, "corrupt", "is corrupt", "arrays.npz")


def test_tampered_metadata(tmp_path, good) -> None:
    parts = edit_metadata(members(good), target_names=["renamed"])
    write_zip(tmp_path / "t.gfm", parts, fix_sums=False)
    expect(tmp_path / "t.gfm", "tampered", "has been modified", "metadata.json")


def test_tampered_array_is_named(tmp_path, good) -> None:
    parts = members(good)
    arrays = arrays_of(parts)
    arrays["coef_"] = arrays["coef_"] * 1.0001
    write_zip(tmp_path / "t.gfm", {**parts, "arrays.npz": npz(arrays)}, fix_sums=False)
    expect(tmp_path / "t.gfm", "tampered", "arrays.npz", "changed: coef_")
    # with SHA256SUMS recomputed too, the per-array checksum in the metadata still catches it
    write_zip(tmp_path / "t2.gfm", {**parts, "arrays.npz": npz(arrays)})
    expect(tmp_path / "t2.gfm", "tampered", "array coef_")


def test_too_new(tmp_path, good) -> None:
    parts = edit_metadata(members(good), format_version=FORMAT_VERSION + 1, gradfit_version="9.0")
    write_zip(tmp_path / "new.gfm", parts)
    message = expect(tmp_path / "new.gfm", "too_new", "version 2", "up to 1", "Upgrade gradfit")
    assert "gradfit 9.0" in message
    # a newer format may change its checksums: "too new" is said before they are checked
    write_zip(tmp_path / "new2.gfm", parts, fix_sums=False)
    expect(tmp_path / "new2.gfm", "too_new", "Upgrade gradfit")


def test_inconsistent(tmp_path, good) -> None:
    parts = members(good)
    write_zip(tmp_path / "a.gfm", edit_metadata(parts, n_features=11))
    expect(tmp_path / "a.gfm", "inconsistent", "11 features")
    write_zip(tmp_path / "b.gfm", edit_metadata(parts, feature_names=["a"]))
    expect(tmp_path / "b.gfm", "inconsistent", "feature_names")
    write_zip(tmp_path / "c.gfm", {k: v for k, v in parts.items() if k != "arrays.npz"})
    expect(tmp_path / "c.gfm", "inconsistent", "arrays.npz")
    write_zip(tmp_path / "d.gfm", {**parts, "run.py": b"print('hi')"})
    expect(tmp_path / "d.gfm", "inconsistent", "unexpected member(s) run.py")
    write_zip(tmp_path / "e.gfm", edit_metadata(parts, params={"method": "cg", "evil": 1}))
    expect(tmp_path / "e.gfm", "inconsistent", "unknown parameter(s) evil")
    later = edit_metadata(parts, params={"method": "cg", "momentum2": 1}, gradfit_version="0.9")
    write_zip(tmp_path / "f.gfm", later)
    expect(tmp_path / "f.gfm", "too_new", "gradfit 0.9", "momentum2", "Upgrade gradfit")


def test_save_errors(tmp_path) -> None:
    with pytest.raises(GradfitModelError, match="not fitted"):
        save_model(GDRegressor(), tmp_path / "m.gfm")
    model, _ = fitted("diabetes")
    with pytest.raises(GradfitModelError, match="2 feature name"):
        save_model(model, tmp_path / "m.gfm", feature_names=["a", "b"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(model, tmp_path / "missing" / "m.gfm")
    assert not (tmp_path / "m.gfm").exists()


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch) -> None:
    model, X = fitted("diabetes")
    path = save_model(model, tmp_path / "m.gfm")
    before = path.read_bytes()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    other, _ = fitted("linnerud")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(other, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.gfm"]  # no temporary file left behind
    monkeypatch.undo()
    assert np.array_equal(load_model(path).predict(X), model.predict(X))
