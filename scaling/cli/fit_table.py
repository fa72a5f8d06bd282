"""`scaling fit FILE` and `scaling suggest FILE`: a results table's columns, and a fit printed as a table.

numpy/scipy only (no JAX): an analyst with a CSV fits in a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def columns(path: Path, law_name: str, opts: dict[str, str | None], extra: list[str]) -> dict[str, Any]:
    """Read the table and pick the law's input columns.

    Each input the law needs comes from its option (--n, --d, ...) or, by default, the column of that name.
    D may instead come from C (D = C/(6N)) and C from N and D (C = 6ND). Inputs other than n, d, c, u, x come
    from --col NAME=COLUMN or a column of that name.
    """
    from scaling.errors import UserError
    from scaling.fit.io import column, read_table
    from scaling.fit.registry import get_law

    table = finished_train_rows(read_table(path), path)
    law = get_law(law_name)
    needed = set(law.inputs)
    names: dict[str, str] = {"loss": opts.get("loss") or "loss"}
    picked: dict[str, Any] = {"loss": column(table, names["loss"], option="--loss", source=path)}

    def take(key: str, required: bool) -> None:
        name = opts.get(key) or key
        if opts.get(key) is None and not required and name not in table:
            return
        picked[key] = column(table, name, option=f"--{key}", source=path)
        names[key] = name

    standard = ("n", "d", "c", "u", "x")
    for key in standard:
        if opts.get(key) is not None:
            take(key, True)
    if "n" in needed or "c" in needed:
        take("n", "n" in needed)
    if "d" in needed and "d" not in picked:
        take("d", False)
        if "d" not in picked:
            take("c", False)
            if "c" not in picked:
                raise UserError(
                    f"law {law.name!r} needs tokens D: {path} has no column 'd' or 'c' (give --d COL, or --c COL "
                    f"for D = C/(6N)); columns are: {', '.join(table)}"
                )
    if "c" in needed and "c" not in picked:
        take("c", False)
        if "c" not in picked:
            take("d", True)  # C = 6ND
    for key in ("u", "x"):
        if key in needed and key not in picked:
            take(key, True)
    columns: dict[str, Any] = {}
    for item in extra:
        if "=" not in item:
            raise UserError(f"--col expects NAME=COLUMN (a law input and the table's column), got {item!r}")
        key, name = (part.strip() for part in item.split("=", 1))
        columns[key] = column(table, name, option=f"--col {key}", source=path)
        names[key] = name
    for key in sorted(needed - set(standard) - set(columns)):
        columns[key] = column(table, key, option=f"--col {key}=COLUMN", source=path)
        names[key] = key
    return {"cols": picked, "columns": columns, "names": names, "table": table}


def print_fit(result: Any) -> None:
    """A readable rich table of parameters (with intervals), derived quantities and the fit's facts."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = f"{result.law} fit ({result.method}) on {result.n_points} points"
    table = Table(title=title, show_lines=False)
    table.add_column("quantity")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("std. error", justify="right")
    rows = list(result.params.items())
    rows += [(k, v) for k, v in result.derived.items()]
    for name, value in rows:
        iv = result.intervals.get(name)
        se = result.standard_errors.get(name)
        table.add_row(name, f"{value:.6g}", f"[{iv[0]:.4g}, {iv[1]:.4g}]" if iv else "-", f"{se:.3g}" if se else "-")
    console.print(table)
    facts = {
        "objective": f"{result.objective:.8g}",
        "converged": f"{result.converged} ({result.message})",
        "gradient norm": f"{result.grad_norm:.3g}",
        "starts at best": f"{result.n_at_best} of {result.n_starts}",
    }
    if result.target_flops:
        facts["derived at"] = f"C = {result.target_flops:.3g} FLOPs"
    facts.update(result.conventions)
    if result.backtest:
        bt = result.backtest
        facts["backtest"] = (
            f"held out {len(bt['holdout_budgets'])} budget(s), {bt['n_holdout']} points: mean |rel. error| "
            f"{bt['mean_abs_relative_error']:.3%}, max {bt['max_abs_relative_error']:.3%}"
        )
    for k, v in facts.items():
        console.print(f"  [bold]{k}[/bold]: {v}")


def finished_train_rows(table: dict[str, Any], path: Path) -> dict[str, Any]:
    """A sweep's exported trials table (`scaling export`) cut to its finished train rows, with a note.

    The export also holds compression rows and failed or unfinished trials, whose N or loss is empty (NaN);
    they are not points of a scaling law. Any other table passes through unchanged.
    """
    import numpy as np

    if not {"kind", "status"} <= set(table) or table["kind"].dtype != object:
        return table
    keep = (table["kind"] == "train") & (table["status"] == "done")
    print(f"note: {path} is a sweep's trials export: using its {int(keep.sum())} finished train rows of "
          f"{len(keep)}", file=sys.stderr)
    return {name: np.asarray(values)[keep] for name, values in table.items()}


def print_suggestion(result: Any) -> None:
    """The proposed trials as a rich table, after one line of the target, the next budget and current widths."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    base = result.baseline.get("widths_95", {})
    console.print(
        f"target C = {result.target_flops:.3g} FLOPs; next budget C = {result.next_flops:.3g} FLOPs; "
        f"current 95% widths: loss {base.get('loss_at_target', float('nan')):.4g}, "
        f"ln N_opt {base.get('N_opt', float('nan')):.3g}"
    )
    table = Table(title="proposed trials (greedy, each given the ones above)")
    hyper = [k for k in ("lr", "batch_size") if result.trials and k in result.trials[0]]
    for h in ("N", "D", "D/N", "FLOPs", "pred. loss", "loss interval", "N_opt interval", "total FLOPs", *hyper):
        table.add_column(h, justify="right")
    for t in result.trials:
        table.add_row(
            f"{t['N']:.3g}", f"{t['D']:.3g}", f"{t['tokens_per_param']:.3g}", f"{t['flops']:.3g}",
            f"{t['predicted_loss']:.4f}", f"{-t['shrink_loss_interval']:+.1%}",
            f"{-t['shrink_N_opt_interval']:+.1%}", f"{t['cumulative_flops']:.3g}", *(f"{t[k]:.3g}" for k in hyper),
        )
    console.print(table)
    if "hyperparameters" in result.procedure:
        console.print(f"hyperparameters from the sweep's laws: {result.procedure['hyperparameters']}")
