"""Loss-curve laws that know the learning-rate schedule (Multi-Power Law; LR-annealing law), fitted on whole
curves and backtested across schedules:

    from scaling.fit.curves import Curve, fit_curves, backtest_curves, lr_schedule
    fit = fit_curves([constant_curve, cosine_curve], law="multi-power", bootstrap=100)
    fit.predict(lr_schedule("wsd", 3e-3, 2000, warmup_steps=100, decay_steps=400))[-1]
"""

from __future__ import annotations

from scaling.fit.curves.backtest import CurveBacktest, CurvePrediction, backtest_curves, score
from scaling.fit.curves.curve import Curve
from scaling.fit.curves.fitting import OBJECTIVES, fit_curves
from scaling.fit.curves.laws import CURVE_LAWS, AnnealingLaw, CurveLaw, MultiPowerLaw, get_curve_law
from scaling.fit.curves.result import CurveFitResult
from scaling.fit.curves.schedules import lr_schedule

__all__ = [
    "CURVE_LAWS",
    "OBJECTIVES",
    "AnnealingLaw",
    "Curve",
    "CurveBacktest",
    "CurveFitResult",
    "CurveLaw",
    "CurvePrediction",
    "MultiPowerLaw",
    "backtest_curves",
    "fit_curves",
    "get_curve_law",
    "lr_schedule",
    "score",
]
