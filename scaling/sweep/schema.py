"""The sweep file's schema: a model family over sizes x data budgets, sweep axes, executor and later stages.

Any scalar may be a W&B-style axis `{values: [...]}`; the plan takes their Cartesian product. The training
fields are the same blocks a single run uses (scaling/config.py), so a trial is exactly a `TrainConfig`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from scaling.compress.settings import CompressStageConfig  # the one compress/ import here: pure settings, no ops
from scaling.config import ModelConfig, RunSettings, Strict


class SweepModel(Strict):
    """A family over sizes: each entry a preset name or explicit dims; `common` fields apply to every size."""

    family: Literal["transformer"] = "transformer"
    sizes: list[str | dict[str, Any]] = Field(min_length=1)
    common: dict[str, Any] = Field(default_factory=dict, description="ModelConfig fields shared by all sizes")

    def size_configs(self) -> list[ModelConfig]:
        """One ModelConfig per size (validation errors name `model.sizes.<i>`)."""
        out = []
        for entry in self.sizes:
            fields = {"size": entry} if isinstance(entry, str) else dict(entry)
            out.append(ModelConfig.model_validate({"family": self.family, **self.common, **fields}))
        return out

    @model_validator(mode="after")
    def _sizes_valid(self) -> SweepModel:
        for i, entry in enumerate(self.sizes):
            fields = {"size": entry} if isinstance(entry, str) else dict(entry)
            try:
                ModelConfig.model_validate({"family": self.family, **self.common, **fields})
            except ValueError as exc:
                first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc), "loc": ()}
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"sizes[{i}]{'.' + loc if loc else ''}: {first['msg']}") from None
        return self


class BudgetConfig(Strict):
    """How many tokens each size trains on.

    - kind `tokens`: absolute `tokens: [...]`, or a ladder `tokens_per_param: [...]` (N counted as `param_count`).
    - kind `isoflop`: FLOP budgets; each size gets D = C / (6 N); sizes whose D/N falls outside
      `tokens_per_param_range` are left out of that budget, and a budget keeps at least `min_sizes_per_budget`.
    """

    kind: Literal["tokens", "isoflop"]
    tokens: list[float] | None = None
    tokens_per_param: list[float] | None = None
    flops: list[float] | None = None
    param_count: Literal["non_embedding", "total"] = "non_embedding"
    tokens_per_param_range: tuple[float, float] = (0.5, 500.0)
    min_sizes_per_budget: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> BudgetConfig:
        if self.kind == "tokens":
            if (self.tokens is None) == (self.tokens_per_param is None):
                raise ValueError("kind tokens needs exactly one of `tokens: [...]` or `tokens_per_param: [...]`")
            if self.flops is not None:
                raise ValueError("`flops` belongs to kind isoflop")
        else:
            if not self.flops:
                raise ValueError("kind isoflop needs `flops: [...]` (FLOP budgets, e.g. [1e13, 3e13])")
            if self.tokens is not None or self.tokens_per_param is not None:
                raise ValueError("kind isoflop takes `flops`, not `tokens`/`tokens_per_param`")
        for name in ("tokens", "tokens_per_param", "flops"):
            values = getattr(self, name)
            if values is not None and (not values or any(v <= 0 for v in values)):
                raise ValueError(f"`{name}` must be a non-empty list of positive numbers")
        return self


RAY_FIELDS = ("address", "cpus_per_trial", "gpus_per_trial", "resources", "max_retries")
SLURM_FIELDS = ("cluster", "partition", "gpus_per_node", "cpus_per_task", "nodes", "tasks_per_node", "time",
                "mem_gb", "account", "qos", "constraint", "sbatch")


class ExecutorConfig(Strict):
    """Where trials run: in this process one after another, in K local worker processes sharing the store, as
    Ray tasks, or as SLURM jobs through submitit (`workers` trials at a time; docs/distributed.md).

    Ray and SLURM workers only train: the driver (`scaling run`) alone writes the store, so the run directory
    must sit on a file system every worker reaches.
    """

    kind: Literal["local", "processes", "ray", "slurm"] = "local"
    workers: int = Field(default=1, ge=1, description="worker processes, or trials in flight on Ray/SLURM")
    max_attempts: int = Field(default=2, ge=1, description="tries per trial before it stays failed")
    stale_after_s: float = Field(default=120.0, gt=0, description="reclaim a running trial silent this long")
    pack: int = Field(default=1, ge=1, description="train up to this many trials of one shape (differing in seed "
                      "and lr) as one vmapped program (kind local or processes; scaling/sweep/packing.py)")
    # ray
    address: str | None = Field(default=None, description="ray.init address: auto, ray://HOST:PORT; none: local")
    cpus_per_trial: float = Field(default=1.0, ge=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict, description="other Ray resources, e.g. {TPU: 4}")
    max_retries: int = Field(default=3, ge=0, description="re-runs of a trial whose worker was lost or preempted")
    # slurm (submitit)
    cluster: Literal["slurm", "local", "debug"] = Field(default="slurm",
                                                        description="submitit's executor; local: no SLURM needed")
    partition: str | None = None
    gpus_per_node: int = Field(default=0, ge=0)
    cpus_per_task: int | None = Field(default=None, ge=1)
    nodes: int = Field(default=1, ge=1, description="hosts per trial (one JAX process each)")
    tasks_per_node: int = Field(default=1, ge=1)
    time: int = Field(default=60, ge=1, description="minutes per job; submitit requeues a job that runs out")
    mem_gb: float | None = Field(default=None, gt=0)
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    sbatch: dict[str, bool | int | str] = Field(default_factory=dict, description="further #SBATCH options "
                                                "(true: a bare flag)")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ExecutorConfig:
        owners = {**{f: "ray" for f in RAY_FIELDS}, **{f: "slurm" for f in SLURM_FIELDS}}
        for name in sorted(self.model_fields_set):
            owner = owners.get(name)
            if owner is not None and owner != self.kind:
                raise ValueError(f"`{name}` belongs to kind {owner}, not {self.kind}")
        if self.pack > 1 and self.kind not in ("local", "processes"):
            raise ValueError(f"`pack` applies to kind local or processes, not {self.kind} (its workers train one "
                             "trial each)")
        return self


class FitStageConfig(Strict):
    """What the fit stage fits and under which conventions (recorded in the fit report and on every figure axis)."""

    laws: list[str] = Field(default_factory=lambda: ["chinchilla"])
    method: Literal["huber-grid", "varpro", "ml"] = "huber-grid"
    bootstrap: int = Field(default=200, ge=0)
    seed: int = 0
    loss: Literal["val_loss", "train_loss"] = "val_loss"
    params: Literal["non_embedding", "total"] = Field(default="non_embedding", description="which N the laws use")
    compute: Literal["6nd", "exact"] = Field(default="6nd", description="C = 6ND, or the exact training FLOPs")
    holdout: int = Field(default=1, ge=0, description="backtest: refit without the K largest budgets (0: none)")
    delta: float = Field(default=1e-3, gt=0, description="Huber delta on the residuals")
    objective: Literal["huber-log", "huber-raw", "squares-log", "squares-raw"] = Field(
        default="huber-log", description="penalty and residual: Huber or least squares, on log or raw loss")
    resample: Literal["sizes", "rows"] = Field(
        default="sizes", description="bootstrap unit: whole model sizes (honest when extrapolating in N), or rows")
    target_flops: float | None = Field(default=None, gt=0, description="compute of derived quantities "
                                       "(default: the largest trained)")

    @field_validator("laws")
    @classmethod
    def _known_laws(cls, laws: list[str]) -> list[str]:
        from scaling.fit.registry import LAWS  # numpy only

        unknown = [law for law in laws if law not in LAWS]
        if unknown:
            raise ValueError(f"unknown law(s) {unknown}; valid: {', '.join(sorted(LAWS))}")
        if not laws:
            raise ValueError("give at least one law, e.g. [chinchilla]")
        return laws


class PlotStageConfig(Strict):
    formats: list[Literal["png", "svg"]] = Field(default_factory=lambda: ["png", "svg"])
    report: bool = True


class StagesConfig(Strict):
    fit: FitStageConfig | None = Field(default_factory=FitStageConfig)
    plot: PlotStageConfig | None = Field(default_factory=PlotStageConfig)
    compress: CompressStageConfig | None = Field(default=None, description="compression stage; see the README")


class SweepConfig(RunSettings):
    """A whole sweep as written in YAML (after sweep axes are taken out, see scaling.sweep.plan).

    The training settings (data, optimizer, batch size, mesh, ...) are `RunSettings`, the very fields of a
    single run: each trial's TrainConfig starts from them.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: SweepModel
    budget: BudgetConfig
    wsd_branching: bool = Field(default=True, description="with a wsd schedule, branch cooldowns off one stable run")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    stages: StagesConfig = Field(default_factory=StagesConfig)

    @field_validator("model", mode="before")
    @classmethod
    def _sizes_shorthand(cls, value: Any) -> Any:
        """Accept `model: {family, sizes, mlp: swiglu, ...}`: fields other than family/sizes go to `common`."""
        if isinstance(value, dict):
            known = {"family", "sizes", "common"}
            extra = {k: v for k, v in value.items() if k not in known}
            if extra:
                value = {k: v for k, v in value.items() if k in known}
                value["common"] = {**value.get("common", {}), **extra}
        return value
