"""The scikit-learn estimator: ``GDRegressor``."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._exceptions import ConvergenceWarning
from ._loop import SolveResult, predicted_iterations, solve
from ._objective import LeastSquaresProblem
from ._rules import RULES
from ._validation import as_design_matrix, as_sample_weight, as_targets

__all__ = ["GDRegressor"]


class GDRegressor(RegressorMixin, BaseEstimator):
    r"""Linear regression fitted by gradient methods, multi-output, with an honest result.

    Minimises ``f(W) = ‖XW + b − Y‖²/(2N) + (α/2)‖W‖²`` (weighted by
    ``sample_weight`` if given) over ``W`` of shape (D, K) and an unpenalised
    intercept ``b``. The gradient is ``G = Xᵀ(XW + b − Y)/N + αW``; the seed's
    ``X.T.dot(y − X.dot(w))/len(X)`` is ``−G``.

    Parameters
    ----------
    method : {"cg", "gd", "momentum", "nesterov"}, default="cg"
        The update rule. ``"gd"`` is the seed's loop ``W ← W − lr·G``;
        ``"momentum"`` is Polyak's heavy ball; ``"nesterov"`` is accelerated
        gradient with adaptive restart; ``"cg"`` (default) is conjugate
        gradient with an exact line search per output, which needs no
        learning rate and reaches a tight tolerance in the fewest passes over
        the data.
    learning_rate : "auto" or float, default="auto"
        ``"auto"`` is ``1/L`` (gd, nesterov) or Polyak's ``4/(√L+√μ)²``
        (momentum), with ``L`` the largest eigenvalue of the Hessian estimated
        by Lanczos on the data the loop sees; if the loss ever rises the step
        is rolled back and halved. A float is used as given (in standardised
        coordinates when ``standardize=True``), and a rise raises
        :class:`~gradfit.DivergenceError`. Must be ``"auto"`` for ``"cg"``.
    max_iter : int, default=1000
        Most steps to take.
    tol : float, default=1e-6
        Stop when every output's relative gradient norm ``‖G_k(W)‖/‖G_k(0)‖``
        is at most ``tol`` — the one stopping rule.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept (by implicit centring; X is not copied).
    alpha : float, default=0.0
        L2 penalty ``(α/2)‖W‖²``; never applied to the intercept.
    standardize : bool, default=True
        Scale each feature by its root mean square inside the loop (implicit
        diagonal preconditioning, no copy of X). The objective and its
        solution are unchanged; coefficients are always in the user's units.
        For singular problems (collinear columns, more features than rows)
        the solution reached from zero is the minimum-norm one in the
        standardised units; use ``standardize=False`` for the minimum
        Euclidean-norm solution.
    random_state : int, numpy.random.Generator or None, default=None
        Reserved for stochastic methods; every method available now is
        deterministic, and the Lanczos start vector always uses a fixed seed
        so that repeated fits are bit-identical.
    verbose : int, default=0
        0 silent, 1 one line at the start and the end, 2 a line per iteration.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when the shapes agree.

    Attributes
    ----------
    coef_ : ndarray of shape (K, D) or (D,)
        Weights ``Wᵀ`` in the user's units (1-D when ``y`` was 1-D).
    intercept_ : ndarray of shape (K,) or float
    n_iter_ : int
        Steps taken (rejected steps included).
    history_ : History
        Per-iteration loss, gradient norms, learning rate and events.
    converged_ : bool
    stop_reason_ : str
        Which rule stopped the fit, with its numbers (starts with
        ``"converged"``, ``"max_iter"``, ``"stalled"`` or ``"stopped by callback"``).
    lipschitz_ : float
        ``L``, the largest eigenvalue of the Hessian the loop saw.
    condition_number_ : float
        Estimated ``κ = L/μ`` (a lower estimate unless Lanczos was exact).
    learning_rate_ : float or ndarray of shape (K,)
        The step used at the end, per output (after any halving); for
        ``"cg"`` the last exact line-search step.
    relative_grad_norm_ : ndarray of shape (K,)
        The stopping quantity per output at the returned weights.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X @ [1.5, -2.0, 0.5] + 3.0
    >>> model = GDRegressor().fit(X, y)
    >>> np.round(model.coef_, 6), round(float(model.intercept_), 6)
    (array([ 1.5, -2. ,  0.5]), 3.0)
    >>> model.converged_, model.stop_reason_.split(":")[0]
    (True, 'converged')
    """

    def __init__(
        self,
        *,
        method: str = "cg",
        learning_rate: float | str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-6,
        fit_intercept: bool = True,
        alpha: float = 0.0,
        standardize: bool = True,
        random_state: Any = None,
        verbose: int = 0,
        warm_start: bool = False,
    ) -> None:
        self.method = method
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # -- parameters --------------------------------------------------------------
    def _check_params(self) -> None:
        if self.method not in RULES:
            raise ValueError(
                f"method={self.method!r} is not one of {sorted(RULES)}; 'cg' is the fastest "
                "to a tight tolerance, 'gd' is the seed's plain loop."
            )
        lr = self.learning_rate
        if isinstance(lr, str):
            if lr != "auto":
                raise ValueError(f"learning_rate={lr!r}: use 'auto' or a positive float.")
        elif (
            not isinstance(lr, numbers.Real)
            or isinstance(lr, bool)
            or not math.isfinite(float(lr))
            or float(lr) <= 0
        ):
            raise ValueError(f"learning_rate={lr!r}: use 'auto' or a positive finite float.")
        elif self.method == "cg":
            raise ValueError(
                "method='cg' chooses each step by exact line search, so learning_rate must be "
                "'auto'; pass method='gd', 'momentum' or 'nesterov' to set a learning rate."
            )
        if (
            not isinstance(self.max_iter, numbers.Integral)
            or isinstance(self.max_iter, bool)
            or self.max_iter < 0
        ):
            raise ValueError(f"max_iter={self.max_iter!r}: use a non-negative integer.")
        for name in ("tol", "alpha"):
            value = getattr(self, name)
            if (
                not isinstance(value, numbers.Real)
                or isinstance(value, bool)
                or not math.isfinite(float(value))
                or float(value) < 0
            ):
                raise ValueError(f"{name}={value!r}: use a non-negative finite float.")

    # -- fitting -----------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        callback: Callable[[int, dict[str, Any]], bool | None] | None = None,
    ) -> GDRegressor:
        """Fit the linear model.

        Parameters
        ----------
        X : array-like or DataFrame of shape (N, D)
            Features. float32 and float64 arrays are used without a copy.
        y : array-like of shape (N,) or (N, K)
            Targets; a 2-D ``y`` fits K outputs at once (one ``Xᵀ(XW − Y)``
            per step for all of them).
        sample_weight : array-like of shape (N,), optional
            Non-negative row weights; integer weights equal repeated rows.
        callback : callable, optional
            ``callback(iteration, info)`` after every step, ``info`` holding
            the loss, the relative gradient norm and the step; return True to
            stop early.

        Returns
        -------
        self : GDRegressor
        """
        self._check_params()
        X_arr, _ = as_design_matrix(X)
        validate_data(self, X, reset=True, skip_check_array=True)
        Y, was_1d, _ = as_targets(y, X_arr.shape[0], x_shape=X_arr.shape)
        weights = as_sample_weight(sample_weight, X_arr.shape[0])
        problem = LeastSquaresProblem(
            X_arr,
            Y,
            sample_weight=weights,
            fit_intercept=self.fit_intercept,
            standardize=self.standardize,
            alpha=float(self.alpha),
        )
        V0 = None
        if self.warm_start and hasattr(self, "coef_"):
            # coef_ is (D,) after a 1-D y and (K, D) otherwise; reuse it only when both
            # the number of features and of outputs are unchanged.
            previous = np.asarray(self.coef_, dtype=np.float64)
            previous = previous[:, None] if previous.ndim == 1 else previous.T
            if previous.shape == (problem.D, problem.K):
                V0 = problem.from_user(previous)
        result = solve(
            problem,
            method=self.method,
            learning_rate=self.learning_rate,
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            V0=V0,
            verbose=int(self.verbose),
            callback=callback,
        )
        self._store(result, problem, was_1d, X_arr.dtype)
        if not result.converged and not result.stop_reason.startswith("stopped by callback"):
            warnings.warn(
                self._convergence_message(result, problem), ConvergenceWarning, stacklevel=2
            )
        return self

    def _store(
        self, result: SolveResult, problem: LeastSquaresProblem, was_1d: bool, dtype: Any
    ) -> None:
        W = result.W.astype(dtype)
        b = result.intercept.astype(dtype) if self.fit_intercept else np.zeros(problem.K, dtype)
        self.coef_ = W[:, 0] if was_1d else W.T.copy()
        self.intercept_ = float(b[0]) if was_1d else b
        self.n_iter_ = result.n_iter
        self.history_ = result.history
        self.converged_ = result.converged
        self.stop_reason_ = result.stop_reason
        self.lipschitz_ = result.curvature.L
        self.condition_number_ = result.curvature.kappa
        self.learning_rate_ = float(result.learning_rate[0]) if was_1d else result.learning_rate
        self.relative_grad_norm_ = result.relative_grad_norm
        self._x_rms = problem.x_rms

    def _convergence_message(self, result: SolveResult, problem: LeastSquaresProblem) -> str:
        kappa = result.curvature.kappa
        needed = predicted_iterations(self.method, kappa, float(self.tol), problem.D)
        head = f"GDRegressor did not converge ({result.stop_reason})."
        rms = problem.x_rms[problem.x_rms > 0]
        if result.stop_reason.startswith("stalled"):
            return (
                f"{head} Likely cause: tol={self.tol:g} is below what {problem.dtype} "
                "arithmetic can resolve for this data. Fix: raise tol, or fit in float64."
            )
        if not self.standardize and rms.size > 1 and rms.max() > 100 * rms.min():
            return (
                f"{head} Likely cause: unscaled features (column root mean squares range "
                f"from {rms.min():.3g} to {rms.max():.3g}), which makes κ ≈ {kappa:.3g}. "
                "Fix: standardize=True."
            )
        if kappa > 1e6:
            return (
                f"{head} Likely cause: ill-conditioning, estimated condition number "
                f"κ = L/μ ≈ {kappa:.3g}; method={self.method!r} needs about {needed:.3g} "
                "iterations. Fix: method='cg' or 'nesterov', alpha > 0, or remove "
                "collinear features."
            )
        return (
            f"{head} Likely cause: too few iterations; with κ ≈ {kappa:.3g} method="
            f"{self.method!r} needs about {needed:.3g}. Fix: max_iter={math.ceil(needed * 1.5)}"
            f"{' or method=' + repr('cg') if self.method != 'cg' else ''}."
        )

    # -- prediction --------------------------------------------------------------
    def predict(self, X: Any) -> NDArray[Any]:
        """Predict ``X W + b``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (N, D)

        Returns
        -------
        ndarray of shape (N,) or (N, K)
        """
        check_is_fitted(self)
        X_arr, _ = as_design_matrix(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        coef = np.asarray(self.coef_)
        return X_arr @ coef.T + self.intercept_
