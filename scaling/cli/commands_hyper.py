"""`scaling hyper FILE|RUN_DIR`: the learning-rate and batch-size laws of a sweep (or of a table of runs).

numpy/scipy only: the runs' lr and batch-size optima at each (N, D), then the Step-Law and DeepSeek forms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from scaling.cli.predict_option import PREDICT_INPUTS


def _table_settings(source: Path, cols: dict[str, str]) -> list[Any]:
    """A table's rows as settings of (N, D) with their lr and batch size (each row one run)."""
    import numpy as np

    from scaling.cli.fit_table import finished_train_rows
    from scaling.errors import UserError
    from scaling.fit.hyper_laws import BATCH_AXIS, LR_AXIS
    from scaling.fit.io import column, read_table
    from scaling.fit.points import ResultRow, SettingMean

    table = finished_train_rows(read_table(source), source)
    get = {key: column(table, name, option=f"--{key.replace('_', '-')}", source=source)
           for key, name in cols.items() if key in ("n", "d", "loss") or name in table}
    axes = {LR_AXIS: get.get("lr"), BATCH_AXIS: get.get("batch_size")}
    if all(v is None for v in axes.values()):
        raise UserError(f"{source}: no column {cols['lr']!r} or {cols['batch_size']!r}; give --lr COL and/or "
                        f"--batch-size COL naming the learning rate and batch size of each run")
    rows = []
    for i in range(len(get["loss"])):
        settings = {axis: float(v[i]) for axis, v in axes.items() if v is not None}
        if not all(np.isfinite([get["n"][i], get["d"][i], get["loss"][i], *settings.values()])):
            raise UserError(f"{source}: row {i + 2} has a missing or non-numeric value in n, d, loss, lr or batch size")
        row = ResultRow(trial=str(i), label="", size=f"{get['n'][i]:g}", budget=f"{get['d'][i]:g}",
                        n_total=float(get["n"][i]), n_non_embedding=float(get["n"][i]), d=float(get["d"][i]),
                        loss=float(get["loss"][i]), settings=settings)
        rows.append(SettingMean.of([row], "non_embedding"))
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def hyper(
        source: Path = typer.Argument(..., help="a sweep's run directory, or a CSV/Parquet table with one row per run"),
        n: str = typer.Option("n", "--n", help="table: column of parameters N"),
        d: str = typer.Option("d", "--d", help="table: column of tokens D"),
        loss: str = typer.Option("loss", "--loss", help="table: column of losses"),
        lr: str = typer.Option("lr", "--lr", help="table: column of learning rates"),
        batch_size: str = typer.Option("batch_size", "--batch-size", help="table: column of batch sizes"),
        bootstrap: int = typer.Option(200, "--bootstrap", help="bootstrap resamples of the optima for intervals"),
        seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
        propose: list[str] = typer.Option([], "--propose", help="the laws' lr and batch size for a model, "
                                          "e.g. N=1e9,D=2e10 (repeatable)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Fit the optimal learning rate lr*(N, D) and batch size B*(D) (Step Law), and both against C (DeepSeek)."""
        from scaling.cli import fit_run_dir
        from scaling.cli.predict_option import parse_points
        from scaling.errors import UserError
        from scaling.fit.hyper_laws import fit_hyper_laws

        if bootstrap < 0:
            raise UserError(f"--bootstrap must be >= 0 (0: t intervals only), got {bootstrap}")
        points = parse_points(propose)
        for point in points:
            if set(point) != {"n", "d"}:
                raise UserError(f"--propose takes N and D (e.g. N=1e9,D=2e10), got {', '.join(point).upper()} "
                                f"(inputs {', '.join(k.upper() for k in PREDICT_INPUTS)} elsewhere)")
        if fit_run_dir.is_run_dir(source):
            from scaling import results

            candidates = results.from_run_dir(source).per_setting()
        else:
            candidates = _table_settings(source, {"n": n, "d": d, "loss": loss, "lr": lr, "batch_size": batch_size})
        laws = fit_hyper_laws(candidates, bootstrap=bootstrap, seed=seed)
        if laws is None:
            raise UserError(f"{source}: no (N, D) has two or more learning rates or batch sizes; a hyperparameter "
                            "law needs an lr or batch-size axis")
        proposals = [{"at": p, **laws.propose(p["n"], p["d"])} for p in points]
        if as_json:
            print(json.dumps({**laws.to_dict(), "proposals": proposals}))
            return
        bounds = sum(o.is_bound for o in laws.optima)
        print(f"{len(laws.optima)} optima located ({bounds} at a grid edge: bounds, not values)")
        for law in laws.laws.values():
            print(law.describe())
            for v in law.bounds_violated:
                print(f"  contradicts a bound: at N={v['N']:.3g}, D={v['D']:.3g} the optimum lies {v['bound']} "
                      f"{v['edge']:.3g}, the law says {v['predicted']:.3g}")
        for p in proposals:
            given = ", ".join(f"{k} {v:.3g}" for k, v in p.items() if k != "at") or "no law fitted"
            print(f"at N={p['at']['n']:.3g}, D={p['at']['d']:.3g}: {given}")
