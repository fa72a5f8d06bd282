"""Final (N, D, C, loss) points from a CSV file, for `scaling plot FILE` (column names matched loosely)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from scaling.errors import UserError

# Accepted spellings of each column (lower-cased, spaces and dashes as underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("n", "params", "parameters", "model_size", "num_params", "param_count"),
    "D": ("d", "tokens", "t", "token_num", "training_tokens"),
    "C": ("c", "flops", "compute", "training_flop", "training_flops"),
    "loss": ("loss", "val_loss", "final_loss", "eval_loss"),
    "size": ("size", "label", "model"),
}


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def read_points_csv(path: Path) -> list[dict[str, Any]]:
    """Rows with N, D, C (= 6ND when absent), loss and a size label; UserError naming missing columns or bad rows."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h for h in (reader.fieldnames or []) if h is not None]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read it as CSV ({exc})") from None
    by_key = {_key(h): h for h in header}
    cols = {want: next((by_key[a] for a in aliases if a in by_key), None) for want, aliases in ALIASES.items()}
    if cols["N"] is None or cols["loss"] is None or (cols["D"] is None and cols["C"] is None):
        raise UserError(
            f"{path}: needs columns N, loss and D or C (found: {', '.join(header) or 'none'}); "
            f"accepted names: N {ALIASES['N']}, D {ALIASES['D']}, C {ALIASES['C']}, loss {ALIASES['loss']}"
        )
    points = []
    for i, row in enumerate(rows, start=2):
        try:
            n = float(row[cols["N"]])
            loss = float(row[cols["loss"]])
            d = float(row[cols["D"]]) if cols["D"] else float(row[cols["C"]]) / (6.0 * n)
        except (TypeError, ValueError, ZeroDivisionError):
            raise UserError(f"{path}, line {i}: N, D/C and loss must be numbers, got {dict(row)}") from None
        if not all(math.isfinite(v) and v > 0 for v in (n, d, loss)):
            raise UserError(f"{path}, line {i}: N, D/C and loss must be positive and finite")
        c = float(row[cols["C"]]) if cols["C"] else 6.0 * n * d
        size = row[cols["size"]] if cols["size"] else None
        points.append({"label": size or f"N={n:.3g}", "size": size or f"{n:.3g}", "N": n, "D": d,
                       "C": 6.0 * n * d if cols["D"] else c, "loss": loss})
    if not points:
        raise UserError(f"{path}: no data rows")
    return points
