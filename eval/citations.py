"""ALCE-style citation recall and precision (Gao et al. 2023, ``compute_autoais``), with our
support measure standing in for ALCE's NLI model (none runs offline here).

"Passages P support sentence s" means: some sentence, or pair of adjacent sentences, of P scores
at least ``rag.citations.SUPPORT_THRESHOLD`` with ``rag.support.SupportScorer`` (0.5 lexical +
0.5 embedding cosine), the test citation verification itself uses.

* recall: the share of answer sentences whose cited passages, together, support them (a sentence
  citing nothing counts as unsupported);
* precision: the share of citations that are needed: a citation is *not* needed when its passage
  alone does not support the sentence but the sentence's other citations do; citations of a
  sentence whose citations do not support it count as not precise.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.citations import SUPPORT_THRESHOLD, parse_answer
from rag.records import Passage
from rag.support import SupportScorer, evidence_spans


@dataclass(frozen=True)
class CitationScores:
    recall: float | None  # None when the answer has no sentences (an abstention)
    precision: float | None  # None when it cites nothing
    sentences: int
    citations: int


class CitationJudge:
    def __init__(self, scorer: SupportScorer, threshold: float = SUPPORT_THRESHOLD):
        self.scorer = scorer
        self.threshold = threshold

    def supports(self, passages: list[Passage], sentence: str) -> bool:
        evidence = evidence_spans(passages)
        return bool(evidence) and float(self.scorer.score([sentence], evidence).max()) >= self.threshold

    def score(self, text: str, passages: list[Passage]) -> CitationScores:
        """Score an answer ``text`` with ``[n]`` markers, where ``[n]`` is ``passages[n-1]``."""
        sentences = parse_answer(text, len(passages))
        supported = precise = citations = 0
        for sentence in sentences:
            cited = [passages[n - 1] for n in sentence.cited]
            citations += len(cited)
            joint = bool(cited) and self.supports(cited, sentence.text)
            supported += joint
            if not joint:
                continue
            if len(cited) == 1:
                precise += 1
                continue
            for i, passage in enumerate(cited):
                alone = self.supports([passage], sentence.text)
                others = cited[:i] + cited[i + 1 :]
                precise += alone or not self.supports(others, sentence.text)
        return CitationScores(
            recall=supported / len(sentences) if sentences else None,
            precision=precise / citations if citations else None,
            sentences=len(sentences),
            citations=citations,
        )
