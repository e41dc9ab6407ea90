"""Text analysis for BM25 and the retriever's lexical signals: one analysis, computed once.

Terms are bm25s's analysis (lower-case, its token pattern, its English stopwords, PyStemmer), re-
implemented without its per-call set-up (tests check they agree term for term). At index time each
chunk is analysed sentence by sentence: the concatenated sentence terms are the chunk's BM25 terms
(sentences split at whitespace, so no token crosses a boundary), and the sentence terms are stored
as vocabulary ids so a query reads them instead of re-analysing its candidates' text (that was
most of a query's time at 10k chunks; bench/RESULTS.md).
"""

from __future__ import annotations

import functools
import re
import threading
from array import array
from collections.abc import Sequence

import numpy as np

from index.sentences import sentence_spans

BM25_STOPWORDS = "en"
_ANALYSIS_BLOCK = 10_000  # chunks analysed at a time (bounds the memory of a large build)


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (and scikit-learn's) default token pattern
_STEM_CACHE_LIMIT = 500_000
_stems: dict[str, str] = {}
# One lock for the one PyStemmer object (not thread-safe) and for the cache of its results: the cache
# is cleared when it is full, so it is read under the lock too (a word found cached before a clear
# would be gone when read after it).
_stem_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _stopword_set() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords(BM25_STOPWORDS))


@functools.lru_cache(maxsize=1)
def _shared_stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stem_words(words: Sequence[str]) -> list[str]:
    """PyStemmer's English stem of each word, cached: the only way this project stems (BM25 terms,
    and the lexical support measure in rag/support.py), so every thread follows one locking rule."""
    with _stem_lock:
        if len(_stems) > _STEM_CACHE_LIMIT:
            _stems.clear()
        missing = [w for w in set(words) if w not in _stems]
        if missing:
            _stems.update(zip(missing, _shared_stemmer().stemWords(missing)))
        return [_stems[w] for w in words]


def bm25_tokens_of(texts: list[str]) -> list[list[str]]:
    """Each text as the stemmed, stopword-free terms BM25 indexes: the same analysis as
    ``bm25s.tokenize`` (lower-case, its token pattern, its English stopwords, then PyStemmer),
    without its per-call set-up, which made it most of a query's time (tests check they agree)."""
    stop = _stopword_set()
    words = [[w for w in _TOKEN.findall(text.lower()) if w not in stop] for text in texts]
    stems = iter(stem_words([w for ws in words for w in ws]))
    return [[next(stems) for _ in ws] for ws in words]


def bm25_query_tokens(text: str) -> list[str]:
    return bm25_tokens_of([text])[0]


def sentence_terms(texts: Sequence[str]) -> list[list[list[str]]]:
    """Each text's sentences (``sentence_spans``) as BM25 terms."""
    spans = [sentence_spans(text) for text in texts]
    flat = bm25_tokens_of([text[s:e] for text, sp in zip(texts, spans) for s, e in sp])
    out, at = [], 0
    for sp in spans:
        out.append(flat[at : at + len(sp)])
        at += len(sp)
    return out


def analyse_chunks(texts: Sequence[str]) -> tuple[list[list[str]], list[list[list[str]]]]:
    """(BM25 terms per chunk, terms per sentence per chunk), from one analysis."""
    chunk_terms: list[list[str]] = []
    per_sentence: list[list[list[str]]] = []
    for start in range(0, len(texts), _ANALYSIS_BLOCK):
        for sentences in sentence_terms(texts[start : start + _ANALYSIS_BLOCK]):
            per_sentence.append(sentences)
            chunk_terms.append([term for terms in sentences for term in terms])
    return chunk_terms, per_sentence


def sentence_term_arrays(
    per_sentence: Sequence[Sequence[Sequence[str]]], vocabulary: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(term ids of every sentence in order, int32; offsets, int64: sentence s has ids[rows[s]:rows[s + 1]]).
    Terms missing from ``vocabulary`` are dropped (none are, when it was built from the same analysis)."""
    ids = array("i")  # 4 bytes a term while collecting, not a Python int each (1M chunks: ~80M terms)
    rows = array("q", [0])
    get = vocabulary.get
    for sentences in per_sentence:
        for terms in sentences:
            ids.extend(i for i in map(get, terms) if i is not None)
            rows.append(len(ids))
    return np.frombuffer(ids, dtype=np.int32).copy(), np.frombuffer(rows, dtype=np.int64).copy()
