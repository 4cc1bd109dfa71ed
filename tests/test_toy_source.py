"""A source added in one file: rows from a Python generator of blocks.

Everything a new kind of input needs is below: a ``StreamSource`` subclass that
writes ``blocks()``, and one ``register`` line so that ``GDRegressor().fit`` finds
it. The planner is not touched: it chooses the engine for this source as for
any other. The command line reaches it with ``gradfit fit DATA --source
tests/test_toy_source.py:open_toy``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit.cli import main
from gradfit.sources.base import register, unregister
from gradfit.sources.files import StreamSource


@dataclass(frozen=True)
class ToyRows:
    """A description of the rows: how many, in blocks of how many, from which seed."""

    n_rows: int = 3000
    block: int = 700
    seed: int = 0
    outputs: int = 1


def toy_arrays(spec: ToyRows) -> tuple[np.ndarray, np.ndarray]:
    """All the rows at once (the reference the streamed fit must reproduce)."""
    parts = list(toy_blocks(spec))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def toy_blocks(spec: ToyRows):
    """The generator: a fresh one each time, so the rows can be read again."""
    rng = np.random.default_rng(spec.seed)
    W = np.array([[1.5, -1.0], [-2.0, 0.5], [0.25, 3.0]])[:, : spec.outputs]
    for start in range(0, spec.n_rows, spec.block):
        n = min(spec.block, spec.n_rows - start)
        X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, 0.0]
        Y = X @ W + 0.7 + 0.05 * rng.normal(size=(n, spec.outputs))
        yield X, Y


class ToySource(StreamSource):
    """The toy source: only ``blocks`` is written here."""

    kind = "toy"

    def __init__(self, spec: ToyRows, **options) -> None:
        targets = ["y"] if spec.outputs == 1 else [f"y{k}" for k in range(spec.outputs)]
        super().__init__(
            3,
            spec.outputs,
            feature_names=["a", "b", "c"],
            target_names=targets,
            was_1d=spec.outputs == 1,
            label=f"toy rows {spec}",
            **options,
        )
        self.spec = spec

    def blocks(self):
        return toy_blocks(self.spec)


def open_toy_rows(X, y, sample_weight, params):
    return ToySource(X, **params)


register("toy", lambda X: isinstance(X, ToyRows), open_toy_rows)  # the registration line


def open_toy(data: str, targets: list[str], features: list[str] | None) -> ToySource:
    """For ``gradfit fit "rows=3000,seed=2" -t y --source tests/test_toy_source.py:open_toy``."""
    fields = dict(item.split("=") for item in data.split(",") if item)
    return ToySource(ToyRows(**{k: int(v) for k, v in fields.items()}))


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"method": "cg", "tol": 1e-11},
        {"method": "exact"},
        {"method": "cg", "tol": 1e-11, "gradient": "data"},
        {"method": "nesterov", "tol": 1e-9, "max_iter": 5000, "alpha": 0.1},
    ],
    ids=["cg-stats", "exact", "cg-data", "nesterov-ridge"],
)
@pytest.mark.parametrize("outputs", [1, 2])
def test_the_toy_source_gives_the_numpy_answer(params, outputs) -> None:
    spec = ToyRows(outputs=outputs)
    X, Y = toy_arrays(spec)
    reference = GDRegressor(**params).fit(X, Y[:, 0] if outputs == 1 else Y)
    model = GDRegressor(**params).fit(spec, None)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9)
    assert np.shape(model.coef_) == np.shape(reference.coef_)
    assert model.engine_ == reference.engine_
    assert "was read once (3000 rows)" in model.engine_reason_
    assert list(model.feature_names_in_) == ["a", "b", "c"]


def test_the_planner_decides_for_the_toy_source_too() -> None:
    model = GDRegressor(method="sgd", max_iter=3, random_state=0).fit(ToyRows(), None)
    assert model.engine_ == "data" and "mini-batches" in model.engine_reason_
    with pytest.raises(ValueError, match="sgd"):
        GDRegressor(method="sgd", gradient="stats").fit(ToyRows(), None)


def test_a_bad_block_is_named() -> None:
    class Bad(ToySource):
        def blocks(self):
            yield np.ones((4, 3)), np.ones((4, 1))
            yield np.ones((4, 2)), np.ones((4, 1))

    with pytest.raises(Exception, match="every block must have"):
        GDRegressor().fit(Bad(ToyRows()), None)


def test_the_toy_source_through_the_command_line(tmp_path, capsys) -> None:
    model_path = tmp_path / "toy.gfm"
    predictions = tmp_path / "toy.csv"
    code = main(
        [
            "fit",
            "n_rows=2000,seed=3",
            "-t",
            "y",
            "--source",
            f"{__file__}:open_toy",
            "--tol",
            "1e-11",
            "--json",
            "-o",
            str(model_path),
            "--predictions",
            str(predictions),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    X, Y = toy_arrays(ToyRows(n_rows=2000, seed=3))
    reference = GDRegressor(tol=1e-11).fit(X, Y[:, 0])
    got = summary["scores"][0]["coefficients"]
    np.testing.assert_allclose([got[n] for n in "abc"], reference.coef_, rtol=1e-9)
    assert summary["n_samples"] == 2000 and summary["streamed"] is True
    P = np.loadtxt(predictions, delimiter=",", skiprows=1)
    np.testing.assert_allclose(P, reference.predict(X), rtol=1e-9, atol=1e-9)
    residual = Y[:, 0] - reference.predict(X)
    r2 = 1 - np.sum(residual**2) / np.sum((Y[:, 0] - Y[:, 0].mean()) ** 2)
    assert summary["scores"][0]["r2"] == pytest.approx(r2, rel=1e-9)


def test_unregistered_the_toy_input_is_refused() -> None:
    unregister("toy")
    try:
        with pytest.raises((TypeError, ValueError)):
            GDRegressor().fit(ToyRows(), None)
    finally:
        register("toy", lambda X: isinstance(X, ToyRows), open_toy_rows)
