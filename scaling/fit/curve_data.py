"""Training curves for the curve laws, read from a sweep's store: per trial its losses, tokens and lr history.

The trainer logs `lr` (the rate of the update that produced the step) beside `train_loss` every `log_every`
steps. Logged at every step, the history is exact; otherwise it is interpolated linearly between the logged
steps (from 0 at step 0 while the first logged step is still warming up) and the curve says so in its notes.
A WSD cooldown branch shares its parent's stable phase, so its group (the bootstrap's unit) is the parent run.
The store is opened only here, and only for reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.curves.curve import Curve

LOSSES = ("train_loss", "val_loss")


def _lr_history(rows: list[tuple[int, float]]) -> tuple[np.ndarray, str]:
    """Per-update learning rates (T,) from logged (step, lr) rows, and how they were obtained."""
    steps = np.array([s for s, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.float64)
    T = int(steps[-1])
    if steps.size == T and np.array_equal(steps, np.arange(1, T + 1)):
        return values, "logged at every step"
    if values[0] < values.max():  # still warming up at the first logged step: the ramp starts from 0 at step 0
        steps, values = np.concatenate([[0], steps]), np.concatenate([[0.0], values])
    every = int(np.median(np.diff(steps))) if steps.size > 1 else T
    return np.interp(np.arange(1, T + 1), steps, values), f"interpolated between steps logged every {every}"


def curve_of_trial(store: Any, trial: Any, loss: str = "train_loss") -> Curve | None:
    """One trial's curve (None when the store holds no lr history or no finite loss for it)."""
    lr_rows = [(s, v) for s, v in store.curve(trial.id, "lr") if v is not None and np.isfinite(v)]
    rows = [r for r in store.metrics(trial.id, loss) if r["value"] is not None and np.isfinite(r["value"])]
    if not lr_rows or not rows:
        return None
    lr_T, how = _lr_history(lr_rows)
    rows = [r for r in rows if 1 <= r["step"] <= lr_T.size]
    if not rows:
        return None
    schedule = ((trial.config or {}).get("optimizer") or {}).get("schedule") or {}
    return Curve(
        lr=lr_T, steps=np.array([r["step"] for r in rows]), loss=np.array([r["value"] for r in rows]),
        name=trial.label or trial.id, schedule=str(schedule.get("kind", "")), group=trial.parent or trial.id,
        tokens=np.array([r["tokens"] for r in rows], dtype=np.float64),
        notes={"trial": trial.id, "lr": how, "loss": loss},
    )


def curves_from_store(store: Any, trial_ids: Sequence[str] | None = None, loss: str = "train_loss") -> list[Curve]:
    """The curves of the given trials (default: every finished train trial with an lr history), in plan order."""
    if loss not in LOSSES:
        raise UserError(f"loss {loss!r}: a curve's loss is one of {', '.join(LOSSES)}")
    trials = [t for t in store.trials(kind="train") if t.status == "done"]
    if trial_ids is not None:
        by_id = {t.id: t for t in trials}
        missing = [i for i in trial_ids if i not in by_id]
        if missing:
            raise UserError(f"trial {missing[0]!r} is not a finished train trial of this store; finished: "
                            f"{', '.join(sorted(by_id)) or 'none'}")
        trials = [by_id[i] for i in trial_ids]
    curves = [c for t in trials if (c := curve_of_trial(store, t, loss)) is not None]
    if trial_ids is not None and len(curves) < len(trials):
        have = {c.notes["trial"] for c in curves}
        lacking = next(t.id for t in trials if t.id not in have)
        raise UserError(f"trial {lacking!r} has no lr history or no finite {loss} in the store")
    return curves


def curves_from_run_dir(run_dir: Path, trial_ids: Sequence[str] | None = None, loss: str = "train_loss"
                        ) -> list[Curve]:
    """`curves_from_store` on RUN_DIR's store; UserError when RUN_DIR holds none (none is created)."""
    from scaling.sweep.store import STORE_NAME, Store

    path = Path(run_dir) / STORE_NAME
    if not path.is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); give a sweep's run directory")
    store = Store(path, create=False)
    try:
        return curves_from_store(store, trial_ids, loss)
    finally:
        store.close()
