"""Bootstrap intervals: calibrated on synthetic data, clustered by run, reproducible by seed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fit_helpers import TRUE, grid_points

from scaling.fit import fit_law
from scaling.fit.bootstrap import replicate_weights


def test_95_percent_intervals_cover_the_truth_in_at_least_90_percent_of_seeds():
    seeds = 30
    cover = {k: 0 for k in TRUE}
    widths = {k: [] for k in TRUE}
    estimates = {k: [] for k in TRUE}
    for s in range(seeds):
        n, d, loss = grid_points(seed=s, noise=0.01)
        r = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=100, seed=s)
        for k, v in TRUE.items():
            lo, hi = r.intervals[k]
            cover[k] += lo <= v <= hi
            widths[k].append(hi - lo)
            estimates[k].append(r.params[k])
    for k in TRUE:
        assert cover[k] / seeds >= 0.9, (k, cover[k])
        # and the intervals are not merely wide: their width matches the estimates' actual spread
        ratio = np.median(widths[k]) / (3.92 * np.std(estimates[k]))
        assert 0.6 < ratio < 1.7, (k, ratio)


def test_bootstrap_is_reproducible_by_seed_and_changes_with_it():
    n, d, loss = grid_points(seed=0)
    a = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=50, seed=7)
    b = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=50, seed=7)
    c = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=50, seed=8)
    assert a.intervals == b.intervals
    assert a.intervals["alpha"] != c.intervals["alpha"]
    assert a.procedure["bootstrap"]["seed"] == 7
    assert a.bootstrap_samples["alpha"].shape == (50,)


def test_clustered_bootstrap_resamples_whole_runs():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(5), 4)
    W = replicate_weights(groups.size, 200, rng, groups)
    for g in range(5):
        block = W[:, groups == g]
        assert np.all(block == block[:, :1])  # all checkpoints of a run move together
    assert np.allclose(W.sum(axis=1), groups.size)  # five runs of four points drawn each time
    n, d, loss = grid_points(seed=1)
    run = np.searchsorted(np.unique(n), n)  # one "run" per model size
    r = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=40, groups=run)
    assert r.procedure["bootstrap"]["resampling"] == "groups (clustered)"
    assert r.procedure["bootstrap"]["n_groups"] == 7
    rows = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=40)
    # resampling 7 sizes instead of 49 points: the exponent of N is less certain
    width = lambda res: res.intervals["alpha"][1] - res.intervals["alpha"][0]  # noqa: E731
    assert width(r) > 1.2 * width(rows)


def test_derived_quantities_have_intervals_at_the_target_compute():
    n, d, loss = grid_points(seed=2)
    r = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=60, target_flops=1e23)
    assert r.target_flops == 1e23
    for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param", "loss_at_target"):
        lo, hi = r.intervals[k]
        assert lo <= r.derived[k] <= hi, k
    assert r.derived["a"] + r.derived["b"] == pytest.approx(1.0)
    assert 6 * r.derived["N_opt"] * r.derived["D_opt"] == pytest.approx(1e23)


def test_runaway_replicates_are_counted_not_warned_about():
    """A ladder too narrow to pin the law down sends some replicates' A or B to inf: they are left out of the
    intervals, counted in the bootstrap record, and print no numpy warnings."""
    n = np.repeat([5.5e4, 1.5e5, 4.4e5, 1.8e6], 3)
    d = np.tile([1.5e5, 3e5, 6e5], 4)
    loss = 4.2 + 5.9 * n**-0.176 + 839 * d**-0.544 + np.random.default_rng(3).normal(0, 0.1, n.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = fit_law(n=n, d=d, loss=loss, bootstrap=200, seed=0, target_flops=6.4e14)
    runaway = r.procedure["bootstrap"]["non_finite_replicates"]
    assert runaway and all(0 < k < 200 for k in runaway.values())
    assert all(np.isfinite(lo) and np.isfinite(hi) for lo, hi in r.intervals.values())
