"""Backtests: fit on all but the largest compute budget(s), predict the held-out losses, report relative errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.accounting import compute
from scaling.errors import UserError
from scaling.fit.approaches import BUDGET_TOL_DEX, group_budgets
from scaling.fit.inputs import Problem, build_problem
from scaling.fit.registry import get_law
from scaling.fit.result import FitResult, json_safe


@dataclass
class BacktestResult:
    """The fit on the earlier budgets and its errors on the held-out ones."""

    fit: FitResult
    holdout_budgets: list[float]
    observed: np.ndarray
    predicted: np.ndarray
    relative_error: np.ndarray  # (predicted - observed) / observed, per held-out point
    budget_of_point: np.ndarray

    @property
    def mean_abs_relative_error(self) -> float:
        """Mean |relative error| over held-out points."""
        return float(np.mean(np.abs(self.relative_error)))

    @property
    def max_abs_relative_error(self) -> float:
        """Largest |relative error| over held-out points."""
        return float(np.max(np.abs(self.relative_error)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data: summary errors, per-budget errors, per-point observed and predicted losses."""
        per_budget = {}
        for b in self.holdout_budgets:
            m = np.isclose(self.budget_of_point, b)
            per_budget[f"{b:.4g}"] = {
                "n_points": int(m.sum()),
                "mean_abs_relative_error": float(np.mean(np.abs(self.relative_error[m]))),
                "mean_relative_error": float(np.mean(self.relative_error[m])),
            }
        return json_safe({
            "holdout_budgets": self.holdout_budgets,
            "n_train": self.fit.n_points,
            "n_holdout": int(self.observed.size),
            "mean_abs_relative_error": self.mean_abs_relative_error,
            "max_abs_relative_error": self.max_abs_relative_error,
            "mean_relative_error": float(np.mean(self.relative_error)),
            "per_budget": per_budget,
            "observed": self.observed,
            "predicted": self.predicted,
            "law": self.fit.law,
            "fit": self.fit.to_dict(),
            "relative_error": self.relative_error,
            "budget_of_point": self.budget_of_point,
            "rows": [
                {"C": float(c), "actual": float(o), "predicted": float(p), "held_out": True}
                for c, o, p in zip(self.budget_of_point, self.observed, self.predicted, strict=True)
            ],
        })


    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BacktestResult:
        """The inverse of `to_dict`."""
        arr = lambda k: np.asarray(data[k], dtype=np.float64)  # noqa: E731
        return cls(fit=FitResult.from_dict(data["fit"]), holdout_budgets=[float(b) for b in data["holdout_budgets"]],
                   observed=arr("observed"), predicted=arr("predicted"), relative_error=arr("relative_error"),
                   budget_of_point=arr("budget_of_point"))


def point_compute(problem: Problem) -> tuple[np.ndarray, str]:
    """Each point's compute: C if given or derived, else 6ND, else the power law's x; with what it was."""
    cols = problem.cols
    if "c" in cols:
        return cols["c"], "C"
    if "n" in cols and "d" in cols:
        return compute(cols["n"], cols["d"]), "6ND"
    for k in ("x", "n", "d"):
        if k in cols:
            return cols[k], k.upper()
    raise UserError("cannot order points by compute: no C, N or D column")


def backtest_problem(
    problem: Problem, *, holdout: int = 1, budget_tol_dex: float = BUDGET_TOL_DEX, flops: Any = None,
    **fit_kwargs: Any,
) -> BacktestResult:
    """Hold out the `holdout` largest budgets of a validated problem, fit the rest, score the predictions.

    `flops` gives each point's compute for ordering the budgets (default: C, else 6ND, see `point_compute`).
    """
    from scaling.fit.api import fit_problem

    if holdout < 1:
        raise UserError(f"holdout must be at least 1 budget, got {holdout}")
    flops = point_compute(problem)[0] if flops is None else np.asarray(flops, dtype=np.float64)
    labels, budgets = group_budgets(flops, budget_tol_dex)
    if budgets.size <= holdout:
        raise UserError(
            f"cannot hold out {holdout} budget(s): the data has {budgets.size} distinct compute budget(s)"
        )
    held = np.arange(budgets.size - holdout, budgets.size)
    test = np.isin(labels, held)
    train = problem.subset(~test)
    n_free = problem.law.n_params - len(problem.fixed)
    if train.n_points <= n_free:
        raise UserError(
            f"after holding out {holdout} budget(s) only {train.n_points} points remain for {n_free} parameters"
        )
    fit = fit_problem(train, **fit_kwargs)
    cols = {k: v[test] for k, v in problem.cols.items()}
    pred = problem.law.predict(fit.params, **cols)
    obs = problem.loss[test]
    return BacktestResult(
        fit=fit,
        holdout_budgets=[float(b) for b in budgets[held]],
        observed=obs,
        predicted=np.asarray(pred, dtype=np.float64),
        relative_error=(pred - obs) / obs,
        budget_of_point=budgets[labels[test]],
    )


def backtest(
    n: Any = None, d: Any = None, loss: Any = None, *, c: Any = None, u: Any = None, x: Any = None,
    holdout: int = 1, law: str = "chinchilla", method: str = "huber-grid", weights: Any = None,
    delta: float = 1e-3, budget_tol_dex: float = BUDGET_TOL_DEX, flops: Any = None, objective: str = "huber-log",
    **fit_kwargs: Any,
) -> BacktestResult:
    """Fit `law` on all but the `holdout` largest compute budgets and report relative errors on those held out."""
    law_obj = get_law(law)
    problem = build_problem(law_obj, loss=loss, n=n, d=d, c=c, u=u, x=x, weights=weights, delta=delta,
                            objective=objective)
    return backtest_problem(problem, holdout=holdout, budget_tol_dex=budget_tol_dex, flops=flops, method=method,
                            **fit_kwargs)
