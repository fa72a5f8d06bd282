"""A sweep's stages in order: train (sweep/) -> fit -> plot -> compress. The only module that knows the order.

Each stage reads what the earlier ones left in the run directory and its store, so each also runs alone
(`scaling fit RUN_DIR`, `scaling plot RUN_DIR`, `scaling compress RUN_DIR`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaling.errors import UserError
from scaling.sweep.plan import SweepPlan, load_sweep, plan_sweep
from scaling.sweep.schema import SweepConfig
from scaling.sweep.store import STORE_NAME, Store

SWEEP_FILE = "sweep.yaml"
HISTORY_DIR = "history"


@dataclass
class PipelineResult:
    run_dir: Path
    plan: SweepPlan
    trials: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    stages: dict[str, Any] = field(default_factory=dict)


def prepare(path: str | Path, overrides: list[str] | None = None, run_dir: Path | None = None,
            n_devices: int | None = None) -> tuple[SweepPlan, Path]:
    """Validate and plan a sweep file (the mesh for `n_devices`, default the devices here); the run directory
    defaults to runs/<name>."""
    sweep, raw = load_sweep(path, overrides)
    plan = plan_sweep(sweep, raw, source=str(path), n_devices=n_devices)
    return plan, Path(run_dir) if run_dir is not None else Path("runs") / sweep.name


@dataclass
class OpenedRun:
    """The store of a (re)opened run directory, and what changed against the sweep it held before."""

    store: Store
    added: int
    retired: list[str]
    restored: list[str]
    retried: list[str]

    def notes(self, run_dir: Path) -> list[str]:
        out = []
        if self.retired:
            out.append(f"{run_dir}: {len(self.retired)} trial(s) of an earlier version of this sweep are not in "
                       "this one; they stay in the store but out of the queue, the fit and the figures "
                       f"(`scaling status {run_dir} --all` lists them; the earlier sweep file is in "
                       f"{run_dir / HISTORY_DIR})")
        if self.restored:
            out.append(f"{run_dir}: {len(self.restored)} trial(s) of an earlier version are back in this sweep")
        if self.retried:
            out.append(f"{run_dir}: {len(self.retried)} failed trial(s) queued again with fresh attempts")
        return out


def open_run(plan: SweepPlan, run_dir: Path, *, retry_failed: bool = False) -> OpenedRun:
    """Create (or reopen) the run directory and its store, record the planned trials (existing ones kept), and
    make them the current sweep: trials of an edited-away version are retired, never mixed into the fit."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_sweep_file(run_dir, plan.raw if plan.raw is not None else plan.sweep.model_dump(mode="json"))
    store = Store(run_dir / STORE_NAME)
    added = store.add_trials(t.store_row() for t in plan.trials)
    retired, restored = store.retire_unplanned("train", [t.id for t in plan.trials])
    retried = store.reset_failed("train") if retry_failed else []
    return OpenedRun(store, added, retired, restored, retried)


def _write_sweep_file(run_dir: Path, raw: dict[str, Any]) -> None:
    """RUN_DIR/sweep.yaml is the sweep as run (the file with its --set overrides, axes intact); a different
    earlier one is kept under RUN_DIR/history/ so an edit never loses what the older trials were."""
    text = yaml.safe_dump(raw, sort_keys=False)
    path = run_dir / SWEEP_FILE
    if path.is_file() and path.read_text() != text:
        history = run_dir / HISTORY_DIR
        history.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(path.stat().st_mtime))
        path.replace(history / f"sweep-{stamp}.yaml")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load_run_sweep(run_dir: Path) -> SweepConfig:
    """The sweep a run directory was made from (its stages' settings live there); axes take their first value."""
    path = Path(run_dir) / SWEEP_FILE
    if not path.is_file():
        raise UserError(f"{run_dir}: no {SWEEP_FILE} here; is this a sweep's run directory?")
    sweep, _raw = load_sweep(path)
    return sweep


def run_pipeline(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    run_dir: Path | None = None,
    stop: threading.Event | None = None,
    stages: bool = True,
    show_progress: bool | None = None,
    retry_failed: bool = False,
) -> PipelineResult:
    """Train every trial of the sweep (resuming whatever is unfinished), then run the stages it asks for.

    `retry_failed` gives failed trials fresh attempts (after the cause was fixed); notes on what changed
    against the run directory's earlier sweep are printed before training starts.
    """
    from scaling.sweep.executors import run_executor
    from scaling.sweep.multihost import is_lead_process

    plan, run_dir = prepare(path, overrides, run_dir)
    if not is_lead_process():  # multi-host: process 0 alone writes the store; the others train what it hands out
        report = run_executor(run_dir, plan.sweep.executor, stop, show_progress)
        return PipelineResult(run_dir=run_dir, plan=plan, interrupted=report.interrupted)
    opened = open_run(plan, run_dir, retry_failed=retry_failed)
    store = opened.store
    for note in opened.notes(run_dir):
        print(f"note: {note}", file=sys.stderr)
    sweep = plan.sweep
    report = run_executor(run_dir, sweep.executor, stop, show_progress)
    result = PipelineResult(run_dir=run_dir, plan=plan, interrupted=report.interrupted)
    result.trials = status_counts(store)  # training trials; each stage reports its own jobs
    store.close()
    if stages and not report.interrupted:
        result.stages = run_stages(run_dir, sweep, stop=stop)
        result.interrupted = stop is not None and stop.is_set()
    return result


def _fit(run_dir: Path, sweep: SweepConfig, stop: threading.Event | None) -> dict[str, Any]:
    from scaling.stages import fit_stage

    return fit_stage.run(run_dir, sweep)


def _compress(run_dir: Path, sweep: SweepConfig, stop: threading.Event | None) -> dict[str, Any]:
    from scaling.stages import compress_stage  # loads JAX: imported only when a sweep compresses

    return compress_stage.run(run_dir, sweep, stop=stop)


def _plot(run_dir: Path, sweep: SweepConfig, stop: threading.Event | None) -> dict[str, Any]:
    from scaling.stages import plot_stage

    return plot_stage.run(run_dir, sweep)


# The stages after training, in order; plots last, so they show what compression produced. Each reads the run
# directory (the points table, the fit report) and writes its own output, so each also runs alone. A stop
# (Ctrl-C, SIGTERM) lets the running stage finish its unit of work (a fit, one compression job, a figure
# file) and starts no further stage; re-running the command redoes only what is missing.
Stage = Callable[[Path, SweepConfig, threading.Event | None], dict[str, Any]]
STAGES: dict[str, Stage] = {"fit": _fit, "compress": _compress, "plot": _plot}


def run_stages(run_dir: Path, sweep: SweepConfig, only: set[str] | None = None,
               stop: threading.Event | None = None) -> dict[str, Any]:
    """fit -> compress -> plot, each when the sweep asks for it (and `only` allows it), until `stop` is set."""
    outputs: dict[str, Any] = {}
    for name, stage in STAGES.items():
        if getattr(sweep.stages, name) is None or (only is not None and name not in only):
            continue
        if stop is not None and stop.is_set():
            break
        outputs[name] = stage(run_dir, sweep, stop)
    return outputs


def status_counts(store: Store, kind: str = "train") -> dict[str, int]:
    """How many trials of `kind` are in each status."""
    counts: dict[str, int] = {}
    for t in store.trials(kind=kind):
        counts[t.status] = counts.get(t.status, 0) + 1
    return counts
