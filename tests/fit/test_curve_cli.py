"""`scaling fit-curves` on a real tiny sweep: three runs of one size (constant, cosine, WSD) trained by the
project's own trainer, the law fitted on two schedules and the third predicted; curves read from the store
(exact or interpolated lr histories); bad input ends with exit code 2 and one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaling.fit.curve_data import curves_from_run_dir
from scaling.fit.curves import lr_schedule
from scaling.sweep.store import STORE_NAME, Store

SWEEP = """
name: curves
model: {family: transformer, sizes: [{d_model: 16, n_layers: 1, n_heads: 2}]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}
budget: {kind: tokens, tokens: [30720]}
optimizer: {lr: 1e-2, schedule: {kind: {values: [constant, cosine, wsd]}, warmup: 0.05, decay: 0.3}}
batch_size: 8
log_every: 1
mesh: {data: 1}
eval: {every_steps: 1000, batches: 1}
checkpoint: {every_steps: 1000, async_save: false}
"""


def run_main(capsys, *args: object) -> tuple[int, str, str]:
    """`scaling ARGS` through the console entry point, in process: (exit code, stdout, stderr)."""
    from scaling.cli import main

    capsys.readouterr()
    argv = sys.argv
    sys.argv = ["scaling", *map(str, args)]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(capsys, *args: object) -> str:
    """Exit code 2 and exactly one `error: ...` line, no traceback."""
    code, _, err = run_main(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Three 120-step runs of one tiny size, one per schedule (lr logged at every step)."""
    from scaling.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("curves")
    (root / "sweep.yaml").write_text(SWEEP)
    result = run_pipeline(root / "sweep.yaml", run_dir=root / "run", stages=False, show_progress=False)
    assert result.trials == {"done": 3}, result.trials
    return root / "run"


def test_curves_come_from_the_store_with_their_exact_lr_history(run_dir):
    curves = {c.schedule: c for c in curves_from_run_dir(run_dir)}
    assert set(curves) == {"constant", "cosine", "wsd"}
    for kind, c in curves.items():
        assert c.total_steps == 120 and c.steps.tolist() == list(range(1, 121))
        assert c.notes["lr"] == "logged at every step" and c.group == c.notes["trial"]
        expected = lr_schedule(kind, 1e-2, 120, warmup_steps=6, decay_steps=36)
        assert np.allclose(c.lr, expected, rtol=1e-5, atol=1e-10), kind  # the trainer's schedule, step by step
        assert c.tokens is not None and c.tokens[-1] == 120 * 8 * 32


def test_fit_on_constant_and_cosine_predicts_the_wsd_run(run_dir, capsys):
    code, stdout, stderr = run_main(capsys, "fit-curves", run_dir, "--law", "multi-power", "--fit-schedules",
                                    "constant,cosine", "--predict-schedule", "wsd")
    assert code == 0, stderr
    report = json.loads((run_dir / "curves" / "multi-power.json").read_text())
    (wsd,) = report["predictions"]
    with capsys.disabled():  # the error, for the log of a `-s` run
        print(f"tiny CPU runs, multi-power fitted on constant + cosine: WSD final loss {wsd['final_observed']:.4f} "
              f"observed, {wsd['final_predicted']:.4f} predicted, rel. error {wsd['final_rel_error']:+.4f}; curve "
              f"mean |rel. error| {wsd['curve_mean_abs_rel_error']:.4f}")
    assert wsd["schedule"] == "wsd" and math.isfinite(wsd["final_rel_error"])
    assert math.isfinite(wsd["curve_mean_abs_rel_error"]) and wsd["n_points"] > 100
    assert {c["schedule"] for c in report["fit"]["curves"]} == {"constant", "cosine"}
    assert set(report["fit"]["params"]) == {"L0", "A", "alpha", "B", "C", "beta", "gamma"}
    assert "relative error" in stdout and str(run_dir / "curves" / "multi-power.json") in stdout


def test_annealing_law_reverse_direction_as_json_without_jax(run_dir, tmp_path):
    out = tmp_path / "annealing.json"
    code = ("import sys\nfrom scaling.cli import main\nsys.argv = ['scaling', *sys.argv[1:]]\ntry:\n    main()\n"
            "except SystemExit as e:\n    assert not e.code, e.code\nprint('jax' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, "fit-curves", str(run_dir), "--law", "annealing",
                           "--predict-schedule", "constant,cosine", "--json", "--out", str(out), "--bootstrap", "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"  # the curve laws never load JAX
    printed = json.loads(done.stdout)
    assert printed == json.loads(out.read_text())
    assert printed["fit_on"] == [c["name"] for c in printed["fit"]["curves"]] and len(printed["fit_on"]) == 1
    assert {p["schedule"] for p in printed["predictions"]} == {"constant", "cosine"}
    for p in printed["predictions"]:
        print(f"tiny CPU runs, annealing fitted on wsd: {p['schedule']} final rel. error {p['final_rel_error']:+.4f}")
        assert math.isfinite(p["final_rel_error"])
    assert printed["fit"]["procedure"]["law_settings"] == {"lambda": 0.999}


def _store_without_lr(path: Path, lr_every: int | None) -> Path:
    """A store with one finished trial whose train loss is logged every step, and its lr every `lr_every`."""
    path.mkdir(parents=True, exist_ok=True)
    store = Store(path / STORE_NAME)
    config = {"optimizer": {"schedule": {"kind": "cosine"}}}
    store.add_trials([{"id": "t0", "ord": 0, "label": "cos", "config": config, "axes": {}}])
    store.claim("host:1", kind="train")
    store.finish("t0", "done", result={"train_loss": 2.0})
    lr = lr_schedule("cosine", 1e-3, 200, warmup_steps=20)
    for step in range(1, 201):
        values = {"train_loss": 3.0 - step / 200}
        if lr_every and (step % lr_every == 0 or step == 200):
            values["lr"] = float(lr[step - 1])
        store.log_metrics("t0", step, step * 256, 0.0, values)
    store.close()
    return path


def test_lr_logged_sparsely_is_interpolated_and_said_so(tmp_path):
    (curve,) = curves_from_run_dir(_store_without_lr(tmp_path / "run", lr_every=10))
    assert curve.notes["lr"] == "interpolated between steps logged every 10"
    exact = lr_schedule("cosine", 1e-3, 200, warmup_steps=20)
    assert curve.total_steps == 200 and np.max(np.abs(curve.lr - exact)) < 0.01 * exact.max()
    assert np.allclose(curve.lr[:20], exact[:20])  # the warmup ramp from 0 is linear: exact


def test_bad_input_ends_with_exit_2_and_one_line(run_dir, tmp_path, capsys):
    report = run_dir / "curves" / "multi-power.json"
    before = report.stat().st_mtime_ns if report.exists() else None
    assert "--law 'chinchilla'" in error_line(capsys, "fit-curves", run_dir, "--law", "chinchilla")
    assert "no sweep store" in error_line(capsys, "fit-curves", tmp_path)
    line = error_line(capsys, "fit-curves", run_dir, "--predict-schedule", "linear")
    assert "'linear'" in line and "constant, cosine, wsd" in line
    line = error_line(capsys, "fit-curves", _store_without_lr(tmp_path / "nolr", lr_every=None))
    assert "no finished train trial with an lr history" in line
    assert "objective" in error_line(capsys, "fit-curves", run_dir, "--objective", "l1")
    assert (report.stat().st_mtime_ns if report.exists() else None) == before  # a refused command writes nothing
