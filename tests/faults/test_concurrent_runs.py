"""Two `scaling run` of the same sweep at once: both finish, every trial is trained exactly once (one claim
each, no metric row twice), and the store is that of one uninterrupted run."""

from __future__ import annotations

import pytest
from faultutil import Snapshot, env_for, finish, query, start, write_sweep


@pytest.mark.slow
def test_two_concurrent_runs_of_one_sweep_train_each_trial_once(tmp_path, reference, cache_dir):
    sweep, run_dir = write_sweep(tmp_path), tmp_path / "run"
    procs = [start(sweep, run_dir, env_for(cache_dir)) for _ in range(2)]
    results = [finish(p) for p in procs]
    assert [code for code, _ in results] == [0, 0], [out[-2000:] for _, out in results]
    snap = Snapshot.of(run_dir)
    assert not snap.differences(reference), snap.differences(reference)
    assert set(snap.attempts.values()) == {1}, f"a trial was claimed twice: {snap.attempts}"
    (total, distinct), = query(run_dir, "SELECT COUNT(*), COUNT(DISTINCT trial || '/' || name || '/' || step)"
                                        " FROM metrics")
    assert total == distinct == reference.rows
    print("trials by worker:", sorted(snap.workers.values()))
