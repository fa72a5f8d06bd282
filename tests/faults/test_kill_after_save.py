"""SIGKILL of the whole sweep right after each kind of checkpoint is finalised (regular, WSD branch point,
final), in-process and with two worker processes; re-running the same command must end in the store of an
uninterrupted run. The kill comes from the `SCALING_FAULT_AFTER` hook in `scaling.train.checkpoint`."""

from __future__ import annotations

import signal

import pytest
from faultutil import FULL, Snapshot, env_for, finish, phase_at_kill, record, run_to_end, start, write_sweep

# kind:n -> the n-th save of that kind in one process. In-process order: d16 main (regular 10, branch 15,
# regular 20, 30, final 40), d24 main (the same), then the two 5-step branch trials (final 20 each). With two
# workers each process counts its own saves (one main and one branch each, as a rule), so only the points one
# worker reaches are used there. CI runs every kind in-process and the branch point (the save that used to
# wedge the sweep) with workers; SCALING_FAULTS_FULL=1 runs every point with both executors.
KINDS = ["regular:2", "branch:1", "final:1"]
MORE = {"inprocess": ["regular:1", "regular:3", "branch:2", "final:2", "final:3", "final:4"],
        "processes": ["regular:1", "regular:3", "final:2"]}
POINTS = ([(e, k) for e in ("inprocess", "processes") for k in KINDS + MORE[e]] if FULL
          else [("inprocess", k) for k in KINDS] + [("processes", "branch:1")])


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "point"), POINTS, ids=[f"{e}-{k}" for e, k in POINTS])
def test_kill_right_after_a_save_resumes_to_the_same_store(tmp_path, reference, cache_dir, tally_file, executor,
                                                           point):
    sweep, run_dir = write_sweep(tmp_path, executor), tmp_path / "run"
    code, output = finish(start(sweep, run_dir, env_for(cache_dir, SCALING_FAULT_AFTER=point)))
    assert code == -signal.SIGKILL, f"the hook {point} never fired (exit {code}):\n{output[-3000:]}"
    phase = phase_at_kill(run_dir)
    runs = run_to_end(sweep, run_dir, env_for(cache_dir))
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    assert "StepAlreadyExistsError" not in "".join(out for _, out in runs)
    differences = Snapshot.of(run_dir).differences(reference)
    record(tally_file, {"scenario": f"after-save {executor}", "phase": f"{point}: {phase}",
                        "differences": len(differences)})
    assert not differences, differences
