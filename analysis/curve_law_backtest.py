"""Schedule-aware loss-curve laws on our own CPU runs: fit on two schedules, predict the third from its lr alone.

Trains one byte-level size (d_model 48, 3 layers) for 2000 steps of 32 x 128 tokens on kjv + shakespeare with a
constant, a cosine and a warmup-stable-decay schedule (the sweep machinery, `optimizer.schedule.kind` as an axis,
lr logged at every step; re-running resumes and never re-trains a finished run), then fits the Multi-Power Law
(Luo et al. 2025) and the LR-annealing law (Tissue et al. 2024) to the train-loss curves:
fit on constant + cosine and predict WSD, and the reverse (fit on WSD, predict constant and cosine).
Writes backtest.json and prints each law's constants and the prediction errors.

    python -m analysis.curve_law_backtest [OUT] [--steps 2000]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from analysis.paths import parser

BATCH, SEQ = 32, 128
DIRECTIONS = (("constant+cosine -> wsd", ("constant", "cosine"), ("wsd",)),
              ("wsd -> constant, cosine", ("wsd",), ("constant", "cosine")))


def sweep(steps: int) -> dict[str, Any]:
    """The sweep: one size, one budget, three schedules (warmup 5%; WSD cools down over the last 20%, 1-sqrt)."""
    return {
        "name": "curve-law-backtest",
        "model": {"family": "transformer", "sizes": [{"d_model": 48, "n_layers": 3, "n_heads": 4}]},
        "data": {"corpus": ["kjv", "shakespeare"], "tokenizer": {"kind": "byte"}, "seq_len": SEQ},
        "budget": {"kind": "tokens", "tokens": [steps * BATCH * SEQ]},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.1,
                      "schedule": {"kind": {"values": ["constant", "cosine", "wsd"]}, "warmup": 0.05, "decay": 0.2,
                                   "decay_shape": "1-sqrt"}},
        "batch_size": BATCH, "log_every": 1, "mesh": {"data": 1}, "executor": {"kind": "local"},
        "eval": {"every_steps": 500, "batches": 8}, "checkpoint": {"every_steps": 1000, "keep": 1},
    }


def train(out: Path, steps: int) -> float:
    """Train (or resume) the three runs under OUT/run; returns the seconds it took."""
    from scaling.pipeline import run_pipeline

    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep(steps), sort_keys=False))
    start = time.perf_counter()
    run_pipeline(path, run_dir=out / "run", stages=False)
    return time.perf_counter() - start


def backtests(run_dir: Path) -> dict[str, Any]:
    """Both laws in both directions: the fitted constants and every held-out curve's errors."""
    from scaling.fit.curve_data import curves_from_run_dir
    from scaling.fit.curves import backtest_curves

    by_kind = {c.schedule: c for c in curves_from_run_dir(run_dir)}
    out: dict[str, Any] = {}
    for law in ("multi-power", "annealing"):
        for label, fit_on, held in DIRECTIONS:
            start = time.perf_counter()
            bt = backtest_curves([by_kind[k] for k in fit_on], [by_kind[k] for k in held], law)
            out[f"{law}: {label}"] = {**bt.to_dict(), "fit_seconds": time.perf_counter() - start}
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], "curve_law_backtest")
    p.add_argument("--steps", type=int, default=2000, help="training steps per run (default 2000)")
    args = p.parse_args()
    seconds = train(args.out, args.steps)
    results = {"train_seconds": seconds, "steps": args.steps, "backtests": backtests(args.out / "run")}
    (args.out / "backtest.json").write_text(json.dumps(results, indent=2))
    print(f"trained 3 runs of {args.steps} steps in {seconds:.0f} s")
    for key, r in results["backtests"].items():
        params = ", ".join(f"{k}={v:.4g}" for k, v in r["fit"]["params"].items())
        print(f"{key}: {params} (rms log residual {r['fit']['rms_residual']:.4f}, fit {r['fit_seconds']:.2f} s)")
        for pr in r["predictions"]:
            print(f"    {pr['schedule']:>8}: final observed {pr['final_observed']:.4f} predicted "
                  f"{pr['final_predicted']:.4f} (rel. error {pr['final_rel_error']:+.4f}); curve mean |rel. error| "
                  f"{pr['curve_mean_abs_rel_error']:.4f}")
    print(f"wrote {args.out / 'backtest.json'}")


if __name__ == "__main__":
    main()
