"""Fixture runs for the plot tests (built by plotfixtures: synthetic losses, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plotfixtures import SIZES, make_fit, make_store


@pytest.fixture(scope="session")
def full_run(tmp_path_factory) -> Path:
    """A run directory with store and fit.json (IsoFLOP budgets, two fitted laws, bootstrap, backtest)."""
    run_dir = tmp_path_factory.mktemp("full_run")
    points = make_store(run_dir)
    (run_dir / "fit.json").write_text(json.dumps(make_fit(points)))
    return run_dir


@pytest.fixture()
def bare_run(tmp_path) -> Path:
    """A run directory with a store of two trials (one size, two budgets) and no fit.json."""
    make_store(tmp_path, sizes={"xs": SIZES["xs"]}, budgets=(1e12, 3e12), failed=False)
    return tmp_path
