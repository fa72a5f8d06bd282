"""The points table: one row per finished run (trial or WSD branch endpoint), and the conventions that read it.

Every consumer of a sweep's results (the fit stage, every figure, compression's selection) reads this table, so
they agree on N, D, C and on which points share an IsoFLOP budget. `scaling.results` builds it from a store or a
CSV; this module is numpy only, so `scaling fit` on a CSV never imports JAX.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from scaling.accounting import compute
from scaling.errors import UserError
from scaling.fit.approaches import BUDGET_TOL_DEX, group_budgets

ParamConvention = Literal["non_embedding", "total"]
ComputeConvention = Literal["6nd", "exact"]
SEED_AXES = ("seed",)  # settings that are replicates of one point, not choices to optimise over
DATA_AXIS_PREFIX = "data."  # data axes (quality level, unique tokens) make distinct points, never a best choice
ISOFLOP = "isoflop"  # the budget kind whose points share a compute budget by construction


@dataclass(frozen=True)
class Conventions:
    """Which N, which C and which loss a fit used; every figure's axes and the report say them."""

    params: ParamConvention = "non_embedding"
    compute: ComputeConvention = "6nd"
    loss: str = "val_loss"
    source: str = "store"  # or the CSV's own words for its columns
    params_as_given: bool = False  # a CSV's N: whatever its author counted

    def n_label(self) -> str:
        return "N (parameters, as given)" if self.params_as_given else f"N ({self.params.replace('_', '-')} parameters)"

    def c_label(self) -> str:
        return "C = 6ND (FLOPs)" if self.compute == "6nd" else "C, exact training FLOPs (attention, LM head)"

    def describe(self) -> str:
        """One line for reports: `N = non-embedding parameters, D = tokens, C = 6ND, loss = val_loss`."""
        c = "6ND" if self.compute == "6nd" else "exact training FLOPs"
        n = "parameters as given" if self.params_as_given else f"{self.params.replace('_', '-')} parameters"
        return f"N = {n}, D = training tokens, C = {c}, loss = {self.loss} ({self.source})"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conventions:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


DEFAULT_CONVENTIONS = Conventions()


@dataclass(frozen=True)
class ResultRow:
    """One finished run, or (after `best_per_point`) the best setting of one (size, budget) with seeds averaged."""

    trial: str
    label: str
    size: str
    budget: str
    n_total: float
    n_non_embedding: float
    d: float
    loss: float
    c_exact: float | None = None
    budget_value: float | None = None
    budget_kind: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    replicates: int = 1

    def n(self, params: ParamConvention) -> float:
        return self.n_non_embedding if params == "non_embedding" else self.n_total

    @property
    def data_settings(self) -> dict[str, Any]:
        """The row's data axes (e.g. `data.quality.corruption_rate`, `data.unique_tokens`): part of its point."""
        return {k: v for k, v in self.settings.items() if k.startswith(DATA_AXIS_PREFIX)}

    def c(self, conv: Conventions) -> float:
        """Training compute under `conv`: 6 N D with its N, or the exact FLOPs the store recorded."""
        if conv.compute == "exact":
            if self.c_exact is None:
                raise UserError(f"point {self.label!r} has no exact FLOP count; use compute: 6nd")
            return float(self.c_exact)
        return float(compute(self.n(conv.params), self.d))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PointsTable:
    """Rows of finished runs with the conventions they are read under; arrays come out in row order."""

    rows: tuple[ResultRow, ...]
    conventions: Conventions = DEFAULT_CONVENTIONS

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ResultRow]:
        return iter(self.rows)

    def with_conventions(self, conv: Conventions) -> PointsTable:
        return replace(self, conventions=conv)

    # ---- columns --------------------------------------------------------------------------------------------
    @property
    def n(self) -> np.ndarray:
        return np.array([r.n(self.conventions.params) for r in self.rows], dtype=np.float64)

    @property
    def d(self) -> np.ndarray:
        return np.array([r.d for r in self.rows], dtype=np.float64)

    @property
    def c(self) -> np.ndarray:
        return np.array([r.c(self.conventions) for r in self.rows], dtype=np.float64)

    @property
    def loss(self) -> np.ndarray:
        return np.array([r.loss for r in self.rows], dtype=np.float64)

    @property
    def weight(self) -> np.ndarray:
        return np.array([r.weight for r in self.rows], dtype=np.float64)

    def flops_per_param_token(self) -> np.ndarray:
        """C / (N D) per row under the conventions: 6 for `6nd`, the model's own ratio for `exact`."""
        return self.c / (self.n * self.d)

    # ---- the one budget rule --------------------------------------------------------------------------------
    def budget_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(group label per row, compute per group) for IsoFLOP profiles; the one rule every consumer uses.

        Rows planned on an IsoFLOP budget share it by construction (rounding to whole steps moves their C a
        little): they are grouped by that budget. Other rows (token ladders, CSVs) are grouped by C within
        BUDGET_TOL_DEX decades. A group's compute is the geometric mean of its rows' C under the conventions.
        """
        if not self.rows:
            return np.zeros(0, dtype=int), np.zeros(0)
        c = self.c
        if all(r.budget_kind == ISOFLOP and r.budget_value for r in self.rows):
            keys = sorted({r.budget_value for r in self.rows})
            labels = np.array([keys.index(r.budget_value) for r in self.rows])
        else:
            labels, _ = group_budgets(c, BUDGET_TOL_DEX)
        groups = np.array([np.exp(np.mean(np.log(c[labels == k]))) for k in range(int(labels.max()) + 1)])
        return labels, groups

    def budget_compute(self) -> np.ndarray:
        """Each row's IsoFLOP group compute (what approach 2 is given as `flops`)."""
        labels, groups = self.budget_groups()
        return groups[labels]

    def isoflop_groups(self, min_sizes: int = 3) -> list[tuple[float, list[int]]]:
        """(group compute, row indices) for the groups with at least `min_sizes` distinct N, by compute."""
        labels, groups = self.budget_groups()
        n = self.n
        out = []
        for k, c in enumerate(groups):
            idx = [int(i) for i in np.flatnonzero(labels == k)]
            if len({n[i] for i in idx}) >= min_sizes:
                out.append((float(c), idx))
        return sorted(out)

    # ---- reductions -----------------------------------------------------------------------------------------
    def best_per_point(self) -> PointsTable:
        """One row per (size, budget, D): the setting with the lowest mean loss over its seeds, seeds averaged.

        Replicate weights are 1/(variance of the mean), normalised to mean 1, with the variance floored at the
        median variance so one lucky pair of seeds cannot dominate the fit; points without replicates weigh 1.
        """
        best = [min(group, key=lambda s: s.loss) for group in self._points_by_setting().values()]
        variances = [s.var_of_mean for s in best if s.replicates > 1]
        floor = float(np.median(variances)) if variances else 0.0
        rows = []
        for s in best:
            var = max(s.var_of_mean, floor) if s.replicates > 1 and floor > 0 else None
            rows.append(replace(s.representative, loss=s.loss, weight=1.0 / var if var else 1.0,
                                replicates=s.replicates))
        if rows:
            mean_w = float(np.mean([r.weight for r in rows]))
            rows = [replace(r, weight=r.weight / mean_w) for r in rows]
        rows.sort(key=lambda r: (r.n(self.conventions.params), r.d))
        return replace(self, rows=tuple(rows))

    def per_setting(self) -> list[SettingMean]:
        """Every (size, budget, D, setting) with its seeds averaged: the candidates an lr or batch law reads."""
        return [s for group in self._points_by_setting().values() for s in group]

    def _points_by_setting(self) -> dict[tuple, list[SettingMean]]:
        by_point: dict[tuple, dict[str, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
        for r in self.rows:
            chosen = {k: v for k, v in r.settings.items() if k not in SEED_AXES}
            by_point[(r.size, r.budget, r.d, json.dumps(r.data_settings, sort_keys=True))][
                json.dumps(chosen, sort_keys=True)].append(r)
        return {key: [SettingMean.of(runs, self.conventions.params) for runs in settings.values()]
                for key, settings in by_point.items()}

    # ---- serialisation --------------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """Rows as plain dicts, with N and C under the conventions added for readers of the JSON."""
        return [{**r.to_dict(), "N": r.n(self.conventions.params), "C": r.c(self.conventions)} for r in self.rows]

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], conventions: Conventions) -> PointsTable:
        names = ResultRow.__dataclass_fields__
        return cls(tuple(ResultRow(**{k: v for k, v in r.items() if k in names}) for r in records), conventions)


@dataclass(frozen=True)
class SettingMean:
    """One setting of the non-structural axes at one (size, budget): its seeds' mean loss and their spread."""

    representative: ResultRow  # the seed with the lowest loss (its trial id names the point)
    loss: float
    replicates: int
    var_of_mean: float
    n: float

    @classmethod
    def of(cls, runs: list[ResultRow], params: ParamConvention) -> SettingMean:
        losses = np.array([r.loss for r in runs], dtype=np.float64)
        var = float(np.var(losses, ddof=1)) / len(losses) if len(losses) > 1 else 0.0
        rep = runs[int(np.argmin(losses))]
        return cls(rep, float(losses.mean()), len(runs), var, rep.n(params))

    @property
    def setting(self) -> dict[str, Any]:
        return {k: v for k, v in self.representative.settings.items() if k not in SEED_AXES}
