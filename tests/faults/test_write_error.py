"""A write error on a checkpoint save (disk full, injected as ENOSPC by the `SCALING_FAULT_AFTER` hook): that
trial is failed with the reason, its WSD branches are blocked with theirs, the sweep goes on and ends (it used
to poll forever), nothing else is lost; a later re-run with an attempt to spare finishes it all identically."""

from __future__ import annotations

import pytest
from faultutil import Snapshot, env_for, finish, record, start, write_sweep


@pytest.mark.slow
def test_a_full_disk_fails_one_trial_and_the_rest_of_the_sweep_is_kept(tmp_path, reference, cache_dir, tally_file):
    run_dir = tmp_path / "run"
    sweep = write_sweep(tmp_path, max_attempts=1)
    code, out = finish(start(sweep, run_dir, env_for(cache_dir, SCALING_FAULT_AFTER="regular:2:oserror")))
    assert code >= 0, f"the sweep did not end on its own: {code}\n{out[-3000:]}"
    snap = Snapshot.of(run_dir)
    by_label = {t[0]: (tid, t) for tid, t in snap.trials.items()}
    failed_id, failed = by_label["d16L1-D2.56K"]  # the first main run: its second regular save hit the error
    assert failed[4] == "failed" and "No space left on device" in snap.errors[failed_id]
    branch_id, branch = by_label["d16L1-D1.28K"]
    assert branch[4] == "failed" and snap.attempts[branch_id] == 0
    assert snap.errors[branch_id] == f"its WSD parent {failed_id} did not finish"
    for label in ("d24L1-D2.56K", "d24L1-D1.28K"):  # the other main run and its branch: exactly as uninterrupted
        tid, row = by_label[label]
        assert row == reference.trials[tid]
        mine = {k: v for k, v in snap.metrics.items() if k[0] == tid}
        assert mine == {k: v for k, v in reference.metrics.items() if k[0] == tid}

    # the disk has room again and the sweep allows a second attempt: everything finishes, identically
    code, out = finish(start(write_sweep(tmp_path, max_attempts=2), run_dir, env_for(cache_dir)))
    assert code == 0, out[-3000:]
    after = Snapshot.of(run_dir)
    differences = after.differences(reference)
    record(tally_file, {"scenario": "write error (ENOSPC)", "phase": "regular:2:oserror, then re-run",
                        "differences": len(differences)})
    assert not differences, differences
    assert after.attempts[failed_id] == 2 and after.attempts[branch_id] == 1
