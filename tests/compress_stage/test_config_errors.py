"""A malformed compression block ends with exit code 2 and a message naming the field, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cstage_util import SWEEP, write_sweep

CLI = [sys.executable, "-c", "from scaling.cli import main; main()"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("quantize: [8, 4]", "quantize: [16]"), "methods[2].quantize: bits must be an integer from 2 to 8"),
        (("recovery_tokens: 1024", "recovery_tokns: 1024"), "stages.compress.recovery_tokns: unknown key"),
        (("{prune: [0.5, 0.75]}", "{prunee: [0.5]}"), "methods[0]: unknown method 'prunee'"),
        (("max_configs: 1", "max_configs: 0"), "stages.compress.max_configs"),
        (("select: best_per_budget", "select: best"), "stages.compress.select"),
        (("temperature: 2.0", "temperature: -1"), "stages.compress.distill.temperature"),
        (('["2:4"]', '["4:2"]'), "methods[1].prune_nm: give N:M"),
    ],
)
def test_malformed_compress_config_exits_2_naming_the_field(tmp_path, change, named):
    old, new = change
    assert old in SWEEP
    write_sweep(tmp_path, SWEEP.replace(old, new))
    proc = subprocess.run([*CLI, "compress", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr


def test_compress_without_a_run_directory_exits_2(tmp_path):
    proc = subprocess.run([*CLI, "compress", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "sweep.yaml" in proc.stderr
