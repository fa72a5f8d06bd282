"""Compression figures from plain data (lists of dicts), each returning a matplotlib Figure
(pyplot-free, in the house style of scaling.plots).

loss against stored bytes for every method with the Pareto front, loss against sparsity, loss against bits,
and distilled students against their plain twins and teachers. No store or JAX here: a caller with the rows
(the stage, a notebook, the plots registry) draws them. Legend words and markers come from the `METHODS` table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure

from scaling.compress.settings import MARKERS, PRUNE_METHODS, QUANTIZE_METHODS, STUDENT_METHODS, method_label
from scaling.plots.style import new_figure


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
    for method in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == method]
        ax.scatter([r["bytes"] for r in sel], [r["val_loss"] for r in sel], marker=MARKERS.get(method, "o"),
                   label=method_label(method), s=60 if method == "dense" else 30)
    front = pareto_front([(r["bytes"], r["val_loss"]) for r in rows])
    if front:
        ax.step(*zip(*front, strict=True), where="post", color="k", lw=1, alpha=0.6, label="Pareto front")
    ax.set(xscale="log", xlabel="model size as stored (bytes)", ylabel="validation loss",
           title="Compression: loss against model bytes")
    ax.legend(fontsize=8)
    return fig


def _by_source(ax: Any, rows: Sequence[dict[str, Any]], x: str, methods: Sequence[str]) -> None:
    for source in sorted({r["source_label"] for r in rows}):
        for method in methods:
            sel = sorted((r for r in rows if r["source_label"] == source and r["method"] == method),
                         key=lambda r: r[x])
            if sel:
                ax.plot([r[x] for r in sel], [r["val_loss"] for r in sel], marker=MARKERS.get(method, "o"),
                        label=f"{source} {method_label(method)}")


def loss_vs_sparsity(rows: Sequence[dict[str, Any]], curve: Callable[[Any, str], Any] | None = None) -> Figure:
    """Loss against sparsity per configuration and pruning method (dense at 0); `curve(s, source)`, when
    given, draws a fitted law's prediction for that configuration."""
    import numpy as np

    fig, ax = new_figure(width=5.6, height=4.0)
    _by_source(ax, rows, "sparsity", PRUNE_METHODS)
    if curve is not None:
        s = np.linspace(0, 0.95, 50)
        for source in sorted({r["source_label"] for r in rows}):
            ax.plot(s, curve(s, source), ls="--", lw=1, color="grey")
    ax.set(xlabel="sparsity of the prunable matrices", ylabel="validation loss", title="Loss against sparsity")
    ax.legend(fontsize=8)
    return fig


def loss_vs_bits(rows: Sequence[dict[str, Any]]) -> Figure:
    """Loss against weight bits per configuration (PTQ, PTQ with quantized activations, QAT), the float model
    drawn at 32 bits."""
    fig, ax = new_figure(width=5.6, height=4.0)
    _by_source(ax, rows, "bits", QUANTIZE_METHODS)
    ax.set(xlabel="weight bits", ylabel="validation loss", title="Loss against weight bits")
    ax.invert_xaxis()
    ax.legend(fontsize=8)
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
