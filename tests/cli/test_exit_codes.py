"""Exit codes tell the truth (scaling.cli.outcome): 0 done, 1 something asked was not done, 130 interrupted;
diverged sweep trials are results (a warning), a diverged `scaling train` run is a failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from runfixtures import SCALING, make_run, scaling

from scaling.cli.outcome import FAILED, INTERRUPTED, OK, of_compress, of_pipeline, of_training
from scaling.sweep.store import STORE_NAME, Store


def pipeline_result(trials: dict[str, int], stages: dict | None = None, interrupted: bool = False):
    return SimpleNamespace(run_dir=Path("runs/x"), trials=trials, stages=stages or {}, interrupted=interrupted)


@pytest.mark.parametrize(("trials", "stages", "interrupted", "stopped", "code", "needle"), [
    ({"done": 4}, {"fit": {"failed": {}}}, False, False, OK, None),
    ({"done": 3, "diverged": 1}, {}, False, False, OK, "warning: 1 trial(s) diverged"),
    ({"done": 3, "failed": 1}, {}, False, False, FAILED, "incomplete: 1 trial(s) failed"),
    ({"done": 3, "queued": 2}, {}, False, False, FAILED, "2 trial(s) not run"),
    ({"done": 4}, {"fit": {"failed": {"chinchilla": "degenerate"}}}, False, False, FAILED,
     "fit: chinchilla not fitted"),
    ({"done": 4}, {"compress": {"done": 2, "jobs": 3}}, False, False, FAILED, "1 of 3 compression job(s) not done"),
    ({"done": 1, "queued": 3}, {}, True, False, INTERRUPTED, "interrupted: 1 of 4 trials done, 3 left"),
    ({"done": 4}, {"compress": {"interrupted": True, "done": 0, "jobs": 2}}, False, False, INTERRUPTED, "resume"),
    ({"done": 4}, {}, False, True, INTERRUPTED, "re-run the same command"),
])
def test_pipeline_outcome(trials, stages, interrupted, stopped, code, needle):
    out = of_pipeline(pipeline_result(trials, stages, interrupted), stopped=stopped)
    assert out.code == code
    assert (out.line is None) if needle is None else (needle in out.line), out.line


def test_training_and_compress_outcomes():
    run = dict(steps=5, reason="loss became nan at step 5")
    assert of_training(SimpleNamespace(status="done", **run)).code == OK
    diverged = of_training(SimpleNamespace(status="diverged", **run))
    assert diverged.code == FAILED and "diverged at step 5 (loss became nan" in diverged.line
    assert of_training(SimpleNamespace(status="interrupted", **run)).code == INTERRUPTED
    assert of_compress({"done": 2, "jobs": 2, "interrupted": False}).code == OK


def test_a_law_that_cannot_be_fitted_exits_1_after_recording_it(tmp_path):
    run = make_run(tmp_path / "run")
    store = Store(run / STORE_NAME)
    store.conn.execute("UPDATE trials SET status = 'failed' WHERE kind = 'train' AND ord >= 4")
    store.close()
    done = scaling("fit", run, "--bootstrap", "0")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1].startswith("incomplete: 1 requested fit(s) not fitted, first "
                                                            "chinchilla")
    assert (run / "fit.json").is_file(), "what could be concluded is still written, with the reason"


TRAIN = """name: tiny
model: {size: xs}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}
steps: 12
batch_size: 8
optimizer: {lr: 1.0e+4, schedule: {kind: constant}}
eval: {every_steps: 6, batches: 2}
checkpoint: {every_steps: 6, async_save: false}
mesh: {data: 1}
"""


def test_train_that_diverges_exits_1_with_one_line(tmp_path):
    (tmp_path / "run.yaml").write_text(TRAIN)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([str(SCALING), "train", "run.yaml", "--run-dir", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("diverged at step") and "no trained model" in last
    env_ok = subprocess.run([str(SCALING), "train", "run.yaml", "--run-dir", "ok", "--set", "optimizer.lr=1e-3",
                             "--set", "steps=2", "--set", "eval.every_steps=2", "--set", "checkpoint.every_steps=2"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert env_ok.returncode == 0, env_ok.stderr


SWEEP_DIVERGES = """name: div
model: {family: transformer, sizes: [xs]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}
budget: {kind: tokens, tokens: [3000]}
optimizer: {lr: 1.0e+4, schedule: {kind: constant}}
batch_size: 8
mesh: {data: 1}
"""


def test_run_with_a_diverged_trial_exits_0_with_a_warning(tmp_path):
    (tmp_path / "div.yaml").write_text(SWEEP_DIVERGES)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([str(SCALING), "run", "div.yaml", "--run-dir", "out", "--no-stages"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == ("warning: 1 trial(s) diverged (results, kept out of the fit); "
                                                    "see `scaling status out`")
