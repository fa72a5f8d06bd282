"""IsoFLOP profiles (Hoffmann et al. approach 2): the fit report's parabolas, their minima and the points under them.

Nothing is fitted here: each budget's points are the report's points of that IsoFLOP group (the points table's
one budget rule), and each curve and star is the report's own parabola and minimum.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from scaling.plots.context import FigureContext
from scaling.plots.figures.common import readable_log_x, readable_log_y
from scaling.plots.render import SkipFigure
from scaling.plots.style import LABELS, colors_for, legend, log_axes, new_figure, styled

MIN_SIZES = 3  # a budget with fewer sizes shows no profile


def budget_points(ctx: FigureContext) -> dict[float, list[int]]:
    """Row indices of the report's points per IsoFLOP group compute (the values the parabolas carry)."""
    labels, groups = ctx.points().budget_groups()
    return {float(c): [int(i) for i in np.flatnonzero(labels == k)] for k, c in enumerate(groups)}


@styled
def isoflop(ctx: FigureContext):
    """Loss against N for each compute budget, the report's parabola in ln N through it, and its minimum."""
    iso = ctx.report.isoflop if ctx.report is not None else None
    if iso is None:
        why = (ctx.report.errors.get("isoflop") if ctx.report is not None else None) or \
            "no IsoFLOP budget with 3+ model sizes in the fit report (a tokens ladder has none)"
        profiles = {c: idx for c, idx in budget_points(ctx).items() if len(idx) >= MIN_SIZES} if ctx.report else {}
        if not profiles:
            raise SkipFigure(why)
        return _unfitted_profiles(ctx, profiles)
    points = ctx.points()
    n_all, loss_all = points.n, points.loss
    members = budget_points(ctx)
    colors = colors_for(p.flops for p in iso.parabolas)
    fig, ax = new_figure()
    for par in iso.parabolas:
        col = colors[par.flops]
        idx = min(members.items(), key=lambda kv: abs(np.log(kv[0] / par.flops)))[1]
        ax.plot(n_all[idx], loss_all[idx], "o", color=col, ms=4, label=f"C = {par.flops:.2g}".replace("e+", "e"))
        if not np.all(np.isfinite(par.coefficients)):
            continue
        xs = np.exp(np.linspace(par.x_window[0] - 0.2, par.x_window[1] + 0.2, 100))
        ax.plot(xs, par(xs), color=col, lw=1.1, ls="-" if par.ok else ":")
        if par.opt is not None:
            ax.plot([par.opt], [par.loss_opt], "*", color=col, ms=11, mec="black", mew=0.6,
                    alpha=1.0 if par.ok else 0.4)
    ax.set_title(f"IsoFLOP profiles: N_opt ∝ C^{iso.a:.3f} ({iso.procedure['n_budgets_used']} budgets)")
    _finish(ctx, ax, n_all, [
        Line2D([], [], color="0.3", lw=1.1, label="parabola in ln N (fit report)"),
        Line2D([], [], color="0.3", lw=1.1, ls=":", label="flagged budget (left out of the power law)"),
        Line2D([], [], ls="", marker="*", color="0.3", mec="black", ms=10, label="minimum N_opt"),
    ])
    return fig


def _finish(ctx: FigureContext, ax, n_all: np.ndarray, keys: list[Line2D]) -> None:
    """Log axes with readable ticks, the fit's N label, and the budgets' legend followed by `keys`."""
    log_axes(ax)
    readable_log_y(ax)
    readable_log_x(ax, n_all)
    ax.set_xlabel(ctx.conventions.n_label())
    ax.set_ylabel(LABELS["loss"])
    handles = ax.get_legend_handles_labels()[0] + keys
    legend(ax, handles=handles, title="budget (FLOPs)", loc="center left", bbox_to_anchor=(1.01, 0.5))


def _unfitted_profiles(ctx: FigureContext, profiles: dict[float, list[int]]):
    """The measured IsoFLOP profiles when approach 2 could not fit (e.g. every minimum at a sampled edge): each
    budget's losses against N and its best observed size, so the reader sees where the optimum lies."""
    points = ctx.points()
    n_all, loss_all = points.n, points.loss
    colors = colors_for(profiles)
    fig, ax = new_figure()
    for c, idx in sorted(profiles.items()):
        order = np.asarray(idx)[np.argsort(n_all[idx])]
        col = colors[c]
        ax.plot(n_all[order], loss_all[order], "o-", color=col, ms=4, lw=0.9,
                label=f"C = {c:.2g}".replace("e+", "e"))
        best = order[np.argmin(loss_all[order])]
        edge = best in (order[0], order[-1])
        ax.plot([n_all[best]], [loss_all[best]], "*", color=col, ms=11, mec="black", mew=0.6,
                alpha=0.4 if edge else 1.0)
    ax.set_title("IsoFLOP profiles as measured\n(approach 2 not fitted: see the report)", fontsize=10)
    _finish(ctx, ax, n_all, [
        Line2D([], [], ls="", marker="*", color="0.3", mec="black", ms=10, label="best observed size"),
        Line2D([], [], ls="", marker="*", color="0.3", mec="black", ms=10, alpha=0.4,
               label="best at a sampled edge: the optimum lies outside"),
    ])
    return fig
