"""The Ray executor: each trial a Ray core task with the sweep's resource request (CPU, GPU, TPU, custom).

Ray re-runs a task whose worker process or node was lost (`max_retries`); the re-run resumes from the trial's
newest checkpoint in the shared run directory. A worker given SIGTERM (a node draining, a spot instance
going) checkpoints at once and returns `preempted`, and the driver submits the trial again.
"""

from __future__ import annotations

import importlib
from typing import Any

from scaling.errors import UserError
from scaling.sweep.remote import TrialTask, run_task
from scaling.sweep.schema import ExecutorConfig


def require(module: str, extra: str) -> Any:
    """Import an optional engine, or a UserError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"executor.kind {extra} needs the `{module}` package: pip install 'scaling[{extra}]' "
                        f"(or pip install {module})") from None


def train_on_worker(task: TrialTask) -> dict[str, Any]:
    """The Ray task: train one trial on this worker (module-level, so Ray ships it by reference)."""
    return run_task(task)


class RayEngine:
    """Trials as Ray tasks on the cluster at `cfg.address` (or a Ray started here, and stopped at the end)."""

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.ray = ray = require("ray", "ray")
        self.started_here = not ray.is_initialized()
        if self.started_here:
            ray.init(address=cfg.address, include_dashboard=False, logging_level="WARNING")
        resources = {k: v for k, v in cfg.resources.items()}
        self.remote = ray.remote(train_on_worker).options(
            num_cpus=cfg.cpus_per_trial, num_gpus=cfg.gpus_per_trial, resources=resources or None,
            max_retries=cfg.max_retries, retry_exceptions=False)

    def submit(self, task: TrialTask) -> Any:
        return self.remote.remote(task)

    def done(self, job: Any) -> bool:
        ready, _ = self.ray.wait([job], timeout=0)
        return bool(ready)

    def result(self, job: Any) -> dict[str, Any]:
        return self.ray.get(job)

    def cancel(self, job: Any) -> None:
        self.ray.cancel(job, force=True)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()
