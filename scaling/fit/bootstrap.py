"""Seeded bootstrap of a fit: resample rows (or whole runs), refit every replicate, percentile intervals.

Procedure, recorded in each result:
1. `numpy.random.default_rng(seed)` draws K replicates. Rows are resampled with replacement; with `groups`
   (e.g. the run each intermediate checkpoint came from) whole groups are resampled instead, so correlated
   points of one training curve move together. A replicate is a vector of counts per row, used as weights:
   identical to refitting on the resampled table.
2. Every replicate is refitted with the same objective and tolerances as the full fit, from several starts:
   the full-data optimum, the optimum with every exponent moved down and up by PERTURB, and the full fit's
   other distinct optima whose objective is competitive (within COMPETITIVE of the best). All replicates x
   starts run as one batched L-BFGS to convergence, and each replicate keeps its best end point. Warm starts
   make this fast; the extra starts keep it honest: a replicate whose optimum moved to another basin still
   finds it (tests compare against full multi-start).
3. Intervals are percentiles (2.5, 97.5) of the replicates' parameters and derived quantities; standard errors
   are their standard deviations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.fit.inputs import Problem
from scaling.fit.lbfgs import LbfgsOptions, minimize_batch
from scaling.fit.multistart import SAME_F_RTOL, MultiStartOutcome
from scaling.fit.objective import Objective

OTHER_OPTIMA = 3  # at most this many other distinct optima of the full fit used as extra starts ...
COMPETITIVE = 0.1  # ... those whose objective is within this fraction of the best
PERTURB = 0.05  # all exponents moved by -/+ this amount: two more starts


@dataclass
class BootstrapOutcome:
    """Per-replicate parameters (natural units), objective values, and the facts of the procedure."""

    params: dict[str, np.ndarray]
    objective: np.ndarray
    theta: np.ndarray
    record: dict[str, Any]


def replicate_weights(n_rows: int, n_boot: int, rng: np.random.Generator, groups: Any = None) -> np.ndarray:
    """Counts (n_boot, n_rows): how often each row appears in each resample (rows, or whole groups)."""
    if groups is None:
        draws = rng.integers(0, n_rows, size=(n_boot, n_rows))
        W = np.zeros((n_boot, n_rows))
        np.add.at(W, (np.repeat(np.arange(n_boot), n_rows), draws.ravel()), 1.0)
        return W
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    G = labels.size
    draws = rng.integers(0, G, size=(n_boot, G))
    counts = np.zeros((n_boot, G))
    np.add.at(counts, (np.repeat(np.arange(n_boot), G), draws.ravel()), 1.0)
    return counts[:, inverse]


def bootstrap_starts(objective: Objective, outcome: MultiStartOutcome) -> np.ndarray:
    """Starts for every replicate: the optimum, the optimum with all exponents moved by -/+PERTURB, and the
    full fit's other distinct optima whose objective is within COMPETITIVE of the best (other basins)."""
    starts = [outcome.y]
    theta = objective.theta(outcome.y[None, :])[0]
    free = set(objective.free.tolist())
    exps = [j for j, c in enumerate(objective.law.coords) if not c.log and j in free]
    ls = objective.log_sigma(outcome.y[None, :])
    if exps:
        for step in (-PERTURB, PERTURB):
            t = theta.copy()
            t[exps] += step
            starts.append(objective.to_y(t[None, :], ls)[0])
    gap = COMPETITIVE * max(abs(outcome.fun), 1e-300)
    for y, f in zip(outcome.optima, outcome.optima_f, strict=True):
        if f - outcome.fun <= gap and np.max(np.abs(y - outcome.y)) > 1e-6 and len(starts) < 3 + OTHER_OPTIMA:
            starts.append(y)
    return np.array(starts)


def run_bootstrap(
    problem: Problem,
    objective: Objective,
    outcome: MultiStartOutcome,
    *,
    n_boot: int,
    seed: int,
    groups: Any = None,
    options: LbfgsOptions | None = None,
) -> BootstrapOutcome:
    """Refit `n_boot` resamples of `problem` from warm starts; see the module docstring for the procedure."""
    rng = np.random.default_rng(seed)
    W = replicate_weights(problem.n_points, n_boot, rng, groups)
    seeds = bootstrap_starts(objective, outcome)
    S0 = seeds.shape[0]
    boot_obj = Objective(
        problem.law,
        problem.data,
        problem.log_loss,
        delta=problem.delta,
        kind=objective.kind,
        weights=problem.weights,
        row_weights=W,
        row_map=np.repeat(np.arange(n_boot), S0),
        fixed=problem.fixed,
        objective=problem.objective,
    )
    X0 = np.tile(seeds, (n_boot, 1))
    res = minimize_batch(boot_obj, X0, options)
    f = res.f.reshape(n_boot, S0)
    best = np.argmin(np.where(np.isfinite(f), f, np.inf), axis=1)
    rows = np.arange(n_boot) * S0 + best
    y_best = res.x[rows]
    theta = boot_obj.theta(y_best)
    params = problem.law.to_params(theta)
    if objective.kind == "ml":
        params = {**params, "sigma": np.exp(y_best[:, -1])}
    # A replicate converged when a start that met a convergence test (gtol or ftol, not a stalled line search)
    # reached its best objective.
    f_best = f[np.arange(n_boot), best]
    tol = SAME_F_RTOL * np.maximum(np.abs(f_best), 1e-300)
    converged = np.any((res.status.reshape(n_boot, S0) <= 1) & (f <= (f_best + tol)[:, None]), axis=1)
    # How often a start other than the optimum found a clearly better replicate optimum (basin switches).
    f_opt = f[:, 0]
    moved = (f_opt - f_best) > SAME_F_RTOL * np.maximum(np.abs(f_opt), 1e-300)
    record = {
        "n": int(n_boot),
        "seed": int(seed),
        "resampling": "groups (clustered)" if groups is not None else "rows",
        "n_groups": int(np.unique(np.asarray(groups)).size) if groups is not None else None,
        "starts_per_replicate": int(S0),
        "starts": f"full-data optimum; all exponents -/+{PERTURB}; competitive other optima",
        "replicates_improved_by_extra_starts": int(moved.sum()),
        "converged_fraction": float(np.mean(converged)),
        "percentiles": [2.5, 97.5],
    }
    return BootstrapOutcome(params=params, objective=f_best, theta=theta, record=record)


def size_groups(n: np.ndarray) -> np.ndarray | None:
    """Bootstrap clusters, one per model size, when points share sizes (else None: every row its own size)."""
    n = np.asarray(n)
    if np.unique(n).size == n.size:
        return None
    return np.unique(n, return_inverse=True)[1]


def label_size_resampling(procedure: dict[str, Any], groups: np.ndarray | None) -> None:
    """Say in a fit's bootstrap record that its clusters were whole model sizes."""
    if groups is not None and "bootstrap" in procedure:
        procedure["bootstrap"]["resampling"] = f"whole model sizes ({int(groups.max()) + 1} clusters)"


def percentile_intervals(samples: dict[str, np.ndarray], level: float = 0.95) -> dict[str, list[float]]:
    """Percentile interval of each sampled quantity (finite samples only)."""
    lo, hi = 50.0 * (1.0 - level), 100.0 - 50.0 * (1.0 - level)
    out = {}
    for k, v in samples.items():
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            out[k] = [float(np.percentile(v, lo)), float(np.percentile(v, hi))]
    return out


def standard_errors(samples: dict[str, np.ndarray]) -> dict[str, float]:
    """Standard deviation (ddof=1) of each sampled quantity over the replicates."""
    out = {}
    for k, v in samples.items():
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size > 1:
            with np.errstate(over="ignore"):  # replicates near 1e300 give an infinite spread, written as null
                out[k] = float(np.std(v, ddof=1))
    return out
