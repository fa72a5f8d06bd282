"""The METHODS table is the compression vocabulary's one source: validation, planning, dispatch and figures
all read it, and no other module keeps its own list of method names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from scaling.compress import settings
from scaling.compress.settings import METHODS, CompressStageConfig, method

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"sparsity": 0.5, "nm": "2:4", "bits": 4, "student": "xs"}


def test_every_row_is_complete_and_names_are_unique():
    assert len({m.name for m in METHODS}) == len(METHODS)
    for m in METHODS:
        assert m.label and m.marker and m.family in ("dense", "prune", "quantize", "distill")
        assert (m.prune_kind is not None) == (m.index is not None) == (m.family == "prune")
        assert m.twin is None or settings.BY_NAME[m.twin].family == m.family
    assert settings.QUANTIZE_METHODS == ("quantize", "quantize_act", "qat")
    with pytest.raises(ValueError, match="unknown compression method 'nope'"):
        method("nope")


def test_the_schema_accepts_exactly_the_sweep_methods_of_the_table():
    for m in METHODS:
        entry = {"methods": [{m.name: [VALUES.get(m.value_kind, 0)]}], "recovery_tokens": 64}
        if m.in_sweep:
            CompressStageConfig.model_validate(entry)
        else:
            valid = ", ".join(settings.SWEEP_METHODS)
            with pytest.raises(ValueError, match=f"unknown method '{m.name}'; valid: {valid}"):
                CompressStageConfig.model_validate(entry)
    # a method that fine-tunes by itself needs recovery tokens, whichever it is
    for m in METHODS:
        if m.trains:
            with pytest.raises(ValueError, match=f"{m.name} fine-tunes for recovery_tokens"):
                CompressStageConfig.model_validate({"methods": [{m.name: [4]}]})


def test_values_are_checked_by_their_kind():
    for m in METHODS:
        if not m.in_sweep:
            continue
        bad = {"sparsity": 1.5, "nm": "4:2", "bits": 9, "student": 3}[m.value_kind]
        with pytest.raises(ValueError, match=rf"methods\[0\]\.{m.name}: "):
            CompressStageConfig.model_validate({"methods": [{m.name: [bad]}], "recovery_tokens": 64})


def test_the_planner_makes_jobs_for_every_sweep_method_and_the_twins_the_table_names():
    from scaling.compress.jobs import plan_jobs
    from scaling.config import ModelConfig

    stage = CompressStageConfig.model_validate(
        {"methods": [{m.name: [VALUES[m.value_kind]]} for m in METHODS if m.in_sweep], "recovery_tokens": 64})
    source = SimpleNamespace(id="t1", label="xs", axes={"size": "s"},
                             config={"model": ModelConfig(size="s", vocab_size=256).model_dump()})
    planned = {j.method for j in plan_jobs([source], stage)}
    assert planned == {m.name for m in METHODS}  # every sweep method, the dense reference and every twin
    jobs = {j.method: j for j in plan_jobs([source], stage)}
    for m in METHODS:
        assert ("activation_bits" in jobs[m.name].settings) == m.activation_quant
        if m.family == "quantize":
            assert ("recovery_tokens" in jobs[m.name].settings) == m.trains


def test_run_job_dispatches_each_method_to_its_family_op(monkeypatch, tmp_path):
    import numpy as np

    from scaling.compress import execute
    from scaling.compress.jobs import CompressJob

    ran: list[tuple[str, str]] = []
    for family in ("prune", "quantize"):
        monkeypatch.setattr(execute, f"_{family}", lambda _l, job, *_a, f=family: ran.append((f, job.method))
                            or {"val_loss": 1.0, "bytes": 8})
    monkeypatch.setattr(execute, "_distill", lambda _l, job, *_a: ran.append(("distill", job.method))
                        or {"val_loss": 1.0, "bytes": 8})
    loaded = SimpleNamespace(params={"w": np.ones((4, 4), np.float32)}, evaluate=lambda _p, _n: 1.0,
                             batch_losses=lambda _p, n, *_a: np.ones(n),
                             model_cfg=None, cfg=SimpleNamespace(total_tokens=1))
    monkeypatch.setattr(execute.accounting, "param_counts", lambda _cfg: SimpleNamespace(total=16))
    for m in METHODS:
        job = CompressJob("src", "xs", m.name, 0, 0.0, {"eval_batches": 1})
        out = execute.run_job(loaded, job, tmp_path, teacher_tokens=1)
        assert out["status"] == "done" and out["method"] == m.name
    assert ran == [(m.family, m.name) for m in METHODS if m.family != "dense"]
    with pytest.raises(ValueError, match="unknown compression method"):
        execute.run_job(loaded, CompressJob("src", "xs", "nope", 0, 0.0, {"eval_batches": 1}), tmp_path)


def test_figures_label_and_mark_every_method_from_the_table():
    from matplotlib.figure import Figure

    from scaling.compress import figures

    rows = [{"method": m.name, "bytes": 10.0 + i, "val_loss": 3.0 - 0.1 * i} for i, m in enumerate(METHODS)]
    fig = figures.loss_vs_bytes(rows)
    assert isinstance(fig, Figure)
    legend = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert legend == {m.label for m in METHODS} | {"Pareto front"}


def test_no_other_module_lists_method_names():
    """A run of three or more method names, or a dict keyed by two, outside settings.py is a second vocabulary
    (naming one method for what is specific to it, e.g. the sparsity law fitted to `prune` rows, is fine)."""
    q = "|".join(re.escape(m.name) for m in METHODS)
    run_of_three = re.compile(rf"""["']({q})["']\s*,\s*["']({q})["']\s*,\s*["']({q})["']""")
    dict_of_two = re.compile(rf"""["']({q})["']\s*:\s*[^,]+,\s*["']({q})["']\s*:""")
    offenders = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in sorted((ROOT / "scaling").rglob("*.py")) if path.name != "settings.py"
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if run_of_three.search(line) or dict_of_two.search(line)
    ]
    assert not offenders, offenders


def test_settings_import_without_jax_or_numpy():
    code = ("import sys, scaling.compress.settings, scaling.sweep.schema; "
            "print(sorted(m for m in ('jax', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
