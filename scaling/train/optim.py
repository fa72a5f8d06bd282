"""The optimizer: gradient clipping, AdamW with decoupled weight decay on matrices only, and per-parameter
learning-rate multipliers (muP), built from optax pieces."""

from __future__ import annotations

from typing import Any

import jax
import optax

from scaling.config import OptimizerConfig


def scale_by_tree(multipliers: Any) -> optax.GradientTransformation:
    """Multiply each update by a fixed per-parameter factor (muP's per-layer learning rates).

    optax has no per-leaf constant scale; multi_transform would need one label per distinct value, so this
    four-line transform is clearer.
    """

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u, k: u * k, updates, multipliers), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _decay_mask(params: Any) -> Any:
    """Weight decay on matrices only; norms' scales (1-D) are left alone."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(
    cfg: OptimizerConfig, schedule: optax.Schedule, lr_multipliers: Any | None = None
) -> optax.GradientTransformation:
    """clip -> AdamW(schedule) -> muP multipliers (when given)."""
    parts = []
    if cfg.grad_clip is not None:
        parts.append(optax.clip_by_global_norm(cfg.grad_clip))
    parts.append(
        optax.adamw(
            learning_rate=schedule,
            b1=cfg.beta1,
            b2=cfg.beta2,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            mask=_decay_mask,
        )
    )
    if lr_multipliers is not None:
        parts.append(scale_by_tree(lr_multipliers))
    return optax.chain(*parts)
