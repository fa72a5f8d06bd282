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
from scaling.fit.curves import Curve, CurveBacktest, CurveFitResult, backtest_curves, fit_curves, lr_schedule
from scaling.fit.hyper_laws import HyperLaws, fit_hyper_laws
from scaling.fit.laws import HOFFMANN_GRID, Coord, Law, VarproSpec, chinchilla_compute_optimal
from scaling.fit.lbfgs import LbfgsOptions
from scaling.fit.power_law_multi import MultiPowerLawFit, fit_multi_power_law
from scaling.fit.registry import LAWS, get_law, register_law
from scaling.fit.result import FitResult, Prediction
from scaling.fit.suggest import Suggestion, suggest

__all__ = [
    "HOFFMANN_GRID",
    "LAWS",
    "BacktestResult",
    "Coord",
    "Curve",
    "CurveBacktest",
    "CurveFitResult",
    "EnvelopeResult",
    "FitResult",
    "HyperLaws",
    "IsoflopResult",
    "Law",
    "LbfgsOptions",
    "MultiPowerLawFit",
    "Prediction",
    "PowerLawFit",
    "Suggestion",
    "VarproSpec",
    "aic",
    "backtest",
    "backtest_curves",
    "chinchilla_compute_optimal",
    "compute_optimal_frontier",
    "envelope_approach",
    "fit_curves",
    "fit_hyper_laws",
    "fit_law",
    "fit_multi_power_law",
    "fit_power_law",
    "get_law",
    "isoflop_approach",
    "kaplan_fits",
    "likelihood_ratio_test",
    "lr_schedule",
    "register_law",
    "suggest",
]
