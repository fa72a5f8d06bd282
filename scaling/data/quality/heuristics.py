"""Document filters in the Gopher tradition (Rae et al. 2021, appendix A.1.1) plus a digit-ratio rule (C4-style).

Each filter is a small dataclass whose fields are its thresholds (defaults: the published values) and whose
`check(text)` returns why the document is rejected, or None to keep it. They are hand-written because each rule
is a few lines of counting; the libraries that ship them (datatrove) bring their own pipeline and document model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scaling.data.quality.text import lines, ngrams, normalized_words, paragraphs, words

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("\u2022", "-", "*", "\u25cf", "\u25aa", "\u2023", "\u2013")
ELLIPSES = ("...", "\u2026")


class DocFilter:
    """A per-document rule: subclasses set `name` and implement `check`."""

    name = ""

    def check(self, text: str) -> str | None:
        """Why `text` is rejected, or None when it passes."""
        raise NotImplementedError

    def reasons(self, texts: list[str]) -> list[str | None]:
        return [self.check(t) for t in texts]


@dataclass
class WordCount(DocFilter):
    """Gopher: between 50 and 100,000 words."""

    min_words: int = 50
    max_words: int = 100_000
    name = "word_count"

    def check(self, text):
        n = len(words(text))
        if n < self.min_words:
            return f"{n} words < {self.min_words}"
        if n > self.max_words:
            return f"{n} words > {self.max_words}"
        return None


@dataclass
class MeanWordLength(DocFilter):
    """Gopher: mean word length between 3 and 10 characters."""

    min_length: float = 3.0
    max_length: float = 10.0
    name = "mean_word_length"

    def check(self, text):
        ws = words(text)
        if not ws:
            return "no words"
        mean = sum(map(len, ws)) / len(ws)
        if not self.min_length <= mean <= self.max_length:
            return f"mean word length {mean:.2f} outside [{self.min_length:g}, {self.max_length:g}]"
        return None


@dataclass
class SymbolRatio(DocFilter):
    """Gopher: at most 0.1 hash symbols and ellipses per word."""

    max_ratio: float = 0.1
    name = "symbol_ratio"

    def check(self, text):
        n = len(words(text))
        if not n:
            return "no words"
        symbols = text.count("#") + sum(text.count(e) for e in ELLIPSES)
        ratio = symbols / n
        return f"{ratio:.3f} '#'/ellipsis per word > {self.max_ratio:g}" if ratio > self.max_ratio else None


@dataclass
class DigitRatio(DocFilter):
    """At most this share of the non-space characters may be digits (tables of numbers, ids, noise)."""

    max_ratio: float = 0.15
    name = "digit_ratio"

    def check(self, text):
        chars = [c for c in text if not c.isspace()]
        if not chars:
            return "no characters"
        ratio = sum(c.isdigit() for c in chars) / len(chars)
        return f"digit share {ratio:.3f} > {self.max_ratio:g}" if ratio > self.max_ratio else None


@dataclass
class AlphaWords(DocFilter):
    """Gopher: at least 80% of words contain an alphabetic character."""

    min_ratio: float = 0.8
    name = "alpha_words"

    def check(self, text):
        ws = words(text)
        if not ws:
            return "no words"
        ratio = sum(any(c.isalpha() for c in w) for w in ws) / len(ws)
        return f"alphabetic-word share {ratio:.3f} < {self.min_ratio:g}" if ratio < self.min_ratio else None


@dataclass
class StopWords(DocFilter):
    """Gopher: at least 2 of the English stop words {the, be, to, of, and, that, have, with}."""

    min_count: int = 2
    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS
    name = "stop_words"

    def check(self, text):
        present = set(normalized_words(text)) & set(self.stop_words)
        return f"{len(present)} stop words present < {self.min_count}" if len(present) < self.min_count else None


@dataclass
class BulletLines(DocFilter):
    """Gopher: at most 90% of lines may start with a bullet."""

    max_ratio: float = 0.9
    name = "bullet_lines"

    def check(self, text):
        ls = lines(text)
        if not ls:
            return "no lines"
        ratio = sum(ln.startswith(BULLETS) for ln in ls) / len(ls)
        return f"bullet-line share {ratio:.3f} > {self.max_ratio:g}" if ratio > self.max_ratio else None


@dataclass
class EllipsisLines(DocFilter):
    """Gopher: at most 30% of lines may end with an ellipsis."""

    max_ratio: float = 0.3
    name = "ellipsis_lines"

    def check(self, text):
        ls = lines(text)
        if not ls:
            return "no lines"
        ratio = sum(ln.endswith(ELLIPSES) for ln in ls) / len(ls)
        return f"ellipsis-line share {ratio:.3f} > {self.max_ratio:g}" if ratio > self.max_ratio else None


def _duplicate_share(units: list[str]) -> tuple[float, float]:
    """(share of units that repeat an earlier one, share of characters in those repeats)."""
    seen: set[str] = set()
    dup = dup_chars = 0
    for u in units:
        if u in seen:
            dup += 1
            dup_chars += len(u)
        seen.add(u)
    total_chars = sum(map(len, units))
    return dup / len(units), dup_chars / total_chars if total_chars else 0.0


@dataclass
class _RepeatedUnits(DocFilter):
    """Gopher's duplicate-unit rule: at most `max_fraction` of the units repeat an earlier one, and at most
    `max_char_fraction` of the characters sit in such repeats; `unit` names the unit, `split` cuts the text."""

    max_fraction: float = 0.3
    max_char_fraction: float = 0.2
    unit = ""

    @staticmethod
    def split(text: str) -> list[str]:
        raise NotImplementedError

    def check(self, text):
        units = self.split(text)
        if not units:
            return f"no {self.unit}s"
        frac, char_frac = _duplicate_share(units)
        if frac > self.max_fraction:
            return f"duplicate-{self.unit} share {frac:.3f} > {self.max_fraction:g}"
        if char_frac > self.max_char_fraction:
            return f"characters in duplicate {self.unit}s {char_frac:.3f} > {self.max_char_fraction:g}"
        return None


@dataclass
class RepeatedLines(_RepeatedUnits):
    """Gopher: at most 30% duplicate lines, and at most 20% of characters in duplicate lines."""

    name = "repeated_lines"
    unit = "line"
    split = staticmethod(lines)


@dataclass
class RepeatedParagraphs(_RepeatedUnits):
    """Gopher: at most 30% duplicate paragraphs, and at most 20% of characters in them."""

    name = "repeated_paragraphs"
    unit = "paragraph"
    split = staticmethod(paragraphs)


def _ngram_chars(gram: tuple[str, ...]) -> int:
    return sum(map(len, gram))


@dataclass
class TopNgrams(DocFilter):
    """Gopher: the most frequent 2-, 3-, 4-gram may cover at most 20%, 18%, 16% of the word characters."""

    max_fraction: dict[int, float] = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    name = "top_ngrams"

    def check(self, text):
        ws = normalized_words(text)
        total = sum(map(len, ws))
        if not total:
            return "no words"
        for n, limit in sorted(self.max_fraction.items()):
            grams = ngrams(ws, int(n))
            if not grams:
                continue
            gram, count = Counter(grams).most_common(1)[0]
            if count < 2:
                continue
            frac = _ngram_chars(gram) * count / total
            if frac > limit:
                return f"top {n}-gram {' '.join(gram)!r} covers {frac:.3f} of characters > {limit:g}"
        return None


@dataclass
class DuplicateNgrams(DocFilter):
    """Gopher: characters inside duplicated 5..10-grams may be at most 15%, 14%, ..., 10% of word characters."""

    max_fraction: dict[int, float] = field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    name = "duplicate_ngrams"

    def check(self, text):
        ws = normalized_words(text)
        total = sum(map(len, ws))
        if not total:
            return "no words"
        for n, limit in sorted(self.max_fraction.items()):
            n = int(n)
            grams = ngrams(ws, n)
            counts = Counter(grams)
            covered = [False] * len(ws)  # a word inside several duplicate n-grams counts once
            for i, g in enumerate(grams):
                if counts[g] > 1:
                    for j in range(i, i + n):
                        covered[j] = True
            frac = sum(len(w) for w, c in zip(ws, covered, strict=True) if c) / total
            if frac > limit:
                return f"characters in duplicated {n}-grams {frac:.3f} > {limit:g}"
        return None


HEURISTICS: tuple[type[DocFilter], ...] = (
    WordCount, MeanWordLength, SymbolRatio, DigitRatio, AlphaWords, StopWords, BulletLines, EllipsisLines,
    RepeatedLines, RepeatedParagraphs, TopNgrams, DuplicateNgrams,
)
