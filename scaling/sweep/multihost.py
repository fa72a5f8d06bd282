"""One trial across several hosts: every process of a `jax.distributed` job runs `scaling run`, process 0 alone
claims trials and writes the store, and it broadcasts each trial to the others so that all train the same one.

Every decision the processes must share is a collective they all make at the same point: which trial is next
(a broadcast from process 0) and whether to stop (`AgreedStop`, an all-gather of each process's own stop
flag), so a SIGTERM that reaches the hosts at slightly different steps still stops them all at the same one.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from scaling.sweep.runner import WorkerReport, branch_dir, run_claimed, run_trial, trial_dir
from scaling.sweep.schema import ExecutorConfig
from scaling.sweep.store import STORE_NAME, Store, TrialRow, worker_id
from scaling.train.mesh import maybe_initialize_distributed

POLL_S = 2.0
STOP_EVERY = 10  # steps between agreements on a stop: each is a collective the host waits for


def is_multihost() -> bool:
    """Whether this process is one of several of a `jax.distributed` job (which it joins first if need be)."""
    import jax

    maybe_initialize_distributed()
    return jax.process_count() > 1


def is_lead_process() -> bool:
    """Process 0 of a multi-host job, or the only process: the one that writes the store."""
    import jax

    maybe_initialize_distributed()
    return jax.process_index() == 0


class AgreedStop:
    """A stop event every process reads alike: `is_set` all-gathers the local flags every `every` calls (the
    training loop calls it once per step on every process) and answers with the last agreement in between."""

    def __init__(self, local: threading.Event, every: int = STOP_EVERY) -> None:
        self.local, self.every = local, every
        self._calls, self._agreed = 0, False

    def agree(self) -> bool:
        """A collective: True once any process was asked to stop."""
        from jax.experimental import multihost_utils

        flags = multihost_utils.process_allgather(np.array([int(self.local.is_set())], np.int32))
        self._agreed = self._agreed or bool(np.asarray(flags).any())
        return self._agreed

    def is_set(self) -> bool:
        self._calls += 1
        if not self._agreed and self._calls % self.every == 0:
            self.agree()
        return self._agreed

    def set(self) -> None:
        self.local.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep (for `work`'s polling); the agreement happens at the loop's next collective."""
        return self.local.wait(timeout)


def broadcast_json(value: Any) -> Any:
    """Process 0's JSON-able `value` on every process (the others pass None): its length, then its bytes."""
    import jax
    from jax.experimental import multihost_utils

    lead = jax.process_index() == 0
    data = json.dumps(value).encode() if lead else b""
    size = int(multihost_utils.broadcast_one_to_all(np.array([len(data)], np.int64))[0])
    buf = np.frombuffer(data, np.uint8) if lead else np.zeros(size, np.uint8)
    return json.loads(bytes(np.asarray(multihost_utils.broadcast_one_to_all(buf))).decode())


def _message(row: TrialRow | None, pending: bool) -> dict[str, Any]:
    if row is None:
        return {"kind": "wait" if pending else "end"}
    return {"kind": "trial", "row": {"id": row.id, "config": row.config, "parent": row.parent,
                                     "branch_step": row.branch_step}}


def _follow(run_dir: Path, row: dict[str, Any], stop: AgreedStop, save_at: dict[int, Path]) -> None:
    """A non-lead process trains its share of the trial process 0 claimed: no store, no metric sinks."""
    from scaling.config import TrainConfig
    from scaling.train.loop import BranchSpec, train

    branch = BranchSpec(save_at=save_at,
                        init_from=branch_dir(run_dir, row["id"]) if row["parent"] is not None else None)
    directory = trial_dir(run_dir, row["id"])
    train(TrainConfig.model_validate(row["config"]), directory, stop=stop, branch=branch, show_progress=False)


def run_multihost(run_dir: Path, cfg: ExecutorConfig, stop: threading.Event | None) -> WorkerReport:
    """The runner loop of a multi-host job, on every process: process 0 claims and records, all train."""
    import jax

    run_dir = Path(run_dir)
    agreed = AgreedStop(stop if stop is not None else threading.Event())
    lead = jax.process_index() == 0
    store = Store(run_dir / STORE_NAME) if lead else None
    me, report = worker_id(), WorkerReport()
    try:
        while not agreed.agree():
            msg = None
            if lead:
                row = store.claim(me, kind="train", max_attempts=cfg.max_attempts, stale_s=cfg.stale_after_s)
                pending = row is None and store.pending(kind="train", max_attempts=cfg.max_attempts)
                msg = _message(row, pending)
                if row is not None:  # the branch saves, which followers cannot read from the store
                    msg["save_at"] = {str(t.branch_step): str(branch_dir(run_dir, t.id)) for t in store.trials()
                                      if t.parent == row.id and t.branch_step}
            msg = broadcast_json(msg)
            if msg["kind"] == "end":
                break
            if msg["kind"] == "wait":
                time.sleep(POLL_S)
                continue
            if lead:
                status = run_claimed(store, row, me, lambda r: run_trial(store, run_dir, r, agreed, False))
                if status == "interrupted":
                    report.released.append(row.id)
                else:
                    (report.failed if status == "failed" else report.ran).append(row.id)
            else:
                _follow(run_dir, msg["row"], agreed, {int(s): Path(p) for s, p in msg["save_at"].items()})
    finally:
        if store is not None:
            store.close()
    report.interrupted = agreed.agree() or bool(report.released)
    return report
