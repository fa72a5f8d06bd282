"""Compute-optimal allocation from a fitted (N, D) law: N_opt, D_opt and the loss at given budgets, with intervals.

Under `compute: 6nd` the budget is C = 6 N D and the Chinchilla closed form applies. Under `compute: exact` a
model's training FLOPs per parameter-token k(N) = C / (N D) grows above 6 as models shrink (attention and the
LM head weigh more): k(N) is interpolated in log N between the sweep's own sizes (held at the ends), and the
allocation solves C = k(N) N D by fixed-point iteration on the closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scaling.accounting import FLOPS_PER_PARAM_TOKEN
from scaling.fit.laws import chinchilla_compute_optimal
from scaling.fit.points import PointsTable
from scaling.fit.result import FitResult

CHINCHILLA_KEYS = ("A", "B", "E", "alpha", "beta")
EXTRAPOLATE = (10.0, 100.0)  # the table also reports these multiples of the largest trained compute
FIXED_POINT_STEPS = 30


@dataclass(frozen=True)
class OptimalRow:
    """The compute-optimal model at one budget C; `extrapolated` when C lies past the largest trained compute."""

    C: float
    N_opt: float
    D_opt: float
    loss: float
    N_opt_interval: list[float] | None = None
    D_opt_interval: list[float] | None = None
    extrapolated: bool = False
    loss_interval: list[float] | None = None  # the predicted loss at C across the bootstrap refits

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimalRow:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def flops_per_param_token(table: PointsTable) -> Callable[[Any], np.ndarray]:
    """k(N) with C = k(N) N D under the table's conventions: 6 for 6nd, else interpolated over the sweep's sizes."""
    if table.conventions.compute == "6nd":
        return lambda n: np.full_like(np.asarray(n, dtype=np.float64), FLOPS_PER_PARAM_TOKEN)
    ln_n, k = np.log(table.n), table.flops_per_param_token()
    order = np.argsort(ln_n)
    ln_n, k = ln_n[order], k[order]
    return lambda n: np.interp(np.log(np.asarray(n, dtype=np.float64)), ln_n, k)


def chinchilla_allocation(params: dict[str, Any], flops: Any, k_of_n: Callable[[Any], np.ndarray]
                          ) -> dict[str, np.ndarray]:
    """N_opt, D_opt, loss under C = k(N) N D; params may hold arrays (bootstrap replicates), flops broadcasts."""
    full = {**params, "beta": params.get("beta", params["alpha"])}
    k = FLOPS_PER_PARAM_TOKEN
    for _ in range(FIXED_POINT_STEPS):  # k(N) varies slowly with N, so this contracts in a few steps
        opt = chinchilla_compute_optimal(full, flops, k)
        with np.errstate(invalid="ignore"):
            k_next = k_of_n(np.where(np.isfinite(opt["N_opt"]), opt["N_opt"], 1.0))
        if np.allclose(k_next, k, rtol=1e-10):
            break
        k = k_next
    return {"N_opt": np.asarray(opt["N_opt"]), "D_opt": np.asarray(opt["D_opt"]), "loss": np.asarray(opt["loss_opt"])}


def compute_optimal_table(result: FitResult, table: PointsTable) -> list[OptimalRow]:
    """N_opt, D_opt and the predicted loss at the sweep's IsoFLOP-group budgets and 10x, 100x past its largest,
    with 95% percentile intervals over the bootstrap refits when the fit was bootstrapped."""
    k_of_n = flops_per_param_token(table)
    c_max = float(table.c.max())
    _, groups = table.budget_groups()
    budgets = sorted({float(f"{c:.3g}") for c in groups} | {m * c_max for m in EXTRAPOLATE})
    samples = result.bootstrap_samples or {}
    draws = {k: np.asarray(samples[k], dtype=np.float64) for k in CHINCHILLA_KEYS if k in samples}
    rows = []
    for c in budgets:
        best = chinchilla_allocation(result.params, c, k_of_n)
        intervals: dict[str, list[float] | None] = {"N_opt": None, "D_opt": None, "loss": None}
        if {"A", "B", "E", "alpha"} <= set(draws):  # beta is absent (= alpha) for the tied law
            optima = chinchilla_allocation(draws, c, k_of_n)
            for key in intervals:
                values = optima[key][np.isfinite(optima[key])]
                if values.size:
                    intervals[key] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
        rows.append(OptimalRow(C=c, N_opt=float(best["N_opt"]), D_opt=float(best["D_opt"]), loss=float(best["loss"]),
                               N_opt_interval=intervals["N_opt"], D_opt_interval=intervals["D_opt"],
                               loss_interval=intervals["loss"], extrapolated=c > c_max * 1.001))
    return rows
