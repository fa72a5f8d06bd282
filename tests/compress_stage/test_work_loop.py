"""The sweep's one claim -> run -> record loop (`scaling.sweep.runner.work`), driven with stand-in jobs: both
kinds through the same loop, failures recorded (a UserError re-raised), a stop releasing the row, polling
while another worker holds the rest; and the compression stage running its jobs through it."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from scaling.errors import UserError
from scaling.sweep import runner
from scaling.sweep.runner import Outcome, WorkerReport, work
from scaling.sweep.store import STORE_NAME, Store, TrialRow


def _store(tmp_path: Path, rows: list[tuple[str, str, str | None]]) -> Store:
    store = Store(tmp_path / STORE_NAME)
    store.add_trials({"id": i, "ord": n, "kind": kind, "label": i, "config": {}, "parent": parent}
                     for n, (i, kind, parent) in enumerate(rows))
    return store


def _status(store: Store) -> dict[str, str]:
    return {t.id: t.status for t in store.trials()}


def test_one_loop_runs_training_and_compression_rows(tmp_path):
    store = _store(tmp_path, [("t1", "train", None), ("t2", "train", None), ("c1", "compress", "t1")])
    seen: list[tuple[str, str]] = []

    def run_one(row: TrialRow) -> Outcome:
        seen.append((row.kind, row.id))
        return Outcome("done", {"val_loss": 2.0, "tokens": 10}, artifacts=[("checkpoints", tmp_path / row.id)])

    first = work(store, "train", run_one, poll_s=0.01)
    assert first.ran == ["t1", "t2"] and not first.failed and not first.interrupted
    assert _status(store) == {"t1": "done", "t2": "done", "c1": "queued"}  # kinds stay apart
    second = work(store, "compress", run_one, poll_s=0.01)
    assert second.ran == ["c1"] and seen == [("train", "t1"), ("train", "t2"), ("compress", "c1")]
    assert store.trial("c1").val_loss == 2.0 and store.trial("c1").attempt == 1
    assert {(a["trial"], a["kind"]) for a in store.artifacts()} == {(i, "checkpoints") for i in ("t1", "t2", "c1")}
    store.close()


def test_failures_are_recorded_and_a_user_error_is_raised_after_marking_the_row(tmp_path):
    store = _store(tmp_path, [("a", "compress", None), ("b", "compress", None), ("c", "compress", None)])

    def run_one(row: TrialRow) -> Outcome:
        if row.id == "a":
            raise RuntimeError("internal fault")
        if row.id == "b":
            return Outcome("diverged", {"val_loss": float("nan")}, "loss is nan")
        raise UserError("fix the config")

    with pytest.raises(UserError, match="fix the config"):
        work(store, "compress", run_one, max_attempts=1, poll_s=0.01)
    a, b, c = (store.trial(i) for i in "abc")
    assert a.status == "failed" and "Traceback" in a.error and "internal fault" in a.error
    assert b.status == "diverged" and b.error == "loss is nan"
    assert c.status == "failed" and c.error == "fix the config" and "Traceback" not in c.error
    store.close()


def test_a_stop_releases_the_row_and_ends_the_loop(tmp_path):
    store = _store(tmp_path, [("a", "train", None), ("b", "train", None)])
    stop = threading.Event()

    def run_one(row: TrialRow) -> Outcome:
        stop.set()
        return Outcome("interrupted")

    report = work(store, "train", run_one, stop=stop, poll_s=0.01)
    assert report == WorkerReport(ran=[], failed=[], interrupted=True, released=["a"])
    a = store.trial("a")
    assert (a.status, a.attempt, a.worker) == ("queued", 0, None)  # given back, its attempt not counted
    assert store.trial("b").status == "queued"
    store.close()


def test_the_loop_polls_while_another_worker_holds_the_rest(tmp_path):
    store = _store(tmp_path, [("held", "compress", None), ("mine", "compress", None)])
    alive = f"{socket.gethostname()}:{os.getpid()}"  # a live worker: its row is not reclaimed
    with store.transaction() as conn:
        conn.execute("UPDATE trials SET status = 'running', worker = ?, heartbeat = ?, attempt = 1 WHERE id = 'held'",
                     (alive, time.time()))
    ran: list[str] = []

    def other_worker_finishes() -> None:
        time.sleep(0.3)
        other = Store(tmp_path / STORE_NAME)
        other.finish("held", "done", result={"val_loss": 1.0})
        other.close()

    thread = threading.Thread(target=other_worker_finishes)
    thread.start()
    t0 = time.perf_counter()
    report = work(store, "compress", lambda row: ran.append(row.id) or Outcome("done", {}), poll_s=0.02)
    thread.join()
    assert ran == ["mine"] and report.ran == ["mine"]  # the held row was never run here ...
    assert time.perf_counter() - t0 >= 0.25  # ... and the loop waited for it instead of returning
    assert _status(store) == {"held": "done", "mine": "done"}
    store.close()


def test_the_compression_stage_runs_its_jobs_through_the_shared_loop(tmp_path, monkeypatch):
    from scaling.stages import compress_stage

    calls: list[dict] = []

    def fake_work(store, kind, run_one, **kwargs):
        calls.append({"kind": kind, **kwargs})
        return WorkerReport(ran=["c1"], failed=["c2"], interrupted=True, released=["c3"])

    monkeypatch.setattr(runner, "work", fake_work)
    store = _store(tmp_path, [])
    report = compress_stage._run_jobs(store, tmp_path, None, max_attempts=3, stale_s=5.0)
    store.close()
    assert calls == [{"kind": "compress", "stop": None, "max_attempts": 3, "stale_s": 5.0, "poll_s": 1.0}]
    assert report == {"ran": ["c1"], "failed": ["c2"], "interrupted": ["c3"]}
