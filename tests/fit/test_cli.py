"""`scaling fit` and `scaling suggest` as a user runs them: JSON output, tables, exit code 2 on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fit_helpers import TRUE, grid_points, run_cli


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


@pytest.fixture()
def points_csv(tmp_path):
    n, d, loss = grid_points(seed=3, noise=0.005)
    return write_csv(tmp_path / "points.csv", ["n", "d", "loss"], zip(n, d, loss, strict=True))


def test_fit_json_on_epochs_points_reproduces_the_published_fit(tmp_path, epoch_points):
    p = epoch_points
    f = write_csv(tmp_path / "epoch.csv", ["Model Size", "Training FLOP", "loss"],
                  zip(p["n"], p["c"], p["loss"], strict=True))
    done = run_cli("fit", f, "--law", "chinchilla", "--n", "Model Size", "--c", "Training FLOP", "--loss", "loss",
                   "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"law", "method", "params", "intervals", "objective", "n_points", "converged", "conventions"} <= set(out)
    assert out["law"] == "chinchilla" and out["method"] == "huber-grid" and out["n_points"] == 240
    assert set(out["params"]) == {"A", "B", "E", "alpha", "beta"}
    assert out["objective"] == pytest.approx(1.0182740e-3, rel=1e-6)
    assert out["params"]["beta"] == pytest.approx(0.3672, rel=5e-3)
    assert out["intervals"] == {} and out["converged"] is True
    assert out["conventions"]["N"].startswith("column 'Model Size'")
    assert "C / (6 N)" in out["conventions"]["D"]


def test_fit_json_with_bootstrap_holdout_and_method(points_csv):
    done = run_cli("fit", points_csv, "--method", "varpro", "--bootstrap", "30", "--seed", "4", "--holdout", "1",
                   "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["method"] == "varpro"
    lo, hi = out["intervals"]["alpha"]
    assert lo < out["params"]["alpha"] < hi
    assert out["procedure"]["bootstrap"]["n"] == 30 and out["procedure"]["bootstrap"]["seed"] == 4
    bt = out["backtest"]  # budgets are the grid's anti-diagonals: the largest holds one point
    assert bt["holdout_budgets"] == pytest.approx([6 * 2e10 * 5e11]) and bt["n_holdout"] == 1
    assert bt["n_train"] == 48 and bt["mean_abs_relative_error"] < 0.02


def test_fit_prints_a_readable_table(points_csv):
    done = run_cli("fit", points_csv, "--method", "varpro")
    assert done.returncode == 0, done.stderr
    assert "alpha" in done.stdout and "objective" in done.stdout and "{" not in done.stdout


def test_fit_reads_a_run_directory_with_results_csv_and_parquet(tmp_path, points_csv):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text(points_csv.read_text())
    done = run_cli("fit", run, "--method", "varpro", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["alpha"] == pytest.approx(TRUE["alpha"], rel=0.1)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    n, d, loss = grid_points(seed=3, noise=0.005)
    pq.write_table(pa.table({"N": n, "C": 6 * n * d, "L": loss}), tmp_path / "p.parquet")
    done = run_cli("fit", tmp_path / "p.parquet", "--n", "N", "--c", "C", "--loss", "L", "--method", "varpro",
                   "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["alpha"] == pytest.approx(TRUE["alpha"], rel=0.1)


BAD = {
    "fewer points than parameters": ([(1e8, 1e9, 3.1), (2e8, 1e9, 3.0), (4e8, 2e9, 2.9)],
                                     "5 free parameters but only 3 points"),
    "non-positive value": ([(1e8, 1e9, 3.1), (2e8, 1e9, 3.0), (-4e8, 2e9, 2.9)] * 3, "'n' must be positive"),
    "NaN value": ([(1e8, 1e9, 3.1), (2e8, 1e9, 3.0), (4e8, 2e9, "")] * 3, "'loss' has 3 NaN"),
    "single model size": ([(1e8, d, 3.0 - d / 1e11) for d in (1e9, 2e9, 4e9, 8e9, 1.6e10, 3.2e10)],
                          "'n' (parameters N) has a single value"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_a_message(tmp_path, case):
    rows, message = BAD[case]
    f = write_csv(tmp_path / "bad.csv", ["n", "d", "loss"], rows)
    done = run_cli("fit", f, "--method", "varpro")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "params"], "column 'params' (from --n) not found"),
        (["--law", "nope"], "unknown law 'nope'"),
        (["--method", "newton"], "unknown method 'newton'"),
        (["--law", "muennighoff"], "column 'u' (from --u) not found"),
    ],
)
def test_bad_options_exit_2_with_a_message(points_csv, args, message):
    done = run_cli("fit", points_csv, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_missing_tokens_and_missing_file_exit_2(tmp_path):
    f = write_csv(tmp_path / "no_d.csv", ["n", "loss"], [(1e8, 3.0), (2e8, 2.9)])
    done = run_cli("fit", f)
    assert done.returncode == 2 and "needs tokens D" in done.stderr
    done = run_cli("fit", tmp_path / "absent.csv")
    assert done.returncode == 2 and "file not found" in done.stderr
    done = run_cli("fit", tmp_path)
    assert done.returncode == 2 and "results.csv" in done.stderr


def test_suggest_proposes_trials_at_the_next_budget(tmp_path):
    from fit_helpers import chinchilla

    from scaling.fit.laws import chinchilla_compute_optimal

    rng = np.random.default_rng(0)
    rows = []
    for c in (1e17, 3e17, 1e18, 3e18):
        n_star = float(chinchilla_compute_optimal(TRUE, c)["N_opt"])
        for n in n_star * np.geomspace(0.25, 4, 5):
            d = c / (6 * n)
            rows.append((n, d, chinchilla(n, d) * np.exp(0.005 * rng.standard_normal())))
    f = write_csv(tmp_path / "iso.csv", ["n", "d", "loss"], rows)
    done = run_cli("suggest", f, "--target-flops", "1e21", "--bootstrap", "40", "--candidates", "5", "--top", "2",
                   "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["next_flops"] == pytest.approx(9e18, rel=0.05)  # the data's budget ratio (3x) once more
    assert len(out["trials"]) == 2
    for t in out["trials"]:
        assert 6 * t["N"] * t["D"] == pytest.approx(out["next_flops"])
        assert np.isfinite(t["shrink_loss_interval"]) and np.isfinite(t["shrink_N_opt_interval"])
    assert out["trials"][1]["cumulative_flops"] == pytest.approx(2 * out["next_flops"])
    assert out["baseline"]["widths_95"]["loss_at_target"] > 0
    done = run_cli("suggest", f, "--target-flops", "-1")
    assert done.returncode == 2 and "target-flops" in done.stderr
