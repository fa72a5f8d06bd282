"""Claim -> run -> record: the loop every worker runs against a sweep's store.

Workers share nothing but the SQLite store and the run directory, so the same loop serves the in-process
executor, K local worker processes, or workers started by a cluster scheduler.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from scaling.config import TrainConfig
from scaling.errors import UserError
from scaling.sweep.store import STORE_NAME, Store, StoreSink, TrialRow, worker_id
from scaling.train.loop import BranchSpec, train
from scaling.train.metrics import TensorBoardSink


def trial_dir(run_dir: Path, trial_id: str) -> Path:
    return Path(run_dir) / "trials" / trial_id


def branch_dir(run_dir: Path, trial_id: str) -> Path:
    """Where a WSD main run leaves the checkpoint a branch trial starts its cooldown from."""
    return Path(run_dir) / "branches" / trial_id


@dataclass
class WorkerReport:
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False


class Heartbeat:
    """Touches the trial's heartbeat every `every_s` seconds from a daemon thread while it trains."""

    def __init__(self, store_path: Path, trial: str, worker: str, every_s: float = 10.0) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(store_path, trial, worker, every_s), daemon=True)

    def _beat(self, store_path: Path, trial: str, worker: str, every_s: float) -> None:
        store = Store(store_path)  # its own connection: sqlite connections are not shared across threads
        try:
            while not self._stop.wait(every_s):
                store.heartbeat(trial, worker)
        finally:
            store.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_trial(store: Store, run_dir: Path, trial: TrialRow, worker: str, stop: threading.Event | None,
              show_progress: bool | None = None) -> str:
    """Train one claimed trial and record how it ended; returns the final status."""
    cfg = TrainConfig.model_validate(trial.config)
    children = [t for t in store.trials() if t.parent == trial.id and t.branch_step]
    branch = BranchSpec(save_at={c.branch_step: branch_dir(run_dir, c.id) for c in children})
    if trial.parent is not None:
        store.copy_metrics(trial.parent, trial.id, trial.branch_step or 0)
        branch.init_from = branch_dir(run_dir, trial.id)
    directory = trial_dir(run_dir, trial.id)
    directory.mkdir(parents=True, exist_ok=True)
    sinks = [StoreSink(store, trial.id), TensorBoardSink(directory / "tb")]
    try:
        with Heartbeat(store.path, trial.id, worker):
            result = train(cfg, directory, sinks=sinks, stop=stop, branch=branch, show_progress=show_progress)
    except UserError as exc:
        store.finish(trial.id, "failed", error=str(exc))
        raise
    except Exception:
        store.finish(trial.id, "failed", error=traceback.format_exc()[-4000:])
        return "failed"
    finally:
        for sink in sinks:
            sink.close()
    if result.status == "interrupted":
        store.release(trial.id)
        return "interrupted"
    store.finish(trial.id, result.status, result=result.to_dict(), error=result.reason)
    store.add_artifact("checkpoints", directory / "checkpoints", trial=trial.id)
    store.add_artifact("tensorboard", directory / "tb", trial=trial.id)
    return result.status


def work(run_dir: Path, *, kind: str = "train", max_attempts: int = 2, stale_s: float = 120.0,
         stop: threading.Event | None = None, show_progress: bool | None = None, poll_s: float = 2.0
         ) -> WorkerReport:
    """Claim and run trials until none is runnable (or `stop` is set)."""
    store = Store(Path(run_dir) / STORE_NAME)
    me = worker_id()
    report = WorkerReport()
    try:
        while not (stop is not None and stop.is_set()):
            trial = store.claim(me, kind=kind, max_attempts=max_attempts, stale_s=stale_s)
            if trial is None:
                if not store.pending(kind=kind, max_attempts=max_attempts):
                    break
                time.sleep(poll_s)  # others are running what is left, or a branch waits for its parent
                continue
            status = run_trial(store, Path(run_dir), trial, me, stop, show_progress)
            if status == "interrupted":
                report.interrupted = True
                break
            (report.failed if status == "failed" else report.ran).append(trial.id)
    finally:
        store.close()
    return report
