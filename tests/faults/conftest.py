"""Fixtures of the fault-injection suite: the uninterrupted reference run (built once per session, shared by
xdist workers through a lock file), a compilation cache per worker, and the kill-point tally printed at the end.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from faultutil import Snapshot, env_for, run_to_end, write_sweep


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """The session's base temporary directory, the same for the xdist controller and its workers."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JAX's persistent compilation cache, one per test process (so each shape compiles once per session)."""
    return tmp_path_factory.mktemp("jaxcache")


@pytest.fixture(scope="session")
def tally_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _shared_root(tmp_path_factory) / "fault-tally.jsonl"


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Snapshot:
    """The tiny sweep run once, uninterrupted, in-process: what every interrupted run must end up as."""
    root = _shared_root(tmp_path_factory) / "fault-reference"
    root.mkdir(exist_ok=True)
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first xdist worker builds it, the others wait and read it
        if not (root / "done").exists():
            shutil.rmtree(root / "run", ignore_errors=True)
            runs = run_to_end(write_sweep(root), root / "run", env_for(cache_dir), max_runs=1)
            assert runs[0][0] == 0, runs[0][1][-3000:]
            (root / "done").write_text("ok")
    snap = Snapshot.of(root / "run")
    assert {t[4] for t in snap.trials.values()} == {"done"} and len(snap.trials) == 4
    assert sum(1 for (_, name, _) in snap.metrics if name == "train_loss") == 120
    return snap


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001 - pytest's hook
    """The kill points this session injected: how many, in which phases, with how many differences."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    path = factory.getbasetemp() / "fault-tally.jsonl"
    if not path.exists():
        return
    entries = [json.loads(line) for line in path.read_text().splitlines() if line]
    terminalreporter.section("fault-injection tally")
    by_phase = Counter((e["scenario"], e["phase"]) for e in entries)
    for (scenario, phase), n in sorted(by_phase.items()):
        terminalreporter.write_line(f"{n:4d}  {scenario:28s} {phase}")
    diffs = sum(e["differences"] for e in entries)
    terminalreporter.write_line(f"{len(entries)} kill points, {diffs} differences from the uninterrupted run")
