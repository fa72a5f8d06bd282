"""Compression deltas against measured noise: a delta inside SIGMAS standard deviations is "no measurable change".

Two noise sources, combined in quadrature where both are measured:
- evaluation: the standard error of the delta over the evaluation batches. The jobs record it paired
  (`delta_sem`: the SE of the per-batch differences from the dense model on the same batches), which is the
  delta's own sampling error; rows without it (distilled students, older rows) use the unpaired
  sqrt(SEM_row^2 + SEM_dense^2), with the dense model's SEM standing in for a row that recorded none.
- seed: the standard deviation of the final validation loss across training seeds at the source's point (how far
  a retrained dense model would move), from the sweep's seed replicates; where the source's own point has none,
  the median over the points that do. Absent when the sweep has no seed replicates.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.fit.points import SEED_AXES, PointsTable

SIGMAS = 2.0
NO_CHANGE = "no measurable change"


@dataclass
class SeedNoise:
    """Seed standard deviation by train trial id, the pooled (median) value, and how many points gave it."""

    by_trial: dict[str, float] = field(default_factory=dict)
    pooled: float | None = None
    points: int = 0

    def of(self, trial: str) -> tuple[float | None, str | None]:
        """(std, how it was measured) for a source trial, or (None, None) without seed replicates."""
        if trial in self.by_trial:
            return self.by_trial[trial], "std of final val loss across seeds at this source's point"
        if self.pooled is not None:
            return self.pooled, f"median seed std over {self.points} replicated point(s) (none at this source)"
        return None, None


def seed_noise(table: PointsTable) -> SeedNoise:
    """Seed spread of every trained point with at least two seeds (same size, budget, D and other settings)."""
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for r in table:
        chosen = {k: v for k, v in r.settings.items() if k not in SEED_AXES}
        groups[(r.size, r.budget, r.d, json.dumps(chosen, sort_keys=True, default=str))].append(r)
    out = SeedNoise()
    stds = []
    for runs in groups.values():
        if len(runs) < 2:
            continue
        std = float(np.std([r.loss for r in runs], ddof=1))
        stds.append(std)
        out.by_trial.update({r.trial: std for r in runs})
    if stds:
        out.pooled, out.points = float(np.median(stds)), len(stds)
    return out


def _eval_noise(row: Mapping[str, Any], dense: Mapping[str, Any] | None) -> tuple[float | None, str | None]:
    """(SE of the delta from the evaluation batches, how it was computed) for one compressed row."""
    if row.get("delta_sem") is not None:
        return float(row["delta_sem"]), "paired: SE of per-batch differences from the dense model"
    dense_sem = dense.get("eval_sem") if dense is not None else None
    if dense_sem is None:
        return None, None
    if row.get("eval_sem") is not None:
        return math.hypot(float(row["eval_sem"]), float(dense_sem)), "unpaired: SEMs of both models over batches"
    return math.sqrt(2.0) * float(dense_sem), "unpaired: the dense model's batch SEM for both models"


def label_deltas(rows: Sequence[dict[str, Any]], seeds: SeedNoise | None = None) -> None:
    """Each compressed row gains `noise` (sigma of its delta, None when unmeasured), `noise_parts`,
    `delta_significant` (|delta| > SIGMAS sigma; None when unmeasured) and `change` in words."""
    seeds = seeds or SeedNoise()
    dense = {r["source"]: r for r in rows if r["method"] == "dense"}
    for r in rows:
        if r["method"] == "dense":
            continue
        eval_se, eval_kind = _eval_noise(r, dense.get(r["source"]))
        seed_sd, seed_kind = seeds.of(str(r["source"]))
        parts = [x for x in (eval_se, seed_sd) if x is not None]
        sigma = math.sqrt(sum(x * x for x in parts)) if parts else None
        r["noise"] = sigma
        r["noise_parts"] = {"eval": eval_se, "eval_kind": eval_kind, "seed": seed_sd, "seed_kind": seed_kind,
                            "sigmas": SIGMAS}
        delta = float(r["delta_loss"])
        if sigma is None:
            r["delta_significant"], r["change"] = None, "noise not measured"
        else:
            significant = abs(delta) > SIGMAS * sigma
            r["delta_significant"] = bool(significant)
            r["change"] = NO_CHANGE if not significant else ("worse" if delta > 0 else "better")
