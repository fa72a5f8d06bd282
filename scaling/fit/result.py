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


@dataclass(frozen=True)
class Prediction:
    """A predicted loss with its bootstrap percentile interval: arrays shaped like the inputs."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    replicates: int  # finite bootstrap replicates the interval was taken over

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"point": self.point, "interval": [self.lower, self.upper], "level": self.level,
                          "replicates": self.replicates})


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
    def predict(self, interval: float | None = None, **columns: Any) -> np.ndarray | Prediction:
        """Predicted loss at the given columns (n=, d=, c=, u=, x=); D = C/(6N) when only C is given.

        With `interval` (e.g. 0.95) a `Prediction`: the point and the bootstrap percentile interval of the
        prediction itself (every replicate's law evaluated there), which needs a fit with `bootstrap` > 0.
        """
        from scaling.accounting import compute, tokens_for_compute
        from scaling.fit.registry import get_law

        law = self.law_obj or get_law(self.law)
        cols = {k: v for k, v in columns.items() if v is not None}
        if "d" in law.inputs and "d" not in cols and "c" in cols and "n" in cols:
            cols["d"] = tokens_for_compute(cols["c"], cols["n"])
        if "c" in law.inputs and "c" not in cols and "n" in cols and "d" in cols:
            cols["c"] = compute(cols["n"], cols["d"])
        point = law.predict(self.params, **cols)
        if interval is None:
            return point
        return self._prediction_interval(law, point, cols, float(interval))

    def _prediction_interval(self, law: Law, point: np.ndarray, cols: dict[str, Any], level: float) -> Prediction:
        from scaling.errors import UserError

        if not 0 < level < 1:
            raise UserError(f"interval must be a probability between 0 and 1 (e.g. 0.95), got {level}")
        if not self.bootstrap_samples:
            raise UserError("a prediction interval needs the bootstrap replicates: fit with bootstrap > 0 "
                            "(a fit read back from JSON keeps them only where its samples were saved)")
        samples = self.bootstrap_samples
        names = list(self.params)
        K = len(np.asarray(samples[names[0]]))
        theta_KP = np.array([law.from_params({k: float(np.asarray(samples[k])[i]) for k in names}) for i in range(K)])
        theta_KP = theta_KP[np.all(np.isfinite(theta_KP), axis=1)]
        shape = point.shape
        flat = {k: np.broadcast_to(np.asarray(cols[k], dtype=np.float64), shape).ravel() for k in law.inputs}
        with np.errstate(over="ignore", invalid="ignore"):
            log_pred_KM, _ = law.log_predict(theta_KP, law.prepare(flat))
        pred_KM = np.exp(log_pred_KM)
        pred_KM = pred_KM[np.all(np.isfinite(pred_KM), axis=1)]
        if not len(pred_KM):
            raise UserError("no bootstrap replicate gives a finite prediction here")
        tail = 100 * (1 - level) / 2
        lower, upper = np.percentile(pred_KM, [tail, 100 - tail], axis=0)
        return Prediction(point, lower.reshape(shape), upper.reshape(shape), level, int(len(pred_KM)))

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
