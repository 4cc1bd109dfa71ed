r"""Dask inputs: ``dask.array`` and ``dask.dataframe`` fitted on a cluster.

``GDRegressor().fit(X, y)`` with ``X`` a Dask array (rows in chunks, all
columns in one chunk per row block — other chunkings are rechunked lazily) or
a Dask DataFrame (every column is a feature) and ``y`` the matching Dask
array, Series or DataFrame. The collection is never gathered on the client.

Stats engine (the default for ``D ≤ STATS_MAX_FEATURES``)
    Every partition's raw moments are computed where the partition lives and
    the small results (``O(D²)`` each) are added on the client **in partition
    order**: one reduction for the whole fit, and sums that do not depend on
    which worker finished first. When centring the raw moments would cancel
    (see :data:`~gradfit.problem.gram.CANCELLATION_LIMIT`) a second reduction about the
    means follows, as in memory.
Data path (``gradient="data"``, many features, ``method="exact"``'s refinement)
    The partitions, converted to float64 NumPy blocks, are persisted on the
    workers once; each gradient or Hessian-vector product is one round trip
    that sends ``W`` (D×K) and receives one ``Xᵀr`` partial sum per partition.

The computations go through the default scheduler: connect a
``distributed.Client`` first (``Client("tcp://scheduler:8786")`` for an
existing cluster) and they run there; without one Dask's local threads run them.
This module imports Dask only when a Dask collection is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .._validation import gram_proves_design, rescale_exponents
from ..problem.moments import (
    Moments,
    block_moments,
    needs_second_pass,
    statistics_from_moments,
    sum_moments,
)
from ..problem.objective import PassObjective, Problem
from .base import Source, check_options, register

__all__ = ["DaskProblem", "DaskSource", "accepts_dask"]

F64 = NDArray[np.float64]

#: Number of ``compute`` round trips made by this module (for tests and benchmarks).
ROUND_TRIPS = 0


def _compute(*objs: Any) -> tuple[Any, ...]:
    """Compute Dask objects in one round trip (through the default scheduler)."""
    import dask

    global ROUND_TRIPS
    ROUND_TRIPS += 1
    return tuple(dask.compute(*objs))


def accepts_dask(X: Any) -> bool:
    """Whether ``X`` is a Dask collection (checked without importing Dask).

    Examples
    --------
    >>> accepts_dask(np.zeros((2, 2)))
    False
    """
    return type(X).__module__.startswith(("dask.", "dask_expr"))


# -- partitions → float64 blocks (these run on the workers) ------------------------------


def _as_block(part: Any, index: int, names: list[str] | None, role: str, scan: bool) -> F64:
    A = part.to_numpy(dtype=np.float64) if hasattr(part, "to_numpy") else np.asarray(part)
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 1:
        A = A[:, None]
    if not (A.flags.c_contiguous or A.flags.f_contiguous):
        # a frame's to_numpy is column-major: kept so (the Gram kernel packs it by columns)
        A = np.ascontiguousarray(A)
    if not scan:
        return A
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        column = repr(names[j]) if names is not None and j < len(names) else str(j)
        raise GradfitInputError(
            f"{role} partition {index}, row {i} of the partition, column {column} holds "
            f"{A[i, j]}; gradfit needs finite numbers. Fix: drop or impute those rows "
            "(e.g. ddf.dropna()) before fitting."
        )
    return A


def _block_pair(
    Xp: Any,
    Yp: Any,
    index: int,
    names: list[str] | None,
    ynames: list[str] | None,
    scan: bool = True,
) -> tuple[F64, F64]:
    """A partition's ``(X, Y)`` float64 blocks; ``scan`` names the first non-finite entry."""
    X = _as_block(Xp, index, names, "X", scan)
    Y = _as_block(Yp, index, ynames, "y", scan)
    if X.shape[0] != Y.shape[0]:
        raise GradfitInputError(
            f"partition {index} has {X.shape[0]} rows of X but {Y.shape[0]} of y; X and y "
            "must be partitioned alike"
        )
    return X, Y


def _pair_moments(pair: tuple[F64, F64], shift_x: Any, shift_y: Any, diagonal: bool) -> Moments:
    with np.errstate(over="ignore", invalid="ignore"):  # columns beyond 1e±50: rescaled after
        return block_moments(pair[0], pair[1], shift_x, shift_y, diagonal=diagonal)


def _pair_magnitudes(pair: tuple[F64, F64]) -> tuple[F64, F64]:
    X, Y = pair
    x_max = np.abs(X).max(axis=0) if X.shape[0] else np.zeros(X.shape[1])
    y_max = np.abs(Y).max(axis=0) if Y.shape[0] else np.zeros(Y.shape[1])
    return x_max, y_max


def _scale_pair(pair: tuple[F64, F64], x_exp: Any, y_exp: Any) -> tuple[F64, F64]:
    """Divide the columns by powers of two (exact): data beyond ``1e±50`` brought into range."""
    X, Y = pair
    return np.ldexp(X, -x_exp[None, :]), np.ldexp(Y, -y_exp[None, :])


def _pair_pass(
    pair: tuple[F64, F64], W: F64, shift: F64, with_targets: bool
) -> tuple[F64, F64, F64]:
    X, Y = pair
    R = X @ W + shift
    if not with_targets:  # a Hessian-vector product: no loss to sum
        return X.T @ R, np.zeros(R.shape[1]), R.sum(axis=0)
    R -= Y
    return X.T @ R, np.einsum("ij,ij->j", R, R), R.sum(axis=0)


# -- the collections → a list of delayed (X, Y) pairs ------------------------------------


def _is_numeric(dtype: Any) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(dtype) or is_bool_dtype(dtype))


def _numeric_columns(frame: Any, role: str) -> list[str]:
    names = [str(c) for c in frame.columns]
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        if not _is_numeric(dtype):
            raise GradfitInputError(
                f"{role} column {name!r} is not numeric (dtype {dtype}); drop it or encode it "
                "as numbers before fitting"
            )
    return names


def _kind(obj: Any) -> str:
    """``"DataFrame"``, ``"Series"``, ``"Array"`` for Dask collections, else ``""``."""
    if not accepts_dask(obj):
        return ""
    return type(obj).__name__


def _split_joint(part: Any, k: int) -> tuple[Any, Any]:
    return part.iloc[:, :-k], part.iloc[:, -k:]


def _joint_parts(
    X: Any, y: Any, names: list[str] | None, ynames: list[str] | None
) -> tuple[list[Any], list[Any]]:
    """Partitions of X and y taken from one frame holding both (so they are cut alike).

    Two projections of one Parquet-backed frame (``ddf[features]``, ``ddf["y"]``)
    may be given different partitionings by Dask's optimiser (it fuses the
    partitions of a narrow projection); assigning the targets to X as extra
    columns reads them together, one partitioning for both.
    """
    import dask

    targets = [y] if _kind(y) == "Series" else [y[c] for c in (ynames or [])]
    extra = {
        f"__gradfit_target_{k}": t.rename(f"__gradfit_target_{k}") for k, t in enumerate(targets)
    }
    joint = X[names].assign(**extra) if names is not None else X.assign(**extra)
    split = dask.delayed(_split_joint, nout=2, pure=True)
    pieces = [split(part, len(extra)) for part in joint.to_delayed()]
    return [p[0] for p in pieces], [
        p[1] if _kind(y) == "DataFrame" else p[1].iloc[:, 0] for p in pieces
    ]


def _check_pair(
    Xp: Any, Yp: Any, index: int, names: list[str] | None, ynames: list[str] | None
) -> None:
    """Raise the error that names a partition's first non-finite entry, if it has one."""
    _block_pair(Xp, Yp, index, names, ynames, scan=True)


def _parts(X: Any, y: Any) -> tuple[list[Any], int, int, list[str] | None, bool]:
    """Delayed ``(X_block, Y_block)`` pairs (each scanned for NaN/inf), D, K, names, was_1d."""
    pairs, _, D, K, names, was_1d = _scanned_later(X, y, scan=True)
    return pairs, D, K, names, was_1d


def _scanned_later(
    X: Any, y: Any, *, scan: bool = False
) -> tuple[list[Any], list[Any], int, int, list[str] | None, bool]:
    """Delayed pairs, delayed scans, D, K, feature names, was_1d.

    With ``scan=False`` the pairs' blocks are not scanned for NaN and infinity
    (the moments prove them finite, :meth:`DaskSource.statistics`); the
    delayed scans, one per partition, raise the error that names the entry
    when they do not.
    """
    import dask
    import dask.array as da

    if y is None:
        raise TypeError("y is required: pass the targets as a Dask array, Series or DataFrame")
    names: list[str] | None = None
    ynames: list[str] | None = None
    if _kind(X) == "DataFrame":
        names = _numeric_columns(X, "feature")
        x_parts = list(X.to_delayed())
        D = len(names)
    else:
        if X.ndim != 2:
            raise GradfitInputError(f"X must be 2-D (rows, features), got shape {X.shape}")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        D = int(X.shape[1])
        x_parts = [block[0] for block in X.to_delayed()]
    if _kind(y) == "DataFrame":
        ynames = _numeric_columns(y, "target")
        K, was_1d = len(ynames), False
        y_parts = list(y.to_delayed())
    elif _kind(y) == "Series":
        if not _is_numeric(y.dtype):
            raise GradfitInputError(f"y is not numeric (dtype {y.dtype})")
        K, was_1d = 1, True
        y_parts = list(y.to_delayed())
    else:
        if not hasattr(y, "chunks"):
            y = np.asarray(y)
            if hasattr(X, "chunks") and not any(np.isnan(c) for c in X.chunks[0]):
                y = da.from_array(y, chunks=(X.chunks[0],) + ((y.shape[1],) if y.ndim == 2 else ()))
            else:
                raise TypeError("with a Dask DataFrame X, y must be a Dask Series or DataFrame")
        if y.ndim not in (1, 2):
            raise GradfitInputError(f"y must be 1-D or 2-D, got shape {y.shape}")
        was_1d = y.ndim == 1
        K = 1 if was_1d else int(y.shape[1])
        if hasattr(X, "chunks") and y.chunks[0] != X.chunks[0]:
            y = y.rechunk({0: X.chunks[0]})
        if y.ndim == 2 and len(y.chunks[1]) > 1:
            y = y.rechunk({1: -1})
        y_parts = [b if y.ndim == 1 else b[0] for b in y.to_delayed()]
    if (
        len(x_parts) != len(y_parts)
        and _kind(X) == "DataFrame"
        and _kind(y)
        in (
            "DataFrame",
            "Series",
        )
    ):
        x_parts, y_parts = _joint_parts(X, y, names, ynames)
    if len(x_parts) != len(y_parts):
        raise GradfitInputError(
            f"X has {len(x_parts)} partitions but y has {len(y_parts)}; partition them alike "
            "(e.g. y = ddf['y'] from the same DataFrame, or the same row chunks)"
        )
    pair = dask.delayed(_block_pair, pure=True)
    parts = list(enumerate(zip(x_parts, y_parts, strict=True)))
    pairs = [pair(xp, yp, i, names, ynames, scan) for i, (xp, yp) in parts]
    check = dask.delayed(_check_pair, pure=True)
    checks = [check(xp, yp, i, names, ynames) for i, (xp, yp) in parts]
    return pairs, checks, D, K, names, was_1d


# -- the data path on the cluster ------------------------------------------------------


class DaskProblem(PassObjective):
    """The data path over persisted partitions: one round trip per gradient.

    Parameters
    ----------
    pairs : list of delayed ``(X_block, Y_block)``, persisted
    stats : dict
        From :func:`~gradfit.problem.moments.statistics_from_moments` (``H`` or ``H_diag``).
    fit_intercept, standardize : bool
    alpha : float
    """

    engine = "data"

    def __init__(
        self,
        pairs: list[Any],
        stats: dict[str, Any],
        D: int,
        K: int,
        *,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
    ) -> None:
        self.pairs = pairs
        self._adopt_statistics(
            stats, D, K, fit_intercept=fit_intercept, standardize=standardize, alpha=alpha
        )

    def close(self) -> None:
        """Release the persisted partitions on the workers."""
        self.pairs = []

    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        import dask

        if not self.pairs:
            raise RuntimeError("this DaskProblem was closed; fit again")
        self.n_passes += 1
        shift = (self.y_offset if with_targets else 0.0) - self.x_offset @ W
        shift = shift if self.fit_intercept else np.zeros(W.shape[1])
        task = dask.delayed(_pair_pass, pure=True)
        parts = _compute(*[task(p, W, shift, with_targets) for p in self.pairs])
        acc = np.zeros((self.D, W.shape[1]))
        sq = np.zeros(W.shape[1])
        rsum = np.zeros(W.shape[1])
        for a, s, r in parts:  # in partition order: reproducible sums
            acc += a
            sq += s
            rsum += r
        return self._finish_pass(acc, sq, rsum)


# -- the adapter ---------------------------------------------------------------------------


def _reduce_moments(pairs: list[Any], shift: Any, diagonal: bool) -> Moments:
    import dask

    task = dask.delayed(_pair_moments, pure=True)
    sx, sy = shift if shift is not None else (None, None)
    parts = _compute(*[task(p, sx, sy, diagonal) for p in pairs])
    return sum_moments(parts)


def _finite(m: Moments) -> bool:
    """Whether the raw moments are finite: no NaN or infinity, no overflowing squares."""
    diag = np.diag(m.Sxx) if m.Sxx.ndim == 2 else m.Sxx
    return bool(np.all(np.isfinite(diag)) and np.all(np.isfinite(m.Yraw)))


def _magnitudes(pairs: list[Any], first: Moments) -> tuple[F64, F64] | None:
    """Every column's largest magnitude, or None when the raw moments prove them in range.

    ``√mean(x²) ≤ max|x| ≤ √(N·mean(x²))`` (:func:`~gradfit._validation.gram_proves_design`):
    the common case needs no pass of its own; otherwise one reduction finds them.
    """
    import dask

    n = first.n
    with np.errstate(over="ignore", invalid="ignore"):
        x_ms = (np.diag(first.Sxx) if first.Sxx.ndim == 2 else first.Sxx) / n
        y_ms = first.Yraw / n
    if gram_proves_design(x_ms, n) and gram_proves_design(y_ms, n):
        return None
    task = dask.delayed(_pair_magnitudes, pure=True)
    parts = _compute(*[task(p) for p in pairs])
    return np.max([p[0] for p in parts], axis=0), np.max([p[1] for p in parts], axis=0)


class DaskSource(Source):
    """A Dask array or DataFrame with its targets: the ``"dask"`` source.

    The statistics are one reduction of per-partition moments (two when the raw
    moments would cancel); the data path is :class:`DaskProblem` over partitions
    persisted on the workers, one round trip per pass.
    """

    kind = "dask"
    sgd_refusal = (
        "method='sgd' on a Dask collection would gather random rows from every "
        "partition; use an exact full-batch method (the default 'cg'), or partial_fit "
        "over the partitions (for part in ddf.partitions: model.partial_fit(...))"
    )

    def __init__(self, X: Any, y: Any) -> None:
        parts = _scanned_later(X, y)
        self.pairs, self.checks, self.n_features, self.n_outputs, self.feature_names = parts[:5]
        self.was_1d = parts[5]
        self.dtype = np.dtype(np.float64)
        self.persisted = False
        self.n_computations = 0
        self._problems: list[DaskProblem] = []

    def _persist(self) -> None:
        import dask

        if not self.persisted:
            self.pairs = list(dask.persist(*self.pairs))
            self.persisted = True

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """One reduction of per-partition moments (persisting first when rows are kept)."""
        if keep_rows:
            self._persist()
        fit_intercept = bool(options["fit_intercept"])
        first = _reduce_moments(self.pairs, None, diagonal)
        if not _finite(first):
            # a NaN or infinity in a column makes its Σx² non-finite: only then are the
            # partitions scanned, for the error that names the entry (an overflow of finite
            # values passes the scan and is rescaled below)
            _compute(*self.checks)
        magnitudes = _magnitudes(self.pairs, first)
        self.units = (
            None
            if magnitudes is None
            else rescale_exponents(*magnitudes, alpha=float(options["alpha"]))
        )
        if self.units is not None:
            # columns beyond 1e±50: divided by powers of two on the workers (exact), the
            # moments formed again; the estimator scales the answer back
            import dask

            scale = dask.delayed(_scale_pair, pure=True)
            self.pairs = [scale(p, *self.units) for p in self.pairs]
            if self.persisted:
                self.persisted = False
                self._persist()
            first = _reduce_moments(self.pairs, None, diagonal)
        second = None
        if needs_second_pass(first, fit_intercept):
            second = _reduce_moments(self.pairs, (first.Sx / first.n, first.Sy / first.n), diagonal)
        self.n_computations = 1 + (second is not None)
        return statistics_from_moments(first, second, fit_intercept=fit_intercept)

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """:class:`DaskProblem` over the persisted partitions."""
        assert stats is not None  # N is learnt by the reduction: it always comes first
        self._persist()
        problem = DaskProblem(self.pairs, stats, self.n_features, self.n_outputs, **options)
        self._problems.append(problem)
        return problem

    def where(self, engine: str, *, refine: bool, fallback: bool) -> str:
        """How many partitions, and where they are kept."""
        if fallback:
            return "; partitions persisted on the workers, one round trip per gradient"
        where = f"; {len(self.pairs)} Dask partitions"
        if engine == "data":
            return where + ", persisted on the workers; one round trip per gradient"
        where += f", reduced in {self.n_computations} computation(s)"
        if refine:  # κ asked for it: the partitions were persisted for the refinement's passes
            where += "; the refinement reads them again, persisted on the workers"
        return where

    def close(self) -> None:
        """The solve has ended: free the workers' memory."""
        for problem in self._problems:
            problem.close()


def open_dask(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> DaskSource:
    """The Dask source for ``fit(X, y)``."""
    check_options(params, set(), "a Dask", "it takes no keywords of its own.")
    if sample_weight is not None:
        raise TypeError("sample_weight is not supported for Dask inputs yet")
    return DaskSource(X, y)


def predict_dask(X: Any, coef: Any, intercept: Any, columns: list[str] | None = None) -> Any:
    """Lazy predictions: a Dask array of shape (N,) or (N, K)."""
    C = np.asarray(coef, dtype=np.float64)
    b = np.asarray(intercept, dtype=np.float64)
    if _kind(X) == "DataFrame":
        _numeric_columns(X, "feature")
        X = X.to_dask_array()
    X = X.astype(np.float64)
    return X @ C.T + b


register("dask", accepts_dask, open_dask, predict_dask)
