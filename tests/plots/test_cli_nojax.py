"""`scaling plot` / `scaling report` exit codes and messages, and that plotting never loads JAX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from scaling.cli import main; main()"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_plotting_a_run_leaves_jax_unloaded(full_run, tmp_path):
    code = (
        "import sys, shutil; from pathlib import Path\n"
        f"run = Path({str(tmp_path / 'copy')!r}); shutil.copytree({str(full_run)!r}, run)\n"
        "from scaling.stages.plot_stage import plot_run\n"
        "out = plot_run(run, strict=True)\n"
        "assert all('compress.json' in n or 'data-quality' in n for n in out['skipped'].values()), out['skipped']\n"
        "print('JAX' if 'jax' in sys.modules else 'NOJAX')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("NOJAX")


def test_report_command_writes_both_reports(full_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    done = cli("report", run, "--format", "png")
    assert done.returncode == 0, done.stderr
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(paths["report"]).is_file() and Path(paths["markdown"]).is_file()
    assert (run / "figures" / "fit_contours.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot", "{tmp}/nowhere"], "no such run directory or file"),
        (["plot", "{tmp}/empty"], "no sweep store"),
        (["report", "{tmp}/empty"], "no sweep store"),
        (["plot", "{tmp}/bad.csv"], "needs columns N, loss and D or C"),
        (["plot", "{tmp}/empty", "--format", "jpg"], "valid formats are png, svg"),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("params,loss\n1e6,3.2\n")
    done = cli(*[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_plot_csv_fits_and_draws_the_fit_figures(tmp_path):
    from scaling import fit as fitlib

    missing = [f for f in ("backtest", "isoflop_approach", "envelope_approach") if not hasattr(fitlib, f)]
    if missing:
        pytest.skip(f"the fit stage's fit_points needs scaling.fit.{', '.join(missing)} (not written yet)")
    from plotfixtures import SIZES, chinchilla

    rows = ["N,D,loss"] + [f"{n},{d},{chinchilla(n, d):.6f}" for n in SIZES.values() for d in (1e6, 3e6, 1e7)]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    done = cli("plot", tmp_path / "points.csv", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "figures" / "fit_contours.png").is_file()
    assert (tmp_path / "out" / "report.html").is_file()
