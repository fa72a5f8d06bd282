"""The learning-rate law: the best lr at each (N, D, batch) of a sweep's lr axis, then log lr* against log N.

An optimum at the edge of the lr grid is only a bound (the true optimum lies beyond the grid), so it is reported
but never regressed as a value; the law is fitted to interior optima alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scaling.fit.points import SettingMean

LR_AXIS = "optimizer.lr"
BATCH_AXIS = "batch_size"


@dataclass(frozen=True)
class LrOptimum:
    """The best learning rate found at one (N, tokens, batch size); `how` says how it was located."""

    N: float
    tokens: float
    batch_size: float | None
    lr_opt: float
    how: str  # "parabola" (vertex in log lr through the best three), "grid" (best value), or "below"/"above"

    @property
    def is_bound(self) -> bool:
        """True when the best lr sat at the grid's edge: the optimum is beyond it, not at it."""
        return self.how in ("below", "above")


@dataclass
class LrLaw:
    """log lr* = a + b_N log N (+ c_B log B when batch size varies), fitted to the interior optima."""

    optima: list[LrOptimum]
    coefficients: dict[str, float] | None = None
    formula: str = ""
    note: str = ""
    fitted_on: int = 0

    def predict(self, n: float, batch_size: float | None = None) -> float:
        """lr* at N (and B); raises ValueError when there is no law."""
        if self.coefficients is None:
            raise ValueError(f"no lr law: {self.note}")
        log_lr = self.coefficients["a"] + self.coefficients["b_N"] * np.log(n)
        if "c_B" in self.coefficients:
            if batch_size is None:
                raise ValueError("this lr law depends on the batch size: pass batch_size")
            log_lr += self.coefficients["c_B"] * np.log(batch_size)
        return float(np.exp(log_lr))

    def to_dict(self) -> dict[str, Any]:
        return {"optima": [asdict(o) for o in self.optima], "law": self.coefficients, "formula": self.formula,
                "note": self.note, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LrLaw:
        return cls(optima=[LrOptimum(**o) for o in data.get("optima", [])], coefficients=data.get("law"),
                   formula=data.get("formula", ""), note=data.get("note", ""), fitted_on=data.get("fitted_on", 0))

    def describe(self) -> str:
        if self.coefficients is None:
            return f"no lr law ({self.note})"
        terms = ", ".join(f"{k}={v:.3g}" for k, v in self.coefficients.items())
        return f"{self.formula} with {terms} ({self.fitted_on} interior optima)"


def _optimum(n: float, tokens: float, batch: float | None, rows: list[SettingMean]) -> LrOptimum:
    rows = sorted(rows, key=lambda r: r.setting[LR_AXIS])
    log_lr = np.log([r.setting[LR_AXIS] for r in rows])
    losses = np.array([r.loss for r in rows])
    i = int(np.argmin(losses))
    if len(rows) > 1 and i == 0:
        return LrOptimum(n, tokens, batch, float(np.exp(log_lr[0])), "below")
    if len(rows) > 1 and i == len(rows) - 1:
        return LrOptimum(n, tokens, batch, float(np.exp(log_lr[-1])), "above")
    if 0 < i < len(rows) - 1:
        a2, a1, _ = np.polyfit(log_lr[i - 1:i + 2], losses[i - 1:i + 2], 2)
        if a2 > 0:
            return LrOptimum(n, tokens, batch, float(np.exp(-a1 / (2 * a2))), "parabola")
    return LrOptimum(n, tokens, batch, float(np.exp(log_lr[i])), "grid")


def fit_lr_law(candidates: list[SettingMean]) -> LrLaw | None:
    """The lr law of a sweep's settings, or None when the sweep has no lr axis (fewer than two lr values)."""
    with_lr = [c for c in candidates if LR_AXIS in c.setting]
    if len({c.setting[LR_AXIS] for c in with_lr}) < 2:
        return None
    groups: dict[tuple, list[SettingMean]] = defaultdict(list)
    for c in with_lr:
        groups[(c.n, c.representative.d, c.setting.get(BATCH_AXIS))].append(c)
    optima = [_optimum(n, d, b, rows) for (n, d, b), rows in groups.items()]
    interior = [o for o in optima if not o.is_bound]
    ns = np.array([o.N for o in interior], float)
    if len(set(ns)) < 2:
        bounds = len(optima) - len(interior)
        note = (f"interior optima at {len(set(ns))} model size(s), {bounds} at the grid's edge: "
                "widen the lr axis or add sizes")
        return LrLaw(optima, note=note)
    columns, names = [np.ones_like(ns), np.log(ns)], ["a", "b_N"]
    batches = [o.batch_size for o in interior]
    if None not in batches and len(set(batches)) > 1:
        columns.append(np.log(np.array(batches, float)))
        names.append("c_B")
    coef, *_ = np.linalg.lstsq(np.stack(columns, axis=1), np.log([o.lr_opt for o in interior]), rcond=None)
    formula = "lr* = exp(a) * N^b_N" + (" * B^c_B" if "c_B" in names else "")
    return LrLaw(optima, dict(zip(names, map(float, coef), strict=True)), formula, fitted_on=len(interior))
