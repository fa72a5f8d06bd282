"""The data lever: what a token of each quality level is worth (q with its interval), and the quality law's
curves through every level's points."""

from __future__ import annotations

import numpy as np

from scaling.fit.quality_law import quality_law
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import readable_log_x, size_colors, sizes_by_n
from scaling.plots.render import SkipFigure
from scaling.plots.style import LABELS, legend, new_figure, styled


def _quality(ctx: FigureContext):
    if ctx.report is None:
        raise SkipFigure("no fit report yet (run the fit stage)")
    quality = ctx.report.quality
    if quality is None:
        raise SkipFigure("the sweep has one data-quality level (sweep data.quality.* to measure the data lever)")
    if quality.result is None:
        raise SkipFigure(f"the quality law was not fitted: {quality.error}")
    return quality


@styled
def quality_multipliers(ctx: FigureContext):
    """q per level with its 95% bootstrap interval; the reference level is 1 by definition."""
    quality = _quality(ctx)
    rows = quality.multipliers()
    fig, ax = new_figure(width=6.0)
    y = np.arange(len(rows))[::-1]
    for yi, m in zip(y, rows, strict=True):
        iv = m["interval"] or [m["q"], m["q"]]
        ax.errorbar(m["q"], yi, xerr=[[m["q"] - iv[0]], [iv[1] - m["q"]]], fmt="o" if not m["reference"] else "s",
                    color="black" if m["reference"] else "C0", capsize=3)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, [m["level"] for m in rows])
    ax.set_xlabel("q: a token of the level is worth q clean tokens")
    ax.set_title("Effective-data multiplier per data level (95% intervals)")
    return fig


@styled
def quality_curves(ctx: FigureContext):
    """Loss against tokens at every level, one panel each, with the quality law's prediction per size."""
    quality = _quality(ctx)
    points, level, result = quality.points, quality.level, quality.result
    colors = size_colors(points)
    order = sizes_by_n(points)
    law = quality_law(len(quality.names))  # the fit's own level count (a report read back names the law only)
    fig, axes = new_figure(ncols=len(quality.names), width=3.0)
    axes = np.atleast_1d(axes)
    d_grid = np.geomspace(points.d.min() / 1.3, points.d.max() * 1.3, 50)
    for k, (ax, name) in enumerate(zip(axes, quality.names, strict=True)):
        for size in order:
            idx = [j for j, r in enumerate(points.rows) if r.size == size and level[j] == k]
            if not idx:
                continue
            n = float(points.n[idx[0]])
            ax.plot(points.d[idx], points.loss[idx], "o", color=colors[size], ms=4, label=size)
            curve = law.predict(result.params, n=np.full_like(d_grid, n), d=d_grid, level=np.full(d_grid.size, k))
            ax.plot(d_grid, curve, "--", color=colors[size], lw=1)
        ax.set_xscale("log")
        readable_log_x(ax, d_grid)
        ax.set_title(name.replace(", ", "\n"), fontsize=8)
        ax.set_xlabel(LABELS["D"])
    low, high = float(points.loss.min()), float(points.loss.max())
    for ax in axes:  # one loss scale across levels, so panels compare by eye
        ax.set_ylim(low - 0.03 * (high - low), high + 0.03 * (high - low))
    axes[0].set_ylabel(LABELS["loss"])
    legend(axes[-1], title="model size")
    return fig
