"""Citation correctness judged against the set's gold data, independently of the answering code.

The ALCE-style figures (eval/citations.py) use the project's own support scorer — the same one that
chose the citations — so they can hardly come out low. This judge uses only what the evaluation
set says is right: a citation is **correct** when the document span it quotes

* contains one of the item's gold answers (after SQuAD's answer normalisation: lower case, no
  punctuation or articles; a substring test, as the "contains" answer metric), or
* overlaps the item's gold support text: at least half of the support's words, in order, fall
  inside the quoted span, or the span lies inside the support (a quoted sentence of a two-sentence
  support).

Per answer it reports the share of its citations that are correct and whether at least one is.
Nothing here imports the answering layer's scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from eval.metrics import normalize_answer


@dataclass(frozen=True)
class GoldCitationScores:
    correct: int  # citations whose quoted span holds a gold answer or overlaps the gold support
    citations: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.citations if self.citations else None

    @property
    def any_correct(self) -> bool | None:
        return self.correct > 0 if self.citations else None


def _words(text: str) -> list[str]:
    return normalize_answer(text).split()


def _longest_common_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of words appearing in both, in order and contiguous."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def citation_is_correct(quoted: str, answers: list[str], support: str | None) -> bool:
    """Does the quoted document span hold a gold answer, or overlap the gold support?"""
    quoted_words = _words(quoted)
    joined = " ".join(quoted_words)
    for answer in answers:  # a plain substring test on normalised text, as the "contains" answer metric
        wanted = " ".join(_words(answer))
        if wanted and wanted in joined:
            return True
    if support:
        support_words = _words(support)
        if not support_words or not quoted_words:
            return False
        run = _longest_common_run(support_words, quoted_words)
        return run >= max(1, (len(support_words) + 1) // 2) or run >= len(quoted_words)
    return False


def judge_citations(quoted_spans: list[str], answers: list[str], support: str | None) -> GoldCitationScores:
    """Score an answer's citations (the document text each one quotes) against the gold data."""
    correct = sum(citation_is_correct(q, list(answers), support) for q in quoted_spans)
    return GoldCitationScores(correct=correct, citations=len(quoted_spans))
