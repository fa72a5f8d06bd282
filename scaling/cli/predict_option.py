"""`scaling fit ... --predict N=7e9,D=1.4e12`: parse the points, and the fitted law's loss there with its interval."""

from __future__ import annotations

import math
from typing import Any

from scaling.errors import UserError

PREDICT_INPUTS = ("n", "d", "c", "u", "x")
PREDICT_HELP = ("predict the loss at a point, e.g. N=7e9,D=1.4e12 (or N=..,C=..); with a 95% bootstrap interval "
                "when the fit bootstraps (repeatable)")


def parse_points(specs: list[str]) -> list[dict[str, float]]:
    """One {input: value} per --predict; UserError naming the option, the item and what would be valid."""
    points = []
    for spec in specs:
        point: dict[str, float] = {}
        for item in (part.strip() for part in spec.split(",")):
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or key not in PREDICT_INPUTS:
                raise UserError(f"--predict {spec!r}: {item!r} is not NAME=VALUE with NAME one of "
                                f"{', '.join(k.upper() for k in PREDICT_INPUTS)} (e.g. N=7e9,D=1.4e12)")
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number <= 0:
                raise UserError(f"--predict {spec!r}: {key.upper()} must be a positive number, got {value!r}")
            point[key] = number
        points.append(point)
    return points


def predictions(result: Any, points: list[dict[str, float]]) -> list[dict[str, Any]]:
    """The law's loss at each point, with its 95% interval when the fit kept bootstrap replicates."""
    out = []
    for point in points:
        try:
            if result.bootstrap_samples:
                pred = result.predict(interval=0.95, **point)
                out.append({"at": point, "loss": float(pred.point), "interval": [float(pred.lower), float(pred.upper)]})
            else:
                out.append({"at": point, "loss": float(result.predict(**point)), "interval": None})
        except UserError as exc:
            raise UserError(f"--predict {_label(point)}: {exc}") from None
    return out


def print_predictions(law: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        iv = row["interval"]
        text = f" [{iv[0]:.4g}, {iv[1]:.4g}] (95% bootstrap)" if iv else " (no interval: fit with --bootstrap K)"
        print(f"{law} at {_label(row['at'])}: loss {row['loss']:.4g}{text}")


def _label(point: dict[str, float]) -> str:
    return ",".join(f"{k.upper()}={v:.3g}" for k, v in point.items())
