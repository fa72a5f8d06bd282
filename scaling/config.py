"""Pydantic schema for the YAML files users write: one training run (`TrainConfig`) and its parts.

Unknown keys are rejected, so a typo is an error that names the field, never a silently ignored setting.
The sweep schema builds on these parts (scaling/sweep/schema.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from scaling.errors import UserError
from scaling.yamlio import apply_overrides, load_file


class Strict(BaseModel):
    """Base for every config block: unknown keys are errors, and values are re-checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# name -> (d_model, n_layers, n_heads). CPU sizes span ~50K..2M non-embedding parameters; GPU sizes follow the
# GPT-3 ladder up to ~1.2B. d_ff defaults to 4*d_model (GELU) or the 8/3 rule (SwiGLU), see ModelConfig.
SIZE_PRESETS: dict[str, tuple[int, int, int]] = {
    "xs": (48, 2, 4),
    "s": (64, 3, 4),
    "m": (96, 4, 6),
    "l": (128, 4, 8),
    "xl": (192, 4, 6),
    "125m": (768, 12, 12),
    "350m": (1024, 24, 16),
    "760m": (1536, 24, 16),
    "1.3b": (2048, 24, 16),
}


class ModelConfig(Strict):
    """A decoder-only transformer, by preset `size` or explicit dimensions (explicit fields win over the preset)."""

    family: Literal["transformer"] = "transformer"
    size: str | None = None
    d_model: int | None = Field(default=None, gt=0)
    n_layers: int | None = Field(default=None, gt=0)
    n_heads: int | None = Field(default=None, gt=0)
    d_ff: int | None = Field(default=None, gt=0)
    vocab_size: int | None = Field(default=None, gt=0, description="set from the tokenizer when omitted")
    mlp: Literal["gelu", "swiglu"] = "gelu"
    tie_embeddings: bool = True
    parameterization: Literal["standard", "mup"] = "standard"
    mup_base_width: int = Field(default=64, gt=0, description="muP: the width whose init and lr the others scale from")
    init_std: float = Field(default=0.02, gt=0)
    rope_theta: float = Field(default=10000.0, gt=0)
    norm_eps: float = Field(default=1e-6, gt=0)

    @field_validator("size")
    @classmethod
    def _known_size(cls, size: str | None) -> str | None:
        if size is not None and size not in SIZE_PRESETS:
            raise ValueError(f"{size!r} is not a preset; valid: {', '.join(SIZE_PRESETS)}")
        return size

    @model_validator(mode="after")
    def _resolve_dims(self) -> ModelConfig:
        if self.size is not None:
            d, layers, heads = SIZE_PRESETS[self.size]
            for name, value in (("d_model", d), ("n_layers", layers), ("n_heads", heads)):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
        missing = [n for n in ("d_model", "n_layers", "n_heads") if getattr(self, n) is None]
        if missing:
            raise ValueError(f"give a preset `size` ({', '.join(SIZE_PRESETS)}) or set {', '.join(missing)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"head dim {self.d_model // self.n_heads} must be even for rotary embeddings")
        if self.d_ff is None:
            if self.mlp == "gelu":
                d_ff = 4 * self.d_model
            else:  # SwiGLU keeps the MLP's parameter count near 8 d^2 with three matrices
                d_ff = 16 * math.ceil(8 * self.d_model / 3 / 16)
            object.__setattr__(self, "d_ff", d_ff)
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def with_vocab(self, vocab_size: int) -> ModelConfig:
        """This config with the vocabulary size the tokenizer decided (unless the user fixed one)."""
        return self if self.vocab_size is not None else self.model_copy(update={"vocab_size": vocab_size})

    def label(self) -> str:
        return self.size or f"d{self.d_model}L{self.n_layers}"


class TokenizerConfig(Strict):
    kind: Literal["byte", "bpe"] = "byte"
    vocab_size: int = Field(default=4096, ge=260, description="BPE only; byte-level is always 256 + specials")


CORRUPTION_KINDS = ("boilerplate", "char_noise", "shuffled_words", "random_bytes", "near_duplicate",
                    "exact_duplicate")  # scaling/data/quality/corrupt.py implements each


class QualityConfig(Strict):
    """Training-data quality: planted corruption at an exact document rate, then filters (validation stays clean)."""

    corruption_rate: float = Field(default=0.0, ge=0, le=1, description="share of training documents corrupted")
    corruptions: list[Literal[CORRUPTION_KINDS]] = Field(default_factory=lambda: list(CORRUPTION_KINDS))
    filters: str | list[str | dict[str, Any]] = Field(
        default="none", description="a preset (none, dedup, gopher, heuristics, language, all) or a list of steps")
    seed: int = 0

    @field_validator("filters")
    @classmethod
    def _known_filters(cls, filters: Any) -> Any:
        from scaling.data.quality.steps import expand  # names only; the steps' libraries load when they run

        try:
            expand(filters)
        except Exception as exc:  # a UserError: its message names the entry and the valid names
            raise ValueError(str(exc).removeprefix("data.quality.filters")) from None
        return filters

    @property
    def active(self) -> bool:
        """Whether the training split differs from the clean corpus's."""
        return self.corruption_rate > 0 or bool(_expanded(self.filters))

    def identity(self) -> dict[str, Any]:
        """What the token cache key needs: everything that changes the training documents."""
        return self.model_dump(mode="json")


def _expanded(filters: Any) -> list[Any]:
    from scaling.data.quality.steps import expand

    return expand(filters)


class DataConfig(Strict):
    """Which text, how it is tokenized, and how it is cut into training sequences.

    `quality` and `unique_tokens` are left out of the serialised config while at their defaults, so the trial
    ids of sweeps that do not use them stay what they were.
    """

    corpus: list[str] = Field(default_factory=lambda: ["kjv"])
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    seq_len: int = Field(default=128, gt=1)
    val_fraction: float = Field(default=0.02, gt=0, lt=0.5, description="share of documents held out, by hash")
    cache_dir: Path | None = Field(default=None, description="token cache; default $SCALING_CACHE or ~/.cache/scaling")
    quality: QualityConfig = Field(default_factory=QualityConfig)
    unique_tokens: int | None = Field(default=None, gt=0, description="train on this many unique tokens, repeated "
                                      "for as many epochs as the budget takes (rounded down to whole sequences)")

    @model_validator(mode="before")
    @classmethod
    def _corpus_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("corpus"), str):
            data = {**data, "corpus": [data["corpus"]]}
        return data

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        if isinstance(out, dict):
            if out.get("unique_tokens", 0) is None:
                out.pop("unique_tokens")
            if "quality" in out and out["quality"] == QualityConfig().model_dump(mode=_dump_mode(out)):
                out.pop("quality")
        return out


def _dump_mode(out: dict[str, Any]) -> str:
    """The mode a DataConfig dump ran in, read from its cache_dir (a Path in python mode, str/None in json)."""
    return "python" if isinstance(out.get("cache_dir"), Path) else "json"


class ScheduleConfig(Strict):
    """Learning-rate shape. Warmup and decay are fractions of the run, or token counts when `*_tokens` is set."""

    kind: Literal["cosine", "constant", "linear", "wsd"] = "cosine"
    warmup: float = Field(default=0.05, ge=0, le=1)
    warmup_tokens: int | None = Field(default=None, ge=0)
    decay: float | None = Field(default=None, ge=0, le=1, description="wsd: share of the run spent cooling down")
    decay_tokens: int | None = Field(default=None, ge=0)
    decay_shape: Literal["linear", "1-sqrt", "cosine"] = "linear"
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _wsd_needs_decay(self) -> ScheduleConfig:
        if self.kind == "wsd" and self.decay is None and self.decay_tokens is None:
            raise ValueError("a wsd schedule needs `decay` (a fraction, e.g. 0.2) or `decay_tokens`")
        return self


class OptimizerConfig(Strict):
    name: Literal["adamw"] = "adamw"
    lr: float = Field(default=3e-3, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.1, ge=0)
    grad_clip: float | None = Field(default=1.0, gt=0)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


class MeshConfig(Strict):
    """Device-mesh sizes; -1 means 'the remaining devices' (at most one axis may say so)."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1

    @model_validator(mode="after")
    def _sizes(self) -> MeshConfig:
        sizes = (self.data, self.fsdp, self.tensor)
        if any(s == 0 or s < -1 for s in sizes):
            raise ValueError(f"mesh sizes must be positive or -1 (the rest), got {sizes}")
        if sum(s == -1 for s in sizes) > 1:
            raise ValueError("at most one mesh axis may be -1")
        return self


class DtypeConfig(Strict):
    param: Literal["float32", "bfloat16"] = "float32"
    compute: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="auto: float32 on CPU, bfloat16 on GPU/TPU"
    )


class EvalConfig(Strict):
    every_steps: int = Field(default=50, gt=0)
    batches: int = Field(default=4, gt=0)


class CheckpointConfig(Strict):
    every_steps: int = Field(default=100, gt=0)
    keep: int = Field(default=2, gt=0)
    async_save: bool = True
    enabled: bool = True


class DivergenceConfig(Strict):
    """A run stops as `diverged` on NaN/Inf, or when the loss exceeds `spike_ratio` x its best so far."""

    spike_ratio: float = Field(default=3.0, gt=1)
    after_steps: int = Field(default=20, ge=0, description="ignore spikes before this step (warmup noise)")


class RunSettings(Strict):
    """The training settings one run and a sweep share: declared once, so a sweep's defaults are a run's fields."""

    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int = Field(default=32, gt=0, description="sequences per optimizer step, over all devices")
    grad_accum: int = Field(default=1, gt=0, description="micro-batches per optimizer step")
    seed: int = 0
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    dtype: DtypeConfig = Field(default_factory=DtypeConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    divergence: DivergenceConfig = Field(default_factory=DivergenceConfig)
    log_every: int = Field(default=10, gt=0, description="steps between training-metric rows")

    def run_settings(self) -> dict[str, Any]:
        """Only the shared training settings, as JSON-ready data (what a sweep hands each of its trials)."""
        return self.model_dump(mode="json", include=set(RunSettings.model_fields))


class TrainConfig(RunSettings):
    """One training run: a model, its data, its optimizer and how long it trains."""

    name: str = "run"
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(size="xs"))
    tokens: int | None = Field(default=None, gt=0, description="training tokens; or give steps")
    steps: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _length(self) -> TrainConfig:
        if (self.tokens is None) == (self.steps is None):
            raise ValueError("give exactly one of `tokens` (training tokens) or `steps`")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}")
        return self

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.data.seq_len

    @property
    def total_steps(self) -> int:
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.tokens / self.tokens_per_step))

    @property
    def total_tokens(self) -> int:
        return self.total_steps * self.tokens_per_step


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One readable message per failing field: `source: field.path: what is wrong (got value)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the README for valid fields)"
        got = f" (got {err['input']!r})" if err["type"] not in ("extra_forbidden", "missing") else ""
        if err["type"] == "value_error" or isinstance(err.get("input"), dict):
            got = ""
        lines.append(f"{source}: {loc}: {msg}{got}")
    return "\n".join(lines)


def validate(model_cls: type[BaseModel], data: dict[str, Any], source: str) -> Any:
    """Validate a mapping against a schema; errors become a UserError that names each field."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, source)) from None


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read one run's YAML file, apply `--set` overrides, and validate it."""
    data = apply_overrides(load_file(path), overrides or [])
    return validate(TrainConfig, data, str(path))
