"""The plot stage and the report: all figures written, missing inputs skipped with notes, report contents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scaling.errors import UserError
from scaling.plots import registry
from scaling.plots.render import FigureSpec, SkipFigure
from scaling.plots.style import new_figure
from scaling.stages.plot_stage import plot_run
from scaling.sweep.schema import SweepConfig

ALL = {"loss_vs_tokens", "loss_vs_flops", "isoflop", "compute_optimal", "fit_contours", "residuals", "backtest"}
# the compression stage's figures are listed too; these fixtures have no compression results, so they skip
COMPRESSION = set(registry.COMPRESSION_FIGURES)
DATA = set(registry.DATA_FIGURES)  # drawn only for sweeps over data quality levels


@pytest.fixture(scope="module")
def full_result(full_run):
    return plot_run(full_run, strict=True)


def test_full_run_draws_every_figure_as_png_and_svg(full_run, full_result):
    assert set(full_result["skipped"]) == COMPRESSION | DATA
    assert all("compress.json" in note or "one data-quality level" in note
               for note in full_result["skipped"].values())
    names = {Path(p).stem for p in full_result["figures"]}
    assert ALL <= names
    for name in ALL:
        png, svg = full_run / "figures" / f"{name}.png", full_run / "figures" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in svg.read_text()


def test_html_report_is_self_contained_with_laws_optima_and_trials(full_run, full_result):
    html = Path(full_result["report"]).read_text()
    assert html.count("data:image/png;base64,") == len(ALL)
    assert "src=\"figures/" not in html  # nothing referenced outside the file
    for text in ("chinchilla", "kaplan_nd", "alpha", "N_opt", "Trials", "failed", "RuntimeError: out of memory"):
        assert text in html
    assert re.search(r"<td>alpha</td><td>[0-9.]+</td><td>\[[0-9.]+, [0-9.]+\]</td>", html), "interval missing"
    assert html.count("<td>done</td>") == 12


def test_markdown_report_references_figures_by_relative_path(full_run, full_result):
    md = Path(full_result["report_md"]).read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) == len(ALL)
    for ref in refs:
        assert not Path(ref).is_absolute() and (full_run / ref).is_file()
    assert "| alpha |" in md and "| C (FLOPs) |" in md


def test_bare_run_without_fit_skips_with_notes(bare_run):
    sweep = SweepConfig.model_validate({"name": "bare", "model": {"sizes": ["xs"]},
                                        "budget": {"kind": "tokens", "tokens": [1e4]}})
    from scaling.stages import plot_stage

    out = plot_stage.run(bare_run, sweep)
    assert {Path(p).stem for p in out["figures"]} == {"loss_vs_tokens", "loss_vs_flops"}
    assert set(out["skipped"]) == (ALL - {"loss_vs_tokens", "loss_vs_flops"}) | COMPRESSION | DATA
    assert "fit report" in out["skipped"]["fit_contours"] and "IsoFLOP" in out["skipped"]["isoflop"]
    md = (bare_run / "report.md").read_text()
    assert "No fit yet" in md and "skipped: no backtest" in md
    assert out["summary"].startswith("2 figures")


def test_run_dir_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such run directory"):
        plot_run(tmp_path / "missing")
    with pytest.raises(UserError, match="no sweep store"):
        plot_run(tmp_path)


def test_listed_figures_join_the_report_and_failures_become_notes(bare_run, monkeypatch):
    def extra(ctx):
        fig, ax = new_figure()
        ax.plot([1, 2], [3, 4])
        return fig

    def skip(ctx):
        raise SkipFigure("no compression results yet")

    def broken(ctx):
        raise RuntimeError("boom")

    added = (FigureSpec("test_extra", extra, "An added figure", "compression"),
             FigureSpec("test_skip", skip, "skips", "compression"),
             FigureSpec("test_broken", broken, "breaks", "compression"))
    monkeypatch.setattr(registry, "FIGURES", registry.FIGURES + added)
    monkeypatch.setattr(registry, "BY_NAME", {s.name: s for s in registry.FIGURES})
    out = plot_run(bare_run)
    assert (bare_run / "figures" / "test_extra.png").is_file()
    assert out["skipped"]["test_skip"] == "no compression results yet"
    assert out["skipped"]["test_broken"] == "failed: RuntimeError: boom"
    html = (bare_run / "report.html").read_text()
    assert "Figures: compression" in html and "An added figure" in html
    with pytest.raises(RuntimeError, match="boom"):
        plot_run(bare_run, strict=True)


def test_figure_names_must_be_file_safe():
    with pytest.raises(ValueError, match="file name"):
        FigureSpec("../evil", lambda ctx: None, "evil")


def test_every_listed_figure_has_a_unique_name_and_a_known_section():
    names = [s.name for s in registry.FIGURES]
    assert len(names) == len(set(names)) and set(registry.BY_NAME) == set(names)
