"""Expand a compression stage into jobs: selected configurations x methods x ratios, each with a stable id.

A job's id hashes what determines its result (source trial, method, value, the settings that method reads,
evaluation batches), so re-running the stage finds finished jobs and never records one twice; settings a
method ignores are left out of its hash (changing the temperature does not redo the plain-student twin).
Every selected configuration also gets a `dense` job: the uncompressed model on the same evaluation batches.
How each method's values become jobs follows its row in `METHODS` (value kind, fine-tuning, activation bits, twin).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from scaling import accounting
from scaling.compress.settings import method
from scaling.config import ModelConfig

ORD_BASE = 1_000_000  # compression rows sort after every train trial in the shared `trials` table


@dataclass
class CompressJob:
    """One compression of one trained configuration."""

    source: str
    source_label: str
    method: str
    value: Any
    ratio: float
    settings: dict[str, Any]
    axes: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        payload = {"source": self.source, "method": self.method, "value": self.value, "settings": self.settings}
        return "c" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:11]

    @property
    def label(self) -> str:
        shown = "" if self.method == "dense" else self.axes.get("student", self.value)
        if "activation_bits" in self.axes:
            shown = f"{shown}a{self.axes['activation_bits']}"
        return f"{self.source_label}:{self.method}{shown}"

    def config(self) -> dict[str, Any]:
        return {"source": self.source, "method": self.method, "value": self.value, "ratio": self.ratio,
                "settings": self.settings}

    def store_row(self, ord_: int) -> dict[str, Any]:
        return {"id": self.id, "ord": ord_, "kind": "compress", "label": self.label, "config": self.config(),
                "axes": {"method": self.method, "ratio": self.ratio, **self.axes}, "parent": self.source}

    @classmethod
    def from_config(cls, config: dict[str, Any], source_label: str = "") -> CompressJob:
        return cls(config["source"], source_label, config["method"], config["value"], config["ratio"],
                   config["settings"])


def student_model(value: str | dict[str, Any], teacher: ModelConfig) -> ModelConfig:
    """The student's ModelConfig: the teacher's family settings with the student's size, same vocabulary."""
    fields = {"size": value} if isinstance(value, str) else dict(value)
    base = teacher.model_dump(exclude={"size", "d_model", "n_layers", "n_heads", "d_ff"})
    return ModelConfig.model_validate({**base, **fields})


def _jobs_for(source: Any, stage: Any) -> list[CompressJob]:
    """The jobs of one selected train trial (`source` has id, label, config (dict), axes)."""
    common = {"eval_batches": stage.eval_batches}
    recovery = ({"recovery_tokens": stage.recovery_tokens, "recovery_lr_scale": stage.recovery_lr_scale}
                if stage.recovery_tokens else {"recovery_tokens": 0})
    prune = {**common, **recovery, **stage.prune.model_dump()}
    # activation_bits only enters the jobs that read it, so weight-only jobs keep their ids
    quant = {**common, **stage.quantize.model_dump(exclude={"activation_bits"})}
    where = {"size": source.axes.get("size"), "budget": source.axes.get("budget")}
    jobs = [CompressJob(source.id, source.label, "dense", 0, 0.0, common, dict(where))]
    teacher = ModelConfig.model_validate(source.config["model"])
    for entry in stage.methods:
        (name, values), = entry.items()
        row = method(name)
        for v in values:
            if row.value_kind == "sparsity":
                jobs.append(CompressJob(source.id, source.label, name, float(v), float(v), prune, dict(where)))
            elif row.value_kind == "nm":
                n, m = (int(x) for x in str(v).split(":"))
                jobs.append(CompressJob(source.id, source.label, name, f"{n}:{m}", 1 - n / m, prune,
                                        {**where, "nm": f"{n}:{m}"}))
            elif row.value_kind == "bits":
                settings, axes = {**quant, **(recovery if row.trains else {})}, dict(where)
                if row.activation_quant:
                    a_bits = stage.quantize.activation_bits
                    settings, axes = {**settings, "activation_bits": a_bits}, {**axes, "activation_bits": a_bits}
                jobs.append(CompressJob(source.id, source.label, name, int(v), float(v), settings, axes))
            elif row.value_kind == "student":
                student = student_model(v, teacher)
                ratio = accounting.param_counts(student).non_embedding / accounting.param_counts(teacher).non_embedding
                train = {**common, "tokens": stage.distill.tokens, "lr": stage.distill.lr}
                kd = {**train, "temperature": stage.distill.temperature, "alpha": stage.distill.alpha}
                axes = {**where, "student": student.label()}
                jobs.append(CompressJob(source.id, source.label, name, v, ratio, kd, axes))
                if row.twin is not None:  # the plain-CE student: same size and tokens, no teacher
                    jobs.append(CompressJob(source.id, source.label, row.twin, v, ratio, train, dict(axes)))
            else:
                raise ValueError(f"methods: {name!r} takes no values (the planner adds it by itself)")
    return jobs


def plan_jobs(sources: list[Any], stage: Any) -> list[CompressJob]:
    """All jobs of the stage, grouped by source (so one loaded model serves its jobs), duplicates dropped."""
    out, seen = [], set()
    for source in sources:
        for job in _jobs_for(source, stage):
            if job.id not in seen:
                seen.add(job.id)
                out.append(job)
    return out
