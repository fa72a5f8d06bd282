"""The parametric fit as L(N, D) contours, with the efficient frontier, IsoFLOP lines and the fit's points."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm

from scaling.fit.allocation import flops_per_param_token
from scaling.plots import law_curves
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import log_range
from scaling.plots.render import SkipFigure
from scaling.plots.style import CMAP, LABELS, legend, log_axes, new_figure, styled


@styled
def fit_contours(ctx: FigureContext):
    """Contours of the report's primary (N, D) law over the data's range, its frontier and the report's points."""
    result = ctx.report.primary_law() if ctx.report is not None else None
    if result is None or not law_curves.is_nd_law(result):
        raise SkipFigure("no fitted (N, D) law in the fit report yet (run the fit stage)")
    points = ctx.points()
    k_of_n = flops_per_param_token(points)
    n_pts, d_pts, c_pts = points.n, points.d, points.c
    # Widen the view to where the frontier runs over the data's own compute span (at most 2 decades past the
    # data), so the frontier is seen against the points it was fitted from rather than cut away.
    span = law_curves.compute_optimal(result, np.geomspace(c_pts.min(), c_pts.max(), 50), k_of_n)
    reach = lambda opt, data: np.clip(opt[np.isfinite(opt)], data.min() / 100, data.max() * 100)  # noqa: E731
    n_lo, n_hi = log_range([*n_pts, *reach(np.asarray(span["N_opt"]), n_pts)], pad=0.4)
    d_lo, d_hi = log_range([*d_pts, *reach(np.asarray(span["D_opt"]), d_pts)], pad=0.4)
    N, D = np.meshgrid(np.geomspace(n_lo, n_hi, 160), np.geomspace(d_lo, d_hi, 160))
    Z = result.predict(n=N, d=D)
    observed = points.loss
    lo, hi = np.percentile(Z, 1), np.percentile(Z, 99)
    levels = np.unique(np.round(np.geomspace(min(lo, observed.min()), max(hi, observed.max()), 14), 4))
    norm = BoundaryNorm(levels, 256, extend="both")
    fig, ax = new_figure(width=5.6, height=4.2)
    filled = ax.contourf(N, D, Z, levels=levels, cmap=CMAP, norm=norm, extend="both")
    lines = ax.contour(N, D, Z, levels=levels[::2], colors="white", linewidths=0.5, alpha=0.7)
    ax.clabel(lines, fmt="%.3g", fontsize=6.5)
    fig.colorbar(filled, ax=ax, format="%.3g").set_label(f"predicted {LABELS['loss']}")
    n_line = np.geomspace(n_lo, n_hi, 50)
    c_lo, c_hi = (k_of_n(np.array([n_lo]))[0] * n_lo * d_lo, k_of_n(np.array([n_hi]))[0] * n_hi * d_hi)
    c_grid = np.geomspace(c_lo, c_hi, 200)
    opt = law_curves.compute_optimal(result, c_grid, k_of_n)
    inside = (opt["N_opt"] >= n_lo) & (opt["N_opt"] <= n_hi) & (opt["D_opt"] >= d_lo) & (opt["D_opt"] <= d_hi)
    frontier_label = "efficient frontier" if inside.any() else "efficient frontier (outside the plotted range)"
    ax.plot(opt["N_opt"][inside], opt["D_opt"][inside], color="#D55E00", lw=2.0, label=frontier_label)
    for c in 10.0 ** np.arange(np.ceil(np.log10(c_lo)), np.floor(np.log10(c_hi)) + 1):
        ax.plot(n_line, c / (k_of_n(n_line) * n_line), color="black", lw=0.7, ls=":", alpha=0.7)
    ax.plot([], [], color="black", lw=0.7, ls=":", label=f"IsoFLOP lines (10^k FLOPs, {points.conventions.compute})")
    ax.scatter(n_pts, d_pts, c=observed, cmap=CMAP, norm=norm, s=45, edgecolors="white", linewidths=1.4, zorder=3,
               label="fit points (fill: observed loss)")
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(d_lo, d_hi)
    log_axes(ax)
    ax.set_xlabel(ctx.conventions.n_label())
    ax.set_ylabel(LABELS["D"])
    from scaling.fit.registry import get_law

    ax.set_title(f"{result.law}: {get_law(result.law).formula}")
    legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    return fig
