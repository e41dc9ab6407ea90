"""Which passages go into the prompt, in which order.

* If the whole index fits the context budget, every chunk goes in. The prompt prefix is
  then byte-identical for every question, and llama.cpp answers from its KV cache.
* Otherwise the top-k retrieved passages go in, dropping the lowest-ranked ones until
  they fit the budget.
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
_lock = threading.Lock()
# Above this many chunks the corpus is never put in whole (nor read to find out): with the default
# 1,200-token budget and 200-token chunks about eight fit.
WHOLE_CORPUS_MAX_CHUNKS = 200


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


def all_passages(snapshot: IndexView) -> list[Passage]:
    out = []
    for chunk in snapshot.chunks_of(list(snapshot.documents)):
        meta = snapshot.documents.get(chunk.doc_id, {})
        marks = chunk_marks(meta, chunk)
        out.append(
            Passage(
                chunk=chunk,
                title=meta.get("title", ""),
                source=meta.get("source", ""),
                rank=0,
                fused_score=0.0,
                location=location_of(marks, chunk.char_start, chunk.char_end),
                marks=marks,
            )
        )
    return out


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
