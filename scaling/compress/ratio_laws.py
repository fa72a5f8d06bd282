"""Compression laws in the fitting library's form (log-space prediction with an analytic VJP), registered by
name on import, plus a small least-squares fitter for them and for the effective-parameter inversion.

- `frantar_sparsity`: L(S, N, D) = (a (1-S)^b + c) N^-d + e D^-f + g   (Frantar et al. 2023, arXiv:2309.08520)
- `frantar_sparsity_fixed_d`: its reduced form at one D, L(S, N) = (a (1-S)^b + c) N^-d + E
- `kumar_ptq`: delta_PTQ(P, N, D) = C_T e^(-P/gamma) D^gamma_D / N^gamma_N  (Kumar et al. 2024, arXiv:2411.04330)
- `ptq_bits`: its reduced form at one (N, D), delta(P) = C e^(-P/gamma)
- `distill_teacher_floor`: L_student = L_teacher + A N_student^-alpha, a reduced form of Busbridge et al. 2025
  (arXiv:2502.08606) at fixed student tokens: the student approaches its teacher's loss as it grows.

The `ptq` laws predict the *degradation* (compressed minus uncompressed loss), which must be positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from scaling.fit.laws import Coord, Law, _lse
from scaling.fit.registry import register_law


class FrantarSparsity(Law):
    """L = (a (1-S)^b + c) N^-d + e D^-f + g, fitted as log L = LSE of four log-terms."""

    name = "frantar_sparsity"
    formula = "L = (a (1-S)^b + c) N^-d + e D^-f + g"
    inputs = ("s", "n", "d")
    coords = (Coord("ln_a", "a", log=True), Coord("b", "b"), Coord("ln_c", "c", log=True), Coord("d", "d"),
              Coord("ln_e", "e", log=True), Coord("f", "f"), Coord("ln_g", "g", log=True))
    params = ("a", "b", "c", "d", "e", "f", "g")
    start_grid = {"ln_a": (0.0, 5.0), "b": (0.5, 2.0), "ln_c": (2.0,), "d": (0.2, 0.5), "ln_e": (0.0, 5.0),
                  "f": (0.2, 0.5), "ln_g": (0.0,)}
    reference = "Frantar et al. 2023, Scaling Laws for Sparsely-Connected Foundation Models (arXiv:2309.08520)"

    def prepare(self, cols):
        s = np.asarray(cols["s"], dtype=np.float64)
        return {"ln_1ms": np.log1p(-s), "ln_n": np.log(np.asarray(cols["n"], dtype=np.float64)),
                "ln_d": np.log(np.asarray(cols["d"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, b, lc, d, le, f, lg = (theta[:, j, None] for j in range(7))
        ln_1ms, ln_n, ln_d = data["ln_1ms"], data["ln_n"], data["ln_d"]
        t1 = la + b * ln_1ms - d * ln_n
        t2 = lc - d * ln_n
        t3 = le - f * ln_d
        t4 = np.broadcast_to(lg, t1.shape)
        out, ps = _lse([t1, t2, t3, t4])
        return out, (ps, ln_1ms, ln_n, ln_d)

    def log_vjp(self, ctx, v):
        (p1, p2, p3, p4), ln_1ms, ln_n, ln_d = ctx
        q1, q2, q3 = v * p1, v * p2, v * p3
        return np.stack([q1.sum(1), q1 @ ln_1ms, q2.sum(1), -((q1 + q2) @ ln_n), q3.sum(1), -(q3 @ ln_d),
                         (v * p4).sum(1)], axis=1)


class FrantarSparsityFixedD(Law):
    """L = (a (1-S)^b + c) N^-d + E at one data budget (e D^-f + g folded into E)."""

    name = "frantar_sparsity_fixed_d"
    formula = "L = (a (1-S)^b + c) N^-d + E"
    inputs = ("s", "n")
    coords = (Coord("ln_a", "a", log=True), Coord("b", "b"), Coord("ln_c", "c", log=True), Coord("d", "d"),
              Coord("ln_E", "E", log=True))
    params = ("a", "b", "c", "d", "E")
    start_grid = {"ln_a": (0.0, 5.0), "b": (0.5, 2.0), "ln_c": (0.0, 5.0), "d": (0.2, 0.5), "ln_E": (-1.0, 0.5)}
    reference = FrantarSparsity.reference + ", at fixed D"

    def prepare(self, cols):
        s = np.asarray(cols["s"], dtype=np.float64)
        return {"ln_1ms": np.log1p(-s), "ln_n": np.log(np.asarray(cols["n"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, b, lc, d, le = (theta[:, j, None] for j in range(5))
        ln_1ms, ln_n = data["ln_1ms"], data["ln_n"]
        t1 = la + b * ln_1ms - d * ln_n
        t2 = lc - d * ln_n
        out, ps = _lse([t1, t2, np.broadcast_to(le, t1.shape)])
        return out, (ps, ln_1ms, ln_n)

    def log_vjp(self, ctx, v):
        (p1, p2, p3), ln_1ms, ln_n = ctx
        q1, q2 = v * p1, v * p2
        return np.stack([q1.sum(1), q1 @ ln_1ms, q2.sum(1), -((q1 + q2) @ ln_n), (v * p3).sum(1)], axis=1)


class KumarPTQ(Law):
    """delta = C_T e^(-P/gamma) D^gamma_D / N^gamma_N: log-linear except in gamma."""

    name = "kumar_ptq"
    formula = "delta_PTQ = C_T e^(-P/gamma) D^gamma_D / N^gamma_N"
    inputs = ("p", "n", "d")
    coords = (Coord("ln_C_T", "C_T", log=True), Coord("ln_gamma", "gamma", log=True), Coord("gamma_D", "gamma_D"),
              Coord("gamma_N", "gamma_N"))
    params = ("C_T", "gamma", "gamma_D", "gamma_N")
    start_grid = {"ln_C_T": (-2.0, 2.0, 6.0), "ln_gamma": (0.0, 1.0, 2.0), "gamma_D": (0.0, 0.5),
                  "gamma_N": (0.0, 0.5)}
    reference = "Kumar et al. 2024, Scaling Laws for Precision (arXiv:2411.04330), post-training quantization"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64), "ln_n": np.log(np.asarray(cols["n"], np.float64)),
                "ln_d": np.log(np.asarray(cols["d"], np.float64))}

    def log_predict(self, theta, data):
        lc, lg, gd, gn = (theta[:, j, None] for j in range(4))
        p_over_g = data["p"] * np.exp(-lg)
        return lc - p_over_g + gd * data["ln_d"] - gn * data["ln_n"], (p_over_g, data)

    def log_vjp(self, ctx, v):
        p_over_g, data = ctx
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, p_over_g), v @ data["ln_d"], -(v @ data["ln_n"])],
                        axis=1)


class PTQBits(Law):
    """delta = C e^(-P/gamma) at one (N, D)."""

    name = "ptq_bits"
    formula = "delta_PTQ = C e^(-P/gamma)"
    inputs = ("p",)
    coords = (Coord("ln_C", "C", log=True), Coord("ln_gamma", "gamma", log=True))
    params = ("C", "gamma")
    start_grid = {"ln_C": (-2.0, 0.0, 2.0, 6.0), "ln_gamma": (-0.5, 0.0, 1.0, 2.0)}
    reference = KumarPTQ.reference + ", at fixed N and D"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64)}

    def log_predict(self, theta, data):
        lc, lg = theta[:, 0, None], theta[:, 1, None]
        p_over_g = data["p"] * np.exp(-lg)
        return lc - p_over_g, p_over_g

    def log_vjp(self, ctx, v):
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, ctx)], axis=1)


class DistillTeacherFloor(Law):
    """L_student = L_teacher + A N_student^-alpha (t is the teacher's loss, n the student's parameters)."""

    name = "distill_teacher_floor"
    formula = "L_S = L_T + A N_S^-alpha"
    inputs = ("t", "n")
    coords = (Coord("ln_A", "A", log=True), Coord("alpha", "alpha"))
    params = ("A", "alpha")
    start_grid = {"ln_A": (0.0, 3.0, 6.0, 10.0), "alpha": (0.1, 0.3, 0.6, 1.0)}
    reference = "reduced form of Busbridge et al. 2025, Distillation Scaling Laws (arXiv:2502.08606)"

    def log_predict(self, theta, data):
        la, alpha = theta[:, 0, None], theta[:, 1, None]
        t2 = la - alpha * data["ln_n"]
        out, (p1, p2) = _lse([np.broadcast_to(data["ln_t"], t2.shape), t2])
        return out, (p2, data["ln_n"])

    def log_vjp(self, ctx, v):
        p2, ln_n = ctx
        q = v * p2
        return np.stack([q.sum(1), -(q @ ln_n)], axis=1)


FRANTAR_SPARSITY = FrantarSparsity()
FRANTAR_SPARSITY_FIXED_D = FrantarSparsityFixedD()
KUMAR_PTQ = KumarPTQ()
PTQ_BITS = PTQBits()
DISTILL_TEACHER_FLOOR = DistillTeacherFloor()
COMPRESSION_LAWS = (FRANTAR_SPARSITY, FRANTAR_SPARSITY_FIXED_D, KUMAR_PTQ, PTQ_BITS, DISTILL_TEACHER_FLOOR)
for _law in COMPRESSION_LAWS:
    register_law(_law, replace=True)


EXACT_FIT = 1e-18  # mean squared log residual below which a start is taken as the global minimum


@dataclass
class SimpleFit:
    """Least squares in log space: parameters, the log-residual RMS, and how many points it used."""

    law: str
    params: dict[str, float]
    rms_log: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "params": self.params, "rms_log": self.rms_log, "n_points": self.n_points,
                "estimator": "least squares on log L, L-BFGS-B from every start-grid point"}


def fit_least_squares(law: Law, cols: Mapping[str, Any], y: Any, starts: np.ndarray | None = None) -> SimpleFit:
    """Minimise sum (log pred - log y)^2 from each start point (the law's grid by default); keep the best.

    A plain estimator (no Huber, no bootstrap) so compression fits do not wait on the fitting library; the
    laws are registered there too, so `scaling fit --law NAME` can fit them with its own estimators.
    """
    y = np.asarray(y, dtype=np.float64)
    if np.any(y <= 0):
        raise ValueError(f"law {law.name}: every observed value must be positive (log-space fit)")
    if y.size <= law.n_params:
        raise ValueError(f"law {law.name}: {y.size} points cannot fit {law.n_params} parameters")
    data = law.prepare({k: np.asarray(cols[k], dtype=np.float64) for k in law.inputs})
    ln_y = np.log(y)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        f, ctx = law.log_predict(theta[None, :], data)
        r = f - ln_y[None, :]
        return float((r**2).sum()), law.log_vjp(ctx, 2.0 * r)[0]

    best = None
    for x0 in law.start_points() if starts is None else np.atleast_2d(starts):
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-10})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if best is not None and best.fun < EXACT_FIT * y.size:
            break  # the data lie on the law to rounding: no start can do better
    params = {k: float(v) for k, v in law.to_params(best.x).items()}
    return SimpleFit(law.name, params, float(np.sqrt(best.fun / y.size)), int(y.size))
