"""Learning-rate schedules (cosine, constant, linear, WSD) as optax schedules over optimizer steps.

Warmup and decay lengths come from fractions of the run or from token counts; token counts make a WSD stable
phase independent of the run's length, which is what lets one stable run branch into several cooldowns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import optax

from scaling.config import ScheduleConfig


@dataclass(frozen=True)
class SchedulePlan:
    """A schedule resolved to step counts: warmup ends at `warmup_steps`, the decay starts at `decay_start`."""

    kind: str
    peak_lr: float
    total_steps: int
    warmup_steps: int
    decay_start: int
    decay_shape: str
    min_lr: float


def plan_schedule(cfg: ScheduleConfig, peak_lr: float, total_steps: int, tokens_per_step: int) -> SchedulePlan:
    """Turn fractions or token counts into step boundaries for a run of `total_steps` optimizer steps."""
    if cfg.warmup_tokens is not None:
        warmup = math.ceil(cfg.warmup_tokens / tokens_per_step)
    else:
        warmup = round(cfg.warmup * total_steps)
    warmup = min(warmup, total_steps)
    decay_start = warmup
    if cfg.kind == "wsd":
        if cfg.decay_tokens is not None:
            decay_steps = math.ceil(cfg.decay_tokens / tokens_per_step)
        else:
            decay_steps = round(cfg.decay * total_steps)
        decay_start = max(warmup, total_steps - decay_steps)
    return SchedulePlan(
        kind=cfg.kind,
        peak_lr=peak_lr,
        total_steps=total_steps,
        warmup_steps=warmup,
        decay_start=decay_start,
        decay_shape=cfg.decay_shape if cfg.kind == "wsd" else cfg.kind,
        min_lr=peak_lr * cfg.min_lr_ratio,
    )


def _decay_factor(progress: jnp.ndarray, shape: str) -> jnp.ndarray:
    """Multiplier going from 1 at progress 0 to 0 at progress 1."""
    if shape == "linear":
        return 1.0 - progress
    if shape == "1-sqrt":
        return 1.0 - jnp.sqrt(progress)
    if shape == "cosine":
        return 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
    if shape == "constant":
        return jnp.ones_like(progress)
    raise ValueError(f"unknown decay shape {shape!r}")


def make_schedule(plan: SchedulePlan) -> optax.Schedule:
    """The learning rate at each optimizer step (0-based: the first update uses lr(0))."""

    def lr_at(step: jnp.ndarray) -> jnp.ndarray:
        step = jnp.asarray(step, jnp.float32)
        warm = jnp.minimum(1.0, (step + 1.0) / max(plan.warmup_steps, 1)) if plan.warmup_steps else 1.0
        span = max(plan.total_steps - plan.decay_start, 1)
        progress = jnp.clip((step - plan.decay_start) / span, 0.0, 1.0)
        decayed = plan.min_lr + (plan.peak_lr - plan.min_lr) * _decay_factor(progress, plan.decay_shape)
        return warm * jnp.where(step < plan.decay_start, plan.peak_lr, decayed)

    return lr_at
