"""`scaling run | validate | status | export`: submit a sweep, check it, watch it, take its data out."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        sweep_file: Path = typer.Argument(..., help="the sweep's YAML file"),
        set_: list[str] = typer.Option([], "--set", help="override a field, e.g. --set budget.tokens=[1e6]"),
        run_dir: Path = typer.Option(None, "--run-dir", help="default runs/<name>"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the trials and their cost; train nothing"),
        no_stages: bool = typer.Option(False, "--no-stages", help="train only; skip fit/plot/compress"),
        retry_failed: bool = typer.Option(False, "--retry-failed",
                                          help="give failed trials fresh attempts (after fixing the cause)"),
    ) -> None:
        """Train every trial of a sweep (re-running resumes), then fit, plot and compress as it asks."""
        from scaling import pipeline
        from scaling.cli.show import print_pipeline_result, print_plan

        if dry_run:
            plan, directory = pipeline.prepare(sweep_file, set_, run_dir)
            print_plan(plan, directory)
            return
        from scaling.cli.outcome import finish, of_pipeline
        from scaling.train.run import stop_on_sigint

        stop = stop_on_sigint()
        result = pipeline.run_pipeline(sweep_file, set_, run_dir=run_dir, stop=stop, stages=not no_stages,
                                       retry_failed=retry_failed)
        print_pipeline_result(result)
        finish(of_pipeline(result, stopped=stop.is_set()))

    @app.command()
    def validate(
        sweep_file: Path = typer.Argument(..., help="the sweep's YAML file"),
        set_: list[str] = typer.Option([], "--set"),
        devices: int = typer.Option(None, "--devices", min=1,
                                    help="check the mesh for this many devices (default: the ones here)"),
        device_kind: str = typer.Option(None, "--device-kind",
                                        help="estimate time on these chips (h100, a100, v5p, v6e, ...) from their "
                                             "peak FLOP/s and --mfu, not this machine's speed"),
        mfu: float = typer.Option(None, "--mfu", help="model FLOPs utilisation the time estimate assumes (default "
                                                      "0.4 on accelerators, 0.25 on a CPU)"),
        design: bool = typer.Option(False, "--design",
                                    help="simulate the planned points from a prior law: expected interval widths"),
        noise: float = typer.Option(None, "--noise", min=0.0, help="seed-to-seed loss noise for --design (nats)"),
        prior: Path = typer.Option(None, "--prior", help="--design from an earlier run's chinchilla fit (RUN_DIR or "
                                                         "its fit.json) and its residual noise, not the default"),
    ) -> None:
        """Print the resolved trials of a sweep file and what they cost, or what is wrong with it."""
        from scaling import pipeline
        from scaling.cli.show import print_plan
        from scaling.errors import UserError
        from scaling.fit.prior import prior_from_fit
        from scaling.sweep.plan import DEFAULT_MFU, design_check, local_rate, target_rate

        known = prior_from_fit(prior) if prior is not None else None  # a bad --prior fails before planning
        plan, directory = pipeline.prepare(sweep_file, set_, n_devices=devices)
        if device_kind is not None:
            sizes = (plan.sweep.mesh.data, plan.sweep.mesh.fsdp, plan.sweep.mesh.tensor)
            if devices is None and -1 in sizes:
                raise UserError("--device-kind needs --devices N: the sweep's mesh takes 'the rest' (-1) of a "
                                "device count it does not state")
            count = devices if devices is not None else sizes[0] * sizes[1] * sizes[2]
            plan.flops_per_s, plan.rate_note = target_rate(device_kind, count, plan.sweep.dtype.compute,
                                                           DEFAULT_MFU if mfu is None else mfu)
        else:  # the devices here: their peak (table, or this CPU's probe) and a stated utilisation
            plan.flops_per_s, plan.rate_note = local_rate(plan, mfu)
        print_plan(plan, directory)
        if known is not None:
            print(f"prior: {known.source}; residual RMS {known.noise:.4f} nats")
            noise = known.noise if noise is None else noise  # a given --noise wins over the measured residual
        if design or known is not None:
            for line in design_check(plan, noise=noise, prior=known.params if known else None).lines():
                print(line)

    @app.command()
    def status(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory"),
        all_: bool = typer.Option(False, "--all", help="also list trials of earlier versions of the sweep"),
    ) -> None:
        """What ran, what failed, what is left."""
        from scaling.cli.show import print_status
        from scaling.sweep.store import STORE_NAME, Store

        store = Store(run_dir / STORE_NAME, create=False)  # never makes an empty store where there was none
        print_status(store, run_dir, retired=all_)
        store.close()

    @app.command()
    def export(
        run_dir: Path = typer.Argument(..., help="a sweep's run directory"),
        fmt: str = typer.Option("csv", "--format", help="csv or parquet"),
        out: Path = typer.Option(None, "--out", help="default RUN_DIR/export"),
    ) -> None:
        """Write the store's trials and metrics as CSV or Parquet."""
        from scaling.errors import UserError
        from scaling.sweep.store import STORE_NAME, Store

        if fmt not in ("csv", "parquet"):
            raise UserError(f"--format {fmt!r}: valid formats are csv and parquet")
        store = Store(run_dir / STORE_NAME, create=False)
        paths = store.export(out or run_dir / "export", fmt)
        store.close()
        print(json.dumps([str(p) for p in paths]))
