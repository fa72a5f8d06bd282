"""Fit speed: the default multi-start Chinchilla fit on Epoch's 240 points, then K bootstrap refits.

    python benchmarks/fit_speed.py [--bootstrap-n 4000] [--data ../shared/data/scaling-runs] [--repeat 1]

Goals on the 2-core CI machine: <= 2 s for the multi-start fit (4,500 starts of Hoffmann's grid) and <= 30 s
for 4,000 bootstrap refits. The last line printed is a JSON object: multistart_s, bootstrap_s, bootstrap_n.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scaling-runs"


def load_epoch(root: Path) -> dict[str, np.ndarray]:
    """Epoch's digitised Chinchilla points minus the 5 highest losses; D = C / (6N)."""
    path = root / "epoch_chinchilla_svg_extracted_data.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found (pass --data DIR with the shared scaling-runs data)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    keep = np.argsort(loss, kind="stable")[:-5]
    return {"n": n[keep], "c": c[keep], "loss": loss[keep]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap-n", type=int, default=4000, help="bootstrap refits to time (default 4000)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the Epoch CSV")
    ap.add_argument("--repeat", type=int, default=1, help="time the multi-start this many times, report the best")
    args = ap.parse_args()

    from scaling.fit.bootstrap import run_bootstrap
    from scaling.fit.estimators import run_estimator
    from scaling.fit.inputs import build_problem
    from scaling.fit.registry import get_law

    p = load_epoch(args.data)
    problem = build_problem(get_law("chinchilla"), loss=p["loss"], n=p["n"], c=p["c"])
    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        outcome, objective = run_estimator(problem, "huber-grid")
        times.append(time.perf_counter() - t0)
    multistart_s = min(times)
    params = problem.law.to_params(objective.theta(outcome.y[None, :])[0])
    print(f"multi-start: {multistart_s:.2f} s, {outcome.n_starts} starts, {outcome.n_at_best} at the best objective "
          f"{outcome.fun:.7e}; alpha {params['alpha']:.4f}, beta {params['beta']:.4f}, E {params['E']:.4f}")
    t0 = time.perf_counter()
    boot = run_bootstrap(problem, objective, outcome, n_boot=args.bootstrap_n, seed=0)
    bootstrap_s = time.perf_counter() - t0
    se = {k: float(np.std(boot.params[k], ddof=1)) for k in ("alpha", "beta", "E")}
    print(f"bootstrap: {bootstrap_s:.2f} s for {args.bootstrap_n} refits ({boot.record['starts_per_replicate']} "
          f"starts each, converged fraction {boot.record['converged_fraction']:.3f}); standard errors "
          + ", ".join(f"{k} {v:.4f}" for k, v in se.items()))
    print(json.dumps({"multistart_s": round(multistart_s, 3), "bootstrap_s": round(bootstrap_s, 3),
                      "bootstrap_n": args.bootstrap_n}))


if __name__ == "__main__":
    main()
