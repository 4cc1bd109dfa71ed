r"""Sparse input: ``scipy.sparse`` matrices and arrays through both engines, never densified.

:class:`SparseProblem` is the data path for a CSR matrix: the same objective as
:class:`~gradfit.problem.objective.LeastSquaresProblem`, with the intercept eliminated
and the columns standardised *implicitly*, because centring a sparse matrix
would fill it in. Residuals are ``r = XW − Y + (ȳ − x̄W)`` and the gradient is
``Xᵀ(Ωr) − x̄ᵀ Σ ω r``: two sparse products per pass (``X @ W`` and
``Xᵀ @ R``), no copy of X.

The column statistics come from the stored values alone. The mean is
``x̄_j = Σ_{i∈nz(j)} ω_i x_ij`` and the centred mean square is written so that
nothing cancels::

    s_j² = Σ_{i∈nz(j)} ω_i (x_ij − x̄_j)²  +  x̄_j² (1 − Σ_{i∈nz(j)} ω_i)

(the second term is the implicit zeros, each ``x̄_j`` away from the mean).

The statistics engine forms ``H = XᵀΩX − x̄x̄ᵀ`` from a sparse–sparse product
(a dense D×D result) and ``B = XᵀΩY − x̄ȳᵀ`` and hands them to
:class:`~gradfit.problem.gram.GramProblem`. The raw form cancels when a column's mean is
large against its spread; the diagonal is therefore replaced by the exact
``s_j²`` above, and ``gradient="auto"`` falls back to the data path when
``mean²/variance`` exceeds :data:`~gradfit.problem.gram.CANCELLATION_LIMIT` (a shift
would densify X). ``method="exact"`` always refines on the data.

The adapter registered here (``"sparse"``) accepts anything for which
:func:`scipy.sparse.issparse` is true: CSR and CSC matrices and arrays are used
as they are (CSC is converted to CSR once), other formats (COO, LIL, DOK, …)
are converted to CSR once; float32 and float64 values are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .._validation import as_sample_weight, as_targets, rescale_exponents
from ..problem.gram import CANCELLATION_LIMIT, mean_to_spread
from ..problem.objective import PassObjective, Problem, preconditioner
from ..problem.plan import STATS_MAX_FEATURES
from ..solve.checkpoint import DataDigest
from .base import Source, check_options, register

__all__ = [
    "SparseProblem",
    "SparseSource",
    "as_sparse_design_matrix",
    "sparse_reason",
    "sparse_statistics",
]

F64 = NDArray[np.float64]


def _row_values(X: Any, per_row: NDArray[Any]) -> NDArray[Any]:
    """``per_row[i]`` for every stored value of the CSR matrix ``X`` (row i's values)."""
    return np.repeat(per_row, np.diff(X.indptr))


def _overflow_error(X: Any, Y: NDArray[Any]) -> GradfitInputError:
    return GradfitInputError.overflow(
        float(np.max(np.abs(X.data))) if X.nnz else 0.0,
        float(np.max(np.abs(Y))),
        " (scaling keeps a sparse matrix sparse)",
    )


def as_sparse_design_matrix(X: Any, *, name: str = "X") -> Any:
    """Validate a scipy sparse matrix and return it as a canonical CSR array (no densifying).

    CSR input whose values are float32 or float64 and whose indices are sorted
    without duplicates is used as it is (its buffers are shared). Other formats
    are converted to CSR once; integer and boolean values become float64 (one
    copy of the stored values); complex values are refused.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (N, D)
    name : str, default="X"
        How messages refer to the argument.

    Returns
    -------
    scipy.sparse.csr_array

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = as_sparse_design_matrix(sp.random(5, 3, density=0.5, format="csc", random_state=0))
    >>> X.format, X.shape, X.dtype
    ('csr', (5, 3), dtype('float64'))
    >>> as_sparse_design_matrix(sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 2.0]])))
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: Input X contains NaN at row 0, column 1 ...
    """
    if not sp.issparse(X):
        raise TypeError(f"{name} is not a scipy sparse matrix (got {type(X).__name__})")
    if len(X.shape) != 2:
        raise GradfitInputError(
            f"Expected a 2-D sparse {name} of shape (n_samples, n_features), got shape "
            f"{X.shape}. Reshape it with {name}.reshape(1, -1) for a single sample."
        )
    N, D = X.shape
    if N == 0:
        raise GradfitInputError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
            f"required: {name} is empty. Pass at least one row."
        )
    if D == 0:
        raise GradfitInputError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
            f"required: {name} has no columns. Pass at least one feature column."
        )
    kind = X.dtype.kind
    if kind == "c":
        raise GradfitInputError(
            f"Complex data not supported: sparse {name} has dtype {X.dtype}. "
            "Split it into real and imaginary columns."
        )
    if kind not in "biuf":
        raise GradfitInputError(
            f"sparse {name} has dtype {X.dtype}, which is not numeric; store numbers in it."
        )
    X = sp.csr_array(X)  # shares the buffers of CSR input; converts other formats once
    if X.dtype not in (np.float32, np.float64):
        # float16 computes badly and integers are not floats: the NumPy path's rule
        X = X.astype(np.float32 if X.dtype == np.float16 else np.float64)
    if not X.has_canonical_format:
        X = X.copy()  # never reorder the caller's matrix in place
        X.sum_duplicates()
    data = X.data
    with np.errstate(over="ignore", invalid="ignore"):
        total = data.sum(dtype=np.float64)
    if not np.isfinite(total):
        bad = np.flatnonzero(~np.isfinite(data))
        if bad.size:
            k = int(bad[0])
            row = int(np.searchsorted(X.indptr, k, side="right") - 1)
            value = data[k]
            what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
            raise GradfitInputError(
                f"Input {name} contains {what} at row {row}, column {int(X.indices[k])} "
                f"({bad.size} non-finite stored value(s) in all; NaN and infinity are not "
                "allowed). Drop or impute those rows, or set the entries to zero."
            )
    return X


class SparseProblem(PassObjective):
    """Regularised multi-output least squares on a sparse CSR ``X`` (the data path).

    Same interface and attributes as :class:`~gradfit.problem.objective.LeastSquaresProblem`;
    centring and standardisation are implicit, so X is never copied or densified.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array of shape (N, D), float32 or float64
        Features (see :func:`as_sparse_design_matrix`); used in place.
    Y : ndarray of shape (N, K)
    sample_weight : ndarray of shape (N,), optional
    fit_intercept, standardize : bool, default=True
    alpha : float, default=0.0

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from gradfit.problem.objective import LeastSquaresProblem
    >>> X = sp.random(200, 5, density=0.3, format="csr", random_state=0)
    >>> Y = np.random.default_rng(0).normal(size=(200, 2))
    >>> V = np.ones((5, 2))
    >>> sparse, dense = SparseProblem(X, Y), LeastSquaresProblem(X.toarray(), Y)
    >>> bool(np.allclose(sparse.loss_grad(V)[1], dense.loss_grad(V)[1]))
    True
    >>> bool(np.allclose(sparse.x_scale, dense.x_scale))
    True
    """

    engine = "data"

    def __init__(
        self,
        X: Any,
        Y: NDArray[Any],
        *,
        sample_weight: F64 | None = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
    ) -> None:
        X = sp.csr_array(X)
        if X.dtype in (np.float32, np.float64) and not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        self._init_rows(
            X,
            Y,
            sample_weight,
            fit_intercept=fit_intercept,
            standardize=standardize,
            alpha=alpha,
        )
        self.XT = X.T  # a CSC view of the same buffers
        Y64 = np.asarray(Y, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            self._statistics(Y64)

    # -- one-time statistics ---------------------------------------------------
    def _row_of_stored(self) -> NDArray[np.intp]:
        """The row of every stored value (an nnz-sized index array)."""
        return _row_values(self.X, np.arange(self.N))

    def _statistics(self, Y64: F64) -> None:
        stats = _column_statistics(self.X, self.omega, self.fit_intercept)
        y_mean = (Y64.mean(axis=0) if self.omega is None else self.omega @ Y64).astype(np.float64)
        #: Weighted means of X's columns and of Y (the stopping rule's reference without an
        #: intercept: :func:`~gradfit.solve.loop.reference_norms`).
        self.raw_means = (np.asarray(stats["mean"], dtype=np.float64), y_mean)
        self.x_offset = stats["mean"] if self.fit_intercept else np.zeros(self.D)
        self.y_offset = y_mean if self.fit_intercept else np.zeros(self.K)
        self.x_rms = np.sqrt(stats["ms"])
        self.x_scale = preconditioner(self.x_rms, self.standardize)
        Yc = Y64 - self.y_offset
        per_row = Yc * Yc if self.omega is None else Yc * Yc * self.omega[:, None]
        reduce = np.mean if self.omega is None else np.sum
        #: Loss of the zero model (the intercept alone), per output.
        self.loss_at_zero = 0.5 * reduce(per_row, axis=0)
        raw = Y64 * Y64 if self.omega is None else Y64 * Y64 * self.omega[:, None]
        #: Half the weighted mean square of the raw targets: the scale of rounding in the loss.
        self.target_scale = 0.5 * reduce(raw, axis=0)
        self.n_passes = 0
        if not (
            np.all(np.isfinite(self.x_rms))
            and np.all(np.isfinite(self.target_scale))
            and np.all(np.isfinite(self.x_offset))
        ):
            raise _overflow_error(self.X, Y64)
        self._centre_targets(Y64)

    # -- what the loop asks besides loss and gradient --------------------------------
    def max_row_norm2(self) -> float:
        """Largest squared norm of a centred, scaled row, from the stored values only.

        ``Σ_j ((x_ij − x̄_j)/s_j)² = Σ_{nz} [((x−x̄)/s)² − (x̄/s)²] + Σ_j (x̄_j/s_j)²``.
        """
        cols = self.X.indices
        m = self.x_offset / self.x_scale
        z = self.X.data / self.x_scale[cols] - m[cols]
        per_row = np.bincount(self._row_of_stored(), weights=z * z - m[cols] ** 2, minlength=self.N)
        return float(np.max(per_row) + m @ m)

    # -- the passes over the data ------------------------------------------------------
    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        """``Xᵀ Ω r − x̄ᵀ Σ ω r`` and ``½ Σ ω r²`` with two sparse products."""
        self.n_passes += 1
        R = np.asarray(self.X @ W.astype(self.dtype))
        if with_targets:
            R -= self.Y
        if self.fit_intercept:
            shift = (self.y_offset - self._y_stored if with_targets else 0.0) - self.x_offset @ W
            R += shift.astype(self.dtype)
        Rw = R if self._omega_c is None else R * self._omega_c[:, None]
        acc = np.asarray(self.XT @ Rw, dtype=np.float64)
        cols = W.shape[1]
        sq = np.einsum("ij,ij->j", R, Rw, dtype=np.float64) if with_targets else np.zeros(cols)
        rsum = Rw.sum(axis=0, dtype=np.float64) if self.fit_intercept else np.zeros(cols)
        return self._finish_pass(acc, sq, rsum)


def _column_statistics(X: Any, omega: F64 | None, fit_intercept: bool) -> dict[str, F64]:
    """Weighted column means and (centred) mean squares of a canonical CSR ``X``."""
    N, D = X.shape
    cols = X.indices
    data = X.data.astype(np.float64)

    def column_sums(weights: Any = None) -> F64:
        # float64 even without stored values (bincount of nothing is int64)
        return np.bincount(cols, weights=weights, minlength=D).astype(np.float64)

    if omega is None:
        w_row: Any = 1.0 / N
        nz_weight = column_sums() / N
    else:
        w_row = _row_values(X, omega)
        nz_weight = column_sums(w_row)
    mean = column_sums(data * w_row)
    if fit_intercept:
        d = data - mean[cols]
        ms = column_sums(d * d * w_row)
        ms += mean * mean * np.maximum(1.0 - nz_weight, 0.0)
    else:
        ms = column_sums(data * data * w_row)
    return {"mean": mean, "ms": ms, "nz_weight": nz_weight}


def sparse_statistics(
    X: Any,
    Y: NDArray[Any],
    *,
    sample_weight: F64 | None = None,
    fit_intercept: bool = True,
) -> dict[str, Any]:
    """Sufficient statistics of a sparse ``X`` in the form :class:`GramProblem` takes.

    ``H = XᵀΩX − x̄x̄ᵀ`` comes from one sparse–sparse product in float64 (a dense
    D×D result), with its diagonal replaced by the exactly centred mean squares;
    ``B = XᵀΩY − x̄ȳᵀ``. X is never densified.

    Returns
    -------
    dict
        ``H``, ``B``, ``yy``, ``yy_raw``, ``x_offset``, ``y_offset``, ``N``,
        ``passes`` and ``cancellation`` (the largest ``mean²/variance`` of a column).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from gradfit.problem.gram import sufficient_statistics
    >>> X = sp.random(300, 4, density=0.4, format="csr", random_state=1)
    >>> Y = np.random.default_rng(1).normal(size=(300, 2))
    >>> s, d = sparse_statistics(X, Y), sufficient_statistics(X.toarray(), Y)
    >>> all(bool(np.allclose(s[k], d[k])) for k in ("H", "B", "yy", "x_offset", "y_offset"))
    True
    """
    X = sp.csr_array(X)
    N, D = X.shape
    K = Y.shape[1]
    omega = None if sample_weight is None else sample_weight / np.sum(sample_weight)
    Y64 = np.asarray(Y, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        col = _column_statistics(X, omega, fit_intercept)
        X64 = X if X.dtype == np.float64 else X.astype(np.float64)  # stored values only
        # the targets enter centred: XᵀΩY − x̄ȳᵀ cancelled for targets with a large mean (1e10 +
        # signal: coefficients 92% off in a fit that said converged), XᵀΩ(Y − ȳ) − x̄·Σω(Y − ȳ)
        # does not (the second term is rounding)
        if omega is None:
            XtX = (X64.T @ X64).toarray() / N  # D×D, the only dense result
            y_mean = Y64.mean(axis=0)
            Yc = Y64 - y_mean if fit_intercept else Y64
            XtY = np.asarray(X64.T @ Yc) / N
            y_rest = Yc.mean(axis=0)
            yy = np.einsum("ij,ij->j", Yc, Yc) / N
            yy_raw = np.einsum("ij,ij->j", Y64, Y64) / N
        else:
            Xw = sp.csr_array(
                (X64.data * _row_values(X64, omega), X64.indices, X64.indptr),
                shape=X64.shape,
            )
            XtX = (Xw.T @ X64).toarray()
            y_mean = omega @ Y64
            Yc = Y64 - y_mean if fit_intercept else Y64
            XtY = np.asarray(Xw.T @ Yc)
            y_rest = omega @ Yc
            yy = np.einsum("ij,ij,i->j", Yc, Yc, omega)
            yy_raw = np.einsum("ij,ij,i->j", Y64, Y64, omega)
        dx = col["mean"] if fit_intercept else np.zeros(D)
        dy = y_mean if fit_intercept else np.zeros(K)
        H = XtX - np.outer(dx, dx)
        H = 0.5 * (H + H.T)
        H[np.diag_indices(D)] = col["ms"]  # exact, without cancellation
        B = XtY - np.outer(dx, y_rest) if fit_intercept else XtY
        ratio = mean_to_spread(dx, col["ms"])
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(B)) and np.all(np.isfinite(yy_raw))):
        raise _overflow_error(X, Y64)
    return {
        "H": H,
        "B": B,
        "yy": np.maximum(yy, 0.0),
        "yy_raw": yy_raw,
        "x_offset": dx,
        "y_offset": dy,
        "x_mean": np.asarray(col["mean"], dtype=np.float64),
        "y_mean": np.asarray(y_mean, dtype=np.float64),
        "N": N,
        "n_positive": N if sample_weight is None else int(np.count_nonzero(sample_weight > 0)),
        "passes": 1,
        "cancellation": float(np.max(ratio)) if D else 0.0,
    }


def sparse_reason(engine: str, N: int, D: int, nnz: int) -> str:
    """Why the automatic shape rule chose ``engine`` for a sparse N×D matrix with ``nnz`` values.

    ``"stats"`` only when ``D <= STATS_MAX_FEATURES`` and ``D <= N``: H is a dense
    D×D matrix even when X is sparse.

    Examples
    --------
    >>> sparse_reason("stats", 10_000, 50, 20_000)[:44]
    'auto: sparse X with D=50 <= 2000 and N=10000'
    >>> sparse_reason("data", 10_000, 5_000, 20_000)
    'auto: sparse X with D=5000 > 2000: H would be a dense D×D matrix (191 MiB) ...'
    """
    if engine == "data":
        return (
            f"auto: sparse X with D={D} > {STATS_MAX_FEATURES}: H would be a dense D×D matrix "
            f"({D * D * 8 / 2**20:.0f} MiB) while each data-path pass reads only the {nnz} "
            "stored values"
        )
    return (
        f"auto: sparse X with D={D} <= {STATS_MAX_FEATURES} and N={N} >= D: one sparse "
        f"product over the {nnz} stored values forms H and B, then each iteration costs "
        "O(D²K) whatever N is"
    )


class SparseSource(Source):
    """A SciPy sparse matrix (CSR, CSC, COO, …) with its targets: the ``"sparse"`` source.

    The statistics are one sparse product over the stored values; the data
    path is :class:`SparseProblem` (implicit centring, X never densified).

    Examples
    --------
    >>> X = sp.random(50, 3, density=0.5, format="csr", random_state=0)
    >>> source = SparseSource(X, np.ones(50), None)
    >>> source.n_rows, source.n_features, source.was_1d
    (50, 3, True)
    """

    kind = "sparse"

    def __init__(self, X: Any, y: Any, sample_weight: Any) -> None:
        self.Xs = as_sparse_design_matrix(X)
        N, D = (int(n) for n in self.Xs.shape)
        self.n_rows: int = N
        self.n_features = D
        self.Y, self.was_1d, _ = as_targets(y, N, x_shape=self.Xs.shape, check_scale=False)
        self.n_outputs = int(self.Y.shape[1])
        self.weights = as_sample_weight(sample_weight, N)
        self.dtype = self.Xs.dtype
        self._scaled = False

    def _rescale(self, options: dict[str, Any]) -> None:
        """Bring columns beyond ``1e±50`` into range by powers of two (exact; a copy).

        The stored values of such a column are divided by ``2**e`` (the sparsity is
        unchanged); :attr:`units` lets the estimator scale the answer back.
        """
        if self._scaled:
            return
        self._scaled = True
        Xs = self.Xs
        x_mag = np.zeros(self.n_features)
        if Xs.nnz:
            column_max = abs(Xs).max(axis=0)
            x_mag = np.asarray(
                column_max.toarray() if hasattr(column_max, "toarray") else column_max,
                dtype=np.float64,
            ).ravel()
        y_mag = np.abs(self.Y).max(axis=0).astype(np.float64)
        self.units = rescale_exponents(x_mag, y_mag, alpha=float(options["alpha"]))
        if self.units is None:
            return
        x_exp, y_exp = self.units
        data = np.ldexp(Xs.data, -x_exp[Xs.indices]).astype(Xs.dtype, copy=False)
        self.Xs = sp.csr_array((data, Xs.indices, Xs.indptr), shape=Xs.shape)
        self.Y = np.ldexp(self.Y, -y_exp[None, :]).astype(self.Y.dtype, copy=False)

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """One sparse product forms ``H`` and ``B`` about the means (:func:`sparse_statistics`)."""
        self._rescale(options)
        return sparse_statistics(
            self.Xs,
            self.Y,
            sample_weight=self.weights,
            fit_intercept=bool(options["fit_intercept"]),
        )

    def digest(self) -> str | None:
        """The CSR arrays, Y and the weights identify the matrix exactly (for checkpoints)."""
        Xs = self.Xs
        hashed = DataDigest()
        for part in (Xs.indptr.astype(np.int64), Xs.indices.astype(np.int64), Xs.data):
            hashed.update(part, None)
        hashed.update(np.zeros(0), self.Y, self.weights)
        return hashed.hexdigest()

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """:class:`SparseProblem` over the stored values."""
        self._rescale(options)
        return SparseProblem(self.Xs, self.Y, sample_weight=self.weights, **options)

    def explain(self, engine: str, reason: str, *, shape_rule: bool) -> str:
        """The automatic choice in words about a sparse X (see :func:`sparse_reason`)."""
        if not shape_rule:
            return reason
        return sparse_reason(engine, int(self.Xs.shape[0]), self.n_features, int(self.Xs.nnz))

    def veto(self, stats: dict[str, Any]) -> str | None:
        """Centring ``XᵀΩX − x̄x̄ᵀ`` would cancel: the data path is used instead."""
        if stats["cancellation"] <= CANCELLATION_LIMIT:
            return None
        return (
            f"auto: a column's mean²/variance is {stats['cancellation']:.3g} > "
            f"{CANCELLATION_LIMIT:.0e}; centring XᵀΩX − x̄x̄ᵀ would cancel (a shift would "
            "densify X), so the data path is used"
        )


def _open(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> SparseSource:
    check_options(params, set(), "sparse", "it takes no keywords of its own.")
    return SparseSource(X, y, sample_weight)


def _predict(X: Any, coef: Any, intercept: Any, columns: list[str] | None) -> NDArray[Any]:
    Xs = as_sparse_design_matrix(X)
    W = np.asarray(coef)
    D = W.shape[-1]
    if Xs.shape[1] != D:
        raise GradfitInputError(
            f"X has {Xs.shape[1]} features, but GDRegressor was fitted with {D} features."
        )
    return np.asarray(Xs @ W.T) + intercept


register("sparse", sp.issparse, _open, _predict)
