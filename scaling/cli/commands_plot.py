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


def _conventions(run_dir: Path, overrides: list[str]) -> Any:
    """The conventions the run's fit stage uses (its sweep.yaml's stages.fit, with `--set` applied), for
    figures drawn before a fit."""
    from scaling.errors import UserError
    from scaling.fit.points import DEFAULT_CONVENTIONS, Conventions
    from scaling.yamlio import apply_overrides, load_file

    try:
        raw = load_file(run_dir / "sweep.yaml")
    except Exception:  # no or unreadable sweep.yaml: a bare store still plots with the defaults
        if overrides:
            raise UserError(f"--set: {run_dir} has no readable sweep.yaml to override") from None
        return DEFAULT_CONVENTIONS
    fit = ((apply_overrides(raw, overrides).get("stages") or {}).get("fit") or {})
    return Conventions(params=fit.get("params", "non_embedding"), compute=fit.get("compute", "6nd"),
                       loss=fit.get("loss", "val_loss"))


def _check_points_file(path: Path, laws: list[str], bootstrap: int) -> None:
    """Before anything is drawn: known laws, bootstrap >= 0, and enough rows of the CSV to fit every law."""
    from scaling import results
    from scaling.cli.fit_options import check_law
    from scaling.errors import UserError
    from scaling.fit.registry import get_law

    if bootstrap < 0:
        raise UserError(f"--bootstrap must be >= 0 (0: no intervals), got {bootstrap}")
    for name in laws:
        check_law(name)
    rows = len(results.from_csv(path))
    for name in laws or ["chinchilla"]:
        free = len(get_law(name).params)
        if rows <= free:
            raise UserError(f"{path}: {rows} row(s) cannot fit {name!r} ({free} parameters): give at least "
                            f"{free + 1} rows of N, D/C, loss")


def register(app: typer.Typer) -> None:
    @app.command()
    def plot(
        target: Path = typer.Argument(..., help="a sweep's run directory, or a CSV with columns N, D (or C), loss"),
        out: Path = typer.Option(None, "--out", help="for a CSV: where figures and report go (default: beside it)"),
        fmt: list[str] = typer.Option([], "--format", help="png and/or svg (default both)"),
        law: list[str] = typer.Option([], "--law", help="for a CSV: laws to fit (default chinchilla)"),
        bootstrap: int = typer.Option(0, "--bootstrap", help="for a CSV: bootstrap resamples for intervals"),
        no_report: bool = typer.Option(False, "--no-report", help="figures only"),
        set_: list[str] = typer.Option([], "--set", help="run dir: override its sweep.yaml's conventions, e.g. "
                                       "stages.fit.params=total"),
    ) -> None:
        """Draw a run's figures (RUN_DIR/figures) and report, or fit a CSV of points and draw the fit figures."""
        from scaling.errors import UserError
        from scaling.stages.plot_stage import plot_points_file, plot_run

        formats = _formats(fmt)
        if target.is_dir():
            result = plot_run(target, formats, report=not no_report, conventions=_conventions(target, set_))
        elif set_:
            raise UserError("--set applies to a sweep's run directory, not to a CSV of points")
        elif target.is_file():
            _check_points_file(target, law, bootstrap)
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
        set_: list[str] = typer.Option([], "--set", help="override its sweep.yaml's conventions, e.g. "
                                       "stages.fit.params=total"),
    ) -> None:
        """Write RUN_DIR/report.html (self-contained) and RUN_DIR/report.md, redrawing the figures."""
        from scaling.stages.plot_stage import plot_run

        result = plot_run(run_dir, _formats(fmt), report=True, conventions=_conventions(run_dir, set_))
        print(result["summary"])
        print(json.dumps({"report": result["report"], "markdown": result["report_md"]}))
