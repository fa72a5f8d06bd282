"""The corpus registry: turns each `DataConfig.corpus` entry into a `Corpus`, or a UserError listing what is valid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scaling.data.builtin import KJV, Shakespeare, Stdlib
from scaling.data.corpus import Corpus
from scaling.data.files import JsonLines, Parquet, TextFiles
from scaling.data.hub import HuggingFace
from scaling.errors import UserError

# name -> factory(downloads dir); these need nothing from the user
BUILTIN: dict[str, Callable[[Path], Corpus]] = {
    "kjv": lambda downloads: KJV(),
    "shakespeare": Shakespeare,
    "stdlib": lambda downloads: Stdlib(),
}

PREFIXES = {
    "text": "text:PATH (a .txt file, documents split at blank lines; or a directory, one document per .txt file)",
    "jsonl": "jsonl:PATH[#field] (one JSON object per line, `text` field unless #field names another)",
    "parquet": "parquet:PATH[#column] (a .parquet file or directory of them, `text` column by default)",
    "hf": "hf:NAME[:CONFIG][#field] (a Hugging Face dataset's train split; needs the `datasets` extra)",
}


def valid_specs() -> str:
    """One line per accepted form, for error messages and docs."""
    return "; ".join([*BUILTIN, *PREFIXES.values()])


def resolve_corpus(spec: str, downloads: Path) -> Corpus:
    """The corpus a spec names; local paths are checked now, so a typo fails before any work starts."""
    name = spec.strip()
    if name in BUILTIN:
        return BUILTIN[name](downloads)
    kind, sep, rest = name.partition(":")
    if not sep or kind not in PREFIXES:
        raise UserError(f"data.corpus: unknown corpus {spec!r}; valid: {valid_specs()}")
    if not rest:
        raise UserError(f"data.corpus: {spec!r} names no path or dataset; expected {PREFIXES[kind]}")
    if kind == "text":
        return TextFiles(name, rest)
    target, _, field = rest.rpartition("#") if "#" in rest else (rest, "", "")
    if kind == "jsonl":
        return JsonLines(name, target, field)
    if kind == "parquet":
        return Parquet(name, target, field)
    dataset, _, config = target.partition(":")
    return HuggingFace(name, dataset, config or None, field)


def check_corpus_spec(spec: str, cache_dir: Path | None = None) -> None:
    """What planning checks of one corpus, cheaply: the spec resolves, a built-in's package is installed, and a
    local file's first document reads (its JSON field or parquet column exists). Hub datasets and downloads
    are not fetched here."""
    from scaling.data.cache import cache_root, downloads_dir

    corpus = resolve_corpus(spec, downloads_dir(cache_root(cache_dir)))
    if isinstance(corpus, KJV):
        corpus.db_path()
    elif isinstance(corpus, TextFiles | JsonLines | Parquet):
        if next(iter(corpus.iter_texts()), None) is None:
            raise UserError(f"data.corpus: corpus {spec!r} has no documents (empty corpus)")
