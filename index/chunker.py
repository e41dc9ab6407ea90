"""Split a document into overlapping chunks of about ``chunk_tokens`` cl100k tokens.

Chunks break between sentences (and so between paragraphs) where they can, and
inside a sentence only when one sentence alone is too long. Every chunk is an
exact character span of the document text. A final guard re-splits any chunk the
embedder's own tokenizer finds longer than its ``max_seq_length``, so no chunk
loses its tail inside the embedder. Sentences come from ``index.sentences``, the
one segmentation every layer shares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.errors import ConfigError
from index.records import Chunk, Document
from index.sentences import sentence_spans
from index.tokens import cl100k

_WORD = re.compile(r"\S+\s*")

FitsCheck = Callable[[Sequence[str]], list[bool]]  # True where the text fits the embedder


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


class Chunker:
    def __init__(self, chunk_tokens: int, chunk_overlap: int, *, cache_dir: Path | str, fits: FitsCheck | None = None):
        """Chunks of about ``chunk_tokens`` cl100k tokens overlapping by ``chunk_overlap``; ``cache_dir``
        is the configured cache folder (tiktoken's file is kept there), ``fits`` the embedder's length check."""
        if chunk_tokens < 16:
            raise ConfigError(f"chunk size {chunk_tokens} (--chunk-tokens, RAG_CHUNK_TOKENS) must be at least 16")
        if not 0 <= chunk_overlap < chunk_tokens // 2:
            raise ConfigError(
                f"chunk overlap {chunk_overlap} (--chunk-overlap, RAG_CHUNK_OVERLAP) must be between 0 and half "
                f"the chunk size ({chunk_tokens})"
            )
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.fits = fits
        self._encoding = cl100k(cache_dir)

    # -- public --------------------------------------------------------------------

    def split(self, document: Document) -> list[Chunk]:
        return self.split_many([document])[document.id] if document.text.strip() else []

    def split_many(self, documents: Sequence[Document]) -> dict[str, list[Chunk]]:
        """Chunks per document id. Batched so the length guard runs once over everything."""
        spans_by_doc = {doc.id: self._pack(doc.text, self._units(doc.text)) for doc in documents}
        if self.fits is not None:
            spans_by_doc = self._enforce_limit({doc.id: doc.text for doc in documents}, spans_by_doc)
        out: dict[str, list[Chunk]] = {}
        for doc in documents:
            out[doc.id] = [
                Chunk(id=f"{doc.id}:{i}", doc_id=doc.id, ordinal=i, char_start=s, char_end=e, text=doc.text[s:e])
                for i, (s, e) in enumerate(spans_by_doc[doc.id])
            ]
        return out

    # -- internals -----------------------------------------------------------------

    def _count(self, texts: list[str]) -> list[int]:
        # not encode_ordinary_batch: it starts a thread pool per call, which cost more than the
        # encoding itself for a document's few sentences (5x slower over SQuAD)
        encode = self._encoding.encode_ordinary
        return [len(encode(t)) for t in texts]

    def _units(self, text: str) -> list[_Unit]:
        """Sentence spans (whitespace trimmed), long sentences cut at word boundaries."""
        spans = sentence_spans(text)
        counts = self._count([text[s:e] for s, e in spans])
        units: list[_Unit] = []
        for (s, e), n in zip(spans, counts):
            if n <= self.chunk_tokens:
                units.append(_Unit(s, e, n))
            else:
                units.extend(self._cut_long(text, s, e))
        return units

    def _cut_long(self, text: str, start: int, end: int) -> list[_Unit]:
        words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
        # a "word" longer than a chunk (no spaces: URLs, tables, CJK) is cut every few characters
        pieces: list[tuple[int, int]] = []
        step = self.chunk_tokens  # about one token per character at worst
        for s, e in words:
            pieces.extend((i, min(i + step, e)) for i in range(s, e, step))
        counts = self._count([text[s:e] for s, e in pieces])
        units, cur_start, cur_tokens, cur_end = [], pieces[0][0], 0, pieces[0][0]
        for (s, e), n in zip(pieces, counts):
            if cur_tokens and cur_tokens + n > self.chunk_tokens:
                units.append(_Unit(*_trim(text, cur_start, cur_end), cur_tokens))
                cur_start, cur_tokens = s, 0
            cur_tokens += n
            cur_end = e
        units.append(_Unit(*_trim(text, cur_start, cur_end), cur_tokens))
        return [u for u in units if u.end > u.start]

    def _pack(self, text: str, units: list[_Unit]) -> list[tuple[int, int]]:
        """Greedy packing of whole units; each new chunk repeats the tail of the previous one."""
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + units[j].tokens <= self.chunk_tokens):
                total += units[j].tokens
                j += 1
            spans.append((units[i].start, units[j - 1].end))
            if j >= len(units):
                break
            # step back over whole units worth at most chunk_overlap tokens, always moving forward
            back, k = 0, j
            while k - 1 > i and back + units[k - 1].tokens <= self.chunk_overlap:
                back += units[k - 1].tokens
                k -= 1
            i = k
        return spans

    def _enforce_limit(
        self, texts: dict[str, str], spans_by_doc: dict[str, list[tuple[int, int]]]
    ) -> dict[str, list[tuple[int, int]]]:
        """Halve every span the embedder would truncate, until all fit: one ``fits`` call a round
        over all documents (the tokenizer is fast per batch, slow per call)."""
        result = {doc_id: list(spans) for doc_id, spans in spans_by_doc.items()}
        unchecked = {doc_id: [True] * len(spans) for doc_id, spans in result.items()}
        for _ in range(12):  # each round halves the offenders; 12 rounds is far more than needed
            asked = [(doc_id, i) for doc_id, flags in unchecked.items() for i, flag in enumerate(flags) if flag]
            if not asked:
                return result
            ok = self.fits([texts[doc_id][slice(*result[doc_id][i])] for doc_id, i in asked])
            too_long = {(doc_id, i) for (doc_id, i), fits in zip(asked, ok) if not fits}
            for doc_id in unchecked:
                fixed: list[tuple[int, int]] = []
                flags: list[bool] = []
                for i, (s, e) in enumerate(result[doc_id]):
                    halves = _halve(texts[doc_id], s, e) if (doc_id, i) in too_long else [(s, e)]
                    fixed.extend(halves)
                    flags.extend([(doc_id, i) in too_long] * len(halves))  # only new halves are checked again
                result[doc_id], unchecked[doc_id] = fixed, flags
        raise RuntimeError("could not split a chunk below the embedder's maximum length")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _halve(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a span near its middle, preferring a sentence end, then a space."""
    mid = (start + end) // 2
    window = text[start:end]
    candidates = [start + s for s, _ in sentence_spans(window)[1:]] or [
        start + m.end() for m in re.finditer(r"\s+", window)
    ]
    cut = min(candidates, key=lambda c: abs(c - mid)) if candidates else mid
    if not start < cut < end:
        cut = mid
    return [span for span in (_trim(text, start, cut), _trim(text, cut, end)) if span[1] > span[0]]
