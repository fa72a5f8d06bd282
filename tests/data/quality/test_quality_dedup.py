"""Deduplication finds planted exact and near duplicates among real KJV chapters; precision and recall printed."""

from __future__ import annotations

import numpy as np
from qutil import kjv_chapters

from scaling.data.quality.dedup import ExactDedup, NearDedup, candidate_probability, shingles

N_BASE, N_PLANTED = 300, 40


def _near_copy(text: str, rng: np.random.Generator, edits: float = 0.02) -> str:
    """`text` with a share `edits` of its words replaced by a nonsense word."""
    words = text.split(" ")
    for i in rng.choice(len(words), size=max(1, int(edits * len(words))), replace=False):
        words[i] = "zyxxy"
    return " ".join(words)


def _plant(kind: str, seed: int = 0) -> tuple[list[str], list[bool], list[str]]:
    """The first N_BASE chapters followed by N_PLANTED copies of distinct ones: (texts, planted?, source text)."""
    rng = np.random.default_rng(seed)
    base = list(kjv_chapters()[:N_BASE])
    sources = [base[i] for i in rng.choice(N_BASE, size=N_PLANTED, replace=False)]
    copies = ["  " + s.replace("\n", " \n") if kind == "exact" else _near_copy(s, rng) for s in sources]
    order = rng.permutation(N_PLANTED)
    docs = base + [copies[i] for i in order]
    return docs, [False] * N_BASE + [True] * N_PLANTED, [""] * N_BASE + [sources[i] for i in order]


def _scores(flagged: list[bool], planted: list[bool]) -> tuple[float, float]:
    tp = sum(f and p for f, p in zip(flagged, planted, strict=True))
    return tp / max(sum(flagged), 1), tp / sum(planted)


def test_exact_dedup_finds_every_planted_copy_and_nothing_else():
    docs, planted, _ = _plant("exact")
    assert not any(ExactDedup().reasons(docs[:N_BASE])), "the clean chapters hold no exact duplicates"
    flagged = [r is not None for r in ExactDedup().reasons(docs)]
    precision, recall = _scores(flagged, planted)
    print(f"exact dedup: precision {precision:.3f}, recall {recall:.3f} on {N_PLANTED} planted copies")
    assert precision == 1.0 and recall == 1.0


def test_near_dedup_recall_and_precision_on_planted_near_copies():
    docs, planted, sources = _plant("near")
    flagged = [r is not None for r in NearDedup().reasons(docs)]
    precision, recall = _scores(flagged, planted)
    jaccard = np.array([len(shingles(d, 5) & shingles(s, 5)) / len(shingles(d, 5) | shingles(s, 5))
                        for d, s, p in zip(docs, sources, planted, strict=True) if p])
    expected = float(candidate_probability(jaccard).mean())
    print(f"near dedup: precision {precision:.3f}, recall {recall:.3f} on {N_PLANTED} planted near copies "
          f"(true 5-gram Jaccard {jaccard.min():.2f}-{jaccard.max():.2f}; banding predicts recall {expected:.3f})")
    assert recall >= 0.9 and precision >= 0.9
    assert abs(recall - expected) < 0.15
    assert not any(ExactDedup().reasons(docs)[N_BASE:]), "near copies are not exact copies"


def test_lsh_candidate_probability_is_the_banding_formula():
    threshold = (1 / 14) ** (1 / 8)
    assert float(candidate_probability(1.0)) == 1.0
    assert abs(float(candidate_probability(threshold)) - (1 - (1 - 1 / 14) ** 14)) < 1e-12
    assert NearDedup().num_perm == 112
