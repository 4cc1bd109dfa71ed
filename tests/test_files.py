"""Files larger than memory: CSV, Parquet and .npy through the file adapter."""

from __future__ import annotations

import gc
import io
import os
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

import gradfit.sources.files as datafile
from gradfit import DataFile, GDRegressor, GradfitInputError
from gradfit.sources.files import FileCache, Progress

FEATURES = ["a", "b", "c", "d"]


def make_frame(N=3000, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 4)) * [1.0, 10.0, 0.1, 1.0] + [0.0, 0.0, shift, 3.0]
    Y = X @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(N, 2)) + [1.0, -2.0]
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["y"] = Y[:, 0]
    frame["z"] = Y[:, 1]
    return frame, X, Y


def write(frame, folder, kind):
    path = os.path.join(folder, f"data.{kind}")
    if kind == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    elif kind == "parquet":
        frame.to_parquet(path, row_group_size=700)
    else:
        np.save(path, frame.to_numpy())
    return path


def target_name(kind, name):
    return {"y": "x4", "z": "x5"}[name] if kind == "npy" else name


def feats(kind):
    return ["x0", "x1", "x2", "x3"] if kind == "npy" else FEATURES


def caches(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith("gradfit-cache-"))


KINDS = ["csv", "parquet", "npy"]


@pytest.fixture
def cache_dir(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "params, rtol",
    [({}, 1e-10), ({"method": "exact"}, 1e-10), ({"gradient": "data"}, 1e-7)],
)
def test_file_fit_equals_in_memory_fit(tmp_path, cache_dir, kind, params, rtol):
    frame, X, Y = make_frame(shift=50.0)
    path = write(frame, tmp_path, kind)
    reference = GDRegressor(tol=1e-10, **params).fit(X, Y[:, 0])
    model = GDRegressor(tol=1e-10, **params).fit(
        DataFile(
            path,
            target=target_name(kind, "y"),
            features=feats(kind),
            block_rows=500,
            cache_dir=cache_dir,
        ),
        None,
    )
    assert model.engine_ == reference.engine_
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=rtol)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=rtol)
    assert model.coef_.shape == (4,)
    assert caches(cache_dir) == []  # the cache is gone once the fit returns
    if kind != "npy":
        assert list(model.feature_names_in_) == FEATURES
    assert "read once" in model.engine_reason_


@pytest.mark.parametrize("kind", KINDS)
def test_multi_output_features_and_predict(tmp_path, cache_dir, kind):
    frame, X, Y = make_frame()
    path = write(frame, tmp_path, kind)
    targets = [target_name(kind, "y"), target_name(kind, "z")]
    features = ["x0", "x1", "x3"] if kind == "npy" else ["a", "b", "d"]
    model = GDRegressor().fit(
        path, None, target=targets, features=features, block_rows=256, cache_dir=cache_dir
    )
    reference = GDRegressor().fit(X[:, [0, 1, 3]], Y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10)
    assert model.coef_.shape == (2, 3)
    # predict(path) remembers the fitted columns; a DataFile can name them
    expected = reference.predict(X[:, [0, 1, 3]])
    np.testing.assert_allclose(model.predict(path), expected, rtol=1e-9, atol=1e-9)
    got = model.predict(DataFile(path, features=features, block_rows=100))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_npy_integer_column_indices_and_float32(tmp_path):
    frame, X, Y = make_frame()
    path = tmp_path / "data.npy"
    np.save(path, frame.to_numpy().astype(np.float32))
    model = GDRegressor().fit(DataFile(path, target=-2, features=[0, 1, 2, 3]), None)
    reference = GDRegressor().fit(
        X.astype(np.float32).astype(np.float64), Y[:, 0].astype(np.float32)
    )
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)


def test_sgd_and_large_cancellation_use_the_cache(tmp_path, cache_dir):
    frame, X, Y = make_frame(shift=1e6)
    path = write(frame, tmp_path, "parquet")
    model = GDRegressor(method="sgd", random_state=0, max_iter=30, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(path, None, target="y", features=FEATURES, cache_dir=cache_dir)
    assert model.engine_ == "data" and "mini-batches" in model.engine_reason_
    reference = GDRegressor().fit(X, Y[:, 0])
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0.05, atol=0.05)
    assert caches(cache_dir) == []


def test_partial_fit_streams_chunks_of_a_file(tmp_path):
    """partial_fit over a file's chunks (streaming SGD) approaches the exact fit."""
    import pyarrow.parquet as pq

    frame, X, Y = make_frame(N=4000)
    path = write(frame, tmp_path, "parquet")
    model = GDRegressor(method="sgd", batch_size=32, random_state=0)
    for _ in range(3):  # three passes over the file, chunk by chunk
        for batch in pq.ParquetFile(path).iter_batches(batch_size=500):
            chunk = batch.to_pandas()
            model.partial_fit(chunk[FEATURES], chunk["y"])
    assert model.t_ == 3 * 8 * 16  # the schedule's counter carried across every call
    reference = GDRegressor().fit(X, Y[:, 0])
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=0.1)
    assert model.score(frame[FEATURES], Y[:, 0]) > reference.score(X, Y[:, 0]) - 1e-3


# -- bad input -------------------------------------------------------------------------


def test_missing_column_lists_the_columns(tmp_path):
    frame, _, _ = make_frame(N=50)
    for kind in KINDS:
        path = write(frame, tmp_path, kind)
        with pytest.raises(GradfitInputError, match="no target column 'price'") as info:
            GDRegressor().fit(path, None, target="price")
        assert "data." + kind in str(info.value)
        assert ("'a', 'b'" if kind != "npy" else "'x0', 'x1'") in str(info.value)
    with pytest.raises(GradfitInputError, match=r"no feature column 'q'.*'y', 'z'"):
        GDRegressor().fit(path.replace(".npy", ".csv"), None, target="y", features=["a", "q"])
    with pytest.raises(GradfitInputError, match="name the target"):
        GDRegressor().fit(path, None)
    with pytest.raises(TypeError, match="y must be None"):
        GDRegressor().fit(path, np.zeros(50), target="x0")
    with pytest.raises(FileNotFoundError, match=r"nope.csv"):
        GDRegressor().fit(tmp_path / "nope.csv", None, target="y")
    with pytest.raises(GradfitInputError, match=r"unknown file type '.txt'"):
        (tmp_path / "a.txt").write_text("a,b\n1,2\n")
        GDRegressor().fit(tmp_path / "a.txt", None, target="b")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_non_numeric_column_is_named(tmp_path, kind, cache_dir):
    frame, _, _ = make_frame(N=50)
    frame["city"] = "Paris"
    path = write(frame, tmp_path, kind)
    # a text target cannot be fitted
    with pytest.raises(GradfitInputError, match="column 'city' is not numeric"):
        GDRegressor().fit(path, None, target="city", cache_dir=cache_dir)
    # a text feature is one-hot encoded: one level is the reference level, no column
    model = GDRegressor().fit(path, None, target="y", cache_dir=cache_dir)
    names = [n for n in frame.columns if n != "y"]
    assert model.coef_names_ == [n for n in names if n != "city"]
    assert list(model.feature_names_in_) == names
    # excluded, the fit works as before
    GDRegressor().fit(path, None, target="y", features=FEATURES, cache_dir=cache_dir)
    assert caches(cache_dir) == []


def test_csv_text_late_in_the_file_is_named(tmp_path, cache_dir):
    frame, _, _ = make_frame(N=3000)
    path = write(frame, tmp_path, "csv")
    text = Path(path).read_text().splitlines()
    text[2500] = text[2500].replace(text[2500].split(",")[1], "abc", 1)
    Path(path).write_text("\n".join(text) + "\n")
    with pytest.raises(GradfitInputError, match=r"column 'b' is not numeric.*byte offset \d+"):
        GDRegressor().fit(path, None, target="y", block_rows=100, cache_dir=cache_dir)
    assert caches(cache_dir) == []


@pytest.mark.parametrize("kind", KINDS)
def test_nan_and_inf_name_file_row_and_column(tmp_path, kind, cache_dir):
    frame, _, _ = make_frame(N=1000)
    frame.loc[777, "c"] = np.nan
    path = write(frame, tmp_path, kind)
    column = "x2" if kind == "npy" else "c"
    where = "line 779" if kind == "csv" else "row 777"  # a text file's line: header = line 1
    match = (
        rf"data.{kind}: 1 of 1000 rows have missing values \(the first: {where}, column '{column}'"
    )
    with pytest.raises(GradfitInputError, match=match):
        GDRegressor().fit(
            path, None, target=target_name(kind, "y"), block_rows=100, cache_dir=cache_dir
        )
    frame.loc[777, "c"] = 1.0
    frame.loc[10, "y"] = np.inf
    path = write(frame, tmp_path, kind)
    with pytest.raises(GradfitInputError, match=r"row 10.*holds inf"):
        GDRegressor().fit(path, None, target=target_name(kind, "y"), cache_dir=cache_dir)
    assert caches(cache_dir) == []


def test_truncated_and_mislabelled_files(tmp_path, cache_dir):
    frame, _, _ = make_frame(N=2000)
    parquet = write(frame, tmp_path, "parquet")
    npy = write(frame, tmp_path, "npy")
    csv = write(frame, tmp_path, "csv")
    size = os.path.getsize(parquet)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(Path(parquet).read_bytes()[: size // 2])
    with pytest.raises(GradfitInputError, match=r"cut.parquet: is truncated.*byte offset \d+"):
        GDRegressor().fit(cut, None, target="y", cache_dir=cache_dir)
    cut = tmp_path / "cut.npy"
    cut.write_bytes(Path(npy).read_bytes()[:-100])
    with pytest.raises(GradfitInputError, match=r"cut.npy: ends early.*byte offset \d+"):
        GDRegressor().fit(cut, None, target=4, cache_dir=cache_dir)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(Path(csv).read_bytes()[: os.path.getsize(csv) // 2 + 7])
    with pytest.raises(GradfitInputError, match=r"cut.csv: .*ends early near byte offset \d+"):
        GDRegressor().fit(cut, None, target="y", block_rows=64, cache_dir=cache_dir)
    # a file that is not what its extension says
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(Path(csv).read_bytes())
    with pytest.raises(
        GradfitInputError, match=r"fake.parquet: is not a Parquet file: byte offset 0"
    ):
        GDRegressor().fit(fake, None, target="y", cache_dir=cache_dir)
    fake = tmp_path / "fake.csv"
    fake.write_bytes(Path(parquet).read_bytes())
    with pytest.raises(GradfitInputError, match=r"fake.csv: is not a CSV file.*a Parquet file"):
        GDRegressor().fit(fake, None, target="y", cache_dir=cache_dir)
    fake = tmp_path / "fake.npy"
    fake.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(GradfitInputError, match=r"fake.npy: is not a .npy file: byte offset 0"):
        GDRegressor().fit(fake, None, target=0, cache_dir=cache_dir)
    # a garbled row group in the middle of a Parquet file
    data = bytearray(Path(parquet).read_bytes())
    data[size // 2 : size // 2 + 2000] = os.urandom(2000)
    garbled = tmp_path / "garbled.parquet"
    garbled.write_bytes(bytes(data))
    with pytest.raises(GradfitInputError, match=r"garbled.parquet: .*byte offset \d+"):
        GDRegressor().fit(garbled, None, target="y", block_rows=100, cache_dir=cache_dir)
    assert caches(cache_dir) == []


# -- the cache, the progress line, memory -------------------------------------------------


def test_cache_is_removed_on_keyboard_interrupt_and_after_errors(tmp_path, cache_dir, monkeypatch):
    frame, _, _ = make_frame()
    path = write(frame, tmp_path, "parquet")
    seen = []
    original = FileCache.append

    def append(self, X, Y):
        seen.append(self.folder)
        original(self, X, Y)
        if len(seen) == 3:
            assert os.path.getsize(self.x_path) > 0  # half-written at this point
            raise KeyboardInterrupt

    monkeypatch.setattr(FileCache, "append", append)
    with pytest.raises(KeyboardInterrupt):
        GDRegressor().fit(path, None, target="y", block_rows=200, cache_dir=cache_dir)
    assert not os.path.exists(seen[0]) and caches(cache_dir) == []
    monkeypatch.undo()

    # an interrupt inside the solve loop: the cache goes when the problem is collected
    def stop(iteration, info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        GDRegressor(gradient="data").fit(path, None, target="y", cache_dir=cache_dir, callback=stop)
    gc.collect()
    assert caches(cache_dir) == []


def test_cache_lives_in_the_temp_dir_by_default_during_the_fit(tmp_path, monkeypatch):
    import tempfile

    frame, _, _ = make_frame(N=500)
    path = write(frame, tmp_path, "npy")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    during = []
    GDRegressor(gradient="data").fit(
        path, None, target=4, callback=lambda i, info: during.append(caches(temp)) and None
    )
    assert during and all(len(c) == 1 for c in during)
    assert caches(temp) == []


def test_progress_line_only_when_asked_or_on_a_terminal(tmp_path):
    out = io.StringIO()
    bar = Progress(100, "reading x", stream=out, after=0.0)  # not a TTY: silent
    bar.update(50)
    bar.close()
    assert out.getvalue() == ""
    bar = Progress(10**8, "reading x", enabled=True, stream=out, after=0.0)
    bar.update(25 * 10**6)
    bar.close()
    assert "reading x:  25%" in out.getvalue() and "MB/s" in out.getvalue()
    assert "ETA" in out.getvalue() and out.getvalue().endswith("\n")
    frame, _, _ = make_frame(N=200)
    path = write(frame, tmp_path, "csv")
    GDRegressor().fit(path, None, target="y", progress=False)


@pytest.mark.slow
def test_memory_stays_bounded_by_the_block_size(tmp_path):
    """A 40 MB file fitted with 5000-row blocks: the Python-heap peak is ~2 MB."""
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    N, D = 250_000, 19
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(N, D + 1))
    for start in range(0, N, 50_000):
        X = rng.normal(size=(50_000, D))
        out[start : start + 50_000, :D] = X
        out[start : start + 50_000, D] = X.sum(axis=1) + 1.0
    del out
    size = os.path.getsize(path)
    assert size > 39e6
    for params in ({}, {"gradient": "data"}):  # load or compile the kernels first
        GDRegressor(**params).fit(path, None, target=D, block_rows=5000)
    peaks = {}
    for params in ({}, {"gradient": "data"}):
        tracemalloc.start()
        model = GDRegressor(**params).fit(path, None, target=D, block_rows=5000)
        peaks[model.engine_] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        np.testing.assert_allclose(model.coef_, np.ones(D), atol=1e-4)
    shown = {k: f"{v / 1e6:.2f} MB" for k, v in peaks.items()}
    print(f"file {size / 1e6:.1f} MB; tracemalloc peaks: {shown}")
    # one block of X is 5000·19·8 = 0.76 MB; measured peaks ≈ 2–3 MB for both engines
    for engine, peak in peaks.items():
        assert peak < size / 10, (engine, peak, size)


def test_read_file_and_datafile_options_merge(tmp_path):
    frame, X, Y = make_frame(N=300)
    path = write(frame, tmp_path, "csv")
    spec = datafile.read_file(path, target="y", features=FEATURES)
    model = GDRegressor().fit(spec, None, block_rows=50)
    np.testing.assert_allclose(model.coef_, GDRegressor().fit(X, Y[:, 0]).coef_, rtol=1e-10)
    with pytest.raises(TypeError, match="unexpected keyword"):
        GDRegressor().fit(spec, None, colour="red")


def test_a_pandas_index_stored_in_parquet_is_not_a_feature(tmp_path: Path) -> None:
    # pandas writes a non-default index as a column (__index_level_0__, or its name); it
    # read back as a feature when streamed, while pandas.read_parquet makes it the index
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = frame.a - 2 * frame.b + 1
    frame = frame.drop(index=[3, 7])  # no longer a RangeIndex: pandas stores it as a column
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    model = GDRegressor().fit(str(path), None, target="y")
    assert list(model.feature_names_in_) == ["a", "b"]
    reference = GDRegressor().fit(frame[["a", "b"]], frame["y"])
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10)
    named = frame.rename_axis("row")
    named.to_parquet(path)
    assert list(GDRegressor().fit(str(path), None, target="y").feature_names_in_) == ["a", "b"]
