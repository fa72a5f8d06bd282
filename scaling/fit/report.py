"""The fit report: everything the fit stage concluded about a sweep, as one typed object with a schema version.

`FitReport.write(run_dir)` and `FitReport.read(run_dir)` are the only code that touches RUN_DIR/fit.json; the
compression stage, the figures and the report read the object, never the dict. Bootstrap replicates travel with
their laws, so a consumer (compression's effective-parameter intervals) uses the fit's own draws.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scaling.errors import UserError
from scaling.fit.allocation import OptimalRow
from scaling.fit.approaches import EnvelopeResult, IsoflopResult
from scaling.fit.backtest import BacktestResult
from scaling.fit.data_levels import QualityFit
from scaling.fit.hyper_laws import HyperLaws
from scaling.fit.points import Conventions, PointsTable
from scaling.fit.result import FitResult, json_safe

FIT_REPORT_FILE = "fit.json"
SCHEMA_VERSION = 3
ND_LAWS = ("chinchilla", "chinchilla_tied")  # the laws the compute-optimal table is read from, in preference


@dataclass
class FitReport:
    """Fitted laws, the points they were fitted to (under `points.conventions`), the three approaches, the
    compute-optimal table, the backtest, the hyperparameter laws, what could not be fitted and the settings that
    made it."""

    points: PointsTable
    laws: dict[str, FitResult] = field(default_factory=dict)
    compute_optimal: list[OptimalRow] = field(default_factory=list)
    isoflop: IsoflopResult | None = None
    envelope: EnvelopeResult | None = None
    backtest: BacktestResult | None = None
    hyper: HyperLaws | None = None  # lr* and B* laws, when the sweep varies lr or batch size
    quality: QualityFit | None = None  # the quality law over every data-quality level (then `points` is level 0)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # law -> why it may not be identified
    settings: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # the fit's version in the store's fit history (None: not recorded there)

    @property
    def conventions(self) -> Conventions:
        return self.points.conventions

    def primary_law(self) -> FitResult | None:
        """The law the compute-optimal table comes from (chinchilla first), else the first fitted law."""
        for name in ND_LAWS:
            if name in self.laws:
                return self.laws[name]
        return next(iter(self.laws.values()), None)

    def c_max(self) -> float:
        """The largest trained compute under the report's conventions."""
        return float(self.points.c.max()) if len(self.points) else math.nan

    # ---- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "fit_version": self.version,
            "conventions": self.conventions.to_dict(),
            "settings": json_safe(self.settings),
            "points": self.points.to_records(),
            "laws": {name: r.to_dict() for name, r in self.laws.items()},
            "bootstrap_samples": {name: r.samples_to_dict() for name, r in self.laws.items()
                                  if r.bootstrap_samples is not None},
            "compute_optimal": [r.to_dict() for r in self.compute_optimal],
            "isoflop": None if self.isoflop is None else self.isoflop.to_dict(),
            "envelope": None if self.envelope is None else self.envelope.to_dict(),
            "backtest": None if self.backtest is None else self.backtest.to_dict(),
            "hyper": None if self.hyper is None else json_safe(self.hyper.to_dict()),
            "quality": None if self.quality is None else json_safe(self.quality.to_dict()),
            "errors": dict(self.errors),
            "warnings": {k: list(v) for k, v in self.warnings.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = FIT_REPORT_FILE) -> FitReport:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(f"{source}: fit report schema {version!r}, this version reads {SCHEMA_VERSION}; "
                            "re-run the fit stage (`scaling fit RUN_DIR`) to rewrite it")
        conv = Conventions.from_dict(data["conventions"])
        samples = data.get("bootstrap_samples") or {}
        opt = lambda key, kind: None if data.get(key) is None else kind.from_dict(data[key])  # noqa: E731
        return cls(
            points=PointsTable.from_records(data["points"], conv),
            laws={name: FitResult.from_dict(r, samples.get(name)) for name, r in data["laws"].items()},
            compute_optimal=[OptimalRow.from_dict(r) for r in data["compute_optimal"]],
            isoflop=opt("isoflop", IsoflopResult), envelope=opt("envelope", EnvelopeResult),
            backtest=opt("backtest", BacktestResult), hyper=opt("hyper", HyperLaws),
            quality=None if data.get("quality") is None else QualityFit.from_dict(data["quality"], conv),
            errors=dict(data.get("errors") or {}),
            warnings={k: list(v) for k, v in (data.get("warnings") or {}).items()},
            settings=dict(data.get("settings") or {}), version=data.get("fit_version"),
        )

    def write(self, run_dir: Path) -> Path:
        """RUN_DIR/fit.json, replaced atomically (a crash leaves the old report or the new, never half of one)."""
        path = Path(run_dir) / FIT_REPORT_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=_jsonable))
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, run_dir: Path) -> FitReport | None:
        """RUN_DIR/fit.json, or None when the fit stage has not written one; UserError when it is unreadable."""
        path = Path(run_dir) / FIT_REPORT_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable fit report ({exc}); re-run `scaling fit {run_dir}`") from None
        return cls.from_dict(data, str(path))

    def summary(self) -> str:
        """One line: the points and conventions, each law's parameters, the largest in-range optimum, errors."""
        parts = [f"{len(self.points)} points ({self.conventions.describe()})"]
        for name, result in self.laws.items():
            params = ", ".join(f"{k}={v:.4g}" for k, v in result.params.items() if np.isfinite(v))
            parts.append(f"{name}: {params}")
        inside = [r for r in self.compute_optimal if not r.extrapolated]
        if inside:
            top = inside[-1]
            parts.append(f"at C={top.C:.3g} (largest trained): N_opt={top.N_opt:.3g}, D_opt={top.D_opt:.3g}")
        if self.hyper is not None:
            parts.append(f"hyperparameters: {self.hyper.describe()}")
        if self.quality is not None:
            q = ", ".join(f"{m['level']}: q={m['q']:.3g}" for m in self.quality.multipliers()[1:])
            parts.append(f"data quality ({len(self.quality.names)} levels, N x D laws on {self.quality.names[0]}): "
                         + (q if self.quality.result is not None else f"not fitted ({self.quality.error})"))
        for law, warnings in self.warnings.items():
            parts.append(f"WARNING {law} not identified: " + "; ".join(warnings))
        if self.errors:
            parts.append("not fitted: " + "; ".join(f"{k}: {v}" for k, v in self.errors.items()))
        return "; ".join(parts)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
