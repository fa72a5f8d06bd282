"""Helpers shared by the fitting tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

TRUE = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al.'s constants


def read_csv_columns(path: Path) -> dict[str, list[str]]:
    """A CSV as {column: [cells]} (the tests avoid pandas: the library does not need it)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [r[k] for r in rows] for k in rows[0]}


def chinchilla(n, d, p=TRUE):
    """Hoffmann et al.'s law at (n, d)."""
    n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
    return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]


def grid_points(seed: int = 0, noise: float = 0.01, sizes: int = 7, tokens: int = 7):
    """A sizes x tokens grid of (N, D) with the true law times lognormal noise."""
    rng = np.random.default_rng(seed)
    N, D = np.meshgrid(np.geomspace(2e7, 2e10, sizes), np.geomspace(5e8, 5e11, tokens))
    N, D = N.ravel(), D.ravel()
    return N, D, chinchilla(N, D) * np.exp(noise * rng.standard_normal(N.size))


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """`scaling ARGS...` in a fresh interpreter, as a user would run it."""
    return subprocess.run([sys.executable, "-c", "from scaling.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)
