"""Evaluating fitted and published laws for drawing: predictions at points, compute-optimal N(C) and D(C).

Fitted laws come as `FitResult`s from the fit report; published references are fixed constants, drawn for
comparison only. Compute follows the report's conventions (`k(N)` = C / (N D), 6 under C = 6ND).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scaling.accounting import tokens_for_compute
from scaling.fit.allocation import chinchilla_allocation
from scaling.fit.laws import chinchilla_compute_optimal
from scaling.fit.points import PointsTable
from scaling.fit.report import ND_LAWS
from scaling.fit.result import FitResult

PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day
# Hoffmann et al. 2022 approach 3 constants (their eq. 10); Kaplan et al. 2020 eq. 6.1 / fig. 14: N_opt = 1.3e9 C^0.73
CHINCHILLA_PUBLISHED = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
KAPLAN_N_OPT = (1.3e9, 0.73)


def is_nd_law(result: FitResult) -> bool:
    """True for laws of exactly (N, D): the ones a contour, a frontier and N_opt(C) can be drawn from."""
    from scaling.fit.registry import get_law

    return tuple(get_law(result.law).inputs) == ("n", "d")


def predict_at(result: FitResult, points: PointsTable) -> np.ndarray:
    """The law's prediction at each point of the table (N, D and C under the table's conventions)."""
    from scaling.fit.data_levels import unique_tokens
    from scaling.fit.registry import get_law

    available = {"n": points.n, "d": points.d, "c": points.c}
    u = unique_tokens(points)  # a data-constrained law's U, where the sweep swept data.unique_tokens
    if u is not None:
        available["u"] = u
    inputs = get_law(result.law).inputs
    missing = [k for k in inputs if k not in available]
    if missing:
        raise ValueError(f"law {result.law!r} needs {missing}, which the points table does not carry")
    return np.asarray(result.predict(**{k: available[k] for k in inputs}), dtype=np.float64)


def compute_optimal(result: FitResult, flops: np.ndarray, k_of_n: Callable[[np.ndarray], np.ndarray]
                    ) -> dict[str, np.ndarray]:
    """N_opt, D_opt and loss at each compute C = k(N) N D for an (N, D) law: the allocation's closed form for the
    Chinchilla family, otherwise a dense search over log N (with a parabolic refinement) at each C."""
    flops = np.asarray(flops, dtype=np.float64)
    if result.law in ND_LAWS:
        return chinchilla_allocation(result.params, flops, k_of_n)
    n_opt = np.empty_like(flops)
    for i, c in enumerate(flops):
        ln_n = np.linspace(np.log(c) * 0.05, np.log(c) * 0.95, 801)
        n = np.exp(ln_n)
        loss = result.predict(n=n, d=c / (k_of_n(n) * n))
        j = int(np.clip(np.nanargmin(loss), 1, ln_n.size - 2))
        y0, y1, y2 = np.log(loss[j - 1 : j + 2])
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom > 0 else 0.0
        n_opt[i] = np.exp(ln_n[j] + shift * (ln_n[1] - ln_n[0]))
    d_opt = flops / (k_of_n(n_opt) * n_opt)
    return {"N_opt": n_opt, "D_opt": d_opt, "loss": result.predict(n=n_opt, d=d_opt)}


def chinchilla_reference(flops: np.ndarray) -> dict[str, np.ndarray]:
    """Hoffmann et al.'s published approach-3 law: N_opt(C), D_opt(C) at these computes (C = 6ND)."""
    opt = chinchilla_compute_optimal(CHINCHILLA_PUBLISHED, np.asarray(flops, dtype=np.float64))
    return {"N_opt": np.asarray(opt["N_opt"]), "D_opt": np.asarray(opt["D_opt"])}


def kaplan_reference(flops: np.ndarray) -> dict[str, np.ndarray]:
    """Kaplan et al.'s compute-efficient frontier N_opt = 1.3e9 (C / PF-day)^0.73, D = C / (6 N)."""
    flops = np.asarray(flops, dtype=np.float64)
    scale, exponent = KAPLAN_N_OPT
    n_opt = scale * (flops / PF_DAY) ** exponent
    return {"N_opt": n_opt, "D_opt": tokens_for_compute(flops, n_opt)}
