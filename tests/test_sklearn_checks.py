"""scikit-learn's own estimator checks, run in full against GDRegressor.

Nothing is expected to fail for the deterministic methods: their
``expected_failed_checks`` is empty, so any check that fails is a test failure.
One check is expected to fail for ``method="sgd"``, for a reason inherent to
stochastic methods (scikit-learn's own SGDRegressor is marked the same way):
SGD draws mini-batches of *rows*, so integer sample weights change the random
batches and cannot give the same iterates as repeated rows. (The deterministic
methods do satisfy it, and tests/test_properties.py checks that property too.)
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradfit import GDRegressor


@parametrize_with_checks(
    [GDRegressor(), GDRegressor(method="sgd", random_state=0), GDRegressor(method="exact")],
    expected_failed_checks=lambda estimator: (
        {
            name: "stochastic: weighted rows and repeated rows give different random batches"
            for name in (
                "check_sample_weight_equivalence_on_dense_data",
                "check_sample_weight_equivalence_on_sparse_data",
            )
        }
        if estimator.method == "sgd"
        else {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check, monkeypatch):
    # sklearn skips its array-API check (run here with NumPy inputs only, since
    # GDRegressor does not declare array-API support) unless SCIPY_ARRAY_API is
    # set. Both sklearn gates read the variable when the check runs, and with
    # NumPy inputs SciPy's import-time reading of it does not matter, so setting
    # it here runs the check instead of skipping it.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
