"""Every sweep file shipped in sweeps/ validates, on the device count it is written for."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaling.sweep.plan import load_sweep, plan_sweep

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
# The device count each accelerator example is written for; CPU sweeps validate on this machine's one device.
TARGET_DEVICES = {"gpu_isoflop.yaml": 8, "tpu_pod.yaml": 64, "slurm.yaml": 16, "ray_gpu.yaml": 1}


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_sweep_validates(path):
    sweep, raw = load_sweep(path)
    plan = plan_sweep(sweep, raw, source=str(path), n_devices=TARGET_DEVICES.get(path.name, 1))
    assert plan.trials, f"{path.name} plans no trials"
    if sweep.budget.kind == "isoflop":
        for c in sweep.budget.flops:
            sizes = {t.size for t in plan.trials if t.budget.value == c}
            assert len(sizes) >= sweep.budget.min_sizes_per_budget, (path.name, c, sizes)


def test_every_shipped_accelerator_sweep_has_a_target_device_count():
    assert set(TARGET_DEVICES) <= {p.name for p in SWEEPS.glob("*.yaml")}, "a listed sweep file was renamed"
