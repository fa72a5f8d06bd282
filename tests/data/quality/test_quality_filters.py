"""Every quality filter rejects its planted defect, keeps the clean chapter it was planted in, and keeps (nearly)
all of the real King James text; the keep rates are printed."""

from __future__ import annotations

import pytest
from qutil import clean_chapter, kjv_chapters

from scaling.data.quality.heuristics import GOPHER_STOP_WORDS
from scaling.data.quality.steps import FILTER_PRESETS, STEPS, build_steps
from scaling.errors import UserError

GERMAN = ("Im Anfang schuf Gott Himmel und Erde. Und die Erde war wüst und leer, und es war finster auf der "
          "Tiefe; und der Geist Gottes schwebte auf dem Wasser. Und Gott sprach: Es werde Licht! und es ward "
          "Licht. Und Gott sah, dass das Licht gut war. Da schied Gott das Licht von der Finsternis und nannte "
          "das Licht Tag und die Finsternis Nacht. Da ward aus Abend und Morgen der erste Tag.")


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _no_stop_words(text: str) -> str:
    stop = set(GOPHER_STOP_WORDS)
    return " ".join(w for w in text.split() if w.lower().strip(".,;:") not in stop)


# filter -> how to plant its defect into a clean chapter
DEFECTS = {
    "word_count": lambda t: " ".join(t.split()[:20]),
    "mean_word_length": lambda t: " ".join("".join(t.split()[i:i + 4]) for i in range(0, len(t.split()), 4)),
    "symbol_ratio": lambda t: " ".join(w + " #" if i % 4 == 0 else w for i, w in enumerate(t.split())),
    "digit_ratio": lambda t: " ".join(f"{w}{i % 1000:03d}" for i, w in enumerate(t.split())),
    "alpha_words": lambda t: " ".join(w + " 1984 --" for w in t.split()),
    "stop_words": _no_stop_words,
    "bullet_lines": lambda t: "\n".join("\u2022 " + ln for ln in _lines(t)),
    "ellipsis_lines": lambda t: "\n".join(ln.rstrip(".;:,") + "..." for ln in _lines(t)),
    "repeated_lines": lambda t: "\n".join(_lines(t) + [_lines(t)[1]] * len(_lines(t))),
    "repeated_paragraphs": lambda t: "\n\n".join([t] * 3 + ["And it came to pass."]),
    "top_ngrams": lambda t: t + " the LORD" * 300,
    "duplicate_ngrams": lambda t: t + "\n" + t,
    "language": lambda t: GERMAN * 4,
}
MIN_KEEP = {"duplicate_ngrams": 0.7}  # the KJV repeats its own formulas: Gopher's rule drops a quarter of it


def test_every_step_has_a_planted_defect():
    # corpus-level steps are tested on whole corpora: dedup in test_quality_dedup, the corpus-referenced models
    # (perplexity, word_order) in test_quality_model_filters
    assert set(DEFECTS) | {"exact_dedup", "near_dedup", "perplexity", "word_order"} == set(STEPS)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_filter_rejects_its_defect_and_keeps_clean_text(name):
    (step,) = build_steps([name])
    clean = clean_chapter()
    reason_clean, reason_bad = step.reasons([clean, DEFECTS[name](clean)])
    assert reason_clean is None, f"{name} rejected the clean chapter: {reason_clean}"
    assert reason_bad is not None, f"{name} kept its planted defect"
    sample = list(kjv_chapters()[::4])
    keep = sum(r is None for r in step.reasons(sample)) / len(sample)
    print(f"{name}: keeps {keep:.4f} of {len(sample)} KJV chapters; defect: {reason_bad}")
    assert keep >= MIN_KEEP.get(name, 0.99)


def test_only_its_own_filter_is_needed_for_each_defect():
    """The defects are specific: most other filters pass them, so each rule is exercised on its own."""
    clean = clean_chapter()
    caught_by = {name: [s.name for s in build_steps("heuristics") if s.check(DEFECTS[name](clean))]
                 for name in DEFECTS if name != "language"}
    assert all(name in steps for name, steps in caught_by.items())
    assert sum(len(v) for v in caught_by.values()) <= 2 * len(caught_by)


def test_thresholds_are_configurable_and_checked():
    (strict,) = build_steps([{"name": "word_count", "min_words": 5000}])
    assert strict.check(clean_chapter()) is not None
    with pytest.raises(UserError, match=r"filters\[0\].*no setting.*min_wordz"):
        build_steps([{"name": "word_count", "min_wordz": 5}])
    with pytest.raises(UserError, match="unknown filter 'gopherr'"):
        build_steps(["gopherr"])
    assert [s.name for s in build_steps("dedup")] == FILTER_PRESETS["dedup"]
