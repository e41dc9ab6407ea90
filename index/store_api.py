"""The store interface: where chunks, vectors and the lexical index live, behind one small API.

Two backends implement it:

* ``FolderStore`` (index/store.py, the default): FAISS + BM25 files in a local folder, loaded
  into the process; each write makes a complete new version and swaps it in atomically.
* ``PostgresStore`` (index/pg_store.py): PostgreSQL + pgvector, chosen by a connection URL
  (``rag index --store postgresql://...``); chunks are rows, an HNSW index serves dense search,
  the same BM25 ranking is computed in SQL from postings tables, and each write is a transaction.

``open_store(config)`` (index/store_factory.py) picks one; this module imports neither. A store
hands out read-only *views* (``IndexView``; each retrieval through one reads a single committed
version), and takes writes through a ``writer`` transaction: delete documents, add documents with
their chunks and vectors, then commit (all or nothing). The pipeline (index/pipeline.py) and the
retriever (rag/retriever.py) speak only this interface.

Rows are identified by *keys*: ints that stay valid within one view (the folder store's row
numbers; Postgres's chunk ids).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index.errors import StoreError
from index.locations import marks_within
from index.records import Chunk


class IndexMissing(StoreError):
    """No index has been built yet (the message says how to build one)."""


class IndexCorrupt(StoreError):
    """The index is damaged or of a format this version cannot read (the message says how to rebuild)."""


class IndexBusy(StoreError):
    """Another writer (`rag index`) holds the index."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or used (bad URL, server down, missing extension)."""


@dataclass
class Candidates:
    """What the retriever reads about its candidate chunks, in the order they were asked for.

    Sentence data is flattened: candidate i's sentences are ``sentence_vectors[sentence_rows[i]:
    sentence_rows[i + 1]]``, sentence s's BM25 term ids are ``sentence_term_ids[sentence_term_rows[s]:
    sentence_term_rows[s + 1]]`` (ids of the view's vocabulary, see ``IndexView.term_ids``).
    """

    keys: list[int]
    chunks: list[Chunk]
    titles: list[str]
    sources: list[str]
    vectors: np.ndarray  # float32 (n, dim), unit length
    sentence_vectors: np.ndarray  # float16 (sentences, dim)
    sentence_rows: np.ndarray  # int64 (n + 1,)
    sentence_term_ids: np.ndarray  # int (terms,)
    sentence_term_rows: np.ndarray  # int64 (sentences + 1,)
    second_vectors: np.ndarray | None = None  # float32 (n, dim2), when the index has them
    # per candidate, its document's location marks that cover the chunk (index/locations.py)
    marks: list[tuple[tuple[int, str], ...]] | None = None

    def location_marks(self, i: int) -> tuple[tuple[int, str], ...]:
        return self.marks[i] if self.marks is not None else ()

    def subset(self, indices) -> Candidates:
        """The candidates at ``indices`` (positions in this record), in that order."""
        at = np.asarray(indices, dtype=np.int64)
        sentences, positions, sentence_rows, term_rows = sentence_slices(
            self.sentence_rows, self.sentence_term_rows, at
        )
        return Candidates(
            keys=[self.keys[i] for i in at],
            chunks=[self.chunks[i] for i in at],
            titles=[self.titles[i] for i in at],
            sources=[self.sources[i] for i in at],
            vectors=self.vectors[at],
            sentence_vectors=self.sentence_vectors[sentences],
            sentence_rows=sentence_rows,
            sentence_term_ids=self.sentence_term_ids[positions],
            sentence_term_rows=term_rows,
            second_vectors=None if self.second_vectors is None else self.second_vectors[at],
            marks=None if self.marks is None else [self.marks[i] for i in at],
        )


def chunk_marks(meta: dict | None, chunk: Chunk) -> tuple[tuple[int, str], ...]:
    """The marks of the document ``meta`` (as a store keeps it) that cover ``chunk``."""
    return marks_within((meta or {}).get("marks"), chunk.char_start, chunk.char_end)


def sentence_slices(sentence_rows: np.ndarray, sentence_term_rows: np.ndarray, rows: np.ndarray):
    """For chunks ``rows`` of flattened sentence data (see ``Candidates``): the sentence indices, the term
    positions, and the new (rebased) sentence and term offsets of just those chunks, in that order."""
    first, last = sentence_rows[rows], sentence_rows[rows + 1]
    sentences, _ = concat_ranges(first, last)
    term_first, term_last = sentence_term_rows[sentences], sentence_term_rows[sentences + 1]
    positions, _ = concat_ranges(term_first, term_last)
    new_rows = np.concatenate([[0], np.cumsum(last - first)]).astype(np.int64)
    new_term_rows = np.concatenate([[0], np.cumsum(term_last - term_first)]).astype(np.int64)
    return sentences, positions, new_rows, new_term_rows


class ManifestNames:
    """The embedders a view's manifest names (shared by both backends' views)."""

    manifest: dict

    @property
    def embedder_name(self) -> str:
        return self.manifest["embedder"]["name"]

    @property
    def second_embedder_name(self) -> str | None:
        return (self.manifest.get("second_embedder") or {}).get("name")


class IndexView(Protocol):
    """A read-only index. Every ``reading()`` block sees one committed version, whole (the folder
    store's view is one version for its lifetime; the database's reads the newest at each block)."""

    manifest: dict
    documents: dict[str, dict]  # doc id -> {"title", "source", "chunks", ...}

    @property
    def version(self) -> str: ...  # changes with every write
    @property
    def embedder_name(self) -> str: ...
    @property
    def second_embedder_name(self) -> str | None: ...
    @property
    def outdated(self) -> bool: ...  # written in an older layout that the next write replaces
    def chunk_count(self) -> int: ...
    def reading(self) -> contextlib.AbstractContextManager: ...  # several calls, one version
    # ``doc_ids``: search only those documents' chunks (a filter inside the search: index/scope.py)
    def search_dense(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]: ...
    def search_second(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]: ...
    def search_lexical(self, query: str, k: int, doc_ids=None) -> list[tuple[int, float]]: ...
    def lexical_scores(self, query: str, keys: list[int]) -> np.ndarray: ...
    def candidates(self, keys: list[int]) -> Candidates: ...
    def term_ids(self, terms: list[str]) -> np.ndarray: ...
    def document_frequencies(self, ids: np.ndarray) -> np.ndarray: ...
    def chunks_of(self, doc_ids: list[str]) -> list[Chunk]: ...  # in (source, position) order
    def stats(self) -> dict: ...


class IndexWriter(Protocol):
    """One write transaction: nothing is visible to readers until ``commit``; an exception inside
    ``with store.writer(...)`` leaves the previous version exactly as it was."""

    def delete_documents(self, doc_ids: list[str]) -> None: ...
    def add_documents(
        self,
        documents: dict[str, dict],
        chunks: list[Chunk],
        vectors: np.ndarray,
        sentence_vectors: list[np.ndarray],
        second_vectors: np.ndarray | None = None,
    ) -> None: ...
    def update_documents(self, documents: dict[str, dict]) -> None: ...  # metadata only (e.g. file stamps)
    def set_second_vectors(self, chunk_ids: list[str], vectors: np.ndarray) -> None: ...


class Store(Protocol):
    location: str

    def exists(self) -> bool: ...
    def version(self) -> str | None: ...
    def load(self) -> IndexView: ...
    def read_manifest(self) -> dict | None: ...
    def lock(self, timeout: float) -> contextlib.AbstractContextManager: ...  # one writer at a time
    def writer(
        self, base: IndexView | None, *, embedder: dict, chunker: dict, second_embedder: dict | None, ann_threshold: int
    ) -> contextlib.AbstractContextManager[IndexWriter]: ...
    def close(self) -> None: ...  # release connections (a no-op for the folder)


def top_rows(scores: np.ndarray | None, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (row, score) pairs with a positive score, best first."""
    if scores is None or not len(scores) or k <= 0:
        return []
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(r), float(scores[r])) for r in top if scores[r] > 0]


def concat_ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The concatenated aranges [starts[i], stops[i]), and for each element the i it came from."""
    counts = np.asarray(stops - starts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + np.arange(counts.sum()) - offsets[owner], owner
