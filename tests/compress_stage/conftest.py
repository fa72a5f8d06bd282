"""One tiny trained sweep shared by the compression-stage tests (trained once per session, copied per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cstage_util import write_sweep


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A run directory holding one trained xs model (64 steps on KJV bytes); compression not yet run."""
    from scaling.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("trained")
    result = run_pipeline(write_sweep(base), run_dir=base / "run", stages=False, show_progress=False)
    assert result.trials == {"done": 1}
    return base / "run"


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run (tests change its store)."""
    target = tmp_path / "run"
    shutil.copytree(trained_run, target)
    return target


@pytest.fixture(scope="session")
def loaded_model(trained_run: Path):
    """The trained model back in memory (config, graph, final parameters, evaluator)."""
    from scaling.compress.model_io import load_trained
    from scaling.sweep.runner import trial_dir
    from scaling.sweep.store import STORE_NAME, Store

    store = Store(trained_run / STORE_NAME)
    (trial,) = store.trials(kind="train")
    store.close()
    return load_trained(trial.config, trial_dir(trained_run, trial.id) / "checkpoints")
