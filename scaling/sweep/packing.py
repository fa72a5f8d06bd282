"""Packed trials (`executor: {pack: N}`): a worker that claims a trial also claims up to N-1 queued trials of the
same shape (differing only in seed and peak learning rate: `scaling.train.packed.pack_key`) and trains them as
one vmapped program. Each is still its own trial in the store, with its own curve, checkpoints and resume.

Main runs pack with main runs and WSD branches with branches of the same branch step, so a packed seed or
learning-rate sweep keeps its branching. A trial with no companion runs alone, as without packing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from scaling.sweep.runner import Outcome, prepare_trial, trained, trial_sinks
from scaling.sweep.store import Store, TrialRow
from scaling.train.packed import Member, pack_key, train_packed


def row_pack_key(row: TrialRow) -> tuple[str, bool, int | None]:
    """What trials must share to pack: the config less its member fields, and their place in WSD branching."""
    return pack_key(row.config), row.parent is not None, row.branch_step


class TrialPacker:
    """Claims a trial's companions and trains the group with `train_packed` (see the module docstring)."""

    def __init__(self, store: Store, run_dir: Path, size: int, *, max_attempts: int, stale_s: float,
                 stop: threading.Event | None, show_progress: bool | None) -> None:
        self.store, self.run_dir, self.size = store, Path(run_dir), size
        self.max_attempts, self.stale_s, self.stop, self.show_progress = max_attempts, stale_s, stop, show_progress

    def companions(self, store: Store, row: TrialRow, worker: str) -> list[TrialRow]:
        key = row_pack_key(row)
        found: list[TrialRow] = []
        while len(found) < self.size - 1:
            taken = {row.id, *(r.id for r in found)}
            more = store.claim(worker, kind=row.kind, max_attempts=self.max_attempts, stale_s=self.stale_s,
                               match=lambda r, taken=taken: r.id not in taken and row_pack_key(r) == key)
            if more is None:
                break
            found.append(more)
        return found

    def run(self, rows: list[TrialRow]) -> list[Outcome]:
        members, all_sinks = [], []
        for row in rows:
            cfg, directory, branch = prepare_trial(self.store, self.run_dir, row)
            sinks = trial_sinks(self.store, row, directory)
            all_sinks.extend(sinks)
            members.append(Member(cfg, directory, sinks, branch))
        try:
            results = train_packed(members, stop=self.stop, show_progress=self.show_progress)
        finally:
            for sink in all_sinks:
                sink.close()
        return [trained(result, member.run_dir) for result, member in zip(results, members, strict=True)]
