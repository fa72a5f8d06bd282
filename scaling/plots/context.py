"""What a figure function gets: the run's store, its fit results and points, read once and shared by all figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling.sweep.store import STORE_NAME, Store, TrialRow

FIT_FILE = "fit.json"


@dataclass
class FigureContext:
    """Inputs for figure functions. Any part may be missing (no store for a CSV, no fit before the fit stage).

    - `store`: the sweep's Store, or None.
    - `fit`: the fit stage's `fit.json` as a dict (see scaling/stages/fit_stage.py), or None.
    - `points`: final (N, D, C, loss) points given directly (a CSV), used when `fit` has none.
    - `run_dir`: where the run lives (figures may read other stages' files there, e.g. compression results).
    """

    run_dir: Path | None = None
    store: Store | None = None
    fit: dict[str, Any] | None = None
    points: list[dict[str, Any]] | None = None
    loss_metric: str = "val_loss"
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_dir(cls, run_dir: Path, loss_metric: str = "val_loss") -> FigureContext:
        """Open RUN_DIR's store (read as it is) and its fit.json when present."""
        run_dir = Path(run_dir)
        store = Store(run_dir / STORE_NAME) if (run_dir / STORE_NAME).is_file() else None
        return cls(run_dir=run_dir, store=store, fit=read_fit(run_dir), loss_metric=loss_metric)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

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

    # ---- points and laws ------------------------------------------------------------------------------------
    def fit_points(self) -> list[dict[str, Any]]:
        """Final points with N, D, C, loss, size, label: the fit's own (its N convention), a CSV's, or the store's."""
        if self.fit and self.fit.get("points"):
            return [dict(p) for p in self.fit["points"] if _finite(p.get("loss"))]
        if self.points:
            return [dict(p) for p in self.points if _finite(p.get("loss"))]
        out = []
        for t in self.train_trials(("done",)):
            loss = getattr(t, self.loss_metric, None)
            if loss is None:
                loss = t.train_loss
            n, d = t.params_non_embedding, t.tokens
            if not (_finite(loss) and n and d):
                continue
            out.append({"trial": t.id, "label": t.label, "size": size_of(t), "N": float(n), "D": float(d),
                        "C": 6.0 * n * d, "loss": float(loss)})
        return out

    def conventions(self) -> dict[str, str]:
        """Which N and C the fit used (so axis labels can say it)."""
        default = {"N": "non_embedding", "D": "tokens", "C": "6ND"}
        return {**default, **((self.fit or {}).get("conventions") or {})}

    def law_results(self) -> dict[str, dict[str, Any]]:
        """Fitted laws by name (FitResult dicts) that have parameters."""
        laws = (self.fit or {}).get("laws") or {}
        return {name: r for name, r in laws.items() if isinstance(r, dict) and r.get("params")}

    def fit_section(self, key: str) -> Any:
        """fit.json's `key` (isoflop, envelope, backtest, compute_optimal...), or None."""
        return (self.fit or {}).get(key)


def read_fit(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/fit.json as a dict, or None when the fit stage has not run (or left an unreadable file)."""
    path = Path(run_dir) / FIT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def size_of(trial: TrialRow) -> str:
    """The model-size name of a trial (its `size` axis, else its label's first word)."""
    size = (trial.axes or {}).get("size")
    if size is None:
        size = (trial.config.get("model") or {}).get("size") if isinstance(trial.config, dict) else None
    return str(size) if size is not None else trial.label.split()[0]


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
