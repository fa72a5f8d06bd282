"""Schedule-aware loss-curve laws: the sums against explicit loops, the Jacobians against finite differences, and
constants recovered from curves simulated with known Multi-Power-Law and annealing-law constants, with a
held-out WSD schedule predicted from its learning rates alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling.errors import UserError
from scaling.fit.curves import AnnealingLaw, Curve, MultiPowerLaw, backtest_curves, fit_curves, lr_schedule

PEAK, T, EVERY, NOISE = 3e-3, 1500, 15, 0.003  # noise: 0.3% multiplicative, about a small run's per-step spread
MPL_TRUE = {"L0": 2.0, "A": 0.5, "alpha": 0.45, "B": 150.0, "C": 2.0, "beta": 0.55, "gamma": 0.6}
ANNEALING_TRUE = {"L0": 2.0, "A": 0.5, "alpha": 0.45, "C": 0.12}


def schedules() -> dict[str, np.ndarray]:
    """Fitting schedules of different shapes, peaks and lengths, and the held-out WSD one."""
    return {
        "constant": lr_schedule("constant", PEAK, T, warmup_steps=75),
        "constant-low": lr_schedule("constant", PEAK / 3, T, warmup_steps=75),
        "cosine": lr_schedule("cosine", PEAK, T, warmup_steps=75),
        "cosine-half": lr_schedule("cosine", PEAK, T // 2, warmup_steps=75),
        "linear": lr_schedule("linear", PEAK, T, warmup_steps=75, min_lr_ratio=0.1),
        "two-stage": np.where(np.arange(T) < 900, 1.0, 0.3) * lr_schedule("constant", PEAK, T, warmup_steps=75),
        "wsd": lr_schedule("wsd", PEAK, T, warmup_steps=75, decay_steps=300, decay_shape="1-sqrt"),
    }


def simulate(law, true: dict[str, float], seed: int = 0, noise: float = NOISE) -> dict[str, Curve]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, lr in schedules().items():
        steps = np.arange(EVERY, lr.size + 1, EVERY)
        clean = law.predict(true, lr, steps)
        out[name] = Curve(lr, steps, clean * np.exp(rng.normal(0.0, noise, steps.size)), name=name, schedule=name)
    return out


def mpl_explicit(p: dict[str, float], lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The Multi-Power Law summed term by term as the paper writes it (1-based steps, eta_0 = the peak)."""
    eta = np.concatenate([[np.nan], lr])  # eta[k] = lr of update k
    peak = int(np.argmax(lr)) + 1
    out = []
    for t in steps:
        ld = 0.0
        for k in range(peak + 1, t + 1):
            s_k = sum(eta[tau] for tau in range(k, t + 1))
            x = eta[k] ** -p["gamma"] * s_k
            ld += (eta[k - 1] - eta[k]) * (1.0 - (p["C"] * x + 1.0) ** -p["beta"])
        out.append(p["L0"] + p["A"] * sum(eta[1:t + 1]) ** -p["alpha"] - p["B"] * ld)
    return np.array(out)


def annealing_explicit(p: dict[str, float], lr: np.ndarray, steps: np.ndarray, lam: float) -> np.ndarray:
    """Tissue et al.'s law with its momentum recursion written as a loop."""
    peak = int(np.argmax(lr))
    m, s2, s2_T = 0.0, 0.0, []
    for i in range(lr.size):
        m = lam * m + (lr[i - 1] - lr[i] if i > peak else 0.0)
        s2 += m
        s2_T.append(s2)
    s1_T = np.cumsum(lr)
    return np.array([p["L0"] + p["A"] * s1_T[t - 1] ** -p["alpha"] - p["C"] * s2_T[t - 1] for t in steps])


def odd_schedule() -> np.ndarray:
    """Warmup, two drops, a rise (non-monotonic) and a linear decay: every case of the sums."""
    return np.concatenate([np.linspace(0.1, 1.0, 20), np.full(50, 1.0), np.full(30, 0.5), np.full(20, 0.7),
                           np.linspace(0.7, 0.1, 80)]) * PEAK


def test_mpl_vectorised_sum_matches_the_explicit_double_loop():
    lr, steps = odd_schedule(), np.arange(3, 201, 7)
    expected = mpl_explicit(MPL_TRUE, lr, steps)
    assert np.allclose(MultiPowerLaw(max_bins=10**6).predict(MPL_TRUE, lr, steps), expected, rtol=1e-12)
    assert np.allclose(MultiPowerLaw().predict(MPL_TRUE, lr, steps), expected, rtol=1e-12)  # fewer changes than bins
    # merged decay terms (midpoint rule, the default 256 bins) on a long cosine stay within 1e-4 of the exact sum
    lr = lr_schedule("cosine", PEAK, 6000, warmup_steps=100)
    steps = np.arange(50, 6001, 50)
    exact = MultiPowerLaw(max_bins=10**6).predict(MPL_TRUE, lr, steps)
    assert np.max(np.abs(MultiPowerLaw().predict(MPL_TRUE, lr, steps) / exact - 1)) < 1e-4


def test_annealing_area_matches_the_explicit_recursion():
    lr, steps = odd_schedule(), np.arange(1, 201, 3)
    for lam in (0.0, 0.9, 0.999):
        got = AnnealingLaw(decay=lam).predict(ANNEALING_TRUE, lr, steps)
        assert np.allclose(got, annealing_explicit(ANNEALING_TRUE, lr, steps, lam), rtol=1e-12)


@pytest.mark.parametrize("law,true", [(MultiPowerLaw(), MPL_TRUE), (AnnealingLaw(), ANNEALING_TRUE)])
def test_jacobian_matches_central_differences(law, true):
    lr, steps = odd_schedule(), np.arange(25, 201, 5)
    design = law.design(lr, steps, PEAK)
    theta = law.to_theta(true, PEAK)
    _, J = law.evaluate(theta, design)
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        numeric = (law.evaluate(up, design)[0] - law.evaluate(down, design)[0]) / (2 * h)
        assert np.allclose(J[:, j], numeric, rtol=1e-5, atol=1e-9), law.coords[j]


def test_parameters_are_in_natural_units_whatever_the_reference_lr():
    for law, true in ((MultiPowerLaw(), MPL_TRUE), (AnnealingLaw(), ANNEALING_TRUE)):
        for eta_ref in (1e-4, 3e-3, 1.0):
            back = law.to_natural(law.to_theta(true, eta_ref), eta_ref)
            assert back == pytest.approx(true, rel=1e-12)


def test_numpy_schedules_match_the_trainers():
    from scaling.config import ScheduleConfig
    from scaling.train.schedule import make_schedule, plan_schedule

    cases = [({"kind": "constant", "warmup": 0.05}, {}), ({"kind": "cosine", "warmup": 0.1, "min_lr_ratio": 0.1}, {}),
             ({"kind": "linear", "warmup": 0.0}, {}),
             ({"kind": "wsd", "warmup": 0.05, "decay": 0.2, "decay_shape": "1-sqrt"}, {"decay_shape": "1-sqrt"})]
    for cfg, extra in cases:
        plan = plan_schedule(ScheduleConfig(**cfg), 3e-3, 200, 256)
        trainer = np.asarray(make_schedule(plan)(np.arange(200)), dtype=np.float64)
        ours = lr_schedule(cfg["kind"], 3e-3, 200, warmup_steps=plan.warmup_steps,
                           decay_steps=200 - plan.decay_start, min_lr_ratio=cfg.get("min_lr_ratio", 0.0), **extra)
        assert np.allclose(ours, trainer, rtol=1e-5, atol=1e-10), cfg  # the trainer computes in float32


def _check_recovery(fit, true, close: dict[str, float]) -> None:
    """Every true constant inside its 95% interval (a fixed simulation seed: by design one interval in twenty
    misses), and the well-identified ones close to the truth."""
    for name, value in true.items():
        lo, hi = fit.intervals[name]
        assert lo <= value <= hi, (name, value, lo, hi)
    for name, rtol in close.items():
        assert fit.params[name] == pytest.approx(true[name], rel=rtol), name


def test_multi_power_law_recovers_its_constants_and_predicts_a_held_out_wsd_run():
    curves = simulate(MultiPowerLaw(max_bins=10**6), MPL_TRUE)
    bt = backtest_curves([c for k, c in curves.items() if k != "wsd"], [curves["wsd"]], "multi-power",
                         bootstrap=30, seed=0)
    fit = bt.fit
    print(fit)
    # C and beta trade off against each other (their intervals are wide); the others are pinned down
    _check_recovery(fit, MPL_TRUE, {"L0": 0.02, "A": 0.05, "alpha": 0.05, "B": 0.05, "gamma": 0.15})
    assert fit.procedure["bootstrap"]["resampling"] == "whole runs (groups)" and fit.n_curves == 6
    (wsd,) = bt.predictions
    print(f"multi-power, WSD held out: final rel. error {wsd.final_rel_error:+.4%}, "
          f"curve mean |rel. error| {wsd.curve_mean_abs_rel_error:.4%}")
    assert abs(wsd.final_rel_error) < 0.01 and wsd.curve_mean_abs_rel_error < 0.01  # stated: within 1%
    data = json.loads(json.dumps(bt.to_dict()))
    assert set(data["fit"]["intervals"]) == set(MPL_TRUE) and data["predictions"][0]["schedule"] == "wsd"


def test_annealing_law_recovers_its_constants_and_predicts_a_held_out_wsd_run():
    curves = simulate(AnnealingLaw(), ANNEALING_TRUE)
    bt = backtest_curves([c for k, c in curves.items() if k != "wsd"], [curves["wsd"]], "annealing",
                         bootstrap=60, seed=0)
    print(bt.fit)
    _check_recovery(bt.fit, ANNEALING_TRUE, {"L0": 0.02, "A": 0.05, "alpha": 0.05, "C": 0.05})
    (wsd,) = bt.predictions
    print(f"annealing, WSD held out: final rel. error {wsd.final_rel_error:+.4%}, "
          f"curve mean |rel. error| {wsd.curve_mean_abs_rel_error:.4%}")
    assert abs(wsd.final_rel_error) < 0.01 and wsd.curve_mean_abs_rel_error < 0.01


def test_least_squares_on_raw_loss_recovers_noiseless_constants_exactly():
    curves = simulate(AnnealingLaw(), ANNEALING_TRUE, noise=0.0)
    fit = fit_curves(list(curves.values()), "annealing", objective="lsq")
    assert fit.params == pytest.approx(ANNEALING_TRUE, rel=1e-6)
    assert fit.procedure["residuals"] == "raw loss" and fit.rms_residual < 1e-9


def test_bad_input_is_a_user_error():
    curves = simulate(AnnealingLaw(), ANNEALING_TRUE)
    one = [curves["cosine"]]
    with pytest.raises(UserError, match="unknown curve law"):
        fit_curves(one, "chinchilla")
    with pytest.raises(UserError, match="objective"):
        fit_curves(one, "annealing", objective="l1")
    with pytest.raises(UserError, match="at least 2"):
        fit_curves(one, "annealing", bootstrap=5)
    with pytest.raises(UserError, match="no curves"):
        fit_curves([], "annealing")
    with pytest.raises(UserError, match="steps must increase within 1..10"):
        Curve(np.full(10, 1e-3), np.array([5, 11]), np.array([3.0, 2.9]), name="short")
    with pytest.raises(UserError, match="every learning rate is 0"):
        Curve(np.zeros(10), np.array([5]), np.array([3.0]))
