"""The law registry: built-in laws by name, and `register_law` for laws added later (e.g. compression laws)."""

from __future__ import annotations

from scaling.errors import UserError
from scaling.fit.laws import BUILTIN_LAWS, Law
from scaling.fit.quality_law import QUALITY_CHINCHILLA
from scaling.fit.repetition_law import MUENNIGHOFF_DATA

LAWS: dict[str, Law] = {law.name: law for law in (*BUILTIN_LAWS, QUALITY_CHINCHILLA, MUENNIGHOFF_DATA)}


def register_law(law: Law, *, replace: bool = False) -> Law:
    """Add a law under `law.name` so `fit_law(law=name)` and `scaling fit --law name` find it."""
    if not isinstance(law, Law):
        raise TypeError(f"register_law expects a scaling.fit.Law, got {type(law).__name__}")
    if not law.name:
        raise ValueError("a law needs a non-empty name")
    if law.name in LAWS and not replace and LAWS[law.name] is not law:
        raise ValueError(f"a law named {law.name!r} is already registered (pass replace=True to override)")
    if len(set(law.coord_names)) != len(law.coord_names):
        raise ValueError(f"law {law.name!r} has duplicate coordinate names {law.coord_names}")
    LAWS[law.name] = law
    return law


def get_law(name: str | Law) -> Law:
    """The registered law called `name` (a Law passes through); UserError listing the valid names otherwise."""
    if isinstance(name, Law):
        return name
    try:
        return LAWS[name]
    except KeyError:
        raise UserError(f"unknown law {name!r}; registered laws: {', '.join(sorted(LAWS))}") from None
