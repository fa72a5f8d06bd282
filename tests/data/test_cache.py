"""The token cache: reused without re-tokenizing, keyed by what changes the ids, safe against crashes and races."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from scaling.config import DataConfig
from scaling.data import build as build_mod
from scaling.data import load_dataset
from scaling.data.cache import cache_root


def test_second_load_reuses_the_cache(kjv_byte, data_cache: Path, cfg):
    stamp = {f.name: f.stat().st_mtime_ns for f in kjv_byte.cache_path.iterdir()}
    again = load_dataset(cfg("kjv", data_cache))
    assert not again.built and again.cache_path == kjv_byte.cache_path
    assert {f.name: f.stat().st_mtime_ns for f in again.cache_path.iterdir()} == stamp
    assert np.array_equal(again.train_tokens, kjv_byte.train_tokens)
    assert isinstance(again.train_tokens, np.memmap) and again.train_tokens.dtype == np.uint16


def test_tokenizer_config_changes_the_key(tmp_path: Path, cfg, write_docs):
    corpus = f"text:{write_docs(tmp_path / 'docs', [f'doc {i} ' * 20 for i in range(30)])}"
    byte = load_dataset(cfg(corpus, tmp_path / "c"))
    assert byte.built
    assert not load_dataset(cfg(corpus, tmp_path / "c", vocab_size=999)).built  # bytes ignore vocab_size
    bpe = load_dataset(cfg(corpus, tmp_path / "c", kind="bpe", vocab_size=300))
    bpe2 = load_dataset(cfg(corpus, tmp_path / "c", kind="bpe", vocab_size=320))
    assert bpe.built and bpe2.built and len({byte.cache_path, bpe.cache_path, bpe2.cache_path}) == 3
    assert (bpe.cache_path / "tokenizer.json").is_file()
    assert load_dataset(cfg(corpus, tmp_path / "c", val_fraction=0.1)).built  # the split rule is in the key


def test_editing_a_local_file_invalidates(tmp_path: Path, cfg):
    path = tmp_path / "t.txt"
    path.write_text("one\n\ntwo\n\nthree\n")
    first = load_dataset(cfg(f"text:{path}", tmp_path / "c"))
    path.write_text("one\n\ntwo\n\nthree\n\nfour\n")
    os.utime(path, ns=(first.cache_path.stat().st_mtime_ns + 10**9,) * 2)
    second = load_dataset(cfg(f"text:{path}", tmp_path / "c"))
    assert second.built and second.describe()["documents"] == 4


def test_a_crashed_build_leaves_no_entry(tmp_path: Path, cfg, write_docs, monkeypatch: pytest.MonkeyPatch):
    corpus = f"text:{write_docs(tmp_path / 'docs', [f'doc {i}' for i in range(20)])}"
    real_write_meta = build_mod.write_meta

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies after the token files, before the metadata

    monkeypatch.setattr(build_mod, "write_meta", crash)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(cfg(corpus, tmp_path / "c"))
    tokens_dir = tmp_path / "c" / "tokens"
    assert [p for p in tokens_dir.iterdir() if p.is_dir()] == []
    (tokens_dir / ".leftover.tmp-1-dead").mkdir()  # what a SIGKILLed build leaves
    monkeypatch.setattr(build_mod, "write_meta", real_write_meta)
    ds = load_dataset(cfg(corpus, tmp_path / "c"))
    assert ds.built and ds.describe()["documents"] == 20


def _load_in_child(config_json: str) -> tuple[bool, str, int]:
    ds = load_dataset(DataConfig.model_validate_json(config_json))
    return ds.built, str(ds.cache_path), int(np.asarray(ds.train_tokens, dtype=np.int64).sum())


def test_concurrent_builders_build_once(tmp_path: Path, cfg, write_docs):
    docs = [f"document {i} " + "lorem ipsum " * (i % 50) for i in range(400)]
    config = cfg(f"text:{write_docs(tmp_path / 'docs', docs)}", tmp_path / "c", kind="bpe", vocab_size=300)
    with mp.get_context("spawn").Pool(3) as pool:
        results = pool.map(_load_in_child, [config.model_dump_json()] * 3)
    assert sum(built for built, _, _ in results) == 1
    assert len({(path, total) for _, path, total in results}) == 1
    assert not [p for p in (tmp_path / "c" / "tokens").iterdir() if p.name.startswith(".")]


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "env"))
    assert cache_root(tmp_path / "cfg") == tmp_path / "cfg"
    assert cache_root(None) == tmp_path / "env"
    monkeypatch.delenv("SCALING_CACHE")
    assert cache_root(None) == Path.home() / ".cache" / "scaling"
