"""Scaling laws as small objects: parameters, formula, log-space prediction with its analytic gradient.

Every law is fitted in log space: `log L = f(theta; columns)`, where `theta` holds the *fitting coordinates*
(log of positive coefficients, exponents as they are). Each coordinate maps to one natural parameter
(`Coord(name, param, log)`), so `to_params`/`from_params` are generic. A law evaluates a batch of parameter
vectors at once (`theta` has shape `(k, P)`, the result `(k, n)`) and returns a context from which `log_vjp`
computes `sum_i v[:, i] * d f[:, i] / d theta` without building the Jacobian; the estimators need nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.accounting import compute
from scaling.errors import UserError

# Hoffmann et al. 2022 (section D.2) start grid for the Chinchilla law, as Besiroglu et al. 2024 reproduce it.
HOFFMANN_GRID: dict[str, tuple[float, ...]] = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}

_EXP_SAFE = 700.0  # exp() of anything above this overflows float64; such rows take the max-shifted path


@dataclass(frozen=True)
class Coord:
    """One fitting coordinate: its name, the natural parameter it encodes, and whether it is the log of it."""

    name: str
    param: str
    log: bool = False


@dataclass(frozen=True)
class VarproSpec:
    """How variable projection splits a law: exponents on a grid, coefficients by non-negative least squares.

    `basis(exponents, data) -> (n, k)` gives the columns whose non-negative combination is the predicted loss;
    `to_theta(exponents, coefs) -> theta` turns a grid point and its coefficients into fitting coordinates.
    """

    grid: dict[str, tuple[float, ...]]
    basis: Any
    to_theta: Any


class Law:
    """A scaling law: subclasses set the class attributes and implement `prepare`, `log_predict`, `log_vjp`."""

    name: str = ""
    formula: str = ""
    inputs: tuple[str, ...] = ()
    coords: tuple[Coord, ...] = ()
    params: tuple[str, ...] = ()
    start_grid: Mapping[str, Sequence[float]] = {}
    reference: str = ""
    varpro: VarproSpec | None = None

    # --- parameters -----------------------------------------------------------------------------------------
    @property
    def coord_names(self) -> tuple[str, ...]:
        """Names of the fitting coordinates, in the order of `theta`'s last axis."""
        return tuple(c.name for c in self.coords)

    @property
    def n_params(self) -> int:
        """Number of free fitting coordinates (what a fit needs more points than)."""
        return len(self.coords)

    def to_params(self, theta: np.ndarray) -> dict[str, Any]:
        """Natural parameters from fitting coordinates (`theta` of shape (P,) or (k, P))."""
        theta = np.asarray(theta, dtype=np.float64)
        out = {}
        # A bootstrap replicate can run off to a coefficient past exp(709); it becomes inf and is left out of
        # the intervals as non-finite (counted in the bootstrap record), so no overflow warning is printed.
        with np.errstate(over="ignore"):
            for j, c in enumerate(self.coords):
                v = theta[..., j]
                out[c.param] = np.exp(v) if c.log else v
        out.update(self._extra_params(out))
        return {p: _scalar(out[p]) for p in self.params}

    def _extra_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters implied by others (e.g. beta = alpha in a tied law); none by default."""
        return {}

    def from_params(self, params: Mapping[str, Any]) -> np.ndarray:
        """Fitting coordinates from natural parameters; raises UserError naming a missing or invalid one."""
        cols = []
        for c in self.coords:
            if c.param not in params:
                raise UserError(f"law {self.name!r} needs parameter {c.param!r}; it has {list(self.params)}")
            v = np.asarray(params[c.param], dtype=np.float64)
            if c.log:
                if np.any(v <= 0):
                    raise UserError(f"parameter {c.param!r} of law {self.name!r} must be positive, got {v}")
                v = np.log(v)
            cols.append(v)
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def start_points(self, grid: Mapping[str, Sequence[float]] | None = None) -> np.ndarray:
        """The Cartesian product of the start grid, shape (k, P), coordinates in `coord_names` order."""
        grid = dict(self.start_grid if grid is None else grid)
        missing = [c for c in self.coord_names if c not in grid]
        if missing:
            raise UserError(f"start grid for law {self.name!r} lacks coordinates {missing}")
        axes = [np.asarray(grid[c], dtype=np.float64) for c in self.coord_names]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    # --- evaluation ----------------------------------------------------------------------------------------
    def prepare(self, cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Precompute what `log_predict` needs from the validated input columns (logs, usually)."""
        return {f"ln_{k}": np.log(np.asarray(cols[k], dtype=np.float64)) for k in self.inputs}

    def log_predict(self, theta: np.ndarray, data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, Any]:
        """log L for each row of `theta` (k, P) at each point: (k, n), plus a context for `log_vjp`."""
        raise NotImplementedError

    def log_vjp(self, ctx: Any, v: np.ndarray) -> np.ndarray:
        """Sum over points of v * d(log L)/d(theta): (k, P), from the context `log_predict` returned."""
        raise NotImplementedError

    def preconditioner(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """A linear map T (theta = T @ y) that makes the optimiser's coordinates y well scaled; identity here."""
        return np.eye(self.n_params)

    def predict(self, params: Mapping[str, Any], **cols: Any) -> np.ndarray:
        """Predicted loss at the given columns (e.g. n=..., d=...) for natural parameters `params`."""
        missing = [k for k in self.inputs if cols.get(k) is None]
        if missing:
            raise UserError(f"law {self.name!r} needs columns {list(self.inputs)}; missing {missing}")
        arrays = {k: np.asarray(cols[k], dtype=np.float64) for k in self.inputs}
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
        flat = {k: np.broadcast_to(a, shape).ravel() for k, a in arrays.items()}
        theta = self.from_params(params).reshape(1, -1)
        f, _ = self.log_predict(theta, self.prepare(flat))
        return np.exp(f[0]).reshape(shape)

    # --- derived quantities --------------------------------------------------------------------------------
    def derived(self, params: Mapping[str, Any], target_flops: float | None = None) -> dict[str, float]:
        """Quantities computed from the parameters (allocation exponents, optimum at a compute); none here."""
        return {}

    def configure(self, **options: Any) -> Law:
        """This law with options applied (e.g. chinchilla's `tied=True`); unknown options are a UserError."""
        if options:
            raise UserError(f"law {self.name!r} takes no options; got {sorted(options)}")
        return self

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: name, formula, inputs, parameters, fitting coordinates, reference."""
        return {
            "name": self.name,
            "formula": self.formula,
            "inputs": list(self.inputs),
            "params": list(self.params),
            "coords": [c.name for c in self.coords],
            "reference": self.reference,
        }

    def __repr__(self) -> str:
        return f"<Law {self.name}: {self.formula}>"


def _scalar(v: Any) -> Any:
    """Plain float for 0-d results, arrays unchanged."""
    a = np.asarray(v)
    return float(a) if a.ndim == 0 else a


def _lse(terms: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Stable log-sum-exp of equally shaped terms and the softmax weight of each term."""
    m = terms[0].copy()
    for t in terms[1:]:
        np.maximum(m, t, out=m)
    ws = [np.exp(t - m) for t in terms]
    s = ws[0].copy()
    for w in ws[1:]:
        s += w
    f = np.log(s)
    f += m
    for w in ws:
        w /= s
    return f, ws


def _lse_with_one(u1: np.ndarray, u2: np.ndarray, big: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + e^u1 + e^u2) per element, computed in place: u1, u2 become e^u1/s, e^u2/s; returns (f, 1/s).

    Rows flagged in `big` (an exponent could overflow) take the max-shifted path; the rest the direct one.
    """
    rows = np.flatnonzero(big)
    if rows.size:
        f_b, (p1_b, p2_b, p3_b) = _lse([u1[rows], u2[rows], np.zeros((rows.size, u1.shape[1]))])
        u1[rows] = 0.0
        u2[rows] = 0.0
    np.exp(u1, out=u1)
    np.exp(u2, out=u2)
    s = u1 + u2
    s += 1.0
    f = np.log(s)
    inv_s = np.reciprocal(s, out=s)
    u1 *= inv_s
    u2 *= inv_s
    if rows.size:
        f[rows], u1[rows], u2[rows], inv_s[rows] = f_b, p1_b, p2_b, p3_b
    return f, inv_s


def _max_linear(c: np.ndarray, slope: np.ndarray, x_range: np.ndarray) -> np.ndarray:
    """max_i (c + slope * x_i) per row without touching every point: the extreme is at min(x) or max(x)."""
    return c + np.maximum(slope * x_range[0], slope * x_range[1])


def _centring(ln_x: np.ndarray) -> tuple[float, float]:
    """Mean and spread of a log column: the shift and scale that decouple a coefficient from its exponent."""
    m = float(np.mean(ln_x))
    s = float(np.std(ln_x))
    return m, (s if s > 1e-12 else 1.0)


# ------------------------------------------------------------------------------------------------------------
# Power laws
# ------------------------------------------------------------------------------------------------------------
class PowerLaw(Law):
    """L = A * x^-alpha: a straight line in log-log."""

    name = "power_law"
    formula = "L = A * x^-alpha"
    inputs = ("x",)
    coords = (Coord("a", "A", log=True), Coord("alpha", "alpha"))
    params = ("A", "alpha")
    start_grid = {"a": HOFFMANN_GRID["a"], "alpha": HOFFMANN_GRID["alpha"]}
    reference = "a pure power law"

    def log_predict(self, theta, data):
        a, alpha = theta[:, 0], theta[:, 1]
        lx = data["ln_x"]
        f = np.multiply.outer(-alpha, lx)
        f += a[:, None]
        return f, lx

    def log_vjp(self, ctx, v):
        lx = ctx
        return np.stack([v.sum(1), -(v @ lx)], axis=1)

    def preconditioner(self, data):
        return _linear_preconditioner(data["ln_x"])

    varpro = VarproSpec(
        grid={"alpha": tuple(np.round(np.linspace(0.0, 2.0, 81), 6))},
        basis=lambda ex, data: np.exp(-ex[0] * data["ln_x"])[:, None],
        to_theta=lambda ex, coefs: np.array([np.log(max(coefs[0], 1e-300)), ex[0]]),
    )


def _linear_preconditioner(lx: np.ndarray) -> np.ndarray:
    """theta = (a, alpha) with a = a_c + alpha * mean(ln x), alpha = alpha_s / std(ln x)."""
    m, s = _centring(lx)
    return np.array([[1.0, m / s], [0.0, 1.0 / s]])


class PowerLawOffset(Law):
    """L = E + A * x^-alpha: a power law that saturates at an irreducible loss E."""

    name = "power_law_offset"
    formula = "L = E + A * x^-alpha"
    inputs = ("x",)
    coords = (Coord("a", "A", log=True), Coord("e", "E", log=True), Coord("alpha", "alpha"))
    params = ("A", "E", "alpha")
    start_grid = {"a": HOFFMANN_GRID["a"], "e": HOFFMANN_GRID["e"], "alpha": HOFFMANN_GRID["alpha"]}
    reference = "power law with offset (e.g. Hestness et al. 2017; Porian et al. 2024 loss vs compute)"

    def log_predict(self, theta, data):
        a, e, alpha = theta[:, 0], theta[:, 1], theta[:, 2]
        lx = data["ln_x"]
        t1 = np.multiply.outer(-alpha, lx)
        t1 += a[:, None]
        t2 = np.broadcast_to(e[:, None], t1.shape)
        f, (p1, p2) = _lse([t1, t2])
        return f, (p1, p2, lx)

    def log_vjp(self, ctx, v):
        p1, p2, lx = ctx
        q1 = v * p1
        return np.stack([q1.sum(1), (v * p2).sum(1), -(q1 @ lx)], axis=1)

    def preconditioner(self, data):
        m, s = _centring(data["ln_x"])
        T = np.eye(3)
        T[0, 2] = m / s
        T[2, 2] = 1.0 / s
        return T

    varpro = VarproSpec(
        grid={"alpha": tuple(np.round(np.linspace(0.01, 2.0, 200), 6))},
        basis=lambda ex, data: np.stack([np.exp(-ex[0] * data["ln_x"]), np.ones_like(data["ln_x"])], axis=1),
        to_theta=lambda ex, c: np.array([np.log(max(c[0], 1e-300)), np.log(max(c[1], 1e-300)), ex[0]]),
    )


# ------------------------------------------------------------------------------------------------------------
# Kaplan et al. 2020
# ------------------------------------------------------------------------------------------------------------
class KaplanSingle(Law):
    """Kaplan et al. 2020: L(X) = (X_c / X)^alpha_X for one of N, D or C."""

    inputs: tuple[str, ...] = ("n",)
    reference = "Kaplan et al. 2020 (arXiv:2001.08361), eqs. 1.1-1.3"

    def __init__(self, col: str, scale_name: str, exp_name: str, published: tuple[float, float]):
        self.col = col
        self.inputs = (col,)
        self.name = f"kaplan_{col}"
        self.formula = f"L = ({scale_name} / {col.upper()})^{exp_name}"
        self.coords = (Coord(f"ln_{scale_name}", scale_name, log=True), Coord(exp_name, exp_name))
        self.params = (scale_name, exp_name)
        self.published = dict(zip(self.params, published, strict=True))
        self.start_grid = {
            f"ln_{scale_name}": tuple(float(np.log(10.0**k)) for k in range(6, 34, 3)),
            exp_name: (0.01, 0.03, 0.06, 0.1, 0.2, 0.4),
        }

    def log_predict(self, theta, data):
        lc, alpha = theta[:, 0], theta[:, 1]
        lx = data[f"ln_{self.col}"]
        diff = lc[:, None] - lx[None, :]
        return alpha[:, None] * diff, (alpha, diff)

    def log_vjp(self, ctx, v):
        alpha, diff = ctx
        return np.stack([alpha * v.sum(1), np.einsum("ij,ij->i", v, diff)], axis=1)

    def preconditioner(self, data):
        # log L = alpha * (lc - lx): scale lc to the data's spread so both coordinates move alike.
        _, s = _centring(data[f"ln_{self.col}"])
        return np.diag([s, 1.0 / s])


class KaplanND(Law):
    """Kaplan et al. 2020 eq. 1.5: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

    name = "kaplan_nd"
    formula = "L = ((N_c / N)^(alpha_N / alpha_D) + D_c / D)^alpha_D"
    inputs = ("n", "d")
    coords = (
        Coord("ln_N_c", "N_c", log=True),
        Coord("ln_D_c", "D_c", log=True),
        Coord("alpha_N", "alpha_N"),
        Coord("alpha_D", "alpha_D"),
    )
    params = ("N_c", "D_c", "alpha_N", "alpha_D")
    published = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}  # Kaplan et al. Table 2
    start_grid = {
        "ln_N_c": tuple(float(np.log(10.0**k)) for k in (9, 11, 13, 15, 17)),
        "ln_D_c": tuple(float(np.log(10.0**k)) for k in (9, 11, 13, 15, 17)),
        "alpha_N": (0.03, 0.08, 0.2, 0.4),
        "alpha_D": (0.03, 0.1, 0.2, 0.4),
    }
    reference = "Kaplan et al. 2020 (arXiv:2001.08361), eq. 1.5"

    def log_predict(self, theta, data):
        lnc, ldc, an, ad = (theta[:, j] for j in range(4))
        ln_n, ln_d = data["ln_n"], data["ln_d"]
        ratio = an / ad
        dn = lnc[:, None] - ln_n[None, :]
        u1 = ratio[:, None] * dn
        u2 = ldc[:, None] - ln_d[None, :]
        s, (p1, p2) = _lse([u1, u2])
        f = ad[:, None] * s
        return f, (an, ad, dn, u1, s, p1, p2)

    def log_vjp(self, ctx, v):
        an, ad, dn, u1, s, p1, p2 = ctx
        vp1 = v * p1
        return np.stack(
            [
                an * vp1.sum(1),
                ad * (v * p2).sum(1),
                np.einsum("ij,ij->i", vp1, dn),
                np.einsum("ij,ij->i", v, s) - np.einsum("ij,ij->i", vp1, u1),
            ],
            axis=1,
        )


# ------------------------------------------------------------------------------------------------------------
# Chinchilla (Hoffmann et al. 2022, approach 3)
# ------------------------------------------------------------------------------------------------------------
class Chinchilla(Law):
    """Hoffmann et al. 2022: L = E + A/N^alpha + B/D^beta, fitted as log L = LSE(a - alpha ln N, b - beta ln D, e)."""

    name = "chinchilla"
    formula = "L = E + A / N^alpha + B / D^beta"
    inputs = ("n", "d")
    coords = (
        Coord("a", "A", log=True),
        Coord("b", "B", log=True),
        Coord("e", "E", log=True),
        Coord("alpha", "alpha"),
        Coord("beta", "beta"),
    )
    params = ("A", "B", "E", "alpha", "beta")
    start_grid = HOFFMANN_GRID
    reference = "Hoffmann et al. 2022 (arXiv:2203.15556) approach 3; Besiroglu et al. 2024 (arXiv:2404.10102)"
    published = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
    tied = False

    def configure(self, **options):
        tied = options.pop("tied", None)
        if options:
            raise UserError(f"law {self.name!r} takes option 'tied' (alpha = beta); got {sorted(options)}")
        if tied is None or bool(tied) == self.tied:
            return self
        return CHINCHILLA_TIED if tied else CHINCHILLA

    def _exponents(self, theta):
        return theta[:, 3], theta[:, 4]

    def prepare(self, cols):
        data = super().prepare(cols)
        ln_n, ln_d = data["ln_n"], data["ln_d"]
        n = ln_n.size
        # One matrix maps the two weighted terms to the gradient: [q1 | q2] @ M = (da, dalpha, db, dbeta).
        M = np.zeros((2 * n, 4))
        M[:n, 0], M[:n, 1], M[n:, 2], M[n:, 3] = 1.0, -ln_n, 1.0, -ln_d
        # ... and its transpose builds both exponents at once: [a-e, alpha, b-e, beta] @ M.T = [u1 | u2].
        data.update(M=M, MT=np.ascontiguousarray(M.T), ln_n_range=np.array([ln_n.min(), ln_n.max()]),
                    ln_d_range=np.array([ln_d.min(), ln_d.max()]))
        return data

    def log_predict(self, theta, data):
        a, b, e = theta[:, 0], theta[:, 1], theta[:, 2]
        alpha, beta = self._exponents(theta)
        k, n = theta.shape[0], data["ln_n"].size
        # Terms relative to e: log L = e + log(1 + exp(u1) + exp(u2)); two exps instead of three, in one array
        # built by one matrix product (u1 = a - e - alpha ln N, u2 = b - e - beta ln D).
        coef = np.column_stack([a - e, alpha, b - e, beta])
        U = (coef @ data["MT"]).reshape(k, 2, n)
        u1, u2 = U[:, 0, :], U[:, 1, :]
        big = (_max_linear(a - e, -alpha, data["ln_n_range"]) >= _EXP_SAFE) | (
            _max_linear(b - e, -beta, data["ln_d_range"]) >= _EXP_SAFE
        )
        if big.any():
            f, p3 = _lse_with_one(u1, u2, big)  # u1, u2 become the normalised weights p1, p2
            U *= (1.0 / p3)[:, None, :]  # back to exp(u) = p / p3 so the vjp below applies to every row
        else:
            np.exp(U, out=U)
            s = u1 + u2
            s += 1.0
            f = np.log(s)
            p3 = np.reciprocal(s, out=s)
        f += e[:, None]
        return f, (U, p3, data["M"])

    def log_vjp(self, ctx, v):
        U, p3, M = ctx
        w = v * p3  # v / s
        Q = U * w[:, None, :]  # v * exp(u_j) / s = v * p_j
        g4 = Q.reshape(Q.shape[0], -1) @ M
        g = np.empty((v.shape[0], self.n_params))
        g[:, 0], g[:, 1], g[:, 2] = g4[:, 0], g4[:, 2], w.sum(1)
        if self.tied:
            g[:, 3] = g4[:, 1] + g4[:, 3]
        else:
            g[:, 3], g[:, 4] = g4[:, 1], g4[:, 3]
        return g

    def preconditioner(self, data):
        mn, sn = _centring(data["ln_n"])
        md, sd = _centring(data["ln_d"])
        T = np.eye(self.n_params)
        if self.tied:
            s = 0.5 * (sn + sd)
            T[0, 3], T[1, 3], T[3, 3] = mn / s, md / s, 1.0 / s
        else:
            T[0, 3], T[3, 3] = mn / sn, 1.0 / sn
            T[1, 4], T[4, 4] = md / sd, 1.0 / sd
        return T

    def derived(self, params, target_flops=None):
        return chinchilla_derived(params, target_flops)

    varpro = VarproSpec(
        grid={
            "alpha": tuple(np.round(np.linspace(0.02, 1.2, 60), 6)),
            "beta": tuple(np.round(np.linspace(0.02, 1.2, 60), 6)),
        },
        basis=lambda ex, data: np.stack(
            [np.exp(-ex[0] * data["ln_n"]), np.exp(-ex[1] * data["ln_d"]), np.ones_like(data["ln_n"])], axis=1
        ),
        to_theta=lambda ex, c: np.array([*np.log(np.maximum(c, 1e-300)), ex[0], ex[1]]),
    )


class ChinchillaTied(Chinchilla):
    """The Chinchilla law with one exponent for both terms (alpha = beta), as Muennighoff et al. fit it."""

    name = "chinchilla_tied"
    formula = "L = E + A / N^alpha + B / D^alpha"
    coords = Chinchilla.coords[:4]
    start_grid = {k: v for k, v in HOFFMANN_GRID.items() if k != "beta"}
    tied = True

    def _exponents(self, theta):
        return theta[:, 3], theta[:, 3]

    def _extra_params(self, params):
        return {"beta": params["alpha"]}

    varpro = VarproSpec(
        grid={"alpha": tuple(np.round(np.linspace(0.01, 1.5, 150), 6))},
        basis=lambda ex, data: np.stack(
            [np.exp(-ex[0] * data["ln_n"]), np.exp(-ex[0] * data["ln_d"]), np.ones_like(data["ln_n"])], axis=1
        ),
        to_theta=lambda ex, c: np.array([*np.log(np.maximum(c, 1e-300)), ex[0]]),
    )


def chinchilla_compute_optimal(params: Mapping[str, Any], flops: Any, k: float = 6.0) -> dict[str, Any]:
    """Closed-form compute-optimal N, D for E + A/N^alpha + B/D^beta under C = k*N*D (Hoffmann et al. eq. 4)."""
    A, B, alpha, beta = (np.asarray(params[p], dtype=np.float64) for p in ("A", "B", "alpha", "beta"))
    C = np.asarray(flops, dtype=np.float64)
    # Runaway bootstrap replicates (infinite A or B) give inf/NaN here, dropped later as non-finite samples.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        n_opt = G * (C / k) ** (beta / (alpha + beta))
        d_opt = (C / k) / n_opt
        loss = params["E"] + A * n_opt**-alpha + B * d_opt**-beta
    return {"N_opt": n_opt, "D_opt": d_opt, "loss_opt": loss, "G": G}


def chinchilla_derived(params: Mapping[str, Any], target_flops: float | None) -> dict[str, float]:
    """a = beta/(alpha+beta), b = alpha/(alpha+beta) and, at `target_flops`, N_opt, D_opt, D/N and the loss."""
    alpha, beta = float(params["alpha"]), float(params["beta"])
    out = {"a": beta / (alpha + beta), "b": alpha / (alpha + beta)}
    if target_flops is not None:
        opt = chinchilla_compute_optimal(params, target_flops)
        out.update(
            N_opt=float(opt["N_opt"]),
            D_opt=float(opt["D_opt"]),
            tokens_per_param=float(opt["D_opt"] / opt["N_opt"]),
            loss_at_target=float(opt["loss_opt"]),
        )
    return out


# ------------------------------------------------------------------------------------------------------------
# Muennighoff et al. 2023: data-constrained scaling
# ------------------------------------------------------------------------------------------------------------
class DataConstrained(Law):
    """Muennighoff et al. 2023: Chinchilla with effective data D' and effective parameters N' under repetition.

    R_D = max(D/U - 1, 0) repeats of U unique tokens, D' = U (1 + R_D* (1 - exp(-R_D / R_D*))). U_N = min(N,
    N_opt(U)), where N_opt(U) is the compute-optimal size for U tokens under the law's own A, B, alpha, beta;
    R_N = max(N/U_N - 1, 0), N' = U_N (1 + R_N* (1 - exp(-R_N / R_N*))). L = E + A/N'^alpha + B/D'^beta.
    """

    name = "muennighoff"
    formula = "L = E + A / N'^alpha + B / D'^beta, D' = U + U R_D* (1 - e^(-R_D/R_D*)), N' likewise"
    inputs = ("n", "d", "u")
    coords = (
        Coord("a", "A", log=True),
        Coord("b", "B", log=True),
        Coord("e", "E", log=True),
        Coord("alpha", "alpha"),
        Coord("beta", "beta"),
        Coord("ln_R_D_star", "R_D_star", log=True),
        Coord("ln_R_N_star", "R_N_star", log=True),
    )
    params = ("A", "B", "E", "alpha", "beta", "R_D_star", "R_N_star")
    published = {
        "A": math.exp(6.255414),
        "B": math.exp(7.3049974),
        "E": math.exp(0.6254804),
        "alpha": 0.3526596,
        "beta": 0.3526596,
        "R_D_star": 15.387756,
        "R_N_star": 5.309743,
    }
    start_grid = {
        "a": (5.0, 7.5),
        "b": (5.0, 7.5),
        "e": (0.0, 0.5),
        "alpha": (0.2, 0.35, 0.5),
        "beta": (0.2, 0.35, 0.5),
        "ln_R_D_star": tuple(float(np.log(v)) for v in (3.0, 15.0, 50.0)),
        "ln_R_N_star": tuple(float(np.log(v)) for v in (1.0, 5.0, 25.0)),
    }
    reference = "Muennighoff et al. 2023 (arXiv:2305.16264), eqs. 5-6 and appendix A"
    tied = False

    def configure(self, **options):
        tied = options.pop("tied", None)
        if options:
            raise UserError(f"law {self.name!r} takes option 'tied' (alpha = beta); got {sorted(options)}")
        if tied is None or bool(tied) == self.tied:
            return self
        return MUENNIGHOFF_TIED if tied else MUENNIGHOFF

    def _unpack(self, theta):
        a, b, e, alpha = theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3]
        beta = alpha if self.tied else theta[:, 4]
        j = 4 if self.tied else 5
        return a, b, e, alpha, beta, theta[:, j], theta[:, j + 1]

    def prepare(self, cols):
        n, d, u = (np.asarray(cols[k], dtype=np.float64) for k in ("n", "d", "u"))
        return {"ln_n": np.log(n), "ln_u": np.log(u), "r_d": np.maximum(d / u - 1.0, 0.0)}

    def log_predict(self, theta, data):
        a, b, e, alpha, beta, lrd, lrn = self._unpack(theta)
        ln_n, ln_u, r_d = data["ln_n"], data["ln_u"], data["r_d"]
        col = lambda v: v[:, None]  # noqa: E731
        # Effective data.
        rds = np.exp(lrd)
        xd = np.exp(-r_d[None, :] / col(rds))
        gd = -np.expm1(-r_d[None, :] / col(rds))  # 1 - xd, accurate when R_D << R_D*
        den_d = 1.0 + col(rds) * gd
        ln_dp = ln_u[None, :] + np.log(den_d)
        # d ln D' / d ln R_D*: R_D* (g - (R_D/R_D*) e^(-R_D/R_D*)) / (1 + R_D* g)
        dlndp_lrd = (col(rds) * gd - r_d[None, :] * xd) / den_d
        # Effective parameters: U_N = min(N, N_opt(U)), ln N_opt(U) = (beta ln U + ln alpha - ln beta + a - b) / alpha.
        q = col(beta) * ln_u[None, :] + col(np.log(alpha) - np.log(beta) + a - b)
        ln_nopt = q / col(alpha)
        capped = ln_nopt < ln_n[None, :]
        ln_un = np.where(capped, ln_nopt, ln_n[None, :])
        r_n = np.exp(ln_n[None, :] - ln_un) - 1.0
        rns = np.exp(lrn)
        xn = np.exp(-r_n / col(rns))
        gn = -np.expm1(-r_n / col(rns))  # 1 - xn, accurate when R_N << R_N*
        den_n = 1.0 + col(rns) * gn
        ln_np = ln_un + np.log(den_n)
        dlnnp_lrn = (col(rns) * gn - r_n * xn) / den_n
        dlnnp_lnun = np.where(capped, 1.0 - (r_n + 1.0) * xn / den_n, 1.0)
        t1 = col(a) - col(alpha) * ln_np
        t2 = col(b) - col(beta) * ln_dp
        t3 = np.broadcast_to(col(e), t1.shape)
        f, (p1, p2, p3) = _lse([t1, t2, t3])
        # d ln U_N / d(a, b, alpha, beta) where capped, zero elsewhere.
        cap = capped.astype(np.float64)
        inv_a = col(1.0 / alpha)
        dun = {
            "a": cap * inv_a,
            "b": -cap * inv_a,
            "alpha": cap * (1.0 - q) * inv_a**2,
            "beta": cap * (ln_u[None, :] - col(1.0 / beta)) * inv_a,
        }
        ctx = (alpha, beta, ln_np, ln_dp, dlnnp_lnun, dlnnp_lrn, dlndp_lrd, dun, p1, p2, p3)
        return f, ctx

    def log_vjp(self, ctx, v):
        alpha, beta, ln_np, ln_dp, dlnnp_lnun, dlnnp_lrn, dlndp_lrd, dun, p1, p2, p3 = ctx
        q1, q2 = v * p1, v * p2
        # dt1 = da - alpha * dlnN' - lnN' dalpha, dlnN' = dlnnp_lnun * dlnU_N + dlnnp_lrn * dlrn.
        w1 = q1 * (-alpha[:, None]) * dlnnp_lnun
        ga = q1.sum(1) + np.einsum("ij,ij->i", w1, dun["a"])
        gb = q2.sum(1) + np.einsum("ij,ij->i", w1, dun["b"])
        ge = np.einsum("ij,ij->i", v, p3)
        galpha = -np.einsum("ij,ij->i", q1, ln_np) + np.einsum("ij,ij->i", w1, dun["alpha"])
        gbeta = -np.einsum("ij,ij->i", q2, ln_dp) + np.einsum("ij,ij->i", w1, dun["beta"])
        grd = -beta * np.einsum("ij,ij->i", q2, dlndp_lrd)
        grn = -alpha * np.einsum("ij,ij->i", q1, dlnnp_lrn)
        if self.tied:
            return np.stack([ga, gb, ge, galpha + gbeta, grd, grn], axis=1)
        return np.stack([ga, gb, ge, galpha, gbeta, grd, grn], axis=1)


class DataConstrainedTied(DataConstrained):
    """Muennighoff et al.'s law with alpha = beta, the form they publish."""

    name = "muennighoff_tied"
    coords = DataConstrained.coords[:4] + DataConstrained.coords[5:]
    start_grid = {k: v for k, v in DataConstrained.start_grid.items() if k != "beta"}
    tied = True

    def _extra_params(self, params):
        return {"beta": params["alpha"]}


# ------------------------------------------------------------------------------------------------------------
# Gadre et al. 2024: over-training
# ------------------------------------------------------------------------------------------------------------
class OverTraining(Law):
    """Gadre et al. 2024: L(C, M) = E + (a M^eta + b M^-eta) C^-eta with M = D/N tokens per parameter, C = 6ND."""

    name = "gadre"
    formula = "L = E + (a M^eta + b M^-eta) C^-eta, M = D/N, C = 6 N D"
    inputs = ("n", "d")
    coords = (
        Coord("ln_a", "a", log=True),
        Coord("ln_b", "b", log=True),
        Coord("e", "E", log=True),
        Coord("eta", "eta"),
    )
    params = ("E", "a", "b", "eta")
    start_grid = {
        "ln_a": HOFFMANN_GRID["a"],
        "ln_b": HOFFMANN_GRID["b"],
        "e": HOFFMANN_GRID["e"],
        "eta": (0.0, 0.1, 0.2, 0.4, 0.8),
    }
    reference = "Gadre et al. 2024 (arXiv:2403.08540), eq. 4"

    def prepare(self, cols):
        n, d = np.asarray(cols["n"], dtype=np.float64), np.asarray(cols["d"], dtype=np.float64)
        return {"ln_m": np.log(d / n), "ln_c": np.log(compute(n, d))}

    def log_predict(self, theta, data):
        la, lb, e, eta = (theta[:, j] for j in range(4))
        ln_m, ln_c = data["ln_m"], data["ln_c"]
        x1 = ln_m - ln_c
        x2 = -ln_m - ln_c
        t1 = la[:, None] + np.multiply.outer(eta, x1)
        t2 = lb[:, None] + np.multiply.outer(eta, x2)
        t3 = np.broadcast_to(e[:, None], t1.shape)
        f, (p1, p2, p3) = _lse([t1, t2, t3])
        return f, (p1, p2, p3, x1, x2)

    def log_vjp(self, ctx, v):
        p1, p2, p3, x1, x2 = ctx
        q1, q2 = v * p1, v * p2
        return np.stack([q1.sum(1), q2.sum(1), np.einsum("ij,ij->i", v, p3), q1 @ x1 + q2 @ x2], axis=1)

    def preconditioner(self, data):
        x1 = data["ln_m"] - data["ln_c"]
        m, s = _centring(x1)
        T = np.eye(4)
        x2m = float(np.mean(-data["ln_m"] - data["ln_c"]))
        T[0, 3], T[1, 3], T[3, 3] = -m / s, -x2m / s, 1.0 / s
        return T

    varpro = VarproSpec(
        grid={"eta": tuple(np.round(np.linspace(0.005, 1.0, 200), 6))},
        basis=lambda ex, data: np.stack(
            [
                np.exp(ex[0] * (data["ln_m"] - data["ln_c"])),
                np.exp(ex[0] * (-data["ln_m"] - data["ln_c"])),
                np.ones_like(data["ln_m"]),
            ],
            axis=1,
        ),
        to_theta=lambda ex, c: np.array([*np.log(np.maximum(c, 1e-300)), ex[0]]),
    )


# Singletons the registry holds; `configure` returns one of these rather than building new objects.
POWER_LAW = PowerLaw()
POWER_LAW_OFFSET = PowerLawOffset()
KAPLAN_N = KaplanSingle("n", "N_c", "alpha_N", (8.8e13, 0.076))
KAPLAN_D = KaplanSingle("d", "D_c", "alpha_D", (5.4e13, 0.095))
KAPLAN_C = KaplanSingle("c", "C_c", "alpha_C", (3.1e8 * 8.64e19, 0.050))  # C_c^min = 3.1e8 PF-days in FLOPs
KAPLAN_ND = KaplanND()
CHINCHILLA = Chinchilla()
CHINCHILLA_TIED = ChinchillaTied()
MUENNIGHOFF = DataConstrained()
MUENNIGHOFF_TIED = DataConstrainedTied()
GADRE = OverTraining()

BUILTIN_LAWS: tuple[Law, ...] = (
    POWER_LAW,
    POWER_LAW_OFFSET,
    KAPLAN_N,
    KAPLAN_D,
    KAPLAN_C,
    KAPLAN_ND,
    CHINCHILLA,
    CHINCHILLA_TIED,
    MUENNIGHOFF,
    MUENNIGHOFF_TIED,
    GADRE,
)

__all__ = [
    "BUILTIN_LAWS",
    "Coord",
    "HOFFMANN_GRID",
    "Law",
    "VarproSpec",
    "chinchilla_compute_optimal",
    "chinchilla_derived",
]
