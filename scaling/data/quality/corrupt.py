"""Planted defects at exact rates: a sweep varies data quality knowingly, and the filters' recovery is measurable.

`corrupt_documents(docs, rate, kinds, seed)` replaces exactly round(rate * len(docs)) documents, chosen by a
seeded permutation, with corrupted ones, split as evenly as possible over `kinds` (the first kinds take the
remainder). The corpus keeps its number of documents; each corrupted one carries its kind for the report.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from scaling.data.quality.doc import CLEAN, Doc
from scaling.errors import UserError

BOILERPLATE = (
    "Home | About us | Contact | Privacy policy | Terms of use",
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Subscribe to our newsletter for the latest updates!",
    "Share this page: Facebook Twitter Email Print",
    "Copyright (c) 2024 Example Media Group. All rights reserved.",
)
NOISE_CHARS = string.ascii_letters + string.digits + string.punctuation
CHAR_NOISE = 0.25  # share of characters replaced in a char_noise document
NEAR_DUP_EDITS = 0.02  # share of words substituted in a near_duplicate copy (estimated Jaccard ~0.85)
BOILERPLATE_REPEATS = 8
KEEP_LINES = 0.25  # share of the original lines a boilerplate document keeps


def _boilerplate(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """The document's first lines buried in navigation and cookie banners repeated many times."""
    kept = doc.text.splitlines()
    kept = kept[: max(1, int(len(kept) * KEEP_LINES))]
    return "\n".join([*kept, *(BOILERPLATE * BOILERPLATE_REPEATS)])


def _char_noise(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """A quarter of the non-space characters replaced by random letters, digits and punctuation."""
    chars = np.array(list(doc.text))
    spots = np.flatnonzero(~np.char.isspace(chars))
    hit = rng.choice(spots, size=int(round(CHAR_NOISE * len(spots))), replace=False)
    chars[hit] = rng.choice(np.array(list(NOISE_CHARS)), size=len(hit))
    return "".join(chars.tolist())


def _shuffled_words(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """The document's words in a random order, twelve to a line: the unigram statistics survive, syntax does not."""
    ws = doc.text.split()
    ws = [ws[i] for i in rng.permutation(len(ws))]
    return "\n".join(" ".join(ws[i:i + 12]) for i in range(0, len(ws), 12))


def _random_bytes(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """As many uniformly random bytes as the document has characters, read as Latin-1 text."""
    return rng.integers(0, 256, size=max(1, len(doc.text)), dtype=np.uint8).tobytes().decode("latin-1")


def _source(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> Doc:
    return sources[int(rng.integers(len(sources)))] if sources else doc


def _exact_duplicate(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """A verbatim copy of an earlier clean, untouched document (as a crawl meets a page again)."""
    return _source(doc, rng, sources).text


def _near_duplicate(doc: Doc, rng: np.random.Generator, sources: list[Doc]) -> str:
    """A copy of an earlier clean, untouched document with 2% of its words replaced by other words of it."""
    words = _source(doc, rng, sources).text.split(" ")
    n_edit = max(1, int(round(NEAR_DUP_EDITS * len(words))))
    at = rng.choice(len(words), size=min(n_edit, len(words)), replace=False)
    for i in at:
        words[i] = words[int(rng.integers(len(words)))]
    return " ".join(words)


CORRUPTIONS: dict[str, Callable[[Doc, np.random.Generator, list[Doc]], str]] = {
    "boilerplate": _boilerplate,
    "char_noise": _char_noise,
    "shuffled_words": _shuffled_words,
    "random_bytes": _random_bytes,
    "near_duplicate": _near_duplicate,
    "exact_duplicate": _exact_duplicate,
}


def corruption_counts(n_docs: int, rate: float, kinds: Sequence[str]) -> dict[str, int]:
    """How many documents of each kind: round(rate * n_docs) in all, split evenly, remainder to the first kinds."""
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"data.quality.corruption_rate must be in [0, 1], got {rate}")
    unknown = [k for k in kinds if k not in CORRUPTIONS]
    if unknown or (rate > 0 and not kinds):
        raise UserError(f"data.quality.corruptions: unknown or no kinds {unknown}; valid: {', '.join(CORRUPTIONS)}")
    total = int(round(rate * n_docs))
    base, extra = divmod(total, len(kinds)) if kinds else (0, 0)
    return {k: base + (1 if i < extra else 0) for i, k in enumerate(kinds)}


def corrupt_documents(docs: list[Doc], rate: float, kinds: Sequence[str] = tuple(CORRUPTIONS), seed: int = 0
                      ) -> list[Doc]:
    """`docs` with exactly round(rate * len(docs)) replaced by corrupted documents (seeded, order kept)."""
    counts = corruption_counts(len(docs), rate, kinds)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xC0, len(docs)])))
    order = rng.permutation(len(docs))
    total = sum(counts.values())
    chosen, untouched = order[:total], order[total:]
    clean = np.array(sorted(i for i in untouched if docs[i].kind == CLEAN), dtype=np.int64)
    out = list(docs)
    start = 0
    for kind, count in counts.items():
        for i in sorted(chosen[start:start + count]):
            # duplicates copy an earlier document, so keep-first deduplication removes the copy, not the source
            earlier = clean[: np.searchsorted(clean, i)]
            # with no clean document before it, any earlier original serves (at rate 1 none is clean)
            sources = [docs[j] for j in earlier] if earlier.size else list(docs[:i]) or [docs[j] for j in clean]
            out[i] = replace(docs[i], text=CORRUPTIONS[kind](docs[i], rng, sources), kind=kind)
        start += count
    return out
