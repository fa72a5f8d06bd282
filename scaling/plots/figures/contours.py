"""The parametric fit as L(N, D) contours, with the efficient frontier, IsoFLOP lines and the data points."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm

from scaling.plots import laws
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import log_range
from scaling.plots.registry import SkipFigure, register_figure
from scaling.plots.style import CMAP, LABELS, legend, log_axes, new_figure, styled


@register_figure("fit_contours", title="Fitted law L(N, D) with the efficient frontier", section="fit", order=30)
@styled
def fit_contours(ctx: FigureContext):
    """Contours of the fitted (N, D) law over the data's range, the compute-optimal frontier and the points."""
    primary = laws.primary_nd_law(ctx.law_results())
    if primary is None:
        raise SkipFigure("no fitted (N, D) law in fit.json yet (run the fit stage)")
    key, name, params = primary
    points = ctx.fit_points()
    if not points:
        raise SkipFigure("fit.json has a law but no points to draw")
    n_pts, d_pts = [p["N"] for p in points], [p["D"] for p in points]
    # Widen the view to where the frontier runs over the data's own compute span (at most 2 decades past the
    # data), so the frontier is seen against the points it was fitted from rather than cut away.
    c_pts = 6.0 * np.asarray(n_pts) * np.asarray(d_pts)
    span = laws.compute_optimal(name, params, np.geomspace(c_pts.min(), c_pts.max(), 50))
    reach = lambda opt, data: np.clip(opt[np.isfinite(opt)], min(data) / 100, max(data) * 100)  # noqa: E731
    n_lo, n_hi = log_range([*n_pts, *reach(np.asarray(span["N_opt"]), n_pts)], pad=0.4)
    d_lo, d_hi = log_range([*d_pts, *reach(np.asarray(span["D_opt"]), d_pts)], pad=0.4)
    N, D = np.meshgrid(np.geomspace(n_lo, n_hi, 160), np.geomspace(d_lo, d_hi, 160))
    Z = laws.predict(name, params, n=N, d=D)
    observed = np.array([p["loss"] for p in points])
    lo, hi = np.percentile(Z, 1), np.percentile(Z, 99)
    levels = np.unique(np.round(np.geomspace(min(lo, observed.min()), max(hi, observed.max()), 14), 4))
    norm = BoundaryNorm(levels, 256, extend="both")
    fig, ax = new_figure(width=5.6, height=4.2)
    filled = ax.contourf(N, D, Z, levels=levels, cmap=CMAP, norm=norm, extend="both")
    lines = ax.contour(N, D, Z, levels=levels[::2], colors="white", linewidths=0.5, alpha=0.7)
    ax.clabel(lines, fmt="%.3g", fontsize=6.5)
    cbar = fig.colorbar(filled, ax=ax, format="%.3g")
    cbar.set_label(f"predicted {LABELS['loss']}")
    c_grid = np.geomspace(6 * n_lo * d_lo, 6 * n_hi * d_hi, 200)
    opt = laws.compute_optimal(name, params, c_grid)
    inside = (opt["N_opt"] >= n_lo) & (opt["N_opt"] <= n_hi) & (opt["D_opt"] >= d_lo) & (opt["D_opt"] <= d_hi)
    frontier_label = "efficient frontier" if inside.any() else "efficient frontier (outside the plotted range)"
    ax.plot(opt["N_opt"][inside], opt["D_opt"][inside], color="#D55E00", lw=2.0, label=frontier_label)
    for c in 10.0 ** np.arange(np.ceil(np.log10(c_grid[0])), np.floor(np.log10(c_grid[-1])) + 1):
        n_line = np.geomspace(n_lo, n_hi, 50)
        ax.plot(n_line, c / (6 * n_line), color="black", lw=0.7, ls=":", alpha=0.7)
    ax.plot([], [], color="black", lw=0.7, ls=":", label="IsoFLOP lines (10^k FLOPs)")
    ax.scatter([p["N"] for p in points], [p["D"] for p in points], c=observed, cmap=CMAP, norm=norm, s=45,
               edgecolors="white", linewidths=1.4, zorder=3, label="trials (fill: observed loss)")
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(d_lo, d_hi)
    log_axes(ax)
    ax.set_xlabel(LABELS["N"] + f" ({ctx.conventions()['N'].replace('_', '-')})")
    ax.set_ylabel(LABELS["D"])
    ax.set_title(f"{key}: {laws.get_law(name).formula}")
    legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    return fig
