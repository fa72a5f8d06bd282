"""`scaling fit RUN_DIR`: re-fit a sweep from its store as a new fit version; `--list` and `--version N` show them.

The fit starts from the sweep's own `stages.fit` (RUN_DIR/sweep.yaml, with `--set` applied) and changes only
what the options give, all checked before the store is touched. fit.json is the latest version; every earlier
one stays in the store.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from scaling.cli.fit_options import FitOptions, run_dir_config
from scaling.errors import UserError

SWEEP_FILE = "sweep.yaml"


def is_run_dir(path: Path) -> bool:
    """A sweep's run directory: a directory holding the sweep's store."""
    from scaling.sweep.store import STORE_NAME

    return path.is_dir() and (path / STORE_NAME).is_file()


def sweep_fit_config(run_dir: Path, overrides: list[str]) -> Any:
    """RUN_DIR's `stages.fit` settings (sweep.yaml with `--set stages.fit.*` applied); defaults for a bare store.

    Only the `stages.fit` block is read and validated (sweep.yaml keeps its sweep axes, and planning the whole
    sweep would load JAX), so an override of anything else is refused rather than silently ignored.
    """
    from pydantic import BaseModel, ConfigDict

    from scaling.config import validate
    from scaling.sweep.schema import FitStageConfig, StagesConfig
    from scaling.yamlio import apply_overrides, load_file

    class FitBlock(BaseModel):  # stages.fit alone, its errors named by their path in sweep.yaml
        model_config = ConfigDict(extra="ignore")
        stages: StagesConfig = StagesConfig()

    other = [item for item in overrides if not item.strip().startswith("stages.fit.")]
    if other:
        raise UserError(f"--set {other[0]!r}: `scaling fit` and `suggest` read only stages.fit.* of sweep.yaml "
                        "(e.g. --set stages.fit.params=total)")
    path = run_dir / SWEEP_FILE
    if not path.is_file():
        if overrides:
            raise UserError(f"--set: {run_dir} has no {SWEEP_FILE} to override; give the fit options instead")
        print(f"note: {run_dir} has no {SWEEP_FILE}: starting from the default fit settings", file=sys.stderr)
        return FitStageConfig()
    stages = apply_overrides(load_file(path), overrides).get("stages") or {}
    block = {"stages": {"fit": stages["fit"]}} if isinstance(stages, dict) and "fit" in stages else {}
    return validate(FitBlock, block, str(path)).stages.fit or FitStageConfig()


def fit(run_dir: Path, opts: FitOptions, overrides: list[str], as_json: bool,
        points: list[dict[str, float]] | None = None) -> int:
    """Validate everything, fit, record a version, write fit.json; the exit code (1: a requested law failed).
    `points` (from --predict) are predicted by every fitted law, with intervals where it bootstrapped."""
    from scaling.cli.predict_option import predictions, print_predictions
    from scaling.fit.report import FitReport
    from scaling.stages import fit_stage

    cfg = run_dir_config(sweep_fit_config(run_dir, overrides), opts)
    out = fit_stage.fit_run(run_dir, cfg)
    report = FitReport.read(run_dir)
    predicted = {name: predictions(result, points) for name, result in report.laws.items()} if points else {}
    if as_json:
        print(json.dumps({"version": out["version"], "new": out["new"], "path": out["path"],
                          "settings": report.settings, "laws": report.to_dict()["laws"], "errors": report.errors,
                          **({"predictions": predicted} if predicted else {})}))
    else:
        state = "new" if out["new"] else "unchanged: same settings and points as before, nothing recorded twice"
        print(f"fit version {out['version']} ({state}): {out['summary']}")
        print(f"written: {out['path']}")
        for name, rows in predicted.items():
            print_predictions(name, rows)
    if out["failed"]:
        law, why = next(iter(out["failed"].items()))
        print(f"incomplete: {len(out['failed'])} requested fit(s) not fitted, first {law}: {why}", file=sys.stderr)
        return 1
    return 0


def list_versions(run_dir: Path, as_json: bool) -> None:
    """Every fit version in the store, oldest first, one line each; `*` marks the one fit.json holds."""
    from scaling.fit.report import FitReport

    versions = _with_store(run_dir, lambda store: store.fit_versions())
    current = _current_version(run_dir, FitReport)
    if as_json:
        print(json.dumps([{**v, "current": v["version"] == current} for v in versions]))
        return
    if not versions:
        print(f"{run_dir}: no fit versions recorded yet; `scaling fit {run_dir}` makes the first")
        return
    print(f"{run_dir}: {len(versions)} fit version(s), oldest first; * = the one in fit.json")
    for v in versions:
        s = v["settings"]
        created = datetime.fromtimestamp(v["created"]).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{'*' if v['version'] == current else ' '} {v['version']:>3}  {created}  "
              f"laws {','.join(v['laws']) or '-'}  method {s.get('method')}  bootstrap {s.get('bootstrap')}  "
              f"seed {s.get('seed')}  loss {s.get('loss')}  N {s.get('params')}  C {s.get('compute')}  "
              f"from {v['inputs'].get('rows')} trials")


def show_version(run_dir: Path, version: int, as_json: bool) -> None:
    """One recorded fit version: its whole report (--json) or its one-line summary; writes nothing."""
    from scaling.fit.report import FitReport

    data = _with_store(run_dir, lambda store: store.fit_report(version))
    if data is None:
        have = [v["version"] for v in _with_store(run_dir, lambda store: store.fit_versions())]
        raise UserError(f"--version {version}: no such fit in {run_dir}; recorded versions: "
                        f"{', '.join(map(str, have)) or 'none yet'} (see --list)")
    report = FitReport.from_dict(data, f"fit version {version}")
    report.version = version
    if as_json:
        print(json.dumps(report.to_dict(), default=str))
    else:
        print(f"fit version {version}: {report.summary()}")


def _with_store(run_dir: Path, read: Any) -> Any:
    """`read(store)` on RUN_DIR's existing store, closed afterwards."""
    from scaling.sweep.store import STORE_NAME, Store

    store = Store(run_dir / STORE_NAME, create=False)
    try:
        return read(store)
    finally:
        store.close()


def _current_version(run_dir: Path, report_cls: Any) -> int | None:
    """The version fit.json holds (None when absent or written before fits were versioned)."""
    try:
        report = report_cls.read(run_dir)
    except UserError:
        return None
    return None if report is None else report.version
