"""The pieces under fit_law: batched L-BFGS, input checks, result object, table reading, backtests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fit_helpers import TRUE, chinchilla, grid_points

from scaling.errors import UserError
from scaling.fit import backtest, fit_law
from scaling.fit.io import DIRECTORY_READERS, read_table, register_directory_reader
from scaling.fit.lbfgs import CONVERGED_GTOL, LbfgsOptions, minimize_batch


def rosenbrock(X, idx):
    x, y = X[:, 0], X[:, 1]
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    g = np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=1)
    return f, g


def test_batched_lbfgs_converges_from_every_start():
    starts = np.array([[-1.2, 1.0], [2.0, 2.0], [0.0, 0.0], [-3.0, -3.0], [1.0, 1.0]])
    res = minimize_batch(rosenbrock, starts, LbfgsOptions(gtol=1e-9))
    assert np.allclose(res.x, 1.0, atol=1e-6)
    assert np.all(res.status <= 1)
    assert res.nit[-1] == 0 or res.status[-1] == CONVERGED_GTOL  # started at the optimum


def test_batched_lbfgs_lengthens_steps_on_plateaus():
    """A nearly flat direction must not be crawled: f = 1e-6 * (x - 1000)^2 from 0 converges in few steps."""

    def fun(X, idx):
        return 1e-6 * (X[:, 0] - 1000.0) ** 2, 2e-6 * (X[:, :1] - 1000.0)

    res = minimize_batch(fun, np.zeros((1, 1)), LbfgsOptions(gtol=1e-12))
    assert res.x[0, 0] == pytest.approx(1000.0, rel=1e-6) and res.nit[0] < 30


def test_bad_input_raises_user_errors_naming_the_problem():
    n, d, loss = grid_points()
    with pytest.raises(UserError, match="only 3 points"):
        fit_law(n=n[:3], d=d[:3], loss=loss[:3])
    with pytest.raises(UserError, match="'d' must be positive"):
        fit_law(n=n, d=-d, loss=loss)
    bad = loss.copy()
    bad[4] = np.nan
    with pytest.raises(UserError, match="NaN or infinite value.*row 4"):
        fit_law(n=n, d=d, loss=bad)
    with pytest.raises(UserError, match="single value"):
        fit_law(n=np.full(n.size, 1e8), d=d, loss=loss)
    with pytest.raises(UserError, match="needs columns .*D"):
        fit_law(n=n, loss=loss)
    with pytest.raises(UserError, match="unknown method"):
        fit_law(n=n, d=d, loss=loss, method="adam")
    with pytest.raises(UserError, match="varpro' is not available"):
        fit_law(n=n, d=d, loss=loss, law="kaplan_nd", method="varpro")


def test_fixed_parameters_and_weights():
    n, d, loss = grid_points(noise=0.0)
    r = fit_law(n=n, d=d, loss=loss, fixed={"alpha": 0.34, "E": 1.69}, starts={"a": (5.0,), "b": (5.0, 10.0)})
    assert r.params["alpha"] == 0.34 and r.params["E"] == pytest.approx(1.69)
    assert r.params["beta"] == pytest.approx(0.28, rel=1e-5)
    w = np.ones_like(loss)
    w[:10] = 0.0  # zero-weight rows do not count
    corrupted = loss.copy()
    corrupted[:10] *= 1.5
    r2 = fit_law(n=n, d=d, loss=corrupted, weights=w, method="varpro")
    assert r2.params["alpha"] == pytest.approx(0.34, rel=1e-4)


def test_result_prints_serialises_and_predicts():
    n, d, loss = grid_points(seed=5)
    r = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=20)
    text = str(r)
    assert "alpha" in text and "reached the best objective" in text and "D: column 'd'" in text
    data = json.loads(r.to_json())
    assert data["params"] == pytest.approx(r.params) and data["procedure"]["huber_delta"] == 1e-3
    assert data["procedure"]["bootstrap"]["n"] == 20
    assert "bootstrap_samples" not in data
    # predict with D, or with C (D = C / 6N)
    assert r.predict(n=1e9, d=2e10) == pytest.approx(r.predict(n=1e9, c=6 * 1e9 * 2e10))
    assert float(r.predict(n=1e9, d=2e10)) == pytest.approx(float(chinchilla(1e9, 2e10)), rel=0.02)
    assert "FitResult(law='chinchilla'" in repr(r)


def test_read_table_csv_strings_and_directory_hook(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("name,n,loss\na,1e8,3.0\nb,2e8,\n")
    t = read_table(f)
    assert t["name"].tolist() == ["a", "b"]
    assert t["n"].tolist() == [1e8, 2e8] and np.isnan(t["loss"][1])
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(UserError, match="results.csv"):
        read_table(run)

    def store_reader(path):
        return {"n": np.array([1.0]), "loss": np.array([2.0])} if (path / "store.db").exists() else None

    register_directory_reader(store_reader)
    try:
        (run / "store.db").write_text("")
        assert read_table(run)["loss"].tolist() == [2.0]
    finally:
        DIRECTORY_READERS.remove(store_reader)


def test_backtest_reports_small_errors_on_a_true_law():
    n, d, loss = grid_points(seed=6, noise=0.003, sizes=6, tokens=6)
    bt = backtest(n=n, d=d, loss=loss, holdout=2, method="varpro")
    assert len(bt.holdout_budgets) == 2 and bt.observed.size == 3
    assert bt.mean_abs_relative_error < 0.01
    assert np.allclose(bt.relative_error, (bt.predicted - bt.observed) / bt.observed)
    assert set(bt.to_dict()["per_budget"]) == {f"{b:.4g}" for b in bt.holdout_budgets}
    with pytest.raises(UserError, match="cannot hold out"):
        backtest(n=n, d=d, loss=loss, holdout=11)  # 6x6 grid: 11 anti-diagonal budgets


def test_other_laws_fit_their_own_synthetic_data():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e10, 30)
    r = fit_law(x=x, loss=2.0 + 50 * x**-0.3, law="power_law_offset")
    assert r.params["alpha"] == pytest.approx(0.3, rel=1e-4) and r.params["E"] == pytest.approx(2.0, rel=1e-4)
    n, d, _ = grid_points()
    m, c = d / n, 6 * n * d
    loss = 1.8 + (30 * m**0.2 + 900 * m**-0.2) * c**-0.2
    g = fit_law(n=n, d=d, loss=loss * np.exp(0.001 * rng.standard_normal(n.size)), law="gadre", method="varpro")
    assert g.params["eta"] == pytest.approx(0.2, rel=0.05)
    tied = fit_law(n=n, d=d, loss=chinchilla(n, d, {**TRUE, "beta": TRUE["alpha"]}), law="chinchilla",
                   tied=True, method="varpro")
    assert tied.params["alpha"] == tied.params["beta"] == pytest.approx(0.34, rel=1e-4)
