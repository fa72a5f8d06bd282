"""`scaling fit FILE|RUN_DIR` and `scaling suggest FILE|RUN_DIR`: fit a law to results; propose next trials.

The fitting library is imported inside the commands (numpy/scipy only), so these never load JAX.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from scaling.cli.predict_option import PREDICT_HELP

METHOD_HELP = ("huber-grid (summed Huber, multi-start L-BFGS over Hoffmann's grid), varpro, or ml "
               "[table: huber-grid; run dir: its stages.fit.method]")
RUN_DIR_HELP = "[table: {csv}; run dir: its stages.fit.{key}]"


def _fit_table(source: Path, o: dict[str, Any], opts: Any) -> None:
    """Fit one law to a CSV/Parquet table (or a directory's results.csv) and print it; writes nothing."""
    from scaling.cli.fit_table import columns, print_fit
    from scaling.cli.predict_option import predictions, print_predictions
    from scaling.fit.api import fit_problem
    from scaling.fit.backtest import backtest_problem
    from scaling.fit.inputs import build_problem
    from scaling.fit.registry import get_law

    law_obj = get_law(o["law"])
    if opts.tied:
        law_obj = law_obj.configure(tied=True)
    col = opts.columns
    picked = columns(source, law_obj.name, {k: col[f"--{k}"] for k in "ndcux"} | {"loss": o["loss"]}, col["--col"])
    groups = None
    if col["--group"]:
        from scaling.fit.io import column

        groups = column(picked["table"], col["--group"], option="--group", source=source)
    cols = picked["cols"]
    problem = build_problem(
        law_obj, loss=cols["loss"], n=cols.get("n"), d=cols.get("d"), c=cols.get("c"), u=cols.get("u"),
        x=cols.get("x"), groups=groups, delta=o["delta"], names=picked["names"], columns=picked["columns"],
        objective=o["objective"],
    )
    result = fit_problem(problem, method=o["method"], bootstrap=o["bootstrap"], seed=o["seed"],
                         target_flops=opts.target_flops)
    if o["holdout"]:
        bt = backtest_problem(problem, holdout=o["holdout"], method=o["method"], target_flops=opts.target_flops)
        result.backtest = bt.to_dict()
    rows = predictions(result, o["predict"])
    if o["json"]:
        print(json.dumps({**result.to_dict(), **({"predictions": rows} if rows else {})}))
    else:
        print_fit(result)
        print_predictions(result.law, rows)


def _suggest_inputs(source: Path, law: str, cols: dict[str, str | None], loss: str | None, overrides: list[str]
                    ) -> dict[str, Any]:
    """N, D (or C) and loss for `suggest`: a run directory's fit points (its finished train trials, best
    setting per (N, D), as the fit stage uses them), or a table's columns."""
    from scaling.cli import fit_run_dir
    from scaling.cli.fit_options import REFUSED_FOR_RUN_DIR, RUN_DIR_LOSSES
    from scaling.errors import UserError

    if fit_run_dir.is_run_dir(source):
        given = [f"--{k}" for k, v in cols.items() if v]
        if given:
            raise UserError(f"{given[0]} names a table's column; for a run directory {REFUSED_FOR_RUN_DIR[given[0]]}")
        if loss is not None and loss not in RUN_DIR_LOSSES:
            raise UserError(f"--loss {loss!r}: a run directory's loss is one of {', '.join(RUN_DIR_LOSSES)}")
        from scaling import results
        from scaling.stages.fit_stage import conventions_of

        cfg = fit_run_dir.sweep_fit_config(source, overrides)
        if loss is not None:
            cfg = cfg.model_copy(update={"loss": loss})
        from scaling.fit.hyper_laws import fit_hyper_laws

        table = results.from_run_dir(source, conventions_of(cfg))
        points = table.best_per_point()
        if not len(points):
            raise UserError(f"{source}: no finished train trials with a finite {cfg.loss} yet; nothing to suggest from")
        return {"n": points.n, "d": points.d, "c": None, "loss": points.loss,
                "hyper": fit_hyper_laws(table.per_setting(), bootstrap=0)}
    if overrides:
        raise UserError("--set applies to a sweep's run directory (with store.sqlite), not to a table file")
    from scaling.cli.fit_table import columns

    picked = columns(source, law, {**cols, "loss": loss or "loss"}, [])["cols"]
    return {"n": picked.get("n"), "d": picked.get("d"), "c": picked.get("c"), "loss": picked["loss"]}


def register(app: typer.Typer) -> None:
    @app.command()
    def fit(
        source: Path = typer.Argument(..., help="a CSV or Parquet file, a directory with results.csv, or a sweep's "
                                      "run directory (re-fits it from its store as a new fit version)"),
        law: list[str] = typer.Option([], "--law", help="a registered law (chinchilla, kaplan_nd, ...); a run "
                                      "directory takes several " + RUN_DIR_HELP.format(csv="chinchilla", key="laws")),
        n: str = typer.Option(None, "--n", help="table: column of parameters N (default 'n')"),
        d: str = typer.Option(None, "--d", help="table: column of tokens D (default 'd'; else D = C/(6N) from --c)"),
        c: str = typer.Option(None, "--c", help="table: column of compute C in FLOPs"),
        u: str = typer.Option(None, "--u", help="table: column of unique tokens U (data-constrained law)"),
        x: str = typer.Option(None, "--x", help="table: column of x (power laws)"),
        loss: str = typer.Option(None, "--loss", help="table: column of losses (default 'loss'); run dir: val_loss "
                                 "or train_loss (default: its stages.fit.loss)"),
        col: list[str] = typer.Option([], "--col", help="table: another law input, NAME=COLUMN (repeatable)"),
        method: str = typer.Option(None, "--method", help=METHOD_HELP),
        bootstrap: int = typer.Option(None, "--bootstrap", help="bootstrap resamples for 95% intervals (0: none) "
                                      + RUN_DIR_HELP.format(csv="0", key="bootstrap")),
        seed: int = typer.Option(None, "--seed", help="bootstrap seed " + RUN_DIR_HELP.format(csv="0", key="seed")),
        group: str = typer.Option(None, "--group", help="table: column naming each point's run: resample whole runs"),
        holdout: int = typer.Option(None, "--holdout", help="backtest: fit without the K largest budgets (0: none) "
                                    + RUN_DIR_HELP.format(csv="0", key="holdout")),
        target_flops: float = typer.Option(None, "--target-flops", help="compute for derived quantities "
                                           "(default: the largest in the data)"),
        delta: float = typer.Option(None, "--delta", help="Huber delta on the residuals "
                                    + RUN_DIR_HELP.format(csv="1e-3", key="delta")),
        objective: str = typer.Option(None, "--objective", help="huber-log, huber-raw, squares-log or squares-raw "
                                      "(least squares on raw loss is what scipy curve_fit minimises) "
                                      + RUN_DIR_HELP.format(csv="huber-log", key="objective")),
        resample: str = typer.Option(None, "--resample", help="run dir: bootstrap whole model sizes or rows "
                                     "[its stages.fit.resample, default sizes]"),
        predict: list[str] = typer.Option([], "--predict", help=PREDICT_HELP),
        tied: bool = typer.Option(False, "--tied", help="one exponent for N and D (chinchilla, muennighoff)"),
        set_: list[str] = typer.Option([], "--set", help="run dir: override its sweep.yaml, e.g. "
                                       "stages.fit.params=total"),
        list_versions: bool = typer.Option(False, "--list", help="run dir: list the recorded fit versions"),
        version: int = typer.Option(None, "--version", help="run dir: print fit version N (writes nothing)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
    ) -> None:
        """Fit a scaling law to a results table, or re-fit a sweep's run directory as a new fit version."""
        from scaling.cli import fit_run_dir
        from scaling.cli.fit_options import FitOptions, csv_options
        from scaling.cli.predict_option import parse_points
        from scaling.errors import UserError
        from scaling.sweep.store import STORE_NAME

        points = parse_points(predict)
        opts = FitOptions(laws=law, method=method, bootstrap=bootstrap, seed=seed, loss=loss, holdout=holdout,
                          target_flops=target_flops, delta=delta, objective=objective, resample=resample, tied=tied,
                          columns={"--n": n, "--d": d, "--c": c, "--u": u, "--x": x, "--col": col, "--group": group})
        if fit_run_dir.is_run_dir(source):
            if list_versions or version is not None:
                if opts.any_given() or set_:
                    raise UserError("--list and --version show recorded fits; give no fitting options with them")
                if list_versions:
                    fit_run_dir.list_versions(source, as_json)
                else:
                    fit_run_dir.show_version(source, version, as_json)
                return
            code = fit_run_dir.fit(source, opts, set_, as_json, points)
            if code:
                raise typer.Exit(code)
            return
        if source.is_dir() and not (source / "results.csv").is_file():
            raise UserError(f"{source}: neither a sweep's run directory (no {STORE_NAME}) nor a directory with "
                            "results.csv; give a run directory, a CSV/Parquet file, or such a directory")
        o = csv_options(opts, {"--set": bool(set_), "--list": list_versions, "--version": version is not None,
                               "--resample": resample is not None})
        _fit_table(source, {**o, "json": as_json, "predict": points}, opts)

    @app.command()
    def suggest(
        source: Path = typer.Argument(..., help="a CSV or Parquet file, a directory with results.csv, or a sweep's "
                                      "run directory"),
        target_flops: float = typer.Option(..., "--target-flops", help="the compute you will eventually spend"),
        next_flops: float = typer.Option(None, "--next-flops", help="budget of the next trials (default: next step)"),
        law: str = typer.Option("chinchilla", "--law", help="chinchilla or chinchilla_tied"),
        n: str = typer.Option(None, "--n", help="table: column of parameters N (default 'n')"),
        d: str = typer.Option(None, "--d", help="table: column of tokens D (default 'd'; else D = C/(6N) from --c)"),
        c: str = typer.Option(None, "--c", help="table: column of compute C in FLOPs"),
        loss: str = typer.Option(None, "--loss", help="table: column of losses (default 'loss'); run dir: val_loss "
                                 "or train_loss (default: its stages.fit.loss)"),
        bootstrap: int = typer.Option(100, "--bootstrap", help="bootstrap resamples per candidate"),
        candidates: int = typer.Option(9, "--candidates", help="model sizes tried at the next budget"),
        top: int = typer.Option(3, "--top", help="trials to propose"),
        seed: int = typer.Option(0, "--seed", help="seed of the simulation and bootstrap"),
        set_: list[str] = typer.Option([], "--set", help="run dir: override its sweep.yaml, e.g. "
                                       "stages.fit.params=total"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Propose the (N, D) trials at the next budget that most shrink the intervals at --target-flops."""
        from scaling.cli.fit_options import check_law
        from scaling.fit.suggest import suggest as run_suggest

        check_law(law)
        cols = _suggest_inputs(source, law, {"n": n, "d": d, "c": c}, loss, set_)
        result = run_suggest(
            n=cols["n"], d=cols["d"], c=cols["c"], loss=cols["loss"], target_flops=target_flops,
            next_flops=next_flops, law=law, bootstrap=bootstrap, seed=seed, n_candidates=candidates, top=top,
        )
        if "hyper" in cols:  # a run directory: its lr and batch-size laws set the proposed trials' hyperparameters
            from scaling.fit.hyper_laws import annotate_trials

            result.procedure["hyperparameters"] = annotate_trials(result.trials, cols["hyper"])
        if as_json:
            print(json.dumps(result.to_dict()))
            return
        from scaling.cli.fit_table import print_suggestion

        print_suggestion(result)
