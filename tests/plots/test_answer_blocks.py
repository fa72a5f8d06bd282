"""The report opens with the answer: the law with intervals and whether it is identified, the compute-optimal
allocation inside the trained range, approaches 1-3 side by side, the backtest and the compression laws."""

from __future__ import annotations

import json

from plotfixtures import TRUE

from scaling.plots.context import FigureContext
from scaling.plots.report import report_blocks


def _texts(run_dir):
    blocks = report_blocks(FigureContext.from_run_dir(run_dir), [])
    return blocks, [b.text for b in blocks]


def test_the_report_leads_with_the_law_the_allocation_and_the_approaches(full_run):
    blocks, texts = _texts(full_run)
    assert blocks[0].kind == "h2" and blocks[0].text == "The answer"
    assert texts.index("Fitted laws") > 3  # the details come after the answer
    law = next(t for t in texts if t.startswith("**Law**"))
    assert "alpha = " in law and "beta = " in law and "[" in law  # values with intervals
    fitted = json.loads((full_run / "fit.json").read_text())["laws"]["chinchilla"]
    lo, hi = fitted["intervals"]["alpha"]
    assert lo <= TRUE["alpha"] <= hi  # the synthetic truth is what the sentence reports an interval around
    allocation = next(t for t in texts if t.startswith("**Compute-optimal at C = "))
    assert "N_opt = " in allocation and "tokens per parameter" in allocation and "C^a with a = " in allocation
    table = next(b for b in blocks if b.kind == "table" and b.headers[0] == "approach")
    assert [r[0][:2] for r in table.rows] == ["1:", "2:", "3:"]
    assert any(t.startswith("**Backtest**") for t in texts)


def test_an_unidentified_law_is_said_to_be_unmeasured_in_the_answer(full_run, tmp_path):
    data = json.loads((full_run / "fit.json").read_text())
    data["warnings"] = {"chinchilla": ["alpha 95% interval [0.05, 3] spans a factor of 60: not identified"]}
    (tmp_path / "fit.json").write_text(json.dumps(data))
    _, texts = _texts(tmp_path)
    law = next(t for t in texts if t.startswith("**Law**"))
    assert "**Not identified**" in law and "unmeasured" in law


def test_compression_laws_get_one_row_each_with_a_verdict(full_run, tmp_path):
    (tmp_path / "fit.json").write_text((full_run / "fit.json").read_text())
    (tmp_path / "compress").mkdir()
    laws = {"ptq_bits": {"law": "ptq_bits", "params": {"C": 5.0, "gamma": 1.2}, "fixed": {},
                         "intervals": {"C": [4.0, 6.0], "gamma": [1.1, 1.3]}, "warnings": [],
                         "backtest": {"mean_abs_relative_error": 0.03, "max_abs_relative_error": 0.05, "n_train": 8,
                                      "n_held_out": 2, "held_out": "lowest bit width (P = 2)",
                                      "in_sample_error": 0.02},
                         "n_points": 10, "n_sources": 2,
                         "method": "least squares on log values", "resampling": "rows"},
            "sparsity": {"law": "frantar_sparsity", "skipped": "3 points cannot fit 5 parameters"}}
    (tmp_path / "compress" / "compress.json").write_text(json.dumps({"laws": laws, "rows": []}))
    blocks, _ = _texts(tmp_path)
    table = next(b for b in blocks if b.kind == "table" and b.headers[0] == "what")
    rows = {r[0]: r for r in table.rows}
    assert rows["ptq_bits"][2] == "identified" and "gamma = 1.2 [1.1, 1.3]" in rows["ptq_bits"][3]
    assert rows["ptq_bits"][4] == "3.0%"
    assert rows["sparsity"][2] == "not fitted" and "cannot fit" in rows["sparsity"][3]
