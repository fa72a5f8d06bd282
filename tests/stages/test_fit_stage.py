"""The fit stage on a store of synthetic trials with known constants: best setting per point, seeds as
replicates, the learning-rate law recovered, compute-optimal table and the fit report written and read back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scaling import results
from scaling.fit.hyper_laws import fit_hyper_laws
from scaling.fit.points import ResultRow, SettingMean
from scaling.fit.report import FitReport
from scaling.stages import fit_stage
from scaling.sweep.schema import SweepConfig
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
    table = results.from_run_dir(tmp_path)
    points = table.best_per_point()
    assert len(table) == len(SIZES) * len(BUDGETS) * len(LRS) * 2
    assert len(points) == len(SIZES) * len(BUDGETS)
    assert len(table.per_setting()) == len(SIZES) * len(BUDGETS) * len(LRS)
    for p in points:
        assert p.replicates == 2
        best_lr = min(LRS, key=lambda lr: abs(math.log(lr) - math.log(lr_opt(p.n_non_embedding))))
        assert p.settings["optimizer.lr"] == best_lr
        assert p.loss == pytest.approx(np.mean([loss_of(p.n_non_embedding, p.d, best_lr, s) for s in (0, 1)]))
    small = [p.weight for p in points if p.n_non_embedding < 1e5]
    large = [p.weight for p in points if p.n_non_embedding > 1e5]
    assert max(small) < min(large), "noisier replicates weigh less"
    assert np.mean(points.weight) == pytest.approx(1.0)


def test_learning_rate_law_is_recovered(tmp_path):
    make_store(tmp_path)
    hyper = fit_hyper_laws(results.from_run_dir(tmp_path).per_setting(), bootstrap=50)
    law = hyper.law("lr", "step")
    assert law.fit.exponents["N"] == pytest.approx(-0.3, abs=0.02)
    assert law.fit.exponents["D"] == pytest.approx(0.0, abs=0.02), "the true lr* does not depend on D"
    assert law.fit.coefficient == pytest.approx(0.2, rel=0.15)
    assert all(o.how == "parabola" for o in hyper.optima)
    assert law.predict(1e5, 1e6) == pytest.approx(lr_opt(1e5), rel=0.1)
    assert hyper.law("batch_size", "step") is None, "no batch axis, no batch law"


def _setting(n: float, lr: float, loss: float) -> SettingMean:
    row = ResultRow(trial=f"{n}-{lr}", label="", size=str(n), budget="b", n_total=n, n_non_embedding=n, d=1e6,
                    loss=loss, settings={"optimizer.lr": lr})
    return SettingMean.of([row], "non_embedding")


def test_grid_edge_optima_are_bounds_not_regressed():
    rows = [_setting(n, lr, loss) for n, lr, loss in [
        (1e4, 1e-3, 3.0), (1e4, 3e-3, 2.9), (1e4, 1e-2, 2.95),   # interior
        (1e5, 1e-3, 2.5), (1e5, 3e-3, 2.4), (1e5, 1e-2, 2.45),   # interior
        (1e6, 1e-3, 2.2), (1e6, 3e-3, 2.1), (1e6, 1e-2, 2.0)]]   # best at the top edge: a lower bound only
    hyper = fit_hyper_laws(rows, bootstrap=0)
    assert [o.how for o in hyper.optima if o.N == 1e6] == ["above"]
    law = hyper.law("lr", "deepseek")
    assert law.fit is None and "2 interior optima (1 at the grid's edge)" in law.note, law.note


def test_lr_law_round_trips_through_the_report(tmp_path, sweep):
    make_store(tmp_path)
    fit_stage.run(tmp_path, sweep)
    again = FitReport.read(tmp_path)
    law = again.hyper.law("lr", "step")
    assert law is not None and law.fit.exponents["N"] == pytest.approx(-0.3, abs=0.02)
    low, high = law.fit.intervals["N"]
    assert low - 1e-9 <= -0.3 <= high + 1e-9, "lr* is quadratic in log lr here, so the vertices are exact"


def test_stage_writes_fit_json_with_constants_near_the_truth(tmp_path, sweep):
    make_store(tmp_path)
    out = fit_stage.run(tmp_path, sweep)
    fit = FitReport.read(tmp_path)
    chin = fit.laws["chinchilla"]
    assert chin.params["alpha"] == pytest.approx(TRUE["alpha"], abs=0.05)
    assert chin.params["beta"] == pytest.approx(TRUE["beta"], abs=0.05)
    assert chin.params["E"] == pytest.approx(TRUE["E"], abs=0.15)
    assert chin.bootstrap_samples is not None and len(chin.bootstrap_samples["alpha"]) == 50
    assert fit.conventions.params == "non_embedding" and fit.conventions.compute == "6nd"
    top = fit.compute_optimal[-1]
    assert top.extrapolated and top.N_opt_interval is not None
    assert top.N_opt_interval[0] <= top.N_opt <= top.N_opt_interval[1]
    c_max = float(fit.points.c.max())
    assert all(r.extrapolated == (r.C > c_max * 1.001) for r in fit.compute_optimal)
    assert sum(r.extrapolated for r in fit.compute_optimal) == 2, "10x and 100x past the largest trained compute"
    assert "chinchilla" in out["summary"]
    store = Store(tmp_path / STORE_NAME)
    assert [f["law"] for f in store.fits()] == ["chinchilla"]
    store.close()


def test_no_store_is_a_user_error(tmp_path, sweep):
    from scaling.errors import UserError

    with pytest.raises(UserError, match="no sweep store"):
        fit_stage.run(tmp_path, sweep)


def golden_store(run_dir):
    """One finished trial with hand-chosen counts: N 1000 non-embedding / 1500 total, D 2000, exact C 9.9e6."""
    store = Store(run_dir / STORE_NAME)
    store.add_trials([{"id": "g", "ord": 0, "label": "g", "config": {},
                       "axes": {"size": "g", "budget": "C1e7", "budget_kind": "isoflop", "budget_value": 1e7}}])
    store.claim("host:1")
    store.finish("g", "done", result={"params": {"total": 1500, "embedding": 500, "non_embedding": 1000},
                                      "tokens": 2000, "flops": {"six_n": 1.2e7, "exact": 9.9e6},
                                      "val_loss": 3.0, "train_loss": 3.1})
    store.close()


@pytest.mark.parametrize(("params", "compute", "n", "c"), [
    ("non_embedding", "6nd", 1000.0, 6 * 1000 * 2000),
    ("total", "6nd", 1500.0, 6 * 1500 * 2000),
    ("non_embedding", "exact", 1000.0, 9.9e6),
    ("total", "exact", 1500.0, 9.9e6),
])
def test_fit_stage_n_and_c_follow_the_conventions(tmp_path, params, compute, n, c):
    """Golden values by hand: the points table's N and C under each (params, compute) choice of the fit stage."""
    golden_store(tmp_path)
    cfg = fit_stage.FitStageConfig(params=params, compute=compute, loss="train_loss")
    table = results.from_run_dir(tmp_path, fit_stage.conventions_of(cfg))
    assert table.n.tolist() == [n] and table.c.tolist() == [pytest.approx(c)]
    assert table.loss.tolist() == [3.1] and table.d.tolist() == [2000.0]
    report = fit_stage.fit_table(table, cfg)
    assert report.conventions.params == params and report.conventions.compute == compute
    assert report.to_dict()["points"][0]["N"] == n and report.to_dict()["points"][0]["C"] == pytest.approx(c)
    assert "chinchilla" in report.errors, "one point cannot fit five parameters, and the report says so"


def test_bootstrap_resamples_whole_model_sizes_unless_told_rows(tmp_path, sweep):
    make_store(tmp_path)
    fit_stage.run(tmp_path, sweep)
    by_size = FitReport.read(tmp_path).laws["chinchilla"]
    assert by_size.procedure["bootstrap"]["resampling"] == f"whole model sizes ({len(SIZES)} clusters)"
    rows_cfg = sweep.stages.fit.model_copy(update={"resample": "rows"})
    fit_stage.fit_run(tmp_path, rows_cfg)
    by_row = FitReport.read(tmp_path).laws["chinchilla"]
    assert by_row.procedure["bootstrap"]["resampling"] == "rows"
    width = lambda r: r.intervals["alpha"][1] - r.intervals["alpha"][0]  # noqa: E731
    assert width(by_size) > width(by_row), "four sizes say less about the N exponent than 16 rows pretend"
