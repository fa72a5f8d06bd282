"""Pruning masks stay respected through recovery steps of the real trainer, and only because of the mask."""

from __future__ import annotations

import jax
import numpy as np

from scaling.compress.finetune import finetune
from scaling.compress.prune import apply_masks, make_masks, masked_update


def _pruned_nonzeros(params, masks) -> tuple[int, int]:
    """(non-zeros at pruned positions, count of pruned positions)."""
    bad = total = 0
    for w, mk in zip(jax.tree.leaves(params), jax.tree.leaves(masks, is_leaf=lambda x: x is True), strict=True):
        if mk is True:
            continue
        off = ~np.asarray(mk)
        bad += int(np.count_nonzero(np.asarray(w)[off]))
        total += int(off.sum())
    return bad, total


def test_masks_hold_through_recovery_and_break_without_them(loaded_model, tmp_path):
    masks = make_masks(loaded_model.host_params(), "magnitude", 0.75, logical_axes=loaded_model.logical_axes)
    pruned = apply_masks(loaded_model.params, masks)
    before = loaded_model.evaluate(pruned, 4)

    kw = {"tokens": 6 * 8 * 32, "lr_scale": 0.3, "eval_batches": 4}
    result, tuned = finetune(loaded_model, pruned, tmp_path / "masked",
                             wrap_optimizer=lambda tx: masked_update(tx, masks), **kw)
    assert result.status == "done" and result.steps == 6
    bad, total = _pruned_nonzeros(tuned, masks)
    assert total > 10_000 and bad == 0  # weight decay and Adam momentum never revive a pruned weight
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in
             zip(jax.tree.leaves(tuned), jax.tree.leaves(pruned), strict=True)]
    assert max(moved) > 1e-4  # the kept weights did train
    assert loaded_model.evaluate(tuned, 4) < before  # recovery recovers

    # control: the same run without the mask in the optimizer regrows the pruned weights
    _, free = finetune(loaded_model, pruned, tmp_path / "free", **kw)
    bad_free, _ = _pruned_nonzeros(free, masks)
    assert bad_free > total // 2
    # and the caller's arrays survive (the trainer donates copies, not them)
    assert np.isfinite(loaded_model.evaluate(loaded_model.params, 2))
