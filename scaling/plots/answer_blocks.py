"""The report's opening section, "The answer": what a researcher deciding the next run needs first, read from
the fit report and compress.json (nothing is refitted here).

The fitted law with its intervals and whether the points identify it; the compute-optimal allocation at the
largest trained budget (inside the sampled range) and the exponent a of N_opt ~ C^a from each approach side by
side; the backtest; and one line per compression law. Every number carries its 95% interval or says it has none.
"""

from __future__ import annotations

from typing import Any

from scaling.plots.compression_blocks import compress_summary, interval_cell
from scaling.plots.context import FigureContext
from scaling.plots.report import Block, interval_text, num

BACKTEST_OK = 0.10  # a compression law off by more than this on its held-out slice does not extrapolate
Z95 = 1.96  # a standard error times this: the normal 95% half-width (approaches 1 and 2 report standard errors)


def answer_blocks(ctx: FigureContext) -> list[Block]:
    """Law, allocation, approaches, backtest and compression, in that order; a line saying what is missing."""
    report = ctx.report
    out = [Block("h2", "The answer")]
    if report is None or report.primary_law() is None:
        return [*out, Block("p", "No law fitted yet: run the fit stage (`scaling fit RUN_DIR`).")]
    law = report.primary_law()
    out.append(Block("p", _law_sentence(law, report.warnings.get(law.law, []))))
    if (allocation := _allocation_sentence(report, law)) is not None:
        out.append(Block("p", allocation))
    out += _approaches(report, law)
    if report.backtest is not None:
        bt = report.backtest
        out.append(Block("p", f"**Backtest**: fitted without the largest budget, the law predicts its "
                              f"{bt.observed.size} points with mean |error| {100 * bt.mean_abs_relative_error:.2f}% "
                              f"(max {100 * bt.max_abs_relative_error:.2f}%)."))
    out += _compression_lines(ctx)
    return out


def _with_interval(result: Any, name: str, digits: int = 3) -> str:
    value = result.params.get(name, result.derived.get(name))
    iv = result.intervals.get(name)
    return f"{name} = {num(value, digits)} {interval_text(iv) if iv is not None else '(no interval)'}"


def _law_sentence(law: Any, warnings: list[str]) -> str:
    names = [p for p in ("alpha", "beta", "E", "A", "B") if p in law.params] or list(law.params)
    boot = law.procedure.get("bootstrap") or {}
    how = f"{boot['n']} bootstrap refits" if boot else "no bootstrap: no intervals"
    text = (f"**Law** ({law.law}, {law.n_points} points, 95% intervals from {how}): "
            + ", ".join(_with_interval(law, p) for p in names) + ".")
    if warnings:
        return text + (f" **Not identified** ({len(warnings)} reason(s), listed under *Fitted laws*): read these "
                       "constants and everything derived from them as unmeasured.")
    return text + " Identified: no exponent interval spans more than a factor of 3 and no constant is at a bound."


def _allocation_sentence(report: Any, law: Any) -> str | None:
    """The compute-optimal row at the largest trained compute (a measurement-range answer), and the exponent a."""
    inside = [r for r in report.compute_optimal if not r.extrapolated]
    if not inside:
        return None
    row = max(inside, key=lambda r: r.C)
    a = law.derived.get("a")
    exponent = f"; N_opt grows as C^a with {_with_interval(law, 'a')}" if a is not None else ""
    extrapolated = [r for r in report.compute_optimal if r.extrapolated]
    beyond = (f" Budgets above {num(report.c_max())} FLOPs ({', '.join(num(r.C) for r in extrapolated)}) are "
              "extrapolations of the law, not measurements." if extrapolated else "")
    return (f"**Compute-optimal at C = {num(row.C)} FLOPs** (the largest trained budget; "
            f"{report.conventions.c_label()}): N_opt = {num(row.N_opt)} {interval_text(row.N_opt_interval)}, "
            f"D_opt = {num(row.D_opt)} {interval_text(row.D_opt_interval)}, {num(row.D_opt / row.N_opt, 3)} tokens "
            f"per parameter, predicted loss {num(row.loss)} {interval_text(row.loss_interval)}{exponent}.{beyond}")


def _approaches(report: Any, law: Any) -> list[Block]:
    """a of N_opt ~ C^a from approaches 1 (envelope), 2 (IsoFLOP) and 3 (the parametric law), side by side."""
    rows = []
    for name, result in (("1: envelope of loss curves", report.envelope), ("2: IsoFLOP parabolas", report.isoflop)):
        if result is None:
            why = report.errors.get("envelope" if name.startswith("1") else "isoflop", "not run")
            rows.append((name, "-", "-", f"not fitted: {why[:120]}"))
            continue
        fit = result.n_opt
        se = getattr(fit, "exponent_stderr", None)
        iv = (fit.exponent - Z95 * se, fit.exponent + Z95 * se) if se is not None else None
        rows.append((name, num(fit.exponent, 3), interval_text(iv) if iv else "-",
                     f"{fit.n_points} points; +-1.96 standard errors of the log-log slope"))
    a = law.derived.get("a")
    rows.append(("3: parametric law", num(a, 3), interval_text(law.intervals.get("a")),
                 f"a = beta / (alpha + beta) of {law.law}; bootstrap percentiles"))
    return [Block("p", "**N_opt ~ C^a, three ways** (Hoffmann et al.'s approaches; agreement is the check):"),
            Block("table", headers=("approach", "a", "95% interval", "how"), rows=tuple(rows))]


def _compression_lines(ctx: FigureContext) -> list[Block]:
    """One row per compression law in compress.json: identified or not, its free constants, its backtest."""
    summary = compress_summary(ctx)
    if summary is None:
        return []
    laws = summary.get("laws") or {}
    rows = []
    for key, fit in laws.items():
        if "skipped" in fit:
            rows.append((key, fit.get("law", "-"), "not fitted", fit["skipped"][:100], "-"))
            continue
        skip = set(fit.get("fixed") or {}) | set(fit.get("nuisance") or [])  # per-source scales have no interval
        free = [p for p in fit.get("params", {}) if p not in skip]
        shown = ", ".join(f"{p} = {num(fit['params'][p], 3)} {interval_cell(fit, p)}" for p in free[:4])
        error = (fit.get("backtest") or {}).get("mean_abs_relative_error")
        verdict = f"not identified ({len(fit['warnings'])} warning(s))" if fit.get("warnings") else "identified"
        if isinstance(error, float) and error > BACKTEST_OK:
            verdict += "; does not predict its held-out slice"
        rows.append((key, fit.get("law", "-"), verdict, shown, f"{100 * error:.1f}%" if isinstance(error, float)
                     else "-"))
    if not rows:
        return []
    return [Block("p", "**Compression laws** (details under *Compression*):"),
            Block("table", headers=("what", "law", "verdict", "free constants (95% intervals)", "backtest error"),
                  rows=tuple(rows))]
