"""Bytes a compressed model needs: dense at its dtype, sparse with its index overhead, or packed integers.

Quantized sizes are real (`pack.packed_size_bytes` builds the packed arrays). Sparse sizes follow a stated
storage model, since no sparse file is written: an unstructured-sparse matrix keeps its non-zero values at
their dtype plus a one-bit-per-weight bitmap; N:M keeps its non-zeros plus ceil(log2 M) bits of position per
kept value (NVIDIA's 2:4 format uses 2 bits); whole-unit pruning (heads, neurons) shrinks the matrices, so
only the non-zeros count (the list of kept units is negligible). Untouched leaves count densely.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import jax
import numpy as np

Index = Literal["bitmap", "nm", "units"]


def dense_bytes(params: Any) -> int:
    """Bytes of every leaf at its dtype."""
    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(params))


def sparse_bytes(params: Any, masks: Any, index: Index, m: int | None = None) -> int:
    """Bytes of `params` pruned by `masks` (True for untouched leaves) under the storage model above."""
    total = 0
    mask_leaves = jax.tree.leaves(masks, is_leaf=lambda x: x is True)
    for w, mask in zip(jax.tree.leaves(params), mask_leaves, strict=True):
        item = np.dtype(w.dtype).itemsize
        size = int(np.prod(w.shape))
        if mask is True:
            total += size * item
            continue
        nnz = int(np.count_nonzero(np.asarray(mask)))
        if index == "bitmap":
            total += nnz * item + math.ceil(size / 8)
        elif index == "nm":
            total += nnz * item + math.ceil(nnz * math.ceil(math.log2(m or 2)) / 8)
        else:
            total += nnz * item
    return total
