"""`scaling fit-curves RUN_DIR`: fit a schedule-aware loss-curve law to a sweep's training curves, and backtest it
on the curves of other schedules. Numpy/scipy only: never loads JAX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

LAW_HELP = "multi-power (Luo et al. 2025) or annealing (Tissue et al. 2024)"


def _names(values: list[str]) -> list[str]:
    """Repeatable and comma-separated option values, flattened."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _pick(curves: list[Any], schedules: list[str], option: str) -> list[Any]:
    from scaling.errors import UserError

    have = sorted({c.schedule for c in curves})
    unknown = [s for s in schedules if s not in have]
    if unknown:
        raise UserError(f"{option} {unknown[0]!r}: no finished run with that schedule; the runs have "
                        f"{', '.join(have)}")
    return [c for c in curves if c.schedule in schedules]


def _print(report: dict[str, Any], path: Path) -> None:
    fit = report["fit"]
    ivs = fit["intervals"]
    print(f"{fit['law']} law fitted on {', '.join(report['fit_on'])} ({fit['n_points']} points, "
          f"{fit['procedure']['objective']}; rms residual {fit['rms_residual']:.4g})")
    for name, value in fit["params"].items():
        iv = ivs.get(name)
        print(f"  {name:>6} = {value:.6g}" + (f"   [{iv[0]:.6g}, {iv[1]:.6g}]" if iv else ""))
    for p in report["predictions"]:
        print(f"  predicted {p['name']} ({p['schedule']}): final loss {p['final_predicted']:.4f} vs observed "
              f"{p['final_observed']:.4f} (relative error {p['final_rel_error']:+.2%}); curve mean |relative "
              f"error| {p['curve_mean_abs_rel_error']:.2%}")
    print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    @app.command("fit-curves")
    def fit_curves_command(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory (with store.sqlite)"),
        law: str = typer.Option("multi-power", "--law", help=LAW_HELP),
        fit_schedules: list[str] = typer.Option([], "--fit-schedules", help="schedule kinds to fit on, e.g. "
                                                "constant,cosine (default: every schedule not predicted)"),
        predict_schedule: list[str] = typer.Option([], "--predict-schedule", help="schedule kinds to predict "
                                                   "from their lr alone (backtest), e.g. wsd"),
        loss: str = typer.Option("train_loss", "--loss", help="train_loss or val_loss"),
        objective: str = typer.Option("huber-log", "--objective", help="huber-log, lsq-log, huber or lsq"),
        delta: float = typer.Option(1e-3, "--delta", help="Huber scale of the residuals"),
        bootstrap: int = typer.Option(0, "--bootstrap", help="refits on resampled runs for 95% intervals"),
        seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
        min_step: int = typer.Option(None, "--min-step", help="fit only steps from this one on "
                                     "(default: after the warmup)"),
        decay: float = typer.Option(0.999, "--decay", help="annealing law: the momentum's lambda"),
        out: Path = typer.Option(None, "--out", help="report file (default RUN_DIR/curves/<law>.json)"),
        as_json: bool = typer.Option(False, "--json", help="print the report as one JSON object"),
    ) -> None:
        """Fit a loss-curve law that knows the learning-rate schedule; predict other schedules' curves."""
        from scaling.errors import UserError
        from scaling.fit.curve_data import curves_from_run_dir
        from scaling.fit.curves import CURVE_LAWS, backtest_curves, fit_curves

        if law not in CURVE_LAWS:
            raise UserError(f"--law {law!r}: use one of {', '.join(CURVE_LAWS)}")
        curves = curves_from_run_dir(run_dir, loss=loss)
        if not curves:
            raise UserError(f"{run_dir}: no finished train trial with an lr history and a finite {loss}; "
                            "train the sweep first (the trainer logs lr beside train_loss)")
        held = _pick(curves, _names(predict_schedule), "--predict-schedule")
        fit_on = (_pick(curves, _names(fit_schedules), "--fit-schedules") if fit_schedules
                  else [c for c in curves if all(c is not h for h in held)])
        if not fit_on:
            raise UserError("nothing left to fit on: give --fit-schedules, or predict fewer schedules")
        options: dict[str, Any] = {"objective": objective, "delta": delta, "bootstrap": bootstrap, "seed": seed,
                                   "min_step": min_step}
        if law == "annealing":
            options["decay"] = decay
        if held:
            report = backtest_curves(fit_on, held, law, **options).to_dict()
        else:
            report = {"fit": fit_curves(fit_on, law, **options).to_dict(), "fit_on": [c.name for c in fit_on],
                      "predictions": []}
        report = {"run_dir": str(run_dir), "law": law, "loss": loss, **report}
        path = out or Path(run_dir) / "curves" / f"{law}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        if as_json:
            print(json.dumps(report))
        else:
            _print(report, path)
