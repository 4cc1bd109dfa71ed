"""NumPy arrays (and pandas DataFrames, once validated) in memory: an ordinary source.

The estimator validates arrays and DataFrames (:mod:`gradfit._validation`), brings
columns beyond ``1e±50`` into range, and hands them to :class:`ArraySource`; the
planner (:func:`gradfit.problem.plan.plan`) treats it as any other source.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..problem.gram import sufficient_statistics
from ..problem.objective import LeastSquaresProblem, Problem
from .base import Source

__all__ = ["ArraySource"]


class ArraySource(Source):
    """NumPy (and pandas, once validated) arrays in memory: an ordinary source.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        float32 or float64, used without a copy.
    Y : ndarray of shape (N, K)
    sample_weight : ndarray of shape (N,), optional
    was_1d : bool, default=False
    feature_names : list of str, optional
    stats : dict, optional
        :func:`~gradfit.problem.gram.sufficient_statistics` of X and Y already formed
        (with an intercept unless :attr:`stats_intercept` is set False).

    Examples
    --------
    >>> source = ArraySource(np.ones((4, 2)), np.zeros((4, 1)))
    >>> source.n_rows, source.n_features, source.n_outputs
    (4, 2, 1)
    """

    kind = "numpy"

    def __init__(
        self,
        X: NDArray[Any],
        Y: NDArray[Any],
        sample_weight: NDArray[np.float64] | None = None,
        *,
        was_1d: bool = False,
        feature_names: list[str] | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        #: statistics already formed (with ``fit_intercept`` = ``stats_intercept``), or None
        self._stats = stats
        self.stats_intercept = True
        self.n_rows, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.n_outputs = int(Y.shape[1])
        self.was_1d = was_1d
        self.feature_names = feature_names
        self.dtype = X.dtype
        #: ``"float32"`` where the fit may form ``H`` with float32 products (a fit that
        #: refines and certifies on these rows: decision 34); the planner sets it back to
        #: ``"float64"`` where that statistics problem would not do.
        self.products = "float64"

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """``XᵀΩX`` and ``XᵀΩY`` about the means (one or two passes over X in memory)."""
        if (
            self._stats is not None
            and self.stats_intercept == bool(options["fit_intercept"])
            and (self.products == "float32" or self._stats.get("products") != "float32")
        ):
            return self._stats  # formed while validating X (GDRegressor.fit): no second pass
        return sufficient_statistics(
            self.X,
            self.Y,
            sample_weight=self.sample_weight,
            fit_intercept=bool(options["fit_intercept"]),
            products=self.products,
        )

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """:class:`~gradfit.problem.objective.LeastSquaresProblem` (the fused kernel over X)."""
        # after the statistics pass the means and scales are known: no second pass for them,
        # and both problems then share exactly the same centring and preconditioning
        return LeastSquaresProblem(
            self.X,
            self.Y,
            sample_weight=self.sample_weight,
            **options,
            x_offset=None if known is None else known.x_offset,
            y_offset=None if known is None else known.y_offset,
            x_scale=None if known is None else known.x_scale,
        )

    def refine_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any
    ) -> Problem:
        """The rows for ``exact``'s refinement: the fused kernel, or centred float64 passes.

        Where the statistics needed their second pass (a column's or the targets' mean large
        beside its spread, :func:`~gradfit.problem.gram.cancels`), the kernel's
        ``X_b·W − x̄·W`` would cancel in every refinement step (columns around 1e5 ± 0.25
        stalled at 1.7e-7 off lstsq): :class:`~gradfit.problem.qr.RowsProblem` centres each
        block first. float32 rows are refined in float64 too (the kernel's float32 sums would
        stop the refinement at float32's rounding).
        """
        centred = int(known.n_passes) >= 2 and options["fit_intercept"]
        if not centred and self.X.dtype == np.float64:
            return self.data_problem(options, stats, known)
        from ..problem.qr import RowsProblem

        return RowsProblem(
            self.X,
            self.Y,
            self.sample_weight,
            known.x_offset,
            known.y_offset,
            known.x_scale,
            fit_intercept=bool(options["fit_intercept"]),
            standardize=bool(options["standardize"]),
            alpha=float(options["alpha"]),
            constant=np.asarray(known.constant),
            raw_means=known.raw_means,
            scales=(known.x_rms, known.loss_at_zero, known.target_scale),
        )

    def digest(self) -> str | None:
        """XXH3 digest of X, Y and the weights, block by block (for checkpoints)."""
        from ..solve.checkpoint import data_digest

        return data_digest(self.X, self.Y, self.sample_weight)
