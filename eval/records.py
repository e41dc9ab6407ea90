"""The evaluation layer's typed records: a set and its items and documents (whatever file format
they came in), and one item's scored result. The loaders (eval/sets.py, squad.py, beir.py), the
runner, the summary and the report all speak them; this module imports none of those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

RECALL_KS = (1, 2, 3, 5, 10, 20)  # the k of ItemResult.recall (document recall@k)


@dataclass(frozen=True)
class EvalItem:
    id: str
    turns: tuple[str, ...]  # the user's messages; the last one is scored
    answers: tuple[str, ...] = ()  # acceptable gold answers, any one counts
    relevant: dict[str, int] = field(default_factory=dict)  # document file name -> relevance grade
    support: str | None = None  # gold supporting text
    answerable: bool = True
    language: str = "en"
    kind: str = ""

    @property
    def question(self) -> str:
        return self.turns[-1]

    @property
    def retrieval_query(self) -> str:
        """A standalone query without an LLM: a follow-up is searched together with the turns before it."""
        return " ".join(self.turns)


@dataclass(frozen=True)
class SetDocument:
    """A document an external set carries inline; written to a .txt file named ``name`` before indexing."""

    name: str
    title: str
    text: str


@dataclass
class EvalSet:
    name: str
    path: Path
    format: str  # "jsonl", "squad" or "beir"
    items: list[EvalItem]
    documents: list[SetDocument] = field(default_factory=list)  # inline documents (SQuAD, BEIR)
    docs_folder: Path | None = None  # or an existing folder of documents (JSONL sets)

    @property
    def titles(self) -> dict[str, str]:
        return {d.name: d.title for d in self.documents}


@dataclass
class ItemResult:
    id: str
    kind: str
    question: str
    turns: list[str]
    answers: list[str]
    answerable: bool
    relevant: dict[str, int]
    ranking: list[str] = field(default_factory=list)  # document names, best first (top 20)
    gold_rank: int | None = None  # rank of the first relevant document, None if not retrieved
    ndcg10: float | None = None
    mrr10: float | None = None
    recall: dict[int, float] = field(default_factory=dict)
    support: str | None = None
    support_rank: int | None = None  # rank of the first retrieved chunk holding the whole gold support
    # filled when the run answers
    answer: str | None = None
    raw_answer: str | None = None  # what the generator said, before citation verification
    abstained: bool | None = None
    exact_match: float | None = None
    f1: float | None = None
    contains: float | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    citations: int | None = None
    raw_citation_recall: float | None = None  # the model's own markers, before verification re-attached them
    raw_citation_precision: float | None = None
    gold_citations: int | None = None  # citations judged against the set's gold answers/support
    gold_citations_correct: int | None = None  # of those, quoting a gold answer or the gold support
    sources: float | None = None  # seconds until the sources were ready (before the model's first word)
    no_answer_probability: float | None = None  # the model's first-token probability of NO_ANSWER
    first_token: float | None = None
    total: float | None = None
    passages: list[str] = field(default_factory=list)  # documents of the passages the answer was given
    fallback_reason: str = ""
    searched_for: str | None = None  # what retrieval searched for when not the question (a follow-up's rewrite)
    error: str = ""

    @property
    def failed(self) -> bool:
        if self.answer is None and not self.error:
            return bool(self.relevant) and (self.gold_rank is None or self.gold_rank > 10)
        if self.error:
            return True
        if not self.answerable:
            return not self.abstained
        if self.abstained:
            return True
        return bool(self.answers) and not self.contains and (self.f1 or 0.0) < 0.5

    def to_dict(self, brief: bool = False) -> dict:
        """Fields that have a value; ``brief``: only what big retrieval runs need (keeps files small)."""
        data = {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in self.__dict__.items()
            if v not in (None, "", [], {})
        }
        data["recall"] = {str(k): round(v, 4) for k, v in self.recall.items()}
        data["failed"] = self.failed
        if len(self.turns) == 1:
            data.pop("turns")
        if brief:
            keep = ("id", "gold_rank", "failed", "answer", "abstained", "f1", "contains")
            data = {k: v for k, v in data.items() if k in keep} | {"ranking": self.ranking[:5]}
        return data
