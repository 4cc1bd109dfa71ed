r"""Statistical inference for a fitted linear model: standard errors, robust covariances, intervals.

``gradfit.inference(model, X, y, cov_type=...)`` answers *how sure are we* about
a fitted :class:`~gradfit.GDRegressor` (``alpha=0``): standard errors,
t statistics, p-values, confidence intervals, R², the F test and prediction
intervals, with the names statsmodels uses (``params``, ``bse``, ``tvalues``,
``pvalues``, ``conf_int``, ``cov_params``, ``df_resid``, …) and the same numbers
as its ``OLS``/``WLS`` ``fit(cov_type=...)``.

Everything starts from the sufficient statistics the stats engine already
forms (``H = X_cᵀΩX_c``, ``B``, ``yy`` and the means):

* ``"nonrobust"`` needs nothing else: a model fitted by the stats engine keeps
  its statistics, and its inference reads no data at all;
* ``"HC0"``–``"HC3"`` and ``"cluster"`` need the residuals row by row: **one
  extra pass** (block by block for arrays and files, one ``compute`` for Dask)
  accumulates the "meat" ``Σ (ω_i u_i)² z_i z_iᵀ`` (HC), the leverages
  ``h_i = ω_i z_iᵀ(ZᵀΩZ)⁻¹z_i`` it needs for HC2/HC3, or the per-cluster score
  sums (cluster).

Numerics. All matrices are formed about the means (``z̃ = [1, x − x̄]``, which
makes the intercept block of ``ZᵀΩZ`` decouple) and scaled to unit diagonal;
the identified columns are chosen in column order by a Cholesky factorisation
that skips a column whose part not explained by the earlier ones has relative
variance below :data:`RANK_TOL` — as R's ``lm`` does, such a column is *not
identified* and reported as NaN, never divided by ~0. The covariance is then
mapped back to the user's coordinates (intercept first).

Ridge fits (``alpha > 0``) are refused: the usual formulas do not hold for a
penalised estimator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, stats
from scipy.linalg import blas

from .._exceptions import GradfitInputError
from ..solve.loop import quiet_blas

__all__ = ["COV_TYPES", "RANK_TOL", "Inference", "inference"]

F64 = NDArray[np.float64]

#: The covariance estimators ``cov_type`` may name.
COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")

#: A column whose variance not explained by the earlier identified columns is below this
#: fraction of its own variance is "not identified" (a relative norm of 1e-5; the normal
#: equations cannot resolve much less than √eps ≈ 1.5e-8).
RANK_TOL = 1e-10

#: Relative rounding of ``RSS = yy − βᵀB`` above which the residual sum of squares is
#: recomputed from the data when the data is at hand.
RSS_CANCEL_LIMIT = 1e-8


# -- the statistics and the passes --------------------------------------------------------


@dataclass
class _Stats:
    """Unnormalised centred statistics (``H = Σω x_c x_cᵀ`` …) and what goes with them."""

    H: F64
    B: F64
    yy: F64
    x_mean: F64
    y_mean: F64
    n: int
    weight: float  # Σω (N when unweighted)
    fit_intercept: bool
    passes: int = 0
    #: Rows of positive weight: the observations (R's ``lm`` drops rows of weight 0, so they
    #: are no degrees of freedom); None where unknown (taken as ``n``).
    n_positive: int | None = None


def _stats_from_dict(s: dict[str, Any], weight: float | None, fit_intercept: bool) -> _Stats:
    total = float(s["N"]) if weight is None else float(weight)
    return _Stats(
        H=np.asarray(s["H"], dtype=np.float64) * total,
        B=np.asarray(s["B"], dtype=np.float64) * total,
        yy=np.asarray(s["yy"], dtype=np.float64) * total,
        x_mean=np.asarray(s["x_offset"], dtype=np.float64),
        y_mean=np.asarray(s["y_offset"], dtype=np.float64),
        n=int(s["N"]),
        weight=total,
        fit_intercept=fit_intercept,
        passes=int(s.get("passes", 1)),
        n_positive=None if s.get("n_positive") is None else int(s["n_positive"]),
    )


@dataclass
class _Plan:
    """What one robust pass needs: the solution, the bread, the kind of meat."""

    beta: F64  # (D, K) with zeros for columns not identified
    intercept: F64  # (K,)
    keep: NDArray[np.intp]  # identified columns
    x_mean: F64  # (D,)
    weight: float
    bread_x: F64  # (r, r) = (X_cᵀΩX_c)⁻¹ on the identified columns
    bread_chol: F64  # its lower Cholesky factor (for the leverages)
    fit_intercept: bool
    cov_type: str
    check: tuple[F64, float] | None = None  # (Σω x, Σω) expected, to recognise the data
    #: ``M`` with ``bread_x = M Mᵀ`` (from a QR of the rows): the pass then works with
    #: ``z = Mᵀx_c``, whose meat is well conditioned, and the sandwich is ``M·meat_z·Mᵀ``
    #: (forming ``meat_x`` and multiplying by the bread twice would cost ``κ²·eps``)
    whiten: F64 | None = None


@dataclass
class _Partial:
    """A robust pass's sums over some rows (they add up)."""

    n: int = 0
    rss: F64 | None = None  # (K,) Σ ω u²
    meat: F64 | None = None  # (K, p, p)
    keys: NDArray[Any] | None = None  # cluster labels, sorted
    scores: F64 | None = None  # (G, p, K) per-cluster score sums
    wx: F64 | None = None  # Σ ω x (to check the data against the statistics)
    w: float = 0.0
    hmax: float = 0.0


def _block_partial(
    X: NDArray[Any], Y: F64, w: F64 | None, g: NDArray[Any] | None, plan: _Plan
) -> _Partial:
    """The robust sums of one block of rows (dense float64 ``X``)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n = X.shape[0]
    out = _Partial(n=n)
    out.wx = (X.sum(axis=0) if w is None else w @ X) if plan.check is not None else None
    out.w = float(n if w is None else np.sum(w))
    if n == 0:
        return out
    U = Y - (X @ plan.beta + plan.intercept)
    Xk = X[:, plan.keep] - plan.x_mean[plan.keep]
    if plan.whiten is not None:
        Xk = Xk @ plan.whiten  # z = Mᵀx_c: its bread is the identity
    E = U if w is None else U * w[:, None]  # whitened residuals times √ω: ω u
    out.rss = np.einsum("ij,ij->j", U, E)
    if plan.cov_type == "rss":
        return out
    if plan.cov_type == "cluster":
        assert g is not None
        Z = np.column_stack([np.ones(n), Xk]) if plan.fit_intercept else Xk
        keys, inverse = np.unique(np.asarray(g), return_inverse=True)
        S = Z[:, :, None] * E[:, None, :]  # (n, p, K) scores
        order = np.argsort(inverse, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
        out.keys = keys
        out.scores = np.add.reduceat(S[order], starts, axis=0)
        return out
    C = E * E  # (ω u)²
    if plan.cov_type in ("HC2", "HC3"):
        # h = ω (1/Σω + x_cᵀ H⁻¹ x_c) = ω (1/Σω + ‖Lᵀx_c‖²) with H⁻¹ = L Lᵀ: one triangular
        # product per block (half the flops of a general one); Xkᵀ is Fortran-ordered, no copy
        if plan.bread_chol.size:
            T = blas.dtrmm(1.0, plan.bread_chol, Xk.T, trans_a=1, lower=1)
            h = np.einsum("ij,ij->j", T, T)
        else:
            h = np.zeros(n)
        if plan.fit_intercept:
            h += 1.0 / plan.weight
        if w is not None:
            h *= w
        out.hmax = float(np.max(h))
        one_minus = np.maximum(1.0 - h, 0.0)
        # h = 1 makes the factor infinite and (its residual being 0) the meat undefined:
        # NaN, with a note from the caller, rather than a warning or a finite number
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = 1.0 / one_minus if plan.cov_type == "HC2" else 1.0 / one_minus**2
            C = C * factor[:, None]
    # the meat Σ c z̃z̃ᵀ with z̃ = [1, x_c]: one symmetric rank-k update of √c·x_c per output
    q = Xk.shape[1] + (1 if plan.fit_intercept else 0)
    out.meat = np.empty((C.shape[1], q, q))
    with np.errstate(invalid="ignore"):
        root = np.sqrt(C)
    for k in range(C.shape[1]):
        A = Xk * root[:, k : k + 1]
        if plan.fit_intercept:
            out.meat[k, 0, 0] = C[:, k].sum()
            out.meat[k, 1:, 0] = out.meat[k, 0, 1:] = A.T @ root[:, k]
            out.meat[k, 1:, 1:] = A.T @ A
        else:
            out.meat[k] = A.T @ A
    return out


def _merge_clusters(
    keys_a: NDArray[Any], sums_a: F64, keys_b: NDArray[Any], sums_b: F64
) -> tuple[NDArray[Any], F64]:
    keys = np.concatenate([keys_a, keys_b])
    sums = np.concatenate([sums_a, sums_b])
    merged, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    return merged, np.add.reduceat(sums[order], starts, axis=0)


def _add(a: _Partial, b: _Partial) -> _Partial:
    """The sums of the union of two sets of rows."""
    if a.n == 0 and a.rss is None:
        return b
    if b.n == 0 and b.rss is None:
        out = _Partial(**a.__dict__)
        out.w += b.w
        return out
    out = _Partial(n=a.n + b.n, w=a.w + b.w, hmax=max(a.hmax, b.hmax))
    assert a.rss is not None and b.rss is not None
    out.rss = a.rss + b.rss
    if a.wx is not None and b.wx is not None:
        out.wx = a.wx + b.wx
    if a.meat is not None and b.meat is not None:
        out.meat = a.meat + b.meat
    if a.keys is not None and b.keys is not None:
        assert a.scores is not None and b.scores is not None
        out.keys, out.scores = _merge_clusters(a.keys, a.scores, b.keys, b.scores)
    return out


# -- input kinds: statistics and robust passes ---------------------------------------------


class _Source:
    """One input form: how to form its statistics and how to run a robust pass over it."""

    n: int | None = None
    names: list[str] | None = None
    weight: float | None = None

    def statistics(self, fit_intercept: bool) -> dict[str, Any]:
        raise NotImplementedError

    def robust(self, plan: _Plan) -> _Partial:
        raise NotImplementedError


def _block_rows(D: int) -> int:
    return max(1, (16 << 20) // (8 * max(D, 1)))


class _ArraySource(_Source):
    """NumPy arrays, pandas DataFrames and scipy.sparse matrices in memory."""

    def __init__(self, X: Any, Y: F64, w: F64 | None, g: NDArray[Any] | None) -> None:
        self.X, self.Y, self.w, self.g = X, Y, w, g
        self.n = int(X.shape[0])
        self.weight = None if w is None else float(np.sum(w))

    def statistics(self, fit_intercept: bool) -> dict[str, Any]:
        import scipy.sparse as sp

        if sp.issparse(self.X):
            from ..sources.sparse import sparse_statistics

            return sparse_statistics(
                self.X, self.Y, sample_weight=self.w, fit_intercept=fit_intercept
            )
        from ..problem.gram import sufficient_statistics

        return sufficient_statistics(
            self.X, self.Y, sample_weight=self.w, fit_intercept=fit_intercept
        )

    def robust(self, plan: _Plan) -> _Partial:
        import scipy.sparse as sp

        N, D = self.X.shape
        rows = _block_rows(D)
        total = _Partial()
        for start in range(0, N, rows):
            stop = min(N, start + rows)
            Xb = self.X[start:stop]
            Xb = Xb.toarray() if sp.issparse(Xb) else Xb
            wb = None if self.w is None else self.w[start:stop]
            gb = None if self.g is None else self.g[start:stop]
            total = _add(total, _block_partial(Xb, self.Y[start:stop], wb, gb, plan))
        return total


class _FileSource(_Source):
    """A CSV/Parquet/.npy file, read block by block (the groups, if any, are a column)."""

    def __init__(self, X: Any, options: dict[str, Any], groups: Any) -> None:
        from ..sources.files import (
            _as_datafile,
            _columns,
            _default_block_rows,
            numbers_only,
            open_reader,
        )

        self.spec = _as_datafile(X, options)
        self.reader = open_reader(self.spec.path, self.spec.sep)
        self.x_cols, self.y_cols, _ = _columns(self.reader, self.spec, need_target=True)
        numbers_only(self.reader, self.spec, self.x_cols, "robust inference (HC0-HC3)")
        self.g_cols: list[int] = []
        if groups is not None:
            if not isinstance(groups, str | int):
                raise GradfitInputError(
                    f"groups={groups!r}: for a file input name the column holding the "
                    "cluster labels, e.g. groups='firm'"
                )
            self.g_cols = self.reader.resolve(groups, "groups")
            self.x_cols = [j for j in self.x_cols if j not in self.g_cols]
        self.reader.check_numeric(self.x_cols + self.y_cols + self.g_cols)
        D, K = len(self.x_cols), len(self.y_cols)
        self.block_rows = int(self.spec.block_rows or _default_block_rows(D + K + 1))
        self.names = (
            None if self.reader.kind == "npy" else [self.reader.columns[j] for j in self.x_cols]
        )

    def statistics(self, fit_intercept: bool) -> dict[str, Any]:
        from .._validation import check_magnitude
        from ..problem.moments import (
            block_moments,
            needs_second_pass,
            statistics_from_moments,
            sum_moments,
        )
        from ..sources.files import _read_pass

        names = [str(self.reader.columns[j]) for j in self.x_cols + self.y_cols]
        first, magnitudes = _read_pass(
            self.reader,
            self.reader.blocks(self.x_cols, self.y_cols, self.block_rows),
            names,
            self.reader.size,
            None,
            diagonal=False,
            progress=self.spec.progress,
        )
        # inference forms fourth powers of the data: columns beyond 1e±50 are refused
        check_magnitude(magnitudes, str(self.reader.path), names)
        second = None
        if needs_second_pass(first, fit_intercept):
            shift = (first.Sx / first.n, first.Sy / first.n)
            with np.errstate(over="ignore", invalid="ignore"):
                second = sum_moments(
                    block_moments(Xb, Yb, *shift)
                    for Xb, Yb, _ in self.reader.blocks(self.x_cols, self.y_cols, self.block_rows)
                    if Yb is not None
                )
        stats = statistics_from_moments(first, second, fit_intercept=fit_intercept)
        stats["passes"] = 1 + (second is not None)
        self.n = int(stats["N"])
        return stats

    def robust(self, plan: _Plan) -> _Partial:
        from ..sources.files import Progress, _check_finite

        K = len(self.y_cols)
        names = [self.reader.columns[j] for j in self.x_cols + self.y_cols + self.g_cols]
        total = _Partial()
        row0 = 0
        bar = Progress(
            self.reader.size, f"inference {self.reader.path.name}", enabled=self.spec.progress
        )
        try:
            for Xb, YG, done in self.reader.blocks(
                self.x_cols, self.y_cols + self.g_cols, self.block_rows
            ):
                assert YG is not None
                _check_finite(self.reader, Xb, YG, row0, names)
                Yb, gb = YG[:, :K], (YG[:, K] if self.g_cols else None)
                total = _add(total, _block_partial(Xb, Yb, None, gb, plan))
                row0 += Xb.shape[0]
                bar.update(done)
        finally:
            bar.close()
        return total


class _DaskSource(_Source):
    """A Dask array or DataFrame: one ``compute`` per pass, summed in partition order."""

    def __init__(self, X: Any, y: Any, groups: Any, names: list[str] | None) -> None:
        from ..sources.dask import _kind, _parts

        g_parts: list[Any] | None = None
        if groups is not None:
            if isinstance(groups, str):
                if _kind(X) != "DataFrame":
                    raise GradfitInputError(
                        f"groups={groups!r} names a column, but X is not a Dask DataFrame; "
                        "pass the labels as a Dask array or Series partitioned like X"
                    )
                g = X[groups]
                X = X[names] if names else X.drop(columns=[groups])
            else:
                g = groups
            if _kind(g) == "Series":
                g_parts = list(g.to_delayed())
            elif _kind(g) == "Array":
                g_parts = list(np.asarray(g.to_delayed()).ravel())
            else:
                raise GradfitInputError(
                    "with a Dask X, groups must be a column name, a Dask Series or a Dask array"
                )
        elif names and _kind(X) == "DataFrame":
            X = X[names]
        self.pairs, self.D, self.K, self.names, _ = _parts(X, y)
        if g_parts is not None and len(g_parts) != len(self.pairs):
            raise GradfitInputError(
                f"groups has {len(g_parts)} partitions but X has {len(self.pairs)}; "
                "partition them alike"
            )
        self.g_parts = g_parts

    def statistics(self, fit_intercept: bool) -> dict[str, Any]:
        from ..problem.moments import needs_second_pass, statistics_from_moments
        from ..sources.dask import _reduce_moments

        first = _reduce_moments(self.pairs, None, False)
        second = None
        if needs_second_pass(first, fit_intercept):
            second = _reduce_moments(self.pairs, (first.Sx / first.n, first.Sy / first.n), False)
        stats = statistics_from_moments(first, second, fit_intercept=fit_intercept)
        stats["passes"] = 1 + (second is not None)
        self.n = int(stats["N"])
        return stats

    def robust(self, plan: _Plan) -> _Partial:
        import dask

        from ..sources.dask import _compute

        task = dask.delayed(_pair_partial, pure=True)
        if self.g_parts is None:
            tasks = [task(p, None, plan) for p in self.pairs]
        else:
            tasks = [task(p, g, plan) for p, g in zip(self.pairs, self.g_parts, strict=True)]
        total = _Partial()
        for part in _compute(*tasks):  # one round trip, summed in partition order
            total = _add(total, part)
        return total


def _pair_partial(pair: tuple[F64, F64], g: Any, plan: _Plan) -> _Partial:
    """A Dask partition's robust sums (runs on a worker)."""
    labels = None
    if g is not None:
        labels = g.to_numpy() if hasattr(g, "to_numpy") else np.asarray(g)
        if labels.shape[0] != pair[0].shape[0]:
            raise GradfitInputError(
                f"a groups partition has {labels.shape[0]} rows but X's has "
                f"{pair[0].shape[0]}; partition them alike"
            )
    return _block_partial(pair[0], pair[1], None, labels, plan)


def _source(
    model: Any, X: Any, y: Any, sample_weight: Any, groups: Any, options: dict[str, Any]
) -> _Source:
    """The input form of ``X`` (same recognition as the estimator's adapters)."""
    from .._validation import _is_dataframe, as_design_matrix, as_sample_weight, as_targets
    from ..sources.dask import accepts_dask
    from ..sources.files import accepts_file

    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    if accepts_file(X):
        if y is not None or sample_weight is not None:
            raise GradfitInputError(
                "for a file input name the target column with target=... (y must be None) "
                "and fit without sample weights (files take none)"
            )
        source: _Source = _FileSource(X, options, groups)
        return source
    if options:
        raise TypeError(
            f"inference() got unexpected keyword argument(s) {sorted(options)}; they are "
            "only meaningful for file inputs (target=, features=)"
        )
    if accepts_dask(X):
        if sample_weight is not None:
            raise GradfitInputError("sample_weight is not supported for Dask inputs yet")
        return _DaskSource(X, y, groups, names)
    import scipy.sparse as sp

    g: NDArray[Any] | None = None
    if groups is not None and isinstance(groups, str):
        if not _is_dataframe(X):
            raise GradfitInputError(
                f"groups={groups!r} names a column, but X is not a DataFrame; pass the "
                "cluster labels as an array of length N"
            )
        g = X[groups].to_numpy()
        X = X[names] if names else X.drop(columns=[groups])
    elif groups is not None:
        g = np.asarray(groups.to_numpy() if hasattr(groups, "to_numpy") else groups)
    elif names and _is_dataframe(X) and list(X.columns) != names:
        missing = [n for n in names if n not in X.columns]
        if missing:
            raise GradfitInputError(
                f"X lacks the fitted feature column(s) {missing}; pass the DataFrame the "
                "model was fitted on"
            )
        X = X[names]
    if sp.issparse(X):
        from ..sources.sparse import as_sparse_design_matrix

        X_arr: Any = as_sparse_design_matrix(X)
    else:
        X_arr, _ = as_design_matrix(X)
    N = int(X_arr.shape[0])
    Y, _, _ = as_targets(y, N, x_shape=X_arr.shape)
    w = as_sample_weight(sample_weight, N)
    if g is not None and (g.ndim != 1 or g.shape[0] != N):
        raise GradfitInputError(
            f"groups has shape {g.shape} but X has {N} rows; pass one cluster label per row"
        )
    return _ArraySource(X_arr, np.asarray(Y, dtype=np.float64), w, g)


# -- the result -------------------------------------------------------------------------------


@dataclass
class Inference:
    """Standard errors, tests and intervals of a fitted linear model (statsmodels' names).

    Arrays have one column per output (``K``); with one output and a 1-D ``y``
    they are 1-D. The parameters are ordered intercept first (when fitted),
    then the features; a coefficient that is not identified (its column is a
    linear combination of earlier ones) is NaN everywhere.

    Attributes
    ----------
    params, bse, tvalues, pvalues : ndarray of shape (p,) or (p, K)
    param_names : list of str
    identified : ndarray of bool, shape (p,)
    cov_type : str
    use_t : bool
        t (with ``df_resid``, or ``G − 1`` for clusters) rather than normal quantiles.
    nobs : int
    df_resid, df_model : float
    sigma2, rsquared, rsquared_adj, fvalue, f_pvalue, ssr : float or ndarray of shape (K,)
    n_groups : int or None
    passes : int
        Passes over the data this inference made (0: it used the fit's statistics).
    coef_gap : float
        Largest difference between the model's coefficients and ``params``, in standard
        errors (the model is an iterative solution; the inference is about the exact one).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, inference
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = X @ [1.0, -0.5] + 2.0 + rng.normal(size=100)
    >>> res = inference(GDRegressor().fit(X, y), X, y)
    >>> res.param_names, np.round(res.params, 3)
    (['const', 'x0', 'x1'], array([ 1.837,  0.892, -0.325]))
    >>> np.round(res.bse, 3), int(res.df_resid)
    (array([0.113, 0.116, 0.119]), 97)
    """

    params: Any
    bse: Any
    cov_type: str
    use_t: bool
    nobs: int
    df_resid: float
    df_model: float
    sigma2: Any
    ssr: Any
    rsquared: Any
    rsquared_adj: Any
    fvalue: Any
    f_pvalue: Any
    param_names: list[str]
    output_names: list[str]
    identified: NDArray[np.bool_]
    n_groups: int | None
    passes: int
    coef_gap: float
    fit_intercept: bool
    _cov: F64 = field(repr=False)  # (K, p, p) in the user's coordinates
    _cov_centred: F64 = field(repr=False)  # (K, q, q) on the identified parameters about x̄
    _x_mean: F64 = field(repr=False)
    _keep: NDArray[np.intp] = field(repr=False)
    _df_inference: float = field(repr=False)
    _was_1d: bool = field(repr=False)
    notes: list[str] = field(default_factory=list)

    # -- statsmodels' vocabulary ------------------------------------------------------
    @property
    def tvalues(self) -> Any:
        """``params / bse``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.params) / np.asarray(self.bse)

    @property
    def pvalues(self) -> Any:
        """Two-sided p-values of ``params = 0`` (t or normal, see ``use_t``)."""
        t = np.abs(np.asarray(self.tvalues))
        if self.use_t:
            return 2.0 * stats.t.sf(t, self._df_inference)
        return 2.0 * stats.norm.sf(t)

    def _quantile(self, alpha: float) -> float:
        if not 0.0 < alpha < 1.0:
            raise GradfitInputError(f"alpha={alpha!r}: use a level in (0, 1), e.g. 0.05")
        if self.use_t:
            return float(stats.t.isf(alpha / 2.0, self._df_inference))
        return float(stats.norm.isf(alpha / 2.0))

    def conf_int(self, alpha: float = 0.05) -> NDArray[np.float64]:
        """Confidence intervals ``params ± q·bse``: shape (p, 2), or (p, K, 2) for K outputs.

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> np.round(inference(GDRegressor().fit(X, y), X, y).conf_int(), 3)
        array([[-0.854,  1.135],
               [ 1.826,  2.199]])
        """
        q = self._quantile(alpha)
        p, b = np.asarray(self.params), np.asarray(self.bse)
        return np.stack([p - q * b, p + q * b], axis=-1)

    def cov_params(self, output: int = 0) -> NDArray[np.float64]:
        """The (p, p) covariance of the parameters of one output (NaN where not identified).

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> inference(GDRegressor().fit(X, y), X, y).cov_params().shape
        (2, 2)
        """
        return np.asarray(self._cov[output]).copy()

    # -- prediction intervals ---------------------------------------------------------
    def predict_interval(
        self, X_new: Any, alpha: float = 0.05, kind: str = "mean"
    ) -> NDArray[np.float64]:
        """Prediction and interval bounds for new rows: ``[prediction, lower, upper]``.

        Parameters
        ----------
        X_new : array-like of shape (n, D)
        alpha : float, default=0.05
            ``1 − alpha`` intervals.
        kind : {"mean", "obs"}
            ``"mean"``: the interval of the expected value ``E[y|x]`` (``se² = z̃ᵀ C z̃``
            with the result's covariance ``C``); ``"obs"``: of a new observation
            (adds ``σ²``).

        Returns
        -------
        ndarray of shape (n, 3), or (n, K, 3) for several outputs

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> res = inference(GDRegressor().fit(X, y), X, y)
        >>> np.round(res.predict_interval([[4.5]], kind="obs"), 3)
        array([[ 9.196,  7.42 , 10.971]])
        """
        if kind not in ("mean", "obs"):
            raise GradfitInputError(f"kind={kind!r}: use 'mean' or 'obs'")
        from .._validation import _is_dataframe, as_design_matrix

        names = self.param_names[1:] if self.fit_intercept else self.param_names
        if _is_dataframe(X_new) and all(n in X_new.columns for n in names):
            X_new = X_new[names]  # by name, in the fitted order
        X = np.asarray(as_design_matrix(X_new, name="X_new", check_scale=False)[0], float)
        D = self._x_mean.shape[0]
        if X.shape[1] != D:
            raise GradfitInputError(
                f"X_new has {X.shape[1]} columns but the model has {D} features"
            )
        q = self._quantile(alpha)
        out = interval_bounds(
            X,
            self._params_matrix(),
            self._cov_centred,
            self._x_mean,
            self._keep,
            np.atleast_1d(self.sigma2),
            self.fit_intercept,
            q,
            kind,
        )
        return out[:, 0, :] if self._was_1d else out

    def _params_matrix(self) -> F64:
        P = np.asarray(self.params, dtype=np.float64)
        P = P[:, None] if P.ndim == 1 else P
        return np.nan_to_num(P, nan=0.0)

    # -- presentation -----------------------------------------------------------------
    def to_frame(self, alpha: float = 0.05) -> Any:
        """A tidy pandas DataFrame: one row per (output, parameter).

        Columns ``output``, ``term``, ``estimate``, ``std_err``, ``t`` (or ``z``),
        ``p_value``, ``ci_lower``, ``ci_upper``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> list(inference(GDRegressor().fit(X, y), X, y).to_frame().columns)
        ['output', 'term', 'estimate', 'std_err', 't', 'p_value', 'ci_lower', 'ci_upper']
        """
        import pandas as pd

        return pd.DataFrame(self.records(alpha))

    def records(self, alpha: float = 0.05) -> list[dict[str, Any]]:
        """The coefficient table as a list of dictionaries (JSON-ready; NaN as None).

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> inference(GDRegressor().fit(X, y), X, y).records()[1]["term"]
        'x0'
        """
        stat = "t" if self.use_t else "z"

        def col(a: Any) -> F64:
            a = np.asarray(a, dtype=np.float64)
            return a[:, None] if a.ndim == 1 else a

        est, se, tv, pv = col(self.params), col(self.bse), col(self.tvalues), col(self.pvalues)
        ci = self.conf_int(alpha)
        ci = ci[:, None, :] if ci.ndim == 2 else ci

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        rows = []
        for k, output in enumerate(self.output_names):
            for i, term in enumerate(self.param_names):
                rows.append(
                    {
                        "output": output,
                        "term": term,
                        "estimate": num(est[i, k]),
                        "std_err": num(se[i, k]),
                        stat: num(tv[i, k]),
                        "p_value": num(pv[i, k]),
                        "ci_lower": num(ci[i, k, 0]),
                        "ci_upper": num(ci[i, k, 1]),
                    }
                )
        return rows

    def summary_dict(self, alpha: float = 0.05) -> dict[str, Any]:
        """Everything in JSON-ready form (the CLI's ``--json`` ``inference`` entry).

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> inference(GDRegressor().fit(X, y), X, y).summary_dict()["df_resid"]
        8.0
        """

        def listed(a: Any) -> list[float | None]:
            return [float(v) if math.isfinite(v) else None for v in np.atleast_1d(a)]

        return {
            "cov_type": self.cov_type,
            "use_t": self.use_t,
            "alpha": alpha,
            "nobs": self.nobs,
            "df_resid": float(self.df_resid),
            "df_model": float(self.df_model),
            "n_groups": self.n_groups,
            "sigma2": listed(self.sigma2),
            "rsquared": listed(self.rsquared),
            "rsquared_adj": listed(self.rsquared_adj),
            "fvalue": listed(self.fvalue),
            "f_pvalue": listed(self.f_pvalue),
            "passes": self.passes,
            "not_identified": [
                n for n, ok in zip(self.param_names, self.identified, strict=True) if not ok
            ],
            "notes": list(self.notes),
            "coefficients": self.records(alpha),
        }

    def _table_rows(self, alpha: float) -> list[tuple[str, list[list[str]]]]:
        lo, hi = f"[{alpha / 2:.3g}", f"{1 - alpha / 2:.3g}]"
        stat = "t" if self.use_t else "z"
        head = ["", "coef", "std err", stat, f"P>|{stat}|", lo, hi]
        out = []
        rows = self.records(alpha)
        for output in self.output_names:
            body = [head]
            for r in rows:
                if r["output"] != output:
                    continue
                if r["estimate"] is None:
                    body.append([r["term"], "NA", "(not identified)", "", "", "", ""])
                    continue

                def f(v: float | None) -> str:
                    return "nan" if v is None else f"{v:.4g}"

                p = r["p_value"]
                body.append(
                    [
                        r["term"],
                        f(r["estimate"]),
                        f(r["std_err"]),
                        f(r[stat]),
                        "nan" if p is None else f"{p:.3f}",
                        f(r["ci_lower"]),
                        f(r["ci_upper"]),
                    ]
                )
            out.append((output, body))
        return out

    def _header(self, k: int) -> str:
        def v(a: Any) -> float:
            return float(np.atleast_1d(a)[k])

        groups = f", {self.n_groups} clusters" if self.n_groups is not None else ""
        return (
            f"cov_type={self.cov_type}{groups}  nobs={self.nobs}  df_resid={self.df_resid:g}  "
            f"R²={v(self.rsquared):.4g}  adj. R²={v(self.rsquared_adj):.4g}  "
            f"F={v(self.fvalue):.4g} (p={v(self.f_pvalue):.3g})  σ²={v(self.sigma2):.4g}"
        )

    def to_text(self, alpha: float = 0.05) -> str:
        """The coefficient table(s) as plain text, one per output.

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> print(inference(GDRegressor().fit(X, y), X, y).to_text().splitlines()[2])
               coef  std err       t  P>|t|   [0.025  0.975]
        """
        blocks = []
        for k, (output, body) in enumerate(self._table_rows(alpha)):
            widths = [max(len(r[j]) for r in body) for j in range(len(body[0]))]
            lines = [f"{output}:", "  " + self._header(k)]
            for r in body:
                cells = [r[0].ljust(widths[0])] + [
                    c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
                ]
                lines.append("  " + "  ".join(cells).rstrip())
            blocks.append("\n".join(lines))
        blocks.extend(f"note: {n}" for n in self.notes)
        return "\n".join(blocks)

    def __str__(self) -> str:
        """The text table."""
        return self.to_text()

    def to_html(self, alpha: float = 0.05) -> str:
        """The coefficient table(s) as an HTML fragment (escaped).

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import GDRegressor, inference
        >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
        >>> inference(GDRegressor().fit(X, y), X, y).to_html().startswith("<div")
        True
        """
        from html import escape

        parts = ['<div class="gradfit-inference">']
        for k, (output, body) in enumerate(self._table_rows(alpha)):
            parts.append(f"<p><b>{escape(output)}</b>: {escape(self._header(k))}</p>")
            parts.append("<table><thead><tr>")
            parts.extend(f"<th>{escape(c)}</th>" for c in body[0])
            parts.append("</tr></thead><tbody>")
            for r in body[1:]:
                parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>")
            parts.append("</tbody></table>")
        parts.extend(f"<p>note: {escape(n)}</p>" for n in self.notes)
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()


def interval_bounds(
    X: F64,
    params: F64,
    cov_centred: F64,
    x_mean: F64,
    keep: NDArray[np.intp],
    sigma2: F64,
    fit_intercept: bool,
    q: float,
    kind: str,
) -> F64:
    """``[prediction, lower, upper]`` per row and output, shape (n, K, 3).

    ``params`` is (p, K) (intercept first when fitted, NaN replaced by 0);
    ``cov_centred`` (K, q, q) is the covariance of the identified parameters in
    the centred coordinates ``z̃ = [1, x_keep − x̄_keep]``.

    Examples
    --------
    >>> import numpy as np
    >>> out = interval_bounds(np.zeros((1, 1)), np.array([[1.0], [2.0]]),
    ...                       np.eye(2)[None], np.zeros(1), np.array([0]), np.ones(1),
    ...                       True, 2.0, "mean")
    >>> out.tolist()
    [[[1.0, -1.0, 3.0]]]
    """
    n = X.shape[0]
    off = 1 if fit_intercept else 0
    pred = X @ params[off:] + (params[0] if fit_intercept else 0.0)
    Zc = X[:, keep] - x_mean[keep]
    if fit_intercept:
        Zc = np.column_stack([np.ones(n), Zc])
    out = np.empty((n, params.shape[1], 3))
    for k in range(params.shape[1]):
        var = np.einsum("ij,ij->i", Zc @ cov_centred[k], Zc)
        if kind == "obs":
            var = var + sigma2[k]
        half = q * np.sqrt(np.maximum(var, 0.0))
        out[:, k, 0] = pred[:, k]
        out[:, k, 1] = pred[:, k] - half
        out[:, k, 2] = pred[:, k] + half
    return out


# -- the computation --------------------------------------------------------------------------


def identified_columns(Hs: F64, tol: float = RANK_TOL) -> NDArray[np.intp]:
    """The identified columns, in order, of a unit-diagonal ``Hs``.

    A Cholesky factorisation that skips a column whose residual variance (given
    the kept ones) is at most ``tol`` of its own, as R's ``lm`` marks aliased columns.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> X = np.column_stack([X, X[:, 0] + X[:, 1]])
    >>> C = np.corrcoef(X, rowvar=False)
    >>> identified_columns(C).tolist()
    [0, 1, 2]
    """
    D = Hs.shape[0]
    diag = np.diag(Hs)
    try:
        L = linalg.cholesky(Hs, lower=True, check_finite=False)
        if np.all(np.diag(L) ** 2 > tol * np.maximum(diag, np.finfo(float).tiny)):
            return np.arange(D)
    except linalg.LinAlgError:
        pass
    keep: list[int] = []
    L = np.zeros((0, 0))
    for j in range(D):
        if not diag[j] > 0:
            continue
        if keep:
            c = linalg.solve_triangular(L, Hs[keep, j], lower=True, check_finite=False)
            d = diag[j] - c @ c
        else:
            c, d = np.zeros(0), diag[j]
        if d <= tol * diag[j]:
            continue
        r = len(keep)
        L2 = np.zeros((r + 1, r + 1))
        L2[:r, :r] = L
        L2[r, :r] = c
        L2[r, r] = math.sqrt(d)
        L = L2
        keep.append(j)
    return np.asarray(keep, dtype=np.intp)


def _model_arrays(model: Any) -> tuple[F64, F64, bool]:
    """``(W (D, K), b (K,), was_1d)`` from a fitted GDRegressor."""
    from ..sources.device import to_host

    if not hasattr(model, "coef_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError("the model is not fitted yet; call model.fit(X, y) first")
    coef = np.asarray(to_host(model.coef_), dtype=np.float64)
    was_1d = coef.ndim == 1
    W = coef[:, None] if was_1d else coef.T
    b = np.atleast_1d(np.asarray(to_host(model.intercept_), dtype=np.float64))
    return W, b, was_1d


def _check_same_rows(source: _Source, st: _Stats) -> None:
    """Refuse data that cannot be what the model kept statistics of (rows, weights)."""
    if source.n is not None and source.n != st.n:
        raise GradfitInputError(
            f"X has {source.n} rows but the model was fitted on {st.n}; inference is "
            "about the fitted data: pass the same rows (and weights)"
        )
    given = float(source.n if source.weight is None else source.weight) if source.n else None
    if given is not None and not math.isclose(given, st.weight, rel_tol=1e-9):
        raise GradfitInputError(
            f"the sample weights given sum to {given:.6g} but the fit's summed to "
            f"{st.weight:.6g}; pass the same sample_weight as to fit"
        )


def _check_model(model: Any) -> None:
    alpha = float(getattr(model, "alpha", 0.0) or 0.0)
    if alpha > 0:
        raise GradfitInputError(
            f"inference needs an unpenalised fit, but the model has alpha={alpha:g}: the "
            "standard errors of a ridge estimator are not the OLS formulas. Refit with "
            "alpha=0 (or bootstrap the ridge fit)."
        )


def inference(
    model: Any,
    X: Any = None,
    y: Any = None,
    *,
    sample_weight: Any = None,
    cov_type: str = "nonrobust",
    groups: Any = None,
    use_t: bool | None = None,
    feature_names: list[str] | None = None,
    target_names: list[str] | None = None,
    **fit_params: Any,
) -> Inference:
    """Standard errors, tests and intervals of a fitted ``GDRegressor`` (OLS/WLS, ``alpha=0``).

    Parameters
    ----------
    model : GDRegressor
        Fitted with ``alpha=0``. A model fitted by the stats engine keeps its
        sufficient statistics, so ``"nonrobust"`` needs no data (``X`` may be None)
        and the robust kinds need one pass.
    X, y : array-like, DataFrame, sparse matrix, file path / DataFile, or Dask collection
        The data the model was fitted on, in the form given to ``fit`` (for a
        file, ``y`` is None and ``target=`` names the target column(s)).
    sample_weight : array-like of shape (N,), optional
        The weights given to ``fit`` (the result is then WLS).
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"}
        ``"nonrobust"``: homoskedastic errors; ``"HC0"``–``"HC3"``: White's
        heteroskedasticity-consistent covariances (HC1 scales by ``n/(n−p)``,
        HC2/HC3 divide by ``1−h``/``(1−h)²``); ``"cluster"``: errors correlated
        within ``groups``, with statsmodels' small-sample corrections.
    groups : array-like of shape (N,), or a column name (DataFrame, file, Dask DataFrame)
        Cluster labels for ``cov_type="cluster"``. A named column is not a feature.
    use_t : bool, optional
        t rather than normal quantiles; by default (as statsmodels) True for
        ``"nonrobust"`` and False for the robust kinds. With clusters the t
        distribution has ``G − 1`` degrees of freedom.
    feature_names, target_names : list of str, optional
        Names for the table (default: the model's ``feature_names_in_``, else
        ``x0, x1, …``; ``y`` or ``y0, y1, …``).
    **fit_params
        ``target=``, ``features=``, ``block_rows=`` for file inputs.

    Returns
    -------
    Inference

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, inference
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = X @ [1.0, 0.0] + rng.normal(size=200) * (1 + X[:, 0]**2)
    >>> model = GDRegressor().fit(X, y)
    >>> inference(model).passes, inference(model, X, y, cov_type="HC3").passes
    (0, 1)
    >>> np.round(inference(model, X, y, cov_type="HC3").bse, 3)
    array([0.164, 0.309, 0.167])
    """
    if cov_type not in COV_TYPES:
        raise GradfitInputError(
            f"cov_type={cov_type!r} is not one of {list(COV_TYPES)}; 'nonrobust' assumes "
            "constant error variance, 'HC1'/'HC3' do not, 'cluster' allows correlation "
            "within groups"
        )
    if cov_type == "cluster" and groups is None:
        raise GradfitInputError(
            "cov_type='cluster' needs groups=: the cluster label of every row (or a column name)"
        )
    if cov_type != "cluster" and groups is not None:
        raise GradfitInputError(
            f"groups= is only used with cov_type='cluster' (got cov_type={cov_type!r})"
        )
    _check_model(model)
    W_model, b_model, was_1d = _model_arrays(model)
    fit_intercept = bool(getattr(model, "fit_intercept", True))
    D, K = W_model.shape
    stored = getattr(model, "_inference_stats", None)
    if X is None and (y is not None or sample_weight is not None or groups is not None):
        raise GradfitInputError("y, sample_weight and groups need X: pass the fitted data")
    if cov_type != "nonrobust" and X is None:
        raise GradfitInputError(
            f"cov_type={cov_type!r} needs the residuals row by row: pass the data the model "
            "was fitted on, inference(model, X, y, cov_type=...)"
        )
    made: list[_Source] = []

    def get_source() -> _Source | None:
        """The input, validated on first use (nonrobust from kept statistics never reads it)."""
        if X is None:
            return None
        if not made:
            made.append(_source(model, X, y, sample_weight, groups, dict(fit_params)))
            if stored is not None:
                _check_same_rows(made[0], _Stats(**stored))
        return made[0]

    passes = 0
    source: _Source | None = None
    if stored is not None:
        st = _Stats(**stored)
        rows = getattr(X, "shape", (None,))[0] if X is not None else None
        if isinstance(rows, int) and rows != st.n:
            raise GradfitInputError(
                f"X has {rows} rows but the model was fitted on {st.n}; inference is about "
                "the fitted data: pass the same rows (and weights)"
            )
        if cov_type != "nonrobust":
            source = get_source()
    elif (source := get_source()) is not None:
        raw = source.statistics(fit_intercept)
        st = _stats_from_dict(raw, source.weight, fit_intercept)
        passes += int(raw.get("passes", 1))
    else:
        raise GradfitInputError(
            "this model kept no sufficient statistics (it was fitted by the data path, by a "
            "QR of the rows, with H from float32 products, or loaded from a file): pass the "
            "data it was fitted on, inference(model, X, y)"
        )
    if st.H.shape[0] != D or st.B.shape[1] != K:
        raise GradfitInputError(
            f"the data has {st.H.shape[0]} features and {st.B.shape[1]} outputs but the model "
            f"{D} and {K}: pass the data the model was fitted on"
        )
    res = _compute(
        st, get_source, W_model, b_model, was_1d, model, cov_type, use_t, passes, stored is not None
    )
    if feature_names is not None:
        if len(feature_names) != D:
            raise GradfitInputError(f"{len(feature_names)} feature names for {D} features")
        res.param_names = (["const"] if fit_intercept else []) + [str(n) for n in feature_names]
    if target_names is not None:
        if len(target_names) != K:
            raise GradfitInputError(f"{len(target_names)} target names for {K} outputs")
        res.output_names = [str(n) for n in target_names]
    return res


def _compute(
    st: _Stats,
    get_source: Callable[[], _Source | None],
    W_model: F64,
    b_model: F64,
    was_1d: bool,
    model: Any,
    cov_type: str,
    use_t: bool | None,
    passes: int,
    from_fit: bool,
) -> Inference:
    D, K = st.B.shape
    fi = st.fit_intercept
    notes: list[str] = []
    with quiet_blas():  # D×D algebra: BLAS threads only spin (see _loop.quiet_blas)
        # scaled, centred normal equations; identified columns in order
        scale = np.sqrt(np.maximum(np.diag(st.H), 0.0))
        safe = np.where(scale > 0, scale, 1.0)
        Hs = st.H / np.outer(safe, safe)
        keep = identified_columns(Hs)
        r = len(keep)
        beta = np.zeros((D, K))
        bread_x = np.zeros((r, r))
        if r:
            factor = linalg.cho_factor(Hs[np.ix_(keep, keep)], lower=True, check_finite=False)
            sk = safe[keep]
            beta[keep] = linalg.cho_solve(factor, st.B[keep] / sk[:, None]) / sk[:, None]
            inv_s = linalg.cho_solve(factor, np.eye(r))
            bread_x = 0.5 * (inv_s + inv_s.T) / np.outer(sk, sk)
        # where H cannot decide (columns not identified, or κ beyond what the normal equations
        # carry) and the rows are in memory, they decide: a QR of them (see _by_rows)
        rss_rows: F64 | None = None
        whiten: F64 | None = None
        if r < D or (r and _kappa(Hs[np.ix_(keep, keep)]) > KAPPA_ROWS):
            source_rows = get_source()
            if isinstance(source_rows, _ArraySource) and _dense_or_csr(source_rows.X):
                keep, beta, bread_x, rss_rows, whiten = _by_rows(source_rows, st, safe)
                r = len(keep)
                passes += 1
        intercept = st.y_mean - st.x_mean @ beta if fi else np.zeros(K)
        if r < D:
            names_all = _feature_names(model, D)
            dropped = [names_all[j] for j in range(D) if j not in set(keep.tolist())]
            notes.append(
                f"not identified (a linear combination of earlier columns"
                f"{', or constant' if fi else ''}): {', '.join(dropped)}"
            )
        # residual sum of squares from the statistics: RSS = yy − βᵀB at the solution (from
        # the rows' QR when it was made: no cancellation there)
        if rss_rows is not None:
            rss = rss_rows
        else:
            rss = np.maximum(st.yy - np.einsum("ij,ij->j", beta, st.B), 0.0)
        p = r + (1 if fi else 0)
        rows = st.n
        # rows of weight 0 are no observations (R's lm drops them): not in nobs, df, HC1, …
        n = rows if st.n_positive is None else int(st.n_positive)
        if n < rows:
            notes.append(
                f"{rows - n} row(s) of weight 0 are not observations (as R's lm): nobs and the "
                "degrees of freedom count the rows of positive weight"
            )
        df_resid = float(n - p)
    partial: _Partial | None = None
    eps = np.finfo(np.float64).eps
    cancelling = rss_rows is None and bool(
        np.any(64 * eps * (D + 1) * st.yy > RSS_CANCEL_LIMIT * np.maximum(rss, 1e-300))
    )
    source = get_source() if cov_type != "nonrobust" or cancelling else None
    if source is not None:
        plan = _Plan(
            beta=beta,
            intercept=intercept,
            keep=keep,
            x_mean=st.x_mean if fi else np.zeros(D),
            weight=st.weight,
            bread_x=bread_x,
            bread_chol=_cholesky_or_empty(bread_x) if whiten is None else np.eye(r, order="F"),
            fit_intercept=fi,
            cov_type=cov_type if cov_type != "nonrobust" else "rss",
            check=(st.x_mean * st.weight, st.weight) if from_fit else None,
            whiten=whiten,
        )
        partial = source.robust(plan)
        passes += 1
        if partial.n != rows:
            raise GradfitInputError(
                f"the data has {partial.n} rows but the model was fitted on {rows}; pass the "
                "rows the model was fitted on"
            )
        if from_fit and fi and partial.wx is not None:
            mean = partial.wx / max(partial.w, np.finfo(float).tiny)
            spread = np.sqrt(np.diag(st.H) / st.weight)
            if np.any(np.abs(mean - st.x_mean) > 1e-6 * (spread + np.abs(st.x_mean))):
                raise GradfitInputError(
                    "X is not the data the model was fitted on (its column means differ "
                    "from the fit's); pass the same rows, weights and columns"
                )
        assert partial.rss is not None
        rss = partial.rss
    elif cancelling:
        notes.append(
            "R² is so close to 1 that the residual sum of squares from the statistics has "
            "few correct digits; pass X and y to recompute it from the residuals"
        )
    with quiet_blas():  # D×D algebra: BLAS threads only spin (see _loop.quiet_blas)
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma2 = rss / df_resid if df_resid > 0 else np.full(K, np.nan)
        if df_resid <= 0:
            notes.append(f"df_resid = {df_resid:g}: no residual degrees of freedom, σ² is unknown")
        # the bread in centred coordinates z̃ = [1, x_keep − x̄_keep]
        q = p
        bread_c = np.zeros((q, q))
        # a robust pass over whitened rows (z = Mᵀx_c) has the identity for bread there
        whitened = whiten is not None and cov_type != "nonrobust"
        if fi:
            bread_c[0, 0] = 1.0 / st.weight
            bread_c[1:, 1:] = np.eye(r) if whitened else bread_x
        else:
            bread_c[:, :] = np.eye(r) if whitened else bread_x
        cov_c = np.empty((K, q, q))
        n_groups: int | None = None
        df_inference = df_resid
        if cov_type == "nonrobust":
            for k in range(K):
                cov_c[k] = sigma2[k] * bread_c
        else:
            assert partial is not None
            if cov_type == "cluster":
                assert partial.scores is not None and partial.keys is not None
                n_groups = int(partial.keys.shape[0])
                G = n_groups
                if G < 2:
                    raise GradfitInputError(
                        "cov_type='cluster' needs at least two clusters; groups has one label"
                    )
                correction = (G / (G - 1.0)) * ((n - 1.0) / (n - p))
                for k in range(K):
                    S = partial.scores[:, :, k]
                    cov_c[k] = correction * (bread_c @ (S.T @ S) @ bread_c)
                df_inference = float(G - 1)
            else:
                assert partial.meat is not None
                if cov_type in ("HC2", "HC3") and partial.hmax >= 1.0 - 1e-12:
                    notes.append(
                        f"a row has leverage h = {partial.hmax:.6g} ≈ 1 (it alone determines a "
                        f"coefficient); {cov_type} divides by 1 − h and is infinite or undefined"
                    )
                scale_hc = n / (n - p) if cov_type == "HC1" else 1.0
                for k in range(K):
                    cov_c[k] = scale_hc * (bread_c @ partial.meat[k] @ bread_c)
        if whitened:
            assert whiten is not None
            M = np.eye(q)
            M[q - r :, q - r :] = whiten
            cov_c = M @ cov_c @ M.T  # back from z = Mᵀx_c (batched)
        cov_c = 0.5 * (cov_c + np.swapaxes(cov_c, 1, 2))
        # back to the user's coordinates: b = b̃ − x̄ᵀW  (T = [[1, −x̄ᵀ], [0, I]])
        T = np.eye(q)
        if fi:
            T[0, 1:] = -st.x_mean[keep]
        cov_u = T @ cov_c @ T.T  # (K, q, q), batched
        idx = np.concatenate([[0], 1 + keep]) if fi else keep
        P = D + (1 if fi else 0)
        cov = np.full((K, P, P), np.nan)
        cov[:, idx[:, None], idx[None, :]] = cov_u
        params = np.full((P, K), np.nan)
        if fi:
            params[0] = intercept
        params[(1 if fi else 0) + keep] = beta[keep]
        with np.errstate(invalid="ignore"):
            bse = np.sqrt(np.einsum("kii->ik", cov))
        identified = np.zeros(P, dtype=bool)
        identified[idx] = True
        # goodness of fit (statsmodels: centred TSS with an intercept, uncentred without)
        tss = st.yy  # centred with an intercept; without one the statistics are uncentred
        df_model = float(p - (1 if fi else 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            rsq = 1.0 - rss / tss
            rsq_adj = (
                1.0 - (n - (1 if fi else 0)) / df_resid * (1.0 - rsq)
                if df_resid > 0
                else np.full(K, np.nan)
            )
        fvalue = np.full(K, np.nan)
        f_pvalue = np.full(K, np.nan)
        slopes = np.arange(1, q) if fi else np.arange(q)
        use_t_final = (cov_type == "nonrobust") if use_t is None else bool(use_t)
        df_denom = df_inference if cov_type == "cluster" else df_resid
        if len(slopes) and df_denom > 0:
            for k in range(K):
                est = (params[idx, k])[slopes]
                C = cov_u[k][np.ix_(slopes, slopes)]
                if not (np.all(np.isfinite(C)) and np.all(np.isfinite(est))):
                    continue  # an undefined covariance (e.g. a leverage of 1): F is too
                if cov_type == "nonrobust" and rss[k] > 0:
                    # statsmodels' (ESS/df_model)/σ², which equals the Wald form but needs no
                    # inverse (a degree-10 polynomial's C has κ ≈ 1e19: the solve refused it)
                    ess = max(float(tss[k] - rss[k]), 0.0)
                    fvalue[k] = (ess / len(slopes)) / float(sigma2[k])
                    f_pvalue[k] = float(stats.f.sf(fvalue[k], len(slopes), df_denom))
                    continue
                try:
                    # on the correlation scale: coefficients of different sizes (1 beside
                    # 1e-7 for x¹⁰) make C itself ill-conditioned, its correlations need not be
                    d = np.sqrt(np.diag(C))
                    if not np.all(d > 0):
                        raise linalg.LinAlgError("a zero variance")
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", linalg.LinAlgWarning)
                        sol = linalg.solve(
                            C / np.outer(d, d), est / d, assume_a="pos", check_finite=False
                        )
                    fvalue[k] = float((est / d) @ sol) / len(slopes)
                    f_pvalue[k] = float(stats.f.sf(fvalue[k], len(slopes), df_denom))
                except (linalg.LinAlgError, linalg.LinAlgWarning, ValueError):
                    pass  # a singular covariance (fewer clusters than slopes): F undefined
        # the model's coefficients against the exact solution, in standard errors
        gap = 0.0
        model_params = np.vstack([b_model[None, :], W_model]) if fi else W_model
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = np.abs(model_params[idx] - params[idx]) / bse[idx]
        if r == D and np.any(np.isfinite(diff)):
            gap = float(np.nanmax(diff))
            if gap > 0.01:
                notes.append(
                    f"the model's coefficients differ from the exact least-squares solution by "
                    f"up to {gap:.3g} standard errors (an iterative fit stops at tol); the table "
                    "is about the exact solution — refit with a smaller tol or method='exact'"
                )

    def shaped(a: Any) -> Any:
        a = np.asarray(a)
        if not was_1d:
            return a
        return a[..., 0] if a.ndim == 2 else float(a[0])

    names = _feature_names(model, D)
    return Inference(
        params=shaped(params),
        bse=shaped(bse),
        cov_type=cov_type,
        use_t=use_t_final,
        nobs=n,
        df_resid=df_resid,
        df_model=df_model,
        sigma2=shaped(sigma2),
        ssr=shaped(rss),
        rsquared=shaped(rsq),
        rsquared_adj=shaped(rsq_adj),
        fvalue=shaped(fvalue),
        f_pvalue=shaped(f_pvalue),
        param_names=(["const"] if fi else []) + names,
        output_names=_output_names(model, K),
        identified=identified,
        n_groups=n_groups,
        passes=passes,
        coef_gap=gap,
        fit_intercept=fi,
        _cov=cov,
        _cov_centred=cov_c,
        _x_mean=st.x_mean if fi else np.zeros(D),
        _keep=keep,
        _df_inference=df_inference,
        _was_1d=was_1d,
        notes=notes,
    )


#: Above this condition number of the identified columns' scaled ``H`` the coefficients and
#: their covariance are taken from a QR of the rows when they are in memory (``H`` loses about
#: ``log10 κ`` digits; the estimator's planner uses the same limit).
KAPPA_ROWS = 1e10


def _kappa(A: F64) -> float:
    """Condition number of a symmetric positive semi-definite matrix (inf if singular)."""
    eig = linalg.eigvalsh(A, check_finite=False)
    return float(eig[-1] / eig[0]) if eig.size and eig[0] > 0 else math.inf


def _dense_or_csr(X: Any) -> bool:
    """Rows a QR can read block by block: a dense array or a CSR matrix."""
    import scipy.sparse as sp

    return not sp.issparse(X) or getattr(X, "format", None) == "csr"


def _by_rows(
    source: _ArraySource, st: _Stats, safe: F64
) -> tuple[NDArray[np.intp], F64, F64, F64, F64]:
    """Identified columns, coefficients, bread and RSS from a QR of the rows (in memory).

    ``H`` formed in float64 cannot tell nearly collinear columns from collinear ones (its
    rounding hides singular values below about ``1e-5`` of the largest at :data:`RANK_TOL`),
    where the rows can: the estimator fits such data by a QR of the rows
    (:class:`~gradfit.problem.qr.QRProblem`), and so does inference, so the table is about
    the model's own coefficients. A column is not identified when its residual norm given the
    earlier columns (``|R_jj|`` of the unit-scaled columns) is within ``lstsq``'s tolerance
    (``eps·max(N, D)`` of the largest singular value), as the estimator's rank rule; the kept
    columns' factor is the QR of ``R``'s kept columns, so the bread
    ``(X_cᵀΩX_c)⁻¹ = S⁻¹R_k⁻¹R_k⁻ᵀS⁻¹`` never squares κ.
    Returns ``(keep, beta, bread_x, rss, M)`` with ``M = S⁻¹R_k⁻¹`` (``bread_x = MMᵀ``).
    """
    from ..problem.objective import constant_columns
    from ..problem.qr import QRProblem, qr_rank_rcond

    D, K = st.B.shape
    total = st.weight
    qr = QRProblem(
        source.X,
        source.Y,
        source.w,
        st.x_mean,
        st.y_mean,
        safe / math.sqrt(total),  # R₁₁ᵀR₁₁ is then the unit-diagonal Hs
        fit_intercept=st.fit_intercept,
        # as the estimator: columns constant to rounding (their spread within CONSTANT_RTOL of
        # their mean) are not identified beside an intercept
        constant=constant_columns(safe / math.sqrt(total), st.x_mean, st.fit_intercept),
    )
    R11, R12 = qr.R11, qr.R12
    # lstsq's rule relative to the largest singular value, as the estimator's rank
    top = float(qr.singular_values[0]) if qr.singular_values.size else 0.0
    tol = qr_rank_rcond(st.n, D) * top
    keep = np.flatnonzero(np.abs(np.diag(R11)) > tol).astype(np.intp)
    R = linalg.qr(np.hstack([R11[:, keep], R12]), mode="r", check_finite=False)[0]
    r = len(keep)
    Rk, c = np.triu(R[:r, :r]), R[:r, r : r + K]
    residual = R[r:, r : r + K]  # what the kept columns leave of the targets (and R22 below)
    rss = total * (np.einsum("ij,ij->j", residual, residual) + _r22_rss(qr))
    beta = np.zeros((D, K))
    bread_x = np.zeros((r, r))
    M = np.zeros((r, r))
    if r:
        z = linalg.solve_triangular(Rk, c, check_finite=False)
        scale = safe[keep] / math.sqrt(total)  # the QR's column scales
        beta[keep] = z / scale[:, None]
        Rinv = linalg.solve_triangular(Rk, np.eye(r), check_finite=False)
        M = Rinv / safe[keep][:, None]  # S⁻¹R_k⁻¹: (R_kᵀR_k)⁻¹ = Hs_k⁻¹
        bread_x = M @ M.T
        bread_x = 0.5 * (bread_x + bread_x.T)
    return keep, beta, bread_x, rss, M


def _r22_rss(qr: Any) -> F64:
    """The targets' residual sum of squares (normalised) after all of X: ``‖R₂₂‖²`` by column."""
    R22 = np.triu(qr.R22)
    return np.asarray(np.einsum("ij,ij->j", R22, R22), dtype=np.float64)


def _cholesky_or_empty(A: F64) -> F64:
    """Lower Cholesky factor of a positive definite ``A`` (Fortran order), or (0, 0)."""
    if A.size == 0:
        return np.zeros((0, 0))
    try:
        return np.asfortranarray(linalg.cholesky(A, lower=True, check_finite=False))
    except linalg.LinAlgError:  # rounding made it indefinite: a square root by eigenvalues
        ev, Q = linalg.eigh(A)
        R = Q * np.sqrt(np.maximum(ev, 0.0))  # R Rᵀ = A; any factor serves ‖Rᵀx‖²
        return np.asfortranarray(linalg.qr(R.T, mode="r")[0].T)


def _feature_names(model: Any, D: int) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) == D:
        return [str(n) for n in names]
    return [f"x{j}" for j in range(D)]


def _output_names(model: Any, K: int) -> list[str]:
    return ["y"] if K == 1 else [f"y{k}" for k in range(K)]


def keep_statistics(model: Any, problem: Any, sample_weight: Any) -> None:
    """Keep what :func:`inference` needs from a stats-engine fit on the model (private).

    Called by :meth:`GDRegressor.fit`: ``H``, ``B``, ``yy`` unnormalised, the means, N
    and the weight total; nothing is kept for the data path (it never formed ``H``).
    """
    from ..problem.gram import GramProblem

    if (
        not isinstance(problem, GramProblem)
        or getattr(problem, "alpha", 0.0) > 0
        # H from float32 products (decision 34) is off by about 1e-8 relative: the residual sum
        # of squares from it (yy − 2wᵀB + wᵀHw) would cancel to noise at a high R²
        or problem.products == "float32"
    ):
        model.__dict__.pop("_inference_stats", None)
        return
    total = float(problem.N)
    if sample_weight is not None:
        from ..sources.device import to_host

        total = float(np.sum(np.asarray(to_host(sample_weight), dtype=np.float64)))
    model._inference_stats = {
        "H": problem.H * total,
        "B": problem.B * total,
        "yy": problem.yy * total,
        "x_mean": problem.x_offset.copy(),
        "y_mean": problem.y_offset.copy(),
        "n": int(problem.N),
        "n_positive": int(getattr(problem, "n_positive", problem.N)),
        "weight": total,
        "fit_intercept": bool(problem.fit_intercept),
    }


# -- what a model file keeps for prediction intervals ------------------------------------------

#: The arrays a model file holds for ``gradfit predict --interval`` (see docs/model-format.md).
SAVED_ARRAYS = ("inference.cov_centred", "inference.x_mean", "inference.keep", "inference.sigma2")


def saved_form(res: Inference) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """The arrays and JSON scalars a model file stores to give intervals later.

    ``cov_centred`` (K, q, q) is the covariance of the identified parameters about the
    training means ``x_mean`` (D,), ``keep`` the identified feature columns, ``sigma2``
    (K,) the residual variance; the scalars are ``cov_type``, ``use_t``, ``df``
    (the t quantiles' degrees of freedom) and ``fit_intercept``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, inference
    >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
    >>> arrays, meta = saved_form(inference(GDRegressor().fit(X, y)))
    >>> sorted(arrays), meta["cov_type"], meta["df"]
    (['inference.cov_centred', 'inference.keep', 'inference.sigma2', 'inference.x_mean'], \
'nonrobust', 8.0)
    """
    arrays = {
        "inference.cov_centred": np.ascontiguousarray(res._cov_centred, dtype=np.float64),
        "inference.x_mean": np.ascontiguousarray(res._x_mean, dtype=np.float64),
        "inference.keep": np.ascontiguousarray(res._keep, dtype=np.int64),
        "inference.sigma2": np.atleast_1d(np.asarray(res.sigma2, dtype=np.float64)),
    }
    meta = {
        "cov_type": res.cov_type,
        "use_t": bool(res.use_t),
        "df": float(res._df_inference),
        "fit_intercept": bool(res.fit_intercept),
    }
    return arrays, meta


def check_saved(arrays: dict[str, NDArray[Any]], meta: Any, D: int, K: int) -> str | None:
    """What is wrong with a model file's inference entries, or None if they agree.

    Examples
    --------
    >>> import numpy as np
    >>> meta = {"cov_type": "HC1", "use_t": False, "df": 10.0, "fit_intercept": True}
    >>> check_saved({}, meta, 2, 1)
    'the inference arrays are missing'
    >>> check_saved({}, {"cov_type": "HC1"}, 2, 1)
    'the inference entry of the attributes is malformed'
    """
    if not isinstance(meta, dict) or not {"cov_type", "use_t", "df", "fit_intercept"} <= set(meta):
        return "the inference entry of the attributes is malformed"
    if any(name not in arrays for name in SAVED_ARRAYS):
        return "the inference arrays are missing"
    keep = arrays["inference.keep"]
    q = keep.shape[0] + (1 if meta["fit_intercept"] else 0)
    shapes = {
        "inference.cov_centred": (K, q, q),
        "inference.x_mean": (D,),
        "inference.sigma2": (K,),
    }
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            return f"array {name} has shape {arrays[name].shape}, expected {shape}"
    if keep.ndim != 1 or (keep.size and (keep.min() < 0 or keep.max() >= D)):
        return "array inference.keep does not index the features"
    return None


def saved_intervals(
    model: Any, X: Any, level: float = 0.95, kind: str = "obs"
) -> NDArray[np.float64]:
    """``[prediction, lower, upper]`` (n, K, 3) from what a loaded model file kept.

    The prediction is the model's own; the interval's half-width comes from the stored
    covariance (a ``1 − level`` two-sided interval, t or normal as at fit time).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, inference
    >>> X = np.arange(10.0)[:, None]; y = 2.0 * X[:, 0] + np.sin(X[:, 0])
    >>> model = GDRegressor(method="exact").fit(X, y)
    >>> arrays, meta = saved_form(inference(model))
    >>> model._saved_inference = (arrays, meta)
    >>> np.round(saved_intervals(model, [[4.5]]), 3)
    array([[[ 9.196,  7.42 , 10.971]]])
    """
    saved = getattr(model, "_saved_inference", None)
    if saved is None:
        raise GradfitInputError(
            "the model holds no inference (covariance and σ²) to give intervals from: fit it "
            "with `gradfit fit … --inference nonrobust -o model.gfm` (or HC1, HC3, cluster:COL)"
        )
    if not 0.0 < level < 1.0:
        raise GradfitInputError(f"interval level {level!r}: use a level in (0, 1), e.g. 0.95")
    if kind not in ("mean", "obs"):
        raise GradfitInputError(f"kind={kind!r}: use 'mean' or 'obs'")
    arrays, meta = saved
    from .._validation import as_design_matrix

    X_arr = np.asarray(as_design_matrix(X, check_scale=False)[0], dtype=np.float64)
    W, b, _ = _model_arrays(model)
    fi = bool(meta["fit_intercept"])
    params = np.vstack([b[None, :], W]) if fi else W
    alpha = 1.0 - level
    if meta["use_t"]:
        q = float(stats.t.isf(alpha / 2.0, meta["df"]))
    else:
        q = float(stats.norm.isf(alpha / 2.0))
    return interval_bounds(
        X_arr,
        params,
        arrays["inference.cov_centred"],
        arrays["inference.x_mean"],
        np.asarray(arrays["inference.keep"], dtype=np.intp),
        arrays["inference.sigma2"],
        fi,
        q,
        kind,
    )
