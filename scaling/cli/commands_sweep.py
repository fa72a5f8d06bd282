"""`scaling run | validate | status | export`: submit a sweep, check it, watch it, take its data out."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        sweep_file: Path = typer.Argument(..., help="the sweep's YAML file"),
        set_: list[str] = typer.Option([], "--set", help="override a field, e.g. --set budget.tokens=[1e6]"),
        run_dir: Path = typer.Option(None, "--run-dir", help="default runs/<name>"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the trials and their cost; train nothing"),
        no_stages: bool = typer.Option(False, "--no-stages", help="train only; skip fit/plot/compress"),
    ) -> None:
        """Train every trial of a sweep (re-running resumes), then fit, plot and compress as it asks."""
        from scaling import pipeline
        from scaling.cli.show import print_pipeline_result, print_plan

        if dry_run:
            plan, directory = pipeline.prepare(sweep_file, set_, run_dir)
            print_plan(plan, directory)
            return
        from scaling.train.run import stop_on_sigint

        result = pipeline.run_pipeline(sweep_file, set_, run_dir=run_dir, stop=stop_on_sigint(), stages=not no_stages)
        print_pipeline_result(result)
        if result.interrupted:
            raise typer.Exit(130)

    @app.command()
    def validate(
        sweep_file: Path = typer.Argument(..., help="the sweep's YAML file"),
        set_: list[str] = typer.Option([], "--set"),
    ) -> None:
        """Print the resolved trials of a sweep file, or what is wrong with it."""
        from scaling import pipeline
        from scaling.cli.show import print_plan

        plan, directory = pipeline.prepare(sweep_file, set_)
        print_plan(plan, directory)

    @app.command()
    def status(run_dir: Path = typer.Argument(..., help="a sweep's run directory")) -> None:
        """What ran, what failed, what is left."""
        from scaling.cli.show import print_status
        from scaling.errors import UserError
        from scaling.sweep.store import STORE_NAME, Store

        if not (run_dir / STORE_NAME).is_file():
            raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run `scaling run SWEEP.yaml` first")
        store = Store(run_dir / STORE_NAME)
        print_status(store, run_dir)
        store.close()

    @app.command()
    def export(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory"),
        fmt: str = typer.Option("csv", "--format", help="csv or parquet"),
        out: Path = typer.Option(None, "--out", help="default RUN_DIR/export"),
    ) -> None:
        """Write the store's trials and metrics as CSV or Parquet."""
        from scaling.errors import UserError
        from scaling.sweep.store import STORE_NAME, Store

        if fmt not in ("csv", "parquet"):
            raise UserError(f"--format {fmt!r}: valid formats are csv and parquet")
        if not (run_dir / STORE_NAME).is_file():
            raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME})")
        store = Store(run_dir / STORE_NAME)
        paths = store.export(out or run_dir / "export", fmt)
        store.close()
        print(json.dumps([str(p) for p in paths]))
