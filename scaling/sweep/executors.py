"""Executors run the worker loop: here in this process, or in K local worker processes sharing the store.

Clusters (Ray, SLURM) start the same worker (`python -m scaling.sweep.worker RUN_DIR`) on their own nodes;
the store is the only coordination, so no scheduler of our own is needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from scaling.sweep.runner import WorkerReport, stop_requested, train_worker
from scaling.sweep.schema import ExecutorConfig
from scaling.sweep.worker import INTERRUPTED
from scaling.train.signals import on_abort

ABORT_WAIT_S = 60.0  # how long an abort waits for workers to give their trials back before killing them


def run_local(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None,
              show_progress: bool | None = None) -> WorkerReport:
    """Trials one after another in this process."""
    return train_worker(run_dir, max_attempts=cfg.max_attempts, stale_s=cfg.stale_after_s, stop=stop,
                        show_progress=show_progress)


def worker_command(run_dir: Path, cfg: ExecutorConfig) -> list[str]:
    return [sys.executable, "-m", "scaling.sweep.worker", str(run_dir), "--max-attempts", str(cfg.max_attempts),
            "--stale-after-s", str(cfg.stale_after_s), "--from-parent"]


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
