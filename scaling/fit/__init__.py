"""Scaling-law fitting with numpy and scipy only (never JAX): laws, estimators, bootstrap, Chinchilla approaches.

    from scaling.fit import fit_law
    result = fit_law(n=N, d=D, loss=L, law="chinchilla", bootstrap=200)
    print(result); result.predict(n=70e9, d=1.4e12); result.to_json()
"""

from __future__ import annotations

from scaling.fit.api import fit_law
from scaling.fit.approaches import (
    EnvelopeResult,
    IsoflopResult,
    PowerLawFit,
    compute_optimal_frontier,
    envelope_approach,
    fit_power_law,
    isoflop_approach,
    kaplan_fits,
)
from scaling.fit.backtest import BacktestResult, backtest
from scaling.fit.compare import aic, likelihood_ratio_test
from scaling.fit.laws import HOFFMANN_GRID, Coord, Law, VarproSpec, chinchilla_compute_optimal
from scaling.fit.lbfgs import LbfgsOptions
from scaling.fit.registry import LAWS, get_law, register_law
from scaling.fit.result import FitResult
from scaling.fit.suggest import Suggestion, suggest

__all__ = [
    "HOFFMANN_GRID",
    "LAWS",
    "BacktestResult",
    "Coord",
    "EnvelopeResult",
    "FitResult",
    "IsoflopResult",
    "Law",
    "LbfgsOptions",
    "PowerLawFit",
    "Suggestion",
    "VarproSpec",
    "aic",
    "backtest",
    "chinchilla_compute_optimal",
    "compute_optimal_frontier",
    "envelope_approach",
    "fit_law",
    "fit_power_law",
    "get_law",
    "isoflop_approach",
    "kaplan_fits",
    "likelihood_ratio_test",
    "register_law",
    "suggest",
]
