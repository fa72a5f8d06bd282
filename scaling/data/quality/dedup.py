"""Exact deduplication by content hash, and near-deduplication by MinHash LSH (datasketch).

Both keep the first document of each duplicate group and say which earlier document a removed one repeats.
Near-dedup follows FineWeb's defaults: word 5-gram shingles, 112 permutations as 14 bands of 8 rows, so two
documents become candidates with probability 1 - (1 - J^8)^14 (50% at Jaccard J ~ 0.72).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.data.quality.text import ngrams, normalized_words


@dataclass
class ExactDedup:
    """Drop documents whose (whitespace-normalized, optionally lower-cased) text hashes like an earlier one's."""

    lowercase: bool = False
    name = "exact_dedup"

    def key(self, text: str) -> bytes:
        norm = " ".join(text.split())
        return hashlib.sha256((norm.lower() if self.lowercase else norm).encode("utf-8")).digest()

    def reasons(self, texts: list[str]) -> list[str | None]:
        first: dict[bytes, int] = {}
        out: list[str | None] = []
        for i, t in enumerate(texts):
            k = self.key(t)
            out.append(f"exact duplicate of document {first[k]}" if k in first else None)
            first.setdefault(k, i)
        return out


def shingles(text: str, n: int) -> set[bytes]:
    """The document's set of word n-grams (lower-cased, punctuation stripped), UTF-8 encoded for hashing."""
    ws = normalized_words(text)
    grams = ngrams(ws, n) if len(ws) >= n else [tuple(ws)]
    return {" ".join(g).encode("utf-8") for g in grams if g}


@dataclass
class NearDedup:
    """Drop documents that MinHash LSH puts in a band bucket with an earlier kept document.

    `min_jaccard` > 0 also requires the signatures' estimated Jaccard similarity to reach it (0: LSH alone).
    """

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    min_jaccard: float = 0.0
    name = "near_dedup"

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def signatures(self, texts: list[str]) -> list[Any]:
        """One datasketch MinHash per document, all with the same permutations."""
        from datasketch import MinHash  # imported here: validating a config needs the step names only

        return MinHash.bulk([shingles(t, self.ngram) for t in texts], num_perm=self.num_perm, seed=self.seed)

    def reasons(self, texts: list[str]) -> list[str | None]:
        from datasketch import MinHashLSH

        lsh = MinHashLSH(num_perm=self.num_perm, params=(self.bands, self.rows))
        sigs = self.signatures(texts)
        out: list[str | None] = []
        for i, sig in enumerate(sigs):
            matches = sorted(int(k) for k in lsh.query(sig))
            if self.min_jaccard > 0:
                matches = [j for j in matches if sig.jaccard(sigs[j]) >= self.min_jaccard]
            if matches:
                j = matches[0]
                out.append(f"near duplicate of document {j} (estimated Jaccard {sig.jaccard(sigs[j]):.2f})")
            else:  # only kept documents are indexed, so a removed one never pulls in a third
                lsh.insert(str(i), sig)
                out.append(None)
        return out


def candidate_probability(jaccard: float | np.ndarray, bands: int = 14, rows: int = 8) -> np.ndarray:
    """The chance that LSH with `bands` x `rows` pairs two documents of this Jaccard similarity."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=np.float64) ** rows) ** bands
