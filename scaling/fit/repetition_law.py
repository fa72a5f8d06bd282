"""Repeated data with parameters counted in full: Muennighoff et al.'s data-constrained law in the limit R_N* -> inf.

L = E + A / N^alpha + B / D'^beta with the effective data D' = U + U R_D* (1 - e^(-R_D / R_D*)), R_D = D/U - 1.
When a sweep's models never exceed the size its unique data can use, the law's excess-parameter term has no
points to measure it and R_N* runs off to infinity (the fit then fails to converge); this reduced form is what
such a sweep identifies, and R_D* is measured the same way.
"""

from __future__ import annotations

import numpy as np

from scaling.fit.laws import MUENNIGHOFF, Coord, Law, _lse


class RepeatedData(Law):
    """Effective data D' from repetition (Muennighoff et al. 2023, eq. 5); parameters count fully."""

    name = "muennighoff_data"
    formula = "L = E + A / N^alpha + B / D'^beta, D' = U + U R_D* (1 - e^(-R_D/R_D*)), R_D = D/U - 1"
    inputs = ("n", "d", "u")
    coords = (
        Coord("a", "A", log=True),
        Coord("b", "B", log=True),
        Coord("e", "E", log=True),
        Coord("alpha", "alpha"),
        Coord("beta", "beta"),
        Coord("ln_R_D_star", "R_D_star", log=True),
    )
    params = ("A", "B", "E", "alpha", "beta", "R_D_star")
    # Muennighoff et al.'s fitted constants, less R_N* = 5.31 (which this form drops)
    published = {k: v for k, v in MUENNIGHOFF.published.items() if k != "R_N_star"}
    start_grid = {
        "a": (2.0, 5.0, 7.5),
        "b": (2.0, 5.0, 7.5),
        "e": (0.0, 0.5),
        "alpha": (0.2, 0.35, 0.6),
        "beta": (0.2, 0.35, 0.6),
        "ln_R_D_star": tuple(float(np.log(v)) for v in (3.0, 15.0, 50.0)),
    }
    reference = "Muennighoff et al. 2023 (arXiv:2305.16264), eq. 5 (effective data); excess parameters not penalised"

    def prepare(self, cols):
        n, d, u = (np.asarray(cols[k], dtype=np.float64) for k in ("n", "d", "u"))
        return {"ln_n": np.log(n), "ln_u": np.log(u), "r_d": np.maximum(d / u - 1.0, 0.0)}

    def log_predict(self, theta, data):
        a, b, e, alpha, beta, lrd = (theta[:, j] for j in range(6))
        col = lambda v: v[:, None]  # noqa: E731
        rds = col(np.exp(lrd))
        x = np.exp(-data["r_d"][None, :] / rds)
        g = -np.expm1(-data["r_d"][None, :] / rds)  # 1 - x, accurate when R_D << R_D*
        den = 1.0 + rds * g
        ln_dp = data["ln_u"][None, :] + np.log(den)
        dlndp_lrd = (rds * g - data["r_d"][None, :] * x) / den  # d ln D' / d ln R_D*
        t1 = col(a) - col(alpha) * data["ln_n"][None, :]
        t2 = col(b) - col(beta) * ln_dp
        f, (p1, p2, p3) = _lse([t1, t2, np.broadcast_to(col(e), t1.shape)])
        return f, (beta, data["ln_n"], ln_dp, dlndp_lrd, p1, p2, p3)

    def log_vjp(self, ctx, v):
        beta, ln_n, ln_dp, dlndp_lrd, p1, p2, p3 = ctx
        q1, q2 = v * p1, v * p2
        return np.stack([
            q1.sum(1),
            q2.sum(1),
            (v * p3).sum(1),
            -(q1 * ln_n[None, :]).sum(1),
            -np.einsum("ij,ij->i", q2, ln_dp),
            -beta * np.einsum("ij,ij->i", q2, dlndp_lrd),
        ], axis=1)


MUENNIGHOFF_DATA = RepeatedData()
