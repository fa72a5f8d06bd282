"""Small training configs shared by the training and sweep tests."""

from __future__ import annotations

from scaling.config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    base = {
        "name": "tiny",
        "model": {"size": "xs"},
        "data": {"corpus": ["kjv"], "tokenizer": {"kind": "byte"}, "seq_len": 32},
        "steps": 12,
        "batch_size": 8,
        "optimizer": {"lr": 3e-3, "schedule": {"kind": "cosine", "warmup": 0.1}},
        "eval": {"every_steps": 6, "batches": 2},
        "checkpoint": {"every_steps": 6, "async_save": False},
        "mesh": {"data": 1},
    }
    for key, value in overrides.items():
        node = base
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return TrainConfig.model_validate(base)
