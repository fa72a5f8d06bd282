"""Model-based filters, referenced on the corpus itself: character perplexity (CCNet-style) and word order.

CCNet keeps documents a reference language model finds likely. With no reference corpus offline, the reference
here is the corpus being filtered, scored leave-one-out (each document against counts of all the others), so a
document's own n-grams never vouch for it:

- `perplexity`: bits per byte under an add-k character 5-gram model; a document above its corpus's median by
  more than `z` robust standard deviations (1.4826 x MAD), and by at least `min_margin` bits, is rejected.
  Measured on 400 KJV chapters and the Shakespeare works with a quarter corrupted: every char-noise and
  random-byte document rejected (+3.7 and +5.5 bits over clean), no clean document.
- `word_order`: how many bits per word the previous word adds over word frequencies (an interpolated bigram
  against the unigram); a document whose word order adds no more than `min_bits` (default 0: nothing) is
  rejected. Same corpus: every shuffled-word and char-noise document rejected, no clean one (clean prose and
  verse add 0.1 to 3 bits, shuffled words -0.6 to -0.4); random bytes have too few words to judge reliably.
Both are `per_source`: each source corpus is the reference for its own documents (as CCNet scores each language
apart), so a minority corpus is not judged an outlier of the majority's style.
Hand-written: KenLM needs a compiler and a trained model file; these are counts over numpy arrays.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

PAD_BYTE = 10  # newline: what precedes a document's first character


def _hashes(b_N: np.ndarray, n: int) -> np.ndarray:
    """One uint64 per n-gram of bytes (exact for n <= 7: base 257 fits 64 bits)."""
    h = np.zeros(len(b_N) - n + 1, dtype=np.uint64)
    for k in range(n):
        h = h * np.uint64(257) + b_N[k:len(b_N) - n + 1 + k].astype(np.uint64) + np.uint64(1)
    return h


def _lookup(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, counts[i], 0)


def _own(query: np.ndarray) -> np.ndarray:
    """How often each entry of `query` occurs in `query` itself (what leave-one-out subtracts)."""
    _, inverse, counts = np.unique(query, return_inverse=True, return_counts=True)
    return counts[inverse]


def char_bits(texts: list[str], order: int = 5, k: float = 0.01) -> np.ndarray:
    """Leave-one-out bits per byte of each text under an add-k character `order`-gram model of the others."""
    padded = [np.concatenate([np.full(order - 1, PAD_BYTE, np.uint8),
                              np.frombuffer(t.encode("utf-8", "replace"), np.uint8)]) for t in texts]
    grams = [_hashes(b, order) for b in padded]
    contexts = [_hashes(b[:-1], order - 1) for b in padded]
    g_keys, g_counts = np.unique(np.concatenate(grams), return_counts=True)
    c_keys, c_counts = np.unique(np.concatenate(contexts), return_counts=True)
    out = np.empty(len(texts))
    for i, (g, c) in enumerate(zip(grams, contexts, strict=True)):
        if g.size == 0:
            out[i] = 0.0
            continue
        n_gram = _lookup(g_keys, g_counts, g) - _own(g)
        n_ctx = _lookup(c_keys, c_counts, c) - _own(c)
        out[i] = float(-np.log2((n_gram + k) / (n_ctx + 256 * k)).mean())
    return out


def word_order_bits(texts: list[str], weight: float = 0.5) -> np.ndarray:
    """Leave-one-out bits per word the previous word adds: log2 p(w | prev) / p(w), p(w | prev) interpolated
    (`weight` on the bigram estimate) with add-one word frequencies."""
    docs = [t.lower().split() for t in texts]
    unigrams = Counter(w for d in docs for w in d)
    bigrams = Counter(pair for d in docs for pair in zip(d, d[1:], strict=False))
    total, vocab = sum(unigrams.values()), len(unigrams)
    out = np.zeros(len(texts))
    for i, words in enumerate(docs):
        own_u, own_b = Counter(words), Counter(zip(words, words[1:], strict=False))
        bits = 0.0
        for prev, word in zip(words, words[1:], strict=False):
            p_word = (unigrams[word] - own_u[word] + 1) / (total + vocab)
            n_prev = unigrams[prev] - own_u[prev]
            p = p_word
            if n_prev > 0:
                p = weight * (bigrams[(prev, word)] - own_b[(prev, word)]) / n_prev + (1 - weight) * p_word
            bits += math.log2(p / p_word)
        out[i] = bits / max(1, len(words) - 1)
    return out


@dataclass
class CharPerplexity:
    """Reject documents whose character perplexity is an outlier of the corpus (see the module docstring)."""

    z: float = 5.0
    min_margin: float = 1.5  # bits/byte above the median, at least: a small reference set has a narrow spread
    order: int = 5
    name = "perplexity"
    per_source = True  # each source corpus is its own reference (scaling/data/quality/pipeline.py)

    def __post_init__(self) -> None:
        if not 2 <= self.order <= 7:
            raise ValueError(f"order {self.order}: give 2..7 (bytes per n-gram)")
        if self.z <= 0:
            raise ValueError(f"z {self.z}: give a positive number of robust standard deviations")

    def reasons(self, texts: list[str]) -> list[str | None]:
        if len(texts) < 3:
            return [None] * len(texts)
        bits = char_bits(texts, self.order)
        median = float(np.median(bits))
        spread = 1.4826 * float(np.median(np.abs(bits - median)))
        limit = median + max(self.z * spread, self.min_margin)
        return [f"{b:.2f} bits/byte > {limit:.2f} (corpus median {median:.2f} + {self.z:g} robust sd)"
                if b > limit else None for b in bits]


@dataclass
class WordOrder:
    """Reject documents whose word order tells nothing about the next word (see the module docstring)."""

    min_bits: float = 0.0
    name = "word_order"
    per_source = True

    def reasons(self, texts: list[str]) -> list[str | None]:
        if len(texts) < 3:
            return [None] * len(texts)
        bits = word_order_bits(texts)
        return [f"word order adds {b:.2f} bits/word < {self.min_bits:g}" if b < self.min_bits else None
                for b in bits]
