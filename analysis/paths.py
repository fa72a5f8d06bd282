"""Where the reference data and the outputs live (outputs default to analysis/out/, which git ignores)."""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "scaling-runs"
OUT = REPO / "analysis" / "out"


def parser(description: str, name: str) -> argparse.ArgumentParser:
    """Arguments every analysis script takes: the output folder and the reference-data folder."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("out", nargs="?", type=Path, default=OUT / name, help=f"output folder (default analysis/out/{name})")
    p.add_argument("--data", type=Path, default=DATA, help="the scaling-runs reference folder")
    return p


def require(path: Path) -> Path:
    """The path, or a clear exit naming it when the reference data is not there."""
    if not path.exists():
        raise SystemExit(f"reference data not found: {path} (it lives beside the project, in shared/data)")
    return path
