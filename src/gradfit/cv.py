r"""Choosing ``alpha`` exactly from the sufficient statistics: :class:`GDRegressorCV`.

Every alpha on every fold needs only the statistics of the fold's training rows
(``total − fold``) and of its test rows; after one eigen-decomposition of the centred
``H = QΛQᵀ`` of a training set, the ridge solution for any alpha is
``W(α) = Q diag(1/(λ + α)) QᵀB``, and the test error of ``(W, b)`` follows from the
test rows' statistics in ``O(D²K)``:

    Σ(xW + b − y)² = WᵀC_xxW − 2WᵀC_xy + C_yy + n(x̄W + b − ȳ)²   (centred test moments).

Leave-one-out (``cv=None``) is scikit-learn's ``RidgeCV`` (``_RidgeGCV``, eigen mode):
with the eigen-decomposition of the centred ``H`` of all rows, a second pass over the
rows computes every row's leverage ``h_i(α)`` and residual ``r_i(α)`` for all alphas
at once, and the leave-one-out residual is ``r_i/(1 − h_i)``.

Units. gradfit's objective is ``Σω(xW + b − y)²/2 + (α/2)‖W‖²`` with ``ω = w/Σw``
(``‖XW + b − Y‖²/(2N) + (α/2)‖W‖²`` without weights), so scikit-learn's
``Ridge(alpha=a)`` is gradfit's ``alpha = a/Σw`` (``a/N`` without weights) on the same
rows. For K-fold, each fold is fitted on its training rows at the same gradfit alpha,
i.e. at scikit-learn ``alpha × Σw_train`` (``alpha × N_train``).

Singular problems (``alpha`` near zero with collinear features or ``D ≥ N``) take the
minimum-norm answer in the user's units: eigen-directions with ``λ + α`` at most
``eps·D·λmax`` are dropped.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._exceptions import GradfitInputError
from .statistics import (
    Assign,
    Source,
    Statistics,
    array_folds,
    block_statistics,
    collect,
    contiguous_folds,
    hashed_folds,
    open_source,
)

__all__ = ["GDRegressorCV"]

F64 = NDArray[np.float64]

SCORINGS = (None, "neg_mean_squared_error", "r2")


def spectral(H: F64) -> tuple[F64, F64]:
    """Eigenvalues (clipped at 0) and eigenvectors of a symmetric ``H``."""
    lam, Q = linalg.eigh(H, check_finite=False)
    return np.maximum(lam, 0.0), Q


def filters(lam: F64, alphas: F64) -> F64:
    """``F[j, a] = 1/(λ_j + α_a)``, or 0 where ``λ_j + α_a ≤ eps·D·λmax`` (minimum norm).

    Examples
    --------
    >>> filters(np.array([0.0, 2.0]), np.array([0.0, 1.0])).tolist()
    [[0.0, 1.0], [0.5, 0.3333333333333333]]
    """
    D = lam.shape[0]
    tol = np.finfo(np.float64).eps * D * max(float(lam.max(initial=0.0)), np.finfo(float).tiny)
    denom = lam[:, None] + alphas[None, :]
    keep = denom > tol
    F = np.zeros_like(denom)
    F[keep] = 1.0 / denom[keep]
    return F


def ridge_path(stats: Statistics, alphas: F64, fit_intercept: bool) -> tuple[F64, F64]:
    """``W`` (A, D, K) and ``b`` (A, K) of the ridge fits at every alpha, from statistics.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2)); y = X @ [1.0, 2.0] + 3.0
    >>> W, b = ridge_path(Statistics.from_data(X, y), np.array([0.0]), True)
    >>> np.round(W[0, :, 0], 8).tolist(), round(float(b[0, 0]), 8)
    ([1.0, 2.0], 3.0)
    """
    g = stats.gram(fit_intercept)
    lam, Q = spectral(g["H"])
    C = Q.T @ g["B"]
    F = filters(lam, alphas)
    W = np.einsum("dj,ja,jk->adk", Q, F, C, optimize=True)
    b = g["y_offset"][None, :] - np.einsum("d,adk->ak", g["x_offset"], W)
    if not fit_intercept:
        b = np.zeros_like(b)
    return W, b


def fold_errors(test: Statistics, W: F64, b: F64) -> tuple[F64, F64]:
    """Weighted squared errors summed (A, K) of every ``(W, b)`` on test rows; ``Σw(y − ȳ)²``."""
    xxW = np.einsum("de,aek->adk", test.xx, W, optimize=True)
    quad = np.einsum("adk,adk->ak", W, xxW)
    lin = np.einsum("adk,dk->ak", W, test.xy)
    shift = np.einsum("d,adk->ak", test.x_mean, W) + b - test.y_mean[None, :]
    sse = quad - 2.0 * lin + test.yy[None, :] + test.weight_sum * shift**2
    return np.maximum(sse, 0.0), test.yy


def _r2(sse: F64, sst: F64) -> F64:
    """scikit-learn's ``r2_score`` per output (``force_finite``: 1 or 0 for constant y)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    constant = np.broadcast_to(sst == 0.0, r2.shape)
    return np.where(constant, np.where(sse == 0.0, 1.0, 0.0), r2)


class GDRegressorCV(RegressorMixin, BaseEstimator):
    r"""Ridge regression with ``alpha`` chosen by cross-validation, exactly, from one pass.

    Like scikit-learn's ``RidgeCV``: leave-one-out by default (exact, all alphas at
    once), or K-fold from per-fold sufficient statistics collected in the same single
    pass (train = total − fold); then a refit on all rows at ``alpha_``. Works on
    arrays, DataFrames, scipy.sparse, PyTorch/CuPy arrays (read a block at a time on
    the host), files larger than memory and Dask collections through the same code.

    Parameters
    ----------
    alphas : array-like of float, optional
        Candidate penalties in gradfit's units (``(α/2)‖W‖²`` added to the mean squared
        error over 2: scikit-learn's ``Ridge(alpha=a)`` is ``a/Σw`` here, ``a/N`` without
        weights). Default: 30 values log-spaced from ``1e-6`` to ``1e2`` times the mean
        eigenvalue of ``H`` (``trace(H)/D``), so that the grid follows the data's scale.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept.
    cv : None, int, scikit-learn splitter or iterable of (train, test), default=None
        ``None``: exact leave-one-out (two passes over the rows). An int ``K``: K-fold,
        contiguous like ``KFold(K)`` (or hashed, see ``shuffle``), one pass. A splitter
        (``KFold(5, shuffle=True, random_state=0)``, ``GroupKFold``…) or explicit splits:
        its folds, for in-memory data.
    scoring : {None, "neg_mean_squared_error", "r2"}, default=None
        As in ``RidgeCV``: ``None`` is the (weighted) mean squared leave-one-out error
        for ``cv=None`` and ``"r2"`` (the estimator's score, as ``GridSearchCV``) for
        K-fold. Scores use the sample weights (as scikit-learn routes them to the scorer:
        weighted mean squared error, weighted R²).
        Multi-output scores are averaged over outputs (unless ``alpha_per_target``).
    alpha_per_target : bool, default=False
        Choose one alpha per output (also with K-fold, unlike ``RidgeCV``).
    shuffle : bool, default=False
        With ``cv=K``: assign row ``i`` to fold ``splitmix64(i, random_state) mod K``,
        a seeded hash of the row index that needs no row count, so streams, files and
        Dask collections of the same rows get the same folds (sizes about ``N/K``; not
        the folds of ``KFold(shuffle=True)`` — pass that splitter for those).
    random_state : int, default=None
        The seed of ``shuffle`` (None means 0).

    Attributes
    ----------
    alpha_ : float or ndarray of shape (K,)
    best_score_ : float or ndarray of shape (K,)
    best_index_ : int or ndarray of shape (K,)
    alphas_ : ndarray of shape (A,)
        The alphas tried.
    cv_results_ : dict of ndarray
        ``param_alpha``, ``params``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``split{k}_test_score`` (K-fold; with ``alpha_per_target``
        the score arrays have a second axis, one column per output), and
        ``std_error_test_score``: the standard error of the mean score (K-fold:
        ``std(ddof=1)/√K``; leave-one-out: over the rows).
    coef_ : ndarray of shape (D,) or (K, D)
    intercept_ : float or ndarray of shape (K,)
    statistics_ : Statistics
        The statistics of all rows (add more rows to them, save them, refit them).
    n_splits_ : int
        Number of folds (N for leave-one-out).
    n_passes_ : int
        Passes over the rows (1 for K-fold, 2 for leave-one-out).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = X @ [1.0, 0.5, 0.0, 0.0, -1.0] + rng.normal(size=200)
    >>> model = GDRegressorCV(alphas=[0.01, 0.1, 1.0, 10.0]).fit(X, y)
    >>> float(model.alpha_), model.cv_results_["mean_test_score"].shape
    (0.1, (4,))
    >>> kfold = GDRegressorCV(alphas=[0.01, 0.1, 1.0, 10.0], cv=5).fit(X, y)
    >>> sorted(k for k in kfold.cv_results_ if k.startswith("split"))[:2]
    ['split0_test_score', 'split1_test_score']
    """

    def __init__(
        self,
        alphas: Any = None,
        *,
        fit_intercept: bool = True,
        cv: Any = None,
        scoring: str | None = None,
        alpha_per_target: bool = False,
        shuffle: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.alpha_per_target = alpha_per_target
        self.shuffle = shuffle
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        return tags

    # -- checks ------------------------------------------------------------------------
    def _check(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(
                f"scoring={self.scoring!r} is not one of {list(SCORINGS)}; the scores are "
                "computed from statistics, so only these two metrics are available."
            )
        cv = self.cv
        if cv is not None and isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            if cv < 2:
                raise ValueError(f"cv={cv!r}: K-fold needs at least 2 folds (or cv=None: LOO).")
        elif cv is not None and not hasattr(cv, "split") and not hasattr(cv, "__iter__"):
            raise ValueError(
                f"cv={cv!r}: use None (leave-one-out), an int (K-fold), a scikit-learn "
                "splitter or an iterable of (train, test) index arrays."
            )
        if self.shuffle and not isinstance(cv, numbers.Integral):
            raise ValueError(
                "shuffle=True applies to cv=K (an int): it assigns rows to folds by a seeded "
                "hash; a splitter object shuffles by itself."
            )

    def _alphas(self, total: Statistics) -> F64:
        if self.alphas is None:
            H = total.gram(self.fit_intercept)["H"]
            scale = float(np.trace(H)) / max(H.shape[0], 1)
            scale = scale if scale > 0 else 1.0
            return np.logspace(-6, 2, 30) * scale
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        if alphas.ndim != 1 or alphas.size == 0:
            raise ValueError(f"alphas must be a non-empty 1-D sequence, got shape {alphas.shape}")
        if not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError(f"alphas must be finite and non-negative, got {alphas.tolist()}")
        return alphas

    # -- folds ---------------------------------------------------------------------------
    def _folds(self, src: Source, y: Any) -> tuple[Assign | None, int, list[Any] | None]:
        """The fold assignment; or explicit (train, test) splits that are not a partition."""
        cv = self.cv
        if isinstance(cv, numbers.Integral):
            K = int(cv)
            if self.shuffle:
                seed = 0 if self.random_state is None else int(self.random_state)
                return hashed_folds(K, seed), K, None
            N = src.n_rows if src.n_rows is not None else _count_rows(src)
            if N < K:
                raise GradfitInputError(f"cv={K} folds need at least {K} rows; the data has {N}.")
            return contiguous_folds(N, K), K, None
        if hasattr(cv, "split"):
            if src.array is None:
                from sklearn.model_selection import KFold

                if type(cv) is KFold and not cv.shuffle:
                    N = src.n_rows if src.n_rows is not None else _count_rows(src)
                    return contiguous_folds(N, cv.n_splits), cv.n_splits, None
                raise GradfitInputError(
                    f"cv={cv!r} needs the rows in memory to draw its folds; for "
                    f"{src.kind} data use cv=K with shuffle=True (seeded hash of the row index)."
                )
            Xa, Ya, _ = src.array
            splits = list(cv.split(Xa, Ya if Ya.shape[1] > 1 else Ya[:, 0]))
        else:
            if src.array is None:
                raise GradfitInputError("explicit (train, test) splits need the rows in memory.")
            splits = list(cv)
        N = int(src.array[0].shape[0])
        fold_of = np.full(N, -1, dtype=np.intp)
        partition = True
        for k, (train, test) in enumerate(splits):
            test = np.asarray(test)
            test_idx = np.arange(N)[test] if test.dtype == bool else test
            train_idx = np.asarray(train)
            train_n = int(train_idx.sum()) if train_idx.dtype == bool else train_idx.size
            if np.any(fold_of[test_idx] >= 0) or train_n + test_idx.size != N:
                partition = False
                break
            fold_of[test_idx] = k
        if partition and np.all(fold_of >= 0):
            return array_folds(fold_of), len(splits), None
        return None, len(splits), splits

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any = None, sample_weight: Any = None, **fit_params: Any
    ) -> GDRegressorCV:
        """Collect the statistics (one pass), score every alpha, refit at the best.

        Parameters
        ----------
        X : array-like, DataFrame, sparse matrix, torch/CuPy array, file or Dask collection
        y : array-like of shape (N,) or (N, K); None for files (``target=``)
        sample_weight : array-like of shape (N,), optional
        **fit_params
            ``target=``, ``features=`` for files.

        Returns
        -------
        self : GDRegressorCV
        """
        self._check()
        X, encoding = self._encode(X)
        src = open_source(X, y, sample_weight, fit_params)
        if self.cv is None:
            per_fold, _, _ = collect(X, y, sample_weight, fit_params, source=src)
            total = per_fold[0]
            if total.n_samples < 2:
                raise GradfitInputError(
                    f"leave-one-out needs at least 2 rows; got n_samples = {total.n_samples}."
                )
            self.n_passes_ = 2
            alphas = self._alphas(total)
            scores, se, extra = self._loo(src, total, alphas)
            self.n_splits_ = total.n_samples
        else:
            assign, n_folds, splits = self._folds(src, y)
            if splits is None:
                per_fold, _, _ = collect(
                    X, y, sample_weight, fit_params, folds=lambda s: (assign, n_folds), source=src
                )
                total = sum(per_fold[1:], per_fold[0])
                trains = [total - s for s in per_fold]
                tests = per_fold
                self.n_passes_ = 1
            else:
                Xa, Ya, wa = src.array
                total = collect(X, y, sample_weight, fit_params, source=src)[0][0]
                trains, tests = [], []
                for train, test in splits:
                    trains.append(_rows_statistics(Xa, Ya, wa, train))
                    tests.append(_rows_statistics(Xa, Ya, wa, test))
                self.n_passes_ = 1 + len(splits)
            alphas = self._alphas(total)
            scores, se, extra = self._kfold(trains, tests, alphas)
            self.n_splits_ = n_folds
        self._source_1d = src.y_1d
        self._select(alphas, scores, se, extra)
        self._refit(total, src)
        for name in ("encoding_", "coef_names_"):
            self.__dict__.pop(name, None)
        if encoding is not None:  # as GDRegressor: the input columns, and the encoded ones
            self.encoding_ = encoding
            self.coef_names_ = list(encoding.names_out)
            self.n_features_in_ = len(encoding.names_in)
            self.feature_names_in_ = np.asarray(encoding.names_in, dtype=object)
        return self

    def _encode(self, X: Any) -> tuple[Any, Any]:
        """A DataFrame with text or ``category`` columns, one-hot encoded as GDRegressor does.

        Returns the DataFrame of encoded columns (named ``column=level``) and the
        encoding (None, and ``X`` unchanged, for any other input).
        """
        if not (hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "dtypes")):
            return X, None
        import pandas as pd

        from ._encode import encode_dataframe

        done = encode_dataframe(X, fit_intercept=bool(self.fit_intercept))
        if done is None:
            return X, None
        encoded, encoding = done
        return pd.DataFrame(encoded, columns=list(encoding.names_out), index=X.index), encoding

    def _kfold(
        self, trains: list[Statistics], tests: list[Statistics], alphas: F64
    ) -> tuple[F64, F64, dict[str, Any]]:
        scoring = self.scoring or "r2"
        per_fold = []
        for train, test in zip(trains, tests, strict=True):
            if train.weight_sum <= 0 or test.n_samples == 0:
                raise GradfitInputError(
                    "a fold has no training weight or no test rows; use fewer folds."
                )
            W, b = ridge_path(train, alphas, self.fit_intercept)
            sse, sst = fold_errors(test, W, b)
            if scoring == "r2":
                per_fold.append(_r2(sse, sst[None, :]))
            else:
                per_fold.append(-sse / test.weight_sum)
        split = np.stack(per_fold)  # (folds, A, K)
        if not self.alpha_per_target:
            split = split.mean(axis=2)
        mean = split.mean(axis=0)
        n = split.shape[0]
        se = split.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
        extra = {f"split{k}_test_score": split[k] for k in range(n)}
        extra["std_test_score"] = split.std(axis=0)
        return mean, se, extra

    def _loo(self, src: Source, total: Statistics, alphas: F64) -> tuple[F64, F64, dict[str, Any]]:
        sums = loo_sums(src, total, alphas, self.fit_intercept)
        N, K = total.n_samples, total.n_targets
        # RidgeCV: without a scorer, the mean over rows of w·e²; a named scorer scores the
        # leave-one-out predictions with the sample weights (Σw·e²/Σw, weighted R²)
        scale = N if self.scoring is None else total.weight_sum
        per_target = -sums["sw"] / scale
        row_sum, row_sq = sums["sw"].sum(axis=1) / K, sums["sw_row2"]
        var = np.maximum(row_sq / N - (row_sum / N) ** 2, 0.0)
        se = np.sqrt(var / max(N - 1, 1)) * (N / scale)
        if self.scoring == "r2":
            per_target = _r2(sums["sw"], total.yy[None, :])
            se = se / max(float(np.mean(total.yy / total.weight_sum)), np.finfo(float).tiny)
        if self.alpha_per_target:
            return per_target, np.repeat(se[:, None], K, axis=1), {}
        return per_target.mean(axis=1), se, {}

    def _select(self, alphas: F64, mean: F64, se: F64, extra: dict[str, Any]) -> None:
        from scipy.stats import rankdata

        if not np.any(np.isfinite(mean)):
            raise GradfitInputError(
                "no alpha has a finite cross-validation score (leverages of 1: a row alone "
                "determines a coefficient); use larger alphas."
            )
        masked = np.where(np.isnan(mean), -np.inf, mean)
        best = np.argmax(masked, axis=0)
        if mean.ndim == 1:
            rank = rankdata(-masked, method="min").astype(np.int32)
        else:
            rank = np.column_stack(
                [rankdata(-masked[:, k], method="min") for k in range(mean.shape[1])]
            ).astype(np.int32)
        self.alphas_ = alphas
        results: dict[str, Any] = {
            "param_alpha": alphas.copy(),
            "params": [{"alpha": float(a)} for a in alphas],
            "mean_test_score": mean,
            "std_test_score": extra.pop("std_test_score", np.full(mean.shape, np.nan)),
            "rank_test_score": rank,
            "std_error_test_score": se,
        }
        results.update(extra)
        self.cv_results_ = results
        if mean.ndim == 1:
            self.best_index_ = int(best)
            self.alpha_ = float(alphas[best])
            self.best_score_ = float(mean[best])
        else:
            cols = np.arange(mean.shape[1])
            if self._y_1d:
                self.best_index_ = int(best[0])
                self.alpha_ = float(alphas[best[0]])
                self.best_score_ = float(mean[best[0], 0])
            else:
                self.best_index_ = best
                self.alpha_ = alphas[best]
                self.best_score_ = mean[best, cols]

    def _refit(self, total: Statistics, src: Source) -> None:
        alpha = np.atleast_1d(np.asarray(self.alpha_, dtype=np.float64))
        K = total.n_targets
        W = np.empty((total.n_features, K))
        b = np.empty(K)
        for a in np.unique(alpha):
            cols = np.arange(K) if alpha.size == 1 else np.flatnonzero(alpha == a)
            some = total.select_targets(cols.tolist())
            Wa, ba = ridge_path(some, np.array([a]), self.fit_intercept)
            W[:, cols], b[cols] = Wa[0], ba[0]
        dtype = np.dtype(total.dtype)
        self.coef_ = W[:, 0].astype(dtype) if total.y_1d else W.T.astype(dtype)
        self.intercept_ = float(b[0]) if total.y_1d else b.astype(dtype)
        self.statistics_ = total
        self.n_features_in_ = total.n_features
        if total.feature_names is not None:
            self.feature_names_in_ = np.asarray(total.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        # the columns prediction on the same kind of input finds again (a .npy file's x0, x1…)
        self._source_columns = None
        if src.kind == "file":
            _, _reader, names = src.file
            self._source_columns = list(names)

    @property
    def _y_1d(self) -> bool:
        return bool(getattr(self, "_source_1d", False))

    def predict(self, X: Any) -> Any:
        """Predict ``XW + b`` with the refitted coefficients.

        Parameters
        ----------
        X : array-like, DataFrame, sparse matrix, file or Dask collection

        Returns
        -------
        ndarray of shape (N,) or (N, K)
        """
        from ._validation import as_design_matrix
        from .sources.base import find_adapter

        check_is_fitted(self)
        encoding = getattr(self, "encoding_", None)
        if encoding is not None and hasattr(X, "columns") and hasattr(X, "iloc"):
            from ._encode import transform_dataframe

            return transform_dataframe(X, encoding) @ np.asarray(self.coef_).T + self.intercept_
        adapter = find_adapter(X)
        if adapter is not None and adapter.predict is not None:
            names = getattr(self, "feature_names_in_", None)
            columns = list(names) if names is not None else getattr(self, "_source_columns", None)
            return adapter.predict(X, self.coef_, self.intercept_, columns)
        X_arr, _ = as_design_matrix(X, check_scale=False)
        width = len(self.coef_names_) if encoding is not None else self.n_features_in_
        if X_arr.shape[1] != width:
            raise GradfitInputError(
                f"X has {X_arr.shape[1]} features, but GDRegressorCV is expecting "
                f"{width} features as input; pass the columns it was fitted on."
            )
        return X_arr @ np.asarray(self.coef_).T + self.intercept_


def _count_rows(src: Source) -> int:
    """Rows of a source whose length is not known in advance (a CSV file): one reading."""
    if src.kind == "dask":
        from .statistics import dask_lengths

        return sum(dask_lengths(src))
    return sum(int(Xb.shape[0]) for Xb, _, _, _ in src.blocks())


def _rows_statistics(X: Any, Y: F64, w: F64 | None, rows: Any) -> Statistics:
    rows = np.asarray(rows)
    Xr = X[rows]
    if hasattr(Xr, "toarray"):
        Xr = Xr.toarray()
    return block_statistics(Xr, Y[rows], None if w is None else w[rows])


# -- leave-one-out: the second pass ------------------------------------------------------------


def _loo_block(X: F64, Y: F64, w: F64 | None, ctx: dict[str, Any]) -> dict[str, F64]:
    Q, F, C = ctx["Q"], ctx["F"], ctx["C"]
    A, K = F.shape[1], C.shape[1]
    Z = np.asarray(X, dtype=np.float64) - ctx["x0"]
    Z = Z @ Q
    lev = (Z * Z) @ F  # (n, A)
    if ctx["fit_intercept"]:
        lev += 1.0
    ratio = (np.ones(X.shape[0]) if w is None else w) / ctx["wsum"]
    lev *= ratio[:, None]
    G = (F[:, :, None] * C[:, None, :]).reshape(F.shape[0], A * K)
    P = (Z @ G).reshape(-1, A, K)
    R = np.asarray(Y, dtype=np.float64) - ctx["y0"]
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (R[:, None, :] - P) / (1.0 - lev)[:, :, None]
    wE2 = E * E
    if w is not None:
        wE2 *= w[:, None, None]
    return {"sw": wE2.sum(axis=0), "sw_row2": (wE2.mean(axis=2) ** 2).sum(axis=0)}


def _loo_pair(pair: tuple[F64, F64], ctx: dict[str, Any]) -> dict[str, F64]:
    return _loo_block(pair[0], pair[1], None, ctx)


def _add_sums(a: dict[str, F64] | None, b: dict[str, F64]) -> dict[str, F64]:
    return dict(b) if a is None else {k: a[k] + b[k] for k in a}


def loo_sums(src: Source, total: Statistics, alphas: F64, fit_intercept: bool) -> dict[str, F64]:
    """Sums over rows of the leave-one-out errors at every alpha (one more pass)."""
    g = total.gram(fit_intercept)
    lam, Q = spectral(g["H"])
    ctx = {
        "Q": Q,
        "F": filters(lam, alphas),
        "C": Q.T @ g["B"],
        "x0": g["x_offset"],
        "y0": g["y_offset"],
        "wsum": total.weight_sum,
        "fit_intercept": fit_intercept,
    }
    sums: dict[str, F64] | None = None
    if src.kind == "dask":
        import dask

        from .sources.dask import _compute

        pairs, _ = src.dask
        task = dask.delayed(_loo_pair, pure=True)
        for part in _compute(*[task(p, ctx) for p in pairs]):
            sums = _add_sums(sums, part)
    else:
        A, K, D = len(alphas), total.n_targets, total.n_features
        rows = max(64, (1 << 21) // max(1, A * K + D))
        for Xb, Yb, wb, _ in _reblock(src, rows):
            sums = _add_sums(sums, _loo_block(Xb, Yb, wb, ctx))
    assert sums is not None
    return sums


def _reblock(src: Source, rows: int) -> Iterator[tuple[Any, Any, Any, int]]:
    """The source's blocks, cut further to at most ``rows`` rows (bounded memory per alpha)."""
    for Xb, Yb, wb, start in src.blocks():
        for a in range(0, Xb.shape[0], rows):
            b = min(Xb.shape[0], a + rows)
            yield Xb[a:b], Yb[a:b], None if wb is None else wb[a:b], start + a
