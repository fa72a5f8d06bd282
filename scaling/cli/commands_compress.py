"""`scaling compress RUN_DIR`: the compression stage on its own, on a trained sweep's run directory."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def compress(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory (with store.sqlite and sweep.yaml)"),
        set_: list[str] = typer.Option([], "--set", help="override a sweep field, e.g. stages.compress.max_configs=1"),
    ) -> None:
        """Prune, quantize and distill the selected trained configurations; resumable (re-run to continue)."""
        from scaling.cli.show import console
        from scaling.config import validate
        from scaling.errors import UserError
        from scaling.pipeline import SWEEP_FILE
        from scaling.stages import compress_stage
        from scaling.sweep.schema import SweepConfig
        from scaling.train.run import stop_on_sigint
        from scaling.yamlio import apply_overrides, load_file

        path = run_dir / SWEEP_FILE
        if not path.is_file():
            raise UserError(f"{run_dir}: no {SWEEP_FILE} here; is this a sweep's run directory?")
        sweep = validate(SweepConfig, apply_overrides(load_file(path), set_), str(path))
        out = compress_stage.run(run_dir, sweep, stop=stop_on_sigint())
        console.print(f"[bold]compress[/bold]: {out['summary']}")
        if out["interrupted"]:
            raise typer.Exit(130)
