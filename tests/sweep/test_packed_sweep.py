"""Packed trials (`executor: {pack: N}`) inside whole sweeps: each packed member's curve equals its separate run's,
WSD branches pack and branch as before, and a SIGKILLed packed sweep re-run to the end equals an uninterrupted
packed run exactly."""

from __future__ import annotations

import json
import sqlite3
import time

import enginetests as et
import pytest
from enginetests import fu

from scaling.pipeline import run_pipeline

SWEEP = """
name: packed
model:
  family: transformer
  sizes: [{{d_model: 16, n_layers: 1, n_heads: 2}}]
data: {{corpus: [kjv], tokenizer: {{kind: byte}}, seq_len: 16}}
budget: {{kind: tokens, tokens: [1280, 2560]}}
seed: {{values: [0, 1]}}
optimizer:
  lr: 3e-3
  schedule: {{kind: wsd, warmup: 0.1, decay: 0.25}}
batch_size: 4
mesh: {{data: 1}}
eval: {{every_steps: 10, batches: 2}}
checkpoint: {{every_steps: 10, async_save: false}}
log_every: 1
wsd_branching: true
executor: {{kind: local, pack: {pack}}}
stages: {{fit: null, plot: null}}
"""
TOLERANCE = {"train_loss": 1e-5, "val_loss": 1e-5, "lr": 0.0, "grad_norm": 1e-4}  # relative


def sweep_file(directory, pack: int):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"packed-{pack}.yaml"
    path.write_text(SWEEP.format(pack=pack))
    return path


def curves(run_dir) -> dict[tuple[str, str, int], float]:
    conn = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return {(t, n, s): v for t, n, s, v in conn.execute(
            "SELECT trial, name, step, value FROM metrics WHERE name IN ('train_loss', 'val_loss', 'lr', 'grad_norm')")}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One compile cache for this file's runs, in-process and in `scaling run` subprocesses."""
    directory = tmp_path_factory.mktemp("jaxcache")
    et.use_compile_cache(directory)
    return directory


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory, cache_dir):
    """The sweep trained once with pack 2 in-process (2 seeds: the main runs pack, then their branches)."""
    directory = tmp_path_factory.mktemp("packed")
    result = run_pipeline(sweep_file(directory, 2), run_dir=directory / "run", stages=False, show_progress=False)
    assert result.trials == {"done": 4}, result.trials
    return directory / "run"


def test_packed_members_equal_their_separate_runs(tmp_path, packed_run):
    separate = run_pipeline(sweep_file(tmp_path, 1), run_dir=tmp_path / "run", stages=False, show_progress=False)
    assert separate.trials == {"done": 4}
    packed, alone = curves(packed_run), curves(tmp_path / "run")
    assert packed.keys() == alone.keys() and len(packed) > 300  # same trials (the executor is not in the id)
    for key, value in alone.items():
        assert abs(packed[key] - value) <= TOLERANCE[key[1]] * abs(value), (key, packed[key], value)
    conn = sqlite3.connect(packed_run / "store.sqlite")
    rows = conn.execute("SELECT label, parent, result FROM trials").fetchall()
    conn.close()
    for label, _parent, result in rows:  # really packed: each trial trained beside the other seed's
        (partner,) = json.loads(result)["data"]["packed_with"]
        assert partner != label and partner.replace("seed1", "seed0") == label.replace("seed1", "seed0"), rows
    assert sum(parent is not None for _, parent, _ in rows) == 2  # the WSD branches packed too


@pytest.mark.parametrize("rows", [30, 85])  # mid main pack (80 rows), mid branch pack
def test_killed_packed_sweep_resumes_to_the_same_store(tmp_path, packed_run, cache_dir, rows):
    reference = fu.Snapshot.of(packed_run)
    sweep, run_dir = sweep_file(tmp_path, 2), tmp_path / "run"
    env = fu.env_for(cache_dir)
    proc = fu.start(sweep, run_dir, env)
    fu.wait_for(lambda: fu.train_rows(run_dir) >= rows, proc, f"{rows} logged steps")
    time.sleep(0.05)
    fu.kill_group(proc)
    code, _ = fu.finish(proc)
    assert code < 0, "the sweep ended before the kill"
    runs = fu.run_to_end(sweep, run_dir, env)
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    snapshot = fu.Snapshot.of(run_dir)
    assert not snapshot.differences(reference)
    assert any(n > 1 for n in snapshot.attempts.values()), "no trial was resumed"
