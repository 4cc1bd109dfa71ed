"""A property over nearly collinear designs: lstsq's answer, or an honest "not converged".

Planted: a pair of columns ``x_b = x_a + δ·noise`` with δ from 1e-12 to 1e-3 (H in float64
resolves down to about 3e-7), target noise from 1e-12 to 1, with or without an intercept and
weights, among 2 to 6 other columns; ``method="exact"`` and the default, whose fits on arrays
in memory take a QR of the rows where ``H`` cannot decide (decision 32). The reference is
``numpy.linalg.lstsq`` on the (weighted) centred, unit-scaled design.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradfit import ConvergenceWarning, GDRegressor
from problems import standardised_lstsq

EPS = float(np.finfo(np.float64).eps)


@st.composite
def near_collinear(draw: st.DrawFn) -> dict:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(30, 400))
    d = draw(st.integers(2, 6))
    X = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-3, 3, size=d)
    a, b = 0, 1
    delta = 10.0 ** draw(st.floats(-12, -3))
    X[:, b] = X[:, a] * draw(st.sampled_from([1.0, -2.0, 1e3])) + delta * np.abs(
        X[:, a]
    ).mean() * rng.normal(size=n)
    if draw(st.booleans()):
        X = X + 10.0 ** rng.uniform(0, 5, size=d)  # columns with means
    # the pair's difference must be data, not the rounding of storing it: well above the
    # spacing of float64 at the columns' magnitude (else every formulation — centred or with a
    # column of ones — fits a different rounding, and their losses differ by percent)
    xa, xb = X[:, a] - X[:, a].mean(), X[:, b] - X[:, b].mean()
    c = xb - xa * (float(xb @ xa) / max(float(xa @ xa), 1e-300))
    assume(float(np.std(c)) > 1e5 * EPS * float(np.max(np.abs(X[:, [a, b]]))))
    y = X @ rng.normal(size=d) + 10.0 ** draw(st.floats(-12, 0)) * rng.normal(size=n) + 3.0
    weights = rng.uniform(0.1, 3.0, n) if draw(st.booleans()) else None
    return {
        "X": X,
        "y": y,
        "weights": weights,
        "fit_intercept": draw(st.booleans()),
        "method": draw(st.sampled_from(["cg", "exact"])),
    }


def _reference(X, y, weights, fit_intercept):
    V, s, _, _, A, t = standardised_lstsq(X, y, weights, fit_intercept)
    sv = np.linalg.svd(A, compute_uv=False)
    kept = sv[sv > EPS * max(A.shape) * sv[0]]
    return V / s, float(kept[0] / kept[-1]), len(kept), A, t, s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=near_collinear())
def test_nearly_collinear_designs_get_lstsq_or_say_not_converged(case) -> None:
    X, y, weights = case["X"], case["y"], case["weights"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GDRegressor(method=case["method"], fit_intercept=case["fit_intercept"]).fit(
            X, y, sample_weight=weights
        )
    coef, kappa, rank, A, t, s = _reference(X, y, weights, case["fit_intercept"])
    if not model.converged_:
        assert [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        return
    V = np.asarray(model.coef_) * s
    # the loss at the fit is lstsq's, to the rounding of evaluating it: A·V carries
    # eps·‖A‖·‖V‖ per entry, which is large beside the residual when the coefficients are
    # (noise/δ along the pair's difference)
    r_fit, r_ref = A @ V - t, A @ (coef * s) - t
    size = np.linalg.norm(A) * (np.linalg.norm(V) + np.linalg.norm(coef * s)) + np.linalg.norm(t)
    e = 100 * EPS * size
    slack = 2 * np.linalg.norm(r_ref) * e + e * e
    if case["method"] == "cg" and "QR" not in model.stop_reason_:
        # the default on the statistics: its loss is known to their rounding (loss_slack)
        slack += 64 * EPS * np.sqrt(X.shape[1]) * float(t @ t)
    assert r_fit @ r_fit <= (r_ref @ r_ref) * (1 + 1e-9) + slack, (
        model.stop_reason_,
        kappa,
        r_fit @ r_fit,
        r_ref @ r_ref,
        slack,
        case["method"],
        case["fit_intercept"],
        weights is None,
        np.abs(X).mean(0),
        X.shape,
    )
    if rank == X.shape[1] and kappa * EPS < 1e-4:
        # full rank: the answer is unique, and the reference accurate to about κ·eps
        # (relative, standardised); rank-deficient ones are minimum-norm in the user's units
        # (gradfit) or in standardised ones (this reference), so only the loss is compared
        # least squares' own sensitivity: κ, plus κ²·‖r‖/(‖A‖·‖V‖) where the residual is large
        norm_V = max(np.linalg.norm(coef * s), 1e-300)
        sensitivity = kappa + kappa**2 * np.linalg.norm(r_ref) / (np.linalg.norm(A, 2) * norm_V)
        error = np.linalg.norm(V - coef * s) / norm_V
        # exact refines to least squares; the default stops at tol = 1e-6 on the statistics,
        # whose own formation costs up to κ²·√D·eps (their certificate's bound is about them)
        allowed = 1e3 * sensitivity * EPS + 1e-9
        if case["method"] == "cg" and "QR" not in model.stop_reason_:
            allowed += 1e-6 + 10 * kappa**2 * np.sqrt(X.shape[1]) * EPS
        assert error <= allowed, (model.stop_reason_, kappa, error)
