"""The quality steps by name, the presets that group them, and building a step list from `data.quality.filters`.

A step is anything with a `name` and `reasons(texts) -> [why removed, or None]`; an entry in the config is a
step or preset name, or a mapping `{name: STEP, <threshold>: value, ...}` that overrides the step's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from scaling.data.quality.dedup import ExactDedup, NearDedup
from scaling.data.quality.heuristics import HEURISTICS
from scaling.data.quality.language import LanguageFilter
from scaling.data.quality.perplexity import CharPerplexity, WordOrder
from scaling.errors import UserError


class Step(Protocol):
    name: str

    def reasons(self, texts: list[str]) -> list[str | None]:
        """Per document: why it is removed, or None to keep it."""


STEPS: dict[str, type] = {
    "language": LanguageFilter,
    **{cls.name: cls for cls in HEURISTICS},
    "exact_dedup": ExactDedup,
    "near_dedup": NearDedup,
    "perplexity": CharPerplexity,
    "word_order": WordOrder,
}

_HEURISTIC_NAMES = [cls.name for cls in HEURISTICS]
_GOPHER = [n for n in _HEURISTIC_NAMES if n != "digit_ratio"]
FILTER_PRESETS: dict[str, list[str]] = {
    "none": [],
    "dedup": ["exact_dedup", "near_dedup"],
    "gopher": _GOPHER,
    "heuristics": _HEURISTIC_NAMES,
    "language": ["language"],
    "models": ["perplexity", "word_order"],  # corpus-referenced n-gram scores (scaling/data/quality/perplexity.py)
    # cheap per-document rules first, deduplication last (on what survives), as FineWeb orders them
    "all": ["language", *_HEURISTIC_NAMES, "exact_dedup", "near_dedup"],
    # and the corpus-referenced models before deduplication
    "full": ["language", *_HEURISTIC_NAMES, "perplexity", "word_order", "exact_dedup", "near_dedup"],
}


def _where(i: int | None) -> str:
    return "data.quality.filters" + (f"[{i}]" if i is not None else "")


def _build_one(name: str, params: dict[str, Any], where: str) -> Any:
    cls = STEPS[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        valid = ", ".join(fields) or "none"
        raise UserError(f"{where}: step {name!r} has no setting(s) {unknown}; valid: {valid}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        return cls(**clean)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: step {name!r}: {exc}") from None


def expand(entries: str | Sequence[str | dict[str, Any]] | None) -> list[tuple[str, dict[str, Any], str]]:
    """(step name, overrides, config location) per step, presets expanded; UserError for an unknown name."""
    if entries is None:
        return []
    items: list[tuple[int | None, Any]] = [(None, entries)] if isinstance(entries, str) else list(enumerate(entries))
    out = []
    valid = f"steps {', '.join(STEPS)}; presets {', '.join(FILTER_PRESETS)}"
    for i, entry in items:
        if isinstance(entry, str):
            if entry in FILTER_PRESETS:
                out += [(n, {}, _where(i)) for n in FILTER_PRESETS[entry]]
            elif entry in STEPS:
                out.append((entry, {}, _where(i)))
            else:
                raise UserError(f"{_where(i)}: unknown filter {entry!r}; valid: {valid}")
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"] in STEPS:
            out.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}, _where(i)))
        else:
            raise UserError(f"{_where(i)}: expected a step name or {{name: STEP, ...settings}}, got {entry!r}; "
                            f"valid: {valid}")
    return out


def build_steps(entries: str | Sequence[str | dict[str, Any]] | None) -> list[Any]:
    """The configured steps, in order, with their overrides applied (each setting checked)."""
    return [_build_one(name, params, where) for name, params, where in expand(entries)]
