"""Exceptions and warnings raised by gradfit.

:class:`ConvergenceWarning` subclasses scikit-learn's, so that filters written
for scikit-learn catch it; importing scikit-learn takes about a second, so the
class is made on first access (module ``__getattr__``), not when gradfit is
imported (docs/architecture.md, decision 19).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

__all__ = [
    "CollinearityWarning",
    "ConvergenceWarning",
    "DivergenceError",
    "GradfitInputError",
    "GradfitModelError",
]


class DivergenceError(RuntimeError):
    """Raised when a fit with a user-chosen learning rate diverges.

    The message names the iteration where the loss grew (or became non-finite),
    the learning rate, the stability bound ``2/L`` of the data, and the fix.
    The last good weights are kept on the exception as ``last_good_coef``
    (shape (D, K), in the user's units) and ``last_good_intercept``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, DivergenceError
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ [1.0, 2.0, 3.0]
    >>> try:
    ...     GDRegressor(method="gd", learning_rate=10.0).fit(X, y)
    ... except DivergenceError as err:
    ...     print(str(err).split(":")[0])
    diverged at iteration 1
    """

    def __init__(
        self,
        message: str,
        *,
        iteration: int = -1,
        learning_rate: float = float("nan"),
        stability_bound: float = float("nan"),
        last_good_coef: object = None,
        last_good_intercept: object = None,
    ) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.learning_rate = learning_rate
        self.stability_bound = stability_bound
        self.last_good_coef = last_good_coef
        self.last_good_intercept = last_good_intercept


class GradfitInputError(ValueError):
    """Raised for data that gradfit cannot fit, with a message saying why and how to fix it."""

    @classmethod
    def overflow(
        cls, largest_x: float | None = None, largest_y: float | None = None, note: str = ""
    ) -> GradfitInputError:
        """The error for data whose squares overflow float64 (every engine raises this one).

        Examples
        --------
        >>> print(GradfitInputError.overflow(1e200, 2.0))  # doctest: +NORMALIZE_WHITESPACE
        the data's magnitude overflows float64 arithmetic (largest |X| = 1e+200, largest |y| =
        2): squares of these values are not representable. Fix: rescale X and y, e.g. divide
        each column by its largest absolute value, and fit again.
        """
        where = ""
        if largest_x is not None and largest_y is not None:
            where = f" (largest |X| = {largest_x:.3g}, largest |y| = {largest_y:.3g})"
        return cls(
            f"the data's magnitude overflows float64 arithmetic{where}: squares of these values "
            "are not representable. Fix: rescale X and y, e.g. divide each column by its "
            f"largest absolute value{note}, and fit again."
        )


class GradfitModelError(ValueError):
    """Raised when a model file cannot be loaded, with a message that says why.

    ``reason`` names the kind of failure, for programs that branch on it:
    ``"not_a_model"``, ``"truncated"``, ``"corrupt"``, ``"tampered"``, ``"too_new"``,
    ``"unsafe"`` (it holds pickled Python objects, which gradfit never loads),
    ``"inconsistent"`` (its parts disagree) or ``"not_fitted"`` (saving an unfitted model).

    Examples
    --------
    >>> err = GradfitModelError("model.gfm is truncated", reason="truncated")
    >>> err.reason, isinstance(err, ValueError)
    ('truncated', True)
    """

    def __init__(self, message: str, *, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


class CollinearityWarning(UserWarning):
    """Some coefficients are not determined by the data: constant or collinear columns.

    The fit returns the minimum-norm solution in the user's units (as
    ``numpy.linalg.lstsq`` and scikit-learn's ``LinearRegression`` do): a
    constant column gets coefficient 0, duplicated columns share their weight
    equally. The message names the columns and the numerical rank.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from gradfit import GDRegressor, CollinearityWarning
    >>> X = np.column_stack([np.arange(5.0), np.full(5, 7.0)])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = GDRegressor().fit(X, np.arange(5.0))
    >>> [w.category.__name__ for w in caught], float(model.coef_[1])
    (['CollinearityWarning'], 0.0)
    """


class DataNote(UserWarning):
    """Something gradfit did to a table that the user should know: a column left out.

    E.g. a column whose header says it is a row index (``Unnamed: 0``) is left out
    of the default features of a file; ``gradfit fit`` prints these as notes.

    Examples
    --------
    >>> issubclass(DataNote, UserWarning)
    True
    """


if TYPE_CHECKING:

    class ConvergenceWarning(UserWarning):
        """Warned when a fit stops before reaching its tolerance (made on first access)."""


_LOCK = threading.Lock()


def _make_convergence_warning() -> type[UserWarning]:
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    class ConvergenceWarning(SklearnConvergenceWarning):
        """Warned when a fit stops before reaching its tolerance.

        A subclass of :class:`sklearn.exceptions.ConvergenceWarning` (itself a
        ``UserWarning``), so filters written for scikit-learn apply. The class is
        made the first time it is looked up (that imports scikit-learn), once.

        The message names the likely cause (too few iterations, ill-conditioning
        with the estimated condition number, unscaled features) and the fix.
        Silence it with ``warnings.simplefilter("ignore", ConvergenceWarning)``.

        Examples
        --------
        >>> import sklearn.exceptions
        >>> from gradfit import ConvergenceWarning
        >>> issubclass(ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)
        True
        """

    ConvergenceWarning.__qualname__ = "ConvergenceWarning"  # importable by name (pickle)
    return ConvergenceWarning


def __getattr__(name: str) -> Any:
    """Make :class:`ConvergenceWarning` on first access (it imports scikit-learn)."""
    if name != "ConvergenceWarning":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LOCK:
        if name not in globals():
            globals()[name] = _make_convergence_warning()
    return globals()[name]
