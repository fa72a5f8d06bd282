"""From finished compression rows to the stage's findings: a flat table with effective-parameter multipliers,
the compression laws fitted where there are enough points (intervals, backtests), and the figures.

Input rows are plain dicts (the stage flattens the store's rows): the job's result plus `id`, `source`,
`source_label`, `n` (the source's parameter count, as the law counts it) and `d` (its training tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaling.compress import law_points
from scaling.compress.effective import InverseLaw, effective
from scaling.compress.law_fits import BOOTSTRAP, LawPoints, fit_with_intervals, predict_fitted
from scaling.compress.ratio_laws import (
    BUSBRIDGE_DISTILL_REDUCED,
    DISTILL_TEACHER_FLOOR,
    KUMAR_PTQ,
    KUMAR_PTQ_EFFECTIVE,
)
from scaling.compress.settings import STUDENT_METHODS
from scaling.fit.laws import Law

LAW_OF = {"ptq": KUMAR_PTQ, "ptq_effective": KUMAR_PTQ_EFFECTIVE, "distill": DISTILL_TEACHER_FLOOR,
          "distill_reduced": BUSBRIDGE_DISTILL_REDUCED}


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


def fit_laws(rows: Sequence[dict[str, Any]], chinchilla: InverseLaw | None = None, *, bootstrap: int = BOOTSTRAP,
             seed: int = 0) -> dict[str, Any]:
    """Compression laws fitted to this stage's rows with bootstrap intervals and a backtest (each says why not
    when the points cannot support it); `chinchilla` anchors the laws that take A, alpha or E from the run's fit."""
    out: dict[str, Any] = {}
    sparsity = law_points.sparsity_points(rows)
    if sparsity is not None:
        out["sparsity"] = fit_with_intervals(sparsity, bootstrap, seed)
        out["sparsity"]["structured"] = structured_against_law(out["sparsity"], sparsity,
                                                               law_points.structured_rows(rows))
    ptq = law_points.ptq_points(rows)
    kumar, bits = ptq if ptq is not None else (None, None)
    if bits is not None:
        out["ptq_bits"] = fit_with_intervals(bits, bootstrap, seed)
    for key, points in (("ptq", kumar), ("ptq_effective", law_points.ptq_effective_points(rows, chinchilla)),
                        ("distill", law_points.distill_points(rows)),
                        ("distill_reduced", law_points.busbridge_points(rows, chinchilla))):
        if isinstance(points, str):
            out[key] = {"law": LAW_OF[key].name, "formula": LAW_OF[key].formula,
                        "reference": LAW_OF[key].reference, "skipped": points}
        elif points is not None:
            out[key] = fit_with_intervals(points, bootstrap, seed)
    return {k: out[k] for k in ORDER if k in out}


ORDER = ("sparsity", "ptq", "ptq_bits", "ptq_effective", "distill", "distill_reduced")


def structured_against_law(fit: dict[str, Any], points: LawPoints, rows: Sequence[dict[str, Any]]
                           ) -> list[dict[str, Any]]:
    """Structured-pruning losses beside the unstructured law's prediction at the same S, N (and D); for the delta
    form, at the source's dense N and dense loss."""
    if "skipped" in fit or not rows:
        return [{**r, "predicted": None} for r in rows]
    law: Law = points.law
    out = []
    for r in rows:
        if "l0" in law.inputs:  # the delta form: the source's dense loss and N
            if r.get("dense_loss") is None:
                out.append({**r, "predicted": None})
                continue
            cols = {"s": r["s"], "n": r["n_dense"], "l0": r["dense_loss"]}
            predicted = float(predict_fitted(law, fit["params"], cols))
        else:
            predicted = float(predict_fitted(law, fit["params"], {k: r[k] for k in law.inputs}))
        out.append({**r, "predicted": predicted, "relative_difference": (r["observed"] - predicted) / predicted})
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
