"""What a figure function gets: the run's store, its fit report and its points table, read once for all figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling import results
from scaling.fit.points import DEFAULT_CONVENTIONS, Conventions, PointsTable
from scaling.fit.report import FitReport
from scaling.sweep.store import STORE_NAME, Store, TrialRow


@dataclass
class FigureContext:
    """Inputs for figure functions. Any part may be missing (no store for a CSV, no report before the fit stage).

    - `store`: the sweep's Store, or None.
    - `report`: the fit stage's FitReport, or None. Figures of fitted things draw its points and its results.
    - `table`: every finished run (a store's or a CSV's), used where there is no report.
    - `run_dir`: where the run lives (figures may read other stages' files there, e.g. compression results).
    """

    run_dir: Path | None = None
    store: Store | None = None
    report: FitReport | None = None
    table: PointsTable | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_dir(cls, run_dir: Path, conventions: Conventions = DEFAULT_CONVENTIONS) -> FigureContext:
        """Open RUN_DIR's store (read as it is), its fit report when present, and its points table."""
        run_dir = Path(run_dir)
        store = Store(run_dir / STORE_NAME) if (run_dir / STORE_NAME).is_file() else None
        report = FitReport.read(run_dir)
        conv = report.conventions if report is not None else conventions
        table = results.from_trials(store.trials(kind="train"), conv) if store is not None else None
        return cls(run_dir=run_dir, store=store, report=report, table=table)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    @property
    def conventions(self) -> Conventions:
        """Which N, C and loss the figures use: the report's, else the table's."""
        if self.report is not None:
            return self.report.conventions
        return self.table.conventions if self.table is not None else DEFAULT_CONVENTIONS

    @property
    def loss_metric(self) -> str:
        return self.conventions.loss if self.conventions.loss in results.LOSSES else "val_loss"

    def points(self) -> PointsTable:
        """The fit's points (the report's own), else the best setting per point of the finished runs."""
        if self.report is not None:
            return self.report.points
        if self.table is not None:
            return self.table.best_per_point()
        return PointsTable((), DEFAULT_CONVENTIONS)

    # ---- store ----------------------------------------------------------------------------------------------
    def train_trials(self, statuses: tuple[str, ...] = ("done", "diverged", "failed", "running")) -> list[TrialRow]:
        """Training trials that produced anything, in plan order."""
        if self.store is None:
            return []
        return [t for t in self.store.trials(kind="train") if t.status in statuses]

    def curve(self, trial_id: str, name: str) -> list[dict[str, Any]]:
        """One metric's rows (step, tokens, flops, value) for a trial, finite values only."""
        if self.store is None:
            return []
        rows = self.store.metrics(trial_id, name)
        return [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
