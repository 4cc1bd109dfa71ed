"""Input validation with messages that name the cause and the fix.

Every check here runs before any arithmetic, so a user never sees a traceback
from deep inside NumPy. Arrays that are already float32 or float64 are used as
they are (no copy); everything else numeric is converted to float64 once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from .problem.kernels import HAVE_NUMBA, column_scan

__all__ = [
    "MagnitudeError",
    "as_design_matrix",
    "as_sample_weight",
    "as_targets",
    "check_magnitude",
    "column_magnitudes",
    "design_scan",
    "gram_proves_design",
    "power_of_two_scales",
    "rescale_exponents",
    "scannable",
]

FloatArray = NDArray[np.floating[Any]]

#: Every column's largest magnitude must lie in ``[MIN_MAGNITUDE, MAX_MAGNITUDE]`` (or the
#: column be all zero). The solvers form norms of gradients and of curvature products,
#: which reach the fourth power of the data: beyond 1e50 they overflow float64 (1.8e308),
#: below 1e-50 they underflow, with some configurations (``standardize=False``, the data
#: path) and give infinities or silently zero coefficients.
MAX_MAGNITUDE = 1e50
MIN_MAGNITUDE = 1e-50

#: Values per block when scanning for the largest magnitudes (bounds the temporary).
_SCAN_VALUES = 1 << 20


def _is_dataframe(obj: object) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "dtypes") and hasattr(obj, "to_numpy")


def _is_sparse(obj: object) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return bool(sp.issparse(obj))


def _label(names: Sequence[str] | None, j: int) -> str:
    return f"column {j} ({_shown(names[j])})" if names is not None else f"column {j}"


def _frame_to_array(frame: Any, name: str) -> tuple[np.ndarray, list[str]]:
    """Convert a pandas DataFrame, naming the first non-numeric column."""
    from pandas.api import types as ptypes

    names = [str(c) for c in frame.columns]
    for j, dtype in enumerate(frame.dtypes):
        series = frame.iloc[:, j]
        if ptypes.is_bool_dtype(dtype) or (
            ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype)
        ):
            continue
        if ptypes.is_complex_dtype(dtype):
            raise GradfitInputError(
                f"Complex data not supported: {name} {_label(names, j)} is complex. "
                "Split it into real and imaginary columns."
            )
        values = series.to_numpy()
        if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
            if _try_numeric(values) is not None:
                continue
            row = _first_non_numeric(values)
            note = ""
            if _exotic(values[row]):
                note = (
                    "; gradfit reads numbers written with ASCII digits only, without '_' "
                    "separators or full-width characters"
                )
            raise GradfitInputError(
                f"{name} {_label(names, j)} is not numeric (dtype {dtype}, value "
                f"{_shown(values[row])} at row {row}{note}). Convert it with "
                "pandas.to_numeric, encode it as numbers (e.g. pandas.get_dummies for "
                "categories) or drop the column."
            )
        first = series.iloc[0] if len(series) else None
        kind = "dates/times" if ptypes.is_datetime64_any_dtype(dtype) else f"dtype {dtype}"
        raise GradfitInputError(
            f"{name} {_label(names, j)} is not numeric ({kind}, first value {_shown(first)}). "
            "Encode it as numbers (e.g. pandas.get_dummies for categories, "
            "or a timestamp in seconds for dates) or drop the column."
        )
    # Nullable pandas dtypes (Int64, boolean, Float32) are not NumPy dtypes; compare
    # the NumPy dtype they hold.
    dtypes = {_numpy_dtype(d) for d in frame.dtypes}
    target = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
    try:
        array = frame.to_numpy(dtype=target, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise GradfitInputError(f"{name} could not be converted to numbers: {err}") from err
    return array, names


def _numpy_dtype(dtype: Any) -> np.dtype[Any]:
    try:
        return np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:  # a pandas extension dtype without a NumPy equivalent (str)
        return np.dtype(object)


def _exotic(value: object) -> bool:
    """Text ``float()`` accepts but a data file should not: full-width digits, ``1_000``."""
    return isinstance(value, str) and (not value.isascii() or "_" in value)


def _try_numeric(values: np.ndarray) -> np.ndarray | None:
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if values.dtype.kind in "OU" and any(_exotic(v) for v in values.ravel()):
        return None
    return numbers


def _first_non_numeric(values: np.ndarray) -> int:
    """Index of the first entry of a 1-D object array that ``float()`` rejects."""
    for i, value in enumerate(values):
        if _exotic(value):
            return i
        try:
            float(value)
        except (TypeError, ValueError):
            return i
    return 0


def _shown(value: object) -> str:
    """A value for a one-line message: its repr, control characters escaped, cut."""
    from ._files import printable

    return printable(repr(value), 80)


def _object_to_float(array: np.ndarray, name: str, names: Sequence[str] | None) -> np.ndarray:
    try:
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as err:
        flat = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, 1)
        for index, value in np.ndenumerate(flat):
            try:
                float(value)
            except (TypeError, ValueError):
                row, col = index
                where = f"row {row}, {_label(names, col)}" if array.ndim == 2 else f"position {row}"
                if isinstance(value, complex | np.complexfloating):
                    raise GradfitInputError(
                        f"Complex data not supported: {name} has a complex value {_shown(value)} "
                        f"at {where}. Split it into real and imaginary columns."
                    ) from err
                raise TypeError(
                    f"{name} has a non-numeric value {_shown(value)} at {where} "
                    f"({err}: argument must be a string or a number). "
                    "Convert or drop non-numeric columns before fitting."
                ) from err
        raise TypeError(f"{name} could not be converted to float: {err}") from err


def _to_float_array(obj: object, name: str, names: Sequence[str] | None) -> np.ndarray:
    if _is_sparse(obj):
        raise TypeError(
            f"{name} is a scipy sparse matrix: GDRegressor.fit and predict take sparse input, "
            f"but this step (e.g. partial_fit) needs a dense array. Convert it with "
            f"{name}.toarray() if it fits in memory."
        )
    if obj is None:
        raise GradfitInputError(
            f"{name} is None; expected array-like (array or non-string sequence), got None. "
            f"Pass {name} as a NumPy array, a list of rows or a pandas object."
        )
    try:
        array = obj if isinstance(obj, np.ndarray) else np.asarray(obj)
    except ValueError as err:
        raise GradfitInputError(
            f"{name} could not be made into an array ({err}). Every row must hold the same "
            "number of values; pad or drop the ragged rows."
        ) from err
    if array.dtype.kind == "c":
        raise GradfitInputError(
            f"Complex data not supported: {name} has dtype {array.dtype}. "
            "Split it into real and imaginary columns."
        )
    if array.dtype.kind == "O":
        array = _object_to_float(array, name, names)
    elif array.dtype.kind in "US":
        raise GradfitInputError(
            f"{name} holds strings (dtype {array.dtype}); convert them to numbers first "
            "(argument must be a string or a number that float() accepts)."
        )
    elif array.dtype.kind == "M" or array.dtype.kind == "m":
        raise GradfitInputError(
            f"{name} holds dates or durations (dtype {array.dtype}); convert them to numbers "
            "(e.g. seconds since an origin) before fitting."
        )
    elif array.dtype.kind == "V":
        raise GradfitInputError(f"{name} is a structured array; pass a plain numeric array.")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _check_finite(array: np.ndarray, name: str, names: Sequence[str] | None) -> None:
    # A finite sum proves every entry finite (inf and NaN propagate); only when
    # the sum is not finite (or overflowed) do we pay for the exact search.
    with np.errstate(over="ignore", invalid="ignore"):
        total = array.sum(dtype=np.float64)
    if np.isfinite(total):
        return
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    value = array[index]
    what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    count = int(bad.sum())
    if array.ndim == 2:
        where = f"row {index[0]}, {_label(names, index[1])}"
    else:
        where = f"position {index[0]}"
    raise GradfitInputError(
        f"Input {name} contains {what} at {where} ({count} non-finite value(s) in all; "
        "NaN and infinity are not allowed). Drop or impute those rows, "
        "e.g. with sklearn.impute.SimpleImputer."
    )


def _column_magnitudes(array: np.ndarray) -> NDArray[np.float64]:
    """Largest absolute value of each column (of a 2-D array), scanned in row blocks."""
    flat = array.reshape(array.shape[0], -1)
    out = np.zeros(flat.shape[1])
    step = max(1, _SCAN_VALUES // max(flat.shape[1], 1))
    for start in range(0, flat.shape[0], step):
        np.maximum(out, np.abs(flat[start : start + step]).max(axis=0), out=out)
    return out


class MagnitudeError(GradfitInputError):
    """Columns beyond ``1e±50`` where they cannot be rescaled (a penalty, or a raw check).

    The command line's in-memory reader refuses such tables; its ``fit`` then streams
    them through the file source, which rescales by powers of two.
    """


def check_magnitude(
    magnitudes: NDArray[np.float64], name: str, names: Sequence[str] | None = None
) -> None:
    """Refuse columns whose magnitude float64 arithmetic cannot carry through a fit.

    Parameters
    ----------
    magnitudes : ndarray of shape (D,)
        The largest absolute value of each column.
    name : str
        How the message refers to the data (``"X"``, ``"y"``, a file name).
    names : sequence of str, optional
        Column names, for the message.

    Raises
    ------
    GradfitInputError
        A column's largest magnitude is above :data:`MAX_MAGNITUDE` (1e50: "overflows")
        or positive and below :data:`MIN_MAGNITUDE` (1e-50: "underflows"). The message
        names the column, its magnitude and says to rescale.

    Examples
    --------
    >>> check_magnitude(np.array([1.0, 0.0]), "X")
    >>> check_magnitude(np.array([1.0, 3e-300]), "X", ["a", "b"])
    Traceback (most recent call last):
    ...
    gradfit._validation.MagnitudeError: X column 1 ('b') is too small: ...
    """
    large = np.flatnonzero(magnitudes > MAX_MAGNITUDE)
    small = np.flatnonzero((magnitudes > 0) & (magnitudes < MIN_MAGNITUDE))
    if not (large.size or small.size):
        return
    j = int(large[0] if large.size else small[0])
    what = name if magnitudes.size == 1 and names is None else f"{name} {_label(names, j)}"
    if large.size:
        cause = (
            f"is too large: its largest magnitude {magnitudes[j]:.3g} exceeds {MAX_MAGNITUDE:g} "
            f"({large.size} such column(s)); the solvers' norms reach the fourth power of the "
            "data, which then overflows float64 arithmetic"
        )
    else:
        cause = (
            f"is too small: its largest magnitude {magnitudes[j]:.3g} is below "
            f"{MIN_MAGNITUDE:g} ({small.size} such column(s)); the solvers' norms reach the "
            "fourth power of the data, which then underflows float64 arithmetic to zero"
        )
    raise MagnitudeError(
        f"{what} {cause}. Fix: rescale X and y, e.g. divide each column by its largest "
        "absolute value (or multiply it by a power of ten), and fit again; the coefficients "
        "scale back by the same factors."
    )


def power_of_two_scales(magnitudes: NDArray[np.float64]) -> NDArray[np.int64] | None:
    """Exponents ``e`` that bring each column's largest magnitude into ``[0.5, 1)``, or None.

    None when every column is already within ``[MIN_MAGNITUDE, MAX_MAGNITUDE]`` (or all
    zero). Scaling by ``2**-e`` is exact in binary floating point (no digit is lost), so
    a fit of the rescaled data, with its coefficients scaled back, is the fit of the data.

    Examples
    --------
    >>> power_of_two_scales(np.array([1.0, 0.0])) is None
    True
    >>> power_of_two_scales(np.array([1e150, 3.0, 0.0]))
    array([499,   2,   0])
    """
    magnitudes = np.asarray(magnitudes, dtype=np.float64)
    if not _outside(magnitudes).any():
        return None
    _, exponents = np.frexp(magnitudes)
    return np.where(magnitudes > 0, exponents, 0).astype(np.int64)


def rescale_exponents(
    x_magnitudes: NDArray[np.float64],
    y_magnitudes: NDArray[np.float64],
    *,
    alpha: float,
    name: str = "X",
    names: Sequence[str] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Per-column powers of two that bring X's and y's columns into range, or None.

    Every source calls this with the largest magnitude of each column: None when
    all are within ``[MIN_MAGNITUDE, MAX_MAGNITUDE]``; otherwise the exponents of
    :func:`power_of_two_scales` for X and y (zeros for columns in range). With
    ``alpha > 0`` the penalty would change with the scaling, so such data is
    refused (:func:`check_magnitude`) with the advice to rescale.

    Parameters
    ----------
    x_magnitudes, y_magnitudes : ndarray of shape (D,) and (K,)
    alpha : float
        The penalty of the fit.
    name : str, default="X"
        How a refusal names the data (a file's path for files).
    names : sequence of str, optional
        The names of the D + K columns, for a refusal.

    Examples
    --------
    >>> rescale_exponents(np.array([1.0, 2.0]), np.array([3.0]), alpha=0.0) is None
    True
    >>> x_exp, y_exp = rescale_exponents(np.array([1e150, 2.0]), np.array([3.0]), alpha=0.0)
    >>> x_exp.tolist(), y_exp.tolist()
    ([499, 0], [0])
    """
    x_exp = power_of_two_scales(x_magnitudes)
    y_exp = power_of_two_scales(y_magnitudes)
    if x_exp is None and y_exp is None:
        return None
    if alpha > 0:
        if names is None:
            check_magnitude(x_magnitudes, name)
            check_magnitude(y_magnitudes, "y" if name == "X" else name)
        check_magnitude(np.concatenate([x_magnitudes, y_magnitudes]), name, names)
    D, K = len(x_magnitudes), len(y_magnitudes)
    # only the columns out of range move: those in range keep their digits and units
    x_out = np.zeros(D, np.int64) if x_exp is None else _outside_only(x_magnitudes, x_exp)
    y_out = np.zeros(K, np.int64) if y_exp is None else _outside_only(y_magnitudes, y_exp)
    return x_out, y_out


def _outside(magnitudes: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Columns whose largest magnitude lies beyond ``[MIN_MAGNITUDE, MAX_MAGNITUDE]`` (not 0)."""
    return (magnitudes > MAX_MAGNITUDE) | ((magnitudes > 0) & (magnitudes < MIN_MAGNITUDE))


def _outside_only(magnitudes: NDArray[np.float64], exponents: NDArray[np.int64]) -> Any:
    return np.where(_outside(magnitudes), exponents, 0).astype(np.int64)


def column_magnitudes(array: np.ndarray) -> NDArray[np.float64]:
    """Largest absolute value of each column (of a 2-D array)."""
    if _scannable(array):
        return np.asarray(column_scan(array)[0], dtype=np.float64)
    return _column_magnitudes(array)


def as_design_matrix(
    X: object, *, name: str = "X", check_scale: bool = True, scan: bool = True
) -> tuple[FloatArray, list[str] | None]:
    """Validate a feature matrix and return it as a 2-D float array.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (N, D)
        The features. float32 and float64 arrays are used without a copy.
    name : str, default="X"
        How messages refer to the argument.
    check_scale : bool, default=True
        Refuse columns out of float64's reach (:func:`check_magnitude`); data to
        fit needs it, data to predict from does not (``X @ coef`` forms no powers of X).
    scan : bool, default=True
        Check finiteness (and the scale) here. With ``scan=False`` a large
        C-contiguous float array (one :func:`design_scan` would read in parallel)
        is returned unchecked: the caller proves it finite and in range another
        way (the statistics pass, :func:`gram_proves_design`) or calls
        :func:`design_scan` itself. Other arrays are checked as usual.

    Returns
    -------
    X : ndarray of shape (N, D), float32 or float64
    feature_names : list of str or None
        Column names when ``X`` is a DataFrame.

    Examples
    --------
    >>> X, names = as_design_matrix([[1, 2], [3, 4]])
    >>> X.dtype, X.shape, names
    (dtype('float64'), (2, 2), None)
    >>> as_design_matrix([1.0, 2.0])
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: Expected 2D array, got 1D array instead: ...
    """
    names: list[str] | None = None
    if _is_dataframe(X):
        array, names = _frame_to_array(X, name)
    else:
        array = _to_float_array(X, name, None)
    if array.ndim == 1:
        raise GradfitInputError(
            f"Expected 2D array, got 1D array instead: {name}.shape={array.shape}. "
            f"Reshape your data either using {name}.reshape(-1, 1) if your data has a "
            f"single feature or {name}.reshape(1, -1) if it contains a single sample."
        )
    if array.ndim == 0:
        raise GradfitInputError(
            f"Expected 2D array, got scalar array instead: {name}={array!r}. "
            f"Pass a 2-D array of shape (n_samples, n_features)."
        )
    if array.ndim > 2:
        raise GradfitInputError(
            f"Found array with dim {array.ndim}; expected 2-D {name} of shape "
            f"(n_samples, n_features), got shape {array.shape}. "
            f"Flatten the trailing axes with {name}.reshape({array.shape[0]}, -1)."
        )
    if array.shape[0] == 0:
        raise GradfitInputError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is "
            f"required: {name} is empty. Pass at least one row."
        )
    if array.shape[1] == 0:
        raise GradfitInputError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is "
            f"required: {name} has no columns. Pass at least one feature column."
        )
    if _scannable(array):
        if not scan:
            return array, names  # the caller checks it (see ``scan``)
        magnitudes = design_scan(array, name, names)
        if check_scale:
            check_magnitude(magnitudes, name, names)
        return array, names
    _check_finite(array, name, names)
    if check_scale:
        check_magnitude(_column_magnitudes(array), name, names)
    return array, names


def design_scan(
    array: np.ndarray, name: str = "X", names: list[str] | None = None
) -> NDArray[np.float64]:
    """Refuse non-finite entries (naming the first) and return each column's largest magnitude.

    One parallel read when the array is scannable (a finite sum of all entries
    proves every entry finite); NumPy otherwise.

    Examples
    --------
    >>> design_scan(np.array([[1.0, -3.0], [2.0, 0.5]]))
    array([2., 3.])
    """
    if _scannable(array):
        magnitudes, total = column_scan(array)
        if not np.isfinite(total):
            _check_finite(array, name, names)  # finds (and names) the bad entry
        return np.asarray(magnitudes, dtype=np.float64)
    _check_finite(array, name, names)
    return _column_magnitudes(array)


def gram_proves_design(mean_squares: NDArray[np.float64], n_rows: int) -> bool:
    """Whether ``mean(x²)`` per column proves X finite and within the range the fit needs.

    A NaN or infinity in a column makes its ``Σx²`` non-finite (the diagonal of
    ``XᵀX`` propagates it whatever BLAS does), and ``√mean(x²) ≤ max|x| ≤
    √(N·mean(x²))``, so when every column's bounds lie within
    ``[MIN_MAGNITUDE, MAX_MAGNITUDE]`` (with a factor 2 for rounding) no entry
    is non-finite and no column needs rescaling: the statistics pass replaces
    :func:`design_scan`'s read of X. A zero mean square (an all-zero column, or
    entries whose squares underflow) proves nothing: False, and the caller
    scans.

    Examples
    --------
    >>> gram_proves_design(np.array([1.0, 4.0]), 1000)
    True
    >>> gram_proves_design(np.array([1.0, np.inf]), 1000), gram_proves_design(np.zeros(1), 10)
    (False, False)
    >>> gram_proves_design(np.array([1e-120]), 10)  # max|x| may be below 1e-50
    False
    """
    m = np.asarray(mean_squares, dtype=np.float64)
    if m.size == 0 or not np.all(np.isfinite(m)) or not np.all(m > 0):
        return False
    with np.errstate(over="ignore"):
        upper = np.sqrt(m) * math.sqrt(max(1, n_rows))
    lower = np.sqrt(m)
    return bool(np.all(upper <= 0.5 * MAX_MAGNITUDE) and np.all(lower >= 2.0 * MIN_MAGNITUDE))


def scannable(array: np.ndarray) -> bool:
    """Whether :func:`design_scan` reads ``array`` with the parallel kernel (large, C-ordered).

    Examples
    --------
    >>> scannable(np.ones((10, 2))), scannable(np.ones((1 << 16, 2)))
    (False, True)
    """
    return _scannable(array)


def _scannable(array: np.ndarray) -> bool:
    return bool(
        HAVE_NUMBA
        and array.ndim == 2
        and array.flags.c_contiguous
        and array.dtype in (np.float32, np.float64)
        and array.shape[0] * array.shape[1] >= 1 << 16
    )


def as_targets(
    y: object, n_rows: int, *, x_shape: tuple[int, ...] | None = None, check_scale: bool = True
) -> tuple[FloatArray, bool, list[str] | None]:
    """Validate targets and return them as a 2-D (N, K) float64 array.

    Parameters
    ----------
    y : array-like of shape (N,) or (N, K), or pandas Series/DataFrame
        The targets.
    n_rows : int
        The number of rows of ``X``.
    x_shape : tuple of int, optional
        The shape of ``X``, used only to suggest a fix when the rows mismatch.

    Returns
    -------
    Y : ndarray of shape (N, K), float32 or float64 (as given; others become float64)
    was_1d : bool
        Whether ``y`` was one-dimensional (predictions then come back 1-D).
    target_names : list of str or None
        Column names when ``y`` is a DataFrame, the name of a Series.

    Examples
    --------
    >>> Y, was_1d, _ = as_targets([1.0, 2.0, 3.0], 3)
    >>> Y.shape, was_1d
    ((3, 1), True)
    """
    target_names: list[str] | None = None
    if y is None:
        raise GradfitInputError(
            "GDRegressor requires y to be passed, but the target y is None. "
            "Pass the target values, one per row of X: fit(X, y)."
        )
    if _is_dataframe(y):
        array, target_names = _frame_to_array(y, "y")
    else:
        series_name = getattr(y, "name", None)
        if series_name is not None and hasattr(y, "to_numpy"):
            target_names = [str(series_name)]
        array = _to_float_array(y, "y", None)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)  # float32 targets stay float32: no N×K copy
    shape_hint = (
        f"X.shape={x_shape}, y.shape={array.shape}" if x_shape else f"y.shape={array.shape}"
    )
    if array.ndim == 0:
        raise GradfitInputError(
            f"y is a scalar; expected one target value per row of X ({shape_hint})."
        )
    if array.ndim > 2:
        raise GradfitInputError(
            f"y has {array.ndim} dimensions; expected (n_samples,) or (n_samples, n_targets) "
            f"({shape_hint}). Use y.reshape({array.shape[0]}, -1)."
        )
    if array.shape[0] != n_rows:
        fix = ""
        if array.ndim == 2 and array.shape[1] == n_rows and array.shape[0] == 1:
            fix = " y looks like a row vector: use y.ravel() (one output) or y.T."
        elif array.ndim == 2 and array.shape[1] == n_rows:
            fix = " y looks transposed: use y.T so that each row is one sample."
        elif x_shape is not None and len(x_shape) == 2 and x_shape[1] == array.shape[0]:
            fix = " X looks transposed: use X.T so that each row is one sample."
        else:
            fix = " Each row of X is one sample and needs one row of y."
        raise GradfitInputError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_rows}, {array.shape[0]}] ({shape_hint}).{fix}"
        )
    if array.ndim == 2 and array.shape[1] == 0:
        raise GradfitInputError(f"y has 0 target columns ({shape_hint}); pass at least one.")
    _check_finite(array, "y", target_names)
    if check_scale:
        check_magnitude(_column_magnitudes(array), "y", target_names)
    was_1d = array.ndim == 1
    return (array[:, None] if was_1d else array), was_1d, target_names


def as_sample_weight(sample_weight: object, n_rows: int) -> NDArray[np.float64] | None:
    """Validate sample weights: one finite, non-negative number per row, not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (N,), scalar, or None
        ``None`` means every row counts equally.
    n_rows : int
        The number of rows of ``X``.

    Returns
    -------
    ndarray of shape (N,) or None

    Examples
    --------
    >>> as_sample_weight([1, 2, 0], 3)
    array([1., 2., 0.])
    >>> as_sample_weight([1, -2, 0], 3)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: sample_weight has a negative value -2.0 ...
    """
    if sample_weight is None:
        return None
    array = _to_float_array(sample_weight, "sample_weight", None).astype(np.float64, copy=False)
    if array.ndim == 0:
        array = np.full(n_rows, float(array))
    if array.ndim != 1:
        raise GradfitInputError(
            f"sample_weight must be 1-D with one weight per row, got shape {array.shape}. "
            "Use sample_weight.ravel() if it is a column."
        )
    if array.shape[0] != n_rows:
        raise GradfitInputError(
            f"sample_weight has {array.shape[0]} entries but X has {n_rows} rows: pass one "
            "weight per row of X (sample_weight.shape should be "
            f"({n_rows},), got {array.shape})."
        )
    _check_finite(array, "sample_weight", None)
    with np.errstate(over="ignore"):
        total = float(np.abs(array).sum())
    if not np.isfinite(total):
        raise GradfitInputError(
            f"sample_weight sums to more than float64 can hold (largest weight "
            f"{float(np.abs(array).max()):.3g}); only the ratios of the weights matter, so "
            "divide them by their largest value and fit again."
        )
    negative = np.flatnonzero(array < 0)
    if negative.size:
        i = int(negative[0])
        raise GradfitInputError(
            f"sample_weight has a negative value {array[i]} at position {i}; weights must be "
            "non-negative (use 0 to leave a row out)."
        )
    if not np.any(array > 0):
        raise GradfitInputError(
            "sample_weight is zero for every row, so there is nothing to fit; give at least "
            "one row a positive weight."
        )
    return array
