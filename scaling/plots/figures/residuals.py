"""Residuals of each fitted law against its predictions: where a law misses, and whether the misses have shape."""

from __future__ import annotations

import numpy as np

from scaling.plots import laws
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import size_colors, size_key, sizes_by_n
from scaling.plots.registry import SkipFigure, register_figure
from scaling.plots.style import CMAP, LABELS, legend, new_figure, styled

MARKERS = "os^Dvp<>"
MAX_LEGEND_SIZES = 8


@register_figure("residuals", title="Residuals against predictions", section="fit", order=40)
@styled
def residuals(ctx: FigureContext):
    """Relative residual (observed / predicted - 1) against predicted loss, one panel per fitted law."""
    points = ctx.fit_points()
    results = ctx.law_results()
    panels = []
    for key, result in results.items():
        name = laws.law_name(result, key)
        try:
            pred = laws.predict_points(name, result["params"], points)
        except Exception:
            pred = None
        if pred is not None and len(pred):
            panels.append((key, pred))
    if not panels:
        raise SkipFigure("no fitted law in fit.json can be evaluated at the points")
    colors = size_colors(points)
    order = sizes_by_n(points)
    observed = np.array([p["loss"] for p in points])
    fig, axes = new_figure(ncols=len(panels), width=4.2 if len(panels) > 1 else 5.2)
    axes = np.atleast_1d(axes)
    many = len(order) > MAX_LEGEND_SIZES  # e.g. digitised points, each its own N: colour by log N instead
    for ax, (key, pred) in zip(axes, panels, strict=True):
        rel = observed / pred - 1.0
        if many:
            dots = ax.scatter(pred, 100 * rel, c=np.log10([p["N"] for p in points]), cmap=CMAP, s=14)
        else:
            for i, size in enumerate(order):
                idx = [j for j, p in enumerate(points) if size_key(p) == size]
                ax.plot(pred[idx], 100 * rel[idx], MARKERS[i % len(MARKERS)], color=colors[size], ms=4, label=size)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_xlabel(f"predicted {LABELS['loss']}")
        rms = float(np.sqrt(np.mean(rel**2)))
        ax.set_title(f"{key}: RMS {100 * rms:.2f}%")
    if many:
        fig.colorbar(dots, ax=list(axes)).set_label("log10 N (parameters)")
    axes[0].set_ylabel("residual: observed / predicted - 1 (%)")
    if not many:
        legend(axes[-1], title="model size")
    return fig
