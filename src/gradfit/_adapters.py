"""Input adapters: how inputs other than in-memory arrays reach the core.

The core works on anything that implements the :class:`~gradfit._objective.Problem`
protocol. An adapter recognises one kind of input (sparse matrices, files,
Dask collections, arrays of other libraries) and builds the problem for it;
the estimator asks the registered adapters in order before falling back to
the in-memory NumPy path. Adapters live in their own modules and register
themselves when imported, so the core never imports Dask, pyarrow or torch.

An adapter is ``register(name, accepts, build, predict=None)``:

``accepts(X) -> bool``
    Whether this adapter handles ``X``.
``build(X, y, sample_weight, options) -> Built``
    The problem, with what the estimator needs to record. ``options`` holds
    ``fit_intercept``, ``standardize``, ``alpha``, ``method`` and ``gradient``
    (and, for files, ``target``/``features`` passed through ``fit_params``).
``predict(X, coef, intercept) -> array``
    Predictions for this kind of input (default ``X @ coef.T + intercept``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._objective import Problem

__all__ = ["Adapter", "Built", "find_adapter", "register"]


@dataclass
class Built:
    """What an adapter hands to the estimator."""

    problem: Problem
    refine: Problem | None
    engine: str
    reason: str
    n_features: int
    feature_names: list[str] | None
    was_1d: bool
    dtype: Any
    #: Converts the fitted ``coef_``/``intercept_`` (NumPy) to the input's array type, or None.
    to_output: Callable[[Any], Any] | None = None
    #: Releases what the build holds (a file cache, persisted partitions); the estimator
    #: calls it once the solve has ended, whether it succeeded or raised.
    close: Callable[[], None] | None = None
    #: The data's digest (``_checkpoint.DataDigest``) when the estimator asked for it with
    #: the ``digest`` option (it checkpoints) and the input can be hashed; else None.
    digest: str | None = None


#: The options the estimator hands every adapter, besides the input's own ``fit`` keywords.
ESTIMATOR_OPTIONS = frozenset(
    {"fit_intercept", "standardize", "alpha", "method", "gradient", "digest"}
)


def check_options(options: dict[str, Any], allowed: set[str], kind: str, hint: str) -> None:
    """Refuse ``fit`` keywords that neither the estimator nor this input kind knows.

    Examples
    --------
    >>> check_options({"alpha": 0.0, "target": "y"}, {"target"}, "a file", "use target=")
    >>> check_options({"tagret": "y"}, {"target"}, "a file", "use target=")
    Traceback (most recent call last):
    ...
    TypeError: fit() got unexpected keyword argument(s) ['tagret'] for a file input; use target=
    """
    unknown = sorted(set(options) - ESTIMATOR_OPTIONS - allowed)
    if unknown:
        raise TypeError(
            f"fit() got unexpected keyword argument(s) {unknown} for {kind} input; {hint}"
        )


@dataclass(frozen=True)
class Adapter:
    """A registered input kind."""

    name: str
    accepts: Callable[[Any], bool]
    build: Callable[[Any, Any, Any, dict[str, Any]], Built]
    predict: Callable[[Any, Any, Any], Any] | None = None


_ADAPTERS: list[Adapter] = []


def register(
    name: str,
    accepts: Callable[[Any], bool],
    build: Callable[[Any, Any, Any, dict[str, Any]], Built],
    predict: Callable[[Any, Any, Any], Any] | None = None,
) -> None:
    """Register (or replace) the adapter called ``name``.

    Examples
    --------
    >>> def build(X, y, w, options):
    ...     raise NotImplementedError
    >>> register("never", lambda X: False, build)
    >>> find_adapter(object()) is None
    True
    >>> unregister("never")
    """
    unregister(name)
    _ADAPTERS.append(Adapter(name, accepts, build, predict))


def unregister(name: str) -> None:
    """Remove the adapter called ``name`` if it is registered."""
    _ADAPTERS[:] = [a for a in _ADAPTERS if a.name != name]


def find_adapter(X: Any) -> Adapter | None:
    """The first registered adapter that accepts ``X``, or None for the NumPy path."""
    for adapter in _ADAPTERS:
        if adapter.accepts(X):
            return adapter
    return None
