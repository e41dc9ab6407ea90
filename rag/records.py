"""Typed records of the answering layer: what retrieval returns and what ``answer()`` returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from index.locations import location_of
from index.records import Chunk


@dataclass(frozen=True)
class ScoredSentence:
    """One sentence of a retrieved passage and how well it matches the question (for evidence selection)."""

    start: int  # character offsets into the passage (chunk) text
    end: int
    cosine: float  # its late-chunking vector's cosine to the question (0 when the index has none for it)
    coverage: float  # idf-weighted share of the question's terms it holds, 0..1


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with where it came from and why it was chosen."""

    chunk: Chunk
    title: str
    source: str
    rank: int  # 1-based position after fusion
    fused_score: float
    dense_score: float | None = None  # cosine similarity, None if not in the dense top list
    bm25_score: float | None = None  # None if not in the BM25 top list
    location: str = ""  # where in the file the chunk is: "page 2", "slide 3", "sheet Exports, rows 2–4", a section...
    # the document's location marks that cover this chunk (index/locations.py), so a citation of a
    # sentence inside it can say exactly where that sentence is
    marks: tuple[tuple[int, str], ...] = field(default=(), repr=False, compare=False)
    sentences: tuple[ScoredSentence, ...] = ()  # its sentences scored against the question (retrieval fills it)

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def char_start(self) -> int:
        return self.chunk.char_start

    @property
    def char_end(self) -> int:
        return self.chunk.char_end

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk.id,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "location": self.location,
            "text": self.text,
            "rank": self.rank,
            "fused_score": self.fused_score,
            "dense_score": self.dense_score,
            "bm25_score": self.bm25_score,
        }


@dataclass(frozen=True)
class Citation:
    """Source ``number`` (the [n] in the answer) backing one answer sentence.

    ``span_start``/``span_end`` are character offsets into the *document* text of the
    supporting sentence(s); ``text`` is that supporting text.
    """

    number: int
    passage: Passage
    span_start: int
    span_end: int
    text: str
    sentence: str  # the answer sentence this citation supports
    support: float  # 0..1, how well the supporting text backs the sentence
    reattached: bool = False  # True when verification chose this passage instead of the model

    @property
    def title(self) -> str:
        return self.passage.title

    @property
    def source(self) -> str:
        return self.passage.source

    @property
    def location(self) -> str:
        """Where the supporting text is in its file ("page 2", "sheet Exports, row 3", ...)."""
        return location_of(self.passage.marks, self.span_start, self.span_end) or self.passage.location

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "title": self.title,
            "source": self.source,
            "location": self.location,
            "span_start": self.span_start,
            "span_end": self.span_end,
            "text": self.text,
            "sentence": self.sentence,
            "support": round(self.support, 3),
            "reattached": self.reattached,
            "chunk_id": self.passage.chunk.id,
        }


@dataclass(frozen=True)
class EvidenceSentence:
    """A document sentence chosen as evidence for the question: what the answer should rest on.

    ``number`` is the [n] of the passage it belongs to (``Sources.passages[number - 1]``);
    ``span_start``/``span_end`` are character offsets into the *document* text, like a Citation's.
    """

    number: int
    span_start: int
    span_end: int
    text: str
    score: float  # how well the sentence matches the question (rag.evidence; higher is better)
    coverage: float = 0.0  # idf-weighted share of the question's terms it holds, 0..1


@dataclass(frozen=True)
class Sources:
    """What ``stream_answer`` yields first, as soon as retrieval is done and before any answer text:
    the numbered passages the answer will be drawn from and the sentences most likely to answer,
    so a UI can show the evidence at once. The final ``Answer`` follows the text pieces as before."""

    question: str
    searched_for: str | None  # the rewritten (standalone/English) question, when it was rewritten
    passages: list[Passage]  # [n] is passages[n - 1], the same numbering as Answer.passages
    evidence: list[EvidenceSentence]  # best first
    abstaining: bool = False  # True when nothing relevant was retrieved (the answer will say so)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "searched_for": self.searched_for,
            "passages": [p.to_dict() for p in self.passages],
            "evidence": [asdict(e) for e in self.evidence],
            "abstaining": self.abstaining,
        }


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # the prompt's passages: passages[n-1] is [n]
    retrieved: list[Passage] = field(default_factory=list)  # what retrieval returned, best first
    abstained: bool = False
    rewritten_question: str | None = None  # the standalone/English query actually used for retrieval
    language: str = "en"
    generator: str = ""
    unsupported_sentences: list[str] = field(default_factory=list)
    fallback_reason: str = ""  # why the model's answer was replaced (extractive fallback or abstention)
    notices: list[str] = field(default_factory=list)  # e.g. "question truncated ..."
    raw_text: str = ""  # what the generator said, before citation verification
    no_answer_probability: float | None = None  # how likely the model's NO_ANSWER was as its first token
    english_text: str = ""  # for other languages: the verified English answer that was translated
    timings: dict[str, float] = field(default_factory=dict)  # seconds: retrieve, first_token, total, ...

    def to_dict(self) -> dict:
        data = asdict(self)  # (passages' marks are dropped below: their to_dict gives the location)
        data["citations"] = [c.to_dict() for c in self.citations]
        data["passages"] = [p.to_dict() for p in self.passages]
        data["retrieved"] = [p.to_dict() for p in self.retrieved]
        return data
