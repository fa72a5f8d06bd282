"""A design check's prior from an earlier fit: the Chinchilla constants a run directory's fit report holds,
and the noise its points showed around that law (the RMS residual in nats, which includes any misfit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scaling.errors import UserError
from scaling.fit.report import FIT_REPORT_FILE, FitReport

PRIOR_LAW = "chinchilla"


@dataclass
class Prior:
    """Constants to simulate from, the residual noise measured with them, and where they came from."""

    params: dict[str, float]
    noise: float
    source: str


def prior_from_fit(path: str | Path) -> Prior:
    """The Chinchilla law and its residual RMS from RUN_DIR/fit.json (or a fit.json path): UserError naming the
    file when there is none or it has no Chinchilla law."""
    path = Path(path)
    run_dir = path.parent if path.name == FIT_REPORT_FILE else path
    report = FitReport.read(run_dir)
    if report is None:
        raise UserError(f"--prior: {run_dir / FIT_REPORT_FILE} does not exist; give a run directory that was "
                        "fitted (`scaling fit RUN_DIR`) or its fit.json")
    law = report.laws.get(PRIOR_LAW)
    if law is None:
        raise UserError(f"--prior: {run_dir / FIT_REPORT_FILE} has no {PRIOR_LAW} law (it has "
                        f"{', '.join(report.laws) or 'none'}); fit one with `scaling fit RUN_DIR --law chinchilla`")
    points = report.points
    residual = np.asarray(points.loss, float) - law.predict(n=points.n, d=points.d)
    return Prior(params={k: float(law.params[k]) for k in ("E", "A", "B", "alpha", "beta")},
                 noise=float(np.sqrt(np.mean(residual**2))), source=str(run_dir / FIT_REPORT_FILE))
