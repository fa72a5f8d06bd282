"""A distilled student against its plain cross-entropy twin: same initialisation, same batches, same tokens.

With alpha = 0 the distillation objective is plain CE, so the "distilled" student must equal its twin to the
bit: that is what makes the comparison at alpha > 0 honest (the objective is the only difference).
"""

from __future__ import annotations

import math

from scaling.accounting import param_counts
from scaling.compress.finetune import train_student
from scaling.compress.jobs import student_model
from scaling.train.metrics import JsonlSink, read_jsonl

STUDENT = {"d_model": 32, "n_layers": 1, "n_heads": 2}
TOKENS = 16 * 8 * 32


def _run(loaded, path, temperature, alpha):
    sink = JsonlSink(path / "metrics.jsonl")
    student = student_model(STUDENT, loaded.model_cfg)
    result = train_student(loaded, student, path, tokens=TOKENS, lr=3e-3, eval_batches=4,
                           temperature=temperature, alpha=alpha, sinks=[sink])
    sink.close()
    return result, read_jsonl(path / "metrics.jsonl")


def test_distilled_student_against_plain_twin_at_equal_tokens(loaded_model, tmp_path):
    teacher = loaded_model.evaluate(loaded_model.params, 4)
    plain, plain_rows = _run(loaded_model, tmp_path / "plain", None, 0.5)
    kd, kd_rows = _run(loaded_model, tmp_path / "kd", 2.0, 0.5)
    ce_only, _ = _run(loaded_model, tmp_path / "alpha0", 2.0, 0.0)

    assert plain.tokens == kd.tokens == ce_only.tokens == TOKENS
    assert plain.params == kd.params
    assert plain.params["non_embedding"] < param_counts(loaded_model.model_cfg).non_embedding
    # alpha = 0: the teacher term vanishes and the run is the plain twin exactly (same init, same batches)
    assert ce_only.val_loss == plain.val_loss
    # alpha > 0: a different run, evaluated on the same validation batches at the same steps
    assert kd.val_loss != plain.val_loss
    val_steps = lambda rows: [r["step"] for r in rows if "val_loss" in r]  # noqa: E731
    assert val_steps(kd_rows) == val_steps(plain_rows)
    assert all(math.isfinite(x) for x in (kd.val_loss, plain.val_loss, teacher))
    print(f"teacher {teacher:.4f}; student d32L1 after {TOKENS} tokens: distilled {kd.val_loss:.4f}, "
          f"plain CE twin {plain.val_loss:.4f} (gain {plain.val_loss - kd.val_loss:+.4f})")
    assert kd.val_loss > teacher  # a 1-layer student on 4K tokens does not reach its teacher
