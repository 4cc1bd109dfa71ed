"""PyTorch input (on the CPU here): computed in torch, float32 kept, same fits as NumPy."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from gradfit import GDRegressor, GradfitInputError

torch = pytest.importorskip("torch")

from gradfit.problem.objective import LeastSquaresProblem  # noqa: E402
from gradfit.sources.device import XPProblem, is_device_array  # noqa: E402

METHODS = ["gd", "momentum", "nesterov", "cg", "exact", "sgd"]


def problem(n: int = 200, d: int = 6, k: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + rng.uniform(-3, 3, size=d)
    Y = X @ rng.normal(size=(d, k)) + 1.0 + 0.1 * rng.normal(size=(n, k))
    return X, Y


@pytest.fixture
def no_host_copy(monkeypatch):
    """Make any conversion of an N-row tensor to NumPy fail (small results may come back)."""
    limit = {"rows": None}
    numpy_original = torch.Tensor.numpy
    array_original = torch.Tensor.__array__

    def guard(self):
        if limit["rows"] is not None and self.ndim >= 1 and self.shape[0] == limit["rows"]:
            raise AssertionError(f"a tensor of shape {tuple(self.shape)} was copied to NumPy")

    def numpy(self, *args, **kwargs):
        guard(self)
        return numpy_original(self, *args, **kwargs)

    def array(self, *args, **kwargs):
        guard(self)
        return array_original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "numpy", numpy)
    monkeypatch.setattr(torch.Tensor, "__array__", array)
    return limit


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("gradient", ["auto", "data"])
@pytest.mark.parametrize("k", [1, 3])
def test_torch_equals_numpy(method, gradient, k, no_host_copy):
    X, Y = problem(k=k, seed=k)
    y = Y[:, 0] if k == 1 else Y
    sw = np.random.default_rng(3).uniform(0.5, 2.0, size=len(X))
    settings = {"method": method, "random_state": 0, "alpha": 0.01}
    if method != "exact":
        settings["gradient"] = gradient
    settings.update({"tol": 1e-6, "max_iter": 20} if method == "sgd" else {"tol": 1e-12})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GDRegressor(**settings).fit(X, y, sw)
        no_host_copy["rows"] = len(X)
        model = GDRegressor(**settings).fit(
            torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(sw), array_output=True
        )
        pred = model.predict(torch.from_numpy(X))
        no_host_copy["rows"] = None
    assert isinstance(model.coef_, torch.Tensor) and model.coef_.dtype == torch.float64
    assert model.engine_ == ref.engine_
    np.testing.assert_allclose(model.coef_.numpy(), ref.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(model.intercept_), ref.intercept_, rtol=1e-8)
    assert isinstance(pred, torch.Tensor) and tuple(pred.shape) == np.shape(ref.predict(X))
    np.testing.assert_allclose(pred.numpy(), ref.predict(X), rtol=1e-8)


def test_float32_stays_float32(no_host_copy, monkeypatch):
    X, Y = problem(n=3100, k=2)  # three float32 slabs of 1024 rows and a tail
    X32, Y32 = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(Y.astype(np.float32))
    seen = []
    original = XPProblem._pass

    def spy(self, W, with_targets):
        seen.append((self.X.dtype, self.Y.dtype))
        return original(self, W, with_targets)

    monkeypatch.setattr(XPProblem, "_pass", spy)
    no_host_copy["rows"] = len(X)
    model = GDRegressor(gradient="data", tol=1e-5).fit(X32, Y32, array_output=True)
    no_host_copy["rows"] = None
    assert seen and all(d == (torch.float32, torch.float32) for d in seen)
    assert model.coef_.dtype == torch.float32 and model.intercept_.dtype == torch.float32
    assert model.predict(X32).dtype == torch.float32
    ref = GDRegressor(gradient="data", tol=1e-5).fit(X.astype(np.float32), Y)
    np.testing.assert_allclose(model.coef_.numpy(), ref.coef_, rtol=1e-4)
    plain = GDRegressor(tol=1e-5).fit(X32, Y32)  # default: NumPy coefficients
    assert isinstance(plain.coef_, np.ndarray) and plain.coef_.dtype == np.float32


def test_problem_matches_numpy_problem():
    X, Y = problem(k=2)
    rng = np.random.default_rng(1)
    V, P = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    w = rng.uniform(0.5, 2.0, size=len(X))
    for sw in (None, w):
        t = XPProblem(
            torch.from_numpy(X),
            torch.from_numpy(Y),
            sample_weight=None if sw is None else torch.from_numpy(sw),
            alpha=0.1,
        )
        d = LeastSquaresProblem(X, Y, sample_weight=sw, alpha=0.1)
        for attr in ("x_offset", "y_offset", "x_rms", "x_scale", "loss_at_zero", "target_scale"):
            np.testing.assert_allclose(getattr(t, attr), getattr(d, attr), rtol=1e-12)
        for a, b in zip(t.loss_grad(V), d.loss_grad(V), strict=True):
            assert isinstance(a, np.ndarray) and a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(t.hvp(P), d.hvp(P), rtol=1e-12)
        np.testing.assert_allclose(t.max_row_norm2(), d.max_row_norm2(), rtol=1e-12)
        rows = np.arange(0, 200, 9)
        np.testing.assert_allclose(t.batch_grad(V, rows), d.batch_grad(V, rows), rtol=1e-12)


def test_numpy_targets_with_tensor_features():
    X, Y = problem()
    ref = GDRegressor(tol=1e-12).fit(X, Y[:, 0])
    model = GDRegressor(tol=1e-12).fit(torch.from_numpy(X), Y[:, 0].tolist())
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8)


def test_detection_does_not_import_torch():
    assert is_device_array(torch.zeros(2))
    assert not is_device_array(np.zeros(2))
    code = "import sys, gradfit; print('torch' in sys.modules, 'cupy' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_bad_tensor_input_messages():
    X = torch.ones(4, 2, dtype=torch.float64)
    X[2, 1] = float("nan")
    y = torch.arange(4, dtype=torch.float64)
    with pytest.raises(GradfitInputError, match=r"NaN at row 2, column 1"):
        GDRegressor().fit(X, y)
    good = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(GradfitInputError, match=r"inconsistent numbers of samples: \[4, 3\]"):
        GDRegressor().fit(good, y[:3])
    with pytest.raises(GradfitInputError, match="Expected 2D array, got 1D"):
        GDRegressor().fit(torch.ones(4), y)
    with pytest.raises(GradfitInputError, match="Complex data not supported"):
        GDRegressor().fit(torch.ones(4, 2, dtype=torch.complex64), y)
    bad_y = y.clone()
    bad_y[1] = float("inf")
    with pytest.raises(GradfitInputError, match=r"y contains inf at position 1"):
        GDRegressor().fit(good, bad_y)
    with pytest.raises(GradfitInputError, match=r"negative value -1\.0 at position 0"):
        GDRegressor().fit(good, y, torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    with pytest.raises(GradfitInputError, match="zero for every row"):
        GDRegressor().fit(good, y, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="array_output"):
        GDRegressor().fit(good, y, target="y")
    with pytest.raises(GradfitInputError, match="meta"):
        GDRegressor().fit(good, y.to("meta"))
    model = GDRegressor().fit(good, y)
    with pytest.raises(GradfitInputError, match="fitted with 2 features"):
        model.predict(torch.ones(3, 5, dtype=torch.float64))


def test_integer_tensors_become_float64():
    X = torch.tensor([[0, 1], [1, 0], [1, 1], [2, 1]])
    y = torch.tensor([1, 2, 3, 5])
    model = GDRegressor(tol=1e-12).fit(X, y, array_output=True)
    ref = GDRegressor(tol=1e-12).fit(X.numpy(), y.numpy())
    assert model.coef_.dtype == torch.float64
    np.testing.assert_allclose(model.coef_.numpy(), ref.coef_, rtol=1e-9)
