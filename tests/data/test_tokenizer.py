"""Tokenizers: exact round trips, the end-of-document token, and BPE trained on the train split only."""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np
import pytest

from scaling.data import EOD, ByteTokenizer, load_dataset
from scaling.data.builtin import KJV
from scaling.data.split import doc_hash, is_val
from scaling.data.tokenizer import train_bpe

SAMPLES = ["", "plain ascii", "Ünïcödé — ½ ∑ 漢字 🙂", "  leading\tand\ntrailing  \n", "a" * 500, f"x{EOD}y"]


def test_byte_round_trip_and_ids():
    tok = ByteTokenizer()
    assert (tok.vocab_size, tok.eod_id) == (257, 256)
    for text in SAMPLES:
        ids = tok.encode(text)
        assert all(0 <= i < 256 for i in ids) and tok.decode(ids) == text
    assert tok.decode([104, 105, tok.eod_id, 33]) == f"hi{EOD}!"


@pytest.fixture(scope="module")
def small_bpe():
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 7))) for _ in range(300)]
    docs = [" ".join(rng.choices(words, k=200)) for _ in range(50)]
    return train_bpe(docs, 400)


def test_bpe_round_trips_any_text(small_bpe):
    assert small_bpe.vocab_size <= 400 and small_bpe.eod_id == 0
    for text in [*SAMPLES, "text with words never seen: zqxj ΩΩ 🚀"]:
        ids = small_bpe.encode(text)
        assert small_bpe.decode(ids) == text
        assert small_bpe.eod_id not in ids  # a literal <|endoftext|> in text stays text
    assert small_bpe.decode([*small_bpe.encode("ab"), small_bpe.eod_id]) == f"ab{EOD}"


def test_kjv_bpe_round_trip_and_compression(kjv_bpe, kjv_byte):
    tok = kjv_bpe.tokenizer
    text = "In the beginning God created the heaven and the earth."
    assert tok.decode(tok.encode(text)) == text
    assert kjv_bpe.vocab_size == 1024 and kjv_bpe.train_tokens.dtype == np.uint16
    assert kjv_bpe.train_tokens.max() < 1024
    assert len(kjv_bpe.train_tokens) < 0.45 * len(kjv_byte.train_tokens)
    # the cached stream decodes back to the corpus text exactly, documents separated by EOD
    stream = kjv_bpe.train_tokens[:20_000]
    ends = np.flatnonzero(stream == tok.eod_id)
    chapters = [tok.decode(stream[a + 1:b]) for a, b in zip([-1, *ends[:-1]], ends, strict=True)]
    assert len(chapters) >= 3 and set(chapters) <= set(KJV().documents())


def test_bpe_is_trained_on_the_train_split_only(tmp_path: Path, cfg, write_docs):
    """Each document repeats its own made-up word; train words become tokens, val words never do."""
    rng = random.Random(1)
    words = ["".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(60)]
    docs = [f"{w} " * 100 for w in words]
    ds = load_dataset(cfg(f"text:{write_docs(tmp_path / 'docs', docs)}", tmp_path / "cache", kind="bpe",
                          vocab_size=2000, val_fraction=0.2))
    cut = ds.meta["split"]["cut"]
    val_words = [w for w, d in zip(words, docs, strict=True) if is_val(doc_hash(d), cut)]
    train_words = [w for w in words if w not in val_words]
    assert val_words and train_words
    n_tokens = {w: len(ds.tokenizer.encode(" " + w)) for w in words}
    assert all(n_tokens[w] == 1 for w in train_words)
    assert all(n_tokens[w] > 1 for w in val_words)
