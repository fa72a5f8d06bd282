"""The compression stage on a trained run: every method recorded once, resumable after a stop or a crash."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from scaling.compress import execute
from scaling.pipeline import load_run_sweep
from scaling.stages import compress_stage
from scaling.sweep.store import STORE_NAME


def _rows(run_dir):
    conn = sqlite3.connect(run_dir / STORE_NAME)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM trials WHERE kind = 'compress' ORDER BY ord")]
    metrics = conn.execute("SELECT COUNT(*), COUNT(DISTINCT trial || name || step) FROM metrics").fetchone()
    conn.close()
    return rows, metrics


def test_stage_stops_resumes_and_records_each_job_once(run_copy, monkeypatch):
    sweep = load_run_sweep(run_copy)
    stop = threading.Event()
    calls: list[str] = []
    real = execute.run_job

    def stop_after_two(loaded, job, *args, **kwargs):
        out = real(loaded, job, *args, **kwargs)
        calls.append(job.method)
        if len(calls) == 2:
            stop.set()
        return out

    monkeypatch.setattr(execute, "run_job", stop_after_two)
    t0 = time.perf_counter()
    first = compress_stage.run(run_copy, sweep, stop=stop)
    assert first["done"] == 2 and first["jobs"] == 8 and "6 left" in first["summary"]

    second = compress_stage.run(run_copy, sweep)
    print(f"compression stage on one xs model: {time.perf_counter() - t0:.1f} s in all")
    assert second["done"] == 8 and len(calls) == 8  # the first two were not run again
    rows, (n_metrics, n_distinct) = _rows(run_copy)
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert all(r["status"] == "done" and r["attempt"] == 1 for r in rows)
    assert n_metrics == n_distinct > 0  # recovery and student curves, no step twice

    # a crash: one job left 'running' by a worker that no longer exists is reclaimed; nothing else reruns
    conn = sqlite3.connect(run_copy / STORE_NAME)
    crashed = rows[-1]["id"]
    conn.execute("UPDATE trials SET status = 'running', worker = 'nohost:999999', heartbeat = 0 WHERE id = ?",
                 (crashed,))
    conn.commit()
    conn.close()
    calls.clear()
    third = compress_stage.run(run_copy, sweep)
    assert third["done"] == 8 and len(calls) == 1
    after, _ = _rows(run_copy)
    assert {r["id"]: r["attempt"] for r in after}[crashed] == 2
    assert sum(r["attempt"] for r in after) == 9

    summary = json.loads((run_copy / "compress" / "compress.json").read_text())
    by = {(r["method"], str(r["value"])): r for r in summary["rows"]}
    dense = by[("dense", "0")]
    assert by[("prune", "0.5")]["sparsity"] == pytest.approx(0.5, abs=1e-6)
    assert by[("prune", "0.75")]["nonzero_outside_mask"] == 0
    assert by[("prune", "0.75")]["loss_before_recovery"] > by[("prune", "0.5")]["loss_before_recovery"]
    assert dense["bytes"] > by[("quantize", "8")]["bytes"] > by[("quantize", "4")]["bytes"]
    assert abs(by[("quantize", "8")]["delta_loss"]) < 0.005
    assert {r["method"] for r in summary["rows"]} >= {"distill", "distill_baseline", "prune_nm"}
    assert summary["distillation"] and summary["distillation"][0]["tokens"] == 2048
    # every evaluated model records its evaluation noise; each delta is read against it
    assert dense["eval_sem"] > 0 and dense["eval_units"] == 4 and "delta_significant" not in dense
    q8, q4 = by[("quantize", "8")], by[("quantize", "4")]
    assert 0 < q8["delta_sem"] < q8["eval_sem"]  # paired on the same batches: far below either model's SEM
    assert q8["noise"] == pytest.approx(q8["delta_sem"]) and q8["noise_parts"]["seed"] is None  # one seed only
    assert q4["change"] in ("worse", "better", "no measurable change")
    assert q4["delta_significant"] == (abs(q4["delta_loss"]) > 2 * q4["noise"])
    student = next(r for r in summary["rows"] if r["method"] == "distill")
    assert student["noise_parts"]["eval_kind"].startswith("unpaired") and student["noise"] > 0
    # one source with two sparsities and two bit widths: too few points for any law, and each says why
    assert summary["laws"] and all("skipped" in law for law in summary["laws"].values())
    assert "Chinchilla" in summary["laws"]["ptq_effective"]["skipped"]
    figures = {p.rsplit("/", 1)[-1] for p in summary.get("figures", [])} or {
        p.name for p in (run_copy / "compress" / "figures").iterdir()}
    assert {"compress_loss_vs_bytes.png", "compress_loss_vs_sparsity.png", "compress_loss_vs_bits.png",
            "compress_student_vs_teacher.png"} <= figures
