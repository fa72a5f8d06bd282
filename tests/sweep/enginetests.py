"""Shared by the engine tests (Ray, submitit): the fault suite's tiny WSD sweep on another executor, trained in a
thread of this process, and what a worker recorded about its attempts."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))  # the fault suite's sweep and snapshot

import faultutil as fu  # noqa: E402

from scaling.pipeline import run_pipeline  # noqa: E402
from scaling.sweep.remote import METRICS_FILE, attempts  # noqa: E402

__all__ = ["fu", "SweepThread", "attempts", "main_trials", "reference_snapshot", "sweep_file", "use_compile_cache",
           "wait_rows"]
TIMEOUT_S = 240.0


def sweep_file(directory: Path, executor: str) -> Path:
    """The fault suite's 4-trial WSD sweep (checkpoints every 10 steps, a row per step) with `executor`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sweep.yaml"
    path.write_text(fu.SWEEP.format(executor=executor, async_save="false", stages=fu.NO_STAGES))
    return path


def reference_snapshot(directory: Path) -> fu.Snapshot:
    """The same sweep in-process, uninterrupted: what every engine's store must equal."""
    result = run_pipeline(sweep_file(directory, "{kind: local}"), run_dir=directory / "run", stages=False,
                          show_progress=False)
    assert result.trials == {"done": 4}, result.trials
    return fu.Snapshot.of(directory / "run")


class SweepThread:
    """`run_pipeline` of a sweep in a thread (so the test can act on its workers meanwhile)."""

    def __init__(self, sweep: Path, run_dir: Path) -> None:
        self.run_dir, self.result, self.error = run_dir, None, None
        self.thread = threading.Thread(target=self._run, args=(sweep,), daemon=True)
        self.thread.start()

    def _run(self, sweep: Path) -> None:
        try:
            self.result = run_pipeline(sweep, run_dir=self.run_dir, stages=False, show_progress=False)
        except BaseException as exc:  # re-raised by `join`
            self.error = exc

    def join(self, timeout: float = TIMEOUT_S):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the sweep did not end within {timeout:.0f} s"
        if self.error is not None:
            raise self.error
        return self.result


def train_rows(trial_dir: Path) -> int:
    """How many train-loss rows the worker's metrics file for `trial_dir` holds now."""
    path = trial_dir / METRICS_FILE
    return sum('"train_loss"' in line for line in path.read_text().splitlines()) if path.is_file() else 0


def wait_rows(sweep: SweepThread, trial_dir: Path, rows: int, timeout: float = TIMEOUT_S) -> None:
    """Until the worker's metrics file for `trial_dir` holds train-loss rows past step `rows`."""
    deadline = time.monotonic() + timeout
    path = trial_dir / METRICS_FILE
    while time.monotonic() < deadline:
        assert sweep.thread.is_alive(), f"the sweep ended before step {rows}: {sweep.error or sweep.result}"
        if train_rows(trial_dir) > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {rows} train-loss rows in {path} within {timeout:.0f} s")


def main_trials(run_dir: Path, count: int, timeout: float = TIMEOUT_S) -> list[Path]:
    """The directories of the first `count` main (non-branch) trials, once the driver has claimed them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = fu.query(run_dir, "SELECT id FROM trials WHERE parent IS NULL AND status = 'running' ORDER BY ord")
        if len(rows) >= count:
            return [run_dir / "trials" / tid for (tid,) in rows[:count]]
        time.sleep(0.05)
    raise AssertionError(f"{count} main trial(s) were not claimed within {timeout:.0f} s")


def use_compile_cache(directory: Path) -> None:
    """JAX's persistent compilation cache for this process and (through the environment) its engine's workers,
    so each shape compiles once per test file."""
    import os

    import jax

    os.environ.update(JAX_COMPILATION_CACHE_DIR=str(directory), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      SCALING_PEAK_FLOPS="2e11")  # and no MFU probe per worker (MFU is not compared)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
