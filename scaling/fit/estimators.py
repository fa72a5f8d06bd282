"""The three estimators behind `fit_law(method=...)`: huber-grid (default), varpro and ml.

- `huber-grid`: summed Huber loss on log residuals, multi-start L-BFGS over the law's start grid (Hoffmann's
  grid for Chinchilla), best end point polished by scipy L-BFGS-B (`scaling.fit.multistart`).
- `varpro`: variable projection: a grid over the exponents, non-negative least squares for the coefficients
  (relative residuals, a linearisation of log residuals), the best distinct grid points polished on the
  summed-Huber objective. Fast and needs no start grid over coefficients.
- `ml`: maximum likelihood under a Huber density with free scale (Besiroglu et al.'s headline fit); seeded by
  the distinct optima of the huber-grid fit, log sigma added as a coordinate; its objective is a negative
  log-likelihood, so two laws compare by a likelihood ratio.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import nnls

from scaling.errors import UserError
from scaling.fit.inputs import Problem
from scaling.fit.lbfgs import LbfgsOptions
from scaling.fit.multistart import MultiStartOutcome, distinct_optima, multistart
from scaling.fit.objective import Objective

METHODS = ("huber-grid", "varpro", "ml")
VARPRO_POLISH = 8  # best distinct grid points polished by L-BFGS
# The likelihood's scale makes its objective almost piecewise linear (Laplace-like); a longer memory and a
# looser curvature condition take fewer iterations there.
ML_OPTIONS = LbfgsOptions(memory=20, c2=0.99)


def default_options(method: str) -> LbfgsOptions:
    """The batched L-BFGS tolerances a method uses unless told otherwise."""
    return ML_OPTIONS if method == "ml" else LbfgsOptions()


def make_objective(problem: Problem, kind: str = "huber", row_weights: np.ndarray | None = None) -> Objective:
    """The objective of `problem` (with its weights and fixed parameters) of the given kind."""
    return Objective(
        problem.law,
        problem.data,
        problem.log_loss,
        delta=problem.delta,
        kind=kind,
        weights=problem.weights,
        row_weights=row_weights,
        fixed=problem.fixed,
        objective=problem.objective,
    )


def start_thetas(problem: Problem, starts: Mapping[str, Sequence[float]] | np.ndarray | None = None) -> np.ndarray:
    """Full-coordinate start points: the law's grid (or `starts`), fixed coordinates set, duplicates removed."""
    law = problem.law
    if starts is None or isinstance(starts, Mapping):
        grid = dict(law.start_grid)
        grid.update(starts or {})
        for j in problem.fixed:
            grid[law.coords[j].name] = (0.0,)
        theta = law.start_points(grid)
    else:
        theta = np.atleast_2d(np.asarray(starts, dtype=np.float64))
        if theta.shape[1] != law.n_params:
            raise UserError(f"start points for law {law.name!r} need {law.n_params} coordinates {law.coord_names}")
    for j, v in problem.fixed.items():
        theta[:, j] = v
    return np.unique(theta, axis=0) if problem.fixed else theta


def fit_huber_grid(
    problem: Problem, starts: Any = None, options: LbfgsOptions | None = None
) -> tuple[MultiStartOutcome, Objective]:
    """Summed-Huber multi-start fit over the start grid."""
    obj = make_objective(problem)
    theta0 = start_thetas(problem, starts)
    out = multistart(obj, obj.to_y(theta0), options)
    out.extra["start_grid"] = _grid_record(problem, starts)
    return out, obj


def fit_varpro(problem: Problem, options: LbfgsOptions | None = None) -> tuple[MultiStartOutcome, Objective]:
    """Variable projection: exponent grid x NNLS coefficients, then L-BFGS polish of the best grid points."""
    law = problem.law
    spec = law.varpro
    if spec is None:
        raise UserError(f"method 'varpro' is not available for law {law.name!r}; use 'huber-grid' or 'ml'")
    if problem.fixed:
        raise UserError("method 'varpro' does not take fixed parameters; use 'huber-grid'")
    names = list(spec.grid)
    grid = list(itertools.product(*(spec.grid[k] for k in names)))
    L = problem.loss
    w = np.ones_like(L) if problem.weights is None else problem.weights
    scale = np.sqrt(w) / L  # relative residuals ~ log residuals
    thetas = []
    for ex in grid:
        B = spec.basis(np.asarray(ex), problem.data)
        coefs, _ = nnls(B * scale[:, None], L * scale)
        thetas.append(spec.to_theta(np.asarray(ex), np.maximum(coefs, 1e-8 * float(np.median(L)))))
    theta = np.array(thetas)
    obj = make_objective(problem)
    y = obj.to_y(theta)
    f, _ = obj(y)
    seeds, _ = distinct_optima(y, f, keep=VARPRO_POLISH)
    out = multistart(obj, seeds, options)
    out.n_starts = len(grid)
    out.extra["varpro"] = {
        "exponent_grid": {k: [float(min(spec.grid[k])), float(max(spec.grid[k])), len(spec.grid[k])] for k in names},
        "coefficients": "non-negative least squares on relative residuals (L_pred - L) / L",
        "polished_grid_points": int(seeds.shape[0]),
    }
    return out, obj


def fit_ml(
    problem: Problem, starts: Any = None, options: LbfgsOptions | None = None
) -> tuple[MultiStartOutcome, Objective]:
    """Huber maximum likelihood with free scale, seeded by the huber-grid fit's distinct optima."""
    if problem.objective != "huber-log":
        raise UserError(f"method 'ml' is the Huber likelihood of log residuals; objective {problem.objective!r} "
                        "needs method 'huber-grid' or 'varpro'")
    seed_out, seed_obj = fit_huber_grid(problem, starts, None if options is ML_OPTIONS else options)
    theta = seed_obj.theta(seed_out.optima)
    theta = np.vstack([seed_obj.theta(seed_out.y[None, :]), theta])
    obj = make_objective(problem, kind="ml")
    r = obj.residuals(theta)
    # Start the scale where it would be for Laplace-like residuals: sigma = delta-scaled mean |r|.
    log_sigma = np.log(np.maximum(problem.delta * np.abs(r).mean(axis=1), 1e-300))
    out = multistart(obj, obj.to_y(theta, log_sigma), options or ML_OPTIONS)
    out.extra["start_grid"] = _grid_record(problem, starts)
    out.extra["ml_seeds"] = f"{theta.shape[0]} distinct optima of the huber-grid fit, log sigma appended"
    out.extra["huber_grid_objective"] = seed_out.fun
    out.n_starts = seed_out.n_starts
    return out, obj


def run_estimator(
    problem: Problem, method: str, starts: Any = None, options: LbfgsOptions | None = None
) -> tuple[MultiStartOutcome, Objective]:
    """Dispatch on the method name; UserError listing the valid ones otherwise."""
    if method == "huber-grid":
        return fit_huber_grid(problem, starts, options)
    if method == "varpro":
        return fit_varpro(problem, options)
    if method == "ml":
        return fit_ml(problem, starts, options)
    raise UserError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _grid_record(problem: Problem, starts: Any) -> Any:
    """The start grid as plain data for the result's procedure record."""
    if starts is not None and not isinstance(starts, Mapping):
        return f"{np.atleast_2d(starts).shape[0]} explicit start points"
    grid = dict(problem.law.start_grid)
    grid.update(starts or {})
    return {k: [float(v) for v in vals] for k, vals in grid.items()}
