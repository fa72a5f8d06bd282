"""The fit stage's view of a sweep's data axes: quality levels (one effective-data multiplier each) and unique tokens.

A sweep over `data.quality.*` has points at several quality levels. One N x D law over all of them would read
worse data as noise, so the N x D laws are fitted to the reference (cleanest) level alone and the quality law
`quality_chinchilla` to every level at once: q_k says what a token of level k is worth in clean tokens.
A sweep over `data.unique_tokens` gives data-constrained laws their U column (min(U, D): a run that stops
before its first epoch ends has seen D unique tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.bootstrap import label_size_resampling, size_groups
from scaling.fit.points import PointsTable
from scaling.fit.quality_law import quality_levels
from scaling.fit.result import FitResult

UNIQUE_TOKENS_AXIS = "data.unique_tokens"
QUALITY_LAW = "quality_chinchilla"


@dataclass
class QualityFit:
    """The quality law over every level, the level names (level 0 the reference), and the points it saw."""

    names: list[str]
    points: PointsTable
    level: np.ndarray
    result: FitResult | None = None
    error: str | None = None

    def multipliers(self) -> list[dict[str, Any]]:
        """q per level with its 95% interval (the reference is 1 by definition)."""
        out = [{"level": self.names[0], "q": 1.0, "interval": None, "reference": True}]
        if self.result is None:
            return out
        for k, name in enumerate(self.names[1:], start=1):
            out.append({"level": name, "q": self.result.params[f"q_{k}"],
                        "interval": self.result.intervals.get(f"q_{k}"), "reference": False})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "points": self.points.to_records(), "level": self.level.tolist(),
                "law": None if self.result is None else self.result.to_dict(),
                "samples": None if self.result is None else self.result.samples_to_dict(), "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any], conventions: Any) -> QualityFit:
        law = data.get("law")
        return cls(list(data["names"]), PointsTable.from_records(data["points"], conventions),
                   np.asarray(data["level"], dtype=np.int64),
                   None if law is None else FitResult.from_dict(law, data.get("samples")), data.get("error"))


def split_quality(points: PointsTable) -> tuple[PointsTable, QualityFit | None]:
    """The reference level's points (for the N x D laws) and the quality levels, or (points, None) with one level."""
    level, names = quality_levels(points)
    if len(names) < 2:
        return points, None
    reference = replace(points, rows=tuple(r for r, k in zip(points.rows, level, strict=True) if k == 0))
    return reference, QualityFit(names=names, points=points, level=level)


def fit_quality_levels(quality: QualityFit, *, method: str, bootstrap: int, seed: int, delta: float,
                       objective: str, target_flops: float) -> None:
    """Fit the quality law to every level at once, resampling whole model sizes; failures are recorded, not raised."""
    from scaling.fit.api import fit_law

    pts = quality.points
    sizes = size_groups(pts.n)
    try:
        quality.result = fit_law(n=pts.n, d=pts.d, loss=pts.loss, law=QUALITY_LAW, levels=len(quality.names),
                                 columns={"level": quality.level}, weights=pts.weight, method=method,
                                 bootstrap=bootstrap, seed=seed, delta=delta, objective=objective,
                                 groups=sizes,
                                 target_flops=target_flops)
    except UserError as exc:
        quality.error = str(exc)
        return
    label_size_resampling(quality.result.procedure, sizes)


def unique_tokens(points: PointsTable) -> np.ndarray | None:
    """U per point, min(U, D), when the sweep sets `data.unique_tokens` on any point; None otherwise."""
    if not any(UNIQUE_TOKENS_AXIS in r.settings for r in points.rows):
        return None
    u = np.array([float(r.settings.get(UNIQUE_TOKENS_AXIS) or r.d) for r in points.rows])
    return np.minimum(u, points.d)
