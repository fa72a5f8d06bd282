"""Deterministic batches from `(seed, step)` alone: a resumed run, or another host, sees exactly the same data.

The token stream is cut into `n_windows` non-overlapping windows of `seq_len + 1` tokens (inputs and their
next-token targets). Global sample `i = step * batch_size + row` is sample `i % n_windows` of epoch
`e = i // n_windows`, whose order is a permutation of the windows seeded by `(seed, e)`: every epoch visits each
window exactly once, and the order does not depend on the batch size or on how the batch is sharded.
"""

from __future__ import annotations

import numpy as np

from scaling.errors import UserError


def epoch_permutation(seed: int, epoch: int, n_windows: int) -> np.ndarray:
    """The window order of one epoch: PCG64 seeded by SeedSequence([seed, epoch])."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
    return rng.permutation(n_windows)


class BatchLoader:
    """Batches `int32 [batch_size, seq_len + 1]` of a 1-D token array, as a pure function of (seed, step)."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int = 0, *,
                 name: str = "train split", allow_repeats: bool = False):
        """`allow_repeats`: accept fewer windows than one batch (samples then recur within a batch)."""
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len and batch_size must be positive, got {seq_len}, {batch_size}")
        self.tokens = tokens
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.window = seq_len + 1
        self.n_windows = len(tokens) // self.window
        needed = 1 if allow_repeats else batch_size
        if self.n_windows < needed:
            raise UserError(
                f"the {name} has {len(tokens):,} tokens, {self.n_windows} windows of seq_len+1 = {self.window}; "
                f"one batch needs {needed} window(s) ({needed * self.window:,} tokens). Use a larger corpus, "
                "a smaller data.seq_len or a smaller batch_size"
            )
        self._perms: dict[int, np.ndarray] = {}

    @property
    def unique_tokens(self) -> int:
        """Target tokens one epoch trains on (`n_windows * seq_len`), the `U` of data-constrained scaling."""
        return self.n_windows * self.seq_len

    def epochs_for(self, total_tokens: int) -> float:
        """How many epochs a run of `total_tokens` (counted as batch_size * seq_len per step) makes."""
        return total_tokens / self.unique_tokens

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 2:  # a batch spans at most two epochs at once
                self._perms.pop(min(self._perms))
            self._perms[epoch] = epoch_permutation(self.seed, epoch, self.n_windows)
        return self._perms[epoch]

    def window_ids(self, sample_ids: np.ndarray) -> np.ndarray:
        """Which window each global sample index reads."""
        epochs, positions = np.divmod(sample_ids, self.n_windows)
        out = np.empty_like(sample_ids)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            out[mask] = self._permutation(int(epoch))[positions[mask]]
        return out

    def windows(self, window_ids: np.ndarray) -> np.ndarray:
        """The token windows `int32 [len(window_ids), seq_len + 1]`."""
        offsets_NxW = window_ids[:, None] * self.window + np.arange(self.window)
        return np.asarray(self.tokens[offsets_NxW], dtype=np.int32)

    def batch(self, step: int, shard: int = 0, num_shards: int = 1) -> np.ndarray:
        """Batch `step`, or its rows `shard*B/n .. (shard+1)*B/n` for one of `num_shards` hosts."""
        if num_shards < 1 or not 0 <= shard < num_shards:
            raise ValueError(f"shard {shard} is not in range for num_shards {num_shards}")
        if self.batch_size % num_shards:
            raise UserError(f"batch_size {self.batch_size} does not split evenly over {num_shards} hosts")
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        rows = self.batch_size // num_shards
        start = step * self.batch_size + shard * rows
        sample_ids = np.arange(start, start + rows, dtype=np.int64)
        return self.windows(self.window_ids(sample_ids))
