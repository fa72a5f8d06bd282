"""compress.json reports every finished compression row in the store: `scaling compress --set methods=...`
adds results, it never hides the earlier ones (item 10 of issue 13)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from scaling.sweep.store import STORE_NAME, Store

pytest.importorskip("jax")

RESULT = {"sparsity": 0.5, "val_loss": 4.0, "base_loss": 3.9, "delta_loss": 0.1, "bits": 8}


@dataclass
class FakeJob:
    """A planned compression job of the new selection (the real planner needs trained configs)."""

    id: str
    source: str

    def store_row(self, ord_: int) -> dict:
        return {"id": self.id, "ord": ord_, "kind": "compress", "label": "quantize 8", "config": {},
                "parent": self.source}


def test_earlier_rows_stay_in_compress_json(fitted_run, monkeypatch):
    from scaling.compress import analysis, jobs
    from scaling.pipeline import load_run_sweep
    from scaling.stages import compress_stage
    from scaling.sweep.schema import CompressStageConfig

    store = Store(fitted_run / STORE_NAME)  # the fixture's row c0: an earlier run's prune result of trial t0
    store.conn.execute("UPDATE trials SET result = ? WHERE id = 'c0'", (json.dumps({"method": "prune", **RESULT}),))
    store.close()

    def run_new_jobs(store, *args, **kwargs):  # the new selection's one job finishes
        store.claim("host:1", kind="compress")
        store.finish("j1", "done", result={"method": "quantize", **RESULT})
        return {"ran": ["j1"], "failed": [], "interrupted": []}

    monkeypatch.setattr(jobs, "plan_jobs", lambda sources, stage: [FakeJob("j1", sources[0].id)])
    monkeypatch.setattr(compress_stage, "_run_jobs", run_new_jobs)
    monkeypatch.setattr(analysis, "write_figures", lambda *a, **k: [])
    sweep = load_run_sweep(fitted_run)
    stage = CompressStageConfig.model_validate({"methods": [{"quantize": [8]}], "max_configs": 1})
    sweep = sweep.model_copy(update={"stages": sweep.stages.model_copy(update={"compress": stage})})
    out = compress_stage.run(fitted_run, sweep)
    summary = json.loads((fitted_run / "compress" / "compress.json").read_text())
    assert out["done"] == 1 and out["jobs"] == 1 and summary["not_done"] == []
    assert sorted((r["id"], r["method"], r["in_selection"]) for r in summary["rows"]) == [
        ("c0", "prune", False), ("j1", "quantize", True)]
