"""Corruption rates are exact, seeded, and the filters recover what they should of each planted kind."""

from __future__ import annotations

import pytest
from qutil import kjv_chapters

from scaling.config import CORRUPTION_KINDS
from scaling.data.quality import CORRUPTIONS, Doc, build_steps, corrupt_documents, run_pipeline
from scaling.data.quality.corrupt import corruption_counts
from scaling.errors import UserError


def _docs(n: int = 600) -> list[Doc]:
    return [Doc(t) for t in kjv_chapters()[:n]]


def test_config_names_every_corruption():
    assert tuple(CORRUPTIONS) == CORRUPTION_KINDS


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_rates_are_exact(rate):
    docs = _docs()
    out = corrupt_documents(docs, rate, seed=3)
    changed = [o for o, d in zip(out, docs, strict=True) if o.kind != "clean"]
    assert len(out) == len(docs)
    assert len(changed) == round(rate * len(docs))
    per_kind = {k: sum(o.kind == k for o in out) for k in CORRUPTIONS}
    assert sorted(per_kind.values(), reverse=True)[0] - min(per_kind.values()) <= 1
    assert all(o.text != d.text for o, d in zip(out, docs, strict=True) if o.kind != "clean")
    assert all(o.text == d.text for o, d in zip(out, docs, strict=True) if o.kind == "clean")


def test_seeded_and_duplicates_copy_earlier_documents():
    docs = _docs()
    a, b = corrupt_documents(docs, 0.3, seed=1), corrupt_documents(docs, 0.3, seed=1)
    assert a == b and a != corrupt_documents(docs, 0.3, seed=2)
    texts = [d.text for d in docs]
    for i, d in enumerate(a):
        if d.kind == "exact_duplicate":
            assert d.text in texts[:i] and a[texts.index(d.text)].kind == "clean"


def test_counts_and_bad_settings():
    assert corruption_counts(10, 0.5, ["char_noise", "random_bytes", "boilerplate"]) == {
        "char_noise": 2, "random_bytes": 2, "boilerplate": 1}
    with pytest.raises(UserError, match="corruption_rate"):
        corruption_counts(10, 1.5, ["char_noise"])
    with pytest.raises(UserError, match="unknown"):
        corruption_counts(10, 0.5, ["mud"])


def test_filters_recover_planted_defects():
    docs = corrupt_documents(_docs(), 0.5, seed=0)
    report = run_pipeline(docs, build_steps("all")).report
    print("\n".join(report.lines()))
    rec = report.recovery
    assert rec["random_bytes"] == 1.0 and rec["boilerplate"] == 1.0
    assert rec["exact_duplicate"] >= 0.95  # a copy with no clean chapter before it is the kept first of its pair
    assert rec["near_duplicate"] >= 0.85
    assert rec["shuffled_words"] < 0.2  # no Gopher rule sees word order: measured, not hidden
    assert report.documents_out == sum(report.kinds_out.values())
    assert sum(s.removed for s in report.steps) == report.documents_in - report.documents_out
    assert all(len(s.examples) == min(3, s.removed) for s in report.steps)
