"""Packed training (scaling.train.packed): members of one shape with their own seed and peak lr train as one
vmapped program and each matches its separate run; a diverging member stops alone; a pack whose members were
checkpointed at different steps resumes from the newest step they share, exactly."""

from __future__ import annotations

import json
import shutil

import pytest

from scaling.train.loop import train
from scaling.train.metrics import JsonlSink
from scaling.train.packed import Member, pack_key, train_packed

from trainutil import tiny_config


def rows(path) -> dict[tuple[str, int], float]:
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for name in ("train_loss", "val_loss", "lr"):
            if name in row:
                out[(name, row["step"])] = row[name]
    return out


def run_pack(root, cfgs, **kw):
    sinks = [JsonlSink(root / c.name / "metrics.jsonl") for c in cfgs]
    try:
        return train_packed([Member(c, root / c.name, [s]) for c, s in zip(cfgs, sinks, strict=True)],
                            show_progress=False, **kw)
    finally:
        for s in sinks:
            s.close()


def run_alone(root, cfg):
    sink = JsonlSink(root / cfg.name / "metrics.jsonl")
    try:
        return train(cfg, root / cfg.name, sinks=[sink], show_progress=False)
    finally:
        sink.close()


def member(name, seed, lr, **over):
    return tiny_config(name=name, seed=seed, log_every=1, **{"optimizer.lr": lr, **over})


def test_members_with_their_own_seed_and_lr_match_separate_runs_and_a_diverging_one_stops_alone(tmp_path):
    over = {"divergence.after_steps": 2, "divergence.spike_ratio": 1.5}
    cfgs = [member("a", 0, 3e-3, **over), member("b", 1, 1e-3, **over), member("wild", 0, 30.0, **over)]
    packed = run_pack(tmp_path / "packed", cfgs)
    alone = [run_alone(tmp_path / "alone", c) for c in cfgs]
    assert [r.status for r in alone] == ["done", "done", "diverged"]
    for cfg, p, a in zip(cfgs, packed, alone, strict=True):
        assert (p.status, p.steps, p.reason) == (a.status, a.steps, a.reason), cfg.name
        mine, theirs = rows(tmp_path / "packed" / cfg.name / "metrics.jsonl"), rows(
            tmp_path / "alone" / cfg.name / "metrics.jsonl")
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert abs(mine[key] - value) <= 1e-5 * abs(value), (cfg.name, key, mine[key], value)
    assert sorted(p.data["packed_with"] for p in packed[:1]) == [["b", "wild"]]
    # the diverged member saved nothing past the step before its divergence; the others saved their final step
    assert (tmp_path / "packed" / "a" / "checkpoints" / "12").is_dir()
    assert not (tmp_path / "packed" / "wild" / "checkpoints" / str(packed[2].steps)).exists()


def test_members_checkpointed_at_different_steps_resume_from_the_step_they_share(tmp_path):
    cfgs = [member("a", 0, 3e-3), member("b", 1, 2e-3)]
    reference = run_pack(tmp_path / "ref", cfgs)
    root = tmp_path / "killed"
    shutil.copytree(tmp_path / "ref", root)
    # as if killed after a's final save and before b's: b's newest checkpoint (its final, step 12) is gone
    shutil.rmtree(root / "b" / "checkpoints" / "12")
    resumed = run_pack(root, cfgs)
    assert [r.resumed_from for r in resumed] == [6, 6]
    for cfg, r, ref in zip(cfgs, resumed, reference, strict=True):
        assert (r.status, r.steps, r.val_loss) == (ref.status, ref.steps, ref.val_loss)
        assert rows(root / cfg.name / "metrics.jsonl") == rows(tmp_path / "ref" / cfg.name / "metrics.jsonl")
    assert (root / "b" / "checkpoints" / "12").is_dir()


def test_only_seed_and_lr_may_differ():
    assert pack_key(member("a", 0, 3e-3)) == pack_key(member("b", 5, 1e-2))
    assert pack_key(member("a", 0, 3e-3)) != pack_key(member("a", 0, 3e-3, batch_size=4))
    with pytest.raises(ValueError, match="differ only in name, seed, optimizer.lr"):
        train_packed([Member(member("a", 0, 3e-3), None), Member(tiny_config(name="b", steps=6), None)])
