"""A multi-input power law y = k * x1^a1 * x2^a2 * ..., fitted as least squares in log space, with intervals.

Used by the hyperparameter laws (lr*(N, D), B*(D), lr*(C)) and anywhere a product of powers is the model. The
fit is linear in (log k, a_i), so it is solved exactly; intervals are Student-t from the residual variance and,
when asked, seeded bootstrap percentiles over rows (or groups of rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from scaling.errors import UserError
from scaling.fit.result import json_safe


@dataclass
class MultiPowerLawFit:
    """k and one exponent per input, with 95% intervals (t-based; bootstrap percentiles when bootstrapped)."""

    inputs: tuple[str, ...]
    coefficient: float
    exponents: dict[str, float]
    n_points: int
    rms_log: float  # root-mean-square residual of log y
    r2: float
    t_intervals: dict[str, list[float]] = field(default_factory=dict)  # "k" and each exponent
    bootstrap_intervals: dict[str, list[float]] = field(default_factory=dict)
    bootstrap: int = 0

    @property
    def intervals(self) -> dict[str, list[float]]:
        """The bootstrap intervals when there are any, else the t intervals."""
        return self.bootstrap_intervals or self.t_intervals

    def predict(self, **inputs: Any) -> np.ndarray:
        """k * prod x_i^a_i at the given inputs (every input of the fit, by name)."""
        missing = [name for name in self.inputs if inputs.get(name) is None]
        if missing:
            raise UserError(f"this power law needs inputs {list(self.inputs)}; missing {missing}")
        log_y = np.log(self.coefficient) + sum(
            self.exponents[name] * np.log(np.asarray(inputs[name], dtype=np.float64)) for name in self.inputs)
        return np.exp(log_y)

    def formula(self, target: str = "y") -> str:
        return f"{target} = k * " + " * ".join(f"{name}^{self.exponents[name]:.3g}" for name in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"inputs": list(self.inputs), "coefficient": self.coefficient, "exponents": self.exponents,
                          "n_points": self.n_points, "rms_log": self.rms_log, "r2": self.r2,
                          "t_intervals": self.t_intervals, "bootstrap_intervals": self.bootstrap_intervals,
                          "bootstrap": self.bootstrap})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MultiPowerLawFit:
        return cls(inputs=tuple(data["inputs"]), coefficient=data["coefficient"], exponents=dict(data["exponents"]),
                   n_points=data["n_points"], rms_log=data["rms_log"], r2=data["r2"],
                   t_intervals=dict(data.get("t_intervals") or {}),
                   bootstrap_intervals=dict(data.get("bootstrap_intervals") or {}),
                   bootstrap=int(data.get("bootstrap") or 0))


def fit_multi_power_law(y: Any, inputs: Mapping[str, Any], *, weights: Any = None, bootstrap: int = 0,
                        seed: int = 0, groups: Any = None, level: float = 0.95) -> MultiPowerLawFit:
    """Least squares of log y on (1, log x1, log x2, ...); UserError when the inputs cannot identify it."""
    log_y = _log_column("y", y, None)
    names = tuple(inputs)
    if not names:
        raise UserError("a power law needs at least one input")
    log_x_NP = np.column_stack([_log_column(name, inputs[name], log_y.size) for name in names])
    design_NP = np.column_stack([np.ones(log_y.size), log_x_NP])
    if log_y.size <= design_NP.shape[1]:
        raise UserError(f"a power law in {', '.join(names)} has {design_NP.shape[1]} parameters; it needs more "
                        f"points than that, got {log_y.size}")
    if np.linalg.matrix_rank(design_NP) < design_NP.shape[1]:
        raise UserError(f"the inputs {', '.join(names)} do not vary independently (one is constant or a power of "
                        "the others): their exponents cannot be told apart")
    w = np.ones_like(log_y) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    coef, resid = _weighted_lstsq(design_NP, log_y, w)
    dof = log_y.size - design_NP.shape[1]
    sigma2 = float(np.sum(w * resid**2) / dof)
    cov = sigma2 * np.linalg.inv((design_NP * w[:, None]).T @ design_NP)
    t = float(stats.t.ppf(0.5 + level / 2, dof))
    labels = ("log_k", *names)
    t_iv = {label: [float(coef[j] - t * np.sqrt(cov[j, j])), float(coef[j] + t * np.sqrt(cov[j, j]))]
            for j, label in enumerate(labels)}
    t_iv["k"] = [float(np.exp(v)) for v in t_iv.pop("log_k")]
    ss_tot = float(np.sum(w * (log_y - np.average(log_y, weights=w)) ** 2))
    fit = MultiPowerLawFit(
        inputs=names, coefficient=float(np.exp(coef[0])), exponents={n: float(c) for n, c in zip(names, coef[1:],
                                                                                                    strict=True)},
        n_points=int(log_y.size), rms_log=float(np.sqrt(np.mean(resid**2))),
        r2=1.0 - float(np.sum(w * resid**2)) / ss_tot if ss_tot > 0 else 1.0, t_intervals=t_iv)
    if bootstrap > 0:
        fit.bootstrap_intervals = _bootstrap(design_NP, log_y, w, names, bootstrap, seed, groups, level)
        fit.bootstrap = int(bootstrap)
    return fit


def _weighted_lstsq(design_NP: np.ndarray, log_y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design_NP * sw[:, None], log_y * sw, rcond=None)
    return coef, log_y - design_NP @ coef


def _bootstrap(design_NP: np.ndarray, log_y: np.ndarray, w: np.ndarray, names: tuple[str, ...], n_boot: int,
               seed: int, groups: Any, level: float) -> dict[str, list[float]]:
    """Percentile intervals over refits on resampled rows (or whole groups); rank-deficient resamples skipped."""
    rng = np.random.default_rng(seed)
    labels = np.arange(log_y.size) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(labels.max()) + 1
    draws = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[labels]
        keep = counts > 0
        if np.linalg.matrix_rank(design_NP[keep]) < design_NP.shape[1]:
            continue
        coef, _ = _weighted_lstsq(design_NP[keep], log_y[keep], (w * counts)[keep])
        draws.append(coef)
    if not draws:
        return {}
    draws_KP = np.array(draws)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(draws_KP, [tail, 100 - tail], axis=0)
    out = {name: [float(lo[j + 1]), float(hi[j + 1])] for j, name in enumerate(names)}
    out["k"] = [float(np.exp(lo[0])), float(np.exp(hi[0]))]
    return out


def _log_column(name: str, values: Any, size: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"power-law input {name!r} must be numeric") from None
    if size is not None and arr.size != size:
        raise UserError(f"power-law input {name!r} has {arr.size} values but y has {size}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise UserError(f"power-law input {name!r} must be finite and positive (it is fitted in log space)")
    return np.log(arr)
