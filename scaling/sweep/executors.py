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

from scaling.sweep.runner import WorkerReport, train_worker
from scaling.sweep.schema import ExecutorConfig


def run_local(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None,
              show_progress: bool | None = None) -> WorkerReport:
    """Trials one after another in this process."""
    return train_worker(run_dir, max_attempts=cfg.max_attempts, stale_s=cfg.stale_after_s, stop=stop,
                        show_progress=show_progress)


def worker_command(run_dir: Path, cfg: ExecutorConfig) -> list[str]:
    return [sys.executable, "-m", "scaling.sweep.worker", str(run_dir), "--max-attempts", str(cfg.max_attempts),
            "--stale-after-s", str(cfg.stale_after_s)]


def run_processes(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None) -> WorkerReport:
    """K worker processes; Ctrl-C is passed on to them so each checkpoints and gives its trial back."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(worker_command(run_dir, cfg), env=env) for _ in range(cfg.workers)]
    report = WorkerReport()
    try:
        for proc in procs:
            while True:
                try:
                    proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if stop is not None and stop.is_set():
                        for p in procs:
                            if p.poll() is None:
                                p.send_signal(signal.SIGINT)
                        report.interrupted = True
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.wait()
    if any(p.returncode not in (0, None) for p in procs) and not report.interrupted:
        report.failed.append(f"{sum(p.returncode != 0 for p in procs)} worker process(es) exited with errors")
    return report
