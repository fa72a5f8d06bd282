"""The design check: a sweep that cannot identify the law is flagged; a good one's predicted widths are real."""

from __future__ import annotations

import numpy as np

from scaling.fit import fit_law
from scaling.fit.design import CHINCHILLA_PRIOR, check_design, structural_warnings

SIZES = np.array([2e4, 5e4, 1e5, 2e5, 5e5, 1e6])


def good_design() -> tuple[np.ndarray, np.ndarray]:
    """6 sizes x 4 tokens-per-parameter ratios (5..80): N and D vary independently."""
    n = np.repeat(SIZES, 4)
    d = n * np.tile([5.0, 10.0, 20.0, 80.0], len(SIZES))
    return n, d


def test_constant_tokens_per_param_and_two_sizes_are_flagged():
    n = np.array([1e5, 1e5, 1e6, 1e6])
    warnings = structural_warnings(n, 20 * n)
    assert any("collinear" in w for w in warnings)
    assert any("2 model size(s)" in w for w in warnings)
    assert any("fewer than 3 per parameter" in w for w in warnings)


def test_isoflop_budgets_with_two_sizes_are_flagged():
    n = np.array([1e5, 1e6, 1e5, 3e5, 1e6])
    warnings = structural_warnings(n, 1e12 / (6 * n), budgets=[1e12, 1e12, 3e12, 3e12, 3e12])
    assert any("1 of 2 IsoFLOP budget(s)" in w for w in warnings)


def test_a_good_design_has_no_structural_warnings_and_narrow_predicted_widths():
    n, d = good_design()
    check = check_design(n, d, noise=0.005, simulations=30)
    assert check.warnings == [] and check.failed_fits == 0
    assert check.widths["alpha"] < 0.1 and check.widths["beta"] < 0.1


def test_an_unidentifiable_design_predicts_wide_intervals():
    n = np.repeat([1e5, 3e5, 1e6], 2)
    d = n * np.tile([10.0, 12.0], 3)
    check = check_design(n, d, noise=0.02, simulations=30)
    assert check.warnings
    good = check_design(*good_design(), noise=0.02, simulations=30)
    assert check.widths.get("alpha", np.inf) > 3 * good.widths["alpha"]


def test_predicted_widths_match_the_bootstrap_of_one_simulated_sweep():
    """Independent check: the row bootstrap of one simulated sweep gives intervals of the same size (within a
    factor of 2: resampling rows drops design points, so it runs somewhat wider than the parametric check)."""
    n, d = good_design()
    noise = 0.01
    predicted = check_design(n, d, noise=noise, simulations=40, seed=1).widths
    p = CHINCHILLA_PRIOR
    rng = np.random.default_rng(123)
    loss = p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"] + rng.normal(0, noise, len(n))
    fit = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=60, seed=2)
    for name in ("alpha", "beta"):
        lo, hi = fit.intervals[name]
        assert 0.5 < (hi - lo) / predicted[name] < 2.0, (name, hi - lo, predicted[name])


def test_structural_warnings_count_the_inputs_and_parameters_of_the_law_fitted():
    n = np.array([1e5, 3e5, 1e5, 3e5])
    d = np.array([1e6, 1e6, 4e6, 4e6])
    chinchilla = structural_warnings(n, d)
    assert any("5-parameter" in w for w in chinchilla) and any("model size" in w for w in chinchilla)
    compute_only = structural_warnings(n, d, n_params=2, inputs=("c",))
    # 4 distinct C values for 2 parameters; sizes and budgets are not this law's inputs
    assert any("4 distinct (C) points for a 2-parameter law" in w for w in compute_only)
    assert not any("model size" in w or "token budget" in w for w in compute_only)
    many = np.geomspace(1e5, 1e6, 8)
    assert structural_warnings(many, 20 * many * np.linspace(1, 3, 8), n_params=2, inputs=("c",)) == []
