"""Crashes and leaks a hostile fuzz run found (2026-12-07), each pinned by its reproduction."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from gradfit import CollinearityWarning, ConvergenceWarning, DataNote, GDRegressor


def test_an_all_zero_sparse_matrix_fits_like_the_dense_one() -> None:
    # np.bincount of no stored values is int64: adding the means to it raised UFuncTypeError
    y = np.array([0.5, -0.5, 1.6, 2.0, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollinearityWarning)
        dense = GDRegressor().fit(np.zeros((5, 2)), y)
        sparse = GDRegressor().fit(sp.csr_matrix((5, 2)), y)
    np.testing.assert_array_equal(sparse.coef_, dense.coef_)
    assert sparse.intercept_ == dense.intercept_ == y.mean()


def test_damaged_pandas_metadata_in_parquet_is_ignored_with_a_note(tmp_path) -> None:
    rng = np.random.default_rng(0)
    table = pa.table(
        {"a": rng.normal(size=20), "__index_level_0__": np.arange(20), "y": rng.normal(size=20)}
    )
    table = table.replace_schema_metadata({b"pandas": b'{"index_columns": [\x01'})
    pq.write_table(table, tmp_path / "bad.parquet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GDRegressor().fit(tmp_path / "bad.parquet", None, target="y")
    assert list(model.feature_names_in_) == ["a"]  # the index column is still the index
    notes = [str(w.message) for w in caught if issubclass(w.category, DataNote)]
    assert len(notes) == 1 and "pandas metadata is damaged" in notes[0]


def test_a_diverging_float32_sgd_says_so_without_a_runtime_warning() -> None:
    rng = np.random.default_rng(0)
    n = 222
    X = np.column_stack(
        [
            4e4 + 0.01 * rng.normal(size=n),
            rng.normal(size=n),
            1e5 + 0.05 * rng.normal(size=n),
            np.full(n, 4.5e6),
            rng.integers(0, 3, n),
        ]
    ).astype(np.float32)
    y = (X.astype(np.float64) @ [300.0, 1.0, 2.0, 2900.0, 0.5] + rng.normal(size=n)).astype(
        np.float32
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        model = GDRegressor(method="sgd", fit_intercept=False, random_state=0).fit(X, y)
    assert not model.converged_
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
