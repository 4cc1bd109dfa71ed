"""Each coefficient's own error (certificate.coef_relative_error, coef_error_se, unresolved).

A norm-wise tolerance lets a coefficient that is small beside the largest be far off:
gradient descent on ``y = 1e7·x0 + x1 + 2·x2 + noise`` meets ``tol=1e-6`` with x1 and x2
17% and 75% off. The statistics engine solves each error from ``H`` and warns; these
tests check the errors against an independent least-squares answer and standard errors
computed here with NumPy, and that ordinary fits stay quiet.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from gradfit import ConvergenceWarning, GDRegressor


def strong_predictor(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = 1e7 * X[:, 0] + X[:, 1] + 2 * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def least_squares(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their standard errors, centred, in float64 (NumPy only)."""
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    w, *_ = np.linalg.lstsq(Xc, yc, rcond=None)
    r = yc - Xc @ w
    sigma2 = r @ r / (len(X) - X.shape[1] - 1)
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(Xc.T @ Xc)))
    return w, se


def fit(X: np.ndarray, y: np.ndarray, **options: object) -> tuple[GDRegressor, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GDRegressor(**options).fit(X, y)  # type: ignore[arg-type]
    return model, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("method", ["gd", "nesterov", "momentum"])
def test_a_small_coefficient_beside_a_large_one_is_named_and_the_fix_works(method: str) -> None:
    X, y = strong_predictor()
    w_star, _ = least_squares(X, y)
    model, messages = fit(X, y, method=method)
    cert = model.certificate_
    assert model.converged_ and cert.verified  # the norm-wise tolerance is met ...
    assert cert.unresolved == ((1, 0), (2, 0))  # ... but x1 and x2 are off
    assert cert.coef_relative_error is not None and cert.coef_error_se is not None
    # the certificate's errors are the true ones (H⁻¹G solved exactly from the statistics)
    true_relative = np.abs(model.coef_ - w_star) / np.abs(w_star)
    np.testing.assert_allclose(cert.coef_relative_error[:, 0], true_relative, rtol=1e-5)
    assert np.all(true_relative[1:] > 0.01)
    assert len(messages) == 1
    assert "x1, x2" in messages[0] and "Fix: tol=1e-09, or method='cg'" in messages[0]
    assert "NOT resolved at this tol: features [1, 2]" in str(cert)
    # the suggested tolerance resolves them
    better, messages = fit(X, y, method=method, tol=1e-9)
    assert better.certificate_.unresolved == () and messages == []
    assert np.all(np.abs(better.coef_ - w_star)[1:] < 0.01 * np.abs(w_star)[1:])


def test_errors_in_standard_errors_match_numpy_where_the_noise_is_resolved() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    X = rng.standard_normal((n, 4)) @ np.array(
        [[1, 0.99, 0, 0], [0, 0.14, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float
    )
    # x0 and x1 nearly collinear with opposite effects: gd's error lies along x0 − x1
    y = X @ [1.0, -1.0, 0.1, 30.0] + rng.standard_normal(n)
    w_star, se = least_squares(X, y)
    model, messages = fit(X, y, method="gd", tol=1e-3, max_iter=100_000)
    cert = model.certificate_
    assert cert.coef_error_se is not None and cert.coef_relative_error is not None
    assert not cert.noise_below_rounding
    in_se = np.abs(model.coef_ - w_star) / se
    checked = np.isfinite(cert.coef_error_se[:, 0])
    assert checked.any()
    np.testing.assert_allclose(cert.coef_error_se[checked, 0], in_se[checked], rtol=1e-3)
    flagged = {j for j, _ in cert.unresolved}
    expected = {
        j
        for j in range(4)
        if in_se[j] > 1 and abs(model.coef_[j] - w_star[j]) > 0.01 * abs(w_star[j])
    }
    assert flagged == expected == {0, 1}  # 95% off, 10 standard errors
    assert model.converged_ and len(messages) == 1 and "x0, x1" in messages[0]


def test_exact_solvers_and_ordinary_fits_stay_quiet() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20000, 10)) @ rng.standard_normal((10, 10))
    y = X @ rng.standard_normal(10) + rng.standard_normal(20000)
    for method in ("cg", "exact", "gd", "nesterov"):
        model, messages = fit(X, y, method=method, max_iter=20000)
        cert = model.certificate_
        assert cert.unresolved == () and messages == [], method
        assert cert.coef_relative_error is not None
    exact, _ = fit(X, y, method="exact")
    assert np.max(exact.certificate_.coef_relative_error) < 1e-10
    # there the normwise bound already proves every coefficient within 1%: no solve was made
    cg, _ = fit(X, y)
    assert cg.certificate_.coef_error_se is not None
    assert np.all(np.isnan(cg.certificate_.coef_error_se))
    assert np.max(cg.certificate_.coef_relative_error) < 1e-6


def test_noise_free_data_flag_only_what_is_provably_off() -> None:
    # the noise is below the statistics' rounding: its bound bounds each standard error from
    # above, so a flag is a proof; here the zero's error (1.5e-6) stays under that bound
    rng = np.random.default_rng(7)
    X = rng.standard_normal((100, 4))
    y = X @ [1.0, 2.0, 0.0, 3.0]
    model, messages = fit(X, y, method="gd")
    cert = model.certificate_
    assert cert.noise_below_rounding
    assert cert.coef_relative_error[2, 0] > 1  # type: ignore[index]
    assert cert.unresolved == () and messages == []


def test_a_coefficient_near_zero_far_off_is_named() -> None:
    # least squares gives x1 = −1e-4 ± 0.002; gradient descent stopped at 11 (5,000 standard
    # errors), beside a coefficient of 1e7 (review of decision 30)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2))
    X[:, 1] += 0.5 * X[:, 0]
    y = 1e7 * X[:, 0] + 0.1 * rng.standard_normal(2000)
    w_star, se = least_squares(X, y)
    model, messages = fit(X, y, method="gd")
    assert abs(model.coef_[1] - w_star[1]) > 1000 * se[1]
    assert model.certificate_.unresolved == ((1, 0),)
    assert len(messages) == 1 and "more than 10 times their size" in messages[0]


def test_collinear_columns_of_different_scales_have_the_minimum_norm_errors() -> None:
    # x and 1000·x: the loop's null space is not the user's; the errors are those of the
    # minimum-norm answer in the user's units (a false alarm of 112% before)
    rng = np.random.default_rng(0)
    n = 100_000
    x = rng.standard_normal(n)
    z = 0.9 * x + 0.45 * rng.standard_normal(n)
    X = np.column_stack([x, 1000 * x, z])
    y = x + z + 0.001 * rng.standard_normal(n)
    w_star = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    model, messages = fit(X, y, method="gd")
    true_relative = np.abs(model.coef_ - w_star) / np.abs(w_star)
    cert = model.certificate_
    np.testing.assert_allclose(cert.coef_relative_error[:, 0], true_relative, rtol=1e-3)  # type: ignore[index]
    assert cert.unresolved == () and messages == []


def test_one_hot_levels_plus_intercept_have_the_true_errors() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    level = rng.choice(3, size=n, p=[0.89, 0.1, 0.01])
    x = rng.standard_normal(n)
    X = np.column_stack([x] + [(level == k).astype(float) for k in range(3)])
    y = 1e7 * x + np.array([0.0, 0.5, -1.0])[level] + 0.01 * rng.standard_normal(n)
    w_star = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    model, messages = fit(X, y, method="nesterov")
    true_relative = np.abs(model.coef_ - w_star) / np.abs(w_star)
    cert = model.certificate_
    np.testing.assert_allclose(cert.coef_relative_error[:, 0], true_relative, rtol=1e-4)  # type: ignore[index]
    assert {j for j, _ in cert.unresolved} == {1, 2, 3}
    assert len(messages) == 1


@pytest.mark.parametrize("alpha", [1e-12, 1e-9])
def test_a_negligible_penalty_does_not_hide_the_errors(alpha: float) -> None:
    # ½α‖w‖² is no residual noise (it had inflated σ² 200-fold at alpha=1e-9)
    X, y = strong_predictor()
    model, messages = fit(X, y, method="gd", alpha=alpha)
    assert model.certificate_.unresolved == ((1, 0), (2, 0)) and len(messages) == 1


def test_default_cg_takes_a_newton_step_instead_of_warning() -> None:
    # coefficients from 0.1 to 1e8: CG on the statistics met tol=1e-6 with several 4× off
    rng = np.random.default_rng(0)
    n, d = int(rng.integers(200, 20000)), int(rng.integers(3, 60))  # 17042, 39
    X = rng.standard_normal((n, d))
    rng.random()  # a draw of the review's script, kept so that these are its data
    beta = rng.standard_normal(d) * 10 ** rng.uniform(-1, 8, d)
    y = X @ beta + 10 ** rng.uniform(-3, 1) * rng.standard_normal(n)
    w_star, se = least_squares(X, y)
    model, messages = fit(X, y)
    assert messages == [] and model.converged_
    assert "one Newton step on the statistics" in model.stop_reason_
    assert model.certificate_.unresolved == ()
    # the history ends at the returned point (its last row is after the step, an event says
    # so); the step is no iteration: n_iter_ stays within max_iter
    assert len(model.history_) == model.n_iter_ + 1
    assert model.history_.relative_grad_norm[-1] == np.max(model.relative_grad_norm_)
    assert [e.kind for e in model.history_.events][-1] == "newton"
    capped, _ = fit(X, y, max_iter=model.n_iter_)
    assert capped.n_iter_ == model.n_iter_ and "Newton" in capped.stop_reason_
    assert np.all(np.abs(model.coef_ - w_star) < 0.01 * se + 1e-9 * np.abs(w_star))
    gd, messages = fit(X, y, method="gd", max_iter=100_000)  # the seed's loop is left as it is
    assert gd.certificate_.unresolved and len(messages) == 1


def test_several_targets_are_checked_each() -> None:
    X, y = strong_predictor(seed=1)
    rng = np.random.default_rng(1)
    Y = np.column_stack([X @ [1.0, 2.0, 3.0] + rng.standard_normal(len(X)), y])
    model, messages = fit(X, Y, method="gd")
    assert {k for _, k in model.certificate_.unresolved} == {1}
    assert len(messages) == 1


def test_weights_penalty_and_collinear_columns() -> None:
    X, y = strong_predictor(seed=2)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        weighted = GDRegressor(method="gd").fit(X, y, sample_weight=weights)
        ridge = GDRegressor(method="gd", alpha=1e-3).fit(X, y)
        collinear = GDRegressor(method="gd").fit(np.column_stack([X, X[:, 1]]), y)
    assert {j for j, _ in weighted.certificate_.unresolved} == {1, 2}
    assert {j for j, _ in ridge.certificate_.unresolved} <= {1, 2}
    cert = collinear.certificate_
    assert cert.rank == 3 and cert.coef_relative_error is not None
    assert np.all(np.isfinite(cert.coef_relative_error))


def test_the_json_carries_the_errors() -> None:
    X, y = strong_predictor()
    stats, _ = fit(X, y, method="gd")
    payload = json.loads(json.dumps(stats.certificate_.to_dict()))
    assert payload["unresolved"] == [[1, 0], [2, 0]]
    assert len(payload["coef_relative_error"]) == 3
    assert payload["noise_below_rounding"] is True
    assert payload["coef_check"] == "from the statistics"


def correlated_with_one_large_effect(n: int = 5000, d: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.3 * rng.standard_normal((d, d)))
    w = rng.standard_normal(d)
    w[0] = 1e5
    return X, X @ w + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("sparse", [False, True])
def test_the_data_path_checks_from_one_gram_pass_where_that_is_cheap(sparse: bool) -> None:
    X, y = correlated_with_one_large_effect()
    w_star, se = least_squares(X, y)
    if sparse:
        import scipy.sparse

        X = scipy.sparse.csr_matrix(X)
    # CG on the data stops at tol (on the statistics it goes on to tol/κ): here 8 coefficients
    # 2–5% and over 2.5 standard errors off
    model, messages = fit(X, y, gradient="data")
    cert = model.certificate_
    assert model.engine_ == "data" and model.converged_
    assert cert.coef_check == "from the statistics of the data (one Gram pass)"
    error = np.abs(model.coef_ - w_star)
    truth = {j for j in range(X.shape[1]) if error[j] > 0.01 * abs(w_star[j]) and error[j] > se[j]}
    flagged = {j for j, _ in cert.unresolved}
    assert flagged and flagged <= truth  # the noise is below the statistics' rounding: a proof
    assert len(messages) == 1 and "Fix: tol=1e-08, or gradient='stats'" in messages[0]
    assert "method='cg'" not in messages[0]  # it was CG already
    resolved, messages = fit(X, y, gradient="data", tol=1e-8)
    assert resolved.certificate_.unresolved == () and messages == []


def test_the_data_path_says_where_it_did_not_check(tmp_path) -> None:
    import pandas as pd

    rng = np.random.default_rng(4)
    X = rng.standard_normal((20000, 400))
    y = X @ rng.standard_normal(400) + rng.standard_normal(20000)
    model, _ = fit(X, y, gradient="data")  # a Gram pass would cost more than CG's few passes
    cert = model.certificate_
    assert cert.coef_relative_error is None and cert.unresolved == ()
    assert cert.coef_check.startswith("not checked: a Gram pass would cost more than the fit's")
    assert "each coefficient: not checked" in str(cert)
    wide, _ = fit(X[:100, :300], y[:100], method="gd", gradient="data", max_iter=50)
    assert wide.certificate_.coef_check == "not checked: N <= D: no standard errors"
    path = tmp_path / "strong.csv"
    Xs, ys = strong_predictor()
    pd.DataFrame({"a": Xs[:, 0], "b": Xs[:, 1], "c": Xs[:, 2], "y": ys}).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_file = GDRegressor(method="gd", gradient="data").fit(path, target="y")
    assert from_file.certificate_.coef_check.startswith("not checked: no H on this path")


def test_the_command_line_names_the_columns_and_says_the_fix_in_options(tmp_path, capsys) -> None:
    import pandas as pd

    from gradfit.cli.main import main

    X, y = strong_predictor()
    frame = pd.DataFrame({"big": X[:, 0], "a": X[:, 1], "b": X[:, 2], "y": y})
    frame.to_csv(tmp_path / "strong.csv", index=False)
    assert main(["fit", str(tmp_path / "strong.csv"), "-t", "y", "--method", "gd", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["certificate"]["unresolved"] == [[1, 0], [2, 0]]
    (message,) = summary["warnings"]
    assert "coefficients of a, b are still off" in message
    assert message.endswith("Fix: --tol 1e-09, or --method cg.")


def test_the_kappa_fallback_checks_from_the_statistics_it_already_formed(tmp_path) -> None:
    import pandas as pd
    import scipy.sparse

    rng = np.random.default_rng(0)
    n = 4000
    x = rng.standard_normal(n)
    X = np.column_stack([x, x + 3e-6 * rng.standard_normal(n), rng.standard_normal(n)])
    y = X @ [1.0, 2.0, 3.0] + 0.01 * rng.standard_normal(n)
    path = tmp_path / "near.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(
        path, index=False, float_format="%.17g"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor().fit(path, target="y")  # a file: no rows in memory for a QR
    assert model.engine_ == "data" and "κ" in model.engine_reason_
    assert model.certificate_.coef_check == "from the statistics of the data (one Gram pass)"
    assert model.certificate_.coef_relative_error is not None
    # rows in memory (dense or CSR) are solved by a QR instead (decision 32)
    xm, s = X.mean(0), X.std(0)
    reference = np.linalg.lstsq((X - xm) / s, y - y.mean(), rcond=None)[0] / s
    for rows in (X, scipy.sparse.csr_matrix(X)):
        model, _ = fit(rows, y)
        assert model.certificate_.coef_check == "from the rows' QR factor"
        np.testing.assert_allclose(model.coef_, reference, rtol=1e-6)


def test_the_command_line_says_when_each_coefficient_was_not_checked(tmp_path, capsys) -> None:
    import pandas as pd

    from gradfit.cli.main import main

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 50))  # wide: the data path, no standard errors
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(50)])
    frame["y"] = X[:, 0] + rng.standard_normal(30)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    assert main(["fit", str(tmp_path / "wide.csv"), "-t", "y"]) == 0
    out = capsys.readouterr().out
    assert "each coefficient's error: not checked: N <= D: no standard errors" in out


def test_nearly_collinear_columns_without_an_intercept_say_float64_cannot_resolve_them() -> None:
    # columns like 1e4..6e8 + tiny noise, no intercept: κ of the standardised H is 1e13; the
    # data path met tol with a loss 1e11 times the optimum (fuzz run, 2026-12-07)
    rng = np.random.default_rng(0)
    n = 71
    means = np.array([8.6e3, 5.7e4, 1.4e4, 5.9e8])
    spreads = np.array([0.008, 0.07, 0.18, 0.06])
    X = means + spreads * rng.normal(size=(n, 4))
    y = X @ np.array([11.0, -2.3, 5.7, -20.1]) + 0.1 * rng.normal(size=n)
    model, messages = fit(X, y, fit_intercept=False, gradient="data", tol=1e-8)
    assert model.certificate_.unresolved
    (message,) = messages
    assert "off by more than 10 times their size" in message
    assert "κ·eps is 0.001" in message and "fit an intercept (fit_intercept=True)" in message


def test_rows_of_weight_zero_are_no_degrees_of_freedom() -> None:
    # the standard errors beside each coefficient's error count the rows of positive weight
    # (as R's lm); before, rows of weight 0 made them too small
    X, y = strong_predictor(n=60)
    w = np.ones(60)
    w[::2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = GDRegressor(method="gd", tol=1e-5).fit(X, y, sample_weight=w)
        sub = GDRegressor(method="gd", tol=1e-5).fit(X[1::2], y[1::2])
    a, b = full.certificate_.coef_error_se, sub.certificate_.coef_error_se
    assert a is not None and b is not None and np.isfinite(b).any()
    np.testing.assert_allclose(a, b, rtol=1e-6)
