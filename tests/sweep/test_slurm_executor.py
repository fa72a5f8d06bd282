"""The SLURM executor through submitit's local executor (no SLURM needed): the same store as in-process, and a
job given submitit's preemption signal checkpoints at once, is requeued, and resumes to the same store."""

from __future__ import annotations

import os
import signal
import subprocess

import enginetests as et
import pytest
from enginetests import attempts, fu

submitit = pytest.importorskip("submitit", reason="the SLURM executor needs the `slurm` extra "
                                                  "(pip install 'scaling[slurm]')")
EXECUTOR = "{kind: slurm, cluster: local, workers: 2, time: 10}"


@pytest.fixture(scope="module")
def reference(engine_reference):
    return engine_reference


def test_submitit_local_store_equals_in_process(tmp_path, reference):
    run = et.SweepThread(et.sweep_file(tmp_path, EXECUTOR), tmp_path / "run").join()
    assert run.trials == {"done": 4}
    assert not fu.Snapshot.of(tmp_path / "run").differences(reference)
    jobs = [p for p in (tmp_path / "run" / "slurm").iterdir() if p.name.isdigit()]  # its log folders, by job id
    assert len(jobs) == 4, f"one submitit job per trial: {jobs}"


def test_preempted_job_checkpoints_is_requeued_and_resumes_identically(tmp_path, reference):
    run = et.SweepThread(et.sweep_file(tmp_path, EXECUTOR), tmp_path / "run")
    (trial,) = et.main_trials(tmp_path / "run", 1)
    et.wait_rows(run, trial, 12)  # past the checkpoint at step 10, off its cadence
    (start,) = [a for a in attempts(trial) if a["event"] == "start"]
    os.kill(start["pid"], signal.SIGUSR2)  # what SLURM sends before a time limit or on preemption (--signal)
    assert run.join().trials == {"done": 4}
    assert not fu.Snapshot.of(tmp_path / "run").differences(reference)
    starts = [a for a in attempts(trial) if a["event"] == "start"]
    ends = [a for a in attempts(trial) if a["event"] == "end"]
    assert len(starts) == 2 and starts[1]["pid"] != start["pid"], attempts(trial)  # the requeued job's process
    assert [e["status"] for e in ends] == ["preempted", "done"], attempts(trial)
    assert ends[0]["steps"] > 12 and ends[1]["resumed_from"] == ends[0]["steps"], attempts(trial)


def test_without_submitit_the_run_names_the_extra_and_exits_2(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "submitit.py").write_text("raise ImportError('submitit is not installed')\n")
    env = {**fu.env_for(tmp_path / "cache"), "PYTHONPATH": str(blocked)}
    proc = subprocess.run([*fu.CLI, "run", str(et.sweep_file(tmp_path, EXECUTOR)), "--run-dir", str(tmp_path / "run"),
                           "--no-stages"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install 'scaling[slurm]'" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_executor_fields_belong_to_their_kind_and_slurm_needs_slurm(tmp_path):
    import shutil

    from scaling.errors import UserError
    from scaling.sweep.plan import load_sweep
    from scaling.sweep.slurm_executor import SlurmEngine

    with pytest.raises(UserError, match="executor.*`partition` belongs to kind slurm, not ray"):
        load_sweep(et.sweep_file(tmp_path, "{kind: ray, partition: gpu}"))
    sweep, _ = load_sweep(et.sweep_file(tmp_path, "{kind: slurm, partition: gpu, sbatch: {exclusive: true}}"))
    assert sweep.executor.sbatch == {"exclusive": True}  # a bare #SBATCH flag, not `--exclusive=1`
    if shutil.which("srun") is None:
        with pytest.raises(UserError, match="executor.cluster slurm: .*executor.cluster: local"):
            SlurmEngine(sweep.executor, tmp_path / "run")
