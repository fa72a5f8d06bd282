"""The fit stage on sweeps with data axes: quality levels get the quality law (one q per level, recovered within
its interval) while the N x D laws see the reference level only; a unique-tokens axis feeds U to the
data-constrained law. Synthetic stores with known constants, the report's Data quality section rendered."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.fit.laws import MUENNIGHOFF
from scaling.fit.report import FitReport
from scaling.plots.context import FigureContext
from scaling.plots.quality_blocks import quality_blocks
from scaling.plots.registry import BY_NAME
from scaling.stages import fit_stage
from scaling.sweep.schema import SweepConfig
from scaling.sweep.store import STORE_NAME, Store

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
Q = {0.0: 1.0, 0.5: 0.4}  # corruption rate -> what a token is worth in clean tokens
SIZES = (5e4, 1.5e5, 4.4e5, 1.3e6, 4e6)
TOKENS = (3e5, 1e6, 3e6, 1e7, 3e7)


def add_trials(run_dir, points) -> None:
    """points: (n, d, axes, loss) rows written as finished train trials."""
    store = Store(run_dir / STORE_NAME)
    store.add_trials([{"id": f"t{i}", "ord": i, "label": f"t{i}", "config": {}, "axes": {"size": f"{n:g}",
                       "budget": f"D{d:g}", **axes}} for i, (n, d, axes, _) in enumerate(points)])
    for i, (n, d, _, loss) in enumerate(points):
        store.claim("host:1")
        store.finish(f"t{i}", "done", result={"params": {"total": int(n * 1.2), "embedding": int(n * 0.2),
                                                         "non_embedding": int(n)}, "tokens": int(d),
                                              "val_loss": loss, "train_loss": loss})
    store.close()


def sweep(laws, bootstrap=40):
    return SweepConfig.model_validate({"name": "s", "model": {"sizes": ["xs"]},
                                       "budget": {"kind": "tokens", "tokens": [1e6]},
                                       "stages": {"fit": {"laws": laws, "bootstrap": bootstrap}}})


def test_quality_levels_get_a_multiplier_each_and_the_nd_law_sees_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    points = []
    for n in SIZES:
        for d in TOKENS:
            for rate, q in Q.items():
                loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / (q * d) ** TRUE["beta"]
                points.append((n, d, {"data.quality.corruption_rate": rate}, loss * np.exp(0.003 * rng.normal())))
    add_trials(tmp_path, points)
    fit_stage.run(tmp_path, sweep(["chinchilla"]))
    report = FitReport.read(tmp_path)
    assert len(report.points) == len(SIZES) * len(TOKENS), "the N x D law is fitted on the clean level alone"
    assert report.laws["chinchilla"].params["beta"] == pytest.approx(TRUE["beta"], abs=0.05)
    q = report.quality.multipliers()[1]
    assert q["level"] == "corruption_rate=0.5, filters=none"
    assert q["q"] == pytest.approx(Q[0.5], rel=0.02)  # coverage of the interval is checked in tests/data/quality
    assert q["interval"][0] < q["q"] < q["interval"][1] and q["interval"][1] - q["interval"][0] < 0.05
    result = report.quality.result
    assert result.derived["N_opt_1"] < result.derived["N_opt_0"], "worse data: a smaller model is optimal"
    ctx = FigureContext(run_dir=tmp_path, report=report)
    text = " ".join(b.text or "" for b in quality_blocks(ctx))
    assert "Data quality" in text and "reference level (corruption_rate=0.0, filters=none)" in text
    bars = BY_NAME["quality_multipliers"].fn(ctx).axes[0]
    assert sorted(t.get_text() for t in bars.get_yticklabels()) == sorted(report.quality.names)
    panels = BY_NAME["quality_curves"].fn(ctx).axes
    assert len(panels) == 2 and all(len(ax.get_lines()) == 2 * len(SIZES) for ax in panels), "points + law per size"


def test_unique_tokens_axis_feeds_the_data_constrained_law(tmp_path):
    truth = dict(MUENNIGHOFF.published)
    rng = np.random.default_rng(1)
    points = []
    for n in (1e7, 3e7, 1e8, 3e8):
        for u in (1e8, 1e9):
            for epochs in (1, 2, 4, 8, 16, 40):
                d = u * epochs
                loss = float(MUENNIGHOFF.predict(truth, n=n, d=d, u=u)) * np.exp(0.002 * rng.normal())
                points.append((n, d, {"data.unique_tokens": u}, loss))
    add_trials(tmp_path, points)
    fit_stage.run(tmp_path, sweep(["muennighoff_tied"], bootstrap=0))
    law = FitReport.read(tmp_path).laws["muennighoff_tied"]
    assert law.params["R_D_star"] == pytest.approx(truth["R_D_star"], rel=0.3)
