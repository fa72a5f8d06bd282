"""The compression stage's vocabulary and settings: one `METHODS` table and the `stages.compress` schema.

Every list of method names (which a sweep file may name, which quantize, which prune and how, legend words and
markers) is derived from `METHODS`, so adding a method is one row here plus its op. Pure pydantic and stdlib:
importing this never imports JAX or numpy, so `scaling.sweep.schema` nests `CompressStageConfig` without
pulling in the compression ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from scaling.config import ModelConfig, Strict

ValueKind = Literal["none", "sparsity", "nm", "bits", "student"]
Family = Literal["dense", "prune", "quantize", "distill"]
_FAMILY: dict[str, Family] = {"none": "dense", "sparsity": "prune", "nm": "prune", "bits": "quantize",
                              "student": "distill"}


@dataclass(frozen=True)
class CompressMethod:
    """One compression method: its name in sweep files and store rows, what its values are, how figures show it.

    `value_kind` says what each value in `{name: [...]}` is: a sparsity in [0, 1), weight bits, an "N:M"
    pattern, a student size, or nothing (the uncompressed reference). `in_sweep` is False for the rows the
    planner adds by itself (the dense reference, distillation's plain-CE twin).
    """

    name: str
    value_kind: ValueKind
    label: str  # legend words
    marker: str  # matplotlib marker
    prune_kind: str | None = None  # `make_masks` kind (pruning methods)
    index: str | None = None  # how `sparse_bytes` stores which weights survive (pruning methods)
    activation_quant: bool = False  # activations fake-quantized too, at `quantize.activation_bits`
    trains: bool = False  # fine-tunes for `recovery_tokens` as part of the method itself (so needs them > 0)
    twin: str | None = None  # the planner adds this method beside every job of this one
    in_sweep: bool = True

    @property
    def family(self) -> Family:
        """Which op runs it: dense (evaluate only), prune, quantize or distill."""
        return _FAMILY[self.value_kind]


METHODS: tuple[CompressMethod, ...] = (
    CompressMethod("dense", "none", "uncompressed", "*", in_sweep=False),
    CompressMethod("prune", "sparsity", "unstructured magnitude", "o", prune_kind="magnitude", index="bitmap"),
    CompressMethod("prune_nm", "nm", "N:M semi-structured", "D", prune_kind="nm", index="nm"),
    CompressMethod("prune_heads", "sparsity", "heads", "v", prune_kind="heads", index="units"),
    CompressMethod("prune_neurons", "sparsity", "MLP neurons", "^", prune_kind="neurons", index="units"),
    CompressMethod("quantize", "bits", "weights only (PTQ)", "s"),
    CompressMethod("quantize_act", "bits", "weights + activations (PTQ)", "h", activation_quant=True),
    CompressMethod("qat", "bits", "QAT", "P", trains=True),
    CompressMethod("distill", "student", "distilled student", "X", twin="distill_baseline"),
    CompressMethod("distill_baseline", "student", "plain CE student", "x", in_sweep=False),
)
BY_NAME: dict[str, CompressMethod] = {m.name: m for m in METHODS}


def method(name: str) -> CompressMethod:
    """The table row of `name` (ValueError naming the valid methods when there is none)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown compression method {name!r}; known: {', '.join(BY_NAME)}") from None


def names(*, family: Family | None = None, in_sweep: bool | None = None) -> tuple[str, ...]:
    """Method names in table order, optionally only one family's or only those a sweep file may name."""
    return tuple(m.name for m in METHODS
                 if (family is None or m.family == family) and (in_sweep is None or m.in_sweep == in_sweep))


SWEEP_METHODS = names(in_sweep=True)  # what `stages.compress.methods` may name
QUANTIZE_METHODS = names(family="quantize")  # values are weight bits
PRUNE_METHODS = names(family="prune")
STUDENT_METHODS = names(family="distill")
LABELS: dict[str, str] = {m.name: m.label for m in METHODS}
MARKERS: dict[str, str] = {m.name: m.marker for m in METHODS}


def method_label(name: str) -> str:
    """Legend words for a method (its name when it is not in the table)."""
    return LABELS.get(name, name)


@dataclass(frozen=True)
class WeightQuant:
    """How one quantization job stores its weights: what `fake_quantize_params`, `qat_params`, `pack_params`
    and `packed_size_bytes` all take instead of repeating the same five arguments."""

    bits: int
    granularity: Literal["channel", "group"] = "channel"
    group_size: int | None = None
    symmetric: bool = True
    include_embedding: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be between 2 and 8, got {self.bits!r}")
        if self.granularity not in ("channel", "group"):
            raise ValueError(f"granularity must be 'channel' or 'group', got {self.granularity!r}")
        if self.granularity == "channel" and self.group_size is not None:
            raise ValueError("per-channel quantization takes no group_size (use granularity='group')")
        if self.granularity == "group" and not self.group_size:
            raise ValueError("group-wise quantization needs a group_size")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], bits: int) -> WeightQuant:
        """From a job's settings dict (a dumped `QuantizeSettings`, plus whatever else the job carries)."""
        return cls(int(bits), settings["granularity"], settings["group_size"], settings["symmetric"],
                   settings["include_embedding"])


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

    def weights(self, bits: int) -> WeightQuant:
        """These settings at `bits` weight bits."""
        return WeightQuant.from_settings(self.model_dump(), bits)


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
    `recovery_tokens`), `{distill: [xs]}` (student sizes: presets or dims). The valid names are `SWEEP_METHODS`.
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
            if name not in SWEEP_METHODS:
                raise ValueError(f"methods[{i}]: unknown method {name!r}; valid: {', '.join(SWEEP_METHODS)}")
            if not ratios:
                raise ValueError(f"{where}: give at least one value")
            for r in ratios:
                _check_ratio(name, r, where)
        return methods

    @model_validator(mode="after")
    def _training_methods_need_tokens(self) -> CompressStageConfig:
        for entry in self.methods:
            (name, _), = entry.items()
            if BY_NAME[name].trains and self.recovery_tokens == 0:
                raise ValueError(f"methods: {name} fine-tunes for recovery_tokens; set recovery_tokens > 0")
        return self


def _check_ratio(name: str, r: Any, where: str) -> None:
    """One method's value, checked by its table row's `value_kind`: a sparsity in [0, 1), bits in 2..8, "N:M",
    or a student size."""
    kind = BY_NAME[name].value_kind
    if kind == "sparsity":
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:
            raise ValueError(f"{where}: sparsity must be a number in [0, 1), got {r!r}")
    elif kind == "bits":
        if isinstance(r, bool) or not isinstance(r, int) or not 2 <= r <= 8:
            raise ValueError(f"{where}: bits must be an integer from 2 to 8, got {r!r}")
    elif kind == "nm":
        parts = str(r).split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 0 < int(parts[0]) < int(parts[1]):
            raise ValueError(f"{where}: give N:M as a string with 0 < N < M, e.g. \"2:4\"; got {r!r}")
    elif kind == "student":
        fields = {"size": r} if isinstance(r, str) else r
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: a student is a size preset or dims, got {r!r}")
        try:
            ModelConfig.model_validate(fields)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
            raise ValueError(f"{where}: student {r!r}: {first['msg'].removeprefix('Value error, ')}") from None
