"""Crash safety: a run killed with SIGKILL resumes to bit-identical losses; a corrupt checkpoint is skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from scaling.train.checkpoint import Checkpointer, abstract_like
from scaling.train.metrics import read_jsonl

from trainutil import tiny_config

CLI = [sys.executable, "-c", "from scaling.cli import main; main()"]


def write_config(path, **overrides):
    cfg = tiny_config(**overrides)
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"mesh"}) | {"mesh": {"data": 1}}))
    return path


def train_losses(run_dir) -> dict[int, float]:
    return {r["step"]: r["train_loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if "train_loss" in r}


def test_sigkill_then_resume_gives_bit_identical_losses(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    config = write_config(tmp_path / "run.yaml", steps=40, log_every=1,  # every step, to compare step by step
                          **{"checkpoint.every_steps": 5, "checkpoint.async_save": True})
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    proc = subprocess.Popen([*CLI, "train", str(config), "--run-dir", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (killed / "metrics.jsonl").exists() and max(train_losses(killed) or [0]) >= 18:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    steps_before = max(train_losses(killed))
    assert 18 <= steps_before < 40

    resumed = subprocess.run([*CLI, "train", str(config), "--run-dir", str(killed)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    subprocess.run([*CLI, "train", str(config), "--run-dir", str(clean)], env=env, check=True,
                   capture_output=True, timeout=300)

    after, reference = train_losses(killed), train_losses(clean)
    assert sorted(after) == list(range(1, 41)), "every step logged exactly once after the resume"
    assert after == reference  # exact float equality, step by step
    summary = yaml.safe_load((killed / "summary.json").read_text())
    assert summary["resumed_from"] is not None and 5 <= summary["resumed_from"] <= steps_before


def test_corrupt_newest_checkpoint_falls_back(tmp_path):
    params = {"w": jnp.arange(12.0).reshape(3, 4)}
    opt_state = {"mu": jnp.ones(4)}
    ckpt = Checkpointer(tmp_path / "ckpt", keep=3, async_save=False)
    for step in (5, 10):
        ckpt.save(step, jax.tree.map(lambda x, s=step: x + s, params), opt_state, {"tokens": step})
    ckpt.wait()
    newest = tmp_path / "ckpt" / "10"
    files = [p for p in newest.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert files
    for f in files:  # truncate every data file of the newest checkpoint
        f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])
    abstract = {"params": abstract_like(params), "opt_state": abstract_like(opt_state)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step, state, meta = Checkpointer(tmp_path / "ckpt", keep=3).restore_latest(abstract)
    assert step == 5 and meta["tokens"] == 5
    np.testing.assert_array_equal(state["params"]["w"], params["w"] + 5)
    assert any("could not be restored" in str(w.message) for w in caught)


def test_no_checkpoint_returns_none(tmp_path):
    abstract = {"params": abstract_like({"w": jnp.ones(2)}), "opt_state": abstract_like({"m": jnp.ones(2)})}
    assert Checkpointer(tmp_path / "empty", keep=1).restore_latest(abstract) is None


@pytest.mark.parametrize(("bad", "needle"), [("steps: -3\n", "steps"), ("model: {size: giant}\n", "model.size"),
                                              ("optimizer: {lr: fast}\n", "optimizer.lr"), ("sped: 1\n", "sped")])
def test_malformed_train_config_exits_2(tmp_path, bad, needle):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsteps: 5\n" + bad if "steps" not in bad else "name: x\n" + bad)
    proc = subprocess.run([*CLI, "train", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
