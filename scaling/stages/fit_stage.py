"""The fit stage: from a sweep's points table to its fit report (RUN_DIR/fit.json): laws, approaches, allocation.

Where the sweep varies more than size and budget, each (N, D) point is the best setting of the other axes;
seeds of that setting are replicates whose spread weights the point (`PointsTable.best_per_point`); the
learning-rate and batch-size axes are fitted themselves (lr*(N, D), B*(D), and both against C) so the next,
larger sweep can use them. N and C follow `stages.fit.params` and `stages.fit.compute`, recorded in the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from scaling import results
from scaling.errors import UserError
from scaling.fit.allocation import compute_optimal_table
from scaling.fit.bootstrap import label_size_resampling, size_groups
from scaling.fit.data_levels import fit_quality_levels, split_quality, unique_tokens
from scaling.fit.diagnostics import identification_warnings
from scaling.fit.hyper_laws import fit_hyper_laws
from scaling.fit.points import Conventions, PointsTable
from scaling.fit.registry import get_law
from scaling.fit.report import FIT_REPORT_FILE, ND_LAWS, FitReport
from scaling.sweep.schema import FitStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME, Store


def conventions_of(cfg: FitStageConfig) -> Conventions:
    return Conventions(params=cfg.params, compute=cfg.compute, loss=cfg.loss)


def run(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    """The pipeline's fit stage: `fit_run` with the sweep's `stages.fit` settings (defaults where absent)."""
    return fit_run(run_dir, sweep.stages.fit or FitStageConfig())


def fit_run(run_dir: Path, cfg: FitStageConfig) -> dict[str, Any]:
    """Fit `cfg`'s laws from RUN_DIR's store, record the fit as a new version and write RUN_DIR/fit.json.

    Fits are versioned, never overwritten: each one goes into the store's fit history with its settings and
    inputs, and fit.json holds the latest. A fit whose settings and inputs equal the latest version's is that
    version (fitting is seeded), so a resumed or repeated run records nothing twice and only restores fit.json.
    """
    run_dir = Path(run_dir)
    store = Store(run_dir / STORE_NAME, create=False)
    try:
        _check_writable(run_dir)
        trials = store.trials(kind="train")
        table = results.from_trials(trials, conventions_of(cfg))
        settings, inputs = cfg.model_dump(mode="json"), inputs_of(table)
        latest = (store.fit_versions(stage="fit") or [None])[-1]
        new = latest is None or latest["settings"] != settings or latest["inputs"] != inputs
        if new:
            report = fit_table(table, cfg, curves=_curves(store, trials, table.conventions))
            report.version = store.add_fit_version(
                "fit", report.to_dict(), {law: r.to_dict() for law, r in report.laws.items()},
                settings=settings, inputs=inputs)
        else:
            report = FitReport.from_dict(store.fit_report(latest["version"], stage="fit"), f"{STORE_NAME} fits")
            report.version = latest["version"]
        try:
            path = report.write(run_dir)
        except OSError as exc:
            raise UserError(f"{run_dir}: cannot write {FIT_REPORT_FILE} ({exc.strerror or exc}); fit version "
                            f"{report.version} is kept in the store: free space or fix permissions, then re-run"
                            ) from None
        store.add_artifact("fit", path)
    finally:
        store.close()
    missing = {law: report.errors[law] for law in (*cfg.laws, "points") if law in report.errors}
    return {"summary": report.summary(), "path": str(path), "errors": report.errors, "version": report.version,
            "new": new, "failed": missing}


def bootstrap_groups(n: np.ndarray, resample: str) -> np.ndarray | None:
    """Bootstrap clusters: one per model size when `resample` is "sizes" and points share sizes, else rows.

    A law extrapolated in N is only as certain as the sizes it saw: resampling rows treats two budgets of one
    size as independent evidence about the N exponent, which they are not.
    """
    return None if resample == "rows" else size_groups(n)


def inputs_of(table: PointsTable) -> dict[str, Any]:
    """What a fit was made from: how many rows, which trials, and a digest of every row's numbers."""
    rows = [dataclasses.asdict(row) for row in table.rows]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    return {"rows": len(rows), "trials": sorted(row.trial for row in table.rows), "sha256": digest}


def _check_writable(run_dir: Path) -> None:
    """UserError before any fitting when fit.json could not be written into `run_dir` (tried, not guessed:
    permission bits say nothing to root or about a read-only file system)."""
    target = run_dir / FIT_REPORT_FILE
    if target.exists() and not target.is_file():
        raise UserError(f"{target}: exists and is not a file; move it aside so the fit report can be written")
    try:
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".fit-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot write {FIT_REPORT_FILE} here ({exc.strerror or exc}); make the run "
                        "directory writable, or copy it somewhere writable and fit the copy") from None


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

    points, quality = split_quality(table.best_per_point())
    report = FitReport(points=points, settings=cfg.model_dump(mode="json"), quality=quality)
    if not len(points):
        report.errors["points"] = "no finished trials with a finite loss"
        return report
    n, d, c, loss, weights = points.n, points.d, points.c, points.loss, points.weight
    groups = bootstrap_groups(n, cfg.resample)
    target = cfg.target_flops or float(c.max())
    if quality is not None:
        fit_quality_levels(quality, method=cfg.method, bootstrap=cfg.bootstrap, seed=cfg.seed, delta=cfg.delta,
                           objective=cfg.objective, target_flops=target)
    u = unique_tokens(points)
    for law in cfg.laws:
        if "u" in get_law(law).inputs and u is None:
            raise UserError(f"law {law!r} needs U, the unique tokens each trial repeats, and this sweep sets no "
                            "data.unique_tokens: fit it on a sweep that does (e.g. unique_tokens: {values: [1e5, "
                            "4e5]}), or choose a law on N and D")
        try:
            result = fitlib.fit_law(n=n, d=d, u=u if "u" in get_law(law).inputs else None, loss=loss, law=law,
                                    method=cfg.method, bootstrap=cfg.bootstrap, seed=cfg.seed, weights=weights,
                                    delta=cfg.delta, objective=cfg.objective, groups=groups, target_flops=target)
        except UserError as exc:
            report.errors[law] = str(exc)
            continue
        bad = [k for k, v in result.params.items() if not np.isfinite(v)]
        if bad:  # a law that predicts nothing must not feed the allocation, the figures or compression
            report.errors[law] = (f"degenerate fit: {', '.join(bad)} not finite ({result.message}); the points do "
                                  "not identify this law (more sizes, or budgets that vary D/N)")
            continue
        label_size_resampling(result.procedure, groups)
        report.laws[law] = result
        if warnings := identification_warnings(result, n, d, loss, u):
            report.warnings[law] = warnings
    primary = next((report.laws[name] for name in ND_LAWS if name in report.laws), None)
    if primary is not None:
        report.compute_optimal = compute_optimal_table(primary, points)
    if cfg.holdout and cfg.laws:
        backtest_law = primary.law if primary is not None else cfg.laws[0]  # the law the report leads with
        try:
            report.backtest = fitlib.backtest(n=n, d=d, loss=loss, flops=c, law=backtest_law, holdout=cfg.holdout,
                                              method=cfg.method, delta=cfg.delta, objective=cfg.objective)
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
    report.hyper = fit_hyper_laws(table.per_setting(), bootstrap=cfg.bootstrap, seed=cfg.seed)
    return report
