"""Evaluating fitted and published laws for drawing: predictions at points, compute-optimal N(C) and D(C).

Laws come from the fitting library's registry (`scaling.fit.registry.get_law`, numpy only); parameters come
from fit.json's FitResult dicts. Published references are fixed constants, drawn for comparison only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day
# Hoffmann et al. 2022 approach 3 constants (their eq. 10); Kaplan et al. 2020 eq. 6.1 / fig. 14: N_opt = 1.3e9 C^0.73
CHINCHILLA_PUBLISHED = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
KAPLAN_N_OPT = (1.3e9, 0.73)
# Column names of the fit's points for each law input (fit.json points use N, D, C; U for unique tokens).
INPUT_COLUMNS = {"n": "N", "d": "D", "c": "C", "u": "U", "x": "C"}


def get_law(name: str) -> Any:
    """The registered law object for `name` (imported lazily: the fitting library is numpy/scipy only)."""
    from scaling.fit.registry import get_law as _get

    return _get(name)


def law_name(result: Mapping[str, Any], key: str) -> str:
    """The registry name of a FitResult dict (its `law` field, else the key it is stored under)."""
    return str(result.get("law") or key)


def is_nd_law(name: str) -> bool:
    """True for laws of exactly (N, D): the ones a contour, a frontier and N_opt(C) can be drawn from."""
    try:
        return tuple(get_law(name).inputs) == ("n", "d")
    except Exception:
        return False


def predict(name: str, params: Mapping[str, Any], **cols: Any) -> np.ndarray:
    """Predicted loss of law `name` with `params` at columns n=, d=, c=, u= (arrays broadcast)."""
    return np.asarray(get_law(name).predict(params, **cols), dtype=np.float64)


def predict_points(name: str, params: Mapping[str, Any], points: list[Mapping[str, Any]]) -> np.ndarray | None:
    """The law's prediction at each fit point, or None when the points lack a column the law needs."""
    law = get_law(name)
    cols = {}
    for inp in law.inputs:
        col = INPUT_COLUMNS.get(inp, inp)
        values = [p.get(col) for p in points]
        if any(v is None for v in values):
            return None
        cols[inp] = np.asarray(values, dtype=np.float64)
    return predict(name, params, **cols)


def compute_optimal(name: str, params: Mapping[str, Any], flops: np.ndarray, k: float = 6.0
                    ) -> dict[str, np.ndarray]:
    """N_opt, D_opt and loss at each compute C = k N D for an (N, D) law: closed form for the Chinchilla
    family, otherwise a dense search over log N (with a parabolic refinement) at each C."""
    flops = np.asarray(flops, dtype=np.float64)
    if name in ("chinchilla", "chinchilla_tied"):
        from scaling.fit.laws import chinchilla_compute_optimal

        full = {**params, "beta": params.get("beta", params["alpha"])}
        opt = chinchilla_compute_optimal(full, flops, k)
        return {"N_opt": np.asarray(opt["N_opt"]), "D_opt": np.asarray(opt["D_opt"]),
                "loss": np.asarray(opt["loss_opt"])}
    n_opt = np.empty_like(flops)
    for i, c in enumerate(flops):
        ln_n = np.linspace(np.log(c / k) * 0.05, np.log(c / k) * 0.95, 801)
        loss = predict(name, params, n=np.exp(ln_n), d=(c / k) / np.exp(ln_n))
        j = int(np.clip(np.nanargmin(loss), 1, ln_n.size - 2))
        y0, y1, y2 = np.log(loss[j - 1 : j + 2])
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom > 0 else 0.0
        n_opt[i] = np.exp(ln_n[j] + shift * (ln_n[1] - ln_n[0]))
    d_opt = (flops / k) / n_opt
    return {"N_opt": n_opt, "D_opt": d_opt, "loss": predict(name, params, n=n_opt, d=d_opt)}


def chinchilla_reference(flops: np.ndarray) -> dict[str, np.ndarray]:
    """Hoffmann et al.'s published approach-3 law: N_opt(C), D_opt(C) at these computes (C = 6ND)."""
    from scaling.fit.laws import chinchilla_compute_optimal

    opt = chinchilla_compute_optimal(CHINCHILLA_PUBLISHED, np.asarray(flops, dtype=np.float64))
    return {"N_opt": np.asarray(opt["N_opt"]), "D_opt": np.asarray(opt["D_opt"])}


def kaplan_reference(flops: np.ndarray) -> dict[str, np.ndarray]:
    """Kaplan et al.'s compute-efficient frontier N_opt = 1.3e9 (C / PF-day)^0.73, D = C / (6 N)."""
    flops = np.asarray(flops, dtype=np.float64)
    scale, exponent = KAPLAN_N_OPT
    n_opt = scale * (flops / PF_DAY) ** exponent
    return {"N_opt": n_opt, "D_opt": flops / (6.0 * n_opt)}


def primary_nd_law(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str, dict[str, Any]] | None:
    """The (key, law name, params) of the first (N, D) law in the fit, preferring chinchilla; None if none."""
    items = sorted(results.items(), key=lambda kv: (law_name(kv[1], kv[0]) != "chinchilla", kv[0]))
    for key, result in items:
        name = law_name(result, key)
        if is_nd_law(name):
            return key, name, dict(result["params"])
    return None
