"""The multi-input power law y = k x1^a1 x2^a2: exact on noiseless data, t intervals equal to ordinary least
squares' (checked against scipy's linregress for one input), bootstrap intervals that cover the truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scaling.errors import UserError
from scaling.fit.power_law_multi import fit_multi_power_law


def test_noiseless_data_gives_the_constants_exactly():
    rng = np.random.default_rng(0)
    n, d = np.exp(rng.uniform(10, 20, 30)), np.exp(rng.uniform(15, 25, 30))
    fit = fit_multi_power_law(1.79 * n**-0.713 * d**0.307, {"N": n, "D": d})
    assert fit.coefficient == pytest.approx(1.79, rel=1e-9)
    assert fit.exponents == pytest.approx({"N": -0.713, "D": 0.307}, abs=1e-10)
    assert fit.predict(N=1e9, D=1e11) == pytest.approx(1.79 * 1e9**-0.713 * 1e11**0.307, rel=1e-9)


def test_one_input_t_interval_matches_linregress():
    rng = np.random.default_rng(1)
    x = np.geomspace(1e3, 1e8, 12)
    y = 3.0 * x**0.4 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = fit_multi_power_law(y, {"x": x})
    ref = stats.linregress(np.log(x), np.log(y))
    t = stats.t.ppf(0.975, x.size - 2)
    assert fit.exponents["x"] == pytest.approx(ref.slope, rel=1e-10)
    assert fit.t_intervals["x"] == pytest.approx([ref.slope - t * ref.stderr, ref.slope + t * ref.stderr], rel=1e-9)


def test_bootstrap_intervals_cover_the_truth_most_of_the_time():
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n, d = np.exp(rng.uniform(10, 16, 25)), np.exp(rng.uniform(15, 21, 25))
        y = 0.3 * n**-0.2 * d**0.5 * np.exp(0.03 * rng.standard_normal(25))
        fit = fit_multi_power_law(y, {"N": n, "D": d}, bootstrap=200, seed=seed)
        lo, hi = fit.bootstrap_intervals["D"]
        covered += lo <= 0.5 <= hi
    assert covered >= 16, f"95% intervals covered the true exponent in {covered} of 20 datasets"


def test_inputs_that_move_together_cannot_be_told_apart():
    n = np.geomspace(1e6, 1e9, 6)
    with pytest.raises(UserError, match="do not vary independently"):
        fit_multi_power_law(n**0.5, {"N": n, "D": 20 * n})
    with pytest.raises(UserError, match="more points than that"):
        fit_multi_power_law([1.0, 2.0, 3.0], {"N": [1, 2, 3], "D": [3, 1, 2]})
    with pytest.raises(UserError, match="'D' must be finite and positive"):
        fit_multi_power_law([1.0, 2.0, 3.0, 4.0], {"D": [1, -2, 3, 4]})
