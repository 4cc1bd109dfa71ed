r"""Files larger than memory: CSV, Parquet and ``.npy`` fitted by exact full-batch methods.

``GDRegressor().fit("data.parquet", None, target="y")`` (or a :class:`DataFile`)
fits a file without loading it. The file is read **once**, block by block:

* each block is checked (missing values, infinities and non-numeric columns
  are reported with the file, the row and the column) and its moments are
  added to the sufficient statistics (:mod:`gradfit.problem.moments`);
* the same block is appended, as float64, to a **cache** of X and Y in a
  temporary folder (``<tempdir>/gradfit-cache-<random>``, or under
  ``cache_dir=``).

The stats engine then iterates in ``O(D²K)`` per step without touching the
data again. The data path (``gradient="data"``, ``method="sgd"``, more than
``STATS_MAX_FEATURES`` columns, an ill-conditioned ``H``) and the refinement of
``method="exact"`` stream row blocks from the cache through memory maps that
are opened for one block and closed after it, so the resident memory stays
bounded by the block size whatever the size of the file (CSV text is handed to
Arrow in blocks of :data:`CSV_BLOCK_BYTES`, which bounds Arrow's read-ahead). The cache is deleted
as soon as the fit no longer needs it: right after reading for the stats
engine, when the fit returns for the data path, on any error while reading,
and otherwise when the problem is garbage-collected or the interpreter exits.

Columns: ``target`` names the target column(s) (a string, or a list for
several outputs); ``features`` the feature columns (all other columns by
default). A ``.npy`` file holds a 2-D numeric array whose columns are called
``"x0"``, ``"x1"``, …; they may also be given as integers (negative ones count
from the end).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .._files import printable
from .._validation import rescale_exponents
from ..problem.kernels import HAVE_NUMBA, fused_pass
from ..problem.moments import (
    Moments,
    add_moments,
    block_moments,
    needs_second_pass,
    statistics_from_moments,
    sum_moments,
)
from ..problem.objective import BLOCK_BYTES, KERNEL_MIN_SIZE, PassObjective, Problem
from ..solve.checkpoint import DataDigest
from .base import Source, check_options, register

__all__ = [
    "CachedProblem",
    "DataFile",
    "FileCache",
    "FileSource",
    "StreamSource",
    "iter_predictions",
    "read_file",
]

F64 = NDArray[np.float64]

#: File name extensions and the format each one means.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}

#: Bytes of CSV text per block handed to Arrow's parser. Arrow's streaming reader reads up
#: to 32 blocks ahead on a background thread (with or without use_threads), so this bounds
#: the read-ahead at 32 MiB; larger blocks were measured 5% faster on a 221 MB file but
#: hold 32 times their size.
CSV_BLOCK_BYTES = 1 << 20

#: Seconds a pass must have run before the progress line appears.
PROGRESS_AFTER_S = 2.0


@dataclass
class DataFile:
    r"""A data file to fit or predict without loading it.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.parquet`` (``.pq``) or ``.npy`` file.
    target : str, int or list of them, optional
        The target column(s); a list fits several outputs (``coef_`` is then 2-D).
        Needed to fit, not to predict.
    features : list of str or int, optional
        The feature columns; all columns but the targets by default.
    block_rows : int, optional
        Rows read at a time (bounds the memory used); about 16 MiB of float64
        per block by default.
    cache_dir : str or os.PathLike, optional
        Where the temporary cache folder is made (default :func:`tempfile.gettempdir`).
    progress : bool, optional
        Show a progress line on stderr for passes longer than 2 s (default: when
        stderr is a terminal).
    exclude : list of str, optional
        Columns to leave out of the default features (an id, say).
    sep : str, optional
        The delimiter of a CSV file (default ``,``), e.g. ``";"`` or ``"\t"``.
    missing : {"error", "drop"}, default="error"
        Rows with a missing value in a used column: an error (counted, the first one
        named), or left out (counted in ``rows_dropped_`` of the fitted model).
    max_levels : int, optional
        The most levels a text column may have to be one-hot encoded (default
        :data:`gradfit._encode.MAX_LEVELS`).

    Text columns of CSV and Parquet files are one-hot encoded with a reference level
    (see :mod:`gradfit._encode`); their levels are collected in a first pass over
    those columns before the reading pass.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from gradfit import DataFile, GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2))
    >>> data = np.column_stack([X, X @ [2.0, -1.0] + 0.5])
    >>> path = os.path.join(tempfile.mkdtemp(), "data.npy")
    >>> np.save(path, data)
    >>> model = GDRegressor().fit(DataFile(path, target="x2", block_rows=128), None)
    >>> np.round(model.coef_, 6), round(float(model.intercept_), 6)
    (array([ 2., -1.]), 0.5)
    >>> bool(np.allclose(model.predict(DataFile(path, features=["x0", "x1"])), data[:, 2]))
    True
    """

    path: str | os.PathLike[str]
    target: Any = None
    features: Sequence[Any] | None = None
    block_rows: int | None = None
    cache_dir: str | os.PathLike[str] | None = None
    progress: bool | None = None
    exclude: Sequence[Any] | None = None
    sep: str | None = None
    missing: str = "error"
    max_levels: int | None = None


def read_file(
    path: str | os.PathLike[str],
    target: Any = None,
    features: Sequence[Any] | None = None,
    **options: Any,
) -> DataFile:
    """Describe a file input: ``read_file(path, target="y")`` is ``DataFile(path, target="y")``.

    Nothing is read until the file is fitted or predicted.

    Examples
    --------
    >>> read_file("data.parquet", target="y").target
    'y'
    """
    return DataFile(path, target=target, features=features, **options)


# -- errors --------------------------------------------------------------------------


def _fail(path: Path, message: str) -> GradfitInputError:
    # names and values from the file may hold escape sequences or be a megabyte long
    return GradfitInputError(f"{path}: {printable(message, 2000)}")


def _quote(names: Sequence[str]) -> str:
    shown = ", ".join(printable(repr(n), 60) for n in names[:50])
    return shown + (f", … ({len(names)} in all)" if len(names) > 50 else "")


# -- progress --------------------------------------------------------------------------


class Progress:
    """A one-line progress report on stderr for long passes (bytes, rate, ETA).

    Silent unless enabled; when ``enabled`` is None it shows only if stderr is a
    terminal. Nothing is printed during the first :data:`PROGRESS_AFTER_S` seconds.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress(1000, "reading x.csv", enabled=True, stream=out, after=0.0)
    >>> p.update(500); p.close()
    >>> "reading x.csv" in out.getvalue() and "50%" in out.getvalue()
    True
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        after: float = PROGRESS_AFTER_S,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = max(int(total), 1)
        self.label = label
        self.after = after
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, done: int) -> None:
        """Report ``done`` bytes (of ``total``) processed."""
        if not self.enabled:
            return
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < self.after or (self.shown and now - self.last < 0.2):
            return
        self.last = now
        self.shown = True
        frac = min(done / self.total, 1.0)
        rate = done / max(elapsed, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else math.inf
        eta_text = f"{eta:5.0f} s" if math.isfinite(eta) else "    ? s"
        self.stream.write(
            f"\r[gradfit] {self.label}: {frac:4.0%} {done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
            f"  {rate / 1e6:,.1f} MB/s  ETA {eta_text} "
        )
        self.stream.flush()

    def close(self) -> None:
        """End the line (if one was shown)."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


# -- readers ---------------------------------------------------------------------------

Block = tuple[F64, F64 | None, int]  # X block, Y block (or None), bytes read so far


class _Reader:
    """A file opened for block reading; ``columns`` are the names of its columns."""

    kind = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.columns: list[str] = []
        self.n_rows: int | None = None

    def resolve(self, spec: Any, role: str) -> list[int]:
        """Indices of the columns named (or numbered) by ``spec``."""
        items = [spec] if isinstance(spec, str | int | np.integer) else list(spec)
        out: list[int] = []
        for item in items:
            if isinstance(item, int | np.integer) and not isinstance(item, bool):
                j = int(item)
                if not -len(self.columns) <= j < len(self.columns):
                    raise _fail(
                        self.path,
                        f"{role} column {j} does not exist: the file has {len(self.columns)} "
                        f"columns (0 to {len(self.columns) - 1}): {_quote(self.columns)}",
                    )
                out.append(j % len(self.columns))
            elif isinstance(item, str) and item in self.columns:
                out.append(self.columns.index(item))
            else:
                raise _fail(
                    self.path,
                    f"no {role} column {item!r}; the columns are: {_quote(self.columns)}",
                )
        if len(set(out)) != len(out):
            raise _fail(self.path, f"a {role} column is named twice in {spec!r}")
        return out

    def check_numeric(self, cols: list[int]) -> None:
        """Raise if a selected column is not numeric."""

    def text_columns(self, cols: list[int]) -> list[int]:
        """The columns among ``cols`` that hold text (categorical: one-hot encoded)."""
        return []

    def frames(
        self, names: list[str], text: set[str], block_rows: int
    ) -> Iterator[tuple[Any, int]]:
        """Yield ``(DataFrame, bytes_read)`` of the columns ``names``.

        ``text`` ones are read as text, the others as float64 (missing values NaN).
        """
        raise _fail(self.path, "holds numbers only; it has no text columns to encode")

    def blocks(self, x_cols: list[int], y_cols: list[int], block_rows: int) -> Iterator[Block]:
        """Yield ``(X_block, Y_block, bytes_read)``; ``Y_block`` None when ``y_cols`` is empty."""
        raise NotImplementedError

    def _split(self, A: F64, x_cols: list[int], y_cols: list[int]) -> tuple[F64, F64 | None]:
        X = np.ascontiguousarray(A[:, x_cols])
        Y = np.ascontiguousarray(A[:, y_cols]) if y_cols else None
        return X, Y


def _sniff(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)


def _what_it_is(head: bytes) -> str | None:
    if head.startswith(b"PAR1"):
        return "a Parquet file"
    if head.startswith(b"\x93NUMPY"):
        return "a .npy file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an .npz or .xlsx file?)"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed; decompress it first (gunzip -k FILE)"
    if head.startswith(b"BZh"):
        return "bzip2-compressed; decompress it first (bunzip2 -k FILE)"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz-compressed; decompress it first (unxz -k FILE)"
    return None


def _numeric_type(pa: Any, t: Any) -> bool:
    """Whether an Arrow type is read as numbers (integers, floats, booleans; nulls for CSV)."""
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_null(t)
    )


def _as_float(pa: Any, column: Any) -> NDArray[np.float64]:
    """An Arrow column as float64 (booleans become 0/1, missing values NaN)."""
    if not pa.types.is_floating(column.type) or column.null_count:
        column = column.cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _not_utf8(exc: UnicodeDecodeError, offset: int | None = None) -> str:
    where = f"near byte offset {offset}" if offset is not None else "in its header"
    return (
        f"is not UTF-8 text: byte {exc.object[exc.start : exc.start + 1]!r} {where} cannot be "
        f"decoded ({exc.reason}); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    )


def _is_text(pa: Any, t: Any) -> bool:
    """Whether an Arrow type holds text (string, or a dictionary of strings: a category)."""
    if pa.types.is_dictionary(t):
        return bool(_is_text(pa, t.value_type) or _numeric_type(pa, t.value_type))
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _frame_of(pa: Any, batch: Any, names: list[str], text: set[str]) -> Any:
    """A pandas DataFrame of an Arrow batch's columns: text as text, others as float64."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name in names:
        column = batch.column(name)
        if name in text:
            data[name] = column.to_pandas()
        else:
            data[name] = _as_float(pa, column)
    return pd.DataFrame(data, columns=names)


class _CsvReader(_Reader):
    kind = "csv"

    def __init__(self, path: Path, sep: str | None = None) -> None:
        super().__init__(path)
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self._pa, self._csv = pa, pacsv
        self._parse = pacsv.ParseOptions(delimiter=sep or ",")
        other = _what_it_is(_sniff(path))
        if other is not None:
            raise _fail(path, f"is not a CSV file: byte offset 0 shows it is {other}")
        with open(path, "rb") as f:
            try:
                reader = pacsv.open_csv(
                    f,
                    read_options=pacsv.ReadOptions(block_size=1 << 16),
                    parse_options=self._parse,
                )
                self.columns = list(reader.schema.names)
                if any("\x00" in name for name in self.columns):
                    raise _fail(
                        path,
                        "its header holds a NUL byte (a binary or damaged file); the header "
                        "must be a line of column names separated by commas",
                    )
                self._types = {field.name: field.type for field in reader.schema}
            except UnicodeDecodeError as exc:
                raise _fail(path, _not_utf8(exc)) from None
            except GradfitInputError:
                raise
            except (pa.ArrowInvalid, ValueError) as exc:
                raise _fail(
                    path, f"could not be read as CSV at byte offset {f.tell()}: {exc}"
                ) from None
            with contextlib.suppress(Exception):
                reader.close()
        self._bytes_per_row = 0.0

    def text_columns(self, cols: list[int]) -> list[int]:
        return [j for j in cols if _is_text(self._pa, self._types[self.columns[j]])]

    def frames(
        self, names: list[str], text: set[str], block_rows: int
    ) -> Iterator[tuple[Any, int]]:
        pa, pacsv = self._pa, self._csv
        block_size = int(min(max(block_rows * len(names) * 20, 1 << 14), CSV_BLOCK_BYTES))
        convert = pacsv.ConvertOptions(
            column_types={
                name: pa.string()
                if name in text
                else pa.bool_()
                if pa.types.is_boolean(self._types[name])
                else pa.float64()
                for name in names
            },
            include_columns=names,
            strings_can_be_null=True,  # an empty field is a missing value, as for pandas
        )
        with open(self.path, "rb") as f:
            try:
                reader = pacsv.open_csv(
                    f,
                    read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
                    parse_options=self._parse,
                    convert_options=convert,
                )
                pending: list[Any] = []
                rows = 0
                for batch in reader:
                    if batch.num_rows == 0:
                        continue
                    pending.append(batch)
                    rows += batch.num_rows
                    if rows >= block_rows:
                        table = pa.Table.from_batches(pending).combine_chunks()
                        pending, rows = [], 0
                        yield _frame_of(pa, table, names, text), self._offset(f)
                if pending:
                    table = pa.Table.from_batches(pending).combine_chunks()
                    yield _frame_of(pa, table, names, text), self.size
            except UnicodeDecodeError as exc:
                raise _fail(self.path, _not_utf8(exc, f.tell())) from None
            except (pa.ArrowInvalid, ValueError) as exc:
                raise self._explain(exc, f.tell(), names) from None

    def check_numeric(self, cols: list[int]) -> None:
        pa = self._pa
        for j in cols:
            t = self._types[self.columns[j]]
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                raise _fail(
                    self.path,
                    f"column {self.columns[j]!r} holds bytes that are not UTF-8 text (pyarrow "
                    f"reads it as {t}); save the file as UTF-8, or give only numeric columns "
                    "as features= and target=",
                )
            if not _numeric_type(pa, t):
                raise _fail(
                    self.path,
                    f"column {self.columns[j]!r} is not numeric (its first values read as "
                    f"{t}); give only numeric columns as features= and target=",
                )

    def blocks(self, x_cols: list[int], y_cols: list[int], block_rows: int) -> Iterator[Block]:
        pa, pacsv = self._pa, self._csv
        self.check_numeric(x_cols + y_cols)
        wanted = [self.columns[j] for j in x_cols + y_cols]
        width = len(x_cols) + len(y_cols)
        # Arrow's streaming reader keeps up to 32 blocks of text read ahead on its I/O
        # thread whatever use_threads says (a background queue); with text blocks of
        # CSV_BLOCK_BYTES that read-ahead stays at 32 MiB, and parsed batches are gathered
        # into blocks of block_rows rows here.
        block_size = int(min(max(block_rows * width * 20, 1 << 14), CSV_BLOCK_BYTES))
        convert = pacsv.ConvertOptions(
            column_types={
                name: pa.bool_() if pa.types.is_boolean(self._types[name]) else pa.float64()
                for name in wanted
            },
            include_columns=wanted,
        )
        x_idx, y_idx = list(range(len(x_cols))), list(range(len(x_cols), width))
        with open(self.path, "rb") as f:
            try:
                reader = pacsv.open_csv(
                    f,
                    read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
                    parse_options=self._parse,
                    convert_options=convert,
                )
                order = [reader.schema.names.index(n) for n in wanted]
                pending: list[F64] = []
                rows = 0
                for batch in reader:
                    if batch.num_rows == 0:
                        continue
                    A = np.empty((batch.num_rows, width))
                    for out, j in enumerate(order):
                        A[:, out] = _as_float(pa, batch.column(j))
                    pending.append(A)
                    rows += batch.num_rows
                    if rows >= block_rows:
                        A = pending[0] if len(pending) == 1 else np.concatenate(pending)
                        pending, rows = [], 0
                        X, Y = self._split(A, x_idx, y_idx)
                        yield X, Y, self._offset(f)
                if pending:
                    A = pending[0] if len(pending) == 1 else np.concatenate(pending)
                    X, Y = self._split(A, x_idx, y_idx)
                    yield X, Y, self.size
            except UnicodeDecodeError as exc:
                raise _fail(self.path, _not_utf8(exc, f.tell())) from None
            except (pa.ArrowInvalid, ValueError) as exc:
                raise self._explain(exc, f.tell(), wanted) from None

    def _offset(self, f: Any) -> int:
        """Bytes handed to the parser so far, less its read-ahead (for the progress line)."""
        return max(0, min(self.size, f.tell() - 32 * CSV_BLOCK_BYTES))

    def _explain(self, exc: Exception, offset: int, wanted: list[str]) -> GradfitInputError:
        text = str(exc)
        if "conversion error" in text and "In CSV column #" in text:
            try:
                j = int(text.split("In CSV column #", 1)[1].split(":", 1)[0])
                name = wanted[j] if j < len(wanted) else self.columns[j]
            except (ValueError, IndexError):
                name = "?"
            return _fail(
                self.path,
                f"column {name!r} is not numeric: {text.split(': ', 1)[-1]} (the reader had "
                f"read up to byte offset {offset})",
            )
        return _fail(
            self.path,
            f"the file is malformed or ends early near byte offset {offset} of {self.size}: {text}",
        )


class _ParquetReader(_Reader):
    kind = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        head = _sniff(path)
        if not head.startswith(b"PAR1"):
            other = _what_it_is(head) or "not Parquet (no 'PAR1' magic bytes)"
            raise _fail(path, f"is not a Parquet file: byte offset 0 shows it is {other}")
        try:
            # no pre-buffering: it would cache every row group read until the end of the pass
            self.file = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(
                path,
                f"is truncated or corrupt: its footer (the last 8 bytes, byte offset "
                f"{max(self.size - 8, 0)}) cannot be read ({exc})",
            ) from None
        schema = self.file.schema_arrow
        # a DataFrame's index that pandas stored as columns (``__index_level_0__``, or a named
        # index) is the index, as pandas.read_parquet reads it back, never a feature
        try:
            meta = schema.pandas_metadata or {}
        except ValueError as exc:  # json.JSONDecodeError: damaged b"pandas" metadata
            # the data are intact; only which columns were pandas' index is lost
            import warnings

            from .._exceptions import DataNote

            warnings.warn(
                f"{printable(str(path))}: its pandas metadata is damaged (not JSON: {exc}) and is "
                "ignored; columns named __index_level_N__ are still taken as the index",
                DataNote,
                stacklevel=2,
            )
            levels = [name for name in schema.names if re.fullmatch(r"__index_level_\d+__", name)]
            meta = {"index_columns": levels}
        if not isinstance(meta, dict):
            meta = {}
        index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
        self.columns = [name for name in schema.names if name not in index]
        self._types = {field.name: field.type for field in schema}
        self.n_rows = self.file.metadata.num_rows
        # Column-chunk metadata (``row_group(i).column(j)``) is never touched: for some damaged
        # footers pyarrow throws a C++ exception there that aborts the whole process
        # ("Definition level histogram size mismatch"); reading the data raises OSError instead.
        meta = self.file.metadata
        self._group_rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]

    def check_numeric(self, cols: list[int]) -> None:
        pa = self._pa
        for j in cols:
            t = self._types[self.columns[j]]
            if not _numeric_type(pa, t) or pa.types.is_null(t):
                raise _fail(
                    self.path,
                    f"column {self.columns[j]!r} is not numeric (type {t}); give only numeric "
                    "columns as features= and target=",
                )

    def text_columns(self, cols: list[int]) -> list[int]:
        return [j for j in cols if _is_text(self._pa, self._types[self.columns[j]])]

    def frames(
        self, names: list[str], text: set[str], block_rows: int
    ) -> Iterator[tuple[Any, int]]:
        pa = self._pa
        n_rows = max(self.n_rows or 0, 1)
        done = 0
        try:
            for batch in self.file.iter_batches(batch_size=block_rows, columns=names):
                done += batch.num_rows
                yield _frame_of(pa, batch, names, text), int(self.size * done / n_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(
                self.path,
                f"is corrupt or ends early: reading the row group near byte offset "
                f"{self._offset_of_row(done)} (after {done} good rows) failed: {exc}",
            ) from None

    def _offset_of_row(self, row: int) -> int:
        """Where row ``row`` lies in the file, estimated from the row groups' row counts."""
        n_rows = max(sum(self._group_rows), 1)
        seen = 0
        for rows in self._group_rows:
            if row < seen + rows:
                return int(self.size * seen / n_rows)
            seen += rows
        return self.size

    def blocks(self, x_cols: list[int], y_cols: list[int], block_rows: int) -> Iterator[Block]:
        pa = self._pa
        self.check_numeric(x_cols + y_cols)
        wanted = [self.columns[j] for j in x_cols + y_cols]
        width = len(wanted)
        n_rows = max(self.n_rows or 0, 1)
        done = 0
        try:
            for batch in self.file.iter_batches(batch_size=block_rows, columns=wanted):
                A = np.empty((batch.num_rows, width))
                for out, name in enumerate(wanted):
                    A[:, out] = _as_float(pa, batch.column(name))
                done += batch.num_rows
                X, Y = self._split(A, list(range(len(x_cols))), list(range(len(x_cols), width)))
                yield X, Y, int(self.size * done / n_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(
                self.path,
                f"is corrupt or ends early: reading the row group near byte offset "
                f"{self._offset_of_row(done)} (after {done} good rows) failed: {exc}",
            ) from None


class _NpyReader(_Reader):
    kind = "npy"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with open(path, "rb") as f:
            head = f.read(6)
            if head != b"\x93NUMPY":
                other = _what_it_is(head) or "not .npy (no '\\x93NUMPY' magic bytes)"
                raise _fail(path, f"is not a .npy file: byte offset 0 shows it is {other}")
            f.seek(0)
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            except ValueError as exc:
                raise _fail(
                    path, f"has a malformed .npy header (byte offset {f.tell()}): {exc}"
                ) from None
            self.header = f.tell()
        if len(shape) != 2:
            raise _fail(
                path, f"holds an array of shape {shape}; a 2-D (rows, columns) array is needed"
            )
        if dtype.kind not in "iuf":
            raise _fail(path, f"holds {dtype} values; a numeric (integer or float) array is needed")
        self.shape, self.fortran, self.dtype = shape, fortran, dtype
        expected = self.header + shape[0] * shape[1] * dtype.itemsize
        if self.size < expected:
            raise _fail(
                path,
                f"ends early: the file ends at byte offset {self.size} but its header promises "
                f"{expected} bytes ({shape[0]}×{shape[1]} {dtype}); it was probably cut off "
                "while being written or copied",
            )
        self.columns = [f"x{j}" for j in range(shape[1])]
        self.n_rows = shape[0]

    def check_numeric(self, cols: list[int]) -> None:
        """Every column of a numeric .npy array is numeric."""

    def frames(
        self, names: list[str], text: set[str], block_rows: int
    ) -> Iterator[tuple[Any, int]]:
        """The columns ``names`` as DataFrames of float64 (a .npy file holds no text)."""
        import pandas as pd

        cols = [self.columns.index(n) for n in names]
        for A, _, done in self.blocks(cols, [], block_rows):
            yield pd.DataFrame(A, columns=names), done

    def blocks(self, x_cols: list[int], y_cols: list[int], block_rows: int) -> Iterator[Block]:
        N, C = self.shape
        row_bytes = C * self.dtype.itemsize
        whole = np.load(self.path, mmap_mode="r") if self.fortran else None
        for start in range(0, N, block_rows):
            stop = min(N, start + block_rows)
            if whole is not None:
                A = np.asarray(whole[start:stop], dtype=np.float64)
            else:
                # a map of this block alone, closed when the block is done: resident memory
                # stays at one block however large the file
                view = np.memmap(
                    self.path,
                    dtype=self.dtype,
                    mode="r",
                    offset=self.header + start * row_bytes,
                    shape=(stop - start, C),
                )
                A = np.asarray(view, dtype=np.float64)
                if A is view or np.shares_memory(A, view):
                    A = np.array(view, dtype=np.float64)
                del view
            X, Y = self._split(A, x_cols, y_cols)
            yield X, Y, self.header + stop * row_bytes


def open_reader(path: str | os.PathLike[str], sep: str | None = None) -> _Reader:
    """Open ``path`` with the reader its extension names (after checking it exists).

    ``sep`` is a CSV file's delimiter (default ``,``). A header that names a column
    twice is refused.
    """
    reader = _open_reader(path, sep)
    from .._encode import repeated

    twice = repeated(reader.columns)
    if twice:
        raise _fail(
            reader.path,
            f"its header names the column(s) {_quote(twice)} twice; give every column its own name",
        )
    return reader


def _open_reader(path: str | os.PathLike[str], sep: str | None) -> _Reader:
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise _fail(p, "is a folder; give a .csv, .parquet or .npy file")
    kind = FORMATS.get(p.suffix.lower())
    if kind is None:
        raise _fail(
            p,
            f"unknown file type {p.suffix!r}; gradfit reads {', '.join(sorted(FORMATS))} files",
        )
    if kind in ("csv", "parquet"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:  # pragma: no cover - optional dependency
            raise ImportError(f"reading {kind} files needs pyarrow: pip install pyarrow") from None
    if p.stat().st_size == 0:
        raise _fail(p, "is empty (0 bytes)")
    if kind == "csv":
        return _CsvReader(p, sep)
    if kind == "parquet":
        return _ParquetReader(p)
    return _NpyReader(p)


#: The fix a missing value in a file to fit names (:func:`_check_finite`).
FIT_FIX = (
    "leave rows with missing values out (--missing drop, missing='drop'), or drop or impute "
    "those rows before fitting."
)
#: The fix a missing feature in a file to predict names.
PREDICT_FIX = "a prediction needs every feature: fill them in, or leave those rows out of the file."


def _check_finite(
    reader: _Reader,
    X: F64,
    Y: F64 | None,
    row0: int,
    names: Sequence[str],
    fix: str = FIT_FIX,
) -> None:
    """Name the first missing or infinite value of a block (row, file line, column) and the fix."""
    for block, labels in ((X, names[: X.shape[1]]), (Y, names[X.shape[1] :])):
        if block is None or not block.size:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            if np.isfinite(block.sum()):  # one read: NaN and infinity carry through the sum
                continue
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            value = block[i, j]
            what = "a missing (empty) value or NaN" if np.isnan(value) else f"{value}"
            line = f" (line {row0 + i + 2} with the header)" if reader.kind == "csv" else ""
            raise _fail(
                reader.path,
                f"row {row0 + i}{line}, column {labels[j]!r} holds {what}; gradfit needs finite "
                f"numbers. Fix: {fix}",
            )


# -- the cache -------------------------------------------------------------------------


def _remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class FileCache:
    """X and Y as raw float64 rows in a temporary folder, read back through memory maps.

    The folder is ``<cache_dir>/gradfit-cache-<random>``; :meth:`close` deletes
    it, and so does garbage collection of this object or the end of the interpreter.

    Examples
    --------
    >>> cache = FileCache(D=2, K=1)
    >>> cache.append(np.ones((3, 2)), np.zeros((3, 1))); cache.finish()
    >>> [X.shape for X, Y in cache.blocks(2)]
    [(2, 2), (1, 2)]
    >>> folder = cache.folder; cache.close(); os.path.exists(folder)
    False
    """

    def __init__(self, D: int, K: int, cache_dir: str | os.PathLike[str] | None = None) -> None:
        parent = os.fspath(cache_dir) if cache_dir is not None else tempfile.gettempdir()
        self.folder = tempfile.mkdtemp(prefix="gradfit-cache-", dir=parent)
        self._finalizer = weakref.finalize(self, _remove, self.folder)
        self.D, self.K = D, K
        self.N = 0
        self.x_path = os.path.join(self.folder, "X.f64")
        self.y_path = os.path.join(self.folder, "Y.f64")
        self._x: Any = open(self.x_path, "wb")  # noqa: SIM115 - closed in finish()/close()
        self._y: Any = open(self.y_path, "wb")  # noqa: SIM115

    def append(self, X: F64, Y: F64) -> None:
        """Write a block of rows."""
        np.ascontiguousarray(X, dtype=np.float64).tofile(self._x)
        np.ascontiguousarray(Y, dtype=np.float64).tofile(self._y)
        self.N += X.shape[0]

    def finish(self) -> None:
        """Close the files for writing (the cache is then read-only)."""
        for f in (self._x, self._y):
            if f is not None:
                f.close()
        self._x = self._y = None

    def _map(self, path: str, width: int, start: int, stop: int) -> F64:
        # copy-on-write ("c"), never written: the block is a writeable array as far as the
        # fused kernel can tell, so the kernel compiled for in-memory arrays is reused
        return np.memmap(
            path, dtype=np.float64, mode="c", offset=start * width * 8, shape=(stop - start, width)
        )

    def blocks(self, block_rows: int) -> Iterator[tuple[F64, F64]]:
        """Yield memory-mapped ``(X_block, Y_block)``; each map is dropped after its block."""
        for start in range(0, self.N, block_rows):
            stop = min(self.N, start + block_rows)
            yield (
                self._map(self.x_path, self.D, start, stop),
                self._map(self.y_path, self.K, start, stop),
            )

    def rows(self, rows: NDArray[np.intp]) -> tuple[F64, F64]:
        """Copies of the rows ``rows`` (for mini-batches)."""
        X = np.memmap(self.x_path, dtype=np.float64, mode="r", shape=(self.N, self.D))
        Y = np.memmap(self.y_path, dtype=np.float64, mode="r", shape=(self.N, self.K))
        return np.array(X[rows]), np.array(Y[rows])

    def scale(self, x_exp: NDArray[np.int64], y_exp: NDArray[np.int64], block_rows: int) -> None:
        """Divide the cached columns by ``2**x_exp`` and ``2**y_exp`` in place (exact)."""
        for path, width, exp in ((self.x_path, self.D, x_exp), (self.y_path, self.K, y_exp)):
            if not np.any(exp) or self.N == 0:
                continue
            data = np.memmap(path, dtype=np.float64, mode="r+", shape=(self.N, width))
            for start in range(0, self.N, block_rows):
                block = data[start : start + block_rows]
                block[...] = np.ldexp(block, -exp[None, :])
            data.flush()
            del data

    def close(self) -> None:
        """Close and delete the cache folder (safe to call twice)."""
        with contextlib.suppress(Exception):
            self.finish()
        self._finalizer()


# -- the data path over the cache -----------------------------------------------------


class CachedProblem(PassObjective):
    """The data path (:class:`~.objective.LeastSquaresProblem`) over a :class:`FileCache`.

    Each gradient or Hessian-vector product streams the cache once, block by
    block (the fused kernel on each block), summing the blocks in order. The
    centring and scaling come from the statistics of the reading pass.

    Parameters
    ----------
    cache : FileCache
    stats : dict
        From :func:`~gradfit.problem.moments.statistics_from_moments` (``H`` or ``H_diag``).
    fit_intercept, standardize : bool
    alpha : float
    block_rows : int
        Rows per block of a pass (at least 16 MiB of float64 rows are used).
    """

    engine = "data"

    def __init__(
        self,
        cache: FileCache,
        stats: dict[str, Any],
        *,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
        block_rows: int = 1 << 14,
        progress: bool | None = None,
    ) -> None:
        self.cache = cache
        self.progress = progress
        self._adopt_statistics(
            stats,
            cache.D,
            cache.K,
            fit_intercept=fit_intercept,
            standardize=standardize,
            alpha=alpha,
        )
        # Passes over the cache use blocks of at least BLOCK_BYTES (16 MiB): the maps are
        # file-backed and dropped after each block, and fewer, larger kernel calls keep the
        # parallel kernel's start-up cost small.
        self.block_rows = max(int(block_rows), BLOCK_BYTES // (8 * max(self.D, self.K)))

    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        self.n_passes += 1
        shift = (self.y_offset if with_targets else 0.0) - self.x_offset @ W
        shift = shift if self.fit_intercept else np.zeros(W.shape[1])
        cols = W.shape[1]
        acc = np.zeros((self.D, cols))
        sq = np.zeros(cols)
        rsum = np.zeros(cols)
        bar = Progress(self.N * (self.D + self.K) * 8, "pass over the cache", enabled=self.progress)
        done = 0
        for Xb, Yb in self.cache.blocks(self.block_rows):
            if HAVE_NUMBA and Xb.shape[0] * self.D >= KERNEL_MIN_SIZE:
                a, s, r = fused_pass(Xb, W, Yb if with_targets else None, shift, None)
            else:
                R = Xb @ W + shift
                if with_targets:
                    R -= Yb
                a = Xb.T @ R
                s = np.einsum("ij,ij->j", R, R) if with_targets else np.zeros(cols)
                r = R.sum(axis=0)
            acc += a
            if with_targets:
                sq += s
            rsum += r
            done += Xb.nbytes + Yb.nbytes
            bar.update(done)
            del Xb, Yb
        bar.close()
        return self._finish_pass(acc, sq, rsum)

    def _rows(self, rows: NDArray[np.intp]) -> tuple[Any, Any]:
        """The rows ``rows`` of the cached X and Y."""
        return self.cache.rows(rows)

    def max_row_norm2(self) -> float:
        """Largest squared norm of a centred, scaled row."""
        best = 0.0
        for Xb, _ in self.cache.blocks(self.block_rows):
            Z = (Xb - self.x_offset) / self.x_scale
            best = max(best, float(np.einsum("ij,ij->i", Z, Z).max()))
        return best


# -- building a fit ----------------------------------------------------------------------


def _as_datafile(X: Any, options: dict[str, Any]) -> DataFile:
    keys = (
        "target",
        "features",
        "block_rows",
        "cache_dir",
        "progress",
        "exclude",
        "sep",
        "missing",
        "max_levels",
    )
    given = {k: options[k] for k in keys if options.get(k) is not None}
    check_options(
        options,
        set(keys),
        "a file",
        "use target=, features=, exclude=, sep=, missing=, max_levels=, block_rows=, "
        "cache_dir=, progress=",
    )
    if isinstance(X, DataFile):
        fields = {k: getattr(X, k) for k in keys}
        for k, v in given.items():
            fields[k] = v
        return DataFile(X.path, **fields)
    return DataFile(X, **given)


def _default_block_rows(width: int) -> int:
    return max(1, BLOCK_BYTES // (8 * max(width, 1)))


def _columns(
    reader: _Reader, spec: DataFile, need_target: bool
) -> tuple[list[int], list[int], list[str]]:
    """The feature and target columns of ``spec`` in ``reader``, and notes for the user.

    With the features by default (every column but the targets and ``exclude``), a
    column whose header says it is a row index (empty, ``Unnamed: 0``) is left out
    with a note.
    """
    from .._encode import check_unique, index_like

    if spec.target is None and need_target:
        raise _fail(
            reader.path,
            f"name the target column(s) with target=...; the columns are: {_quote(reader.columns)}",
        )
    y_cols = reader.resolve(spec.target, "target") if spec.target is not None else []
    notes: list[str] = []
    excluded = reader.resolve(list(spec.exclude), "excluded") if spec.exclude else []
    if set(excluded) & set(y_cols):
        raise _fail(reader.path, "a column is both a target and excluded")
    if spec.features is not None:
        if not isinstance(spec.features, str | int | np.integer):
            check_unique([str(f) for f in spec.features], "feature columns")
        x_cols = reader.resolve(spec.features, "feature")
        both = set(x_cols) & set(y_cols)
        if both:
            raise _fail(
                reader.path,
                f"column(s) {_quote([reader.columns[j] for j in sorted(both)])} are both "
                "features and targets",
            )
        if set(x_cols) & set(excluded):
            raise _fail(reader.path, "a column is both a feature and excluded")
    else:
        x_cols = [j for j in range(len(reader.columns)) if j not in y_cols and j not in excluded]
        if reader.kind != "npy":
            for j in x_cols:
                if index_like(reader.columns[j]):
                    notes.append(
                        f"left out column {reader.columns[j]!r}: its header says it is a row "
                        "index written with the table (name it with features= to use it)"
                    )
            x_cols = [j for j in x_cols if not index_like(reader.columns[j])]
    if not x_cols:
        raise _fail(reader.path, "no feature columns are left once the targets are taken out")
    return x_cols, y_cols, notes


def _read_pass(
    origin: Any,
    blocks: Iterable[Block],
    names: list[str],
    size: int,
    cache: FileCache | None,
    *,
    diagonal: bool,
    progress: bool | None,
    digest: DataDigest | None = None,
) -> tuple[Moments, F64]:
    """One pass over ``blocks``: checks, moments, and the cache (``origin`` names the data).

    Also returns the largest magnitude of each of the D + K columns: the caller
    refuses (:func:`~gradfit._validation.check_magnitude`) or rescales the columns
    beyond ``1e±50`` (whose moments may then have overflowed and are formed again).
    """
    label = getattr(origin.path, "name", str(origin.path))
    bar = Progress(size, f"reading {label}", enabled=progress if size > 0 else False)
    total: Moments | None = None
    row0 = 0
    magnitudes = np.zeros(len(names))
    try:
        for X, Y, done in blocks:
            assert Y is not None
            if X.shape[0]:
                # one scan per block: NaN and infinity carry through the maxima, and only
                # then is the block searched for the first bad value to name it
                x_max, y_max = np.abs(X).max(axis=0), np.abs(Y).max(axis=0)
                if not (np.all(np.isfinite(x_max)) and np.all(np.isfinite(y_max))):
                    _check_finite(origin, X, Y, row0, names)
                np.maximum(magnitudes[: X.shape[1]], x_max, out=magnitudes[: X.shape[1]])
                np.maximum(magnitudes[X.shape[1] :], y_max, out=magnitudes[X.shape[1] :])
            # values whose squares overflow make the moments infinite; statistics_from_moments
            # then refuses the data with the advice to rescale
            with np.errstate(over="ignore", invalid="ignore"):
                m = block_moments(X, Y, diagonal=diagonal)
            total = m if total is None else add_moments(total, m)
            if cache is not None:
                cache.append(X, Y)
            if digest is not None:
                digest.update(X, Y)
            row0 += X.shape[0]
            bar.update(done)
    finally:
        bar.close()
    if total is None or total.n == 0:
        raise _fail(origin.path, "has no data rows")
    return total, magnitudes


def _cache_pass(
    cache: FileCache, block_rows: int, shift_x: F64, shift_y: F64, *, diagonal: bool
) -> Moments:
    with np.errstate(over="ignore", invalid="ignore"):
        return sum_moments(
            block_moments(X, Y, shift_x, shift_y, diagonal=diagonal)
            for X, Y in cache.blocks(block_rows)
        )


class StreamSource(Source):
    """Rows that arrive as blocks, read once: the base of every streamed source.

    Subclass it and write :meth:`blocks`; the reading pass (checks of every
    value, moments for the statistics engine), the float64 cache on disk and the
    data path over it (:class:`CachedProblem`) come with it, and the planner
    (:func:`gradfit.problem.plan.plan`) chooses the engine as for any source. Files
    (:class:`FileSource`) are one; a generator of blocks, a database cursor or
    an Arrow Flight stream is another (see ``tests/toy_source.py``).

    Parameters
    ----------
    n_features, n_outputs : int
    feature_names, target_names : list of str, optional
        ``x0, x1, …`` and ``y0, …`` by default; ``feature_names`` become
        ``feature_names_in_`` unless ``named=False``.
    was_1d : bool, default=False
        Fit one target as a vector (``coef_`` 1-D).
    label : str
        What messages call the data (a path, a query).
    block_rows, cache_dir, progress
        As for :class:`DataFile`.

    Examples
    --------
    >>> class Blocks(StreamSource):
    ...     def blocks(self):
    ...         rng = np.random.default_rng(0)
    ...         for _ in range(3):
    ...             X = rng.normal(size=(100, 2))
    ...             yield X, X @ [[1.0], [2.0]] + 3.0
    >>> from gradfit import GDRegressor
    >>> model = GDRegressor().fit(Blocks(2, 1, was_1d=True), None)
    >>> np.round(model.coef_, 6), round(float(model.intercept_), 6), model.engine_
    (array([1., 2.]), 3.0, 'stats')
    """

    kind = "stream"

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        feature_names: list[str] | None = None,
        target_names: list[str] | None = None,
        was_1d: bool = False,
        named: bool = True,
        label: str = "the stream",
        block_rows: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
    ) -> None:
        self.n_features, self.n_outputs = int(n_features), int(n_outputs)
        D, K = self.n_features, self.n_outputs
        self.columns: list[str] = (
            list(feature_names) if feature_names else [f"x{j}" for j in range(D)]
        )
        self.target_names = (
            list(target_names)
            if target_names
            else (["y"] if K == 1 else [f"y{k}" for k in range(K)])
        )
        self.feature_names = self.columns if named else None
        self.was_1d = was_1d
        self.path: Any = label
        self.dtype = np.dtype(np.float64)
        self.block_rows = int(block_rows or _default_block_rows(D + K))
        if self.block_rows < 1:
            raise ValueError(f"block_rows={block_rows!r}: use a positive integer")
        self.cache_dir, self.progress = cache_dir, progress
        self.cache: FileCache | None = None
        self.N = 0

    # -- what a subclass writes -----------------------------------------------------------
    def blocks(self) -> Iterator[tuple[Any, Any]]:
        """Yield ``(X_block, Y_block)``: arrays of shape (n, D) and (n, K) (or (n,) when K = 1)."""
        raise NotImplementedError

    def size(self) -> int:
        """Bytes the reading pass goes through, for the progress line (0: unknown)."""
        return 0

    def _blocks(self) -> Iterator[Block]:
        D, K = self.n_features, self.n_outputs
        for X, Y in self.blocks():
            Xb = np.ascontiguousarray(X, dtype=np.float64)
            Yb = np.ascontiguousarray(Y, dtype=np.float64)
            if Yb.ndim == 1:
                Yb = Yb[:, None]
            if Xb.ndim != 2 or Xb.shape[1] != D or Yb.shape != (Xb.shape[0], K):
                raise _fail(
                    self.path,
                    f"a block has X of shape {Xb.shape} and Y of shape {Yb.shape}; every block "
                    f"must have ({D} features, {K} targets) columns and as many rows in both",
                )
            yield Xb, Yb, 0

    # -- what the planner calls -----------------------------------------------------------
    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """The one reading pass: checks, moments, and the float64 cache on disk.

        The cache is always written (the κ fallback may need the rows after H is
        formed); :meth:`planned` deletes it at once when the plan does not use it.
        """
        fit_intercept = bool(options["fit_intercept"])
        names = self.columns + self.target_names
        cache = FileCache(self.n_features, self.n_outputs, self.cache_dir)
        self.cache = cache
        self._digest = DataDigest() if self.want_digest else None
        try:
            first, magnitudes = _read_pass(
                self,
                self._blocks(),
                names,
                self.size(),
                cache,
                diagonal=diagonal,
                progress=self.progress,
                digest=self._digest,
            )
            cache.finish()
            D = self.n_features
            self.units = rescale_exponents(
                magnitudes[:D],
                magnitudes[D:],
                alpha=float(options["alpha"]),
                name=str(self.path),
                names=names,
            )
            if self.units is not None:
                # columns beyond 1e±50: divided by powers of two in the cache (exact), and
                # their moments formed again from it; the estimator scales the answer back
                cache.scale(*self.units, self.block_rows)
                zeros = (np.zeros(D), np.zeros(self.n_outputs))
                first = _cache_pass(cache, self.block_rows, *zeros, diagonal=diagonal)
            second = None
            if needs_second_pass(first, fit_intercept):
                second = _cache_pass(
                    cache,
                    self.block_rows,
                    first.Sx / first.n,
                    first.Sy / first.n,
                    diagonal=diagonal,
                )
            try:
                stats = statistics_from_moments(first, second, fit_intercept=fit_intercept)
            except GradfitInputError as err:  # the data overflows: say which input
                raise _fail(self.path, str(err)) from None
        except BaseException:
            self.close()
            raise
        self.N = int(stats["N"])
        return stats

    def digest(self) -> str | None:
        """The digest of every block read in the reading pass (when it was asked for)."""
        hashed = getattr(self, "_digest", None)
        return None if hashed is None else hashed.hexdigest()

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """:class:`CachedProblem`: the data path streaming the cache of the reading pass."""
        if stats is None or self.cache is None:  # pragma: no cover - the planner reads first
            raise RuntimeError("a streamed source is read (statistics) before its data path")
        return CachedProblem(
            self.cache, stats, block_rows=self.block_rows, progress=self.progress, **options
        )

    def planned(self, rows_used: bool) -> None:
        """Delete the cache right away when the plan does not stream it."""
        if not rows_used and self.cache is not None:
            self.cache.close()

    def where(self, engine: str, *, refine: bool, fallback: bool) -> str:
        """Read once, and where the data path streams from."""
        label = getattr(self.path, "name", str(self.path))
        where = f"; {label} was read once ({self.N} rows)"
        folder = self.cache.folder if self.cache is not None else "?"
        if engine == "data":
            return where + f", the data path streams the cache in {folder}"
        if refine:
            return where + f", the refinement streams the cache in {folder}"
        return where

    def close(self) -> None:
        """Delete the cache (safe to call twice)."""
        if self.cache is not None:
            self.cache.close()


class FileSource(StreamSource):
    """A CSV, Parquet or ``.npy`` file read block by block: the ``"file"`` source.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npy")
    >>> np.save(path, np.arange(12.0).reshape(4, 3))
    >>> source = FileSource(DataFile(path, target=2))
    >>> source.n_features, source.n_outputs, source.columns, source.feature_names
    (2, 1, ['x0', 'x1'], None)
    """

    def __init__(self, spec: DataFile) -> None:
        from .._encode import MISSING

        if spec.missing not in MISSING:
            raise ValueError(f"missing={spec.missing!r}: use 'error' or 'drop'")
        reader = open_reader(spec.path, spec.sep)
        x_cols, y_cols, notes = _columns(reader, spec, need_target=True)
        text = reader.text_columns(x_cols)
        reader.check_numeric([j for j in x_cols if j not in text] + y_cols)
        names = [reader.columns[j] for j in x_cols]
        super().__init__(
            len(x_cols),
            len(y_cols),
            feature_names=names,
            target_names=[reader.columns[j] for j in y_cols],
            was_1d=isinstance(spec.target, str | int | np.integer),
            named=reader.kind != "npy",
            label=str(reader.path),
            block_rows=spec.block_rows,
            cache_dir=spec.cache_dir,
            progress=spec.progress,
        )
        self.path = reader.path
        self.kind = reader.kind
        self.reader, self.x_cols, self.y_cols = reader, x_cols, y_cols
        #: What was asked for (``GDRegressorCV`` reads the same file from it).
        self.spec = spec
        #: The input feature columns (before encoding), and the text ones among them.
        self.input_columns = names
        self.text = [reader.columns[j] for j in text]
        #: The encoding of the text columns (set by :meth:`prepare`), None if there are none.
        self.encoding: Any = None
        #: What the user should hear about the columns (an index left out).
        self.notes = notes
        #: Rows left out of the last pass for a missing value (``missing="drop"``).
        self.rows_dropped = 0
        self._prepared: bool | None = None

    def prepare(self, *, fit_intercept: bool) -> None:
        """Collect the levels of the text columns (one pass over them) and set the encoding.

        Nothing is read when every feature is numeric. The text columns' levels
        must be known before the first block is encoded, so this pass comes before
        the reading pass; it holds the distinct levels only (at most
        ``max_levels`` per column).
        """
        from .._encode import MAX_LEVELS, LevelCounter

        if not self.text or self._prepared == fit_intercept:
            return
        spec = self.spec
        counter = LevelCounter(
            self.text,
            max_levels=spec.max_levels or MAX_LEVELS,
            label=str(self.path),
        )
        drop = spec.missing == "drop"
        used = self.input_columns + self.target_names if drop else self.text
        bar = Progress(self.size(), f"levels of {self.path.name}", enabled=self.progress)
        try:
            for frame, done in self.reader.frames(used, set(self.text), self.block_rows):
                if drop:
                    frame = frame.loc[~frame.isna().any(axis=1).to_numpy()]
                counter.add(frame[self.text])
                bar.update(done)
        finally:
            bar.close()
        self.encoding = counter.encoding(self.input_columns, fit_intercept=fit_intercept)
        names = self.encoding.names_out
        if not names:
            raise _fail(self.path, "no feature is left: the text columns have one level each")
        self.n_features = len(names)
        self.columns = names
        if self.feature_names is not None:
            self.feature_names = names
        if spec.block_rows is None:
            self.block_rows = _default_block_rows(self.n_features + self.n_outputs)
        self._prepared = fit_intercept

    def size(self) -> int:
        """The file's size in bytes."""
        return self.reader.size

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """The reading pass; a missing value (``missing="error"``) is counted in one more pass.

        The reading pass stops at the first missing value; the error then says how
        many rows have one (a pass over the used columns, on this error path only).
        """
        try:
            return super().statistics(options, diagonal=diagonal, keep_rows=keep_rows)
        except GradfitInputError as err:
            text = str(err)
            if "missing (empty) value or NaN" not in text and "is missing;" not in text:
                raise
            raise self._missing_error() from None

    def _missing_error(self) -> GradfitInputError:
        """The rows with a missing value in a used column: how many, and the first."""
        names = self.input_columns + self.target_names
        count = total = 0
        first: tuple[int, str] | None = None
        for frame, _ in self.reader.frames(names, set(self.text), self.block_rows):
            absent = frame.isna().to_numpy()
            rows = absent.any(axis=1)
            if first is None and rows.any():
                i = int(np.argmax(rows))
                first = (total + i, names[int(np.argmax(absent[i]))])
            count += int(rows.sum())
            total += len(frame)
        row, column = first if first is not None else (0, "?")
        where = f"line {row + 2}" if self.kind == "csv" else f"row {row}"
        return _fail(
            self.path,
            f"{count} of {total} rows have missing values (the first: {where}, column "
            f"{column!r}); leave them out with --missing drop (missing='drop'), or fill them "
            "in first",
        )

    def _blocks(self) -> Iterator[Block]:
        if not self.text and self.spec.missing == "error":
            return self.reader.blocks(self.x_cols, self.y_cols, self.block_rows)
        if self.text and self.encoding is None:
            self.prepare(fit_intercept=True)
        return self._encoded_blocks()

    def _encoded_blocks(self) -> Iterator[Block]:
        """Blocks read as frames: rows with a missing value dropped, text columns encoded."""
        names, targets = self.input_columns, self.target_names
        drop = self.spec.missing == "drop"
        row0 = 0
        self.rows_dropped = 0
        for frame, done in self.reader.frames(names + targets, set(self.text), self.block_rows):
            n = len(frame)
            first = row0 + 2 if self.kind == "csv" else None
            if drop:
                keep = ~frame.isna().any(axis=1).to_numpy()
                if not keep.all():
                    self.rows_dropped += int(n - keep.sum())
                    frame = frame.loc[keep].reset_index(drop=True)
                    first = None  # the rows no longer follow the file's lines
            if self.encoding is not None:
                X = self.encoding.transform(frame, label=str(self.path), first_line=first)
            else:
                X = np.ascontiguousarray(frame[names].to_numpy(dtype=np.float64))
            Y = np.ascontiguousarray(frame[targets].to_numpy(dtype=np.float64))
            row0 += n
            yield X, Y, done


def numbers_only(reader: _Reader, spec: DataFile, x_cols: list[int], what: str) -> None:
    """Refuse, with the way out, text columns or ``missing="drop"`` where only numbers are read.

    ``GDRegressor.fit`` encodes a file's text columns and drops rows; ``what`` (the
    statistics of a file, cross-validation, robust inference) reads numbers only.
    """
    text = [reader.columns[j] for j in reader.text_columns(x_cols)]
    if text or getattr(spec, "missing", "error") == "drop":
        cause = (
            f"text column(s) {_quote(text)}, which GDRegressor.fit one-hot encodes"
            if text
            else "missing='drop', which GDRegressor.fit applies"
        )
        raise _fail(
            reader.path,
            f"{what} reads a file's numbers only, and this one has {cause}; read the table "
            "into memory (gradfit fit without --stream; a DataFrame in the API), or encode "
            "and clean it first",
        )


def open_file(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> FileSource:
    """The file source for ``fit(path_or_DataFile, None, target=...)``."""
    spec = _as_datafile(X, params)
    if y is not None:
        raise TypeError(
            f"y must be None when X is a file ({os.fspath(spec.path)!r}); name the target "
            "column(s) with target=..., e.g. model.fit('data.parquet', None, target='y')"
        )
    if sample_weight is not None:
        raise TypeError(
            "sample_weight is not supported for file inputs yet; fit the weighted rows from "
            "memory, or repeat rows in the file"
        )
    return FileSource(spec)


def prediction_columns(reader: Any, spec: DataFile, columns: list[str] | None) -> list[int]:
    """The file's columns to predict from.

    ``features=`` if given, else the fitted ``columns`` when the file has them
    all, else every column but the targets.
    """
    if spec.features is not None:
        return reader.resolve(spec.features, "feature")
    if columns is not None and spec.target is None and all(n in reader.columns for n in columns):
        return reader.resolve(list(columns), "feature")
    y_cols = reader.resolve(spec.target, "target") if spec.target is not None else []
    return [j for j in range(len(reader.columns)) if j not in y_cols]


def iter_predictions(
    X: Any,
    coef: Any,
    intercept: Any,
    columns: list[str] | None = None,
    *,
    encoding: Any = None,
    unknown: str = "error",
) -> Iterator[NDArray[np.float64]]:
    """Stream predictions of a file block by block: arrays of shape (n,) or (n, K).

    ``columns`` are the names the model was fitted on (``feature_names_in_``, or a
    ``.npy`` file's ``x0``, ``x1``, …); a ``DataFile``'s ``features=`` wins over them.
    With an ``encoding`` (text columns one-hot encoded in fitting), the file's
    input columns are read and encoded block by block; ``unknown`` says what a
    level not seen in fitting does (``"error"`` or ``"zeros"``).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npy")
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> [p.tolist() for p in iter_predictions(DataFile(path, block_rows=2), np.ones(2), 1.0)]
    [[2.0, 6.0], [10.0]]
    """
    spec = X if isinstance(X, DataFile) else DataFile(X)
    reader = open_reader(spec.path, spec.sep)
    coef = np.asarray(coef, dtype=np.float64)
    D = coef.shape[-1]
    if encoding is not None:
        yield from _encoded_predictions(reader, spec, coef, intercept, encoding, unknown)
        return
    x_cols = prediction_columns(reader, spec, columns)
    if len(x_cols) != D:
        raise _fail(
            reader.path,
            f"the model was fitted on {D} features but {len(x_cols)} columns were selected "
            f"({_quote([reader.columns[j] for j in x_cols])}); pass "
            "gradfit.DataFile(path, features=[...]) naming the fitted feature columns",
        )
    reader.check_numeric(x_cols)
    block_rows = int(spec.block_rows or _default_block_rows(D))
    names = [reader.columns[j] for j in x_cols]
    b = np.asarray(intercept, dtype=np.float64)
    row0 = 0
    bar = Progress(reader.size, f"predicting {reader.path.name}", enabled=spec.progress)
    try:
        for Xb, _, done in reader.blocks(x_cols, [], block_rows):
            _check_finite(reader, Xb, None, row0, names, PREDICT_FIX)
            # the estimator's own formula (X @ coef.T + b): the same numbers as in memory
            yield Xb @ coef.T + b
            row0 += Xb.shape[0]
            bar.update(done)
    finally:
        bar.close()


def _encoded_predictions(
    reader: _Reader, spec: DataFile, coef: F64, intercept: Any, encoding: Any, unknown: str
) -> Iterator[NDArray[np.float64]]:
    names = list(encoding.names_in)
    absent = [n for n in names if n not in reader.columns]
    if absent:
        raise _fail(
            reader.path,
            f"the model needs the columns {_quote(names)}; the file lacks {_quote(absent)} "
            f"(its columns are: {_quote(reader.columns)})",
        )
    text = set(encoding.categorical)
    numeric = [reader.columns.index(n) for n in names if n not in text]
    reader.check_numeric(numeric)
    block_rows = int(spec.block_rows or _default_block_rows(len(encoding.names_out)))
    b = np.asarray(intercept, dtype=np.float64)
    row0 = 0
    bar = Progress(reader.size, f"predicting {reader.path.name}", enabled=spec.progress)
    try:
        for frame, done in reader.frames(names, text, block_rows):
            first = row0 + 2 if reader.kind == "csv" else None
            Xb = encoding.transform(
                frame, unknown=unknown, label=str(reader.path), first_line=first
            )
            _check_finite(reader, Xb, None, row0, encoding.names_out, PREDICT_FIX)
            yield Xb @ coef.T + b
            row0 += Xb.shape[0]
            bar.update(done)
    finally:
        bar.close()


def predict_file(
    X: Any,
    coef: Any,
    intercept: Any,
    columns: list[str] | None = None,
    *,
    encoding: Any = None,
    unknown: str = "error",
) -> NDArray[np.float64]:
    """The file source's ``predict``: stream the file's feature columns block by block."""
    parts = list(iter_predictions(X, coef, intercept, columns, encoding=encoding, unknown=unknown))
    coef = np.asarray(coef)
    if parts:
        return np.concatenate(parts)
    return np.zeros((0,) if coef.ndim == 1 else (0, coef.shape[0]))


def accepts_file(X: Any) -> bool:
    """Whether ``X`` is a path or a :class:`DataFile`."""
    return isinstance(X, DataFile | str | os.PathLike)


register("file", accepts_file, open_file, predict_file)
