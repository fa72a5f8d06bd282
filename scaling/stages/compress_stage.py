"""The compression stage: select trained configurations, queue their compression jobs in the sweep's store,
claim and run them (resumable: finished jobs are skipped, a crashed job is reclaimed and its fine-tuning
resumes from its checkpoint), then fit the compression laws, compute effective-parameter multipliers and draw
the figures into RUN_DIR/compress/.

Jobs are rows of the shared `trials` table with kind 'compress' and parent = the source train trial; their
training curves (recovery, QAT, students) go to the metrics table through `StoreSink`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from scaling import results
from scaling.errors import UserError
from scaling.fit.report import FitReport
from scaling.sweep.schema import FitStageConfig, SweepConfig
from scaling.sweep.store import STORE_NAME, Store, StoreSink, TrialRow

COMPRESS_DIR = "compress"
SUMMARY_FILE = "compress.json"


def _row_dict(row: TrialRow, sources: dict[str, TrialRow], param_count: str) -> dict[str, Any]:
    """A finished compression row flattened for analysis: result + where it came from (N, D of the source)."""
    src = sources[row.parent]
    return {**(row.result or {}), "id": row.id, "source": row.parent, "source_label": src.label,
            "n": getattr(src, f"params_{param_count}"), "d": src.tokens, "label": row.label}


def _run_jobs(store: Store, run_dir: Path, stop: threading.Event | None, max_attempts: int, stale_s: float
              ) -> dict[str, list[str]]:
    """Claim -> run -> record until no compression job is runnable, with the sweep's one loop (`runner.work`);
    one loaded model at a time, reused across the jobs of its source (they are queued grouped by source)."""
    from scaling.compress import execute
    from scaling.compress.jobs import CompressJob
    from scaling.compress.model_io import load_trained
    from scaling.sweep.runner import Outcome, trial_dir, work
    from scaling.train.checkpoint import CheckpointError

    held: dict[str, Any] = {"source": None, "model": None}  # the loaded source model, kept across rows
    base_cache: dict[tuple[str, int], float] = {}

    def run_one(row: TrialRow) -> Outcome:
        source = store.trial(row.parent)
        job = CompressJob.from_config(row.config, source.label)
        if held["source"] != source.id:
            held.update(source=None, model=None)  # drop the previous model before loading the next
            try:
                held["model"] = load_trained(source.config, trial_dir(run_dir, source.id) / "checkpoints")
            except CheckpointError as exc:  # never compress an earlier, half-trained model instead
                return Outcome("failed", error=str(exc))
            held["source"] = source.id
        sink = StoreSink(store, row.id)
        try:
            result = execute.run_job(held["model"], job, run_dir / COMPRESS_DIR / row.id, sinks=[sink], stop=stop,
                                     base_cache=base_cache, teacher_tokens=source.tokens)
        finally:
            sink.close()
        status = result.pop("status")
        return Outcome(status, result, result.get("reason"))

    report = work(store, "compress", run_one, stop=stop, max_attempts=max_attempts, stale_s=stale_s, poll_s=1.0)
    return {"ran": report.ran, "failed": report.failed, "interrupted": report.released}


def run(run_dir: Path, sweep: SweepConfig, *, stop: threading.Event | None = None) -> dict[str, Any]:
    """Run the compression stage `sweep.stages.compress` on the trained sweep in `run_dir`."""
    from scaling.compress import analysis, noise
    from scaling.compress.effective import fit_from_table, from_report
    from scaling.compress.jobs import ORD_BASE, plan_jobs
    from scaling.compress.select import select
    from scaling.stages.fit_stage import conventions_of

    stage = sweep.stages.compress
    if stage is None:
        raise UserError(f"{run_dir}: the sweep has no stages.compress block; add one (see the README)")
    run_dir = Path(run_dir)
    if not (run_dir / STORE_NAME).is_file():
        raise UserError(f"{run_dir}: no sweep store here ({STORE_NAME}); run `scaling run SWEEP.yaml` first")
    started = time.perf_counter()
    store = Store(run_dir / STORE_NAME)
    try:
        fit_report = FitReport.read(run_dir)
        conventions = (fit_report.conventions if fit_report is not None
                       else conventions_of(sweep.stages.fit or FitStageConfig()))
        table = results.from_trials(store.trials(kind="train"), conventions)
        how = stage.select if isinstance(stage.select, str) else stage.select.trials
        chosen = select(table, how, stage.max_configs, fit_report)
        sources = {s.trial_id: store.trial(s.trial_id) for s in chosen}
        jobs = plan_jobs(list(sources.values()), stage)
        store.add_trials(job.store_row(ORD_BASE + i) for i, job in enumerate(jobs))
        wanted = {job.id for job in jobs}
        report = _run_jobs(store, run_dir, stop, sweep.executor.max_attempts, sweep.executor.stale_after_s)

        all_sources = {t.id: t for t in store.trials(kind="train")}
        law = from_report(fit_report) or fit_from_table(table.best_per_point())
        # compress.json reports every finished compression row in the store, not only this run's selection,
        # so `--set stages.compress.methods=...` adds results instead of hiding earlier ones
        finished = [r for r in store.trials(kind="compress", status="done") if r.parent in all_sources]
        done = [r for r in finished if r.id in wanted]
        rows = [{**_row_dict(r, all_sources, conventions.params), "in_selection": r.id in wanted} for r in finished]
        analysis.add_effective(rows, law)
        noise.label_deltas(rows, noise.seed_noise(table))  # each delta against eval and seed noise
        laws = analysis.fit_laws(rows, law)
        pairs = analysis.distill_pairs(rows)
        out_dir = run_dir / COMPRESS_DIR
        out_dir.mkdir(parents=True, exist_ok=True)
        formats = sweep.stages.plot.formats if sweep.stages.plot is not None else ["png"]
        pending = [j for j in jobs if j.id not in {r.id for r in done}]
        summary = {
            "selected": [{"trial": s.trial_id, "label": sources[s.trial_id].label, "reason": s.reason}
                         for s in chosen],
            "jobs": len(jobs), "done": len(done), "not_done": [j.id for j in pending],
            "ran_now": report["ran"], "failed_now": report["failed"],
            "effective_law": None if law is None else {"source": law.source, "params": law.params,
                                                       "param_count": law.param_count,
                                                       "replicates": len(law.samples)},
            "laws": laws, "distillation": pairs, "rows": rows, "wall_s": time.perf_counter() - started,
            "noise": {"sigmas": noise.SIGMAS, "rule": f"|delta| <= {noise.SIGMAS:g} sigma: {noise.NO_CHANGE!r}"},
        }
        (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=_json_default))
        figure_paths = analysis.write_figures(run_dir, out_dir / "figures", formats)
        for path in figure_paths:
            store.add_artifact("figure", path)
    finally:
        store.close()
    text = (f"{len(done)}/{len(jobs)} compression jobs done over {len(chosen)} configuration(s)"
            f"{'; ' + str(len(pending)) + ' left (re-run to resume)' if pending else ''}; "
            f"{len(figure_paths)} figure files; {out_dir / SUMMARY_FILE}")
    return {"summary": text, "path": str(out_dir / SUMMARY_FILE), "done": len(done), "jobs": len(jobs),
            "interrupted": bool(report["interrupted"]), "wall_s": summary["wall_s"]}


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
