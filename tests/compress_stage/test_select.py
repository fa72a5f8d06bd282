"""Selection of configurations: best per budget, the loss-compute frontier, explicit ids, the report's optimum."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scaling.compress.jobs import plan_jobs
from scaling.compress.select import select
from scaling.compress.settings import CompressStageConfig
from scaling.errors import UserError
from scaling.fit.allocation import OptimalRow
from scaling.fit.points import PointsTable, ResultRow
from scaling.fit.report import FitReport


def _row(tid, budget, n, d, loss):
    return SimpleNamespace(id=tid, axes={"budget": budget, "size": f"n{n}"}, val_loss=loss, tokens=d,
                           params_non_embedding=n, flops_exact=6 * n * d, label=tid,
                           config={"model": {"d_model": 48, "n_layers": 2, "n_heads": 4, "vocab_size": 257}})


ROWS = [_row("a", "C1", 1e5, 5e5, 3.0), _row("b", "C1", 2e5, 5e5, 2.9), _row("c", "C2", 2e5, 5e6, 2.5),
        _row("d", "C2", 4e5, 2.5e6, 2.6), _row("e", "C2", 1e6, 1e6, 2.8)]
TABLE = PointsTable(tuple(ResultRow(trial=r.id, label=r.label, size=r.axes["size"], budget=r.axes["budget"],
                                    n_total=1.5 * r.params_non_embedding, n_non_embedding=r.params_non_embedding,
                                    d=r.tokens, loss=r.val_loss, c_exact=r.flops_exact) for r in ROWS))


def test_best_per_budget_largest_compute_first():
    picked = select(TABLE, "best_per_budget", 5)
    assert [s.trial_id for s in picked] == ["c", "b"]
    assert [s.trial_id for s in select(TABLE, "best_per_budget", 1)] == ["c"]


def test_frontier_keeps_only_trials_no_cheaper_one_beats():
    assert {s.trial_id for s in select(TABLE, "frontier", 10)} == {"a", "b", "c"}


def test_explicit_ids_and_unknown_ids():
    assert [s.trial_id for s in select(TABLE, ["d", "a"], 5)] == ["d", "a"]
    with pytest.raises(UserError, match="zzz"):
        select(TABLE, ["zzz"], 5)


def test_the_reports_compute_optimal_picks_the_nearest_trial():
    report = FitReport(points=TABLE, compute_optimal=[
        OptimalRow(C=6 * 4e5 * 2.5e6, N_opt=3.8e5, D_opt=2.6e6, loss=2.6),
        OptimalRow(C=1e30, N_opt=1e12, D_opt=1e13, loss=2.0, extrapolated=True)])  # outside the sweep: ignored
    assert [s.trial_id for s in select(TABLE, "best_per_budget", 5, report)] == ["d"]


def test_selection_reads_n_under_the_reports_conventions():
    """With total parameters (1.5x) the report's optimum at N 5.7e5 is nearest to d; under non-embedding N it
    would sit between d and e. The selection measures N the way the report does."""
    from scaling.fit.points import Conventions

    total = TABLE.with_conventions(Conventions(params="total"))
    report = FitReport(points=total, compute_optimal=[OptimalRow(C=total.c[3], N_opt=6.0e5, D_opt=2.5e6, loss=2.6)])
    assert [s.trial_id for s in select(TABLE, "best_per_budget", 5, report)] == ["d"]


def test_job_ids_are_stable_and_depend_only_on_what_a_method_reads():
    stage = CompressStageConfig.model_validate({"methods": [{"prune": [0.5]}, {"quantize": [8]}, {"distill": ["xs"]}]})
    ids = [j.id for j in plan_jobs([ROWS[0]], stage)]
    assert ids == [j.id for j in plan_jobs([ROWS[0]], stage)] and len(set(ids)) == len(ids) == 5
    hotter = stage.model_copy(update={"distill": stage.distill.model_copy(update={"temperature": 4.0})})
    changed = {j.method for j, k in zip(plan_jobs([ROWS[0]], stage), plan_jobs([ROWS[0]], hotter), strict=True)
               if j.id != k.id}
    assert changed == {"distill"}  # the plain twin and every other job keep their ids


def test_quantize_act_jobs_carry_their_activation_bits_and_leave_weight_only_ids_alone():
    stage = CompressStageConfig.model_validate({"methods": [{"quantize": [8, 4]}, {"quantize_act": [8, 4]}]})
    jobs = plan_jobs([ROWS[0]], stage)
    act = [j for j in jobs if j.method == "quantize_act"]
    assert [(j.value, j.settings["activation_bits"]) for j in act] == [(8, 8), (4, 8)]
    assert all(j.label.endswith(f"quantize_act{j.value}a8") for j in act)
    assert all("activation_bits" not in j.settings for j in jobs if j.method != "quantize_act")
    a4 = stage.model_copy(update={"quantize": stage.quantize.model_copy(update={"activation_bits": 4})})
    changed = {j.method for j, k in zip(jobs, plan_jobs([ROWS[0]], a4), strict=True) if j.id != k.id}
    assert changed == {"quantize_act"}
