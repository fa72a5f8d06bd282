"""The report's "Compression" section, from RUN_DIR/compress/compress.json: each compression law with its formula,
parameters and 95% intervals, points, resampling and backtest error (or why it was not fitted), structured
pruning against the unstructured law, and every compressed model's delta against the measured noise.

JAX-free and read-only: nothing here refits; the compression stage wrote every number.
"""

from __future__ import annotations

import json
from typing import Any

from scaling.compress.plot_figures import SUMMARY
from scaling.plots.context import FigureContext
from scaling.plots.report import Block, interval_text, num

TITLES = {
    "sparsity": "Sparsity (Frantar et al. 2023)",  # full, fixed-D or delta form: the entry's `law` says which
    "ptq": "Post-training quantization (Kumar et al. 2024)",
    "ptq_bits": "Post-training quantization, bits only (Kumar et al. 2024, reduced)",
    "ptq_effective": "Quantization as effective parameters (Kumar et al. 2024)",
    "distill": "Distillation, teacher floor (Busbridge et al. 2025, reduced)",
    "distill_reduced": "Distillation against the supervised twin (Busbridge et al. 2025, reduced)",
}


def compress_summary(ctx: FigureContext) -> dict[str, Any] | None:
    """RUN_DIR/compress/compress.json as written by the compression stage, or None before it ran."""
    path = ctx.run_dir.joinpath(*SUMMARY) if ctx.run_dir is not None else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def compression_blocks(ctx: FigureContext) -> list[Block]:
    """The Compression section's blocks; none when the run has no compression results."""
    summary = compress_summary(ctx)
    if summary is None:
        return []
    laws = summary.get("laws") or {}
    blocks = [Block("h2", "Compression")]
    if not laws:
        blocks.append(Block("p", "No compression law: the stage has no pruning, quantization or distillation rows."))
    for key, fit in laws.items():
        blocks += law_blocks(key, fit)
    return blocks + delta_blocks(summary.get("rows") or [], summary.get("noise") or {})


def law_blocks(key: str, fit: dict[str, Any]) -> list[Block]:
    """One law: what it is, its parameters with intervals (or why it was skipped), its backtest and warnings."""
    head = (f"**{TITLES.get(key, key)}** — `{fit['law']}`: {fit.get('formula', '')}. "
            f"Reference: {fit.get('reference', '-')}.")
    out = [Block("p", head)]
    if fit.get("note"):
        out.append(Block("p", f"Data: {fit.get('target', '')}; {fit['note']}."))
    if "skipped" in fit:
        return out + [Block("p", f"Not fitted: {fit['skipped']}")]
    boot = fit.get("bootstrap") or {}
    out.append(Block("p", f"{fit['n_points']} points from {fit['n_sources']} source model(s); {fit['method']}; "
                          f"95% intervals: {boot.get('n', 0)} seeded bootstrap refits (seed {boot.get('seed')}), "
                          f"resampling {fit['resampling']}; rms log residual {num(fit.get('rms_log'))}"
                          + ("" if fit.get("converged", True) else "; NOT converged") + "."))
    rows = tuple((p, num(v), interval_cell(fit, p)) for p, v in fit["params"].items())
    out.append(Block("table", headers=("parameter", "estimate", "95% interval"), rows=rows))
    out.append(Block("p", _backtest_text(fit.get("backtest") or {})))
    for warning in fit.get("warnings") or []:
        out.append(Block("p", f"**Warning ({fit['law']}):** {warning}"))
    structured = [r for r in fit.get("structured") or [] if r.get("predicted") is not None]
    if structured:
        out.append(Block("p", "Structured pruning (not fitted) against the unstructured law at the same S:"))
        out.append(Block("table", headers=("model", "method", "S", "loss", "law at S", "difference"), rows=tuple(
            (str(r.get("label") or r["source"]), r["method"], num(r["s"], 3), num(r["observed"]),
             num(r["predicted"]), f"{100 * r['relative_difference']:+.2f}%") for r in structured)))
    return out


def interval_cell(fit: dict[str, Any], param: str) -> str:
    """The interval column: fixed, a per-source scale, an exponent on its bound 0, or the 95% interval."""
    if param in (fit.get("fixed") or {}):
        return "fixed"
    if param in (fit.get("nuisance") or []):
        return "per-source scale (no interval)"
    if param in (fit.get("at_bound") or []):
        return "on its bound 0 (data pull it lower)"
    return interval_text((fit.get("intervals") or {}).get(param))


def _backtest_text(bt: dict[str, Any]) -> str:
    if "skipped" in bt or "mean_abs_relative_error" not in bt:
        return f"Backtest: not run ({bt.get('skipped', 'no backtest recorded')})."
    return (f"Backtest: refitted on {bt['n_train']} rows without the {bt['held_out']}, it predicts the "
            f"{bt['n_held_out']} held-out rows with mean |relative error| {100 * bt['mean_abs_relative_error']:.2f}% "
            f"(max {100 * bt['max_abs_relative_error']:.2f}%; the full fit's own error there "
            f"{100 * bt['in_sample_error']:.2f}%).")


def delta_blocks(rows: list[dict[str, Any]], noise: dict[str, Any]) -> list[Block]:
    """Every compressed model's delta against its noise, with the verdict in words."""
    compressed = sorted((r for r in rows if r.get("method") != "dense"),
                        key=lambda r: (str(r.get("source_label")), r["method"], str(r.get("value"))))
    if not compressed:
        return []
    sigmas = noise.get("sigmas", 2)
    text = (f"Deltas (compressed minus dense validation loss of the same source) against the measured noise sigma "
            f"(evaluation SE over batches, and the seed spread where the sweep has seed replicates, in quadrature); "
            f"|delta| <= {num(sigmas)} sigma reads \"no measurable change\".")
    table = tuple(
        (str(r.get("source_label", r.get("source"))), r["method"], str(r.get("value", "")), num(r.get("val_loss")),
         num(r.get("delta_loss")), num(r.get("noise"), 3), num((r.get("noise_parts") or {}).get("eval"), 3),
         num((r.get("noise_parts") or {}).get("seed"), 3), str(r.get("change", "noise not measured")))
        for r in compressed)
    return [Block("p", text), Block("table", headers=("source", "method", "value", "val loss", "delta", "sigma",
                                                      "eval SE", "seed std", "verdict"), rows=table)]
