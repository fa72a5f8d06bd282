"""Identification warnings: a well-designed sweep gets none; the classic failures each get theirs."""

from __future__ import annotations

import numpy as np

from scaling.fit import fit_law
from scaling.fit.design import CHINCHILLA_PRIOR
from scaling.fit.diagnostics import identification_warnings

P = CHINCHILLA_PRIOR


def losses(n, d, noise, seed=0, E=P["E"]):
    rng = np.random.default_rng(seed)
    return E + P["A"] / n ** P["alpha"] + P["B"] / d ** P["beta"] + rng.normal(0, noise, len(n))


def test_a_good_sweep_is_identified():
    n = np.repeat([2e4, 5e4, 1e5, 2e5, 5e5, 1e6], 4)
    d = n * np.tile([5.0, 10.0, 20.0, 80.0], 6)
    loss = losses(n, d, 0.005)
    fit = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=30)
    assert identification_warnings(fit, n, d, loss) == []


def test_constant_tokens_per_param_is_called_collinear():
    n = np.geomspace(2e4, 1e6, 8)
    d = 20 * n
    loss = losses(n, d, 0.005)
    fit = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=20)
    assert any("collinear" in w for w in identification_warnings(fit, n, d, loss))


def test_a_wide_exponent_interval_is_not_a_measurement():
    n = np.repeat([1e5, 2e5, 4e5], 2)
    d = n * np.tile([10.0, 14.0], 3)
    loss = losses(n, d, 0.05, seed=3)
    fit = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=40)
    warnings = identification_warnings(fit, n, d, loss)
    assert any("not identified" in w for w in warnings), warnings


def test_an_irreducible_loss_collapsed_to_zero_is_flagged():
    import dataclasses

    n = np.repeat([2e4, 5e4, 1e5, 2e5, 5e5, 1e6], 4)
    d = n * np.tile([5.0, 10.0, 20.0, 80.0], 6)
    loss = losses(n, d, 0.005)
    fit = fit_law(n=n, d=d, loss=loss, method="varpro")
    collapsed = dataclasses.replace(fit, params={**fit.params, "E": 1e-301})
    assert any("E collapsed" in w for w in identification_warnings(collapsed, n, d, loss))
