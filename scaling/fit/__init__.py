"""Scaling-law fitting with numpy and scipy only (never JAX): laws, estimators, bootstrap, Chinchilla approaches.

    from scaling.fit import fit_law
    result = fit_law(n=N, d=D, loss=L, law="chinchilla", bootstrap=200)
    print(result); result.predict(n=70e9, d=1.4e12); result.to_json()
"""

from __future__ import annotations

from scaling.fit.api import fit_law
from scaling.fit.laws import HOFFMANN_GRID, Coord, Law, VarproSpec, chinchilla_compute_optimal
from scaling.fit.lbfgs import LbfgsOptions
from scaling.fit.registry import LAWS, get_law, register_law
from scaling.fit.result import FitResult

__all__ = [
    "HOFFMANN_GRID",
    "LAWS",
    "Coord",
    "FitResult",
    "Law",
    "LbfgsOptions",
    "VarproSpec",
    "chinchilla_compute_optimal",
    "fit_law",
    "get_law",
    "register_law",
]
