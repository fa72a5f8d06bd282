"""Learning-rate histories in numpy, to ask a fitted curve law about schedules that were never trained.

The shapes are the trainer's (`scaling.train.schedule`: linear warmup to the peak, then constant, cosine, linear
or warmup-stable-decay); they are restated here because `scaling.fit` never imports JAX, and a test checks them
against the trainer's own schedule step by step. Index j holds the learning rate of update j + 1.
"""

from __future__ import annotations

import numpy as np

from scaling.errors import UserError

KINDS = ("constant", "cosine", "linear", "wsd")
DECAY_SHAPES = ("linear", "1-sqrt", "cosine")


def _decay(progress_T: np.ndarray, shape: str) -> np.ndarray:
    """A multiplier going from 1 at progress 0 to 0 at progress 1."""
    if shape == "linear":
        return 1.0 - progress_T
    if shape == "1-sqrt":
        return 1.0 - np.sqrt(progress_T)
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * progress_T))
    raise UserError(f"decay_shape {shape!r}: use one of {', '.join(DECAY_SHAPES)}")


def lr_schedule(kind: str, peak_lr: float, total_steps: int, *, warmup_steps: int = 0, decay_steps: int = 0,
                decay_shape: str = "linear", min_lr_ratio: float = 0.0) -> np.ndarray:
    """The learning rate of each of `total_steps` updates (T,), as the trainer computes it for the same plan.

    `decay_steps` is the WSD cooldown length (ignored by the other kinds, which decay from the end of warmup).
    """
    if kind not in KINDS:
        raise UserError(f"schedule kind {kind!r}: use one of {', '.join(KINDS)}")
    if total_steps < 1 or peak_lr <= 0 or not 0 <= warmup_steps <= total_steps:
        raise UserError(f"a schedule needs total_steps >= 1, peak_lr > 0 and 0 <= warmup_steps <= total_steps "
                        f"(got {total_steps}, {peak_lr}, {warmup_steps})")
    step_T = np.arange(total_steps, dtype=np.float64)
    decay_start = warmup_steps
    shape = {"constant": "constant", "cosine": "cosine", "linear": "linear"}.get(kind, decay_shape)
    if kind == "wsd":
        decay_start = max(warmup_steps, total_steps - int(decay_steps))
    span = max(total_steps - decay_start, 1)
    progress_T = np.clip((step_T - decay_start) / span, 0.0, 1.0)
    min_lr = peak_lr * min_lr_ratio
    factor_T = np.ones_like(progress_T) if shape == "constant" else _decay(progress_T, shape)
    decayed_T = min_lr + (peak_lr - min_lr) * factor_T
    warm_T = np.minimum(1.0, (step_T + 1.0) / max(warmup_steps, 1)) if warmup_steps else np.ones_like(step_T)
    return warm_T * np.where(step_T < decay_start, peak_lr, decayed_T)
