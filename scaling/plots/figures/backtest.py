"""Backtest: a law fitted on the smaller budgets, predicting the held-out larger ones (predicted vs actual)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scaling.plots.context import FigureContext
from scaling.plots.registry import SkipFigure, register_figure
from scaling.plots.style import FIT_COLOR, LABELS, OKABE_ITO, legend, new_figure, styled


def backtest_rows(backtest: dict[str, Any] | None) -> list[dict[str, float]]:
    """(actual, predicted, C, held_out) rows from fit.json's backtest dict, whichever usual key names it uses."""
    if not backtest:
        return []
    rows = next((backtest[k] for k in ("rows", "points", "predictions", "held_out", "test") if
                 isinstance(backtest.get(k), list)), [])
    out = []
    for r in rows:
        actual = r.get("actual", r.get("observed", r.get("loss")))
        pred = r.get("predicted", r.get("prediction", r.get("loss_pred")))
        if actual is None or pred is None:
            continue
        out.append({"actual": float(actual), "predicted": float(pred), "C": float(r.get("C") or 0.0),
                    "held_out": bool(r.get("held_out", r.get("test", True)))})
    return out


@register_figure("backtest", title="Backtest on held-out budgets", section="fit", order=50)
@styled
def backtest(ctx: FigureContext):
    """Predicted against actual loss for the budgets the backtest held out (and the ones it trained on, faded)."""
    data = ctx.fit_section("backtest")
    rows = backtest_rows(data)
    if not rows:
        raise SkipFigure("no backtest in fit.json (it needs a fit with several compute budgets)")
    fig, ax = new_figure(width=4.4, height=4.0)
    for held, color, label, alpha in ((False, "0.6", "fitted on", 0.6), (True, OKABE_ITO[1], "held out", 1.0)):
        sel = [r for r in rows if r["held_out"] is held]
        if sel:
            ax.plot([r["actual"] for r in sel], [r["predicted"] for r in sel], "o", color=color, ms=5,
                    alpha=alpha, mec="black", mew=0.4, label=label)
    values = [r[k] for r in rows for k in ("actual", "predicted")]
    lo, hi = min(values), max(values)
    pad = 0.05 * (hi - lo or hi)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=FIT_COLOR, lw=0.9, label="predicted = actual")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    held = [r for r in rows if r["held_out"]] or rows
    err = np.array([r["predicted"] / r["actual"] - 1 for r in held])
    law = (data or {}).get("law", "")
    ax.set_title(f"Backtest {law}: held-out mean |error| {100 * np.mean(np.abs(err)):.2f}%".replace("  ", " "))
    ax.set_xlabel(f"actual {LABELS['loss']}")
    ax.set_ylabel(f"predicted {LABELS['loss']}")
    legend(ax, loc="upper left")
    return fig
