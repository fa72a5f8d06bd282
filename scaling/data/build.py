"""Build one token-cache entry: hash-split the documents, train the tokenizer on train only, write the ids."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scaling.config import DataConfig
from scaling.data.cache import write_meta
from scaling.data.corpus import Corpus
from scaling.data.split import SPLIT_RULE, doc_hash, is_val, val_threshold
from scaling.data.tokenizer import ByteTokenizer, TextTokenizer, tokenizer_identity, train_bpe
from scaling.errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
_CHUNK_CHARS = 4_000_000  # documents are encoded in batches of about this many characters
_CHUNK_DOCS = 4096


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (vocab <= 65536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def _chunks(docs: Iterator[tuple[int, str, str]]) -> Iterator[list[tuple[int, str, str]]]:
    """(corpus, split, text) documents grouped into batches for the tokenizer's parallel batch encoder."""
    chunk: list[tuple[int, str, str]] = []
    chars = 0
    for doc in docs:
        chunk.append(doc)
        chars += len(doc[2])
        if chars >= _CHUNK_CHARS or len(chunk) >= _CHUNK_DOCS:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


def build_entry(directory: Path, corpora: list[Corpus], cfg: DataConfig, key: str) -> None:
    """Write train.bin, val.bin, meta.json (and tokenizer.json for BPE) into `directory`."""
    # pass 1: every document's hash fixes the split before anything is trained
    hashes: list[int] = []
    stats = []
    for corpus in corpora:
        log.info("reading corpus %s", corpus.spec)
        n_docs = n_chars = 0
        for doc in corpus.documents():
            hashes.append(doc_hash(doc))
            n_docs += 1
            n_chars += len(doc)
        if n_docs == 0:
            raise UserError(f"data.corpus: corpus {corpus.spec!r} has no documents (empty corpus)")
        stats.append({"spec": corpus.spec, "fingerprint": corpus.fingerprint(), "documents": n_docs,
                      "characters": n_chars, **{f"{s}_{k}": 0 for s in SPLITS for k in ("documents", "tokens")}})
    if len(set(hashes)) < 2:
        specs = ", ".join(c.spec for c in corpora)
        raise UserError(f"data.corpus: {specs} hold fewer than 2 distinct documents; a train/validation "
                        "split needs at least one of each (add text, or for text:FILE separate documents by "
                        "blank lines)")
    cut = val_threshold(hashes, cfg.val_fraction)

    # data.quality: the training documents corrupted and filtered (validation stays the clean split)
    quality_docs, quality_report = None, None
    if cfg.quality.active:
        from scaling.data.quality.prepare import quality_train_docs

        log.info("applying data.quality (corruption rate %g, filters %s)", cfg.quality.corruption_rate,
                 cfg.quality.filters)
        quality_docs, quality_report = quality_train_docs(corpora, cut, cfg.quality)

    def split_docs() -> Iterator[tuple[int, str, str]]:
        """(corpus index, split, text) of every document written, in file order."""
        for i, corpus in enumerate(corpora):
            for doc in corpus.documents():
                split = "val" if is_val(doc_hash(doc), cut) else "train"
                if quality_docs is None or split == "val":
                    yield i, split, doc
        for d in quality_docs or ():
            yield d.corpus, "train", d.text

    # pass 2: the tokenizer sees the train split only
    tokenizer: TextTokenizer
    if cfg.tokenizer.kind == "bpe":
        log.info("training BPE (vocab %d) on the train split", cfg.tokenizer.vocab_size)
        bpe = train_bpe((doc for _, split, doc in split_docs() if split == "train"), cfg.tokenizer.vocab_size)
        bpe.save(directory)
        tokenizer = bpe
    else:
        tokenizer = ByteTokenizer()
    dtype = token_dtype(tokenizer.vocab_size)
    eod = np.array([tokenizer.eod_id], dtype=dtype)

    # pass 3: encode, each document followed by EOD, appended to its split's file
    log.info("tokenizing %s", ", ".join(c.spec for c in corpora))
    with open(directory / "train.bin", "wb") as f_train, open(directory / "val.bin", "wb") as f_val:
        files = {"train": f_train, "val": f_val}
        for chunk in _chunks(split_docs()):
            parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
            for (i, split, _), ids in zip(chunk, tokenizer.encode_docs([doc for _, _, doc in chunk]), strict=True):
                parts[split] += [ids.astype(dtype, copy=False), eod]
                stats[i][f"{split}_documents"] += 1
                stats[i][f"{split}_tokens"] += len(ids) + 1
            for split, arrays in parts.items():
                if arrays:
                    files[split].write(np.concatenate(arrays).astype(dtype.newbyteorder("<")).tobytes())

    totals = {f"{s}_{k}": sum(st[f"{s}_{k}"] for st in stats) for s in SPLITS for k in ("documents", "tokens")}
    write_meta(directory, {
        "key": key,
        "tokenizer": tokenizer_identity(cfg.tokenizer),
        "corpora": stats,
        "documents": sum(st["documents"] for st in stats),
        "characters": sum(st["characters"] for st in stats),
        **totals,
        "vocab_size": tokenizer.vocab_size,
        "eod_id": tokenizer.eod_id,
        "dtype": dtype.newbyteorder("<").str,
        "split": {"rule": SPLIT_RULE, "val_fraction": cfg.val_fraction, "cut": cut},
        **({"quality": {"config": cfg.quality.identity(), "report": quality_report.to_dict()}}
           if quality_report is not None else {}),
    })
