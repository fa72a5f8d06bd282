"""`Checkpointer` under faults, on real orbax: saving an existing step is a no-op (orbax alone refuses it even
with force=True), a checkpoint that fails to restore is moved aside so its step can be saved again, an exact
restore says why it cannot, and the fault hook behaves as documented."""

from __future__ import annotations

import errno
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from scaling.train import checkpoint
from scaling.train.checkpoint import Checkpointer, CheckpointError, FaultHook, abstract_like

PARAMS = {"w": jnp.arange(12.0).reshape(3, 4)}
OPT = {"mu": jnp.ones(4)}
ABSTRACT = {"params": abstract_like(PARAMS), "opt_state": abstract_like(OPT)}


def _save(ckpt: Checkpointer, step: int, offset: float | None = None, **kwargs) -> bool:
    shift = step if offset is None else offset
    return ckpt.save(step, jax.tree.map(lambda x: x + shift, PARAMS), OPT, {"tokens": step}, **kwargs)


def _truncate(step_dir) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])


def test_orbax_alone_refuses_an_existing_step_even_with_force(tmp_path):
    """The hazard the Checkpointer guards against (if orbax ever accepts it, this test can go)."""
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    _save(ckpt, 5)
    args = ocp.args.Composite(state=ocp.args.StandardSave({"params": PARAMS, "opt_state": OPT}),
                              meta=ocp.args.JsonSave({"step": 5}))
    with pytest.raises(ocp.checkpoint_manager.StepAlreadyExistsError):
        ckpt.manager.save(5, args=args, force=True)
    ckpt.close()


@pytest.mark.parametrize("force", [False, True])
def test_saving_an_existing_step_is_success_and_keeps_the_first(tmp_path, force):
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    assert _save(ckpt, 5) is True
    assert _save(ckpt, 5, offset=100.0, force=force) is False  # no error, nothing written
    ckpt.close()
    reopened = Checkpointer(tmp_path / "c", keep=3, async_save=False)  # and from a fresh manager (a resumed run)
    assert _save(reopened, 5, offset=100.0, force=force) is False
    step, state, _ = reopened.restore_latest(ABSTRACT)
    assert step == 5
    np.testing.assert_array_equal(state["params"]["w"], PARAMS["w"] + 5)
    reopened.close()


def test_a_corrupt_newest_checkpoint_is_moved_aside_and_its_step_saved_again(tmp_path):
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    for step in (5, 10):
        _save(ckpt, step)
    ckpt.close()
    for n in (1, 2):  # corrupt step 10 twice: each copy is kept under its own name
        _truncate(tmp_path / "c" / "10")
        ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step, state, meta = ckpt.restore_latest(ABSTRACT)
        assert step == 5 and meta["tokens"] == 5
        assert any(f"10.corrupt-{n}" in str(w.message) for w in caught)
        assert (tmp_path / "c" / f"10.corrupt-{n}").is_dir() and ckpt.steps() == [5]
        assert _save(ckpt, 10, force=True) is True  # the final save after a fallback used to crash here
        ckpt.close()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["10", "10.corrupt-1", "10.corrupt-2", "5"]
    assert Checkpointer(tmp_path / "c", keep=3).restore_latest(ABSTRACT)[0] == 10


def test_an_exact_restore_says_why_it_cannot_and_moves_nothing(tmp_path):
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    _save(ckpt, 5)
    _save(ckpt, 10)
    state, meta = ckpt.restore_step(10, ABSTRACT)
    assert meta["tokens"] == 10
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 12 \(steps here: 5, 10\)"):
        ckpt.restore_step(12, ABSTRACT)
    ckpt.close()
    _truncate(tmp_path / "c" / "10")
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    with pytest.raises(CheckpointError, match="10 could not be restored"):
        ckpt.restore_step(10, ABSTRACT)
    assert ckpt.steps() == [5, 10] and not list((tmp_path / "c").glob("*.corrupt-*"))
    ckpt.close()


def test_the_fault_hook_parses_and_injects_a_write_error(tmp_path, monkeypatch):
    assert FaultHook.parse(None) is None and FaultHook.parse("") is None
    assert FaultHook.parse("branch:2") == FaultHook("branch", 2, "kill")
    for bad in ("regular", "later:1", "final:0", "final:1:explode"):
        with pytest.raises(ValueError, match="SCALING_FAULT_AFTER"):
            FaultHook.parse(bad)
    monkeypatch.setattr(checkpoint, "FAULT", FaultHook("regular", 2, "oserror"))
    monkeypatch.setattr(checkpoint, "_saves", checkpoint.Counter())
    ckpt = Checkpointer(tmp_path / "c", keep=5, async_save=False)
    assert _save(ckpt, 1, kind="regular") and _save(ckpt, 2, kind="final")  # finals are not counted
    with pytest.raises(OSError, match="No space left") as err:
        _save(ckpt, 3, kind="regular")
    assert err.value.errno == errno.ENOSPC
    assert _save(ckpt, 4, kind="regular") and ckpt.steps() == [1, 2, 4]  # the disk has room again
    ckpt.close()


def test_the_fingerprint_sees_any_flipped_bit():
    tree = {"f32": jnp.linspace(-1, 1, 7), "bf16": jnp.ones((2, 3), jnp.bfloat16), "i32": jnp.arange(5),
            "flag": jnp.array([True, False])}
    base = checkpoint.fingerprint(tree)
    assert base == checkpoint.fingerprint(jax.tree.map(jnp.copy, tree)) and len(base) == 4
    for name, leaf in tree.items():
        raw = np.asarray(leaf).copy()
        view = raw.view(np.uint8).reshape(-1) if raw.dtype != np.bool_ else None
        if view is None:
            raw[-1] = not raw[-1]
        else:
            view[-1] ^= 0x01  # the lowest bit of the last byte: below any float tolerance
        changed = checkpoint.fingerprint({**tree, name: jnp.asarray(raw, dtype=leaf.dtype)})
        assert [a != b for a, b in zip(changed, base, strict=True)] == [k == name for k in sorted(tree)], name


def test_a_garbled_data_file_never_restores_wrong_arrays(tmp_path):
    """Flipping bytes inside one data file can leave a checkpoint that orbax restores without an error; the
    fingerprint makes every such case fall back instead."""
    import shutil

    keys = jax.random.split(jax.random.key(0), 4)
    params = {"w": jax.random.normal(keys[0], (64, 32)), "b": jnp.arange(32.0), "e": jax.random.normal(keys[1], (16,))}
    opt = {"mu": jax.random.normal(keys[2], (64, 32)), "nu": jax.random.uniform(keys[3], (32,)), "count": jnp.int32(3)}
    ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
    ckpt.save(5, params, opt, {"tokens": 5})
    ckpt.save(10, jax.tree.map(lambda x: x + 1, params), jax.tree.map(lambda x: x + 1, opt), {"tokens": 10})
    ckpt.close()
    abstract = {"params": abstract_like(params), "opt_state": abstract_like(opt)}
    files = [p.relative_to(tmp_path / "c" / "10") for p in (tmp_path / "c" / "10").rglob("*") if p.is_file()]
    outcomes = {}
    for i, rel in enumerate(files):
        case = tmp_path / f"case{i}"
        shutil.copytree(tmp_path / "c", case)
        data = (case / "10" / rel).read_bytes()
        a, b = len(data) // 3, max(len(data) // 3 + 1, 2 * len(data) // 3)
        (case / "10" / rel).write_bytes(data[:a] + bytes(x ^ 0xFF for x in data[a:b]) + data[b:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step, state, _ = Checkpointer(case, keep=3).restore_latest(abstract)
        expected = {"params": params, "opt_state": opt}
        if step == 10:
            expected = jax.tree.map(lambda x: x + 1, expected)
        for (path, got), want in zip(jax.tree.leaves_with_path(state), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"{rel} restored wrong data at {path}")
        outcomes[str(rel)] = step
    assert 5 in outcomes.values(), outcomes
