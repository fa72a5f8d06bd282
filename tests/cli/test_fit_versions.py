"""`scaling fit RUN_DIR` re-fits with the sweep's own settings, changes only what the options give, and keeps
every fit as a version in the store (fit.json is the latest); older stores without versions still open."""

from __future__ import annotations

import json
import sqlite3

import pytest
from runfixtures import TRUE, fingerprint, make_run, scaling

from scaling.fit.report import FitReport
from scaling.sweep.store import STORE_NAME, Store


def versions(run):
    store = Store(run / STORE_NAME, create=False)
    try:
        return store.fit_versions()
    finally:
        store.close()


def test_default_refit_keeps_the_sweeps_settings_and_intervals(fitted_run):
    report = FitReport.read(fitted_run)
    assert report.version == 1
    assert report.settings["bootstrap"] == 20 and report.settings["laws"] == ["chinchilla"]
    chin = report.laws["chinchilla"]
    assert chin.bootstrap_samples is not None and len(chin.bootstrap_samples["alpha"]) == 20
    lo, hi = chin.intervals["alpha"]
    assert lo <= chin.params["alpha"] <= hi and chin.params["alpha"] == pytest.approx(TRUE["alpha"], abs=0.02)


def test_same_settings_record_nothing_twice_and_leave_fit_json(fitted_run):
    before = fingerprint(fitted_run / "fit.json")
    done = scaling("fit", fitted_run)
    assert done.returncode == 0, done.stderr
    assert "fit version 1 (unchanged" in done.stdout
    assert [v["version"] for v in versions(fitted_run)] == [1]
    assert json.loads((fitted_run / "fit.json").read_text()) == FitReport.read(fitted_run).to_dict()
    assert fingerprint(fitted_run / "fit.json")[str(fitted_run / "fit.json")][0] == before[
        str(fitted_run / "fit.json")][0]


def test_an_option_changes_only_itself_and_makes_a_new_version(fitted_run):
    done = scaling("fit", fitted_run, "--bootstrap", "25", "--law", "chinchilla", "--law", "kaplan_nd", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == 2 and out["new"] is True
    assert out["settings"]["bootstrap"] == 25 and out["settings"]["loss"] == "val_loss"
    assert set(out["laws"]) == {"chinchilla", "kaplan_nd"}
    report = FitReport.read(fitted_run)
    assert report.version == 2 and len(report.laws["chinchilla"].bootstrap_samples["alpha"]) == 25
    listed = versions(fitted_run)
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[0]["settings"]["bootstrap"] == 20 and listed[0]["laws"] == ["chinchilla"]
    assert listed[1]["inputs"]["rows"] == 32 and listed[1]["inputs"]["sha256"] == listed[0]["inputs"]["sha256"]


def test_tied_and_set_reach_the_stage(fitted_run):
    done = scaling("fit", fitted_run, "--tied", "--set", "stages.fit.loss=train_loss", "--bootstrap", "0", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert list(out["laws"]) == ["chinchilla_tied"] and out["settings"]["loss"] == "train_loss"
    assert FitReport.read(fitted_run).conventions.loss == "train_loss"


def test_list_and_version_show_older_fits_without_writing(fitted_run):
    assert scaling("fit", fitted_run, "--bootstrap", "0").returncode == 0
    before = fingerprint(fitted_run / "fit.json", fitted_run / STORE_NAME)
    listed = scaling("fit", fitted_run, "--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "2 fit version(s)" in lines[0]
    assert "bootstrap 20" in lines[1] and not lines[1].startswith("*")
    assert lines[2].startswith("*") and "bootstrap 0" in lines[2]
    old = scaling("fit", fitted_run, "--version", "1", "--json")
    assert old.returncode == 0, old.stderr
    data = json.loads(old.stdout)
    assert data["fit_version"] == 1 and data["settings"]["bootstrap"] == 20
    assert data["bootstrap_samples"]["chinchilla"], "the older version's intervals are still there"
    assert fingerprint(fitted_run / "fit.json", fitted_run / STORE_NAME) == before


def test_status_shows_the_latest_version(fitted_run):
    done = scaling("status", fitted_run)
    assert done.returncode == 0, done.stderr
    assert "fit version 1 of 1" in done.stdout


LEGACY_FITS = """CREATE TABLE fits (id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL, law TEXT NOT NULL,
created REAL NOT NULL, result TEXT NOT NULL)"""


def test_a_store_from_before_versions_opens_and_keeps_its_fits(tmp_path):
    run = make_run(tmp_path / "run")
    conn = sqlite3.connect(run / STORE_NAME)  # rewrite `fits` as stores were written before versions
    conn.executescript(f"DROP TABLE fits; DROP TABLE fit_reports; {LEGACY_FITS};"
                       "INSERT INTO fits (stage, law, created, result) VALUES ('fit', 'chinchilla', 1.0, "
                       "'{\"params\": {\"alpha\": 0.3}}');")
    conn.close()
    store = Store(run / STORE_NAME)
    legacy = store.fits()
    assert [(f["law"], f["version"], f["settings"]) for f in legacy] == [("chinchilla", None, None)]
    assert legacy[0]["result"]["params"]["alpha"] == 0.3
    assert store.fit_versions() == [] and store.fit_report() is None
    store.close()
    done = scaling("fit", run, "--bootstrap", "0")
    assert done.returncode == 0, done.stderr
    store = Store(run / STORE_NAME)
    assert [f["version"] for f in store.fits()] == [None, 1]
    store.close()


def test_two_openers_migrate_once(tmp_path):
    run = make_run(tmp_path / "run")
    conn = sqlite3.connect(run / STORE_NAME)
    conn.executescript(f"DROP TABLE fits; {LEGACY_FITS};")
    conn.close()
    first, second = Store(run / STORE_NAME), Store(run / STORE_NAME)
    cols = [r["name"] for r in first.conn.execute("PRAGMA table_info(fits)")]
    assert cols.count("version") == 1 and "settings" in cols and "inputs" in cols
    first.close()
    second.close()


def test_the_pipeline_stage_and_the_command_share_one_history(fitted_run):
    from scaling.pipeline import load_run_sweep
    from scaling.stages import fit_stage

    assert scaling("fit", fitted_run, "--bootstrap", "0").returncode == 0
    out = fit_stage.run(fitted_run, load_run_sweep(fitted_run))  # the sweep's own settings again: version 3
    assert out["version"] == 3 and out["new"]
    again = fit_stage.run(fitted_run, load_run_sweep(fitted_run))
    assert again["version"] == 3 and not again["new"]
    first, _, third = versions(fitted_run)
    assert third["settings"] == first["settings"] and third["inputs"] == first["inputs"], \
        "the command's default settings are the pipeline's: read from the same stages.fit"


def test_run_dir_fit_and_suggest_never_import_jax(bare_run):
    import subprocess
    import sys

    code = ("import sys\nfrom scaling.cli import main\n"
            "for argv in (['fit', sys.argv[1], '--bootstrap', '0'], ['suggest', sys.argv[1], '--target-flops', "
            "'1e17', '--bootstrap', '20', '--candidates', '3', '--top', '1', '--json']):\n"
            "    sys.argv = ['scaling', *argv]\n    main()\n"
            "print('jax' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(bare_run)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
