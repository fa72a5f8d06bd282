"""Training curves: loss against tokens and against compute (the report's C), one colour per size, with the envelope."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from scaling import results
from scaling.plots.context import FigureContext
from scaling.plots.figures.common import readable_log_x, readable_log_y
from scaling.plots.render import SkipFigure
from scaling.plots.style import FIT_COLOR, LABELS, colors_for, legend, log_axes, new_figure, si, styled


def _curves(ctx: FigureContext) -> list[dict[str, Any]]:
    """Each trial's loss curve: the configured metric when it has 2+ points, else the training loss."""
    conv = ctx.conventions
    out = []
    for t in ctx.train_trials():
        rows = ctx.curve(t.id, ctx.loss_metric)
        metric = ctx.loss_metric
        if len(rows) < 2:
            rows, metric = ctx.curve(t.id, "train_loss"), "train_loss"
        rows = [r for r in rows if r["tokens"] > 0 and r["value"] > 0]
        if len(rows) < 2:
            continue
        tokens = np.array([r["tokens"] for r in rows], dtype=float)
        out.append({"trial": t, "size": results.size_of(t), "N": results.n_of(t, conv), "metric": metric,
                    "tokens": tokens,
                    "flops": results.step_compute(t, tokens, [r["flops"] for r in rows], conv),
                    "loss": np.array([r["value"] for r in rows], dtype=float)})
    if not out:
        raise SkipFigure("no loss curves in the store yet (no trial has logged 2+ loss values)")
    return out


def _draw(ctx: FigureContext, x_key: str, xlabel: str, envelope: bool):
    curves = _curves(ctx)
    sizes = sorted({c["size"]: c["N"] for c in curves}.items(), key=lambda kv: kv[1])
    colors = colors_for(s for s, _ in sizes)
    fig, ax = new_figure()
    for c in curves:
        ax.plot(c[x_key], c["loss"], color=colors[c["size"]], alpha=0.85, lw=1.1)
        ax.plot(c[x_key][-1:], c["loss"][-1:], "o", color=colors[c["size"]], ms=3.5)
    handles = [Line2D([], [], color=colors[s], label=f"{s} (N={si(n)})" if n else s) for s, n in sizes]
    if envelope:
        env = lower_envelope([(c["flops"], c["loss"]) for c in curves])
        if env is not None:
            ax.plot(*env, color=FIT_COLOR, ls="--", lw=1.3)
            handles.append(Line2D([], [], color=FIT_COLOR, ls="--", label="compute-optimal envelope"))
    log_axes(ax)
    readable_log_y(ax)
    readable_log_x(ax, np.concatenate([c[x_key] for c in curves]))
    metrics = sorted({c["metric"] for c in curves})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{' / '.join(m.replace('_', ' ') for m in metrics)} (nats/token)")
    legend(ax, handles=handles, title=f"model size ({ctx.conventions.params.replace('_', '-')} N)", loc="lower left")
    return fig


@styled
def loss_vs_tokens(ctx: FigureContext):
    """Every trial's loss curve against tokens seen, coloured by model size."""
    fig = _draw(ctx, "tokens", LABELS["D"], envelope=False)
    fig.axes[0].set_title("Loss against tokens")
    return fig


@styled
def loss_vs_flops(ctx: FigureContext):
    """Every trial's loss curve against training compute (the fit report's C), with the best loss reached at or
    below each compute."""
    fig = _draw(ctx, "flops", ctx.conventions.c_label(), envelope=True)
    fig.axes[0].set_title("Loss against compute")
    return fig


def lower_envelope(curves: list[tuple[np.ndarray, np.ndarray]], n_grid: int = 200
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """The lowest loss reached with at most each compute, over all curves, on a log grid (curves interpolated in
    log-log space). Non-increasing: a run that ended lower on less compute stays the frontier until another run
    beats it. That matters for WSD sweeps, whose long runs' stable-phase points lie above the cooled endpoints
    of the shorter branches, so a pointwise minimum would jump up after each endpoint."""
    curves = [(x, y) for x, y in curves if len(x) >= 2 and np.all(x > 0)]
    if len(curves) < 2:
        return None
    lo = min(x.min() for x, _ in curves)
    hi = max(x.max() for x, _ in curves)
    grid = np.geomspace(lo, hi, n_grid)
    best = np.full(n_grid, np.inf)
    for x, y in curves:
        order = np.argsort(x)
        lx, ly = np.log(x[order]), np.log(y[order])
        inside = (grid >= x.min()) & (grid <= x.max())
        best[inside] = np.minimum(best[inside], np.exp(np.interp(np.log(grid[inside]), lx, ly)))
    best = np.minimum.accumulate(best)
    keep = np.isfinite(best)
    return grid[keep], best[keep]
