"""Claim -> run -> record: the one loop every worker runs against a sweep's store, for every job kind.

`work(store, kind, run_one)` claims rows of one kind, runs each with `run_one(row) -> Outcome` under a
heartbeat, and records how it ended; training passes `run_trial`, the compression stage its own job runner
(scaling/stages/compress_stage.py), so both share the failure, interruption and polling behaviour.
Workers share nothing but the SQLite store and the run directory, so the same loop serves the in-process
executor, K local worker processes, or workers started by a cluster scheduler.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scaling.config import TrainConfig
from scaling.errors import UserError
from scaling.sweep.store import STORE_NAME, Store, StoreSink, TrialRow, release_abandoned, worker_id
from scaling.train.loop import BranchSpec, TrainResult, train
from scaling.train.metrics import TensorBoardSink
from scaling.train.signals import on_abort


def trial_dir(run_dir: Path, trial_id: str) -> Path:
    return Path(run_dir) / "trials" / trial_id


def branch_dir(run_dir: Path, trial_id: str) -> Path:
    """Where a WSD main run leaves the checkpoint a branch trial starts its cooldown from."""
    return Path(run_dir) / "branches" / trial_id


@dataclass
class WorkerReport:
    """What one worker's loop did: rows recorded (done or diverged), rows failed, and whether it was stopped
    (`released`: the row it gave back to the queue)."""

    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    released: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """How one claimed row ended, for the loop to record: `status` is a store status (done, diverged, failed)
    or "interrupted" (the row is released, not finished); `artifacts` are (kind, path) added after it is."""

    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    artifacts: Sequence[tuple[str, Path]] = ()


RunOne = Callable[[TrialRow], Outcome]


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


def prepare_trial(store: Store, run_dir: Path, trial: TrialRow) -> tuple[TrainConfig, Path, BranchSpec]:
    """A claimed trial's config, directory (created) and WSD branching: where its branches start, or (for a
    branch) the parent's checkpoint it starts from, with the parent's rows up to there copied to it."""
    cfg = TrainConfig.model_validate(trial.config)
    children = [t for t in store.trials() if t.parent == trial.id and t.branch_step]
    branch = BranchSpec(save_at={c.branch_step: branch_dir(run_dir, c.id) for c in children})
    if trial.parent is not None:
        store.copy_metrics(trial.parent, trial.id, trial.branch_step or 0)
        branch.init_from = branch_dir(run_dir, trial.id)
    directory = trial_dir(run_dir, trial.id)
    directory.mkdir(parents=True, exist_ok=True)
    return cfg, directory, branch


def trial_sinks(store: Store, trial: TrialRow, directory: Path) -> list[StoreSink | TensorBoardSink]:
    """Where a trial's metrics go: the sweep store and the trial's TensorBoard events."""
    return [StoreSink(store, trial.id), TensorBoardSink(directory / "tb")]


def trained(result: TrainResult, directory: Path) -> Outcome:
    """A training run's outcome with the artifacts it leaves."""
    return Outcome(result.status, result.to_dict(), result.reason,
                   artifacts=(("checkpoints", directory / "checkpoints"), ("tensorboard", directory / "tb")))


def run_trial(store: Store, run_dir: Path, trial: TrialRow, stop: threading.Event | None = None,
              show_progress: bool | None = None) -> Outcome:
    """Train one claimed trial (WSD branches start from their parent's checkpoint) and say how it ended."""
    cfg, directory, branch = prepare_trial(store, run_dir, trial)
    sinks = trial_sinks(store, trial, directory)
    try:
        result = train(cfg, directory, sinks=sinks, stop=stop, branch=branch, show_progress=show_progress)
    finally:
        for sink in sinks:
            sink.close()
    return trained(result, directory)


def run_claimed(store: Store, row: TrialRow, worker: str, run_one: RunOne) -> str:
    """Run one claimed row under a heartbeat and record it; returns its status ("interrupted": released).

    A UserError is recorded as the row's failure and re-raised (the user must fix something); any other
    exception is recorded with its traceback and the loop goes on to the next row. An abort (a second Ctrl-C,
    `scaling.train.signals`) or a KeyboardInterrupt gives the row back first, so the store stays consistent.
    """
    forget = on_abort(lambda: release_abandoned(store.path, row.id, worker))  # a second Ctrl-C gives it back
    try:
        with Heartbeat(store.path, row.id, worker):
            outcome = run_one(row)
    except KeyboardInterrupt:  # Ctrl-C without our handlers (e.g. in a notebook): give the row back, go on up
        store.release(row.id)
        raise
    except UserError as exc:
        store.finish(row.id, "failed", error=str(exc))
        raise
    except Exception:
        store.finish(row.id, "failed", error=traceback.format_exc()[-4000:])
        return "failed"
    finally:
        forget()
    return record(store, row, outcome)


def record(store: Store, row: TrialRow, outcome: Outcome) -> str:
    """Write how a claimed row ended (an interrupted one is given back); returns its status."""
    if outcome.status == "interrupted":
        store.release(row.id)
        return "interrupted"
    store.finish(row.id, outcome.status, result=outcome.result, error=outcome.error)
    for kind, path in outcome.artifacts:
        store.add_artifact(kind, path, trial=row.id)
    return outcome.status


class Packer(Protocol):
    """Runs several claimed rows as one program (packed training): `companions` claims up to `size - 1` more
    rows that can join `row`, `run` trains them together and says how each ended."""

    def companions(self, store: Store, row: TrialRow, worker: str) -> list[TrialRow]: ...

    def run(self, rows: list[TrialRow]) -> list[Outcome]: ...


def run_claimed_group(store: Store, rows: list[TrialRow], worker: str, packer: Packer) -> list[str]:
    """`run_claimed` for rows run together: each under its own heartbeat, each recorded; a fault fails them all
    (a UserError is then re-raised), an abort or Ctrl-C gives every one back."""
    forgets = [on_abort(lambda r=r: release_abandoned(store.path, r.id, worker)) for r in rows]
    try:
        with ExitStack() as beats:
            for r in rows:
                beats.enter_context(Heartbeat(store.path, r.id, worker))
            outcomes = packer.run(rows)
    except KeyboardInterrupt:
        for r in rows:
            store.release(r.id)
        raise
    except UserError as exc:
        for r in rows:
            store.finish(r.id, "failed", error=str(exc))
        raise
    except Exception:
        error = traceback.format_exc()[-4000:]
        for r in rows:
            store.finish(r.id, "failed", error=error)
        return ["failed"] * len(rows)
    finally:
        for forget in forgets:
            forget()
    return [record(store, r, o) for r, o in zip(rows, outcomes, strict=True)]


def stop_requested(stop: threading.Event | None) -> bool:
    """Whether a stop (Ctrl-C, SIGTERM) was asked for: checked between the stages and between their jobs."""
    return stop is not None and stop.is_set()


def work(store: Store, kind: str, run_one: RunOne, *, stop: threading.Event | None = None, max_attempts: int = 2,
         stale_s: float = 120.0, poll_s: float = 2.0, packer: Packer | None = None) -> WorkerReport:
    """Claim and run rows of `kind` until none is runnable (or `stop` is set).

    When nothing is claimable but rows are still pending (other workers hold them, or a branch waits for its
    parent), it polls every `poll_s` seconds; a run that reports "interrupted" is given back and ends the loop.
    With a `packer`, each claimed row takes the companions it finds and they run as one program.
    """
    me = worker_id()
    report = WorkerReport()
    while not stop_requested(stop):
        row = store.claim(me, kind=kind, max_attempts=max_attempts, stale_s=stale_s)
        if row is None:
            if not store.pending(kind=kind, max_attempts=max_attempts):
                break
            if stop is not None:
                stop.wait(poll_s)  # wakes at once on a stop request
            else:
                time.sleep(poll_s)
            continue
        rows = [row, *packer.companions(store, row, me)] if packer is not None else [row]
        if len(rows) == 1:
            statuses = [run_claimed(store, row, me, run_one)]
        else:
            statuses = run_claimed_group(store, rows, me, packer)
        for r, status in zip(rows, statuses, strict=True):
            if status == "interrupted":
                report.interrupted = True
                report.released.append(r.id)
            else:
                (report.failed if status == "failed" else report.ran).append(r.id)
        if report.interrupted:
            break
    report.interrupted = report.interrupted or stop_requested(stop)  # a stop between rows stops the stages too
    return report


def train_worker(run_dir: Path, *, max_attempts: int = 2, stale_s: float = 120.0,
                 stop: threading.Event | None = None, show_progress: bool | None = None, poll_s: float = 2.0,
                 pack: int = 1) -> WorkerReport:
    """The training worker: `work` over the run directory's train trials, each run by `run_trial`, or up to
    `pack` trials of one shape at a time as one packed program (`scaling.sweep.packing`)."""
    run_dir = Path(run_dir)
    store = Store(run_dir / STORE_NAME)
    packer = None
    if pack > 1:
        from scaling.sweep.packing import TrialPacker  # it builds on this module

        packer = TrialPacker(store, run_dir, pack, max_attempts=max_attempts, stale_s=stale_s, stop=stop,
                             show_progress=show_progress)
    try:
        return work(store, "train", lambda row: run_trial(store, run_dir, row, stop, show_progress), stop=stop,
                    max_attempts=max_attempts, stale_s=stale_s, poll_s=poll_s, packer=packer)
    finally:
        store.close()
