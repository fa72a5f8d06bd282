"""Compare laws fitted by maximum likelihood (`method="ml"`): likelihood-ratio test and AIC."""

from __future__ import annotations

from typing import Any

from scipy.stats import chi2

from scaling.errors import UserError
from scaling.fit.result import FitResult


def _n_free(result: FitResult) -> int:
    """Free parameters of an ML fit: the law's coordinates not held fixed, plus the likelihood's scale."""
    fixed = result.procedure.get("fixed") or {}
    return len(result.procedure["coordinates"]) - len(fixed) + 1


def likelihood_ratio_test(restricted: FitResult, general: FitResult) -> dict[str, Any]:
    """Wilks' test of a nested pair (e.g. chinchilla_tied inside chinchilla): statistic, dof and p-value.

    Both must be `ml` fits of the same points; the objective of an ml fit is its negative log-likelihood.
    """
    for r in (restricted, general):
        if r.method != "ml":
            raise UserError(f"likelihood ratios need method='ml' fits; {r.law} was fitted with {r.method!r}")
    if restricted.n_points != general.n_points:
        raise UserError("likelihood ratios compare fits of the same points")
    dof = _n_free(general) - _n_free(restricted)
    if dof <= 0:
        raise UserError("the general law must have more free parameters than the restricted one")
    stat = max(0.0, 2.0 * (restricted.objective - general.objective))
    return {"statistic": stat, "dof": dof, "p_value": float(chi2.sf(stat, dof)),
            "restricted": restricted.law, "general": general.law}


def aic(result: FitResult) -> float:
    """Akaike's information criterion of an ml fit: 2k + 2 NLL."""
    if result.method != "ml":
        raise UserError(f"AIC needs a method='ml' fit; {result.law} was fitted with {result.method!r}")
    return 2.0 * _n_free(result) + 2.0 * result.objective
