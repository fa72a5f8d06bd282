"""Compression laws recover known constants from synthetic data, sit in the fitting registry, and the
effective-parameter inversion undoes the Chinchilla law."""

from __future__ import annotations

import numpy as np
import pytest
from law_checks import assert_vjp_matches_fd

from scaling.compress.effective import effective, fit_from_table, from_report, n_effective
from scaling.compress.ratio_laws import (
    DISTILL_TEACHER_FLOOR,
    FRANTAR_SPARSITY,
    FRANTAR_SPARSITY_DELTA,
    FRANTAR_SPARSITY_FIXED_D,
    KUMAR_PTQ,
    KUMAR_PTQ_TIED,
    PTQ_BITS,
    fit_least_squares,
)
from scaling.fit.laws import CHINCHILLA
from scaling.fit.points import PointsTable, ResultRow
from scaling.fit.registry import get_law
from scaling.fit.report import FitReport

GRID_S = [0.0, 0.25, 0.5, 0.75, 0.9]


def _mesh(*axes):
    return [a.ravel() for a in np.meshgrid(*[np.asarray(x, float) for x in axes])]


CASES = [
    (FRANTAR_SPARSITY_FIXED_D, {"a": 30.0, "b": 1.5, "c": 20.0, "d": 0.3, "E": 1.5},
     dict(zip(("s", "n"), _mesh(GRID_S, [1e5, 3e5, 1e6, 3e6]), strict=True))),
    (FRANTAR_SPARSITY, {"a": 30.0, "b": 1.5, "c": 20.0, "d": 0.3, "e": 100.0, "f": 0.35, "g": 1.7},
     dict(zip(("s", "n", "d"), _mesh([0.0, 0.5, 0.75, 0.9], [1e5, 1e6, 1e7], [1e7, 1e8, 1e9]), strict=True))),
    (KUMAR_PTQ, {"C_T": 2.0, "gamma": 1.1, "gamma_D": 0.3, "gamma_N": 0.4},
     dict(zip(("p", "n", "d"), _mesh([2, 3, 4, 8], [1e5, 1e6], [1e6, 1e7]), strict=True))),
    (FRANTAR_SPARSITY_DELTA, {"a": 5.0, "b": 1.0, "d": 0.2},
     dict(zip(("s", "n", "l0"), _mesh([0.25, 0.5, 0.75, 0.9], [3e4, 1e5, 3e5], [2.5]), strict=True))),
    (KUMAR_PTQ_TIED, {"C_T": 0.01, "gamma": 1.0, "gamma_DN": 1.5},
     dict(zip(("p", "n", "d"), _mesh([2, 3, 4, 8], [1e5, 1e6], [2e6, 5e7]), strict=True))),
    (PTQ_BITS, {"C": 5.0, "gamma": 1.2}, {"p": np.array([2.0, 3.0, 4.0, 6.0, 8.0])}),
    (DISTILL_TEACHER_FLOOR, {"A": 50.0, "alpha": 0.4},
     {"t": np.array([3.0, 3.0, 3.0, 2.5, 2.5, 2.5]), "n": np.array([1e4, 1e5, 1e6] * 2)}),
]


@pytest.mark.parametrize(("law", "true", "cols"), CASES, ids=[c[0].name for c in CASES])
def test_law_fits_synthetic_data_from_known_constants(law, true, cols):
    rng = np.random.default_rng(0)
    y = law.predict(true, **cols) * np.exp(rng.normal(0.0, 1e-4, size=len(next(iter(cols.values())))))
    fit = fit_least_squares(law, cols, y)
    for name, value in true.items():
        assert fit.params[name] == pytest.approx(value, rel=0.03), name
    assert fit.rms_log < 5e-4
    assert get_law(law.name) is law  # registered: `scaling fit --law NAME` finds it


def test_law_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    for law, true, cols in CASES:
        data = law.prepare(cols)
        theta = law.from_params(true)[None, :] + rng.normal(0, 0.05, size=(1, law.n_params))
        assert_vjp_matches_fd(law, theta, data, rng)


def test_too_few_points_is_refused():
    with pytest.raises(ValueError, match="cannot fit"):
        fit_least_squares(PTQ_BITS, {"p": [4.0, 8.0]}, [0.1, 0.01])


CHIN = {"A": 400.0, "B": 410.0, "E": 1.7, "alpha": 0.34, "beta": 0.28}


def test_effective_n_inverts_the_law_and_its_interval_brackets_it():
    n, d = 1e8, 2e9
    loss = float(CHINCHILLA.predict(CHIN, n=n, d=d))
    assert n_effective(CHIN, loss, d) == pytest.approx(n, rel=1e-9)
    assert n_effective(CHIN, loss + 0.05, d) < n  # a worse loss is worth fewer parameters
    assert n_effective(CHIN, 1.0, d) == float("inf")  # below the law's floor at this D
    law = from_report(FitReport(points=PointsTable(()), laws={"chinchilla": _result(CHIN)}))
    assert law.params == CHIN and law.samples == [] and law.param_count == "non_embedding"
    law.samples = [{**CHIN, "E": CHIN["E"] + dE} for dE in np.linspace(-0.02, 0.02, 41)]
    out = effective(law, loss + 0.05, d, n)
    lo, hi = out["interval"]
    assert lo < out["multiplier"] < hi < 1.0


def test_fallback_fit_from_train_rows_recovers_the_law():
    ns, ds = _mesh([1e6, 3e6, 1e7, 3e7], [2e7, 1e8, 5e8])
    table = PointsTable(tuple(ResultRow(trial=f"t{i}", label="", size="", budget="", n_total=n, n_non_embedding=n, d=d,
                                        loss=float(CHINCHILLA.predict(CHIN, n=n, d=d)))
                              for i, (n, d) in enumerate(zip(ns, ds, strict=True))))
    law = fit_from_table(table)
    assert law is not None and len(law.samples) > 50
    n_eff = n_effective(law.params, float(CHINCHILLA.predict(CHIN, n=3e6, d=1e8)), 1e8)
    assert n_eff == pytest.approx(3e6, rel=0.02)


def _result(params):
    from scaling.fit.result import FitResult

    return FitResult(law="chinchilla", method="given", params=params, objective=0.0, n_points=0, converged=True,
                     message="", grad_norm=0.0, n_starts=1, n_at_best=1, conventions={}, procedure={})


def test_effective_law_uses_the_reports_own_bootstrap_draws():
    draws = {k: np.full(7, v) for k, v in CHIN.items()}
    draws["E"] = CHIN["E"] + np.linspace(-0.01, 0.01, 7)
    result = _result(CHIN)
    result.bootstrap_samples = draws
    law = from_report(FitReport(points=PointsTable(()), laws={"chinchilla": result}))
    assert len(law.samples) == 7 and [s["E"] for s in law.samples] == pytest.approx(list(draws["E"]))
