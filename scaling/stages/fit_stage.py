"""The fit stage: from a sweep's points table to its fit report (RUN_DIR/fit.json): laws, approaches, allocation.

Where the sweep varies more than size and budget, each (N, D) point is the best setting of the other axes;
seeds of that setting are replicates whose spread weights the point (`PointsTable.best_per_point`); the
learning-rate axis is fitted itself (optimal lr against N, and batch size when it varies) so the next, larger
sweep can use it. N and C follow `stages.fit.params` and `stages.fit.compute`, recorded in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scaling import results
from scaling.errors import UserError
from scaling.fit.allocation import compute_optimal_table
from scaling.fit.lr_law import fit_lr_law
from scaling.fit.points import Conventions, PointsTable
from scaling.fit.report import ND_LAWS, FitReport
from scaling.sweep.schema import FitStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME, Store


def conventions_of(cfg: FitStageConfig) -> Conventions:
    return Conventions(params=cfg.params, compute=cfg.compute, loss=cfg.loss)


def run(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    """Fit the sweep's laws from its store and write RUN_DIR/fit.json (also recorded in the store's fits)."""
    cfg = sweep.stages.fit or FitStageConfig()
    store_path = Path(run_dir) / STORE_NAME
    if not store_path.is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run the sweep first")
    store = Store(store_path)
    try:
        trials = store.trials(kind="train")
        table = results.from_trials(trials, conventions_of(cfg))
        report = fit_table(table, cfg, curves=_curves(store, trials, table.conventions))
        path = report.write(run_dir)
        for law, result in report.laws.items():
            store.add_fit("fit", law, result.to_dict())
        store.add_artifact("fit", path)
    finally:
        store.close()
    return {"summary": report.summary(), "path": str(path), "errors": report.errors}


def _curves(store: Store, trials: list[Any], conv: Conventions) -> list[dict[str, Any]]:
    """(compute, loss) training curves of the finished trials, for the minimum-loss envelope (approach 1)."""
    curves = []
    for t in trials:
        rows = [r for r in store.metrics(t.id, "train_loss") if r["tokens"] > 0]
        if t.status != "done" or len(rows) < 2:
            continue
        tokens = np.array([r["tokens"] for r in rows], dtype=np.float64)
        curves.append({"trial": t.id, "N": results.n_of(t, conv),
                       "C": results.step_compute(t, tokens, [r["flops"] for r in rows], conv),
                       "loss": np.array([r["value"] for r in rows], dtype=np.float64)})
    return curves


def fit_table(table: PointsTable, cfg: FitStageConfig, curves: list[dict[str, Any]] | None = None) -> FitReport:
    """Every requested law plus the approaches and backtest the points support, as a report; failures noted."""
    from scaling import fit as fitlib

    points = table.best_per_point()
    report = FitReport(points=points, settings=cfg.model_dump(mode="json"))
    if not len(points):
        report.errors["points"] = "no finished trials with a finite loss"
        return report
    n, d, c, loss, weights = points.n, points.d, points.c, points.loss, points.weight
    for law in cfg.laws:
        try:
            result = fitlib.fit_law(n=n, d=d, loss=loss, law=law, method=cfg.method, bootstrap=cfg.bootstrap,
                                    seed=cfg.seed, weights=weights, target_flops=float(c.max()))
        except UserError as exc:
            report.errors[law] = str(exc)
            continue
        bad = [k for k, v in result.params.items() if not np.isfinite(v)]
        if bad:  # a law that predicts nothing must not feed the allocation, the figures or compression
            report.errors[law] = (f"degenerate fit: {', '.join(bad)} not finite ({result.message}); the points do "
                                  "not identify this law (more sizes, or budgets that vary D/N)")
            continue
        report.laws[law] = result
    primary = next((report.laws[name] for name in ND_LAWS if name in report.laws), None)
    if primary is not None:
        report.compute_optimal = compute_optimal_table(primary, points)
    try:
        report.backtest = fitlib.backtest(n=n, d=d, loss=loss, flops=c, law="chinchilla", holdout=1,
                                          method=cfg.method)
    except (UserError, ValueError) as exc:
        report.errors["backtest"] = str(exc)
    if points.isoflop_groups():
        try:
            report.isoflop = fitlib.isoflop_approach(n=n, d=d, loss=loss, flops=points.budget_compute())
        except (UserError, ValueError) as exc:
            report.errors["isoflop"] = str(exc)
    if curves:
        try:
            report.envelope = fitlib.envelope_approach(
                n=np.concatenate([np.full(len(cv["C"]), cv["N"]) for cv in curves]),
                flops=np.concatenate([cv["C"] for cv in curves]),
                loss=np.concatenate([cv["loss"] for cv in curves]),
                runs=np.concatenate([[cv["trial"]] * len(cv["C"]) for cv in curves]))
        except (UserError, ValueError) as exc:
            report.errors["envelope"] = str(exc)
    report.lr = fit_lr_law(table.per_setting())
    return report
