"""`scaling train`: one run with its run directory (resolved config, metrics.jsonl, TensorBoard, checkpoints)."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from scaling.config import TrainConfig
from scaling.train.loop import TrainResult, train
from scaling.train.metrics import JsonlSink, TensorBoardSink
from scaling.train.signals import stop_on_signals


def write_resolved_config(cfg: TrainConfig, path: Path) -> None:
    """The config as it ran (presets expanded, defaults filled), so a run can be reproduced from its folder."""
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def stop_on_sigint() -> threading.Event:
    """First Ctrl-C (or SIGTERM) asks the loop to checkpoint and stop; a second one interrupts at once
    (`scaling run`, `scaling train`; see `stop_on_signals`)."""
    return stop_on_signals()


def run_training_cli(cfg: TrainConfig, run_dir: Path) -> TrainResult:
    """Train, then print the loss curve's summary."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_resolved_config(cfg, run_dir / "config.yaml")
    sinks = [JsonlSink(run_dir / "metrics.jsonl"), TensorBoardSink(run_dir / "tb")]
    try:
        result = train(cfg, run_dir, sinks=sinks, stop=stop_on_sigint())
    finally:
        for sink in sinks:
            sink.close()
    print_summary(result, run_dir)
    return result


def print_summary(result: TrainResult, run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {run_dir}", show_header=False)
    rows = [
        ("status", result.status + (f" ({result.reason})" if result.reason else "")),
        ("steps / tokens", f"{result.steps} / {result.tokens:,}"),
        ("parameters", f"{result.params['total']:,} total, {result.params['non_embedding']:,} non-embedding"),
        ("train loss", f"{result.train_loss:.4f}" if result.train_loss is not None else "-"),
        ("validation loss", f"{result.val_loss:.4f}" if result.val_loss is not None else "-"),
        ("tokens/s", f"{result.tokens_per_s:,.0f}" if result.tokens_per_s else "-"),
        ("MFU", f"{result.mfu:.1%}" if result.mfu else "-"),
        ("compile", f"{result.compile_s:.1f} s"),
        ("resumed from step", str(result.resumed_from) if result.resumed_from is not None else "-"),
        ("epochs of data", f"{result.data.get('epochs', float('nan')):.3f}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)
