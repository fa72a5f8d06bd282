"""Run quality steps in order and report, per step, what it removed and why, with examples.

Where documents carry their planted `kind` (see corrupt.py), each step's report also counts its removals by
kind, so the report says how much of each planted defect the filters recovered and how many clean documents
they cost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from scaling.data.quality.doc import CLEAN, Doc

EXAMPLES = 3  # removed documents quoted per step
EXAMPLE_CHARS = 160


@dataclass
class StepReport:
    """One step: documents it saw and removed, removals by planted kind, the commonest reasons, and examples."""

    name: str
    seen: int
    removed: int
    removed_chars: int
    by_kind: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)


@dataclass
class QualityReport:
    """The whole run: inputs, survivors, every step's report, and recovery of each planted kind."""

    documents_in: int
    documents_out: int
    chars_in: int
    chars_out: int
    kinds_in: dict[str, int]
    kinds_out: dict[str, int]
    steps: list[StepReport]

    @property
    def recovery(self) -> dict[str, float]:
        """Share of each planted (non-clean) kind that some step removed."""
        return {k: 1.0 - self.kinds_out.get(k, 0) / n for k, n in self.kinds_in.items() if k != CLEAN and n}

    @property
    def false_removals(self) -> float:
        """Share of the clean documents that some step removed."""
        n = self.kinds_in.get(CLEAN, 0)
        return 1.0 - self.kinds_out.get(CLEAN, 0) / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recovery": self.recovery, "false_removals": self.false_removals}

    def lines(self) -> list[str]:
        """A short readable summary: one line per step, then recovery per planted kind."""
        out = [f"{self.documents_in} documents in, {self.documents_out} kept"]
        for s in self.steps:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
            out.append(f"  {s.name}: removed {s.removed} of {s.seen}" + (f" ({kinds})" if kinds else ""))
        for k, r in sorted(self.recovery.items()):
            out.append(f"  recovered {k}: {r:.1%}")
        out.append(f"  clean documents removed: {self.false_removals:.1%}")
        return out


@dataclass
class PipelineResult:
    kept: list[Doc]
    report: QualityReport


def _reason_key(reason: str) -> str:
    """A reason without its numbers, so the report counts kinds of reasons ("near duplicate of document")."""
    words = [w for w in reason.split() if not any(c.isdigit() for c in w)]
    return " ".join(words[:6])


def _reasons(step: Any, docs: list[Doc]) -> list[str | None]:
    """The step's verdicts; a step referenced on the corpus itself (`per_source`) judges each source corpus
    against its own documents only, as CCNet scores each language apart."""
    if not getattr(step, "per_source", False):
        return step.reasons([d.text for d in docs])
    out: list[str | None] = [None] * len(docs)
    for source in sorted({d.corpus for d in docs}):
        idx = [i for i, d in enumerate(docs) if d.corpus == source]
        for i, reason in zip(idx, step.reasons([docs[i].text for i in idx]), strict=True):
            out[i] = reason
    return out


def run_pipeline(docs: list[Doc], steps: list[Any]) -> PipelineResult:
    """Apply `steps` in order; each sees only the documents the previous ones kept."""
    kept = list(docs)
    reports = []
    for step in steps:
        reasons = _reasons(step, kept)
        removed = [(d, r) for d, r in zip(kept, reasons, strict=True) if r is not None]
        reports.append(StepReport(
            name=step.name,
            seen=len(kept),
            removed=len(removed),
            removed_chars=sum(len(d.text) for d, _ in removed),
            by_kind=dict(Counter(d.kind for d, _ in removed)),
            reasons=dict(Counter(_reason_key(r) for _, r in removed).most_common(5)),
            examples=[{"kind": d.kind, "reason": r, "text": d.text[:EXAMPLE_CHARS]} for d, r in removed[:EXAMPLES]],
        ))
        kept = [d for d, r in zip(kept, reasons, strict=True) if r is None]
    report = QualityReport(
        documents_in=len(docs), documents_out=len(kept),
        chars_in=sum(len(d.text) for d in docs), chars_out=sum(len(d.text) for d in kept),
        kinds_in=dict(Counter(d.kind for d in docs)), kinds_out=dict(Counter(d.kind for d in kept)),
        steps=reports,
    )
    return PipelineResult(kept, report)
