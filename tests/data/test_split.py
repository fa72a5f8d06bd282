"""The train/validation split: by document hash, independent of order, never leaving a split empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.data import load_dataset
from scaling.data.split import doc_hash, is_val, val_threshold


def test_split_depends_on_text_not_order():
    docs = [f"document number {i}" for i in range(2000)]
    cut = val_threshold([doc_hash(d) for d in docs], 0.1)
    val = {d for d in docs if is_val(doc_hash(d), cut)}
    reversed_cut = val_threshold([doc_hash(d) for d in reversed(docs)], 0.1)
    assert reversed_cut == cut and {d for d in reversed(docs) if is_val(doc_hash(d), reversed_cut)} == val
    assert 150 < len(val) < 250  # ~10% of 2000


def test_split_never_leaves_a_side_empty():
    hashes = [doc_hash(f"d{i}") for i in range(3)]
    for fraction in (1e-9, 0.49):
        cut = val_threshold(hashes, fraction)
        n_val = sum(is_val(h, cut) for h in hashes)
        assert 1 <= n_val <= 2
    cut = val_threshold(hashes, 1e-9)
    assert [is_val(h, cut) for h in hashes] == [h == min(hashes) for h in hashes]


def test_reordered_corpus_gives_the_same_split(tmp_path: Path, cfg, write_docs):
    docs = [f"doc {i}: " + "words " * (i % 7 + 1) for i in range(200)]
    a = load_dataset(cfg(f"text:{write_docs(tmp_path / 'a', docs)}", tmp_path / "cache", val_fraction=0.1))
    b = load_dataset(cfg(f"text:{write_docs(tmp_path / 'b', docs[::-1])}", tmp_path / "cache", val_fraction=0.1))
    assert a.meta["split"]["cut"] == b.meta["split"]["cut"]
    assert a.describe()["val_documents"] == b.describe()["val_documents"] > 0

    def doc_set(tokens: np.ndarray) -> set[bytes]:
        return set(bytes(tokens.astype(np.uint8)).split(b"\x00"))  # EOD (256) wraps to 0 as uint8

    assert doc_set(a.val_tokens) == doc_set(b.val_tokens) and doc_set(a.train_tokens) == doc_set(b.train_tokens)


def test_kjv_split_sizes(kjv_byte):
    d = kjv_byte.describe()
    assert d["documents"] == 1189 and d["train_documents"] + d["val_documents"] == 1189
    assert 5 <= d["val_documents"] <= 50  # ~2%
    assert d["train_tokens"] == len(kjv_byte.train_tokens) and d["val_tokens"] == len(kjv_byte.val_tokens)
    assert d["train_tokens"] + d["val_tokens"] == d["characters"] + d["documents"]  # ASCII + one EOD each
