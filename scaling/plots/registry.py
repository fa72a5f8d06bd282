"""The figure registry: `@register_figure(name)` functions draw one Figure from a FigureContext, or skip.

A figure function takes a `FigureContext` and returns a matplotlib `Figure`, or `None` when there is nothing
to draw; raising `SkipFigure("why")` skips it with a reason the report shows. Built-in figures live in the
modules named in `FIGURE_MODULES`; a later stage adds its own by decorating functions in a module of its own
(imported before rendering, or named here) -- that module must not import JAX. Example:

    from scaling.plots import FigureContext, SkipFigure, new_figure, register_figure

    @register_figure("loss_vs_bytes", title="Loss against model bytes", section="compression")
    def loss_vs_bytes(ctx: FigureContext):
        rows = ...  # read ctx.store / ctx.run_dir
        if not rows:
            raise SkipFigure("no compression results yet")
        fig, ax = new_figure()
        ...
        return fig
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from scaling.plots.context import FigureContext

FigureFn = Callable[[FigureContext], Figure | None]

# Modules whose import registers figures; add yours here (JAX-free) or import it before `render_figures`.
FIGURE_MODULES: list[str] = [
    "scaling.plots.figures.curves",
    "scaling.plots.figures.isoflop",
    "scaling.plots.figures.optimal",
    "scaling.plots.figures.contours",
    "scaling.plots.figures.residuals",
    "scaling.plots.figures.backtest",
]
SECTIONS = ("training", "fit", "compression", "data")


class SkipFigure(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a figure function when its inputs are missing; the message says what is missing."""


@dataclass(frozen=True)
class FigureSpec:
    name: str
    fn: FigureFn
    title: str
    section: str = "fit"
    order: int = 100


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


FIGURES: dict[str, FigureSpec] = {}


def register_figure(name: str, *, title: str = "", section: str = "fit", order: int = 100
                    ) -> Callable[[FigureFn], FigureFn]:
    """Decorator: register `fn(ctx) -> Figure | None` as figure `name` (the file stem), shown under `section`."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"figure name {name!r}: letters, digits, - and _ only (it becomes a file name)")

    def decorate(fn: FigureFn) -> FigureFn:
        FIGURES[name] = FigureSpec(name, fn, title or name.replace("_", " "), section, order)
        return fn

    return decorate


def load_figures() -> dict[str, FigureSpec]:
    """Import every module in FIGURE_MODULES (registering its figures) and return the registry."""
    for module in FIGURE_MODULES:
        importlib.import_module(module)
    return FIGURES


def ordered_specs(names: Iterable[str] | None = None) -> list[FigureSpec]:
    """Registered figures by section then order; `names` limits them (unknown names are a ValueError)."""
    specs = load_figures()
    if names is not None:
        names = list(names)
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise ValueError(f"unknown figures {unknown}; registered: {sorted(specs)}")
        chosen = [specs[n] for n in names]
    else:
        chosen = list(specs.values())
    rank = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(chosen, key=lambda s: (rank.get(s.section, len(SECTIONS)), s.order, s.name))


def render_figures(ctx: FigureContext, out_dir: Path, formats: Iterable[str] = ("png", "svg"),
                   names: Iterable[str] | None = None, strict: bool = False) -> list[Rendered]:
    """Draw every registered figure into `out_dir` as NAME.<format>; skipped or failed ones carry a note.

    With `strict`, a figure function's exception propagates (tests); otherwise it becomes the figure's note,
    so one broken figure never stops a report.
    """
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
