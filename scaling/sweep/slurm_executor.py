"""The SLURM executor through submitit: each trial a job (`nodes` hosts, one JAX process per task); submitit's
local executor (`cluster: local`) runs the same jobs on a machine without SLURM.

Preemption and time limits use submitit's checkpointing protocol: on its signal (USR2 before the limit, or on
preemption) `SlurmTrial.checkpoint` stops the trial at the next step, which checkpoints there, and hands
submitit the same trial to requeue; the requeued job resumes from that checkpoint.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from scaling.errors import UserError
from scaling.sweep.ray_executor import require
from scaling.sweep.remote import TrialTask, run_task
from scaling.sweep.schema import ExecutorConfig


class SlurmTrial:
    """A submitit job function that trains one trial in a thread, so the main thread stays free for signals."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, task: TrialTask) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def body() -> None:
            try:
                box["out"] = run_task(task, self._stop, catch_sigterm=False)
            except BaseException as exc:  # re-raised in the main thread, where submitit reports it
                box["error"] = exc

        self._thread = threading.Thread(target=body, name="trial")
        self._thread.start()
        while self._thread.is_alive():
            self._thread.join(0.2)
        if "error" in box:
            raise box["error"]
        return box["out"]

    def checkpoint(self, task: TrialTask) -> Any:
        """submitit's hook (in the main thread, on its preemption or time-limit signal): stop the trial, which
        checkpoints at the step it is on, then requeue the same trial."""
        import submitit

        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return submitit.helpers.DelayedSubmission(SlurmTrial(), task)

    def __getstate__(self) -> dict[str, Any]:
        return {}  # a requeued job starts with a fresh event and no thread

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()


class SlurmEngine:
    """Trials as submitit jobs; logs and submitit's pickles under RUN_DIR/slurm/<job id>/."""

    def __init__(self, cfg: ExecutorConfig, run_dir: Path) -> None:
        submitit = require("submitit", "slurm")
        try:
            self.executor = submitit.AutoExecutor(folder=Path(run_dir) / "slurm" / "%j", cluster=cfg.cluster)
        except RuntimeError as exc:  # submitit's "Could not detect srun": no SLURM on this machine
            raise UserError(f"executor.cluster {cfg.cluster}: {exc}; run from a SLURM login node, or set "
                            "executor.cluster: local to run the jobs on this machine") from None
        params = {
            "name": f"scaling-{Path(run_dir).name}", "timeout_min": cfg.time, "nodes": cfg.nodes,
            "tasks_per_node": cfg.tasks_per_node, "gpus_per_node": cfg.gpus_per_node,
            "cpus_per_task": cfg.cpus_per_task, "mem_gb": cfg.mem_gb, "slurm_partition": cfg.partition,
            "slurm_account": cfg.account, "slurm_qos": cfg.qos, "slurm_constraint": cfg.constraint,
            "slurm_additional_parameters": dict(cfg.sbatch) or None,
        }
        self.executor.update_parameters(**{k: v for k, v in params.items() if v is not None})

    def submit(self, task: TrialTask) -> Any:
        return self.executor.submit(SlurmTrial(), task)

    def done(self, job: Any) -> bool:
        return job.done()

    def result(self, job: Any) -> dict[str, Any]:
        return job.result()

    def cancel(self, job: Any) -> None:
        job.cancel(check=False)

    def close(self) -> None:
        pass
