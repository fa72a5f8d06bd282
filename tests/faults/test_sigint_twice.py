"""A second Ctrl-C stops at once (exit 130, one line, no traceback), and the store stays consistent: every trial
done, queued (given back), or `running` under a process that no longer exists, which the next run reclaims at
once; the re-run ends in the store of an uninterrupted run."""

from __future__ import annotations

import signal

import faultutil as fu
import pytest

from scaling.sweep.store import _worker_alive
from scaling.train.signals import ABORT_EXIT_CODE


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["processes", "inprocess"] if fu.FULL else ["processes"])
def test_a_second_ctrl_c_aborts_and_leaves_the_store_consistent(tmp_path, reference, cache_dir, tally_file,
                                                                 executor):
    sweep, run_dir = fu.write_sweep(tmp_path, executor), tmp_path / "run"
    run = fu.Watched(sweep, run_dir, fu.env_for(cache_dir))
    fu.wait_for(lambda: fu.train_rows(run_dir) >= 12, run.proc, "12 logged steps")
    fu.kill_group(run.proc, signal.SIGINT)
    run.wait_text("stopping after this step")  # the first one was handled: the next one is a second Ctrl-C
    fu.kill_group(run.proc, signal.SIGINT)
    code, output = run.wait_exit(timeout=60)
    assert code == ABORT_EXIT_CODE and output.count("aborted") == 1, output[-3000:]  # the workers leave quietly
    assert "Traceback" not in output and "Exception ignored" not in output, output[-3000:]
    assert "run directory:" not in output, f"the first stop completed before the second Ctrl-C:\n{output[-3000:]}"

    trials = fu.query(run_dir, "SELECT id, status, worker FROM trials")
    assert {s for _, s, _ in trials} <= {"done", "queued", "running"}, trials
    held = [(tid, worker) for tid, status, worker in trials if status == "running"]
    assert not [h for h in held if _worker_alive(h[1])], f"a trial is held by a live process: {held}"

    runs = fu.run_to_end(sweep, run_dir, fu.env_for(cache_dir))
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    differences = fu.Snapshot.of(run_dir).differences(reference)
    fu.record(tally_file, {"scenario": f"SIGINT twice {executor}", "phase": f"{len(held)} left running (dead pid)",
                           "differences": len(differences)})
    assert not differences, differences
