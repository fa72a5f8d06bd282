"""Packed training: several trials of one shape (differing in seed and peak learning rate) as one vmapped program.

Each member keeps everything a separate run has: its own batches (its seed's order), schedule, metric sinks,
divergence check, checkpoints (its slice of the packed state, in a separate run's format) and summary. The loop
is `scaling.train.loop.train`'s, with every member advanced by one packed step: step t's metrics are read after
step t+1 is dispatched, and steps that act on the state (evaluation, checkpoints, branch saves) read at once.

Resume: the pack restarts from the newest step every member can restore (its own checkpoint, or for a WSD
branch its branch checkpoint), so a kill between two members' saves still resumes every member exactly; a
member whose newer checkpoint is then reached again finds it already there (same state, nothing written).
A diverged member stops logging and saving; the others go on. On accelerators this fills the device with many
tiny models; on a CPU it is about as fast as one at a time (measured in benchmarks/accelerator.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scaling import accounting
from scaling.config import TrainConfig
from scaling.data import BatchLoader, load_dataset
from scaling.models.mup import param_lr_scales
from scaling.train.checkpoint import Checkpointer, abstract_like
from scaling.train.loop import (
    BranchSpec,
    DivergenceGuard,
    PendingStep,
    StepClock,
    StepReader,
    TrainResult,
    _json_default,
    compute_dtype_for,
    flush_sinks,
    peak_flops,
    pipelined,
)
from scaling.train.mesh import make_mesh
from scaling.train.metrics import MetricSink
from scaling.train.optim import make_optimizer
from scaling.train.packed_steps import PackedSteps, build_packed_steps
from scaling.train.progress import Progress
from scaling.train.schedule import make_schedule, plan_schedule
from scaling.train.step import init_model

# what may differ between the members of one pack; everything else must be equal (see `pack_key`)
MEMBER_FIELDS = ("name", "seed", "optimizer.lr")


def pack_key(cfg: TrainConfig | dict[str, Any]) -> str:
    """Trials with equal keys can train in one pack: the config without its name, seed and peak lr."""
    data = cfg.model_dump(mode="json") if isinstance(cfg, TrainConfig) else json.loads(json.dumps(cfg))
    for dotted in MEMBER_FIELDS:
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    return json.dumps(data, sort_keys=True)


@dataclass
class Member:
    """One packed trial: its config, directory, sinks and where it branches (WSD)."""

    cfg: TrainConfig
    run_dir: Path
    sinks: Sequence[MetricSink] = ()
    branch: BranchSpec = field(default_factory=BranchSpec)


@dataclass
class _MemberState:
    """What the loop tracks per member."""

    member: Member
    loader: BatchLoader
    reader: StepReader
    clock: StepClock
    checkpointer: Checkpointer
    status: str = "running"
    reason: str | None = None
    last_step: int = 0
    val_loss: float | None = None


def _check_packable(members: Sequence[Member]) -> None:
    keys = {pack_key(m.cfg) for m in members}
    if len(keys) != 1:
        raise ValueError("packed members must differ only in " + ", ".join(MEMBER_FIELDS))
    if jax.process_count() > 1:
        raise ValueError("packed training runs in one process; a multi-host run trains one trial at a time")


def _start_step(states: list[_MemberState], abstract: dict[str, Any]) -> tuple[int, list[dict[str, Any] | None],
                                                                                list[dict[str, Any]]]:
    """(step, each member's restored state or None, each member's meta) at the newest step all members have.

    A member's steps are its own checkpoints, plus its branch start for a WSD branch. A checkpoint that does not
    restore is moved aside (like a separate run does) and the common step is looked for again.
    """
    sources: list[Checkpointer | None] = [
        Checkpointer(s.member.branch.init_from, keep=1, async_save=False) if s.member.branch.init_from else None
        for s in states
    ]
    try:
        while True:
            available = []
            for s, source in zip(states, sources, strict=True):
                own = set(s.checkpointer.steps()) if s.member.cfg.checkpoint.enabled else set()
                available.append(own | (set(source.steps()) if source is not None else set()))
            common = set.intersection(*available)
            if not common:
                if any(source is not None for source in sources):
                    missing = [str(s.member.branch.init_from) for s, a in zip(states, available, strict=True)
                               if not a]
                    raise RuntimeError(f"branch start(s) {', '.join(missing) or '?'} hold no checkpoint every "
                                       "member of the pack can restore")
                return 0, [None] * len(states), [{} for _ in states]
            step = max(common)
            restored, metas, bad = [], [], False
            for s, source in zip(states, sources, strict=True):
                own = step in s.checkpointer.steps()
                where = s.checkpointer if own else source
                try:
                    state, meta = where.restore_step(step, abstract)
                except Exception:
                    if not own:
                        raise
                    s.checkpointer.move_aside(step)
                    bad = True
                    break
                restored.append(state)
                metas.append(meta)
            if not bad:
                return step, restored, metas
    finally:
        for source in sources:
            if source is not None:
                source.close()


def train_packed(
    members: Sequence[Member],
    *,
    devices: Sequence[jax.Device] | None = None,
    stop: threading.Event | None = None,
    show_progress: bool | None = None,
) -> list[TrainResult]:
    """Train `members` (same shape; seed and lr may differ) as one packed program; one TrainResult per member."""
    _check_packable(members)
    first = members[0].cfg
    dataset = load_dataset(first.data)
    model_cfg = first.model.with_vocab(dataset.vocab_size)
    mesh = make_mesh(first.mesh, devices)
    total_steps = first.total_steps
    unit = make_schedule(plan_schedule(first.optimizer.schedule, 1.0, total_steps, first.tokens_per_step))
    compute_dtype = compute_dtype_for(first.dtype.compute)
    models = [init_model(model_cfg, mesh, m.cfg.seed, param_dtype=jnp.dtype(first.dtype.param),
                         compute_dtype=compute_dtype) for m in members]
    model, member_params = models[0]
    multipliers = param_lr_scales(model_cfg, member_params) if model_cfg.parameterization == "mup" else None
    tx = make_optimizer(first.optimizer, unit, multipliers)
    steps: PackedSteps = build_packed_steps(model, tx, mesh, member_params, first.batch_size, first.grad_accum)
    params = steps.stack([{"params": p} for _, p in models])["params"]
    opt_state = steps.init_opt(params)
    del models, member_params
    lr_M = jax.device_put(np.array([m.cfg.optimizer.lr for m in members], np.float32), steps.member_sharding)

    per_token = accounting.flops_per_token(model_cfg, first.data.seq_len)
    counts = accounting.param_counts(model_cfg)
    peak = peak_flops(compute_dtype)
    states = []
    for m in members:
        schedule = make_schedule(plan_schedule(m.cfg.optimizer.schedule, m.cfg.optimizer.lr, total_steps,
                                               m.cfg.tokens_per_step))
        clock = StepClock(m.cfg.tokens_per_step)
        guard = DivergenceGuard(m.cfg.divergence.spike_ratio, m.cfg.divergence.after_steps)
        states.append(_MemberState(
            m, BatchLoader(dataset.train_tokens, m.cfg.data.seq_len, m.cfg.batch_size, m.cfg.seed),
            StepReader(m.cfg, m.sinks, guard, clock, schedule, per_token, peak), clock,
            Checkpointer(m.run_dir / "checkpoints", keep=m.cfg.checkpoint.keep, async_save=m.cfg.checkpoint.async_save),
        ))

    abstract = steps.take({"params": params, "opt_state": opt_state}, 0)
    abstract = {k: abstract_like(v) for k, v in abstract.items()}
    start_step, restored, metas = _start_step(states, abstract)
    if start_step:
        packed = steps.stack(restored)
        params, opt_state = packed["params"], packed["opt_state"]
    for s, meta in zip(states, metas, strict=True):
        s.reader.train_loss = meta.get("train_loss")
        s.last_step = start_step
        for sink in s.member.sinks:
            sink.truncate_after(start_step)
    resumed_from = start_step if start_step else None

    micro = first.batch_size // first.grad_accum
    val_NxBxL1 = dataset.val_batches(first.eval.batches, first.batch_size, first.data.seq_len)
    val_NxBxL1 = jax.device_put(val_NxBxL1.reshape(-1, micro, val_NxBxL1.shape[-1]), steps.val_sharding)
    started = time.perf_counter()
    label = f"pack of {len(members)}: " + ", ".join(m.cfg.name for m in members)
    progress = Progress(total_steps, start_step, label=label[:80], enabled=show_progress)

    def active() -> list[tuple[int, _MemberState]]:
        return [(i, s) for i, s in enumerate(states) if s.status == "running"]

    def position(s: _MemberState, step: int) -> dict[str, Any]:
        return {"tokens": step * s.member.cfg.tokens_per_step, "seed": s.member.cfg.seed,
                "train_loss": s.reader.train_loss}

    def member_state(i: int) -> dict[str, Any]:
        return steps.take({"params": params, "opt_state": opt_state}, i)

    def save(step: int, *, force: bool = False, kind: str = "regular") -> None:
        for i, s in active():
            if s.member.cfg.checkpoint.enabled:
                flush_sinks(s.member.sinks)
                state = member_state(i)
                s.checkpointer.save(step, state["params"], state["opt_state"], position(s, step), force=force,
                                    kind=kind)

    def save_branches(step: int) -> None:
        for i, s in active():
            if step in s.member.branch.save_at:
                state = member_state(i)
                ckpt = Checkpointer(s.member.branch.save_at[step], keep=1, async_save=False)
                try:
                    ckpt.save(step, state["params"], state["opt_state"], position(s, step), force=True,
                              kind="branch")
                finally:
                    ckpt.close()

    def evaluate(step: int) -> None:
        losses_M = np.asarray(jax.device_get(steps.eval_step(params, val_NxBxL1)))
        for i, s in active():
            s.val_loss = float(losses_M[i])
            tokens = step * s.member.cfg.tokens_per_step
            for sink in s.member.sinks:
                sink.log(step, tokens, tokens * per_token.train_exact, {"val_loss": s.val_loss})

    def dispatch(step: int) -> PendingStep:
        nonlocal params, opt_state
        batch_MxBxL1 = np.stack([s.loader.batch(step) for s in states])
        for s in states:
            s.clock.dispatched()
        params, opt_state, metrics = steps.train_step(params, opt_state,
                                                      jax.device_put(batch_MxBxL1, steps.batch_sharding), lr_M)
        return PendingStep(step + 1, metrics)

    def finish(pending: PendingStep) -> bool:
        """Read a packed step's metrics for every running member; True when none is left running."""
        metrics = jax.device_get(pending.metrics)
        for i, s in active():
            problem = s.reader.read(PendingStep(pending.step, {k: v[i] for k, v in metrics.items()}))
            s.last_step = pending.step
            if problem is not None:
                s.status, s.reason = "diverged", problem
        running = active()
        progress.update(pending.step, running[0][1].reader.train_loss if running else None, None)
        return not running

    def evaluates_at(step: int) -> bool:
        return step % first.eval.every_steps == 0 and step < total_steps

    def checkpoints_at(step: int) -> bool:
        return first.checkpoint.enabled and step % first.checkpoint.every_steps == 0 and step < total_steps

    def needs_own_state(step: int) -> bool:
        return any(step in s.member.branch.save_at for s in states) or evaluates_at(step) or checkpoints_at(step)

    def act_on(step: int) -> None:
        t0 = time.perf_counter()
        save_branches(step)
        if evaluates_at(step):
            evaluate(step)
        if checkpoints_at(step):
            save(step)
        for s in states:
            s.clock.exclude(time.perf_counter() - t0)

    try:
        step, _ = pipelined(start_step, total_steps, stop, dispatch, finish, needs_own_state, act_on)
        if step >= total_steps and active():
            evaluate(step)
        interrupted = step < total_steps
        save(step, force=True, kind="final")  # every member still running; diverged ones never save past it
        for _, s in active():
            s.status, s.reason = ("interrupted", "stopped by request") if interrupted else ("done", None)
    except BaseException:
        for s in states:
            try:
                s.checkpointer.close()
            except Exception:  # secondary to the error propagating
                pass
        raise
    finally:
        progress.close()
        for s in states:
            flush_sinks(s.member.sinks)
    results = []
    for s in states:
        s.checkpointer.close()
        cfg = s.member.cfg
        tokens = s.last_step * cfg.tokens_per_step
        rate = s.clock.overall_rate()
        result = TrainResult(
            status=s.status, reason=s.reason, steps=s.last_step, tokens=tokens, train_loss=s.reader.train_loss,
            val_loss=s.val_loss, params=asdict(counts),
            flops_per_token=asdict(per_token),
            flops={"six_n": tokens * per_token.six_n, "exact": tokens * per_token.train_exact},
            wall_s=time.perf_counter() - started, compile_s=s.clock.compile_s, tokens_per_s=rate,
            mfu=(rate * per_token.train_exact / peak) if (rate and peak) else None, resumed_from=resumed_from,
            data={**dataset.describe(), "epochs": s.loader.epochs_for(tokens), "unique_tokens": s.loader.unique_tokens,
                  "packed_with": [m.cfg.name for m in members if m is not s.member]},
        )
        (s.member.run_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=_json_default))
        results.append(result)
    return results
