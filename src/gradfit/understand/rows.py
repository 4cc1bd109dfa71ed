"""What the report and the diagnosis need from rows of any number, in one bounded pass.

:func:`collect_rows` reads blocks of rows once and keeps only what is small:

* the sufficient statistics (:class:`~gradfit.Statistics`: means, ``XᵀX``, ``XᵀY``, ``YᵀY``
  about the means, combined block by block), from which the spectrum, ``κ``, the exact
  optimum ``W*``, ``f*`` and the loss of any coefficients follow
  (:func:`gradfit.understand.diagnose.diagnose_statistics`);
* each column's minimum and maximum;
* with a model: R² and RMSE of its predictions on every row;
* a **seeded random sample** of at most :data:`SAMPLE_ROWS` rows, for what needs rows
  (the residual plots, the explanation of the seed's loop, the learning-rate sweep).

The sample does not depend on the block size: row ``i`` gets the ``i``-th number of one
seeded stream of uniform keys, and the rows with the smallest keys are kept. The same
rows are therefore chosen from a file streamed in blocks and from the same rows held in
memory (:func:`sample_indices`), so the streamed report and the in-memory one agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SAMPLE_ROWS", "SAMPLE_SEED", "RowSummary", "collect_rows", "sample_indices"]

F64 = NDArray[np.float64]

#: Most rows the report keeps for what needs rows (residual plots, the explanation).
SAMPLE_ROWS = 10_000
#: Seed of the row sample.
SAMPLE_SEED = 0


def sample_indices(
    n_rows: int, size: int | None = None, seed: int = SAMPLE_SEED
) -> NDArray[np.intp]:
    """The rows (sorted, 0-based) of the seeded sample of ``size`` of ``n_rows`` rows.

    All rows when there are at most ``size`` (default :data:`SAMPLE_ROWS`); the same
    rows :func:`collect_rows` keeps from the same rows read in blocks of any size.

    Examples
    --------
    >>> sample_indices(5, 10).tolist()
    [0, 1, 2, 3, 4]
    >>> rows = sample_indices(1000, 3)
    >>> len(rows), bool(np.all(np.diff(rows) > 0))
    (3, True)
    """
    size = SAMPLE_ROWS if size is None else int(size)
    if n_rows <= size:
        return np.arange(n_rows)
    keys = np.random.default_rng(seed).random(n_rows)
    return np.sort(np.argpartition(keys, size - 1)[:size])


@dataclass(frozen=True)
class RowSummary:
    """One pass over rows: statistics, ranges, scores and a seeded sample.

    Attributes
    ----------
    statistics : Statistics
        Of every row (unweighted).
    x_min, x_max : ndarray of shape (D,)
    y_min, y_max : ndarray of shape (K,)
    rows : ndarray of int
        The 0-based indexes of the sampled rows, sorted.
    X_sample : ndarray of shape (S, D)
    Y_sample : ndarray of shape (S, K)
    r2, rmse, mae : ndarray of shape (K,) or None
        Of the model's predictions on every row, when a model was given.
    seed : int
    """

    statistics: Any
    x_min: F64
    x_max: F64
    y_min: F64
    y_max: F64
    rows: NDArray[np.intp]
    X_sample: F64
    Y_sample: F64
    r2: F64 | None = None
    rmse: F64 | None = None
    seed: int = SAMPLE_SEED
    mae: F64 | None = None

    @property
    def n_rows(self) -> int:
        """N, every row read."""
        return int(self.statistics.n_samples)

    @property
    def sampled(self) -> bool:
        """Whether the sample is fewer rows than N."""
        return len(self.rows) < self.n_rows

    def sample_words(self) -> str:
        """How the rows shown were chosen, for captions.

        Examples
        --------
        >>> s = collect_rows([(np.arange(6.0).reshape(3, 2), np.ones((3, 1)))], sample_rows=2)
        >>> s.sample_words()
        'a seeded random sample of 2 of the 3 rows (seed 0)'
        """
        if not self.sampled:
            return f"all {self.n_rows} rows"
        return (
            f"a seeded random sample of {len(self.rows)} of the {self.n_rows} rows "
            f"(seed {self.seed})"
        )


def collect_rows(
    blocks: Iterable[tuple[Any, Any]],
    *,
    model: Any = None,
    sample_rows: int | None = None,
    seed: int = SAMPLE_SEED,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
    on_block: Any = None,
    check_range: bool = True,
) -> RowSummary:
    """Read ``(X_block, Y_block)`` pairs once; keep the statistics, ranges, scores, a sample.

    Memory is bounded by one block plus ``sample_rows`` rows plus ``D×D``.

    Parameters
    ----------
    blocks : iterable of (ndarray (n, D), ndarray (n, K))
    model : fitted estimator, optional
        Its predictions give R² and RMSE on every row.
    sample_rows : int, optional
        Default :data:`SAMPLE_ROWS` (at least 1).
    seed : int, default=SAMPLE_SEED
    feature_names, target_names : sequence of str, optional
        Stored on the statistics.
    on_block : callable, optional
        Called with the rows read so far after every block (progress).
    check_range : bool, default=True
        Refuse columns beyond ``1e±50`` (:func:`~gradfit._validation.check_magnitude`,
        naming the column) before their statistics overflow. False only for a caller
        that ignores the statistics of such rows (a fit that rescaled them).

    Returns
    -------
    RowSummary

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(50, 2)); Y = X @ [[1.0], [2.0]]
    >>> whole = collect_rows([(X, Y)], sample_rows=7)
    >>> parts = collect_rows([(X[:13], Y[:13]), (X[13:], Y[13:])], sample_rows=7)
    >>> same = whole.rows.tolist() == sample_indices(50, 7).tolist()
    >>> bool(np.array_equal(whole.rows, parts.rows)), same
    (True, True)
    >>> bool(np.allclose(parts.statistics.xx, np.cov(X.T, bias=True) * 50))
    True
    """
    from .._tables import Scores, predict_block
    from .._validation import check_magnitude
    from ..statistics import Statistics, block_statistics

    sample_rows = max(1, SAMPLE_ROWS if sample_rows is None else int(sample_rows))
    rng = np.random.default_rng(seed)
    total: Statistics | None = None
    x_min = x_max = y_min = y_max = None
    keys = np.zeros(0)
    kept_rows = np.zeros(0, dtype=np.intp)
    kept_X: F64 | None = None
    kept_Y: F64 | None = None
    scores: Scores | None = None
    start = 0
    for Xb, Yb in blocks:
        X = np.ascontiguousarray(Xb, dtype=np.float64)
        Y = np.asarray(Yb, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        n = X.shape[0]
        if n == 0:
            continue
        lo_x, hi_x, lo_y, hi_y = X.min(0), X.max(0), Y.min(0), Y.max(0)
        if check_range:
            names = [*(feature_names or []), *(target_names or [])]
            largest = np.maximum(np.abs(np.r_[lo_x, lo_y]), np.abs(np.r_[hi_x, hi_y]))
            check_magnitude(
                largest,
                "the data",
                names if len(names) == X.shape[1] + Y.shape[1] else None,
            )
        part = block_statistics(X, Y)
        total = part if total is None else total + part
        if x_min is None:
            x_min, x_max, y_min, y_max = lo_x, hi_x, lo_y, hi_y
        else:
            assert x_max is not None and y_min is not None and y_max is not None
            x_min, x_max = np.minimum(x_min, lo_x), np.maximum(x_max, hi_x)
            y_min, y_max = np.minimum(y_min, lo_y), np.maximum(y_max, hi_y)
        if model is not None:
            scores = scores or Scores(Y.shape[1])
            scores.add(Y, predict_block(model, X))
        block_keys = np.asarray(rng.random(n), dtype=np.float64)
        rows = np.arange(start, start + n)
        cand_keys: F64
        if kept_X is None:
            cand_keys, cand_rows, cand_X, cand_Y = block_keys, rows, X, Y
        else:
            assert kept_Y is not None
            cand_keys = np.concatenate([keys, block_keys])
            cand_rows = np.concatenate([kept_rows, rows])
            cand_X, cand_Y = np.vstack([kept_X, X]), np.vstack([kept_Y, Y])
        if len(cand_keys) > sample_rows:
            take = np.argpartition(cand_keys, sample_rows - 1)[:sample_rows]
        else:
            take = np.arange(len(cand_keys))
        keys, kept_rows = cand_keys[take], cand_rows[take]
        kept_X, kept_Y = cand_X[take].copy(), cand_Y[take].copy()
        start += n
        if on_block is not None:
            on_block(start)
    if total is None or kept_X is None or kept_Y is None:
        from .._exceptions import GradfitInputError

        raise GradfitInputError("the data has no rows")
    assert x_min is not None and x_max is not None and y_min is not None and y_max is not None
    order = np.argsort(kept_rows)
    if feature_names is not None or target_names is not None:
        total = total._like(
            feature_names=None if feature_names is None else tuple(map(str, feature_names)),
            target_names=None if target_names is None else tuple(map(str, target_names)),
        )
    r2 = rmse = mae = None
    if scores is not None and scores.finite:
        r2, rmse = scores.result()
        mae = scores.mae()
    return RowSummary(
        statistics=total,
        x_min=x_min,
        x_max=x_max,
        y_min=y_min,
        y_max=y_max,
        rows=kept_rows[order],
        X_sample=kept_X[order],
        Y_sample=kept_Y[order],
        r2=r2,
        rmse=rmse,
        seed=seed,
        mae=mae,
    )
