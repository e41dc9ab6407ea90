"""How well a piece of text backs a claim: the shared measure behind extractive answers
and citation verification.

support = mean of
  * lexical: share of the claim's content terms (stemmed words and numbers) found in the evidence;
  * semantic: cosine similarity of the embedder's vectors for claim and evidence.
Evidence candidates are single sentences of a passage and pairs of adjacent sentences,
so an answer that draws on two sentences is still matched.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from index.sentences import sentence_spans
from index.terms import stem_words
from rag.records import Passage

_WORD = re.compile(r"\w+(?:[.,]\d+)*", re.UNICODE)
STOPWORDS = frozenset(
    """
a an the and or but if of to in on at by for with from as is are was were be been being it its this that these
those there here he she they them his her their we you i me my our your who whom whose which what when where why
how do does did done have has had not no nor so than too very can could should would will shall may might must
also just about into over under again further then once more most such only own same other some any each few both
all s t don said says say according
el la los las un una unos unas y o pero de del al en por para con sin que se su sus es son fue fueron ser está
están como más menos lo le les ya muy también qué quién quiénes cuál cuáles cuándo dónde cómo cuánto cuántos
""".split()
)


# A small number is written in words as often as in digits ("nine members" answered "9 [1]."): both
# count as the same term.
NUMBER_WORD_VALUES = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {
    word: str(value)
    for value, word in zip(range(30, 100, 10), "thirty forty fifty sixty seventy eighty ninety".split())
}


def content_terms(text: str) -> set[str]:
    words = [w.lower().replace(",", "") for w in _WORD.findall(text)]
    words = [NUMBER_WORD_VALUES.get(w, w) for w in words]
    words = [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return set(stem_words(words))  # the index's stemmer, under its lock (PyStemmer is not thread-safe)


def lexical_support(claim_terms: set[str], evidence_terms: set[str]) -> float:
    if not claim_terms:
        return 0.0
    return len(claim_terms & evidence_terms) / len(claim_terms)


@dataclass(frozen=True)
class Evidence:
    """A candidate supporting span inside one passage (offsets relative to the passage text)."""

    passage_index: int
    start: int
    end: int
    text: str


def evidence_spans(passages: list[Passage], pairs: bool = True) -> list[Evidence]:
    out: list[Evidence] = []
    for i, passage in enumerate(passages):
        spans = sentence_spans(passage.text)
        for j, (s, e) in enumerate(spans):
            out.append(Evidence(i, s, e, passage.text[s:e]))
            if pairs and j + 1 < len(spans):
                e2 = spans[j + 1][1]
                out.append(Evidence(i, s, e2, passage.text[s:e2]))
    return out


class SupportScorer:
    """Scores claims against evidence; caches evidence vectors between calls (passages repeat)."""

    def __init__(self, embedder, cache_size: int = 20_000):
        """``embedder``: ``encode(texts, progress=False)`` and a ``name``; an engine's follows the
        embedder of its current index, so cached vectors are kept for one embedder name at a time."""
        self.embedder = embedder
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_of = ""  # the embedder name the cached vectors are from
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        name = getattr(self.embedder, "name", "")
        # this call's vectors are collected here: other threads may evict (or, for another embedder,
        # clear) cached ones between our look-up and our result
        with self._lock:
            if name != self._vectors_of:
                self._vectors.clear()
                self._vectors_of = name
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            found.update(zip(missing, self.embedder.encode(missing, progress=False)))
            with self._lock:
                if name == self._vectors_of:
                    self._vectors.update((t, found[t]) for t in missing)
                    while len(self._vectors) > self._cache_size:
                        self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def prepare(self, evidence: list[Evidence]) -> None:
        """Encode ``evidence`` now (the chat's warm-up, for a corpus small enough to be read whole), so
        the first answer's check finds its vectors cached: 0.7 s of the first seed answer's 2.5 s."""
        self._encode([e.text for e in evidence])

    def score(self, claims: list[str], evidence: list[Evidence], question: str = "") -> np.ndarray:
        """Support of every claim (rows) by every evidence span (columns), in 0..1.

        With ``question``, the lexical half counts only what a claim adds to the question: an answer
        that restates the question ("The article was published on Wed, 09/17/2025") is backed by a span
        holding its new facts ("Wed, 09/17/2025") though not the question's wording. That also lets a
        made-up fact wrapped in the question's words through ("The United States won the 2018 FIFA World
        Cup", backed by any span naming the United States), so the engine asks for it only when the
        model was sure of its answer (rag.engine)."""
        if not claims or not evidence:
            return np.zeros((len(claims), len(evidence)), dtype=np.float32)
        claim_vecs = self._encode(claims)
        evid_vecs = self._encode([e.text for e in evidence])
        semantic = np.clip(claim_vecs @ evid_vecs.T, 0.0, 1.0)
        evid_terms = [content_terms(e.text) for e in evidence]
        asked = content_terms(question) if question else set()
        claim_terms = [content_terms(c) for c in claims]
        lexical = np.array([[lexical_support(c, t) for t in evid_terms] for c in claim_terms], dtype=np.float32)
        if asked:
            added = [(terms - asked) or terms for terms in claim_terms]
            lexical = np.array([[lexical_support(c, t) for t in evid_terms] for c in added], dtype=np.float32)
        return 0.5 * lexical + 0.5 * semantic
