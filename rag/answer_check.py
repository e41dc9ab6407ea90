"""Does an answer answer the question asked, from the passages it cites?

Citation verification (rag.citations) checks that each answer sentence is supported by a passage.
That is not enough: "1 million [2]" is supported by a passage that also says "300,000 to 800,000",
and a copied passage sentence is supported by the passage it was copied from. Here the answer is
checked against the question:

* a question that asks for a number, a date or a name (rag.question) must get one that the
  question does not already contain;
* every figure in the answer must be written in a passage it cites, and every name in some passage
  of the prompt — a number or name the passages don't hold was made up;
* a name asked for ("Who said…?") must be one the sentences that best match the question name, when
  they name anyone (the quotation's speaker, not whoever the next paragraph is about);
* when the cited passage holds several mentions of the kind asked for, the answer's must be among
  the ones nearest the question's own words (the clause the question is about), not a figure the
  same paragraph gives for something else.

A failed check names the problem; the engine then answers from the evidence sentence that best
matches the question and holds what was asked, or abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.question import DATE, NAME, NUMBER, expected_kind, kind_mentions, kind_spans
from rag.records import Citation, Passage
from rag.support import content_terms

_DIGITS = re.compile(r"\d[\d,.]*\d|\d")
CLAUSE_CHARS = 60  # characters either side of a mention that count as its clause
CLAUSE_MARGIN = 0.25  # how much more of the question another mention's clause must hold
KIND_NAMES = {NUMBER: "a number", DATE: "a date", NAME: "a name"}


@dataclass(frozen=True)
class AnswerCheck:
    ok: bool
    problem: str = ""  # why not, in words for Answer.fallback_reason


def _plain(text: str) -> str:
    """Lower case, typographic apostrophes and quotes as plain ones, no possessive ("UNAM’s" is "unam")."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"'s\b", "", text)


def _norm_number(text: str) -> str:
    return text.replace(",", "").rstrip(".")


def _numbers(text: str) -> set[str]:
    return {_norm_number(m.group(0)) for m in _DIGITS.finditer(text)}


def check_answer(
    question: str,
    answer_text: str,
    citations: list[Citation],
    passages: list[Passage],
    evidence: list[str] = (),
) -> AnswerCheck:
    """``answer_text`` without citation markers; ``citations`` as verification attached them;
    ``evidence``: the texts that best match the question (rag.evidence excerpts, best first)."""
    kind = expected_kind(question)
    cited = [c.passage.text for c in citations] or [p.text for p in passages]
    cited_text = " ".join(cited)
    if kind is not None:
        mentions = kind_mentions(answer_text, kind, question)
        if not mentions:
            return AnswerCheck(False, f"the question asks for {KIND_NAMES[kind]} and the answer gives none")
    made_up = _numbers(answer_text) - _numbers(question) - _numbers(cited_text)
    if made_up:
        return AnswerCheck(False, f"the answer's figure {sorted(made_up)[0]} is not in the passage it cites")
    everything = _plain(" ".join(p.text for p in passages))
    unknown = [n for n in kind_mentions(answer_text, NAME, question) if _plain(n) not in everything]
    if unknown:
        return AnswerCheck(False, f"the answer names {unknown[0]!r}, which no passage mentions")
    if kind == NAME and evidence:
        named = [n for n in kind_mentions(answer_text, NAME, question)]
        top = [_plain(t) for t in evidence if kind_mentions(t, NAME, question)]
        if named and top and not any(_plain(n) in t for n in named for t in top):
            return AnswerCheck(False, f"the answer names {named[0]!r}, but the sentences that match the question don't")
    if kind in (NUMBER, DATE):
        wrong = _off_clause(question, answer_text, kind, cited)
        if wrong:
            return AnswerCheck(False, wrong)
    return AnswerCheck(True)


def _off_clause(question: str, answer_text: str, kind: str, cited: list[str]) -> str:
    """A problem when the cited passage gives the answer's figure for something other than what the
    question asks about: another figure of the same kind sits among clearly more of the question's words."""
    wanted = content_terms(question)
    ours = {_norm_number(m).lower() for m in kind_mentions(answer_text, kind, question)}
    if not wanted or not ours:
        return ""
    for text in cited:
        scored = []  # (share of the question's terms in the clause around it, the mention)
        for start, end in kind_spans(text, kind, question):
            clause = text[max(0, start - CLAUSE_CHARS) : end + CLAUSE_CHARS]
            scored.append((len(wanted & content_terms(clause)) / len(wanted), _norm_number(text[start:end]).lower()))
        mine = [score for score, mention in scored if mention in ours]
        if not mine:
            continue
        best_score, best = max(scored)
        if best_score - max(mine) >= CLAUSE_MARGIN and best not in ours:
            return f"the cited passage gives {best!r}, not the answer's figure, for what the question asks"
    return ""
