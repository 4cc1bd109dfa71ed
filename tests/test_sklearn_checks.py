"""scikit-learn's own estimator checks, run in full against GDRegressor.

Nothing is expected to fail: ``expected_failed_checks`` is empty, so any check
that fails is a test failure (not an xfail).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradfit import GDRegressor


@parametrize_with_checks([GDRegressor()], expected_failed_checks=lambda estimator: {})
def test_sklearn_compatible_estimator(estimator, check, monkeypatch):
    # sklearn skips its array-API check (run here with NumPy inputs only, since
    # GDRegressor does not declare array-API support) unless SCIPY_ARRAY_API is
    # set. Both sklearn gates read the variable when the check runs, and with
    # NumPy inputs SciPy's import-time reading of it does not matter, so setting
    # it here runs the check instead of skipping it.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
