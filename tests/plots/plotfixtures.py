"""Builders for the plot tests: a small store with synthetic Chinchilla losses and the fit stage's report on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.sweep.store import STORE_NAME, Store

TRUE = {"A": 40.0, "B": 60.0, "E": 1.5, "alpha": 0.34, "beta": 0.28}
SIZES = {"xs": 5e4, "s": 1e5, "m": 2e5, "l": 4e5}
BUDGETS = (1e12, 3e12, 1e13)


def chinchilla(n, d, p=TRUE):
    return p["E"] + p["A"] / np.asarray(n) ** p["alpha"] + p["B"] / np.asarray(d) ** p["beta"]


def make_store(run_dir: Path, sizes: dict[str, float] = SIZES, budgets=BUDGETS, noise: float = 0.003,
               failed: bool = True) -> list[dict]:
    """An IsoFLOP sweep's store: every size at every budget, 20-step loss curves, one failed trial."""
    rng = np.random.default_rng(0)
    store = Store(run_dir / STORE_NAME)
    trials, points = [], []
    for size in sizes:
        for c in budgets:
            tid = f"{size}-{c:.0e}"
            trials.append({"id": tid, "ord": len(trials), "label": f"{size} C={c:.0e}",
                           "config": {"model": {"size": size}},
                           "axes": {"size": size, "budget": f"C{c:.2g}", "budget_kind": "isoflop", "budget_value": c}})
    if failed:
        trials.append({"id": "broken", "ord": len(trials), "label": "xl C=1e+13", "config": {"model": {"size": "xl"}},
                       "axes": {"size": "xl", "budget": "C1e+13", "budget_kind": "isoflop",
                                                    "budget_value": 1e13}})
    store.add_trials(trials)
    for t in trials:
        if t["id"] == "broken":
            store.finish("broken", "failed", error="Traceback...\nRuntimeError: out of memory")
            continue
        n, c = SIZES[t["axes"]["size"]], t["axes"]["budget_value"]
        d = c / (6 * n)
        tokens = np.linspace(d / 20, d, 20)
        curve = chinchilla(n, tokens) * np.exp(rng.normal(0, noise, tokens.size))
        for step, (tok, loss) in enumerate(zip(tokens, curve, strict=True), start=1):
            store.log_metrics(t["id"], step, int(tok), 6 * n * tok, {"train_loss": loss * 1.01, "val_loss": loss})
        final = float(curve[-1])
        store.finish(t["id"], "done", result={"params": {"total": int(n * 1.3), "embedding": int(n * 0.3),
                                                         "non_embedding": int(n)}, "tokens": int(d),
                                              "flops": {"six_n": 6 * n * d, "exact": 7 * n * d},
                                              "train_loss": final * 1.01, "val_loss": final})
        points.append({"trial": t["id"], "label": t["label"], "size": t["axes"]["size"], "N": float(int(n)),
                       "D": float(int(d)), "C": 6 * int(n) * float(int(d)), "loss": final, "weight": 1.0})
    store.close()
    return points


def make_fit(run_dir: Path, bootstrap: int = 20, laws: tuple[str, ...] = ("chinchilla", "kaplan_nd")):
    """The fit report of the fixture store, written by the fit stage's own routine (huber-grid, seeded bootstrap)."""
    from scaling import results
    from scaling.stages.fit_stage import fit_table
    from scaling.sweep.schema import FitStageConfig

    cfg = FitStageConfig(laws=list(laws), method="huber-grid", bootstrap=bootstrap)
    report = fit_table(results.from_run_dir(run_dir), cfg)
    report.write(run_dir)
    return report
