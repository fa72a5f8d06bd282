"""`scaling suggest` reads a sweep's run directory (its fit points) and the sweep's exported trials table (its
finished train rows; compression and failed rows have no N or loss)."""

from __future__ import annotations

import json

import pytest
from runfixtures import scaling

FAST = ["--target-flops", "1e17", "--bootstrap", "20", "--candidates", "3", "--top", "1", "--json"]


def test_suggest_reads_a_run_directory(bare_run):
    done = scaling("suggest", bare_run, *FAST)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["baseline"]["n_points"] == 16, "one point per (size, budget): seeds are replicates"
    assert len(out["trials"]) == 1 and 6 * out["trials"][0]["N"] * out["trials"][0]["D"] == pytest.approx(
        out["next_flops"])


def test_suggest_reads_the_exported_trials_table(bare_run):
    assert scaling("export", bare_run).returncode == 0
    trials = bare_run / "export" / "trials.csv"
    assert "compress" in trials.read_text(), "the export holds the compression row the fit must skip"
    done = scaling("suggest", trials, "--n", "params_non_embedding", "--d", "tokens", "--loss", "val_loss", *FAST)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["baseline"]["n_points"] == 32
    assert "using its 32 finished train rows of 33" in done.stderr


def test_fit_reads_the_exported_trials_table(bare_run):
    assert scaling("export", bare_run).returncode == 0
    done = scaling("fit", bare_run / "export" / "trials.csv", "--n", "params_non_embedding", "--d", "tokens",
                   "--loss", "val_loss", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_points"] == 32
