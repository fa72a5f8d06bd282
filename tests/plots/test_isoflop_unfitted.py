"""When approach 2 cannot fit (every minimum at a sampled edge), the IsoFLOP figure still draws the measured
profiles, so the reader sees where the optimum lies; without 3+ sizes in any budget it is skipped."""

from __future__ import annotations

import json
import shutil

import pytest

from scaling.plots.context import FigureContext
from scaling.plots.figures.isoflop import budget_points, isoflop
from scaling.plots.render import SkipFigure


def _without_approach_2(full_run, tmp_path):
    run = shutil.copytree(full_run, tmp_path / "run")
    data = json.loads((run / "fit.json").read_text())
    data["isoflop"] = None
    data["errors"]["isoflop"] = "approach 2 needs at least two budgets with a usable parabola"
    (run / "fit.json").write_text(json.dumps(data))
    return run


def test_measured_profiles_are_drawn_when_approach_2_did_not_fit(full_run, tmp_path):
    ctx = FigureContext.from_run_dir(_without_approach_2(full_run, tmp_path))
    fig = isoflop(ctx)
    ax = fig.axes[0]
    assert "as measured" in ax.get_title()
    budgets = [line for line in ax.get_lines() if line.get_label().startswith("C = ")]
    assert len(budgets) == sum(1 for idx in budget_points(ctx).values() if len(idx) >= 3) > 0
    assert all(len(line.get_xdata()) >= 3 for line in budgets)


def test_no_budget_with_three_sizes_is_still_skipped(full_run, tmp_path, monkeypatch):
    ctx = FigureContext.from_run_dir(_without_approach_2(full_run, tmp_path))
    monkeypatch.setattr("scaling.plots.figures.isoflop.budget_points", lambda ctx: {1e12: [0, 1]})
    with pytest.raises(SkipFigure, match="usable parabola"):
        isoflop(ctx)
