"""Every bad-input path: the exception type and what its message tells the user."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from gradfit import GDRegressor, GradfitInputError
from gradfit._validation import as_design_matrix, as_sample_weight, as_targets


def _data(n=6, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.arange(1.0, d + 1) + 0.5
    return X, y


def _fitted(n=6, d=2):
    X, y = _data(n, d)
    return GDRegressor().fit(X, y)


def test_input_error_is_a_value_error():
    assert issubclass(GradfitInputError, ValueError)


# -- shape of X -----------------------------------------------------------------


def test_1d_X_names_shape_and_reshape():
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(np.arange(5.0))
    msg = str(info.value)
    assert "Expected 2D array, got 1D array instead" in msg
    assert "X.shape=(5,)" in msg
    assert "X.reshape(-1, 1)" in msg
    assert "X.reshape(1, -1)" in msg


def test_1d_X_through_fit_and_predict():
    X, y = _data()
    with pytest.raises(GradfitInputError, match=re.escape("X.reshape(-1, 1)")):
        GDRegressor().fit(X[:, 0], y)
    model = GDRegressor().fit(X, y)
    with pytest.raises(GradfitInputError, match=re.escape("X.shape=(2,)")):
        model.predict(X[0])


def test_1d_list_X():
    with pytest.raises(GradfitInputError, match=re.escape("X.shape=(3,)")):
        GDRegressor().fit([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])


def test_3d_X_names_dim_shape_and_fix():
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(np.ones((4, 3, 2)), np.ones(4))
    msg = str(info.value)
    assert "dim 3" in msg
    assert "(4, 3, 2)" in msg
    assert "X.reshape(4, -1)" in msg


def test_scalar_X():
    with pytest.raises(GradfitInputError, match="got scalar array instead"):
        as_design_matrix(3.0)


def test_none_X():
    with pytest.raises(GradfitInputError, match=r"X is None.*got None"):
        GDRegressor().fit(None, [1.0, 2.0])


def test_ragged_X():
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix([[1.0, 2.0], [3.0]])
    assert "same number of values" in str(info.value)


def test_empty_X():
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(np.empty((0, 3)), np.empty(0))
    msg = str(info.value)
    assert "0 sample(s)" in msg
    assert "shape=(0, 3)" in msg
    assert "X is empty" in msg


def test_X_without_columns():
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(np.empty((5, 0)), np.ones(5))
    msg = str(info.value)
    assert "0 feature(s)" in msg
    assert "shape=(5, 0)" in msg
    assert "no columns" in msg


def test_sparse_X_is_fitted_by_the_sparse_adapter_and_the_array_validator_names_it():
    # the estimator hands sparse input to gradfit.sources.sparse (tests/test_sparse.py);
    # the NumPy validator itself still refuses it with the conversion hint
    model = GDRegressor().fit(sp.csr_matrix(np.eye(3)), np.ones(3))
    assert model.engine_ in ("stats", "data")
    with pytest.raises(TypeError, match=re.escape("X.toarray()")):
        as_design_matrix(sp.csr_matrix(np.eye(3)))


# -- rows of X against y ----------------------------------------------------------


def test_mismatched_rows_show_both_shapes():
    X, y = _data(n=6)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y[:5])
    msg = str(info.value)
    assert "inconsistent numbers of samples: [6, 5]" in msg
    assert "X.shape=(6, 2)" in msg
    assert "y.shape=(5,)" in msg
    assert "needs one row of y" in msg


def test_transposed_X_gets_its_hint():
    X, y = _data(n=6, d=2)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X.T, y)
    msg = str(info.value)
    assert "X.shape=(2, 6)" in msg
    assert "y.shape=(6,)" in msg
    assert "X looks transposed" in msg
    assert "X.T" in msg


def test_row_vector_y_gets_its_hint():
    X, y = _data(n=6)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y[None, :])
    msg = str(info.value)
    assert "y.shape=(1, 6)" in msg
    assert "row vector" in msg
    assert "y.ravel()" in msg


def test_transposed_2d_y_gets_its_hint():
    X, _ = _data(n=6)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, np.ones((3, 6)))
    msg = str(info.value)
    assert "y.shape=(3, 6)" in msg
    assert "y looks transposed" in msg


def test_none_y():
    X, _ = _data()
    with pytest.raises(
        GradfitInputError, match="requires y to be passed, but the target y is None"
    ):
        GDRegressor().fit(X, None)


def test_scalar_y():
    with pytest.raises(GradfitInputError, match="y is a scalar"):
        as_targets(1.0, 3)


def test_3d_y():
    with pytest.raises(GradfitInputError, match=re.escape("y.reshape(3, -1)")):
        as_targets(np.ones((3, 2, 2)), 3)


def test_y_without_columns():
    with pytest.raises(GradfitInputError, match="0 target columns"):
        as_targets(np.ones((3, 0)), 3)


# -- NaN and infinity ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_X_names_kind_row_and_column(value, word):
    X, y = _data(n=6, d=3)
    X[4, 2] = value
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y)
    msg = str(info.value)
    assert f"Input X contains {word} at row 4, column 2" in msg
    assert "1 non-finite value(s)" in msg
    assert "NaN and infinity are not allowed" in msg
    assert "SimpleImputer" in msg


def test_non_finite_X_reports_first_and_count():
    X, _ = _data(n=6, d=3)
    X[3, 1] = np.nan
    X[5, 0] = np.inf
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(X)
    assert "NaN at row 3, column 1" in str(info.value)
    assert "2 non-finite value(s)" in str(info.value)


def test_non_finite_float32_X():
    X = np.ones((4, 2), dtype=np.float32)
    X[1, 1] = np.inf
    with pytest.raises(GradfitInputError, match="inf at row 1, column 1"):
        as_design_matrix(X)


def test_non_finite_dataframe_X_names_the_column():
    X, y = _data(n=6, d=2)
    frame = pd.DataFrame(X, columns=["height", "weight"])
    frame.loc[2, "weight"] = np.nan
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(frame, y)
    assert "NaN at row 2, column 1 ('weight')" in str(info.value)


def test_non_finite_in_predict():
    model = _fitted()
    X = np.ones((3, 2))
    X[0, 1] = np.nan
    with pytest.raises(GradfitInputError, match="NaN at row 0, column 1"):
        model.predict(X)


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_y(value, word):
    X, y = _data(n=6)
    y[3] = value
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y)
    msg = str(info.value)
    assert f"Input y contains {word} at position 3" in msg
    assert "impute" in msg


def test_non_finite_2d_y_dataframe_names_the_column():
    X, _ = _data(n=6)
    Y = pd.DataFrame({"price": np.ones(6), "volume": np.ones(6)})
    Y.loc[5, "volume"] = -np.inf
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, Y)
    assert "-inf at row 5, column 1 ('volume')" in str(info.value)


def test_non_finite_y_series():
    X, _ = _data(n=6)
    y = pd.Series([1.0, 2.0, np.nan, 4.0, 5.0, 6.0], name="price")
    with pytest.raises(GradfitInputError, match="NaN at position 2"):
        GDRegressor().fit(X, y)


# -- dtypes -----------------------------------------------------------------------


def test_object_array_of_numbers_is_accepted():
    X, y = _data(n=6)
    X_obj = X.astype(object)
    X_obj[0, 0] = "1.5"  # numeric strings are numbers too
    X_ref = X.copy()
    X_ref[0, 0] = 1.5
    array, _ = as_design_matrix(X_obj)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, X_ref)
    np.testing.assert_allclose(
        GDRegressor().fit(X_obj, y).coef_, GDRegressor().fit(X_ref, y).coef_, rtol=1e-12
    )


@pytest.mark.parametrize(
    ("bad", "shown"), [("apple", "'apple'"), ({"a": 1}, "{'a': 1}"), (object(), "<object")]
)
def test_object_array_with_a_non_number_names_value_and_position(bad, shown):
    X, y = _data(n=4, d=3)
    X_obj = X.astype(object)
    X_obj[2, 1] = bad
    with pytest.raises(TypeError) as info:
        GDRegressor().fit(X_obj, y)
    msg = str(info.value)
    assert f"non-numeric value {shown}" in msg
    assert "at row 2, column 1" in msg
    assert "argument must be a string or a number" in msg
    assert "Convert or drop" in msg


def test_object_y_with_a_non_number_names_position():
    X, _ = _data(n=3)
    with pytest.raises(TypeError, match="non-numeric value 'b' at position 1"):
        GDRegressor().fit(X, np.array([1.0, "b", 3.0], dtype=object))


def test_none_inside_an_object_array_is_a_missing_value():
    X = np.array([[1.0, None], [2.0, 3.0]], dtype=object)
    with pytest.raises(GradfitInputError, match="NaN at row 0, column 1"):
        as_design_matrix(X)


@pytest.mark.parametrize("X", [np.array([["1", "2"], ["3", "4"]]), np.array([[b"1", b"2"]])])
def test_string_arrays_are_refused(X):
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(X)
    msg = str(info.value)
    assert "holds strings" in msg
    assert f"dtype {X.dtype}" in msg
    assert "convert them to numbers" in msg


def test_string_y_is_refused():
    X, _ = _data(n=3)
    with pytest.raises(GradfitInputError, match="y holds strings"):
        GDRegressor().fit(X, np.array(["a", "b", "c"]))


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X.astype(np.complex128),
        lambda X: X.astype(np.complex64),
        lambda X: [[complex(v) for v in row] for row in X],
        lambda X: np.where(np.eye(*X.shape, dtype=bool), 1j, X).astype(object),
        lambda X: pd.DataFrame({"a": X[:, 0], "z": X[:, 1] + 1j}),
    ],
    ids=["complex128", "complex64", "list", "object", "dataframe"],
)
def test_complex_X_is_refused(make):
    X, y = _data(n=4)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(make(X), y)
    assert "Complex data not supported" in str(info.value)
    assert "real and imaginary" in str(info.value)


def test_complex_dataframe_names_the_column():
    with pytest.raises(GradfitInputError, match=re.escape("column 1 ('z') is complex")):
        as_design_matrix(pd.DataFrame({"a": [1.0, 2.0], "z": [1j, 2.0]}))


def test_complex_y_is_refused():
    X, y = _data(n=4)
    with pytest.raises(GradfitInputError, match="Complex data not supported"):
        GDRegressor().fit(X, y + 1j)


def test_numpy_datetime_array_is_refused():
    X = np.array([["2020-01-01"], ["2021-01-01"]], dtype="datetime64[D]")
    with pytest.raises(GradfitInputError, match=r"dates or durations.*datetime64"):
        as_design_matrix(X)


def test_datetime_column_is_named():
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "when": pd.to_datetime(["2020-01-01", "2020-06-01", "2021-01-01"])}
    )
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(frame, [1.0, 2.0, 3.0])
    msg = str(info.value)
    assert "column 1 ('when') is not numeric" in msg
    assert "dates/times" in msg
    assert "timestamp in seconds" in msg


def test_categorical_column_is_named():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": pd.Categorical(["red", "blue", "red"])})
    # fit one-hot encodes it (issue 13); arrays made from it are still refused by name
    model = GDRegressor().fit(frame, [1.0, 2.0, 3.0])
    assert model.coef_names_ == ["x", "colour=red"]
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(frame)
    msg = str(info.value)
    assert "column 1 ('colour') is not numeric" in msg
    assert "category" in msg
    assert "get_dummies" in msg


@pytest.mark.parametrize("dtype", [object, "string"])
def test_string_column_is_named(dtype):
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "city": pd.Series(["Oslo", "Rome", "Lima"], dtype=dtype)}
    )
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(frame)  # fit encodes it (issue 13); the validator names it
    msg = str(info.value)
    assert "column 1 ('city') is not numeric" in msg
    assert "'Oslo'" in msg


def test_mixed_object_column_names_the_offending_value():
    frame = pd.DataFrame({"x": pd.Series([1.0, 2.0, "n/a"], dtype=object)})
    with pytest.raises(GradfitInputError) as info:
        as_design_matrix(frame)
    msg = str(info.value)
    assert "column 0 ('x')" in msg
    assert "'n/a' at row 2" in msg
    assert "pandas.to_numeric" in msg


def test_object_column_of_numbers_is_accepted():
    frame = pd.DataFrame({"x": pd.Series([1, 2.5, "3"], dtype=object), "w": [1, 2, 3]})
    array, names = as_design_matrix(frame)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, [[1.0, 1.0], [2.5, 2.0], [3.0, 3.0]])
    assert names == ["x", "w"]


@pytest.mark.parametrize("dtype", [bool, np.int8, np.int64, np.uint16])
def test_bool_and_integer_X_become_float64(dtype):
    X = (np.arange(24).reshape(8, 3) % 3).astype(dtype)
    y = np.arange(8.0)
    array, _ = as_design_matrix(X)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, X.astype(np.float64))
    model = GDRegressor().fit(X, y)
    assert model.coef_.dtype == np.float64
    reference = GDRegressor().fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    assert model.predict(X).dtype == np.float64


def test_integer_y_is_accepted():
    X, _ = _data(n=6)
    Y, was_1d, _ = as_targets(np.arange(6), 6)
    assert Y.dtype == np.float64 and Y.shape == (6, 1) and was_1d
    assert GDRegressor().fit(X, np.arange(6)).coef_.shape == (2,)


def test_nullable_pandas_dtypes_are_accepted():
    frame = pd.DataFrame(
        {
            "n": pd.array([1, 2, 3, 4], dtype="Int64"),
            "b": pd.array([True, False, True, True], dtype="boolean"),
        }
    )
    array, names = as_design_matrix(frame)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, [[1, 1], [2, 0], [3, 1], [4, 1]])
    assert names == ["n", "b"]


def test_nullable_pandas_missing_value_is_named():
    frame = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    with pytest.raises(GradfitInputError, match=re.escape("NaN at row 1, column 0 ('n')")):
        as_design_matrix(frame)


def test_float32_X_is_used_as_is():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    array, _ = as_design_matrix(X)
    assert array is X
    frame_array, _ = as_design_matrix(pd.DataFrame(X, columns=["a", "b"]))
    assert frame_array.dtype == np.float32


def test_float32_fit_stays_float32_without_a_float64_copy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 20)).astype(np.float32)
    y = X @ rng.normal(size=20).astype(np.float32) + np.float32(1.0)
    GDRegressor().fit(X, y)  # warm-up: JIT compilation (or cache loading) is not data memory
    tracemalloc.start()
    try:
        model = GDRegressor().fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A float64 copy of X alone would need 2 * X.nbytes.
    assert peak < 2 * X.nbytes
    assert model.coef_.dtype == np.float32
    assert model.predict(X).dtype == np.float32
    assert model.converged_


def test_float64_X_is_used_as_is():
    X, _ = _data()
    array, _ = as_design_matrix(X)
    assert array is X


# -- sample_weight ------------------------------------------------------------------


def test_sample_weight_of_wrong_length():
    X, y = _data(n=3)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y, sample_weight=np.ones(4))
    msg = str(info.value)
    assert "4 entries but X has 3 rows" in msg
    assert "sample_weight.shape should be (3,), got (4,)" in msg


def test_sample_weight_2d():
    with pytest.raises(GradfitInputError) as info:
        as_sample_weight(np.ones((3, 1)), 3)
    msg = str(info.value)
    assert "must be 1-D" in msg
    assert "shape (3, 1)" in msg
    assert "sample_weight.ravel()" in msg


def test_negative_sample_weight():
    X, y = _data(n=3)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y, sample_weight=[1.0, -2.0, 0.5])
    msg = str(info.value)
    assert "negative value -2.0 at position 1" in msg
    assert "non-negative" in msg


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_sample_weight(value, word):
    with pytest.raises(GradfitInputError, match=f"sample_weight contains {word} at position 2"):
        as_sample_weight(np.array([1.0, 1.0, value]), 3)


def test_all_zero_sample_weight():
    X, y = _data(n=3)
    with pytest.raises(GradfitInputError) as info:
        GDRegressor().fit(X, y, sample_weight=np.zeros(3))
    msg = str(info.value)
    assert "zero for every row" in msg
    assert "positive weight" in msg


def test_string_sample_weight():
    with pytest.raises(GradfitInputError, match="sample_weight holds strings"):
        as_sample_weight(np.array(["a", "b"]), 2)


def test_valid_sample_weights():
    assert as_sample_weight(None, 3) is None
    np.testing.assert_array_equal(as_sample_weight(2, 3), [2.0, 2.0, 2.0])
    weights = as_sample_weight(pd.Series([1, 0, 3]), 3)
    assert weights is not None and weights.dtype == np.float64
    np.testing.assert_array_equal(weights, [1.0, 0.0, 3.0])


# -- predict ----------------------------------------------------------------------


def test_predict_with_the_wrong_number_of_features():
    model = _fitted(d=2)
    with pytest.raises(ValueError, match="X has 3 features, but GDRegressor is expecting 2"):
        model.predict(np.ones((4, 3)))


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        GDRegressor().predict(np.ones((2, 2)))


# -- pandas -----------------------------------------------------------------------


def test_dataframe_sets_feature_names_in():
    X, y = _data(n=6, d=2)
    frame = pd.DataFrame(X, columns=["height", "weight"])
    model = GDRegressor().fit(frame, y)
    assert list(model.feature_names_in_) == ["height", "weight"]
    assert model.n_features_in_ == 2
    np.testing.assert_allclose(model.predict(frame), X @ model.coef_ + model.intercept_)


def test_dataframe_with_reordered_columns_in_predict():
    X, y = _data(n=6, d=2)
    model = GDRegressor().fit(pd.DataFrame(X, columns=["a", "b"]), y)
    with pytest.raises(ValueError, match="same order"):
        model.predict(pd.DataFrame(X[:, ::-1], columns=["b", "a"]))


def test_array_in_predict_after_dataframe_fit_warns():
    X, y = _data(n=6, d=2)
    model = GDRegressor().fit(pd.DataFrame(X, columns=["a", "b"]), y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)


def test_numpy_fit_has_no_feature_names():
    model = _fitted()
    assert not hasattr(model, "feature_names_in_")


def test_series_y():
    X, y = _data(n=6)
    series = pd.Series(y, name="price")
    Y, was_1d, names = as_targets(series, 6)
    assert Y.shape == (6, 1) and was_1d and names == ["price"]
    model = GDRegressor().fit(pd.DataFrame(X, columns=["a", "b"]), series)
    assert model.coef_.shape == (2,)
    assert isinstance(model.intercept_, float)
    np.testing.assert_allclose(model.coef_, GDRegressor().fit(X, y).coef_, rtol=1e-12)


def test_dataframe_y_is_multi_output():
    X, y = _data(n=6)
    Y = pd.DataFrame({"p": y, "q": 2 * y})
    targets, was_1d, names = as_targets(Y, 6)
    assert targets.shape == (6, 2) and not was_1d and names == ["p", "q"]
    assert GDRegressor().fit(X, Y).coef_.shape == (2, 2)


# -- warm start -----------------------------------------------------------------------


def test_warm_start_with_a_different_number_of_features_starts_cold():
    X, y = _data(n=20, d=3)
    model = GDRegressor(warm_start=True).fit(X, y)
    model.fit(X[:, :2], y)
    assert model.coef_.shape == (2,)
    np.testing.assert_allclose(model.coef_, GDRegressor().fit(X[:, :2], y).coef_, rtol=1e-10)


# -- parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"method": "adam"}, r"method='adam' is not one of \[.*'cg'.*'gd'.*\]"),
        ({"learning_rate": "fast"}, r"learning_rate='fast': use 'auto' or a positive float"),
        ({"method": "gd", "learning_rate": -0.1}, r"learning_rate=-0\.1: use 'auto' or a positive"),
        ({"method": "gd", "learning_rate": 0.0}, r"learning_rate=0\.0: use 'auto' or a positive"),
        ({"method": "gd", "learning_rate": np.inf}, r"learning_rate=inf: .*finite"),
        ({"method": "gd", "learning_rate": True}, r"learning_rate=True: use 'auto'"),
        ({"method": "cg", "learning_rate": 0.1}, r"learning_rate must be\s+'auto'.*method='gd'"),
        ({"tol": -1e-3}, r"tol=-0\.001: use a non-negative finite float"),
        ({"tol": np.nan}, r"tol=nan: use a non-negative finite float"),
        ({"alpha": -1.0}, r"alpha=-1\.0: use a non-negative finite float"),
        ({"alpha": "big"}, r"alpha='big': use a non-negative finite float"),
        ({"max_iter": 10.5}, r"max_iter=10\.5: use a non-negative integer"),
        ({"max_iter": "100"}, r"max_iter='100': use a non-negative integer"),
        ({"max_iter": -1}, r"max_iter=-1: use a non-negative integer"),
        ({"max_iter": True}, r"max_iter=True: use a non-negative integer"),
    ],
)
def test_bad_parameters(params, pattern):
    X, y = _data()
    model = GDRegressor(**params)
    with pytest.raises(ValueError, match=pattern):
        model._check_params()
    with pytest.raises(ValueError, match=pattern):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


@pytest.mark.parametrize(
    "params",
    [
        {"method": "gd", "learning_rate": 0.5},
        {"method": "momentum", "learning_rate": np.float32(0.1)},
        {"max_iter": np.int64(10)},
        {"tol": 0, "alpha": np.float64(0.5)},
    ],
)
def test_good_parameters(params):
    GDRegressor(**params)._check_params()
