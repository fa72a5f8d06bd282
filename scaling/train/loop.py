"""The training loop: data (seed, step) -> sharded step -> metrics, evaluation, checkpoints, divergence checks.

A run resumes from its newest valid checkpoint and then sees exactly the batches it would have seen, so the
losses after a crash are bit-identical to an uninterrupted run's.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaling import accounting
from scaling.config import ModelConfig, TrainConfig
from scaling.data import BatchLoader, load_dataset
from scaling.models.mup import param_lr_scales
from scaling.train.checkpoint import Checkpointer, abstract_like
from scaling.train.mesh import make_mesh, maybe_initialize_distributed
from scaling.train.metrics import MetricSink
from scaling.train.optim import make_optimizer
from scaling.train.progress import Progress
from scaling.train.schedule import make_schedule, plan_schedule
from scaling.train.step import LossFn, Teacher, build_steps, init_model


@dataclass
class TrainResult:
    """How a run ended and what it reached; `status` is done, diverged or interrupted."""

    status: str
    reason: str | None
    steps: int
    tokens: int
    train_loss: float | None
    val_loss: float | None
    params: dict[str, int]
    flops_per_token: dict[str, float]
    flops: dict[str, float]
    wall_s: float
    compile_s: float
    tokens_per_s: float | None
    mfu: float | None
    resumed_from: int | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BranchSpec:
    """WSD branching: where to save extra checkpoints (step -> directory) or where to start from."""

    save_at: dict[int, Path] = field(default_factory=dict)
    init_from: Path | None = None


@dataclass
class TeacherSpec:
    """Distillation: a frozen teacher (its config, vocabulary set, and trained parameters) and the loss that
    mixes its logits with the targets. The trainer places the parameters on its own mesh."""

    model: ModelConfig
    params: Any
    loss: LossFn


@dataclass
class TrainHooks:
    """What a compression run changes about plain training; the defaults are an ordinary run.

    init_params: start from these parameters (e.g. a pruned model) instead of the seed's initialisation.
    wrap_optimizer: wrap the optimizer (e.g. `masked_update(tx, masks)` to keep pruned weights at zero).
    param_transform: map parameters before each forward pass (QAT's straight-through fake quantization).
    teacher: distillation, see `TeacherSpec`.
    """

    init_params: Any = None
    wrap_optimizer: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None
    param_transform: Callable[[Any], Any] | None = None
    teacher: TeacherSpec | None = None


def compute_dtype_for(setting: str) -> Any:
    """float32 on CPU (bf16 is slower there), bfloat16 on accelerators, unless the config says otherwise."""
    if setting == "auto":
        return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    return jnp.dtype(setting)


def peak_flops(dtype: Any) -> float | None:
    """The device's peak FLOP/s for MFU (table for accelerators, a matmul probe on CPU); None when unknown."""
    try:
        return accounting.peak_flops_for(jax.devices()[0], dtype=jnp.dtype(dtype).name)[0]
    except ValueError:
        return None


class DivergenceGuard:
    """Flags NaN/Inf, or a loss above `spike_ratio` x the best loss so far once past `after_steps`."""

    def __init__(self, spike_ratio: float, after_steps: int) -> None:
        self.spike_ratio, self.after_steps, self.best = spike_ratio, after_steps, math.inf

    def check(self, step: int, loss: float) -> str | None:
        if not math.isfinite(loss):
            return f"loss became {loss} at step {step}"
        if step >= self.after_steps and loss > self.spike_ratio * self.best:
            return f"loss spiked to {loss:.4g} at step {step}, over {self.spike_ratio}x the best {self.best:.4g}"
        self.best = min(self.best, loss)
        return None


def train(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    sinks: Sequence[MetricSink] = (),
    devices: Sequence[jax.Device] | None = None,
    stop: threading.Event | None = None,
    branch: BranchSpec | None = None,
    show_progress: bool | None = None,
    on_step: Callable[[int], None] | None = None,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Train one model as `cfg` says, writing checkpoints under `run_dir` and metrics to `sinks`.

    `hooks` adapt the run for compression (start parameters, optimizer wrapper, QAT, a teacher); a resumed
    run takes its parameters from its own newest checkpoint, never from `hooks.init_params`.
    """
    maybe_initialize_distributed()
    run_dir = Path(run_dir)
    branch = branch or BranchSpec()
    hooks = hooks or TrainHooks()
    dataset = load_dataset(cfg.data)
    model_cfg = cfg.model.with_vocab(dataset.vocab_size)
    mesh = make_mesh(cfg.mesh, devices)
    total_steps = cfg.total_steps
    plan = plan_schedule(cfg.optimizer.schedule, cfg.optimizer.lr, total_steps, cfg.tokens_per_step)
    schedule = make_schedule(plan)

    model, params = init_model(
        model_cfg, mesh, cfg.seed, param_dtype=jnp.dtype(cfg.dtype.param), compute_dtype=compute_dtype_for(
            cfg.dtype.compute)
    )
    multipliers = param_lr_scales(model_cfg, params) if model_cfg.parameterization == "mup" else None
    tx = make_optimizer(cfg.optimizer, schedule, multipliers)
    if hooks.wrap_optimizer is not None:
        tx = hooks.wrap_optimizer(tx)
    if hooks.init_params is not None:  # copied: the step donates its inputs, and these are the caller's arrays
        params = jax.tree.map(jnp.copy, jax.device_put(hooks.init_params, model.param_shardings))
    teacher = None
    if hooks.teacher is not None:
        teacher_model, _ = init_model(hooks.teacher.model, mesh, 0, param_dtype=jnp.dtype(cfg.dtype.param),
                                      compute_dtype=compute_dtype_for(cfg.dtype.compute))
        teacher = Teacher(teacher_model, jax.device_put(hooks.teacher.params, teacher_model.param_shardings))
    steps = build_steps(model, tx, mesh, params, cfg.batch_size, cfg.grad_accum,
                        loss=hooks.teacher.loss if hooks.teacher is not None else None, teacher=teacher,
                        param_transform=hooks.param_transform)
    opt_state = steps.init_opt(params)

    counts = accounting.param_counts(model_cfg)
    per_token = accounting.flops_per_token(model_cfg, cfg.data.seq_len)
    peak = peak_flops(compute_dtype_for(cfg.dtype.compute))

    checkpointer = Checkpointer(run_dir / "checkpoints", keep=cfg.checkpoint.keep, async_save=cfg.checkpoint.async_save)
    start_step, resumed_from = 0, None
    abstract = {"params": abstract_like(params), "opt_state": abstract_like(opt_state)}
    restored = checkpointer.restore_latest(abstract) if cfg.checkpoint.enabled else None
    if restored is None and branch.init_from is not None:
        source = Checkpointer(branch.init_from, keep=1, async_save=False)
        restored = source.restore_latest(abstract)
        source.close()
        if restored is None:
            raise RuntimeError(f"branch start {branch.init_from} holds no restorable checkpoint")
    if restored is not None:
        start_step, state, _meta = restored
        params, opt_state, resumed_from = state["params"], state["opt_state"], start_step
    for sink in sinks:
        sink.truncate_after(start_step)

    loader = BatchLoader(dataset.train_tokens, cfg.data.seq_len, cfg.batch_size, cfg.seed)
    micro = cfg.batch_size // cfg.grad_accum
    # the same validation sequences whatever grad_accum is; evaluated in micro-batches to bound memory
    val_NxBxL1 = dataset.val_batches(cfg.eval.batches, cfg.batch_size, cfg.data.seq_len)
    val_NxBxL1 = jax.device_put(val_NxBxL1.reshape(-1, micro, val_NxBxL1.shape[-1]), steps.val_sharding)
    guard = DivergenceGuard(cfg.divergence.spike_ratio, cfg.divergence.after_steps)
    status, reason = "done", None
    train_loss = val_loss = None
    compile_s, timed_s, timed_tokens = 0.0, 0.0, 0
    started = time.perf_counter()
    progress = Progress(total_steps, start_step, label=cfg.name, enabled=show_progress)

    def save(step: int, force: bool = False) -> None:
        if cfg.checkpoint.enabled:
            checkpointer.save(step, params, opt_state, {"tokens": step * cfg.tokens_per_step, "seed": cfg.seed},
                              force=force)

    def evaluate(step: int) -> float:
        loss = float(steps.eval_step(params, val_NxBxL1))
        for sink in sinks:
            sink.log(step, step * cfg.tokens_per_step, step * cfg.tokens_per_step * per_token.train_exact,
                     {"val_loss": loss})
        return loss

    step = start_step
    try:
        while step < total_steps:
            if stop is not None and stop.is_set():
                status, reason = "interrupted", "stopped by request"
                break
            t0 = time.perf_counter()
            # each process loads only its own rows; on one host that is the whole batch
            local_BxL1 = loader.batch(step, shard=jax.process_index(), num_shards=jax.process_count())
            batch_BxL1 = jax.make_array_from_process_local_data(steps.batch_sharding, local_BxL1)
            params, opt_state, metrics = steps.train_step(params, opt_state, batch_BxL1)
            loss = float(metrics["loss"])
            dt = time.perf_counter() - t0
            if step == start_step:
                compile_s = dt
            else:
                timed_s, timed_tokens = timed_s + dt, timed_tokens + cfg.tokens_per_step
            step += 1
            tokens = step * cfg.tokens_per_step
            tps = cfg.tokens_per_step / dt
            values = {
                "train_loss": loss,
                "lr": float(schedule(step - 1)),
                "grad_norm": float(metrics["grad_norm"]),
                "flops_6n": tokens * per_token.six_n,
                "wall_s": time.perf_counter() - started,
                "tokens_per_s": tps,
                "mfu": tps * per_token.train_exact / peak if peak else float("nan"),
            }
            for sink in sinks:
                sink.log(step, tokens, tokens * per_token.train_exact, values)
            train_loss = loss
            problem = guard.check(step, loss)
            if problem is not None:
                status, reason = "diverged", problem
                break
            if step in branch.save_at:
                branch_ckpt = Checkpointer(branch.save_at[step], keep=1, async_save=False)
                branch_ckpt.save(step, params, opt_state, {"tokens": tokens, "seed": cfg.seed}, force=True)
                branch_ckpt.close()
            if step % cfg.eval.every_steps == 0 and step < total_steps:
                val_loss = evaluate(step)
            if step % cfg.checkpoint.every_steps == 0 and step < total_steps:
                save(step)
            progress.update(step, loss, val_loss)
            if on_step is not None:
                on_step(step)
    finally:
        progress.close()
    if status != "diverged":
        val_loss = evaluate(step)
        if step != resumed_from:  # a run restored at its last step already has that checkpoint
            save(step, force=True)
    checkpointer.close()

    tokens = step * cfg.tokens_per_step
    tokens_per_s = timed_tokens / timed_s if timed_s > 0 else None
    result = TrainResult(
        status=status,
        reason=reason,
        steps=step,
        tokens=tokens,
        train_loss=train_loss,
        val_loss=val_loss,
        params=asdict(counts),
        flops_per_token=asdict(per_token),
        flops={"six_n": tokens * per_token.six_n, "exact": tokens * per_token.train_exact},
        wall_s=time.perf_counter() - started,
        compile_s=compile_s,
        tokens_per_s=tokens_per_s,
        mfu=(tokens_per_s * per_token.train_exact / peak) if (tokens_per_s and peak) else None,
        resumed_from=resumed_from,
        data={**dataset.describe(), "epochs": loader.epochs_for(tokens), "unique_tokens": loader.unique_tokens},
    )
    (run_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=_json_default))
    return result


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
