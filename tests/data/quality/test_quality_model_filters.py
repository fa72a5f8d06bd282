"""The corpus-referenced model filters (perplexity, word_order) on real text with planted defects: each rejects
the defects it is built for and keeps every clean document, judged per source corpus, leave-one-out."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from qutil import kjv_chapters

from scaling.data.quality.corrupt import corrupt_documents
from scaling.data.quality.doc import CLEAN, Doc
from scaling.data.quality.perplexity import char_bits, word_order_bits
from scaling.data.quality.pipeline import run_pipeline
from scaling.data.quality.steps import build_steps


@pytest.fixture(scope="module")
def mixed() -> list[Doc]:
    """300 KJV chapters and, as a second source, 60 more from the end of the Bible in another corpus slot, a
    quarter of all corrupted (every kind, exact counts)."""
    chapters = kjv_chapters()
    docs = [Doc(t) for t in chapters[:300]] + [Doc(t, corpus=1) for t in chapters[-60:]]
    return corrupt_documents(docs, 0.25, seed=3)


def rejected_share(docs: list[Doc], step_name: str) -> dict[str, float]:
    result = run_pipeline(docs, build_steps([step_name]))
    kept = Counter(d.kind for d in result.kept)
    total = Counter(d.kind for d in docs)
    return {kind: 1 - kept[kind] / n for kind, n in total.items()}


def test_perplexity_rejects_noise_and_random_bytes_and_keeps_clean_text(mixed):
    share = rejected_share(mixed, "perplexity")
    assert share["char_noise"] == 1.0 and share["random_bytes"] == 1.0
    assert share[CLEAN] == 0.0


def test_word_order_rejects_shuffled_words_and_keeps_clean_text(mixed):
    share = rejected_share(mixed, "word_order")
    assert share["shuffled_words"] == 1.0 and share["char_noise"] == 1.0
    assert share[CLEAN] == 0.0
    assert share["exact_duplicate"] == 0.0 and share["near_duplicate"] == 0.0  # duplicates are dedup's job


def test_scores_are_leave_one_out():
    """A document's own n-grams never count for it: a random-byte document repeated inside itself still scores
    as random (about 8 bits per byte) among clean chapters, and a clean chapter near the corpus's own rate."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 400, dtype=np.uint8).tobytes().decode("latin-1")
    texts = list(kjv_chapters()[:50]) + [noise]
    bits = char_bits(texts)
    assert bits[-1] > 6.5 and np.median(bits[:-1]) < 2.5
    order = word_order_bits(texts[:50] + [" ".join(texts[0].split()[::-1])])  # a chapter's words reversed
    assert order[-1] < 0 < np.min(order[:50])


def test_the_reference_is_each_source_corpus():
    """The same clean chapters judged as their own source or as a minority beside another: per source, none
    is an outlier; the step never sees documents of another corpus as its reference."""
    chapters = kjv_chapters()
    docs = [Doc(t) for t in chapters[:200]] + [Doc(t, corpus=1) for t in chapters[-30:]]
    step = build_steps(["perplexity"])[0]
    assert step.per_source
    assert len(run_pipeline(docs, [step]).kept) == len(docs)


def test_settings_are_checked():
    from scaling.errors import UserError

    with pytest.raises(UserError, match="order 9"):
        build_steps([{"name": "perplexity", "order": 9}])
    assert build_steps([{"name": "word_order", "min_bits": 0.5}])[0].min_bits == 0.5
