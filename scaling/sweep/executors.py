"""Executors run the worker loop: here in this process, in K local worker processes sharing the store, or on a
cluster engine (Ray tasks, SLURM jobs through submitit) that only trains.

For an engine, the runner loop runs in `workers` driver threads of this process: each claims a trial, has the
engine train it (`scaling.sweep.remote`), and records it, so the store keeps one writer and the engine does the
scheduling, retries and requeues; no scheduler of our own is needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from scaling.errors import UserError
from scaling.sweep import remote
from scaling.sweep.runner import Outcome, WorkerReport, stop_requested, train_worker, work
from scaling.sweep.schema import ExecutorConfig
from scaling.sweep.store import STORE_NAME, Store, TrialRow
from scaling.sweep.worker import INTERRUPTED
from scaling.train.signals import on_abort

ABORT_WAIT_S = 60.0  # how long an abort waits for workers to give their trials back before killing them
POLL_S = 0.5  # how often a driver thread looks at its engine job


class Engine(Protocol):
    """A cluster engine as the driver sees it: submit a trial, poll it, take its result (raises if the job
    failed), cancel it (best effort, on an abort), and let go of the engine at the end."""

    def submit(self, task: remote.TrialTask) -> Any: ...

    def done(self, job: Any) -> bool: ...

    def result(self, job: Any) -> dict[str, Any]: ...

    def cancel(self, job: Any) -> None: ...

    def close(self) -> None: ...


def run_local(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None,
              show_progress: bool | None = None) -> WorkerReport:
    """Trials one after another in this process."""
    return train_worker(run_dir, max_attempts=cfg.max_attempts, stale_s=cfg.stale_after_s, stop=stop,
                        show_progress=show_progress, pack=cfg.pack)


def worker_command(run_dir: Path, cfg: ExecutorConfig) -> list[str]:
    return [sys.executable, "-m", "scaling.sweep.worker", str(run_dir), "--max-attempts", str(cfg.max_attempts),
            "--stale-after-s", str(cfg.stale_after_s), "--pack", str(cfg.pack), "--from-parent"]


def _signal_live(procs: list[subprocess.Popen], signum: int) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signum)


def run_processes(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None) -> WorkerReport:
    """K worker processes. A stop (this process's first Ctrl-C or SIGTERM) is forwarded to each worker once, as
    SIGTERM: each checkpoints and gives its trial back. An abort (a second Ctrl-C) is forwarded once as SIGINT:
    each worker gives its trial back and leaves at once (see `scaling.train.signals`).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(worker_command(run_dir, cfg), env=env) for _ in range(cfg.workers)]
    forget = on_abort(lambda: _signal_live(procs, signal.SIGINT))  # an abort here aborts the workers too
    forwarded = False
    try:
        for proc in procs:
            while proc.poll() is None:
                if not forwarded and stop_requested(stop):
                    _signal_live(procs, signal.SIGTERM)
                    forwarded = True
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
    except KeyboardInterrupt:  # without our handlers: abort the workers and wait for them to give trials back
        _signal_live(procs, signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=ABORT_WAIT_S)
            except subprocess.TimeoutExpired:  # its trial stays `running` with a dead pid: reclaimed at once
                proc.kill()
                proc.wait()
        raise
    finally:
        forget()
    report = WorkerReport(interrupted=forwarded or any(p.returncode == INTERRUPTED for p in procs))
    errors = [p.returncode for p in procs if p.returncode not in (0, INTERRUPTED)]
    if errors and not report.interrupted:
        report.failed.append(f"{len(errors)} worker process(es) exited with errors (exit codes {errors})")
    return report


def run_executor(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None,
                 show_progress: bool | None = None) -> WorkerReport:
    """Train the run directory's trials with the executor the sweep names (in-process by default)."""
    if cfg.kind == "processes" and cfg.workers > 1:
        return run_processes(run_dir, cfg, stop)
    if cfg.kind == "ray":
        from scaling.sweep.ray_executor import RayEngine

        return run_engine(run_dir, cfg, stop, RayEngine(cfg))
    if cfg.kind == "slurm":
        from scaling.sweep.slurm_executor import SlurmEngine

        return run_engine(run_dir, cfg, stop, SlurmEngine(cfg, run_dir))
    from scaling.sweep.multihost import is_multihost, run_multihost

    if is_multihost():
        if cfg.pack > 1:
            raise UserError("executor.pack: a multi-host job trains one trial at a time across its hosts; "
                            "drop `pack` (or set it to 1) for this launch")
        return run_multihost(run_dir, cfg, stop)
    return run_local(run_dir, cfg, stop, show_progress)


def run_engine(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None, engine: Engine) -> WorkerReport:
    """`cfg.workers` driver threads, each the one runner loop with a `run_one` that trains its trial on the
    engine's workers; the driver alone writes the store. A stop is passed on to the workers (they checkpoint and
    return), then the trials are given back; an abort cancels the engine's jobs."""
    stop = stop if stop is not None else threading.Event()
    reports: list[WorkerReport] = []
    lock = threading.Lock()

    def loop() -> None:
        store = Store(run_dir / STORE_NAME)  # one connection per thread
        try:
            report = work(store, "train", lambda row: run_remote_trial(store, run_dir, row, cfg, stop, engine),
                          stop=stop, max_attempts=cfg.max_attempts, stale_s=cfg.stale_after_s)
        finally:
            store.close()
        with lock:
            reports.append(report)

    threads = [threading.Thread(target=loop, name=f"driver-{i}", daemon=True) for i in range(cfg.workers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # wakes for signal handlers in the main thread
    except KeyboardInterrupt:  # without our handlers: stop the workers, wait for them to give their trials back
        stop.set()
        for thread in threads:
            thread.join(ABORT_WAIT_S)
        raise
    finally:
        engine.close()
    merged = WorkerReport(interrupted=stop_requested(stop))
    for report in reports:
        merged.ran += report.ran
        merged.failed += report.failed
        merged.released += report.released
        merged.interrupted = merged.interrupted or report.interrupted
    return merged


def run_remote_trial(store: Store, run_dir: Path, row: TrialRow, cfg: ExecutorConfig, stop: threading.Event,
                     engine: Engine) -> Outcome:
    """Train one claimed trial on the engine, resubmitting it (up to `cfg.max_retries` times) when its worker
    was preempted, then ingest its metrics; a stop asks the worker to checkpoint and the trial is released."""
    task = remote.prepare(store, run_dir, row)
    out: dict = {}
    try:
        for attempt in range(cfg.max_retries + 1):
            job = engine.submit(task)
            forget = on_abort(lambda job=job: engine.cancel(job))
            try:
                asked = False
                while not engine.done(job):
                    if not asked and stop_requested(stop):
                        remote.request_stop(task)
                        asked = True
                    time.sleep(POLL_S)
                out = engine.result(job)
            finally:
                forget()
            if out["status"] != remote.PREEMPTED or stop_requested(stop):
                break
            print(f"note: trial {row.id} was preempted on its worker; resubmitted ({attempt + 1} of "
                  f"{cfg.max_retries}), it resumes from its checkpoint", file=sys.stderr, flush=True)
    finally:
        remote.ingest(store, task)
    if out["status"] == "user_error":
        raise UserError(out["error"])
    status = "interrupted" if out["status"] == remote.PREEMPTED else out["status"]
    directory = task.directory
    return Outcome(status, out["result"], out["error"],
                   artifacts=(("checkpoints", directory / "checkpoints"), ("tensorboard", directory / "tb")))
