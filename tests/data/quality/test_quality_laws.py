"""The quality law and the data-constrained law recover known constants from simulated data within their
bootstrap intervals; the quality law's gradient matches finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.errors import UserError
from scaling.fit import fit_law, get_law
from scaling.fit.laws import MUENNIGHOFF_TIED
from scaling.fit.points import PointsTable, ResultRow
from scaling.fit.quality_law import fit_quality, level_column, quality_law

TRUE = {"A": 400.0, "B": 1800.0, "E": 1.7, "alpha": 0.34, "beta": 0.28, "q_1": 0.6, "q_2": 0.3}


def _grid(levels: int = 3):
    n, d, lv = np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e8, 1e11, 5), np.arange(levels), indexing="ij")
    return n.ravel(), d.ravel(), lv.ravel()


def test_gradient_matches_finite_differences():
    law = quality_law(3)
    n, d, lv = _grid()
    data = law.prepare({"n": n, "d": d, "level": lv})
    theta = law.from_params(TRUE)[None, :]
    v = np.random.default_rng(0).normal(size=(1, n.size))
    _, ctx = law.log_predict(theta, data)
    g = law.log_vjp(ctx, v)[0]
    eps = 1e-6
    for j in range(theta.shape[1]):
        up, dn = theta.copy(), theta.copy()
        up[0, j] += eps
        dn[0, j] -= eps
        fd = float(((law.log_predict(up, data)[0] - law.log_predict(dn, data)[0]) * v).sum() / (2 * eps))
        assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_quality_law_recovers_known_multipliers():
    n, d, lv = _grid()
    law = get_law("quality_chinchilla").configure(levels=3)
    loss = law.predict(TRUE, n=n, d=d, level=lv) * np.exp(np.random.default_rng(1).normal(0, 0.005, n.size))
    r = fit_law(n=n, d=d, loss=loss, law="quality_chinchilla", levels=3, columns={"level": lv}, bootstrap=60)
    for k, v in TRUE.items():
        lo, hi = r.intervals[k]
        assert lo <= v <= hi, f"{k}: {v} outside [{lo}, {hi}]"
    # worse data moves the frontier: at one compute, lower q means fewer parameters, more tokens, higher loss
    der = r.derived
    assert der["N_opt_0"] > der["N_opt_1"] > der["N_opt_2"]
    assert der["loss_at_target_0"] < der["loss_at_target_1"] < der["loss_at_target_2"]


def test_data_constrained_law_recovers_published_r_d_star():
    """Muennighoff's published constants, U from 1e8 to 1e10 tokens repeated 1-60 epochs, 1% noise."""
    p = MUENNIGHOFF_TIED.published
    n, u, r = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 3e9, 5), np.geomspace(1e8, 1e10, 3),
                                                [1, 2, 4, 8, 16, 30, 60], indexing="ij"))
    d = u * r
    loss = MUENNIGHOFF_TIED.predict(p, n=n, d=d, u=u) * np.exp(np.random.default_rng(2).normal(0, 0.01, n.size))
    fit = fit_law(n=n, d=d, u=u, loss=loss, law="muennighoff_tied", bootstrap=30)
    lo, hi = fit.intervals["R_D_star"]
    print(f"R_D* fitted {fit.params['R_D_star']:.2f} [{lo:.2f}, {hi:.2f}] (published 15.39)")
    assert lo <= p["R_D_star"] <= hi


def _row(i: int, n: float, d: float, loss: float, rate: float, filters: str) -> ResultRow:
    return ResultRow(trial=f"t{i}", label=f"t{i}", size=f"s{n:g}", budget=f"b{d:g}", n_total=n, n_non_embedding=n,
                     d=d, loss=loss, settings={"data.quality.corruption_rate": rate, "data.quality.filters": filters})


def test_fit_quality_reads_levels_from_the_points_table():
    n, d, lv = _grid()
    settings = [(0.0, "none"), (0.25, "none"), (0.25, "all")]
    loss = quality_law(3).predict(TRUE, n=n, d=d, level=lv)
    table = PointsTable(tuple(_row(i, n[i], d[i], loss[i], *settings[lv[i]]) for i in range(n.size)))
    assert len(table.best_per_point()) == n.size  # quality levels are distinct points, never "the best setting"
    result, names = fit_quality(table, bootstrap=0)
    assert names[0] == "corruption_rate=0.0, filters=none"
    expected_q = {names.index(f"corruption_rate={r}, filters={f}"): TRUE[f"q_{k}"] if k else 1.0
                  for k, (r, f) in enumerate(settings)}
    for level, q in expected_q.items():
        if level:
            assert result.params[f"q_{level}"] == pytest.approx(q, rel=0.02)


def test_level_column_and_bad_levels():
    levels, order = level_column([0.5, 0.0, 0.25, 0.0])
    assert order == [0.0, 0.25, 0.5] and levels.tolist() == [2, 0, 1, 0]
    with pytest.raises(UserError, match="level"):
        quality_law(2).prepare({"n": np.ones(2), "d": np.ones(2), "level": np.array([0, 2])})
