"""One result object per fit: parameters, intervals, objective, convergence facts, conventions, procedure.

Like scipy's OptimizeResult it prints as an aligned listing and serialises (`to_dict`, `to_json`); nothing about
a fit lives anywhere else. The bootstrap samples stay on the object (`bootstrap_samples`) but out of the JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.fit.laws import Law

CONFIDENCE = 0.95


@dataclass
class FitResult:
    """A fitted law: what it found, how sure it is, how it got there, and how to use it (`predict`)."""

    law: str
    method: str
    params: dict[str, float]
    objective: float
    n_points: int
    converged: bool
    message: str
    grad_norm: float
    n_starts: int
    n_at_best: int
    conventions: dict[str, str]
    procedure: dict[str, Any]
    derived: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)
    standard_errors: dict[str, float] = field(default_factory=dict)
    scale: float | None = None  # the Huber likelihood's sigma (ml only)
    target_flops: float | None = None
    backtest: dict[str, Any] | None = None
    bootstrap_samples: dict[str, np.ndarray] | None = field(default=None, repr=False)
    law_obj: Law | None = field(default=None, repr=False)

    # --- use ------------------------------------------------------------------------------------------------
    def predict(self, **columns: Any) -> np.ndarray:
        """Predicted loss at the given columns (n=, d=, c=, u=, x=); D = C/(6N) when only C is given."""
        from scaling.accounting import compute, tokens_for_compute
        from scaling.fit.registry import get_law

        law = self.law_obj or get_law(self.law)
        cols = {k: v for k, v in columns.items() if v is not None}
        if "d" in law.inputs and "d" not in cols and "c" in cols and "n" in cols:
            cols["d"] = tokens_for_compute(cols["c"], cols["n"])
        if "c" in law.inputs and "c" not in cols and "n" in cols and "d" in cols:
            cols["c"] = compute(cols["n"], cols["d"])
        return law.predict(self.params, **cols)

    @property
    def x(self) -> dict[str, float]:
        """The fitted parameters (scipy's name for them)."""
        return self.params

    # --- serialisation ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: law, method, params, intervals (95%), objective, n_points, converged, ..."""
        out: dict[str, Any] = {
            "law": self.law,
            "method": self.method,
            "params": json_safe(self.params),
            "intervals": json_safe(self.intervals),
            "standard_errors": json_safe(self.standard_errors),
            "objective": json_safe(self.objective),
            "n_points": self.n_points,
            "converged": bool(self.converged),
            "message": self.message,
            "grad_norm": json_safe(self.grad_norm),
            "n_starts": self.n_starts,
            "n_starts_at_best": self.n_at_best,
            "derived": json_safe(self.derived),
            "target_flops": json_safe(self.target_flops),
            "conventions": dict(self.conventions),
            "procedure": json_safe(self.procedure),
        }
        if self.scale is not None:
            out["scale"] = json_safe(self.scale)
        if self.backtest is not None:
            out["backtest"] = json_safe(self.backtest)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], samples: Mapping[str, Any] | None = None) -> FitResult:
        """The inverse of `to_dict` (JSON's None stands for a non-finite number); `samples` restores the bootstrap."""
        num = lambda v: float("nan") if v is None else float(v)  # noqa: E731
        return cls(
            law=data["law"], method=data["method"], params={k: num(v) for k, v in data["params"].items()},
            objective=num(data["objective"]), n_points=int(data["n_points"]), converged=bool(data["converged"]),
            message=data["message"], grad_norm=num(data["grad_norm"]), n_starts=int(data["n_starts"]),
            n_at_best=int(data["n_starts_at_best"]), conventions=dict(data["conventions"]),
            procedure=dict(data["procedure"]), derived={k: num(v) for k, v in data["derived"].items()},
            intervals={k: [num(x) for x in v] for k, v in data["intervals"].items() if v is not None},
            standard_errors={k: num(v) for k, v in data["standard_errors"].items()},
            scale=data.get("scale"), target_flops=data.get("target_flops"), backtest=data.get("backtest"),
            bootstrap_samples=None if not samples else {
                k: np.array([num(x) for x in v], dtype=np.float64) for k, v in samples.items()},
        )

    def samples_to_dict(self) -> dict[str, list[float | None]] | None:
        """The bootstrap replicates as JSON-ready lists (None for non-finite), or None without a bootstrap."""
        return None if self.bootstrap_samples is None else json_safe(self.bootstrap_samples)

    def to_json(self, **kwargs: Any) -> str:
        """`to_dict()` as a JSON string (kwargs go to json.dumps)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        lines = [f"{self.law} fit ({self.method}) on {self.n_points} points"]
        width = max([len(k) for k in (*self.params, *self.derived)] + [10])
        lines.append("  parameters:")
        for name, value in self.params.items():
            lines.append(f"    {name:>{width}} = {_fmt(value)}{_interval_text(self.intervals.get(name))}")
        if self.derived:
            lines.append("  derived" + (f" (at C = {self.target_flops:.3g} FLOPs)" if self.target_flops else "") + ":")
            for name, value in self.derived.items():
                lines.append(f"    {name:>{width}} = {_fmt(value)}{_interval_text(self.intervals.get(name))}")
        facts = {
            "objective": _fmt(self.objective),
            "converged": f"{self.converged} ({self.message})",
            "grad_norm": _fmt(self.grad_norm),
            "starts": f"{self.n_at_best} of {self.n_starts} reached the best objective",
        }
        if self.scale is not None:
            facts["scale"] = _fmt(self.scale)
        for k, v in self.conventions.items():
            facts[k] = v
        w = max(len(k) for k in facts)
        lines.extend(f"  {k:>{w}}: {v}" for k, v in facts.items())
        return "\n".join(lines)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"FitResult(law={self.law!r}, method={self.method!r}, {params}, objective={_fmt(self.objective)})"


def _fmt(v: Any) -> str:
    """Six significant figures, plain."""
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def _interval_text(iv: Any) -> str:
    return "" if not iv else f"   [{_fmt(iv[0])}, {_fmt(iv[1])}]"


def json_safe(v: Any) -> Any:
    """numpy scalars/arrays to plain Python; NaN and infinities to None (JSON has neither): what every JSON
    writer of fit results (and the compression stage) passes its data through."""
    if isinstance(v, Mapping):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return [json_safe(x) for x in v.tolist()]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v
