"""Tokenizers: raw UTF-8 bytes (256 ids + end-of-document), and byte-level BPE trained with HF `tokenizers`.

Both have `encode(str) -> list[int]`, `decode(list[int]) -> str`, `eod_id`, `vocab_size`, and a fast
`encode_docs(list[str]) -> list[np.ndarray]` the cache builder uses. Any text encodes (BPE starts from the 256
byte symbols), and the end-of-document token appearing literally in a text is encoded as plain text, never as
the special token.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from scaling.config import TokenizerConfig

EOD = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"


class TextTokenizer(Protocol):
    """What the trainer and the cache builder use of a tokenizer."""

    eod_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def encode_docs(self, texts: list[str]) -> list[np.ndarray]: ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, and id 256 for end-of-document: 257 ids in all."""

    eod_id = 256
    vocab_size = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        """Bytes back to text (the EOD id as the literal `<|endoftext|>`; broken UTF-8 as U+FFFD)."""
        out, run = [], bytearray()
        for i in ids:
            if i == self.eod_id:
                out += [run.decode("utf-8", errors="replace"), EOD]
                run = bytearray()
            else:
                run.append(int(i))
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)

    def encode_docs(self, texts: list[str]) -> list[np.ndarray]:
        return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8) for t in texts]


class BPETokenizer:
    """A trained byte-level BPE (HF `tokenizers`); EOD is its first special token."""

    def __init__(self, tok: Tokenizer):
        tok.encode_special_tokens = True  # a literal "<|endoftext|>" in a document stays text
        self.tok = tok
        eod = tok.token_to_id(EOD)
        if eod is None:
            raise ValueError(f"tokenizer has no {EOD} token")
        self.eod_id = eod
        self.vocab_size = tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def encode_docs(self, texts: list[str]) -> list[np.ndarray]:
        encodings = self.tok.encode_batch_fast(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.uint32) for e in encodings]

    def save(self, directory: Path) -> None:
        self.tok.save(str(directory / TOKENIZER_FILE))

    @classmethod
    def load(cls, directory: Path) -> BPETokenizer:
        return cls(Tokenizer.from_file(str(directory / TOKENIZER_FILE)))


def train_bpe(texts: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Train a byte-level BPE of at most `vocab_size` ids (EOD included) on these texts.

    No normalizer (text is kept byte-exact) and GPT-2-style byte-level pre-tokenization, so decoding inverts
    encoding for any string. A small corpus may yield fewer ids than asked; `vocab_size` reports the real count.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return BPETokenizer(tok)


def tokenizer_identity(cfg: TokenizerConfig) -> dict:
    """The parts of the config that change token ids (a byte tokenizer ignores `vocab_size`)."""
    if cfg.kind == "byte":
        return {"kind": "byte"}
    return {"kind": "bpe", "vocab_size": cfg.vocab_size, "pre_tokenizer": "byte-level", "eod": EOD}


def load_tokenizer(cfg: TokenizerConfig, directory: Path) -> TextTokenizer:
    """The tokenizer a cache directory was built with."""
    return ByteTokenizer() if cfg.kind == "byte" else BPETokenizer.load(directory)
