"""Loss-curve laws that read a run's whole learning-rate history, with analytic Jacobians for least squares.

- `multi-power` (Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules"):
  L(t) = L0 + A (S1(t) + S_W)^(-alpha) - LD(t),
  LD(t) = B sum_k (eta_{k-1} - eta_k) G(eta_k^(-gamma) S_k(t)),  G(x) = 1 - (C x + 1)^(-beta),
  S_k(t) = sum_{tau=k}^{t} eta_tau; S1 + S_W is the sum of every learning rate so far (warmup included) and the
  sum over k runs over the updates after the warmup's peak (eta_0 = the peak).
- `annealing` (Tissue et al. 2024, "Scaling Law with Learning Rate Annealing"): L(s) = L0 + A S1^(-alpha) - C S2,
  S1 the forward area (sum of learning rates, warmup included), S2 = sum_i m_i the annealing area with momentum,
  m_i = lambda m_{i-1} + (eta_{i-1} - eta_i) counted after the warmup's peak (a rising warmup is not annealing).

Internally every learning rate is divided by a reference `eta_ref` (the largest in the fit), and the scale
parameters are fitted as logs; `to_natural` turns them back into the papers' units, so the reported constants are
the papers' own. The MPL's double sum is evaluated as a (points x decay terms) matrix product; steps whose
learning rate changes are merged into at most `max_bins` runs of neighbouring steps (midpoint rule, never across
an observed step), exact when there are fewer such steps than that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from scipy.signal import lfilter

from scaling.errors import UserError

TINY_LR = 1e-12  # relative to eta_ref: a zero learning rate makes eta^-gamma infinite, G saturates at 1 instead


@dataclass(frozen=True)
class Design:
    """What a law needs of one curve at its observed steps, precomputed once (learning rates in eta_ref units)."""

    u_n: np.ndarray  # sum of learning rates up to each observed step (S1 + S_W)
    extra: dict[str, np.ndarray]


class CurveLaw:
    """A loss-curve law: parameters, how to precompute a curve, and value plus Jacobian in fitting coordinates."""

    name: str = ""
    params: tuple[str, ...] = ()
    coords: tuple[str, ...] = ()  # fitting coordinates (log for the scale parameters)
    linear: tuple[str, ...] = ()  # parameters entering linearly once the others are fixed (for start grids)

    def settings(self) -> dict[str, Any]:
        return {}

    def design(self, lr_T: np.ndarray, steps_n: np.ndarray, eta_ref: float) -> Design:
        raise NotImplementedError

    def evaluate(self, theta: np.ndarray, design: Design) -> tuple[np.ndarray, np.ndarray]:
        """Predicted loss (n,) and its Jacobian (n, P) with respect to the fitting coordinates."""
        raise NotImplementedError

    def bounds(self, loss_max: float) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def grid(self, total_steps: int) -> list[tuple[float, ...]]:
        """Values of the nonlinear coordinates tried for starts (the linear ones are solved for)."""
        raise NotImplementedError

    def basis(self, nonlinear: tuple[float, ...], design: Design) -> np.ndarray:
        """Columns (n, 3) such that the prediction is basis @ (L0, scale of the power law, scale of the drop)."""
        raise NotImplementedError

    def assemble(self, linear_3: np.ndarray, nonlinear: tuple[float, ...]) -> np.ndarray:
        raise NotImplementedError

    def to_natural(self, theta: np.ndarray, eta_ref: float) -> dict[str, float]:
        raise NotImplementedError

    def to_theta(self, params: dict[str, float], eta_ref: float) -> np.ndarray:
        raise NotImplementedError

    def predict(self, params: dict[str, float], lr_T: Any, steps_n: Any = None) -> np.ndarray:
        """Loss at `steps_n` (default every step 1..T) of the schedule `lr_T`, from natural-unit parameters."""
        lr_T = np.asarray(lr_T, dtype=np.float64)
        steps_n = np.arange(1, lr_T.size + 1) if steps_n is None else np.asarray(steps_n, dtype=np.int64)
        if lr_T.ndim != 1 or not lr_T.size or np.any(lr_T < 0) or not np.any(lr_T > 0):
            raise UserError("lr must be a 1-d array of non-negative learning rates, not all zero")
        if steps_n.size and (steps_n.min() < 1 or steps_n.max() > lr_T.size):
            raise UserError(f"steps must lie within 1..{lr_T.size} (the length of the lr history)")
        eta_ref = float(lr_T.max())
        pred_n, _ = self.evaluate(self.to_theta(params, eta_ref), self.design(lr_T, steps_n, eta_ref))
        return pred_n


def _power_term(theta_logA: float, alpha: float, u_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A u^-alpha and ln u."""
    log_u_n = np.log(u_n)
    return np.exp(theta_logA - alpha * log_u_n), log_u_n


class MultiPowerLaw(CurveLaw):
    """Luo et al. 2025's Multi-Power Law; `max_bins` caps the decay terms per curve (see the module docstring)."""

    name = "multi-power"
    params = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    coords = ("L0", "log_A", "alpha", "log_B", "log_C", "beta", "gamma")

    def __init__(self, max_bins: int = 256) -> None:
        if max_bins < 1:
            raise UserError(f"max_bins must be >= 1, got {max_bins}")
        self.max_bins = int(max_bins)

    def settings(self) -> dict[str, Any]:
        return {"max_bins": self.max_bins}

    def design(self, lr_T: np.ndarray, steps_n: np.ndarray, eta_ref: float) -> Design:
        lr = np.asarray(lr_T, dtype=np.float64) / eta_ref
        T = lr.size
        P_T = np.cumsum(lr)
        u_n = P_T[steps_n - 1]
        peak = int(np.argmax(lr))
        j = np.arange(peak + 1, T)
        d = lr[j - 1] - lr[j]
        keep = np.abs(d) > TINY_LR
        j, d = j[keep], d[keep]
        n = steps_n.size
        if not j.size:
            empty = np.zeros((n, 0))
            return Design(u_n, {"S_nm": empty, "D_m": np.zeros(0), "loglr_m": np.zeros(0)})
        # One bin never straddles an observed step (a term j counts for step t when j <= t - 1), holds one sign
        # of change, and spans at most `width` updates.
        seg = np.searchsorted(np.sort(steps_n - 1), j, side="left")
        width = max(1, math.ceil((T - peak - 1) / self.max_bins))
        key = ((seg * (T + 1) + (j - peak - 1) // width) * 2 + (d > 0)).astype(np.int64)
        _, bin_of = np.unique(key, return_inverse=True)
        w = np.abs(d)
        wsum_m = np.bincount(bin_of, w)
        D_m = np.bincount(bin_of, d)
        lr_m = np.bincount(bin_of, w * lr[j]) / wsum_m
        Pm_m = np.bincount(bin_of, w * P_T[j - 1]) / wsum_m
        last_m = np.zeros(wsum_m.size, dtype=np.int64)
        np.maximum.at(last_m, bin_of, j)
        included_nm = last_m[None, :] <= (steps_n - 1)[:, None]
        S_nm = np.where(included_nm, u_n[:, None] - Pm_m[None, :], 0.0)
        loglr_m = np.log(np.maximum(lr_m, TINY_LR))
        return Design(u_n, {"S_nm": S_nm, "D_m": D_m, "loglr_m": loglr_m})

    def _drop_terms(self, logC: float, beta: float, gamma: float, design: Design
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """X = eta^-gamma S, z = C X + 1 and z^-beta (each n x m)."""
        e = design.extra
        X_nm = e["S_nm"] * np.exp(-gamma * e["loglr_m"])[None, :]
        z_nm = 1.0 + np.exp(logC) * X_nm
        return X_nm, z_nm, z_nm ** (-beta)

    def evaluate(self, theta: np.ndarray, design: Design) -> tuple[np.ndarray, np.ndarray]:
        L0, logA, alpha, logB, logC, beta, gamma = (float(v) for v in theta)
        e = design.extra
        power_n, log_u_n = _power_term(logA, alpha, design.u_n)
        X_nm, z_nm, zb_nm = self._drop_terms(logC, beta, gamma, design)
        B = math.exp(logB)
        D_m = e["D_m"]
        drop_n = B * ((1.0 - zb_nm) @ D_m)
        pred_n = L0 + power_n - drop_n
        K_nm = beta * zb_nm / z_nm * (z_nm - 1.0)  # dG/dlog C
        J = np.empty((pred_n.size, 7))
        J[:, 0] = 1.0
        J[:, 1] = power_n
        J[:, 2] = -power_n * log_u_n
        J[:, 3] = -drop_n
        J[:, 4] = -B * (K_nm @ D_m)
        J[:, 5] = -B * ((zb_nm * np.log(z_nm)) @ D_m)
        J[:, 6] = B * (K_nm @ (e["loglr_m"] * D_m))  # dX/dgamma = -ln(eta) X
        return pred_n, J

    def bounds(self, loss_max: float) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([0.0, -30.0, 1e-3, -30.0, -30.0, 1e-3, 0.0])
        hi = np.array([loss_max, 30.0, 5.0, 10.0, 30.0, 10.0, 3.0])
        return lo, hi

    def grid(self, total_steps: int) -> list[tuple[float, ...]]:
        alphas = (0.1, 0.2, 0.35, 0.5, 0.7, 1.0)
        logCs = tuple(math.log(c / total_steps) for c in (1.0, 10.0, 100.0, 1e3, 1e4))
        return list(product(alphas, logCs, (0.3, 0.6, 1.2), (0.2, 0.5, 0.8)))

    def basis(self, nonlinear: tuple[float, ...], design: Design) -> np.ndarray:
        alpha, logC, beta, gamma = nonlinear
        _, _, zb_nm = self._drop_terms(logC, beta, gamma, design)
        return np.column_stack([np.ones_like(design.u_n), design.u_n ** -alpha,
                                -((1.0 - zb_nm) @ design.extra["D_m"])])

    def assemble(self, linear_3: np.ndarray, nonlinear: tuple[float, ...]) -> np.ndarray:
        L0, A, B = linear_3
        alpha, logC, beta, gamma = nonlinear
        return np.array([L0, math.log(max(A, 1e-12)), alpha, math.log(max(B, 1e-12)), logC, beta, gamma])

    def to_natural(self, theta: np.ndarray, eta_ref: float) -> dict[str, float]:
        L0, logA, alpha, logB, logC, beta, gamma = (float(v) for v in theta)
        # eta = eta_ref eta': A' = A eta_ref^-alpha, B' = B eta_ref, C' = C eta_ref^(1 - gamma)
        return {"L0": L0, "A": math.exp(logA + alpha * math.log(eta_ref)), "alpha": alpha,
                "B": math.exp(logB) / eta_ref, "C": math.exp(logC + (gamma - 1.0) * math.log(eta_ref)),
                "beta": beta, "gamma": gamma}

    def to_theta(self, params: dict[str, float], eta_ref: float) -> np.ndarray:
        p = params
        le = math.log(eta_ref)
        return np.array([p["L0"], math.log(p["A"]) - p["alpha"] * le, p["alpha"], math.log(p["B"]) + le,
                         math.log(p["C"]) + (1.0 - p["gamma"]) * le, p["beta"], p["gamma"]])


class AnnealingLaw(CurveLaw):
    """Tissue et al. 2024's law with LR annealing; `decay` is the momentum's lambda (the paper uses 0.999)."""

    name = "annealing"
    params = ("L0", "A", "alpha", "C")
    coords = ("L0", "log_A", "alpha", "log_C")

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise UserError(f"the annealing momentum's decay (lambda) must lie in [0, 1), got {decay}")
        self.decay = float(decay)

    def settings(self) -> dict[str, Any]:
        return {"lambda": self.decay}

    def design(self, lr_T: np.ndarray, steps_n: np.ndarray, eta_ref: float) -> Design:
        lr = np.asarray(lr_T, dtype=np.float64) / eta_ref
        peak = int(np.argmax(lr))
        diff_T = np.zeros_like(lr)
        diff_T[peak + 1:] = lr[peak:-1] - lr[peak + 1:]
        # m_i = lambda m_{i-1} + (eta_{i-1} - eta_i): a first-order recursive filter over the differences
        momentum_T = lfilter([1.0], [1.0, -self.decay], diff_T)
        S2_T = np.cumsum(momentum_T)
        return Design(np.cumsum(lr)[steps_n - 1], {"S2_n": S2_T[steps_n - 1]})

    def evaluate(self, theta: np.ndarray, design: Design) -> tuple[np.ndarray, np.ndarray]:
        L0, logA, alpha, logC = (float(v) for v in theta)
        power_n, log_u_n = _power_term(logA, alpha, design.u_n)
        drop_n = math.exp(logC) * design.extra["S2_n"]
        J = np.column_stack([np.ones_like(power_n), power_n, -power_n * log_u_n, -drop_n])
        return L0 + power_n - drop_n, J

    def bounds(self, loss_max: float) -> tuple[np.ndarray, np.ndarray]:
        return np.array([0.0, -30.0, 1e-3, -30.0]), np.array([loss_max, 30.0, 5.0, 10.0])

    def grid(self, total_steps: int) -> list[tuple[float, ...]]:
        return [(a,) for a in (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5)]

    def basis(self, nonlinear: tuple[float, ...], design: Design) -> np.ndarray:
        (alpha,) = nonlinear
        return np.column_stack([np.ones_like(design.u_n), design.u_n ** -alpha, -design.extra["S2_n"]])

    def assemble(self, linear_3: np.ndarray, nonlinear: tuple[float, ...]) -> np.ndarray:
        L0, A, C = linear_3
        return np.array([L0, math.log(max(A, 1e-12)), nonlinear[0], math.log(max(C, 1e-12))])

    def to_natural(self, theta: np.ndarray, eta_ref: float) -> dict[str, float]:
        L0, logA, alpha, logC = (float(v) for v in theta)
        # S1 = eta_ref S1', S2 = eta_ref S2': A' = A eta_ref^-alpha, C' = C eta_ref
        return {"L0": L0, "A": math.exp(logA + alpha * math.log(eta_ref)), "alpha": alpha,
                "C": math.exp(logC) / eta_ref}

    def to_theta(self, params: dict[str, float], eta_ref: float) -> np.ndarray:
        le = math.log(eta_ref)
        return np.array([params["L0"], math.log(params["A"]) - params["alpha"] * le, params["alpha"],
                         math.log(params["C"]) + le])


# The curve laws by name: the CLI's --law and `fit_curves(law=...)` read this table.
CURVE_LAWS: dict[str, type[CurveLaw]] = {"multi-power": MultiPowerLaw, "annealing": AnnealingLaw}


def get_curve_law(law: str | CurveLaw, **options: Any) -> CurveLaw:
    """A curve law by name (options go to its constructor), or the law itself; UserError for unknown names."""
    if isinstance(law, CurveLaw):
        return law
    if law not in CURVE_LAWS:
        raise UserError(f"unknown curve law {law!r}; use one of {', '.join(CURVE_LAWS)}")
    return CURVE_LAWS[law](**options)
