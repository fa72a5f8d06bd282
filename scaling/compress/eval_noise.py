"""The evaluation's own noise, so a compression delta can be compared with it.

`Loaded.evaluate` averages the loss over its fixed validation micro-batches; `Loaded.batch_losses` evaluates the
same micro-batches one at a time, whose mean is that average. `eval_noise` turns them into standard errors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _sem(values: np.ndarray) -> float | None:
    return float(np.std(values, ddof=1) / math.sqrt(values.size)) if values.size > 1 else None


def eval_noise(losses_M: np.ndarray, dense_M: np.ndarray | None) -> dict[str, Any]:
    """SEM of a model's per-batch losses and, beside the dense model's on the same batches, the SE of the delta."""
    out: dict[str, Any] = {"eval_sem": _sem(losses_M), "eval_units": int(losses_M.size)}
    if dense_M is not None and dense_M.shape == losses_M.shape:
        out["delta_sem"] = _sem(losses_M - dense_M)
    return out
