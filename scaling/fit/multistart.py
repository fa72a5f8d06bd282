"""Multi-start minimisation of a law's objective: every start of a grid, then a tight scipy polish of the best.

Procedure (`huber-grid`, the default; also the core of `ml` and the polish of `varpro`):
1. every start of the law's grid (Hoffmann et al.'s 4,500 for Chinchilla) runs L-BFGS to the tight tolerances of
   `LbfgsOptions`, all starts at once (`scaling.fit.lbfgs`);
2. the best end point is polished by scipy's L-BFGS-B (`POLISH_OPTIONS`), whose message, iterations and final
   gradient are reported; least-squares objectives are then polished by scipy's Gauss-Newton `least_squares`
   with the analytic Jacobian, which reaches the exact minimiser `curve_fit` reports;
3. the end points are grouped into distinct optima (same objective to `SAME_F_RTOL` and same point to
   `SAME_X_ATOL`): how many starts reached the best objective is a fact of the fit, and the distinct optima seed
   bootstrap refits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares, minimize

from scaling.fit.lbfgs import STATUS_TEXT, LbfgsOptions, minimize_batch
from scaling.fit.objective import Objective

POLISH_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000, "maxcor": 20, "maxls": 50}
SAME_F_RTOL = 1e-6  # a start "reached the best objective" when within this relative distance of it
SAME_X_ATOL = 1e-3  # end points closer than this (max over coordinates, optimiser space) are one optimum
MAX_OPTIMA = 8  # distinct optima kept (best first) to seed bootstrap refits


@dataclass
class MultiStartOutcome:
    """What a multi-start fit found: the polished best point and the facts about every start."""

    y: np.ndarray  # polished best, optimiser coordinates
    fun: float
    grad_norm: float  # max |gradient| at the polished best, in the law's fitting coordinates
    converged: bool
    message: str
    nit_polish: int
    n_starts: int
    n_at_best: int
    start_status: dict[str, int]
    optima: np.ndarray  # distinct end points (optimiser coordinates), best first
    optima_f: np.ndarray
    nfev: int
    extra: dict = field(default_factory=dict)


def polish(objective: Objective, y0: np.ndarray) -> tuple[np.ndarray, float, bool, str, int]:
    """scipy L-BFGS-B from `y0` with the tight `POLISH_OPTIONS`; returns (y, f, success, message, nit)."""

    def fun(y: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = objective(y[None, :])
        return float(f[0]), g[0]

    res = minimize(fun, np.asarray(y0, dtype=np.float64), jac=True, method="L-BFGS-B", options=POLISH_OPTIONS)
    y, f, ok, message, nit = res.x, float(res.fun), bool(res.success), str(res.message), int(res.nit)
    if objective.penalty == "squares" and objective.kind == "huber":
        y2, f2, ok2, message2, nit2 = polish_squares(objective, y)
        if f2 <= f:
            return y2, f2, ok2, message2, nit + nit2
    return y, f, ok, message, nit


def polish_squares(objective: Objective, y0: np.ndarray) -> tuple[np.ndarray, float, bool, str, int]:
    """Gauss-Newton (Levenberg-Marquardt where points outnumber coordinates) on the residual vector."""
    method = "lm" if objective.n >= objective.n_theta else "trf"
    res = least_squares(lambda y: objective.residual_jacobian(y)[0], np.asarray(y0, dtype=np.float64),
                        jac=lambda y: objective.residual_jacobian(y)[1], method=method,
                        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10_000)
    f = float(objective(res.x[None, :])[0][0])
    return res.x, f, bool(res.success), f"least_squares ({method}): {res.message}", int(res.nfev)


def gradient_in_theta(objective: Objective, y: np.ndarray) -> np.ndarray:
    """The objective's gradient with respect to the law's free fitting coordinates (and log sigma for ml)."""
    _, g = objective(np.atleast_2d(y))
    g = g[0].copy()
    # g_y = g_theta @ T  =>  g_theta = g_y @ T^-1
    g[: objective.n_theta] = g[: objective.n_theta] @ objective.T_inv
    return g


def distinct_optima(y: np.ndarray, f: np.ndarray, keep: int = MAX_OPTIMA) -> tuple[np.ndarray, np.ndarray]:
    """End points grouped by objective and position, best first; at most `keep` representatives."""
    ok = np.isfinite(f)
    order = np.flatnonzero(ok)[np.argsort(f[ok], kind="stable")]
    reps: list[int] = []
    for i in order:
        if any(
            abs(f[i] - f[j]) <= SAME_F_RTOL * max(abs(f[j]), 1e-300) and np.max(np.abs(y[i] - y[j])) <= SAME_X_ATOL
            for j in reps
        ):
            continue
        reps.append(int(i))
        if len(reps) >= keep:
            break
    return y[reps], f[reps]


def multistart(
    objective: Objective, starts_y: np.ndarray, options: LbfgsOptions | None = None
) -> MultiStartOutcome:
    """Run every start, polish the best, and report how many starts reached it."""
    nfev0 = objective.nfev
    batch = minimize_batch(objective, starts_y, options)
    if not np.any(np.isfinite(batch.f)):
        raise FloatingPointError("the objective is not finite at any start point")
    best = int(np.nanargmin(np.where(np.isfinite(batch.f), batch.f, np.nan)))
    y, fun, success, message, nit = polish(objective, batch.x[best])
    if not fun <= batch.f[best]:  # never report a polish that made things worse
        y, fun = batch.x[best], float(batch.f[best])
    tol = SAME_F_RTOL * max(abs(fun), 1e-300)
    n_at_best = int(np.sum(batch.f <= fun + tol))
    optima, optima_f = distinct_optima(batch.x, batch.f)
    g = gradient_in_theta(objective, y)
    status = {STATUS_TEXT[s]: int(c) for s, c in zip(*np.unique(batch.status, return_counts=True), strict=True)}
    return MultiStartOutcome(
        y=y,
        fun=fun,
        grad_norm=float(np.max(np.abs(g))),
        converged=success,
        message=message,
        nit_polish=nit,
        n_starts=int(starts_y.shape[0]),
        n_at_best=n_at_best,
        start_status=status,
        optima=optima,
        optima_f=optima_f,
        nfev=objective.nfev - nfev0,
    )
