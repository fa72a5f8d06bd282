"""Corpora from the user's own files: `text:PATH`, `jsonl:PATH[#field]`, `parquet:PATH[#column]`.

A file's identity for the cache key is (absolute path, size, modification time): editing a file re-tokenizes,
reading it again does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from scaling.data.corpus import Corpus
from scaling.errors import UserError

_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def _existing(spec: str, path: str) -> Path:
    """The resolved path, or a UserError naming the corpus and the path it looked for."""
    resolved = Path(path).expanduser().resolve()
    if not path or not resolved.exists():
        raise UserError(f"corpus {spec!r}: no such file or directory: {resolved}")
    return resolved


def _identity(kind: str, paths: list[Path], *extra: str) -> str:
    """Hash of (kind, extra, and each file's path, size and mtime): cheap, and changes when a file does."""
    digest = hashlib.sha256("\0".join([kind, *extra]).encode())
    for p in paths:
        st = p.stat()
        digest.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"{kind}:" + digest.hexdigest()


def _listing(spec: str, root: Path, suffix: str) -> list[Path]:
    """A single file, or the files under a directory with this suffix in sorted order (an error if none)."""
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob(f"*{suffix}") if p.is_file())
    if not files:
        raise UserError(f"corpus {spec!r}: no {suffix} files under {root} (empty corpus)")
    return files


class TextFiles(Corpus):
    """`text:PATH`. A directory: every `.txt` file under it (sorted, recursive) is one document.

    A single file: documents are its blank-line-separated blocks (the convention of BERT-style pretraining
    files), since one file as one document could not be split into train and validation.
    """

    def __init__(self, spec: str, path: str):
        self.spec = spec
        self.root = _existing(spec, path)
        self.paths = _listing(spec, self.root, ".txt")

    def fingerprint(self) -> str:
        mode = "blocks" if self.root.is_file() else "files"
        return _identity("text-v1", self.paths, mode)

    def _read(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            where = f"{exc.reason} at byte {exc.start}"
            raise UserError(f"corpus {self.spec!r}: {path} is not UTF-8 text ({where})") from None

    def iter_texts(self) -> Iterator[str]:
        if self.root.is_file():
            yield from _BLANK_LINES.split(self._read(self.root))
        else:
            for path in self.paths:
                yield self._read(path)


class JsonLines(Corpus):
    """`jsonl:PATH[#field]`: one JSON object per line, its `field` (default `text`) a document."""

    def __init__(self, spec: str, path: str, field: str = "text"):
        self.spec, self.field = spec, field or "text"
        self.path = _existing(spec, path)
        if not self.path.is_file():
            raise UserError(f"corpus {spec!r}: {self.path} is a directory; jsonl: wants one .jsonl file")

    def fingerprint(self) -> str:
        return _identity("jsonl-v1", [self.path], self.field)

    def iter_texts(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8-sig") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"corpus {self.spec!r}: {self.path} line {number}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict) or self.field not in row:
                    keys = ", ".join(map(repr, row)) if isinstance(row, dict) else f"a {type(row).__name__}"
                    raise UserError(
                        f"{where}: no field {self.field!r} (the line has {keys or 'no fields'}); "
                        f"pick the text field with jsonl:{self.path}#FIELD"
                    )
                value = row[self.field]
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise UserError(f"{where}: field {self.field!r} is a {type(value).__name__}, not a string")
                yield value


class Parquet(Corpus):
    """`parquet:PATH[#column]`: a file, or every `.parquet` file under a directory; each row's column a document."""

    def __init__(self, spec: str, path: str, column: str = "text"):
        self.spec, self.column = spec, column or "text"
        self.root = _existing(spec, path)
        self.paths = _listing(spec, self.root, ".parquet")
        pq = _pyarrow_parquet(spec)
        for p in self.paths:
            names = pq.ParquetFile(p).schema_arrow.names
            if self.column not in names:
                raise UserError(
                    f"corpus {spec!r}: {p} has no column {self.column!r}; its columns: {', '.join(names)} "
                    f"(pick one with parquet:{path}#COLUMN)"
                )

    def fingerprint(self) -> str:
        return _identity("parquet-v1", self.paths, self.column)

    def iter_texts(self) -> Iterator[str]:
        pq = _pyarrow_parquet(self.spec)
        for p in self.paths:
            for batch in pq.ParquetFile(p).iter_batches(columns=[self.column], batch_size=4096):
                for value in batch.column(0).to_pylist():
                    if value is None:
                        continue
                    if not isinstance(value, str):
                        raise UserError(
                            f"corpus {self.spec!r}: column {self.column!r} of {p} holds "
                            f"{type(value).__name__} values, not strings"
                        )
                    yield value


def _pyarrow_parquet(spec: str) -> ModuleType:
    """`pyarrow.parquet`, imported on first use; a UserError if the optional dependency is missing."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"corpus {spec!r} needs pyarrow: pip install 'scaling[parquet]'") from None
    return pq
