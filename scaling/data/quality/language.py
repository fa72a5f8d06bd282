"""Offline language identification with py3langid (langid.py's model, shipped in the wheel).

The model scores the document's first `sample_chars` characters: on long, repetitive texts its normalised
probability degenerates (a 110k-character English text scored 0.11 here), while 2,000 characters score every
King James chapter as English with probability >= 0.99.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any


@cache
def identifier() -> Any:
    """The py3langid model with normalised probabilities, loaded once per process."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@dataclass
class LanguageFilter:
    """Keep documents identified as one of `languages` with probability >= `min_score` (FineWeb: 0.65)."""

    languages: tuple[str, ...] = ("en",)
    min_score: float = 0.65
    sample_chars: int = 2000
    name = "language"

    def classify(self, text: str) -> tuple[str, float]:
        lang, score = identifier().classify(text[: self.sample_chars])
        return str(lang), float(score)

    def reasons(self, texts: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for t in texts:
            lang, score = self.classify(t)
            if lang not in self.languages:
                out.append(f"language {lang} ({score:.2f}), not {'/'.join(self.languages)}")
            elif score < self.min_score:
                out.append(f"language {lang} with probability {score:.2f} < {self.min_score:g}")
            else:
                out.append(None)
        return out
