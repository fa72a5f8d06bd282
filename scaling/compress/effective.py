"""Effective parameters: the N an uncompressed model would need for a compressed model's loss, at the same D.

Inverting the Chinchilla form L(N, D) = E + A N^-alpha + B D^-beta at fixed D gives
N_eff = (A / (L - E - B D^-beta))^(1/alpha); a loss at or below what infinite N reaches at that D has no
finite N_eff (reported as inf). The law is the fit report's `chinchilla` fit when there is one, else a
least-squares fit to the store's finished train trials. The interval is the 2.5-97.5 percentile of N_eff
over bootstrap parameter replicates (the fit report's own refits, or 100 resamples refitted here), so it
carries the fit's joint uncertainty; inverting at per-parameter interval ends would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.compress.ratio_laws import fit_least_squares
from scaling.fit.laws import CHINCHILLA
from scaling.fit.points import PointsTable
from scaling.fit.report import FitReport

KEYS = ("A", "B", "E", "alpha", "beta")
BOOTSTRAP = 100
SMALL_GRID = {"a": (2.0, 6.0), "b": (2.0, 6.0), "e": (0.0, 1.0), "alpha": (0.3, 0.8), "beta": (0.3, 0.8)}


@dataclass
class InverseLaw:
    """A Chinchilla-form law to invert, its bootstrap replicates, the N it counts, and where it came from."""

    params: dict[str, float]
    samples: list[dict[str, float]]
    param_count: str
    source: str


def from_report(report: FitReport | None) -> InverseLaw | None:
    """The fit report's Chinchilla fit with its own bootstrap replicates (the same refits that gave the report's
    intervals, so the effective-parameter intervals carry the fit's joint uncertainty). None without one."""
    result = (report.laws.get("chinchilla") if report is not None else None)
    if result is None or not all(k in result.params for k in KEYS):
        return None
    params = {k: float(result.params[k]) for k in KEYS}
    draws = result.bootstrap_samples or {}
    samples: list[dict[str, float]] = []
    if all(k in draws for k in KEYS):
        stacked = np.stack([np.asarray(draws[k], float) for k in KEYS], axis=1)
        samples = [dict(zip(KEYS, map(float, row), strict=True)) for row in stacked if np.all(np.isfinite(row))]
    source = f"fit report chinchilla ({len(samples)} bootstrap refits, {result.method})"
    return InverseLaw(params, samples, report.conventions.params, source)


def fit_from_table(table: PointsTable, seed: int = 0) -> InverseLaw | None:
    """Chinchilla fitted here by least squares to the table's finished trials, with a point bootstrap (used when
    the sweep has no fit stage)."""
    n, d, y = table.n, table.d, table.loss
    if y.size <= CHINCHILLA.n_params or len(set(n)) < 2 or len(set(d)) < 2:
        return None
    point = fit_least_squares(CHINCHILLA, {"n": n, "d": d}, y, starts=CHINCHILLA.start_points(SMALL_GRID))
    x0 = CHINCHILLA.from_params(point.params)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, y.size, y.size)
        if len(set(n[i])) < 2 or len(set(d[i])) < 2:
            continue
        samples.append(fit_least_squares(CHINCHILLA, {"n": n[i], "d": d[i]}, y[i], starts=x0).params)
    return InverseLaw(point.params, samples, table.conventions.params,
                      f"chinchilla least squares on {y.size} train trials ({len(samples)} bootstrap refits)")


def n_effective(params: dict[str, float], loss: float, tokens: float) -> float:
    """N with L(N, tokens) = loss under `params`; inf when loss is at or below the law's infinite-N floor."""
    gap = loss - params["E"] - params["B"] * tokens ** -params["beta"]
    if not gap > 0:
        return float("inf")
    with np.errstate(all="ignore"):  # a runaway bootstrap replicate (A = 0, alpha = 0) gives 0, inf or NaN
        return float(np.power(np.float64(params["A"]) / gap, 1.0 / np.float64(params["alpha"])))


def effective(law: InverseLaw, loss: float, tokens: float, n: float) -> dict[str, Any]:
    """N_eff, the multiplier N_eff / N and its bootstrap interval for one compressed model."""
    n_eff = n_effective(law.params, loss, tokens)
    out: dict[str, Any] = {"n_eff": n_eff, "multiplier": n_eff / n, "interval": None,
                           "interval_method": "none (no bootstrap replicates)"}
    if law.samples:
        values = np.array([n_effective(s, loss, tokens) for s in law.samples]) / n
        values = values[~np.isnan(values)]
        if not values.size:
            return out
        lo, hi = np.percentile(values, [2.5, 97.5])  # inf sorts last, so a partly unbounded tail shows as inf
        out.update(interval=[float(lo), float(hi)],
                   interval_method=f"2.5-97.5 percentiles over {len(values)} bootstrap replicates ({law.source})")
    return out
