"""Malformed input to every command and option, through the console script: exit 2, one `error:` line naming
the problem and what would be valid, no traceback, and nothing already written changed (hashes and mtimes of
fit.json and the store before and after)."""

from __future__ import annotations

import os
import sqlite3

import pytest
import yaml
from runfixtures import SWEEP, fingerprint, one_error_line, scaling

from scaling.sweep.store import STORE_NAME

SUGGEST = ["--target-flops", "1e21", "--bootstrap", "20"]
CSVS = {
    "nan": ("n,d,loss\n" + "".join(f"{n},{d},{'' if i == 2 else 3.0 - i / 100}\n"
                                   for i, (n, d) in enumerate((n, d) for n in (1e8, 2e8, 4e8) for d in (1e9, 4e9)))),
    "one_row": "n,d,loss\n1e8,1e9,3.1\n",
    "wrong_columns": "params,tokens,l\n1e8,1e9,3.0\n2e8,1e9,2.9\n",
    "empty": "",
    "header_only": "n,d,loss\n",
}
# (command args before the file, case) -> what the one line must say
TABLE_CASES = {
    (("fit",), "nan"): "column 'loss' has 1 NaN",
    (("fit",), "one_row"): "5 free parameters but only 1 points",
    (("fit",), "wrong_columns"): "column 'loss' (from --loss) not found",
    (("fit",), "empty"): "is empty or has no header row",
    (("fit",), "header_only"): "has a header but no data rows",
    (("suggest",), "nan"): "column 'loss' has 1 NaN",
    (("suggest",), "one_row"): "5 free parameters but only 1 points",
    (("suggest",), "wrong_columns"): "columns are: params, tokens, l",
    (("suggest",), "empty"): "is empty or has no header row",
    (("plot",), "nan"): "must be numbers",
    (("plot",), "one_row"): "1 row(s) cannot fit 'chinchilla'",
    (("plot",), "wrong_columns"): "needs columns N, loss and D or C",
    (("plot",), "empty"): "needs columns N, loss and D or C",
}


@pytest.mark.parametrize(("cmd", "case"), sorted(TABLE_CASES))
def test_bad_table_exits_2_with_one_line(tmp_path, cmd, case):
    path = tmp_path / f"{case}.csv"
    path.write_text(CSVS[case])
    before = sorted(os.listdir(tmp_path))
    done = scaling(*cmd, path, *(SUGGEST if cmd == ("suggest",) else []))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert TABLE_CASES[(cmd, case)] in one_error_line(done)
    assert sorted(os.listdir(tmp_path)) == before, "a refused table must leave nothing behind"


RUN_DIR_CASES = {
    "unknown law": (["fit", "--law", "nope"], "--law: unknown law 'nope'; valid here: chinchilla"),
    "law needing U": (["fit", "--law", "muennighoff"], "needs U, the unique tokens each trial repeats"),
    "unknown method": (["fit", "--method", "newton"], "--method: unknown method 'newton'; valid: huber-grid"),
    "column option": (["fit", "--n", "params"], "--n names a table's column"),
    "group option": (["fit", "--group", "run"], "--group names a table's column"),
    "bad loss": (["fit", "--loss", "loss"], "one of val_loss, train_loss"),
    "negative bootstrap": (["fit", "--bootstrap", "-1"], "--bootstrap must be >= 0"),
    "negative holdout": (["fit", "--holdout", "-2"], "--holdout must be >= 0"),
    "zero delta": (["fit", "--delta", "0"], "--delta must be a positive"),
    "tied without a tied form": (["fit", "--tied", "--law", "kaplan_nd"], "has no tied form"),
    "bad --set value": (["fit", "--set", "stages.fit.bootstrap=-3"], "stages.fit.bootstrap"),
    "bad --set key": (["fit", "--set", "stages.fit.bootstrapp=3"], "stages.fit.bootstrapp: unknown key"),
    "--set outside stages.fit": (["fit", "--set", "optimizer.lr=1"], "read only stages.fit.*"),
    "list with options": (["fit", "--list", "--bootstrap", "3"], "give no fitting options"),
    "missing version": (["fit", "--version", "9"], "--version 9: no such fit"),
    "suggest column option": (["suggest", *SUGGEST, "--d", "tokens"], "--d names a table's column"),
    "suggest unknown law": (["suggest", *SUGGEST, "--law", "nope"], "unknown law 'nope'"),
}


@pytest.mark.parametrize("case", sorted(RUN_DIR_CASES))
def test_bad_option_on_a_run_dir_changes_nothing(fitted_run, case):
    args, needle = RUN_DIR_CASES[case]
    files = (fitted_run / "fit.json", fitted_run / STORE_NAME)
    before = fingerprint(*files)
    done = scaling(args[0], fitted_run, *args[1:])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert needle in one_error_line(done)
    assert fingerprint(*files) == before


def test_table_only_and_run_dir_only_options_are_refused_on_the_other(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("n,d,loss\n1e8,1e9,3\n")
    for args, needle in ((["--set", "a=1"], "--set applies to a sweep's run directory"),
                         (["--list"], "--list applies to a sweep's run directory"),
                         (["--law", "chinchilla", "--law", "kaplan_nd"], "a table fit takes one law")):
        done = scaling("fit", path, *args)
        assert done.returncode == 2 and needle in one_error_line(done), done.stderr


def corrupt(run_dir, how: str) -> None:
    """Damage RUN_DIR's store: random bytes over the header, or the file cut short."""
    path = run_dir / STORE_NAME
    data = path.read_bytes()
    path.write_bytes(os.urandom(4096) + data[4096:] if how == "garbage" else data[: len(data) // 3])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
@pytest.mark.parametrize("args", [["status"], ["fit"], ["fit", "--list"], ["export"], ["plot"],
                                  ["suggest", *SUGGEST]])
def test_corrupted_store_is_named_and_left_alone(fitted_run, how, args):
    corrupt(fitted_run, how)
    files = (fitted_run / "fit.json", fitted_run / STORE_NAME)
    before, listing = fingerprint(*files), sorted(os.listdir(fitted_run))
    done = scaling(args[0], fitted_run, *args[1:])
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = one_error_line(done)
    assert str(fitted_run / STORE_NAME) in line or "store" in line
    assert "nothing was changed" in line and ("backup" in line)
    assert fingerprint(*files) == before and sorted(os.listdir(fitted_run)) == listing


@pytest.mark.parametrize("args", [["status"], ["export"], ["fit"], ["compress"]])
def test_no_store_is_named_and_never_created(tmp_path, args):
    sweep = {**SWEEP, "stages": {**SWEEP["stages"], "compress": {"methods": [{"prune": [0.5]}]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    done = scaling(args[0], tmp_path, *args[1:])
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = one_error_line(done)
    assert str(tmp_path) in line and STORE_NAME in line
    assert not (tmp_path / STORE_NAME).exists()


def test_fit_into_a_run_dir_that_cannot_take_fit_json(fitted_run):
    (fitted_run / "fit.json").unlink()
    (fitted_run / "fit.json").mkdir()  # a path the report cannot be written to, even as root
    before = fingerprint(fitted_run / STORE_NAME)
    done = scaling("fit", fitted_run, "--bootstrap", "0")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "fit.json: exists and is not a file" in one_error_line(done)
    assert fingerprint(fitted_run / STORE_NAME) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_fit_into_a_read_only_run_dir(fitted_run):
    files = (fitted_run / "fit.json", fitted_run / STORE_NAME)
    before = fingerprint(*files)
    fitted_run.chmod(0o555)
    try:
        done = scaling("fit", fitted_run, "--bootstrap", "0")
    finally:
        fitted_run.chmod(0o755)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert str(fitted_run) in one_error_line(done)
    assert fingerprint(*files) == before


def test_run_dir_below_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: x\nmodel: {sizes: [xs]}\nbudget: {kind: tokens, tokens: [1e4]}\n"
                     "data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}\nbatch_size: 8\n")
    done = scaling("run", sweep, "--run-dir", tmp_path / "afile" / "sub")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Not a directory" in one_error_line(done)


def test_a_store_damaged_past_its_header_is_one_line(fitted_run):
    """Corruption that opening does not see (a damaged table page) still ends in one line, not a traceback."""
    conn = sqlite3.connect(fitted_run / STORE_NAME)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trials'").fetchone()[0]
    conn.close()
    path = fitted_run / STORE_NAME
    data = bytearray(path.read_bytes())
    data[(root - 1) * page:(root - 1) * page + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    done = scaling("status", fitted_run)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "damaged" in one_error_line(done)
