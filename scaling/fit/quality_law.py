"""A quality-dependent Chinchilla law: each data-quality level multiplies the data it is worth.

    L = E + A / N^alpha + B / (q_k D)^beta,   q_0 = 1 for the reference (clean) level

q_k < 1 says level k's tokens are worth q_k clean tokens. The reference level is fixed, not fitted; levels come
as an integer column `level` (0 = reference). Derived quantities give, per level, the compute-optimal N and D
and the loss at the target compute, so bootstrap intervals show how the frontier moves with quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.laws import Coord, Law, _centring, _lse, chinchilla_compute_optimal

_Q_START = (0.0, -1.0)  # ln q starts: as good as clean, and e^-1 of it


class QualityChinchilla(Law):
    """Chinchilla with one effective-data multiplier q_k per quality level (q of level 0 fixed to 1)."""

    name = "quality_chinchilla"
    formula = "L = E + A / N^alpha + B / (q_level D)^beta, q_0 = 1"
    inputs = ("n", "d", "level")
    reference = "Hoffmann et al. 2022 with effective data D' = q D per quality level (cf. Muennighoff et al. 2023)"

    def __init__(self, levels: int = 2):
        if levels < 2:
            raise UserError(f"law {self.name!r} needs at least 2 quality levels (the reference and one more), "
                            f"got {levels}")
        self.levels = int(levels)
        q_coords = tuple(Coord(f"ln_q_{k}", f"q_{k}", log=True) for k in range(1, self.levels))
        self.coords = (Coord("a", "A", log=True), Coord("b", "B", log=True), Coord("e", "E", log=True),
                       Coord("alpha", "alpha"), Coord("beta", "beta"), *q_coords)
        self.params = ("A", "B", "E", "alpha", "beta", *(c.param for c in q_coords))
        self.start_grid = {"a": (0.0, 5.0, 10.0, 15.0), "b": (0.0, 5.0, 10.0, 15.0), "e": (-1.0, 0.0, 0.5, 1.0),
                           "alpha": (0.2, 0.5, 1.0), "beta": (0.2, 0.5, 1.0),
                           **{c.name: _Q_START for c in q_coords}}

    def configure(self, **options: Any) -> Law:
        levels = options.pop("levels", None)
        if options:
            raise UserError(f"law {self.name!r} takes option 'levels' (number of quality levels); "
                            f"got {sorted(options)}")
        return self if levels is None or int(levels) == self.levels else quality_law(int(levels))

    def prepare(self, cols):
        level = np.asarray(cols["level"], dtype=np.float64)
        idx = level.astype(np.int64)
        if np.any(idx != level) or idx.min() < 0 or idx.max() >= self.levels:
            raise UserError(f"column 'level' must hold integers 0..{self.levels - 1} (0 = the reference level)")
        onehot = np.zeros((idx.size, self.levels))
        onehot[np.arange(idx.size), idx] = 1.0
        return {"ln_n": np.log(np.asarray(cols["n"], dtype=np.float64)),
                "ln_d": np.log(np.asarray(cols["d"], dtype=np.float64)), "onehot": onehot}

    def log_predict(self, theta, data):
        a, b, e, alpha, beta = (theta[:, j] for j in range(5))
        ln_q = np.concatenate([np.zeros((theta.shape[0], 1)), theta[:, 5:]], axis=1)  # (k, levels)
        ln_deff = data["ln_d"][None, :] + ln_q @ data["onehot"].T  # (k, n)
        t1 = a[:, None] - np.multiply.outer(alpha, data["ln_n"])
        t2 = b[:, None] - beta[:, None] * ln_deff
        f, (p1, p2, p3) = _lse([t1, t2, np.broadcast_to(e[:, None], t1.shape)])
        return f, (beta, ln_deff, p1, p2, p3, data["ln_n"], data["onehot"])

    def log_vjp(self, ctx, v):
        beta, ln_deff, p1, p2, p3, ln_n, onehot = ctx
        q1, q2 = v * p1, v * p2
        g_q = -beta[:, None] * (q2 @ onehot[:, 1:])  # d/d ln q_k: only level k's points, through beta ln D'
        return np.column_stack([q1.sum(1), q2.sum(1), (v * p3).sum(1), -(q1 @ ln_n),
                                -np.einsum("ij,ij->i", q2, ln_deff), g_q])

    def preconditioner(self, data):
        mn, sn = _centring(data["ln_n"])
        md, sd = _centring(data["ln_d"])
        T = np.eye(self.n_params)
        T[0, 3], T[3, 3] = mn / sn, 1.0 / sn
        T[1, 4], T[4, 4] = md / sd, 1.0 / sd
        return T

    def derived(self, params, target_flops=None):
        alpha, beta = float(params["alpha"]), float(params["beta"])
        out = {"a": beta / (alpha + beta), "b": alpha / (alpha + beta)}
        if target_flops is None:
            return out
        for k in range(self.levels):
            q = 1.0 if k == 0 else float(params[f"q_{k}"])
            # level k is the Chinchilla law with B_k = B q_k^-beta: its frontier in closed form
            opt = chinchilla_compute_optimal({**params, "B": float(params["B"]) * q**-beta}, target_flops)
            out.update({f"N_opt_{k}": float(opt["N_opt"]), f"D_opt_{k}": float(opt["D_opt"]),
                        f"loss_at_target_{k}": float(opt["loss_opt"])})
        return out


@cache
def quality_law(levels: int) -> QualityChinchilla:
    """The law for this many levels (one object per count, so `configure` returns the same one each time)."""
    return QualityChinchilla(levels)


QUALITY_CHINCHILLA = quality_law(2)


def level_column(values: Sequence[Any], reference: Any = None) -> tuple[np.ndarray, list[Any]]:
    """Integer levels for a column of quality settings: the reference (default: the smallest value, e.g.
    corruption rate 0) is level 0, the rest in sorted order. Returns (levels, the setting of each level)."""
    distinct = sorted({v for v in values}, key=lambda v: (str(type(v)), v))
    if reference is None:
        reference = distinct[0]
    if reference not in distinct:
        raise UserError(f"reference quality level {reference!r} is not among the points' levels {distinct}")
    order = [reference, *(v for v in distinct if v != reference)]
    return np.array([order.index(v) for v in values], dtype=np.int64), order


QUALITY_AXES = ("data.quality.corruption_rate", "data.quality.filters")


def quality_levels(table: Any, axes: Sequence[str] = QUALITY_AXES) -> tuple[np.ndarray, list[str]]:
    """Each point's quality level from its data axes (absent axes read as their default), and the level names;
    level 0 is the cleanest: corruption rate 0 and no filters when the sweep has it."""
    defaults = {"data.quality.corruption_rate": 0.0, "data.quality.filters": "none"}
    keys = [tuple(str(r.settings.get(a, defaults.get(a))) for a in axes) for r in table.rows]
    names = [", ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in zip(axes, k, strict=True)) for k in keys]
    cleanest = min(keys, key=lambda k: tuple((v not in ("0", "0.0", "none"), v) for v in k))
    return level_column(names, names[keys.index(cleanest)])


def fit_quality(source: Any, *, axes: Sequence[str] = QUALITY_AXES, bootstrap: int = 200, seed: int = 0,
                **fit_kwargs: Any) -> tuple[Any, list[str]]:
    """Fit `quality_chinchilla` to a run directory's (or PointsTable's) best points, one q per quality level.

    Returns the FitResult (parameters `q_k` with bootstrap intervals, per-level frontiers in `derived`) and the
    level names, level 0 first."""
    from pathlib import Path

    from scaling.fit.api import fit_law

    table = source
    if isinstance(source, str | Path):
        from scaling.results import from_run_dir

        table = from_run_dir(Path(source))
    points = table.best_per_point()
    level, names = quality_levels(points, axes)
    if len(names) < 2:
        raise UserError(f"the points have one quality level ({names}); sweep {' or '.join(axes)} to fit q")
    result = fit_law(n=points.n, d=points.d, loss=points.loss, law="quality_chinchilla", levels=len(names),
                     columns={"level": level}, weights=points.weight, bootstrap=bootstrap, seed=seed, **fit_kwargs)
    return result, names
