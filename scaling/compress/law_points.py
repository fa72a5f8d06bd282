"""Which compression rows feed which law, in which form, and which slice each law's backtest holds out.

Rows are the stage's flattened rows (see scaling.compress.analysis). Every builder returns None when the stage
has no rows of its kind, so compress.json lists only the laws its methods could speak to.

The form is chosen by what the sources identify. A law with separate N and D terms (Frantar's full law, Kumar's
gamma_D and gamma_N) needs at least MIN_FULL_SOURCES sources whose N and D vary independently (log N and log D
correlated below MAX_LOG_CORRELATION over the sources); a few sources picked best-per-budget from an IsoFLOP sweep
lie on one line in (N, D) and do not. Otherwise the sparsity law is fitted in its delta form (each source's own
dense loss the reference: 3 parameters, D cancels), Kumar's law with gamma_D = gamma_N (one exponent of D/N), and
the bits-only PTQ law with each source its own scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scaling.compress.effective import InverseLaw
from scaling.compress.law_fits import LawPoints
from scaling.compress.ratio_laws import (
    BUSBRIDGE_DISTILL_REDUCED,
    DISTILL_TEACHER_FLOOR,
    FRANTAR_SPARSITY,
    FRANTAR_SPARSITY_DELTA,
    FRANTAR_SPARSITY_FIXED_D,
    KUMAR_PTQ,
    KUMAR_PTQ_EFFECTIVE,
    KUMAR_PTQ_TIED,
    PTQ_BITS,
    PTQBitsBySource,
)
from scaling.compress.settings import PRUNE_METHODS

Rows = Sequence[dict[str, Any]]
UNSTRUCTURED = "prune"  # the only pruning method the Frantar law describes (magnitude, per weight)
MIN_RATIO_SPREAD = 0.1  # log(D/N) must vary this much across sources for a law with an N and a D exponent
MIN_FULL_SOURCES = 5  # sources a law with separate N and D terms needs (7 parameters on 3 sources: not identified)
MAX_LOG_CORRELATION = 0.9  # |corr(log N, log D)| over the sources above which N and D move together


def _col(rows: Rows, key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows], dtype=np.float64)


def _noise(rows: Rows) -> np.ndarray:
    """Each row's measured noise sigma (see scaling.compress.noise), NaN where it was not measured."""
    return np.array([np.nan if r.get("noise") is None else float(r["noise"]) for r in rows], dtype=np.float64)


def _sources(rows: Rows) -> np.ndarray:
    return np.array([str(r["source"]) for r in rows])


def _extreme(values: np.ndarray, what: str, fmt: str, lowest: bool = False) -> tuple[str, np.ndarray]:
    """(description, mask) of the rows at the largest (or smallest) value of a column."""
    if not values.size:
        return f"{what}: no rows", np.zeros(0, dtype=bool)
    edge = float(values.min() if lowest else values.max())
    return f"{'lowest' if lowest else 'highest'} {what} ({fmt.format(edge)})", np.isclose(values, edge)


def n_and_d_design(n: np.ndarray, d: np.ndarray) -> tuple[bool, str]:
    """(whether the sources identify separate N and D exponents, a sentence on their design): at least
    MIN_FULL_SOURCES distinct (N, D), several of each, D/N not constant and |corr(log N, log D)| at most
    MAX_LOG_CORRELATION."""
    pairs = sorted(set(zip(n.tolist(), d.tolist(), strict=True)))
    k = len(pairs)
    ln_n, ln_d = (np.log(np.array(x, dtype=np.float64)) for x in zip(*pairs, strict=True))
    if len(set(ln_n.tolist())) < 2 or len(set(ln_d.tolist())) < 2:
        return False, f"{k} source(s), {'one D' if len(set(ln_d.tolist())) < 2 else 'one N'}"
    corr = float(np.corrcoef(ln_n, ln_d)[0, 1])
    ratio = float(np.ptp(ln_d - ln_n))
    text = f"{k} sources, |corr(log N, log D)| = {abs(corr):.2f}, log(D/N) spans {ratio:.2f}"
    ok = k >= MIN_FULL_SOURCES and abs(corr) <= MAX_LOG_CORRELATION and ratio >= MIN_RATIO_SPREAD
    if not ok:
        why = [f"fewer than {MIN_FULL_SOURCES} sources"] if k < MIN_FULL_SOURCES else []
        if abs(corr) > MAX_LOG_CORRELATION:
            why.append("N and D move together")
        if ratio < MIN_RATIO_SPREAD:
            why.append("D/N (nearly) constant")
        text += " (" + ", ".join(why) + ")"
    return ok, text


def _sparsity(r: dict[str, Any]) -> float:
    """S of a row: 0 for the dense model, 1 - N/M for N:M, else the measured sparsity of the prunable matrices."""
    if r["method"] == "dense":
        return 0.0
    if r["method"] == "prune_nm" and "ratio" in r:
        return float(r["ratio"])
    return float(r["sparsity"] if "sparsity" in r else r["ratio"])


def nonzero_n(r: dict[str, Any]) -> float:
    """The row's non-zero parameters under the run's N convention (Frantar et al.'s N): the source's N less the
    weights pruning zeroed, or N (1 - S) for a row that did not record its counts."""
    counts = r.get("nonzero") or {}
    if "prunable" in counts and "prunable_nonzero" in counts:
        return max(float(r["n"]) - float(counts["prunable"] - counts["prunable_nonzero"]), 1.0)
    return float(r["n"]) * (1.0 - _sparsity(r))


def sparsity_points(rows: Rows) -> LawPoints | None:
    """Dense and unstructured-pruned rows in the form the sources identify: Frantar's full law on losses when at
    least MIN_FULL_SOURCES sources vary N and D independently, its fixed-D form when that many share one D, else
    the delta form on each pruned model's degradation against its own dense model."""
    sel = [r for r in rows if r["method"] in ("dense", UNSTRUCTURED)]
    if not any(r["method"] == UNSTRUCTURED for r in sel):
        return None
    pruned = [r for r in sel if r["method"] == UNSTRUCTURED]
    full, design = n_and_d_design(_col(pruned, "n"), _col(pruned, "d"))
    n_sources = len({r["source"] for r in pruned})
    one_d = len({float(r["d"]) for r in pruned}) == 1
    if full or (one_d and n_sources >= MIN_FULL_SOURCES):
        return _sparsity_on_losses(sel, full, design)
    return _sparsity_delta(sel, design)


_STRUCTURED = "N:M, head and neuron pruning are structured: compared with the law below, not fitted"


def _sparsity_on_losses(sel: Rows, full: bool, design: str) -> LawPoints:
    """Frantar's law on the losses (dense rows at S = 0), N = each model's non-zero parameters."""
    s = np.array([_sparsity(r) for r in sel])
    n_nonzero = np.array([nonzero_n(r) for r in sel])
    nominal = np.array([0.0 if r["method"] == "dense" else float(r.get("ratio", _sparsity(r))) for r in sel])
    n_source, d = _col(sel, "n"), _col(sel, "d")
    holdouts = (_extreme(nominal, "sparsity", "S = {:.3g}"), _extreme(n_source, "source size", "N = {:.3g}"))
    tail = f"; N = non-zero parameters; {_STRUCTURED}"
    if full:
        note = (f"{design}: the full form (a_S = a, b_S = b, c_S = c, b_N = d, (a_D)^b_D = e, b_D = f, c = g; "
                "exponents fitted positive)" + tail)
        return LawPoints("sparsity", FRANTAR_SPARSITY, {"s": s, "n": n_nonzero, "d": d}, _col(sel, "val_loss"),
                         _sources(sel), "loss", note, holdouts=holdouts)
    note = f"unstructured magnitude pruning; {design}: e D^-f + g folded into E" + tail
    return LawPoints("sparsity", FRANTAR_SPARSITY_FIXED_D, {"s": s, "n": n_nonzero}, _col(sel, "val_loss"),
                     _sources(sel), "loss", note, holdouts=holdouts)


def _sparsity_delta(sel: Rows, design: str) -> LawPoints:
    """The pruned rows against their own dense model (the delta form): loss = the dense loss + the law's
    degradation, N = the dense model's parameters; rows whose source has no dense model are left out."""
    dense = {r["source"]: float(r["val_loss"]) for r in sel if r["method"] == "dense"}
    pruned = [r for r in sel if r["method"] == UNSTRUCTURED]
    used = [r for r in pruned if r["source"] in dense and 0.0 < _sparsity(r) < 1.0]
    s = np.array([_sparsity(r) for r in used])
    n = _col(used, "n")
    base = np.array([dense[r["source"]] for r in used])
    nominal = np.array([float(r.get("ratio", _sparsity(r))) for r in used])
    left = f" ({len(pruned) - len(used)} without a dense model left out)" if len(used) < len(pruned) else ""
    note = (f"unstructured magnitude pruning; {design}, so the delta form: each pruned model's loss against its "
            "own dense model's (L0, measured; D cancels), S = measured sparsity of the prunable matrices, N = the "
            f"dense model's parameters; {len(used)} pruned rows{left}; {_STRUCTURED}")
    return LawPoints("sparsity", FRANTAR_SPARSITY_DELTA, {"s": s, "n": n, "l0": base}, _col(used, "val_loss"),
                     _sources(used), "loss", note, noise=_noise(used),
                     holdouts=(_extreme(nominal, "sparsity", "S = {:.3g}"),
                               _extreme(n, "source size", "N = {:.3g}")))


def structured_rows(rows: Rows) -> list[dict[str, Any]]:
    """Structured pruning rows (N:M at S = 1 - N/M, heads and neurons at their measured sparsity), with the
    columns the sparsity laws read (s, n = non-zero parameters, d; n_dense and dense_loss for the delta form)."""
    dense = {r["source"]: float(r["val_loss"]) for r in rows if r["method"] == "dense"}
    return [{"label": r.get("label"), "source": r["source"], "method": r["method"], "value": r.get("value"),
             "s": _sparsity(r), "n": nonzero_n(r), "d": float(r["d"]), "n_dense": float(r["n"]),
             "dense_loss": dense.get(r["source"]), "observed": float(r["val_loss"])}
            for r in rows if r["method"] in PRUNE_METHODS and r["method"] != UNSTRUCTURED]


def _ptq_rows(rows: Rows) -> tuple[list[dict[str, Any]], str]:
    """Weight-only PTQ rows with a positive degradation outside the noise, and a note saying which were used."""
    ptq = [r for r in rows if r["method"] == "quantize"]
    used = [r for r in ptq if r["delta_loss"] > 0 and r.get("delta_significant") is not False]
    inside = sum(1 for r in ptq if r.get("delta_significant") is False)
    note = (f"weight-only PTQ; {len(used)} of {len(ptq)} rows: positive degradations"
            + (f", {inside} inside the noise left out (their log is noise)" if inside else ""))
    return used, note


def ptq_points(rows: Rows) -> tuple[LawPoints | str, LawPoints] | None:
    """Kumar's PTQ degradation law over (P, N, D) in the form the sources identify (separate gamma_D, gamma_N;
    else gamma_D = gamma_N; else a reason string), and its bits-only form (one configuration: delta(P); several:
    each source its own scale, gamma shared)."""
    if not any(r["method"] == "quantize" for r in rows):
        return None
    used, note = _ptq_rows(rows)
    p, n, d = _col(used, "bits"), _col(used, "n"), _col(used, "d")
    y, src = _col(used, "delta_loss"), _sources(used)
    lowest = _extreme(p, "bit width", "P = {:g}", lowest=True)
    holdouts = (lowest, _extreme(n, "source size", "N = {:.3g}"))
    configs = len(set(zip(n.tolist(), d.tolist(), strict=True)))
    full, design = n_and_d_design(n, d) if used else (False, "no rows")
    kumar: LawPoints | str
    if full:
        kumar = LawPoints("ptq", KUMAR_PTQ, {"p": p, "n": n, "d": d}, y, src, "delta",
                          f"{note}; {design}: gamma_D and gamma_N apart", holdouts=holdouts, noise=_noise(used))
    elif configs >= 2 and np.ptp(np.log(d) - np.log(n)) >= MIN_RATIO_SPREAD:
        kumar = LawPoints("ptq", KUMAR_PTQ_TIED, {"p": p, "n": n, "d": d}, y, src, "delta",
                          f"{note}; {design}: one exponent along the sources, gamma_D = gamma_N (D/N)",
                          holdouts=holdouts, noise=_noise(used))
    else:
        kumar = (f"{design}: neither gamma_D and gamma_N apart nor their tied form (which needs D/N to vary) is "
                 "identified; see the bits-only form")
    if configs > 1:
        labels = sorted(set(src.tolist()))
        law = PTQBitsBySource([_label_of(rows, x) for x in labels])
        index = np.array([labels.index(x) for x in src.tolist()], dtype=np.float64)
        bits = LawPoints("ptq_bits", law, {"p": p, "src": index}, y, src, "delta",
                         note + f"; {configs} configurations: each source its own scale C_i (estimated, no "
                         "interval), one gamma", holdouts=(lowest,), nuisance=law.nuisance, noise=_noise(used))
    else:
        bits = LawPoints("ptq_bits", PTQ_BITS, {"p": p}, y, src, "delta", note + "; one configuration",
                         holdouts=(lowest,), noise=_noise(used))
    return kumar, bits


def _label_of(rows: Rows, source: str) -> str:
    """A source's label (its trial id when it has none)."""
    return next((str(r.get("source_label") or source) for r in rows if r["source"] == source), source)


def ptq_effective_points(rows: Rows, chinchilla: InverseLaw | None) -> LawPoints | str | None:
    """Kumar's effective-parameter form with A, alpha from the run's Chinchilla fit; a reason string without one."""
    if not any(r["method"] == "quantize" for r in rows):
        return None
    if chinchilla is None:
        return "needs the run's Chinchilla fit (A, alpha) to anchor N_eff; run the fit stage first"
    used, note = _ptq_rows(rows)
    p, n = _col(used, "bits"), _col(used, "n")
    fixed = {"A": float(chinchilla.params["A"]), "alpha": float(chinchilla.params["alpha"])}
    note += (f"; gamma is the one free parameter: A, alpha fixed from {chinchilla.source} (that is what "
             "identifies it from one model); B, beta, E cancel in the degradation; the interval is conditional on "
             "A and alpha; Kumar et al. define N_eff for training at precision P, here it is read for post-training "
             "quantized weights")
    return LawPoints("ptq_effective", KUMAR_PTQ_EFFECTIVE, {"p": p, "n_src": n}, _col(used, "delta_loss"),
                     _sources(used), "delta", note, fixed=fixed, noise=_noise(used),
                     holdouts=(_extreme(p, "bit width", "P = {:g}", lowest=True),
                               _extreme(n, "source size", "N = {:.3g}")))


def distill_points(rows: Rows) -> LawPoints | None:
    """Distilled students against their teacher's loss and their size (the teacher-floor reduced form)."""
    kd = [r for r in rows if r["method"] == "distill"]
    if not kd:
        return None
    n = _col(kd, "student_params")
    return LawPoints("distill", DISTILL_TEACHER_FLOOR, {"t": _col(kd, "base_loss"), "n": n}, _col(kd, "val_loss"),
                     _sources(kd), "loss", "distilled students; t = the teacher's loss; student tokens not modelled",
                     holdouts=(_extreme(n, "student size", "N_S = {:.3g}"),
                               _extreme(_col(kd, "n"), "teacher size", "N_T = {:.3g}")))


def busbridge_points(rows: Rows, chinchilla: InverseLaw | None) -> LawPoints | str | None:
    """Distilled students beside their plain-CE twins (same size, tokens and data): Busbridge's reduced form."""
    twins = {(r["source"], r.get("student")): r for r in rows if r["method"] == "distill_baseline"}
    kd = [r for r in rows if r["method"] == "distill" and (r["source"], r.get("student")) in twins]
    if not kd:
        return None
    if chinchilla is None:
        return "needs the run's Chinchilla fit (E) for L~_S - E; run the fit stage first"
    e = float(chinchilla.params["E"])
    above = [r for r in kd if twins[(r["source"], r.get("student"))]["val_loss"] > e]
    note = (f"L~_S = the plain-CE twin's loss, E = {e:.4g} fixed from {chinchilla.source}"
            + (f"; {len(kd) - len(above)} pair(s) with L~_S <= E left out" if len(above) < len(kd) else ""))
    fixed = {"E": e}
    t = _col(above, "base_loss")
    if len(set(t.tolist())) < 2:
        fixed["c0"] = 0.0
        note += "; one teacher loss: c0 not identified, fixed at 0 (k then holds L_T^-c0 too)"
    sup = np.array([float(twins[(r["source"], r.get("student"))]["val_loss"]) for r in above])
    n = _col(above, "student_params")
    return LawPoints("distill_reduced", BUSBRIDGE_DISTILL_REDUCED, {"t": t, "l_sup": sup}, _col(above, "val_loss"),
                     _sources(above), "loss", note, fixed=fixed,
                     holdouts=(_extreme(n, "student size", "N_S = {:.3g}"),
                               _extreme(_col(above, "n"), "teacher size", "N_T = {:.3g}")))
