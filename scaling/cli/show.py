"""Rich tables for the CLI: a sweep's plan, its status, a pipeline's outcome."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from scaling.sweep.plan import SweepPlan, describe_plan, effective_flops, format_duration, plan_warnings
from scaling.sweep.store import Store

console = Console()


def _si(x: float) -> str:
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def print_plan(plan: SweepPlan, run_dir: Path) -> None:
    rows = describe_plan(plan)
    table = Table(title=f"sweep {plan.sweep.name}: {len(rows)} trials -> {run_dir}")
    repeated = any(r["epochs"] is not None for r in rows)  # data.unique_tokens: say each trial's epochs
    for col in ("id", "label", "N (non-emb)", "tokens", "steps", "FLOPs", "branch of @ step", "est."):
        table.add_column(col)
    if repeated:
        table.add_column("epochs")
    for r in rows:
        branch = f"{r['branch_of']} @ {r['branch_step']}" if r["branch_of"] else ""
        epochs = [f"{r['epochs']:.3g}" if r["epochs"] is not None else "-"] if repeated else []
        table.add_row(r["id"], r["label"], _si(r["params_non_embedding"]), _si(r["tokens"]), str(r["steps"]),
                      _si(r["flops"]), branch, format_duration(r["est_s"]), *epochs)
    console.print(table)
    spent, separate = effective_flops(plan)
    total_s = sum(r["est_s"] for r in rows)
    console.print(f"training FLOPs {_si(spent)} (separate runs: {_si(separate)}; WSD branching saves "
                  f"{1 - spent / separate:.0%}); estimated {format_duration(total_s)} at "
                  f"{plan.flops_per_s:.3g} FLOP/s ({plan.rate_note})")
    for warning in plan_warnings(plan):
        console.print(f"warning: {warning}")


def print_status(store: Store, run_dir: Path, retired: bool = False) -> None:
    trials = store.trials(retired=retired)
    table = Table(title=f"{run_dir}: {len(trials)} trials")
    for col in ("id", "label", "status", "attempt", "tokens", "train loss", "val loss", "note"):
        table.add_column(col)
    for t in trials:
        note = (t.error or "").strip().splitlines()[-1][:60] if t.error else ""
        table.add_row(t.id, t.label, t.status, str(t.attempt), _si(t.tokens) if t.tokens else "-",
                      f"{t.train_loss:.4f}" if t.train_loss is not None else "-",
                      f"{t.val_loss:.4f}" if t.val_loss is not None else "-", note)
    console.print(table)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    versions = store.fit_versions()
    latest = versions[-1]["version"] if versions else None
    for fit in store.fits(version=latest) if latest is not None else store.fits():
        console.print(f"fit {fit['law']}: {fit['result'].get('params')}")
    if versions:
        console.print(f"fit version {latest} of {len(versions)} (`scaling fit {run_dir} --list` shows them all)")


def print_pipeline_result(result) -> None:
    console.print(f"run directory: {result.run_dir}")
    console.print("trials: " + ", ".join(f"{k} {v}" for k, v in sorted(result.trials.items())))
    if result.interrupted:
        console.print("interrupted: re-run the same command to resume")
    for stage, out in result.stages.items():
        console.print(f"[bold]{stage}[/bold]: {out.get('summary', out) if isinstance(out, dict) else out}")
