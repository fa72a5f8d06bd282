"""Is a fitted law identified? Plain warnings a reviewer would raise, from the fit and the points it saw.

A fit can converge and still say nothing: exponents whose bootstrap interval spans a factor of several, an
irreducible loss collapsed to zero, exponents pinned near 0, or inputs that never vary independently (D/N held
constant). Each warning names the parameter and the reason, so the report and CLI can print it as is.
"""

from __future__ import annotations

import numpy as np

from scaling.fit.design import structural_warnings
from scaling.fit.registry import get_law
from scaling.fit.result import FitResult

EXPONENTS = ("alpha", "beta")
MAX_EXPONENT_SPREAD = 3.0  # an exponent's 95% interval spanning more than this factor is not a measurement
MIN_EXPONENT = 0.02  # below this a power law is flat: the term is not being measured
MIN_E_FRACTION = 0.01  # E below 1% of the smallest observed loss has collapsed to 0


def identification_warnings(result: FitResult, n: np.ndarray, d: np.ndarray, loss: np.ndarray,
                            u: np.ndarray | None = None) -> list[str]:
    """Every reason to distrust `result`, as sentences; an empty list when none is found (`u`: unique tokens,
    for a law of repeated data)."""
    law = result.law_obj or get_law(result.law)
    fixed = result.procedure.get("fixed") or {}
    out = structural_warnings(np.asarray(n, float), np.asarray(d, float), n_params=law.n_params - len(fixed),
                              inputs=law.inputs, u=None if u is None else np.asarray(u, float))
    if not result.converged:
        out.append(f"the optimizer did not converge ({result.message})")
    params = result.params
    if "E" in params and np.isfinite(params["E"]) and params["E"] < MIN_E_FRACTION * float(np.min(loss)):
        out.append(f"E collapsed to {params['E']:.3g} (observed losses are >= {np.min(loss):.3g}): the points do "
                   "not reach the regime where loss flattens, so the irreducible loss is not identified")
    for name in EXPONENTS:
        if name not in params:
            continue
        value = params[name]
        if np.isfinite(value) and value < MIN_EXPONENT:
            out.append(f"{name} = {value:.3g} is at its floor: that term is not measured by these points")
        interval = result.intervals.get(name)
        if interval is not None and all(np.isfinite(interval)) and interval[0] > 0:
            spread = interval[1] / interval[0]
            if spread > MAX_EXPONENT_SPREAD:
                out.append(f"{name} 95% interval [{interval[0]:.3g}, {interval[1]:.3g}] spans a factor of "
                           f"{spread:.0f}: not identified (more sizes, budgets or seed replicates)")
        elif interval is not None and all(np.isfinite(interval)) and interval[0] <= 0 < interval[1]:
            out.append(f"{name} 95% interval [{interval[0]:.3g}, {interval[1]:.3g}] includes 0: not identified")
    return out
