"""A WSD branch whose parent can no longer finish never keeps a sweep waiting (the re-run used to poll forever),
and gets its chance back when that parent runs again. Real SQLite store, real `work` loop."""

from __future__ import annotations

import threading

from scaling.sweep.runner import Outcome, work
from scaling.sweep.store import STORE_NAME, Store, TrialRow


def _sweep(tmp_path) -> Store:
    """main -> (b1, b2) WSD branches, plus an unrelated trial."""
    store = Store(tmp_path / STORE_NAME)
    store.add_trials([
        {"id": "main", "ord": 0, "label": "main", "config": {}},
        {"id": "other", "ord": 1, "label": "other", "config": {}},
        {"id": "b1", "ord": 2, "label": "b1", "config": {}, "parent": "main", "branch_step": 15},
        {"id": "b2", "ord": 3, "label": "b2", "config": {}, "parent": "main", "branch_step": 15},
    ])
    return store


def _run_in_thread(store_path, run_one, max_attempts: int) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        store = Store(store_path)
        try:
            out["report"] = work(store, "train", run_one, max_attempts=max_attempts, poll_s=0.01)
        finally:
            store.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_a_failed_parent_blocks_its_branches_and_the_loop_ends(tmp_path):
    store = _sweep(tmp_path)
    ran: list[str] = []

    def run_one(row: TrialRow) -> Outcome:
        ran.append(row.id)
        if row.id == "main":
            raise OSError(28, "No space left on device")
        return Outcome("done", {"val_loss": 1.0})

    thread, out = _run_in_thread(store.path, run_one, max_attempts=2)
    thread.join(60)
    assert not thread.is_alive(), "the worker loop kept polling with nothing runnable"
    assert ran == ["main", "main", "other"]  # retried once, the branches never started
    assert out["report"].failed == ["main", "main"] and out["report"].ran == ["other"]
    rows = {t.id: t for t in store.trials()}
    assert rows["main"].status == "failed" and "No space left" in rows["main"].error
    for b in ("b1", "b2"):
        assert rows[b].status == "failed" and rows[b].attempt == 0
        assert rows[b].error == "its WSD parent main did not finish"
    assert store.pending(kind="train", max_attempts=2) == 0

    # a re-run with nothing runnable ends at once, also when the branches were already marked
    again, out = _run_in_thread(store.path, run_one, max_attempts=2)
    again.join(60)
    assert not again.is_alive() and out["report"].ran == out["report"].failed == []
    store.close()


def test_a_diverged_parent_blocks_its_branches(tmp_path):
    store = _sweep(tmp_path)
    report = work(store, "train", lambda row: Outcome("diverged" if row.id == "main" else "done"), poll_s=0.01)
    assert report.ran == ["main", "other"]
    assert {t.id: t.status for t in store.trials()} == {"main": "diverged", "other": "done", "b1": "failed",
                                                        "b2": "failed"}
    store.close()


def test_running_the_parent_again_requeues_its_blocked_branches(tmp_path):
    """More attempts (or a reset) later: the parent is claimed again, its unrun branches are queued with it."""
    store = _sweep(tmp_path)
    fail = {"main": True}

    def run_one(row: TrialRow) -> Outcome:
        if fail.get(row.id):
            raise OSError(28, "No space left on device")
        return Outcome("done", {"val_loss": 1.0})

    work(store, "train", run_one, max_attempts=1, poll_s=0.01)
    assert {t.id: t.status for t in store.trials()} == {"main": "failed", "other": "done", "b1": "failed",
                                                        "b2": "failed"}
    fail["main"] = False  # the disk has room again; the sweep is re-run allowing a second attempt
    report = work(store, "train", run_one, max_attempts=2, poll_s=0.01)
    assert report.ran == ["main", "b1", "b2"] and not report.failed
    rows = {t.id: t for t in store.trials()}
    assert all(t.status == "done" and t.error is None for t in rows.values())
    assert [rows[i].attempt for i in ("main", "b1", "b2")] == [2, 1, 1]
    store.close()


def test_branches_of_a_parent_with_attempts_left_stay_pending(tmp_path):
    """A parent that failed but will be retried blocks nothing: its branches still count as pending."""
    store = _sweep(tmp_path)
    main = store.claim("host:1", max_attempts=2)
    assert main.id == "main" and store.pending(max_attempts=2) == 4
    store.finish("main", "failed", error="boom")  # attempt 1 of 2: it will be retried
    assert store.pending(max_attempts=2) == 4
    assert {t.id: t.status for t in store.trials()}["b1"] == "queued"
    store.close()
