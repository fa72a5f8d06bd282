"""Turn user columns into a validated fitting problem, saying which N, D and C conventions were used.

Bad input a user can cause (a missing column, NaN or non-positive values, a single model size, fewer points than
parameters) raises `UserError` with a message naming the column and what would be valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.accounting import compute, tokens_for_compute
from scaling.errors import UserError
from scaling.fit.laws import Law
from scaling.fit.objective import OBJECTIVES

COLUMN_MEANING = {
    "n": "parameters N",
    "d": "training tokens D",
    "c": "training compute C (FLOPs)",
    "u": "unique tokens U",
    "x": "the power law's input x",
}


@dataclass
class Problem:
    """A law, its prepared data and the observed losses: everything an estimator needs, nothing else."""

    law: Law
    cols: dict[str, np.ndarray]
    data: dict[str, np.ndarray]
    loss: np.ndarray
    weights: np.ndarray | None
    groups: np.ndarray | None
    fixed: dict[int, float]
    delta: float
    conventions: dict[str, str] = field(default_factory=dict)
    objective: str = "huber-log"  # a key of scaling.fit.objective.OBJECTIVES

    @property
    def n_points(self) -> int:
        """Number of observations."""
        return int(self.loss.size)

    @property
    def log_loss(self) -> np.ndarray:
        """log of the observed losses (the fits work on log residuals)."""
        return np.log(self.loss)

    def subset(self, mask: np.ndarray) -> Problem:
        """The same problem on a subset of rows (backtests, suggestions)."""
        cols = {k: v[mask] for k, v in self.cols.items()}
        return Problem(
            law=self.law,
            cols=cols,
            data=self.law.prepare(cols),
            loss=self.loss[mask],
            weights=None if self.weights is None else self.weights[mask],
            groups=None if self.groups is None else self.groups[mask],
            fixed=dict(self.fixed),
            delta=self.delta,
            conventions=dict(self.conventions),
            objective=self.objective,
        )


def _as_column(name: str, values: Any, n_rows: int | None) -> np.ndarray:
    """A 1-d float array, or UserError naming the column when it is not numeric, finite and positive."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"column {name!r} must be numeric") from None
    if n_rows is not None and arr.size != n_rows:
        raise UserError(f"column {name!r} has {arr.size} values but loss has {n_rows}")
    bad_nan = ~np.isfinite(arr)
    if bad_nan.any():
        i = int(np.flatnonzero(bad_nan)[0])
        raise UserError(
            f"column {name!r} has {int(bad_nan.sum())} NaN or infinite value(s) (first at row {i}); "
            "drop or fill those rows"
        )
    bad = arr <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"column {name!r} must be positive; {int(bad.sum())} value(s) are <= 0 (first at row {i}: {arr[i]:g})"
        )
    return arr


def _finite_column(name: str, values: Any, n_rows: int) -> np.ndarray:
    """A 1-d float array of finite values (no sign constraint), or UserError naming the column."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"column {name!r} must be numeric") from None
    if arr.size != n_rows:
        raise UserError(f"column {name!r} has {arr.size} values but loss has {n_rows}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"column {name!r} has NaN or infinite values; drop or fill those rows")
    return arr


def build_problem(
    law: Law,
    *,
    loss: Any,
    n: Any = None,
    d: Any = None,
    c: Any = None,
    u: Any = None,
    x: Any = None,
    weights: Any = None,
    groups: Any = None,
    fixed: Mapping[str, float] | None = None,
    delta: float = 1e-3,
    names: Mapping[str, str] | None = None,
    columns: Mapping[str, Any] | None = None,
    objective: str = "huber-log",
) -> Problem:
    """Validate columns for `law`, derive D = C/(6N) or C = 6ND where needed, and record the conventions.

    n, d, c, u, x must be positive; other inputs a law declares (e.g. a compression law's sparsity `s`) come
    in `columns` and must be finite.
    """
    names = dict(names or {})
    label = lambda k: names.get(k, k)  # noqa: E731  (the user's column name in messages)
    if loss is None:
        raise UserError("no loss column given")
    y = _as_column(label("loss"), loss, None)
    given = {k: v for k, v in {"n": n, "d": d, "c": c, "u": u, "x": x}.items() if v is not None}
    cols = {k: _as_column(label(k), v, y.size) for k, v in given.items()}
    for k, v in (columns or {}).items():
        if v is not None and k not in cols:
            cols[k] = _as_column(label(k), v, y.size) if k in COLUMN_MEANING else _finite_column(label(k), v, y.size)
    conventions: dict[str, str] = {}
    for k in cols:
        conventions[k.upper()] = f"column {label(k)!r} ({COLUMN_MEANING.get(k, 'law input ' + k)})"
    needed = list(law.inputs)
    if "d" in needed and "d" not in cols and "c" in cols and "n" in cols:
        cols["d"] = tokens_for_compute(cols["c"], cols["n"])
        conventions["D"] = f"C / (6 N) from columns {label('c')!r} and {label('n')!r}"
    if "c" in needed and "c" not in cols and "n" in cols and "d" in cols:
        cols["c"] = compute(cols["n"], cols["d"])
        conventions["C"] = f"6 N D from columns {label('n')!r} and {label('d')!r}"
    if law.name == "gadre" and "C" not in conventions:
        conventions["C"] = "6 N D (the law's own definition, M = D / N)"
    missing = [k for k in needed if k not in cols]
    if missing:
        hints = {
            "d": "give D, or C together with N (D = C / (6N))",
            "c": "give C, or N and D (C = 6ND)",
        }
        detail = "; ".join(
            f"{k.upper()} ({COLUMN_MEANING.get(k, 'law input ' + k)}): {hints.get(k, 'give the column')}"
            for k in missing
        )
        raise UserError(f"law {law.name!r} needs columns {[k.upper() for k in needed]}; missing {detail}")
    cols = {k: cols[k] for k in needed}
    fixed_idx: dict[int, float] = {}
    for pname, value in (fixed or {}).items():
        matches = [j for j, co in enumerate(law.coords) if co.param == pname]
        if not matches:
            raise UserError(f"cannot fix {pname!r}: law {law.name!r} fits {[co.param for co in law.coords]}")
        j = matches[0]
        v = float(value)
        if law.coords[j].log:
            if v <= 0:
                raise UserError(f"fixed parameter {pname!r} must be positive, got {v}")
            v = float(np.log(v))
        fixed_idx[j] = v
    n_free = law.n_params - len(fixed_idx)
    if y.size <= n_free:
        raise UserError(
            f"law {law.name!r} has {n_free} free parameters but only {y.size} points were given; "
            f"a fit needs more points than parameters (at least {n_free + 1})"
        )
    for k in ("n", "d", "x", "c"):
        if k in cols and k in needed and np.unique(cols[k]).size < 2:
            raise UserError(
                f"column {label(k)!r} ({COLUMN_MEANING[k]}) has a single value ({cols[k][0]:g}); "
                f"law {law.name!r} needs at least two distinct values to fit its {k.upper()} exponent"
            )
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.size != y.size or not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise UserError("weights must be one finite, non-negative value per point, not all zero")
    g = None
    if groups is not None:
        g = np.asarray(groups).reshape(-1)
        if g.size != y.size:
            raise UserError(f"groups has {g.size} labels but loss has {y.size} values")
    if not np.isfinite(delta) or delta <= 0:
        raise UserError(f"Huber delta must be positive, got {delta}")
    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return Problem(
        law=law,
        cols=cols,
        data=law.prepare(cols),
        loss=y,
        weights=w,
        groups=g,
        fixed=fixed_idx,
        delta=float(delta),
        conventions=conventions,
        objective=objective,
    )

