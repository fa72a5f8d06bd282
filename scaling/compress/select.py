"""Which trained configurations to compress: the fit's compute-optimal ones, the loss-compute frontier, or ids.

Reads the points table (every finished train trial) and the fit report, under the report's conventions: for
best_per_budget, each compute-optimal row of the report inside the trained compute range picks the finished
trial nearest to it in (log N, log D); without a report it is the lowest loss per budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scaling.errors import UserError
from scaling.fit.points import PointsTable, ResultRow
from scaling.fit.report import FitReport


@dataclass(frozen=True)
class Selected:
    """One configuration chosen for compression and why."""

    trial_id: str
    reason: str


def nearest_to_optimal(table: PointsTable, report: FitReport) -> list[Selected]:
    """Per compute-optimal row of the report within the trained range, the trial closest in (log N, log D)."""
    if not len(table):
        return []
    n, d = table.n, table.d
    out: dict[str, Selected] = {}
    for row in report.compute_optimal:
        if row.extrapolated or row.C < table.c.min() * 0.999 or not (row.N_opt > 0 and row.D_opt > 0):
            continue  # past the trained range, or a degenerate fit (NaN / non-positive optimum)
        i = min(range(len(table)), key=lambda j: math.hypot(math.log(n[j] / row.N_opt), math.log(d[j] / row.D_opt)))
        trial = table.rows[i].trial
        out.setdefault(trial, Selected(trial, f"nearest to the fit's compute-optimal N, D at C={row.C:.3g}"))
    return list(out.values())


def best_per_budget(table: PointsTable) -> list[Selected]:
    """The lowest loss in each budget the plan gave the trials."""
    best: dict[str, ResultRow] = {}
    for r in table:
        if r.budget not in best or r.loss < best[r.budget].loss:
            best[r.budget] = r
    return [Selected(r.trial, f"lowest {table.conventions.loss} in budget {b}") for b, r in best.items()]


def frontier(table: PointsTable) -> list[Selected]:
    """Trials on the frontier of loss against compute (the table's C): none cheaper is as good."""
    order = sorted(range(len(table)), key=lambda i: (table.c[i], table.rows[i].loss))
    out, best = [], float("inf")
    for i in order:
        if table.rows[i].loss < best:
            best = table.rows[i].loss
            out.append(Selected(table.rows[i].trial, "on the loss-compute frontier"))
    return out


def select(table: PointsTable, how: str | Sequence[str], max_configs: int, report: FitReport | None = None
           ) -> list[Selected]:
    """Pick up to `max_configs` finished train trials, the largest compute first.

    `how`: "best_per_budget" (the report's compute-optimal trials when there is a report, else the lowest loss
    per budget), "frontier", or a list of trial ids (all must be finished train trials).
    """
    if report is not None:
        table = table.with_conventions(report.conventions)
    by_id = {r.trial: i for i, r in enumerate(table.rows)}
    if not isinstance(how, str):
        missing = [t for t in how if t not in by_id]
        if missing:
            raise UserError(f"stages.compress.select.trials: {missing} are not finished train trials; "
                            f"finished: {sorted(by_id)}")
        chosen = [Selected(t, "named in select.trials") for t in how]
    elif how == "frontier":
        chosen = frontier(table)
    elif how == "best_per_budget":
        chosen = (nearest_to_optimal(table, report) if report is not None else []) or best_per_budget(table)
    else:
        raise UserError(f"stages.compress.select: {how!r}; valid: best_per_budget, frontier, {{trials: [ids]}}")
    if not chosen:
        raise UserError("stages.compress: no finished train trial with a finite loss to compress")
    if isinstance(how, str):
        compute = table.c
        chosen.sort(key=lambda s: -compute[by_id[s.trial_id]])
    return chosen[:max_configs]
