"""`scaling train CONFIG.yaml [--set k=v ...]`: one training run."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Path = typer.Argument(..., help="a run's YAML file"),
        set_: list[str] = typer.Option([], "--set", help="override a field, e.g. --set optimizer.lr=1e-3"),
        run_dir: Path = typer.Option(None, "--run-dir", help="where outputs go (default runs/<name>)"),
    ) -> None:
        """Train one model; metrics, TensorBoard events and checkpoints go under the run directory."""
        from scaling.config import load_train_config

        cfg = load_train_config(config, set_)
        from scaling.cli.outcome import finish, of_training
        from scaling.train.run import run_training_cli

        result = run_training_cli(cfg, run_dir or Path("runs") / cfg.name)
        finish(of_training(result))
