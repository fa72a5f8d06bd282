"""The sweep file's schema: a model family over sizes x data budgets, sweep axes, executor and later stages.

Any scalar may be a W&B-style axis `{values: [...]}`; the plan takes their Cartesian product. The training
fields are the same blocks a single run uses (scaling/config.py), so a trial is exactly a `TrainConfig`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from scaling.config import (
    CheckpointConfig,
    DataConfig,
    DivergenceConfig,
    DtypeConfig,
    EvalConfig,
    MeshConfig,
    ModelConfig,
    OptimizerConfig,
    Strict,
)


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


class ExecutorConfig(Strict):
    """Where trials run: in this process one after another, or in K worker processes sharing the store."""

    kind: Literal["local", "processes"] = "local"
    workers: int = Field(default=1, ge=1)
    max_attempts: int = Field(default=2, ge=1, description="tries per trial before it stays failed")
    stale_after_s: float = Field(default=120.0, gt=0, description="reclaim a running trial silent this long")


class FitStageConfig(Strict):
    laws: list[str] = Field(default_factory=lambda: ["chinchilla"])
    method: Literal["huber-grid", "varpro", "ml"] = "huber-grid"
    bootstrap: int = Field(default=200, ge=0)
    seed: int = 0
    loss: Literal["val_loss", "train_loss"] = "val_loss"
    param_count: Literal["non_embedding", "total"] = "non_embedding"


class PlotStageConfig(Strict):
    formats: list[Literal["png", "svg"]] = Field(default_factory=lambda: ["png", "svg"])
    report: bool = True


QUANTIZE_METHODS = ("quantize", "quantize_act", "qat")  # the methods whose value is weight bits
COMPRESS_METHODS = ("prune", "prune_nm", "prune_heads", "prune_neurons", *QUANTIZE_METHODS, "distill")


class SelectTrials(Strict):
    """Explicit selection: these train trial ids."""

    trials: list[str] = Field(min_length=1)


class PruneSettings(Strict):
    scope: Literal["layer", "global"] = "layer"
    include_embedding: bool = False


class QuantizeSettings(Strict):
    granularity: Literal["channel", "group"] = "channel"
    group_size: int | None = Field(default=None, gt=0, description="inputs per scale when granularity is group")
    symmetric: bool = True
    include_embedding: bool = False
    activation_bits: int = Field(
        default=8, ge=2, le=16, description="quantize_act jobs: every matmul input fake-quantized per token to this"
    )

    @model_validator(mode="after")
    def _group(self) -> QuantizeSettings:
        if (self.granularity == "group") != (self.group_size is not None):
            raise ValueError("group_size is needed with granularity group, and only then")
        return self


class DistillSettings(Strict):
    temperature: float = Field(default=2.0, gt=0)
    alpha: float = Field(default=0.5, ge=0, le=1, description="weight of the KL term; 1 - alpha on the CE")
    tokens: int | None = Field(default=None, gt=0, description="student training tokens; default the teacher's")
    lr: float | None = Field(default=None, gt=0, description="student learning rate; default the teacher's")


class CompressStageConfig(Strict):
    """Compression-ratio sweeps from selected trained configurations (methods x ratios x configurations).

    `methods` entries each name one method and its ratios: `{prune: [0.5, 0.75]}` (unstructured magnitude
    sparsity), `{prune_nm: ["2:4"]}`, `{prune_heads: [0.25]}`, `{prune_neurons: [0.25]}`, `{quantize: [8, 4]}`
    (weight-only PTQ bits), `{quantize_act: [8, 4]}` (the same weights, activations at
    `quantize.activation_bits`: W8A8 and W4A8 by default), `{qat: [4]}` (quantization-aware fine-tuning for
    `recovery_tokens`), `{distill: [xs]}` (student sizes: presets or dims).
    """

    select: Literal["best_per_budget", "frontier"] | SelectTrials = "best_per_budget"
    max_configs: int = Field(default=2, ge=1)
    methods: list[dict[str, list[Any]]] = Field(min_length=1)
    recovery_tokens: int = Field(default=0, ge=0, description="masked fine-tuning after pruning; QAT length")
    recovery_lr_scale: float = Field(default=0.1, gt=0, description="fine-tuning lr = this x the trial's lr")
    eval_batches: int = Field(default=8, gt=0)
    prune: PruneSettings = Field(default_factory=PruneSettings)
    quantize: QuantizeSettings = Field(default_factory=QuantizeSettings)
    distill: DistillSettings = Field(default_factory=DistillSettings)

    @field_validator("methods")
    @classmethod
    def _methods_valid(cls, methods: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for i, entry in enumerate(methods):
            if len(entry) != 1:
                raise ValueError(f"methods[{i}]: one method per entry, e.g. {{prune: [0.5]}}; got {sorted(entry)}")
            (name, ratios), = entry.items()
            where = f"methods[{i}].{name}"
            if name not in COMPRESS_METHODS:
                raise ValueError(f"methods[{i}]: unknown method {name!r}; valid: {', '.join(COMPRESS_METHODS)}")
            if not ratios:
                raise ValueError(f"{where}: give at least one value")
            for r in ratios:
                _check_ratio(name, r, where)
        return methods

    @model_validator(mode="after")
    def _qat_needs_tokens(self) -> CompressStageConfig:
        if any("qat" in e for e in self.methods) and self.recovery_tokens == 0:
            raise ValueError("methods: qat fine-tunes for recovery_tokens; set recovery_tokens > 0")
        return self


def _check_ratio(name: str, r: Any, where: str) -> None:
    """One method's value: a sparsity in [0, 1), bits in 2..8, "N:M", or a student size."""
    if name in ("prune", "prune_heads", "prune_neurons"):
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:
            raise ValueError(f"{where}: sparsity must be a number in [0, 1), got {r!r}")
    elif name in QUANTIZE_METHODS:
        if isinstance(r, bool) or not isinstance(r, int) or not 2 <= r <= 8:
            raise ValueError(f"{where}: bits must be an integer from 2 to 8, got {r!r}")
    elif name == "prune_nm":
        parts = str(r).split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 0 < int(parts[0]) < int(parts[1]):
            raise ValueError(f"{where}: give N:M as a string with 0 < N < M, e.g. \"2:4\"; got {r!r}")
    elif name == "distill":
        fields = {"size": r} if isinstance(r, str) else r
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: a student is a size preset or dims, got {r!r}")
        try:
            ModelConfig.model_validate(fields)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
            raise ValueError(f"{where}: student {r!r}: {first['msg'].removeprefix('Value error, ')}") from None


class StagesConfig(Strict):
    fit: FitStageConfig | None = Field(default_factory=FitStageConfig)
    plot: PlotStageConfig | None = Field(default_factory=PlotStageConfig)
    compress: CompressStageConfig | None = Field(default=None, description="compression stage; see the README")


class SweepConfig(Strict):
    """A whole sweep as written in YAML (after sweep axes are taken out, see scaling.sweep.plan)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: SweepModel
    data: DataConfig = Field(default_factory=DataConfig)
    budget: BudgetConfig
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int = Field(default=32, gt=0)
    grad_accum: int = Field(default=1, gt=0)
    seed: int = 0
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    dtype: DtypeConfig = Field(default_factory=DtypeConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    divergence: DivergenceConfig = Field(default_factory=DivergenceConfig)
    log_every: int = Field(default=10, gt=0)
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
