"""gradfit: linear regression trained by gradient methods, exact, stable and explained.

>>> from gradfit import GDRegressor, DivergenceError, ConvergenceWarning

``import gradfit`` imports NumPy and nothing heavier: each public name below is
imported from its module the first time it is looked up (module ``__getattr__``),
so ``GDRegressor`` brings in scikit-learn when it is first used and a numba
kernel compiles when it first runs (docs/architecture.md, decision 19).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    CollinearityWarning,
    DataNote,
    DivergenceError,
    GradfitInputError,
    GradfitModelError,
)
from .solve.history import Event, History

if TYPE_CHECKING:
    from ._exceptions import ConvergenceWarning
    from .cv import GDRegressorCV
    from .estimator import GDRegressor
    from .gradcheck import check_gradient
    from .persistence import load_model, save_model
    from .solve.certify import Certificate
    from .sources.files import DataFile
    from .statistics import Statistics, load_statistics
    from .understand.diagnose import diagnose
    from .understand.explain import explain
    from .understand.inference import Inference, inference


__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "CollinearityWarning",
    "ConvergenceWarning",
    "DataFile",
    "DataNote",
    "DivergenceError",
    "Event",
    "GDRegressor",
    "GDRegressorCV",
    "GradfitInputError",
    "GradfitModelError",
    "History",
    "Inference",
    "Statistics",
    "__version__",
    "check_gradient",
    "diagnose",
    "explain",
    "inference",
    "load_model",
    "load_statistics",
    "save_model",
]

#: public name → the module that defines it, imported on first access
_LAZY = {
    "Certificate": ".solve.certify",
    "ConvergenceWarning": "._exceptions",
    "DataFile": ".sources.files",
    "GDRegressor": ".estimator",
    "GDRegressorCV": ".cv",
    "Inference": ".understand.inference",
    "Statistics": ".statistics",
    "check_gradient": ".gradcheck",
    "diagnose": ".understand.diagnose",
    "explain": ".understand.explain",
    "inference": ".understand.inference",
    "load_model": ".persistence",
    "load_statistics": ".statistics",
    "save_model": ".persistence",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and keep the name here.

    Examples
    --------
    >>> import gradfit
    >>> gradfit.GDRegressor.__name__
    'GDRegressor'
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
