"""Sources: what every kind of input offers the planner, and the registry that finds them.

A **source** only describes data. It says its shape, the names of its columns and
its dtype; it makes **one reading pass** that yields the sufficient statistics
when the planner asks for them; it builds a **data-path problem** over its rows;
it predicts; it closes. It never sees ``method`` or ``gradient``: which engine
runs (statistics, data path, exact, the κ fallback) is decided in one place,
:func:`gradfit.problem.plan.plan`, for every source alike.

NumPy arrays and pandas DataFrames are an ordinary source (``"numpy"``, in
:mod:`gradfit.problem.plan`); SciPy sparse matrices (:mod:`gradfit.sources.sparse`),
torch/CuPy arrays (:mod:`gradfit.sources.device`), files (:mod:`gradfit.sources.files`) and
Dask collections (:mod:`gradfit.sources.dask`) register theirs when imported, so the
core imports none of those libraries.

A registration is ``register(name, accepts, open, predict=None)``:

``accepts(X) -> bool``
    Whether this source handles ``X``.
``open(X, y, sample_weight, params) -> Source``
    The source for a fit; ``params`` are the ``fit`` keywords the estimator does
    not know itself (e.g. ``target=`` and ``features=`` for files). Refuse the
    unknown ones with :func:`check_options`.
``predict(X, coef, intercept, columns) -> array``
    Predictions for this kind of input (default ``X @ coef.T + intercept``);
    ``columns`` are the names of the columns the model was fitted on
    (``feature_names_in_``, or a file's column names), or None.

Adding a source is one module with a :class:`Source` subclass and one
``register`` line; for data that arrives as row blocks (a generator, a query, a
socket), subclass :class:`gradfit.sources.files.StreamSource` and write ``blocks()``
only: the reading pass, the checks, the on-disk cache and the data path come
with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..problem.objective import Problem

__all__ = ["Source", "SourceEntry", "check_options", "find_adapter", "register", "unregister"]


class Source:
    """What an input offers the planner (:func:`gradfit.problem.plan.plan`).

    Attributes
    ----------
    kind : str
        A short name for messages (``"numpy"``, ``"sparse"``, ``"csv"``, …).
    n_features, n_outputs : int
        D and K.
    n_rows : int or None
        N when it is known before reading (arrays), None when the reading pass
        learns it (files, Dask, generators).
    feature_names : list of str or None
        Names that become ``feature_names_in_`` (None for unnamed columns).
    columns : list of str or None
        The names under which :meth:`predict` finds the feature columns again
        (a ``.npy`` file's ``x0``, ``x1``, … which are not ``feature_names_in_``).
    was_1d : bool
        Whether the target was one column given as a vector (``coef_`` is then 1-D).
    dtype : numpy dtype
        The dtype of the fitted coefficients.
    sgd_refusal : str or None
        Why this source cannot serve random mini-batches of rows (None: it can).

    Examples
    --------
    >>> Source().sgd_refusal is None
    True
    """

    kind = "source"
    n_features: int = 0
    n_outputs: int = 0
    n_rows: int | None = None
    feature_names: list[str] | None = None
    columns: list[str] | None = None
    was_1d: bool = False
    dtype: Any = None
    sgd_refusal: str | None = None
    #: False for a source without rows (sufficient statistics): the planner then never
    #: builds a data-path problem (no κ fallback, no refinement for ``exact``).
    has_rows: bool = True
    #: Set by the estimator before planning when it checkpoints: a source that reads its
    #: rows in a pass hashes them during it (see :meth:`digest`).
    want_digest: bool = False
    #: Power-of-two exponents ``(x_exp (D,), y_exp (K,))`` by which the source divided its
    #: columns to bring magnitudes beyond ``1e±50`` into range (exact in binary floating
    #: point), or None. The problems it builds see the rescaled data; the estimator scales
    #: the coefficients back (``W·2**(y_exp − x_exp)``, ``b·2**y_exp``).
    units: tuple[Any, Any] | None = None

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """One reading pass: the sufficient statistics of the objective.

        Returns the dict :class:`~gradfit.problem.gram.GramProblem` takes (``H``, ``B``,
        ``yy``, ``yy_raw``, ``x_offset``, ``y_offset``, ``N``); with
        ``diagonal=True`` only ``H_diag`` instead of ``H`` (the data path then
        needs only the means and scales). ``keep_rows`` says the data path will
        probably follow, so a source that must keep its rows somewhere (a cache
        on disk, persisted partitions) should keep them during this pass.
        ``options`` holds ``fit_intercept``, ``standardize`` and ``alpha``.
        """
        raise NotImplementedError

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """The data path over this source's rows.

        ``stats`` are this source's statistics when a reading pass was made
        (None otherwise); ``known`` is the statistics problem built from them,
        whose centring and scaling the data path should share.
        """
        raise NotImplementedError

    def explain(self, engine: str, reason: str, *, shape_rule: bool) -> str:
        """The reason for the engine in this source's words.

        ``shape_rule`` says that the automatic choice from N and D decided it.
        """
        return reason

    def veto(self, stats: dict[str, Any]) -> str | None:
        """Why the statistics of this source must not be used by ``gradient="auto"``, or None."""
        return None

    def where(self, engine: str, *, refine: bool, fallback: bool) -> str:
        """What the reason adds about where the data lives for this engine."""
        return ""

    def planned(self, rows_used: bool) -> None:
        """The plan is made; ``rows_used``: whether a data-path problem reads the rows.

        A streamed source deletes its cache at once when they are not used.
        """

    def to_output(self) -> Callable[[Any], Any] | None:
        """Converts the fitted ``coef_``/``intercept_`` to the input's array type, or None."""
        return None

    def close(self) -> None:
        """Release what the source holds (a cache on disk, persisted partitions)."""

    def digest(self) -> str | None:
        """A digest of every value of the data (``_checkpoint.DataDigest``), or None.

        A checkpoint stores it so that a resume on data with any value changed is
        refused; None when the source cannot hash its data (Dask, devices).
        """
        return None


@dataclass(frozen=True)
class SourceEntry:
    """A registered kind of input."""

    name: str
    accepts: Callable[[Any], bool]
    open: Callable[[Any, Any, Any, dict[str, Any]], Source]
    predict: Callable[[Any, Any, Any, list[str] | None], Any] | None = None


def check_options(options: dict[str, Any], allowed: set[str], kind: str, hint: str) -> None:
    """Refuse ``fit`` keywords that this input kind does not know.

    Examples
    --------
    >>> check_options({"target": "y"}, {"target"}, "a file", "use target=")
    >>> check_options({"tagret": "y"}, {"target"}, "a file", "use target=")
    Traceback (most recent call last):
    ...
    TypeError: fit() got unexpected keyword argument(s) ['tagret'] for a file input; use target=
    """
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"fit() got unexpected keyword argument(s) {unknown} for {kind} input; {hint}"
        )


_SOURCES: list[SourceEntry] = []


def register(
    name: str,
    accepts: Callable[[Any], bool],
    open: Callable[[Any, Any, Any, dict[str, Any]], Source],
    predict: Callable[[Any, Any, Any, list[str] | None], Any] | None = None,
) -> None:
    """Register (or replace) the source called ``name`` (sources are asked in order).

    Examples
    --------
    >>> def open_never(X, y, w, params):
    ...     raise NotImplementedError
    >>> register("never", lambda X: False, open_never)
    >>> find_adapter(object()) is None
    True
    >>> unregister("never")
    """
    unregister(name)
    _SOURCES.append(SourceEntry(name, accepts, open, predict))


def unregister(name: str) -> None:
    """Remove the source called ``name`` if it is registered.

    Examples
    --------
    >>> unregister("no-such-source")
    """
    _SOURCES[:] = [s for s in _SOURCES if s.name != name]


def find_adapter(X: Any) -> SourceEntry | None:
    """The registered source that accepts ``X``, or None for NumPy/pandas (the array source).

    Examples
    --------
    >>> import numpy as np
    >>> find_adapter(np.zeros((2, 2))) is None
    True
    """
    for entry in _SOURCES:
        if entry.accepts(X):
            return entry
    return None


def _open_itself(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> Source:
    """A :class:`Source` given to ``fit`` directly is its own source."""
    check_options(params, set(), "a Source", "it carries its own settings.")
    if y is not None or sample_weight is not None:
        raise TypeError(
            f"y and sample_weight must be None when X is a source ({type(X).__name__}): "
            "the source yields the targets itself"
        )
    return X


register("source", lambda X: isinstance(X, Source), _open_itself)
