"""One trial across two JAX processes on localhost (`jax.distributed`, CPU, 4 devices each): both run
`scaling run`, process 0 alone claims and writes the store, and the losses match one process on 8 devices."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys

from scaling.pipeline import run_pipeline
from scaling.sweep.store import STORE_NAME

CLI = [sys.executable, "-c", "from scaling.cli import main; main()"]
SWEEP = """
name: multihost
model: {family: transformer, sizes: [{d_model: 16, n_layers: 1, n_heads: 2}]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 16}
budget: {kind: tokens, tokens: [2560]}
optimizer: {lr: 3e-3, schedule: {kind: wsd, warmup: 0.1, decay: 0.25}}
batch_size: 8
mesh: {data: -1}
eval: {every_steps: 10, batches: 2}
checkpoint: {every_steps: 10, async_save: false}
log_every: 1
stages: {fit: null, plot: null}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curves(run_dir):
    conn = sqlite3.connect(run_dir / STORE_NAME)
    try:
        trials = conn.execute("SELECT id, status, worker FROM trials").fetchall()
        rows = conn.execute("SELECT trial, name, step, value FROM metrics WHERE name IN ('train_loss', 'val_loss')"
                            " ORDER BY trial, name, step").fetchall()
    finally:
        conn.close()
    return trials, {(t, n, s): v for t, n, s, v in rows}


def test_two_processes_train_one_trial_like_one_process_on_8_devices(tmp_path):
    sweep = tmp_path / "multihost.yaml"
    sweep.write_text(SWEEP)
    one = run_pipeline(sweep, run_dir=tmp_path / "one", stages=False, show_progress=False)  # this process: 8 CPUs
    assert one.trials == {"done": 1}

    port = free_port()
    base = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "SCALING_PEAK_FLOPS": "2e11"}
    procs = [subprocess.Popen([*CLI, "run", str(sweep), "--run-dir", str(tmp_path / "two"), "--no-stages"],
                              env={**base, "JAX_PROCESS_ID": str(i)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i in range(2)]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300)[0])
    finally:
        for proc in procs:
            proc.kill()
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]

    (trial_one,), ref = curves(tmp_path / "one")
    (trial_two,), got = curves(tmp_path / "two")
    assert trial_two[0] == trial_one[0] and trial_two[1] == "done"
    assert trial_two[2].endswith(f":{procs[0].pid}"), f"claimed by {trial_two[2]}, not process 0"
    assert set(got) == set(ref) and len(ref) == 20 + 2  # a train loss per step, a val loss at steps 10 and 20
    worst = max(abs(got[k] - ref[k]) for k in ref)
    print(f"two processes x 4 devices vs one x 8: largest loss difference {worst:.3g}")
    assert worst < 1e-5, f"largest loss difference {worst:.3g}"
    assert not (tmp_path / "two" / "trials" / trial_one[0] / "metrics.jsonl").exists()
