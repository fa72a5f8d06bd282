"""Schedules: shapes at their boundaries, token-given lengths, and WSD's stable phase independent of run length."""

import numpy as np
import pytest

from scaling.config import ScheduleConfig
from scaling.train.schedule import make_schedule, plan_schedule


def lrs(cfg: ScheduleConfig, total: int, peak: float = 1.0, tokens_per_step: int = 100) -> np.ndarray:
    fn = make_schedule(plan_schedule(cfg, peak, total, tokens_per_step))
    return np.array([float(fn(s)) for s in range(total)])


def test_cosine_warms_up_then_decays_to_min():
    values = lrs(ScheduleConfig(kind="cosine", warmup=0.1, min_lr_ratio=0.1), 100)
    assert values[0] == pytest.approx(0.1)  # (0+1)/10 of peak
    assert values[9] == pytest.approx(1.0)
    assert np.all(np.diff(values[10:]) <= 1e-7)
    assert values[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 89 / 90)), rel=1e-5)


def test_constant_and_linear():
    const = lrs(ScheduleConfig(kind="constant", warmup=0.0), 50)
    assert np.allclose(const, 1.0)
    lin = lrs(ScheduleConfig(kind="linear", warmup=0.0), 50)
    assert lin[0] == pytest.approx(1.0) and lin[25] == pytest.approx(0.5)


@pytest.mark.parametrize("shape", ["linear", "1-sqrt"])
def test_wsd_stable_then_decay(shape):
    values = lrs(ScheduleConfig(kind="wsd", warmup=0.0, decay=0.2, decay_shape=shape), 100)
    assert np.allclose(values[:80], 1.0)
    progress = 10 / 20
    expected = 1 - progress if shape == "linear" else 1 - np.sqrt(progress)
    assert values[90] == pytest.approx(expected, rel=1e-5)
    assert values[-1] < 0.1


def test_warmup_and_decay_in_tokens():
    cfg = ScheduleConfig(kind="wsd", warmup_tokens=1000, decay_tokens=2000)
    plan = plan_schedule(cfg, 1.0, total_steps=100, tokens_per_step=100)
    assert (plan.warmup_steps, plan.decay_start) == (10, 80)


def test_wsd_stable_phase_is_shared_across_lengths():
    """Branching cooldowns off one stable run needs identical lrs before each branch's decay start."""
    cfg = ScheduleConfig(kind="wsd", warmup_tokens=500, decay=0.2)
    short, long = lrs(cfg, 50), lrs(cfg, 200)
    decay_start_short = 40
    assert np.array_equal(short[:decay_start_short], long[:decay_start_short])


def test_wsd_without_decay_is_rejected():
    with pytest.raises(ValueError, match="decay"):
        ScheduleConfig(kind="wsd")
