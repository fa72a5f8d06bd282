"""`load_dataset`: corpora -> cached token arrays (built once, then memory-mapped) and the `TokenDataset` view."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scaling.config import DataConfig
from scaling.data.build import build_entry
from scaling.data.cache import cache_key, cache_root, downloads_dir, ensure_entry, read_meta
from scaling.data.corpora import resolve_corpus
from scaling.data.loader import BatchLoader
from scaling.data.repeat import planned_unique_tokens, unique_subset
from scaling.data.split import SPLIT_RULE
from scaling.data.tokenizer import TextTokenizer, load_tokenizer, tokenizer_identity
from scaling.errors import UserError

VAL_SEED = 0x5EED  # validation batches use a fixed order, whatever the training seed


@dataclass
class TokenDataset:
    """The train and validation token streams (memory-mapped, documents separated by EOD) and their tokenizer."""

    train_tokens: np.ndarray
    val_tokens: np.ndarray
    tokenizer: TextTokenizer
    cache_path: Path
    meta: dict = field(repr=False)
    built: bool = False  # whether this load tokenized the corpus (False: served from the cache)
    unique_tokens: int | None = None  # data.unique_tokens as trained (whole sequences); None: the whole split

    @classmethod
    def open(cls, entry: Path, tokenizer: TextTokenizer, built: bool = False) -> TokenDataset:
        meta = read_meta(entry)
        dtype = np.dtype(meta["dtype"])
        splits = {s: np.memmap(entry / f"{s}.bin", dtype=dtype, mode="r") for s in ("train", "val")}
        return cls(splits["train"], splits["val"], tokenizer, entry, meta, built)

    @property
    def vocab_size(self) -> int:
        """Ids the model must embed, special tokens included."""
        return int(self.meta["vocab_size"])

    def describe(self) -> dict:
        """Corpora, document and token counts per split, vocabulary and where the cache lives."""
        m = self.meta
        return {
            "corpora": [{k: v for k, v in c.items() if k != "fingerprint"} for c in m["corpora"]],
            "documents": m["documents"],
            "characters": m["characters"],
            "train_documents": m["train_documents"],
            "val_documents": m["val_documents"],
            "train_tokens": m["train_tokens"],
            "val_tokens": m["val_tokens"],
            "tokenizer": m["tokenizer"],
            "vocab_size": self.vocab_size,
            "eod_id": m["eod_id"],
            "val_fraction": m["split"]["val_fraction"],
            "cache_path": str(self.cache_path),
            **({"unique_tokens_limit": self.unique_tokens} if self.unique_tokens is not None else {}),
            **({"quality": _quality_summary(m["quality"])} if "quality" in m else {}),
        }

    def loader(self, seq_len: int, batch_size: int, seed: int) -> BatchLoader:
        """The training-batch loader over this dataset's train split."""
        return BatchLoader(self.train_tokens, seq_len, batch_size, seed)

    def val_batches(self, n_batches: int, batch_size: int, seq_len: int) -> np.ndarray:
        """A fixed set `int32 [n_batches, batch_size, seq_len + 1]` from the validation split.

        The same arguments give the same batches in every run. When the split holds fewer than
        `n_batches * batch_size` windows it is cycled (each window once before any repeats).
        """
        loader = BatchLoader(self.val_tokens, seq_len, batch_size, VAL_SEED,
                             name="validation split", allow_repeats=True)
        return np.stack([loader.batch(step) for step in range(n_batches)])


def _quality_summary(quality: dict) -> dict:
    """What a trial records of its data's quality: the setting, documents in and kept, recovery per kind."""
    r = quality["report"]
    return {**quality["config"], "documents_in": r["documents_in"], "documents_kept": r["documents_out"],
            "removed_by_step": {s["name"]: s["removed"] for s in r["steps"] if s["removed"]},
            "recovery": r["recovery"], "false_removals": r["false_removals"]}


def load_dataset(cfg: DataConfig) -> TokenDataset:
    """Tokenize `cfg.corpus` (once; later calls memory-map the cached ids) and return the dataset."""
    if not cfg.corpus:
        raise UserError("data.corpus is empty; name at least one corpus, e.g. [kjv]")
    root = cache_root(cfg.cache_dir)
    corpora = [resolve_corpus(spec, downloads_dir(root)) for spec in cfg.corpus]
    identity = {
        "corpora": [{"spec": c.spec, "fingerprint": c.fingerprint()} for c in corpora],
        "tokenizer": tokenizer_identity(cfg.tokenizer),
        "split": {"rule": SPLIT_RULE, "val_fraction": cfg.val_fraction},
    }
    if cfg.quality.active:  # only then: clean corpora keep the keys (and cache entries) they always had
        identity["quality"] = cfg.quality.identity()
    key = cache_key(identity)
    entry = root / "tokens" / key
    built = ensure_entry(entry, lambda tmp: build_entry(tmp, corpora, cfg, key))
    dataset = TokenDataset.open(entry, load_tokenizer(cfg.tokenizer, entry), built)
    if cfg.unique_tokens is not None:  # a view of the entry: every U shares one tokenization
        dataset.train_tokens = unique_subset(dataset.train_tokens, cfg.seq_len, cfg.unique_tokens)
        dataset.unique_tokens = planned_unique_tokens(cfg.unique_tokens, cfg.seq_len)
    return dataset
