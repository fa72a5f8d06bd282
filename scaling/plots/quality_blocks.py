"""The report's "Data quality" section: what a token of each quality level is worth in clean tokens (q, with its
95% interval), how far the compute-optimal model moves with quality, and how much filtering recovers.

Read-only: every number comes from the fit report's quality law (scaling/fit/data_levels.py).
"""

from __future__ import annotations

import re

from scaling.plots.context import FigureContext
from scaling.plots.report import Block, interval_text, num


def quality_blocks(ctx: FigureContext) -> list[Block]:
    """Nothing for a sweep with one data level; else the multipliers, frontiers and filter recovery."""
    quality = ctx.report.quality if ctx.report is not None else None
    if quality is None:
        return []
    blocks = [Block("h2", "Data quality"),
              Block("p", f"{len(quality.names)} data levels over {len(quality.points)} points; the laws above are "
                         f"fitted on the reference level ({quality.names[0]}) alone. The quality law "
                         "L = E + A/N^alpha + B/(q D)^beta gives each level a multiplier q: one of its tokens is "
                         "worth q clean tokens.")]
    result = quality.result
    if result is None:
        return [*blocks, Block("p", f"The quality law was not fitted: {quality.error}")]
    target = result.target_flops
    rows = []
    for k, m in enumerate(quality.multipliers()):
        n_iv = result.intervals.get(f"N_opt_{k}")  # fit_law bootstraps derived quantities too
        rows.append((m["level"], "1 (reference)" if m["reference"] else num(m["q"], 3), interval_text(m["interval"]),
                     num(result.derived.get(f"N_opt_{k}")), interval_text(n_iv),
                     num(result.derived.get(f"loss_at_target_{k}"))))
    blocks.append(Block("table", headers=("level", "q", "q interval", f"N_opt at C={num(target)}", "N interval",
                                          "loss at C"), rows=tuple(rows)))
    blocks += _recovery(quality)
    facts = result.procedure.get("bootstrap", {})
    blocks.append(Block("p", f"Fitted on {result.n_points} points; {facts.get('n', 0)} bootstrap refits "
                             f"(resampling {facts.get('resampling', '-')})."))
    return blocks


def _recovery(quality) -> list[Block]:
    """For each corruption rate swept with and without filters: q filtered against q unfiltered."""
    q = {m["level"]: m for m in quality.multipliers()}
    lines = []
    for name, m in q.items():
        if "filters=none" not in name:
            continue
        for other, o in q.items():
            if other != name and re.sub(r"filters=[^,]*", "", other) == re.sub(r"filters=[^,]*", "", name):
                lines.append(f"{name.replace(', filters=none', '')}: q {num(m['q'], 3)} unfiltered, "
                             f"{num(o['q'], 3)} with {other.split('filters=')[-1]} filters")
    if not lines:
        return []
    return [Block("p", "What filtering recovers: " + "; ".join(lines) + ".")]

