"""`scaling plot RUN_DIR|FILE` and `scaling report RUN_DIR`: figures (PNG/SVG) and an HTML/Markdown report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

FORMATS = ("png", "svg")


def _formats(values: list[str]) -> list[str]:
    from scaling.errors import UserError

    bad = [v for v in values if v not in FORMATS]
    if bad:
        raise UserError(f"--format {bad[0]!r}: valid formats are {', '.join(FORMATS)}")
    return values or list(FORMATS)


def _conventions(run_dir: Path) -> Any:
    """The conventions the run's fit stage uses (its sweep.yaml's stages.fit), for figures drawn before a fit."""
    from scaling.fit.points import DEFAULT_CONVENTIONS, Conventions
    from scaling.yamlio import load_file

    try:
        fit = ((load_file(run_dir / "sweep.yaml").get("stages") or {}).get("fit") or {})
    except Exception:  # no or unreadable sweep.yaml: a bare store still plots with the defaults
        return DEFAULT_CONVENTIONS
    return Conventions(params=fit.get("params", "non_embedding"), compute=fit.get("compute", "6nd"),
                       loss=fit.get("loss", "val_loss"))


def register(app: typer.Typer) -> None:
    @app.command()
    def plot(
        target: Path = typer.Argument(..., help="a sweep's run directory, or a CSV with columns N, D (or C), loss"),
        out: Path = typer.Option(None, "--out", help="for a CSV: where figures and report go (default: beside it)"),
        fmt: list[str] = typer.Option([], "--format", help="png and/or svg (default both)"),
        law: list[str] = typer.Option([], "--law", help="for a CSV: laws to fit (default chinchilla)"),
        bootstrap: int = typer.Option(0, "--bootstrap", help="for a CSV: bootstrap resamples for intervals"),
        no_report: bool = typer.Option(False, "--no-report", help="figures only"),
    ) -> None:
        """Draw a run's figures (RUN_DIR/figures) and report, or fit a CSV of points and draw the fit figures."""
        from scaling.errors import UserError
        from scaling.stages.plot_stage import plot_points_file, plot_run

        formats = _formats(fmt)
        if target.is_dir():
            result = plot_run(target, formats, report=not no_report, conventions=_conventions(target))
        elif target.is_file():
            result = plot_points_file(target, out or target.parent / f"{target.stem}_plots", formats,
                                      report=not no_report, laws=law or None, bootstrap=bootstrap)
        else:
            raise UserError(f"{target}: no such run directory or file")
        print(result["summary"])
        print(json.dumps({"figures": result["figures"], "report": result["report"]}))

    @app.command()
    def report(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory"),
        fmt: list[str] = typer.Option([], "--format", help="png and/or svg figure files (default both)"),
    ) -> None:
        """Write RUN_DIR/report.html (self-contained) and RUN_DIR/report.md, redrawing the figures."""
        from scaling.stages.plot_stage import plot_run

        result = plot_run(run_dir, _formats(fmt), report=True, conventions=_conventions(run_dir))
        print(result["summary"])
        print(json.dumps({"report": result["report"], "markdown": result["report_md"]}))
