r"""Arrays of other libraries (PyTorch, CuPy): computed in their own namespace, on their device.

:class:`XPProblem` implements the :class:`~gradfit.problem.objective.Problem` protocol
with the array API (through ``array-api-compat``): every product that touches X
(``X @ W``, ``Xᵀ @ R``, sums over rows) runs in the input's library, on the
input's device, in the input's precision (float32 stays float32). The solve
loop itself stays on NumPy: it works on the small D×K quantities, so each
evaluation sends ``W`` (D×K) to the device and brings back the gradient (D×K)
and two K-vectors — never X, Y or anything with N rows.

Centring and standardisation are implicit, as on the NumPy data path; the
column statistics are accumulated over row blocks in float64 on the device.
The statistics engine forms ``H = X_cᵀΩX_c`` and ``B = X_cᵀΩY_c`` on the device
(exactly centred, blocks cast to float64) and moves only the D×D and D×K
results to the host for :class:`~gradfit.problem.gram.GramProblem`.

The adapter registered here (``"array-api"``) accepts PyTorch tensors and CuPy
arrays. It recognises them by their type's module, so neither library is ever
imported by gradfit. ``fit(X, y, array_output=True)`` returns ``coef_`` and
``intercept_`` as arrays of X's library on X's device; ``predict`` of such an
input always returns one.
"""

from __future__ import annotations

from typing import Any

import array_api_compat as aac
import numpy as np
from numpy.typing import NDArray

from .._exceptions import GradfitInputError
from .._validation import as_sample_weight, as_targets, rescale_exponents
from ..problem.objective import PassObjective, Problem, preconditioner
from .base import Source, check_options, register

__all__ = ["XPProblem", "is_device_array", "to_host"]

F64 = NDArray[np.float64]

#: Elements of one row block for the one-time statistics (float64 temporaries of 64 MiB).
BLOCK_ELEMENTS = 1 << 23

#: Rows of one slab of the float32 gradient product ``Xᵀ R``: each slab is summed by the
#: library in float32, the slabs in float64 (one batched product, see ``XPProblem._xtr``).
SLAB_ROWS = 1024


def is_device_array(X: Any) -> bool:
    """Whether ``X`` is a PyTorch tensor or a CuPy array (without importing either).

    Examples
    --------
    >>> is_device_array(np.zeros(3)), is_device_array([1.0])
    (False, False)
    """
    module = type(X).__module__ or ""
    if module.split(".")[0] not in ("torch", "cupy"):
        return False
    return bool(aac.is_torch_array(X) or aac.is_cupy_array(X))


def _library(X: Any) -> str:
    return "torch" if aac.is_torch_array(X) else "cupy"


def to_host(a: Any) -> NDArray[Any]:
    """A small device array as a NumPy array (used for D×K and K-sized results only).

    Examples
    --------
    >>> to_host(np.ones(2))
    array([1., 1.])
    """
    if aac.is_torch_array(a):
        return np.asarray(a.detach().cpu().numpy())
    if aac.is_cupy_array(a):
        return np.asarray(a.get())
    return np.asarray(a)


def _numpy_dtype(xp: Any, dtype: Any) -> np.dtype[Any]:
    if dtype == xp.float32:
        return np.dtype(np.float32)
    if dtype == xp.float64:
        return np.dtype(np.float64)
    raise TypeError(f"expected float32 or float64, got {dtype}")


class XPProblem(PassObjective):
    """Regularised least squares on an array of another library, computed on its device.

    Same attributes and methods as :class:`~gradfit.problem.objective.LeastSquaresProblem`;
    ``loss_grad``/``hvp`` take and return NumPy float64 (D, K) arrays, while X,
    Y and every N-sized temporary stay on the device.

    Parameters
    ----------
    X : array of shape (N, D), float32 or float64 (PyTorch, CuPy, any array-API library)
    Y : array of shape (N, K), same library and device, X's dtype or float64
    sample_weight : array of shape (N,), same library and device, optional
    fit_intercept, standardize : bool, default=True
    alpha : float, default=0.0

    Examples
    --------
    >>> from gradfit.problem.objective import LeastSquaresProblem
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3)) + 1.0; Y = rng.normal(size=(50, 2))
    >>> V = np.ones((3, 2))
    >>> xp_problem, data = XPProblem(X, Y), LeastSquaresProblem(X, Y)
    >>> bool(np.allclose(xp_problem.loss_grad(V)[1], data.loss_grad(V)[1]))
    True
    """

    engine = "data"

    def __init__(
        self,
        X: Any,
        Y: Any,
        *,
        sample_weight: Any = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
    ) -> None:
        xp = aac.array_namespace(X)
        self.xp = xp
        self.device = aac.device(X)
        self.X = X
        self.dtype = _numpy_dtype(xp, X.dtype)
        self.N, self.D = int(X.shape[0]), int(X.shape[1])
        self.K = int(Y.shape[1])
        #: The targets as given (float64 ones kept beside float32 X) for the statistics; the
        #: passes use ``self.Y``, about ȳ in X's dtype (:meth:`_centre_device_targets`).
        self._Y_given = Y
        self.Y = xp.astype(Y, X.dtype) if Y.dtype != X.dtype else Y
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.standardize = bool(standardize)
        if sample_weight is None:
            self.omega: Any = None
            self._omega_c: Any = None
        else:
            sw = xp.astype(sample_weight, xp.float64)
            self.omega = sw / xp.sum(sw)
            self._omega_c = xp.astype(self.omega, X.dtype)
        # float32 slabs need X's rows to be reshapeable without a copy (C-contiguous)
        contiguous = _c_contiguous(X)
        self._slabs = self.N // SLAB_ROWS if (self.dtype == np.float32 and contiguous) else 0
        rows = max(1, BLOCK_ELEMENTS // max(1, self.D))
        self.blocks = [(a, min(a + rows, self.N)) for a in range(0, self.N, rows)]
        self._statistics()
        self._centre_device_targets()

    def _centre_device_targets(self) -> None:
        """``self.Y = Y − ȳ`` formed in float64, in X's dtype (see ``_centre_targets``)."""
        if not self.fit_intercept or not np.any(self.y_offset):
            return
        xp = self.xp
        centred = self._f64(self._Y_given) - self._dev(self.y_offset, xp.float64)
        self.Y = xp.astype(centred, self.X.dtype) if self.X.dtype != xp.float64 else centred
        self._y_stored = np.array(self.y_offset, dtype=np.float64)
        self.target_scale = np.minimum(self.target_scale, self.loss_at_zero)

    # -- moving small arrays ---------------------------------------------------------
    def _dev(self, a: NDArray[Any], dtype: Any = None) -> Any:
        return self.xp.asarray(
            np.ascontiguousarray(a), dtype=dtype or self.X.dtype, device=self.device
        )

    def _f64(self, a: Any) -> Any:
        return a if a.dtype == self.xp.float64 else self.xp.astype(a, self.xp.float64)

    # -- one-time statistics ---------------------------------------------------------
    def _statistics(self) -> None:
        xp = self.xp
        total = xp.zeros((self.D,), dtype=xp.float64, device=self.device)
        for a, b in self.blocks:
            Xb = self._f64(self.X[a:b, :])
            total += xp.sum(Xb, axis=0) if self.omega is None else self.omega[a:b] @ Xb
        mean = total / self.N if self.omega is None else total
        Y64 = self._f64(self._Y_given)
        y_mean = xp.mean(Y64, axis=0) if self.omega is None else self.omega @ Y64
        #: Weighted means of X's columns and of Y (the stopping rule's reference without an
        #: intercept: :func:`~gradfit.solve.loop.reference_norms`).
        self._means = (to_host(mean).astype(np.float64), to_host(y_mean).astype(np.float64))
        self.raw_means = self._means
        if self.fit_intercept:
            self._mean_dev = mean
            self.x_offset = to_host(mean).astype(np.float64)
            self.y_offset = to_host(y_mean).astype(np.float64)
        else:
            self._mean_dev = xp.zeros((self.D,), dtype=xp.float64, device=self.device)
            self.x_offset = np.zeros(self.D)
            self.y_offset = np.zeros(self.K)
        ms = xp.zeros((self.D,), dtype=xp.float64, device=self.device)
        for a, b in self.blocks:
            Xc = self._f64(self.X[a:b, :]) - self._mean_dev
            sq = Xc * Xc
            ms += xp.sum(sq, axis=0) if self.omega is None else self.omega[a:b] @ sq
        if self.omega is None:
            ms /= self.N
        self.x_rms = np.sqrt(to_host(ms).astype(np.float64))
        self.x_scale = preconditioner(self.x_rms, self.standardize)
        Yc = Y64 - self._dev(self.y_offset, xp.float64)
        if self.omega is None:
            zero = xp.mean(Yc * Yc, axis=0)
            raw = xp.mean(Y64 * Y64, axis=0)
        else:
            zero = self.omega @ (Yc * Yc)
            raw = self.omega @ (Y64 * Y64)
        self.loss_at_zero = 0.5 * to_host(zero).astype(np.float64)
        self.target_scale = 0.5 * to_host(raw).astype(np.float64)
        self.n_passes = 0
        if not (
            np.all(np.isfinite(self.x_rms))
            and np.all(np.isfinite(self.target_scale))
            and np.all(np.isfinite(self.x_offset))
        ):
            raise GradfitInputError.overflow()

    def statistics(self) -> dict[str, Any]:
        """Sufficient statistics ``H``, ``B``, … computed on the device about the exact means.

        Only the D×D and D×K results come to the host, in the form that
        :class:`~gradfit.problem.gram.GramProblem` takes.
        """
        xp = self.xp
        H = xp.zeros((self.D, self.D), dtype=xp.float64, device=self.device)
        B = xp.zeros((self.D, self.K), dtype=xp.float64, device=self.device)
        y_off = self._dev(self.y_offset, xp.float64)
        for a, b in self.blocks:
            Xc = self._f64(self.X[a:b, :]) - self._mean_dev
            Yc = self._f64(self._Y_given[a:b, :]) - y_off
            Xw = Xc if self.omega is None else Xc * self.omega[a:b][:, None]
            H += Xw.T @ Xc
            B += Xw.T @ Yc
        if self.omega is None:
            H /= self.N
            B /= self.N
        H_host = to_host(H).astype(np.float64)
        H_host = 0.5 * (H_host + H_host.T)
        B_host = to_host(B).astype(np.float64)
        if not (np.all(np.isfinite(H_host)) and np.all(np.isfinite(B_host))):
            raise GradfitInputError.overflow()
        self.n_passes += 1
        return {
            "H": H_host,
            "B": B_host,
            "yy": 2.0 * self.loss_at_zero,
            "yy_raw": 2.0 * self.target_scale,
            "x_offset": self.x_offset,
            "y_offset": self.y_offset,
            "x_mean": self._means[0],
            "y_mean": self._means[1],
            "N": self.N,
            "passes": 2,
        }

    # -- what the loop asks besides loss and gradient ------------------------------------
    def max_row_norm2(self) -> float:
        """Largest squared norm of a centred, scaled row (computed on the device)."""
        xp = self.xp
        scale = self._dev(self.x_scale, xp.float64)
        best = 0.0
        for a, b in self.blocks:
            Z = (self._f64(self.X[a:b, :]) - self._mean_dev) / scale
            best = max(best, float(to_host(xp.max(xp.sum(Z * Z, axis=1)))))
        return best

    def batch_grad(self, V: F64, rows: NDArray[np.intp]) -> F64:
        """Unbiased estimate of the gradient at ``V`` from the rows ``rows``, on the device."""
        xp = self.xp
        W = V / self.x_scale[:, None]
        index = xp.asarray(np.asarray(rows, dtype=np.int64), device=self.device)
        Xb = xp.take(self.X, index, axis=0)
        R = Xb @ self._dev(W) - xp.take(self.Y, index, axis=0)
        if self.fit_intercept:
            R += self._dev(self.y_offset - self._y_stored - self.x_offset @ W)
        if self.omega is None:
            Rw = R * (1.0 / len(rows))
        else:
            Rw = R * (xp.take(self._omega_c, index, axis=0) * (self.N / len(rows)))[:, None]
        out = to_host(xp.concat([Xb.T @ Rw, xp.sum(Rw, axis=0)[None, :]], axis=0))
        out = out.astype(np.float64)
        G = out[: self.D] - np.outer(self.x_offset, out[self.D])
        if self.alpha:
            G += self.alpha * W
        return np.asarray(G / self.x_scale[:, None])

    # -- coordinates -------------------------------------------------------------------
    # -- the passes over the data ------------------------------------------------------
    def _xtr(self, R: Any) -> Any:
        """``Xᵀ R`` in float64, on the device.

        A float32 product over N rows accumulates a rounding error of about
        ``eps·√N`` (BLAS sums each dot product in float32), which puts a floor near
        1e-6 under the relative gradient on large N. For float32 X the rows are
        therefore cut into slabs of :data:`SLAB_ROWS` (a reshape, no copy): one
        batched product gives every slab's ``X_sᵀ R_s`` in float32 and the slabs
        are summed in float64 — the same data read, the error of a 1024-row sum.
        """
        xp = self.xp
        if not self._slabs:
            return self._f64(self.X.T @ R)
        n, K = self._slabs * SLAB_ROWS, int(R.shape[1])
        Xs = xp.reshape(self.X[:n, :], (self._slabs, SLAB_ROWS, self.D))
        Rs = xp.reshape(R[:n, :], (self._slabs, SLAB_ROWS, K))
        acc = xp.sum(self._f64(xp.matmul(xp.matrix_transpose(Xs), Rs)), axis=0)
        if n < self.N:
            acc += self._f64(self.X[n:, :].T @ R[n:, :])
        return acc

    def _pass(self, W: F64, with_targets: bool) -> tuple[F64, F64]:
        """``Xᵀ Ω r − x̄ᵀ Σ ω r`` and ``½ Σ ω r²``: two products on the device, one transfer."""
        xp = self.xp
        self.n_passes += 1
        R = self.X @ self._dev(W)
        if with_targets:
            R -= self.Y
        if self.fit_intercept:
            shift = (self.y_offset - self._y_stored if with_targets else 0.0) - self.x_offset @ W
            R += self._dev(np.asarray(shift))
        Rw = R if self._omega_c is None else R * self._omega_c[:, None]
        parts = [self._xtr(Rw)]
        if with_targets:
            parts.append(xp.sum(self._f64(R * Rw), axis=0)[None, :])
        if self.fit_intercept:
            parts.append(xp.sum(self._f64(Rw), axis=0)[None, :])
        out = to_host(xp.concat(parts, axis=0) if len(parts) > 1 else parts[0])
        out = out.astype(np.float64)
        acc = out[: self.D].copy()
        cols = W.shape[1]
        sq = out[self.D] if with_targets else np.zeros(cols)
        rsum = out[-1] if self.fit_intercept else np.zeros(cols)
        return self._finish_pass(acc, sq, rsum)


def _c_contiguous(X: Any) -> bool:
    if aac.is_torch_array(X):
        return bool(X.is_contiguous())
    flags = getattr(X, "flags", None)
    return bool(flags is not None and flags["C_CONTIGUOUS"])


# -- validation -----------------------------------------------------------------------
def _where(shape: tuple[int, ...], index: tuple[int, ...]) -> str:
    return f"row {index[0]}, column {index[1]}" if len(shape) == 2 else f"position {index[0]}"


def _check_finite(xp: Any, A: Any, name: str) -> None:
    """Raise naming the first NaN/inf (one reduction and one scalar transfer when all is well)."""
    if bool(xp.all(xp.isfinite(A))):
        return
    bad = ~xp.isfinite(A)
    where = xp.nonzero(bad)
    index = tuple(int(w[0]) for w in where)
    value = float(A[index])
    what = "NaN" if value != value else ("inf" if value > 0 else "-inf")
    count = int(xp.sum(xp.astype(bad, xp.int64)))
    raise GradfitInputError(
        f"Input {name} contains {what} at {_where(tuple(A.shape), index)} ({count} non-finite "
        "value(s) in all; NaN and infinity are not allowed). Drop or impute those rows."
    )


def _as_float(xp: Any, A: Any, name: str, lib: str) -> Any:
    """float32/float64 kept; other real floats → float32, integers/bool → float64 (on device)."""
    dtype = A.dtype
    if dtype in (xp.float32, xp.float64):
        return A
    if xp.isdtype(dtype, "complex floating"):
        raise GradfitInputError(
            f"Complex data not supported: {name} is a {lib} array of dtype {dtype}. "
            "Split it into real and imaginary columns."
        )
    if xp.isdtype(dtype, "integral") or dtype == xp.bool:
        return xp.astype(A, xp.float64)
    if "float" in str(dtype):  # float16, bfloat16: too coarse to accumulate in
        return xp.astype(A, xp.float32)
    raise GradfitInputError(f"{name} has dtype {dtype}, which gradfit cannot fit; use floats.")


def as_device_matrix(X: Any) -> Any:
    """Validate a PyTorch/CuPy feature matrix; float32/float64 kept, never moved to the host.

    Examples
    --------
    >>> import pytest; torch = pytest.importorskip("torch")
    >>> as_device_matrix(torch.ones(3, 2, dtype=torch.float32)).dtype
    torch.float32
    >>> as_device_matrix(torch.ones(3))
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitInputError: Expected 2D array, got 1D array instead: ...
    """
    xp = aac.array_namespace(X)
    lib = _library(X)
    if lib == "torch":
        X = X.detach()  # a view: no autograd graph through the fit
    shape = tuple(int(s) for s in X.shape)
    if len(shape) != 2:
        fix = (
            "Reshape your data either using X.reshape(-1, 1) if your data has a single feature "
            "or X.reshape(1, -1) if it contains a single sample."
            if len(shape) == 1
            else f"Pass a 2-D array of shape (n_samples, n_features), got shape {shape}."
        )
        raise GradfitInputError(
            f"Expected 2D array, got {len(shape)}D array instead: X.shape={shape}. {fix}"
        )
    if shape[0] == 0 or shape[1] == 0:
        what = "sample(s)" if shape[0] == 0 else "feature(s)"
        raise GradfitInputError(
            f"Found array with 0 {what} (shape={shape}) while a minimum of 1 is required: "
            "X is empty."
        )
    X = _as_float(xp, X, "X", lib)
    _check_finite(xp, X, "X")
    return X


def _same_library_array(X: Any, a: Any) -> bool:
    return bool(is_device_array(a) and _library(a) == _library(X))


def _check_device(X: Any, a: Any, name: str) -> None:
    if aac.device(a) != aac.device(X):
        move = f"{name}.to(X.device)" if _library(X) == "torch" else f"cupy.asarray({name})"
        raise GradfitInputError(
            f"{name} is on device {aac.device(a)} but X is on device {aac.device(X)}; put "
            f"both on the same device (e.g. {move})."
        )


def _as_device_targets(X: Any, y: Any) -> tuple[Any, bool]:
    xp = aac.array_namespace(X)
    N = int(X.shape[0])
    if not _same_library_array(X, y):
        if is_device_array(y):
            raise GradfitInputError(
                f"X is a {_library(X)} array but y is a {_library(y)} array; pass both "
                "from the same library."
            )
        Y, was_1d, _ = as_targets(y, N, x_shape=tuple(X.shape), check_scale=False)
        # float64 targets stay float64 beside float32 X: rounded to float32 first, targets
        # like 1e9 + signal lose the signal (spacing 64); the problem centres them in float64
        dtype = xp.float64 if Y.dtype == np.float64 else X.dtype
        return xp.asarray(Y, dtype=dtype, device=aac.device(X)), was_1d
    _check_device(X, y, "y")
    if _library(y) == "torch":
        y = y.detach()
    shape = tuple(int(s) for s in y.shape)
    hint = f"X.shape={tuple(int(s) for s in X.shape)}, y.shape={shape}"
    if len(shape) not in (1, 2):
        raise GradfitInputError(
            f"y has {len(shape)} dimensions; expected (n_samples,) or (n_samples, n_targets) "
            f"({hint})."
        )
    if shape[0] != N:
        fix = (
            " y looks transposed: use y.T so that each row is one sample."
            if len(shape) == 2 and shape[1] == N
            else " Each row of X is one sample and needs one row of y."
        )
        raise GradfitInputError(
            f"Found input variables with inconsistent numbers of samples: [{N}, {shape[0]}] "
            f"({hint}).{fix}"
        )
    if len(shape) == 2 and shape[1] == 0:
        raise GradfitInputError(f"y has 0 target columns ({hint}); pass at least one.")
    y = _as_float(xp, y, "y", _library(y))
    _check_finite(xp, y, "y")
    was_1d = len(shape) == 1
    Y = y[:, None] if was_1d else y
    if Y.dtype == xp.float64:  # kept in float64 beside float32 X (see above)
        return Y, was_1d
    return (xp.astype(Y, X.dtype) if Y.dtype != X.dtype else Y), was_1d


def _as_device_weights(X: Any, sample_weight: Any) -> Any:
    xp = aac.array_namespace(X)
    N = int(X.shape[0])
    if sample_weight is None:
        return None
    if not _same_library_array(X, sample_weight):
        w = as_sample_weight(sample_weight, N)
        return None if w is None else xp.asarray(w, dtype=xp.float64, device=aac.device(X))
    _check_device(X, sample_weight, "sample_weight")
    w = sample_weight.detach() if _library(X) == "torch" else sample_weight
    shape = tuple(int(s) for s in w.shape)
    if len(shape) != 1 or shape[0] != N:
        raise GradfitInputError(
            f"sample_weight must be 1-D with one weight per row of X ({N} rows), got shape {shape}."
        )
    w = xp.astype(_as_float(xp, w, "sample_weight", _library(X)), xp.float64)
    _check_finite(xp, w, "sample_weight")
    negative = xp.nonzero(w < 0)[0]
    if int(negative.shape[0]):
        i = int(negative[0])
        raise GradfitInputError(
            f"sample_weight has a negative value {float(w[i])} at position {i}; weights must be "
            "non-negative (use 0 to leave a row out)."
        )
    if not bool(xp.any(w > 0)):
        raise GradfitInputError(
            "sample_weight is zero for every row, so there is nothing to fit; give at least "
            "one row a positive weight."
        )
    return w


# -- the adapter ------------------------------------------------------------------------
class DeviceSource(Source):
    """A PyTorch or CuPy array (any array-API library) on its device: the ``"array-api"`` source.

    The statistics and the data path are computed on the device by
    :class:`XPProblem`; ``array_output=True`` returns ``coef_`` and
    ``intercept_`` as arrays of X's library on X's device.
    """

    kind = "array-api"

    def __init__(self, X: Any, y: Any, sample_weight: Any, *, array_output: bool = False) -> None:
        self.Xd = as_device_matrix(X)
        self.xp = aac.array_namespace(self.Xd)
        self.Y, self.was_1d = _as_device_targets(self.Xd, y)
        self.weights = _as_device_weights(self.Xd, sample_weight)
        self.n_rows, self.n_features = int(self.Xd.shape[0]), int(self.Xd.shape[1])
        self.n_outputs = int(self.Y.shape[1]) if len(self.Y.shape) > 1 else 1
        self.array_output = array_output
        self._problem: XPProblem | None = None
        self._options: dict[str, Any] | None = None
        self.dtype = _numpy_dtype(self.xp, self.Xd.dtype)

    def _rescale(self, alpha: float) -> None:
        """Bring float64 columns beyond ``1e±50`` into range by powers of two (on the device).

        Exact except for subnormal magnitudes (below ``2**-1022``), which are scaled by
        ``2**1022`` at most; :attr:`units` lets the estimator scale the answer back.
        float32 data cannot hold such values.
        """
        if self.units is not None or self.dtype != np.float64:
            return
        xp = self.xp
        Y2 = self.Y if len(self.Y.shape) == 2 else xp.reshape(self.Y, (-1, 1))
        x_mag = to_host(xp.max(xp.abs(self.Xd), axis=0)).astype(np.float64)
        y_mag = to_host(xp.max(xp.abs(Y2), axis=0)).astype(np.float64)
        units = rescale_exponents(x_mag, y_mag, alpha=alpha)
        if units is None:
            return
        x_exp, y_exp = (np.clip(e, -1022, 1023) for e in units)
        device = aac.device(self.Xd)
        x_factor = xp.asarray(np.ldexp(1.0, -x_exp), dtype=self.Xd.dtype, device=device)
        y_factor = xp.asarray(np.ldexp(1.0, -y_exp), dtype=self.Y.dtype, device=device)
        self.Xd = self.Xd * x_factor  # a copy: the caller's array is not changed
        self.Y = self.Y * (y_factor if len(self.Y.shape) == 2 else y_factor[0])
        self.units = (x_exp, y_exp)

    def _xp_problem(self, options: dict[str, Any]) -> XPProblem:
        self._rescale(float(options["alpha"]))
        if self._problem is None or self._options != options:
            self._problem = XPProblem(
                self.Xd,
                self.Y,
                sample_weight=self.weights,
                fit_intercept=bool(options["fit_intercept"]),
                standardize=bool(options["standardize"]),
                alpha=float(options["alpha"]),
            )
            self._options = dict(options)
            self.dtype = self._problem.dtype
        return self._problem

    def statistics(
        self, options: dict[str, Any], *, diagonal: bool, keep_rows: bool
    ) -> dict[str, Any]:
        """``H`` and ``B`` formed on the device (:meth:`XPProblem.statistics`)."""
        return self._xp_problem(options).statistics()

    def data_problem(
        self, options: dict[str, Any], stats: dict[str, Any] | None, known: Any = None
    ) -> Problem:
        """:class:`XPProblem`, the data path on the device."""
        return self._xp_problem(options)

    def where(self, engine: str, *, refine: bool, fallback: bool) -> str:
        """The library and the device."""
        return f" ({_library(self.Xd)}, device {aac.device(self.Xd)})"

    def to_output(self) -> Any:
        """Coefficients as arrays of X's library on X's device when ``array_output=True``."""
        if not self.array_output:
            return None
        xp, dtype, dev = self.xp, self.Xd.dtype, aac.device(self.Xd)

        def convert(a: Any) -> Any:
            return xp.asarray(np.asarray(a), dtype=dtype, device=dev)

        return convert


def _open(X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> DeviceSource:
    check_options(
        params,
        {"array_output"},
        _library(X),
        "it accepts array_output=True (coef_ and intercept_ as arrays of X's library).",
    )
    return DeviceSource(X, y, sample_weight, array_output=bool(params.get("array_output", False)))


def _predict(X: Any, coef: Any, intercept: Any, columns: list[str] | None) -> Any:
    Xd = as_device_matrix(X)
    xp = aac.array_namespace(Xd)
    dev = aac.device(Xd)
    D = int(coef.shape[-1])
    if int(Xd.shape[1]) != D:
        raise GradfitInputError(
            f"X has {int(Xd.shape[1])} features, but GDRegressor was fitted with {D} features."
        )
    W = coef if _same_library_array(Xd, coef) else np.asarray(coef)
    W = xp.asarray(W, dtype=Xd.dtype, device=dev)
    out = Xd @ (W if len(W.shape) == 1 else W.T)
    if isinstance(intercept, float | int | np.floating):
        return out + float(intercept)
    b = intercept if _same_library_array(Xd, intercept) else np.asarray(intercept)
    return out + xp.asarray(b, dtype=Xd.dtype, device=dev)


register("array-api", is_device_array, _open, _predict)
