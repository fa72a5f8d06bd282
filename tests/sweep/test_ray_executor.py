"""The Ray executor on a Ray cluster started here (once per file): the same store as in-process; a worker
killed mid-trial is retried by Ray and resumes from its checkpoint, a worker given SIGTERM checkpoints at once
and is resubmitted, and both end in the in-process store."""

from __future__ import annotations

import os
import signal

import enginetests as et
import pytest
from enginetests import attempts, fu

ray = pytest.importorskip("ray", reason="the Ray executor needs the `ray` extra (pip install 'scaling[ray]')")


@pytest.fixture(scope="module")
def reference(engine_reference):
    """A local Ray (2 CPUs, no dashboard; its workers inherit this environment and compile cache) for this file,
    and the in-process store every Ray run must equal."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", _temp_dir=f"/tmp/ray-{os.getpid()}")
    yield engine_reference
    ray.shutdown()


def test_ray_store_equals_in_process(tmp_path, reference):
    run = et.SweepThread(et.sweep_file(tmp_path, "{kind: ray, workers: 2}"), tmp_path / "run").join()
    assert run.trials == {"done": 4}
    assert not fu.Snapshot.of(tmp_path / "run").differences(reference)
    assert not list((tmp_path / "run").glob("trials/*/metrics.jsonl")), "ingested files are removed"


def test_killed_worker_is_retried_and_sigterm_preempts_both_resume_identically(tmp_path, reference):
    run = et.SweepThread(et.sweep_file(tmp_path, "{kind: ray, workers: 2}"), tmp_path / "run")
    killed, preempted = et.main_trials(tmp_path / "run", 2)
    pids = {}
    for trial, signum in ((killed, signal.SIGKILL), (preempted, signal.SIGTERM)):
        et.wait_rows(run, trial, 12)  # past the checkpoint at step 10, off its cadence
        (start,) = [a for a in attempts(trial) if a["event"] == "start"]
        pids[trial] = start["pid"]
        os.kill(start["pid"], signum)
        if signum == signal.SIGKILL:
            # the last checkpoint (every 10 steps) before the kill; the step in flight may have saved too
            logged = et.train_rows(trial)
            resumable = {10 * (logged // 10), 10 * ((logged + 1) // 10)}
    assert run.join().trials == {"done": 4}
    assert not fu.Snapshot.of(tmp_path / "run").differences(reference)

    def events(trial, kind):
        return [a for a in attempts(trial) if a["event"] == kind]

    # SIGKILL: no chance to save; Ray re-ran the task in a new worker, which resumed from step 10
    assert len(events(killed, "start")) == 2 and events(killed, "start")[1]["pid"] != pids[killed]
    (end,) = events(killed, "end")
    assert end["status"] == "done" and end["resumed_from"] in resumable and end["resumed_from"] >= 10, (
        resumable,
        attempts(killed),
    )
    # SIGTERM: checkpointed where it was, returned `preempted`, resubmitted by the driver, resumed from there
    ends = events(preempted, "end")
    assert [e["status"] for e in ends] == ["preempted", "done"], attempts(preempted)
    assert ends[0]["steps"] > 12 and ends[1]["resumed_from"] == ends[0]["steps"], attempts(preempted)


def test_without_ray_the_error_names_the_extra(monkeypatch):
    from scaling.errors import UserError
    from scaling.sweep.ray_executor import RayEngine
    from scaling.sweep.schema import ExecutorConfig

    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # what an environment without ray imports
    with pytest.raises(UserError, match=r"executor.kind ray needs the `ray` package: pip install 'scaling\[ray\]'"):
        RayEngine(ExecutorConfig(kind="ray"))
