"""Builders for the plot tests: a small store with synthetic Chinchilla losses and a fit.json fitted on them."""

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
                           "config": {"model": {"size": size}}, "axes": {"size": size, "budget": c}})
    if failed:
        trials.append({"id": "broken", "ord": len(trials), "label": "xl C=1e+13", "config": {"model": {"size": "xl"}},
                       "axes": {"size": "xl", "budget": 1e13}})
    store.add_trials(trials)
    for t in trials:
        if t["id"] == "broken":
            store.finish("broken", "failed", error="Traceback...\nRuntimeError: out of memory")
            continue
        n, c = SIZES[t["axes"]["size"]], t["axes"]["budget"]
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


def make_fit(points: list[dict], bootstrap: int = 20) -> dict:
    """fit.json as the fit stage writes it, the laws fitted by the fitting library (varpro, seeded bootstrap)."""
    from scaling.fit import fit_law
    from scaling.fit.laws import chinchilla_compute_optimal

    n = np.array([p["N"] for p in points])
    d = np.array([p["D"] for p in points])
    loss = np.array([p["loss"] for p in points])
    chin = fit_law(n=n, d=d, loss=loss, law="chinchilla", method="varpro", bootstrap=bootstrap, seed=0)
    kap = fit_law(n=n, d=d, loss=loss, law="kaplan_nd", bootstrap=0)
    samples = chin.bootstrap_samples
    rows = []
    for c in (*BUDGETS, 1e14):
        best = chinchilla_compute_optimal(chin.params, c)
        draws = chinchilla_compute_optimal({k: samples[k] for k in ("A", "B", "E", "alpha", "beta")}, c)
        rows.append({"C": c, "N_opt": float(best["N_opt"]), "D_opt": float(best["D_opt"]),
                     "loss": float(best["loss_opt"]),
                     "N_opt_interval": np.percentile(draws["N_opt"], [2.5, 97.5]).tolist(),
                     "D_opt_interval": np.percentile(draws["D_opt"], [2.5, 97.5]).tolist()})
    small = [p for p in points if p["C"] < 5e12]
    train = fit_law(n=[p["N"] for p in small], d=[p["D"] for p in small], loss=[p["loss"] for p in small],
                    law="chinchilla", method="varpro")
    back = [{"C": p["C"], "N": p["N"], "D": p["D"], "actual": p["loss"], "held_out": p["C"] >= 5e12,
             "predicted": float(train.predict(n=p["N"], d=p["D"]))} for p in points]
    return {"conventions": {"N": "non_embedding", "D": "tokens", "C": "6ND"}, "points": points,
            "laws": {"chinchilla": chin.to_dict(), "kaplan_nd": kap.to_dict()}, "compute_optimal": rows,
            "isoflop": None, "envelope": None, "backtest": {"law": "chinchilla", "rows": back}, "lr": None,
            "errors": {}}
