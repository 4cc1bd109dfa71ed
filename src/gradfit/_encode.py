r"""Categorical columns: one-hot encoding with a reference level, learned once, stored, applied.

A table's text (string, object) and pandas ``category`` columns are encoded as
indicator columns named ``column=level``. The levels are learned when the model
is fitted, sorted (as :class:`sklearn.preprocessing.OneHotEncoder` sorts them),
stored in the model file, and applied unchanged at prediction.

With an intercept, the first level of each column is the **reference level**:
it gets no indicator column (the intercept holds it), so the design stays of full
rank and each coefficient is the difference from the reference level (R's
"treatment contrasts"). Without an intercept the first categorical column keeps
every level (they sum to the intercept's column) and the others drop their first.
The fitted values, and the predictions of any row whose levels were seen, are
those of ``OneHotEncoder`` + ``LinearRegression`` (one-hot of every level, the
minimum-norm least-squares answer): the column space is the same.

Booleans are numbers (False = 0, True = 1): that is the indicator of ``True``
with ``False`` as reference level, the encoding above.

A value not seen in fitting is an error naming the column and the value, or with
``unknown="zeros"`` all the column's indicators are 0 (the reference level).

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"region": ["north", "east", "west", "east"], "x": [1.0, 2, 3, 4]})
>>> enc = learn_encoding(frame, ["region", "x"], fit_intercept=True)
>>> enc.names_out
['region=north', 'region=west', 'x']
>>> enc.transform(frame).tolist()
[[1.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 1.0, 3.0], [0.0, 0.0, 4.0]]
>>> Encoding.from_dict(enc.to_dict()) == enc
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from ._files import printable

__all__ = [
    "MAX_LEVELS",
    "Column",
    "Encoding",
    "LevelCounter",
    "encode_dataframe",
    "is_categorical",
    "learn_encoding",
    "transform_dataframe",
]

F64 = NDArray[np.float64]

#: The most levels a categorical column may have (``max_levels=``, ``--max-levels``).
MAX_LEVELS = 100

#: Columns with a different value on every row are ids from this many rows on.
ID_ROWS = 20

#: ``unknown=`` values: what prediction does with a level not seen in fitting.
UNKNOWN = ("error", "zeros")


def _q(name: Any) -> str:
    return printable(repr(str(name)), 80)


def _numbers(values: Any) -> Any:
    """Which of the (non-missing) values read as numbers (a boolean Series)."""
    import pandas as pd

    return pd.to_numeric(values.astype(object), errors="coerce").notna()


def is_categorical(series: Any) -> bool:
    """Whether a pandas column is encoded: ``category``, or text none of whose values is a number.

    A text column mixing numbers and words is a numeric column with a bad value, not
    categories: it is left to the numeric checks, which name the value.

    Examples
    --------
    >>> import pandas as pd
    >>> is_categorical(pd.Series(["a", "b"])), is_categorical(pd.Series(["1", "2.5"]))
    (True, False)
    >>> is_categorical(pd.Series([True, False])), is_categorical(pd.Series([1.0, None]))
    (False, False)
    >>> is_categorical(pd.Series(["1", "2", "1_000"]))  # a typo in a numeric column
    False
    """
    import pandas as pd
    from pandas.api import types as ptypes

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if ptypes.is_bool_dtype(dtype) or ptypes.is_numeric_dtype(dtype):
        return False
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        values = series.dropna()
        if len(values) and all(isinstance(v, bool | np.bool_) for v in values):
            return False  # booleans with a missing value (object dtype): still numbers
        return bool(len(values)) and not bool(_numbers(values).any())
    return False


def _text(series: Any) -> Any:
    """The column's values as text (``str``), missing values kept as missing."""
    values = series.astype(object)
    mask = values.notna()
    out = values.where(~mask, values[mask].map(str)) if mask.any() else values
    return out


@dataclass(frozen=True)
class Column:
    """One input column: numeric (``levels`` None) or categorical with its sorted levels."""

    name: str
    levels: tuple[str, ...] | None = None
    drop_first: bool = False

    @property
    def names_out(self) -> list[str]:
        """The names of the columns this one becomes."""
        if self.levels is None:
            return [self.name]
        return [f"{self.name}={level}" for level in self.levels[int(self.drop_first) :]]


@dataclass(frozen=True)
class Encoding:
    """The encoding of a model's input columns (stored in the model file).

    ``names_in`` are the input columns (``feature_names_in_``), ``names_out`` the
    columns of ``coef_`` (``coef_names_``).
    """

    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def names_in(self) -> list[str]:
        """The input columns, in order."""
        return [c.name for c in self.columns]

    @property
    def names_out(self) -> list[str]:
        """The encoded columns, in order (``region=north``)."""
        return [n for c in self.columns for n in c.names_out]

    @property
    def categorical(self) -> list[str]:
        """The names of the categorical input columns."""
        return [c.name for c in self.columns if c.levels is not None]

    def transform(
        self, frame: Any, *, unknown: str = "error", label: str = "X", first_line: int | None = None
    ) -> F64:
        """The encoded float64 matrix of ``frame``'s input columns (extra columns are ignored).

        ``first_line`` is the file line of ``frame``'s first row, for messages (None:
        rows are counted from 0).
        """
        if unknown not in UNKNOWN:
            raise ValueError(f"unknown={unknown!r}: use 'error' or 'zeros'")
        import pandas as pd

        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise GradfitInputError(
                f"{label} lacks the column(s) {', '.join(_q(n) for n in missing)} the model "
                f"was fitted on; it needs: {', '.join(_q(n) for n in self.names_in)}"
            )
        n = len(frame)
        out = np.zeros((n, len(self.names_out)))
        j = 0
        for column in self.columns:
            series = frame[column.name]
            if column.levels is None:
                values = (
                    pd.to_numeric(series, errors="coerce") if series.dtype == object else series
                )
                try:
                    out[:, j] = np.asarray(values, dtype=np.float64)
                except (TypeError, ValueError):
                    raise GradfitInputError(
                        f"{label}: column {_q(column.name)} was numeric in fitting but holds "
                        f"text here (e.g. {_q(series.iloc[0])}); give the same kind of column"
                    ) from None
                j += 1
                continue
            text = _text(series)
            codes = pd.Index(list(column.levels)).get_indexer(text)  # -1: missing or unseen
            bad = codes < 0
            if bad.any():
                absent = bad & text.isna().to_numpy()
                if absent.any():
                    i = int(np.argmax(absent))
                    where = f"line {first_line + i}" if first_line is not None else f"row {i}"
                    raise GradfitInputError(
                        f"{label}: {where}, column {_q(column.name)} is missing; leave such "
                        "rows out (--missing drop; missing='drop' for a file; "
                        "DataFrame.dropna()) or fill them in"
                    )
                if unknown == "error":
                    i = int(np.argmax(bad))
                    where = f"line {first_line + i}" if first_line is not None else f"row {i}"
                    shown = ", ".join(_q(v) for v in column.levels[:20])
                    more = f", … ({len(column.levels)} in all)" if len(column.levels) > 20 else ""
                    raise GradfitInputError(
                        f"{label}: {where}, column {_q(column.name)} has the level "
                        f"{_q(text.iloc[i])}, not seen in fitting (levels: {shown}{more}); to "
                        "predict it as the reference level (every indicator 0), pass "
                        "--unknown zeros (unknown='zeros')"
                    )
            width = len(column.names_out)
            shift = int(column.drop_first)
            rows = np.flatnonzero(codes >= shift)
            out[rows, j + codes[rows] - shift] = 1.0
            j += width
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for the model file)."""
        return {
            "columns": [
                {
                    "name": c.name,
                    "levels": None if c.levels is None else list(c.levels),
                    "drop_first": c.drop_first,
                }
                for c in self.columns
            ]
        }

    @classmethod
    def from_dict(cls, data: Any) -> Encoding:
        """The encoding stored by :meth:`to_dict` (checked: ValueError when malformed)."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise ValueError("the encoding is not a mapping with a list of columns")
        columns = []
        for item in data["columns"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ValueError("an encoded column has no name")
            levels = item.get("levels")
            if levels is not None and (
                not isinstance(levels, list)
                or not levels
                or not all(isinstance(v, str) for v in levels)
                or len(set(levels)) != len(levels)
            ):
                raise ValueError(f"the levels of column {item['name']!r} are malformed")
            columns.append(
                Column(
                    item["name"],
                    None if levels is None else tuple(levels),
                    bool(item.get("drop_first", False)),
                )
            )
        return cls(tuple(columns))


def _too_many(name: str, count: int, max_levels: int, rows: int | None, label: str) -> str:
    hint = (
        "it looks like an id (a different value on every row)"
        if rows is not None and count >= rows
        else "it looks like an id or free text"
    )
    return (
        f"{label}: column {_q(name)} has {count} distinct values, more than max_levels="
        f"{max_levels} levels to one-hot encode: {hint}; leave it out with --exclude {name} "
        f"(exclude=[{name!r}]), or raise --max-levels (max_levels=)"
    )


class LevelCounter:
    """Collect the levels of categorical columns block by block (bounded by ``max_levels``).

    Examples
    --------
    >>> import pandas as pd
    >>> counter = LevelCounter(["c"], max_levels=3)
    >>> counter.add(pd.DataFrame({"c": ["b", "a"]})); counter.add(pd.DataFrame({"c": ["c", None]}))
    >>> counter.encoding(["c", "x"], fit_intercept=True).names_out
    ['c=b', 'c=c', 'x']
    >>> counter.add(pd.DataFrame({"c": ["d"]}))
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: data: column 'c' has 4 distinct values, more than ...
    """

    def __init__(self, names: Sequence[str], *, max_levels: int = MAX_LEVELS, label: str = "data"):
        if int(max_levels) < 1:
            raise ValueError(f"max_levels={max_levels!r}: use a positive integer")
        self.max_levels = int(max_levels)
        self.label = label
        self.levels: dict[str, set[str]] = {n: set() for n in names}
        self.rows = 0

    def add(self, frame: Any) -> None:
        """Add the levels of a block (a DataFrame holding the categorical columns).

        A column mixing numbers and words is refused: it is a numeric column with a
        bad value, not categories.
        """
        import pandas as pd

        self.rows += len(frame)
        for name, seen in self.levels.items():
            values = _text(frame[name]).dropna().unique()
            numbers = _numbers(pd.Series(values)).to_numpy()
            if numbers.any() and not numbers.all():
                word = values[int(np.argmin(numbers))]
                raise GradfitInputError(
                    f"{self.label}: column {_q(name)} is not numeric: it holds numbers such as "
                    f"{_q(values[int(np.argmax(numbers))])} and text such as {_q(word)}; fix "
                    "the values (gradfit reads numbers written with ASCII digits only), or "
                    "leave the column out with --exclude"
                )
            seen.update(values.tolist())
            if len(seen) > self.max_levels:
                raise GradfitInputError(
                    _too_many(name, len(seen), self.max_levels, self.rows, self.label)
                )

    def encoding(self, names: Iterable[str], *, fit_intercept: bool) -> Encoding:
        """The encoding of ``names`` (in order), categorical where levels were collected."""
        columns = []
        first = True
        for name in names:
            if name not in self.levels:
                columns.append(Column(str(name)))
                continue
            levels = tuple(sorted(self.levels[name]))
            if not levels:
                raise GradfitInputError(
                    f"{self.label}: column {_q(name)} has no values (every row is missing)"
                )
            if self.rows >= ID_ROWS and len(levels) >= self.rows:
                raise GradfitInputError(
                    f"{self.label}: column {_q(name)} has a different value on every one of "
                    f"its {self.rows} rows: it looks like an id, and one-hot encoding it would "
                    f"fit every row exactly; leave it out with --exclude {name} "
                    f"(exclude=[{name!r}])"
                )
            drop = fit_intercept or not first
            first = False
            columns.append(Column(str(name), levels, drop))
        return Encoding(tuple(columns))


def learn_encoding(
    frame: Any,
    names: Sequence[str],
    *,
    fit_intercept: bool = True,
    max_levels: int = MAX_LEVELS,
    label: str = "X",
) -> Encoding:
    """The encoding of ``frame``'s columns ``names`` (text ones by :func:`is_categorical`).

    Raises GradfitInputError for a column with more than ``max_levels`` levels, or
    one with a different value on every row (an id).
    """
    categorical = [n for n in names if is_categorical(frame[n])]
    counter = LevelCounter(categorical, max_levels=max_levels, label=label)
    if categorical:
        counter.add(frame[categorical])
    counter.rows = len(frame)
    return counter.encoding(names, fit_intercept=fit_intercept)


# -- tables: columns left out, missing values, encoding ----------------------------------------

#: ``missing=`` values: what a row with a missing value does.
MISSING = ("error", "drop")


def repeated(names: Sequence[str]) -> list[str]:
    """The names that occur more than once, in order of first repetition.

    Examples
    --------
    >>> repeated(["a", "b", "a", "c", "b"]), repeated(["a"])
    (['a', 'b'], [])
    """
    seen: set[str] = set()
    twice: list[str] = []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def check_unique(names: Sequence[str], what: str) -> None:
    """Refuse a list of column names that names a column twice.

    Examples
    --------
    >>> check_unique(["y", "y"], "target columns")
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: the target columns name 'y' twice; name each column once
    """
    twice = repeated([str(n) for n in names])
    if twice:
        raise GradfitInputError(
            f"the {what} name {', '.join(_q(n) for n in twice[:10])} twice; name each column once"
        )


def encode_dataframe(
    X: Any, *, fit_intercept: bool, label: str = "X"
) -> tuple[F64, Encoding] | None:
    """A DataFrame's text and ``category`` columns one-hot encoded, with the levels learnt.

    The one path by which the estimators (``GDRegressor``, ``GDRegressorCV``) encode a
    DataFrame in ``fit``; None when no column is categorical (nothing to encode).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"r": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    >>> encoded, encoding = encode_dataframe(X, fit_intercept=True)
    >>> encoding.names_out, encoded.tolist()
    (['r=b', 'x'], [[0.0, 1.0], [1.0, 2.0], [0.0, 3.0]])
    >>> encode_dataframe(X[["x"]], fit_intercept=True) is None
    True
    """
    if not any(is_categorical(X.iloc[:, j]) for j in range(X.shape[1])):
        return None
    columns = [str(c) for c in X.columns]
    frame = X.set_axis(columns, axis=1)
    encoding = learn_encoding(frame, columns, fit_intercept=fit_intercept, label=label)
    return encoding.transform(frame, label=label), encoding


def transform_dataframe(
    X: Any, encoding: Encoding, *, unknown: str = "error", label: str = "X"
) -> F64:
    """Encode a DataFrame with the levels of a fit (``predict``); unseen levels as ``unknown``."""
    frame = X.set_axis([str(c) for c in X.columns], axis=1)
    return encoding.transform(frame, unknown=unknown, label=label)


def index_like(name: str) -> bool:
    """Whether a header names a row index: empty, or ``Unnamed: 0`` as pandas writes it.

    Examples
    --------
    >>> index_like("Unnamed: 0"), index_like(""), index_like("age")
    (True, True, False)
    """
    text = str(name).strip()
    return text == "" or (text.startswith("Unnamed: ") and text[9:].isdigit())


def row_numbers(series: Any) -> bool:
    """Whether a column holds the row numbers 0..N-1 or 1..N (in order).

    Examples
    --------
    >>> import pandas as pd
    >>> row_numbers(pd.Series([0, 1, 2])), row_numbers(pd.Series([1, 2, 3]))
    (True, True)
    >>> row_numbers(pd.Series([3, 1, 2]))
    False
    """
    from pandas.api import types as ptypes

    if len(series) < 2 or not ptypes.is_integer_dtype(series.dtype):
        return False
    values = series.to_numpy()
    start = int(values[0])
    return start in (0, 1) and bool(np.array_equal(values, np.arange(start, start + len(values))))


def looks_like_id(series: Any) -> bool:
    """Whether an integer column holds a different value on every row (20 rows or more).

    Examples
    --------
    >>> import pandas as pd
    >>> looks_like_id(pd.Series(range(100, 130))), looks_like_id(pd.Series([1, 1] * 15))
    (True, False)
    """
    from pandas.api import types as ptypes

    return (
        len(series) >= ID_ROWS and ptypes.is_integer_dtype(series.dtype) and bool(series.is_unique)
    )


@dataclass
class Table:
    """A table made ready to fit: encoded features, targets, and what was done to get them."""

    X: F64
    Y: F64
    names: list[str]
    targets: list[str]
    features_in: list[str]
    encoding: Encoding | None
    dropped: int = 0
    notes: list[str] = field(default_factory=list)


def drop_missing(
    frame: Any, names: Sequence[str], missing: str, *, label: str, first_line: int | None
) -> tuple[Any, int]:
    """``frame`` less its rows missing a value in ``names`` (``missing="drop"``), and their count.

    With ``missing="error"`` such rows are an error that counts them and names the first.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", None]})
    >>> kept, dropped = drop_missing(frame, ["a", "b"], "drop", label="d.csv", first_line=2)
    >>> len(kept), dropped
    (1, 2)
    >>> drop_missing(frame, ["a", "b"], "error", label="d.csv", first_line=2)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: d.csv: 2 of 3 rows have missing values (the first: ...
    """
    if missing not in MISSING:
        raise ValueError(f"missing={missing!r}: use 'error' or 'drop'")
    absent = frame[list(names)].isna().to_numpy()
    rows = absent.any(axis=1)
    count = int(rows.sum())
    if count == 0:
        return frame, 0
    if missing == "error":
        i = int(np.argmax(rows))
        j = int(np.argmax(absent[i]))
        where = f"line {first_line + i}" if first_line is not None else f"row {i}"
        raise GradfitInputError(
            f"{label}: {count} of {len(frame)} rows have missing values (the first: {where}, "
            f"column {_q(names[j])}); leave them out with --missing drop (missing='drop'), "
            "or fill them in first"
        )
    kept = frame.loc[~rows].reset_index(drop=True).infer_objects()
    if len(kept) == 0:
        raise GradfitInputError(
            f"{label}: every one of its {len(frame)} rows has a missing value; nothing is left "
            "to fit with --missing drop"
        )
    return kept, count


def check_cells(frame: Any, names: Sequence[str], *, label: str, first_line: int) -> None:
    """Name, by its line in the file, the first cell of a numeric column that is text or infinite.

    Text columns (categorical by :func:`is_categorical`) are skipped; missing values are
    left to :func:`drop_missing`.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, float("inf")], "y": ["1", "x"]})
    >>> check_cells(frame, ["y"], label="d.csv", first_line=2)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: d.csv: line 3, column 'y' is not numeric: ...
    >>> check_cells(frame, ["a"], label="d.csv", first_line=2)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: d.csv: line 3, column 'a' holds inf; ...
    """
    import pandas as pd
    from pandas.api import types as ptypes

    for name in names:
        series = frame[name]
        if ptypes.is_bool_dtype(series.dtype) or isinstance(series.dtype, pd.CategoricalDtype):
            continue
        if ptypes.is_numeric_dtype(series.dtype):
            values = np.asarray(series, dtype=np.float64)
            bad = np.isinf(values)
            if bad.any():
                i = int(np.argmax(bad))
                raise GradfitInputError(
                    f"{label}: line {first_line + i}, column {_q(name)} holds {values[i]}; "
                    "gradfit needs finite numbers: fix or drop that row"
                )
            continue
        if is_categorical(series):
            continue
        present = series.notna().to_numpy()
        numbers = _numbers(series).to_numpy()
        bad = present & ~numbers
        if bad.any():
            i = int(np.argmax(bad))
            raise GradfitInputError(
                f"{label}: line {first_line + i}, column {_q(name)} is not numeric: it holds "
                f"{_q(series.iloc[i])} among numbers; fix the value (gradfit reads numbers "
                "written with ASCII digits only), or leave the column out with --exclude"
            )


def prepare_table(
    frame: Any,
    targets: Sequence[str],
    features: Sequence[str],
    *,
    default_features: bool,
    missing: str = "error",
    fit_intercept: bool = True,
    max_levels: int = MAX_LEVELS,
    label: str = "data",
    first_line: int | None = 2,
) -> Table:
    """Leave out index columns, handle missing values, encode the categorical columns.

    ``default_features`` says the features were not named: a column whose header
    says it is a row index (empty, or ``Unnamed: 0`` as pandas writes an index) is
    then left out with a note. An integer column that holds the row numbers
    (0..N-1 or 1..N) or a different value on every row (20 rows or more) is kept,
    with a note that it may be an index or an id.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"Unnamed: 0": [0, 1, 2, 3], "c": ["a", "b", "a", "b"],
    ...                       "x": [1.0, 2.0, 4.0, 3.0], "y": [1.0, 2.0, 3.0, 5.0]})
    >>> t = prepare_table(frame, ["y"], ["Unnamed: 0", "c", "x"], default_features=True)
    >>> t.names, t.features_in
    (['c=b', 'x'], ['c', 'x'])
    >>> t.notes[0][:60]
    "left out column 'Unnamed: 0': its header says it is a row in"
    """
    notes: list[str] = []
    feature_list = list(features)
    if default_features:
        kept = [n for n in feature_list if not index_like(n)]
        for name in feature_list:
            if name not in kept:
                notes.append(
                    f"left out column {_q(name)}: its header says it is a row index written "
                    "with the table (name it with --features to use it)"
                )
        if not kept:
            raise GradfitInputError(
                f"{label}: no feature columns are left once the row index "
                f"{', '.join(_q(n) for n in feature_list)} is left out; name them with --features"
            )
        feature_list = kept
    for name in feature_list:
        series = frame[name]
        if row_numbers(series):
            notes.append(
                f"column {_q(name)} holds the row numbers {int(series.iloc[0])}..."
                f"{int(series.iloc[-1])}: if it is an index, leave it out with --exclude {name}"
            )
        elif looks_like_id(series):
            notes.append(
                f"column {_q(name)} holds a different integer on every row: if it is an id, "
                f"leave it out with --exclude {name}"
            )
    if first_line is not None:
        check_cells(frame, [*feature_list, *targets], label=label, first_line=first_line)
    frame, dropped = drop_missing(
        frame, [*feature_list, *targets], missing, label=label, first_line=first_line
    )
    encoding = learn_encoding(
        frame, feature_list, fit_intercept=fit_intercept, max_levels=max_levels, label=label
    )
    from ._validation import as_targets

    if encoding.categorical:
        X = encoding.transform(frame, label=label)
        names = encoding.names_out
        if not names:
            raise GradfitInputError(
                f"{label}: the categorical column(s) {', '.join(encoding.categorical)} have one "
                "level each and no other feature is left; there is nothing to fit"
            )
        import pandas as pd

        from ._validation import as_design_matrix

        as_design_matrix(pd.DataFrame(X, columns=names, copy=False), name=label)  # finite, scale
    else:
        from ._validation import as_design_matrix

        X_arr, _ = as_design_matrix(frame[feature_list], name=label)
        X = np.ascontiguousarray(X_arr, dtype=np.float64)
        names = list(feature_list)
    Y, _, _ = as_targets(frame[list(targets)], X.shape[0], x_shape=X.shape)
    return Table(
        np.ascontiguousarray(X, dtype=np.float64),
        np.ascontiguousarray(Y, dtype=np.float64),
        names,
        list(targets),
        feature_list,
        encoding if encoding.categorical else None,
        dropped,
        notes,
    )
