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
from ._history import Event, History

if TYPE_CHECKING:
    from ._certify import Certificate
    from ._datafile import DataFile
    from ._diagnose import diagnose
    from ._exceptions import ConvergenceWarning
    from ._explain import explain
    from ._inference import Inference, inference
    from .cv import GDRegressorCV
    from .estimator import GDRegressor
    from .gradcheck import check_gradient
    from .persistence import load_model, save_model
    from .statistics import Statistics, load_statistics


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
    "Certificate": "._certify",
    "ConvergenceWarning": "._exceptions",
    "DataFile": "._datafile",
    "GDRegressor": ".estimator",
    "GDRegressorCV": ".cv",
    "Inference": "._inference",
    "Statistics": ".statistics",
    "check_gradient": ".gradcheck",
    "diagnose": "._diagnose",
    "explain": "._explain",
    "inference": "._inference",
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
