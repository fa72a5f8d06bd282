"""Run directories for the CLI tests: a synthetic store (no training), fitted once per session and copied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from runfixtures import make_run, scaling


@pytest.fixture(scope="session")
def fitted_template(tmp_path_factory) -> Path:
    """A synthetic run directory after one `scaling fit RUN_DIR` (fit version 1, the sweep's own settings)."""
    run = make_run(tmp_path_factory.mktemp("fitted") / "run")
    done = scaling("fit", run)
    assert done.returncode == 0, done.stderr
    return run


@pytest.fixture()
def fitted_run(fitted_template, tmp_path) -> Path:
    """A private copy of the fitted run directory."""
    return Path(shutil.copytree(fitted_template, tmp_path / "run"))


@pytest.fixture()
def bare_run(tmp_path) -> Path:
    """A synthetic run directory whose store has never been fitted."""
    return make_run(tmp_path / "bare")
