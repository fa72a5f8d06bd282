"""Text units the filters count: words, lines, paragraphs and word n-grams (whitespace tokenization, as Gopher)."""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n{2,}")


def words(text: str) -> list[str]:
    """Whitespace-separated words."""
    return text.split()


def lines(text: str) -> list[str]:
    """Non-blank lines, stripped."""
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def paragraphs(text: str) -> list[str]:
    """Non-blank blocks separated by blank lines, stripped."""
    return [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive n-grams of a token list (empty when it is shorter than n)."""
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def normalized_words(text: str) -> list[str]:
    """Lower-cased words with surrounding punctuation stripped (the unit of n-gram and stop-word checks)."""
    out = []
    for w in text.lower().split():
        w = w.strip(".,;:!?\"'()[]{}-")
        if w:
            out.append(w)
    return out
