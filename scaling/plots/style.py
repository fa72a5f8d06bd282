"""One look for every figure: the Okabe-Ito palette (colour-blind safe), log-axis helpers, unit-bearing labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Okabe & Ito 2008, ordered so the first colours differ most (yellow last: it is faint on white).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
REFERENCE_COLOR = "#7f7f7f"  # published laws drawn for comparison
FIT_COLOR = "#000000"        # this run's fitted law
CMAP = "viridis"             # sequential, colour-blind safe, for contours

RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "savefig.dpi": 150,
    "svg.fonttype": "none",
}

LABELS = {
    "N": "parameters N",
    "D": "training tokens D",
    "C": "training compute C = 6ND (FLOPs)",
    "loss": "loss (nats/token)",
}


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.2, height: float = 3.6) -> tuple[Figure, Any]:
    """A pyplot-free Figure (no global state, no GUI backend) with the house style, and its axes."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def styled(fn):
    """Run a drawing function under the house rc parameters (tick and line defaults apply at draw time)."""
    import functools

    import matplotlib

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return fn(*args, **kwargs)

    return wrapper


def colors_for(keys: Iterable[Any]) -> dict[Any, str]:
    """One colour per key in the given order (sizes small to large): Okabe-Ito up to seven, else viridis steps."""
    keys = list(dict.fromkeys(keys))
    if len(keys) <= len(OKABE_ITO) - 1:  # yellow only when needed
        return {k: OKABE_ITO[i] for i, k in enumerate(keys)}
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps[CMAP]
    return {k: to_hex(cmap(0.92 * i / (len(keys) - 1))) for i, k in enumerate(keys)}


def log_axes(ax: Axes, x: bool = True, y: bool = True) -> None:
    """Log scales with plain-number minor ticks turned off (they crowd small figures)."""
    if x:
        ax.set_xscale("log")
    if y:
        ax.set_yscale("log")


def si(x: float) -> str:
    """1.2e9 -> '1.2G': compact numbers for legends and tables; past 1e21 (no common suffix) plain 1.2e+25."""
    if abs(x) >= 1e21:
        return f"{x:.3g}"
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale * 0.9995:  # so 999.99e9 reads 1T, not 1e+03G
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def legend(ax: Axes, handles: Sequence[Any] | None = None, **kwargs: Any) -> None:
    """A compact legend placed where it covers least, only when there is something to name."""
    h, labels = ax.get_legend_handles_labels()
    if handles is not None or labels:
        ax.legend(handles=handles, loc=kwargs.pop("loc", "best"), **kwargs)
