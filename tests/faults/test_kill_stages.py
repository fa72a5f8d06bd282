"""SIGKILL of the whole sweep during the stages after training (fit, compress, plot) at seeded random moments;
re-running the same command must end where an uninterrupted run ends: the same trials and compression rows,
one fit version with the same laws, the same compression summary, the same figure files. CI runs 1 point (in
the compress stage); `SCALING_FAULTS_FULL=1` runs 9."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import faultutil as fu
import pytest

POINTS = 9 if fu.FULL else 1
SEED = 29


def stage_facts(run_dir: Path) -> dict:
    """What the stages leave: fit versions and their laws, compress.json's rows and laws, figure file names."""
    fits = fu.query(run_dir, "SELECT version, report FROM fit_reports ORDER BY version")
    summary = json.loads((run_dir / "compress" / "compress.json").read_text())
    return {
        "fit_versions": [v for v, _ in fits],
        "laws": [{k: law["params"] for k, law in json.loads(r)["laws"].items()} for _, r in fits],
        "fit_json": json.loads((run_dir / "fit.json").read_text())["fit_version"],
        "compress_rows": sorted((r["id"], r["method"], r["val_loss"]) for r in summary["rows"]),
        "compress_laws": summary["laws"],
        "figures": sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*.png")),
        "reports": sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("report.*")),
    }


@pytest.fixture(scope="module")
def stages_reference(tmp_path_factory, cache_dir):
    """The tiny sweep with all three stages, run once uninterrupted: its store, its stage outputs, and how long
    the stages took (the window the kills are drawn from)."""
    root = tmp_path_factory.mktemp("stages-reference")
    sweep, run_dir = fu.write_sweep(root, stages=fu.ALL_STAGES), root / "run"
    proc = fu.start(sweep, run_dir, fu.env_for(cache_dir), stages=True)
    fu.wait_for(lambda: _trained(run_dir), proc, "4 trained trials", every_s=0.05)
    trained_at = time.monotonic()
    code, output = fu.finish(proc)
    assert code == 0, output[-3000:]
    return fu.Snapshot.of(run_dir), stage_facts(run_dir), time.monotonic() - trained_at


def first_difference(mine: object, theirs: object, path: str = "") -> str:
    """Where two JSON-like values first differ, as `path: mine != theirs`."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                return first_difference(mine.get(key), theirs.get(key), f"{path}.{key}")
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return f"{path or 'value'}: {str(mine)[:200]} != {str(theirs)[:200]}"


def _trained(run_dir: Path) -> bool:
    if not (run_dir / "store.sqlite").is_file():
        return False
    rows = fu.query(run_dir, "SELECT COUNT(*) FROM trials WHERE kind = 'train' AND status = 'done'")
    return bool(rows) and rows[0][0] == 4


def _phase(run_dir: Path) -> str:
    """Which stage the kill most likely landed in, from what it left."""
    if not fu.query(run_dir, "SELECT 1 FROM fit_reports LIMIT 1"):
        return "fit stage"
    pending = fu.query(run_dir, "SELECT COUNT(*) FROM trials WHERE kind = 'compress' AND status != 'done'")
    if not fu.query(run_dir, "SELECT 1 FROM trials WHERE kind = 'compress' LIMIT 1") or pending[0][0]:
        return "compress stage"
    return "compress summary / plot stage"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(POINTS))
def test_kill_during_the_stages_resumes_to_the_same_results(tmp_path, stages_reference, cache_dir, tally_file, i):
    reference, facts, window_s = stages_reference
    rng = random.Random(SEED * 1000 + i)
    # the reference compiled from cold, later runs hit the compilation cache: their stages take about half as long
    delay = rng.uniform(0.0, 0.5 * window_s) if fu.FULL else window_s * 0.3  # CI: mid-compress
    sweep, run_dir = fu.write_sweep(tmp_path, stages=fu.ALL_STAGES), tmp_path / "run"
    proc = fu.start(sweep, run_dir, fu.env_for(cache_dir), stages=True)
    fu.wait_for(lambda: _trained(run_dir), proc, "4 trained trials", every_s=0.05)
    time.sleep(delay)
    fu.kill_group(proc)
    code, _ = fu.finish(proc)
    phase = _phase(run_dir) if code < 0 else "ended before the kill"
    runs = fu.run_to_end(sweep, run_dir, fu.env_for(cache_dir), stages=True)
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    differences = fu.Snapshot.of(run_dir).differences(reference)
    mine = stage_facts(run_dir)
    differences += [f"{k}: {first_difference(mine[k], facts[k])}" for k in facts if mine[k] != facts[k]]
    fu.record(tally_file, {"scenario": "random during stages", "phase": phase, "delay": round(delay, 2),
                           "differences": len(differences)})
    assert not differences, differences
