"""The training loop: data (seed, step) -> sharded step -> metrics, evaluation, checkpoints, divergence checks.

A run resumes from its newest valid checkpoint and then sees exactly the batches it would have seen, so the
losses after a crash are bit-identical to an uninterrupted run's.

The host never waits on the device inside a step: step t's metrics are read only after step t+1 has been
dispatched (nanodo's `pending` pattern), so the device always has the next step queued while the host logs.
Steps that need their own state on the host (evaluation, checkpoints, WSD branch saves) read their metrics at
once instead, so nothing is evaluated or saved before its loss has passed the divergence check. Train metrics
go to the sinks every `log_every` steps and at the last step; the sinks are flushed before every checkpoint
and whenever the loop ends, however it ends.
"""

from __future__ import annotations

import json
import logging
import math
import os
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

log = logging.getLogger(__name__)


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


PEAK_FLOPS_ENV = "SCALING_PEAK_FLOPS"


def peak_flops(dtype: Any) -> float | None:
    """The device's peak FLOP/s for MFU (table for accelerators, a matmul probe on CPU); None when unknown.

    `$SCALING_PEAK_FLOPS` gives it instead (e.g. a CPU's measured figure, skipping the 1 s probe per process).
    """
    if os.environ.get(PEAK_FLOPS_ENV):
        return float(os.environ[PEAK_FLOPS_ENV])
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


class StepClock:
    """Host-side timing of the pipelined loop: when each step's metrics reached the host, less the time spent
    on evaluation and checkpoints. The run's first step holds its compilation, so it is timed apart
    (`compile_s`) and left out of every rate unless it is the only step there is."""

    def __init__(self, tokens_per_step: int) -> None:
        self.tokens_per_step = tokens_per_step
        self.began: float | None = None  # when the run's first step was dispatched
        self.first: tuple[int, float, float] | None = None  # (step, arrival, excluded so far) of the first step
        self.last: tuple[int, float] | None = None  # (step, arrival) of the newest step
        self.mark: tuple[int, float, float] | None = None  # where the previous logged row's window ended
        self.excluded = 0.0

    def dispatched(self) -> None:
        if self.began is None:
            self.began = time.perf_counter()

    def arrived(self, step: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = (step, now, self.excluded)
        self.last = (step, now)

    def exclude(self, seconds: float) -> None:
        """Time that is not training (evaluation, checkpoint saves) and must not lower the rates."""
        self.excluded += seconds

    @property
    def compile_s(self) -> float:
        return self.first[1] - self.began if self.first is not None and self.began is not None else 0.0

    def _rate_since(self, step: int, at: float, excluded: float) -> float | None:
        last_step, last_at = self.last
        elapsed = last_at - at - (self.excluded - excluded)
        return (last_step - step) * self.tokens_per_step / elapsed if last_step > step and elapsed > 0 else None

    def window_rate(self) -> float:
        """Tokens/s over the steps since the previous call (a logged row's own window); NaN if unknown."""
        rate = self._rate_since(*(self.mark or self.first))
        if rate is None and self.last[0] == self.first[0] and self.compile_s > 0:
            rate = self.tokens_per_step / self.compile_s  # the first step alone: today's only measurement
        self.mark = (*self.last, self.excluded)
        return float("nan") if rate is None else rate

    def overall_rate(self) -> float | None:
        """Tokens/s over the whole run after its first step; None with fewer than two steps."""
        return self._rate_since(*self.first) if self.first is not None else None


@dataclass
class PendingStep:
    """A dispatched step whose metrics still live on the device; `step` counts optimizer steps done after it."""

    step: int
    metrics: dict[str, jax.Array]


class StepReader:
    """Reads a finished step's metrics, checks them for divergence and sends train metrics to the sinks.

    A step is logged when it is a multiple of `log_every`, the schedule's last step, or the step that
    diverged (the run ends there). An interrupted run does not log its off-cadence last step: resumed, it then
    holds exactly the rows of an uninterrupted run.
    """

    def __init__(self, cfg: TrainConfig, sinks: Sequence[MetricSink], guard: DivergenceGuard, clock: StepClock,
                 schedule: optax.Schedule, per_token: accounting.FlopCounts, peak: float | None) -> None:
        self.cfg, self.sinks, self.guard, self.clock = cfg, sinks, guard, clock
        self.schedule, self.per_token, self.peak = schedule, per_token, peak
        self.started = time.perf_counter()
        self.train_loss: float | None = None

    def due(self, step: int) -> bool:
        return step % self.cfg.log_every == 0 or step == self.cfg.total_steps

    def read(self, pending: PendingStep) -> str | None:
        """Bring `pending`'s metrics to the host (waits for that step only); returns a divergence or None."""
        metrics = jax.device_get(pending.metrics)
        self.clock.arrived(pending.step)
        self.train_loss = loss = float(metrics["loss"])
        problem = self.guard.check(pending.step, loss)
        if problem is not None or self.due(pending.step):
            self._log(pending.step, loss, float(metrics["grad_norm"]))
        return problem

    def _log(self, step: int, loss: float, grad_norm: float) -> None:
        tokens = step * self.cfg.tokens_per_step
        tps = self.clock.window_rate()
        values = {
            "train_loss": loss,
            "lr": float(self.schedule(step - 1)),  # the optimizer's count before this update
            "grad_norm": grad_norm,
            "flops_6n": tokens * self.per_token.six_n,
            "wall_s": time.perf_counter() - self.started,
            "tokens_per_s": tps,
            "mfu": tps * self.per_token.train_exact / self.peak if self.peak else float("nan"),
        }
        for sink in self.sinks:
            sink.log(step, tokens, tokens * self.per_token.train_exact, values)


def pipelined(start_step: int, total_steps: int, stop: threading.Event | None,
              dispatch: Callable[[int], PendingStep], ends: Callable[[PendingStep], bool],
              needs_own_state: Callable[[int], bool], act_on: Callable[[int], None]) -> tuple[int, int | None]:
    """Dispatch step t+1, then read step t (`ends(pending)`: True when the run must end at that step); a step
    the host acts on (`needs_own_state`) is read at once and `act_on` runs before the next dispatch.

    Returns (the last step dispatched, the step whose read ended the run, or None when none did).
    """
    step, pending = start_step, None
    while step < total_steps:
        if stop is not None and stop.is_set():
            break
        current = dispatch(step)
        step = current.step
        if pending is not None and ends(pending):  # step - 1, read while step runs
            return step, pending.step
        pending = current
        if needs_own_state(step):
            pending = None
            if ends(current):
                return step, step
            act_on(step)
    if pending is not None and ends(pending):  # the last one, read after the loop
        return step, step
    return step, None


def flush_sinks(sinks: Sequence[MetricSink]) -> None:
    """Make every row logged so far durable (before a checkpoint, and when the loop ends)."""
    for sink in sinks:
        sink.flush()


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
    run takes its parameters from its own newest checkpoint, never from `hooks.init_params`. `on_step(step)`
    is called once that step's metrics have reached the host (with the next step already running), and so
    is the progress display.
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
    start_step, resumed_from, meta = 0, None, {}
    abstract = {"params": abstract_like(params), "opt_state": abstract_like(opt_state)}
    restored = checkpointer.restore_latest(abstract) if cfg.checkpoint.enabled else None
    if restored is None and branch.init_from is not None:
        source = Checkpointer(branch.init_from, keep=1, async_save=False)
        restored = source.restore_latest(abstract)
        source.close()
        if restored is None:
            raise RuntimeError(f"branch start {branch.init_from} holds no restorable checkpoint")
    if restored is not None:
        start_step, state, meta = restored
        params, opt_state, resumed_from = state["params"], state["opt_state"], start_step
    for sink in sinks:
        sink.truncate_after(start_step)

    loader = BatchLoader(dataset.train_tokens, cfg.data.seq_len, cfg.batch_size, cfg.seed)
    micro = cfg.batch_size // cfg.grad_accum
    # the same validation sequences whatever grad_accum is; evaluated in micro-batches to bound memory
    val_NxBxL1 = dataset.val_batches(cfg.eval.batches, cfg.batch_size, cfg.data.seq_len)
    val_NxBxL1 = jax.device_put(val_NxBxL1.reshape(-1, micro, val_NxBxL1.shape[-1]), steps.val_sharding)
    guard = DivergenceGuard(cfg.divergence.spike_ratio, cfg.divergence.after_steps)
    clock = StepClock(cfg.tokens_per_step)
    reader = StepReader(cfg, sinks, guard, clock, schedule, per_token, peak)
    reader.train_loss = meta.get("train_loss")  # a run restored at its last step runs no step to read it from
    val_loss = None
    started = time.perf_counter()
    progress = Progress(total_steps, start_step, label=cfg.name, enabled=show_progress)

    def position(step: int) -> dict[str, Any]:
        """A checkpoint's metadata: where the run is, and the train loss of the step it was saved at."""
        return {"tokens": step * cfg.tokens_per_step, "seed": cfg.seed, "train_loss": reader.train_loss}

    def save(step: int, force: bool = False, kind: str = "regular") -> None:
        """Checkpoint `step` (a step already saved counts as done: its state is the same)."""
        if cfg.checkpoint.enabled:
            flush_sinks(sinks)  # rows up to `step` are durable before a checkpoint says the run got there
            checkpointer.save(step, params, opt_state, position(step), force=force, kind=kind)

    def evaluate(step: int) -> float:
        loss = float(steps.eval_step(params, val_NxBxL1))
        for sink in sinks:
            sink.log(step, step * cfg.tokens_per_step, step * cfg.tokens_per_step * per_token.train_exact,
                     {"val_loss": loss})
        return loss

    def dispatch(step: int) -> PendingStep:
        """Queue step `step + 1` on the device and return at once; its metrics stay on the device."""
        nonlocal params, opt_state
        # each process loads only its own rows; on one host that is the whole batch
        local_BxL1 = loader.batch(step, shard=jax.process_index(), num_shards=jax.process_count())
        batch_BxL1 = jax.make_array_from_process_local_data(steps.batch_sharding, local_BxL1)
        clock.dispatched()
        params, opt_state, metrics = steps.train_step(params, opt_state, batch_BxL1)
        return PendingStep(step + 1, metrics)

    def finish(pending: PendingStep) -> str | None:
        """Read a step's metrics, log them if due, report progress; returns a divergence or None."""
        problem = reader.read(pending)
        progress.update(pending.step, reader.train_loss, val_loss)
        if on_step is not None:
            on_step(pending.step)
        return problem

    def save_branch(step: int) -> None:
        """The checkpoint a WSD branch starts from. A run killed after saving it and resumed from an earlier
        checkpoint reaches `step` again with bit-identical state, so the one already there counts as done
        (`Checkpointer.save` skips an existing step)."""
        branch_ckpt = Checkpointer(branch.save_at[step], keep=1, async_save=False)
        try:
            branch_ckpt.save(step, params, opt_state, position(step), force=True, kind="branch")
        finally:
            branch_ckpt.close()

    def evaluates_at(step: int) -> bool:
        return step % cfg.eval.every_steps == 0 and step < total_steps

    def checkpoints_at(step: int) -> bool:
        return cfg.checkpoint.enabled and step % cfg.checkpoint.every_steps == 0 and step < total_steps

    def needs_own_state(step: int) -> bool:
        """Whether the host acts on `step`'s parameters, which the next step replaces (it donates its inputs)."""
        return step in branch.save_at or evaluates_at(step) or checkpoints_at(step)

    def act_on(step: int) -> None:
        """Branch save, evaluation and checkpoint at `step`, once its loss has passed the divergence check."""
        nonlocal val_loss
        t0 = time.perf_counter()
        if step in branch.save_at:
            save_branch(step)
        if evaluates_at(step):
            val_loss = evaluate(step)
        if checkpoints_at(step):
            save(step)
        clock.exclude(time.perf_counter() - t0)

    def run_steps() -> tuple[str, str | None, int]:
        """(status, reason, the last step whose update counts)."""
        problems: list[str] = []

        def diverges(pending: PendingStep) -> bool:
            if (problem := finish(pending)) is not None:
                problems.append(problem)
            return problem is not None

        step, ended_at = pipelined(start_step, total_steps, stop, dispatch, diverges, needs_own_state, act_on)
        if ended_at is not None:
            return "diverged", problems[0], ended_at  # the state past it is dropped, never saved
        if step < total_steps:
            return "interrupted", "stopped by request", step
        return "done", None, step

    try:
        status, reason, step = run_steps()
        if status == "done":
            val_loss = evaluate(step)
        if status != "diverged":  # a stopped run checkpoints where it stopped (no off-cadence evaluation row)
            save(step, force=True, kind="final")  # a run restored at its last step has it already: a no-op
    except BaseException:
        # a fault or an abort (second Ctrl-C), maybe mid-save: let orbax's writer threads end before the caller
        # goes on (or the interpreter shuts down under them); the error propagating is the one that matters
        try:
            checkpointer.close()
        except Exception as exc:  # secondary to the error propagating
            log.warning("closing the checkpointer after an error failed too: %s", exc)
        raise
    finally:
        progress.close()
        flush_sinks(sinks)
    checkpointer.close()

    tokens = step * cfg.tokens_per_step
    tokens_per_s = clock.overall_rate()
    result = TrainResult(
        status=status,
        reason=reason,
        steps=step,
        tokens=tokens,
        train_loss=reader.train_loss,
        val_loss=val_loss,
        params=asdict(counts),
        flops_per_token=asdict(per_token),
        flops={"six_n": tokens * per_token.six_n, "exact": tokens * per_token.train_exact},
        wall_s=time.perf_counter() - started,
        compile_s=clock.compile_s,
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
