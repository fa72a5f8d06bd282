"""The objectives every estimator minimises, batched over parameter vectors, with analytic gradients.

`huber`: sum_i w_i * huber_delta(r_i), r_i = log L_pred - log L_obs (Hoffmann et al.; Besiroglu et al.).
   The residual may instead be raw, r_i = L_pred - L_obs, and the penalty plain squares, 0.5 r_i^2, so fits
   published with least squares on raw or log loss (scipy `curve_fit`) are reproduced: see `OBJECTIVES`.
`ml`: the negative log-likelihood of r_i under a Huber density with free scale sigma,
      sum_i w_i * [huber_delta(r_i / sigma) + log sigma + log Z(delta)],
      Z(delta) = sqrt(2 pi) erf(delta / sqrt 2) + 2 exp(-delta^2 / 2) / delta  (Besiroglu et al. 2024).

Both run in the optimiser's coordinates y: theta_free = T @ y with T the law's preconditioner (a linear
reparametrisation; the minimum is the same point), fixed coordinates inserted, and for `ml` log sigma appended.
Rows are evaluated in chunks that fit in cache; per-row weights (bootstrap replicates) are selected by index.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import erf

from scaling.fit.laws import Law

DEFAULT_DELTA = 1e-3
# name -> (penalty, residual space). "huber-log" is the default of every estimator (Hoffmann et al.).
OBJECTIVES: dict[str, tuple[str, str]] = {
    "huber-log": ("huber", "log"),
    "huber-raw": ("huber", "raw"),
    "squares-log": ("squares", "log"),
    "squares-raw": ("squares", "raw"),
}
OBJECTIVE_TEXT = {
    "huber-log": "sum of Huber losses of log residuals, log L via log-sum-exp",
    "huber-raw": "sum of Huber losses of raw residuals L_pred - L",
    "squares-log": "least squares on log residuals",
    "squares-raw": "least squares on raw residuals L_pred - L (what scipy curve_fit minimises)",
}
_CHUNK_ELEMENTS = 1 << 14  # rows x points per chunk: the ~10 temporaries (128 KB each) stay in L2 cache


def huber_log_normaliser(delta: float) -> float:
    """log Z(delta) of the unit-scale Huber density exp(-huber_delta(x)) / Z."""
    z = np.sqrt(2.0 * np.pi) * erf(delta / np.sqrt(2.0)) + 2.0 * np.exp(-0.5 * delta**2) / delta
    return float(np.log(z))


class Objective:
    """A law's Huber or Huber-likelihood objective on fixed data; call it with (Y, idx) -> (value, gradient)."""

    def __init__(
        self,
        law: Law,
        data: Mapping[str, np.ndarray],
        log_loss: np.ndarray,
        *,
        delta: float = DEFAULT_DELTA,
        kind: str = "huber",
        weights: np.ndarray | None = None,
        row_weights: np.ndarray | None = None,
        row_map: np.ndarray | None = None,
        fixed: Mapping[int, float] | None = None,
        objective: str = "huber-log",
    ):
        if kind not in ("huber", "ml"):
            raise ValueError(f"objective kind must be 'huber' or 'ml', got {kind!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if kind == "ml" and objective != "huber-log":
            raise ValueError("the Huber likelihood (method ml) is defined on log residuals: objective huber-log")
        self.law, self.data, self.kind, self.delta = law, data, kind, float(delta)
        self.objective = objective
        self.penalty, self.space = OBJECTIVES[objective]
        self.log_obs = np.asarray(log_loss, dtype=np.float64)
        self.y_obs = self.log_obs if self.space == "log" else np.exp(self.log_obs)
        self.n = self.y_obs.size
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.row_map = row_map  # batch row -> row of row_weights (several starts share one bootstrap replicate)
        self.row_weights = None
        if row_weights is not None:  # fold the fixed weights into the per-replicate ones once
            rw = np.asarray(row_weights, dtype=np.float64)
            self.row_weights = rw if self.weights is None else rw * self.weights
            self.row_sums = self.row_weights.sum(axis=1)
        self.fixed = dict(fixed or {})
        P = law.n_params
        self.free = np.array([j for j in range(P) if j not in self.fixed], dtype=int)
        T = np.asarray(law.preconditioner(data), dtype=np.float64)[np.ix_(self.free, self.free)]
        if abs(np.linalg.det(T)) < 1e-300:
            T = np.eye(self.free.size)
        self.T = T
        self.T_inv = np.linalg.inv(T)
        self.n_theta = self.free.size
        self.dim = self.n_theta + (1 if kind == "ml" else 0)
        self.log_z = huber_log_normaliser(self.delta) if kind == "ml" else 0.0
        self.chunk = max(1, _CHUNK_ELEMENTS // max(self.n, 1))
        self.nfev = 0

    # --- coordinate maps -----------------------------------------------------------------------------------
    def theta(self, Y: np.ndarray) -> np.ndarray:
        """Full law coordinates (k, P) from optimiser coordinates (k, dim)."""
        Y = np.atleast_2d(Y)
        out = np.empty((Y.shape[0], self.law.n_params))
        out[:, self.free] = Y[:, : self.n_theta] @ self.T.T
        for j, v in self.fixed.items():
            out[:, j] = v
        return out

    def to_y(self, theta: np.ndarray, log_sigma: np.ndarray | float | None = None) -> np.ndarray:
        """Optimiser coordinates from full law coordinates (and log sigma for `ml`)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        y = theta[:, self.free] @ self.T_inv.T
        if self.kind == "ml":
            ls = np.broadcast_to(np.asarray(-5.0 if log_sigma is None else log_sigma, dtype=np.float64), (y.shape[0],))
            y = np.column_stack([y, ls])
        return y

    def log_sigma(self, Y: np.ndarray) -> np.ndarray | None:
        """The scale coordinate of `ml` rows (None for `huber`)."""
        return np.atleast_2d(Y)[:, -1] if self.kind == "ml" else None

    # --- evaluation ----------------------------------------------------------------------------------------
    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Residuals (log or raw, as the objective says) for each row of `theta` (k, P): (k, n)."""
        f, _ = self.law.log_predict(np.atleast_2d(theta), self.data)
        return (f if self.space == "log" else np.exp(f)) - self.y_obs

    def residual_jacobian(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sqrt(w)-scaled residuals (n,) and their Jacobian in optimiser coordinates (n, n_theta) at one point y:
        what a Gauss-Newton polish of the squares objectives needs (one batched VJP per point)."""
        theta = self.theta(np.asarray(y)[None, :])  # only the huber kind is polished this way: no scale coordinate
        f_tiled, ctx = self.law.log_predict(np.repeat(theta, self.n, axis=0), self.data)  # (n, n) rows identical
        f = f_tiled[0]
        scale = np.ones(self.n) if self.weights is None else np.sqrt(self.weights)
        d_f = np.eye(self.n) * scale[:, None]  # row i asks for d f_i / d theta, times sqrt(w_i)
        if self.space == "raw":
            pred = np.exp(f)
            d_f *= pred[:, None]
            r = pred - self.y_obs
        else:
            r = f - self.y_obs
        jac = self.law.log_vjp(ctx, d_f)[:, self.free] @ self.T
        return r * scale, jac

    def _weights_for(self, rows: np.ndarray | slice) -> tuple[np.ndarray | None, np.ndarray | float]:
        """Per-point weights for a chunk (its bootstrap rows times the fixed weights, or None) and their sums."""
        if self.row_weights is None:
            if self.weights is None:
                return None, float(self.n)
            return self.weights, float(self.weights.sum())
        r = rows if self.row_map is None else self.row_map[rows]
        return self.row_weights[r], self.row_sums[r]

    def __call__(self, Y: np.ndarray, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Objective values (k,) and gradients (k, dim) at optimiser coordinates Y (k, dim).

        `idx` names, for each row of Y, its row of `row_weights` (its bootstrap replicate); default 0..k-1.
        """
        Y = np.atleast_2d(Y)
        k = Y.shape[0]
        self.nfev += k
        val = np.empty(k)
        grad = np.empty((k, self.dim))
        # Trial points far out (line searches, wild starts) may overflow; the optimiser rejects non-finite values.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for i0 in range(0, k, self.chunk):
                sl = slice(i0, min(k, i0 + self.chunk))
                rows = sl if idx is None else idx[sl]
                w, wsum = self._weights_for(rows)
                val[sl], grad[sl] = self._evaluate(Y[sl], w, wsum)
        return val, grad

    def _evaluate(self, Y: np.ndarray, w: np.ndarray | None, wsum: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        theta = self.theta(Y)
        r, ctx = self.law.log_predict(theta, self.data)
        pred = None
        if self.space == "raw":
            pred = np.exp(r)
            r = pred - self.y_obs
        else:
            r -= self.y_obs
        d = self.delta if self.penalty == "huber" else np.inf  # squares: the Huber loss with no clipping
        if self.kind == "ml":
            log_s = Y[:, -1]
            inv_s = np.exp(-log_s)[:, None]
            r *= inv_s  # z = r / sigma
            c = np.clip(r, -d, d)
            wc = c if w is None else c * w
            cz = np.einsum("ij,ij->i", wc, r)
            val = cz - 0.5 * np.einsum("ij,ij->i", wc, c) + wsum * (log_s + self.log_z)
            wc *= inv_s
            g = np.empty((Y.shape[0], self.dim))
            g[:, :-1] = self.law.log_vjp(ctx, wc)[:, self.free] @ self.T
            g[:, -1] = wsum - cz
            return val, g
        c = np.clip(r, -d, d)
        v = c if w is None else c * w
        val = np.einsum("ij,ij->i", v, r) - 0.5 * np.einsum("ij,ij->i", v, c)
        if pred is not None:  # d r / d log L_pred = L_pred on raw residuals
            v = v * pred
        return val, self.law.log_vjp(ctx, v)[:, self.free] @ self.T

    def value_theta(self, theta: np.ndarray, log_sigma: float | None = None) -> float:
        """The objective at one full law coordinate vector (for reporting)."""
        y = self.to_y(theta, log_sigma)
        return float(self(y)[0][0])
