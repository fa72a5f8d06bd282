"""The fit stage: from a sweep's store to fitted laws, compute-optimal configurations and an lr law (fit.json).

Where the sweep varies more than size and budget, each (N, D) point is the best setting of the other axes;
seeds of that setting are replicates whose spread weights the point; the learning-rate axis is fitted itself
(optimal lr against N, and batch size when it varies) so the next, larger sweep can use it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.sweep.schema import FitStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME, Store, TrialRow

FIT_FILE = "fit.json"
SEED_AXES = ("seed",)
LR_AXIS = "optimizer.lr"
BATCH_AXIS = "batch_size"


@dataclass
class Point:
    """One (N, D) point of the fit: the best setting of the swept axes, its seeds averaged."""

    trial: str
    label: str
    size: str
    N: float
    D: float
    C: float
    loss: float
    weight: float
    replicates: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _loss_of(t: TrialRow, which: str) -> float | None:
    value = t.val_loss if which == "val_loss" else t.train_loss
    return value if value is not None and math.isfinite(value) else None


def _n_of(t: TrialRow, param_count: str) -> float:
    return float(t.params_non_embedding if param_count == "non_embedding" else t.params_total)


def collect_points(trials: list[TrialRow], cfg: FitStageConfig) -> tuple[list[Point], list[dict[str, Any]]]:
    """Fit points (best non-seed setting per (size, budget), seeds averaged) and every candidate setting.

    Replicate weights are 1/(variance of the mean), normalised to mean 1, with the variance floored at the
    median variance so one lucky pair of seeds cannot dominate the fit.
    """
    settings: dict[tuple, dict[tuple, list[TrialRow]]] = defaultdict(lambda: defaultdict(list))
    for t in trials:
        if t.kind != "train" or t.status != "done" or _loss_of(t, cfg.loss) is None:
            continue
        axes = {k: v for k, v in t.axes.items() if k not in ("size", "budget")}
        other = tuple(sorted((k, json.dumps(v)) for k, v in axes.items() if k not in SEED_AXES))
        settings[(t.axes.get("size"), t.axes.get("budget"), t.tokens)][other].append(t)

    candidates, best_per_point = [], []
    for (size, _budget, _tokens), by_setting in settings.items():
        scored = []
        for other, runs in by_setting.items():
            losses = np.array([_loss_of(r, cfg.loss) for r in runs])
            scored.append((float(losses.mean()), other, runs, losses))
            candidates.append({"size": size, "tokens": runs[0].tokens, "N": _n_of(runs[0], cfg.param_count),
                               "setting": dict((k, json.loads(v)) for k, v in other), "loss": float(losses.mean()),
                               "replicates": len(runs)})
        best_per_point.append(min(scored, key=lambda s: s[0]))

    variances = [float(np.var(losses, ddof=1)) / len(losses) for _, _, _, losses in best_per_point if len(losses) > 1]
    floor = float(np.median(variances)) if variances else 0.0
    points = []
    for mean, _other, runs, losses in best_per_point:
        rep = runs[int(np.argmin(losses))]
        n, d = _n_of(rep, cfg.param_count), float(rep.tokens)
        var = max(float(np.var(losses, ddof=1)) / len(losses), floor) if len(losses) > 1 and floor > 0 else None
        points.append(Point(trial=rep.id, label=rep.label, size=str(rep.axes.get("size")), N=n, D=d, C=6 * n * d,
                            loss=mean, weight=1.0 / var if var else 1.0, replicates=len(losses)))
    if points:
        mean_w = float(np.mean([p.weight for p in points]))
        for p in points:
            p.weight /= mean_w
    points.sort(key=lambda p: (p.N, p.D))
    return points, candidates


def fit_learning_rate(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Optimal learning rate per (N, D) (a parabola in log lr through the best three, else the best value),
    then log lr* = a + b log N (+ c log B when the batch size varies), by least squares."""
    with_lr = [c for c in candidates if LR_AXIS in c["setting"]]
    if len({c["setting"][LR_AXIS] for c in with_lr}) < 2:
        return None
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for c in with_lr:
        batch = c["setting"].get(BATCH_AXIS)
        groups[(c["N"], c["tokens"], batch)].append(c)
    optima = []
    for (n, tokens, batch), rows in groups.items():
        rows.sort(key=lambda r: r["setting"][LR_AXIS])
        log_lr = np.log([r["setting"][LR_AXIS] for r in rows])
        losses = np.array([r["loss"] for r in rows])
        i = int(np.argmin(losses))
        best, how = float(np.exp(log_lr[i])), "grid" if 0 < i < len(rows) - 1 else "grid edge: widen the lr axis"
        if 0 < i < len(rows) - 1:
            a2, a1, _ = np.polyfit(log_lr[i - 1:i + 2], losses[i - 1:i + 2], 2)
            if a2 > 0:
                best, how = float(np.exp(-a1 / (2 * a2))), "parabola"
        optima.append({"N": n, "tokens": tokens, "batch_size": batch, "lr_opt": best, "how": how})
    ns = np.array([o["N"] for o in optima], float)
    if len(set(ns)) < 2:
        return {"optima": optima, "law": None, "note": "one model size: no lr law across N"}
    columns = [np.ones_like(ns), np.log(ns)]
    names = ["a", "b_N"]
    batches = [o["batch_size"] for o in optima]
    if None not in batches and len(set(batches)) > 1:
        columns.append(np.log(np.array(batches, float)))
        names.append("c_B")
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log([o["lr_opt"] for o in optima]), rcond=None)
    formula = "lr* = exp(a) * N^b_N" + (" * B^c_B" if "c_B" in names else "")
    return {"optima": optima, "law": dict(zip(names, map(float, coef), strict=True)), "formula": formula}


def run(run_dir: Path, sweep: SweepConfig) -> dict[str, Any]:
    """Fit the sweep's laws from its store and write RUN_DIR/fit.json (also recorded in the store's fits)."""
    cfg = sweep.stages.fit or FitStageConfig()
    store_path = Path(run_dir) / STORE_NAME
    if not store_path.is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run the sweep first")
    store = Store(store_path)
    try:
        trials = store.trials(kind="train")
        points, candidates = collect_points(trials, cfg)
        out = fit_points(points, cfg, curves=_curves(store, trials, cfg))
        out["lr"] = fit_learning_rate(candidates)
        out["candidates"] = candidates
        path = Path(run_dir) / FIT_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=2, default=_jsonable))
        tmp.replace(path)
        for law, result in out["laws"].items():
            store.add_fit("fit", law, result)
        store.add_artifact("fit", path)
    finally:
        store.close()
    return {"summary": summarize(out), "path": str(path), "errors": out["errors"]}


def _curves(store: Store, trials: list[TrialRow], cfg: FitStageConfig) -> list[dict[str, Any]]:
    """(FLOPs, loss) curves of finished trials, for the minimum-loss envelope (approach 1)."""
    curves = []
    for t in trials:
        if t.status != "done":
            continue
        rows = store.curve(t.id, "train_loss")
        if rows:
            steps = np.array([s for s, _ in rows], float)
            tokens_per_step = t.tokens / max(steps.max(), 1)
            n = _n_of(t, cfg.param_count)
            curves.append({"trial": t.id, "N": n, "C": (6 * n * tokens_per_step * steps).tolist(),
                           "loss": [v for _, v in rows]})
    return curves


def fit_points(points: list[Point], cfg: FitStageConfig, curves: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    """Run every requested law plus the approaches and backtest that the points support; failures are noted."""
    from scaling import fit as fitlib

    out: dict[str, Any] = {
        "conventions": {"N": cfg.param_count, "D": "tokens", "C": "6ND", "loss": cfg.loss},
        "points": [p.to_dict() for p in points], "laws": {}, "compute_optimal": [], "isoflop": None,
        "envelope": None, "backtest": None, "errors": {},
    }
    if not points:
        out["errors"]["points"] = "no finished trials with a finite loss"
        return out
    n = np.array([p.N for p in points])
    d = np.array([p.D for p in points])
    loss = np.array([p.loss for p in points])
    weights = np.array([p.weight for p in points])
    for law in cfg.laws:
        try:
            result = fitlib.fit_law(n=n, d=d, loss=loss, law=law, method=cfg.method, bootstrap=cfg.bootstrap,
                                    seed=cfg.seed, weights=weights)
        except UserError as exc:
            out["errors"][law] = str(exc)
            continue
        out["laws"][law] = result.to_dict()
        if law in ("chinchilla", "chinchilla_tied"):
            out["compute_optimal"] = compute_optimal_table(result, points)
    try:
        out["backtest"] = _to_dict(fitlib.backtest(n=n, d=d, loss=loss, law="chinchilla", holdout=1,
                                                   method=cfg.method))
    except (UserError, ValueError) as exc:
        out["errors"]["backtest"] = str(exc)
    budgets = sorted({round(math.log10(p.C), 2) for p in points})
    if len(budgets) < len(points):  # several sizes share a budget: IsoFLOP curves exist
        try:
            out["isoflop"] = _to_dict(fitlib.isoflop_approach(n=n, d=d, loss=loss, flops=6 * n * d))
        except (UserError, ValueError) as exc:
            out["errors"]["isoflop"] = str(exc)
    if curves:
        try:
            out["envelope"] = _to_dict(fitlib.envelope_approach(
                n=np.concatenate([np.full(len(c["C"]), c["N"]) for c in curves]),
                flops=np.concatenate([c["C"] for c in curves]),
                loss=np.concatenate([c["loss"] for c in curves]),
                runs=np.concatenate([[c["trial"]] * len(c["C"]) for c in curves])))
        except (UserError, ValueError) as exc:
            out["errors"]["envelope"] = str(exc)
    return out


def compute_optimal_table(result: Any, points: list[Point]) -> list[dict[str, Any]]:
    """N_opt, D_opt and the predicted loss at the sweep's budgets and 10x, 100x beyond its largest, with 95%
    percentile intervals from the bootstrap refits when the fit was bootstrapped."""
    from scaling.fit.laws import chinchilla_compute_optimal

    c_max = max(p.C for p in points)
    budgets = sorted({float(f"{p.C:.3g}") for p in points} | {10 * c_max, 100 * c_max})  # 3 digits: one row a budget
    samples = result.bootstrap_samples or {}
    has_draws = all(k in samples for k in ("A", "B", "E", "alpha", "beta"))
    rows = []
    for c in budgets:
        best = chinchilla_compute_optimal(result.params, c)
        row = {"C": c, "N_opt": float(best["N_opt"]), "D_opt": float(best["D_opt"]), "loss": float(best["loss_opt"]),
               "N_opt_interval": None, "D_opt_interval": None}
        if has_draws:  # the closed form is vectorised over the bootstrap refits' parameters
            optima = chinchilla_compute_optimal(samples, c)
            for key in ("N_opt", "D_opt"):
                values = np.asarray(optima[key], dtype=float)
                values = values[np.isfinite(values)]
                if len(values):
                    row[f"{key}_interval"] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
        rows.append(row)
    return rows


def summarize(out: dict[str, Any]) -> str:
    parts = [f"{len(out['points'])} points (N = {out['conventions']['N']} parameters, C = 6ND)"]
    for law, result in out["laws"].items():
        params = ", ".join(f"{k}={v:.4g}" for k, v in result["params"].items() if isinstance(v, (int, float)))
        parts.append(f"{law}: {params}")
    if out["compute_optimal"]:
        top = out["compute_optimal"][-1]
        parts.append(f"at C={top['C']:.3g}: N_opt={top['N_opt']:.3g}, D_opt={top['D_opt']:.3g}")
    if out.get("lr") and out["lr"].get("law"):
        parts.append(f"lr law: {out['lr']['formula']} with {out['lr']['law']}")
    if out["errors"]:
        parts.append("not fitted: " + "; ".join(f"{k}: {v}" for k, v in out["errors"].items()))
    return "; ".join(parts)


def _to_dict(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
