"""The fault-injection suite's tools: a tiny byte-level WSD sweep, real `scaling run` processes (each the leader
of its own process group, so a kill takes the whole sweep), resume-until-it-ends, and a store snapshot that
two runs must share exactly.

The sweep: two sizes (d16, d24, one layer) x two token budgets with WSD branching, so two 40-step main runs
each leave a branch checkpoint at step 15 for a 5-step cooldown trial. Checkpoints and evaluations every 10
steps, a train-loss row every step: 4 trials, 120 train-loss rows, a few seconds per sweep.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling.sweep.store import STORE_NAME

CLI = [sys.executable, "-c", "from scaling.cli import main; main()"]
FULL = os.environ.get("SCALING_FAULTS_FULL", "") not in ("", "0")
RUN_TIMEOUT_S = 300.0  # one `scaling run` of the tiny sweep takes seconds; this only bounds a hang

SWEEP = """
name: faults
model:
  family: transformer
  sizes: [{{d_model: 16, n_layers: 1, n_heads: 2}}, {{d_model: 24, n_layers: 1, n_heads: 2}}]
data: {{corpus: [kjv], tokenizer: {{kind: byte}}, seq_len: 16}}
budget: {{kind: tokens, tokens: [1280, 2560]}}
optimizer:
  lr: 3e-3
  schedule: {{kind: wsd, warmup: 0.1, decay: 0.25}}
batch_size: 4
mesh: {{data: 1}}
eval: {{every_steps: 10, batches: 2}}
checkpoint: {{every_steps: 10, async_save: {async_save}}}
log_every: 1
wsd_branching: true
executor: {executor}
stages: {stages}
"""

EXECUTORS = {
    "inprocess": "{kind: local, max_attempts: MAX}",
    "processes": "{kind: processes, workers: 2, max_attempts: MAX}",
}
# metric names whose values are a function of (config, seed, step) alone; the others are timings
EXACT_METRICS = ("train_loss", "val_loss", "lr", "grad_norm", "flops_6n")
TRIAL_FIELDS = ("label", "kind", "parent", "branch_step", "status", "tokens", "params_total", "params_embedding",
                "params_non_embedding", "flops_6n", "flops_exact", "train_loss", "val_loss")


NO_STAGES = "{fit: null, plot: null}"
# fit (a 2-parameter law the 4 points identify, bootstrapped), compress (2 jobs on the selected model), plot
ALL_STAGES = ("{fit: {laws: [kaplan_c], bootstrap: 20}, plot: {formats: [png]}, compress: {select: best_per_budget, "
              "max_configs: 1, methods: [{prune: [0.5]}, {quantize: [8]}], eval_batches: 2}}")


def write_sweep(directory: Path, executor: str = "inprocess", *, max_attempts: int = 2,
                async_save: bool = True, stages: str = NO_STAGES) -> Path:
    """The tiny WSD sweep as a YAML file in `directory` (the executor changes no trial id; saves are
    asynchronous by default, as in a user's sweep; no stages after training unless `stages` asks)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"faults-{executor}{'' if stages == NO_STAGES else '-stages'}.yaml"
    path.write_text(SWEEP.format(executor=EXECUTORS[executor].replace("MAX", str(max_attempts)),
                                 async_save=str(async_save).lower(), stages=stages))
    return path


def env_for(cache_dir: Path, **extra: str) -> dict[str, str]:
    """One CPU device, JAX's persistent compilation cache (compiles once per shape per session), a fixed peak
    FLOP/s for MFU (no probe per process: MFU is not compared), extras."""
    env = {k: v for k, v in os.environ.items() if k != "SCALING_FAULT_AFTER"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(cache_dir), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", PYTHONUNBUFFERED="1", SCALING_PEAK_FLOPS="2e11", **extra)
    return env


def start(sweep: Path, run_dir: Path, env: dict[str, str], stages: bool = False) -> subprocess.Popen:
    """`scaling run SWEEP --run-dir RUN_DIR` (`--no-stages` unless `stages`) as the leader of a new process
    group."""
    return subprocess.Popen([*CLI, "run", str(sweep), "--run-dir", str(run_dir), *([] if stages else ["--no-stages"])],
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_group(proc: subprocess.Popen, signum: int = signal.SIGKILL) -> None:
    """Signal the sweep's whole process group (its worker processes included)."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str]:
    """Wait for `proc` (killing its group if it hangs) and return (exit code, stdout + stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(f"`scaling run` hung for {timeout:.0f} s:\n{(out + err)[-3000:]}") from None
    finally:
        reap_group(proc)
    return proc.returncode, out + err


def reap_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Wait until no process of `proc`'s group is left (worker processes outlive a killed parent briefly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    kill_group(proc)


def run_to_end(sweep: Path, run_dir: Path, env: dict[str, str], max_runs: int = 4,
               stages: bool = False) -> list[tuple[int, str]]:
    """Re-run the same command until a run ends on its own (not killed); returns every run's (code, output)."""
    runs = []
    for _ in range(max_runs):
        runs.append(finish(start(sweep, run_dir, env, stages)))
        if runs[-1][0] >= 0:
            return runs
    raise AssertionError(f"no run of {sweep} ended on its own in {max_runs} tries: {[c for c, _ in runs]}")


def query(run_dir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """A read of the store that tolerates it not existing yet or being locked (polled while a sweep runs)."""
    path = run_dir / STORE_NAME
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


def train_rows(run_dir: Path) -> int:
    rows = query(run_dir, "SELECT COUNT(*) FROM metrics WHERE name = 'train_loss'")
    return int(rows[0][0]) if rows else 0


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = RUN_TIMEOUT_S,
             every_s: float = 0.01) -> None:
    """Poll `condition` until it holds; fails if `proc` ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before {what}:\n{(out + err)[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)


@dataclass
class Snapshot:
    """What must not depend on how a sweep was interrupted: every trial's outcome, every metric row (exact
    values for the deterministic names, presence for timings), and the artifacts recorded."""

    trials: dict[str, tuple]
    metrics: dict[tuple[str, str, int], tuple]
    artifacts: set[tuple[str, str, str]]
    rows: int
    attempts: dict[str, int] = field(default_factory=dict)
    workers: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, run_dir: Path) -> Snapshot:
        conn = sqlite3.connect(run_dir / STORE_NAME)
        conn.row_factory = sqlite3.Row
        try:
            trials = list(conn.execute("SELECT * FROM trials ORDER BY ord"))
            metrics = list(conn.execute("SELECT * FROM metrics"))
            artifacts = list(conn.execute("SELECT * FROM artifacts"))
        finally:
            conn.close()
        root = str(run_dir.resolve())
        return cls(
            trials={t["id"]: tuple(t[f] for f in TRIAL_FIELDS) for t in trials},
            metrics={(m["trial"], m["name"], m["step"]): (m["tokens"], m["flops"], m["value"])
                     if m["name"] in EXACT_METRICS else () for m in metrics},
            artifacts={(a["trial"], a["kind"], str(Path(a["path"]).resolve()).replace(root, "RUN"))
                       for a in artifacts},
            rows=len(metrics),
            attempts={t["id"]: t["attempt"] for t in trials},
            workers={t["id"]: t["worker"] for t in trials},
            errors={t["id"]: t["error"] for t in trials},
        )

    def differences(self, other: Snapshot) -> list[str]:
        """Human-readable differences from `other` (the uninterrupted run); empty when identical."""
        out = []
        for tid in sorted(set(self.trials) | set(other.trials)):
            mine, theirs = self.trials.get(tid), other.trials.get(tid)
            if mine != theirs:
                out.append(f"trial {tid}: {mine} != {theirs} (error: {self.errors.get(tid)})")
        lost = sorted(set(other.metrics) - set(self.metrics))
        extra = sorted(set(self.metrics) - set(other.metrics))
        if lost:
            out.append(f"{len(lost)} metric rows lost, e.g. {lost[:5]}")
        if extra:
            out.append(f"{len(extra)} metric rows extra, e.g. {extra[:5]}")
        changed = [k for k in set(self.metrics) & set(other.metrics) if self.metrics[k] != other.metrics[k]]
        if changed:
            k = sorted(changed)[0]
            out.append(f"{len(changed)} metric values differ, e.g. {k}: {self.metrics[k]} != {other.metrics[k]}")
        if self.artifacts != other.artifacts:
            out.append(f"artifacts differ: {sorted(self.artifacts ^ other.artifacts)[:6]}")
        return out


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Every trial's and branch's checkpoints directory under a run directory."""
    return sorted([*run_dir.glob("trials/*/checkpoints"), *run_dir.glob("branches/*")])


def saving_now(run_dir: Path) -> bool:
    """Whether orbax had a save under way (its temporary directories are left by a kill mid-save)."""
    return any("tmp" in p.name for d in checkpoint_dirs(run_dir) if d.is_dir() for p in d.iterdir())


def phase_at_kill(run_dir: Path) -> str:
    """Where a kill landed, read from what it left: start-up, a main or branch run (at which step), mid-save."""
    running = query(run_dir, "SELECT id, parent FROM trials WHERE status = 'running'")
    if not running:
        done = query(run_dir, "SELECT COUNT(*) FROM trials WHERE status = 'done'")
        return "after training" if done and done[0][0] == 4 else "start-up / between trials"
    kinds = sorted({"branch run" if parent else "main run" for _, parent in running})
    return " + ".join(kinds) + (" (mid checkpoint save)" if saving_now(run_dir) else "")


def record(tally_file: Path, entry: dict[str, Any]) -> None:
    """Append one kill point to the session's tally (printed at the end of the run)."""
    with tally_file.open("a") as f:
        f.write(json.dumps(entry) + "\n")


class Watched:
    """A `scaling run` whose combined output is read as it comes (to wait for a line it prints)."""

    def __init__(self, sweep: Path, run_dir: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([*CLI, "run", str(sweep), "--run-dir", str(run_dir), "--no-stages"], env=env,
                                     start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_text(self, needle: str, timeout: float = RUN_TIMEOUT_S) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: needle in self.text or self.proc.poll() is not None, timeout):
                raise AssertionError(f"timed out waiting for {needle!r} in the output")
        assert needle in self.text, f"the sweep ended without printing {needle!r}:\n{self.text[-3000:]}"

    def wait_exit(self, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            self.proc.wait()
            raise AssertionError(f"`scaling run` did not stop within {timeout:.0f} s:\n{self.text[-3000:]}") from None
        self._reader.join(30)
        reap_group(self.proc)
        return self.proc.returncode, self.text
