"""Which trained configurations to compress: best per budget, the loss-compute frontier, or explicit trial ids.

Works on plain rows (anything with `id`, `axes`, `val_loss`, `flops_exact`, `tokens`, `params_non_embedding`,
e.g. the store's `TrialRow`s of finished train trials) and the fit stage's `fit.json` when there is one:
for best_per_budget, each `compute_optimal` row (N_opt, D_opt at a budget C) inside the sweep's compute range
picks the finished trial nearest to it in (log N, log D); without fit.json it is the lowest validation loss
per budget, from the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling.errors import UserError

FIT_FILE = "fit.json"


@dataclass(frozen=True)
class Selected:
    """One configuration chosen for compression and why."""

    trial_id: str
    reason: str


def read_fit(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/fit.json as written by the fit stage, or None when absent or unreadable."""
    path = Path(run_dir) / FIT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def nearest_to_optimal(rows: Sequence[Any], fit: dict[str, Any], param_count: str = "non_embedding"
                       ) -> list[Selected]:
    """Per fit.json compute-optimal row within the trained compute range, the trial closest in (log N, log D)."""
    pts = [r for r in rows if r.val_loss is not None and r.tokens and getattr(r, f"params_{param_count}")]
    if not pts:
        return []
    flops = [6.0 * getattr(r, f"params_{param_count}") * r.tokens for r in pts]
    lo, hi = min(flops) * 0.999, max(flops) * 1.001
    out: dict[str, Selected] = {}
    for row in fit.get("compute_optimal") or []:
        if not (isinstance(row, dict) and {"C", "N_opt", "D_opt"} <= set(row)) or not lo <= row["C"] <= hi:
            continue
        best = min(pts, key=lambda r: math.hypot(math.log(getattr(r, f"params_{param_count}") / row["N_opt"]),
                                                 math.log(r.tokens / row["D_opt"])))
        out.setdefault(best.id, Selected(best.id, f"nearest to fit.json's compute-optimal N, D at C={row['C']:.3g}"))
    return list(out.values())


def best_per_budget(rows: Sequence[Any]) -> list[Selected]:
    """The lowest validation loss in each budget group (the `budget` axis the plan gave each trial)."""
    best: dict[str, Any] = {}
    for r in rows:
        budget = str(r.axes.get("budget", "?"))
        if r.val_loss is not None and (budget not in best or r.val_loss < best[budget].val_loss):
            best[budget] = r
    return [Selected(r.id, f"lowest val_loss in budget {b}") for b, r in best.items()]


def frontier(rows: Sequence[Any]) -> list[Selected]:
    """Trials on the lower convex-free frontier of loss against training FLOPs: none cheaper is as good."""
    ordered = sorted((r for r in rows if r.val_loss is not None), key=lambda r: (r.flops_exact or 0.0, r.val_loss))
    out, best = [], float("inf")
    for r in ordered:
        if r.val_loss < best:
            best = r.val_loss
            out.append(Selected(r.id, "on the loss-FLOPs frontier"))
    return out


def select(rows: Iterable[Any], how: str | Sequence[str], max_configs: int,
           fit: dict[str, Any] | None = None) -> list[Selected]:
    """Pick up to `max_configs` finished train trials, the largest compute first.

    `how`: "best_per_budget" (fit.json's compute_optimal trials when present, else the store's fallback),
    "frontier", or a list of trial ids (all must be finished train trials).
    """
    rows = list(rows)
    by_id = {r.id: r for r in rows}
    if not isinstance(how, str):
        missing = [t for t in how if t not in by_id]
        if missing:
            raise UserError(f"stages.compress.select.trials: {missing} are not finished train trials; "
                            f"finished: {sorted(by_id)}")
        chosen = [Selected(t, "named in select.trials") for t in how]
    elif how == "frontier":
        chosen = frontier(rows)
    elif how == "best_per_budget":
        count = str(((fit or {}).get("conventions") or {}).get("N", "non_embedding"))
        chosen = (nearest_to_optimal(rows, fit, count) if fit else []) or best_per_budget(rows)
    else:
        raise UserError(f"stages.compress.select: {how!r}; valid: best_per_budget, frontier, {{trials: [ids]}}")
    if not chosen:
        raise UserError("stages.compress: no finished train trial with a validation loss to compress")
    if isinstance(how, str):
        chosen.sort(key=lambda s: -(by_id[s.trial_id].flops_exact or 0.0))
    return chosen[:max_configs]
