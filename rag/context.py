"""Which passages go into the prompt, in which order.

* If the whole index fits the context budget, every chunk goes in. The prompt prefix is
  then byte-identical for every question, and llama.cpp answers from its KV cache.
* Else, in a corpus of a few documents, the best passage's whole document when it fits
  (``whole_document``; the engine adds the other documents' evidence sentences after it).
* Otherwise (``build_context``) the top-k retrieved passages go in, dropping the lowest-ranked
  ones until they fit the budget; the engine itself gives the model the evidence sentences only.
Either way passages are put in (document, position) order, and the text that
overlapping chunks share is given once, so the prompt never repeats itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from index.locations import location_of
from index.records import Chunk
from index.store_api import IndexView, chunk_marks
from rag.records import Passage

TokenCount = Callable[[str], int]  # the prompt's tokens in a text (index.tokens.token_counter)

_corpus_tokens: dict[str, int] = {}
_document_tokens: dict[tuple[str, str], int] = {}
_lock = threading.Lock()
# Above this many chunks the corpus is never put in whole (nor read to find out): with the default
# 1,200-token budget and 200-token chunks about eight fit.
WHOLE_CORPUS_MAX_CHUNKS = 200
# A best passage's document is read whole only in a corpus of at most this many documents. The
# document is the prompt's stable prefix, its KV state kept in memory and on disk (one file a
# document, rag.generation.kv_cache.MAX_FILES), so only the first question on it pays its tokens (~20
# ms each on 2 cores, ~20 s for 1,000) before the first word: the mixed set's questions hop between
# six documents at first token p50 1.22 s. In a large corpus each question lands on another
# document, whose state would rarely be kept, so it gets the evidence sentences only.
WHOLE_DOCUMENT_MAX_DOCUMENTS = 10


def _order_and_trim(passages: list[Passage]) -> list[Passage]:
    ordered = sorted(passages, key=lambda p: (p.source, p.doc_id, p.char_start))
    out: list[Passage] = []
    for passage in ordered:
        prev = out[-1] if out else None
        if prev is not None and prev.doc_id == passage.doc_id and passage.char_start < prev.char_end:
            if passage.char_end <= prev.char_end:
                continue  # fully inside the previous one
            cut = prev.char_end - passage.char_start
            text = passage.chunk.text[cut:]
            lead = len(text) - len(text.lstrip())
            chunk = passage.chunk
            chunk = Chunk(
                id=chunk.id,
                doc_id=chunk.doc_id,
                ordinal=chunk.ordinal,
                char_start=chunk.char_start + cut + lead,
                char_end=chunk.char_end,
                text=text[lead:],
            )
            passage = replace(passage, chunk=chunk, sentences=())  # its sentence offsets no longer hold
        out.append(passage)
    return out


def corpus_tokens(snapshot: IndexView, count_tokens: TokenCount) -> int:
    key = snapshot.version
    with _lock:
        if key in _corpus_tokens:
            return _corpus_tokens[key]
    everything = _order_and_trim(all_passages(snapshot))
    total = sum(count_tokens(p.text) for p in everything)
    with _lock:
        _corpus_tokens[key] = total
    return total


def _passage_of(snapshot: IndexView, chunk: Chunk) -> Passage:
    """A chunk as an unranked passage, with its document's title, source and location marks."""
    meta = snapshot.documents.get(chunk.doc_id, {})
    marks = chunk_marks(meta, chunk)
    return Passage(
        chunk=chunk,
        title=meta.get("title", ""),
        source=meta.get("source", ""),
        rank=0,
        fused_score=0.0,
        location=location_of(marks, chunk.char_start, chunk.char_end),
        marks=marks,
    )


def all_passages(snapshot: IndexView) -> list[Passage]:
    return [_passage_of(snapshot, chunk) for chunk in snapshot.chunks_of(list(snapshot.documents))]


def document_passages(snapshot: IndexView, doc_id: str, retrieved: list[Passage] = ()) -> list[Passage]:
    """Every chunk of one document, in order, overlaps given once; a retrieved chunk keeps its scores."""
    by_id = {p.chunk.id: p for p in retrieved}
    return _order_and_trim([by_id.get(c.id) or _passage_of(snapshot, c) for c in snapshot.chunks_of([doc_id])])


def whole_document(
    snapshot: IndexView, retrieved: list[Passage], budget_tokens: int, count_tokens: TokenCount
) -> list[Passage]:
    """The best retrieved passage's whole document, when the corpus has few documents and it is longer
    than that one chunk and fits ``budget_tokens``; else []. The small model reads a document's framing
    (its date, who is speaking, what it is about) that evidence sentences leave out: the seed questions
    beside five unrelated documents, 44 of 48 right against 40 of 48 from the evidence sentences
    (out-of-scope questions abstained 7 of 7 against 4 of 7)."""
    if not retrieved or len(snapshot.documents) > WHOLE_DOCUMENT_MAX_DOCUMENTS:
        return []
    doc_id = retrieved[0].doc_id
    key = (snapshot.version, doc_id)
    with _lock:
        cached = _document_tokens.get(key)
    passages = document_passages(snapshot, doc_id, retrieved)
    if len(passages) < 2:
        return []
    if cached is None:
        cached = sum(count_tokens(p.text) for p in passages)
        with _lock:
            _document_tokens[key] = cached
    return passages if cached <= budget_tokens else []


def whole_corpus_fits(snapshot: IndexView, budget_tokens: int, count_tokens: TokenCount) -> bool:
    count = snapshot.chunk_count()
    return 0 < count <= WHOLE_CORPUS_MAX_CHUNKS and corpus_tokens(snapshot, count_tokens) <= budget_tokens


def build_context(
    snapshot: IndexView, retrieved: list[Passage], budget_tokens: int, count_tokens: TokenCount
) -> list[Passage]:
    if whole_corpus_fits(snapshot, budget_tokens, count_tokens):
        by_id = {p.chunk.id: p for p in retrieved}
        return _order_and_trim([by_id.get(p.chunk.id, p) for p in all_passages(snapshot)])
    chosen = list(retrieved)  # best first
    while chosen:
        context = _order_and_trim(chosen)
        if sum(count_tokens(p.text) for p in context) <= budget_tokens or len(chosen) == 1:
            return context
        chosen.pop()
    return []
