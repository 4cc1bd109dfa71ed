"""One result everywhere: the same problems through every kind of input give the same fit.

NumPy is the reference; CSV, Parquet and .npy files, Dask arrays and DataFrames,
SciPy sparse matrices and torch tensors must reproduce its coefficients. Kinds
whose library or adapter is missing are skipped (they are picked up as soon as
the adapter is registered).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from gradfit import DataFile, GDRegressor
from gradfit.sources.base import find_adapter

PROBLEMS = {
    "intercept-2-outputs": {"fit_intercept": True, "alpha": 0.0, "K": 2},
    "ridge-no-intercept": {"fit_intercept": False, "alpha": 0.3, "K": 1},
}
METHODS = [{"method": "cg", "tol": 1e-11}, {"method": "exact"}]
KINDS = ["numpy", "csv", "parquet", "npy", "dask-array", "dask-dataframe", "sparse", "torch"]
RTOL = 1e-9


def data(K, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 4)) * [1.0, 4.0, 0.5, 1.0] + [0.0, 1.0, 0.0, -2.0]
    X[rng.random(X.shape) < 0.3] = 0.0  # some zeros, so the sparse input is sparse
    Y = X @ rng.normal(size=(4, K)) + 0.1 * rng.normal(size=(600, K)) + 0.5
    return X, Y


def as_input(kind, X, Y, folder):
    """``(X_input, y_input, fit_params)`` for one kind of input."""
    names = ["a", "b", "c", "d"]
    targets = [f"y{k}" for k in range(Y.shape[1])]
    target = targets if Y.shape[1] > 1 else targets[0]
    if kind == "numpy":
        return X, Y if Y.shape[1] > 1 else Y[:, 0], {}
    if kind in ("csv", "parquet", "npy"):
        pytest.importorskip("pyarrow")
        frame = pd.DataFrame(X, columns=names)
        for k, t in enumerate(targets):
            frame[t] = Y[:, k]
        path = os.path.join(folder, f"data.{kind}")
        if kind == "csv":
            frame.to_csv(path, index=False, float_format="%.17g")
        elif kind == "parquet":
            frame.to_parquet(path, row_group_size=128)
        else:
            np.save(path, frame.to_numpy())
            target = [4 + k for k in range(Y.shape[1])] if Y.shape[1] > 1 else 4
        return DataFile(path, target=target, block_rows=100), None, {}
    if kind.startswith("dask"):
        da = pytest.importorskip("dask.array")
        if kind == "dask-array":
            y = da.from_array(Y if Y.shape[1] > 1 else Y[:, 0], chunks=150)
            return da.from_array(X, chunks=(150, 4)), y, {}
        dd = pytest.importorskip("dask.dataframe")
        frame = pd.DataFrame(X, columns=names)
        for k, t in enumerate(targets):
            frame[t] = Y[:, k]
        ddf = dd.from_pandas(frame, npartitions=3)
        return ddf[names], ddf[target], {}
    if kind == "sparse":
        sp = pytest.importorskip("scipy.sparse")
        Xs = sp.csr_matrix(X)
        if find_adapter(Xs) is None:
            pytest.skip("the sparse adapter is not registered yet")
        return Xs, Y if Y.shape[1] > 1 else Y[:, 0], {}
    if kind == "torch":
        torch = pytest.importorskip("torch")
        Xt = torch.from_numpy(X)
        if find_adapter(Xt) is None:
            pytest.skip("the torch adapter is not registered yet")
        return Xt, torch.from_numpy(Y if Y.shape[1] > 1 else Y[:, 0].copy()), {}
    raise AssertionError(kind)


def to_numpy(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m["method"])
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_same_coefficients_for_every_input(kind, method, name, tmp_path):
    spec = PROBLEMS[name]
    X, Y = data(spec["K"])
    params = {"fit_intercept": spec["fit_intercept"], "alpha": spec["alpha"], **method}
    reference = GDRegressor(**params).fit(X, Y if spec["K"] > 1 else Y[:, 0])
    X_in, y_in, fit_params = as_input(kind, X, Y, tmp_path)
    model = GDRegressor(**params).fit(X_in, y_in, **fit_params)
    np.testing.assert_allclose(to_numpy(model.coef_), reference.coef_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(
        to_numpy(model.intercept_), reference.intercept_, rtol=RTOL, atol=1e-12
    )
    assert to_numpy(model.coef_).shape == np.shape(reference.coef_)
