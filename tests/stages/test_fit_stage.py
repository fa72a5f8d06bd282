"""The fit stage on a store of synthetic trials with known constants: best setting per point, seeds as
replicates, the learning-rate law recovered, compute-optimal table and fit.json written."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scaling.stages import fit_stage
from scaling.sweep.schema import FitStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME, Store

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
SIZES = {"xs": 5e4, "s": 1.5e5, "m": 4.4e5, "xl": 1.8e6}
BUDGETS = (3e5, 1e6, 3e6, 1e7)
LRS = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)


def lr_opt(n: float) -> float:
    return 0.2 * n**-0.3


def loss_of(n: float, d: float, lr: float, seed: int) -> float:
    base = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    noise = 0.004 * (seed - 0.5) * (1 + (n < 1e5))  # the smallest model's seeds disagree more
    return base + 0.05 * (math.log(lr) - math.log(lr_opt(n))) ** 2 + noise


def make_store(run_dir):
    store = Store(run_dir / STORE_NAME)
    rows, i = [], 0
    for size in SIZES:
        for d in BUDGETS:
            for lr in LRS:
                for seed in (0, 1):
                    rows.append({"id": f"t{i}", "ord": i, "label": f"{size}-{d:g}-{lr:g}-{seed}", "config": {},
                                 "axes": {"size": size, "budget": f"D{d:g}", "optimizer.lr": lr, "seed": seed}})
                    i += 1
    store.add_trials(rows)
    for row in rows:
        axes = row["axes"]
        n, d = SIZES[axes["size"]], float(axes["budget"][1:])
        loss = loss_of(n, d, axes["optimizer.lr"], axes["seed"])
        store.claim("host:1")
        store.finish(row["id"], "done", result={"params": {"total": int(n * 1.3), "embedding": int(n * 0.3),
                                                           "non_embedding": int(n)}, "tokens": int(d),
                                                "val_loss": loss, "train_loss": loss})
        store.log_metrics(row["id"], 10, int(d), 6 * n * d, {"train_loss": loss + 0.5})
    store.close()


@pytest.fixture
def sweep():
    return SweepConfig.model_validate({
        "name": "synthetic", "model": {"sizes": ["xs"]}, "budget": {"kind": "tokens", "tokens": [1e6]},
        "stages": {"fit": {"laws": ["chinchilla"], "bootstrap": 50, "loss": "val_loss"}},
    })


def test_points_pick_the_best_lr_and_weight_by_seed_spread(tmp_path):
    make_store(tmp_path)
    store = Store(tmp_path / STORE_NAME)
    points, candidates = fit_stage.collect_points(store.trials(), FitStageConfig())
    store.close()
    assert len(points) == len(SIZES) * len(BUDGETS)
    assert len(candidates) == len(SIZES) * len(BUDGETS) * len(LRS)
    for p in points:
        assert p.replicates == 2
        best_lr = min(LRS, key=lambda lr: abs(math.log(lr) - math.log(lr_opt(p.N))))
        assert p.loss == pytest.approx(np.mean([loss_of(p.N, p.D, best_lr, s) for s in (0, 1)]))
    small = [p.weight for p in points if p.N < 1e5]
    large = [p.weight for p in points if p.N > 1e5]
    assert max(small) < min(large), "noisier replicates weigh less"
    assert np.mean([p.weight for p in points]) == pytest.approx(1.0)


def test_learning_rate_law_is_recovered(tmp_path):
    make_store(tmp_path)
    store = Store(tmp_path / STORE_NAME)
    _, candidates = fit_stage.collect_points(store.trials(), FitStageConfig())
    store.close()
    lr = fit_stage.fit_learning_rate(candidates)
    assert lr["law"]["b_N"] == pytest.approx(-0.3, abs=0.02)
    assert math.exp(lr["law"]["a"]) == pytest.approx(0.2, rel=0.1)
    assert all(o["how"] == "parabola" for o in lr["optima"])


def test_stage_writes_fit_json_with_constants_near_the_truth(tmp_path, sweep):
    make_store(tmp_path)
    out = fit_stage.run(tmp_path, sweep)
    fit = json.loads((tmp_path / fit_stage.FIT_FILE).read_text())
    params = fit["laws"]["chinchilla"]["params"]
    assert params["alpha"] == pytest.approx(TRUE["alpha"], abs=0.05)
    assert params["beta"] == pytest.approx(TRUE["beta"], abs=0.05)
    assert params["E"] == pytest.approx(TRUE["E"], abs=0.15)
    assert fit["conventions"]["N"] == "non_embedding"
    assert fit["compute_optimal"] and fit["compute_optimal"][-1]["N_opt_interval"] is not None
    lo, hi = fit["compute_optimal"][-1]["N_opt_interval"]
    assert lo <= fit["compute_optimal"][-1]["N_opt"] <= hi
    assert "chinchilla" in out["summary"]
    store = Store(tmp_path / STORE_NAME)
    assert [f["law"] for f in store.fits()] == ["chinchilla"]
    store.close()


def test_no_store_is_a_user_error(tmp_path, sweep):
    from scaling.errors import UserError

    with pytest.raises(UserError, match="no sweep store"):
        fit_stage.run(tmp_path, sweep)
