"""Backtest a curve law across schedules: fit on some curves, predict held-out curves from their lr alone.

For each held-out curve: the final loss (mean of its last `final_window` observed points, since one step's loss
is noisy) against the prediction averaged at the same steps, as a relative error; and the mean |relative error|
over every observed point after its warmup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.curves.curve import Curve
from scaling.fit.curves.fitting import fit_curves
from scaling.fit.curves.result import CurveFitResult
from scaling.fit.result import json_safe

FINAL_WINDOW = 10


@dataclass
class CurvePrediction:
    """One held-out curve: observed and predicted final loss, and the curve's errors."""

    name: str
    schedule: str
    final_observed: float
    final_predicted: float
    final_rel_error: float
    curve_mean_abs_rel_error: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


@dataclass
class CurveBacktest:
    """A fit on `fit_on` and its predictions of the held-out curves."""

    fit: CurveFitResult
    fit_on: list[str]
    predictions: list[CurvePrediction]

    def to_dict(self) -> dict[str, Any]:
        return {"fit": self.fit.to_dict(), "fit_on": list(self.fit_on),
                "predictions": [p.to_dict() for p in self.predictions]}


def score(fit: CurveFitResult, curve: Curve, final_window: int = FINAL_WINDOW) -> CurvePrediction:
    """How well `fit` predicts `curve` (its steps after the warmup's peak) from the curve's lr history."""
    keep_n = curve.steps >= curve.warmup_end + 2
    if not np.any(keep_n):
        raise UserError(f"curve {curve.name!r} has no observed step after its warmup to score")
    steps_n, obs_n = curve.steps[keep_n], curve.loss[keep_n]
    pred_n = fit.predict(curve.lr, steps_n)
    tail = slice(-min(final_window, obs_n.size), None)
    final_obs, final_pred = float(np.mean(obs_n[tail])), float(np.mean(pred_n[tail]))
    return CurvePrediction(
        name=curve.name, schedule=curve.schedule, final_observed=final_obs, final_predicted=final_pred,
        final_rel_error=(final_pred - final_obs) / final_obs,
        curve_mean_abs_rel_error=float(np.mean(np.abs(pred_n - obs_n) / obs_n)), n_points=int(obs_n.size),
    )


def backtest_curves(fit_on: Sequence[Curve], held_out: Sequence[Curve], law: str = "multi-power", *,
                    final_window: int = FINAL_WINDOW, **fit_options: Any) -> CurveBacktest:
    """Fit `law` on `fit_on` (options go to `fit_curves`) and score its predictions of `held_out`."""
    if not held_out:
        raise UserError("a backtest needs at least one held-out curve to predict")
    fit = fit_curves(fit_on, law, **fit_options)
    return CurveBacktest(fit=fit, fit_on=[c.name for c in fit_on],
                         predictions=[score(fit, c, final_window) for c in held_out])
