"""`fit_law`: columns in, one FitResult out (estimate, optional bootstrap, derived quantities, procedure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scaling.accounting import compute
from scaling.fit.bootstrap import percentile_intervals, run_bootstrap, standard_errors
from scaling.fit.estimators import default_options, run_estimator
from scaling.fit.inputs import Problem, build_problem
from scaling.fit.laws import Law
from scaling.fit.lbfgs import LbfgsOptions
from scaling.fit.multistart import POLISH_OPTIONS, SAME_F_RTOL
from scaling.fit.objective import OBJECTIVE_TEXT
from scaling.fit.registry import get_law
from scaling.fit.result import FitResult


def fit_law(
    n: Any = None,
    d: Any = None,
    loss: Any = None,
    *,
    c: Any = None,
    u: Any = None,
    x: Any = None,
    law: str | Law = "chinchilla",
    method: str = "huber-grid",
    bootstrap: int = 0,
    seed: int = 0,
    weights: Any = None,
    groups: Any = None,
    delta: float = 1e-3,
    fixed: Mapping[str, float] | None = None,
    starts: Mapping[str, Sequence[float]] | np.ndarray | None = None,
    target_flops: float | None = None,
    names: Mapping[str, str] | None = None,
    columns: Mapping[str, Any] | None = None,
    options: LbfgsOptions | None = None,
    objective: str = "huber-log",
    **law_kwargs: Any,
) -> FitResult:
    """Fit `law` to losses at (n, d[, c, u, x]) with `method`; `bootstrap` > 0 adds seeded percentile intervals.

    D = C/(6N) when the law needs D and only C is given. `groups` labels rows by run, so the bootstrap resamples
    whole runs (for intermediate checkpoints). `fixed` holds parameters at given values; `starts` overrides
    (part of) the start grid; `law_kwargs` configure the law (e.g. `tied=True` for chinchilla: alpha = beta).
    `columns` passes inputs other than n, d, c, u, x that a registered law declares (e.g. sparsity `s`).
    `objective` picks the penalty and residual (scaling.fit.objective.OBJECTIVES): Huber or least squares, on log
    or raw loss; "squares-raw" is what scipy `curve_fit` minimises.
    """
    law_obj = get_law(law).configure(**law_kwargs)
    problem = build_problem(
        law_obj, loss=loss, n=n, d=d, c=c, u=u, x=x, weights=weights, groups=groups, fixed=fixed, delta=delta,
        names=names, columns=columns, objective=objective,
    )
    return fit_problem(
        problem, method=method, bootstrap=bootstrap, seed=seed, starts=starts, target_flops=target_flops,
        options=options,
    )


def fit_problem(
    problem: Problem,
    *,
    method: str = "huber-grid",
    bootstrap: int = 0,
    seed: int = 0,
    starts: Any = None,
    target_flops: float | None = None,
    options: LbfgsOptions | None = None,
) -> FitResult:
    """Fit a validated problem (what `fit_law` does after checking its columns)."""
    law = problem.law
    opts = options or default_options(method)
    outcome, objective = run_estimator(problem, method, starts, opts)
    theta = objective.theta(outcome.y[None, :])[0]
    params = law.to_params(theta)
    target_flops, target_note = _target_flops(problem, target_flops)
    derived = law.derived(params, target_flops)
    scale = float(np.exp(outcome.y[-1])) if objective.kind == "ml" else None
    procedure: dict[str, Any] = {
        "objective": "Huber likelihood with free scale (negative log-likelihood)"
        if objective.kind == "ml"
        else OBJECTIVE_TEXT[problem.objective],
        "objective_name": "ml" if objective.kind == "ml" else problem.objective,
        "huber_delta": problem.delta if objective.penalty == "huber" else None,
        "coordinates": list(law.coord_names),
        "fixed": {law.coords[j].param: float(v) for j, v in problem.fixed.items()},
        "weights": problem.weights is not None,
        "lbfgs": opts.as_dict(),
        "polish": {"method": "scipy L-BFGS-B", **POLISH_OPTIONS},
        "same_objective_rtol": SAME_F_RTOL,
        "start_status": outcome.start_status,
        "target_flops": target_note,
        **outcome.extra,
    }
    result = FitResult(
        law=law.name,
        method=method,
        params=params,
        objective=outcome.fun,
        n_points=problem.n_points,
        converged=outcome.converged,
        message=outcome.message,
        grad_norm=outcome.grad_norm,
        n_starts=outcome.n_starts,
        n_at_best=outcome.n_at_best,
        conventions=dict(problem.conventions),
        procedure=procedure,
        derived=derived,
        scale=scale,
        target_flops=target_flops,
        law_obj=law,
    )
    if bootstrap and bootstrap > 0:
        boot = run_bootstrap(
            problem, objective, outcome, n_boot=int(bootstrap), seed=seed, groups=problem.groups, options=opts
        )
        samples = dict(boot.params)
        for k, v in derived_samples(law, boot.params, target_flops).items():
            samples[k] = v
        samples["objective"] = boot.objective
        result.bootstrap_samples = samples
        shown = {k: v for k, v in samples.items() if k != "objective"}
        result.intervals = percentile_intervals(shown)
        result.standard_errors = standard_errors(shown)
        procedure["bootstrap"] = boot.record
        # Intervals use finite replicates only; say how many ran off to inf/NaN so a reader can judge them.
        non_finite = {k: int(np.sum(~np.isfinite(np.asarray(v, dtype=np.float64)))) for k, v in shown.items()}
        procedure["bootstrap"]["non_finite_replicates"] = {k: n for k, n in non_finite.items() if n}
    return result


def derived_samples(law: Law, params: Mapping[str, np.ndarray], target_flops: float | None) -> dict[str, np.ndarray]:
    """Derived quantities for each bootstrap replicate."""
    K = len(next(iter(params.values())))
    rows = [law.derived({k: float(v[i]) for k, v in params.items()}, target_flops) for i in range(K)]
    if not rows or not rows[0]:
        return {}
    return {k: np.array([r.get(k, np.nan) for r in rows]) for k in rows[0]}


def _target_flops(problem: Problem, target: float | None) -> tuple[float | None, str]:
    """The compute at which derived quantities are reported: given, or the data's largest (C or 6ND)."""
    if target is not None:
        if not np.isfinite(target) or target <= 0:
            from scaling.errors import UserError

            raise UserError(f"target compute must be a positive number of FLOPs, got {target}")
        return float(target), "given"
    cols = problem.cols
    if "c" in cols:
        return float(np.max(cols["c"])), "largest C in the data"
    if "n" in cols and "d" in cols:
        return float(np.max(compute(cols["n"], cols["d"]))), "largest 6ND in the data"
    return None, "none (the law has no N and D)"
