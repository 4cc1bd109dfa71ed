r"""Check a user's gradient function and name the mistake, if any.

The calling convention is the seed's: ``fn(X, y, W)`` receives

* ``X`` of shape (N, D) (float64; add a column of ones yourself if your model has
  an intercept),
* ``y`` as you passed it: (N,) for one output or (N, K),
* ``W`` of shape (D,) when ``y`` is 1-D, else (D, K),

and must return the gradient of::

    f(W) = ‖X·W − y‖² / (2N) + (α/2)‖W‖²        G = Xᵀ(X·W − y)/N + αW

with the shape of ``W``. :func:`check_gradient` calls it at a few random ``W``
(several points tell a constant factor from a different function) and
compares with ``G``. When the result is not ``G`` it fits the result to the
usual mistakes and names the one that fits exactly:

=================  ===========================================================
``sign``           returns ``−G``, the descent direction (the seed's ``gradient``)
``missing_mean``   returns ``N·G``: the ``/N`` (``/len(X)``) is missing
``mse_factor``     returns ``2·G``: the gradient of MSE rather than ½·MSE
``output_mean``    divides by K too (``np.mean`` over all N·K squared errors)
``divides_by_D``   divides by D (``len(X[0])``) instead of N
``transposed``     returns the transpose of the expected shape
``wrong_shape``    any other shape (a column for a vector, …)
``per_sample``     returns one value per sample (the ``error``, not ``Xᵀ·error/N``)
``scalar``         returns one number (the loss?)
``ignores_W``      the result does not change with ``W``
``missing_penalty`` with ``alpha > 0``: returns the gradient without ``αW``
``absolute_error`` the gradient of the mean absolute error, ``Xᵀ·sign(XW − y)/N``
``different_loss`` none of these: the worst entries are reported
=================  ===========================================================

Mistakes combine (``("sign", "missing_mean")`` is ``−N·G``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitInputError
from ._io import as_float_inputs
from .understand.render import Renderable, Report, Section, Table, fmt

__all__ = ["GradientCheck", "check_gradient"]

F64 = NDArray[np.float64]
# The largest differences: (index, returned, expected) per entry.
_Worst = tuple[tuple[tuple[int, ...], float, float], ...]

#: Words for each mistake code.
MISTAKES = {
    "sign": "the sign is flipped: it returns −G, the descent direction",
    "missing_mean": "the /N is missing (a sum over samples, not the mean)",
    "mse_factor": "the factor 2 of MSE: it is the gradient of MSE, gradfit's loss is ½·MSE",
    "output_mean": "it also divides by the number of outputs K (a mean over all N·K entries)",
    "divides_by_D": "it divides by D (the number of features) instead of N",
    "double_mean": "it divides by N twice",
    "extra_factor": "it is off by a constant factor",
    "transposed": "the result is transposed",
    "wrong_shape": "the result has the wrong shape",
    "per_sample": "it returns one value per sample, not one per weight",
    "scalar": "it returns a single number, not one per weight",
    "ignores_W": "the result does not depend on W",
    "missing_penalty": "the penalty term αW is missing",
    "absolute_error": "it is the gradient of the mean absolute error, not of ½·MSE",
    "different_loss": "it is not the gradient of ½·MSE nor of a usual variant",
    "not_an_array": "it does not return an array of numbers",
    "raised": "it raised an exception",
    "non_finite": "it returns NaN or infinity",
}


@dataclass(frozen=True)
class GradientCheck(Renderable):
    """The verdict on a gradient function.

    Attributes
    ----------
    ok : bool
        True when the function returns ``G`` (to ``rtol``) with the right shape.
    mistakes : tuple of str
        Codes of the mistakes found (see the module documentation); empty when ok.
    diagnosis : str
        The finding in words.
    fix : str
        What to change.
    factor : float or None
        ``c`` when the result is ``c·G`` (``-1.0`` for the seed's line).
    expected_shape, returned_shape : tuple of int
    relative_error : float
        ``‖result − G‖/‖G‖`` over all points (after undoing a transpose); nan when the
        shapes cannot be compared.
    worst_entries : tuple of (index, returned, expected)
        The largest differences, at the point where they are largest.
    n_points : int
        The number of ``W`` at which the function was called.
    notes : tuple of str
        Side findings (e.g. the function modified its input).
    """

    ok: bool
    mistakes: tuple[str, ...]
    diagnosis: str
    fix: str
    factor: float | None
    expected_shape: tuple[int, ...]
    returned_shape: tuple[int, ...]
    relative_error: float
    worst_entries: tuple[tuple[tuple[int, ...], float, float], ...]
    n_points: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def report(self) -> Report:
        """The verdict as a :class:`~gradfit.understand.render.Report`."""
        verdict = "correct: it returns the gradient G" if self.ok else "not the gradient G"
        blocks: list[Any] = [
            f"Verdict: {verdict}.",
            self.diagnosis,
        ]
        if not self.ok:
            blocks.append(f"Fix: {self.fix}")
        blocks.append(
            Table(
                ("quantity", "value"),
                (
                    ("points W checked", str(self.n_points)),
                    ("expected shape", str(self.expected_shape)),
                    ("returned shape", str(self.returned_shape)),
                    ("‖result − G‖ / ‖G‖", fmt(self.relative_error, 3)),
                    (
                        "fitted factor c in result = c·G",
                        "—" if self.factor is None else fmt(self.factor, 8),
                    ),
                    ("mistakes", ", ".join(self.mistakes) or "none"),
                ),
            )
        )
        if self.worst_entries and not self.ok:
            blocks.append("Largest differences (at the worst point):")
            blocks.append(
                Table(
                    ("entry", "returned", "expected G"),
                    tuple((str(i), fmt(a, 8), fmt(b, 8)) for i, a, b in self.worst_entries),
                )
            )
        blocks += list(self.notes)
        return Report("Gradient check", [Section("Result", tuple(blocks))])


def _fit_factor(g: F64, ref: F64) -> tuple[float, float]:
    """Least-squares ``c`` in ``g ≈ c·ref`` and the relative residual ``‖g − c·ref‖/‖g‖``."""
    rr = float(np.sum(ref * ref))
    if rr == 0.0:
        return math.nan, math.inf
    c = float(np.sum(g * ref)) / rr
    gn = float(np.linalg.norm(g))
    resid = float(np.linalg.norm(g - c * ref)) / gn if gn > 0 else math.inf
    return c, resid


def _name_factor(c: float, N: int, D: int, K: int, rtol: float) -> tuple[str, ...] | None:
    """The mistakes a constant factor ``c`` stands for (``()`` for 1), or None."""
    if not math.isfinite(c) or c == 0:
        return None
    sign: tuple[str, ...] = ("sign",) if c < 0 else ()
    a = abs(c)
    table: list[tuple[float, tuple[str, ...]]] = [
        (1.0, ()),
        (float(N), ("missing_mean",)),
        (2.0, ("mse_factor",)),
        (2.0 * N, ("mse_factor", "missing_mean")),
        (1.0 / N, ("double_mean",)),
        (float(N) / D, ("divides_by_D",)),
        (2.0 * N / D, ("mse_factor", "divides_by_D")),
    ]
    if K > 1:
        table += [(1.0 / K, ("output_mean",)), (2.0 / K, ("mse_factor", "output_mean"))]
    for value, names in table:
        if abs(a - value) <= rtol * value:
            return sign + names
    return None


def _match_factor(
    g: F64, ref: F64, N: int, D: int, K: int, rtol: float
) -> tuple[float, bool, tuple[str, ...] | None]:
    """Fit ``g ≈ c·ref``: ``c``, whether the fit holds to ``rtol``, and what ``c`` stands for.

    The mistakes are those of :func:`_name_factor`, None when the fit does not hold or
    ``c`` is no usual factor.
    """
    c, resid = _fit_factor(g, ref)
    if not resid <= rtol:
        return c, False, None
    return c, True, _name_factor(c, N, D, K, rtol)


def _describe(
    codes: tuple[str, ...],
    c: float | None,
    shape: tuple[int, ...] | None = None,
    expected: tuple[int, ...] | None = None,
) -> str:
    if codes == ("sign",):
        return (
            "It returns the descent direction −G of ½·MSE, i.e. xᵀ(y − x·w)/N: this is the "
            "seed's `gradient`. It is right for `w += lr·g` (as in the seed), but it is not the "
            "gradient: `w -= lr·g` would climb."
        )
    parts = [MISTAKES[m] for m in codes]
    if shape is not None and shape != expected:
        parts[0] += f" (shape {shape}, the gradient has the shape of W, {expected})"
    text = "; ".join(parts)
    if c is not None and abs(c - 1) >= 1e-9:
        text += f" (it returns {fmt(c, 8)}·G)"
    elif c is not None:
        text += "; otherwise the values are G"
    return text[0].upper() + text[1:] + "."


_FIXES = {
    "sign": "negate it: G = xᵀ(x·w − y)/N, or keep it and step with `w += lr·g`",
    "missing_mean": "divide by N = len(X)",
    "mse_factor": "drop the factor 2 (or keep it and halve the learning rate: it is the "
    "gradient of MSE)",
    "output_mean": "average over samples only: divide by N, not by N·K",
    "divides_by_D": "divide by len(X) (rows), not len(X[0]) (columns)",
    "double_mean": "divide by N once",
    "extra_factor": "remove the extra factor",
    "transposed": "return the transpose: X.T.dot(error) has the shape of W, (D, K)",
    "wrong_shape": "return an array with the shape of W",
    "per_sample": "multiply by Xᵀ and divide by N: X.T.dot(X.dot(W) − y) / len(X)",
    "scalar": "return the derivative with respect to every weight, X.T.dot(X.dot(W) − y) / len(X)",
    "ignores_W": "compute the residual from the W passed in: X.dot(W) − y",
    "missing_penalty": "add alpha·W",
    "absolute_error": "use the residual itself, not its sign: X.T.dot(X.dot(W) − y) / len(X)",
    "different_loss": "compare the worst entries below with X.T.dot(X.dot(W) − y) / len(X)",
    "not_an_array": "return the gradient array (a missing `return`?)",
    "raised": "make it run with X (N, D), y and W shaped like y's outputs",
    "non_finite": "look for a division by zero or an overflow",
}


def _fix(codes: tuple[str, ...]) -> str:
    return "; ".join(_FIXES[m] for m in codes) + "."


def check_gradient(
    fn: Callable[[F64, F64, F64], Any],
    X: Any,
    y: Any,
    W: Any = None,
    *,
    alpha: float = 0.0,
    n_points: int = 3,
    rtol: float = 1e-5,
    random_state: int = 0,
) -> GradientCheck:
    """Check ``fn(X, y, W)`` against the true gradient and name the mistake.

    Parameters
    ----------
    fn : callable
        ``fn(X, y, W) -> array``: ``X`` (N, D), ``y`` (N,) or (N, K), ``W`` (D,) or (D, K)
        (matching ``y``); must return ``G = Xᵀ(X·W − y)/N + α·W`` with the shape of ``W``.
    X : array-like of shape (N, D)
    y : array-like of shape (N,) or (N, K)
    W : array-like, optional
        A point to check at, in addition to ``n_points`` random ones.
    alpha : float, default=0.0
        L2 penalty of the loss the function should differentiate.
    n_points : int, default=3
        Random points ``W`` (seeded); may be 0 when ``W`` is given. Several points
        tell a constant factor from a different function.
    rtol : float, default=1e-5
        Relative tolerance for "equal" (loose enough for float32 arithmetic).
    random_state : int, default=0

    Returns
    -------
    GradientCheck

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3)); y = rng.normal(size=50)
    >>> def seed(X, y, w):
    ...     score = X.dot(w)
    ...     error = y - score
    ...     return X.T.dot(error) / len(X)
    >>> result = check_gradient(seed, X, y)
    >>> result.ok, result.mistakes, result.factor
    (False, ('sign',), -1.0)
    >>> check_gradient(lambda X, y, w: X.T @ (X @ w - y) / len(X), X, y).ok
    True
    >>> check_gradient(lambda X, y, w: X.T @ (X @ w - y), X, y).mistakes
    ('missing_mean',)
    """
    X64, Y, was_1d, _, _ = as_float_inputs(X, y)
    N, D = X64.shape
    K = Y.shape[1]
    y_arg = Y[:, 0] if was_1d else Y
    expected = (D,) if was_1d else (D, K)
    rng = np.random.default_rng(random_state)
    x_rms = math.sqrt(float(np.mean(X64 * X64))) or 1.0
    y_rms = math.sqrt(float(np.mean(Y * Y))) or 1.0
    scale = y_rms / (x_rms * math.sqrt(D))
    if n_points < (1 if W is None else 0):
        raise GradfitInputError(f"n_points={n_points}: check at least one point W")
    points = [rng.standard_normal(expected) * scale for _ in range(n_points)]
    if W is not None:
        W_user = np.asarray(W, dtype=np.float64)
        if W_user.shape != expected:
            raise GradfitInputError(
                f"W has shape {W_user.shape}; with y of shape {np.shape(y_arg)} it must be "
                f"{expected}"
            )
        points.insert(0, W_user)

    def verdict(
        codes: tuple[str, ...],
        diagnosis: str,
        factor: float | None = None,
        shape: tuple[int, ...] = (),
        rel_err: float = math.nan,
        worst: _Worst = (),
    ) -> GradientCheck:
        return _verdict(
            codes, diagnosis, factor, expected, shape, rel_err, worst, len(points), notes
        )

    def true_grad(Wp: F64) -> F64:
        W2 = Wp.reshape(D, K)
        G = X64.T @ (X64 @ W2 - Y) / N + alpha * W2
        return np.asarray(G.reshape(expected))

    notes: list[str] = []
    results: list[F64] = []
    for Wp in points:
        Xc, yc, Wc = X64.copy(), y_arg.copy(), Wp.copy()
        try:
            out = fn(Xc, yc, Wc)
        except Exception as err:  # the user's code: report whatever it raised
            return verdict(
                ("raised",),
                f"Calling fn(X, y, W) with X {X64.shape}, y {y_arg.shape}, W {expected} "
                f"raised {type(err).__name__}: {err}.",
            )
        if (
            not np.array_equal(Wc, Wp)
            or not np.array_equal(Xc, X64)
            or not np.array_equal(yc, y_arg)
        ):
            note = "Note: the function modified its arguments in place (gradfit passed copies)."
            if note not in notes:
                notes.append(note)
        try:
            arr = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is None or out is None:
            return verdict(
                ("not_an_array",),
                f"fn returned {type(out).__name__}"
                + (" (did you forget `return`?)" if out is None else "")
                + ", not an array of numbers.",
            )
        results.append(arr)

    shape = results[0].shape
    if not all(np.all(np.isfinite(r)) for r in results):
        return verdict(("non_finite",), "The result contains NaN or infinity.", shape=shape)
    truths = [true_grad(Wp) for Wp in points]
    shape_codes: tuple[str, ...] = ()
    if shape != expected:
        fixed = _undo_shape(results, expected, D, K)
        if fixed is None:
            return _wrong_shape(results, points, X64, Y, expected, shape, N, K, verdict)
        results, shape_codes = fixed
    g = np.concatenate([r.ravel() for r in results])
    G = np.concatenate([t.ravel() for t in truths])
    rel_err = float(np.linalg.norm(g - G)) / max(float(np.linalg.norm(G)), np.finfo(float).tiny)
    worst = _worst(results, truths, expected)
    c, proportional, names = _match_factor(g, G, N, D, K, rtol)
    if proportional:
        codes = shape_codes + (("extra_factor",) if names is None else names)
        if not codes:
            return verdict(
                (),
                f"It returns G = xᵀ(x·w − y)/N{' + αw' if alpha else ''}, the gradient of "
                f"½·MSE, at all {len(points)} points (relative error {fmt(rel_err, 2)}).",
                c,
                shape,
                rel_err,
                worst,
            )
        return verdict(codes, _describe(codes, c, shape, expected), c, shape, rel_err, worst)
    if len(expected) == 2 and D == K > 1 and not shape_codes:
        # A square W hides a transpose from the shape; the values show it.
        gt = np.concatenate([r.T.ravel() for r in results])
        c_t, _, names_t = _match_factor(gt, G, N, D, K, rtol)
        if names_t is not None:
            codes = ("transposed", *names_t)
            return verdict(
                codes, _describe(codes, c_t, shape, expected), c_t, shape, rel_err, worst
            )
    # Not a multiple of G: try the usual other functions.
    candidates: list[tuple[str, F64]] = []
    if alpha > 0:
        candidates.append(
            (
                "missing_penalty",
                np.concatenate(
                    [(t - alpha * Wp).ravel() for t, Wp in zip(truths, points, strict=True)]
                ),
            )
        )
    mae = [
        (X64.T @ np.sign(X64 @ Wp.reshape(D, K) - Y) / N + alpha * Wp.reshape(D, K)).ravel()
        for Wp in points
    ]
    candidates.append(("absolute_error", np.concatenate(mae)))
    for code, ref in candidates:
        _, _, names = _match_factor(g, ref, N, D, K, rtol)
        if names is not None:
            codes = (*shape_codes, code, *names)
            return verdict(
                codes, _describe(codes, None, shape, expected), None, shape, rel_err, worst
            )
    if len(results) > 1 and all(np.allclose(r, results[0], rtol=1e-12, atol=0) for r in results):
        G0 = true_grad(np.zeros(expected))
        c0, resid0 = _fit_factor(results[0].ravel(), G0.ravel())
        at_zero = f" It equals {fmt(c0, 6)}·G(0), the gradient at W = 0." if resid0 <= rtol else ""
        codes = (*shape_codes, "ignores_W")
        return verdict(
            codes,
            f"The result is the same at all {len(points)} points: it does not depend on W."
            + at_zero,
            None,
            shape,
            rel_err,
            worst,
        )
    codes = (*shape_codes, "different_loss")
    return verdict(
        codes,
        "The result is not a constant multiple of the gradient of ½·MSE, nor of the usual "
        f"variants (relative difference {fmt(rel_err, 3)}); the largest differences are listed.",
        None,
        shape,
        rel_err,
        worst,
    )


def _undo_shape(
    results: list[F64], expected: tuple[int, ...], D: int, K: int
) -> tuple[list[F64], tuple[str, ...]] | None:
    shape = results[0].shape
    if any(r.shape != shape for r in results):
        return None
    if len(expected) == 2 and shape == (K, D) and K != D:
        return [r.T for r in results], ("transposed",)
    if results[0].size == D * K and (shape in ((D, 1), (1, D), (D,), (D * K,))):
        return [r.reshape(expected) for r in results], ("wrong_shape",)
    return None


class _Verdict(Protocol):
    """:func:`check_gradient`'s ``verdict``: :func:`_verdict` with the call's fixed arguments."""

    def __call__(
        self,
        codes: tuple[str, ...],
        diagnosis: str,
        factor: float | None = None,
        shape: tuple[int, ...] = (),
        rel_err: float = math.nan,
        worst: _Worst = (),
    ) -> GradientCheck: ...


def _wrong_shape(
    results: list[F64],
    points: list[F64],
    X: F64,
    Y: F64,
    expected: tuple[int, ...],
    shape: tuple[int, ...],
    N: int,
    K: int,
    verdict: _Verdict,
) -> GradientCheck:
    D = X.shape[1]
    if results[0].size == N * K and shape in ((N,), (N, K), (N, 1)):
        g = np.concatenate([r.reshape(N, K).ravel() for r in results])
        residual = np.concatenate([(X @ Wp.reshape(D, K) - Y).ravel() for Wp in points])
        c, resid = _fit_factor(g, residual)
        what = "values per sample"
        if resid <= 1e-6 and math.isfinite(c):
            if abs(c + 1) <= 1e-6:
                what = "the seed's `error` y − x·w"
            elif abs(c - 1) <= 1e-6:
                what = "the residual x·w − y"
            elif abs(c - 1 / N) <= 1e-6 / N:
                what = "∂f/∂score = (x·w − y)/N, the gradient with respect to the scores"
            elif abs(c + 1 / N) <= 1e-6 / N:
                what = "−∂f/∂score = (y − x·w)/N"
        return verdict(
            ("per_sample",),
            f"It returns shape {shape}, one value per sample: {what}. The gradient with "
            "respect to the weights needs one more step, the product with xᵀ (the chain rule "
            "through score = x·w).",
            shape=shape,
        )
    if results[0].size == 1:
        value = float(results[0].ravel()[0])
        W0 = points[0].reshape(D, K)
        half_mse = 0.5 * float(np.sum((X @ W0 - Y) ** 2)) / N
        which = ""
        if math.isclose(value, half_mse, rel_tol=1e-6):
            which = " It equals the loss ½·MSE at W: the function returns the loss."
        elif math.isclose(value, 2 * half_mse, rel_tol=1e-6):
            which = " It equals the MSE at W: the function returns the loss."
        return verdict(
            ("scalar",),
            f"It returns a single number ({fmt(value, 6)}), expected shape {expected}.{which}",
            shape=shape,
        )
    return verdict(
        ("wrong_shape",),
        f"It returns shape {shape}; the gradient has the shape of W, {expected}"
        + (
            " (x·xᵀ or xᵀ·x?)"
            if shape in ((N, N), (D, D)) and expected not in ((N, N), (D, D))
            else ""
        )
        + ".",
        shape=shape,
    )


def _worst(
    results: list[F64], truths: list[F64], expected: tuple[int, ...], count: int = 5
) -> _Worst:
    diffs = [float(np.max(np.abs(r - t))) for r, t in zip(results, truths, strict=True)]
    p = int(np.argmax(diffs))
    r, t = results[p], truths[p]
    order = np.argsort(-np.abs(r - t), axis=None)[:count]
    out = []
    for flat in order:
        index = tuple(int(i) for i in np.unravel_index(int(flat), expected))
        out.append((index, float(r[index]), float(t[index])))
    return tuple(out)


def _verdict(
    codes: tuple[str, ...],
    diagnosis: str,
    factor: float | None,
    expected: tuple[int, ...],
    shape: tuple[int, ...],
    rel_err: float,
    worst: _Worst,
    n: int,
    notes: list[str],
) -> GradientCheck:
    return GradientCheck(
        ok=not codes,
        mistakes=codes,
        diagnosis=diagnosis,
        fix=_fix(codes) if codes else "nothing to fix.",
        factor=factor,
        expected_shape=expected,
        returned_shape=tuple(shape),
        relative_error=rel_err,
        worst_entries=worst,
        n_points=n,
        notes=tuple(notes),
    )
