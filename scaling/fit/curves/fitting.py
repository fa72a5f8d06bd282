"""Fit a loss-curve law to several curves at once: start grid, multi-start least squares, curve bootstrap.

Procedure (recorded in `CurveFitResult.procedure`):
1. points: per curve, the observed steps after the warmup's peak (and at or after `min_step`), thinned evenly to
   at most `max_points`; every learning rate of every update enters the law's sums whatever is thinned;
2. starts: for every value of the law's nonlinear coordinates on its grid, the linear ones (L0 and the two
   scales) are solved by least squares on raw loss; the `n_starts` best feasible grid points start step 3;
3. each start runs scipy's `least_squares` (trust-region reflective, bounds, analytic Jacobian) on the chosen
   objective: Huber (scale `delta`) or plain squares, on log or raw residuals; the best end point is the fit;
4. bootstrap: `numpy.random.default_rng(seed)` draws whole groups (runs) with replacement; each replicate is
   refitted from the fit's optimum and the next-best start; intervals are the 2.5 and 97.5 percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from scaling.errors import UserError
from scaling.fit.curves.curve import Curve
from scaling.fit.curves.laws import CurveLaw, Design, get_curve_law
from scaling.fit.curves.result import CurveFitResult

# objective name -> (residuals on log loss?, scipy loss)
OBJECTIVES: dict[str, tuple[bool, str]] = {
    "huber-log": (True, "huber"),
    "lsq-log": (True, "linear"),
    "huber": (False, "huber"),
    "lsq": (False, "linear"),
}
DEFAULT_DELTA = 1e-3
SOLVER = {"method": "trf", "x_scale": "jac", "ftol": 1e-12, "xtol": 1e-12, "gtol": 1e-12, "max_nfev": 2000}
BOOTSTRAP = {**SOLVER, "ftol": 1e-10, "xtol": 1e-10, "gtol": 1e-10, "max_nfev": 500}
SCOUT = {**SOLVER, "ftol": 1e-7, "xtol": 1e-7, "gtol": 1e-7, "max_nfev": 200}  # every start; the best is polished
SAME_COST_RTOL = 1e-6


@dataclass
class _Problem:
    """The fit's data: each curve's design and observed losses, and how residuals are taken."""

    law: CurveLaw
    designs: list[Design]
    loss_n: list[np.ndarray]
    log_residuals: bool
    loss_kind: str
    delta: float

    def residuals(self, theta: np.ndarray, which: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked residuals and their Jacobian over the curves `which` (a curve may repeat: bootstrap)."""
        rs, js = [], []
        for i in which:
            pred_n, J = self.law.evaluate(theta, self.designs[i])
            if self.log_residuals:
                safe_n = np.maximum(pred_n, 1e-12)
                rs.append(np.log(safe_n) - np.log(self.loss_n[i]))
                js.append(J / safe_n[:, None])
            else:
                rs.append(pred_n - self.loss_n[i])
                js.append(J)
        return np.concatenate(rs), np.vstack(js)

    def solve(self, theta0: np.ndarray, which: Sequence[int], bounds: tuple[np.ndarray, np.ndarray],
              options: dict[str, Any] = SOLVER) -> Any:
        """scipy's least_squares from `theta0` on the curves `which`, with the analytic Jacobian."""
        lo, hi = bounds
        x0 = np.clip(theta0, lo + 1e-12 * (hi - lo), hi - 1e-12 * (hi - lo))
        cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

        def both(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            key = theta.tobytes()
            if key not in cache:
                cache.clear()
                with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                    cache[key] = self.residuals(theta, which)
            return cache[key]

        return least_squares(lambda t: both(t)[0], x0, jac=lambda t: both(t)[1], bounds=(lo, hi),
                             loss=self.loss_kind, f_scale=self.delta, **options)


def _points(curve: Curve, min_step: int | None, max_points: int) -> Curve:
    """The curve's points after the warmup's peak and from `min_step` on, thinned evenly to `max_points`."""
    first = max(curve.warmup_end + 2, min_step or 1)
    keep_n = curve.steps >= first
    if not np.any(keep_n):
        raise UserError(f"curve {curve.name!r}: no observed step after the warmup (step {curve.warmup_end + 1}) "
                        f"and from min_step {min_step}; give a later-logged curve or a smaller min_step")
    idx = np.flatnonzero(keep_n)
    if idx.size > max_points:
        idx = idx[np.unique(np.round(np.linspace(0, idx.size - 1, max_points)).astype(int))]
    mask = np.zeros_like(keep_n)
    mask[idx] = True
    return curve.select(mask)


def _grid_starts(problem: _Problem, n_starts: int, total_steps: int) -> list[np.ndarray]:
    """The best feasible grid points (linear coordinates solved by least squares), best first."""
    law = problem.law
    y = np.concatenate(problem.loss_n)
    found: list[tuple[float, np.ndarray]] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for nonlinear in law.grid(total_steps):
            X = np.vstack([law.basis(nonlinear, d) for d in problem.designs])
            if not np.all(np.isfinite(X)):
                continue
            coef, *_ = np.linalg.lstsq(X, y, rcond=None)
            coef = np.maximum(coef, [0.0, 1e-12, 1e-12])  # the law's signs: L0, A and the drop's scale >= 0
            sse = float(np.sum((X @ coef - y) ** 2))
            found.append((sse, law.assemble(coef, nonlinear)))
    found.sort(key=lambda item: item[0])
    return [theta for _, theta in found[:n_starts]]


def fit_curves(
    curves: Sequence[Curve],
    law: str | CurveLaw = "multi-power",
    *,
    objective: str = "huber-log",
    delta: float = DEFAULT_DELTA,
    bootstrap: int = 0,
    seed: int = 0,
    min_step: int | None = None,
    max_points: int = 200,
    n_starts: int = 4,
    **law_options: Any,
) -> CurveFitResult:
    """Fit `law` to every curve jointly; `bootstrap` > 0 adds percentile intervals from resampled runs."""
    curves = list(curves)
    if not curves:
        raise UserError("no curves to fit: give at least one curve with its learning-rate history")
    if objective not in OBJECTIVES:
        raise UserError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    if delta <= 0 or max_points < 2 or n_starts < 1 or bootstrap < 0:
        raise UserError("delta must be > 0, max_points >= 2, n_starts >= 1 and bootstrap >= 0")
    n_groups = len({c.group for c in curves})
    if bootstrap and n_groups < 2:
        raise UserError(f"a curve bootstrap resamples whole runs and needs at least 2 (got {n_groups}); "
                        "fit more runs or pass bootstrap=0")
    law_obj = get_curve_law(law, **law_options)
    eta_ref = max(float(c.lr.max()) for c in curves)
    fitted = [_points(c, min_step, max_points) for c in curves]
    log_res, loss_kind = OBJECTIVES[objective]
    problem = _Problem(law_obj, [law_obj.design(c.lr, c.steps, eta_ref) for c in fitted],
                       [c.loss for c in fitted], log_res, loss_kind, float(delta))
    bounds = law_obj.bounds(float(max(c.loss.max() for c in fitted)))
    everyone = list(range(len(fitted)))
    starts = _grid_starts(problem, n_starts, max(c.total_steps for c in curves))
    runs = [problem.solve(theta0, everyone, bounds, SCOUT) for theta0 in starts]
    costs = np.array([r.cost if np.isfinite(r.cost) else np.inf for r in runs])
    order = np.argsort(costs, kind="stable")
    best = problem.solve(runs[order[0]].x, everyone, bounds)
    if not best.cost <= runs[order[0]].cost:  # never report a polish that made things worse
        best = runs[order[0]]
    n_at_best = int(np.sum(costs <= best.cost * (1 + 1e3 * SAME_COST_RTOL) + 1e-300))
    samples, boot_record = None, None
    if bootstrap:
        seeds = [best.x] + [runs[i].x for i in order[1:2]]
        samples, boot_record = _bootstrap(problem, fitted, seeds, bounds, eta_ref, bootstrap, seed)
    resid, _ = problem.residuals(best.x, everyone)
    return CurveFitResult.build(
        law=law_obj, theta=best.x, eta_ref=eta_ref, curves=fitted, cost=float(best.cost),
        converged=bool(best.success), message=str(best.message), n_starts=len(runs), n_at_best=n_at_best,
        rms_residual=float(np.sqrt(np.mean(resid**2))), samples=samples,
        procedure={
            "objective": objective, "residuals": "log loss" if log_res else "raw loss", "delta": float(delta),
            "solver": "scipy.optimize.least_squares", "n_starts": int(n_starts),
            "solver_options": {"starts": SCOUT, "polish": SOLVER, "bootstrap": BOOTSTRAP},
            "starts": "grid of the nonlinear coordinates; L0 and the scales solved by least squares on raw loss",
            "points": f"steps after the warmup's peak and from min_step ({min_step}) on, at most {max_points} "
                      "per curve, evenly spaced", "lr_units": f"learning rates divided by eta_ref = {eta_ref:.6g} "
                      "while fitting; parameters reported in natural units",
            "law_settings": law_obj.settings(), "bootstrap": boot_record,
        },
    )


def _bootstrap(problem: _Problem, curves: list[Curve], seeds: list[np.ndarray], bounds: tuple[np.ndarray, np.ndarray],
               eta_ref: float, n_boot: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Refit `n_boot` resamples of whole groups (runs); the parameters of each replicate, natural units."""
    labels, group_of = np.unique([c.group for c in curves], return_inverse=True)
    members = [np.flatnonzero(group_of == g) for g in range(labels.size)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, labels.size, size=(n_boot, labels.size))
    law = problem.law
    rows, converged = [], 0
    for draw in draws:
        which = [int(i) for g in draw for i in members[g]]
        fits = [problem.solve(s, which, bounds, BOOTSTRAP) for s in seeds]
        fit = min(fits, key=lambda r: r.cost if np.isfinite(r.cost) else np.inf)
        converged += bool(fit.success)
        rows.append(law.to_natural(fit.x, eta_ref))
    samples = {k: np.array([r[k] for r in rows]) for k in law.params}
    record = {"n": int(n_boot), "seed": int(seed), "resampling": "whole runs (groups)", "n_groups": int(labels.size),
              "starts_per_replicate": len(seeds), "converged_fraction": converged / n_boot,
              "percentiles": [2.5, 97.5]}
    return samples, record
