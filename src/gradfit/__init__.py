"""gradfit: linear regression trained by gradient methods, exact, stable and explained.

>>> from gradfit import GDRegressor, DivergenceError, ConvergenceWarning
"""

from __future__ import annotations

from ._certify import Certificate
from ._diagnose import diagnose
from ._exceptions import (
    CollinearityWarning,
    ConvergenceWarning,
    DivergenceError,
    GradfitInputError,
    GradfitModelError,
)
from ._explain import explain
from ._history import Event, History
from .estimator import GDRegressor
from .gradcheck import check_gradient

# file and Dask adapters register themselves on import (neither imports pyarrow or dask)
from . import _dask, _datafile  # noqa: F401  # isort: skip
from ._datafile import DataFile  # isort: skip

# input adapters register themselves on import (neither imports torch or CuPy)
from . import _sparse, _xp  # noqa: F401  # isort: skip
from .persistence import load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "CollinearityWarning",
    "ConvergenceWarning",
    "DataFile",
    "DivergenceError",
    "Event",
    "GDRegressor",
    "GradfitInputError",
    "GradfitModelError",
    "History",
    "__version__",
    "check_gradient",
    "diagnose",
    "explain",
    "load_model",
    "save_model",
]
