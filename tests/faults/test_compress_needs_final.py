"""Compression never silently uses a half-trained model: a trial whose final checkpoint is missing or does not
restore has its compression jobs failed with the reason, through the model loader and the whole stage."""

from __future__ import annotations

import shutil

import pytest

from scaling.compress.model_io import load_trained
from scaling.pipeline import load_run_sweep, run_pipeline
from scaling.stages import compress_stage
from scaling.sweep.runner import trial_dir
from scaling.sweep.store import STORE_NAME, Store
from scaling.train.checkpoint import CheckpointError

SWEEP = """
name: cfinal
model: {family: transformer, sizes: [{d_model: 16, n_layers: 1, n_heads: 2}]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 16}
budget: {kind: tokens, tokens: [1280]}
optimizer: {lr: 3e-3, schedule: {kind: cosine, warmup: 0.1}}
batch_size: 4
mesh: {data: 1}
eval: {every_steps: 5, batches: 2}
checkpoint: {every_steps: 5, keep: 5, async_save: false}
stages:
  fit: null
  plot: null
  compress: {select: best_per_budget, max_configs: 1, methods: [{quantize: [8]}], eval_batches: 2}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 20-step trial with checkpoints at 5, 10, 15 and 20 (the final one); compression not yet run."""
    root = tmp_path_factory.mktemp("cfinal")
    (root / "sweep.yaml").write_text(SWEEP)
    result = run_pipeline(root / "sweep.yaml", run_dir=root / "run", stages=False, show_progress=False)
    assert result.trials == {"done": 1}
    return root / "run"


def _copy(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    store = Store(run_dir / STORE_NAME)
    (trial,) = store.trials(kind="train")
    store.close()
    return run_dir, trial, trial_dir(run_dir, trial.id) / "checkpoints"


def _truncate(step_dir) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])


def test_the_loader_takes_the_final_checkpoint_or_says_why_not(trained, tmp_path):
    run_dir, trial, checkpoints = _copy(trained, tmp_path)
    assert load_trained(trial.config, checkpoints).step == 20
    _truncate(checkpoints / "20")
    with pytest.raises(CheckpointError, match=r"final checkpoint of .* is not usable.*20 could not be restored"):
        load_trained(trial.config, checkpoints)
    assert (checkpoints / "20").is_dir() and not list(checkpoints.glob("*.corrupt-*")), "a reader moves nothing"
    shutil.rmtree(checkpoints / "20")
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 20 \(steps here: 5, 10, 15\)"):
        load_trained(trial.config, checkpoints)  # an earlier step is there, and is not taken instead


def test_the_stage_fails_the_jobs_of_an_unreadable_final_checkpoint_with_the_reason(trained, tmp_path):
    run_dir, trial, checkpoints = _copy(trained, tmp_path)
    _truncate(checkpoints / "20")
    out = compress_stage.run(run_dir, load_run_sweep(run_dir))
    assert out["done"] == 0 and out["jobs"] >= 1
    store = Store(run_dir / STORE_NAME)
    jobs = store.trials(kind="compress")
    assert len(jobs) == out["jobs"]
    for job in jobs:
        assert job.status == "failed" and job.error.startswith(f"the final checkpoint of {trial.config['name']}")
        assert "could not be restored" in job.error and "Traceback" not in job.error
    assert store.trial(trial.id).status == "done", "the trained trial itself is left as it is"
    store.close()
