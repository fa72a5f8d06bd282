"""Every file in sweeps/ passes `scaling validate` (the command itself), on the device count and chip it is
written for; the accelerator estimates come from the chip's peak and the stated MFU, not this CPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling import accounting
from scaling.cli import app

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
# file -> (devices, chip) for the accelerator examples; CPU sweeps validate on this machine's devices as they are
TARGETS = {"gpu_isoflop.yaml": (8, "h100"), "tpu_pod.yaml": (64, "v5p"), "ray_gpu.yaml": (1, "h100"),
           "slurm.yaml": (16, "h100")}


def validate(*args: str) -> str:
    result = CliRunner().invoke(app, ["validate", *args])
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output[-2000:]}\n{result.exception!r}"
    return " ".join(result.output.split())


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_sweep_file_validates(path):
    devices, chip = TARGETS.get(path.name, (None, None))
    if chip is None:
        out = validate(str(path))  # this CPU: its measured matmul peak at the stated CPU utilisation
        rate, peak = re.search(r"at ([\d.e+]+) FLOP/s \(1 x cpu at ([\d.e+]+) float32 FLOP/s \(measured matmul "
                               r"probe\), MFU 0.25\)", out).groups()
        assert float(rate) == pytest.approx(0.25 * float(peak), rel=0.01)
        return
    out = validate(str(path), "--devices", str(devices), "--device-kind", chip, "--mfu", "0.4")
    key = accounting.table_key(chip) or accounting.table_key(f"tpu {chip}")
    rate = devices * accounting.PEAK_FLOPS[key]["bfloat16"] * 0.4
    assert f"at {rate:.3g} FLOP/s ({devices} x {key}" in out, out[-600:]
    # the printed total is the planned training FLOPs over that rate
    flops = float(re.search(r"training FLOPs ([\d.]+)E", out).group(1)) * 1e18
    hours = re.search(r"estimated ([\d.]+) (h|days|min)", out)
    scale = {"h": 3600, "days": 86400, "min": 60}[hours.group(2)]
    assert float(hours.group(1)) * scale == pytest.approx(flops / rate, rel=0.02)


def test_accelerator_sweeps_are_listed_here():
    assert set(TARGETS) <= {p.name for p in SWEEPS.glob("*.yaml")}, "a listed sweep file was renamed"


def test_an_unknown_chip_or_a_missing_device_count_is_exit_2():
    result = CliRunner().invoke(app, ["validate", str(SWEEPS / "tpu_pod.yaml"), "--devices", "64",
                                      "--device-kind", "m1"])
    assert "valid kinds" in str(result.exception)
    result = CliRunner().invoke(app, ["validate", str(SWEEPS / "gpu_isoflop.yaml"), "--device-kind", "h100"])
    assert "--device-kind needs --devices N" in str(result.exception)  # its mesh takes "the rest" of a count
