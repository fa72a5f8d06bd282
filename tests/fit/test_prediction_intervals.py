"""Prediction intervals: each bootstrap replicate's law evaluated at the point, percentiles taken; from the
library (`FitResult.predict(interval=...)`) and from `scaling fit ... --predict`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fit_helpers import grid_points, run_cli

from scaling.errors import UserError
from scaling.fit import fit_law


@pytest.fixture(scope="module")
def fitted():
    n, d, loss = grid_points(seed=5, noise=0.01, sizes=5, tokens=5)
    return fit_law(n=n, d=d, loss=loss, bootstrap=60, seed=1)


def test_interval_is_the_percentiles_of_the_replicates_predictions(fitted):
    pred = fitted.predict(n=[1e9, 1e12], d=[2e10, 2e13], interval=0.9)
    s = fitted.bootstrap_samples
    K = len(s["alpha"])
    by_hand = np.array([[s["E"][i] + s["A"][i] / n ** s["alpha"][i] + s["B"][i] / d ** s["beta"][i]
                         for n, d in ((1e9, 2e10), (1e12, 2e13))] for i in range(K)])
    np.testing.assert_allclose(pred.lower, np.percentile(by_hand, 5, axis=0), rtol=1e-12)
    np.testing.assert_allclose(pred.upper, np.percentile(by_hand, 95, axis=0), rtol=1e-12)
    np.testing.assert_allclose(pred.point, fitted.predict(n=[1e9, 1e12], d=[2e10, 2e13]))
    assert pred.replicates == K and pred.level == 0.9


def test_extrapolation_widens_the_interval(fitted):
    inside = fitted.predict(n=1e9, d=5e10, interval=0.95)
    far = fitted.predict(n=1e13, d=5e14, interval=0.95)
    assert inside.lower <= inside.point <= inside.upper
    assert (far.upper - far.lower) / far.point > 3 * (inside.upper - inside.lower) / inside.point


def test_interval_needs_bootstrap_replicates():
    n, d, loss = grid_points(sizes=4, tokens=4)
    with pytest.raises(UserError, match="bootstrap > 0"):
        fit_law(n=n, d=d, loss=loss).predict(n=1e9, d=1e10, interval=0.95)


def test_cli_predicts_with_interval(tmp_path):
    n, d, loss = grid_points(seed=6, sizes=4, tokens=4)
    path = tmp_path / "runs.csv"
    path.write_text("n,d,loss\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(n, d, loss, strict=True)))
    out = run_cli("fit", path, "--bootstrap", "20", "--predict", "N=7e10,D=1.4e12", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)["predictions"][0]
    assert row["at"] == {"n": 7e10, "d": 1.4e12}
    assert row["interval"][0] <= row["loss"] <= row["interval"][1]
    text = run_cli("fit", path, "--predict", "n=1e9,c=1e20")
    assert text.returncode == 0 and "at N=1e+09,C=1e+20: loss" in text.stdout, text.stdout
    assert "no interval" in text.stdout
    bad = run_cli("fit", path, "--predict", "N=1e9,T=5")
    assert bad.returncode == 2 and "--predict" in bad.stderr and "'T=5'" in bad.stderr, bad.stderr
