"""Helpers the built-in figures share: colours by model size, readable log ticks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from scaling.fit.points import PointsTable
from scaling.plots.style import colors_for, si


def sizes_by_n(points: PointsTable) -> list[str]:
    """Size names ordered by their smallest N (so colours run small to large)."""
    first: dict[str, float] = {}
    for row, n in zip(points, points.n, strict=True):
        first[row.size] = min(first.get(row.size, np.inf), float(n))
    return sorted(first, key=lambda k: first[k])


def size_colors(points: PointsTable) -> dict[str, str]:
    return colors_for(sizes_by_n(points))


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
