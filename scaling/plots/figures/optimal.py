"""Compute-optimal allocation: the fit report's N_opt(C), D_opt(C) with bootstrap bands and IsoFLOP minima,
against the published Chinchilla and Kaplan laws. Past the largest trained compute the line is dashed."""

from __future__ import annotations

import numpy as np

from scaling.plots import law_curves
from scaling.plots.context import FigureContext
from scaling.plots.render import SkipFigure
from scaling.plots.style import FIT_COLOR, LABELS, OKABE_ITO, REFERENCE_COLOR, legend, log_axes, new_figure, styled


def isoflop_minima(ctx: FigureContext) -> list[tuple[float, float, float]]:
    """(C, N_opt, D_opt) of the report's IsoFLOP budgets whose parabolas enter its power law."""
    iso = ctx.report.isoflop if ctx.report is not None else None
    if iso is None:
        return []
    return [(pn.flops, pn.opt, pd.opt) for pn, pd in zip(iso.parabolas, iso.parabolas_d, strict=True)
            if pn.ok and pd.ok and pn.opt is not None and pd.opt is not None]


@styled
def compute_optimal(ctx: FigureContext):
    """Two panels, N_opt(C) and D_opt(C): the report's table with its bootstrap band, IsoFLOP minima, published laws."""
    rows = ctx.report.compute_optimal if ctx.report is not None else []
    minima = isoflop_minima(ctx)
    if len(rows) < 2 and not minima:
        raise SkipFigure("no compute-optimal table and no IsoFLOP minima in the fit report")
    cs = [r.C for r in rows] + [m[0] for m in minima]
    c_ref = np.geomspace(min(cs), max(cs), 60)
    refs = (("Chinchilla (Hoffmann et al. 2022)", law_curves.chinchilla_reference(c_ref), "--"),
            ("Kaplan et al. 2020", law_curves.kaplan_reference(c_ref), ":"))
    fig, axes = new_figure(ncols=2, width=4.3)
    for ax, key in zip(axes, ("N_opt", "D_opt"), strict=True):
        if len(rows) >= 2:
            c = np.array([r.C for r in rows])
            value = np.array([getattr(r, key) for r in rows])
            inside = np.array([not r.extrapolated for r in rows])
            ax.plot(c[inside], value[inside], color=FIT_COLOR, label="this fit (trained range)")
            tail = np.flatnonzero(~inside)
            if tail.size:
                joined = np.concatenate([np.flatnonzero(inside)[-1:], tail])
                ax.plot(c[joined], value[joined], color=FIT_COLOR, ls="--", label="this fit, extrapolated")
            bands = [getattr(r, f"{key}_interval") for r in rows]
            if all(b is not None for b in bands):
                band = np.array(bands, dtype=float)
                ax.fill_between(c, band[:, 0], band[:, 1], color=OKABE_ITO[0], alpha=0.25, lw=0,
                                label="95% bootstrap interval")
        if minima:
            j = 1 if key == "N_opt" else 2
            ax.plot([m[0] for m in minima], [m[j] for m in minima], "*", color=OKABE_ITO[1], ms=10,
                    mec="black", mew=0.5, label="IsoFLOP minima")
        for label, ref, ls in refs:
            ax.plot(c_ref, ref[key], color=REFERENCE_COLOR, ls=ls, lw=1.1, label=label)
        log_axes(ax)
        ax.set_xlabel(ctx.conventions.c_label())
    axes[0].set_ylabel(f"compute-optimal {ctx.conventions.n_label()}")
    axes[1].set_ylabel(f"compute-optimal {LABELS['D']}")
    axes[0].set_title("N_opt(C)")
    axes[1].set_title("D_opt(C)")
    legend(axes[0], loc="upper left")
    return fig
