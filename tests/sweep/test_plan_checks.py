"""Planning catches what would fail or waste compute later: too few steps, days of training, readable times."""

from __future__ import annotations

import textwrap

import pytest

from scaling.errors import UserError
from scaling.sweep.plan import format_duration, load_sweep, plan_sweep, plan_warnings

SWEEP = """
name: checks
model: {{family: transformer, sizes: [{sizes}]}}
data: {{corpus: [kjv], tokenizer: {{kind: byte}}, seq_len: 32}}
budget: {{kind: tokens, tokens: [{tokens}]}}
batch_size: {batch}
mesh: {{data: 1}}
"""


def plan(tmp_path, sizes="xs", tokens="2e4", batch=8):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP.format(sizes=sizes, tokens=tokens, batch=batch)))
    sweep, raw = load_sweep(path)
    return plan_sweep(sweep, raw, source=str(path), n_devices=1)


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (450, "7.5 min"), (11520, "3.2 h"), (1.5 * 86400, "36 h"),
                                           (3 * 86400, "3 days"), (78963731.6 * 60, "150 years")])
def test_durations_read_at_a_glance(seconds, text):
    assert format_duration(seconds) == text


def test_a_batch_bigger_than_the_budget_is_refused_naming_batch_size(tmp_path):
    with pytest.raises(UserError, match="batch_size 1000000000"):
        plan(tmp_path, batch=int(1e9))


def test_a_sweep_of_days_warns_with_its_estimate_and_a_small_one_does_not(tmp_path):
    assert plan_warnings(plan(tmp_path)) == []
    big = plan_warnings(plan(tmp_path, sizes="350m", tokens="1e9", batch=32))
    assert len(big) == 1 and ("days" in big[0] or "years" in big[0]), big
