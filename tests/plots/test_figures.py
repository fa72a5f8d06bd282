"""Every built-in figure drawn from the fixture run, checked against the fit report it claims to show."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from plotfixtures import BUDGETS, SIZES

from scaling.plots.context import FigureContext
from scaling.plots.law_curves import CHINCHILLA_PUBLISHED, chinchilla_reference, kaplan_reference
from scaling.plots.registry import BY_NAME


@pytest.fixture()
def ctx(full_run):
    c = FigureContext.from_run_dir(full_run)
    yield c
    c.close()


def draw(name, ctx):
    return BY_NAME[name].fn(ctx)


def curves_of(ax, min_points=3):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) >= min_points]


def test_loss_vs_tokens_one_colour_per_size_on_log_axes(ctx):
    ax = draw("loss_vs_tokens", ctx).axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    lines = curves_of(ax)
    assert len(lines) == len(SIZES) * len(BUDGETS)  # the failed trial has no curve
    assert len({ln.get_color() for ln in lines}) == len(SIZES)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [lab.split()[0] for lab in labels] == list(SIZES)  # ordered small to large
    assert "tokens" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()


def test_loss_vs_flops_uses_the_reports_compute_and_its_envelope_is_the_lowest_curve(ctx):
    ax = draw("loss_vs_flops", ctx).axes[0]
    assert ax.get_xlabel() == ctx.report.conventions.c_label() == "C = 6ND (FLOPs)"
    ends = sorted(ln.get_xdata()[-1] for ln in ax.get_lines() if ln.get_marker() == "o")
    assert np.allclose(ends, sorted(ctx.report.points.c)), "each curve ends at its point's C = 6ND"
    env = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(env) == 1
    ex, ey = env[0].get_xdata(), env[0].get_ydata()
    for ln in curves_of(ax):
        if ln is env[0]:
            continue
        x, y = ln.get_xdata(), ln.get_ydata()
        inside = (ex >= x.min()) & (ex <= x.max())
        assert np.all(ey[inside] <= np.exp(np.interp(np.log(ex[inside]), np.log(x), np.log(y))) + 1e-9)
    assert np.all(np.diff(ey) <= 0)  # more compute never has to be worse: the envelope does not rise


def test_isoflop_draws_the_reports_points_parabolas_and_minima(ctx):
    ax = draw("isoflop", ctx).axes[0]
    iso, points = ctx.report.isoflop, ctx.report.points
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*" and len(ln.get_xdata()) == 1]
    assert len(dots) == len(iso.parabolas) == len(BUDGETS)
    plotted = sorted(zip(np.concatenate([d.get_xdata() for d in dots]),
                         np.concatenate([d.get_ydata() for d in dots]), strict=True))
    assert np.allclose(plotted, sorted(zip(points.n, points.loss, strict=True))), "the report's points, every one"
    drawn = sorted((s.get_xdata()[0], s.get_ydata()[0]) for s in stars)
    assert np.allclose(drawn, sorted((p.opt, p.loss_opt) for p in iso.parabolas)), \
        "the report's parabola minima, not the figure's own"
    assert f"{iso.a:.3f}" in ax.get_title()
    assert ax.get_xlabel() == ctx.report.conventions.n_label()


def test_compute_optimal_shows_the_reports_table_band_and_published_laws(ctx):
    fig = draw("compute_optimal", ctx)
    ax_n, ax_d = fig.axes
    rows = ctx.report.compute_optimal
    fit_line = next(ln for ln in ax_n.get_lines() if ln.get_label() == "this fit (trained range)")
    assert np.allclose(fit_line.get_ydata(), [r.N_opt for r in rows if not r.extrapolated])
    tail = next(ln for ln in ax_n.get_lines() if ln.get_label() == "this fit, extrapolated")
    assert np.allclose(tail.get_xdata()[1:], [r.C for r in rows if r.extrapolated])
    assert any(isinstance(c, PolyCollection) for c in ax_n.collections), "bootstrap band missing"
    by_label = {ln.get_label(): ln for ln in ax_d.get_lines()}
    chin = by_label["Chinchilla (Hoffmann et al. 2022)"]
    assert np.allclose(chin.get_ydata(), chinchilla_reference(chin.get_xdata())["D_opt"])
    kap = by_label["Kaplan et al. 2020"]
    assert np.allclose(kap.get_ydata(), kaplan_reference(kap.get_xdata())["D_opt"])
    minima = by_label["IsoFLOP minima"]
    assert np.allclose(sorted(minima.get_ydata()), sorted(p.opt for p in ctx.report.isoflop.parabolas_d))
    assert ax_n.get_xscale() == ax_n.get_yscale() == "log" and ax_n.get_xlabel() == "C = 6ND (FLOPs)"


def test_published_references_are_the_papers_numbers():
    assert CHINCHILLA_PUBLISHED["alpha"] == 0.34 and CHINCHILLA_PUBLISHED["beta"] == 0.28
    n = kaplan_reference(np.array([8.64e19]))["N_opt"][0]
    assert n == pytest.approx(1.3e9)  # Kaplan: 1.3e9 parameters at one PF-day
    ref = chinchilla_reference(np.array([5.76e23]))  # Chinchilla's own budget: ~70B params on ~1.4T tokens
    assert 3e10 < ref["N_opt"][0] < 1.5e11


def test_fit_contours_frontier_is_the_loss_minimum_along_isoflops(ctx):
    fig = draw("fit_contours", ctx)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    frontier = next(ln for ln in ax.get_lines() if ln.get_label() == "efficient frontier")
    law = ctx.report.laws["chinchilla"]
    for n, d in list(zip(frontier.get_xdata(), frontier.get_ydata(), strict=True))[::40]:
        c = n * d
        here = law.predict(n=n, d=d)
        for f in (0.8, 1.25):  # moving along the IsoFLOP line either way costs loss
            assert law.predict(n=n * f, d=c / (n * f)) > here
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    offsets = scatters[-1].get_offsets()
    assert np.allclose(sorted(map(tuple, offsets)), sorted(zip(ctx.report.points.n, ctx.report.points.d,
                                                               strict=True)))
    assert "chinchilla" in ax.get_title()


def test_fit_contours_widen_to_show_a_frontier_that_runs_past_the_points(ctx):
    """A law whose frontier wants 30x more tokens than any trial had: the view widens to show it."""
    chin = ctx.report.laws["chinchilla"]
    p = chin.params
    wider = {**p, "B": p["B"] * 30 ** (p["alpha"] + p["beta"])}  # D_opt scales as B^(1/(alpha+beta))
    ctx.report.laws["chinchilla"] = dataclasses.replace(chin, params=wider)
    fig = draw("fit_contours", ctx)
    ax = fig.axes[0]
    frontier = next(ln for ln in ax.get_lines() if ln.get_label() == "efficient frontier")
    n, d = np.asarray(frontier.get_xdata()), np.asarray(frontier.get_ydata())
    c_pts = ctx.report.points.c
    over_data = (6 * n * d >= c_pts.min()) & (6 * n * d <= c_pts.max())
    assert over_data.sum() >= 5  # drawn where the data's compute lies ...
    assert d[over_data].max() > 3 * ctx.report.points.d.max()  # ... far above every trial's tokens
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert ((n >= x0) & (n <= x1) & (d >= y0) & (d <= y1)).all()


def test_residuals_one_panel_per_law_and_small_for_the_true_law(ctx):
    fig = draw("residuals", ctx)
    titles = [a.get_title() for a in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["chinchilla", "kaplan_nd"]
    chin = fig.axes[0]
    values = np.concatenate([ln.get_ydata() for ln in chin.get_lines() if ln.get_marker() not in ("None", "")])
    assert len(values) == len(SIZES) * len(BUDGETS)
    expected = 100 * (ctx.report.points.loss / ctx.report.laws["chinchilla"].predict(
        n=ctx.report.points.n, d=ctx.report.points.d) - 1)
    assert np.allclose(sorted(values), sorted(expected))
    assert np.max(np.abs(values)) < 2.0  # percent: noise is 0.3%
    assert "%" in chin.get_ylabel()


def test_backtest_draws_the_reports_held_out_points(ctx):
    ax = draw("backtest", ctx).axes[0]
    bt = ctx.report.backtest
    held = next(ln for ln in ax.get_lines() if ln.get_label().startswith("held out"))
    assert len(held.get_xdata()) == len(SIZES)  # the largest budget is held out
    assert np.allclose(held.get_xdata(), bt.observed) and np.allclose(held.get_ydata(), bt.predicted)
    diag = next(ln for ln in ax.get_lines() if ln.get_label() == "predicted = actual")
    assert np.allclose(diag.get_xdata(), diag.get_ydata())
    assert f"{100 * bt.mean_abs_relative_error:.2f}%" in ax.get_title()
