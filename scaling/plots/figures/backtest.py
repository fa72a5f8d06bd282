"""Backtest: the law fitted without the largest budget, predicting it (predicted against actual)."""

from __future__ import annotations

import numpy as np

from scaling.plots.context import FigureContext
from scaling.plots.render import SkipFigure
from scaling.plots.style import FIT_COLOR, LABELS, OKABE_ITO, legend, new_figure, styled


@styled
def backtest(ctx: FigureContext):
    """Predicted against actual loss for the points of the budget(s) the report's backtest held out."""
    bt = ctx.report.backtest if ctx.report is not None else None
    if bt is None:
        why = (ctx.report.errors.get("backtest") if ctx.report is not None else None) or "no fit report yet"
        raise SkipFigure(f"no backtest in the fit report: {why}")
    fig, ax = new_figure(width=4.4, height=4.0)
    ax.plot(bt.observed, bt.predicted, "o", color=OKABE_ITO[1], ms=5, mec="black", mew=0.4,
            label=f"held out: C = {', '.join(f'{b:.2g}' for b in bt.holdout_budgets)}")
    values = np.concatenate([bt.observed, bt.predicted])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo or hi)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=FIT_COLOR, lw=0.9, label="predicted = actual")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_title(f"Backtest {bt.fit.law}: held-out mean |error| {100 * bt.mean_abs_relative_error:.2f}%")
    ax.set_xlabel(f"actual {LABELS['loss']}")
    ax.set_ylabel(f"predicted {LABELS['loss']}")
    legend(ax, loc="upper left")
    return fig
