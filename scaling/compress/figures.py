"""Compression figures from plain data (lists of dicts), each returning a matplotlib Figure
(pyplot-free, in the house style of scaling.plots).

loss against stored bytes for every method with the Pareto front, loss against sparsity, loss against bits,
and distilled students against their plain twins and teachers. No store or JAX here: a caller with the rows
(the stage, a notebook, the plots registry) draws them. Legend words and markers come from the `METHODS` table.

Rows labelled by scaling.compress.noise with `delta_significant = False` are drawn hollow and left out of the
lines (a change inside the noise is not a trend); each compressed point carries a +/-2 sigma bar and each
configuration a shaded band of +/-2 sigma (its median delta noise) around its dense loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure

from scaling.compress.noise import NO_CHANGE, SIGMAS
from scaling.compress.settings import MARKERS, PRUNE_METHODS, QUANTIZE_METHODS, STUDENT_METHODS, method_label
from scaling.plots.style import new_figure

YLABEL = "validation loss (the stage's fixed evaluation batches)"


def _quiet(r: dict[str, Any]) -> bool:
    """True for a row whose delta is inside the noise (measured and not significant)."""
    return r.get("delta_significant") is False


def _noise_legend(ax: Any, hollow: bool, band: bool) -> None:
    """Legend entries for the hollow markers and the band, only when drawn."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    if hollow:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="k"))
        labels.append(f"hollow: within {SIGMAS:g} sigma of dense ({NO_CHANGE})")
    if band:
        handles.append(Patch(color="grey", alpha=0.2))
        labels.append(f"dense +/- {SIGMAS:g} sigma (median delta noise)")
    ax.legend(handles, labels, fontsize=7)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (size, loss) points no other point beats on both: smaller and lower."""
    front, best = [], float("inf")
    for size, loss in sorted(points):
        if loss < best:
            front.append((size, loss))
            best = loss
    return front


def loss_vs_bytes(rows: Sequence[dict[str, Any]]) -> Figure:
    """Every compressed model: validation loss against bytes as stored, by method, with the Pareto front."""
    fig, ax = new_figure(width=6.0, height=4.2)
    hollow = False
    for i, method in enumerate(sorted({r["method"] for r in rows})):
        sel = [r for r in rows if r["method"] == method]
        loud, quiet = [r for r in sel if not _quiet(r)], [r for r in sel if _quiet(r)]
        marker, size, color = MARKERS.get(method, "o"), 60 if method == "dense" else 30, f"C{i % 10}"
        if loud:
            ax.scatter([r["bytes"] for r in loud], [r["val_loss"] for r in loud], marker=marker, color=color,
                       label=method_label(method), s=size)
        if quiet:
            hollow = True
            ax.scatter([r["bytes"] for r in quiet], [r["val_loss"] for r in quiet], marker=marker, s=size,
                       facecolors="none", edgecolors=color, label=None if loud else method_label(method))
    front = pareto_front([(r["bytes"], r["val_loss"]) for r in rows])
    if front:
        ax.step(*zip(*front, strict=True), where="post", color="k", lw=1, alpha=0.6, label="Pareto front")
    ax.set(xscale="log", xlabel="model size as stored (bytes)", ylabel=YLABEL,
           title="Compression: loss against model bytes")
    _noise_legend(ax, hollow, band=False)
    return fig


def _by_source(ax: Any, rows: Sequence[dict[str, Any]], x: str, methods: Sequence[str]) -> None:
    """Per configuration and method: a line through the dense point and the changes outside the noise, hollow
    markers for those inside it, +/-2 sigma bars, and the configuration's noise band around its dense loss."""
    import numpy as np

    hollow = band = False
    for source in sorted({r["source_label"] for r in rows}):
        dense = next((r for r in rows if r["source_label"] == source and r["method"] == "dense"), None)
        color = None
        for method in methods:
            sel = sorted((r for r in rows if r["source_label"] == source and r["method"] == method),
                         key=lambda r: r[x])
            if not sel:
                continue
            trend = sorted(([dense] if dense is not None else []) + [r for r in sel if not _quiet(r)],
                           key=lambda r: r[x])
            marker = MARKERS.get(method, "o")
            (line,) = ax.plot([r[x] for r in trend], [r["val_loss"] for r in trend], marker=marker,
                              label=f"{source} {method_label(method)}")
            color = color or line.get_color()
            quiet = [r for r in sel if _quiet(r)]
            if quiet:
                hollow = True
                ax.scatter([r[x] for r in quiet], [r["val_loss"] for r in quiet], marker=marker, s=40,
                           facecolors="none", edgecolors=line.get_color(), zorder=3)
            bars = [r for r in sel if r.get("noise") is not None]
            if bars:
                ax.errorbar([r[x] for r in bars], [r["val_loss"] for r in bars],
                            yerr=[SIGMAS * r["noise"] for r in bars], fmt="none", ecolor=line.get_color(),
                            alpha=0.6, lw=0.8)
        sigmas = [r["noise"] for r in rows if r["source_label"] == source and r.get("noise") is not None]
        if dense is not None and sigmas:
            band = True
            half = SIGMAS * float(np.median(sigmas))
            ax.axhspan(dense["val_loss"] - half, dense["val_loss"] + half, color=color or "grey", alpha=0.15, lw=0)
    _noise_legend(ax, hollow, band)


def loss_vs_sparsity(rows: Sequence[dict[str, Any]], curve: Callable[[Any, str], Any] | None = None) -> Figure:
    """Loss against sparsity per configuration and pruning method (rows with method "dense" at S = 0);
    `curve(s, source)`, when given, draws a fitted law's prediction for that configuration."""
    import numpy as np

    fig, ax = new_figure(width=5.6, height=4.0)
    if curve is not None:
        s = np.linspace(0, 0.95, 50)
        for source in sorted({r["source_label"] for r in rows}):
            ax.plot(s, curve(s, source), ls="--", lw=1, color="grey")
    _by_source(ax, rows, "sparsity", PRUNE_METHODS)
    ax.set(xlabel="sparsity of the prunable matrices", ylabel=YLABEL, title="Loss against sparsity")
    return fig


def loss_vs_bits(rows: Sequence[dict[str, Any]]) -> Figure:
    """Loss against weight bits per configuration (PTQ, PTQ with quantized activations, QAT); rows with method
    "dense" are the float model, drawn at their `bits` (32 by the caller)."""
    fig, ax = new_figure(width=5.6, height=4.0)
    _by_source(ax, rows, "bits", QUANTIZE_METHODS)
    ax.set(xlabel="weight bits", ylabel=YLABEL, title="Loss against weight bits")
    ax.invert_xaxis()
    return fig


def student_vs_teacher(rows: Sequence[dict[str, Any]]) -> Figure:
    """Each student's loss (distilled and its plain twin, same tokens) against its teacher's loss."""
    fig, ax = new_figure(width=5.2, height=4.2)
    for objective in STUDENT_METHODS:
        sel = [r for r in rows if r["method"] == objective]
        ax.scatter([r["base_loss"] for r in sel], [r["val_loss"] for r in sel], marker=MARKERS[objective], s=50,
                   label=method_label(objective))
        for r in sel:
            ax.annotate(r.get("student", ""), (r["base_loss"], r["val_loss"]), fontsize=7)
    lims = [min([r["base_loss"] for r in rows] + [r["val_loss"] for r in rows] or [0]),
            max([r["base_loss"] for r in rows] + [r["val_loss"] for r in rows] or [1])]
    ax.plot(lims, lims, color="grey", lw=1, ls=":", label="student = teacher")
    ax.set(xlabel="teacher validation loss", ylabel="student validation loss", title="Students against teachers")
    ax.legend(fontsize=8)
    return fig
