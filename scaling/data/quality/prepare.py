"""The training split as `data.quality` asks for it: clean documents, corrupted at the set rate, then filtered.

Only training documents pass through here; the validation split is the clean corpus's own, cut by the same
document hashes whatever the quality setting, so every quality level is evaluated on one fixed clean set.
"""

from __future__ import annotations

from typing import Any

from scaling.data.corpus import Corpus
from scaling.data.quality.corrupt import corrupt_documents
from scaling.data.quality.doc import Doc
from scaling.data.quality.pipeline import QualityReport, run_pipeline
from scaling.data.quality.steps import build_steps
from scaling.data.split import doc_hash, is_val
from scaling.errors import UserError


def quality_train_docs(corpora: list[Corpus], cut: int, quality: Any) -> tuple[list[Doc], QualityReport]:
    """The training documents (each tagged with its corpus index) after corruption and filters, and the report."""
    docs = [Doc(text, corpus=i) for i, c in enumerate(corpora) for text in c.documents()
            if not is_val(doc_hash(text), cut)]
    docs = corrupt_documents(docs, quality.corruption_rate, quality.corruptions, quality.seed)
    result = run_pipeline(docs, build_steps(quality.filters))
    if not result.kept:
        raise UserError(f"data.quality.filters removed all {len(docs)} training documents; loosen or drop filters")
    return result.kept, result.report
