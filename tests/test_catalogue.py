"""The catalogue of bad input (docs/reliability.md): one test per entry, with its outcome.

Each entry ends in a clear error (the type and the key words of the message are pinned) or
in a correct result (to a stated tolerance, with finite coefficients). Entries about files
are checked through ``DataFile`` / ``fit(path, None, target=...)`` and through the command
line (exit status 2, one message, no traceback); entries about model files through
``load_model`` and ``gradfit predict``.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gradfit import (
    CollinearityWarning,
    DataFile,
    GDRegressor,
    GradfitInputError,
    GradfitModelError,
    diagnose,
    load_model,
    save_model,
)
from gradfit.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::gradfit.ConvergenceWarning")

RNG = np.random.default_rng(7)
X0 = RNG.normal(size=(30, 3))
Y0 = X0 @ np.array([1.0, 2.0, 3.0]) + 1.0
COEF0 = np.array([1.0, 2.0, 3.0])


def fit(X: Any, y: Any, sample_weight: Any = None, **params: Any) -> GDRegressor:
    """Fit with warnings as errors (a RuntimeWarning from NumPy must never escape)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecationWarning)
        # rank deficiency is reported (tests/test_reliability.py checks the warning)
        warnings.simplefilter("ignore", CollinearityWarning)
        model = GDRegressor(**params).fit(X, y, sample_weight=sample_weight)
    assert np.isfinite(np.asarray(model.coef_)).all()
    assert np.isfinite(np.asarray(model.intercept_)).all()
    return model


def centred_lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimum Euclidean-norm least-squares coefficients with an intercept."""
    return np.linalg.lstsq(X - X.mean(axis=0), y - y.mean(), rcond=None)[0]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``gradfit`` in this process; return the exit status and stderr."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# -- NaN and infinity -------------------------------------------------------------------


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_in_X(value: float, word: str) -> None:
    X = X0.copy()
    X[4, 2] = value
    with pytest.raises(GradfitInputError, match=rf"Input X contains {word} at row 4, column 2 "):
        fit(X, Y0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(GradfitInputError, match=r"row 4, column 2 \('c'\)"):
        fit(frame, Y0)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_in_y(value: float, word: str) -> None:
    y = Y0.copy()
    y[3] = value
    with pytest.raises(GradfitInputError, match=rf"Input y contains {word} at position 3"):
        fit(X0, y)
    Y2 = np.column_stack([Y0, y])
    with pytest.raises(GradfitInputError, match=rf"Input y contains {word} at row 3, column 1"):
        fit(X0, Y2)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_sample_weight(value: float, word: str) -> None:
    w = np.ones(len(Y0))
    w[5] = value
    with pytest.raises(GradfitInputError, match=rf"sample_weight contains {word} at position 5"):
        fit(X0, Y0, sample_weight=w)


def test_sample_weight_whose_sum_overflows() -> None:
    with pytest.raises(GradfitInputError, match="sample_weight sums to more than float64"):
        fit(X0, Y0, sample_weight=np.full(len(Y0), 1e308))
    # huge but summable weights: only their ratios matter
    model = fit(X0, Y0, sample_weight=np.full(len(Y0), 1e300))
    np.testing.assert_allclose(model.coef_, COEF0, rtol=1e-6)


def test_bad_sample_weights() -> None:
    with pytest.raises(GradfitInputError, match=r"negative value -1.0 at position 0"):
        fit(X0, Y0, sample_weight=np.r_[-1.0, np.ones(29)])
    with pytest.raises(GradfitInputError, match="zero for every row"):
        fit(X0, Y0, sample_weight=np.zeros(30))


def test_non_finite_in_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nan.csv"
    path.write_text("a,b,y\n1,2,3\n,5,6\n7,8,10\n")
    # counted, the first named by its line in the file (the header is line 1)
    message = "1 of 3 rows have missing values (the first: line 3, column 'a')"
    with pytest.raises(GradfitInputError, match=re.escape(message)):
        GDRegressor().fit(str(path), None, target="y")
    code, err = cli(capsys, "fit", str(path), "-t", "y")
    assert code == 2 and f"nan.csv: {message}" in err and "--missing drop" in err


# -- shapes -----------------------------------------------------------------------------


def test_mismatched_rows() -> None:
    with pytest.raises(GradfitInputError, match=r"inconsistent numbers of samples: \[30, 29\]"):
        fit(X0, Y0[:29])
    with pytest.raises(GradfitInputError, match=r"X looks transposed: use X\.T"):
        fit(X0.T, Y0)
    with pytest.raises(GradfitInputError, match="y looks like a row vector"):
        fit(X0, Y0[None, :])
    with pytest.raises(GradfitInputError, match="sample_weight has 29 entries but X has 30 rows"):
        fit(X0, Y0, sample_weight=np.ones(29))


def test_zero_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(GradfitInputError, match=r"0 sample\(s\) \(shape=\(0, 3\)\)"):
        fit(np.zeros((0, 3)), np.zeros(0))
    path = tmp_path / "header.csv"
    path.write_text("a,b,y\n")
    with pytest.raises(GradfitInputError, match=r"header\.csv: has no data rows"):
        GDRegressor().fit(str(path), None, target="y")
    code, err = cli(capsys, "fit", str(path), "-t", "y")
    assert code == 2 and "0 sample(s)" in err


def test_one_row() -> None:
    x, y = np.array([[1.0, 2.0, 3.0]]), np.array([5.0])
    # with an intercept the centred data is zero: coef 0, intercept = y, exactly
    model = fit(x, y)
    assert np.array_equal(model.coef_, np.zeros(3)) and model.intercept_ == 5.0
    # without: the minimum-norm interpolant (lstsq's with standardize=False)
    model = fit(x, y, fit_intercept=False, standardize=False)
    np.testing.assert_allclose(model.coef_, np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-10)
    np.testing.assert_allclose(fit(x, y, fit_intercept=False).predict(x), y, rtol=1e-12)


def test_zero_features() -> None:
    with pytest.raises(GradfitInputError, match=r"0 feature\(s\) \(shape=\(5, 0\)\)"):
        fit(np.zeros((5, 0)), np.zeros(5))


def test_zero_features_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "only_y.csv"
    path.write_text("y\n1\n2\n")
    with pytest.raises(GradfitInputError, match="no feature columns are left"):
        GDRegressor().fit(str(path), None, target="y")


def test_wrong_dimensions() -> None:
    with pytest.raises(GradfitInputError, match=r"reshape\(-1, 1\)"):
        fit(X0[:, 0], Y0)
    with pytest.raises(GradfitInputError, match="Found array with dim 3"):
        fit(X0.reshape(30, 3, 1), Y0)


# -- singular problems ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cg", "gd", "exact"])
def test_constant_column(method: str) -> None:
    X = X0.copy()
    X[:, 1] = 5.0
    model = fit(X, Y0, method=method, tol=1e-10, max_iter=20000)
    expected = centred_lstsq(X, Y0)  # 0 for the constant column
    np.testing.assert_allclose(model.coef_, expected, atol=1e-8)
    assert abs(model.coef_[1]) < 1e-12
    np.testing.assert_allclose(model.predict(X), X @ expected + model.intercept_, atol=1e-8)
    assert diagnose(X, Y0).spectrum.rank == 2


@pytest.mark.parametrize("method", ["cg", "gd", "nesterov", "exact", "sgd"])
def test_duplicated_and_collinear_columns(method: str) -> None:
    X = np.column_stack([X0, 2.0 * X0[:, 0]])  # column 3 = 2 × column 0
    # numpy.linalg.lstsq's minimum Euclidean-norm solution in the user's units, with and
    # without standardisation (issue 11): the weight 1 of x0 is split as 0.2·x0 + 0.4·x3
    for standardize in (True, False):
        model = fit(
            X, Y0, method=method, tol=1e-10, max_iter=20000, random_state=0, standardize=standardize
        )
        if method == "sgd" and not model.converged_:
            continue  # stochastic: checked only where it converged
        np.testing.assert_allclose(model.coef_, centred_lstsq(X, Y0), atol=1e-6)
        np.testing.assert_allclose(model.coef_, [0.2, 2.0, 3.0, 0.4], atol=1e-6)


def test_collinear_diagnosis() -> None:
    X = np.column_stack([X0, X0[:, 0]])  # an exact duplicate
    model = fit(X, Y0)
    np.testing.assert_allclose(model.coef_, [0.5, 2.0, 3.0, 0.5], atol=1e-8)
    advice = " ".join(r.text for r in diagnose(X, Y0).recommendations)
    assert "numerical rank is 3 of D = 4" in advice and "linearly dependent" in advice
    assert re.search(r"combines x[03] \([+-]0\.71\), x[03] \([+-]0\.71\)", advice)


def test_more_features_than_rows() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(5, 10)), rng.normal(size=5)
    model = fit(X, y, standardize=False, tol=1e-12)
    np.testing.assert_allclose(model.coef_, centred_lstsq(X, y), atol=1e-8)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-8)  # interpolates
    scaled = fit(X, y, tol=1e-12)  # standardised too: the same minimum-norm interpolant
    np.testing.assert_allclose(scaled.coef_, centred_lstsq(X, y), atol=1e-8)
    np.testing.assert_allclose(scaled.predict(X), y, atol=1e-8)
    advice = " ".join(r.text for r in diagnose(X, y).recommendations)
    assert "numerical rank is 4 of D = 10" in advice and "more features (10)" in advice


# -- values near the float limits -------------------------------------------------------


@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("scale", [1e300, 1e160, 1e60, 1e-60, 1e-160, 1e-300])
def test_extreme_magnitudes_fit_correctly(where: str, scale: float) -> None:
    # issue 11 (9): columns beyond 1e±50 are brought into range by exact powers of two and
    # the coefficients scaled back, so any finite data whose answer is representable fits
    X, y = (X0 * scale, Y0) if where == "X" else (X0, Y0 * scale)
    for params in ({"gradient": "stats"}, {"gradient": "data"}, {"method": "exact"}):
        model = fit(X, y, tol=1e-10, **params)
        sx, sy = (scale, 1.0) if where == "X" else (1.0, scale)
        np.testing.assert_allclose(model.coef_ * sx / sy, COEF0, rtol=1e-6)
        np.testing.assert_allclose(model.intercept_ / sy, 1.0, rtol=1e-6)


def test_an_answer_beyond_float64_or_a_penalty_on_extreme_columns_is_refused() -> None:
    with pytest.raises(GradfitInputError, match=r"beyond float64: rescale X or y"):
        fit(X0 * 1e-300, Y0 * 1e10)  # coefficients near 1e310
    with pytest.raises(GradfitInputError, match=r"^X column 0 is too large: .*rescale X and y"):
        fit(X0 * 1e300, Y0, alpha=0.1)  # the penalty would change with the scaling


def test_magnitudes_are_scaled_per_column() -> None:
    X = X0.copy()
    X[:, 2] *= 1e-200
    model = fit(X, Y0, tol=1e-10)
    np.testing.assert_allclose(model.coef_ * [1, 1, 1e-200], COEF0, rtol=1e-6)
    X = X0.copy()
    X[:, 1] = 0.0  # an all-zero column is fine (its coefficient is 0)
    X[3, 2] = 0.0
    model = fit(X, Y0)
    assert model.coef_[1] == 0.0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"standardize": False},
        {"gradient": "data"},
        {"gradient": "data", "standardize": False},
        {"method": "exact"},
        {"method": "gd", "standardize": False, "max_iter": 5000},
    ],
)
@pytest.mark.parametrize(
    "sx, sy", [(1e45, 1.0), (1.0, 1e45), (1e45, 1e45), (1e-45, 1.0), (1e-45, 1e-45), (1.0, 1e-45)]
)
def test_values_within_the_limits_fit_correctly(
    params: dict[str, Any], sx: float, sy: float
) -> None:
    model = fit(X0 * sx, Y0 * sy, tol=1e-8, **params)
    np.testing.assert_allclose(model.coef_ * sx / sy, COEF0, rtol=1e-5)
    np.testing.assert_allclose(model.intercept_ / sy, 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "text", "word"),
    [
        ("tiny.csv", "a,b,y\n1e-300,2,3\n-1e-300,5,6\n2e-300,8,10\n4e-300,1,0\n", "small"),
        ("huge.csv", "a,b,y\n1e300,2,3\n-1e300,5,6\n2e300,8,10\n4e300,1,0\n", "large"),
    ],
)
def test_files_beyond_1e50_fit_and_a_penalty_on_them_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, word: str
) -> None:
    # issue 11 (9): a file's columns beyond 1e±50 are rescaled by powers of two like
    # in-memory arrays (they were refused); with a penalty they still are, with the fix
    path = tmp_path / name
    path.write_text(text)
    frame = pd.read_csv(path)
    reference = GDRegressor(tol=1e-10).fit(frame[["a", "b"]].to_numpy(), frame["y"].to_numpy())
    model = GDRegressor(tol=1e-10).fit(str(path), None, target="y")
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    code, _ = cli(capsys, "fit", str(path), "-t", "y")
    assert code == 0
    with pytest.raises(GradfitInputError, match=rf"{name} column 0 \('a'\) is too {word}: "):
        GDRegressor(alpha=0.1).fit(str(path), None, target="y")
    code, err = cli(capsys, "fit", str(path), "-t", "y", "--alpha", "0.1")
    assert code == 2 and f"column 0 ('a') is too {word}" in err and "rescale X and y" in err


@pytest.mark.parametrize("gradient", ["stats", "data"])
@pytest.mark.parametrize("method", ["cg", "exact"])
def test_float32_whose_squares_overflow_float32(gradient: str, method: str) -> None:
    # (1e20)² = 1e40 > float32's 3.4e38: sums are accumulated in float64
    X = (X0 * 1e20).astype(np.float32)
    model = fit(X, Y0.astype(np.float32), gradient=gradient, method=method)
    assert model.coef_.dtype == np.float32
    np.testing.assert_allclose(model.coef_ * 1e20, COEF0, rtol=1e-5)
    model = fit(X0.astype(np.float32), (Y0 * 1e20).astype(np.float32), gradient=gradient)
    np.testing.assert_allclose(model.coef_ / 1e20, COEF0, rtol=1e-5)


def test_float32_large_x_and_y_on_the_stats_engine() -> None:
    X, y = (X0 * 1e30).astype(np.float32), (Y0 * 1e30).astype(np.float32)
    model = fit(X, y, gradient="stats")
    np.testing.assert_allclose(model.coef_, COEF0, rtol=1e-5)


def test_float32_large_x_and_y_on_the_data_path() -> None:
    X, y = (X0 * 1e20).astype(np.float32), (Y0 * 1e20).astype(np.float32)
    model = fit(X, y, gradient="data")
    np.testing.assert_allclose(model.coef_, COEF0, rtol=1e-5)


def test_float32_coefficients_beyond_float32_range() -> None:
    X = (X0 * 1e-30).astype(np.float32)  # coefficients about 1e30 × 1e10 = 1e40
    with pytest.raises(GradfitInputError, match="float32"):
        fit(X, Y0 * 1e10)


# -- column types -----------------------------------------------------------------------


def test_integer_and_boolean_columns() -> None:
    Xi = np.round(X0 * 10).astype(np.int64)
    model = fit(Xi, Y0)
    np.testing.assert_allclose(model.coef_, centred_lstsq(Xi.astype(float), Y0), rtol=1e-6)
    Xb = X0 > 0
    model = fit(Xb, Y0)
    np.testing.assert_allclose(model.coef_, centred_lstsq(Xb.astype(float), Y0), rtol=1e-6)
    frame = pd.DataFrame({"i": Xi[:, 0], "b": Xb[:, 1], "n": pd.array(Xi[:, 2], dtype="Int64")})
    model = fit(frame, Y0)
    np.testing.assert_allclose(
        model.coef_, centred_lstsq(frame.to_numpy(dtype=float), Y0), rtol=1e-6
    )


def test_nullable_integer_with_missing_value() -> None:
    frame = pd.DataFrame({"a": pd.array([1, None, 3, 4], dtype="Int64"), "b": [1.0, 2, 3, 5]})
    with pytest.raises(GradfitInputError, match=r"NaN at row 1, column 0 \('a'\)"):
        fit(frame, np.arange(4.0))


def test_object_columns() -> None:
    model = fit(X0.astype(object), Y0)  # numbers stored as objects are numbers
    np.testing.assert_allclose(model.coef_, COEF0, rtol=1e-6)
    X = X0.astype(object)
    X[2, 1] = "n/a"
    with pytest.raises(TypeError, match=r"non-numeric value 'n/a' at row 2, column 1"):
        fit(X, Y0)
    frame = pd.DataFrame({"a": X0[:, 0], "b": ["1.5"] * 29 + ["x"]})
    with pytest.raises(GradfitInputError, match=r"column 1 \('b'\) is not numeric.*'x' at row 29"):
        fit(frame, Y0)


def test_categorical_and_datetime_columns() -> None:
    frame = pd.DataFrame({"a": X0[:, 0], "c": pd.Categorical(["u", "v"] * 15)})
    # a category column is one-hot encoded (issue 13): 'u' is the reference level
    model = fit(frame, Y0)
    assert model.coef_names_ == ["a", "c=v"]
    indicator = np.column_stack([X0[:, 0], np.tile([0.0, 1.0], 15)])
    np.testing.assert_allclose(model.coef_, centred_lstsq(indicator, Y0), rtol=1e-6)
    frame = pd.DataFrame({"a": X0[:, 0], "t": pd.date_range("2020", periods=30)})
    with pytest.raises(GradfitInputError, match=r"\('t'\) is not numeric \(dates/times"):
        fit(frame, Y0)
    with pytest.raises(GradfitInputError, match="holds dates or durations"):
        fit(np.arange(30).astype("datetime64[D]").reshape(15, 2), Y0[:15])
    with pytest.raises(GradfitInputError, match="Complex data not supported"):
        fit(X0 + 1j, Y0)
    with pytest.raises(GradfitInputError, match="holds strings"):
        fit(X0.astype(str), Y0)


def test_column_types_in_files(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "a": X0[:, 0],
            "flag": X0[:, 1] > 0,
            "n": np.round(X0[:, 2] * 10).astype(np.int32),
            "c": pd.Categorical(["u", "v"] * 15),
            "t": pd.date_range("2020", periods=30),
            "y": Y0,
        }
    )
    parquet, csv = tmp_path / "types.parquet", tmp_path / "types.csv"
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False)
    numeric = frame[["a", "flag", "n"]].to_numpy(dtype=float)
    for path in (parquet, csv):
        model = GDRegressor().fit(str(path), None, target="y", features=["a", "flag", "n"])
        np.testing.assert_allclose(model.coef_, centred_lstsq(numeric, Y0), rtol=1e-6)
        with pytest.raises(GradfitInputError, match=r"column 't' is not numeric"):
            GDRegressor().fit(str(path), None, target="y", features=["a", "t"])
        # a text or category column is one-hot encoded (issue 13)
        model = GDRegressor().fit(str(path), None, target="y", features=["a", "c"])
        assert model.coef_names_ == ["a", "c=v"]
        indicator = np.column_stack([X0[:, 0], np.tile([0.0, 1.0], 15)])
        np.testing.assert_allclose(model.coef_, centred_lstsq(indicator, Y0), rtol=1e-6)


# -- files ------------------------------------------------------------------------------


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    pd.DataFrame({"a": X0[:, 0], "b": X0[:, 1], "y": Y0}).to_csv(path, index=False)
    return path


def test_target_missing_from_a_file(good_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(GradfitInputError, match=r"no target column 'z'; the columns are: 'a'"):
        GDRegressor().fit(str(good_csv), None, target="z")
    with pytest.raises(GradfitInputError, match="name the target column"):
        GDRegressor().fit(DataFile(good_csv), None)
    code, err = cli(capsys, "fit", str(good_csv), "-t", "z")
    assert code == 2 and "target column 'z' is not in good.csv; its columns are: a, b, y" in err


def test_malformed_csv_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,6,7\n8,9,10\n")
    with pytest.raises(GradfitInputError, match=r"ragged.csv: .*Expected 3 columns, got 4"):
        GDRegressor().fit(str(path), None, target="y")
    code, err = cli(capsys, "fit", str(path), "-t", "y")
    assert code == 2 and "cannot read ragged.csv as a comma-separated table" in err
    short = tmp_path / "short.csv"
    short.write_text("a,b,y\n1,2,3\n4,5\n8,9,10\n")
    with pytest.raises(GradfitInputError, match=r"short.csv: .*Expected 3 columns, got 2"):
        GDRegressor().fit(str(short), None, target="y")


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(GradfitInputError, match=r"empty.csv: is empty \(0 bytes\)"):
        GDRegressor().fit(str(path), None, target="y")
    code, err = cli(capsys, "fit", str(path), "-t", "y")
    assert code == 2 and "empty.csv is empty" in err
    parquet = tmp_path / "empty.parquet"
    parquet.write_bytes(b"")
    with pytest.raises(GradfitInputError, match=r"is empty \(0 bytes\)"):
        GDRegressor().fit(str(parquet), None, target="y")


def test_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = tmp_path / "header.csv"
    header.write_bytes("\xe2ge,b,y\n1,2,3\n4,5,6\n".encode("latin-1"))
    with pytest.raises(GradfitInputError, match=r"header.csv: is not UTF-8 text: byte b'\\xe2'"):
        GDRegressor().fit(str(header), None, target="y")
    body = tmp_path / "body.csv"
    body.write_bytes("a,b,y\n1,2,3\n\xe9,5,6\n".encode("latin-1"))
    with pytest.raises(GradfitInputError, match="column 'a' holds bytes that are not UTF-8"):
        GDRegressor().fit(str(body), None, target="y")
    for path in (header, body):
        code, err = cli(capsys, "fit", str(path), "-t", "y")
        assert code == 2 and "'utf-8' codec can't decode byte" in err


@pytest.mark.parametrize("keep", [0.5, 0.9, -8])
def test_truncated_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: float) -> None:
    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": X0[:, 0], "y": Y0}).to_parquet(good, index=False)
    data = good.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)])
    with pytest.raises(GradfitInputError, match=r"cut.parquet: is truncated or corrupt"):
        GDRegressor().fit(str(cut), None, target="y")
    code, err = cli(capsys, "fit", str(cut), "-t", "y")
    assert code == 2 and "cannot read cut.parquet as Parquet" in err


def test_file_that_is_another_format(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X0[:, 0], "y": Y0}).to_parquet(path, index=False)
    with pytest.raises(
        GradfitInputError, match="is not a CSV file: byte offset 0 shows it is a Pa"
    ):
        GDRegressor().fit(str(path), None, target="y")


# -- model files ------------------------------------------------------------------------


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gfm"
    save_model(GDRegressor().fit(X0, Y0), path)
    return path


def rewrite_member(path: Path, member: str, change: Any) -> None:
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members[member] = change(members[member])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:], "corrupt"),
        (lambda b: b"", "truncated"),
        (lambda b: b"not a model at all\n", "not_a_model"),
    ],
)
def test_corrupt_model_file(
    model_file: Path, capsys: pytest.CaptureFixture[str], damage: Any, reason: str
) -> None:
    model_file.write_bytes(damage(model_file.read_bytes()))
    with pytest.raises(GradfitModelError) as info:
        load_model(model_file)
    assert info.value.reason == reason and str(info.value).startswith("model.gfm")
    code, err = cli(capsys, "predict", str(model_file), str(model_file))
    assert code == 2 and "model.gfm" in err


def test_model_from_a_newer_version(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def newer(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["format_version"] = 99
        return json.dumps(meta).encode()

    rewrite_member(model_file, "metadata.json", newer)
    with pytest.raises(GradfitModelError, match="upgrade gradfit") as info:
        load_model(model_file)
    assert info.value.reason == "too_new" and "99" in str(info.value)
    code, err = cli(capsys, "predict", str(model_file), str(model_file))
    assert code == 2 and "upgrade" in err


# -- the same through a real process: exit status 2, a message, no traceback -----------------


@pytest.mark.slow
def test_command_line_processes_end_without_a_traceback(tmp_path: Path, model_file: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("\xe2,y\n1,2\n".encode("latin-1"))
    (tmp_path / "cut.parquet").write_bytes(b"PAR1" + b"\0" * 40)
    (tmp_path / "nan.csv").write_text("a,y\n1,2\n,3\n")
    broken = tmp_path / "broken.gfm"
    broken.write_bytes(model_file.read_bytes()[:300])
    runs = [
        ["fit", "latin.csv", "-t", "y"],
        ["fit", "cut.parquet", "-t", "y"],
        ["fit", "nan.csv", "-t", "y"],
        ["predict", "broken.gfm", "nan.csv"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gradfit.cli", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    for args, process in zip(runs, processes, strict=True):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 2, (args, err)
        assert "Traceback" not in err and err.startswith(f"gradfit {args[0]}: error: "), err
        assert len(err.strip().splitlines()) <= 2, err
