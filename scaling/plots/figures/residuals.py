"""Residuals of each fitted law against its predictions: where a law misses, and whether the misses have shape."""

from __future__ import annotations

import numpy as np

from scaling.plots import law_curves
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import size_colors, sizes_by_n
from scaling.plots.render import SkipFigure
from scaling.plots.style import CMAP, LABELS, legend, new_figure, styled

MARKERS = "os^Dvp<>"
MAX_LEGEND_SIZES = 8


@styled
def residuals(ctx: FigureContext):
    """Relative residual (observed / predicted - 1) against predicted loss at the report's points, one panel a law."""
    if ctx.report is None or not ctx.report.laws:
        raise SkipFigure("no fitted law in the fit report yet (run the fit stage)")
    points = ctx.points()
    panels = [(name, law_curves.predict_at(result, points)) for name, result in ctx.report.laws.items()]
    sizes = [r.size for r in points]
    colors = size_colors(points)
    order = sizes_by_n(points)
    observed = points.loss
    fig, axes = new_figure(ncols=len(panels), width=4.2 if len(panels) > 1 else 5.2)
    axes = np.atleast_1d(axes)
    many = len(order) > MAX_LEGEND_SIZES  # e.g. digitised points, each its own N: colour by log N instead
    for ax, (name, pred) in zip(axes, panels, strict=True):
        rel = observed / pred - 1.0
        if many:
            dots = ax.scatter(pred, 100 * rel, c=np.log10(points.n), cmap=CMAP, s=14)
        else:
            for i, size in enumerate(order):
                idx = [j for j, s in enumerate(sizes) if s == size]
                ax.plot(pred[idx], 100 * rel[idx], MARKERS[i % len(MARKERS)], color=colors[size], ms=4, label=size)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_xlabel(f"predicted {LABELS['loss']}")
        ax.set_title(f"{name}: RMS {100 * float(np.sqrt(np.mean(rel**2))):.2f}%")
    if many:
        fig.colorbar(dots, ax=list(axes)).set_label(f"log10 {ctx.conventions.n_label()}")
    axes[0].set_ylabel("residual: observed / predicted - 1 (%)")
    if not many:
        legend(axes[-1], title="model size")
    return fig
