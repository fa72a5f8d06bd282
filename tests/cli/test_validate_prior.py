"""`scaling validate --prior RUN_DIR`: the design check simulates from an earlier run's own Chinchilla fit and
the residual noise of its points; a run directory without a fit is refused with exit 2 before planning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from runfixtures import TRUE, one_error_line, scaling

QUICKSTART = Path(__file__).resolve().parents[2] / "sweeps" / "quickstart.yaml"


def test_prior_from_a_fitted_run_is_used_with_its_residual_noise(fitted_run):
    done = scaling("validate", QUICKSTART, "--prior", fitted_run)
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())  # rich wraps long lines
    rms = float(re.search(r"residual RMS ([0-9.]+) nats", out).group(1))
    assert rms < 0.01  # the synthetic points lie on the law up to +-0.002 of seed noise
    found = re.search(r"prior E=(\S+), A=(\S+), B=(\S+), alpha=(\S+), beta=([0-9.e+-]+)", out)
    prior = dict(zip(("E", "A", "B", "alpha", "beta"), map(float, found.groups()), strict=True))
    assert prior["alpha"] == pytest.approx(TRUE["alpha"], rel=0.1)
    assert prior["beta"] == pytest.approx(TRUE["beta"], rel=0.1)
    assert "expected 95% interval widths" in out


def test_prior_without_a_fit_is_refused(tmp_path):
    done = scaling("validate", QUICKSTART, "--prior", tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"--prior: {tmp_path / 'fit.json'} does not exist" in one_error_line(done)
