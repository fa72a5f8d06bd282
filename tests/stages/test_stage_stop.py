"""A stop (Ctrl-C, SIGTERM) during the stages lets the running stage finish and starts no further one; the stop
event reaches every stage."""

from __future__ import annotations

import threading

from scaling import pipeline
from scaling.sweep.schema import SweepConfig


def _sweep() -> SweepConfig:
    return SweepConfig.model_validate({
        "name": "s", "model": {"sizes": ["xs"]}, "data": {"corpus": ["kjv"], "tokenizer": {"kind": "byte"}},
        "budget": {"kind": "tokens", "tokens": [1e5]},
        "stages": {"fit": {"laws": ["chinchilla"]}, "plot": {"formats": ["png"]},
                   "compress": {"methods": [{"prune": [0.5]}]}}})


def test_a_stop_during_one_stage_starts_no_further_stage(monkeypatch, tmp_path):
    stop, calls = threading.Event(), []

    def stage(name, stops=False):
        def run(run_dir, sweep, got_stop):
            calls.append((name, got_stop))
            if stops:
                stop.set()  # the signal arrives while this stage runs
            return {"summary": name}
        return run

    monkeypatch.setattr(pipeline, "STAGES", {"fit": stage("fit"), "compress": stage("compress", stops=True),
                                             "plot": stage("plot")})
    out = pipeline.run_stages(tmp_path, _sweep(), stop=stop)
    assert list(out) == ["fit", "compress"]  # compress finished its unit of work; plot never started
    assert [c[0] for c in calls] == ["fit", "compress"] and all(c[1] is stop for c in calls)


def test_without_a_stop_every_requested_stage_runs(monkeypatch, tmp_path):
    ran = []

    def stage(name):
        def run(run_dir, sweep, stop):
            ran.append(name)
            return {}
        return run

    monkeypatch.setattr(pipeline, "STAGES", {k: stage(k) for k in ("fit", "compress", "plot")})
    pipeline.run_stages(tmp_path, _sweep(), only={"fit", "plot"})
    assert ran == ["fit", "plot"]
