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
        from scaling.cli.outcome import finish, of_compress
        from scaling.cli.show import console
        from scaling.errors import UserError
        from scaling.pipeline import SWEEP_FILE
        from scaling.stages import compress_stage
        from scaling.sweep.plan import load_sweep
        from scaling.train.run import stop_on_sigint

        path = run_dir / SWEEP_FILE
        if not path.is_file():
            raise UserError(f"{run_dir}: no {SWEEP_FILE} here; is this a sweep's run directory?")
        sweep, _raw = load_sweep(path, set_)  # sweep.yaml keeps its axes; the stage reads their first values
        out = compress_stage.run(run_dir, sweep, stop=stop_on_sigint())
        console.print(f"[bold]compress[/bold]: {out['summary']}")
        finish(of_compress(out))
