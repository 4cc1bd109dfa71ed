"""Streamed tables for the command line: one pass, bounded memory, whatever the file's size.

``gradfit fit``/``predict`` read a CSV, Parquet or ``.npy`` file through the same
source as ``GDRegressor().fit(path)`` (:class:`~gradfit.sources.files.FileSource`)
when the file is larger than :func:`stream_above` bytes (or with ``--stream``);
smaller files are read whole, as the diagnosis and the report need the rows in
memory. This module holds what the command line needs around a streamed fit:
opening the file with the same messages as :func:`gradfit._io.read_table`, the
training scores in one pass, and predictions written block by block.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from ._files import atomic_write
from ._io import choose_columns
from .sources.files import FORMATS, DataFile, FileSource, StreamSource, open_reader

__all__ = [
    "KeptColumns",
    "PredictionWriter",
    "Scores",
    "open_features",
    "open_table",
    "stream_above",
]

F64 = NDArray[np.float64]

#: Files larger than this (bytes) are streamed by ``gradfit fit``/``predict``.
STREAM_ABOVE_BYTES = 256 * 2**20


def stream_above() -> int:
    """Bytes above which the command line streams a data file.

    :data:`STREAM_ABOVE_BYTES` (256 MiB), or the environment variable
    ``GRADFIT_STREAM_ABOVE`` (a number of bytes; ``0`` streams every file).

    Examples
    --------
    >>> stream_above() > 0
    True
    """
    text = os.environ.get("GRADFIT_STREAM_ABOVE")
    if text is None:
        return STREAM_ABOVE_BYTES
    try:
        return max(int(float(text)), 0)
    except ValueError:
        raise GradfitInputError(
            f"GRADFIT_STREAM_ABOVE={text!r} is not a number of bytes; unset it or give e.g. 0"
        ) from None


def streams(path: str | Path, forced: bool = False) -> bool:
    """Whether the command line streams ``path``: a CSV, Parquet or ``.npy`` file above the limit.

    Other formats (``.tsv``, compressed CSV) are read whole by pandas.

    Examples
    --------
    >>> streams("no-such-file.csv"), streams("data.tsv", forced=True)
    (False, False)
    """
    p = Path(path)
    if p.suffix.lower() not in FORMATS or not p.is_file():
        return False
    return forced or p.stat().st_size > stream_above()


def open_table(
    path: str | Path,
    targets: Sequence[str],
    features: Sequence[str] | None,
    *,
    exclude: Sequence[str] = (),
    sep: str | None = None,
    missing: str = "error",
    max_levels: int | None = None,
) -> FileSource:
    r"""The file source for ``gradfit fit DATA --target … [--features …]``.

    Refuses missing or doubly named columns with :func:`gradfit._io.read_table`'s
    messages; a ``.npy`` file's columns are ``x0``, ``x1``, … or numbers. ``exclude``,
    ``sep``, ``missing`` and ``max_levels`` are :class:`~gradfit.DataFile`'s.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,y\n1,2,3\n4,5,6\n")
    >>> source = open_table(path, ["y"], None)
    >>> source.columns, source.target_names, source.was_1d
    (['a', 'b'], ['y'], True)
    >>> open_table(path, ["z"], None)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: target column 'z' is not in d.csv; its columns ...
    """
    p = Path(path)
    reader = open_reader(p, sep)
    columns = reader.columns
    feature_list, target_list = choose_columns(p, list(columns), targets, features, exclude)
    target: Any = target_list[0] if len(target_list) == 1 else target_list
    return FileSource(
        DataFile(
            p,
            target=target,
            features=feature_list if features is not None else None,
            exclude=list(exclude) or None,
            sep=sep,
            missing=missing,
            max_levels=max_levels,
        )
    )


@dataclass
class FeatureTable:
    """A file opened for prediction: its feature columns and, when it has them, the targets."""

    path: Path
    reader: Any
    x_cols: list[int]
    y_cols: list[int]
    encoding: Any = None
    unknown: str = "error"

    def blocks(self, block_rows: int) -> Iterator[tuple[F64, F64 | None]]:
        """Yield ``(X_block, Y_block or None)`` (text columns encoded with ``encoding``)."""
        columns = self.reader.columns
        names = [columns[j] for j in self.x_cols]
        row0 = 0
        if self.encoding is None:
            for X, Y, _ in self.reader.blocks(self.x_cols, self.y_cols, block_rows):
                self._check_finite(X, row0, names)
                row0 += X.shape[0]
                yield X, Y
            return
        targets = [columns[j] for j in self.y_cols]
        frames = self.reader.frames(names + targets, set(self.encoding.categorical), block_rows)
        for frame, _ in frames:
            first = row0 + 2 if self.reader.kind == "csv" else None
            X = self.encoding.transform(
                frame, unknown=self.unknown, label=self.path.name, first_line=first
            )
            self._check_finite(X, row0, list(self.encoding.names_out))
            Y = frame[targets].to_numpy(dtype=np.float64) if targets else None
            row0 += len(frame)
            yield X, Y

    def _check_finite(self, X: F64, row0: int, names: Sequence[str]) -> None:
        """A missing or infinite feature value: named by its line, as ``predict_file`` does."""
        from .sources.files import PREDICT_FIX, _check_finite

        _check_finite(self.reader, X, None, row0, names, PREDICT_FIX)


def open_features(
    path: str | Path,
    feature_names: Sequence[str],
    target_names: Sequence[str] = (),
    *,
    encoding: Any = None,
    unknown: str = "error",
    sep: str | None = None,
) -> FeatureTable:
    r"""Open ``path`` to predict with a model fitted on ``feature_names``.

    The targets are read too when the file has all of them as numeric columns
    (to score the model). Messages as :func:`gradfit._io.read_features`. With an
    ``encoding`` the file holds its input columns (``feature_names`` are then the
    encoded ones and are not looked for).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "new.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("b,a\n2,1\n5,4\n")
    >>> table = open_features(path, ["a", "b"], ["y"])
    >>> [X.tolist() for X, Y in table.blocks(10)], table.y_cols
    ([[[1.0, 2.0], [4.0, 5.0]]], [])
    """
    p = Path(path)
    reader = open_reader(p, sep)
    columns = reader.columns
    if encoding is not None:
        feature_names = encoding.names_in
    missing = [n for n in feature_names if n not in columns]
    if missing:
        raise GradfitInputError(
            f"the model needs {len(feature_names)} feature columns ({', '.join(feature_names)}) "
            f"but {p.name} lacks {', '.join(missing)}; its columns are: {', '.join(columns)}"
        )
    x_cols = reader.resolve(list(feature_names), "feature")
    text = set(encoding.categorical) if encoding is not None else set()
    reader.check_numeric([j for j in x_cols if columns[j] not in text])
    y_cols: list[int] = []
    if target_names and all(n in columns for n in target_names):
        candidate = reader.resolve(list(target_names), "target")
        try:
            reader.check_numeric(candidate)
            y_cols = candidate
        except GradfitInputError:  # targets unknown here (text): no score
            y_cols = []
    return FeatureTable(p, reader, x_cols, y_cols, encoding, unknown)


class Scores:
    """R² and RMSE per output, accumulated block by block (Chan's pairwise update).

    Examples
    --------
    >>> Y = np.array([[1.0], [2.0], [3.0]]); P = np.array([[1.0], [2.5], [3.0]])
    >>> s = Scores(1); s.add(Y[:2], P[:2]); s.add(Y[2:], P[2:])
    >>> r2, rmse = s.result()
    >>> round(float(r2[0]), 4), round(float(rmse[0]), 4), s.n
    (0.875, 0.2887, 3)
    """

    def __init__(self, K: int) -> None:
        self.n = 0
        self.mean = np.zeros(K)
        self.m2 = np.zeros(K)
        self.sse = np.zeros(K)
        self.sae = np.zeros(K)
        self.finite = True

    def add(self, Y: F64, P: F64) -> None:
        """Add a block of targets ``Y`` and predictions ``P`` (both (n, K))."""
        n = Y.shape[0]
        if n == 0:
            return
        if not np.all(np.isfinite(Y)):
            self.finite = False  # blank targets: no score, as for a file read whole
            return
        mean = Y.mean(axis=0)
        m2 = np.sum((Y - mean) ** 2, axis=0)
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.n * n / total)
        self.sse = self.sse + np.sum((Y - P) ** 2, axis=0)
        self.sae = self.sae + np.sum(np.abs(Y - P), axis=0)
        self.n = total

    def result(self) -> tuple[F64, F64]:
        """``(r2, rmse)``: ``1 − Σ(y − p)²/Σ(y − ȳ)²`` (nan for a constant target), root MSE."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(self.m2 > 0, 1.0 - self.sse / np.where(self.m2 > 0, self.m2, 1.0), np.nan)
        rmse = np.sqrt(self.sse / max(self.n, 1))
        return r2, rmse

    def mae(self) -> F64:
        """The mean absolute error per output."""
        return np.asarray(self.sae / max(self.n, 1))


def predict_block(model: Any, X: F64) -> F64:
    """``X @ coef_.T + intercept_`` as :meth:`GDRegressor.predict` computes it, as (n, K)."""
    coef = np.asarray(model.coef_)
    P = np.asarray(X @ coef.T + model.intercept_, dtype=np.float64)
    return P.reshape(X.shape[0], -1)


class KeptColumns:
    r"""The ``--keep`` columns of a file, read block by block beside the predictions.

    :meth:`take` returns the next ``n`` rows (a DataFrame), whatever the size of the
    chunks read underneath: pandas' chunked CSV reader (the types as
    :func:`gradfit._io.read_features` reads them, chunk by chunk), Parquet record
    batches, or the columns of a ``.npy`` file mapped from disk.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("id,a\nx,1\ny,2\nz,3\n")
    >>> kept = KeptColumns(path, ["id"], chunk_rows=2)
    >>> kept.take(1)["id"].tolist(), kept.take(2)["id"].tolist()
    (['x'], ['y', 'z'])
    >>> KeptColumns(path, ["b"])
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: column(s) 'b' to keep are not in d.csv; its columns ...
    """

    def __init__(
        self,
        path: str | Path,
        names: Sequence[str],
        chunk_rows: int = 1 << 16,
        sep: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.names = list(names)
        self.chunk_rows = int(chunk_rows)
        self.sep = sep or ","
        columns = open_reader(self.path, sep).columns
        absent = [n for n in self.names if n not in columns]
        if absent:
            raise GradfitInputError(
                f"column(s) {', '.join(repr(n) for n in absent)} to keep are not in "
                f"{self.path.name}; its columns are: {', '.join(map(str, columns))}"
            )
        self._columns = list(columns)
        self._chunks = self._read()
        self._pending: list[Any] = []
        self._rows = 0

    def _read(self) -> Iterator[Any]:
        import pandas as pd

        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            array = np.load(self.path, mmap_mode="r")
            cols = [self._columns.index(n) for n in self.names]
            for start in range(0, array.shape[0], self.chunk_rows):
                block = np.asarray(array[start : start + self.chunk_rows, cols])
                yield pd.DataFrame(block, columns=self.names)
        elif suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.path) as file:
                for batch in file.iter_batches(batch_size=self.chunk_rows, columns=self.names):
                    yield batch.to_pandas()[self.names]
        else:
            with pd.read_csv(
                self.path, usecols=self.names, chunksize=self.chunk_rows, sep=self.sep
            ) as chunks:
                for chunk in chunks:
                    yield chunk[self.names]

    def take(self, n: int) -> Any:
        """The next ``n`` rows of the kept columns (fewer only at the end of the file)."""
        import pandas as pd

        while self._rows < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending.append(chunk)
            self._rows += len(chunk)
        frame = (
            pd.concat(self._pending, ignore_index=True)
            if len(self._pending) != 1
            else self._pending[0].reset_index(drop=True)
        )
        if not self._pending:
            frame = pd.DataFrame({name: [] for name in self.names})
        out, rest = frame.iloc[:n].reset_index(drop=True), frame.iloc[n:]
        self._pending = [rest] if len(rest) else []
        self._rows = len(rest)
        return out


class PredictionWriter:
    """Write predictions block by block: CSV (or ``.tsv``) or Parquet, or CSV on stdout.

    The columns are ``predicted_<target>`` (after the ``kept`` input columns, when
    given: each :meth:`write` then takes their rows too, and ``escape`` is applied to
    the frame of text output); the file is written atomically (a temporary file
    moved onto ``path`` at the end), so an interrupted run leaves no half file.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> with PredictionWriter(path, ["y"]) as out:
    ...     out.write(np.array([[1.5], [2.0]])); out.write(np.array([[0.1]]))
    >>> open(path).read().split()
    ['predicted_y', '1.5', '2.0', '0.1']
    """

    def __init__(
        self,
        path: str | None,
        targets: Sequence[str],
        kept: Sequence[str] = (),
        escape: Any = None,
    ) -> None:
        self.path = path
        self.kept = list(kept)
        self.columns = [f"predicted_{t}" for t in targets]
        suffix = Path(path).suffix.lower() if path else ".csv"
        self.parquet = suffix in (".parquet", ".pq")
        self.escape = None if self.parquet else escape
        self.sep = "\t" if suffix == ".tsv" else ","
        self.rows = 0
        self._context: Any = None
        self._file: IO[Any] | None = None
        self._parquet: Any = None

    def __enter__(self) -> PredictionWriter:
        if self.path is None:
            self._file = sys.stdout
        else:
            self._context = atomic_write(
                self.path,
                "wb" if self.parquet else "w",
                **({} if self.parquet else {"encoding": "utf-8"}),
            )
            self._file = self._context.__enter__()
        return self

    def write(self, P: F64, kept: Any = None, extra: dict[str, Any] | None = None) -> None:
        """Append a block of predictions (n, K).

        They follow the ``extra`` columns (name: values) and the rows of the kept columns.
        """
        import pandas as pd

        frame = pd.DataFrame({**(extra or {}), **{c: P[:, k] for k, c in enumerate(self.columns)}})
        if self.kept:
            if kept is None:
                kept = pd.DataFrame({name: [] for name in self.kept})
            frame = pd.concat([kept.reset_index(drop=True), frame], axis=1)
        if self.escape is not None:
            frame = self.escape(frame)
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._file, table.schema)
            self._parquet.write_table(table)
        else:
            assert self._file is not None
            frame.to_csv(self._file, index=False, header=self.rows == 0, sep=self.sep)
        self.rows += P.shape[0]

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None and self.rows == 0 and (self.parquet or self.kept):
            self.write(np.zeros((0, len(self.columns))))
        if self._parquet is not None:
            self._parquet.close()
        elif kind is None and self.rows == 0 and self._file is not None and not self.kept:
            self._file.write(self.sep.join(self.columns) + "\n")
        if self._context is not None:
            self._context.__exit__(kind, value, traceback)


def source_blocks(source: StreamSource, with_bytes: bool = False) -> Iterator[Any]:
    """The rows of a streamed source again, as ``(X_block, Y_block)``: scores, predictions.

    With ``with_bytes``, ``(X_block, Y_block, bytes read so far)`` (for a progress line).
    """
    for X, Y, done in source._blocks():
        assert Y is not None
        yield (X, Y, done) if with_bytes else (X, Y)
