"""Chinchilla approach 3 as Epoch AI re-fit it (Besiroglu et al. 2024), with a seeded bootstrap.

Reads Epoch's 245 digitised points, drops the 5 highest-loss rows (240 kept), D = C / (6N), fits
L = E + A/N^alpha + B/D^beta by summed Huber (delta 1e-3) on log residuals, bootstraps rows, and writes
the parameter table (with Epoch's and Hoffmann's numbers beside ours) and the fit figures.

    python -m analysis.chinchilla_epoch [OUT] [--bootstrap 200] [--method huber-grid]
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from analysis.paths import parser, require
from scaling.accounting import tokens_for_compute

EPOCH_FILE = "epoch_chinchilla_svg_extracted_data.csv"
# README of the reference data: Epoch's summed-Huber result, its bootstrap SEs, and Hoffmann et al.'s constants.
EPOCH = {"A": 477.8, "B": 2143.4, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
EPOCH_SE = {"A": 124.5, "B": 1293.0, "E": 0.026, "alpha": 0.015, "beta": 0.021}
HOFFMANN = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}


def load_points(data_dir: Path) -> list[dict[str, Any]]:
    """The 240 points Epoch fits: (N, D = C/6N, C, loss), the 5 highest losses dropped."""
    with require(Path(data_dir) / EPOCH_FILE).open() as fh:
        rows = [(float(r["Model Size"]), float(r["Training FLOP"]), float(r["loss"])) for r in csv.DictReader(fh)]
    rows.sort(key=lambda r: r[2])
    kept = rows[:-5]
    return [{"label": f"N={n:.3g}", "size": f"{n:.2g}", "N": n, "D": tokens_for_compute(c, n), "C": c, "loss": loss}
            for n, c, loss in kept]


def fit(points: list[dict[str, Any]], bootstrap: int = 200, method: str = "huber-grid", seed: int = 0):
    """The Chinchilla law fitted to the points with the fitting library (FitResult, bootstrap intervals)."""
    from scaling.fit import fit_law

    return fit_law(n=[p["N"] for p in points], d=[p["D"] for p in points], loss=[p["loss"] for p in points],
                   law="chinchilla", method=method, bootstrap=bootstrap, seed=seed)


def fit_report(points: list[dict[str, Any]], result: Any) -> Any:
    """The fit as a FitReport (points with N as Epoch digitised it, the law, its compute-optimal table), which
    is what the plotting library draws."""
    from scaling.fit.allocation import compute_optimal_table
    from scaling.fit.points import Conventions, PointsTable, ResultRow
    from scaling.fit.report import FitReport

    conv = Conventions(params="total", compute="6nd", loss="loss", source="Epoch's digitised points",
                       params_as_given=True)
    rows = tuple(ResultRow(trial=f"p{i}", label=p["label"], size=p["size"], budget="", n_total=p["N"],
                           n_non_embedding=p["N"], d=p["D"], loss=p["loss"]) for i, p in enumerate(points))
    table = PointsTable(rows, conv)
    return FitReport(points=table, laws={"chinchilla": result}, compute_optimal=compute_optimal_table(result, table))


def table(result: Any) -> list[dict[str, Any]]:
    """Our estimate and interval per parameter beside Epoch's and Hoffmann et al.'s."""
    out = []
    for p in HOFFMANN:
        iv = result.intervals.get(p)
        out.append({"param": p, "ours": result.params[p], "interval": iv, "se": result.standard_errors.get(p),
                    "epoch": EPOCH[p], "epoch_se": EPOCH_SE[p], "hoffmann": HOFFMANN[p]})
    return out


def write_outputs(out: Path, points: list[dict[str, Any]], result: Any) -> dict[str, Any]:
    """params.json, params.md and the fit figures (contours, residuals, N_opt/D_opt) under `out`."""
    from scaling.plots.context import FigureContext
    from scaling.plots.render import render_figures

    out.mkdir(parents=True, exist_ok=True)
    rows = table(result)
    report = fit_report(points, result)
    report.write(out)
    (out / "params.json").write_text(json.dumps({"rows": rows, "objective": result.objective}, indent=1,
                                                default=float))
    lines = ["| param | ours | 95% interval | SE | Epoch | Epoch SE | Hoffmann |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        iv = f"[{r['interval'][0]:.4g}, {r['interval'][1]:.4g}]" if r["interval"] else "-"
        se = f"{r['se']:.3g}" if r["se"] is not None else "-"
        lines.append(f"| {r['param']} | {r['ours']:.4g} | {iv} | {se} | {r['epoch']} | {r['epoch_se']} "
                     f"| {r['hoffmann']} |")
    (out / "params.md").write_text("\n".join(lines) + f"\n\nobjective {result.objective:.7e}\n")
    ctx = FigureContext(report=report)
    rendered = render_figures(ctx, out / "figures", names=["fit_contours", "residuals", "compute_optimal"],
                              strict=True)
    return {"table": rows, "figures": [str(p) for r in rendered for p in r.paths]}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "chinchilla")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (Epoch used 4000)")
    p.add_argument("--method", default="huber-grid", help="huber-grid (Epoch's procedure), varpro or ml")
    args = p.parse_args()
    points = load_points(args.data)
    result = fit(points, bootstrap=args.bootstrap, method=args.method)
    print(result)
    write_outputs(args.out, points, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
