"""Compute-optimal allocation: N_opt(C) and D_opt(C) with bootstrap bands, against the Chinchilla and Kaplan laws."""

from __future__ import annotations

from typing import Any

import numpy as np

from scaling.plots import laws
from scaling.plots.context import FigureContext
from scaling.plots.figures.isoflop import fitted_minima, isoflop_groups, parabola
from scaling.plots.registry import SkipFigure, register_figure
from scaling.plots.style import FIT_COLOR, LABELS, OKABE_ITO, REFERENCE_COLOR, legend, log_axes, new_figure, styled


def optimal_curve(ctx: FigureContext) -> dict[str, Any] | None:
    """The fit's compute-optimal rows (C, N_opt, D_opt, intervals), or ones derived from its (N, D) law."""
    rows = [r for r in (ctx.fit_section("compute_optimal") or []) if r.get("C") and r.get("N_opt")]
    if len(rows) >= 2:
        rows = sorted(rows, key=lambda r: r["C"])
        out: dict[str, Any] = {"C": np.array([r["C"] for r in rows], dtype=float), "source": "fit.json"}
        for key in ("N_opt", "D_opt"):
            out[key] = np.array([r.get(key) or r["C"] / (6 * r["N_opt"]) for r in rows], dtype=float)
            iv = [r.get(f"{key}_interval") for r in rows]
            out[f"{key}_interval"] = np.array(iv, dtype=float) if all(i is not None for i in iv) else None
        return out
    primary = laws.primary_nd_law(ctx.law_results())
    points = ctx.fit_points()
    if primary is None or not points:
        return None
    _, name, params = primary
    c = np.geomspace(min(p["C"] for p in points) / 3, max(p["C"] for p in points) * 30, 40)
    opt = laws.compute_optimal(name, params, c)
    return {"C": c, "N_opt": opt["N_opt"], "D_opt": opt["D_opt"], "N_opt_interval": None, "D_opt_interval": None,
            "source": name}


def approach2_minima(ctx: FigureContext) -> list[dict[str, float]]:
    """IsoFLOP minima: the fit stage's, else the vertices of parabolas through this run's budgets."""
    fitted = fitted_minima(ctx)
    if fitted:
        return fitted
    out = []
    for c, group in isoflop_groups(ctx.fit_points()):
        coef = parabola(group)
        if coef is None:
            continue
        n = float(np.exp(-coef[1] / (2 * coef[0])))
        if min(p["N"] for p in group) <= n <= max(p["N"] for p in group):  # a vertex outside the sizes is a guess
            out.append({"C": c, "N_opt": n, "D_opt": c / (6 * n), "loss": None})
    return out


@register_figure("compute_optimal", title="Compute-optimal N and D against compute", section="fit", order=20)
@styled
def compute_optimal(ctx: FigureContext):
    """Two panels, N_opt(C) and D_opt(C): this fit with its bootstrap band, IsoFLOP minima, published laws."""
    curve = optimal_curve(ctx)
    minima = approach2_minima(ctx)
    if curve is None and not minima:
        raise SkipFigure("no compute-optimal estimate: fit.json has no (N, D) law and no IsoFLOP budget")
    cs = list(curve["C"]) if curve is not None else []
    cs += [m["C"] for m in minima]
    c_ref = np.geomspace(min(cs), max(cs), 60)
    refs = (("Chinchilla (Hoffmann et al. 2022)", laws.chinchilla_reference(c_ref), "--"),
            ("Kaplan et al. 2020", laws.kaplan_reference(c_ref), ":"))
    fig, axes = new_figure(ncols=2, width=4.3)
    for ax, key in zip(axes, ("N_opt", "D_opt"), strict=True):
        if curve is not None:
            label = "this fit" + (" (fit.json)" if curve["source"] == "fit.json" else f" ({curve['source']} law)")
            ax.plot(curve["C"], curve[key], color=FIT_COLOR, label=label)
            band = curve.get(f"{key}_interval")
            if band is not None:
                ax.fill_between(curve["C"], band[:, 0], band[:, 1], color=OKABE_ITO[0], alpha=0.25, lw=0,
                                label="bootstrap interval")
        if minima:
            ax.plot([m["C"] for m in minima], [m[key] for m in minima], "*", color=OKABE_ITO[1], ms=10,
                    mec="black", mew=0.5, label="IsoFLOP minima")
        for label, ref, ls in refs:
            ax.plot(c_ref, ref[key], color=REFERENCE_COLOR, ls=ls, lw=1.1, label=label)
        log_axes(ax)
        ax.set_xlabel(LABELS["C"])
    axes[0].set_ylabel(f"compute-optimal {LABELS['N']}")
    axes[1].set_ylabel(f"compute-optimal {LABELS['D']}")
    axes[0].set_title("N_opt(C)")
    axes[1].set_title("D_opt(C)")
    legend(axes[0], loc="upper left")
    return fig
