"""orbax checkpoints of a run: parameters, optimizer state and the run's position (step, tokens, data seed).

Batches are a function of (seed, step), so the step is the whole data position, and the state saved at a step
is bit-identical however often the run got there: saving a step that already exists is therefore success, not
an error (orbax refuses it, even with force=True). Saves may be asynchronous; resume takes the newest
checkpoint that restores and moves each one that does not aside (`<step>.corrupt-<n>`, in the same directory:
nothing is deleted), so the run can save that step again when it gets there. Each checkpoint carries an exact
fingerprint of its arrays, so one whose data changed after the save (which orbax may restore without error)
counts as corrupt too.

Fault injection for the tests (`tests/faults/`): `SCALING_FAULT_AFTER=<kind>:<n>[:<action>]`, read once at
import, where kind is regular, branch, final (the save that ends a run, finished or stopped) or any. With the
action `kill` (the default) the process SIGKILLs its own process group once its n-th save of that kind is
finalised on disk; with `oserror` its n-th save of that kind raises ENOSPC instead of writing (a full disk).
Unset, the hook costs one comparison per save.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)

FAULT_ENV = "SCALING_FAULT_AFTER"
SAVE_KINDS = ("regular", "branch", "final")


class CheckpointError(RuntimeError):
    """A checkpoint that must exist (e.g. a run's final one) is missing or cannot be restored."""


@dataclass(frozen=True)
class FaultHook:
    """The parsed `SCALING_FAULT_AFTER`: act at the n-th save of `kind` ("any": of every kind)."""

    kind: str
    n: int
    action: str

    @classmethod
    def parse(cls, text: str | None) -> FaultHook | None:
        if not text:
            return None
        kind, n, action = [*text.split(":"), "", ""][:3]
        if (kind not in (*SAVE_KINDS, "any") or action not in ("", "kill", "oserror") or not n.isdigit()
                or int(n) < 1 or text.count(":") > 2):
            raise ValueError(f"{FAULT_ENV}={text!r}: expected <regular|branch|final|any>:<n>[:kill|oserror]")
        return cls(kind, int(n), action or "kill")


FAULT = FaultHook.parse(os.environ.get(FAULT_ENV))
_saves: Counter[str] = Counter()  # saves written by this process, by kind (counted only when FAULT is set)


def _fault_before(kind: str) -> bool:
    """Count this save for the hook; raise the injected write error if it is the one. True: kill after it."""
    if FAULT is None or FAULT.kind not in (kind, "any"):
        return False
    _saves[FAULT.kind] += 1
    if _saves[FAULT.kind] != FAULT.n:
        return False
    if FAULT.action == "oserror":
        raise OSError(errno.ENOSPC, f"No space left on device (injected by {FAULT_ENV}={FAULT.kind}:{FAULT.n})")
    return True


class Checkpointer:
    """Save every K steps and at the end, keep the last N; restore the newest valid one."""

    def __init__(self, directory: Path, *, keep: int, async_save: bool = True) -> None:
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=async_save, create=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, params: Any, opt_state: Any, meta: dict[str, Any], *, force: bool = False,
             kind: str = "regular") -> bool:
        """Start saving `step` (returns at once when async); `meta` holds the run position, JSON-serialisable.

        A step that already exists is left as it is (the state at a step never differs): returns False, like
        a save orbax's policy skips. `kind` (regular, branch, final) only matters to the fault hook.
        """
        if step in self.manager.all_steps():
            return False
        kill_after = _fault_before(kind)
        state = {"params": params, "opt_state": opt_state}
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            meta=ocp.args.JsonSave({**meta, "step": step, "fingerprint": fingerprint(state)}),
        )
        try:
            saved = self.manager.save(step, args=args, force=force)
        except ocp.checkpoint_manager.StepAlreadyExistsError:  # another process finalised it meanwhile
            return False
        if kill_after:
            self.manager.wait_until_finished()
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return saved

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_state: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """(step, {"params", "opt_state"}, meta) from the newest checkpoint that restores, or None.

        `abstract_state` carries shapes, dtypes and shardings, so arrays come back already in their shards.
        Each newer checkpoint that fails to restore is moved aside (with a warning naming where to).
        """
        for step in reversed(self.steps()):
            try:
                return self._restore(step, abstract_state)
            except Exception as exc:  # a truncated or corrupt checkpoint: try the one before it
                aside = self.move_aside(step)
                warnings.warn(
                    f"checkpoint {self.directory / str(step)} could not be restored ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); moved to {aside.name}, falling back to an earlier one",
                    stacklevel=2,
                )
        return None

    def restore_step(self, step: int, abstract_state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """({"params", "opt_state"}, meta) of exactly `step`; CheckpointError (saying why) when it is missing or
        does not restore. Read-only: nothing is moved."""
        if step not in self.manager.all_steps():
            have = ", ".join(map(str, self.steps())) or "none"
            raise CheckpointError(f"{self.directory}: no checkpoint at step {step} (steps here: {have})")
        try:
            return self._restore(step, abstract_state)[1:]
        except Exception as exc:
            raise CheckpointError(f"{self.directory / str(step)} could not be restored ({type(exc).__name__}: "
                                  f"{str(exc)[:300]})") from exc

    def _restore(self, step: int, abstract_state: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Restore `step` and check its arrays against the fingerprint saved with them (a flipped byte in a data
        file can restore without any error from orbax)."""
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()),
        )
        meta = dict(restored["meta"])
        if "fingerprint" in meta and fingerprint(restored["state"]) != meta["fingerprint"]:
            raise CheckpointError(f"{self.directory / str(step)}: its arrays do not match the fingerprint saved "
                                  "with them (a data file was changed after the save)")
        return step, restored["state"], meta

    def move_aside(self, step: int) -> Path:
        """Rename checkpoint `step` to the first free `<step>.corrupt-<n>` beside it (orbax ignores such names)."""
        source = self.directory / str(step)
        n = 1
        while (target := self.directory / f"{step}.corrupt-{n}").exists():
            n += 1
        source.rename(target)
        self.manager.reload()
        return target

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _leaf_fingerprint(x: jax.Array) -> jax.Array:
    """sum_i bits_i * (2i + 1) mod 2**32 over the array's raw bits: any changed bit changes it."""
    width = {1: jnp.uint8, 2: jnp.uint16}.get(x.dtype.itemsize, jnp.uint32)
    bits = x.astype(jnp.uint8) if x.dtype == jnp.bool_ else jax.lax.bitcast_convert_type(x, width)
    bits = bits.reshape(-1).astype(jnp.uint32)
    weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
    return jnp.sum(bits * weights, dtype=jnp.uint32)


_fingerprints = jax.jit(lambda leaves: [_leaf_fingerprint(x) for x in leaves])


def fingerprint(tree: Any) -> list[int]:
    """One exact checksum per array of `tree` (computed where the arrays live, one jitted call): saved with each
    checkpoint and compared on restore."""
    leaves = [x for x in jax.tree.leaves(tree) if hasattr(x, "dtype")]
    return [int(v) for v in jax.device_get(_fingerprints(leaves))]


def abstract_like(tree: Any) -> Any:
    """Shape/dtype/sharding stand-ins for a tree of arrays (what restore needs to place arrays directly)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
