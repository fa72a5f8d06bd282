"""The training loop on real text: it learns, logs, diverges when it should, and accumulates gradients exactly."""

from __future__ import annotations

import json
import math

import jax
import pytest

from scaling.train.loop import DivergenceGuard, train
from scaling.train.metrics import JsonlSink, read_jsonl

from trainutil import tiny_config


def one_device():
    return jax.devices()[:1]


def test_run_learns_and_logs_every_step(tmp_path):
    sink = JsonlSink(tmp_path / "metrics.jsonl")
    result = train(tiny_config(log_every=1), tmp_path, sinks=[sink], devices=one_device(), show_progress=False)
    sink.close()
    assert result.status == "done" and result.steps == 12
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    train_rows = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in train_rows] == list(range(1, 13))
    assert train_rows[-1]["train_loss"] < train_rows[0]["train_loss"] - 1.0  # byte-level starts near ln(257)=5.55
    assert train_rows[0]["train_loss"] == pytest.approx(math.log(257), abs=0.3)
    for key in ("lr", "grad_norm", "tokens_per_s", "mfu", "flops_6n", "wall_s"):
        assert key in train_rows[-1]
    assert train_rows[-1]["tokens"] == 12 * 8 * 32
    assert train_rows[-1]["flops"] == pytest.approx(12 * 8 * 32 * result.flops_per_token["train_exact"])
    val_rows = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in val_rows] == [6, 12]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "done" and summary["params"]["non_embedding"] > 0


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    plain = train(tiny_config(steps=4), tmp_path / "a", devices=one_device(), show_progress=False)
    accum = train(tiny_config(steps=4, grad_accum=4), tmp_path / "b", devices=one_device(), show_progress=False)
    assert accum.train_loss == pytest.approx(plain.train_loss, abs=1e-5)
    assert accum.val_loss == pytest.approx(plain.val_loss, abs=1e-5)


def test_huge_learning_rate_diverges(tmp_path):
    cfg = tiny_config(**{"optimizer.lr": 1e4, "optimizer.grad_clip": None, "divergence.after_steps": 2,
                         "steps": 30, "optimizer.schedule": {"kind": "constant", "warmup": 0.0}})
    result = train(cfg, tmp_path, devices=one_device(), show_progress=False)
    assert result.status == "diverged"
    assert result.steps < 30
    assert "loss" in result.reason


@pytest.mark.parametrize(
    ("losses", "flagged_at"),
    [([3.0, 2.5, float("nan")], 3), ([3.0, 2.0, float("inf")], 3), ([3.0, 2.0, 1.9, 6.0], 4), ([3.0, 2.9, 2.8], None)],
)
def test_divergence_guard(losses, flagged_at):
    guard = DivergenceGuard(spike_ratio=3.0, after_steps=2)
    flagged = next((i + 1 for i, loss in enumerate(losses) if guard.check(i + 1, loss)), None)
    assert flagged == flagged_at


def test_mup_run_trains(tmp_path):
    cfg = tiny_config(**{"model.parameterization": "mup", "steps": 4})
    result = train(cfg, tmp_path, devices=one_device(), show_progress=False)
    assert result.status == "done" and result.train_loss < math.log(257)


def test_200_steps_on_kjv_end_well_below_unigram_entropy(tmp_path):
    """The acceptance run: a small model beats the corpus's unigram entropy by a wide margin in 200 steps."""
    from scaling.data import load_dataset, unigram_entropy

    cfg = tiny_config(steps=200, batch_size=32, **{"data.seq_len": 128, "eval.batches": 8, "eval.every_steps": 100,
                                                   "checkpoint.enabled": False})
    result = train(cfg, tmp_path, devices=one_device(), show_progress=False)
    dataset = load_dataset(cfg.data)
    entropy = unigram_entropy(dataset.val_tokens, dataset.vocab_size)
    print(f"val loss {result.val_loss:.4f} nats/token vs unigram entropy {entropy:.4f}")
    assert entropy == pytest.approx(3.03, abs=0.05)  # byte-level KJV
    assert result.val_loss < entropy - 0.6
