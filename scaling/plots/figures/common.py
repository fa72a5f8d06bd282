"""Helpers the built-in figures share: grouping points by size and budget, readable log ticks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from scaling.plots.style import colors_for, si


def sizes_by_n(points: Iterable[Mapping[str, Any]]) -> list[str]:
    """Size names ordered by their smallest N (so colours run small to large)."""
    first: dict[str, float] = {}
    for p in points:
        key = str(p.get("size") or p.get("label") or si(p["N"]))
        first[key] = min(first.get(key, np.inf), float(p.get("N") or np.inf))
    return sorted(first, key=lambda k: first[k])


def size_key(p: Mapping[str, Any]) -> str:
    """The size a point belongs to (its `size`, else its label, else its N)."""
    return str(p.get("size") or p.get("label") or si(p["N"]))


def size_colors(points: list[Mapping[str, Any]]) -> dict[str, str]:
    return colors_for(sizes_by_n(points))


def group_budgets(points: list[Mapping[str, Any]], rtol: float = 0.05) -> list[tuple[float, list[dict[str, Any]]]]:
    """Points grouped by compute budget: their `budget` when given, else C values within `rtol` of each other."""
    if all(p.get("budget") is not None for p in points):
        groups: dict[float, list[dict[str, Any]]] = {}
        for p in points:
            groups.setdefault(float(p["budget"]), []).append(dict(p))
        return sorted(groups.items())
    ordered = sorted(points, key=lambda p: p["C"])
    out: list[tuple[float, list[dict[str, Any]]]] = []
    for p in ordered:
        if out and abs(np.log(p["C"]) - np.log(out[-1][1][0]["C"])) <= rtol:
            out[-1][1].append(dict(p))
        else:
            out.append((float(p["C"]), [dict(p)]))
    return [(float(np.exp(np.mean([np.log(q["C"]) for q in g]))), g) for _, g in out]


def readable_log_y(ax: Axes) -> None:
    """Plain-number ticks on a log loss axis (a loss spans less than a decade, so default ticks vanish)."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def readable_log_x(ax: Axes, values: Iterable[float]) -> None:
    """SI-labelled ticks on a log x axis: at 1, 2, 5 x 10^k when `values` span under two decades, else 10^k."""
    v = np.asarray(list(values), dtype=np.float64)
    subs = (1.0, 2.0, 5.0) if np.log10(v.max() / v.min()) < 2 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def log_range(values: Iterable[float], pad: float = 0.15) -> tuple[float, float]:
    """(lo, hi) spanning `values` on a log scale, widened by `pad` decades on each side."""
    v = np.asarray([x for x in values if x and x > 0], dtype=np.float64)
    return float(v.min() / 10**pad), float(v.max() * 10**pad)
