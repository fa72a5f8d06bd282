"""A run's report as one self-contained HTML file (figures inlined) and as Markdown (figures by relative path).

Both are rendered from the same list of blocks: headings, paragraphs, tables and figures.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling.plots.context import FigureContext
from scaling.plots.render import SECTIONS, Rendered
from scaling.plots.style import si
from scaling.results import size_of


@dataclass
class Block:
    kind: str  # "h2", "p", "table", "figure"
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    figure: Rendered | None = None


def num(x: Any, digits: int = 4) -> str:
    """A report number: '-' when missing, SI suffixes from 1e4 on, else `digits` significant figures."""
    if x is None:
        return "-"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return si(x) if abs(x) >= 1e4 else f"{x:.{digits}g}"


def interval_text(iv: Any) -> str:
    """'[lo, hi]' from a (lo, hi) pair; '-' when absent."""
    if isinstance(iv, list | tuple) and len(iv) == 2 and None not in iv:
        return f"[{num(iv[0])}, {num(iv[1])}]"
    return "-"


def law_blocks(ctx: FigureContext) -> list[Block]:
    """One table per fitted law (parameter, estimate, interval) and a line of fit facts."""
    report = ctx.report
    if report is None:
        return [Block("p", "No fit yet: run the fit stage (`scaling fit RUN_DIR`) to get laws and intervals.")]
    out = [Block("p", f"Conventions: {report.conventions.describe()}; {len(report.points)} points "
                      f"(the best setting per size and budget, seeds averaged).")]
    for name, result in report.laws.items():
        rows = tuple((p, num(v), interval_text(result.intervals.get(p))) for p, v in result.params.items())
        facts = [f"method {result.method}", f"objective {num(result.objective, 6)}", f"{result.n_points} points",
                 "converged" if result.converged else "NOT converged"]
        boot = result.procedure.get("bootstrap")
        if boot:
            facts.append(f"{boot['n']} bootstrap refits (resampling {boot['resampling']})")
        out.append(Block("p", f"**{name}**: " + ", ".join(facts)))
        out.append(Block("table", headers=("parameter", "estimate", "95% interval"), rows=rows))
        if warnings := report.warnings.get(name, []):
            out.append(Block("p", f"**Warning: {name} is not identified by these points**: "
                                  + "; ".join(warnings) + "."))
    if report.backtest is not None:
        bt = report.backtest
        out.append(Block("p", f"Backtest: {bt.fit.law} fitted without the largest budget predicts its "
                              f"{bt.observed.size} points with mean |error| {100 * bt.mean_abs_relative_error:.2f}% "
                              f"(max {100 * bt.max_abs_relative_error:.2f}%)."))
    for what, message in report.errors.items():
        out.append(Block("p", f"Not fitted: {what}: {message}"))
    return out


def optimal_block(ctx: FigureContext) -> list[Block]:
    """The compute-optimal configurations the fit selected, with intervals; extrapolations marked as such."""
    rows = ctx.report.compute_optimal if ctx.report is not None else []
    if not rows:
        return [Block("p", "No compute-optimal configurations yet.")]
    table = tuple(
        (num(r.C) + (" (extrapolated)" if r.extrapolated else ""), num(r.N_opt), interval_text(r.N_opt_interval),
         num(r.D_opt), interval_text(r.D_opt_interval), num(r.D_opt / r.N_opt), num(r.loss),
         interval_text(r.loss_interval))
        for r in rows
    )
    c_max = ctx.report.c_max()
    note = (f"C under the fit's conventions ({ctx.conventions.c_label()}); the largest trained compute is "
            f"{num(c_max)}: rows past it are extrapolations of the fitted law, not measurements.")
    return [Block("p", note),
            Block("table", headers=("C (FLOPs)", "N_opt", "N interval", "D_opt", "D interval", "D/N", "loss",
                                    "loss interval"),
                  rows=table)]


def trial_block(ctx: FigureContext) -> list[Block]:
    """Every trial with its status, size, counts and final losses (errors cut to one line)."""
    if ctx.store is None:
        return [Block("p", "No sweep store (figures drawn from a points file).")]
    trials = ctx.store.trials()
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    rows = tuple(
        (t.id[:10], t.label, size_of(t), t.status, num(t.params_non_embedding), num(t.tokens), num(t.flops_6n),
         num(t.val_loss), num(t.train_loss), ((t.error or "").strip().splitlines() or [""])[-1][:80])
        for t in trials
    )
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no trials"
    return [Block("p", f"{len(trials)} trials ({summary})."),
            Block("table", headers=("id", "label", "size", "status", "N (non-emb)", "tokens", "FLOPs (6N)",
                                    "val loss", "train loss", "note"), rows=rows)]


def report_blocks(ctx: FigureContext, rendered: Iterable[Rendered]) -> list[Block]:
    """The whole report: the answer first, then the fitted laws, compute-optimal choices and compression results
    in detail, the figures by section, and the trial table."""
    from scaling.plots.answer_blocks import answer_blocks  # these import Block from here, so not at the top
    from scaling.plots.compression_blocks import compression_blocks
    from scaling.plots.quality_blocks import quality_blocks

    blocks = [*answer_blocks(ctx), Block("h2", "Fitted laws"), *law_blocks(ctx),
              Block("h2", "Compute-optimal configurations"), *optimal_block(ctx), *quality_blocks(ctx),
              *compression_blocks(ctx)]
    rendered = list(rendered)
    sections = sorted({r.section for r in rendered}, key=lambda s: SECTIONS.index(s) if s in SECTIONS else 99)
    for section in sections:
        blocks.append(Block("h2", f"Figures: {section}"))
        for r in (r for r in rendered if r.section == section):
            if r.ok:
                blocks.append(Block("figure", r.title, figure=r))
            else:
                blocks.append(Block("p", f"*{r.title}* — skipped: {r.note}"))
    blocks += [Block("h2", "Trials"), *trial_block(ctx)]
    return blocks


def _md_inline(text: str) -> str:
    return text


def _html_inline(text: str) -> str:
    """Escape, then turn **x** and *x* and `x` into bold, italics, code (the few marks the blocks use)."""
    import re

    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"\*(.+?)\*", r"<i>\1</i>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def to_markdown(title: str, blocks: list[Block], base: Path) -> str:
    """Markdown with figures referenced relative to `base` (the report's folder)."""
    lines = [f"# {title}", ""]
    for b in blocks:
        if b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [_md_inline(b.text), ""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(b.headers) + " |")
            lines.append("|" + "---|" * len(b.headers))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in b.rows]
            lines.append("")
        elif b.kind == "figure" and b.figure is not None:
            png = next((p for p in b.figure.paths if p.suffix == ".png"), b.figure.paths[0])
            rel = Path(os.path.relpath(png, base)).as_posix()
            lines += [f"### {b.text}", "", f"![{b.text}]({rel})", ""]
    return "\n".join(lines)


def to_html(title: str, blocks: list[Block]) -> str:
    """One self-contained HTML page: PNGs inlined as base64 (SVG inlined when there is no PNG)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for b in blocks:
        if b.kind == "h2":
            body.append(f"<h2>{html.escape(b.text)}</h2>")
        elif b.kind == "p":
            body.append(f"<p>{_html_inline(b.text)}</p>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "figure" and b.figure is not None:
            body.append(f"<figure id=\"{html.escape(b.figure.name)}\">{_figure_html(b.figure)}"
                        f"<figcaption>{html.escape(b.text)}</figcaption></figure>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def _figure_html(r: Rendered) -> str:
    png = next((p for p in r.paths if p.suffix == ".png"), None)
    if png is not None:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        return f"<img alt=\"{html.escape(r.title)}\" src=\"data:image/png;base64,{data}\">"
    svg = next(p for p in r.paths if p.suffix == ".svg").read_text()
    return svg[svg.find("<svg"):]


CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f2f2f2}"
    "figure{margin:1em 0}img,svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#555}"
)


def write_report(ctx: FigureContext, rendered: Iterable[Rendered], out_dir: Path, title: str
                 ) -> tuple[Path, Path]:
    """Write out_dir/report.html and out_dir/report.md; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(ctx, rendered)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    html_path.write_text(to_html(title, blocks))
    md_path.write_text(to_markdown(title, blocks, out_dir))
    return html_path, md_path
