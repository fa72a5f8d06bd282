"""A design check before any compute: will the planned (N, D) points identify the law?

Losses are simulated at the planned points from a prior Chinchilla law plus Gaussian noise of the expected
seed-to-seed size, the law is refitted to each simulated sweep (a parametric bootstrap of the design), and the
spread of the refits is the interval width the real sweep can expect. Cheap structural warnings (too few points
per parameter, D/N nearly constant, IsoFLOP budgets with fewer than three sizes) come with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scaling.accounting import compute
from scaling.fit.api import fit_law
from scaling.fit.laws import chinchilla_compute_optimal

# Hoffmann et al. 2022's fitted constants: the default prior when the user has none of their own.
CHINCHILLA_PRIOR = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
DEFAULT_NOISE = 0.02  # nats: seed-to-seed spread of final losses measured on small CPU runs is of this order
CHINCHILLA_PARAMS = 5
MIN_POINTS_PER_PARAM = 3
LOG_WIDTHS = ("A", "B", "tokens_per_param")


@dataclass
class DesignCheck:
    """Expected 95% interval widths of each constant and of the compute-optimal exponent a and tokens per
    parameter (at the largest planned compute), from refits of simulated sweeps; and plain warnings."""

    n_points: int
    simulations: int
    noise: float
    prior: dict[str, float]
    widths: dict[str, float] = field(default_factory=dict)
    failed_fits: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"design check: {self.simulations} simulated sweeps of {self.n_points} points, noise "
               f"{self.noise:g} nats, prior " + ", ".join(f"{k}={v:g}" for k, v in self.prior.items())]
        if self.widths:
            out.append("expected 95% interval widths: " + ", ".join(f"{k} {v:.3g}" for k, v in self.widths.items()))
        return out + [f"warning: {w}" for w in self.warnings]


def structural_warnings(n: np.ndarray, d: np.ndarray, budgets: list[float | None] | None = None, *,
                        n_params: int = CHINCHILLA_PARAMS, inputs: tuple[str, ...] = ("n", "d"),
                        u: np.ndarray | None = None) -> list[str]:
    """Design flaws visible without fitting, for a law of `n_params` free parameters reading `inputs` (n, d,
    u (unique tokens) and/or c = 6ND): points per parameter, collinear N and D, thin IsoFLOP budgets."""
    out = []
    uses_n, uses_d = "n" in inputs, "d" in inputs
    columns = [np.asarray(x).tolist() for name, x in (("n", n), ("d", d), ("u", u)) if name in inputs and x is not None]
    distinct = len(set(zip(*columns, strict=True)) if columns else set(compute(n, d).tolist()))
    what = "/".join(k.upper() for k in inputs if k in ("n", "d", "c", "u")) or "input"
    if distinct < MIN_POINTS_PER_PARAM * n_params:
        out.append(f"{distinct} distinct ({what}) points for a {n_params}-parameter law: fewer than "
                   f"{MIN_POINTS_PER_PARAM} per parameter (add sizes or budgets)")
    if uses_n and len(set(n.tolist())) < 3:
        out.append(f"{len(set(n.tolist()))} model size(s): alpha needs at least 3")
    if uses_d and len(set(d.tolist())) < 3:
        out.append(f"{len(set(d.tolist()))} token budget(s): beta needs at least 3")
    if uses_n and uses_d and distinct >= 2 and np.ptp(np.log(n)) > 0 and np.ptp(np.log(d)) > 0:
        ratio = np.log(d) - np.log(n)
        if np.ptp(ratio) < 0.1:
            out.append("D/N is (nearly) the same at every point: N and D are collinear and the law cannot tell "
                       "alpha from beta (vary tokens per parameter)")
    if budgets is not None and uses_n:
        sizes: dict[float, set[float]] = {}
        for ni, b in zip(n.tolist(), budgets, strict=True):
            if b is not None:
                sizes.setdefault(b, set()).add(ni)
        thin = [b for b, s in sizes.items() if len(s) < 3]
        if sizes and thin:
            out.append(f"{len(thin)} of {len(sizes)} IsoFLOP budget(s) have fewer than 3 sizes: no parabola there")
    return out


def check_design(n: np.ndarray, d: np.ndarray, *, prior: dict[str, float] | None = None, noise: float = DEFAULT_NOISE,
                 simulations: int = 40, seed: int = 0, replicates: np.ndarray | None = None,
                 budgets: list[float | None] | None = None) -> DesignCheck:
    """Simulate the planned sweep `simulations` times from `prior` with `noise` (a point with r replicates
    gets noise / sqrt(r)), refit each with varpro, and report the 2.5-97.5% spread of every constant."""
    n, d = np.asarray(n, np.float64), np.asarray(d, np.float64)
    prior = dict(prior or CHINCHILLA_PRIOR)
    reps = np.ones_like(n) if replicates is None else np.asarray(replicates, np.float64)
    check = DesignCheck(n_points=len(n), simulations=simulations, noise=noise, prior=prior,
                        warnings=structural_warnings(n, d, budgets))
    mean = prior["E"] + prior["A"] / n ** prior["alpha"] + prior["B"] / d ** prior["beta"]
    c_max = float(np.max(compute(n, d)))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in (*prior, "a", "tokens_per_param")}
    for _ in range(simulations):
        loss = mean + rng.normal(0.0, noise, len(n)) / np.sqrt(reps)
        try:
            fit = fit_law(n=n, d=d, loss=loss, law="chinchilla", method="varpro")
        except (ValueError, ArithmeticError):
            check.failed_fits += 1
            continue
        p = fit.params
        if not all(np.isfinite(v) for v in p.values()):
            check.failed_fits += 1
            continue
        for k in prior:
            draws[k].append(p[k])
        opt = chinchilla_compute_optimal(p, c_max)
        draws["a"].append(p["beta"] / (p["alpha"] + p["beta"]))
        draws["tokens_per_param"].append(opt["D_opt"] / opt["N_opt"])
    for k, values in draws.items():
        if len(values) >= max(5, simulations // 2):
            in_logs = k in LOG_WIDTHS  # scale constants and D/N span decades: their widths are in log10
            lo, hi = np.percentile(np.log10(values) if in_logs else values, [2.5, 97.5])
            check.widths[f"log10 {k}" if in_logs else k] = float(hi - lo)
    if check.failed_fits > simulations // 4:
        check.warnings.append(f"{check.failed_fits} of {simulations} simulated sweeps could not be fitted at all")
    return check
