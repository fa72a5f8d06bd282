"""Metrics read one step late and logged every `log_every` steps; the store's sink writes in batches and loses
no row however a run ends; divergence still stops at the step that diverged, with nothing saved past it."""

from __future__ import annotations

import math
import threading

import jax
import pytest

from scaling.sweep.store import STORE_NAME, Store, StoreSink
from scaling.train.checkpoint import Checkpointer
from scaling.train.loop import DivergenceGuard, train
from scaling.train.metrics import JsonlSink, read_jsonl

from trainutil import tiny_config


def one_device():
    return jax.devices()[:1]


def run_logged(path, cfg, **kwargs):
    """Train with a JSONL sink; returns the result and the logged rows."""
    sink = JsonlSink(path / "metrics.jsonl")
    try:
        result = train(cfg, path, sinks=[sink], devices=one_device(), show_progress=False, **kwargs)
    finally:
        sink.close()
    return result, read_jsonl(path / "metrics.jsonl")


def train_rows(rows):
    return {r["step"]: r for r in rows if "train_loss" in r}


def test_train_metrics_every_log_every_steps_and_the_last(tmp_path):
    sparse, sparse_rows = run_logged(tmp_path / "sparse", tiny_config(log_every=5))
    dense, dense_rows = run_logged(tmp_path / "dense", tiny_config(log_every=1))
    logged, every = train_rows(sparse_rows), train_rows(dense_rows)
    assert sorted(logged) == [5, 10, 12]  # multiples of log_every, and the schedule's last step
    assert sorted(every) == list(range(1, 13))
    # evaluation keeps its own cadence, whatever log_every is
    assert [r["step"] for r in sparse_rows if "val_loss" in r] == [6, 12]
    # logging less changes no number: the same losses at the same steps, and the same final train loss
    for step, row in logged.items():
        assert row["train_loss"] == every[step]["train_loss"]
        assert row["grad_norm"] == every[step]["grad_norm"] and row["lr"] == every[step]["lr"]
        assert row["tokens"] == step * 8 * 32
        assert row["tokens_per_s"] > 0 and math.isfinite(row["tokens_per_s"])
    assert sparse.train_loss == dense.train_loss == every[12]["train_loss"]
    assert sparse.val_loss == dense.val_loss
    assert sparse.tokens_per_s > 0 and sparse.compile_s > 0


# a learning rate warmed up too far: the loss spikes mid-run (step 14 on CPU), not at the first update
DIVERGING = {"optimizer.lr": 2.0, "optimizer.grad_clip": None, "divergence.after_steps": 2, "steps": 30,
             "optimizer.schedule": {"kind": "constant", "warmup": 0.8}, "log_every": 1}


def first_flagged(losses: dict[int, float]) -> int | None:
    guard = DivergenceGuard(spike_ratio=3.0, after_steps=2)
    return next((step for step in sorted(losses) if guard.check(step, losses[step])), None)


@pytest.mark.parametrize("every_steps", [1, 4, 1000], ids=["checkpoint-every-step", "mixed", "read-one-step-late"])
def test_divergence_stops_at_the_step_that_diverged_and_saves_nothing_past_it(tmp_path, every_steps):
    cfg = tiny_config(**DIVERGING, **{"checkpoint.every_steps": every_steps, "eval.every_steps": 1000})
    result, rows = run_logged(tmp_path, cfg)
    losses = {step: r["train_loss"] for step, r in train_rows(rows).items()}
    assert result.status == "diverged" and "loss" in result.reason
    assert sorted(losses) == list(range(1, result.steps + 1)), "no step past the diverged one is logged"
    assert first_flagged(losses) == result.steps  # it stopped at the very step the guard flags
    assert result.tokens == result.steps * 8 * 32
    assert result.train_loss == losses[result.steps] or not math.isfinite(losses[result.steps])
    saved = Checkpointer(tmp_path / "checkpoints", keep=2).steps()
    assert all(s < result.steps for s in saved)
    if every_steps == 1:
        assert max(saved) == result.steps - 1  # every healthy step was saved, the diverged one never


def test_divergence_with_sparse_logging_still_logs_the_diverged_step(tmp_path):
    dense, dense_rows = run_logged(tmp_path / "dense", tiny_config(**DIVERGING))
    sparse, sparse_rows = run_logged(tmp_path / "sparse", tiny_config(**{**DIVERGING, "log_every": 4}))
    assert sparse.status == dense.status == "diverged" and sparse.steps == dense.steps > 4
    assert sorted(train_rows(sparse_rows)) == sorted({*range(4, dense.steps, 4), dense.steps})


def store_rows(path, trial="t"):
    store = Store(path / STORE_NAME)
    try:
        return store.metrics(trial)
    finally:
        store.close()


def test_store_sink_batches_and_loses_nothing_on_close(tmp_path):
    store = Store(tmp_path / STORE_NAME)
    sink = StoreSink(store, "t", batch_rows=1000, flush_s=1e9)
    for step in range(1, 11):
        sink.log(step, step * 10, step * 1e3, {"a": step, "b": -step, "c": 0.5})
    assert store_rows(tmp_path) == [] and sink.buffered == 30  # nothing written yet: one transaction later
    sink.close()
    rows = store_rows(tmp_path)
    assert len(rows) == 30 and sink.buffered == 0
    assert {(r["step"], r["name"]): r["value"] for r in rows}[(7, "b")] == -7
    store.close()


def test_store_sink_writes_whenever_a_batch_is_full(tmp_path):
    store = Store(tmp_path / STORE_NAME)
    sink = StoreSink(store, "t", batch_rows=7, flush_s=1e9)
    for step in range(1, 4):
        sink.log(step, step, step, {"a": 1.0, "b": 2.0, "c": 3.0})
    assert len(store_rows(tmp_path)) == 9 and sink.buffered == 0  # the third step filled the batch of 7
    sink.log(4, 4, 4, {"a": 1.0})
    assert len(store_rows(tmp_path)) == 9 and sink.buffered == 1
    sink.close()
    assert len(store_rows(tmp_path)) == 10
    store.close()


def test_store_sink_relogged_steps_replace_and_truncation_sees_buffered_rows(tmp_path):
    store = Store(tmp_path / STORE_NAME)
    sink = StoreSink(store, "t", batch_rows=1000, flush_s=1e9)
    for step in range(1, 6):
        sink.log(step, step, step, {"loss": float(step)})
    sink.truncate_after(3)  # a resume from step 3: buffered rows after it go, like written ones
    sink.log(3, 3, 3, {"loss": 30.0})  # the same (trial, name, step) again: replaced, never duplicated
    sink.log(4, 4, 4, {"loss": 40.0})
    sink.close()
    assert store.curve("t", "loss") == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    store.close()


def test_an_exception_in_the_loop_still_writes_every_buffered_row(tmp_path):
    store = Store(tmp_path / STORE_NAME)
    sink = StoreSink(store, "t", batch_rows=10_000, flush_s=1e9)

    def crash(step: int) -> None:
        if step == 7:
            raise RuntimeError("boom")

    cfg = tiny_config(log_every=1, **{"checkpoint.enabled": False, "eval.every_steps": 1000})
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg, tmp_path / "run", sinks=[sink], devices=one_device(), show_progress=False, on_step=crash)
    assert sink.buffered == 0  # the loop flushed on its way out; nobody closed the sink
    assert [s for s, _ in store.curve("t")] == list(range(1, 8))
    store.close()


def test_stop_then_resume_gives_the_rows_of_an_uninterrupted_run(tmp_path):
    """A stop lands off the logging cadence; the resumed run's store rows equal a clean run's, row for row."""
    cfg = tiny_config(log_every=2, **{"checkpoint.every_steps": 4})
    stop = threading.Event()

    def run(path, **kwargs):
        store = Store(path / STORE_NAME)
        sink = StoreSink(store, "t")
        try:
            return train(cfg, path / "run", sinks=[sink], devices=one_device(), show_progress=False, **kwargs)
        finally:
            sink.close()
            store.close()

    first = run(tmp_path / "a", stop=stop, on_step=lambda step: stop.set() if step == 6 else None)
    assert first.status == "interrupted" and first.steps in (6, 7)  # the step already dispatched may finish
    resumed = run(tmp_path / "a")
    clean = run(tmp_path / "b")
    assert resumed.status == clean.status == "done" and resumed.resumed_from == first.steps
    assert resumed.train_loss == clean.train_loss
    kept = lambda rows: [(r["step"], r["name"], r["value"]) for r in rows  # noqa: E731
                         if r["name"] in ("train_loss", "grad_norm", "lr", "val_loss")]
    assert kept(store_rows(tmp_path / "a")) == kept(store_rows(tmp_path / "b"))
    assert sorted({r["step"] for r in store_rows(tmp_path / "a") if r["name"] == "train_loss"}) == [2, 4, 6, 8, 10, 12]


def test_a_rerun_past_an_existing_branch_checkpoint_keeps_it(tmp_path):
    """Killed after saving a WSD branch checkpoint but before the next checkpoint of its own, a run resumes from
    an earlier step and reaches the branch step again: the branch checkpoint already there counts as saved."""
    import shutil

    from scaling.train.loop import BranchSpec

    cfg = tiny_config(**{"checkpoint.every_steps": 4, "eval.every_steps": 1000})
    branch = BranchSpec(save_at={6: tmp_path / "branch"})
    first = train(cfg, tmp_path / "run", devices=one_device(), show_progress=False, branch=branch)
    shutil.rmtree(tmp_path / "run" / "checkpoints")  # as if killed before any checkpoint of its own was kept
    again = train(cfg, tmp_path / "run", devices=one_device(), show_progress=False, branch=branch)
    assert again.status == first.status == "done" and again.train_loss == first.train_loss
    assert Checkpointer(tmp_path / "branch", keep=1).steps() == [6]
