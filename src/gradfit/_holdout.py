"""Held-out scores: a seeded split of the rows that streams, and K-fold cross-validation.

``gradfit fit --test-size F`` puts each row in the test part with probability ``F``,
decided by a seeded hash of the row's position in the file (:func:`held_out_rows`). The
decision needs nothing but the row's index, so the same rows are held out whether the
file is read whole or streamed block by block, whatever the block size, and a second
run with the same ``--seed`` holds out the same rows. The model is fitted on the
training part only; the test part is scored with it (R², RMSE, MAE).

``gradfit fit --cv K`` (without ``--alpha auto``) fits K models, each on K − 1 folds,
and scores each on the fold it did not see (:func:`cross_validated_scores`); the rows
are in memory, and the folds are scikit-learn's ``KFold(K, shuffle=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from ._tables import Scores
from .sources.files import StreamSource

__all__ = [
    "HoldoutSource",
    "cross_validated_scores",
    "held_out_rows",
    "regression_scores",
]

F64 = NDArray[np.float64]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The splitmix64 finaliser, element-wise (uint64 arithmetic wraps modulo 2⁶⁴)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def held_out_rows(start: int, n: int, test_size: float, seed: int) -> NDArray[np.bool_]:
    """Which of the rows ``start … start + n − 1`` are held out (True) for testing.

    Row ``i`` is held out when ``hash(seed, i) / 2⁶⁴ < test_size`` (splitmix64), so the
    decision depends on the row's index and the seed only: blocks of any size give the
    same split, and about ``test_size`` of the rows are held out.

    Examples
    --------
    >>> whole = held_out_rows(0, 1000, 0.2, seed=0)
    >>> bool(np.array_equal(whole, np.concatenate([held_out_rows(0, 300, 0.2, 0),
    ...                                           held_out_rows(300, 700, 0.2, 0)])))
    True
    >>> 150 < int(whole.sum()) < 250
    True
    """
    with np.errstate(over="ignore"):
        index = np.arange(start, start + n, dtype=np.uint64)
        key = _splitmix64(np.full(1, np.uint64(seed) & _M64))[0]
        u = _splitmix64(index ^ key)
    return np.asarray((u >> np.uint64(11)).astype(np.float64) * 2.0**-53 < test_size)


def regression_scores(Y: Any, P: Any) -> dict[str, F64]:
    """R², RMSE and MAE per output of predictions ``P`` of ``Y``.

    R² is ``1 − Σ(y − p)²/Σ(y − ȳ)²`` (nan for a constant target), as scikit-learn's
    ``r2_score(..., multioutput="raw_values")``.

    Examples
    --------
    >>> s = regression_scores([1.0, 2.0, 3.0], [1.0, 2.5, 3.0])
    >>> [round(float(s[k][0]), 4) for k in ("r2", "rmse", "mae")]
    [0.875, 0.2887, 0.1667]
    """
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    P = np.asarray(P, dtype=np.float64).reshape(len(Y), -1)
    scores = Scores(Y.shape[1])
    scores.add(Y, P)
    r2, rmse = scores.result()
    return {"r2": r2, "rmse": rmse, "mae": scores.mae()}


def check_test_size(test_size: float) -> float:
    """``test_size`` as a float strictly between 0 and 1, or a clear error."""
    value = float(test_size)
    if not 0.0 < value < 1.0:
        raise GradfitInputError(
            f"test_size={test_size!r}: use a fraction of the rows strictly between 0 and 1, "
            "e.g. 0.2"
        )
    return value


def split_counts(n_train: int, n_test: int, n_features: int, label: str) -> None:
    """Refuse a split that leaves too few rows to score or to fit."""
    if n_test < 2:
        raise GradfitInputError(
            f"--test-size held out {n_test} row(s) of {n_train + n_test} in {label}, too few "
            "to score (R² needs 2); raise --test-size or use more rows"
        )
    if n_train < 2:
        raise GradfitInputError(
            f"--test-size left {n_train} training row(s) of {n_train + n_test} in {label}; "
            "lower --test-size"
        )


class HoldoutSource(StreamSource):
    """The training (or the test) rows of a streamed source, chosen by :func:`held_out_rows`.

    Parameters
    ----------
    inner : StreamSource
        The whole file's source (read again at each pass over this one).
    test_size : float
    seed : int
    part : {"train", "test"}

    Examples
    --------
    >>> class Blocks(StreamSource):
    ...     def blocks(self):
    ...         for start in range(0, 100, 30):
    ...             X = np.arange(start, min(start + 30, 100), dtype=float)[:, None]
    ...             yield X, X[:, 0]
    >>> train = HoldoutSource(Blocks(1, 1, was_1d=True), 0.25, seed=3, part="train")
    >>> rows = np.concatenate([X[:, 0] for X, _, _ in train._blocks()])
    >>> bool(np.array_equal(rows, np.flatnonzero(~held_out_rows(0, 100, 0.25, 3))))
    True
    """

    def __init__(self, inner: StreamSource, test_size: float, seed: int, part: str) -> None:
        super().__init__(
            inner.n_features,
            inner.n_outputs,
            feature_names=list(inner.columns),
            target_names=list(inner.target_names),
            was_1d=inner.was_1d,
            named=inner.feature_names is not None,
            label=str(inner.path),
            block_rows=inner.block_rows,
            cache_dir=inner.cache_dir,
            progress=inner.progress,
        )
        self.path = inner.path
        self.inner = inner
        self.test_size = check_test_size(test_size)
        self.seed = int(seed)
        self.part = part
        self.rows_seen = 0
        self.rows_kept = 0

    def size(self) -> int:
        """The inner source's size (the whole file is read)."""
        return self.inner.size()

    # what a file source adds (text columns, dropped rows): the inner source's, so that a
    # fit of the training part learns the same encoding and reports the same rows dropped
    def prepare(self, *, fit_intercept: bool) -> None:
        """Learn the inner source's text levels before the plan (see ``FileSource.prepare``)."""
        prepare = getattr(self.inner, "prepare", None)
        if prepare is not None:
            prepare(fit_intercept=fit_intercept)
            self.n_features = self.inner.n_features
            self.columns = list(self.inner.columns)
            if self.feature_names is not None:
                self.feature_names = self.columns

    @property
    def encoding(self) -> Any:
        """The inner source's encoding of text columns, or None."""
        return getattr(self.inner, "encoding", None)

    @property
    def spec(self) -> Any:
        """The inner file's :class:`~gradfit.sources.files.DataFile`, or None."""
        return getattr(self.inner, "spec", None)

    @property
    def rows_dropped(self) -> int:
        """Rows with missing values the inner source left out."""
        return int(getattr(self.inner, "rows_dropped", 0))

    def _blocks(self) -> Iterator[Any]:
        start = 0
        kept = 0
        for X, Y, done in self.inner._blocks():
            n = X.shape[0]
            test = held_out_rows(start, n, self.test_size, self.seed)
            keep = test if self.part == "test" else ~test
            start += n
            kept += int(keep.sum())
            assert Y is not None  # a fitting source has targets
            yield X[keep], Y[keep], done
        self.rows_seen, self.rows_kept = start, kept


def cross_validated_scores(model: Any, X: Any, y: Any, k: int, seed: int) -> dict[str, Any]:
    """K-fold held-out R², RMSE and MAE of ``model``'s settings on ``X, y``.

    Each fold is scored by a clone of ``model`` fitted on the other K − 1 folds
    (scikit-learn's ``KFold(k, shuffle=True, random_state=seed)``).

    Returns
    -------
    dict
        ``folds`` (K), ``seed``, and per output the mean and standard deviation over
        the folds: ``r2``, ``r2_std``, ``rmse``, ``rmse_std``, ``mae``, ``mae_std``
        (arrays of shape (K_outputs,)).

    Examples
    --------
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2)); y = X @ [1.0, 2.0] + 0.1 * rng.normal(size=50)
    >>> s = cross_validated_scores(GDRegressor(), X, y, 5, seed=0)
    >>> s["folds"], bool(s["r2"][0] > 0.99)
    (5, True)
    """
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import KFold

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64)
    if len(X) < k:
        raise GradfitInputError(f"--cv {k} needs at least {k} rows; the data has {len(X)}")
    per_fold: dict[str, list[F64]] = {"r2": [], "rmse": [], "mae": []}
    folds = KFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summary warns about the full fit already
        for train, test in folds.split(X):
            fold_model = clone(model).set_params(checkpoint=None)
            fold_model.fit(X[train], Y[train])
            scores = regression_scores(Y[test], fold_model.predict(X[test]))
            for name, values in scores.items():
                per_fold[name].append(values)
    out: dict[str, Any] = {"folds": k, "seed": seed}
    for name, fold_values in per_fold.items():
        stacked = np.vstack(fold_values)
        out[name] = stacked.mean(axis=0)
        out[f"{name}_std"] = stacked.std(axis=0, ddof=1)
    return out
