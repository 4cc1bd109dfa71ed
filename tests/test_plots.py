"""Plots: the expected artists, with the computed data on them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from gradfit import ConvergenceWarning, GDRegressor, GradfitInputError, History
from gradfit.plots import (
    loss_floor,
    plot_learning_rate_sweep,
    plot_loss,
    plot_paths,
    plot_per_output_loss,
    save_figure,
)


def by_gid(ax, gid):
    found = [a for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True, scaled=False)


def history_with_events() -> History:
    h = History()
    losses = [10.0, 5.0, 6.0, 2.5, 2.0, 1.0]
    for loss in losses:
        h.append(loss, np.array([loss]), 1.0, 1.0, 0.1)
    h.event(2, "rollback", "loss rose; step halved")
    h.event(4, "restart", "momentum reset")
    h.event(4, "refresh", "not drawn")
    h.finish()
    return h


def test_loss_curve_log_scale_with_events() -> None:
    h = history_with_events()
    ax = plot_loss(h)
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(by_gid(ax, "loss").get_ydata(), h.loss)
    rollback = by_gid(ax, "event_rollback")
    assert rollback.get_marker() == "v"
    assert list(rollback.get_xdata()) == [2] and list(rollback.get_ydata()) == [6.0]
    restart = by_gid(ax, "event_restart")
    assert list(restart.get_xdata()) == [4] and list(restart.get_ydata()) == [2.0]
    assert not [line for line in ax.lines if line.get_gid() == "event_refresh"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "rollback (step halved)" in labels


def test_loss_above_optimum_and_ax_reuse(diabetes) -> None:
    X, y = diabetes
    fig = Figure()
    ax = fig.add_subplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gd = GDRegressor(method="gd", max_iter=2000, tol=1e-9).fit(X, y)
    cg = GDRegressor(tol=1e-9).fit(X, y)
    f_star = 0.5 * np.mean((LinearRegression().fit(X, y).predict(X) - y) ** 2)
    assert plot_loss(gd, ax=ax, optimum=f_star, label="gd") is ax
    plot_loss(cg, ax=ax, optimum=f_star, label="cg")
    curves = [line for line in ax.lines if line.get_gid() == "loss"]
    assert len(curves) == 2
    expected = gd.history_.loss - f_star
    shown = curves[0].get_ydata()
    floor = loss_floor(expected, f_star)
    above = expected > floor
    np.testing.assert_allclose(shown[above], expected[above])
    assert np.all(shown[~above] == floor)  # clipped at the floor, not dropped
    assert ax.get_ylabel() == "loss − f*"


def test_per_output_lines() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = X @ rng.normal(size=(3, 3)) + rng.normal(size=(80, 3))
    model = GDRegressor(method="gd").fit(X, Y)
    ax = plot_per_output_loss(model, target_names=["a", "b", "c"])
    assert ax.get_yscale() == "log"
    per_output = np.asarray(model.history_.loss_per_output)
    for k in range(3):
        np.testing.assert_allclose(by_gid(ax, f"loss_{k}").get_ydata(), per_output[:, k])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(GradfitInputError):
        plot_per_output_loss(model, target_names=["a"])
    f_star = [0.5, 0.25, 0.125]
    shifted = plot_per_output_loss(model, optimum=f_star)
    expected = per_output[:, 1] - 0.25
    shown = by_gid(shifted, "loss_1").get_ydata()
    floor = loss_floor(expected, 0.25)
    np.testing.assert_allclose(shown[expected > floor], expected[expected > floor])
    assert shifted.get_ylabel() == "loss − f* per output"
    with pytest.raises(TypeError, match="fit the model first"):
        plot_loss(GDRegressor())


def test_sweep_marks_two_over_l(diabetes) -> None:
    X, y = diabetes
    ax = plot_learning_rate_sweep(X, y, steps=30)
    Xc = X - X.mean(axis=0)
    Z = Xc / np.sqrt(np.mean(Xc**2, axis=0))
    L = np.linalg.eigvalsh(Z.T @ Z / len(Z))[-1]
    bound = by_gid(ax, "stability_bound")
    assert bound.get_xdata()[0] == pytest.approx(2 / L, rel=1e-9)
    assert by_gid(ax, "auto_rate").get_xdata()[0] == pytest.approx(1 / L, rel=1e-9)
    stable, unstable = by_gid(ax, "sweep_stable"), by_gid(ax, "sweep_unstable")
    assert np.all(stable.get_xdata() < 2 / L) and np.all(stable.get_ydata() < 1)
    assert np.all(unstable.get_xdata() > 2 / L) and np.all(unstable.get_ydata() > 1)
    assert len(stable.get_xdata()) + len(unstable.get_xdata()) == 24
    assert ax.get_yscale() == "log"


def test_paths_on_contours(diabetes) -> None:
    X, y = diabetes
    ax = plot_paths(X, y, features=[4, 5], max_iter=10)
    contours = by_gid(ax, "loss_contours")
    assert isinstance(contours, ContourSet)
    Xc = X[:, [4, 5]] - X[:, [4, 5]].mean(axis=0)
    w_star = np.linalg.lstsq(Xc, y - y.mean(), rcond=None)[0]
    star = by_gid(ax, "optimum")
    np.testing.assert_allclose([star.get_xdata()[0], star.get_ydata()[0]], w_star, rtol=1e-9)

    def loss(w):
        return 0.5 * np.mean((Xc @ w - (y - y.mean())) ** 2)

    for method in ("gd", "momentum", "nesterov", "cg"):
        line = by_gid(ax, f"path_{method}")
        path = np.column_stack([line.get_xdata(), line.get_ydata()])
        np.testing.assert_array_equal(path[0], [0.0, 0.0])
        losses = [loss(w) for w in path]
        assert np.all(np.diff(losses) <= 1e-9 * losses[0]), method
    cg = by_gid(ax, "path_cg")
    assert len(cg.get_xdata()) == 3  # two conjugate steps solve a 2-feature problem
    np.testing.assert_allclose([cg.get_xdata()[-1], cg.get_ydata()[-1]], w_star, rtol=1e-8)
    assert ax.get_xlabel() == "w[x4]"


def test_default_pair_is_the_most_correlated() -> None:
    rng = np.random.default_rng(2)
    A = rng.normal(size=(100, 4))
    A[:, 3] = A[:, 1] + 0.1 * rng.normal(size=100)
    ax = plot_paths(A, A @ [1.0, 1.0, 1.0, 1.0], max_iter=3, methods=("gd",))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w[x1]", "w[x3]")
    with pytest.raises(GradfitInputError, match="two"):
        plot_paths(A, A[:, 0], features=[1])


def test_save_png_and_svg(tmp_path) -> None:
    ax = plot_loss(history_with_events())
    png = save_figure(ax, tmp_path / "loss.png", dpi=50)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_figure(ax.figure, tmp_path / "loss.svg")
    assert "<svg" in svg.read_text()
    with pytest.raises(GradfitInputError, match=r"\.png or \.svg"):
        save_figure(ax, tmp_path / "loss.jpg")


def test_headless_without_pyplot(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ.pop("DISPLAY", None); os.environ.pop("MPLBACKEND", None)
        import numpy as np
        from gradfit import GDRegressor
        from gradfit.plots import plot_loss, save_figure
        X = np.random.default_rng(0).normal(size=(50, 2)); y = X @ [1.0, 2.0]
        save_figure(plot_loss(GDRegressor(method="gd").fit(X, y)), {str(tmp_path / "h.png")!r})
        print("matplotlib.pyplot" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_a_converged_fit_keeps_its_last_iterations_at_the_floor(diabetes) -> None:
    """f − f* rounds to 0 or below at the end of a converged fit: drawn at the floor, marked."""
    X, y = diabetes
    model = GDRegressor(tol=1e-12).fit(X, y)  # cg: reaches f* to rounding
    f_star = 0.5 * np.mean((LinearRegression().fit(X, y).predict(X) - y) ** 2)
    loss = np.asarray(model.history_.loss)
    eps = np.finfo(np.float64).eps
    for optimum in (f_star, float(loss.min())):  # the last gap: rounding, then exactly 0
        gaps = loss - optimum
        floor = loss_floor(gaps, optimum)
        assert floor == pytest.approx(64 * eps * max(optimum, loss[0]))
        low = gaps <= floor
        assert low[-1], "the test needs a fit whose last gap is rounding"
        ax = plot_loss(model, optimum=optimum)
        shown = by_gid(ax, "loss").get_ydata()
        assert len(shown) == len(gaps) and np.all(np.isfinite(shown))  # no iteration dropped
        assert np.all(shown[low] == floor) and np.all(shown[~low] == gaps[~low])
        marked = by_gid(ax, "floor")
        assert list(marked.get_xdata()) == list(np.flatnonzero(low))
        assert any("rounding floor" in t.get_text() for t in ax.get_legend().get_texts())
        per_output = plot_per_output_loss(model, optimum=[optimum])
        assert np.all(by_gid(per_output, "loss_0").get_ydata()[low] == floor)
        assert by_gid(per_output, "floor_0") is not None
