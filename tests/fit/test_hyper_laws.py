"""Hyperparameter laws recover known Step-Law and DeepSeek constants from simulated lr x batch grids, report
grid-edge optima as bounds (never regressed), and check the fitted law against those bounds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from scaling.fit.hyper_laws import annotate_trials, fit_hyper_laws, optimum_in_log
from scaling.fit.points import ResultRow, SettingMean

STEP = {"lr": (1.79, -0.713, 0.307), "batch": (0.58, 0.571)}  # Li et al. 2025: lr* = k N^a D^b, B* = k D^a (tokens)
DEEPSEEK = {"lr": (0.3118, -0.1250), "batch": (0.2920, 0.3271)}  # DeepSeek LLM 2024: lr* = k C^a, B* = k C^a
SIZES = (2e7, 6e7, 2e8, 6e8)
TOKENS = (2e9, 6e9, 2e10, 6e10)


def step_optima(n: float, d: float) -> tuple[float, float]:
    k, a, b = STEP["lr"]
    kb, ab = STEP["batch"]
    return k * n**a * d**b, kb * d**ab


def setting(n: float, d: float, lr: float, batch: float, loss: float) -> SettingMean:
    row = ResultRow(trial=f"{n:g}-{d:g}-{lr:g}-{batch:g}", label="", size=f"{n:g}", budget=f"{d:g}", n_total=n,
                    n_non_embedding=n, d=d, loss=loss, settings={"optimizer.lr": lr, "batch_size": batch})
    return SettingMean.of([row], "non_embedding")


def grid(optima, lrs, batches, noise: float = 0.0, seed: int = 0) -> list[SettingMean]:
    """Loss quadratic in log lr and log B around the true optima (a bowl, as measured by Li et al.)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n, d in itertools.product(SIZES, TOKENS):
        lr_opt, b_opt = optima(n, d)
        for lr, b in itertools.product(lrs, batches):
            loss = 2.0 + 0.04 * math.log(lr / lr_opt) ** 2 + 0.02 * math.log(b / b_opt) ** 2
            rows.append(setting(n, d, lr, b, loss + noise * rng.standard_normal()))
    return rows


def test_step_law_constants_recovered_from_an_interior_grid():
    rows = grid(step_optima, np.geomspace(1e-4, 3e-2, 12), np.geomspace(1e4, 1e7, 10), noise=1e-4, seed=1)
    hyper = fit_hyper_laws(rows, bootstrap=200, seed=0)
    lr, batch = hyper.law("lr", "step"), hyper.law("batch_size", "step")
    for name, true in (("N", STEP["lr"][1]), ("D", STEP["lr"][2])):
        lo, hi = lr.fit.intervals[name]
        assert lo <= true <= hi and hi - lo < 0.1, (name, lo, hi)
    lo, hi = batch.fit.intervals["D"]
    assert lo <= STEP["batch"][1] <= hi and hi - lo < 0.1, (lo, hi)
    assert hyper.propose(1e9, 2e11)["lr"] == pytest.approx(step_optima(1e9, 2e11)[0], rel=0.1)
    assert hyper.propose(1e9, 2e11)["batch_size"] == pytest.approx(step_optima(1e9, 2e11)[1], rel=0.1)


def test_deepseek_constants_recovered_in_compute():
    def optima(n, d):
        c = 6 * n * d
        return DEEPSEEK["lr"][0] * c ** DEEPSEEK["lr"][1], DEEPSEEK["batch"][0] * c ** DEEPSEEK["batch"][1]

    rows = grid(optima, np.geomspace(3e-4, 3e-2, 12), np.geomspace(1e3, 3e6, 14))
    hyper = fit_hyper_laws(rows, bootstrap=0)
    lr, batch = hyper.law("lr", "deepseek"), hyper.law("batch_size", "deepseek")
    assert lr.fit.exponents["C"] == pytest.approx(DEEPSEEK["lr"][1], abs=0.01)
    assert lr.fit.coefficient == pytest.approx(DEEPSEEK["lr"][0], rel=0.3)
    assert batch.fit.exponents["C"] == pytest.approx(DEEPSEEK["batch"][1], abs=0.01)


def test_edge_optima_are_bounds_checked_not_regressed():
    lrs = np.geomspace(2e-4, 2e-3, 6)  # too narrow: the smallest models' optimum lies above the grid
    rows = grid(step_optima, lrs, [1e5, 3e5, 1e6, 3e6])
    hyper = fit_hyper_laws(rows, bootstrap=0)
    lr_optima = [o for o in hyper.optima if o.target == "lr"]
    above = [o for o in lr_optima if o.how == "above"]
    assert above and all(step_optima(o.N, o.D)[0] > lrs[-1] for o in above), "bounds where the truth is off-grid"
    interior = [o for o in lr_optima if not o.is_bound]
    assert all(o.value == pytest.approx(step_optima(o.N, o.D)[0], rel=1e-6) for o in interior)
    law = hyper.law("lr", "step")
    assert law.fit.n_points == len(interior) < len(lr_optima)
    assert law.fit.exponents["N"] == pytest.approx(STEP["lr"][1], abs=1e-6), "exact vertices, exact law"
    assert law.bounds_violated == [], "the true law agrees with every bound"


def test_a_law_contradicting_its_bounds_says_so():
    o = optimum_in_log("lr", 1e8, 1e10, np.array([1e-3, 2e-3, 4e-3]), np.array([3.0, 2.9, 2.8]))
    assert o.how == "above" and o.value == pytest.approx(4e-3)
    rows = grid(step_optima, np.geomspace(1e-4, 3e-2, 12), [256.0, 1024.0])
    rows += [setting(5e9, 2e9, lr, 256.0, loss) for lr, loss in ((1e-2, 3.0), (2e-2, 2.9), (4e-2, 2.8))]
    law = fit_hyper_laws(rows, bootstrap=0).law("lr", "step")
    assert [v["bound"] for v in law.bounds_violated] == ["above"], law.bounds_violated


def test_too_few_interior_optima_give_a_reason_and_no_law():
    rows = [setting(n, 1e9, lr, 256.0, 2.0 + 0.04 * math.log(lr / 1e-3) ** 2) for n in (1e7, 1e8)
            for lr in (3e-4, 1e-3, 3e-3)]
    hyper = fit_hyper_laws(rows, bootstrap=0)
    law = hyper.law("lr", "step")
    assert law.fit is None and "2 interior optima" in law.note and "D varying" in law.note, law.note
    assert hyper.law("batch_size", "step") is None
    trials = [{"N": 1e9, "D": 2e10}]
    assert "lr" not in trials[0] and "no hyperparameter law" in annotate_trials(trials, hyper)


def test_cli_fits_a_table_and_proposes(tmp_path):
    import json

    from fit_helpers import run_cli

    rows = grid(step_optima, np.geomspace(1e-4, 3e-2, 8), np.geomspace(1e4, 1e7, 6))
    path = tmp_path / "runs.csv"
    path.write_text("n,d,lr,batch,loss\n" + "".join(
        f"{r.n},{r.representative.d},{r.setting['optimizer.lr']},{r.setting['batch_size']},{r.loss}\n" for r in rows))
    out = run_cli("hyper", path, "--batch-size", "batch", "--bootstrap", "50", "--propose", "N=1e9,D=2e11", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["laws"]["lr:step"]["fit"]["exponents"]["N"] == pytest.approx(STEP["lr"][1], abs=0.02)
    assert data["proposals"][0]["lr"] == pytest.approx(step_optima(1e9, 2e11)[0], rel=0.15)
    text = run_cli("hyper", path, "--batch-size", "batch", "--bootstrap", "0")
    assert text.returncode == 0 and "lr (step): " in text.stdout and "at a grid edge" in text.stdout, text.stdout
    (tmp_path / "plain.csv").write_text("n,d,loss\n1,2,3\n2,3,4\n")
    bad = run_cli("hyper", tmp_path / "plain.csv")
    assert bad.returncode == 2 and "--lr COL" in bad.stderr, bad.stderr
    bad = run_cli("hyper", path, "--propose", "N=1e9")
    assert bad.returncode == 2 and "--propose takes N and D" in bad.stderr, bad.stderr
