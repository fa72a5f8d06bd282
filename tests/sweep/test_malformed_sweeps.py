"""Malformed sweep files end with exit code 2 and one message naming the field or file, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = """
name: tiny
model: {family: transformer, sizes: [xs, s]}
data: {corpus: [kjv], tokenizer: {kind: byte}, seq_len: 32}
budget: {kind: tokens, tokens: [2e4, 4e4]}
optimizer:
  lr: {values: [1e-3, 3e-3]}
  schedule: {kind: wsd, warmup: 0.1, decay: 0.2}
batch_size: 8
"""

CASES = {
    "unparseable": ("name: [unclosed\nmodel: {", "not valid YAML"),
    "empty": ("", "empty"),
    "unknown_key": (GOOD + "batchsize: 3\n", "batchsize: unknown key"),
    "wrong_type": (GOOD.replace("batch_size: 8", "batch_size: many"), "batch_size"),
    "bad_enum": (GOOD.replace("kind: wsd", "kind: triangle"), "optimizer.schedule.kind"),
    "bad_size": (GOOD.replace("[xs, s]", "[xs, huge]"), "sizes[1]"),
    "impossible_mesh": (GOOD + "mesh: {data: 3, fsdp: 1, tensor: 1}\n", "mesh"),
    "heads_vs_tensor": (GOOD + "mesh: {data: -1, tensor: 8}\n", "n_heads"),
    "wsd_without_decay": (GOOD.replace(", decay: 0.2", ""), "decay"),
    "budget_missing_values": (GOOD.replace("tokens: [2e4, 4e4]", "tokens: []"), "budget"),
    "empty_axis": (GOOD.replace("{values: [1e-3, 3e-3]}", "{values: []}"), "optimizer.lr"),
    "not_a_mapping": ("- just\n- a list\n", "mapping"),
    "unknown_corpus": (GOOD.replace("corpus: [kjv]", "corpus: [kjvv]"), "unknown corpus 'kjvv'"),
    "missing_text_file": (GOOD.replace("corpus: [kjv]", "corpus: ['text:/no/such/corpus.txt']"), "no such file"),
    "d_ff_vs_tensor": (GOOD.replace("sizes: [xs, s]", "sizes: [{d_model: 64, n_layers: 2, n_heads: 4, d_ff: 130}]")
                       + "mesh: {data: -1, tensor: 4}\n", "d_ff 130"),
    "d_model_vs_fsdp": (GOOD.replace("sizes: [xs, s]", "sizes: [{d_model: 68, n_layers: 2, n_heads: 2}]")
                        + "mesh: {data: 1, fsdp: 8}\n", "d_model 68"),
}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from scaling.cli import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_sweep_exits_2_naming_the_field(tmp_path, case):
    text, needle = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(textwrap.dedent(text))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr or case == "unparseable" and path.name in proc.stderr


def test_nonexistent_sweep_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    proc = run_cli("validate", str(missing))
    assert proc.returncode == 2
    assert f"{missing}: no such file" in proc.stderr


def test_good_sweep_validates_and_lists_trials(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 0, proc.stderr
    # 2 learning rates x 2 sizes x 2 budgets
    assert proc.stdout.count("xs-D") == 4 and proc.stdout.count("s-D") >= 4


def test_jsonl_corpus_without_its_field_fails_validation_naming_file_and_line(tmp_path):
    data = tmp_path / "docs.jsonl"
    data.write_text('{"body": "a document"}\n')
    path = tmp_path / "jsonl.yaml"
    path.write_text(textwrap.dedent(GOOD.replace("corpus: [kjv]", f"corpus: ['jsonl:{data}']")))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no field 'text'" in proc.stderr and "line 1" in proc.stderr and "Traceback" not in proc.stderr
