"""Every figure a run can have, in report order: the one list a reader opens to find what draws what.

To add a figure, write `fn(ctx: FigureContext) -> Figure` (raise `SkipFigure("why")` when its inputs are
missing) in a JAX-free module and add its `FigureSpec` here. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Iterable

from scaling.compress import plot_figures as compress_figures
from scaling.plots.figures import backtest, contours, curves, isoflop, optimal, quality, residuals
from scaling.plots.render import SECTIONS, FigureSpec

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("loss_vs_tokens", curves.loss_vs_tokens, "Loss against training tokens", "training"),
    FigureSpec("loss_vs_flops", curves.loss_vs_flops, "Loss against compute, with the compute-optimal envelope",
               "training"),
    FigureSpec("isoflop", isoflop.isoflop, "IsoFLOP profiles with the fit's parabolas"),
    FigureSpec("compute_optimal", optimal.compute_optimal, "Compute-optimal N and D against compute"),
    FigureSpec("fit_contours", contours.fit_contours, "Fitted law L(N, D) with the efficient frontier"),
    FigureSpec("residuals", residuals.residuals, "Residuals against predictions"),
    FigureSpec("backtest", backtest.backtest, "Backtest on the held-out budget"),
    FigureSpec("quality_multipliers", quality.quality_multipliers, "Effective-data multiplier per data level",
               "data"),
    FigureSpec("quality_curves", quality.quality_curves,
               "Loss against tokens at every data level, with the quality law", "data"),
    FigureSpec("compress_loss_vs_bytes", compress_figures.loss_vs_bytes, "Loss against model bytes (every method)",
               "compression"),
    FigureSpec("compress_loss_vs_sparsity", compress_figures.loss_vs_sparsity, "Loss against sparsity",
               "compression"),
    FigureSpec("compress_loss_vs_bits", compress_figures.loss_vs_bits, "Loss against weight bits", "compression"),
    FigureSpec("compress_student_vs_teacher", compress_figures.student_vs_teacher,
               "Distilled students against teachers", "compression"),
)
BY_NAME = {spec.name: spec for spec in FIGURES}
COMPRESSION_FIGURES = tuple(spec.name for spec in FIGURES if spec.section == "compression")
DATA_FIGURES = tuple(spec.name for spec in FIGURES if spec.section == "data")  # sweeps over data.quality only


def ordered_specs(names: Iterable[str] | None = None) -> list[FigureSpec]:
    """The figures in report order (by section, then as listed); `names` limits them (unknown: ValueError)."""
    if names is None:
        chosen = list(FIGURES)
    else:
        names = list(names)
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown figures {unknown}; known: {sorted(BY_NAME)}")
        chosen = [BY_NAME[n] for n in names]
    rank = {s: i for i, s in enumerate(SECTIONS)}
    order = {spec.name: i for i, spec in enumerate(FIGURES)}
    return sorted(chosen, key=lambda s: (rank[s.section], order[s.name]))
