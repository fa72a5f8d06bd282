"""One document as the quality pipeline sees it: its text, which corpus it came from, and what was planted in it."""

from __future__ import annotations

from dataclasses import dataclass

CLEAN = "clean"


@dataclass(frozen=True)
class Doc:
    """`kind` is `clean`, or the corruption that produced this document (the pipeline's ground truth)."""

    text: str
    corpus: int = 0
    kind: str = CLEAN
