"""The plot stage: every registered figure of a run (PNG/SVG under RUN_DIR/figures) and its report (HTML + MD).

Missing inputs (no fit.json yet, one or two trials, no IsoFLOP budget) skip the figures that need them, with a
note in the report; the stage itself never fails on them. `plot_points_file` does the same for a CSV of points.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scaling.errors import UserError
from scaling.fit.points import DEFAULT_CONVENTIONS, Conventions
from scaling.sweep.schema import FitStageConfig, PlotStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME

FIGURES_DIR = "figures"


def run(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    """Draw the run's figures and write its report as the sweep's `stages.plot` asks."""
    from scaling.stages.fit_stage import conventions_of

    cfg = sweep.stages.plot or PlotStageConfig()
    conventions = conventions_of(sweep.stages.fit or FitStageConfig())
    return plot_run(Path(run_dir), formats=cfg.formats, report=cfg.report, conventions=conventions,
                    title=f"Sweep {sweep.name}")


def plot_run(run_dir: Path, formats: Iterable[str] = ("png", "svg"), report: bool = True,
             conventions: Conventions = DEFAULT_CONVENTIONS, title: str | None = None, strict: bool = False
             ) -> dict[str, Any]:
    """Figures under RUN_DIR/figures and RUN_DIR/report.{html,md}; UserError when RUN_DIR has no store.

    The figures follow the fit report's conventions; `conventions` applies only before the fit stage has run.
    """
    from scaling.plots.context import FigureContext
    from scaling.plots.render import render_figures
    from scaling.plots.report import write_report

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    if not (run_dir / STORE_NAME).is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run `scaling run SWEEP.yaml` first")
    ctx = FigureContext.from_run_dir(run_dir, conventions)
    try:
        rendered = render_figures(ctx, run_dir / FIGURES_DIR, formats, strict=strict)
        paths = write_report(ctx, rendered, run_dir, title or f"Run {run_dir.name}") if report else None
    finally:
        ctx.close()
    return _outcome(rendered, paths)


def plot_points_file(path: Path, out_dir: Path, formats: Iterable[str] = ("png", "svg"), report: bool = True,
                     laws: list[str] | None = None, bootstrap: int = 0, strict: bool = False) -> dict[str, Any]:
    """Fit the points of a CSV (N, D or C, loss) with the fit stage's own routine and draw the fit figures and a
    report into `out_dir`."""
    from scaling import results
    from scaling.plots.context import FigureContext
    from scaling.plots.render import render_figures
    from scaling.plots.report import write_report
    from scaling.stages.fit_stage import fit_table

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (give a run directory or a CSV of N, D/C, loss)")
    table = results.from_csv(path)
    fit_report = fit_table(table, FitStageConfig(laws=laws or ["chinchilla"], bootstrap=bootstrap))
    ctx = FigureContext(run_dir=None, store=None, report=fit_report, table=table)
    out_dir = Path(out_dir)
    rendered = render_figures(ctx, out_dir / FIGURES_DIR, formats, strict=strict)
    paths = write_report(ctx, rendered, out_dir, f"Fit of {path.name}") if report else None
    return _outcome(rendered, paths)


def _outcome(rendered: list[Any], paths: tuple[Path, Path] | None) -> dict[str, Any]:
    figures = [str(p) for r in rendered for p in r.paths]
    drawn = [r.name for r in rendered if r.ok]
    skipped = {r.name: r.note for r in rendered if not r.ok}
    summary = f"{len(drawn)} figures ({', '.join(drawn) or 'none'})"
    if skipped:
        summary += f"; skipped {len(skipped)}: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    if paths:
        summary += f"; report {paths[0]}"
    return {"summary": summary, "figures": figures, "report": str(paths[0]) if paths else None,
            "report_md": str(paths[1]) if paths else None, "skipped": skipped}
