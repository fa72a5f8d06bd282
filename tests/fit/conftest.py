"""Shared data for the fitting tests: Epoch's Chinchilla points and the full-data fits (computed once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fit_helpers import read_csv_columns


@pytest.fixture(scope="session")
def epoch_points(scaling_runs_dir: Path) -> dict[str, np.ndarray]:
    """Epoch's 245 digitised Chinchilla points minus the 5 highest losses (240), as Besiroglu et al. fit them."""
    cols = read_csv_columns(scaling_runs_dir / "epoch_chinchilla_svg_extracted_data.csv")
    n = np.array(cols["Model Size"], dtype=float)
    c = np.array(cols["Training FLOP"], dtype=float)
    loss = np.array(cols["loss"], dtype=float)
    keep = np.argsort(loss, kind="stable")[:-5]
    return {"n": n[keep], "c": c[keep], "loss": loss[keep], "d": c[keep] / (6 * n[keep])}


@pytest.fixture(scope="session")
def epoch_huber(epoch_points):
    """The default (summed-Huber, multi-start) fit on Epoch's points."""
    from scaling.fit import fit_law

    p = epoch_points
    return fit_law(n=p["n"], c=p["c"], loss=p["loss"])


@pytest.fixture(scope="session")
def epoch_ml(epoch_points):
    """The maximum-likelihood fit on Epoch's points."""
    from scaling.fit import fit_law

    p = epoch_points
    return fit_law(n=p["n"], c=p["c"], loss=p["loss"], method="ml")
