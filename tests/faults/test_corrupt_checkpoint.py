"""A truncated or garbled newest checkpoint: the run falls back to the one before it, moves the bad one aside,
re-trains the lost steps and ends bit-identical to an uninterrupted run (through the trainer, file by file;
and through a whole killed sweep)."""

from __future__ import annotations

import shutil
import signal
import warnings

import jax
import pytest
from faultutil import FULL, Snapshot, env_for, finish, record, run_to_end, start, write_sweep

from scaling.sweep.store import STORE_NAME, Store, StoreSink
from scaling.train.loop import train

from trainutil import tiny_config

CFG = tiny_config(steps=12, log_every=1, model={"d_model": 16, "n_layers": 1, "n_heads": 2},
                  **{"checkpoint.every_steps": 4, "checkpoint.keep": 5, "eval.every_steps": 4})


def _train(run_dir):
    store = Store(run_dir / STORE_NAME)
    sink = StoreSink(store, "t")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(CFG, run_dir / "run", sinks=[sink], devices=jax.devices()[:1], show_progress=False)
    finally:
        sink.close()
    rows = [(m["name"], m["step"], m["value"]) for m in store.metrics("t") if m["name"] in ("train_loss", "val_loss")]
    store.close()
    return result, rows, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    result, rows, _ = _train(root)
    assert result.status == "done" and result.steps == 12
    return root, result, rows


def _corrupt(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 3])
    else:  # garble: flip every byte of the file's middle third
        a, b = len(data) // 3, max(len(data) // 3 + 1, 2 * len(data) // 3)
        path.write_bytes(data[:a] + bytes(x ^ 0xFF for x in data[a:b]) + data[b:])


def _cases(final_dir) -> list[tuple[str, str]]:
    files = sorted(str(p.relative_to(final_dir)) for p in final_dir.rglob("*") if p.is_file())
    if FULL:
        return [("*", "truncate")] + [(f, how) for f in files for how in ("truncate", "garble")]
    return [("*", "truncate")]  # CI; garbled data files are also checked fast in test_checkpoint_saves.py


def test_each_file_of_the_final_checkpoint_corrupted_falls_back_and_ends_identically(trained, tmp_path,
                                                                                       tally_file):
    root, reference, reference_rows = trained
    final_dir = root / "run" / "checkpoints" / "12"
    outcomes = []
    for i, (name, how) in enumerate(_cases(final_dir)):
        case = tmp_path / f"case{i}"
        shutil.copytree(root, case)
        target = case / "run" / "checkpoints" / "12"
        for f in ([p for p in target.rglob("*") if p.is_file()] if name == "*" else [target / name]):
            _corrupt(f, how)
        result, rows, messages = _train(case)
        fell_back = any("could not be restored" in m for m in messages)
        outcomes.append((name, how, result.resumed_from))
        identical = (result.status, result.steps, result.train_loss, result.val_loss, rows) == (
            "done", 12, reference.train_loss, reference.val_loss, reference_rows)
        record(tally_file, {"scenario": "corrupt final checkpoint file", "differences": int(not identical),
                            "phase": f"{how} {name}: " + ("fell back to 8" if fell_back else "still restored")})
        assert identical, (name, how, result)
        assert result.resumed_from == (8 if fell_back else 12), (name, how, messages)
        assert fell_back == (case / "run" / "checkpoints" / "12.corrupt-1").is_dir(), (name, how)
    assert outcomes[0][2] == 8, "every file truncated must fail to restore"
    print("corrupted final checkpoint (file, how, resumed from):", outcomes)


@pytest.mark.slow
def test_sweep_killed_then_newest_checkpoint_truncated_resumes_identically(tmp_path, reference, cache_dir,
                                                                          tally_file):
    sweep, run_dir = write_sweep(tmp_path), tmp_path / "run"
    code, out = finish(start(sweep, run_dir, env_for(cache_dir, SCALING_FAULT_AFTER="regular:3")))
    assert code == -signal.SIGKILL, out[-3000:]
    (trial,) = [d for d in (run_dir / "trials").iterdir() if (d / "checkpoints" / "30").is_dir()]
    for f in (trial / "checkpoints" / "30").rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    runs = run_to_end(sweep, run_dir, env_for(cache_dir))
    assert runs[-1][0] == 0, runs[-1][1][-3000:]
    assert (trial / "checkpoints" / "30.corrupt-1").is_dir(), "the corrupt checkpoint was kept, aside"
    differences = Snapshot.of(run_dir).differences(reference)
    record(tally_file, {"scenario": "corrupt newest checkpoint", "phase": "regular:3 then truncated",
                        "differences": len(differences)})
    assert not differences, differences
