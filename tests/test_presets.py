"""Size presets grow with their order: width and depth never shrink, and every next preset has more parameters."""

from __future__ import annotations

from scaling.accounting import param_counts
from scaling.config import SIZE_PRESETS, ModelConfig


def test_presets_grow_monotonically_in_width_depth_and_parameters():
    names = list(SIZE_PRESETS)
    for small, large in zip(names, names[1:], strict=False):
        (d0, l0, _), (d1, l1, _) = SIZE_PRESETS[small], SIZE_PRESETS[large]
        assert d1 >= d0 and l1 >= l0, f"{large} is narrower or shallower than {small}"
        n0 = param_counts(ModelConfig(size=small, vocab_size=4096)).non_embedding
        n1 = param_counts(ModelConfig(size=large, vocab_size=4096)).non_embedding
        assert n1 > n0, f"{large} ({n1}) has no more non-embedding parameters than {small} ({n0})"
