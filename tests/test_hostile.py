"""Hostile files: model files and checkpoints crafted to exhaust memory or crash the loaders.

Every file here is built by hand to break one limit of ``docs/model-format.md`` (a
decompression bomb, a lying ``.npy`` header, JSON nested 100,000 deep, …). The properties:
the loader raises :class:`~gradfit.GradfitModelError` (or ``CheckpointError``) naming the
file, and its peak allocation, measured with :mod:`tracemalloc` (NumPy reports its
buffers there), stays far below what the file tries to make it allocate.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradfit import GDRegressor, GradfitModelError, load_model, save_model

pytestmark = pytest.mark.filterwarnings("ignore::gradfit.ConvergenceWarning")

GiB = 1 << 30
#: The most any crafted file may make a loader allocate (the real files need under 1 MB).
BOUND = 64 << 20


def peak(call: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """The exception ``call`` raised (or None) and its peak traced allocation in bytes."""
    tracemalloc.start()
    try:
        call()
    except BaseException as err:  # returned for the test to inspect
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return None, top


def refused(path: Path, reason: str | None = None, *words: str) -> str:
    """Load ``path``: it must fail with GradfitModelError naming it, within ``BOUND``."""
    err, top = peak(lambda: load_model(path))
    assert isinstance(err, GradfitModelError), repr(err)
    message = str(err)
    assert message.startswith(path.name), message
    assert "\n" not in message and len(message) < 600, message
    if reason is not None:
        assert err.reason == reason, message
    for word in words:
        assert word in message, message
    assert top < BOUND, f"the loader allocated {top / 2**20:.0f} MiB"
    return message


# -- building files by hand -------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def zeros_deflated(size: int, prefix: bytes = b"") -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` then ``size`` zero bytes, and its CRC-32, cheaply.

    One MiB of zeros is compressed once, flushed to a byte boundary, and the block
    repeated: the stream is ~1000 times smaller than what it inflates to.
    """
    mib = bytes(1 << 20)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = block.compress(mib) + block.flush(zlib.Z_FULL_FLUSH)
    again = block.compress(mib) + block.flush(zlib.Z_FULL_FLUSH)
    assert size % len(mib) == 0
    stream = start + one + again * (size // len(mib) - 1) + block.flush()
    crc = zlib.crc32(prefix)
    for _ in range(size // len(mib)):
        crc = zlib.crc32(mib, crc)
    return stream, crc


def raw_zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip of ``(name, data, method, crc, uncompressed size)`` entries, data as given."""
    out = io.BytesIO()
    central = b""
    for name, data, method, crc, size in entries:
        offset = out.tell()
        encoded = name.encode()
        out.write(
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                0,
                method,
                0,
                0,
                crc,
                len(data),
                size,
                len(encoded),
                0,
            )
            + encoded
            + data
        )
        central += (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    out.write(central)
    count = len(entries)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), start, 0))
    return out.getvalue()


def deflated(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, c.compress(data) + c.flush(), 8, zlib.crc32(data), len(data)


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    model = GDRegressor().fit(X, X @ [1.0, -2.0] + 0.5)
    return save_model(model, tmp_path_factory.mktemp("good") / "good.gfm")


def parts_of(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The metadata and the raw ``.npy`` bytes of each array of a model file."""
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        with zipfile.ZipFile(io.BytesIO(zf.read("arrays.npz"))) as inner:
            npys = {n.removesuffix(".npy"): inner.read(n) for n in inner.namelist()}
    return meta, npys


def model_file(
    path: Path,
    meta: dict[str, Any],
    arrays_npz: bytes | tuple[str, bytes, int, int, int],
    *,
    metadata_bytes: bytes | None = None,
    fix_sums: bool = True,
    extra: list[tuple[str, bytes, int, int, int]] = (),  # type: ignore[assignment]
) -> Path:
    """Write a model file from its parts, with checksums that match unless told otherwise."""
    meta_bytes = metadata_bytes if metadata_bytes is not None else json.dumps(meta).encode()
    if isinstance(arrays_npz, bytes):
        npz_entry = deflated("arrays.npz", arrays_npz)
        npz_digest = sha(arrays_npz)
    else:
        npz_entry, npz_digest = arrays_npz, "0" * 64
    sums = f"{sha(meta_bytes)}  metadata.json\n{npz_digest}  arrays.npz\n".encode()
    if not fix_sums:  # the metadata intact, arrays.npz "tampered": the path that named arrays
        sums = f"{sha(meta_bytes)}  metadata.json\n{'2' * 64}  arrays.npz\n".encode()
    path.write_bytes(
        raw_zip(
            [
                deflated("metadata.json", meta_bytes),
                npz_entry,
                deflated("SHA256SUMS", sums),
                *extra,
            ]
        )
    )
    return path


def inner_npz(npys: dict[str, bytes], **raw: tuple[bytes, int, int, int]) -> bytes:
    """An ``arrays.npz`` of the ``.npy`` bytes given, some members replaced by raw entries."""
    entries = []
    for name, data in npys.items():
        if name in raw:
            stream, method, crc, size = raw[name]
            entries.append((f"{name}.npy", stream, method, crc, size))
        else:
            entries.append((f"{name}.npy", data, 0, zlib.crc32(data), len(data)))
    return raw_zip(entries)


def restamp(meta: dict[str, Any], npys: dict[str, bytes]) -> dict[str, Any]:
    """``meta`` with every array's shape, dtype and SHA-256 taken from its ``.npy`` bytes."""
    meta = json.loads(json.dumps(meta))
    for name, data in npys.items():
        array = np.load(io.BytesIO(data), allow_pickle=False)
        meta["arrays"][name] = {
            "shape": list(array.shape),
            "dtype": array.dtype.str,
            "sha256": sha(np.ascontiguousarray(array).tobytes()),
        }
    return meta


# -- decompression bombs ----------------------------------------------------------------------
def test_the_good_file_loads_within_the_bound(good: Path) -> None:
    err, top = peak(lambda: load_model(good))
    assert err is None and top < 8 << 20


def test_arrays_member_inflating_to_a_gibibyte_is_refused_before_decompressing(
    tmp_path: Path, good: Path
) -> None:
    meta, _ = parts_of(good)
    stream, crc = zeros_deflated(GiB)
    bomb = model_file(tmp_path / "bomb.gfm", meta, ("arrays.npz", stream, 8, crc, GiB))
    assert bomb.stat().st_size < 2 << 20
    refused(bomb, "corrupt", "arrays.npz", "bomb")
    # the same, its directory understating the size: the running limit stops it
    lying = model_file(tmp_path / "lying.gfm", meta, ("arrays.npz", stream, 8, crc, 1000))
    refused(lying, "corrupt")


@pytest.mark.parametrize("declared", ["true", "small"])
@pytest.mark.parametrize("sums", ["fixed", "wrong"])
def test_nested_bomb_in_an_array_is_refused(
    tmp_path: Path, good: Path, declared: str, sums: str
) -> None:
    meta, npys = parts_of(good)
    rows = GiB // 8
    header = npy_header((rows,))
    stream, crc = zeros_deflated(GiB, header)
    npz = inner_npz(npys, **{"history.grad_norm": (stream, 8, crc, GiB + len(header))})
    if declared == "true":  # the metadata admits the size: refused by the size of the file
        meta["arrays"]["history.grad_norm"]["shape"] = [rows]
    path = model_file(tmp_path / "nested.gfm", meta, npz, fix_sums=sums == "fixed")
    assert path.stat().st_size < 64 << 10  # a ~1 GiB array in a few kB
    refused(path)


def test_npy_header_declaring_2_to_the_40_elements(tmp_path: Path, good: Path) -> None:
    meta, npys = parts_of(good)
    lie = npy_header((2**40,)) + npys["history.loss"][128:]
    npys_bad = {**npys, "history.loss": lie}
    path = model_file(tmp_path / "huge.gfm", meta, inner_npz(npys_bad))
    refused(path, "corrupt", "history.loss", "1099511627776")
    # the metadata saying so too: refused by the file's size before anything is read
    meta["arrays"]["history.loss"]["shape"] = [2**40]
    meta["arrays"]["history.loss_per_output"]["shape"] = [2**40, 1]
    for name in ("grad_norm", "relative_grad_norm", "learning_rate"):
        meta["arrays"][f"history.{name}"]["shape"] = [2**40]
    refused(model_file(tmp_path / "huge2.gfm", meta, inner_npz(npys_bad)), "corrupt", "bomb")


def test_a_shape_the_model_cannot_have_is_refused_before_reading(
    tmp_path: Path, good: Path
) -> None:
    meta, npys = parts_of(good)
    meta["arrays"]["coef_"]["shape"] = [1000, 1000]
    refused(model_file(tmp_path / "m.gfm", meta, inner_npz(npys)), "inconsistent", "coef_")


# -- JSON that crashed the parser -------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"[" * 100_000, "nested deeper than 32"),
        (b'{"format": "gradfit-model", "n": ' + b"[" * 50 + b"]" * 50 + b"}", "nested"),
        (b'{"format": "gradfit-model", "format_version": Infinity}', "Infinity"),
        (b'{"format": "gradfit-model", "format_version": NaN}', "NaN"),
        (b'{"format": "gradfit-model", "format_version": 1e400}', "beyond floating point"),
        (b'{"format": "gradfit-model", "n": ' + b"9" * 5001 + b"}", "5001 digits"),
        (b'{"format": "gradfit-model", "format": "x"}', "appears twice"),
        (b'{"format": "gradfit-model", "a": "\\ud800\xff"}', "UTF-8"),
    ],
    ids=["deep", "nested-50", "infinity", "nan", "1e400", "5001-digits", "dup-key", "utf8"],
)
def test_hostile_json_is_refused_naming_the_file(
    tmp_path: Path, good: Path, text: bytes, words: str
) -> None:
    meta, npys = parts_of(good)
    path = model_file(tmp_path / "j.gfm", meta, inner_npz(npys), metadata_bytes=text)
    refused(path, "inconsistent", "metadata.json", words)


@pytest.mark.parametrize(
    ("key", "value"),
    [("n_iter_", float("inf")), ("n_iter_", 1e300), ("n_iter_", -1), ("n_features_in_", "2")],
)
def test_attributes_of_the_wrong_type_are_refused(
    tmp_path: Path, good: Path, key: str, value: Any
) -> None:
    meta, npys = parts_of(good)
    meta["attributes"][key] = value
    text = json.dumps(meta).replace("Infinity", "1e999").encode()
    path = model_file(tmp_path / "a.gfm", meta, inner_npz(npys), metadata_bytes=text)
    refused(path, "inconsistent")


def test_two_metadata_members_are_refused(tmp_path: Path, good: Path) -> None:
    meta, npys = parts_of(good)
    other = json.dumps({**meta, "feature_names": ["p", "q"]}).encode()
    path = model_file(
        tmp_path / "two.gfm", meta, inner_npz(npys), extra=[deflated("metadata.json", other)]
    )
    refused(path, "inconsistent", "metadata.json", "more than once")
    # inside arrays.npz too
    npz = raw_zip(
        [(f"{n}.npy", d, 0, zlib.crc32(d), len(d)) for n, d in npys.items()]
        + [("coef_.npy", npys["coef_"], 0, zlib.crc32(npys["coef_"]), len(npys["coef_"]))]
    )
    refused(model_file(tmp_path / "two-inner.gfm", meta, npz), "inconsistent", "arrays.npz")


# -- values that loaded but could not be used --------------------------------------------------
@pytest.mark.parametrize("name", ["coef_", "intercept_", "x_rms"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_coefficients_are_refused(
    tmp_path: Path, good: Path, name: str, value: float
) -> None:
    meta, npys = parts_of(good)
    array = np.load(io.BytesIO(npys[name]))
    array = np.full_like(array, value)
    buffer = io.BytesIO()
    np.save(buffer, array)
    npys[name] = buffer.getvalue()
    path = model_file(tmp_path / "nan.gfm", restamp(meta, npys), inner_npz(npys))
    refused(path, "inconsistent", name, "NaN or infinite")


def test_repeated_feature_names_are_refused_on_save_and_load(tmp_path: Path, good: Path) -> None:
    model = load_model(good)
    with pytest.raises(GradfitModelError, match=r"'a' occur more than once"):
        save_model(model, tmp_path / "m.gfm", feature_names=["a", "a"])
    assert not (tmp_path / "m.gfm").exists()
    meta, npys = parts_of(good)
    meta["feature_names"] = ["a", "a"]
    refused(model_file(tmp_path / "d.gfm", meta, inner_npz(npys)), "inconsistent", "'a'")


def test_save_refuses_non_finite_coefficients(tmp_path: Path, good: Path) -> None:
    model = load_model(good)
    model.coef_ = np.array([np.nan, 1.0])
    with pytest.raises(GradfitModelError, match="NaN or infinite"):
        save_model(model, tmp_path / "m.gfm")
