"""X and y from one Dask DataFrame that Dask partitioned differently still fit (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit import GDRegressor

dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")


def test_targets_partitioned_unlike_the_features_are_read_together():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.01 * rng.normal(size=400)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(target=y)
    ddf = dd.from_pandas(frame, npartitions=4)
    features, target = ddf[["a", "b", "c"]], ddf["target"].repartition(npartitions=2)
    assert features.npartitions != target.npartitions
    model = GDRegressor(tol=1e-10).fit(features, target)
    reference = GDRegressor(tol=1e-10).fit(X, y)
    assert np.allclose(model.coef_, reference.coef_, rtol=1e-8, atol=1e-10)
    assert np.isclose(model.intercept_, reference.intercept_, rtol=1e-8)
