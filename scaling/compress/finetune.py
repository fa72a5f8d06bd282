"""Short training runs that compression needs, all through the real trainer (`scaling.train.loop.train`):
masked recovery after pruning, quantization-aware fine-tuning, and distillation with its plain twin.

Each run writes its own checkpoints under its job directory, so a killed job resumes where it stopped
(the trainer restores its newest checkpoint and ignores `init_params` then), and logs through the sinks
it is given (the store's, in the stage).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optax

from scaling.compress.distill import distillation_loss
from scaling.compress.model_io import Loaded, abstract_train_state
from scaling.config import ModelConfig, TrainConfig
from scaling.train.checkpoint import Checkpointer
from scaling.train.loop import TeacherSpec, TrainHooks, TrainResult, train
from scaling.train.metrics import MetricSink

RECOVERY_WARMUP = 0.05


def short_run_config(base: TrainConfig, name: str, tokens: int, lr: float, eval_batches: int,
                     model: ModelConfig | None = None) -> TrainConfig:
    """`base` retargeted: `tokens` long at peak `lr` (cosine, 5% warmup), evaluated on `eval_batches` fixed
    validation batches (the same batches the stage scores every compressed model on)."""
    steps = max(1, -(-tokens // base.tokens_per_step))
    optimizer = base.optimizer.model_copy(update={
        "lr": lr, "schedule": base.optimizer.schedule.model_copy(update={
            "kind": "cosine", "warmup": RECOVERY_WARMUP, "warmup_tokens": None, "decay": None,
            "decay_tokens": None}),
    })
    return base.model_copy(update={
        "name": name, "tokens": None, "steps": steps, "optimizer": optimizer,
        "model": model if model is not None else base.model,
        "eval": base.eval.model_copy(update={"batches": eval_batches, "every_steps": max(1, min(
            base.eval.every_steps, steps // 4 or 1))}),
        "checkpoint": base.checkpoint.model_copy(update={"keep": 1}),
    })


def restore_params(cfg: TrainConfig, loaded: Loaded, directory: Path) -> Any:
    """The final parameters a run of `cfg` (same model as `loaded`) saved under `directory/checkpoints`."""
    checkpointer = Checkpointer(directory / "checkpoints", keep=1, async_save=False)
    try:  # the final step only: never an earlier, half-tuned one (CheckpointError says why not)
        state, _meta = checkpointer.restore_step(
            cfg.total_steps, abstract_train_state(cfg, loaded.model, loaded.params, loaded.mesh))
    finally:
        checkpointer.close()
    return state["params"]


def finetune(
    loaded: Loaded,
    params: Any,
    directory: Path,
    *,
    tokens: int,
    lr_scale: float,
    eval_batches: int,
    wrap_optimizer: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None,
    param_transform: Callable[[Any], Any] | None = None,
    sinks: Sequence[MetricSink] = (),
    stop: threading.Event | None = None,
) -> tuple[TrainResult, Any]:
    """Continue training `params` of `loaded` for `tokens` at `lr_scale` x its peak lr; returns the run's
    result and its final parameters (masks and QAT are the caller's `wrap_optimizer` / `param_transform`)."""
    cfg = short_run_config(loaded.cfg, f"{loaded.cfg.name}-finetune", tokens, loaded.cfg.optimizer.lr * lr_scale,
                           eval_batches)
    hooks = TrainHooks(init_params=params, wrap_optimizer=wrap_optimizer, param_transform=param_transform)
    result = train(cfg, directory, sinks=sinks, stop=stop, hooks=hooks, show_progress=False)
    return result, (restore_params(cfg, loaded, directory) if result.status == "done" else None)


def train_student(
    loaded: Loaded,
    student: ModelConfig,
    directory: Path,
    *,
    tokens: int,
    lr: float,
    eval_batches: int,
    temperature: float | None,
    alpha: float = 0.5,
    sinks: Sequence[MetricSink] = (),
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train `student` from scratch on `loaded`'s data, seed and batches: on the teacher's logits (KL at
    `temperature` mixed with CE at 1 - `alpha`) or, with `temperature=None`, on plain cross-entropy (its twin).

    Both twins see the same tokens in the same order (batches are a function of seed and step) from the same
    initialisation, so their validation losses differ only by the objective.
    """
    cfg = short_run_config(loaded.cfg, f"{loaded.cfg.name}-student-{student.label()}", tokens, lr, eval_batches,
                           model=student)
    hooks = None
    if temperature is not None:
        def loss(student_BxLxV, targets_BxL, teacher_BxLxV):
            return distillation_loss(student_BxLxV, teacher_BxLxV, targets_BxL, temperature, alpha)

        hooks = TrainHooks(teacher=TeacherSpec(loaded.model_cfg, loaded.params, loss))
    return train(cfg, directory, sinks=sinks, stop=stop, hooks=hooks, show_progress=False)
