"""Every number shown is right: the values ``explain``, ``diagnose``, the CLI summary and the
report display, read back from their text and checked against an independent computation
(numpy's ``eigvalsh`` of the Hessian, ``lstsq``, scikit-learn's metrics, a plain loop).

A row that printed 1/L where it says 2/L, or a loss of the wrong loop, fails here.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

import gradfit
from gradfit import ConvergenceWarning, GDRegressor
from gradfit.cli import main

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
EPS = float(np.finfo(np.float64).eps)


def cell(text: str, label: str) -> float:
    """The last cell of the table row whose first cell is ``label``."""
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if parts and parts[0] == label:
            return float(parts[-1])
    raise AssertionError(f"no row {label!r} in:\n{text}")


def row(text: str, label: str) -> list[str]:
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if parts and parts[0] == label:
            return parts
    raise AssertionError(f"no row {label!r} in:\n{text}")


def after(text: str, words: str) -> float:
    """The number right after ``words`` (whitespace-insensitive)."""
    flat = " ".join(text.split())
    match = re.search(re.escape(" ".join(words.split())) + r"\s*(" + NUMBER + ")", flat)
    assert match, f"{words!r} not found in:\n{text}"
    return float(match.group(1))


def close(shown: float, value: float, digits: int) -> None:
    """``shown`` is ``value`` printed with ``digits`` significant digits."""
    assert shown == pytest.approx(value, rel=0.51 * 10.0 ** (1 - digits)), (shown, value)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return X, y


class Reference:
    """The loop's data and Hessian, computed with numpy only."""

    def __init__(self, X, y, fit_intercept=True, standardize=True, alpha=0.0) -> None:
        self.N, self.D = X.shape
        Xc = X - X.mean(axis=0) if fit_intercept else X
        self.s = np.sqrt(np.mean(Xc * Xc, axis=0)) if standardize else np.ones(self.D)
        self.Z = Xc / self.s
        self.T = y - y.mean() if fit_intercept else y
        self.penalty = alpha / self.s**2
        H = self.Z.T @ self.Z / self.N + np.diag(self.penalty)
        eig = np.linalg.eigvalsh(H)
        self.L, self.mu = float(eig[-1]), float(eig[0])
        self.raw_L = float(np.linalg.eigvalsh(X.T @ X / self.N)[-1])

    def loss(self, V: np.ndarray) -> float:
        R = self.Z @ V - self.T
        return 0.5 * float(np.mean(R * R)) + 0.5 * float(np.sum(self.penalty * V * V))

    def seed_losses(self, lr: float, steps: int) -> list[float]:
        V = np.zeros(self.D)
        losses = [self.loss(V)]
        for _ in range(steps):
            V = V + lr * (self.Z.T @ (self.T - self.Z @ V) / self.N - self.penalty * V)
            losses.append(self.loss(V))
        return losses


def iterations(lr: float, L: float, mu: float, tol: float) -> float:
    rho = max(abs(1 - lr * mu), abs(1 - lr * L))
    return math.log(1 / tol) / -math.log(rho)


# -- explain ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fit_intercept": False, "standardize": False, "alpha": 0.5},
    ],
)
def test_every_number_of_explain(diabetes, options) -> None:
    X, y = diabetes
    if options:  # a raw loop needs columns of moderate size to stay readable
        X = X / np.abs(X).max(axis=0)
    ref = Reference(X, y, **options)
    e = gradfit.explain(X, y, **options)
    text = e.to_text()
    L, mu, N = ref.L, ref.mu, ref.N
    close(cell(text, "L = λmax of the Hessian (Lanczos, as gradfit uses it)"), L, 6)
    close(cell(text, "λmax by numpy.linalg.eigvalsh (cross-check)"), L, 6)
    close(cell(text, "μ = smallest eigenvalue (estimate)"), mu, 5)
    close(cell(text, "κ = L/μ"), L / mu, 5)
    close(cell(text, "largest stable learning rate 2/L"), 2 / L, 6)
    close(cell(text, "gradfit's automatic rate 1/L"), 1 / L, 6)
    close(
        cell(text, "gd iterations at 1/L to reach tol = 1e-06"), iterations(1 / L, L, mu, 1e-6), 3
    )
    assert e.stability_bound == pytest.approx(2 / L, rel=1e-9)
    # the loop at 0.9 and 1.1 × 2/L, from w = 0: its rate and its first losses
    for factor in (0.9, 1.1):
        lr = factor * 2 / L
        close(after(text, f"lr = {factor} × 2/L ="), lr, 6)
        flat = " ".join(text.split())
        trace = flat.split(f"lr = {factor} × 2/L =")[1].split("lr =")[0]
        shown = {int(t): float(v) for t, v in re.findall(r"t=(\d+): (" + NUMBER + ")", trace)}
        losses = ref.seed_losses(lr, 5)
        for t in (0, 1, 2, 5):
            close(shown[t], losses[t], 6)
    close(after(text, "close to the predicted (1 − lr·L)² ="), (1 - 1.1 * 2) ** 2, 3)
    # why /N: the subsets' safe rates are 2/L of their own L, and the sum's L is n × the mean's
    table = text.split("rows n")[1].split("From ")[0]
    body = [line.split() for line in table.splitlines()[2:] if line.strip()]
    assert body and int(body[-1][0]) == N
    for n, l_mean, safe, l_sum, safe_sum in body:
        close(float(safe), 2 / float(l_mean), 3)
        close(float(l_sum), int(n) * float(l_mean), 3)
        close(float(safe_sum), 2 / float(l_sum), 3)
    L_data = float(np.linalg.eigvalsh(ref.Z.T @ ref.Z / N)[-1])  # the table: data term only
    close(float(body[-1][1]), L_data, 4)
    close(after(text, "2/(N·L) ="), 2 / (N * L), 4)
    # the seed's loop exactly as written: raw x, no centring, no scaling, no penalty
    lr = 1e-4
    close(after(text, "(raw x, no centring or scaling) L ="), ref.raw_L, 6)
    raw = " ".join(text.split()).split("(raw x, no centring or scaling)")[1]
    close(after(raw, "and 2/L ="), 2 / ref.raw_L, 6)
    verdict = "UNSTABLE" if lr > 2 / ref.raw_L else "stable"
    assert f"{lr:g} is {verdict}" in " ".join(text.split())
    close(after(text, "the loss went from"), 0.5 * float(np.mean(y * y)), 6)
    if lr < 2 / L:
        close(after(text, "gd needs about"), iterations(lr, L, mu, 1e-6), 4)
    # the gradient at the probe w shown in step 1, and the errors of step 5, from the probe
    V = np.asarray(e.probe)[:, 0]
    G = ref.Z.T @ (ref.Z @ V - ref.T) / N + ref.penalty * V
    entries = re.findall(rf"w\[(\d+)\] \(\S+\)\s+({NUMBER})\s+({NUMBER})", text)
    assert len(entries) >= min(10, ref.D)
    for j, finite_difference, formula in entries:
        close(float(formula), G[int(j)], 10)
        assert float(finite_difference) == pytest.approx(G[int(j)], rel=1e-6, abs=1e-9)
    error = ref.T - ref.Z @ V
    samples = re.findall(rf"sample (\d+)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})", text)
    assert samples
    for i, derivative, err, ratio in samples:
        close(float(err), error[int(i)], 8)
        assert float(derivative) == pytest.approx(-error[int(i)] / N, rel=1e-5)
        close(float(ratio), -N, 6)
    short = text.split("Your data and the loop")[0]
    close(after(short, "any rate below 2/L ="), 2 / L, 4)
    close(after(short, "(1/L ="), 1 / L, 4)
    close(after(short, "your raw data is stable below"), 2 / ref.raw_L, 4)


# -- diagnose ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def early(diabetes):
    """A gd fit stopped after 30 iterations: every distance is macroscopic."""
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GDRegressor(method="gd", max_iter=30).fit(X, y)


def test_every_number_of_diagnose(diabetes, early) -> None:
    X, y = diabetes
    N, D = X.shape
    text = gradfit.diagnose(X, y, model=early).to_text()
    scaled = Reference(X, y)
    unscaled = Reference(X, y, standardize=False)
    for label, ref in (("centred, unscaled", unscaled), ("centred, standardized", scaled)):
        _, L, mu, kappa, kappa_eps, bound = row(text, label)
        close(float(L), ref.L, 4)
        close(float(mu), ref.mu, 4)
        close(float(kappa), ref.L / ref.mu, 4)
        close(float(kappa_eps), ref.L / ref.mu * EPS, 3)
        close(float(bound), 2 / ref.L, 4)
    close(after(text, "Largest stable learning rate for gd: 2/L ="), 2 / scaled.L, 4)
    assert "in gradfit's loop (centred, standardized coordinates)" in " ".join(text.split())
    close(after(text, "uses 1/L with L from Lanczos ="), scaled.L, 4)
    close(after(text, "(1/L ="), 1 / scaled.L, 4)
    kappa, log_tol = scaled.L / scaled.mu, math.log(1e6)
    close(float(row(text, "gd")[1]), kappa * log_tol, 3)
    close(float(row(text, "momentum")[1]), math.sqrt(kappa) * log_tol, 3)
    close(float(row(text, "nesterov")[1]), math.sqrt(kappa) * log_tol, 3)
    close(float(row(text, "cg")[1]), min(D, math.sqrt(kappa) * log_tol), 3)
    # after the fit: against lstsq and the loop's own gradient, computed here
    A = np.column_stack([X, np.ones(N)])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    W_star, b_star = solution[:D], solution[D]
    W, b = early.coef_, float(early.intercept_)
    f = 0.5 * float(np.mean((X @ W + b - y) ** 2))
    f_star = 0.5 * float(np.mean((X @ W_star + b_star - y) ** 2))
    V = W * scaled.s
    G = scaled.Z.T @ (scaled.Z @ V - scaled.T) / N
    G0 = scaled.Z.T @ (-scaled.T) / N
    g = float(np.linalg.norm(G))
    close(cell(text, "loss f(W, b)"), f, 10)
    close(cell(text, "gradient norm ‖G‖ (loop coordinates)"), g, 3)
    close(cell(text, "relative gradient norm per output"), g / float(np.linalg.norm(G0)), 3)
    close(cell(text, "bound on ‖W − W*‖ from ‖G‖/μ"), g / (scaled.mu * scaled.s.min()), 3)
    close(cell(text, "bound on f − f* from ‖G‖²/(2μ)"), g * g / (2 * scaled.mu), 3)
    close(cell(text, "exact optimum f* (least squares by SVD)"), f_star, 10)
    close(cell(text, "f − f*"), f - f_star, 3)
    close(cell(text, "‖W − W*‖ to the exact solution"), float(np.linalg.norm(W - W_star)), 3)
    relative = float(np.linalg.norm(W - W_star) / np.linalg.norm(W_star))
    close(cell(text, "‖W − W*‖ / ‖W*‖"), relative, 3)
    close(cell(text, "‖b − b*‖"), abs(b - b_star), 3)


# -- the CLI summary and the report -------------------------------------------------------------
@pytest.fixture(scope="module")
def csv(diabetes, tmp_path_factory) -> Path:
    import pandas as pd

    X, y = diabetes
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    frame = pd.DataFrame(X, columns=names).assign(progression=y)
    path = tmp_path_factory.mktemp("numbers") / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def test_every_number_of_the_fit_summary_and_report(diabetes, early, csv, capsys) -> None:
    X, y = diabetes
    N, D = X.shape
    report = csv.parent / "report.html"
    argv = ["fit", str(csv), "-t", "progression", "--method", "gd", "--max-iter", "30"]
    assert main([*argv, "--report", str(report), "--no-explain"]) == 0
    text = capsys.readouterr().out
    scaled = Reference(X, y)
    assert f"N={N} rows, D={D} features, K=1 target (progression)" in text
    assert after(text, "iterations") == 30
    close(after(text, "; L ="), scaled.L, 4)
    close(after(text, "κ ≈"), scaled.L / scaled.mu, 4)
    A = np.column_stack([X, np.ones(N)])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    W_star, b_star = solution[:D], solution[D]
    # the CLI's model is the in-process one (deterministic): its coefficients are printed
    W, b = early.coef_, float(early.intercept_)
    close(after(text, "(intercept)"), b, 8)
    for name, value in zip(["age", "sex", "bmi", "s5"], W[[0, 1, 2, 8]], strict=True):
        close(float(row(text, name)[1]), value, 8)
    relative = float(np.linalg.norm(W - W_star) / np.linalg.norm(W_star))
    close(after(text, "‖W − W*‖/‖W*‖ ="), relative, 3)
    f = 0.5 * float(np.mean((X @ W + b - y) ** 2))
    f_star = 0.5 * float(np.mean((X @ W_star + b_star - y) ** 2))
    close(after(text, "f − f* ="), f - f_star, 3)
    G = scaled.Z.T @ (scaled.Z @ (W * scaled.s) - scaled.T) / N
    G0 = scaled.Z.T @ scaled.T / N
    close(after(text, "(float64 gradient"), np.linalg.norm(G) / np.linalg.norm(G0), 3)
    assert "certificate: NOT verified" in text and "rank 10 of 10" in text
    P = X @ W + b
    close(after(text, "R² ="), r2_score(y, P), 6)
    close(after(text, "RMSE ="), math.sqrt(mean_squared_error(y, P)), 6)
    close(after(text, "MAE ="), mean_absolute_error(y, P), 6)
    page = report.read_text(encoding="utf-8")
    fit_row = re.search(
        r"<td>progression</td><td>("
        + NUMBER
        + r")</td><td>("
        + NUMBER
        + r")</td><td>("
        + NUMBER
        + ")</td>",
        page,
    )
    assert fit_row, "the report's fit table"
    close(float(fit_row.group(1)), r2_score(y, P), 6)
    close(float(fit_row.group(2)), math.sqrt(mean_squared_error(y, P)), 6)
    close(float(fit_row.group(3)), b, 8)
    close(after(page, "Relative distance ‖W − W*‖/‖W*‖ ="), relative, 3)
    data = page.split("<h3>Data</h3>")[1].split("</section>")[0]
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
    for j, name in enumerate(names):
        column = X[:, j] if j < D else y
        cells = re.search(
            rf"<td>{name}</td><td>(?:feature|target)</td>" + rf"<td>({NUMBER})</td>" * 4, data
        )
        assert cells, f"the report's data row {name}"
        expected = (column.mean(), column.std(), column.min(), column.max())
        for shown, value in zip(cells.groups(), expected, strict=True):
            if abs(value) > 1e-9 * np.abs(column).max():  # a mean of 0 prints its rounding
                close(float(shown), value, 4)
    exact = re.search(r"<td>s5</td><td>(" + NUMBER + r")</td><td>(" + NUMBER + ")</td>", page)
    assert exact, "the report's coefficient table"
    close(float(exact.group(1)), W[8], 8)
    close(float(exact.group(2)), W_star[8], 8)


def test_every_number_of_sweep(diabetes, csv, capsys) -> None:
    X, y = diabetes
    argv = ["sweep", str(csv), "-t", "progression", "--no-plot", "--factors", "0.5", "1.1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    ref = Reference(X, y)
    close(after(text, "; L ="), ref.L, 4)
    close(after(text, "stability bound 2/L ="), 2 / ref.L, 4)
    close(after(text, "learning_rate='auto' = 1/L ="), 1 / ref.L, 4)
    lines = [line.split() for line in text.splitlines()[2:]]
    A = np.column_stack([ref.Z, np.ones(len(y))])
    f_star = ref.loss(np.linalg.lstsq(A, ref.T, rcond=None)[0][:-1])
    for line, expected in zip(lines, (0.5, 1.1), strict=True):
        lr, factor, left, verdict = line[:4]
        close(float(lr), expected * 2 / ref.L, 4)
        assert float(factor) == expected
        losses = ref.seed_losses(expected * 2 / ref.L, 50)
        if expected > 1:  # stopped once the loss passed 1e6× its start, and says so
            taken = next(t for t, f in enumerate(losses) if f > 1e6 * losses[0])
            assert f"(stopped after {taken} steps" in " ".join(line)
            losses = losses[: taken + 1]
        close(float(left), (losses[-1] - f_star) / (losses[0] - f_star), 3)
        assert verdict == ("converges" if expected < 1 else "EXPLODES")
