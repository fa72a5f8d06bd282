"""IsoFLOP profiles (Hoffmann et al. approach 2): loss against N at fixed compute, parabolas and their minima."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from scaling.plots.context import FigureContext
from scaling.plots.figures.common import group_budgets, readable_log_x, readable_log_y
from scaling.plots.registry import SkipFigure, register_figure
from scaling.plots.style import LABELS, colors_for, legend, log_axes, new_figure, styled

MIN_SIZES = 3  # a parabola needs three distinct sizes per budget


def isoflop_groups(points: list[dict[str, Any]]) -> list[tuple[float, list[dict[str, Any]]]]:
    """Budgets with at least MIN_SIZES distinct N (the ones a parabola can be fitted to)."""
    return [(c, g) for c, g in group_budgets(points) if len({p["N"] for p in g}) >= MIN_SIZES]


def parabola(group: list[dict[str, Any]]) -> np.ndarray | None:
    """Coefficients of log L = a (ln N)^2 + b ln N + c fitted to one budget (None if it opens downward)."""
    x = np.log([p["N"] for p in group])
    y = np.log([p["loss"] for p in group])
    coef = np.polyfit(x, y, 2)
    return coef if coef[0] > 0 else None


def fitted_minima(ctx: FigureContext) -> list[dict[str, float]]:
    """Per-budget minima from fit.json's `isoflop` result (keys C, N_opt, D_opt, loss), if the fit stage made one."""
    iso = ctx.fit_section("isoflop") or {}
    rows = next((iso[k] for k in ("budgets", "minima", "per_budget", "points") if isinstance(iso.get(k), list)), [])
    out = []
    for r in rows:
        c = r.get("C", r.get("flops", r.get("budget")))
        n = r.get("N_opt", r.get("N"))
        if c is None or n is None:
            continue
        loss = r.get("loss", r.get("loss_opt"))
        out.append({"C": float(c), "N_opt": float(n), "D_opt": float(r.get("D_opt") or c / (6.0 * n)),
                    "loss": None if loss is None else float(loss)})
    return out


def isoflop_exponent(ctx: FigureContext) -> float | None:
    """The fitted a in N_opt ∝ C^a from fit.json's isoflop result, under any of its usual names."""
    iso = ctx.fit_section("isoflop") or {}
    for key in ("a", "n_exponent", "N_exponent", "exponent_n"):
        if isinstance(iso.get(key), int | float):
            return float(iso[key])
    return None


@register_figure("isoflop", title="IsoFLOP profiles with fitted parabolas", section="fit", order=10)
@styled
def isoflop(ctx: FigureContext):
    """Loss against N for each compute budget, the parabola in log-log space through it, and its minimum."""
    groups = isoflop_groups(ctx.fit_points())
    if not groups:
        raise SkipFigure(f"no IsoFLOP budget with {MIN_SIZES}+ model sizes (a tokens-ladder sweep has none)")
    colors = colors_for(c for c, _ in groups)
    minima = {round(np.log10(m["C"]), 2): m for m in fitted_minima(ctx)}
    fig, ax = new_figure()
    for c, group in groups:
        col = colors[c]
        n = np.array([p["N"] for p in group])
        ax.plot(n, [p["loss"] for p in group], "o", color=col, ms=4, label=f"C = {c:.2g}".replace("e+", "e"))
        coef = parabola(group)
        if coef is None:
            continue
        xs = np.linspace(np.log(n.min()) - 0.2, np.log(n.max()) + 0.2, 100)
        ax.plot(np.exp(xs), np.exp(np.polyval(coef, xs)), color=col, lw=1.1)
        fitted = minima.get(round(np.log10(c), 2))
        if fitted is not None:
            n_star = fitted["N_opt"]
            l_star = fitted["loss"] if fitted["loss"] is not None else np.exp(np.polyval(coef, np.log(n_star)))
        else:
            n_star = np.exp(-coef[1] / (2 * coef[0]))
            l_star = np.exp(np.polyval(coef, np.log(n_star)))
            if not n.min() <= n_star <= n.max():  # a vertex beyond the sampled sizes is an extrapolation
                continue
        ax.plot([n_star], [l_star], "*", color=col, ms=11, mec="black", mew=0.6)
    log_axes(ax)
    readable_log_y(ax)
    readable_log_x(ax, [p["N"] for _, g in groups for p in g])
    ax.set_xlabel(LABELS["N"] + f" ({ctx.conventions()['N'].replace('_', '-')})")
    ax.set_ylabel(LABELS["loss"])
    a = isoflop_exponent(ctx)
    ax.set_title("IsoFLOP profiles" + (f": N_opt ∝ C^{a:.3f}" if a is not None else ""))
    handles = ax.get_legend_handles_labels()[0] + [
        Line2D([], [], color="0.3", lw=1.1, label="parabola in log-log"),
        Line2D([], [], ls="", marker="*", color="0.3", mec="black", ms=10, label="minimum N_opt"),
    ]
    legend(ax, handles=handles, title="budget (FLOPs)", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig
