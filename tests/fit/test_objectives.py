"""The selectable objectives: Huber or least squares on log or raw loss. Least squares on raw loss must land on
the exact point scipy `curve_fit` finds (an independent Levenberg-Marquardt implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import TRUE, chinchilla, grid_points
from scipy.optimize import curve_fit

from scaling.errors import UserError
from scaling.fit import fit_law
from scaling.fit.inputs import build_problem
from scaling.fit.objective import OBJECTIVES, Objective
from scaling.fit.registry import get_law

KEYS = ("E", "A", "B", "alpha", "beta")


def _curve_fit_reference(n, d, loss, p0):
    law = lambda X, E, A, B, alpha, beta: E + A / X[0] ** alpha + B / X[1] ** beta  # noqa: E731
    ref, _ = curve_fit(law, (n, d), loss, p0=p0, maxfev=200_000, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return dict(zip(KEYS, ref, strict=True))


def test_raw_least_squares_reproduces_curve_fit_on_a_grid():
    n, d, loss = grid_points(seed=3, noise=0.01)
    ref = _curve_fit_reference(n, d, loss, [TRUE[k] for k in KEYS])
    fit = fit_law(n=n, d=d, loss=loss, objective="squares-raw")
    for k in KEYS:
        assert fit.params[k] == pytest.approx(ref[k], rel=1e-6), k
    assert fit.procedure["objective_name"] == "squares-raw"
    assert "curve_fit" in fit.procedure["objective"] and fit.procedure["huber_delta"] is None


def test_raw_least_squares_reproduces_curve_fit_on_epoch_points(epoch_points):
    p = epoch_points
    fit = fit_law(n=p["n"], d=p["d"], loss=p["loss"], objective="squares-raw")
    ref = _curve_fit_reference(p["n"], p["d"], p["loss"], [fit.params[k] * 1.01 for k in KEYS])
    for k in KEYS:
        assert fit.params[k] == pytest.approx(ref[k], rel=1e-6), k


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_gradients_match_finite_differences(name):
    n, d, loss = grid_points(seed=1, noise=0.02, sizes=4, tokens=4)
    problem = build_problem(get_law("chinchilla"), loss=loss, n=n, d=d, objective=name, delta=0.01)
    obj = Objective(problem.law, problem.data, problem.log_loss, delta=0.01, objective=name,
                    weights=np.linspace(0.5, 1.5, n.size))
    theta = problem.law.from_params({"E": 1.6, "A": 300.0, "B": 500.0, "alpha": 0.3, "beta": 0.3})
    y = obj.to_y(theta)[0]
    _, g = obj(y[None, :])
    h = 1e-6
    numeric = [(obj(y + h * e)[0][0] - obj(y - h * e)[0][0]) / (2 * h) for e in np.eye(y.size)]
    np.testing.assert_allclose(g[0], numeric, rtol=1e-5, atol=1e-9)


def test_squares_on_log_loss_is_least_squares_of_log_residuals():
    n, d, loss = grid_points(seed=2, noise=0.01)
    fit = fit_law(n=n, d=d, loss=loss, objective="squares-log")
    ref, _ = curve_fit(lambda X, *p: np.log(chinchilla(X[0], X[1], dict(zip(KEYS, p, strict=True)))), (n, d),
                       np.log(loss), p0=[TRUE[k] for k in KEYS], maxfev=200_000, xtol=1e-15, ftol=1e-15)
    for k, v in zip(KEYS, ref, strict=True):
        assert fit.params[k] == pytest.approx(v, rel=1e-6), k


def test_objectives_bootstrap_and_differ_where_outliers_sit():
    n, d, loss = grid_points(seed=4, noise=0.005)
    loss = loss.copy()
    loss[::9] *= 1.15  # a few bad runs: Huber shrugs them off, least squares follows them
    huber = fit_law(n=n, d=d, loss=loss, objective="huber-log", bootstrap=30)
    squares = fit_law(n=n, d=d, loss=loss, objective="squares-raw", bootstrap=30)
    truth = chinchilla(n, d)
    miss = {name: float(np.mean(np.abs(fit.predict(n=n, d=d) / truth - 1))) for name, fit in
            (("huber", huber), ("squares", squares))}
    assert miss["huber"] < 0.5 * miss["squares"], miss
    lo, hi = squares.intervals["alpha"]
    assert lo <= squares.params["alpha"] <= hi and np.isfinite([lo, hi]).all()


def test_ml_is_only_defined_on_log_residuals():
    n, d, loss = grid_points()
    with pytest.raises(UserError, match="method 'ml'"):
        fit_law(n=n, d=d, loss=loss, method="ml", objective="squares-raw")
    with pytest.raises(UserError, match="unknown objective 'l1'"):
        fit_law(n=n, d=d, loss=loss, objective="l1")
