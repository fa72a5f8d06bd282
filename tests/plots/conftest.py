"""Fixture runs for the plot tests (built by plotfixtures: synthetic losses, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from plotfixtures import SIZES, make_fit, make_store


@pytest.fixture(scope="session")
def full_run(tmp_path_factory) -> Path:
    """A run directory with store and fit report (IsoFLOP budgets, two fitted laws, bootstrap, backtest)."""
    run_dir = tmp_path_factory.mktemp("full_run")
    make_store(run_dir)
    make_fit(run_dir)
    return run_dir


@pytest.fixture()
def bare_run(tmp_path) -> Path:
    """A run directory with a store of two trials (one size, two budgets) and no fit.json."""
    make_store(tmp_path, sizes={"xs": SIZES["xs"]}, budgets=(1e12, 3e12), failed=False)
    return tmp_path
