"""The one interface every corpus implements: a stable identity for the cache key, and its documents in order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class Corpus(ABC):
    """A named source of documents; iterating it twice yields the same documents in the same order."""

    #: the spec as the user wrote it in `DataConfig.corpus` (e.g. "kjv", "jsonl:data/x.jsonl#body")
    spec: str

    @abstractmethod
    def fingerprint(self) -> str:
        """A short string that changes whenever the documents could change (content hash or file identity)."""

    @abstractmethod
    def iter_texts(self) -> Iterator[str]:
        """Raw document texts in a deterministic order (may include empty ones; `documents` drops them)."""

    def documents(self) -> Iterator[str]:
        """Non-blank documents, in order: the unit the train/validation split and the EOD token work on."""
        for text in self.iter_texts():
            if text.strip():
                yield text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
