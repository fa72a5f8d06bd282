"""One training curve as a curve law sees it: the learning rate of every update, and losses at some steps.

A curve law needs the whole learning-rate history, not one number per run: `lr[j]` (T,) is the learning rate of
update j + 1 (what the trainer logs as `lr` at step j + 1), and `loss[i]` (n,) the loss after `steps[i]` updates.
`group` names the run a curve came from (a WSD cooldown branch shares its parent's run): the bootstrap resamples
whole groups, so the correlated points of one run move together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scaling.errors import UserError


@dataclass(frozen=True, eq=False)  # arrays inside: curves compare by identity
class Curve:
    """A run's per-update learning rates (T,) and its observed losses (n,) at steps in 1..T."""

    lr: np.ndarray  # (T,)
    steps: np.ndarray  # (n,)
    loss: np.ndarray  # (n,)
    name: str = "curve"
    schedule: str = ""
    group: str = ""
    tokens: np.ndarray | None = field(default=None, repr=False)  # (n,)
    notes: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        lr_T = np.asarray(self.lr, dtype=np.float64)
        steps_n = np.asarray(self.steps, dtype=np.int64)
        loss_n = np.asarray(self.loss, dtype=np.float64)
        where = f"curve {self.name!r}"
        if lr_T.ndim != 1 or lr_T.size == 0 or not np.all(np.isfinite(lr_T)) or np.any(lr_T < 0):
            raise UserError(f"{where}: lr must be a non-empty 1-d array of finite, non-negative learning rates")
        if not np.any(lr_T > 0):
            raise UserError(f"{where}: every learning rate is 0; a curve law needs a schedule that trains")
        if steps_n.shape != loss_n.shape or steps_n.ndim != 1 or steps_n.size == 0:
            raise UserError(f"{where}: steps and loss must be 1-d arrays of one length (got {steps_n.shape} and "
                            f"{loss_n.shape})")
        if np.any(np.diff(steps_n) <= 0) or steps_n[0] < 1 or steps_n[-1] > lr_T.size:
            raise UserError(f"{where}: steps must increase within 1..{lr_T.size} (the length of its lr history)")
        if not np.all(np.isfinite(loss_n)) or np.any(loss_n <= 0):
            raise UserError(f"{where}: losses must be finite and positive")
        object.__setattr__(self, "lr", lr_T)
        object.__setattr__(self, "steps", steps_n)
        object.__setattr__(self, "loss", loss_n)
        object.__setattr__(self, "group", self.group or self.name)

    @property
    def total_steps(self) -> int:
        return int(self.lr.size)

    @property
    def warmup_end(self) -> int:
        """The step at which the learning rate first reaches its peak (0 without warmup): decay counts after it."""
        return int(np.argmax(self.lr))

    def select(self, keep_n: np.ndarray) -> Curve:
        """The same run with only the observed points where `keep_n` is true."""
        tokens = None if self.tokens is None else np.asarray(self.tokens)[keep_n]
        return Curve(self.lr, self.steps[keep_n], self.loss[keep_n], self.name, self.schedule, self.group,
                     tokens, dict(self.notes))
