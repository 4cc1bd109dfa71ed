r"""Sufficient statistics as a first-class object: :class:`Statistics`.

Everything a ridge fit needs from the rows, at any ``alpha``, is

* the number of rows and the sum of their weights ``Σw``;
* the weighted means ``x̄``, ``ȳ``;
* the centred cross products ``Σw(x − x̄)(x − x̄)ᵀ`` (D×D), ``Σw(x − x̄)(y − ȳ)ᵀ`` (D×K)
  and ``Σw(y − ȳ)²`` (K,).

They are stored *centred* and combined with the pairwise update of Chan, Golub and
LeVeque: merging two sets of rows adds their centred sums plus a rank-one term
``(w_a w_b / w)·δδᵀ`` in the difference of their means ``δ``. No raw ``Σxxᵀ`` is ever
formed, so nothing cancels however large the means are against the spreads — the
case for which the in-memory engine (:func:`gradfit.problem.gram.sufficient_statistics`)
needs a second pass; here every block is centred about its own mean, in one pass.

Statistics **add** (``s1 + s2``: batches, partitions, machines), **subtract**
(``s - batch``: a deletion request, a sliding window), save and load (the model-file
format: a zip of JSON metadata, a pickle-free ``.npz`` and SHA-256 sums) and fit:
``GDRegressor().fit(s)`` (or ``fit_statistics(s)``) runs the statistics engine on them.

The same block loop reads every source — NumPy and pandas, scipy.sparse (densified a
block of rows at a time), PyTorch/CuPy (copied to the host a block at a time), files
larger than memory (:class:`~gradfit.DataFile`) and Dask collections (one ``compute``
of per-partition statistics) — and can split each block by a fold assignment, which is
how :class:`~gradfit.GDRegressorCV` gets every fold's statistics in the same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError, GradfitModelError
from .sources.base import Source as _PlannerSource
from .sources.base import check_options, register

__all__ = ["Statistics", "load_statistics"]

F64 = NDArray[np.float64]
#: ``assign(start, n)`` → the fold (0..K−1) of rows ``start .. start + n − 1``.
Assign = Callable[[int, int], NDArray[np.intp]]

#: Elements (float64) per block read from an in-memory source (16 MiB).
BLOCK_ELEMENTS = 1 << 21

_FORMAT = "gradfit-statistics"
_FORMAT_VERSION = 1


class Statistics:
    r"""The sufficient statistics of a dataset for linear (ridge) regression.

    Build them with :meth:`from_data` (one pass over any source); combine them with
    ``+`` and ``-``; fit with ``GDRegressor().fit(stats)``.

    Parameters
    ----------
    n_samples : int
        Rows.
    weight_sum : float
        ``Σw`` (equal to ``n_samples`` without sample weights).
    x_mean : ndarray of shape (D,)
    y_mean : ndarray of shape (K,)
    xx : ndarray of shape (D, D)
        ``Σw(x − x̄)(x − x̄)ᵀ``.
    xy : ndarray of shape (D, K)
        ``Σw(x − x̄)(y − ȳ)ᵀ``.
    yy : ndarray of shape (K,)
        ``Σw(y − ȳ)²`` per output.
    feature_names, target_names : sequence of str, optional
    dtype : str, default="float64"
        The dtype of the data (the fitted coefficients are cast to it).
    y_1d : bool, default=False
        Whether the targets were one 1-D column (``coef_`` is then 1-D).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfit import GDRegressor, Statistics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = X @ [1.0, -2.0, 0.5] + 4.0
    >>> a = Statistics.from_data(X[:100], y[:100])
    >>> b = Statistics.from_data(X[100:], y[100:])
    >>> s = a + b
    >>> s.n_samples, bool(np.allclose(s.xx, np.cov(X.T, bias=True) * 300))
    (300, True)
    >>> model = GDRegressor(method="exact").fit(s)
    >>> np.round(model.coef_, 8), round(float(model.intercept_), 8)
    (array([ 1. , -2. ,  0.5]), 4.0)
    >>> (s - b).n_samples, bool(np.allclose((s - b).x_mean, X[:100].mean(0)))
    (100, True)
    """

    def __init__(
        self,
        n_samples: int,
        weight_sum: float,
        x_mean: Any,
        y_mean: Any,
        xx: Any,
        xy: Any,
        yy: Any,
        *,
        feature_names: Sequence[str] | None = None,
        target_names: Sequence[str] | None = None,
        dtype: Any = "float64",
        y_1d: bool = False,
    ) -> None:
        self.n_samples = int(n_samples)
        self.weight_sum = float(weight_sum)
        self.x_mean = np.asarray(x_mean, dtype=np.float64).reshape(-1)
        self.y_mean = np.asarray(y_mean, dtype=np.float64).reshape(-1)
        D, K = self.x_mean.shape[0], self.y_mean.shape[0]
        self.xx = np.asarray(xx, dtype=np.float64).reshape(D, D)
        self.xy = np.asarray(xy, dtype=np.float64).reshape(D, K)
        self.yy = np.asarray(yy, dtype=np.float64).reshape(K)
        self.feature_names = None if feature_names is None else tuple(map(str, feature_names))
        self.target_names = None if target_names is None else tuple(map(str, target_names))
        self.dtype = np.dtype(dtype).name
        self.y_1d = bool(y_1d)

    # -- shape and description --------------------------------------------------------
    @property
    def n_features(self) -> int:
        """D, the number of features."""
        return int(self.x_mean.shape[0])

    @property
    def n_targets(self) -> int:
        """K, the number of outputs."""
        return int(self.y_mean.shape[0])

    def to_text(self) -> str:
        """A readable summary: rows, and per column its mean and standard deviation.

        Examples
        --------
        >>> import numpy as np
        >>> s = Statistics.from_data(np.array([[1.0], [3.0]]), np.array([2.0, 4.0]))
        >>> print(s.to_text())
        statistics of 2 rows, 1 feature, 1 target
          column  role     mean  std
          x0      feature     2    1
          y       target      3    1
        """
        D, K = self.n_features, self.n_targets
        weights = "" if self.weight_sum == self.n_samples else f" (weight sum {self.weight_sum:g})"
        head = (
            f"statistics of {self.n_samples} rows{weights}, {D} feature{'s' * (D != 1)}, "
            f"{K} target{'s' * (K != 1)}"
        )
        f_names = self.feature_names or tuple(f"x{j}" for j in range(D))
        t_names = self.target_names or (("y",) if K == 1 else tuple(f"y{k}" for k in range(K)))
        w = max(self.weight_sum, 1.0)
        x_std = np.sqrt(np.maximum(np.diag(self.xx), 0.0) / w)
        y_std = np.sqrt(np.maximum(self.yy, 0.0) / w)
        rows = [("column", "role", "mean", "std")]
        rows += [
            (n, "feature", f"{m:.6g}", f"{d:.6g}")
            for n, m, d in zip(f_names, self.x_mean, x_std, strict=True)
        ]
        rows += [
            (n, "target", f"{m:.6g}", f"{d:.6g}")
            for n, m, d in zip(t_names, self.y_mean, y_std, strict=True)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [head]
        for r in rows:
            lines.append(
                f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                f"{r[3]:>{widths[3]}}".rstrip()
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self) -> str:
        """:meth:`to_text` as HTML (escaped), for Jupyter."""
        from html import escape

        return f"<div class='gradfit-statistics'><pre>{escape(self.to_text())}</pre></div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        weights = "" if self.weight_sum == self.n_samples else f", weight_sum={self.weight_sum:g}"
        return (
            f"Statistics(n_samples={self.n_samples}{weights}, n_features={self.n_features}, "
            f"n_targets={self.n_targets})"
        )

    def _like(self, **changes: Any) -> Statistics:
        fields: dict[str, Any] = {
            "n_samples": self.n_samples,
            "weight_sum": self.weight_sum,
            "x_mean": self.x_mean,
            "y_mean": self.y_mean,
            "xx": self.xx,
            "xy": self.xy,
            "yy": self.yy,
            "feature_names": self.feature_names,
            "target_names": self.target_names,
            "dtype": self.dtype,
            "y_1d": self.y_1d,
        }
        fields.update(changes)
        return Statistics(**fields)

    def select_targets(self, columns: Sequence[int]) -> Statistics:
        """The statistics of some of the outputs only.

        Examples
        --------
        >>> import numpy as np
        >>> s = Statistics.from_data(np.eye(3), np.arange(6.0).reshape(3, 2))
        >>> s.select_targets([1]).n_targets
        1
        """
        idx = list(columns)
        names = None if self.target_names is None else [self.target_names[i] for i in idx]
        return self._like(
            y_mean=self.y_mean[idx],
            xy=self.xy[:, idx],
            yy=self.yy[idx],
            target_names=names,
            y_1d=self.y_1d and len(idx) == 1,
        )

    # -- algebra -----------------------------------------------------------------------
    def _check_compatible(self, other: Any, verb: str) -> Statistics:
        if not isinstance(other, Statistics):
            raise TypeError(f"can only {verb} Statistics, not {type(other).__name__}")
        if (self.n_features, self.n_targets) != (other.n_features, other.n_targets):
            raise GradfitInputError(
                f"cannot {verb} statistics of {other.n_features} features and "
                f"{other.n_targets} output(s) to/from statistics of {self.n_features} features "
                f"and {self.n_targets} output(s); both must come from the same columns."
            )
        for what in ("feature_names", "target_names"):
            mine, theirs = getattr(self, what), getattr(other, what)
            if mine is not None and theirs is not None and mine != theirs:
                raise GradfitInputError(
                    f"cannot {verb} statistics with different {what.replace('_', ' ')} "
                    f"({list(mine)[:4]}… against {list(theirs)[:4]}…); select the same columns "
                    "in the same order."
                )
        return other

    def __add__(self, other: Any) -> Statistics:
        """Statistics of the union of two sets of rows (exact, in any order)."""
        if isinstance(other, int) and other == 0:  # sum([...]) starts from 0
            return self
        other = self._check_compatible(other, "add")
        wa, wb = self.weight_sum, other.weight_sum
        w = wa + wb
        names = self.feature_names or other.feature_names
        targets = self.target_names or other.target_names
        common = {
            "feature_names": names,
            "target_names": targets,
            "dtype": np.promote_types(self.dtype, other.dtype),
        }
        if wb == 0.0 or wa == 0.0:
            base, extra = (self, other) if wb == 0.0 else (other, self)
            return base._like(
                n_samples=self.n_samples + other.n_samples,
                xx=base.xx + extra.xx,
                xy=base.xy + extra.xy,
                yy=base.yy + extra.yy,
                **common,
            )
        dx = other.x_mean - self.x_mean
        dy = other.y_mean - self.y_mean
        f = wa * wb / w
        return self._like(
            n_samples=self.n_samples + other.n_samples,
            weight_sum=w,
            x_mean=self.x_mean + dx * (wb / w),
            y_mean=self.y_mean + dy * (wb / w),
            xx=self.xx + other.xx + f * np.outer(dx, dx),
            xy=self.xy + other.xy + f * np.outer(dx, dy),
            yy=self.yy + other.yy + f * dy * dy,
            **common,
        )

    __radd__ = __add__

    def __sub__(self, other: Any) -> Statistics:
        """Statistics of these rows without ``other``'s (which must be among them)."""
        other = self._check_compatible(other, "subtract")
        n = self.n_samples - other.n_samples
        w = self.weight_sum
        wb = other.weight_sum
        wa = w - wb
        if n < 0 or (n == 0 and wa > 1e-12 * max(w, 1.0)):
            raise GradfitInputError(
                f"cannot subtract {other.n_samples} rows from statistics of {self.n_samples}; "
                "only rows that were added can be removed."
            )
        if wa <= 1e-12 * max(w, 1.0) or n == 0:
            # no weight left: the remaining rows (if any) carry zero weight
            D, K = self.n_features, self.n_targets
            return self._like(
                n_samples=n,
                weight_sum=0.0,
                x_mean=np.zeros(D),
                y_mean=np.zeros(K),
                xx=np.zeros((D, D)),
                xy=np.zeros((D, K)),
                yy=np.zeros(K),
            )
        x_mean = (self.x_mean * w - other.x_mean * wb) / wa
        y_mean = (self.y_mean * w - other.y_mean * wb) / wa
        dx = other.x_mean - x_mean
        dy = other.y_mean - y_mean
        f = wa * wb / w
        xx = self.xx - other.xx - f * np.outer(dx, dx)
        return self._like(
            n_samples=n,
            weight_sum=wa,
            x_mean=x_mean,
            y_mean=y_mean,
            xx=0.5 * (xx + xx.T),
            xy=self.xy - other.xy - f * np.outer(dx, dy),
            yy=np.maximum(self.yy - other.yy - f * dy * dy, 0.0),
        )

    # -- what the solvers take -----------------------------------------------------------
    def gram(self, fit_intercept: bool = True) -> dict[str, Any]:
        """The dictionary :class:`~.gram.GramProblem` takes (``H``, ``B``, ``yy``, …).

        ``H = Σw(x − x̄)(x − x̄)ᵀ/Σw`` with an intercept, ``Σw xxᵀ/Σw`` without.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[1.0], [2.0], [3.0]]); y = np.array([1.0, 2.0, 4.0])
        >>> s = Statistics.from_data(X, y)
        >>> round(float(s.gram()["H"][0, 0]), 6), round(float(s.gram(False)["H"][0, 0]), 6)
        (0.666667, 4.666667)
        """
        w = self.weight_sum
        if w <= 0.0:
            raise GradfitInputError(
                f"these statistics have no weight ({self.n_samples} rows, Σw = {w:g}); a fit "
                "needs rows with positive weight."
            )
        H = self.xx / w
        B = self.xy / w
        yy = self.yy / w
        yy_raw = yy + self.y_mean**2
        if fit_intercept:
            x_offset, y_offset = self.x_mean.copy(), self.y_mean.copy()
        else:
            H = H + np.outer(self.x_mean, self.x_mean)
            B = B + np.outer(self.x_mean, self.y_mean)
            yy = yy_raw
            x_offset, y_offset = np.zeros(self.n_features), np.zeros(self.n_targets)
        H = 0.5 * (H + H.T)
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(B)) and np.all(np.isfinite(yy))):
            raise GradfitInputError.overflow()
        return {
            "H": H,
            "B": B,
            "yy": yy,
            "yy_raw": yy_raw,
            "x_offset": x_offset,
            "y_offset": y_offset,
            "x_mean": self.x_mean.copy(),
            "y_mean": self.y_mean.copy(),
            "N": self.n_samples,
            "passes": 1,
        }

    # -- building ------------------------------------------------------------------------
    @classmethod
    def from_data(
        cls, X: Any, y: Any = None, sample_weight: Any = None, **fit_params: Any
    ) -> Statistics:
        """The statistics of a dataset, in one pass over its rows.

        Parameters
        ----------
        X : array-like, DataFrame, scipy.sparse matrix, torch/CuPy array, file or Dask collection
            The features; a file path or :class:`~gradfit.DataFile` names its target with
            ``target=`` (``y`` is then None).
        y : array-like of shape (N,) or (N, K)
        sample_weight : array-like of shape (N,), optional
            Row weights (in-memory inputs).
        **fit_params
            ``target=``, ``features=``, ``block_rows=`` for files.

        Returns
        -------
        Statistics

        Examples
        --------
        >>> import numpy as np
        >>> X = np.arange(12.0).reshape(6, 2); y = X[:, 0] + 1.0
        >>> s = Statistics.from_data(X, y, sample_weight=np.ones(6) * 2)
        >>> s.n_samples, s.weight_sum, s.x_mean.tolist()
        (6, 12.0, [5.0, 6.0])
        """
        return collect(X, y, sample_weight, fit_params)[0][0]

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the statistics to ``path`` (a zip of JSON metadata, ``.npz``, SHA-256 sums).

        The format is the model file's (:mod:`gradfit.persistence`): numbers only, no
        pickle, written atomically, checked on reading.

        Examples
        --------
        >>> import os, tempfile, numpy as np
        >>> s = Statistics.from_data(np.eye(3), np.arange(3.0))
        >>> path = s.save(os.path.join(tempfile.mkdtemp(), "data.gfs"))
        >>> t = Statistics.load(path)
        >>> t.n_samples, bool(np.array_equal(t.xx, s.xx))
        (3, True)
        """
        from ._files import npz_bytes
        from .persistence import _array_digest, _version, write_container

        arrays = {
            "x_mean": self.x_mean,
            "y_mean": self.y_mean,
            "xx": self.xx,
            "xy": self.xy,
            "yy": self.yy,
        }
        arrays_bytes = npz_bytes(arrays)
        metadata = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "gradfit_version": _version(),
            "n_samples": self.n_samples,
            "weight_sum": self.weight_sum.hex(),
            "n_features": self.n_features,
            "n_targets": self.n_targets,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "target_names": None if self.target_names is None else list(self.target_names),
            "dtype": self.dtype,
            "y_1d": self.y_1d,
            "arrays": {
                name: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _array_digest(a)}
                for name, a in arrays.items()
            },
        }
        return write_container(path, metadata, arrays_bytes)

    @classmethod
    def load(cls, path: str | Path) -> Statistics:
        """Read statistics written by :meth:`save` (refusing damaged or edited files).

        Examples
        --------
        >>> import os, tempfile, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "s.gfs")
        >>> _ = Statistics.from_data(np.eye(2), np.ones(2)).save(path)
        >>> Statistics.load(path)
        Statistics(n_samples=2, n_features=2, n_targets=1)
        """
        return load_statistics(path)


def load_statistics(path: str | Path) -> Statistics:
    """Read a statistics file (see :meth:`Statistics.save`).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "s.gfs")
    >>> _ = Statistics.from_data(np.eye(2), np.ones(2)).save(path)
    >>> load_statistics(path).n_features
    2
    """
    from .persistence import (
        _MAX_METADATA_BYTES,
        _MAX_RATIO,
        _MAX_SUMS_BYTES,
        _NPY_HEADER_LIMIT,
        _array_digest,
        _check_members,
        _check_sums,
        _load_arrays,
        _member,
        _open_zip,
        _parse_metadata,
        _sha256,
    )

    path = Path(path)

    def bad(what: str) -> GradfitModelError:
        return GradfitModelError(
            f"{path.name} is not a valid gradfit statistics file: {what}. Write it again "
            "with Statistics.save.",
            reason="inconsistent",
        )

    def tampered(name: str) -> GradfitModelError:
        return GradfitModelError(
            f"{path.name} has been modified since it was written: {name} does not match "
            "its SHA-256 checksum. Use the original file, or save the statistics again.",
            reason="tampered",
        )

    # the model files' bounded reader (issue 14): sizes checked before decompressing
    zf = _open_zip(path)
    with zf:
        _check_members(path, zf)
        sums = _member(path, zf, "SHA256SUMS", _MAX_SUMS_BYTES)
        meta_bytes = _member(path, zf, "metadata.json", _MAX_METADATA_BYTES)
        expected = _check_sums(path, sums)
        if _sha256(meta_bytes) != expected["metadata.json"]:
            raise tampered("metadata.json")
        meta, problem = _parse_metadata(path, meta_bytes)
        if problem is not None:
            raise bad(f"metadata.json is refused: {problem}")
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            kind = meta.get("format") if isinstance(meta, dict) else None
            raise bad(
                f"its format is {kind!r}, not {_FORMAT!r} (a model file is read with load_model)"
            )
        if meta.get("format_version") != _FORMAT_VERSION:
            raise bad(f"format version {meta.get('format_version')!r} is not {_FORMAT_VERSION}")
        D, K = meta.get("n_features"), meta.get("n_targets")
        if not (isinstance(D, int) and isinstance(K, int) and D > 0 and K > 0):
            raise bad(f"n_features={D!r}, n_targets={K!r} are not positive integers")
        declared = {
            "x_mean": ((D,), "<f8"),
            "y_mean": ((K,), "<f8"),
            "xx": ((D, D), "<f8"),
            "xy": ((D, K), "<f8"),
            "yy": ((K,), "<f8"),
        }
        limit = 8 * (D + K + D * D + D * K + K) + 6 * _NPY_HEADER_LIMIT
        if limit > _MAX_RATIO * max(path.stat().st_size, 1):
            raise bad(f"it declares {limit} bytes of arrays, more than its size can hold")
        data = _member(path, zf, "arrays.npz", limit)
    if _sha256(data) != expected["arrays.npz"]:
        raise tampered("arrays.npz")
    arrays = _load_arrays(path, data, declared)
    try:
        D, K = int(meta["n_features"]), int(meta["n_targets"])
        shapes = {"x_mean": (D,), "y_mean": (K,), "xx": (D, D), "xy": (D, K), "yy": (K,)}
        for name, shape in shapes.items():
            a = arrays.get(name)
            if a is None or a.shape != shape or a.dtype != np.float64:
                raise bad(f"array {name!r} is missing or not float64 of shape {shape}")
            if _array_digest(a) != meta["arrays"][name]["sha256"]:
                raise bad(f"array {name!r} does not match its recorded digest")
        if set(arrays) != set(shapes):
            raise bad(f"unexpected arrays {sorted(set(arrays) - set(shapes))}")
        weight_sum = float.fromhex(str(meta["weight_sum"]))
        n = int(meta["n_samples"])
        names, targets = meta.get("feature_names"), meta.get("target_names")
        if names is not None and (len(names) != D or not all(isinstance(v, str) for v in names)):
            raise bad("feature_names do not match the features")
        if targets is not None and (
            len(targets) != K or not all(isinstance(v, str) for v in targets)
        ):
            raise bad("target_names do not match the outputs")
        if n < 0 or not np.isfinite(weight_sum) or weight_sum < 0:
            raise bad(f"n_samples={n}, weight_sum={weight_sum} are not counts")
        return Statistics(
            n,
            weight_sum,
            arrays["x_mean"],
            arrays["y_mean"],
            arrays["xx"],
            arrays["xy"],
            arrays["yy"],
            feature_names=names,
            target_names=targets,
            dtype=str(meta.get("dtype", "float64")),
            y_1d=bool(meta.get("y_1d", False)),
        )
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, GradfitModelError):
            raise
        raise bad(f"metadata is incomplete ({err})") from err


# -- one block → statistics ------------------------------------------------------------


def block_statistics(X: Any, Y: Any, w: F64 | None = None) -> Statistics:
    """Statistics of one block of rows, centred about the block's own (weighted) means.

    Examples
    --------
    >>> import numpy as np
    >>> s = block_statistics(np.array([[1.0], [3.0]]), np.array([[0.0], [2.0]]))
    >>> s.x_mean.tolist(), s.xx.tolist(), s.xy.tolist(), s.yy.tolist()
    ([2.0], [[2.0]], [[2.0]], [2.0])
    """
    n, D = X.shape
    K = Y.shape[1]
    Xb = np.asarray(X, dtype=np.float64)
    Yb = np.asarray(Y, dtype=np.float64)
    if n == 0:
        return Statistics(
            0, 0.0, np.zeros(D), np.zeros(K), np.zeros((D, D)), np.zeros((D, K)), np.zeros(K)
        )
    if w is None:
        wsum = float(n)
        x_mean = Xb.mean(axis=0)
        y_mean = Yb.mean(axis=0)
        Xc = Xb - x_mean
        Yc = Yb - y_mean
        # the mean of a block is rounded: fold the (tiny) residual mean back in exactly
        rx, ry = Xc.mean(axis=0), Yc.mean(axis=0)
        xx = Xc.T @ Xc - n * np.outer(rx, rx)
        xy = Xc.T @ Yc - n * np.outer(rx, ry)
        yy = np.einsum("ij,ij->j", Yc, Yc) - n * ry * ry
        return Statistics(
            n, wsum, x_mean + rx, y_mean + ry, 0.5 * (xx + xx.T), xy, np.maximum(yy, 0.0)
        )
    w = np.asarray(w, dtype=np.float64)
    wsum = float(w.sum())
    if wsum <= 0.0:
        return Statistics(
            n, 0.0, np.zeros(D), np.zeros(K), np.zeros((D, D)), np.zeros((D, K)), np.zeros(K)
        )
    x_mean = (w @ Xb) / wsum
    y_mean = (w @ Yb) / wsum
    Xc = Xb - x_mean
    Yc = Yb - y_mean
    rx, ry = (w @ Xc) / wsum, (w @ Yc) / wsum
    Xw = Xc * w[:, None]
    xx = Xw.T @ Xc - wsum * np.outer(rx, rx)
    xy = Xw.T @ Yc - wsum * np.outer(rx, ry)
    yy = np.einsum("ij,ij,i->j", Yc, Yc, w) - wsum * ry * ry
    return Statistics(n, wsum, x_mean + rx, y_mean + ry, 0.5 * (xx + xx.T), xy, np.maximum(yy, 0.0))


def fold_block_statistics(
    X: Any, Y: Any, w: F64 | None, folds: NDArray[np.intp] | None, n_folds: int, unweighted: bool
) -> list[tuple[Statistics | None, Statistics | None]]:
    """Per fold: (statistics of the block's rows in it, their unweighted statistics or None)."""
    out: list[tuple[Statistics | None, Statistics | None]] = [(None, None)] * n_folds
    if folds is None:
        parts: list[tuple[int, Any]] = [(0, slice(None))]
    elif folds.size and folds[0] == folds[-1] and np.all(folds == folds[0]):
        parts = [(int(folds[0]), slice(None))]
    else:
        parts = [(int(k), folds == k) for k in np.unique(folds)]
    for k, rows in parts:
        Xk, Yk = X[rows], Y[rows]
        wk = None if w is None else w[rows]
        s = block_statistics(Xk, Yk, wk)
        u = block_statistics(Xk, Yk, None) if (unweighted and w is not None) else None
        out[k] = (s, u)
    return out


# -- sources: the same block loop for every kind of input -----------------------------------


class Source:
    """Rows of a dataset, read a block at a time (see :func:`open_source`)."""

    def __init__(
        self,
        blocks: Callable[[int], Iterator[tuple[Any, Any, F64 | None]]],
        *,
        n_features: int,
        n_targets: int,
        n_rows: int | None,
        feature_names: Sequence[str] | None,
        target_names: Sequence[str] | None,
        dtype: Any,
        y_1d: bool,
        weighted: bool,
        kind: str,
        array: Any = None,
        dask: Any = None,
        file: Any = None,
    ) -> None:
        self._blocks = blocks
        self.n_features = n_features
        self.n_targets = n_targets
        self.n_rows = n_rows
        self.feature_names = None if feature_names is None else list(feature_names)
        self.target_names = None if target_names is None else list(target_names)
        self.dtype = np.dtype(dtype).name
        self.y_1d = y_1d
        self.weighted = weighted
        self.kind = kind
        #: (X, Y, w) as NumPy arrays when the data is in memory (for splitter objects)
        self.array = array
        #: the delayed (X, Y) partition pairs of a Dask input
        self.dask = dask
        #: the DataFile of a file input
        self.file = file

    def blocks(self, block_rows: int | None = None) -> Iterator[tuple[Any, Any, F64 | None, int]]:
        """Yield ``(X_block, Y_block, w_block, first_row)`` (float64 NumPy blocks)."""
        rows = block_rows or max(1, BLOCK_ELEMENTS // max(1, self.n_features + self.n_targets))
        start = 0
        for X, Y, w in self._blocks(rows):
            yield X, Y, w, start
            start += X.shape[0]

    def describe(self, X: Any) -> Statistics:
        """An empty :class:`Statistics` with this source's names (for labelling)."""
        D, K = self.n_features, self.n_targets
        return Statistics(
            0,
            0.0,
            np.zeros(D),
            np.zeros(K),
            np.zeros((D, D)),
            np.zeros((D, K)),
            np.zeros(K),
            feature_names=self.feature_names,
            target_names=self.target_names,
            dtype=self.dtype,
            y_1d=self.y_1d,
        )


def _target_names(y: Any) -> list[str] | None:
    """Column names of a pandas (or Dask) DataFrame/Series target, else None."""
    if type(y).__name__ == "DataFrame":
        return [str(c) for c in y.columns]
    if type(y).__name__ == "Series" and getattr(y, "name", None) is not None:
        return [str(y.name)]
    return None


def open_source(X: Any, y: Any, sample_weight: Any, fit_params: dict[str, Any]) -> Source:
    """The rows of any supported input as a :class:`Source` (validated as ``fit`` does)."""
    from .sources.base import find_adapter

    adapter = find_adapter(X)
    name = adapter.name if adapter is not None else "numpy"
    if name == "file":
        return _file_source(X, y, sample_weight, fit_params)
    if name == "dask":
        return _dask_source(X, y, sample_weight, fit_params)
    if fit_params:
        raise TypeError(
            f"unexpected keyword argument(s) {sorted(fit_params)}; they are only meaningful "
            "for file inputs (target=, features=, block_rows=)."
        )
    if name == "statistics":
        raise TypeError("X is already Statistics; there are no rows to read.")
    if name == "sparse":
        from ._validation import as_sample_weight, as_targets
        from .sources.sparse import as_sparse_design_matrix

        Xs = as_sparse_design_matrix(X)
        N, D = Xs.shape
        Y, y_1d, _ = as_targets(y, N, x_shape=Xs.shape)
        w = as_sample_weight(sample_weight, N)

        def sparse_blocks(rows: int) -> Iterator[tuple[Any, Any, F64 | None]]:
            for a in range(0, N, rows):
                b = min(N, a + rows)
                yield (
                    Xs[a:b].toarray().astype(np.float64, copy=False),
                    Y[a:b],
                    None if w is None else w[a:b],
                )

        return Source(
            sparse_blocks,
            n_features=D,
            n_targets=Y.shape[1],
            n_rows=N,
            feature_names=None,
            target_names=_target_names(y),
            dtype=Xs.dtype,
            y_1d=y_1d,
            weighted=w is not None,
            kind="sparse",
            array=(Xs, Y, w),
        )
    if name == "array-api":
        from .sources.device import (
            _as_device_targets,
            _as_device_weights,
            as_device_matrix,
            to_host,
        )

        Xd = as_device_matrix(X)
        Yd, y_1d = _as_device_targets(Xd, y)
        wd = _as_device_weights(Xd, sample_weight)
        N, D = int(Xd.shape[0]), int(Xd.shape[1])
        K = 1 if Yd.ndim == 1 else int(Yd.shape[1])
        w_host = None if wd is None else np.asarray(to_host(wd), dtype=np.float64)

        def device_blocks(rows: int) -> Iterator[tuple[Any, Any, F64 | None]]:
            for a in range(0, N, rows):
                b = min(N, a + rows)
                Yb = np.asarray(to_host(Yd[a:b]), dtype=np.float64).reshape(b - a, K)
                Xb = np.asarray(to_host(Xd[a:b]), dtype=np.float64)
                yield Xb, Yb, None if w_host is None else w_host[a:b]

        return Source(
            device_blocks,
            n_features=D,
            n_targets=K,
            n_rows=N,
            feature_names=None,
            target_names=None,
            dtype=np.dtype(str(Xd.dtype).replace("torch.", "")),
            y_1d=y_1d,
            weighted=wd is not None,
            kind="array-api",
        )
    if adapter is not None:
        raise TypeError(f"Statistics cannot read inputs of kind {adapter.name!r}")
    from ._validation import as_design_matrix, as_sample_weight, as_targets

    X_arr, names = as_design_matrix(X)
    N, D = X_arr.shape
    Y, y_1d, ynames = as_targets(y, N, x_shape=X_arr.shape)
    w = as_sample_weight(sample_weight, N)

    def array_blocks(rows: int) -> Iterator[tuple[Any, Any, F64 | None]]:
        for a in range(0, N, rows):
            b = min(N, a + rows)
            yield X_arr[a:b], Y[a:b], None if w is None else w[a:b]

    return Source(
        array_blocks,
        n_features=D,
        n_targets=Y.shape[1],
        n_rows=N,
        feature_names=names,
        target_names=ynames,
        dtype=X_arr.dtype,
        y_1d=y_1d,
        weighted=w is not None,
        kind="numpy",
        array=(X_arr, Y, w),
    )


def _file_source(X: Any, y: Any, sample_weight: Any, fit_params: dict[str, Any]) -> Source:
    from ._validation import check_magnitude
    from .sources.files import (
        _as_datafile,
        _check_finite,
        _columns,
        _default_block_rows,
        _fail,
        numbers_only,
        open_reader,
    )

    spec = _as_datafile(X, dict(fit_params))
    if y is not None:
        raise TypeError(
            "y must be None when X is a file; name the target column(s) with target=..."
        )
    if sample_weight is not None:
        raise TypeError("sample_weight is not supported for file inputs yet")
    reader = open_reader(spec.path, spec.sep)
    x_cols, y_cols, _ = _columns(reader, spec, need_target=True)
    numbers_only(reader, spec, x_cols, "cross-validation (--alpha auto) or Statistics")
    reader.check_numeric(x_cols + y_cols)
    D, K = len(x_cols), len(y_cols)
    names = [reader.columns[j] for j in x_cols + y_cols]
    default_rows = int(spec.block_rows or _default_block_rows(D + K))

    def file_blocks(rows: int) -> Iterator[tuple[Any, Any, F64 | None]]:
        row0 = 0
        magnitudes = np.zeros(D + K)
        for Xb, Yb, _ in reader.blocks(x_cols, y_cols, default_rows):
            assert Yb is not None
            if Xb.shape[0]:
                x_max, y_max = np.abs(Xb).max(axis=0), np.abs(Yb).max(axis=0)
                if not (np.all(np.isfinite(x_max)) and np.all(np.isfinite(y_max))):
                    _check_finite(reader, Xb, Yb, row0, names)
                np.maximum(magnitudes[:D], x_max, out=magnitudes[:D])
                np.maximum(magnitudes[D:], y_max, out=magnitudes[D:])
            row0 += Xb.shape[0]
            yield Xb, Yb, None
        if row0 == 0:
            raise _fail(reader.path, "has no data rows")
        check_magnitude(magnitudes, str(reader.path), names)

    return Source(
        file_blocks,
        n_features=D,
        n_targets=K,
        n_rows=reader.n_rows,
        feature_names=None if reader.kind == "npy" else names[:D],
        target_names=names[D:],
        dtype=np.float64,
        y_1d=isinstance(spec.target, str | int | np.integer),
        weighted=False,
        kind="file",
        file=(spec, reader, names[:D]),
    )


def _dask_source(X: Any, y: Any, sample_weight: Any, fit_params: dict[str, Any]) -> Source:
    from .sources.dask import _parts

    check_options(fit_params, set(), "a Dask", "it takes no keywords of its own.")
    if sample_weight is not None:
        raise TypeError("sample_weight is not supported for Dask inputs yet")
    pairs, D, K, names, y_1d = _parts(X, y)
    n_rows = None
    chunks = getattr(X, "chunks", None)
    lengths = None
    if chunks is not None and not any(np.isnan(c) for c in chunks[0]):
        lengths = [int(c) for c in chunks[0]]
        n_rows = int(sum(lengths))

    def no_blocks(rows: int) -> Iterator[tuple[Any, Any, F64 | None]]:
        raise AssertionError("Dask inputs are reduced on the workers")  # pragma: no cover
        yield  # pragma: no cover

    return Source(
        no_blocks,
        n_features=D,
        n_targets=K,
        n_rows=n_rows,
        feature_names=names,
        target_names=_target_names(y),
        dtype=np.float64,
        y_1d=y_1d,
        weighted=False,
        kind="dask",
        dask=(pairs, lengths),
    )


# -- folds --------------------------------------------------------------------------------


def contiguous_folds(n_rows: int, n_folds: int) -> Assign:
    """scikit-learn's unshuffled ``KFold(n_folds)``: the first ``n % K`` folds get a row more.

    Examples
    --------
    >>> contiguous_folds(7, 3)(0, 7).tolist()
    [0, 0, 0, 1, 1, 2, 2]
    """
    sizes = np.full(n_folds, n_rows // n_folds, dtype=np.int64)
    sizes[: n_rows % n_folds] += 1
    ends = np.cumsum(sizes)

    def assign(start: int, n: int) -> NDArray[np.intp]:
        rows = np.arange(start, start + n, dtype=np.int64)
        return np.searchsorted(ends, rows, side="right").astype(np.intp)

    return assign


def hashed_folds(n_folds: int, seed: int) -> Assign:
    """Fold of row ``i`` = splitmix64(``i`` mixed with ``seed``) mod K — needs no row count.

    Every row's fold depends only on its index and the seed, so a stream, a file and
    a Dask collection holding the same rows get the same folds; fold sizes are
    multinomial (about ``N/K`` each) rather than exactly equal.

    Examples
    --------
    >>> hashed_folds(3, 0)(0, 10).tolist() == hashed_folds(3, 0)(0, 10).tolist()
    True
    >>> sorted(set(hashed_folds(3, 0)(0, 1000).tolist()))
    [0, 1, 2]
    """
    mix = np.uint64((int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))

    def assign(start: int, n: int) -> NDArray[np.intp]:
        with np.errstate(over="ignore"):
            z = np.arange(start, start + n, dtype=np.uint64) + mix
            z = z * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return (z % np.uint64(n_folds)).astype(np.intp)

    return assign


def array_folds(fold_of_row: NDArray[np.intp]) -> Assign:
    """Folds given row by row (from a scikit-learn splitter on in-memory data)."""

    def assign(start: int, n: int) -> NDArray[np.intp]:
        return fold_of_row[start : start + n]

    return assign


def _add(a: Statistics | None, b: Statistics | None) -> Statistics | None:
    if b is None:
        return a
    return b if a is None else a + b


def _fold_stats_of_pair(
    pair: tuple[F64, F64], start: int, assign: Assign | None, n_folds: int
) -> list[tuple[Statistics | None, Statistics | None]]:
    X, Y = pair
    folds = None if assign is None else assign(start, X.shape[0])
    return fold_block_statistics(X, Y, None, folds, n_folds, False)


def dask_lengths(src: Source) -> list[int]:
    """Rows per partition of a Dask source (one counting ``compute`` when not known)."""
    pairs, lengths = src.dask
    if lengths is None:
        import dask

        from .sources.dask import _compute

        count = dask.delayed(_pair_rows, pure=True)
        lengths = [int(n) for n in _compute(*[count(p) for p in pairs])]
        src.dask = (pairs, lengths)
        src.n_rows = int(sum(lengths))
    return list(lengths)


def _pair_rows(pair: tuple[F64, F64]) -> int:
    return int(pair[0].shape[0])


def collect(
    X: Any,
    y: Any,
    sample_weight: Any,
    fit_params: dict[str, Any],
    *,
    folds: Callable[[Source], tuple[Assign | None, int]] | None = None,
    unweighted: bool = False,
    source: Source | None = None,
) -> tuple[list[Statistics], list[Statistics] | None, Source]:
    """Statistics of every fold in one pass (all rows in fold 0 when ``folds`` is None).

    Returns
    -------
    per_fold : list of Statistics
    per_fold_unweighted : list of Statistics or None
        The same without sample weights (only when ``unweighted`` and weights were given).
    source : Source
    """
    src = source if source is not None else open_source(X, y, sample_weight, fit_params)
    assign, n_folds = (None, 1) if folds is None else folds(src)
    acc: list[Statistics | None] = [None] * n_folds
    acc_u: list[Statistics | None] = [None] * n_folds
    with np.errstate(over="ignore", invalid="ignore"):
        if src.kind == "dask":
            import dask

            from .sources.dask import _compute

            pairs, _ = src.dask
            if assign is None:
                offsets = [0] * len(pairs)
            else:
                offsets = [0, *np.cumsum(dask_lengths(src))[:-1].tolist()]
            task = dask.delayed(_fold_stats_of_pair, pure=True)
            parts = _compute(
                *[task(p, o, assign, n_folds) for p, o in zip(pairs, offsets, strict=True)]
            )
            for part in parts:  # partition order: results do not depend on scheduling
                for k, (s, _) in enumerate(part):
                    acc[k] = _add(acc[k], s)
        else:
            for Xb, Yb, wb, start in src.blocks():
                f = None if assign is None else assign(start, Xb.shape[0])
                for k, (s, u) in enumerate(
                    fold_block_statistics(Xb, Yb, wb, f, n_folds, unweighted)
                ):
                    acc[k] = _add(acc[k], s)
                    acc_u[k] = _add(acc_u[k], u)
    label = src.describe(X)
    out: list[Statistics] = []
    for k, s in enumerate(acc):
        if s is None:
            if n_folds == 1:
                raise GradfitInputError("the data has no rows; statistics need at least one row.")
            raise GradfitInputError(
                f"fold {k} of {n_folds} received no rows; use fewer folds (cv=...) or more data."
            )
        _check_finite(s)
        out.append(
            s._like(
                feature_names=label.feature_names,
                target_names=label.target_names,
                dtype=label.dtype,
                y_1d=label.y_1d,
            )
        )
    out_u = None
    if unweighted and src.weighted:
        out_u = [
            s._like(feature_names=label.feature_names, target_names=label.target_names)
            for s in acc_u
            if s is not None
        ]
    return out, out_u, src


def _check_finite(s: Statistics) -> None:
    for a in (s.x_mean, s.y_mean, s.xx, s.xy, s.yy):
        if not np.all(np.isfinite(a)):
            raise GradfitInputError.overflow()


# -- fitting statistics with GDRegressor -----------------------------------------------------


class StatisticsSource(_PlannerSource):
    """Sufficient statistics as a source: the planner's statistics engine, without rows.

    Examples
    --------
    >>> import numpy as np
    >>> source = StatisticsSource(Statistics.from_data(np.eye(3), np.ones(3)))
    >>> source.n_features, source.has_rows, source.n_rows is None
    (3, False, True)
    """

    kind = "statistics"
    has_rows = False
    sgd_refusal = (
        "method='sgd' draws mini-batches of rows, and statistics hold none; use a "
        "full-batch method ('cg', 'exact', 'gd', ...)."
    )

    def __init__(self, stats: Statistics) -> None:
        self.stats = stats
        self.n_features = stats.n_features
        self.n_outputs = int(np.asarray(stats.y_mean).shape[0])
        self.feature_names = None if stats.feature_names is None else list(stats.feature_names)
        self.was_1d = stats.y_1d
        self.dtype = np.dtype(stats.dtype)

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """The statistics themselves (centred as ``fit_intercept`` asks); nothing is read."""
        return self.stats.gram(bool(options["fit_intercept"]))

    def explain(self, engine: str, reason: str, *, shape_rule: bool) -> str:
        """Fitted from the statistics, whatever the shape."""
        return f"fitted from Statistics of {self.stats.n_samples} rows (no rows to read)"

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Any:
        """Statistics hold no rows: the data path cannot run."""
        raise ValueError(
            "the data path (gradient='data', or 'auto' with D > N) reads the rows at every "
            "iteration, and statistics hold none; use gradient='stats'."
        )


def _open(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> _PlannerSource:
    check_options(params, set(), "a Statistics", "statistics take no keywords of their own.")
    if y is not None or sample_weight is not None:
        raise TypeError(
            "fit(statistics) takes no y or sample_weight: the statistics already hold the "
            "targets and the weights of their rows."
        )
    return StatisticsSource(X)


register("statistics", lambda X: isinstance(X, Statistics), _open)
