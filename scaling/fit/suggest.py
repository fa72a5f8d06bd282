"""What to run next: the (N, D) trials at the next budget that most shrink the uncertainty at a target compute.

Method (all seeded, all recorded in the result):
1. Fit the current points (summed Huber, multi-start) and estimate the residual scale s (1.4826 x median
   absolute log residual).
2. Candidates: `n_candidates` model sizes log-spaced over N_opt(C_next) x [1/spread, spread] at the next budget
   C_next (default: the largest budget times the ratio of the two largest, capped at the target), each with
   D = C_next / (6N).
3. Each candidate becomes a simulated observation: the current fit's prediction times exp(s * eps), with one
   common noise draw eps per round (common random numbers, so candidates differ only by where they sit).
4. A bootstrap of the current points plus that observation is refitted for every candidate at once: the same
   seeded row resamples for every candidate (the candidate's row is resampled like the others), warm-started
   from the current optimum. The baseline is the same bootstrap with the candidate's weight set to zero.
5. Score = mean of the relative shrinkage of the 95% interval widths of the predicted loss at the target
   compute and of ln N_opt at the target. Trials are chosen greedily: the best candidate is added to the data
   (at its simulated loss) and the remaining candidates are scored again, `top` times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.accounting import compute, tokens_for_compute
from scaling.errors import UserError
from scaling.fit.approaches import group_budgets
from scaling.fit.bootstrap import bootstrap_starts, replicate_weights
from scaling.fit.estimators import run_estimator
from scaling.fit.inputs import Problem, build_problem
from scaling.fit.lbfgs import minimize_batch
from scaling.fit.objective import Objective
from scaling.fit.registry import get_law
from scaling.fit.result import json_safe

SCORED = ("loss_at_target", "N_opt")


@dataclass
class Suggestion:
    """Proposed trials with their expected interval shrinkage and cost, and the baseline they improve on."""

    target_flops: float
    next_flops: float
    trials: list[dict[str, float]]
    candidates: list[dict[str, float]]
    baseline: dict[str, Any]
    procedure: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return json_safe(self.__dict__)


def _interval_widths(params: dict[str, np.ndarray], law: Any, target: float) -> dict[str, float]:
    """95% interval widths of the scored quantities (loss at target; ln N_opt at target) over replicates."""
    from scaling.fit.laws import chinchilla_compute_optimal

    opt = chinchilla_compute_optimal(params, target)
    vals = {"loss_at_target": np.asarray(opt["loss_opt"]), "N_opt": np.log(np.asarray(opt["N_opt"]))}
    out = {}
    for k, v in vals.items():
        v = v[np.isfinite(v)]
        out[k] = float(np.percentile(v, 97.5) - np.percentile(v, 2.5)) if v.size else float("nan")
    return out


def suggest(
    n: Any = None, d: Any = None, loss: Any = None, *, c: Any = None, target_flops: float,
    next_flops: float | None = None, law: str = "chinchilla", bootstrap: int = 100, seed: int = 0,
    n_candidates: int = 9, spread: float = 8.0, top: int = 3, delta: float = 1e-3, starts: Any = None,
) -> Suggestion:
    """Propose `top` (N, D) trials at the next budget that most shrink the target-compute intervals."""
    law_obj = get_law(law)
    if not {"A", "B", "E", "alpha", "beta"} <= set(law_obj.params) or law_obj.inputs != ("n", "d"):
        raise UserError(f"suggest works with laws of the Chinchilla form on (N, D); {law_obj.name!r} is not one")
    if not np.isfinite(target_flops) or target_flops <= 0:
        raise UserError(f"--target-flops must be a positive number of FLOPs, got {target_flops}")
    if bootstrap < 20:
        raise UserError(f"suggest needs at least 20 bootstrap resamples to compare intervals, got {bootstrap}")
    problem = build_problem(law_obj, loss=loss, n=n, d=d, c=c, delta=delta)
    rng = np.random.default_rng(seed)
    outcome, objective = run_estimator(problem, "huber-grid", starts)
    theta = objective.theta(outcome.y[None, :])[0]
    params = law_obj.to_params(theta)
    resid = objective.residuals(theta[None, :])[0]
    noise = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    flops = compute(problem.cols["n"], problem.cols["d"])
    _, budgets = group_budgets(flops)
    if next_flops is None:
        ratio = budgets[-1] / budgets[-2] if budgets.size >= 2 else 4.0
        next_flops = float(min(budgets[-1] * max(ratio, 1.5), target_flops))
    if next_flops <= 0:
        raise UserError(f"--next-flops must be positive, got {next_flops}")
    from scaling.fit.laws import chinchilla_compute_optimal

    n_star = float(chinchilla_compute_optimal(params, next_flops)["N_opt"])
    cand_n = n_star * np.geomspace(1.0 / spread, spread, n_candidates)
    cand_d = tokens_for_compute(next_flops, cand_n)
    pred = law_obj.predict(params, n=cand_n, d=cand_d)
    seeds_theta = objective.theta(bootstrap_starts(objective, outcome))
    K = int(bootstrap)

    chosen: list[int] = []
    chosen_loss: dict[int, float] = {}
    trials = []
    table = []
    baseline = None
    for round_ in range(min(top, n_candidates)):
        eps = rng.standard_normal()
        sim_loss = pred * np.exp(noise * eps)
        for j, v in chosen_loss.items():
            sim_loss[j] = v
        cols = {"n": np.concatenate([problem.cols["n"], cand_n]), "d": np.concatenate([problem.cols["d"], cand_d])}
        aug = Problem(law=law_obj, cols=cols, data=law_obj.prepare(cols),
                      loss=np.concatenate([problem.loss, sim_loss]), weights=None, groups=None, fixed={},
                      delta=problem.delta, conventions=problem.conventions)
        boot_rng = np.random.default_rng([seed, round_])
        W_all = replicate_weights(problem.n_points + len(chosen) + 1, K, boot_rng)
        W_old = W_all[:, : problem.n_points]
        picked_counts = W_all[:, problem.n_points : problem.n_points + len(chosen)]
        new_counts = W_all[:, -1]
        remaining = [j for j in range(n_candidates) if j not in chosen]
        # Row weights over candidates: chosen ones always in (with their own resample counts), one candidate new.
        cw = np.zeros((len(remaining) + 1, n_candidates))
        for r, j in enumerate(remaining):
            cw[r, j] = 1.0
        # Old rows plus chosen trials form the "old" block; fold the chosen counts into W_old via a wider matrix.
        W_base = np.concatenate([W_old, np.zeros((K, n_candidates))], axis=1)
        for i, j in enumerate(chosen):
            W_base[:, problem.n_points + j] = picked_counts[:, i]
        params_list = _bootstrap_many(aug, seeds_theta, W_base, new_counts, cw, problem.n_points)
        widths = [_interval_widths(p, law_obj, target_flops) for p in params_list]
        base = widths[-1]  # the last row of cw is all zeros: no new candidate
        if baseline is None:
            baseline = {"widths_95": base, "n_points": problem.n_points, "residual_scale": noise}
        scores = []
        for r, j in enumerate(remaining):
            shrink = {k: 1.0 - widths[r][k] / base[k] if base[k] > 0 else 0.0 for k in SCORED}
            score = float(np.mean([shrink[k] for k in SCORED]))
            scores.append(score)
            if round_ == 0:
                table.append({
                    "N": cand_n[j], "D": cand_d[j], "flops": next_flops, "tokens_per_param": cand_d[j] / cand_n[j],
                    "predicted_loss": pred[j], "shrink_loss_interval": shrink["loss_at_target"],
                    "shrink_N_opt_interval": shrink["N_opt"], "score": score,
                })
        best_r = int(np.argmax(scores))
        j = remaining[best_r]
        r_shr = {k: 1.0 - widths[best_r][k] / base[k] if base[k] > 0 else 0.0 for k in SCORED}
        trials.append({
            "N": cand_n[j], "D": cand_d[j], "flops": next_flops, "tokens_per_param": cand_d[j] / cand_n[j],
            "predicted_loss": pred[j], "shrink_loss_interval": r_shr["loss_at_target"],
            "shrink_N_opt_interval": r_shr["N_opt"], "score": scores[best_r],
            "cumulative_flops": next_flops * (len(chosen) + 1),
        })
        chosen.append(j)
        chosen_loss[j] = float(sim_loss[j])
    procedure = {
        "method": "simulated observation at the current fit's prediction with lognormal noise at the residual "
        "scale; bootstrap refits with common resamples; greedy selection",
        "bootstrap": K,
        "seed": seed,
        "candidates": n_candidates,
        "spread": spread,
        "scored": list(SCORED),
        "score": "mean relative shrinkage of 95% interval widths (loss at target, ln N_opt at target)",
        "fit_params": params,
    }
    return Suggestion(float(target_flops), float(next_flops), trials, table, baseline or {}, procedure)


def _bootstrap_many(
    aug: Problem, theta_seeds: np.ndarray, W_base: np.ndarray, new_counts: np.ndarray, cw: np.ndarray, n_old: int
) -> list[dict[str, np.ndarray]]:
    """Bootstrap refits for several candidate sets in one batch: row j of `cw` says which candidate rows join
    (with the replicate's `new_counts`) on top of `W_base`; returns each set's replicate parameters."""
    n_sets = cw.shape[0]
    K = W_base.shape[0]
    S0 = theta_seeds.shape[0]
    W = np.repeat(W_base[None, :, :], n_sets, axis=0)
    W[:, :, n_old:] += new_counts[None, :, None] * cw[:, None, :]
    W = W.reshape(n_sets * K, -1)
    obj = Objective(aug.law, aug.data, aug.log_loss, delta=aug.delta, row_weights=W,
                    row_map=np.repeat(np.arange(n_sets * K), S0))
    res = minimize_batch(obj, np.tile(obj.to_y(theta_seeds), (n_sets * K, 1)))
    f = res.f.reshape(n_sets * K, S0)
    best = np.argmin(np.where(np.isfinite(f), f, np.inf), axis=1)
    theta = obj.theta(res.x[np.arange(n_sets * K) * S0 + best])
    params = aug.law.to_params(theta)
    return [{k: v[j * K : (j + 1) * K] for k, v in params.items()} for j in range(n_sets)]
