"""Ctrl-C / SIGTERM once, mid-training, in-process and with two worker processes: the sweep checkpoints where it
is, gives the trial back (queued, its attempt not counted), exits 130 with one line and no traceback; the
re-run ends in the store of an uninterrupted run. Ctrl-C on a terminal signals the whole process group, a
scheduler's SIGTERM often only the parent: both are covered."""

from __future__ import annotations

import signal

import faultutil as fu
import pytest

from scaling.train.checkpoint import Checkpointer

# (executor, signal, to the whole group like a terminal's Ctrl-C, or to the parent only like a scheduler)
CASES = [("inprocess", signal.SIGINT, True), ("processes", signal.SIGTERM, False)] + (
    [("processes", signal.SIGINT, True), ("inprocess", signal.SIGTERM, False), ("processes", signal.SIGINT, False),
     ("processes", signal.SIGTERM, True)] if fu.FULL else [])
STOPPING = "stopping after this step"


INTERRUPTED_CODES = (130,)


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "signum", "group"), CASES,
                         ids=[f"{e}-{signal.Signals(s).name}-{'group' if g else 'parent'}" for e, s, g in CASES])
def test_one_signal_checkpoints_releases_and_resumes(tmp_path, reference, cache_dir, tally_file, executor, signum,
                                                     group):
    sweep, run_dir = fu.write_sweep(tmp_path, executor), tmp_path / "run"
    run = fu.Watched(sweep, run_dir, fu.env_for(cache_dir))
    fu.wait_for(lambda: fu.train_rows(run_dir) >= 12, run.proc, "12 logged steps")  # mid-run, off the cadence
    if group:
        fu.kill_group(run.proc, signum)
    else:
        run.proc.send_signal(signum)
    code, output = run.wait_exit()
    assert code in INTERRUPTED_CODES and "interrupted: re-run the same command" in output, output[-3000:]
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert output.count(STOPPING) == 1, output[-3000:]  # one message, from the process the user signalled

    trials = fu.query(run_dir, "SELECT id, status, attempt FROM trials")
    assert not [t for t in trials if t[1] == "running"], trials
    stopped = [tid for tid, status, _ in trials if status == "queued" and fu.query(
        run_dir, "SELECT 1 FROM metrics WHERE trial = ? LIMIT 1", (tid,))]
    assert stopped, f"no trial was stopped mid-run: {trials}"
    for tid, _, attempt in trials:
        if tid in stopped:
            assert attempt == 0, (tid, attempt)  # released: the interrupted attempt does not count
            (last,), = fu.query(run_dir, "SELECT MAX(step) FROM metrics WHERE trial = ? AND name = 'train_loss'",
                                (tid,))
            steps = Checkpointer(run_dir / "trials" / tid / "checkpoints", keep=5).steps()
            assert steps and steps[-1] == last, f"no checkpoint at the stop point {last}: {steps}"

    runs = fu.run_to_end(sweep, run_dir, fu.env_for(cache_dir))
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    differences = fu.Snapshot.of(run_dir).differences(reference)
    fu.record(tally_file, {"scenario": f"{signal.Signals(signum).name} once {executor}",
                           "phase": f"{'group' if group else 'parent'}: stopped {len(stopped)} trial(s)",
                           "differences": len(differences)})
    assert not differences, differences
