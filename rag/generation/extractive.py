"""Extractive answers, no LLM: the passage sentences that best answer the question, cited.

The fast mode, and the fallback when no model is installed or the model gives a non-answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.generation.base import GenerationRequest, GenerationResult, Generator
from rag.prompt import NO_ANSWER
from rag.support import SupportScorer, evidence_spans

# Below this support the best sentence does not answer the question.
MIN_SUPPORT = 0.35


class ExtractiveGenerator(Generator):
    name = "extractive"
    uses_llm = False

    def __init__(self, scorer: SupportScorer, max_sentences: int = 2):
        """``scorer`` picks the sentences: the engine's, so their vectors are shared with the checks."""
        self.scorer = scorer
        self.max_sentences = max_sentences

    def stream(self, request: GenerationRequest) -> Iterator[str | GenerationResult]:
        yield self.answer_text(request.question, request.passages)
        yield GenerationResult(finish_reason="stop")

    def answer_text(self, question: str, passages, min_support: float = MIN_SUPPORT) -> str:
        singles = evidence_spans(passages, pairs=False)
        if not singles:
            return NO_ANSWER
        scores = self.scorer.score([question], singles)[0]
        order = scores.argsort()[::-1]
        best = float(scores[order[0]])
        if best < min_support:
            return NO_ANSWER
        picked = []
        for j in order:
            if len(picked) == self.max_sentences or scores[j] < max(min_support, 0.9 * best):
                break
            ev = singles[j]
            if any(p.passage_index == ev.passage_index and p.start < ev.end and ev.start < p.end for p in picked):
                continue  # overlaps one already picked
            picked.append(ev)
        picked.sort(key=lambda e: (e.passage_index, e.start))
        parts = []
        for ev in picked:
            text = ev.text.strip()
            end = text[-1] if text[-1] in ".!?" else "."
            body = text[:-1] if text[-1] in ".!?" else text
            parts.append(f"{body} [{ev.passage_index + 1}]{end}")
        return " ".join(parts)
