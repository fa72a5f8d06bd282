"""The points table of a sweep, built from its store or from a CSV: the only two ways results enter the analysis.

`scaling.fit.points` defines the table (numpy only); this module turns a store's finished train trials, or a
CSV of (N, D or C, loss) rows, into it. The fit stage, every figure and compression's selection read the table
built here, so they agree on N, D, C and on which points form one IsoFLOP budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from scaling.accounting import compute, tokens_for_compute
from scaling.errors import UserError
from scaling.fit.points import DEFAULT_CONVENTIONS, Conventions, PointsTable, ResultRow

STRUCTURAL_AXES = ("size", "budget", "budget_kind", "budget_value")  # where a trial sits, not a setting
LOSSES = ("val_loss", "train_loss")


def size_of(trial: Any) -> str:
    """The model-size name of a store trial (its `size` axis, else its config's preset, else its label's first word)."""
    size = (trial.axes or {}).get("size")
    if size is None and isinstance(trial.config, dict):
        size = (trial.config.get("model") or {}).get("size")
    return str(size) if size is not None else trial.label.split()[0]


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def row_of_trial(trial: Any, loss: str = "val_loss") -> ResultRow | None:
    """A finished train trial as a row, or None when it has no finite `loss` or no parameter counts."""
    value = getattr(trial, loss)
    if trial.kind != "train" or trial.status != "done" or not _finite(value):
        return None
    if not (trial.params_non_embedding and trial.params_total and trial.tokens):
        return None
    axes = trial.axes or {}
    return ResultRow(
        trial=trial.id, label=trial.label, size=size_of(trial), budget=str(axes.get("budget", "")),
        n_total=float(trial.params_total), n_non_embedding=float(trial.params_non_embedding),
        d=float(trial.tokens), loss=float(value), c_exact=trial.flops_exact,
        budget_value=axes.get("budget_value"), budget_kind=axes.get("budget_kind"),
        settings={k: v for k, v in axes.items() if k not in STRUCTURAL_AXES},
    )


def n_of(trial: Any, conv: Conventions) -> float:
    """A store trial's N under the conventions (non-embedding or total parameters; 0 when not yet counted)."""
    return float((trial.params_non_embedding if conv.params == "non_embedding" else trial.params_total) or 0)


def step_compute(trial: Any, tokens: Any, exact_flops: Any, conv: Conventions) -> Any:
    """Training compute after `tokens` under `conv`, for points along a curve: 6 N D with the conventions' N,
    or the exact FLOPs the trainer logged beside each step."""
    if conv.compute == "exact":
        return np.asarray(exact_flops, dtype=np.float64)
    return compute(n_of(trial, conv), tokens)


def from_trials(trials: Iterable[Any], conventions: Conventions = DEFAULT_CONVENTIONS) -> PointsTable:
    """Every finished train trial (and WSD branch endpoint) with a finite loss, in plan order."""
    if conventions.loss not in LOSSES:
        raise UserError(f"loss {conventions.loss!r}: valid: {', '.join(LOSSES)}")
    rows = [row for t in trials if (row := row_of_trial(t, conventions.loss)) is not None]
    return PointsTable(tuple(rows), conventions)


def from_run_dir(run_dir: Path, conventions: Conventions = DEFAULT_CONVENTIONS) -> PointsTable:
    """The table of RUN_DIR's store; UserError when RUN_DIR has none."""
    from scaling.sweep.store import STORE_NAME, Store

    path = Path(run_dir) / STORE_NAME
    if not path.is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run the sweep first")
    store = Store(path)
    try:
        return from_trials(store.trials(kind="train"), conventions)
    finally:
        store.close()


# Accepted spellings of each CSV column (lower-cased, spaces and dashes as underscores).
CSV_ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("n", "params", "parameters", "model_size", "num_params", "param_count"),
    "D": ("d", "tokens", "t", "token_num", "training_tokens"),
    "C": ("c", "flops", "compute", "training_flop", "training_flops"),
    "loss": ("loss", "val_loss", "final_loss", "eval_loss"),
    "size": ("size", "label", "model"),
}


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def from_csv(path: Path) -> PointsTable:
    """Rows with N, D (or C, then D = C / 6N), loss and a size label; UserError naming missing columns or bad rows.

    A CSV's N is taken as given (recorded in the conventions); its C, when given together with D, is kept as the
    rows' exact compute and the table reads it (`compute: exact`), otherwise C = 6ND.
    """
    import csv

    path = Path(path)
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h for h in (reader.fieldnames or []) if h is not None]
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read it as CSV ({exc})") from None
    by_key = {_key(h): h for h in header}
    cols = {want: next((by_key[a] for a in aliases if a in by_key), None) for want, aliases in CSV_ALIASES.items()}
    if cols["N"] is None or cols["loss"] is None or (cols["D"] is None and cols["C"] is None):
        raise UserError(
            f"{path}: needs columns N, loss and D or C (found: {', '.join(header) or 'none'}); accepted names: "
            + ", ".join(f"{k} {CSV_ALIASES[k]}" for k in ("N", "D", "C", "loss"))
        )
    rows = []
    for i, rec in enumerate(records, start=2):
        try:
            n = float(rec[cols["N"]])
            loss = float(rec[cols["loss"]])
            c = float(rec[cols["C"]]) if cols["C"] else None
            d = float(rec[cols["D"]]) if cols["D"] else tokens_for_compute(c, n)
        except (TypeError, ValueError, ZeroDivisionError):
            raise UserError(f"{path}, line {i}: N, D/C and loss must be numbers, got {dict(rec)}") from None
        if not all(math.isfinite(v) and v > 0 for v in (n, d, loss, c or 1.0)):
            raise UserError(f"{path}, line {i}: N, D/C and loss must be positive and finite")
        size = rec[cols["size"]] if cols["size"] else None
        rows.append(ResultRow(trial=f"row{i}", label=size or f"N={n:.3g}", size=size or f"{n:.3g}", budget="",
                              n_total=n, n_non_embedding=n, d=d, loss=loss,
                              c_exact=c if cols["D"] and cols["C"] else None))
    if not rows:
        raise UserError(f"{path}: no data rows")
    exact = cols["D"] is not None and cols["C"] is not None
    conv = Conventions(params="non_embedding", params_as_given=True, compute="exact" if exact else "6nd",
                       loss=cols["loss"],
                       source=f"{path.name}: N as given in column {cols['N']!r}"
                       + (f", C as given in column {cols['C']!r}" if exact else ", C = 6ND"))
    return PointsTable(tuple(rows), conv)
