"""Reading the user's data: CSV/Parquet tables for the CLI, arrays for the report functions.

``read_table`` loads a whole table into memory (the explanation and diagnosis tools are
meant for data that fits comfortably); errors name the missing or non-numeric column and
list what the file does have.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from ._validation import as_design_matrix, as_targets

__all__ = ["as_float_inputs", "read_features", "read_prepared", "read_table"]

F64 = NDArray[np.float64]


def _load_frame(path: Path, sep: str | None = None) -> Any:
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(
            f"data file {str(path)!r} does not exist (looked for {path.resolve()}); check the "
            "name and the folder"
        )
    suffix = path.suffix.lower()
    if path.is_dir():
        raise GradfitInputError(f"{str(path)!r} is a folder: give a .csv, .tsv or .parquet file")
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as err:
            raise GradfitInputError(
                f"reading {path.name} needs a Parquet engine ({err}). "
                "Install one with `pip install pyarrow`, or save the table as CSV."
            ) from err
        except (ValueError, OSError, KeyError, TypeError, IndexError) as err:
            # pyarrow's ArrowInvalid is a ValueError; damaged pandas metadata in the file
            # surfaces as KeyError/TypeError/IndexError from pyarrow's pandas conversion
            raise GradfitInputError(
                f"cannot read {path.name} as Parquet: {_first_line(err)}. Check that the file "
                "is complete, or save the table as CSV."
            ) from err
    if suffix == ".npy":
        from .sources.files import open_reader

        reader = open_reader(path)  # checks the header: 2-D, numeric, complete
        return pd.DataFrame(np.load(path), columns=reader.columns)
    if suffix in (".csv", ".txt", ".tsv", ".gz", ".bz2", ".zip", ".xz"):
        if sep is None:
            sep = "\t" if ".tsv" in path.suffixes else ","
        if suffix in (".csv", ".txt", ".tsv"):
            _check_text(path)
        try:
            frame = pd.read_csv(path, sep=sep)
            header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str).iloc[0]
        except pd.errors.EmptyDataError as err:
            raise GradfitInputError(
                f"{path.name} is empty: it needs a header row naming the columns and one row "
                "per sample"
            ) from err
        except (ValueError, OSError, EOFError, IndexError, KeyError) as err:  # ParserError, …
            kind = {"\t": "tab-separated", ",": "comma-separated"}.get(sep, f"{sep!r}-separated")
            raise GradfitInputError(
                f"cannot read {path.name} as a {kind} table: {_first_line(err)}. Check that it "
                "is a text table with a header row and the same number of fields on every line."
            ) from err
        _check_header(path, ["" if pd.isna(n) else str(n) for n in header.tolist()])
        return frame
    raise GradfitInputError(
        f"cannot tell the format of {path.name!r} from its extension {suffix!r}: "
        "use a .csv, .tsv or .parquet file (or a 2-D .npy array)."
    )


_COMPRESSED = {
    b"\x1f\x8b": ("gzip", ".gz"),
    b"BZh": ("bzip2", ".bz2"),
    b"\xfd7zXZ\x00": ("xz", ".xz"),
    b"PK\x03\x04": ("zip", ".zip"),
}


def _check_text(path: Path) -> None:
    """Refuse, with the way out, a compressed or binary file named like a text table."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    for magic, (kind, suffix) in _COMPRESSED.items():
        if head.startswith(magic):
            raise GradfitInputError(
                f"{path.name} is {kind}-compressed although its name ends in {path.suffix}: "
                f"rename it to {path.name}{suffix} (gradfit then decompresses it) or "
                "decompress it first"
            )
    if head.startswith(b"PAR1"):
        raise GradfitInputError(
            f"{path.name} is a Parquet file although its name ends in {path.suffix}: "
            f"rename it to {path.stem}.parquet"
        )
    if b"\x00" in head.split(b"\n", 1)[0]:
        raise GradfitInputError(
            f"the header of {path.name} holds a NUL byte (a binary or damaged file); the "
            "first line must be the column names separated by commas"
        )


def _check_header(path: Path, names: Sequence[str]) -> None:
    """Refuse a header that names a column twice (pandas would rename the second ``a.1``)."""
    from ._encode import repeated

    twice = repeated(names)
    if twice:
        raise GradfitInputError(
            f"the header of {path.name} names the column(s) {', '.join(map(_name, twice[:10]))} "
            "twice; give every "
            "column its own name"
        )


def _sep_hint(columns: Sequence[str]) -> str:
    """A hint when the header read as one column holds another delimiter (``;``, tab, ``|``).

    Examples
    --------
    >>> _sep_hint(["a;b;y"])
    ". The header holds ';': is the file ';'-separated? Pass --sep ';' (sep=';')"
    """
    if len(columns) != 1:
        return ""
    for sep, shown, option in ((";", "';'", "';'"), ("\t", "a tab", "tab"), ("|", "'|'", "'|'")):
        if sep in str(columns[0]):
            return (
                f". The header holds {shown}: is the file {shown}-separated? Pass --sep "
                f"{option} (sep={sep!r})"
            )
    return ""


def parse_sep(text: str | None) -> str | None:
    r"""A ``--sep`` value: one character, or ``tab`` / ``\t`` for a tab.

    Examples
    --------
    >>> parse_sep(";"), parse_sep("tab"), parse_sep(r"\t"), parse_sep(None)
    (';', '\t', '\t', None)
    """
    if text is None:
        return None
    value = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(
        text.lower() if len(text) > 1 else text, text
    )
    if len(value) != 1 or value in '"\n\r':
        raise GradfitInputError(
            f"separator {text!r} is not one character: use e.g. ';', '|' or tab"
        )
    return value


def _name(name: str) -> str:
    from ._files import printable

    return printable(repr(name), 80)


def _listing(names: Sequence[str]) -> str:
    """Column names for a one-line message: escaped, cut, at most 50 of them."""
    from ._files import printable

    shown = ", ".join(printable(str(n), 60) for n in names[:50])
    return shown + (f", … ({len(names)} in all)" if len(names) > 50 else "")


def npy_names(path: str | Path, names: Sequence[str] | None) -> list[str] | None:
    """Column names of a ``.npy`` file: a column number (``"3"``, ``"-1"``) becomes ``"x3"``.

    A 2-D ``.npy`` array has no header; its columns are called ``x0``, ``x1``, … and
    may be given by number (negative numbers count from the end). Other files'
    names are returned unchanged.

    Examples
    --------
    >>> npy_names("data.npy", ["4", "x1", "-1"]), npy_names("data.csv", ["4"])
    (['x4', 'x1', 'x-1'], ['4'])
    """
    if names is None or Path(path).suffix.lower() != ".npy":
        return None if names is None else list(names)
    out = []
    for name in names:
        text = str(name)
        out.append(f"x{text}" if text.lstrip("-").isdigit() else text)
    return out


def _resolve_npy(path: Path, names: list[str], width: int) -> list[str]:
    """``x-1`` (from ``-1``) counts from the end of a ``.npy`` file's ``width`` columns."""
    if path.suffix.lower() != ".npy":
        return names
    out = []
    for name in names:
        if name.startswith("x-") and name[2:].isdigit() and int(name[2:]) <= width:
            name = f"x{width - int(name[2:])}"
        out.append(name)
    return out


def _first_line(err: BaseException) -> str:
    from ._files import printable

    text = str(err).strip().splitlines()
    return printable(text[0].rstrip("."), 300) if text else type(err).__name__


def choose_columns(
    path: Path,
    columns: list[str],
    targets: Sequence[str],
    features: Sequence[str] | None,
    exclude: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """The feature and target columns of a table, checked (a ``.npy`` file's by number too).

    Examples
    --------
    >>> choose_columns(Path("d.csv"), ["a", "b", "y"], ["y"], None)
    (['a', 'b'], ['y'])
    >>> choose_columns(Path("d.csv"), ["a", "y"], ["y"], ["y"])
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: column(s) y are named both as feature and as target
    """
    from ._encode import check_unique

    target_list = _resolve_npy(path, npy_names(path, list(targets)) or [], len(columns))
    if not target_list:
        raise GradfitInputError("name at least one target column")
    check_unique(target_list, "target columns")
    listing = _listing(columns)
    for name in target_list:
        if name not in columns:
            raise GradfitInputError(
                f"target column {_name(name)} is not in {path.name}; its columns are: {listing}"
                + _sep_hint(columns)
            )
    exclude_list = _resolve_npy(path, npy_names(path, list(exclude)) or [], len(columns))
    check_unique(exclude_list, "excluded columns")
    for name in exclude_list:
        if name not in columns:
            raise GradfitInputError(
                f"column {_name(name)} to exclude is not in {path.name}; its columns are: {listing}"
            )
        if name in target_list:
            raise GradfitInputError(f"column {_name(name)} is both a target and excluded")
    if features is None:
        feature_list = [c for c in columns if c not in target_list and c not in exclude_list]
    else:
        feature_list = _resolve_npy(path, npy_names(path, list(features)) or [], len(columns))
        check_unique(feature_list, "feature columns")
        both = sorted(set(feature_list) & set(exclude_list))
        if both:
            raise GradfitInputError(
                f"column(s) {', '.join(both)} are named both as feature and as excluded"
            )
        for name in feature_list:
            if name not in columns:
                raise GradfitInputError(
                    f"feature column {_name(name)} is not in {path.name}; its columns are: "
                    f"{listing}"
                )
        overlap = sorted(set(feature_list) & set(target_list))
        if overlap:
            raise GradfitInputError(
                f"column(s) {', '.join(overlap)} are named both as feature and as target"
            )
    if not feature_list:
        raise GradfitInputError(
            f"{path.name} has no feature columns besides the target(s) {', '.join(target_list)}"
        )
    return feature_list, target_list


def read_table(
    path: str | Path,
    targets: str | Sequence[str],
    features: Sequence[str] | None = None,
) -> tuple[F64, F64, list[str], list[str]]:
    r"""Read a CSV or Parquet table into features and targets.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (``.tsv``, compressed CSV) or ``.parquet`` file with a header row.
        Parquet needs pyarrow (or fastparquet).
    targets : str or sequence of str
        The target column(s); several make a multi-output problem.
    features : sequence of str, optional
        The feature columns; by default every column that is not a target.

    Returns
    -------
    X : ndarray of shape (N, D)
    Y : ndarray of shape (N, K)
    feature_names : list of str
    target_names : list of str

    Raises
    ------
    GradfitInputError
        A named column is missing (the message lists the file's columns), a column is not
        numeric (named, with the first offending value), or a value is NaN or infinite.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,y\n1,2,3\n4,5,6\n7,8,10\n")
    >>> X, Y, names, targets = read_table(path, "y")
    >>> X.shape, Y.shape, names, targets
    ((3, 2), (3, 1), ['a', 'b'], ['y'])
    >>> read_table(path, "z")
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: target column 'z' is not in data.csv; its columns ...
    """
    path = Path(path)
    frame = _load_frame(path)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    target_list = [targets] if isinstance(targets, str) else list(targets)
    feature_list, target_list = choose_columns(path, columns, target_list, features)
    X_arr, _ = as_design_matrix(frame[feature_list], name=path.name)
    Y, _, _ = as_targets(frame[target_list], X_arr.shape[0], x_shape=X_arr.shape)
    # Row blocks of a C-ordered X are contiguous: the gradient passes read them fastest.
    X64 = np.ascontiguousarray(X_arr, dtype=np.float64)
    return X64, np.ascontiguousarray(Y, dtype=np.float64), feature_list, target_list


def _check_rows(frame: Any, names: list[str], label: str, first_line: int | None) -> None:
    """Before predicting: name the first text, infinite or missing cell by its line."""
    from ._encode import check_cells

    if first_line is not None:
        check_cells(frame, names, label=label, first_line=first_line)
    absent = frame[names].isna().to_numpy()
    rows = absent.any(axis=1)
    if rows.any():
        i = int(np.argmax(rows))
        where = f"line {first_line + i}" if first_line is not None else f"row {i}"
        raise GradfitInputError(
            f"{label}: {int(rows.sum())} of {len(frame)} rows miss a feature value (the first: "
            f"{where}, column {_name(names[int(np.argmax(absent[i]))])}); a prediction needs "
            "every feature: fill them in, or leave those rows out of the file"
        )


def read_prepared(
    path: str | Path,
    targets: str | Sequence[str],
    features: Sequence[str] | None = None,
    *,
    exclude: Sequence[str] = (),
    sep: str | None = None,
    missing: str = "error",
    fit_intercept: bool = True,
    max_levels: int | None = None,
) -> Any:
    r"""Read a real table to fit: left-out columns, missing values, categorical columns.

    The table's columns are chosen as by :func:`read_table` (less ``exclude``), then
    :func:`gradfit._encode.prepare_table` leaves out a row index, drops rows with
    missing values (``missing="drop"``) and one-hot encodes the text columns.

    Returns
    -------
    gradfit._encode.Table
        ``X``, ``Y``, the encoded feature ``names``, ``targets``, the input columns
        ``features_in``, the ``encoding`` (None when every feature is numeric), the
        number of rows ``dropped`` and ``notes`` for the user.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("region;x;y\nnorth;1;3\neast;2;\nwest;3;7\neast;4;8\n")
    >>> table = read_prepared(path, "y", sep=";", missing="drop")
    >>> table.names, table.X.shape, table.dropped
    (['region=north', 'region=west', 'x'], (3, 3), 1)
    """
    from ._encode import MAX_LEVELS, prepare_table

    path = Path(path)
    frame = _load_frame(path, sep)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    target_list = [targets] if isinstance(targets, str) else list(targets)
    feature_list, target_list = choose_columns(path, columns, target_list, features, exclude)
    text = path.suffix.lower() in (".csv", ".tsv", ".txt")
    return prepare_table(
        frame,
        target_list,
        feature_list,
        default_features=features is None,
        missing=missing,
        fit_intercept=fit_intercept,
        max_levels=MAX_LEVELS if max_levels is None else max_levels,
        label=path.name,
        first_line=2 if text else None,
    )


def as_float_inputs(
    X: Any,
    y: Any,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
) -> tuple[F64, F64, bool, list[str], list[str]]:
    """Validate ``X`` and ``y`` and return float64 copies-or-views with names.

    Parameters
    ----------
    X : array-like or DataFrame of shape (N, D)
    y : array-like, Series or DataFrame of shape (N,) or (N, K)
    feature_names, target_names : sequence of str, optional
        Override the names (DataFrame columns, a Series name, else ``x0…``, ``y0…``).

    Returns
    -------
    X : ndarray of shape (N, D), float64
    Y : ndarray of shape (N, K), float64
    was_1d : bool
    feature_names : list of str
    target_names : list of str

    Examples
    --------
    >>> X, Y, was_1d, f, t = as_float_inputs([[1, 2], [3, 4], [5, 7]], [1.0, 2.0, 3.0])
    >>> Y.shape, was_1d, f, t
    ((3, 1), True, ['x0', 'x1'], ['y'])
    """
    X_arr, names = as_design_matrix(X)
    Y, was_1d, tnames = as_targets(y, X_arr.shape[0], x_shape=X_arr.shape)
    D = X_arr.shape[1]
    K = Y.shape[1]
    f_names = list(feature_names) if feature_names is not None else names
    if f_names is None:
        f_names = [f"x{j}" for j in range(D)]
    t_names = list(target_names) if target_names is not None else tnames
    if t_names is None:
        t_names = ["y"] if K == 1 else [f"y{k}" for k in range(K)]
    if len(f_names) != D or len(t_names) != K:
        raise GradfitInputError(
            f"got {len(f_names)} feature names for {D} features and {len(t_names)} target "
            f"names for {K} outputs; pass one name per column"
        )
    return np.asarray(X_arr, dtype=np.float64), np.asarray(Y, np.float64), was_1d, f_names, t_names


def read_features(
    path: str | Path,
    feature_names: Sequence[str],
    target_names: Sequence[str] = (),
    keep: Sequence[str] = (),
    *,
    encoding: Any = None,
    unknown: str = "error",
    sep: str | None = None,
) -> tuple[F64, F64 | None, Any]:
    r"""Read the columns a fitted model needs from a CSV or Parquet table, by name.

    Parameters
    ----------
    path : str or Path
    feature_names : sequence of str
        The model's features, in its order; every one must be in the file.
    target_names : sequence of str, optional
        The model's targets; returned when the file has all of them (to score the model).
    keep : sequence of str, optional
        Further columns to return unchanged (an identifier, say).
    encoding : gradfit._encode.Encoding, optional
        The model's encoding of categorical columns (then ``feature_names`` are its
        encoded names and the file holds its input columns).
    unknown : {"error", "zeros"}
        What a level not seen in fitting does (with ``encoding``).
    sep : str, optional
        The delimiter of a text table (default ``,``; tab for ``.tsv``).

    Returns
    -------
    X : ndarray of shape (N, D)
    Y : ndarray of shape (N, K) or None
        None unless the file has every target column.
    kept : DataFrame
        The ``keep`` columns.

    Raises
    ------
    GradfitInputError
        A feature or ``keep`` column is missing (the message names them, and the model's
        feature count), or a feature column is not numeric or not finite.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "new.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("id,b,a\nr1,2,1\nr2,5,4\n")
    >>> X, Y, kept = read_features(path, ["a", "b"], ["y"], keep=["id"])
    >>> X.tolist(), Y, list(kept["id"])
    ([[1.0, 2.0], [4.0, 5.0]], None, ['r1', 'r2'])
    >>> read_features(path, ["a", "b", "c"])
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: the model needs 3 feature columns (a, b, c) but ...
    """
    path = Path(path)
    frame = _load_frame(path, sep)
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if encoding is not None:
        feature_names = encoding.names_in
    missing = [n for n in feature_names if n not in columns]
    if missing:
        raise GradfitInputError(
            f"the model needs {len(feature_names)} feature columns ({_listing(feature_names)}) "
            f"but {path.name} lacks {_listing(missing)}; its columns are: {_listing(columns)}"
        )
    absent = [n for n in keep if n not in columns]
    if absent:
        raise GradfitInputError(
            f"column(s) {_listing(absent)} to keep are not in {path.name}; its columns are: "
            f"{_listing(columns)}"
        )
    text = path.suffix.lower() in (".csv", ".tsv", ".txt")
    _check_rows(
        frame,
        list(encoding.names_in if encoding is not None else feature_names),
        path.name,
        2 if text else None,
    )
    if encoding is not None:
        X_enc = encoding.transform(
            frame, unknown=unknown, label=path.name, first_line=2 if text else None
        )
        X_arr, _ = as_design_matrix(X_enc, name=path.name, check_scale=False)
    else:
        X_arr, _ = as_design_matrix(frame[list(feature_names)], name=path.name, check_scale=False)
    X64 = np.ascontiguousarray(X_arr, dtype=np.float64)
    Y64 = None
    if target_names and all(n in columns for n in target_names):
        try:
            Y, _, _ = as_targets(frame[list(target_names)], X64.shape[0], x_shape=X64.shape)
            Y64 = np.ascontiguousarray(Y, dtype=np.float64)
        except (GradfitInputError, TypeError):  # targets unknown here (blank, text): no score
            Y64 = None
    return X64, Y64, frame[list(keep)]
