"""Expand a sweep file into trials: sweep axes x sizes x budgets, each a resolved TrainConfig with a stable id.

A trial's id is a hash of its resolved config (name and checkpoint cadence excluded: they don't change what is
trained), so re-running a sweep finds its finished trials and never trains or records one twice.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from scaling import accounting
from scaling.config import ModelConfig, TrainConfig, describe_validation_error, validate
from scaling.errors import UserError
from scaling.sweep.schema import SweepConfig
from scaling.train.schedule import plan_schedule
from scaling.yamlio import apply_overrides, load_file

BYTE_VOCAB = 257  # 256 bytes + the end-of-document token
MIN_STEPS = 4  # fewer optimizer steps than this is no training run: a batch size or budget typo
LONG_SWEEP_S = 86400.0  # validate warns when a sweep would run longer than a day at the estimated rate


@dataclass
class Trial:
    """One resolved training run of the sweep, and where it sits (axes, size, budget, WSD parent)."""

    id: str
    ord: int
    label: str
    config: TrainConfig
    axes: dict[str, Any]
    size: str
    budget: Budget
    params: accounting.ParamCounts
    flops_per_token: accounting.FlopCounts
    parent: str | None = None
    branch_step: int | None = None
    children: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.config.total_tokens

    @property
    def flops(self) -> float:
        return self.tokens * self.flops_per_token.train_exact

    def store_row(self) -> dict[str, Any]:
        return {
            "id": self.id, "ord": self.ord, "label": self.label, "config": self.config.model_dump(mode="json"),
            "axes": {**self.axes, "size": self.size, "budget": self.budget.label,
                     "budget_kind": self.budget.kind, "budget_value": self.budget.value},
            "parent": self.parent, "branch_step": self.branch_step,
        }


@dataclass
class SweepPlan:
    sweep: SweepConfig
    trials: list[Trial]
    axes: dict[str, list[Any]]
    raw: dict[str, Any] | None = None  # the sweep file as given (overrides applied, axes intact)
    flops_per_s: float = 4.0e10  # ESTIMATE_FLOPS_PER_S: what time estimates assume (`target_rate`: another machine)
    rate_note: str = "this CPU's sustained rate"

    def by_id(self) -> dict[str, Trial]:
        return {t.id: t for t in self.trials}

    def flops_saved_by_branching(self) -> float:
        """Training FLOPs not spent because branch trials reuse their parent's stable phase."""
        return sum(
            t.branch_step * t.config.tokens_per_step * t.flops_per_token.train_exact
            for t in self.trials if t.branch_step
        )


def extract_axes(data: Any, prefix: str = "", source: str = "sweep") -> dict[str, list[Any]]:
    """Paths of every `{values: [...]}` mapping in the raw sweep dict (W&B's sweep vocabulary)."""
    axes: dict[str, list[Any]] = {}
    if isinstance(data, dict):
        if set(data) == {"values"}:
            values = data["values"]
            if not isinstance(values, list) or not values:
                raise UserError(f"{source}: {prefix or '(top level)'}: `values` must be a non-empty list")
            return {prefix: values}
        for key, value in data.items():
            axes.update(extract_axes(value, f"{prefix}.{key}" if prefix else str(key), source))
    return axes


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def trial_id(cfg: TrainConfig) -> str:
    """A stable hash of what is trained (not of its name or checkpoint cadence)."""
    payload = cfg.model_dump(mode="json", exclude={"name", "checkpoint", "log_every"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def vocab_size_for(sweep: SweepConfig) -> int:
    """The vocabulary the tokenizer will have (byte-level: 257; BPE: its configured size)."""
    tok = sweep.data.tokenizer
    return BYTE_VOCAB if tok.kind == "byte" else tok.vocab_size


def _fmt_tokens(tokens: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if tokens >= scale:
            return f"{tokens / scale:.3g}{unit}"
    return f"{tokens:.0f}"


@dataclass(frozen=True)
class Budget:
    """One data budget of a size: its label, the tokens it buys, and the number it was declared as.

    `kind` is tokens, tokens_per_param or isoflop; `value` is that number (tokens, D/N or FLOPs), which the
    points table uses to group IsoFLOP profiles exactly (rounding to whole steps moves each trial's C a little).
    """

    label: str
    tokens: float
    kind: str
    value: float


def _budgets_for(sweep: SweepConfig, model: ModelConfig) -> list[Budget]:
    """The budgets this size trains on."""
    b = sweep.budget
    counts = accounting.param_counts(model)
    n = counts.non_embedding if b.param_count == "non_embedding" else counts.total
    if b.kind == "tokens" and b.tokens is not None:
        return [Budget(f"D{_fmt_tokens(t)}", t, "tokens", t) for t in b.tokens]
    if b.kind == "tokens":
        return [Budget(f"tpp{r:g}", r * n, "tokens_per_param", r) for r in b.tokens_per_param]
    out = []
    low, high = b.tokens_per_param_range
    for c in b.flops:
        tokens = accounting.tokens_for_compute(c, n)
        if low <= tokens / n <= high:
            out.append(Budget(f"C{c:.2g}", tokens, "isoflop", c))
    return out


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> tuple[SweepConfig, dict[str, Any]]:
    """Read and validate a sweep file; returns the schema object and the raw dict (axes still in it)."""
    raw = apply_overrides(load_file(path), overrides or [])
    axes = extract_axes(raw, source=str(path))
    first = copy.deepcopy(raw)
    for path_, values in axes.items():
        _set_path(first, path_, values[0])
    sweep = validate(SweepConfig, first, str(path))
    return sweep, raw


def plan_sweep(sweep: SweepConfig, raw: dict[str, Any], source: str = "sweep", n_devices: int | None = None
               ) -> SweepPlan:
    """All trials of the sweep, in a deterministic order, with WSD branch parents resolved; the mesh is checked
    against `n_devices` (default: the devices this process sees) and every corpus is resolved."""
    axes = extract_axes(raw, source=source)
    names = list(axes)
    trials: list[Trial] = []
    seen: set[str] = set()
    sweeps_seen: list[SweepConfig] = []
    vocab = vocab_size_for(sweep)
    for combo in itertools.product(*(axes[n] for n in names)):
        variant = copy.deepcopy(raw)
        for name, value in zip(names, combo, strict=True):
            _set_path(variant, name, value)
        try:
            swept = SweepConfig.model_validate(variant)
        except ValidationError as exc:
            raise UserError(describe_validation_error(exc, source)) from None
        axis_values = dict(zip(names, combo, strict=True))
        sweeps_seen.append(swept)
        for model in swept.model.size_configs():
            model = model.with_vocab(vocab)
            budgets = _budgets_for(swept, model)
            group = []
            for budget in budgets:
                train = _train_config(swept, model, budget.tokens, budget.label, axis_values)
                train = validate(TrainConfig, train, source)
                if train.steps is None and train.total_steps < MIN_STEPS:
                    raise UserError(
                        f"{source}: size {model.label()} budget {budget.label} buys {train.tokens} tokens, "
                        f"{train.total_steps} step(s) of batch_size {train.batch_size} x seq_len "
                        f"{train.data.seq_len} = {train.tokens_per_step} tokens; a trial needs at least {MIN_STEPS} "
                        "steps (lower batch_size or raise the budget)")
                tid = trial_id(train)
                if tid in seen:
                    continue
                seen.add(tid)
                trial = Trial(
                    id=tid, ord=len(trials), label=train.name, config=train, axes=axis_values,
                    size=model.label(), budget=budget, params=accounting.param_counts(model),
                    flops_per_token=accounting.flops_per_token(model, swept.data.seq_len),
                )
                trials.append(trial)
                group.append(trial)
            if swept.wsd_branching and swept.optimizer.schedule.kind == "wsd":
                _link_wsd_branches(group)
    if sweep.budget.kind == "isoflop":
        _check_isoflop_coverage(sweep, trials, source)
    check_mesh(sweep, source, n_devices)
    check_corpora(sweeps_seen, source)
    if not trials:
        raise UserError(f"{source}: the sweep expands to no trials; check model.sizes and budget")
    return SweepPlan(sweep=sweep, trials=_parents_first(trials), axes=axes, raw=raw)


def _train_config(
    sweep: SweepConfig, model: ModelConfig, tokens: float, budget_label: str, axes: dict[str, Any]
) -> dict[str, Any]:
    """The TrainConfig (as a dict) for one size and budget of one sweep-axis combination."""
    optimizer = sweep.optimizer.model_dump(mode="json")
    schedule = optimizer["schedule"]
    if schedule["kind"] == "wsd" and schedule["warmup_tokens"] is None:
        # branches share the stable phase only if warmup is the same length in every budget: fix it in tokens,
        # as a fraction of the smallest budget this size gets, and record that in every trial's config (whether
        # or not the sweep branches, so a trial means the same run either way)
        smallest = min(b.tokens for b in _budgets_for(sweep, model))
        schedule["warmup_tokens"] = int(schedule["warmup"] * smallest)
    axis_label = "".join(f"-{k.rsplit('.', 1)[-1]}{v}" for k, v in axes.items())
    return {
        **sweep.run_settings(),
        "name": f"{model.label()}-{budget_label}{axis_label}",
        "model": model.model_dump(mode="json"),
        "optimizer": optimizer,
        "tokens": max(1, int(round(tokens))),
        "seed": sweep.seed if "seed" not in axes else axes["seed"],
    }


def _link_wsd_branches(group: list[Trial]) -> None:
    """Within one size (and axis combination), the longest run is trained; shorter budgets branch off it."""
    if len(group) < 2:
        return
    main = max(group, key=lambda t: t.config.total_steps)
    for trial in group:
        if trial is main:
            continue
        sched = trial.config.optimizer.schedule
        plan = plan_schedule(sched, trial.config.optimizer.lr, trial.config.total_steps, trial.config.tokens_per_step)
        if plan.decay_start <= 0:
            continue
        trial.parent, trial.branch_step = main.id, plan.decay_start
        main.children.append(trial.id)


def _parents_first(trials: list[Trial]) -> list[Trial]:
    """Order so that each WSD main run precedes its branches; keep the plan's order otherwise."""
    ordered = sorted(trials, key=lambda t: (t.parent is not None, t.ord))
    for i, t in enumerate(ordered):
        t.ord = i
    return ordered


def check_mesh(sweep: SweepConfig, source: str, n_devices: int | None = None) -> None:
    """Catch an impossible mesh before anything trains: sizes vs devices, every parameter's sharded dimensions
    (d_model over fsdp; heads, d_ff over tensor) and the batch over data x fsdp."""
    from scaling.train.mesh import resolve_mesh_shape
    from scaling.train.shard_check import check_param_sharding

    if n_devices is None:
        import jax

        from scaling.train.mesh import maybe_initialize_distributed

        maybe_initialize_distributed()  # a multi-host job must join before anything counts devices
        n_devices = jax.device_count()
    try:
        data, fsdp, tensor = resolve_mesh_shape(sweep.mesh, n_devices)
    except UserError as exc:
        raise UserError(f"{source}: {exc} (validating for {n_devices} devices; `--devices N` checks another "
                        "count)") from None
    micro = sweep.batch_size // sweep.grad_accum
    if micro % (data * fsdp):
        raise UserError(
            f"{source}: batch_size {sweep.batch_size} / grad_accum {sweep.grad_accum} = {micro} sequences per "
            f"micro-batch, not divisible by mesh data x fsdp = {data * fsdp}"
        )
    if fsdp == 1 and tensor == 1:
        return
    vocab = vocab_size_for(sweep)
    for model in sweep.model.size_configs():
        for name, value, axis, ways in (("n_heads", model.n_heads, "tensor", tensor),
                                         ("d_ff", model.d_ff, "tensor", tensor),
                                         ("d_model", model.d_model, "fsdp", fsdp)):
            if value % ways:
                raise UserError(f"{source}: mesh.{axis} {ways} does not divide {name} {value} of size "
                                f"{model.label()}; choose a mesh.{axis} that divides it")
        try:  # the trainer's own placement rule over every parameter, for what the named fields miss
            check_param_sharding(model.with_vocab(vocab), {"data": data, "fsdp": fsdp, "tensor": tensor})
        except UserError as exc:
            raise UserError(f"{source}: {exc}") from None


def check_corpora(sweeps: list[SweepConfig], source: str) -> None:
    """Resolve every corpus the sweep names (names, paths, fields, columns) now, not at the first trial."""
    from scaling.data.corpora import check_corpus_spec

    specs = {(spec, s.data.cache_dir) for s in sweeps for spec in s.data.corpus}
    if not any(s.data.corpus for s in sweeps):
        raise UserError(f"{source}: data.corpus is empty; name at least one corpus, e.g. [kjv]")
    for spec, cache_dir in sorted(specs, key=str):
        try:
            check_corpus_spec(spec, cache_dir)
        except UserError as exc:
            raise UserError(f"{source}: {exc}") from None


def _check_isoflop_coverage(sweep: SweepConfig, trials: list[Trial], source: str) -> None:
    b = sweep.budget
    for c in b.flops:
        count = len({t.size for t in trials if t.budget.kind == "isoflop" and t.budget.value == c})
        if count < b.min_sizes_per_budget:
            raise UserError(
                f"{source}: budget.flops {c:g} gets {count} model sizes inside tokens_per_param_range "
                f"{list(b.tokens_per_param_range)}; an IsoFLOP curve needs at least {b.min_sizes_per_budget} "
                "(add sizes, widen the range, or drop this budget)"
            )


ESTIMATE_FLOPS_PER_S = 4.0e10


def estimate_seconds(trial: Trial, flops_per_s: float = ESTIMATE_FLOPS_PER_S) -> float:
    """Rough wall time: the trial's own training FLOPs (a branch skips its parent's stable phase) over a
    sustained rate; the default is ~25% of this 2-core CPU's measured 170 GFLOP/s f32 peak."""
    steps = trial.config.total_steps - (trial.branch_step or 0)
    return steps * trial.config.tokens_per_step * trial.flops_per_token.train_exact / flops_per_s


def format_duration(seconds: float) -> str:
    """A wall time a person reads at a glance: 42 s, 7.5 min, 3.2 h, 12 days, 150 years."""
    # (unit, seconds per unit, from how many units on it is used): days and years from two of them
    for unit, scale, least in (("years", 365.25 * 86400, 2), ("days", 86400, 2), ("h", 3600, 1), ("min", 60, 1)):
        if seconds >= least * scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.0f} s"


DEFAULT_MFU = 0.4  # the utilisation `--device-kind` estimates assume unless told (a well-tuned dense LM: 0.35-0.5)


def target_rate(device_kind: str, n_devices: int, dtype: str = "auto", mfu: float = DEFAULT_MFU
                ) -> tuple[float, str]:
    """(sustained FLOP/s, how it was got) of `n_devices` chips of `device_kind` (h100, a100, v5p, v6e, ...) at
    utilisation `mfu`, from the accounting peak table: plans a pod sweep's time on a laptop."""
    key = accounting.table_key(device_kind) or accounting.table_key(f"tpu {device_kind}")
    if key is None:
        valid = ", ".join(k.removeprefix("tpu ") for k in accounting.PEAK_FLOPS)
        raise UserError(f"--device-kind {device_kind!r}: no peak FLOP/s known; valid kinds: {valid}")
    if not 0 < mfu <= 1:
        raise UserError(f"--mfu {mfu}: give the model FLOPs utilisation as a fraction in (0, 1], e.g. 0.4")
    dtype = "bfloat16" if dtype == "auto" else dtype  # auto trains in bf16 on accelerators
    rates = accounting.PEAK_FLOPS[key]
    peak = rates.get(dtype, rates["bfloat16"])
    return (n_devices * peak * mfu,
            f"{n_devices} x {key} at {peak:.3g} {dtype if dtype in rates else 'bfloat16'} FLOP/s peak, MFU {mfu:g}")


CPU_MFU = 0.25  # what the tiny models' training sustains of the CPU matmul probe (benchmarks/RESULTS.md: 0.1-0.5)


def local_rate(plan: SweepPlan, mfu: float | None = None) -> tuple[float, str]:
    """(sustained FLOP/s, how it was got) on the devices here: the accounting peak table for an accelerator
    (times the devices the mesh uses) or this CPU's measured matmul probe ($SCALING_PEAK_FLOPS instead, if set;
    fake CPU devices share its cores), times a stated utilisation (`mfu`, default 0.4 on accelerators, 0.25 on
    a CPU)."""
    import jax

    from scaling.train.loop import compute_dtype_for, peak_flops
    from scaling.train.mesh import resolve_mesh_shape

    device = jax.devices()[0]
    dtype = np.dtype(compute_dtype_for(plan.sweep.dtype.compute)).name
    peak = peak_flops(dtype)
    on_cpu = device.platform == "cpu"
    if peak is None:
        return ESTIMATE_FLOPS_PER_S, f"no peak FLOP/s known for {device.device_kind}; a 2-core CPU's rate assumed"
    if mfu is not None and not 0 < mfu <= 1:
        raise UserError(f"--mfu {mfu}: give the model FLOPs utilisation as a fraction in (0, 1], e.g. 0.4")
    mfu = mfu if mfu is not None else (CPU_MFU if on_cpu else DEFAULT_MFU)
    count = 1 if on_cpu else math.prod(resolve_mesh_shape(plan.sweep.mesh, jax.device_count()))
    source = "$SCALING_PEAK_FLOPS" if os.environ.get("SCALING_PEAK_FLOPS") else (
        "measured matmul probe" if on_cpu else "peak table")
    return count * peak * mfu, f"{count} x {device.device_kind} at {peak:.3g} {dtype} FLOP/s ({source}), MFU {mfu:g}"


def plan_warnings(plan: SweepPlan) -> list[str]:
    """What `scaling validate` should say before compute is spent: a sweep that would take days at its rate."""
    total = sum(estimate_seconds(t, plan.flops_per_s) for t in plan.trials)
    out = []
    if total > LONG_SWEEP_S:
        out.append(f"estimated {format_duration(total)} of training at {plan.flops_per_s:.2g} FLOP/s "
                   f"({plan.rate_note}): shrink the sweep or run it on more or faster devices")
    return out


def design_check(plan: SweepPlan, *, noise: float | None = None, simulations: int = 30,
                 prior: dict[str, float] | None = None) -> Any:
    """The fit library's design check on the planned (N, D) points (seed replicates averaged, IsoFLOP budgets
    grouped), with the fit stage's N convention, from `prior` (default: scaling/fit/design.py's)."""
    from scaling.fit.design import DEFAULT_NOISE, check_design

    fit = plan.sweep.stages.fit
    points: dict[tuple[float, float], dict[str, Any]] = {}
    for t in plan.trials:
        n = float(t.params.non_embedding if fit is None or fit.params == "non_embedding" else t.params.total)
        entry = points.setdefault((n, float(t.tokens)), {"replicates": set(), "budget": None})
        entry["replicates"].add(t.config.seed)
        if t.budget.kind == "isoflop":
            entry["budget"] = t.budget.value
    keys = sorted(points)
    return check_design(
        np.array([k[0] for k in keys]), np.array([k[1] for k in keys]),
        noise=DEFAULT_NOISE if noise is None else noise, simulations=simulations, prior=prior,
        replicates=np.array([len(points[k]["replicates"]) for k in keys], float),
        budgets=[points[k]["budget"] for k in keys] if plan.sweep.budget.kind == "isoflop" else None)


def describe_plan(plan: SweepPlan) -> list[dict[str, Any]]:
    """Rows for `scaling validate` / `--dry-run`: what each trial trains and what it costs."""
    return [
        {
            "id": t.id, "label": t.label, "size": t.size, "params_non_embedding": t.params.non_embedding,
            "params_total": t.params.total, "tokens": t.tokens, "steps": t.config.total_steps,
            "flops": t.flops, "branch_of": t.parent, "branch_step": t.branch_step,
            "est_s": estimate_seconds(t, plan.flops_per_s),
            "epochs": planned_epochs(t.config), **{k: v for k, v in t.axes.items()},
        }
        for t in plan.trials
    ]


def planned_epochs(cfg: TrainConfig) -> float | None:
    """Epochs over `data.unique_tokens` this trial will make (None: it draws from the whole train split)."""
    from scaling.data.repeat import EpochPlan, planned_unique_tokens

    if cfg.data.unique_tokens is None:
        return None
    return EpochPlan(planned_unique_tokens(cfg.data.unique_tokens, cfg.data.seq_len), cfg.total_tokens).epochs


def effective_flops(plan: SweepPlan) -> tuple[float, float]:
    """(FLOPs the sweep spends, FLOPs separate runs would have spent)."""
    separate = sum(t.flops for t in plan.trials)
    return separate - plan.flops_saved_by_branching(), separate

