"""From finished compression rows to the stage's findings: a flat table with effective-parameter multipliers,
the compression laws fitted where there are enough points, and the figures.

Input rows are plain dicts (the stage flattens the store's rows): the job's result plus `id`, `source`,
`source_label`, `n` (the source's parameter count, as the law counts it) and `d` (its training tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaling.compress.effective import InverseLaw, effective
from scaling.compress.ratio_laws import (
    DISTILL_TEACHER_FLOOR,
    FRANTAR_SPARSITY_FIXED_D,
    KUMAR_PTQ,
    PTQ_BITS,
    fit_least_squares,
)
from scaling.compress.settings import STUDENT_METHODS


def add_effective(rows: list[dict[str, Any]], law: InverseLaw | None) -> None:
    """Each row gains `effective`: N_eff, N_eff / N with its interval, and N_eff relative to the dense model's
    own N_eff (which cancels the fit's residual at that configuration)."""
    if law is None:
        return
    dense = {r["source"]: r for r in rows if r["method"] == "dense"}
    for r in rows:
        if r["method"] in STUDENT_METHODS:
            continue  # a student is a different model with its own N and D; its teacher is the reference
        eff = effective(law, r["val_loss"], r["d"], r["n"])
        ref = dense.get(r["source"])
        if ref is not None:
            n_ref = effective(law, ref["val_loss"], ref["d"], ref["n"])["n_eff"]
            eff["multiplier_vs_dense_fit"] = eff["n_eff"] / n_ref if np.isfinite(n_ref) else None
        r["effective"] = eff


def _try(law: Any, cols: dict[str, Any], y: Sequence[float], note: str) -> dict[str, Any]:
    """A law fit as a dict, or why it was not fitted."""
    try:
        return {**fit_least_squares(law, cols, y).to_dict(), "note": note}
    except ValueError as exc:
        return {"law": law.name, "skipped": str(exc), "note": note}


def fit_laws(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Compression laws fitted to this stage's rows (each says why not when the points cannot support it)."""
    out: dict[str, Any] = {}
    sparse = [r for r in rows if r["method"] in ("dense", "prune")]
    if sparse:
        out["sparsity"] = _try(FRANTAR_SPARSITY_FIXED_D, {"s": [r.get("sparsity", 0.0) for r in sparse],
                                                          "n": [r["n"] for r in sparse]},
                               [r["val_loss"] for r in sparse],
                               "unstructured magnitude pruning; configurations differ in D too, so E absorbs it")
    ptq = [r for r in rows if r["method"] == "quantize" and r["delta_loss"] > 0]
    if ptq:
        out["ptq"] = _try(KUMAR_PTQ, {"p": [r["bits"] for r in ptq], "n": [r["n"] for r in ptq],
                                      "d": [r["d"] for r in ptq]}, [r["delta_loss"] for r in ptq],
                          "positive degradations only")
        out["ptq_bits"] = _try(PTQ_BITS, {"p": [r["bits"] for r in ptq]}, [r["delta_loss"] for r in ptq],
                               "all configurations pooled")
    kd = [r for r in rows if r["method"] == "distill"]
    if kd:
        out["distill"] = _try(DISTILL_TEACHER_FLOOR, {"t": [r["base_loss"] for r in kd],
                                                      "n": [r["student_params"] for r in kd]},
                              [r["val_loss"] for r in kd], "distilled students; t = the teacher's loss")
    return out


def distill_pairs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each distilled student beside its plain twin (same source, size and tokens)."""
    twins = {(r["source"], r["student"]): r for r in rows if r["method"] == "distill_baseline"}
    out = []
    for r in rows:
        twin = twins.get((r["source"], r.get("student"))) if r["method"] == "distill" else None
        if twin is not None:
            out.append({"teacher": r["source_label"], "student": r["student"], "tokens": r["tokens"],
                        "teacher_loss": r["base_loss"], "distilled_loss": r["val_loss"],
                        "plain_loss": twin["val_loss"], "gain": twin["val_loss"] - r["val_loss"]})
    return out


def write_figures(run_dir: Path, directory: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """The compression figures (from RUN_DIR/compress/compress.json, via the plots registry) under `directory`;
    figures without data are skipped."""
    from scaling.plots.context import FigureContext
    from scaling.plots.registry import COMPRESSION_FIGURES
    from scaling.plots.render import render_figures

    rendered = render_figures(FigureContext(run_dir=run_dir), directory, formats, names=COMPRESSION_FIGURES)
    return [p for r in rendered for p in r.paths]
