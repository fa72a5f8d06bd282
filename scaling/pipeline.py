"""A sweep's stages in order: train (sweep/) -> fit -> plot -> compress. The only module that knows the order.

Each stage reads what the earlier ones left in the run directory and its store, so each also runs alone
(`scaling fit RUN_DIR`, `scaling plot RUN_DIR`, `scaling compress RUN_DIR`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaling.sweep.plan import SweepPlan, load_sweep, plan_sweep
from scaling.sweep.schema import SweepConfig
from scaling.sweep.store import STORE_NAME, Store

SWEEP_FILE = "sweep.yaml"


@dataclass
class PipelineResult:
    run_dir: Path
    plan: SweepPlan
    trials: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    stages: dict[str, Any] = field(default_factory=dict)


def prepare(path: str | Path, overrides: list[str] | None = None, run_dir: Path | None = None
            ) -> tuple[SweepPlan, Path]:
    """Validate and plan a sweep file; the run directory defaults to runs/<name>."""
    sweep, raw = load_sweep(path, overrides)
    plan = plan_sweep(sweep, raw, source=str(path))
    return plan, Path(run_dir) if run_dir is not None else Path("runs") / sweep.name


def open_run(plan: SweepPlan, run_dir: Path, raw: dict[str, Any] | None = None) -> Store:
    """Create (or reopen) the run directory and its store, and record the planned trials (existing ones kept)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SWEEP_FILE).write_text(yaml.safe_dump(plan.sweep.model_dump(mode="json"), sort_keys=False))
    store = Store(run_dir / STORE_NAME)
    store.add_trials(t.store_row() for t in plan.trials)
    return store


def load_run_sweep(run_dir: Path) -> SweepConfig:
    """The sweep a run directory was made from (its stages' settings live there)."""
    from scaling.config import validate
    from scaling.yamlio import load_file

    return validate(SweepConfig, load_file(Path(run_dir) / SWEEP_FILE), str(Path(run_dir) / SWEEP_FILE))


def run_pipeline(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    run_dir: Path | None = None,
    stop: threading.Event | None = None,
    stages: bool = True,
    show_progress: bool | None = None,
) -> PipelineResult:
    """Train every trial of the sweep (resuming whatever is unfinished), then run the stages it asks for."""
    from scaling.sweep.executors import run_local, run_processes

    plan, run_dir = prepare(path, overrides, run_dir)
    store = open_run(plan, run_dir)
    sweep = plan.sweep
    if sweep.executor.kind == "processes" and sweep.executor.workers > 1:
        report = run_processes(run_dir, sweep.executor, stop)
    else:
        report = run_local(run_dir, sweep.executor, stop, show_progress)
    result = PipelineResult(run_dir=run_dir, plan=plan, interrupted=report.interrupted)
    result.trials = status_counts(store)
    store.close()
    if stages and not report.interrupted:
        result.stages = run_stages(run_dir, sweep)
    return result


def _fit(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    from scaling.stages import fit_stage

    return fit_stage.run(run_dir, sweep)


def _compress(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    from scaling.stages import compress_stage  # loads JAX: imported only when a sweep compresses

    return compress_stage.run(run_dir, sweep)


def _plot(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    from scaling.stages import plot_stage

    return plot_stage.run(run_dir, sweep)


# The stages after training, in order; plots last, so they show what compression produced. Each reads the run
# directory (the points table, the fit report) and writes its own output, so each also runs alone.
STAGES: dict[str, Callable[[Path, SweepConfig], dict[str, Any]]] = {"fit": _fit, "compress": _compress, "plot": _plot}


def run_stages(run_dir: Path, sweep: SweepConfig, only: set[str] | None = None) -> dict[str, Any]:
    """fit -> compress -> plot, each when the sweep asks for it (and `only` allows it)."""
    outputs: dict[str, Any] = {}
    for name, stage in STAGES.items():
        if getattr(sweep.stages, name) is None or (only is not None and name not in only):
            continue
        outputs[name] = stage(run_dir, sweep)
    return outputs


def status_counts(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in store.trials():
        counts[t.status] = counts.get(t.status, 0) + 1
    return counts
