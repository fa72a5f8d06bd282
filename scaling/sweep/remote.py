"""One trial on a cluster worker (Ray, SLURM): the driver prepares it, the worker trains it, the driver ingests it.

Cluster workers never open the SQLite store (SQLite across the hosts of a shared file system is unsafe): the
driver, which alone writes the store, hands the worker a `TrialTask`; the worker writes the trial's metrics to
`trials/<id>/metrics.jsonl` beside its checkpoints (the run directory must be on a file system every worker
reaches) and returns how the run ended; the driver then replaces the trial's rows in the store with the file's.
A worker lost mid-trial is run again by its engine and resumes from the newest checkpoint; the file, seeded
from the store and truncated at that checkpoint, then holds exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling.errors import UserError
from scaling.sweep.store import Store, TrialRow

METRICS_FILE = "metrics.jsonl"
STOP_FILE = "STOP"  # the driver asks a worker to checkpoint and stop by creating this file in the trial directory
ATTEMPTS_FILE = "attempts.jsonl"  # one line per time a worker started or ended the trial (host, pid, how it ended)
STOP_POLL_S = 0.5
PREEMPTED = "preempted"  # a worker told to stop by its engine (SIGTERM) rather than by the driver


@dataclass
class TrialTask:
    """What a worker needs to train one trial: its config and where its checkpoints and branch saves go."""

    run_dir: str
    trial_id: str
    config: dict[str, Any]
    save_at: dict[int, str] = field(default_factory=dict)
    init_from: str | None = None

    @property
    def directory(self) -> Path:
        return Path(self.run_dir) / "trials" / self.trial_id


def prepare(store: Store, run_dir: Path, row: TrialRow) -> TrialTask:
    """The claimed row as a task: branch saves and start, the parent's stable-phase rows copied (as in-process),
    and the metrics file seeded with every row the trial has, so a worker's truncation at its checkpoint keeps
    exactly what an uninterrupted run would hold."""
    from scaling.sweep.runner import branch_dir  # runner imports the trainer; only the driver needs it

    children = [t for t in store.trials() if t.parent == row.id and t.branch_step]
    task = TrialTask(str(run_dir), row.id, row.config,
                     save_at={c.branch_step: str(branch_dir(run_dir, c.id)) for c in children})
    if row.parent is not None:
        store.copy_metrics(row.parent, row.id, row.branch_step or 0)
        task.init_from = str(branch_dir(run_dir, row.id))
    task.directory.mkdir(parents=True, exist_ok=True)
    (task.directory / STOP_FILE).unlink(missing_ok=True)
    _read_rows(store, task, replace=False)  # a file a lost driver never ingested holds the newest rows: keep them
    _write_rows(task.directory / METRICS_FILE, store.metrics(row.id))
    return task


def ingest(store: Store, task: TrialTask) -> int:
    """After a worker ended (however it ended): the trial's rows in the store become the metrics file's (seeded
    from the store, then truncated and extended by the worker), and the file goes. Returns the rows written."""
    written = _read_rows(store, task, replace=True)
    (task.directory / METRICS_FILE).unlink(missing_ok=True)
    return written


def _read_rows(store: Store, task: TrialTask, replace: bool) -> int:
    """The metrics file's rows into the store (a row in both takes the file's value); `replace` first drops
    every row of the trial the store holds."""
    from scaling.train.metrics import read_jsonl

    path = task.directory / METRICS_FILE
    if not path.is_file():
        return 0
    tid = task.trial_id
    rows = [(tid, int(r["step"]), int(r["tokens"]), float(r["flops"]), name, float(value))
            for r in read_jsonl(path) for name, value in r.items() if name not in ("step", "tokens", "flops")]
    if replace:
        store.delete_metrics_after(tid, -1)
    if rows:
        store.log_metric_rows(rows)
    return len(rows)


def request_stop(task: TrialTask) -> None:
    """Ask the worker training `task` to checkpoint where it is and return (it polls for the file)."""
    (task.directory / STOP_FILE).touch()


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Store rows as metrics-file lines, written to a temporary file and moved into place."""
    tmp = path.with_suffix(".seed")
    tmp.write_text("".join(json.dumps({"step": r["step"], "tokens": r["tokens"], "flops": r["flops"],
                                       r["name"]: r["value"]}) + "\n" for r in rows))
    os.replace(tmp, path)


def _record_attempt(task: TrialTask, **entry: Any) -> None:
    with (task.directory / ATTEMPTS_FILE).open("a") as f:
        f.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), **entry}) + "\n")


def attempts(directory: Path) -> list[dict[str, Any]]:
    """Each start and end a worker recorded for the trial in `directory` (who ran it, how it ended)."""
    from scaling.train.metrics import read_jsonl

    path = Path(directory) / ATTEMPTS_FILE
    return read_jsonl(path) if path.is_file() else []


class _StopWatch:
    """Sets `stop` when the driver's stop file appears, or on SIGTERM (the engine preempting this worker)."""

    def __init__(self, task: TrialTask, stop: threading.Event, catch_sigterm: bool) -> None:
        self.task, self.stop = task, stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._previous = None
        if catch_sigterm and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stop.set()

    def _poll(self) -> None:
        while not self._done.wait(STOP_POLL_S):
            if (self.task.directory / STOP_FILE).exists():
                self.stop.set()
                return

    def __enter__(self) -> _StopWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def run_task(task: TrialTask, stop: threading.Event | None = None, catch_sigterm: bool = True) -> dict[str, Any]:
    """Train `task` on this worker and say how it ended: {status, result, error}; status is done, diverged,
    interrupted (the driver's stop file), preempted (SIGTERM, or `stop` set by the engine's own hook) or
    user_error. Only JAX process 0 of a multi-host trial writes the metrics file."""
    import jax

    from scaling.config import TrainConfig
    from scaling.train.loop import BranchSpec, train
    from scaling.train.mesh import maybe_initialize_distributed
    from scaling.train.metrics import JsonlSink, TensorBoardSink

    maybe_initialize_distributed()
    lead = jax.process_index() == 0
    stop = stop if stop is not None else threading.Event()
    cfg = TrainConfig.model_validate(task.config)
    branch = BranchSpec(save_at={int(s): Path(p) for s, p in task.save_at.items()},
                        init_from=Path(task.init_from) if task.init_from else None)
    sinks = [JsonlSink(task.directory / METRICS_FILE), TensorBoardSink(task.directory / "tb")] if lead else []
    if lead:
        _record_attempt(task, event="start")
    agreed = stop
    if jax.process_count() > 1:  # a multi-host trial: every process must stop at the same step
        from scaling.sweep.multihost import AgreedStop

        agreed = AgreedStop(stop)
    with _StopWatch(task, stop, catch_sigterm):
        try:
            result = train(cfg, task.directory, sinks=sinks, stop=agreed, branch=branch, show_progress=False)
        except UserError as exc:
            return {"status": "user_error", "result": None, "error": str(exc)}
        finally:
            for sink in sinks:
                sink.close()
    status = result.status
    if status == "interrupted" and not (task.directory / STOP_FILE).exists():
        status = PREEMPTED  # stopped by the engine, not by the driver: the driver runs it again
    if lead:
        _record_attempt(task, event="end", status=status, steps=result.steps, resumed_from=result.resumed_from)
    return {"status": status, "result": result.to_dict(), "error": result.reason}
