"""The scikit-learn estimator: ``GDRegressor``."""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._exceptions import CollinearityWarning, ConvergenceWarning, DataNote, GradfitInputError
from ._validation import (
    _is_dataframe,
    as_design_matrix,
    as_sample_weight,
    as_targets,
    column_magnitudes,
    design_scan,
    gram_proves_design,
    power_of_two_scales,
    rescale_exponents,
    scannable,
)
from .problem.gram import (
    GramProblem,
    forming_drift,
    rank_tolerance,
    single_threaded_blas,
    sufficient_statistics,
)
from .problem.objective import LeastSquaresProblem, Problem
from .problem.plan import ENGINES, KAPPA_LIMIT, STATS_MAX_FEATURES, choose_engine, plan
from .problem.qr import QRProblem, null_directions_hold
from .solve.certify import UNRESOLVED_RELATIVE, certify, newton_step
from .solve.checkpoint import Checkpointer, fingerprint
from .solve.loop import (
    SolveResult,
    predicted_iterations,
    refine,
    sgd_learning_rate,
    solve,
    solve_exact,
)
from .solve.rules import METHODS, SCHEDULES, evaluate
from .sources.arrays import ArraySource
from .sources.base import Source, find_adapter
from .sources.device import to_host
from .understand.inference import keep_statistics

# the other input adapters register themselves on import (after _xp's "array-api", in the
# order gradfit/__init__ used to import them); none imports pyarrow, dask or torch
from .sources import dask as _dask  # noqa: F401  # isort: skip
from .sources import files as _datafile  # isort: skip
from .sources import sparse as _sparse  # noqa: F401  # isort: skip
from . import statistics as _statistics  # noqa: F401  # isort: skip  (the "statistics" adapter)

__all__ = ["GDRegressor"]


def _off_by(relative: float) -> str:
    """How far coefficients are off, for a message (``relative`` the largest error/size).

    Examples
    --------
    >>> _off_by(0.753), _off_by(99706.0)
    ('off by up to 75.3% of their size', 'off by more than 10 times their size')
    """
    if relative > 10:
        return "off by more than 10 times their size"
    return f"off by up to {100 * relative:.3g}% of their size"


def _constant_mask(problem: Problem) -> NDArray[np.bool_]:
    return np.asarray(getattr(problem, "constant", np.zeros(problem.D, bool)))


def _observed_rate(result: SolveResult, tol: float) -> tuple[float, float]:
    """Per-iteration factor of the relative gradient over the run's second half.

    Returns ``(rate, iterations)``: the geometric mean factor by which the
    relative gradient norm shrank per iteration, and the total iterations that
    rate needs to reach ``tol`` (inf when it does not shrink).
    """
    rel = np.asarray(result.history.relative_grad_norm, dtype=np.float64)
    rel = rel[np.isfinite(rel) & (rel > 0)]
    if rel.size < 3:
        return 1.0, math.inf
    half = rel.size // 2
    # the best value so far smooths CG's non-monotone norm
    running = np.minimum.accumulate(rel)
    start, end = running[half], running[-1]
    steps = rel.size - 1 - half
    if steps <= 0 or end >= start:
        return 1.0, math.inf
    rate = float((end / start) ** (1.0 / steps))
    more = math.log(tol / end) / math.log(rate) if end > tol else 0.0
    return rate, float(result.n_iter + max(more, 0.0))


def check_random_state_generator(random_state: Any) -> np.random.Generator:
    """A NumPy Generator from None, an int, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)


#: The default on statistics from float32 products (decision 34) refines on the rows until each
#: coefficient is within this of its size by ``H``'s estimate of its error (as well as ``tol``):
#: about where CG on float64 statistics ends; a pass more only where ``κ·√R·eps32`` exceeds it
#: (a design at κ = 9e4 stopped 0.23% off at the Cholesky solve, within ``tol`` normwise).
MIXED_COEFFICIENT_TOL = 1e-4


#: ``exact`` takes float32 products (decision 34) from this many augmented columns ``D + K + 1``
#: (the default from ``gram.MIXED_MIN_COLUMNS = 192``): its refinement to rounding costs two or
#: three passes over X more, which the faster products repay only at this width
#: (``benchmarks/bench_products.py``: 0.193 s against 0.186 at 400,000 × 200, 0.266 against
#: 0.345 at 300,000 × 300).
MIXED_MIN_COLUMNS_EXACT = 256


def _off_by_more_than_one_percent(certificate: Any, problem: Problem) -> bool:
    """Whether some coefficient's error (or its bound) exceeds 1% of its size.

    The default CG then takes its Newton step whether or not the error is over one standard
    error too (``unresolved``): the step is one solve with ``exact``'s factor, and the
    least-squares answer is what ``converged`` promises.
    """
    relative = certificate.coef_relative_error
    if relative is None:
        return bool(certificate.unresolved)
    relative = np.asarray(relative, dtype=np.float64)[~_constant_mask(problem)]
    return bool(np.any(relative > UNRESOLVED_RELATIVE))


def _rows_in_memory(source: Any) -> tuple[Any, Any, Any] | None:
    """``(X, Y, sample_weight)`` of a source whose rows are in memory (NumPy, pandas, CSR)."""
    kind = getattr(source, "kind", None)
    if kind == "numpy":
        return source.X, source.Y, source.sample_weight
    if kind == "sparse" and getattr(source.Xs, "format", None) == "csr":
        return source.Xs, source.Y, source.weights
    return None


def _remembered(make: Callable[[], Any], formed: list[Any]) -> Callable[[], Any]:
    """``make`` called at most once; what it returned is appended to ``formed``."""

    def once() -> Any:
        if not formed:
            formed.append(make())
        return formed[0]

    return once


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
        is at most ``tol`` — the one stopping rule. Without an intercept the
        reference is the centred targets' ``‖G_k(0) + x̄ȳ_kᵀ‖`` where smaller (a
        targets' mean far above their spread would otherwise hide the slopes).
        At least 1e-15 (float64 cannot measure less), or 0 to run exactly
        ``max_iter`` steps.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept (by implicit centring; X is not copied).
    alpha : float, default=0.0
        L2 penalty ``(α/2)‖W‖²``; never applied to the intercept.
    standardize : bool, default=True
        Scale each feature by its root mean square inside the loop (implicit
        diagonal preconditioning, no copy of X). The objective and its
        solution are unchanged; coefficients are always in the user's units.
        For singular problems (constant or collinear columns, more features
        than rows) the answer is the minimum Euclidean-norm solution in the
        user's units, as ``numpy.linalg.lstsq`` gives, either way.
    random_state : int, numpy.random.Generator or None, default=None
        Reserved for stochastic methods; every method available now is
        deterministic, and the Lanczos start vector always uses a fixed seed
        so that repeated fits are bit-identical.
    verbose : int, default=0
        0 silent, 1 one line at the start and the end, 2 a line per iteration.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when the shapes agree.
    gradient : {"auto", "stats", "data"}, default="auto"
        The engine: ``"stats"`` forms the sufficient statistics ``XᵀX``, ``XᵀY``
        in one pass and then iterates in ``O(D²K)``; ``"data"`` reads X once per
        gradient (fused kernel); ``"auto"`` chooses and records why
        (``engine_``, ``engine_reason_``).
    batch_size : int, default=256
        Rows per mini-batch of ``method="sgd"``.
    schedule : {"invscaling", "constant"}, default="invscaling"
        Step schedule of ``method="sgd"``: ``lr/√(1 + t/T)`` (``T`` batches per
        epoch) or ``lr``.
    checkpoint : str or path, optional
        Write the loop's whole state to this ``.npz`` file while fitting
        (atomically), and resume from it when the same fit is run again: a fit
        killed at any moment and resumed ends with the same coefficients, bit
        for bit. A checkpoint from other data or settings is refused with a
        message saying what differs. Not used by ``method="exact"`` (not
        iterative) or ``partial_fit``.
    checkpoint_every : int or float, default=5.0
        An ``int`` is a number of iterations, a ``float`` a number of seconds
        between checkpoints.

    Attributes
    ----------
    coef_ : ndarray of shape (K, D) or (D,)
        Weights ``Wᵀ`` in the user's units (1-D when ``y`` was 1-D). Shapes follow
        scikit-learn's ``LinearRegression``: a ``y`` of shape (N, 1) gives (1, D)
        (``Ridge`` gives (D,) there).
    intercept_ : ndarray of shape (K,) or NumPy scalar
        A NumPy scalar of the fitted dtype for a 1-D ``y`` (as in scikit-learn).
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
    certificate_ : Certificate
        The fit's independent check of its answer: the float64 gradient
        recomputed from the data or the statistics (scale-free), the rank, the
        constant columns, how the minimum norm was reached, and a bound on the
        coefficients' error. ``converged_`` is True only when it is verified.
    n_features_in_ : int
        The number of input columns (before text columns are one-hot encoded).
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names (or a file): the
        input columns, as scikit-learn defines it.
    encoding_ : gradfit._encode.Encoding
        Only when ``X`` had text or ``category`` columns: their levels, learned in
        fitting and applied by ``predict`` (see :mod:`gradfit._encode`). Each text
        column becomes indicator columns ``column=level``, the first (sorted)
        level being the reference level when there is an intercept.
    coef_names_ : list of str
        Only with ``encoding_``: the names of the columns of ``coef_``
        (``region=north``, …).
    rows_dropped_ : int
        Only for a file fitted with ``missing="drop"``: the rows left out.

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

    coef_: Any
    intercept_: Any

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
        gradient: str = "auto",
        batch_size: int = 256,
        schedule: str = "invscaling",
        checkpoint: str | None = None,
        checkpoint_every: int | float = 5.0,
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
        self.gradient = gradient
        self.batch_size = batch_size
        self.schedule = schedule
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags

    # -- parameters --------------------------------------------------------------
    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"method={self.method!r} is not one of {sorted(METHODS)}; 'cg' is the fastest "
                "to a tight tolerance, 'gd' is the seed's plain loop."
            )
        if self.gradient not in ENGINES:
            raise ValueError(
                f"gradient={self.gradient!r} is not one of {list(ENGINES)}: 'stats' forms the "
                "sufficient statistics once, 'data' reads X at every iteration, 'auto' chooses."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is not one of {list(SCHEDULES)}.")
        if (
            not isinstance(self.batch_size, numbers.Integral)
            or isinstance(self.batch_size, bool)
            or self.batch_size < 1
        ):
            raise ValueError(f"batch_size={self.batch_size!r}: use a positive integer.")
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
        elif self.method in ("cg", "exact"):
            raise ValueError(
                f"method={self.method!r} chooses its own steps (exact line search or a direct "
                "solve), so learning_rate must be 'auto'; pass method='gd', 'momentum', "
                "'nesterov' or 'sgd' to set a learning rate."
            )
        if (
            not isinstance(self.max_iter, numbers.Integral)
            or isinstance(self.max_iter, bool)
            or self.max_iter < 0
        ):
            raise ValueError(f"max_iter={self.max_iter!r}: use a non-negative integer.")
        if 0 < float(self.tol) < 1e-15:
            raise ValueError(
                f"tol={self.tol!r} is below float64's relative precision (2.2e-16): no gradient "
                "can be measured that small. Use tol >= 1e-15, or tol=0 to run exactly "
                "max_iter iterations."
            )
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
        y: Any = None,
        sample_weight: Any = None,
        *,
        callback: Callable[[int, dict[str, Any]], bool | None] | None = None,
        **fit_params: Any,
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
        **fit_params
            Passed to the input's source for inputs other than in-memory
            arrays (e.g. ``target=`` and ``features=`` for files). Every input
            becomes a :class:`~gradfit.sources.base.Source` and the engine is chosen
            for it by :func:`~gradfit.problem.plan.plan`; a ``Source`` instance (e.g. a
            :class:`~gradfit.sources.files.StreamSource` subclass) may be passed as
            ``X`` itself, with ``y=None``.

        Returns
        -------
        self : GDRegressor
        """
        self._check_params()
        self._stream: dict[str, Any] | None = None
        warm_from_partial = getattr(self, "_warm_from_partial", False)
        self._warm_from_partial = False
        self._partial_statistics: Any = None  # a full fit forgets partial_fit's rows
        # float32 products for H (decision 34) only in a fit that refines and certifies its
        # answer on the rows and that the user does not steer step by step
        self._mixed_allowed = (
            (self.method == "exact" or (self.method == "cg" and self.gradient == "auto"))
            and float(self.tol) > 0
            and callback is None
            and self.checkpoint is None
            and not (self.method != "exact" and (self.warm_start or warm_from_partial))
        )
        source, units = self._open_source(X, y, sample_weight, fit_params)
        # a checkpoint identifies its data by a digest, computed as the data is read
        source.want_digest = self.checkpoint is not None and self.method != "exact"
        try:
            chosen = plan(
                source,
                method=self.method,
                gradient=self.gradient,
                fit_intercept=self.fit_intercept,
                standardize=self.standardize,
                alpha=float(self.alpha),
            )
        except BaseException:
            source.close()
            raise
        if units is None:  # a source that rescaled its own columns (files, sparse, Dask)
            units = source.units
        self.n_features_in_ = source.n_features
        if source.feature_names is not None:
            self.feature_names_in_ = np.asarray(source.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        encoding = getattr(source, "encoding", None)
        for name in ("encoding_", "coef_names_", "rows_dropped_"):
            self.__dict__.pop(name, None)
        if encoding is not None:
            self.encoding_ = encoding
            self.coef_names_ = list(encoding.names_out)
            self.n_features_in_ = len(encoding.names_in)
            if source.feature_names is not None:
                self.feature_names_in_ = np.asarray(encoding.names_in, dtype=object)
        # the columns prediction on the same kind of input finds again (a .npy file's x0, x1…)
        self._source_columns = source.columns
        problem, refine, engine, reason = (
            chosen.problem,
            chosen.refine,
            chosen.engine,
            chosen.reason,
        )
        was_1d = source.was_1d
        V0 = None
        self._warm = False
        if (self.warm_start or warm_from_partial) and hasattr(self, "coef_"):
            # coef_ is (D,) after a 1-D y and (K, D) otherwise; reuse it only when both
            # the number of features and of outputs are unchanged.
            previous = np.asarray(to_host(self.coef_), dtype=np.float64)
            previous = previous[:, None] if previous.ndim == 1 else previous.T
            if previous.shape == (problem.D, problem.K):
                if units is not None:
                    previous = np.ldexp(previous, units[0][:, None] - units[1][None, :])
                V0 = problem.from_user(previous)
                self._warm = True
        checkpointing: dict[str, Any] = {}
        try:
            if self.method != "exact":
                # the digest reads all of X (0.15 s at 1e6 × 100): only a checkpoint needs it
                checkpointing = self._checkpointing(problem, source)
            mixed = isinstance(problem, GramProblem) and problem.products == "float32"
            if self.method == "exact" or mixed:
                # BLAS on one thread for the factor and solves (D ≤ 1,024 with float32
                # products): OpenBLAS's workers spin after a call and slowed the rows
                # passes that follow 1.7×
                with single_threaded_blas() if mixed else contextlib.nullcontext():
                    result = solve_exact(
                        problem,
                        refine_with=refine,
                        tol=float(self.tol),
                        verbose=int(self.verbose),
                        to_tol=self.method != "exact",
                        coefficient_tol=MIXED_COEFFICIENT_TOL,
                    )
            else:
                result = solve(
                    problem,
                    method=self.method,
                    learning_rate=self.learning_rate,
                    max_iter=int(self.max_iter),
                    tol=float(self.tol),
                    V0=V0,
                    verbose=int(self.verbose),
                    callback=callback,
                    rule_options=self._rule_options(),
                    rng=check_random_state_generator(self.random_state),
                    **checkpointing,
                )
            self.engine_ = engine if problem.engine == engine else problem.engine
            self.engine_reason_ = reason
            check = self._statistics_for_check(source, problem, chosen.gram, result)
            formed: list[Any] = []
            if check is not None:
                check = _remembered(check, formed)
            if mixed:
                # H from float32 products cannot judge the answer: the rows do (their float64
                # gradient), with H only to solve each coefficient's error
                assert refine is not None
                result = self._certify(result, refine, lambda: problem)
            else:
                # may read the rows (a file's cache) again
                result = self._certify(result, problem, check)
            if (
                not mixed
                and problem.engine == "stats"
                and self.method == "cg"
                and result.converged
                and _off_by_more_than_one_percent(self.certificate_, problem)
            ):
                result = self._newton_polish(result, problem)
            gram = problem if isinstance(problem, GramProblem) else chosen.gram
            if gram is None and formed and isinstance(formed[0], GramProblem):
                gram = formed[0]
            result, by_rows = self._solve_on_rows(result, source, problem, gram)
            if by_rows is not None:
                problem_for_statistics: Problem = by_rows
                self.engine_reason_ = f"{reason}; then a QR factorisation of the rows"
            else:
                problem_for_statistics = problem
                result = self._refine_on_rows(result, source, problem)
        finally:
            if "checkpointer" in checkpointing:  # its lock on the checkpoint path
                checkpointing["checkpointer"].close()
            source.close()  # e.g. a file's on-disk cache: never left behind
        if units is not None:  # back from the rescaled data: exact powers of two
            x_exp, y_exp = units
            with np.errstate(over="ignore"):  # an answer beyond float64 is refused by _store
                result = replace(
                    result,
                    W=np.ldexp(result.W, y_exp[None, :] - x_exp[:, None]),
                    intercept=np.ldexp(result.intercept, y_exp),
                )
        self._store(result, problem, was_1d, source.dtype)
        spec = getattr(source, "spec", None)
        if spec is not None and getattr(spec, "missing", "error") == "drop":
            self.rows_dropped_ = int(getattr(source, "rows_dropped", 0))
        if units is None:
            # for gradfit.inference: no pass (none kept after a QR solve, whose answer the
            # statistics' H cannot reproduce)
            keep_statistics(self, problem_for_statistics, sample_weight)
        else:
            # statistics of the rescaled data: inference's own products of them (fourth
            # powers of the user's magnitudes) were measured 2% off, so none are kept and
            # inference(model) asks for the data, which it refuses with the cause
            self.__dict__.pop("_inference_stats", None)
        to_output = source.to_output()
        if to_output is not None:
            self.coef_ = to_output(self.coef_)
            if not was_1d:
                self.intercept_ = to_output(self.intercept_)
        self._warn_rank(problem)
        if result.converged:
            self._warn_unresolved()
        if (
            not result.converged
            and not result.stop_reason.startswith("stopped by callback")
            and not (float(self.tol) == 0 and result.stop_reason.startswith("max_iter"))
        ):
            warnings.warn(
                self._convergence_message(result, problem), ConvergenceWarning, stacklevel=2
            )
        return self

    def _open_source(
        self, X: Any, y: Any, sample_weight: Any, fit_params: dict[str, Any]
    ) -> tuple[Source, tuple[Any, Any] | None]:
        """The source for ``X`` (a registered one, or arrays/DataFrames in memory).

        Also returns the power-of-two units of arrays rescaled by :meth:`_rescale`
        (None when nothing was rescaled).
        """
        entry = find_adapter(X)
        if entry is not None:
            source = entry.open(X, y, sample_weight, fit_params)
            prepare = getattr(source, "prepare", None)
            if prepare is not None:  # a file's text columns: their levels, before the plan
                try:
                    prepare(fit_intercept=bool(self.fit_intercept))
                except BaseException:
                    source.close()
                    raise
            for note in getattr(source, "notes", ()):
                warnings.warn(note, DataNote, stacklevel=4)
            return source, None
        if fit_params:
            raise TypeError(
                f"fit() got unexpected keyword argument(s) {sorted(fit_params)}; they are "
                "only meaningful for file inputs (target=, features=)."
            )
        encoding = None
        if _is_dataframe(X):
            from ._encode import encode_dataframe, index_like

            for name in filter(index_like, [str(c) for c in X.columns]):
                warnings.warn(
                    f"column {name!r} looks like a row index written with the table (its "
                    "header is empty or 'Unnamed: N'); it is used as a feature: drop it if it "
                    "is an index (pandas: read_csv(..., index_col=0))",
                    DataNote,
                    stacklevel=3,
                )
            encoded = encode_dataframe(X, fit_intercept=bool(self.fit_intercept))
            if encoded is not None:
                X_enc, encoding = encoded
                X_arr, _ = as_design_matrix(X_enc, check_scale=False, scan=False)
        if encoding is None:
            # X's finiteness and range are checked below: by the statistics pass when it
            # proves them, by one scan of X otherwise (see _checked_statistics)
            X_arr, _ = as_design_matrix(X, check_scale=False, scan=False)
        validate_data(self, X, reset=True, skip_check_array=True)
        Y, was_1d, _ = as_targets(y, X_arr.shape[0], x_shape=X_arr.shape, check_scale=False)
        weights = as_sample_weight(sample_weight, X_arr.shape[0])
        y_magnitudes = column_magnitudes(Y)
        stats = self._checked_statistics(X_arr, Y, weights, y_magnitudes)
        if stats is None:
            x_magnitudes = design_scan(X_arr)
            X_arr, Y, units = self._rescale(X_arr, Y, x_magnitudes, y_magnitudes)
        else:
            units = None
        names = getattr(self, "feature_names_in_", None)  # set by validate_data for DataFrames
        if encoding is not None:
            names = encoding.names_out
        source = ArraySource(
            X_arr,
            Y,
            weights,
            was_1d=was_1d,
            feature_names=None if names is None else list(names),
            stats=stats,
        )
        source.encoding = encoding  # type: ignore[attr-defined]
        source.stats_intercept = bool(self.fit_intercept)
        source.products = self._products(X_arr, Y.shape[1])
        return source, units

    def _checked_statistics(
        self, X: Any, Y: Any, weights: Any, y_magnitudes: NDArray[np.float64]
    ) -> dict[str, Any] | None:
        """The statistics of X and Y when their pass also proves X finite and in range.

        For a fit that runs on the statistics engine, the pass that forms ``XᵀX``
        replaces the scan of X for non-finite entries and extreme magnitudes
        (:func:`~gradfit._validation.gram_proves_design`: the diagonal of ``XᵀX``
        bounds every column's largest magnitude): X is read once instead of three
        times. None when that does not apply (weights, y out of range, another
        engine, X not scanned in parallel) or proves nothing (a non-finite or
        all-zero column, a magnitude near the limits): X is then scanned as before,
        which names the bad entry or rescales.
        """
        N, D = X.shape
        if (
            weights is not None
            or self.method == "sgd"
            or not scannable(X)
            or power_of_two_scales(y_magnitudes) is not None
            or choose_engine(N, D, self.method, self.gradient)[0] != "stats"
        ):
            return None
        try:
            stats = sufficient_statistics(
                X, Y, fit_intercept=bool(self.fit_intercept), products=self._products(X, Y.shape[1])
            )
        except GradfitInputError:  # overflow: the scan tells which entry, or rescales
            return None
        return stats if gram_proves_design(stats["x_meansq"], N) else None

    def _products(self, X: Any, K: int) -> str:
        """``"float32"`` where this fit may form ``H`` with float32 products, else ``"float64"``.

        The default (CG, engine chosen by the planner) and ``exact``, with ``tol > 0``, no
        callback, checkpoint or warm start, and ``max_iter`` at least D (what CG on ``H``
        may need): their answer is refined and certified on the rows in float64
        (decision 34). ``exact``, which refines to rounding (two or three passes more),
        only from :data:`MIXED_MIN_COLUMNS_EXACT` augmented columns. Whether float32
        products run at all is :func:`~gradfit.problem.gram.mixed_products_serve`'s (wide
        float32 X).
        """
        D = int(X.shape[1])
        if self.method == "exact":
            allowed = D + K + 1 >= MIXED_MIN_COLUMNS_EXACT
        else:
            allowed = int(self.max_iter) >= D
        allowed = allowed and getattr(self, "_mixed_allowed", False)
        return "float32" if allowed else "float64"

    def _rescale(
        self,
        X: Any,
        Y: Any,
        x_magnitudes: NDArray[np.float64],
        y_magnitudes: NDArray[np.float64],
    ) -> tuple[Any, Any, tuple[Any, Any] | None]:
        """Bring columns of extreme magnitude into range by exact powers of two.

        Columns (of X or y) whose largest magnitude is beyond ``1e±50`` would make the
        solvers' norms (fourth powers of the data) overflow or underflow; they are scaled
        by ``2**-e`` into ``[0.5, 1)`` — a copy of X, exact — and the coefficients scaled
        back after the fit. With ``alpha > 0`` the penalty would change with the scaling,
        so such data is refused with the fix.
        """
        exponents = rescale_exponents(x_magnitudes, y_magnitudes, alpha=float(self.alpha))
        if exponents is None:
            return X, Y, None
        x_exp, y_exp = exponents
        X = np.ldexp(X, -x_exp[None, :]).astype(X.dtype, copy=False)
        Y = np.ldexp(Y, -y_exp[None, :]).astype(Y.dtype, copy=False)
        return X, Y, (x_exp, y_exp)

    def _statistics_for_check(
        self, source: Any, problem: Problem, gram: Any, result: SolveResult
    ) -> Callable[[], Any] | None:
        """On the data path, what gives the certificate ``H`` to solve each coefficient's error.

        The plan's own statistics problem when it formed ``H`` (κ fallback, veto); else one
        Gram pass over rows held in memory (arrays, scipy.sparse) with ``N > D``, at most
        :data:`~gradfit.problem.plan.STATS_MAX_FEATURES` features, and only where that pass
        (``N·D²/2 + D³`` flops; for scipy.sparse ten times ``Σ nnz_row²``) costs no more
        than the fit's own iterations (two products each). Files and Dask would need
        another pass over the data; device arrays keep their statistics on the device. The
        callable returns a reason (a string) where there is no ``H``.
        """
        if problem.engine != "data":
            return None
        if gram is not None:
            return lambda: gram
        N, D = int(problem.N), int(problem.D)
        if source.kind not in ("numpy", "sparse"):
            return lambda: "no H on this path (files, Dask, device arrays); gradient='stats' checks"
        if N - int(problem.fit_intercept) <= D:
            return lambda: "N <= D: no standard errors"
        if D > STATS_MAX_FEATURES:
            return lambda: f"D = {D} > {STATS_MAX_FEATURES}: forming H costs more than the fit"
        # the fit's own iterations (not the curvature's Lanczos passes), two products each
        passes = max(int(result.n_iter), 1)
        if source.kind == "sparse":
            # scipy's XᵀX (one thread) costs Σ nnz_row² multiply-adds at 3–17 times fewer flops
            # per second than the fit's sparse products (measured on four shapes; 200,000 × 170
            # at density 0.6: 6.8 s for the Gram against 0.03 s a pass)
            row_nnz = np.diff(source.Xs.indptr).astype(np.float64)
            check_flops = 10.0 * float(row_nnz @ row_nnz) + D**3
            fit_flops = passes * 2.0 * float(source.Xs.nnz)
        else:
            check_flops = N * D * D / 2 + D**3
            fit_flops = passes * 2.0 * N * D
        # (and whatever the fit cost, a check of under ~0.1 s: 2e8 of the fit's flops)
        if check_flops > max(fit_flops, 2e8):
            return lambda: (
                f"a Gram pass would cost more than the fit's {passes} iterations; "
                "gradient='stats' checks"
            )
        fit_intercept = bool(problem.fit_intercept)
        standardize = bool(getattr(problem, "standardize", self.standardize))
        alpha = float(problem.alpha)
        options = {"fit_intercept": fit_intercept, "standardize": standardize, "alpha": alpha}

        def statistics() -> Any:
            stats = source.statistics(options, diagonal=False, keep_rows=False)
            return GramProblem(
                stats,
                source.dtype,
                fit_intercept=fit_intercept,
                standardize=standardize,
                alpha=alpha,
            )

        return statistics

    def _certify(
        self, result: SolveResult, problem: Problem, statistics: Callable[[], Any] | None = None
    ) -> SolveResult:
        """Check the answer independently (see :mod:`gradfit.solve.certify`) and say so."""
        curvature = result.curvature
        fit_intercept = bool(problem.fit_intercept)
        floor = rank_tolerance(problem.D) * curvature.L
        scale = np.asarray(problem.x_scale, dtype=np.float64)
        # a penalty regularises, unless α/s² is itself at rounding level
        negligible = float(self.alpha) / float(np.min(scale) ** 2) <= floor
        singular = negligible and (
            problem.N - int(fit_intercept) < problem.D
            or (curvature.L > 0 and curvature.mu <= floor)
        )
        unpreconditioned = bool(np.all(problem.x_scale == 1.0)) and self.method != "exact"
        W, certificate = certify(
            problem,
            result.W,
            tol=float(self.tol),
            singular_hint=singular,
            in_row_space=unpreconditioned and not self._warm,
            statistics=statistics,
        )
        self.certificate_ = certificate
        if W is not result.W:
            b = problem.y_offset - problem.x_offset @ W if fit_intercept else result.intercept
            result = replace(result, W=W, intercept=np.asarray(b, dtype=np.float64))
        if result.converged and not certificate.verified:
            result = replace(
                result,
                converged=False,
                stop_reason=f"not converged: {certificate.reason} (the loop's own measure "
                f"said: {result.stop_reason})",
            )
        elif certificate.minimum_norm.startswith("not reached"):
            result = replace(
                result, stop_reason=f"{result.stop_reason}; minimum norm {certificate.minimum_norm}"
            )
        return result

    def _newton_polish(self, result: SolveResult, problem: Problem) -> SolveResult:
        """CG on the statistics met ``tol`` with coefficients still off: one Newton step.

        The normwise tolerance lets a coefficient small beside the largest be far off
        (coefficients spanning 1e-1 to 1e8 were 430% off at ``tol=1e-6``). On the
        statistics a step ``W − H⁻¹G`` costs one solve with the factor ``exact`` uses
        and gives the least-squares answer to rounding; the certificate is then made
        again. (gd, momentum and nesterov are left as they stopped, with the warning:
        they are what the user asked to watch.)
        """
        before = self.certificate_
        W = newton_step(problem, result.W)
        if W is None:
            return result
        relative = before.coef_relative_error
        assert relative is not None
        off = np.asarray(relative, dtype=np.float64) > UNRESOLVED_RELATIVE
        off[_constant_mask(problem)] = False
        worst = float(np.max(relative[off]))
        count = int(np.count_nonzero(off.any(axis=1)))
        beyond_se = " (over one standard error)" if before.unresolved else ""
        b = problem.y_offset - problem.x_offset @ W if problem.fit_intercept else result.intercept
        polished = replace(
            result,
            W=W,
            V=problem.from_user(W),
            intercept=np.asarray(b, dtype=np.float64),
            stop_reason=f"{result.stop_reason}; {count} coefficient(s) were still "
            f"{_off_by(worst)}{beyond_se}, so one Newton step on the statistics "
            "(the factor method='exact' uses) resolved them",
        )
        polished = self._certify(polished, problem)
        if self.certificate_.unresolved or not polished.converged:
            self.certificate_ = before  # keep CG's own answer and its warning
            return result
        # the history ends at the returned point: its last row is after the step (which is no
        # iteration: n_iter_ stays within max_iter), and an event says so
        loss, G = problem.loss_grad(polished.V)
        relative = self.certificate_.relative_grad_norm
        history = result.history
        history.replace_last(
            float(np.sum(loss)), loss, float(np.linalg.norm(G)), float(np.max(relative))
        )
        history.event(
            result.n_iter,
            "newton",
            f"one Newton step after CG: {count} coefficient(s) resolved; the last row is after it",
        )
        return replace(polished, relative_grad_norm=relative)

    def _solve_on_rows(
        self, result: SolveResult, source: Any, problem: Problem, gram: Any
    ) -> tuple[SolveResult, QRProblem | None]:
        """Where the normal equations cannot decide, a QR factorisation of the rows does.

        For ``exact`` and the default (CG, the engine chosen by the planner) on dense rows
        in memory (a forced ``gradient`` or another method keeps its answer and warnings):
        when ``H`` called some directions null that the rows separate (nearly collinear
        columns: one float64 pass checks), when ``exact``'s refinement did not contract,
        or when coefficients were still off after CG (the data path at κ > 1e10), the
        answer is taken from a tall-skinny QR of the centred, standardised rows
        (:class:`QRProblem`, lstsq's rank rule) and certified against it. Returns the
        (new) result and the QR problem, or
        the result unchanged and None.
        """
        self.__dict__["_rows_checked"] = False
        if (
            not (self.method == "exact" or (self.method == "cg" and self.gradient == "auto"))
            or (rows := _rows_in_memory(source)) is None
            or not isinstance(gram, GramProblem)
            # a fit the user stopped (a callback, or tol=0's exactly max_iter steps) is theirs
            or result.stop_reason.startswith("stopped by callback")
            or float(self.tol) == 0
        ):
            return result, None
        passes = 0
        why = None
        null = gram.null_space
        self.__dict__["_rows_checked"] = True
        if null.shape[1]:
            hold, ratio = null_directions_hold(
                rows[0], rows[2], gram.x_offset, gram.x_scale, null, gram.constant
            )
            passes += 1
            if not hold:
                why = (
                    f"H in float64 called {null.shape[1]} direction(s) null that the rows "
                    f"separate (a singular value {float(ratio.max()):.2g} of a column's, below "
                    f"the {np.sqrt(rank_tolerance(gram.D)):.2g} that H resolves)"
                )
        kappa = gram.standardised_kappa()
        if why is None:
            if result.stop_reason.startswith("too ill-conditioned"):
                why = "refinement on the normal equations did not contract"
            elif kappa > KAPPA_LIMIT:
                # beyond it H loses log10 κ digits, and the data path's CG (the planner's
                # fallback) stops at a normwise tol: a near-duplicate pair came back as 1.5, 1.5
                # for lstsq's −0.51, 3.51 (within one standard error, so not "unresolved");
                # exact's refinement on rows with large means (X·w − x̄·w cancels) stopped
                # 0.85% off, its bound from H violated
                why = f"the normal equations have κ = {kappa:.3g} > {KAPPA_LIMIT:.0e}"
            elif result.converged and self.certificate_.unresolved:
                count = len({j for j, _ in self.certificate_.unresolved})
                why = (
                    f"{count} coefficient(s) were still off after {self.method} "
                    f"(κ = {kappa:.3g} of the normal equations)"
                )
        if why is None:
            return result, None
        constant = _constant_mask(problem) | np.asarray(gram.constant)
        qr = QRProblem(
            rows[0],
            rows[1],
            rows[2],
            gram.x_offset,
            gram.y_offset,
            gram.x_scale,
            fit_intercept=bool(problem.fit_intercept),
            standardize=bool(self.standardize),
            alpha=float(problem.alpha),
            constant=constant,
            raw_means=gram.raw_means,
        )
        W, b = qr.to_user(qr.solve())
        solved = replace(
            result,
            W=W,
            intercept=np.asarray(b, dtype=np.float64),
            V=problem.from_user(W),
            converged=True,
            curvature=qr.curvature(),
            n_passes=result.n_passes + passes + qr.n_passes,
            stop_reason=f"converged: least squares by a QR factorisation of the rows, since {why}; "
            f"rank {qr.rank} of {qr.D} by lstsq's rule",
        )
        solved = self._certify(solved, qr)
        solved = replace(solved, relative_grad_norm=self.certificate_.relative_grad_norm)
        solved.history.event(result.n_iter, "qr", f"least squares by QR on the rows: {why}")
        return solved, qr

    def _refine_on_rows(self, result: SolveResult, source: Any, problem: Problem) -> SolveResult:
        """The default on the statistics, where ``H``'s own rounding could exceed ``tol``: refine.

        ``H`` formed in float64 is off by a few ``eps`` of its largest eigenvalue, which moves
        its solution by up to ``16·c·κ·√D·eps`` relative (``c`` the one pass's cancellation,
        :func:`~gradfit.problem.gram.forming_drift`); CG and the Newton step solve ``H``
        exactly, so where that is above ``tol`` (κ from about 1e8, or 1e6 with columns whose
        mean is 16 times their spread; a property run found coefficients 3.6e-5 off lstsq's
        at κ = 6.3e9 and 1.8e-6 off at κ = 3.6e7, said converged) and the rows are in
        memory, iterative refinement on them — ``exact``'s, from the fit's answer, with the
        factor of ``H`` — removes it in a step or two (one pass each). Other fits are left.
        """
        if (
            self.method != "cg"
            or self.gradient != "auto"
            or not isinstance(problem, GramProblem)
            or problem.products == "float32"  # refined on the rows already
            or problem.null_space.shape[1]
            or not result.converged
            or float(self.tol) == 0
            or _rows_in_memory(source) is None
            or not hasattr(source, "refine_problem")
        ):
            return result
        kappa = problem.standardised_kappa()
        drift = forming_drift(problem, kappa)
        if drift <= float(self.tol) or kappa > KAPPA_LIMIT:
            return result
        factor = problem.exact_factor()
        if factor is None:
            return result
        options = {
            "fit_intercept": bool(problem.fit_intercept),
            "standardize": bool(problem.standardize),
            "alpha": float(problem.alpha),
        }
        rows = source.refine_problem(options, None, problem)
        taken: list[float] = []  # the corrections' sizes, one per step
        point, contracting, _ = refine(
            rows,
            factor,
            evaluate(rows, np.asarray(result.V, dtype=np.float64)),
            10,
            lambda _, size: taken.append(size),
        )
        steps, V = len(taken), point.V
        if steps == 0 or not contracting:
            # the certificate below recomputes the gradient from H, which cannot judge a
            # point the rows moved away from: only a contracting refinement is kept
            return result
        W, b = problem.to_user(V)
        refined = replace(
            result,
            W=W,
            V=V,
            intercept=np.asarray(b, dtype=np.float64),
            n_passes=result.n_passes + int(getattr(rows, "n_passes", steps)),
            stop_reason=f"{result.stop_reason}; then {steps} refinement step(s) on the rows "
            f"with H's factor (κ = {kappa:.3g}: H's own rounding could move the coefficients "
            f"by up to {drift:.1g}, above tol)",
        )
        before = self.certificate_
        refined = self._certify(refined, problem)
        if not refined.converged:
            self.certificate_ = before
            return result
        refined.history.event(result.n_iter, "refinement", f"{steps} step(s) on the rows")
        return replace(refined, relative_grad_norm=self.certificate_.relative_grad_norm)

    def _feature_label(self, j: int) -> str:
        """Column ``j``'s name in a message: the encoded or given name, else ``x{j}``."""
        names = getattr(self, "coef_names_", None)
        if names is None:
            names = getattr(self, "feature_names_in_", None)
        return str(names[j]) if names is not None else f"x{j}"

    def _warn_rank(self, problem: Problem) -> None:
        """One line when some coefficients are not determined by the data."""
        certificate = self.certificate_
        if certificate.rank >= certificate.n_features and not certificate.constant_features:
            return
        name = self._feature_label
        parts = []
        if certificate.constant_features:
            listed = ", ".join(name(j) for j in certificate.constant_features[:5])
            more = len(certificate.constant_features) - 5
            what = "constant column(s)" if problem.fit_intercept else "all-zero column(s)"
            why = "an intercept already fits a constant" if problem.fit_intercept else "no data"
            parts.append(
                f"{what} {listed}{f' and {more} more' if more > 0 else ''} (coefficient 0: {why})"
            )
        if certificate.rank < certificate.n_features - len(certificate.constant_features):
            collinear = "collinear columns (e.g. duplicated, or one-hot levels plus intercept)"
            if problem.engine == "stats" and not self.__dict__.get("_rows_checked", False):
                # the rank came from H alone, which cannot tell nearly collinear columns
                collinear += (
                    f" as far as H in float64 can tell (columns that agree to within "
                    f"{np.sqrt(rank_tolerance(problem.D)):.2g} of their spread look collinear "
                    "there; method='exact' on arrays in memory checks the rows)"
                )
            parts.append(collinear)
        if not parts:
            return
        rank = (
            f"the design has rank {certificate.rank} < {certificate.n_features} features"
            if certificate.rank < certificate.n_features
            else "some coefficients are fixed by the penalty alone"
        )
        warnings.warn(
            f"{rank}: {'; '.join(parts)}; the minimum-norm solution is returned "
            f"({certificate.minimum_norm}). Drop the redundant columns to silence this.",
            CollinearityWarning,
            stacklevel=3,
        )

    def _warn_unresolved(self) -> None:
        """One line when the fit met ``tol`` but some coefficients are still off.

        The certificate solves each coefficient's error from the statistics
        (:func:`~gradfit.solve.certify.coefficient_errors`); it names those off by more
        than 1% of their size and one standard error, and the tolerance that would
        resolve them (errors shrink about in proportion to the gradient).
        """
        certificate = self.certificate_
        if not certificate.unresolved:
            return
        relative = certificate.coef_relative_error
        in_se = certificate.coef_error_se
        assert relative is not None and in_se is not None
        features = sorted({j for j, _ in certificate.unresolved})
        listed = ", ".join(self._feature_label(j) for j in features[:5])
        more = f" and {len(features) - 5} more" if len(features) > 5 else ""
        pairs = tuple(zip(*certificate.unresolved, strict=True))
        worst = float(np.max(relative[pairs]))
        worst_se = float(np.max(in_se[pairs]))
        # the shrink that brings every flagged error under 1% of its coefficient or one SE
        shrink = float(np.min(np.maximum(0.01 / relative[pairs], 1.0 / in_se[pairs])))
        needed = float(self.tol) * shrink / 10.0
        options = []
        if needed >= 1e-13:
            options.append(f"tol={10.0 ** math.floor(math.log10(needed)):.0e}")
        if self.method != "cg":
            options.append("method='cg'")
        if getattr(self, "engine_", "stats") == "data" and self.method != "sgd":
            options.append("gradient='stats' (CG on the statistics goes on to tol/κ)")
        elif self.method == "cg" or not options:
            options.append("method='exact'")
        fix = ", or ".join(options)
        if certificate.attainable >= 1e-6:
            # nearly collinear columns: float64 gradients cannot pin these coefficients down
            fix += (
                f" — but this design's κ·eps is {certificate.attainable:.2g}: gradients in "
                "float64 cannot resolve coefficients beyond that fraction of ‖W‖ (nearly "
                "collinear columns); drop or combine them"
                + ("" if self.fit_intercept else ", or fit an intercept (fit_intercept=True)")
            )
        at_least = "at least " if certificate.noise_below_rounding else ""
        warnings.warn(
            f"GDRegressor met tol={float(self.tol):g}, but the coefficients of {listed}{more} "
            f"are still {_off_by(worst)} ({at_least}{worst_se:.3g} "
            "standard errors): the tolerance is relative to the gradient at zero, which the "
            f"largest effects dominate. Fix: {fix}.",
            ConvergenceWarning,
            stacklevel=3,
        )

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> GDRegressor:
        """Continue the fit with another chunk of rows.

        Full-batch methods (``"cg"``, ``"exact"``, ``"gd"``, ``"momentum"``,
        ``"nesterov"``) accumulate the chunk's sufficient statistics
        (:class:`~gradfit.Statistics`, kept in ``statistics_``) and refit from them,
        warm-started at the previous coefficients: after any number of chunks the
        model is the fit on *all* rows seen, as exact as ``fit`` on their
        concatenation (no approximation, whatever the chunking).

        With ``method="sgd"``: one epoch of mini-batch SGD over the chunk,
        continuing the previous calls. Everything persists across calls: the
        weights, the step counter ``t_`` that drives the schedule (``lr_t =
        lr/√(1 + t/T)`` with ``T`` the batches in the first chunk), the random
        generator, and running (weighted) means of X and y that centre every chunk
        and give the intercept ``b = ȳ − x̄W``. The learning rate and the scaling
        of the features are fixed from the first chunk. This is stochastic.

        Parameters
        ----------
        X : array-like of shape (N_chunk, D)
        y : array-like of shape (N_chunk,) or (N_chunk, K)
        sample_weight : array-like of shape (N_chunk,), optional

        Returns
        -------
        self : GDRegressor

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> model = GDRegressor(method="sgd", batch_size=32, random_state=0)
        >>> for _ in range(30):
        ...     X = rng.normal(size=(500, 2)); y = X @ [2.0, -1.0] + 0.5
        ...     model = model.partial_fit(X, y)
        >>> np.round(model.coef_, 2), round(float(model.intercept_), 2), model.t_
        (array([ 2., -1.]), 0.5, 480)
        >>> exact = GDRegressor(method="exact")
        >>> chunks = [rng.normal(size=(100, 2)) for _ in range(3)]
        >>> for Xc in chunks:
        ...     exact = exact.partial_fit(Xc, Xc @ [1.0, 3.0] - 2.0)
        >>> np.round(exact.coef_, 10), exact.statistics_.n_samples
        (array([1., 3.]), 300)
        """
        self._check_params()
        if self.method != "sgd":
            from .statistics import Statistics

            chunk = Statistics.from_data(X, y, sample_weight)
            previous = getattr(self, "_partial_statistics", None)
            if previous is not None and chunk.n_features != previous.n_features:
                raise ValueError(
                    f"X has {chunk.n_features} features, but GDRegressor is expecting "
                    f"{previous.n_features} features as input; every chunk must have the same "
                    "columns."
                )
            statistics = chunk if previous is None else previous + chunk
            self._warm_from_partial = previous is not None
            self.fit(statistics)
            self._partial_statistics = self.statistics_ = statistics
            return self
        first = getattr(self, "_stream", None) is None
        X_arr, _ = as_design_matrix(X)
        validate_data(self, X, reset=first, skip_check_array=True)
        Y, was_1d, _ = as_targets(y, X_arr.shape[0], x_shape=X_arr.shape)
        weights = as_sample_weight(sample_weight, X_arr.shape[0])
        w = np.ones(len(X_arr)) if weights is None else weights
        chunk_weight = float(w.sum())
        chunk_x = (w @ X_arr) / chunk_weight
        chunk_y = (w @ Y) / chunk_weight
        stream: dict[str, Any]
        if first:
            stream = {
                "weight": 0.0,
                "x_mean": np.zeros(X_arr.shape[1]),
                "y_mean": np.zeros(Y.shape[1]),
                "t": 0,
                "rng": check_random_state_generator(self.random_state),
                "epochs": 0,
            }
        else:
            assert self._stream is not None
            stream = self._stream
            if Y.shape[1] != stream["V"].shape[1]:
                raise ValueError(
                    f"y has {Y.shape[1]} output(s) but earlier partial_fit calls had "
                    f"{stream['V'].shape[1]}; every chunk must have the same targets."
                )
        total = stream["weight"] + chunk_weight
        stream["x_mean"] = stream["x_mean"] + (chunk_x - stream["x_mean"]) * (chunk_weight / total)
        stream["y_mean"] = stream["y_mean"] + (chunk_y - stream["y_mean"]) * (chunk_weight / total)
        stream["weight"] = total
        offsets: dict[str, Any] = {}
        if self.fit_intercept:
            offsets = {"x_offset": stream["x_mean"], "y_offset": stream["y_mean"]}
        problem = LeastSquaresProblem(
            X_arr,
            Y,
            sample_weight=weights,
            fit_intercept=self.fit_intercept,
            standardize=self.standardize,
            alpha=float(self.alpha),
            x_scale=stream.get("x_scale"),
            **offsets,
        )
        if first:
            stream["x_scale"] = problem.x_scale
            stream["V"] = np.zeros((problem.D, problem.K))
            curvature = problem.curvature()
            stream["curvature"] = curvature
            if isinstance(self.learning_rate, str):
                stream["lr"] = sgd_learning_rate(problem, curvature.L, int(self.batch_size))
            else:
                stream["lr"] = float(self.learning_rate)
            stream["per_epoch"] = (problem.N + int(self.batch_size) - 1) // int(self.batch_size)
        result = solve(
            problem,
            method="sgd",
            learning_rate=stream["lr"],
            max_iter=1,
            tol=0.0,
            V0=stream["V"],
            verbose=int(self.verbose),
            curvature=stream["curvature"],
            rule_options=self._rule_options(),
            rng=stream["rng"],
            steps_done=stream["t"],
        )
        stream["V"], stream["t"], _ = result.rule_state
        stream["epochs"] += 1
        self._stream = stream
        self.engine_ = "data"
        self.engine_reason_ = "partial_fit streams mini-batch SGD over each chunk"
        self._store(result, problem, was_1d, X_arr.dtype)
        self.__dict__.pop("_inference_stats", None)  # a stream keeps no statistics
        self.__dict__.pop("certificate_", None)  # nor a certificate of an earlier fit
        self.n_iter_ = stream["epochs"]
        self.t_ = stream["t"]
        return self

    def _checkpointing(self, problem: Problem, source: Source) -> dict[str, Any]:
        if self.checkpoint is None:
            return {}
        digest = source.digest()
        settings = {
            "method": self.method,
            "learning_rate": self.learning_rate,
            "alpha": self.alpha,
            "fit_intercept": self.fit_intercept,
            "standardize": self.standardize,
            "batch_size": self.batch_size if self.method == "sgd" else None,
            "schedule": self.schedule if self.method == "sgd" else None,
            "random_state": self.random_state if self.method == "sgd" else None,
        }
        return {
            "checkpointer": Checkpointer(self.checkpoint, self.checkpoint_every),
            "fingerprint": fingerprint(problem, settings, digest),
        }

    def _rule_options(self) -> dict[str, Any] | None:
        if self.method != "sgd":
            return None
        return {"batch_size": int(self.batch_size), "schedule": self.schedule}

    def _store(self, result: SolveResult, problem: Problem, was_1d: bool, dtype: Any) -> None:
        limit = float(np.finfo(dtype).max)
        biggest = max(
            float(np.max(np.abs(result.W), initial=0.0)),
            float(np.max(np.abs(result.intercept), initial=0.0)),
        )
        if biggest > limit:
            fix = (
                "Fit in float64 (X.astype(np.float64)) or rescale X and y."
                if np.dtype(dtype) != np.float64
                else "The answer itself is beyond float64: rescale X or y (e.g. express y "
                "in larger units) and fit again."
            )
            raise GradfitInputError(
                f"the fitted coefficients (up to {biggest:.3g}) exceed the {np.dtype(dtype)} "
                f"range ({limit:.3g}): X's columns are tiny against y. {fix}"
            )
        W = result.W.astype(dtype)
        b = result.intercept.astype(dtype) if self.fit_intercept else np.zeros(problem.K, dtype)
        self.coef_ = W[:, 0] if was_1d else W.T.copy()
        self.intercept_ = (
            b[0] if was_1d else b
        )  # a NumPy scalar of the fitted dtype, as in scikit-learn
        self.n_iter_ = result.n_iter
        self.history_ = result.history
        self.converged_ = result.converged
        self.stop_reason_ = result.stop_reason
        self.lipschitz_ = result.curvature.L
        self.condition_number_ = result.curvature.kappa
        self.learning_rate_ = float(result.learning_rate[0]) if was_1d else result.learning_rate
        self.relative_grad_norm_ = result.relative_grad_norm
        self._x_rms = problem.x_rms

    def _convergence_message(self, result: SolveResult, problem: Problem) -> str:
        """Why the fit did not converge and a fix that would work, from what was measured.

        The advice uses the observed rate of decrease of the gradient (never a
        ``max_iter`` at or below the one used), the learning rate against ``1/L``,
        the attainable accuracy ``κ·eps`` and what the certificate found.
        """
        kappa = result.curvature.kappa
        L = result.curvature.L
        tol = float(self.tol)
        head = f"GDRegressor did not converge ({result.stop_reason})."
        spread = problem.x_rms[(problem.x_rms > 0) & ~_constant_mask(problem)]
        certificate = getattr(self, "certificate_", None)
        failed_check = result.stop_reason.startswith("not converged:")
        unscaled = spread.size > 1 and spread.max() > 100 * spread.min()
        if failed_check and not self.standardize and unscaled:
            return (
                f"{head} Likely cause: unscaled features (column spreads range from "
                f"{spread.min():.3g} to {spread.max():.3g}): the loop's own gradient, "
                "measured in raw units, is dominated by the largest columns, and the others "
                "are not fitted. Fix: standardize=True."
            )
        if failed_check or result.stop_reason.startswith("stalled"):
            reached = float(
                np.max(certificate.relative_grad_norm)
                if certificate is not None
                else np.max(result.relative_grad_norm)
            )
            if problem.dtype != np.float64:
                fix = f"fit in float64 (X.astype(np.float64)), or accept tol >= {2 * reached:.1g}"
            else:
                fix = f"tol >= {2 * reached:.1g} (this data's rounding floor in float64)"
            attainable = (
                f"; κ·eps = {kappa * np.finfo(problem.dtype).eps:.2g}"
                if math.isfinite(kappa)
                else ""
            )
            return (
                f"{head} Likely cause: tol={tol:g} is below what {problem.dtype} arithmetic "
                f"can resolve for this data (smallest relative gradient reached "
                f"{reached:.3g}{attainable}). Fix: {fix}."
            )
        if self.method == "sgd":
            return (
                f"{head} Likely cause: mini-batch noise; SGD's gradient norm shrinks only as "
                "its step decays. Fix: raise max_iter (epochs) or tol, a larger batch_size, or "
                "a full-batch method (method='cg') when the data fits in memory."
            )
        used = int(self.max_iter)
        rate, needed = _observed_rate(result, tol)
        lr = self.learning_rate
        if not isinstance(lr, str) and L > 0 and float(lr) * L < 0.5:
            return (
                f"{head} Likely cause: learning_rate={float(lr):g} is {float(lr) * L:.2g}/L, "
                f"far below the safe 1/L = {1 / L:.4g} (2/L = {2 / L:.4g} is the stability "
                "bound), so every step is small. Fix: learning_rate='auto' (1/L with "
                f"rollback){' or method=' + repr('cg') if self.method != 'cg' else ''}."
            )
        if not self.standardize and unscaled:
            return (
                f"{head} Likely cause: unscaled features (column spreads range from "
                f"{spread.min():.3g} to {spread.max():.3g}), which makes κ ≈ {kappa:.3g}. "
                "Fix: standardize=True."
            )
        if (rate >= 1.0 or not math.isfinite(needed)) and result.n_iter < 10:
            # too few iterations to measure a rate: predict from κ instead
            needed = predicted_iterations(self.method, kappa, tol, problem.D)
            rate = math.exp(-math.log(1.0 / tol) / max(needed, 1.0))
        if rate >= 1.0 or not math.isfinite(needed):
            return (
                f"{head} Likely cause: no measurable progress over the last iterations "
                f"(κ ≈ {kappa:.3g}). Fix: method='cg' (no learning rate), alpha > 0, or "
                "remove collinear features."
            )
        suggestion = max(used + 1, math.ceil(1.2 * needed))
        cause = (
            f"ill-conditioning, κ = L/μ ≈ {kappa:.3g}"
            if kappa > 1e6
            else f"too few iterations (κ ≈ {kappa:.3g})"
        )
        return (
            f"{head} Likely cause: {cause}; at the observed rate (×{rate:.4g} per iteration) "
            f"tol={tol:g} needs about {math.ceil(needed)} iterations in all. Fix: "
            f"max_iter={suggestion}"
            f"{' or method=' + repr('cg') if self.method not in ('cg', 'exact') else ''}."
        )

    def fit_statistics(self, statistics: Any, **fit_params: Any) -> GDRegressor:
        """Fit from sufficient statistics: the same as ``fit(statistics)``.

        Parameters
        ----------
        statistics : Statistics
            From :meth:`gradfit.Statistics.from_data`, sums and differences of them, or
            :func:`gradfit.load_statistics`.
        **fit_params
            Passed to :meth:`fit` (``callback=``).

        Returns
        -------
        self : GDRegressor

        Examples
        --------
        >>> import numpy as np
        >>> from gradfit import Statistics
        >>> X = np.arange(20.0).reshape(10, 2) % 7; y = X @ [1.0, -1.0] + 2.0
        >>> s = Statistics.from_data(X[:4], y[:4]) + Statistics.from_data(X[4:], y[4:])
        >>> model = GDRegressor(method="exact").fit_statistics(s)
        >>> np.round(model.coef_, 8), round(float(model.intercept_), 8)
        (array([ 1., -1.]), 2.0)
        """
        return self.fit(statistics, **fit_params)

    # -- prediction --------------------------------------------------------------
    def predict(self, X: Any, *, unknown: str = "error") -> NDArray[Any]:
        """Predict ``X W + b``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (N, D)
            After a fit with text columns (``encoding_``), a DataFrame or a file
            holding the input columns is encoded with the levels learned in
            fitting; an array is taken as already encoded (``coef_names_`` columns).
        unknown : {"error", "zeros"}, default="error"
            A level not seen in fitting: an error naming the column and the value,
            or all that column's indicators 0 (the reference level).

        Returns
        -------
        ndarray of shape (N,) or (N, K)
        """
        check_is_fitted(self)
        encoding = getattr(self, "encoding_", None)
        if encoding is not None:
            return self._predict_encoded(X, encoding, unknown)
        entry = find_adapter(X)
        if entry is not None and entry.predict is not None:
            names = getattr(self, "feature_names_in_", None)
            columns = list(names) if names is not None else getattr(self, "_source_columns", None)
            return entry.predict(X, self.coef_, self.intercept_, columns)
        X_arr, _ = as_design_matrix(X, check_scale=False)
        validate_data(self, X, reset=False, skip_check_array=True)
        coef = np.asarray(self.coef_)
        return X_arr @ coef.T + self.intercept_

    def _predict_encoded(self, X: Any, encoding: Any, unknown: str) -> NDArray[Any]:
        """``predict`` after a fit with text columns: encode a DataFrame or a file first."""
        coef = np.asarray(self.coef_)
        if _datafile.accepts_file(X):
            return _datafile.predict_file(
                X, coef, self.intercept_, encoding=encoding, unknown=unknown
            )
        if _is_dataframe(X):
            from ._encode import transform_dataframe

            X_arr, _ = as_design_matrix(
                transform_dataframe(X, encoding, unknown=unknown), check_scale=False
            )
        else:
            X_arr, _ = as_design_matrix(X, check_scale=False)
            if X_arr.shape[1] != coef.shape[-1]:
                raise GradfitInputError(
                    f"X has {X_arr.shape[1]} columns but the model has {coef.shape[-1]} "
                    f"encoded ones ({', '.join(encoding.names_out[:10])}…); pass a DataFrame "
                    f"with the input columns {', '.join(encoding.names_in)}"
                )
        return X_arr @ coef.T + self.intercept_
