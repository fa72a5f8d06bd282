"""`scaling fit FILE|RUN_DIR` and `scaling suggest FILE|RUN_DIR`: fit a law to a results table; propose next trials.

The fitting library is imported inside the commands (numpy/scipy only), so these never load JAX.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

METHOD_HELP = "huber-grid (summed Huber, multi-start L-BFGS over Hoffmann's grid), varpro, or ml"


def _columns(path: Path, law_name: str, opts: dict[str, str | None], extra: list[str]) -> dict[str, Any]:
    """Read the table and pick the law's input columns.

    Each input the law needs comes from its option (--n, --d, ...) or, by default, the column of that name.
    D may instead come from C (D = C/(6N)) and C from N and D (C = 6ND). Inputs other than n, d, c, u, x come
    from --col NAME=COLUMN or a column of that name.
    """
    from scaling.errors import UserError
    from scaling.fit.io import column, read_table
    from scaling.fit.registry import get_law

    table = read_table(path)
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


def _print_fit(result: Any) -> None:
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


def _fit_run_dir(run_dir: Path, law: str, method: str, bootstrap: int, seed: int, as_json: bool) -> None:
    """A sweep's run directory: run its fit stage (this law, method and bootstrap) and rewrite fit.json."""
    from scaling.pipeline import load_run_sweep
    from scaling.stages import fit_stage
    from scaling.sweep.schema import FitStageConfig

    sweep = load_run_sweep(run_dir)
    base = sweep.stages.fit or FitStageConfig()
    cfg = base.model_copy(update={"laws": [law], "method": method, "bootstrap": bootstrap, "seed": seed})
    out = fit_stage.run(run_dir, sweep.model_copy(update={"stages": sweep.stages.model_copy(update={"fit": cfg})}))
    if as_json:
        print(json.dumps(json.loads(Path(out["path"]).read_text())["laws"].get(law, {"errors": out["errors"]})))
    else:
        print(out["summary"])
        print(f"written: {out['path']}")


def register(app: typer.Typer) -> None:
    @app.command()
    def fit(
        source: Path = typer.Argument(..., help="a CSV or Parquet file, or a run directory with results.csv"),
        law: str = typer.Option("chinchilla", "--law", help="a registered law (chinchilla, kaplan_nd, ...)"),
        n: str = typer.Option(None, "--n", help="column of parameters N (default 'n')"),
        d: str = typer.Option(None, "--d", help="column of tokens D (default 'd'; else D = C/(6N) from --c)"),
        c: str = typer.Option(None, "--c", help="column of compute C in FLOPs"),
        u: str = typer.Option(None, "--u", help="column of unique tokens U (data-constrained law)"),
        x: str = typer.Option(None, "--x", help="column of x (power laws)"),
        loss: str = typer.Option("loss", "--loss", help="column of losses"),
        col: list[str] = typer.Option([], "--col", help="another law input, NAME=COLUMN (repeatable)"),
        method: str = typer.Option("huber-grid", "--method", help=METHOD_HELP),
        bootstrap: int = typer.Option(0, "--bootstrap", help="bootstrap resamples for 95% intervals (0: none)"),
        seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
        group: str = typer.Option(None, "--group", help="column naming each point's run: resample whole runs"),
        holdout: int = typer.Option(0, "--holdout", help="also backtest: fit without the K largest budgets"),
        target_flops: float = typer.Option(None, "--target-flops", help="compute for derived quantities"),
        delta: float = typer.Option(1e-3, "--delta", help="Huber delta on log residuals"),
        tied: bool = typer.Option(False, "--tied", help="one exponent for N and D (chinchilla, muennighoff)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
    ) -> None:
        """Fit a scaling law to a results table; --json prints params, intervals, objective and conventions."""
        from scaling.errors import UserError
        from scaling.fit.api import fit_problem
        from scaling.fit.backtest import backtest_problem
        from scaling.fit.inputs import build_problem
        from scaling.fit.registry import get_law

        if bootstrap < 0:
            raise UserError(f"--bootstrap must be >= 0, got {bootstrap}")
        if source.is_dir() and (source / "store.sqlite").is_file():
            _fit_run_dir(source, law, method, bootstrap, seed, as_json)
            return
        if holdout < 0:
            raise UserError(f"--holdout must be >= 0, got {holdout}")
        law_obj = get_law(law)
        if tied:
            law_obj = law_obj.configure(tied=True)
        picked = _columns(source, law_obj.name, {"n": n, "d": d, "c": c, "u": u, "x": x, "loss": loss}, col)
        groups = None
        if group:
            from scaling.fit.io import column

            groups = column(picked["table"], group, option="--group", source=source)
        cols = picked["cols"]
        problem = build_problem(
            law_obj, loss=cols["loss"], n=cols.get("n"), d=cols.get("d"), c=cols.get("c"), u=cols.get("u"),
            x=cols.get("x"), groups=groups, delta=delta, names=picked["names"], columns=picked["columns"],
        )
        result = fit_problem(problem, method=method, bootstrap=bootstrap, seed=seed, target_flops=target_flops)
        if holdout:
            bt = backtest_problem(problem, holdout=holdout, method=method, target_flops=target_flops)
            result.backtest = bt.to_dict()
        if as_json:
            print(json.dumps(result.to_dict()))
        else:
            _print_fit(result)

    @app.command()
    def suggest(
        source: Path = typer.Argument(..., help="a CSV or Parquet file, or a run directory with results.csv"),
        target_flops: float = typer.Option(..., "--target-flops", help="the compute you will eventually spend"),
        next_flops: float = typer.Option(None, "--next-flops", help="budget of the next trials (default: next step)"),
        law: str = typer.Option("chinchilla", "--law", help="chinchilla or chinchilla_tied"),
        n: str = typer.Option(None, "--n", help="column of parameters N (default 'n')"),
        d: str = typer.Option(None, "--d", help="column of tokens D (default 'd'; else D = C/(6N) from --c)"),
        c: str = typer.Option(None, "--c", help="column of compute C in FLOPs"),
        loss: str = typer.Option("loss", "--loss", help="column of losses"),
        bootstrap: int = typer.Option(100, "--bootstrap", help="bootstrap resamples per candidate"),
        candidates: int = typer.Option(9, "--candidates", help="model sizes tried at the next budget"),
        top: int = typer.Option(3, "--top", help="trials to propose"),
        seed: int = typer.Option(0, "--seed", help="seed of the simulation and bootstrap"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Propose the (N, D) trials at the next budget that most shrink the intervals at --target-flops."""
        from scaling.fit.suggest import suggest as run_suggest

        picked = _columns(source, law, {"n": n, "d": d, "c": c, "loss": loss}, [])
        cols = picked["cols"]
        result = run_suggest(
            n=cols.get("n"), d=cols.get("d"), c=cols.get("c"), loss=cols["loss"], target_flops=target_flops,
            next_flops=next_flops, law=law, bootstrap=bootstrap, seed=seed, n_candidates=candidates, top=top,
        )
        if as_json:
            print(json.dumps(result.to_dict()))
            return
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
        for h in ("N", "D", "D/N", "FLOPs", "pred. loss", "loss interval", "N_opt interval", "total FLOPs"):
            table.add_column(h, justify="right")
        for t in result.trials:
            table.add_row(
                f"{t['N']:.3g}", f"{t['D']:.3g}", f"{t['tokens_per_param']:.3g}", f"{t['flops']:.3g}",
                f"{t['predicted_loss']:.4f}", f"{-t['shrink_loss_interval']:+.1%}",
                f"{-t['shrink_N_opt_interval']:+.1%}", f"{t['cumulative_flops']:.3g}",
            )
        console.print(table)
