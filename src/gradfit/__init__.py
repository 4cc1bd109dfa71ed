"""gradfit: linear regression trained by gradient methods, exact, stable and explained.

>>> from gradfit import GDRegressor, DivergenceError, ConvergenceWarning
"""

from __future__ import annotations

from ._diagnose import diagnose
from ._exceptions import ConvergenceWarning, DivergenceError, GradfitInputError
from ._explain import explain
from ._history import Event, History
from .estimator import GDRegressor
from .gradcheck import check_gradient

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "Event",
    "GDRegressor",
    "GradfitInputError",
    "History",
    "__version__",
    "check_gradient",
    "diagnose",
    "explain",
]
