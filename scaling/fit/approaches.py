"""Hoffmann et al.'s three approaches to the compute-optimal frontier, plus Kaplan's fits and the frontier itself.

1. `envelope_approach`: the minimum-loss envelope over training curves at each FLOP count; N_opt(C), D_opt(C).
2. `isoflop_approach`: per compute budget a parabola of loss in ln N (with diagnostics), then power laws
   N_opt = k_N C^a and D_opt = k_D C^b through the parabolas' minima.
3. the parametric law: `fit_law(..., law="chinchilla")`, closed-form frontier.
`kaplan_fits` fits Kaplan et al.'s single-variable laws; `compute_optimal_frontier` evaluates N_opt, D_opt and
the loss along C from any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.accounting import tokens_for_compute
from scaling.errors import UserError
from scaling.fit.inputs import _as_column
from scaling.fit.result import json_safe

BUDGET_TOL_DEX = 0.05  # compute values within this many decades of each other form one budget
DEFAULT_WINDOW = 5.0  # parabola through the points within this factor of the best observed size
MIN_POINTS = 3
FLAT_RTOL = 1e-3  # a parabola rising less than this fraction of its minimum across its window is "flat"


@dataclass
class PowerLawFit:
    """y = coefficient * C^exponent, fitted by least squares in log-log, with its R^2 and exponent stderr."""

    exponent: float
    coefficient: float
    r2: float
    n_points: int
    exponent_stderr: float | None = None

    def __call__(self, flops: Any) -> np.ndarray:
        return self.coefficient * np.asarray(flops, dtype=np.float64) ** self.exponent

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return json_safe(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PowerLawFit:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def fit_power_law(x: Any, y: Any, weights: Any = None) -> PowerLawFit:
    """Least squares of ln y on ln x (optionally weighted); needs two distinct x."""
    lx, ly = np.log(np.asarray(x, dtype=np.float64)), np.log(np.asarray(y, dtype=np.float64))
    if lx.size < 2 or np.unique(lx).size < 2:
        raise UserError(f"a power law needs at least two distinct compute values, got {np.unique(lx).size}")
    w = np.ones_like(lx) if weights is None else np.asarray(weights, dtype=np.float64)
    X = np.column_stack([np.ones_like(lx), lx])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], ly * sw, rcond=None)
    resid = ly - X @ coef
    ss_res = float(np.sum(w * resid**2))
    ss_tot = float(np.sum(w * (ly - np.average(ly, weights=w)) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    stderr = None
    if lx.size > 2:
        cov = ss_res / (lx.size - 2) * np.linalg.inv((X * w[:, None]).T @ X)
        stderr = float(np.sqrt(cov[1, 1]))
    return PowerLawFit(exponent=float(coef[1]), coefficient=float(np.exp(coef[0])), r2=r2, n_points=int(lx.size),
                       exponent_stderr=stderr)


def group_budgets(flops: Any, tol_dex: float = BUDGET_TOL_DEX) -> tuple[np.ndarray, np.ndarray]:
    """Label each point with its compute budget: sorted log10 C split where consecutive gaps exceed `tol_dex`.

    Returns (labels per point, budget per label as the geometric mean of its members).
    """
    lc = np.log10(np.asarray(flops, dtype=np.float64))
    order = np.argsort(lc, kind="stable")
    breaks = np.diff(lc[order]) > tol_dex
    sorted_labels = np.concatenate([[0], np.cumsum(breaks)])
    labels = np.empty_like(sorted_labels)
    labels[order] = sorted_labels
    budgets = np.array([10 ** np.mean(lc[labels == k]) for k in range(int(labels.max()) + 1)])
    return labels, budgets


# ------------------------------------------------------------------------------------------------------------
# Approach 2: IsoFLOP parabolas
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Parabola:
    """One budget's parabola L = c2 x^2 + c1 x + c0 in x = ln N (or ln D), its minimum and diagnostics."""

    flops: float
    n_points: int
    coefficients: list[float]  # [c2, c1, c0]
    x_window: list[float]  # the ln N (or ln D) range the parabola was fitted on
    x_opt: float | None
    loss_opt: float | None
    diagnostics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no diagnostic flags this budget (it then enters the power law)."""
        return not self.diagnostics

    @property
    def opt(self) -> float | None:
        """The parabola's minimiser in natural units (N_opt or D_opt)."""
        return None if self.x_opt is None else float(np.exp(self.x_opt))

    def __call__(self, x: Any) -> np.ndarray:
        """The parabola's loss at natural-unit sizes (for plotting)."""
        c2, c1, c0 = self.coefficients
        lx = np.log(np.asarray(x, dtype=np.float64))
        return c2 * lx**2 + c1 * lx + c0

    def to_dict(self) -> dict[str, Any]:
        """Plain data, including the minimiser in natural units."""
        return json_safe({**self.__dict__, "opt": self.opt, "ok": self.ok})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Parabola:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["coefficients"] = [float("nan") if c is None else c for c in fields["coefficients"]]
        return cls(**fields)


def fit_parabola(
    x: np.ndarray, loss: np.ndarray, flops: float, *, window: float | None = DEFAULT_WINDOW,
    min_points: int = MIN_POINTS, flat_rtol: float = FLAT_RTOL,
) -> Parabola:
    """Parabola in ln x through one budget's points, with diagnostics instead of exceptions.

    Diagnostics: `too_few_points` (< min_points), `minimum_at_edge` (the lowest observed loss is at the
    smallest or largest sampled size, or the vertex falls outside the fitted range), `not_convex` (c2 <= 0),
    `flat` (the parabola rises less than flat_rtol of its minimum across the fitted range).
    """
    order = np.argsort(x)
    lx = np.log(x[order])
    y = loss[order]
    diags: list[str] = []
    if lx.size < min_points or np.unique(lx).size < min_points:
        return Parabola(float(flops), int(lx.size), [np.nan] * 3, [float(lx.min()), float(lx.max())], None, None,
                        ["too_few_points"])
    i = int(np.argmin(y))
    if i == 0 or i == lx.size - 1:
        diags.append("minimum_at_edge")
    if window is None:
        sel = np.ones(lx.size, dtype=bool)
    else:
        sel = np.abs(lx - lx[i]) <= np.log(window) + 1e-12
        if sel.sum() < min_points:
            sel = np.zeros(lx.size, dtype=bool)
            sel[np.argsort(np.abs(lx - lx[i]), kind="stable")[:min_points]] = True
    xs, ys = lx[sel], y[sel]
    center = float(np.mean(xs))
    c2, c1c, c0c = np.polyfit(xs - center, ys, 2)
    # back to coefficients in x itself
    c1 = c1c - 2 * c2 * center
    c0 = c0c - c1c * center + c2 * center**2
    coefs = [float(c2), float(c1), float(c0)]
    win = [float(xs.min()), float(xs.max())]
    if c2 <= 0:
        diags.append("not_convex")
        return Parabola(float(flops), int(lx.size), coefs, win, None, None, diags)
    x_opt = -c1 / (2 * c2)
    l_opt = c0 - c1**2 / (4 * c2)
    if not (win[0] <= x_opt <= win[1]) and "minimum_at_edge" not in diags:
        diags.append("minimum_at_edge")
    half = 0.5 * (win[1] - win[0])
    if c2 * half**2 < flat_rtol * abs(l_opt):
        diags.append("flat")
    return Parabola(float(flops), int(lx.size), coefs, win, float(x_opt), float(l_opt), diags)


@dataclass
class IsoflopResult:
    """Approach 2: per-budget parabolas (in ln N and in ln D) and the power laws through their minima."""

    parabolas: list[Parabola]
    parabolas_d: list[Parabola]
    n_opt: PowerLawFit
    d_opt: PowerLawFit
    loss_opt: PowerLawFit | None
    procedure: dict[str, Any]
    conventions: dict[str, str]

    @property
    def a(self) -> float:
        """Exponent of N_opt proportional to C^a."""
        return self.n_opt.exponent

    @property
    def b(self) -> float:
        """Exponent of D_opt proportional to C^b."""
        return self.d_opt.exponent

    def frontier(self, flops: Any) -> dict[str, np.ndarray]:
        """N_opt, D_opt (and tokens per parameter) along compute from the fitted power laws."""
        n, d = self.n_opt(flops), self.d_opt(flops)
        return {"flops": np.asarray(flops, dtype=np.float64), "N_opt": n, "D_opt": d, "tokens_per_param": d / n}

    def to_dict(self) -> dict[str, Any]:
        """Plain data: parabolas (coefficients, minima, diagnostics), power laws, procedure, conventions."""
        return {
            "approach": "isoflop",
            "a": self.a,
            "b": self.b,
            "n_opt": self.n_opt.to_dict(),
            "d_opt": self.d_opt.to_dict(),
            "loss_opt": None if self.loss_opt is None else self.loss_opt.to_dict(),
            "parabolas": [p.to_dict() for p in self.parabolas],
            "parabolas_d": [p.to_dict() for p in self.parabolas_d],
            "procedure": json_safe(self.procedure),
            "conventions": dict(self.conventions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsoflopResult:
        """The inverse of `to_dict`."""
        return cls(
            parabolas=[Parabola.from_dict(p) for p in data["parabolas"]],
            parabolas_d=[Parabola.from_dict(p) for p in data["parabolas_d"]],
            n_opt=PowerLawFit.from_dict(data["n_opt"]), d_opt=PowerLawFit.from_dict(data["d_opt"]),
            loss_opt=None if data.get("loss_opt") is None else PowerLawFit.from_dict(data["loss_opt"]),
            procedure=dict(data["procedure"]), conventions=dict(data["conventions"]),
        )


def isoflop_approach(
    n: Any = None, d_or_tokens: Any = None, loss: Any = None, flops: Any = None, *, d: Any = None, tokens: Any = None,
    window: float | None = DEFAULT_WINDOW, min_points: int = MIN_POINTS, keep_flagged: bool = False,
    budget_tol_dex: float = BUDGET_TOL_DEX, flat_rtol: float = FLAT_RTOL,
) -> IsoflopResult:
    """Chinchilla approach 2: a parabola per budget (loss vs ln N, and vs ln D), power laws through the minima.

    Budgets are the distinct compute values (values within `budget_tol_dex` decades are one budget). Budgets
    with a diagnostic are left out of the power laws unless `keep_flagged`. Tokens come as `d_or_tokens` (or
    `d=` / `tokens=`); without them D = C/(6N); without N (a table of compute and tokens only) N = C/(6D).
    `flops` is each point's budget, required.
    """
    if d_or_tokens is None:
        d_or_tokens = d if d is not None else tokens
    if loss is None or flops is None:
        raise UserError("isoflop_approach needs loss and flops (each point's compute budget)")
    if n is None and d_or_tokens is None:
        raise UserError("isoflop_approach needs model sizes n or tokens d (the other follows from C = 6ND)")
    L = _as_column("loss", loss, None)
    C = _as_column("flops", flops, L.size)
    conventions = {"N": "as given", "C": "as given (budget of each IsoFLOP curve)"}
    D = None if d_or_tokens is None else _as_column("tokens", d_or_tokens, L.size)
    if n is None:
        N = tokens_for_compute(C, D)  # C / (6 D): the identity C = 6ND read for N
        conventions.update(N="C / (6 D)", D="as given")
    else:
        N = _as_column("n", n, L.size)
        conventions["D"] = "as given" if D is not None else "C / (6 N)"
        D = tokens_for_compute(C, N) if D is None else D
    labels, budgets = group_budgets(C, budget_tol_dex)
    kw = {"window": window, "min_points": min_points, "flat_rtol": flat_rtol}
    par_n, par_d = [], []
    for k, c in enumerate(budgets):
        m = labels == k
        par_n.append(fit_parabola(N[m], L[m], c, **kw))
        par_d.append(fit_parabola(D[m], L[m], c, **kw))
    use_n = [p for p in par_n if p.x_opt is not None and (p.ok or keep_flagged)]
    use_d = [p for p in par_d if p.x_opt is not None and (p.ok or keep_flagged)]
    if len(use_n) < 2 or len(use_d) < 2:
        flagged = {f"{p.flops:.3g}": p.diagnostics for p in par_n if not p.ok}
        raise UserError(
            f"approach 2 needs at least two budgets with a usable parabola; {len(budgets)} budget(s) found, "
            f"{len(use_n)} usable. Flagged budgets: {flagged or 'none'}. Sample sizes on both sides of the "
            "optimum, at least 3 sizes per budget."
        )
    n_fit = fit_power_law([p.flops for p in use_n], [p.opt for p in use_n])
    d_fit = fit_power_law([p.flops for p in use_d], [p.opt for p in use_d])
    loss_fit = None
    if all(p.loss_opt and p.loss_opt > 0 for p in use_n):
        loss_fit = fit_power_law([p.flops for p in use_n], [p.loss_opt for p in use_n])
    procedure = {
        "parabola": "least squares of L on (ln N)^2, ln N, 1 per budget",
        "window": f"points within a factor {window} of the best observed size" if window else "all points",
        "min_points": min_points,
        "flat_rtol": flat_rtol,
        "budget_tol_dex": budget_tol_dex,
        "flagged_budgets_used": keep_flagged,
        "power_law": "least squares of ln N_opt on ln C over usable budgets",
        "n_budgets": len(budgets),
        "n_budgets_used": len(use_n),
    }
    return IsoflopResult(par_n, par_d, n_fit, d_fit, loss_fit, procedure, conventions)


# ------------------------------------------------------------------------------------------------------------
# Approach 1: the minimum-loss envelope over training curves
# ------------------------------------------------------------------------------------------------------------
@dataclass
class EnvelopeResult:
    """Approach 1: for each FLOP count the run with the lowest loss; power laws through the envelope."""

    flops: np.ndarray
    loss: np.ndarray
    n: np.ndarray
    d: np.ndarray
    n_opt: PowerLawFit
    d_opt: PowerLawFit
    procedure: dict[str, Any]

    @property
    def a(self) -> float:
        """Exponent of N_opt proportional to C^a."""
        return self.n_opt.exponent

    def frontier(self, flops: Any) -> dict[str, np.ndarray]:
        """N_opt, D_opt along compute from the envelope's power laws."""
        n, d = self.n_opt(flops), self.d_opt(flops)
        return {"flops": np.asarray(flops, dtype=np.float64), "N_opt": n, "D_opt": d, "tokens_per_param": d / n}

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the envelope points and the power laws."""
        return json_safe({
            "approach": "envelope",
            "a": self.a,
            "n_opt": self.n_opt.to_dict(),
            "d_opt": self.d_opt.to_dict(),
            "envelope": {"flops": self.flops, "loss": self.loss, "N": self.n, "D": self.d},
            "procedure": self.procedure,
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvelopeResult:
        """The inverse of `to_dict`."""
        env = data["envelope"]
        arrays = (np.asarray(env[k], dtype=np.float64) for k in ("flops", "loss", "N", "D"))
        return cls(*arrays, n_opt=PowerLawFit.from_dict(data["n_opt"]), d_opt=PowerLawFit.from_dict(data["d_opt"]),
                   procedure=dict(data["procedure"]))


def envelope_approach(
    n: Any, flops: Any, loss: Any, *, runs: Any = None, tokens: Any = None, n_bins: int = 40,
    fit_range: Sequence[float] | None = None,
) -> EnvelopeResult:
    """Chinchilla approach 1 from training curves: points (run, C, loss) along each run.

    Each run's curve is interpolated (linearly in ln C, ln loss) at `n_bins` log-spaced FLOP counts inside its
    own range; at each FLOP count the run with the lowest loss is the envelope, giving N_opt(C) and D_opt(C)
    (tokens at that point, or C/(6N)). Power laws are fitted over `fit_range` (default: all envelope points).
    `runs` labels the curves; by default each distinct N is one run.
    """
    L = _as_column("loss", loss, None)
    N = _as_column("n", n, L.size)
    C = _as_column("flops", flops, L.size)
    T = None if tokens is None else _as_column("tokens", tokens, L.size)
    run_ids = N if runs is None else np.asarray(runs).reshape(-1)
    labels = np.unique(run_ids)
    if labels.size < 2:
        raise UserError("approach 1 needs training curves of at least two model sizes")
    grid = np.geomspace(C.min(), C.max(), n_bins)
    best_loss = np.full(n_bins, np.inf)
    best_n = np.full(n_bins, np.nan)
    best_d = np.full(n_bins, np.nan)
    for lab in labels:
        m = run_ids == lab
        if m.sum() < 2:
            continue
        order = np.argsort(C[m])
        c_run, l_run, n_run = C[m][order], L[m][order], float(np.median(N[m]))
        inside = (grid >= c_run[0]) & (grid <= c_run[-1])
        if not inside.any():
            continue
        l_at = np.exp(np.interp(np.log(grid[inside]), np.log(c_run), np.log(l_run)))
        if T is not None:
            d_at = np.exp(np.interp(np.log(grid[inside]), np.log(c_run), np.log(T[m][order])))
        else:
            d_at = tokens_for_compute(grid[inside], n_run)
        idx = np.flatnonzero(inside)
        better = l_at < best_loss[idx]
        best_loss[idx[better]] = l_at[better]
        best_n[idx[better]] = n_run
        best_d[idx[better]] = d_at[better]
    ok = np.isfinite(best_loss)
    if fit_range is not None:
        ok &= (grid >= fit_range[0]) & (grid <= fit_range[1])
    if np.unique(best_n[ok]).size < 2:
        raise UserError("the loss envelope is held by a single model size; sample more sizes or a wider FLOP range")
    n_fit = fit_power_law(grid[ok], best_n[ok])
    d_fit = fit_power_law(grid[ok], best_d[ok])
    procedure = {
        "interpolation": "linear in (ln C, ln loss) within each run's own FLOP range",
        "n_bins": n_bins,
        "fit_range": None if fit_range is None else [float(v) for v in fit_range],
        "D": "tokens at that point" if T is not None else "C / (6 N)",
    }
    return EnvelopeResult(grid[ok], best_loss[ok], best_n[ok], best_d[ok], n_fit, d_fit, procedure)


# ------------------------------------------------------------------------------------------------------------
# Kaplan fits and the frontier
# ------------------------------------------------------------------------------------------------------------
def kaplan_fits(*, loss: Any, n: Any = None, d: Any = None, c: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Kaplan et al.'s single-variable laws L(N), L(D), L(C) on whichever columns are given (FitResults)."""
    from scaling.fit.api import fit_law

    out = {}
    if n is not None:
        out["kaplan_n"] = fit_law(n=n, loss=loss, law="kaplan_n", **kwargs)
    if d is not None:
        out["kaplan_d"] = fit_law(d=d, loss=loss, law="kaplan_d", **kwargs)
    if c is not None:
        out["kaplan_c"] = fit_law(c=c, loss=loss, law="kaplan_c", **kwargs)
    if n is not None and d is not None:
        out["kaplan_nd"] = fit_law(n=n, d=d, loss=loss, law="kaplan_nd", **kwargs)
    if not out:
        raise UserError("kaplan_fits needs at least one of n, d, c")
    return out


def compute_optimal_frontier(source: Any, flops: Any) -> dict[str, np.ndarray]:
    """N_opt, D_opt, tokens per parameter (and loss where known) along `flops` from any approach's result.

    Accepts an IsoflopResult or EnvelopeResult (their power laws), or a FitResult of a law on (N, D): closed
    form for Chinchilla, otherwise the loss minimised numerically over N on each iso-FLOP line C = 6ND.
    """
    C = np.atleast_1d(np.asarray(flops, dtype=np.float64))
    if hasattr(source, "frontier"):
        return source.frontier(C)
    law = getattr(source, "law_obj", None)
    if law is None:
        raise TypeError(f"cannot compute a frontier from {type(source).__name__}")
    if {"A", "B", "alpha", "beta", "E"} <= set(source.params) and law.inputs == ("n", "d"):
        from scaling.fit.laws import chinchilla_compute_optimal

        opt = chinchilla_compute_optimal(source.params, C)
        n_opt, d_opt, l_opt = opt["N_opt"], opt["D_opt"], opt["loss_opt"]
    elif law.inputs == ("n", "d"):
        ln_n = np.linspace(np.log(1e3), np.log(1e15), 2401)
        n_grid = np.exp(ln_n)
        n_opt, d_opt, l_opt = (np.empty_like(C) for _ in range(3))
        for i, c in enumerate(C):
            losses = source.predict(n=n_grid, d=tokens_for_compute(c, n_grid))
            j = int(np.argmin(losses))
            n_opt[i] = n_grid[j]
            d_opt[i] = tokens_for_compute(c, n_grid[j])
            l_opt[i] = losses[j]
    else:
        raise UserError(f"law {law.name!r} has no (N, D) inputs; its compute-optimal frontier is not defined")
    return {"flops": C, "N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt, "loss": l_opt}
