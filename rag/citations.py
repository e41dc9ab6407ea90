"""Citation markers: parse what the model wrote, verify it against the passages, fix or flag it.

Markers understood: [1]  [1,2]  [1][2]  [1-3]  [1–3]  【1】  (Source 1)  Passage 2  Fuente 1 ...
Numbers that point to no passage are dropped. Each answer sentence is then checked against
the passages it cites (see ``rag.support``): a citation that does not support its sentence is
replaced by the passage that does, a sentence with no citation gets the best supporting
passage, and a sentence nothing supports is reported as unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from index.sentences import sentence_spans
from rag.records import Citation, Passage
from rag.support import SupportScorer, content_terms, evidence_spans

_BRACKET = re.compile(r"[\[【]\s*((?:\d+\s*(?:[-–,;]|and|y)?\s*)+)[\]】]")
_WORDY = re.compile(
    r"\(?\b(?:sources?|passages?|fuentes?|pasajes?|documents?)\s*#?\s*((?:\d+\s*(?:[-–,;]|and|y)?\s*)+)\)?",
    re.IGNORECASE,
)
_ONLY_MARKERS = re.compile(r"^[\s\[\]【】()\d,;.:\-–]*$")
MAX_RANGE = 20

# Support needed for a sentence to count as backed by a passage, in 0..1. bench/support_threshold.py:
# 0.55 keeps 94 % of claims against their own paragraph and rejects 83 % against the nearest other one.
SUPPORT_THRESHOLD = 0.55
SUPPORT_THRESHOLD_OTHER_LANGUAGE = 0.3  # lexical overlap is weak across languages


@dataclass
class AnswerSentence:
    text: str  # without citation markers
    cited: list[int] = field(default_factory=list)  # 1-based passage numbers, valid ones only


def _numbers(group: str, limit: int) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and|y)\s*", group.strip()):
        if not part:
            continue
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x.isdigit()]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] <= MAX_RANGE:
            out.extend(range(bounds[0], bounds[1] + 1))
        elif bounds:
            out.append(bounds[0])
    return [n for n in dict.fromkeys(out) if 1 <= n <= limit]


def strip_markers(text: str) -> str:
    text = _BRACKET.sub("", text)
    text = _WORDY.sub("", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def with_markers(sentence: str, numbers: list[int]) -> str:
    """``"Fact." + [1, 2]`` -> ``"Fact [1][2]."``"""
    if not numbers:
        return sentence
    marks = "".join(f"[{n}]" for n in numbers)
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?":
        return f"{stripped[:-1]} {marks}{stripped[-1]}"
    return f"{stripped} {marks}"


def is_only_markers(text: str) -> bool:
    return bool(_ONLY_MARKERS.match(text)) or not strip_markers(text).strip(" .,;:")


def parse_answer(text: str, passage_count: int) -> list[AnswerSentence]:
    """Split an answer into sentences, each with the valid passage numbers it cites."""
    sentences: list[AnswerSentence] = []
    for start, end in sentence_spans(text):
        raw = text[start:end]
        cited = [n for m in _BRACKET.finditer(raw) for n in _numbers(m.group(1), passage_count)]
        cited += [n for m in _WORDY.finditer(raw) for n in _numbers(m.group(1), passage_count)]
        clean = strip_markers(raw)
        if not clean.strip(" .,;:"):
            if sentences:  # markers alone after a full stop belong to the sentence before
                sentences[-1].cited.extend(n for n in cited if n not in sentences[-1].cited)
            continue
        sentences.append(AnswerSentence(clean, list(dict.fromkeys(cited))))
    return sentences


@dataclass
class VerifiedAnswer:
    text: str  # sentences with normalised [n] markers
    citations: list[Citation]
    unsupported: list[str]
    supported_sentences: int


def verify(
    sentences: list[AnswerSentence],
    passages: list[Passage],
    scorer: SupportScorer,
    threshold: float = SUPPORT_THRESHOLD,
    question: str = "",
) -> VerifiedAnswer:
    """Check each answer sentence against the passages (``question``: what was asked; a sentence is
    then judged on what it adds to it, see ``SupportScorer.score``)."""
    evidence = evidence_spans(passages)
    claims = [s.text for s in sentences]
    scores = scorer.score(claims, evidence, question) if claims and evidence else np.zeros((len(claims), 0))
    citations: list[Citation] = []
    unsupported: list[str] = []
    parts: list[str] = []
    supported = 0
    for i, sentence in enumerate(sentences):
        if not content_terms(sentence.text) or not evidence:
            parts.append(with_markers(sentence.text, sentence.cited))
            continue
        row = scores[i]
        # best evidence per passage
        best_by_passage: dict[int, int] = {}
        for j, ev in enumerate(evidence):
            k = ev.passage_index
            if k not in best_by_passage or row[j] > row[best_by_passage[k]]:
                best_by_passage[k] = j
        cited_ok = [n for n in sentence.cited if n - 1 in best_by_passage and row[best_by_passage[n - 1]] >= threshold]
        chosen: list[tuple[int, bool]] = [(n, False) for n in cited_ok]
        if not chosen:
            best_passage = max(best_by_passage, key=lambda k: row[best_by_passage[k]])
            if row[best_by_passage[best_passage]] >= threshold:
                chosen = [(best_passage + 1, True)]
        if not chosen:
            unsupported.append(sentence.text)
            parts.append(sentence.text)
            continue
        supported += 1
        for number, reattached in chosen:
            ev = evidence[best_by_passage[number - 1]]
            passage = passages[number - 1]
            citations.append(
                Citation(
                    number=number,
                    passage=passage,
                    span_start=passage.char_start + ev.start,
                    span_end=passage.char_start + ev.end,
                    text=ev.text,
                    sentence=sentence.text,
                    support=float(row[best_by_passage[number - 1]]),
                    reattached=reattached,
                )
            )
        parts.append(with_markers(sentence.text, [n for n, _ in chosen]))
    return VerifiedAnswer(" ".join(parts).strip(), citations, unsupported, supported)
