"""The tiny sweep the compression-stage tests train and compress (shared by conftest and the tests)."""

from __future__ import annotations

from pathlib import Path

SWEEP = """
name: cstage
model: {family: transformer, sizes: [xs]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}
budget: {kind: tokens, tokens: [16384]}
optimizer:
  lr: 3e-3
  schedule: {kind: cosine, warmup: 0.1}
batch_size: 8
mesh: {data: 1}
eval: {every_steps: 32, batches: 2}
checkpoint: {every_steps: 64, async_save: false}
stages:
  fit: null
  plot: null
  compress:
    select: best_per_budget
    max_configs: 1
    methods: [{prune: [0.5, 0.75]}, {prune_nm: ["2:4"]}, {quantize: [8, 4]}, {distill: [STUDENT]}]
    recovery_tokens: 1024
    eval_batches: 4
    distill: {tokens: 2048, temperature: 2.0, alpha: 0.5}
"""
STUDENT = "{d_model: 32, n_layers: 1, n_heads: 2}"


def write_sweep(directory: Path, text: str = SWEEP) -> Path:
    path = directory / "sweep.yaml"
    path.write_text(text.replace("STUDENT", STUDENT))
    return path
