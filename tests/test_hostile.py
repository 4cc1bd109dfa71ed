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


# -- outputs and messages of the command line --------------------------------------------------
def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from gradfit.cli import main

    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_predictions_that_overflow_write_nothing(
    tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = load_model(good)
    big = np.sign(model.coef_) * 1.7e308  # each term near the largest float: the sum overflows
    (tmp_path / "new.csv").write_text(f"x0,x1\n1,2\n{float(big[0])!r},{float(big[1])!r}\n")
    (tmp_path / "p.csv").write_text("earlier predictions\n")
    status, _, err = cli(capsys, "predict", str(good), str(tmp_path / "new.csv"), "-o",
                         str(tmp_path / "p.csv"))  # fmt: skip
    assert status == 2 and "row 2" in err and "overflows" in err and "nothing was written" in err
    assert (tmp_path / "p.csv").read_text() == "earlier predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "p.csv"]


def test_kept_text_that_a_spreadsheet_would_run_is_escaped(
    tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    cells = ['=HYPERLINK("http://x")', "-3", "@SUM(A1)", "+1", "-cmd", "ok"]
    frame = pd.DataFrame({"=id": cells, "x0": np.arange(6.0), "x1": np.ones(6)})
    frame.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    args = ["predict", str(good), str(tmp_path / "new.csv"), "-o", str(out), "--keep", "=id"]
    assert cli(capsys, *args)[0] == 0
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["'=id", "predicted_y"]
    assert written["'=id"].tolist() == [
        "'=HYPERLINK(\"http://x\")", "-3", "'@SUM(A1)", "+1", "'-cmd", "ok",
    ]  # fmt: skip
    assert not any(v.startswith(("=", "@")) for v in written["predicted_y"])
    assert cli(capsys, *args, "--no-formula-escape")[0] == 0
    assert pd.read_csv(out, dtype=str)["=id"].tolist() == cells
    parquet = tmp_path / "p.parquet"
    args[args.index(str(out))] = str(parquet)
    assert cli(capsys, *args)[0] == 0  # not for spreadsheets: values kept as they are
    assert pd.read_parquet(parquet)["=id"].tolist() == cells


def test_escape_sequences_and_huge_fields_never_reach_the_terminal_raw(
    tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "\x1b[2J\x1b[31mred"
    (tmp_path / "ansi.csv").write_text(f"{evil},x1\n1,2\n")
    status, _, err = cli(capsys, "predict", str(good), str(tmp_path / "ansi.csv"))
    assert status == 2 and "\x1b" not in err and "\\x1b[31mred" in err
    (tmp_path / "big.csv").write_text("x0,y\n1,2\n" + "a" * 1_000_000 + ",3\n4,5\n")
    status, _, err = cli(capsys, "fit", str(tmp_path / "big.csv"), "-t", "y")
    assert status == 2 and "not numeric" in err and len(err) < 2500, len(err)


def test_compressed_or_binary_files_named_csv_say_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    path = tmp_path / "data.csv"
    path.write_bytes(gzip.compress(b"a,y\n1,2\n3,4\n5,7\n"))
    status, _, err = cli(capsys, "fit", str(path), "-t", "y")
    assert status == 2 and "gzip-compressed" in err and "data.csv.gz" in err, err
    with pytest.raises(Exception, match="gzip-compressed; decompress it first"):
        GDRegressor().fit(str(path), None, target="y")
    path.write_bytes(b"a\x00b,y\n1,2\n3,4\n")
    status, _, err = cli(capsys, "fit", str(path), "-t", "y")
    assert status == 2 and "NUL byte" in err and "not found" not in err, err
    with pytest.raises(Exception, match="header holds a NUL byte"):
        GDRegressor().fit(str(path), None, target="y")


@pytest.mark.parametrize("text", ["１２", "1_000", "٣"])
def test_numbers_python_accepts_but_a_data_file_should_not(tmp_path: Path, text: str) -> None:
    from gradfit import GradfitInputError
    from gradfit._io import read_table

    path = tmp_path / "d.csv"
    path.write_text(f"a,y\n1,1\n{text},2\n3,4\n")
    with pytest.raises(GradfitInputError, match="ASCII digits only"):
        read_table(path, "y")
    with pytest.raises(GradfitInputError, match="not numeric"):
        GDRegressor().fit(str(path), None, target="y")


def test_underflow_reads_as_the_nearest_float(tmp_path: Path) -> None:
    """Decided and documented: 1e-400 is read as 0.0, its correctly rounded value."""
    from gradfit._io import read_table
    from gradfit.sources.files import open_reader

    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,1\n1e-400,2\n3,4\n5e-324,5\n")
    X, _, _, _ = read_table(path, "y")
    assert X[:, 0].tolist() == [1.0, 0.0, 3.0, 5e-324]
    reader = open_reader(path)
    (block, _, _), *_ = list(reader.blocks([0], [1], 10))
    assert block[:, 0].tolist() == [1.0, 0.0, 3.0, 5e-324]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_bomb_under_a_real_address_space_limit(tmp_path: Path, good: Path) -> None:
    """Beyond tracemalloc: the loader runs with its address space capped 256 MiB above what
    the imports took, so any real allocation of the bomb's size would fail."""
    import subprocess
    import sys
    import textwrap

    meta, npys = parts_of(good)
    stream, crc = zeros_deflated(GiB, npy_header((GiB // 8,)))
    npz = inner_npz(npys, **{"history.grad_norm": (stream, 8, crc, GiB + 128)})
    nested = model_file(tmp_path / "nested.gfm", meta, npz)
    outer_stream, outer_crc = zeros_deflated(GiB)
    outer = model_file(
        tmp_path / "outer.gfm", meta, ("arrays.npz", outer_stream, 8, outer_crc, GiB)
    )
    script = textwrap.dedent(
        """
        import resource, sys
        from gradfit import GradfitModelError, load_model
        import numpy as np
        kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
        limit = kib * 1024 + (256 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            np.ones(300 << 20, dtype=np.uint8)  # the cap is real: 300 MiB cannot be had
        except MemoryError:
            pass
        else:
            sys.exit("the address space limit did not hold")
        for path in sys.argv[1:]:
            try:
                load_model(path)
            except GradfitModelError as err:
                print(err.reason)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(nested), str(outer)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["corrupt", "corrupt"], result.stdout + result.stderr


def test_a_fit_that_fails_its_diagnosis_writes_no_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "const.csv").write_text("a,y\n1,1\n1,2\n1,3\n1,5\n")
    (tmp_path / "m.gfm").write_bytes(b"the previous model")
    model, predictions = str(tmp_path / "m.gfm"), str(tmp_path / "p.csv")
    args = [
        "fit",
        str(tmp_path / "const.csv"),
        "-t",
        "y",
        "-o",
        model,
        "--predictions",
        predictions,
    ]
    status, _, err = cli(capsys, *args)
    assert status == 2 and "constant" in err
    assert (tmp_path / "m.gfm").read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["const.csv", "m.gfm"]
