"""Train/validation split by document hash: a document's split depends on its text alone, never on order.

A document goes to validation when the first 8 bytes of SHA-256(text), read as an unsigned integer, fall below
`val_fraction * 2**64`. Identical documents always land together. A small corpus whose hashes happen to send no
document to validation holds out the one with the smallest hash instead (and one whose hashes send every
document there keeps the largest in train), so both splits are always non-empty.
"""

from __future__ import annotations

import hashlib

SPLIT_RULE = "sha256-u64-below-fraction-v1"
_SPAN = 1 << 64


def doc_hash(text: str) -> int:
    """The document's position in [0, 2**64): the first 8 bytes of SHA-256 of its UTF-8 text."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def val_threshold(hashes: list[int], val_fraction: float) -> int:
    """The cut: documents with hash < cut are validation. Needs at least two distinct hashes."""
    cut = int(val_fraction * _SPAN)
    low, high = min(hashes), max(hashes)
    if low >= cut:  # nothing fell below the fraction: hold out the smallest
        cut = low + 1
    if high < cut:  # everything did: keep the largest for training
        cut = high
    return cut


def is_val(text_hash: int, cut: int) -> bool:
    """Whether a document with this hash belongs to the validation split."""
    return text_hash < cut
