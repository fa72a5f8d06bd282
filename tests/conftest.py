"""Test session set-up: 8 fake CPU devices (before JAX is imported anywhere) and paths to shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_RUNS = REPO_ROOT.parent / "shared" / "data" / "scaling-runs"


@pytest.fixture(scope="session")
def scaling_runs_dir() -> Path:
    """The published runs under ../shared/data/scaling-runs; tests that need them skip where it is absent."""
    if not SHARED_RUNS.is_dir():
        pytest.skip(f"reference data not found at {SHARED_RUNS} (it lives beside the project, in shared/)")
    return SHARED_RUNS
