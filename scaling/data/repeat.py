"""Data-constrained training: U unique tokens repeated for R = D / U epochs (Muennighoff et al. 2023).

`data.unique_tokens = U` keeps k = U // seq_len training windows of seq_len + 1 tokens, chosen by a fixed
seeded permutation of the train split's windows (the same for every training seed, so seeds share one U), and
the loader cycles them: epoch e visits each kept window exactly once. A run of D tokens therefore makes exactly
D / (k * seq_len) epochs, which planning reports before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.data.loader import epoch_permutation
from scaling.errors import UserError

SUBSET_SEED = 0x0D47A  # fixes which windows a given U keeps, whatever the training seed


@dataclass(frozen=True)
class EpochPlan:
    """How a run of `tokens` training tokens covers `unique_tokens` (both in target tokens)."""

    unique_tokens: int
    tokens: int

    @property
    def epochs(self) -> float:
        return self.tokens / self.unique_tokens

    @property
    def repeats(self) -> float:
        """R_D of Muennighoff et al.: epochs beyond the first."""
        return max(self.epochs - 1.0, 0.0)

    def describe(self) -> str:
        return f"{self.unique_tokens:,} unique tokens, {self.tokens:,} trained: {self.epochs:.3f} epochs"


def kept_windows(unique_tokens: int, seq_len: int) -> int:
    """Windows a budget of U unique tokens keeps: whole sequences only."""
    return unique_tokens // seq_len


def planned_unique_tokens(unique_tokens: int, seq_len: int) -> int:
    """The U a run really trains on (U rounded down to whole sequences); UserError below one sequence."""
    k = kept_windows(unique_tokens, seq_len)
    if k < 1:
        raise UserError(f"data.unique_tokens {unique_tokens} is less than one sequence (data.seq_len {seq_len})")
    return k * seq_len


def unique_subset(train_tokens: np.ndarray, seq_len: int, unique_tokens: int) -> np.ndarray:
    """The kept windows of `train_tokens`, concatenated: an array of k * (seq_len + 1) tokens, in stream order."""
    window = seq_len + 1
    available = len(train_tokens) // window
    k = kept_windows(unique_tokens, seq_len)
    if not 1 <= k <= available:
        raise UserError(
            f"data.unique_tokens {unique_tokens:,} asks for {k:,} sequences of {seq_len} tokens; the train split "
            f"holds {available:,} ({available * seq_len:,} tokens). Choose a value between {seq_len} and "
            f"{available * seq_len:,}")
    ids = np.sort(epoch_permutation(SUBSET_SEED, 0, available)[:k])
    return np.asarray(train_tokens[(ids[:, None] * window + np.arange(window)).ravel()])
