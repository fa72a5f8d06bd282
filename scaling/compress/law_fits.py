"""Compression laws fitted through the fitting library (`fit_law`): seeded bootstrap intervals, warnings when a
parameter is not identified, and a backtest that refits without the most extreme slice and predicts it.

The bootstrap resamples whole source models (every row of one trained source moves together, since they share
its training noise) when there are at least MIN_GROUPS sources, and rows otherwise; each fit says which.

Warnings name what makes a fit untrustworthy: no convergence, too few points per parameter, an interval that
includes 0 or spans orders of magnitude, an exponent that came out negative (or, where the law fits it through its
log to keep it positive, one that sits on that bound: the data pull it to 0 or below, which the form cannot
describe), a coefficient collapsed to nothing beside the observed values, a law that misses the points by more
than MISFIT_RMS_LOG in log (the form does not describe them, whatever its intervals say), and a backtest that
misses its held-out slice by more than MAX_BACKTEST_ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.api import fit_law
from scaling.fit.diagnostics import MAX_EXPONENT_SPREAD, MIN_EXPONENT
from scaling.fit.laws import Law
from scaling.fit.result import FitResult, json_safe

BOOTSTRAP = 200  # replicates per law
MIN_GROUPS = 4  # fewer sources than this: resample rows (a clustered bootstrap of 2-3 models says little)
LSQ_DELTA = 10.0  # Huber delta no log residual reaches: the library's Huber objective is then least squares
METHOD = "huber-grid"
METHOD_TEXT = ("least squares on log values (fit_law huber-grid, Huber delta 10 on log residuals, which none "
               "reaches), multi-start L-BFGS over the law's start grid")
MAX_COEFFICIENT_SPREAD = 1e3  # a positive coefficient whose 95% interval spans more than this factor is unmeasured
MAX_NON_FINITE = 0.1  # more than this fraction of bootstrap refits running off to inf: intervals unreliable
GRAD_AT_OPTIMUM = 1e-6  # a polish that stops (scipy "ABNORMAL") with max |gradient| below this is at the optimum
COLLAPSED = 1e-6  # a coefficient below this fraction of the median observed value has collapsed to nothing
# rms log residual above this, by target: the law's form does not fit the data (a loss missed by 2% is a large
# miss beside the spread of compressed losses; a degradation is a small difference, so 35% for it)
MISFIT_RMS_LOG = {"loss": 0.02, "delta": 0.3}
NOISE_FACTOR = 2.0  # ... unless the points' own measured noise explains the residuals to within this factor
MAX_BACKTEST_ERROR = 0.1  # a held-out slice predicted worse than this (mean |relative error|): no extrapolation


@dataclass
class LawPoints:
    """One compression law's points: inputs, observed values (loss or degradation), each row's source model, the
    parameters held fixed, and the held-out slices a backtest may try (description, mask), best first."""

    key: str
    law: Law
    cols: dict[str, np.ndarray]
    y: np.ndarray
    sources: np.ndarray
    target: str  # "loss" or "delta": what y is
    note: str
    fixed: dict[str, float] = field(default_factory=dict)
    holdouts: tuple[tuple[str, np.ndarray], ...] = ()
    nuisance: tuple[str, ...] = ()  # per-source scales: estimated, but no intervals or warnings
    noise: np.ndarray | None = None  # each y's measured noise sigma (NaN where unmeasured)

    def subset(self, mask: np.ndarray) -> LawPoints:
        """The same law on the rows where `mask` is true."""
        return replace(self, cols={k: v[mask] for k, v in self.cols.items()}, y=self.y[mask],
                       sources=self.sources[mask], holdouts=(), noise=None if self.noise is None else self.noise[mask])


def _fit(points: LawPoints, bootstrap: int, seed: int, groups: np.ndarray | None = None) -> FitResult:
    """One fit_law call in this module's method (UserError when the points cannot support the law)."""
    return fit_law(loss=points.y, law=points.law, columns=points.cols, method=METHOD, delta=LSQ_DELTA,
                   bootstrap=bootstrap, seed=seed, groups=groups, fixed=points.fixed or None)


def describe(points: LawPoints) -> dict[str, Any]:
    """The fields every entry carries, fitted or skipped: law, formula, reference, what is fitted, the note."""
    return {"law": points.law.name, "formula": points.law.formula, "reference": points.law.reference,
            "target": "validation loss" if points.target == "loss" else "degradation (compressed - dense loss)",
            "note": points.note}


def fit_with_intervals(points: LawPoints, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """The law fitted with 95% bootstrap intervals, warnings and a backtest, as JSON-ready data; or why not."""
    out = describe(points)
    n_sources = int(np.unique(points.sources).size)
    out.update(n_points=int(points.y.size), n_sources=n_sources)
    grouped = n_sources >= MIN_GROUPS
    try:
        result = _fit(points, bootstrap, seed, groups=points.sources if grouped else None)
    except (UserError, FloatingPointError) as exc:  # too few or degenerate points; no finite start
        return {**out, "skipped": str(exc)}
    resampling = (f"whole source models ({n_sources} sources)" if grouped else
                  f"rows ({n_sources} source model(s), fewer than {MIN_GROUPS} to resample whole models)")
    free = [c.param for c in points.law.coords if c.param not in points.fixed and c.param not in points.nuisance]
    pred = predict_fitted(points.law, result.params, points.cols)
    boot = result.procedure.get("bootstrap", {})
    out.update(
        params=json_safe(result.params),
        intervals=json_safe({k: v for k, v in result.intervals.items() if k in free}),
        standard_errors=json_safe({k: v for k, v in result.standard_errors.items() if k in free}),
        fixed=json_safe(dict(points.fixed)), method=METHOD_TEXT, resampling=resampling,
        bootstrap={"n": int(bootstrap), "seed": int(seed), "converged_fraction": boot.get("converged_fraction"),
                   "non_finite_replicates": boot.get("non_finite_replicates", {})},
        rms_log=float(np.sqrt(np.mean((np.log(pred) - np.log(points.y)) ** 2))), converged=converged(result),
        optimizer={"message": result.message, "grad_norm": json_safe(result.grad_norm)},
        warnings=law_warnings(points, result, bootstrap), backtest=backtest(points, result),
    )
    out["at_bound"] = at_bound(points, result)
    for name in out["at_bound"]:  # its replicates sit on the bound too: the interval is [0, its upper end]
        upper = (out["intervals"].get(name) or [None, None])[1]
        out["intervals"][name] = [0.0, upper]
    bt = out["backtest"]
    if bt.get("mean_abs_relative_error", 0.0) > MAX_BACKTEST_ERROR:
        out["warnings"].append(
            f"refitted without the {bt['held_out']}, the law predicts it with mean |relative error| "
            f"{100 * bt['mean_abs_relative_error']:.3g}% (its own in-sample error there "
            f"{100 * bt['in_sample_error']:.3g}%): it does not extrapolate to that slice")
    if points.nuisance:
        out["nuisance"] = list(points.nuisance)
    return out


def at_bound(points: LawPoints, result: FitResult) -> list[str]:
    """Free exponents fitted through their logs that ran onto the bound 0 (their intervals then say nothing)."""
    exponents = exponents_of(points.law)
    return [c.param for c in points.law.coords
            if c.log and c.param in exponents and c.param not in points.fixed
            and float(result.params[c.param]) < MIN_EXPONENT]


def predict_fitted(law: Law, params: dict[str, Any], cols: dict[str, Any]) -> np.ndarray:
    """The law at fitted parameters: a positive parameter fitted through its log that underflowed to 0 (an
    exponent run onto its bound) is read as the smallest positive float, which is what the fit's coordinate held."""
    tiny = float(np.finfo(np.float64).tiny)
    safe = {k: (max(float(v), tiny) if any(c.param == k and c.log for c in law.coords) else v)
            for k, v in params.items()}
    return law.predict(safe, **cols)


def converged(result: FitResult) -> bool:
    """The polish converged, or stopped where the gradient is already zero to rounding."""
    return bool(result.converged or result.grad_norm <= GRAD_AT_OPTIMUM)


def exponents_of(law: Law) -> set[str]:
    """The law's exponents: its `exponents` declaration, else its unlogged coordinates and any named gamma*."""
    declared = getattr(law, "exponents", None)
    if declared is not None:
        return set(declared)
    return {c.param for c in law.coords if not c.log or c.param.startswith("gamma")}


def law_warnings(points: LawPoints, result: FitResult, bootstrap: int) -> list[str]:
    """Reasons to distrust a compression-law fit, as sentences (the thresholds of scaling.fit.diagnostics for
    exponents; its Chinchilla design checks do not apply to these laws)."""
    out = []
    if not converged(result):
        out.append(f"the optimizer did not converge ({result.message}; max |gradient| {result.grad_norm:.3g})")
    n_free = points.law.n_params - len(points.fixed)
    if points.y.size < 2 * n_free:
        out.append(f"{points.y.size} points for {n_free} free parameters: fewer than 2 per parameter")
    exponents = exponents_of(points.law)
    signed = set(getattr(points.law, "signed", ()))
    scale = float(np.median(np.abs(points.y)))
    for coord in points.law.coords:
        name = coord.param
        if name in points.fixed or name in points.nuisance:
            continue
        value = float(result.params[name])
        exponent = name in exponents
        if exponent and not coord.log and value < 0 and name not in signed:
            out.append(f"exponent {name} = {value:.3g} is negative: the law's form needs it positive, so the fit "
                       "describes these data with a law other than the paper's")
        elif exponent and coord.log and value < MIN_EXPONENT:
            out.append(f"exponent {name} = {value:.3g} sits on its bound (fitted positive through its log): the data "
                       "pull it to 0 or below, a trend the law's form cannot describe")
        elif not exponent and coord.log and value < COLLAPSED * scale:
            out.append(f"coefficient {name} = {value:.3g} has collapsed (below {COLLAPSED:g} of the observed "
                       f"scale {scale:.3g}): its term is not measured")
        iv = result.intervals.get(name)
        if iv is None or not all(np.isfinite(iv)):
            continue
        if not coord.log and iv[0] <= 0 < iv[1]:
            out.append(f"{name} 95% interval [{iv[0]:.3g}, {iv[1]:.3g}] includes 0: not identified")
        elif iv[0] > 0 and iv[1] / iv[0] > (MAX_EXPONENT_SPREAD if exponent else MAX_COEFFICIENT_SPREAD):
            out.append(f"{name} 95% interval [{iv[0]:.3g}, {iv[1]:.3g}] spans a factor of {iv[1] / iv[0]:.3g}: "
                       "not identified (more sources, ratios or seeds)")
    non_finite = (result.procedure.get("bootstrap") or {}).get("non_finite_replicates") or {}
    worst = max(non_finite.values(), default=0)
    if bootstrap and worst > MAX_NON_FINITE * bootstrap:
        out.append(f"{worst} of {bootstrap} bootstrap refits ran off to infinity: the intervals are unreliable")
    if "n" in points.cols and "d" in points.cols and len(set(points.cols["n"].tolist())) > 1:
        if np.ptp(np.log(points.cols["d"]) - np.log(points.cols["n"])) < 0.1:
            out.append("D/N is (nearly) the same for every source: the N and D exponents are not told apart")
    pred = predict_fitted(points.law, result.params, points.cols)
    rms = float(np.sqrt(np.mean((np.log(pred) - np.log(points.y)) ** 2)))
    noise = None  # the rms log residual the measured noise alone would give
    if points.noise is not None and np.all(np.isfinite(points.noise)):
        noise = float(np.sqrt(np.mean((points.noise / points.y) ** 2)))
    if rms > MISFIT_RMS_LOG[points.target] and (noise is None or rms > NOISE_FACTOR * noise):
        out.append(f"rms log residual {rms:.3g}" + ("" if noise is None else f" ({rms / noise:.3g} x what the "
                   f"measured noise gives, {noise:.3g})") + f": the law misses its own points by a factor of about "
                   f"{np.exp(rms):.3g}, so its form does not describe these data (read the parameters as a summary, "
                   "not a measurement)")
    return out


def backtest(points: LawPoints, full: FitResult) -> dict[str, Any]:
    """Refit without the first held-out slice that leaves a fit possible and predict that slice: mean and max
    |relative error| of the target there, beside the full fit's own error on the same rows (and why any
    earlier slice could not be held out)."""
    reasons = []
    for description, mask in points.holdouts:
        if not mask.any() or mask.all():
            reasons.append(f"{description}: holding it out leaves {'no' if mask.all() else 'nothing to'} "
                           f"{'training rows' if mask.all() else 'predict'}")
            continue
        try:
            fit = _fit(points.subset(~mask), bootstrap=0, seed=0)
        except (UserError, FloatingPointError) as exc:
            reasons.append(f"{description}: {exc}")
            continue
        held = {k: v[mask] for k, v in points.cols.items()}
        observed = points.y[mask]
        predicted = predict_fitted(points.law, fit.params, held)
        in_sample = predict_fitted(points.law, full.params, held)
        rel = np.abs(predicted - observed) / observed
        return json_safe({
            "held_out": description, "n_train": int((~mask).sum()), "n_held_out": int(mask.sum()),
            "observed": observed, "predicted": predicted, "params": fit.params,
            "mean_abs_relative_error": float(np.mean(rel)), "max_abs_relative_error": float(np.max(rel)),
            "in_sample_error": float(np.mean(np.abs(in_sample - observed) / observed)),
            "slices_not_possible": reasons,
        })
    return {"skipped": "; ".join(reasons) or "no held-out slice for this law"}
