"""orbax checkpoints of a run: parameters, optimizer state and the run's position (step, tokens, data seed).

Batches are a function of (seed, step), so the step is the whole data position. Saves may be asynchronous;
resume takes the newest checkpoint that restores, and falls back (with a warning) past a corrupt one.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class Checkpointer:
    """Save every K steps and at the end, keep the last N; restore the newest valid one."""

    def __init__(self, directory: Path, *, keep: int, async_save: bool = True) -> None:
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=async_save, create=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, params: Any, opt_state: Any, meta: dict[str, Any], *, force: bool = False) -> bool:
        """Start saving `step` (returns at once when async); `meta` holds the run position, JSON-serialisable."""
        args = ocp.args.Composite(
            state=ocp.args.StandardSave({"params": params, "opt_state": opt_state}),
            meta=ocp.args.JsonSave({**meta, "step": step}),
        )
        return self.manager.save(step, args=args, force=force)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_state: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """(step, {"params", "opt_state"}, meta) from the newest checkpoint that restores, or None.

        `abstract_state` carries shapes, dtypes and shardings, so arrays come back already in their shards.
        """
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
                    ),
                )
            except Exception as exc:  # a truncated or corrupt checkpoint: try the one before it
                warnings.warn(
                    f"checkpoint {self.directory / str(step)} could not be restored ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); falling back to an earlier one",
                    stacklevel=2,
                )
                continue
            return step, restored["state"], dict(restored["meta"])
        return None

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_like(tree: Any) -> Any:
    """Shape/dtype/sharding stand-ins for a tree of arrays (what restore needs to place arrays directly)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
