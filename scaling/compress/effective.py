"""Effective parameters: the N an uncompressed model would need for a compressed model's loss, at the same D.

Inverting the Chinchilla form L(N, D) = E + A N^-alpha + B D^-beta at fixed D gives
N_eff = (A / (L - E - B D^-beta))^(1/alpha); a loss at or below what infinite N reaches at that D has no
finite N_eff (reported as inf). The law is RUN_DIR/fit.json's `chinchilla` fit when there is one, else a
least-squares fit to the store's finished train trials. The interval is the 2.5-97.5 percentile of N_eff
over bootstrap parameter replicates (the fitting library's refits of fit.json's points, or 100 resamples
refitted here), so it carries the fit's joint uncertainty; inverting at per-parameter interval ends would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.compress.laws import fit_least_squares
from scaling.fit.laws import CHINCHILLA

KEYS = ("A", "B", "E", "alpha", "beta")
BOOTSTRAP = 100
SMALL_GRID = {"a": (2.0, 6.0), "b": (2.0, 6.0), "e": (0.0, 1.0), "alpha": (0.3, 0.8), "beta": (0.3, 0.8)}


@dataclass
class InverseLaw:
    """A Chinchilla-form law to invert, its bootstrap replicates, the N it counts, and where it came from."""

    params: dict[str, float]
    samples: list[dict[str, float]]
    param_count: str
    source: str


def from_fit_json(fit: dict[str, Any] | None, method: str = "huber-grid", bootstrap: int = 200, seed: int = 0
                  ) -> InverseLaw | None:
    """fit.json's Chinchilla fit, with bootstrap replicates from refitting its points with the fitting
    library (same points, weights, method and seed as the fit stage; fit.json keeps only per-parameter
    intervals, which cannot give a joint interval). None when fit.json has no Chinchilla fit."""
    law = ((fit or {}).get("laws") or {}).get("chinchilla")
    points = (fit or {}).get("points") or []
    if not law or not all(k in law.get("params", {}) for k in KEYS):
        return None
    params = {k: float(law["params"][k]) for k in KEYS}
    count = str((fit.get("conventions") or {}).get("N", "non_embedding"))
    samples: list[dict[str, float]] = []
    source = "fit.json chinchilla"
    if bootstrap and len(points) > CHINCHILLA.n_params:
        from scaling import fit as fitlib

        try:
            refit = fitlib.fit_law(
                n=np.array([p["N"] for p in points]), d=np.array([p["D"] for p in points]),
                loss=np.array([p["loss"] for p in points]), weights=np.array([p.get("weight", 1.0) for p in points]),
                law="chinchilla", method=method, bootstrap=bootstrap, seed=seed)
            draws = refit.bootstrap_samples or {}
            if all(k in draws for k in KEYS):
                samples = [dict(zip(KEYS, map(float, row), strict=True))
                           for row in np.stack([np.asarray(draws[k], float) for k in KEYS], axis=1)]
                source += f" ({len(samples)} bootstrap refits of its points by the fitting library, {method})"
        except Exception as exc:  # noqa: BLE001 - the point estimate stands without an interval
            source += f" (no interval: bootstrap refit failed: {type(exc).__name__}: {exc})"
    return InverseLaw(params, samples, count, source)


def fit_from_rows(rows: Sequence[Any], param_count: str = "non_embedding", seed: int = 0) -> InverseLaw | None:
    """Chinchilla fitted here to finished train trials (val_loss, N, tokens), with a point bootstrap."""
    pts = [(getattr(r, f"params_{param_count}"), r.tokens, r.val_loss) for r in rows
           if r.val_loss is not None and r.tokens and getattr(r, f"params_{param_count}")]
    if len(pts) <= CHINCHILLA.n_params or len({p[0] for p in pts}) < 2 or len({p[1] for p in pts}) < 2:
        return None
    n, d, y = (np.array(c, dtype=np.float64) for c in zip(*pts, strict=True))
    point = fit_least_squares(CHINCHILLA, {"n": n, "d": d}, y, starts=CHINCHILLA.start_points(SMALL_GRID))
    x0 = CHINCHILLA.from_params(point.params)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, y.size, y.size)
        if len(set(n[i])) < 2 or len(set(d[i])) < 2:
            continue
        samples.append(fit_least_squares(CHINCHILLA, {"n": n[i], "d": d[i]}, y[i], starts=x0).params)
    return InverseLaw(point.params, samples, param_count,
                      f"chinchilla least squares on {y.size} train trials ({len(samples)} bootstrap refits)")


def n_effective(params: dict[str, float], loss: float, tokens: float) -> float:
    """N with L(N, tokens) = loss under `params`; inf when loss is at or below the law's infinite-N floor."""
    gap = loss - params["E"] - params["B"] * tokens ** -params["beta"]
    return float((params["A"] / gap) ** (1.0 / params["alpha"])) if gap > 0 else float("inf")


def effective(law: InverseLaw, loss: float, tokens: float, n: float) -> dict[str, Any]:
    """N_eff, the multiplier N_eff / N and its bootstrap interval for one compressed model."""
    n_eff = n_effective(law.params, loss, tokens)
    out: dict[str, Any] = {"n_eff": n_eff, "multiplier": n_eff / n, "interval": None,
                           "interval_method": "none (no bootstrap replicates)"}
    if law.samples:
        values = np.array([n_effective(s, loss, tokens) for s in law.samples]) / n
        lo, hi = np.percentile(values, [2.5, 97.5])  # inf sorts last, so a partly unbounded tail shows as inf
        out.update(interval=[float(lo), float(hi)],
                   interval_method=f"2.5-97.5 percentiles over {len(values)} bootstrap replicates ({law.source})")
    return out
