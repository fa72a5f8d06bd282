"""A fitted loss-curve law: its constants (natural units), bootstrap intervals, the procedure, and `predict`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.fit.bootstrap import percentile_intervals, standard_errors
from scaling.fit.curves.curve import Curve
from scaling.fit.curves.laws import CurveLaw
from scaling.fit.result import json_safe


@dataclass
class CurveFitResult:
    """What a curve-law fit found and how; `predict(lr)` gives the loss curve of any learning-rate history."""

    law: str
    params: dict[str, float]
    objective: float
    n_points: int
    n_curves: int
    curves: list[dict[str, Any]]
    converged: bool
    message: str
    n_starts: int
    n_at_best: int
    rms_residual: float
    procedure: dict[str, Any]
    intervals: dict[str, list[float]] = field(default_factory=dict)
    standard_errors: dict[str, float] = field(default_factory=dict)
    bootstrap_samples: dict[str, np.ndarray] | None = field(default=None, repr=False)
    law_obj: CurveLaw | None = field(default=None, repr=False)

    @classmethod
    def build(cls, *, law: CurveLaw, theta: np.ndarray, eta_ref: float, curves: list[Curve], cost: float,
              converged: bool, message: str, n_starts: int, n_at_best: int, rms_residual: float,
              samples: dict[str, np.ndarray] | None, procedure: dict[str, Any]) -> CurveFitResult:
        """The result of `fit_curves`: natural-unit parameters from the fitting coordinates."""
        return cls(
            law=law.name, params=law.to_natural(theta, eta_ref), objective=cost,
            n_points=int(sum(c.steps.size for c in curves)), n_curves=len(curves),
            curves=[{"name": c.name, "schedule": c.schedule, "group": c.group, "steps": c.total_steps,
                     "points": int(c.steps.size), **c.notes} for c in curves],
            converged=converged, message=message, n_starts=n_starts, n_at_best=n_at_best,
            rms_residual=rms_residual, procedure=procedure,
            intervals=percentile_intervals(samples) if samples else {},
            standard_errors=standard_errors(samples) if samples else {},
            bootstrap_samples=samples, law_obj=law,
        )

    def predict(self, lr: Any, steps: Any = None) -> np.ndarray:
        """The loss after each of `steps` (default every update 1..T) of the learning-rate history `lr` (T,)."""
        from scaling.fit.curves.laws import get_curve_law

        law = self.law_obj or get_curve_law(self.law, **_law_options(self.procedure))
        return law.predict(self.params, lr, steps)

    def predict_curve(self, curve: Curve) -> np.ndarray:
        """The loss at a curve's own observed steps, from its own learning-rate history."""
        return self.predict(curve.lr, curve.steps)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (non-finite numbers as None); the bootstrap samples stay out."""
        return json_safe({
            "law": self.law, "params": self.params, "intervals": self.intervals,
            "standard_errors": self.standard_errors, "objective": self.objective, "n_points": self.n_points,
            "n_curves": self.n_curves, "curves": self.curves, "converged": self.converged,
            "message": self.message, "n_starts": self.n_starts, "n_starts_at_best": self.n_at_best,
            "rms_residual": self.rms_residual, "procedure": self.procedure,
        })

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        lines = [f"{self.law} curve law on {self.n_curves} curves ({self.n_points} points), "
                 f"objective {self.procedure.get('objective')}"]
        for name, value in self.params.items():
            iv = self.intervals.get(name)
            lines.append(f"  {name:>6} = {value:.6g}" + (f"   [{iv[0]:.6g}, {iv[1]:.6g}]" if iv else ""))
        lines.append(f"  rms residual {self.rms_residual:.4g}; {self.n_at_best} of {self.n_starts} starts reached "
                     f"the best; converged {self.converged} ({self.message})")
        return "\n".join(lines)


def _law_options(procedure: dict[str, Any]) -> dict[str, Any]:
    """Constructor options of the law from a recorded procedure (a result read back from JSON)."""
    settings = procedure.get("law_settings") or {}
    return {"decay": settings["lambda"]} if "lambda" in settings else dict(settings)
