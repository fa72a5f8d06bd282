"""SIGKILL of the whole sweep at seeded random moments (a random number of logged steps, then a random
delay; or a random time into start-up: so anywhere in start-up, training, evaluation, checkpoint and branch
saves), in-process and with two worker processes; re-running the same command must end in the store of an
uninterrupted run. CI runs 1 point in-process; `SCALING_FAULTS_FULL=1` runs 25, every third with workers."""

from __future__ import annotations

import random
import time

import faultutil as fu
import pytest

POINTS = 25 if fu.FULL else 1
SEED = 13


@pytest.mark.slow
@pytest.mark.parametrize("i", range(POINTS))
def test_kill_at_a_random_moment_resumes_to_the_same_store(tmp_path, reference, cache_dir, tally_file, i):
    rng = random.Random(SEED * 1000 + i)
    executor = "processes" if fu.FULL and i % 3 == 2 else "inprocess"  # CI: workers get the fixed kill points
    if rng.random() < 0.15:  # start-up: imports, planning, the store, compilation, the first trial's restore
        rows, delay = 0, rng.uniform(0.0, 4.0)
    else:  # somewhere in training, evaluation or a checkpoint save: after a random share of the 120 rows
        rows, delay = rng.randint(1, 110), rng.uniform(0.0, 0.5)
    sweep, run_dir = fu.write_sweep(tmp_path, executor), tmp_path / "run"
    proc = fu.start(sweep, run_dir, fu.env_for(cache_dir))
    fu.wait_for(lambda: fu.train_rows(run_dir) >= rows, proc, f"{rows} logged steps")
    time.sleep(delay)  # the random moment itself, not a synchronisation
    fu.kill_group(proc)
    code, _ = fu.finish(proc)
    phase = fu.phase_at_kill(run_dir) if code < 0 else "ended before the kill"
    runs = fu.run_to_end(sweep, run_dir, fu.env_for(cache_dir))
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    differences = fu.Snapshot.of(run_dir).differences(reference)
    fu.record(tally_file, {"scenario": f"random {executor}", "phase": phase, "rows": rows, "delay": round(delay, 3),
                           "differences": len(differences)})
    assert not differences, differences
