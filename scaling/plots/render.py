"""Drawing figures: a figure function takes a `FigureContext` and returns a Figure, or raises `SkipFigure("why")`.

`render_figures` draws the specs it is given (by default every figure of `scaling.plots.registry.FIGURES`) as
NAME.png / NAME.svg; a skipped or failed figure carries its note into the report instead of stopping it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from scaling.plots.context import FigureContext

FigureFn = Callable[[FigureContext], Figure | None]
SECTIONS = ("training", "fit", "compression", "data")


class SkipFigure(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a figure function when its inputs are missing; the message says what is missing."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file stem, the function that draws it, its title and where the report shows it."""

    name: str
    fn: FigureFn
    title: str
    section: str = "fit"

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"figure name {self.name!r}: letters, digits, - and _ only (it becomes a file name)")
        if self.section not in SECTIONS:
            raise ValueError(f"figure {self.name!r}: section {self.section!r}; valid: {', '.join(SECTIONS)}")


@dataclass
class Rendered:
    """What became of one figure: the files written, or the note saying why there are none."""

    name: str
    title: str
    section: str
    paths: list[Path] = field(default_factory=list)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.paths)


def render_figures(ctx: FigureContext, out_dir: Path, formats: Iterable[str] = ("png", "svg"),
                   names: Iterable[str] | None = None, strict: bool = False) -> list[Rendered]:
    """Draw the registry's figures (or those named) into `out_dir` as NAME.<format>; skipped ones carry a note.

    With `strict`, a figure function's exception propagates (tests); otherwise it becomes the figure's note,
    so one broken figure never stops a report.
    """
    from scaling.plots.registry import ordered_specs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = list(formats)
    results = []
    for spec in ordered_specs(names):
        item = Rendered(spec.name, spec.title, spec.section)
        try:
            fig = spec.fn(ctx)
            if fig is None:
                item.note = "nothing to draw"
            else:
                item.paths = save_figure(fig, out_dir / spec.name, formats)
        except SkipFigure as exc:
            item.note = str(exc)
        except Exception as exc:
            if strict:
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            item.note = f"failed: {last}"
        results.append(item)
    return results


def save_figure(fig: Figure, stem: Path, formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Write `fig` as stem.png / stem.svg (SVG text kept as text, PNG at the style's dpi) and return the paths."""
    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths
