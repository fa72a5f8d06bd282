"""Re-running an edited sweep into the same run directory: the earlier trials are kept but never mixed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaling import results
from scaling.pipeline import HISTORY_DIR, SWEEP_FILE, load_run_sweep, run_pipeline
from scaling.sweep.store import STORE_NAME, Store

SWEEP = """
name: edited
model: {{family: transformer, sizes: [xs]}}
data: {{corpus: [{corpus}], tokenizer: {{kind: byte}}, seq_len: 16}}
budget: {{kind: tokens, tokens: [640, 1280]}}
optimizer: {{lr: {{values: [3e-3]}}, schedule: {{kind: cosine, warmup: 0.1}}}}
batch_size: 4
mesh: {{data: 1}}
eval: {{every_steps: 10, batches: 2}}
checkpoint: {{every_steps: 10, async_save: false}}
executor: {{max_attempts: 1}}
stages: {{fit: null, plot: null}}
"""


def write(tmp_path: Path, corpus: str = "kjv") -> Path:
    path = tmp_path / "edited.yaml"
    path.write_text(SWEEP.format(corpus=corpus))
    return path


@pytest.fixture
def first_run(tmp_path):
    run_dir = tmp_path / "run"
    run_pipeline(write(tmp_path), run_dir=run_dir, show_progress=False)
    return run_dir


def test_an_edited_sweep_retires_the_old_trials_and_reverting_restores_them(tmp_path, first_run, capsys):
    store = Store(first_run / STORE_NAME)
    old = {t.id for t in store.trials()}
    store.close()
    capsys.readouterr()
    run_pipeline(write(tmp_path), ["optimizer.lr=1e-3"], run_dir=first_run, show_progress=False)
    assert "2 trial(s) of an earlier version of this sweep" in capsys.readouterr().err
    store = Store(first_run / STORE_NAME)
    current = store.trials()
    assert {t.id for t in current}.isdisjoint(old) and len(current) == 2
    assert all(t.status == "done" for t in current)
    assert {t.id for t in store.trials(retired=True)} == old | {t.id for t in current}, "nothing was deleted"
    store.close()
    table = results.from_run_dir(first_run)
    assert {r.trial for r in table.rows} == {t.id for t in current}
    assert {t.config["optimizer"]["lr"] for t in current} == {1e-3}
    assert len(list((first_run / HISTORY_DIR).glob("sweep-*.yaml"))) == 1, "the earlier sweep file is kept"

    # reverting the edit brings the earlier trials back, finished, without training them again
    store = Store(first_run / STORE_NAME)
    finished_before = {t.id: t.finished for t in store.trials(retired=True)}
    store.close()
    capsys.readouterr()
    run_pipeline(write(tmp_path), run_dir=first_run, show_progress=False)
    assert "back in this sweep" in capsys.readouterr().err
    store = Store(first_run / STORE_NAME)
    restored = store.trials()
    assert {t.id for t in restored} == old and {t.status for t in restored} == {"done"}
    assert all(t.finished == finished_before[t.id] for t in restored), "restored trials were not re-trained"
    store.close()


def test_sweep_file_keeps_the_axes_and_loads_back(tmp_path, first_run):
    text = (first_run / SWEEP_FILE).read_text()
    assert "values:" in text, "the run directory's sweep file keeps its sweep axes"
    assert load_run_sweep(first_run).optimizer.lr == pytest.approx(3e-3)


def test_failed_trials_with_no_attempts_left_run_again_only_when_asked(tmp_path, first_run):
    store = Store(first_run / STORE_NAME)
    victim = store.trials()[0].id
    with store.transaction() as conn:  # as a trial whose every attempt failed (say, the disk filled) is left
        conn.execute("UPDATE trials SET status = 'failed', attempt = 1, error = 'disk full' WHERE id = ?", (victim,))
    store.close()
    run_pipeline(write(tmp_path), run_dir=first_run, show_progress=False)
    store = Store(first_run / STORE_NAME)
    assert store.trial(victim).status == "failed", "attempts used up: a plain re-run does not retry"
    store.close()
    run_pipeline(write(tmp_path), run_dir=first_run, show_progress=False, retry_failed=True)
    store = Store(first_run / STORE_NAME)
    assert store.trial(victim).status == "done" and store.trial(victim).error is None
    store.close()
