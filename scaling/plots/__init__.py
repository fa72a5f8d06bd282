"""Figures and reports from a run's store and fit results (matplotlib, no pyplot, no JAX).

The API a stage uses to add figures:

- `register_figure(name, title=..., section=...)`: decorate `fn(ctx: FigureContext) -> Figure | None`.
- `FigureContext`: the run directory, its `Store`, its `fit.json` dict and its fit points (any may be missing).
- `SkipFigure("why")`: raise it when the inputs are missing; the report shows the reason.
- `new_figure()`, `colors_for()`, `LABELS`: the house style (Okabe-Ito colours, labelled axes with units).
- `render_figures(ctx, out_dir)`: every registered figure as PNG and SVG; `write_report(...)`: HTML + Markdown.
"""

from scaling.plots.context import FigureContext, read_fit
from scaling.plots.registry import (
    FIGURE_MODULES,
    FIGURES,
    Rendered,
    SkipFigure,
    load_figures,
    register_figure,
    render_figures,
    save_figure,
)
from scaling.plots.style import LABELS, OKABE_ITO, colors_for, new_figure, styled

__all__ = [
    "FIGURES",
    "FIGURE_MODULES",
    "FigureContext",
    "LABELS",
    "OKABE_ITO",
    "Rendered",
    "SkipFigure",
    "colors_for",
    "load_figures",
    "new_figure",
    "read_fit",
    "register_figure",
    "render_figures",
    "save_figure",
    "styled",
]
