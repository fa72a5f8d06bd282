"""Laws: registry, parameters, analytic gradients, published check values."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.errors import UserError
from scaling.fit import LAWS, Coord, Law, chinchilla_compute_optimal, fit_law, get_law, register_law
from scaling.fit.laws import MUENNIGHOFF, MUENNIGHOFF_TIED

BUILTIN = {"power_law", "power_law_offset", "kaplan_n", "kaplan_d", "kaplan_c", "kaplan_nd", "chinchilla",
           "chinchilla_tied", "muennighoff", "muennighoff_tied", "muennighoff_data", "gadre"}


def _columns(rng: np.random.Generator, n: int = 40) -> dict[str, np.ndarray]:
    N = np.exp(rng.uniform(np.log(1e7), np.log(3e10), n))
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e12), n))
    U = D / np.exp(rng.uniform(0.0, 4.0, n))  # up to ~55 epochs: U_N is capped for some points, not others
    return {"n": N, "d": D, "u": U, "x": N, "c": 6 * N * D}


def _point(law: Law, rng: np.random.Generator) -> np.ndarray:
    pub = getattr(law, "published", None)
    if pub:
        params = dict(pub)
        for p in law.params:
            params.setdefault(p, params.get("alpha"))
        theta = law.from_params({k: params[k] for k in law.params})
    else:
        pts = law.start_points()
        theta = pts[len(pts) // 2]
    return theta + rng.normal(0, 0.05, (3, theta.size))


def test_registry_holds_the_builtin_laws():
    assert BUILTIN <= set(LAWS)
    for name in BUILTIN:
        law = get_law(name)
        assert law.name == name and law.formula and law.reference
        assert len(law.coords) == law.n_params == len(set(law.coord_names))


def test_unknown_law_is_a_user_error_listing_the_valid_ones():
    with pytest.raises(UserError, match="unknown law 'nope'.*chinchilla"):
        get_law("nope")


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_analytic_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    law = get_law(name)
    cols = _columns(rng)
    data = law.prepare({k: cols[k] for k in law.inputs})
    theta = _point(law, rng)
    f, ctx = law.log_predict(theta.copy(), data)
    v = rng.normal(size=f.shape)
    g = law.log_vjp(ctx, v)
    num = np.zeros_like(g)
    h = 1e-6
    for j in range(theta.shape[1]):
        tp, tm = theta.copy(), theta.copy()
        tp[:, j] += h
        tm[:, j] -= h
        num[:, j] = ((law.log_predict(tp, data)[0] - law.log_predict(tm, data)[0]) * v).sum(1) / (2 * h)
    assert np.allclose(g, num, rtol=1e-6, atol=1e-6 * np.abs(num).max())


def test_muennighoff_check_value():
    """The datablations repository's check value with the published constants."""
    value = MUENNIGHOFF.predict(MUENNIGHOFF.published, n=6.34e9, d=242e9, u=25e9)
    assert abs(float(value) - 2.2256440889984477) < 1e-9
    tied = MUENNIGHOFF_TIED.predict(MUENNIGHOFF.published, n=6.34e9, d=242e9, u=25e9)
    assert abs(float(tied) - 2.2256440889984477) < 1e-9


def test_repeated_data_law_is_muennighoffs_without_the_excess_parameter_term():
    """muennighoff_data equals Muennighoff's law as R_N* -> infinity (N' = N), checked at R_N* = 1e12, where
    models above the size their unique data can use (capped U_N) are in the sample too."""
    rng = np.random.default_rng(3)
    cols = _columns(rng)
    p = MUENNIGHOFF.published
    full = MUENNIGHOFF.predict({**p, "R_N_star": 1e12}, n=cols["n"], d=cols["d"], u=cols["u"])
    reduced = get_law("muennighoff_data").predict({k: v for k, v in p.items() if k != "R_N_star"},
                                                  n=cols["n"], d=cols["d"], u=cols["u"])
    assert np.allclose(reduced, full, rtol=1e-9)
    fit = MUENNIGHOFF.predict(p, n=cols["n"], d=cols["d"], u=cols["u"])
    assert np.max(np.abs(fit / full - 1)) > 1e-3  # the published R_N* penalises excess parameters: a real term


def test_repeated_data_law_recovers_r_d_star_within_its_interval():
    """Points simulated from known constants with 0.3% noise: 6 sizes x 3 unique-token levels x 4 budgets."""
    from scaling.fit import fit_law

    true = {"A": 40.0, "B": 300.0, "E": 1.2, "alpha": 0.3, "beta": 0.35, "R_D_star": 15.0}
    law = get_law("muennighoff_data")
    N, U, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e4, 3e5, 6), [1e5, 4e5, 1.6e6],
                                               np.geomspace(4e5, 2.56e7, 4), indexing="ij"))
    rng = np.random.default_rng(0)
    loss = law.predict(true, n=N, d=D, u=np.minimum(U, D)) * np.exp(0.003 * rng.standard_normal(N.size))
    result = fit_law(n=N, d=D, u=np.minimum(U, D), loss=loss, law="muennighoff_data", bootstrap=60, seed=1)
    for name in ("alpha", "beta", "R_D_star"):
        lo, hi = result.intervals[name]
        assert lo <= true[name] <= hi, (name, lo, hi)
    assert result.intervals["R_D_star"][1] / result.intervals["R_D_star"][0] < 2.0


def test_muennighoff_single_epoch_is_chinchilla():
    """With U = D and N below the compute-optimal size for U, D' = D and N' = N."""
    p = MUENNIGHOFF.published
    chin = get_law("chinchilla").predict({k: p[k] for k in ("A", "B", "E", "alpha", "beta")}, n=1e8, d=2e10)
    assert float(MUENNIGHOFF.predict(p, n=1e8, d=2e10, u=2e10)) == pytest.approx(float(chin), rel=1e-12)


def test_params_round_trip_and_tied_law():
    law = get_law("chinchilla")
    p = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
    assert law.to_params(law.from_params(p)) == pytest.approx(p)
    tied = law.configure(tied=True)
    assert tied.name == "chinchilla_tied" and tied.n_params == 4
    assert tied.to_params(tied.from_params({**p, "beta": 0.34}))["beta"] == 0.34
    with pytest.raises(UserError, match="tied"):
        law.configure(bogus=1)


def test_chinchilla_closed_form_frontier_is_the_iso_flop_minimum():
    p = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
    law = get_law("chinchilla")
    C = 5.76e23
    opt = chinchilla_compute_optimal(p, C)
    n = np.geomspace(1e9, 1e12, 20001)
    losses = law.predict(p, n=n, d=C / (6 * n))
    assert float(opt["N_opt"]) == pytest.approx(n[np.argmin(losses)], rel=2e-3)
    assert float(opt["loss_opt"]) == pytest.approx(losses.min(), rel=1e-9)
    derived = law.derived(p, C)
    assert derived["a"] == pytest.approx(0.28 / 0.62) and derived["tokens_per_param"] == pytest.approx(
        float(opt["D_opt"] / opt["N_opt"]))


class Exponential(Law):
    """A law defined outside the library: L = E + A exp(-k x)."""

    name = "test_exponential"
    formula = "L = E + A exp(-k x)"
    inputs = ("x",)
    coords = (Coord("a", "A", log=True), Coord("e", "E", log=True), Coord("k", "k"))
    params = ("A", "E", "k")
    start_grid = {"a": (-1.0, 1.0), "e": (-1.0, 0.5), "k": (0.1, 1.0)}
    reference = "test"

    def prepare(self, cols):
        return {"x": np.asarray(cols["x"], dtype=float)}

    def log_predict(self, theta, data):
        from scaling.fit.laws import _lse

        t1 = theta[:, :1] - theta[:, 2:3] * data["x"]
        f, (p1, p2) = _lse([t1, np.broadcast_to(theta[:, 1:2], t1.shape)])
        return f, (p1, p2, data["x"])

    def log_vjp(self, ctx, v):
        p1, p2, x = ctx
        return np.stack([(v * p1).sum(1), (v * p2).sum(1), -((v * p1) @ x)], axis=1)


def test_register_law_makes_a_new_law_fittable():
    law = register_law(Exponential())
    try:
        assert get_law("test_exponential") is law
        with pytest.raises(ValueError, match="already registered"):
            register_law(Exponential())
        x = np.linspace(0.1, 5.0, 30)
        loss = 2.0 + 3.0 * np.exp(-0.7 * x)
        r = fit_law(x=x, loss=loss, law="test_exponential")
        assert r.params["k"] == pytest.approx(0.7, rel=1e-4) and r.params["E"] == pytest.approx(2.0, rel=1e-4)
    finally:
        LAWS.pop("test_exponential", None)
