"""The compression figures (section "compression" of `scaling.plots.registry.FIGURES`), from compress.json.

JAX-free, so `scaling plot` draws them without loading a model. Each figure skips with a reason when its rows
are absent.
"""

from __future__ import annotations

import json
from typing import Any

from matplotlib.figure import Figure

from scaling.compress import figures
from scaling.compress.settings import PRUNE_METHODS, QUANTIZE_METHODS, STUDENT_METHODS
from scaling.plots.context import FigureContext
from scaling.plots.render import SkipFigure

SUMMARY = ("compress", "compress.json")


def compression_rows(ctx: FigureContext) -> list[dict[str, Any]]:
    """The finished compression rows the stage summarised, or SkipFigure when the stage has not run."""
    path = ctx.run_dir.joinpath(*SUMMARY) if ctx.run_dir is not None else None
    if path is None or not path.is_file():
        raise SkipFigure("no compression results (RUN_DIR/compress/compress.json); run `scaling compress`")
    rows = json.loads(path.read_text()).get("rows") or []
    if not rows:
        raise SkipFigure("the compression stage has no finished jobs yet")
    return rows


def loss_vs_bytes(ctx: FigureContext) -> Figure:
    return figures.loss_vs_bytes(compression_rows(ctx))


def loss_vs_sparsity(ctx: FigureContext) -> Figure:
    rows = compression_rows(ctx)
    pruned = [r for r in rows if r["method"] in PRUNE_METHODS]
    if not pruned:
        raise SkipFigure("no pruning jobs in this compression stage")
    dense = [{**r, "sparsity": 0.0} for r in rows if r["method"] == "dense"]
    return figures.loss_vs_sparsity(dense + pruned)


def loss_vs_bits(ctx: FigureContext) -> Figure:
    rows = compression_rows(ctx)
    quantized = [r for r in rows if r["method"] in QUANTIZE_METHODS]
    if not quantized:
        raise SkipFigure("no quantization jobs in this compression stage")
    dense = [{**r, "bits": 32} for r in rows if r["method"] == "dense"]
    return figures.loss_vs_bits(dense + quantized)


def student_vs_teacher(ctx: FigureContext) -> Figure:
    students = [r for r in compression_rows(ctx) if r["method"] in STUDENT_METHODS]
    if not students:
        raise SkipFigure("no distillation jobs in this compression stage")
    return figures.student_vs_teacher(students)
