"""Command-line mistakes through the installed console script: exit 2, one `error:` line, never a traceback."""

from __future__ import annotations

import pytest
from runfixtures import SCALING, one_error_line, scaling


def test_the_console_script_is_installed():
    assert SCALING.is_file(), f"{SCALING} missing: `pip install -e .` installs the `scaling` script"


@pytest.mark.parametrize(("args", "needles"), [
    (["fit", "--nope"], ["scaling fit", "No such option: --nope", "usage: scaling fit"]),
    (["fit"], ["scaling fit", "Missing argument", "usage: scaling fit"]),
    (["nope"], ["No such command 'nope'", "usage: scaling"]),
    (["fit", "x.csv", "--bootstrap", "many"], ["'--bootstrap'", "valid integer"]),
    (["run"], ["scaling run", "Missing argument"]),
    (["status", "a", "b"], ["scaling status", "unexpected extra argument"]),
    (["suggest", "x.csv"], ["Missing option '--target-flops'"]),
    (["train", "--set"], ["--set", "requires an argument"]),
])
def test_usage_error_exits_2_with_one_line(args, needles):
    done = scaling(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = one_error_line(done)
    for needle in needles:
        assert needle in line, line
    assert done.stdout == ""


def test_bare_command_prints_help_without_traceback():
    done = scaling()
    assert "Traceback" not in done.stderr + done.stdout
    assert "Usage" in done.stdout + done.stderr and "fit" in done.stdout + done.stderr


def test_help_exits_0():
    done = scaling("fit", "--help")
    assert done.returncode == 0 and "--version" in done.stdout
