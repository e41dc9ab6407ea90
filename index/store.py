"""The on-disk index: FAISS vectors + BM25 + chunk records + manifest, in one folder.

Layout of ``<index_dir>`` (``Config.index_dir``)::

    current -> v-20261129T101500-ab12cd     symlink, swapped atomically on each build
    v-20261129T101500-ab12cd/
        manifest.json    format version, embedder, chunker settings, documents, file checksums,
                         and a checksum of its own content
        documents.json   document metadata (id, title, source, size, mtime, location marks)
        chunks.jsonl     one Chunk per line, row i = vector i
        vectors.npy      float32 unit vectors (kept so unchanged documents are never re-embedded)
        sentences.npy    float16 unit vectors, one per sentence of each chunk (late chunking)
        sentence_rows.npy  int64 offsets: chunk i's sentences are rows [i] to [i+1] of sentences.npy
        sentence_terms.npy  int32 BM25 vocabulary ids of every sentence's terms, in order
        sentence_term_rows.npy  int64 offsets: sentence s's terms are [s] to [s+1] of sentence_terms.npy
        second_vectors.npy  float32 unit vectors of the second embedder (only when it is on)
        faiss.index      exact flat index, or IVF above ``ann_threshold`` chunks
        bm25/            bm25s sparse index over the same chunks
    .lock                held while a build runs

A build writes a new ``v-*`` folder under a temporary name, fsyncs every file, renames
it, then swaps the ``current`` symlink with ``os.replace`` (atomic on POSIX). A crash
at any moment leaves ``current`` pointing at a complete index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.records import Chunk
from index.store_api import (
    Candidates,
    IndexBusy,
    IndexCorrupt,
    IndexMissing,
    ManifestNames,
    chunk_marks,
    sentence_slices,
    top_rows,
)
from index.terms import analyse_chunks, bm25_query_tokens, sentence_term_arrays

log = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 2: sentence vectors; 3: sentences' analysed terms; 4: documents' location marks
# a format-2 index is analysed at load; a format-3 one has no locations (its passages say none). The next
# `rag index` rewrites either, embedding nothing (it re-reads a format-3 index's files for their marks)
READABLE_FORMATS = (2, 3, 4)
CURRENT = "current"
_READ_ATTEMPTS = 3  # reads of the current version, when builds swap it meanwhile


SCOPED_EXACT_ROWS = 200_000  # a scoped dense search over fewer rows scans them exactly (~40 ms at 200k)
IVF_NPROBE = 32  # lists searched per query (bench/scale.py: recall@10 0.99 at 1M chunks)
HNSW_EF_SEARCH = 96  # for indexes built by earlier versions (and bench/scale.py's comparison)


def choose_index_type(n_chunks: int, ann_threshold: int) -> str:
    """Exact search below ``ann_threshold`` chunks, IVF above: in bench/scale.py IVF beat HNSW on
    recall (0.99 vs 0.75 at 1M), build time (14 s vs 189 s; the store rebuilds it on every write)
    and memory, at 6 ms a query."""
    return "ivf" if n_chunks >= ann_threshold else "flat"


def build_faiss(vectors: np.ndarray, index_type: str):
    import faiss

    dim = vectors.shape[1]
    if index_type == "ivf" and len(vectors):
        n = len(vectors)
        nlist = max(1, min(int(np.sqrt(n)), n // 39))  # k-means wants >= 39 training points a list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)
        index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
        index.nprobe = IVF_NPROBE
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


@dataclass
class IndexSnapshot(ManifestNames):
    """A loaded, read-only index version. Searching it never touches the disk."""

    path: Path
    manifest: dict
    documents: dict[str, dict]
    chunks: list[Chunk]
    vectors: np.ndarray
    faiss_index: object
    bm25: object | None
    sentence_vectors: np.ndarray  # memory-mapped: only the candidates' rows are ever read
    sentence_rows: np.ndarray
    sentence_term_ids: np.ndarray  # memory-mapped, BM25 vocabulary ids (see index/terms.py)
    sentence_term_rows: np.ndarray
    second_vectors: np.ndarray | None = None  # row i = chunk i, from manifest["second_embedder"]
    _rows_by_doc: dict[str, list[int]] = field(init=False, repr=False)
    _last_bm25: tuple[str, np.ndarray | None] | None = field(default=None, repr=False)
    _last_scope: tuple[frozenset, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self):
        # Built once here, not on first use: a view is shared by threads (the chat's warm-up and its
        # first question, callers of the Python API), and a map filled lazily was read half-built.
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.doc_id, []).append(row)
        self._rows_by_doc = rows

    # -- the IndexView interface (index/store_api.py) ------------------------------------

    @property
    def version(self) -> str:
        return str(self.path)

    @property
    def outdated(self) -> bool:
        return self.manifest.get("format_version") != FORMAT_VERSION

    def chunk_count(self) -> int:
        return len(self.chunks)

    def reading(self):
        return contextlib.nullcontext()  # a loaded version never changes

    def search_second(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]:
        """Exact cosine search over the second embedder's vectors (they are few: see Config)."""
        if self.second_vectors is None or not len(self.second_vectors) or k <= 0:
            return []
        scores = self.second_vectors @ np.asarray(query_vector, dtype=np.float32) + 2.0  # cosines > -2
        if doc_ids is not None:
            scores = _only(scores, self.rows_in(doc_ids))
        return [(row, float(scores[row] - 2.0)) for row, _ in top_rows(scores, k)]

    def lexical_scores(self, query: str, keys: list[int]) -> np.ndarray:
        scores = self._bm25_of(query)
        return scores[np.asarray(keys, dtype=np.int64)] if scores is not None else np.zeros(len(keys))

    def _bm25_of(self, query: str) -> np.ndarray | None:
        last = self._last_bm25  # a retrieval asks for the top rows, then for its candidates' scores
        if last is None or last[0] != query:
            last = (query, self.bm25_scores(query))
            self._last_bm25 = last
        return last[1]

    def candidates(self, keys: list[int]) -> Candidates:
        rows = np.asarray(keys, dtype=np.int64)
        sentences, positions, sentence_rows, term_rows = sentence_slices(
            self.sentence_rows, self.sentence_term_rows, rows
        )
        chunks = [self.chunks[r] for r in keys]
        metas = [self.documents.get(c.doc_id, {}) for c in chunks]
        return Candidates(
            keys=[int(k) for k in keys],
            chunks=chunks,
            titles=[m.get("title", "") for m in metas],
            sources=[m.get("source", "") for m in metas],
            vectors=np.asarray(self.vectors[rows], dtype=np.float32),
            sentence_vectors=np.asarray(self.sentence_vectors[sentences]),
            sentence_rows=sentence_rows,
            sentence_term_ids=np.asarray(self.sentence_term_ids[positions]),
            sentence_term_rows=term_rows,
            second_vectors=None if self.second_vectors is None else np.asarray(self.second_vectors[rows]),
            marks=[chunk_marks(m, c) for m, c in zip(metas, chunks)],
        )

    def chunks_of(self, doc_ids: list[str]) -> list[Chunk]:
        return [self.chunks[row] for doc_id in doc_ids for row in self.rows_of(doc_id)]

    # -----------------------------------------------------------------------------------

    def rows_in(self, doc_ids) -> np.ndarray:
        """The rows of the documents ``doc_ids``, sorted (the last scope's are kept: a retrieval asks
        for them three times)."""
        key = frozenset(doc_ids)
        last = self._last_scope
        if last is None or last[0] != key:
            rows = np.array(sorted(row for doc_id in key for row in self.rows_of(doc_id)), dtype=np.int64)
            last = self._last_scope = (key, rows)
        return last[1]

    def rows_of(self, doc_id: str) -> list[int]:
        return self._rows_by_doc.get(doc_id, [])

    def sentences_of(self, row: int) -> np.ndarray:
        """The late-chunking vectors of chunk ``row``'s sentences (float16, unit length)."""
        return self.sentence_vectors[self.sentence_rows[row] : self.sentence_rows[row + 1]]

    def search_dense(self, query_vector: np.ndarray, k: int, doc_ids=None) -> list[tuple[int, float]]:
        """The ``k`` nearest chunks; with ``doc_ids``, the nearest among those documents' chunks only: an
        exact scan of their rows up to ``SCOPED_EXACT_ROWS``, else FAISS's search restricted to them
        (an ID selector), so a scope never comes back empty because its chunks ranked low overall."""
        if not self.chunks or k <= 0:
            return []
        query = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        params = None
        if doc_ids is not None:
            rows = self.rows_in(doc_ids)
            if not len(rows):
                return []
            if len(rows) <= SCOPED_EXACT_ROWS:
                scores = np.asarray(self.vectors[rows], dtype=np.float32) @ query[0]
                best = top_rows(scores + 2.0, k)  # cosines > -2
                return [(int(rows[i]), float(scores[i])) for i, _ in best]
            import faiss

            selector = faiss.IDSelectorBatch(rows)
            if self.manifest["index_type"] == "ivf":
                params = faiss.SearchParametersIVF(sel=selector, nprobe=IVF_NPROBE)
            elif self.manifest["index_type"] == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)
            else:
                params = faiss.SearchParameters(sel=selector)
            k = min(k, len(rows))
        k = min(k, len(self.chunks))
        scores, rows = self.faiss_index.search(query, k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def bm25_scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every chunk for ``query`` (None when nothing can match)."""
        if self.bm25 is None or not self.chunks:
            return None
        tokens = bm25_query_tokens(query)
        if not tokens:
            return None
        return np.asarray(self.bm25.get_scores(tokens), dtype=np.float64)

    def search_lexical(self, query: str, k: int, doc_ids=None) -> list[tuple[int, float]]:
        scores = self._bm25_of(query)
        if doc_ids is not None and scores is not None:
            scores = _only(scores, self.rows_in(doc_ids))
        return top_rows(scores, k)

    def term_ids(self, terms: list[str]) -> np.ndarray:
        """BM25 vocabulary id of each term, -1 for terms no chunk contains."""
        vocabulary = self.bm25.vocab_dict if self.bm25 is not None else {}
        return np.array([vocabulary.get(t, -1) for t in terms], dtype=np.int64)

    def document_frequencies(self, ids: np.ndarray) -> np.ndarray:
        """How many chunks contain each term id (0 for -1), read off the sparse index."""
        if self.bm25 is None:
            return np.zeros(len(ids))
        indptr = np.asarray(self.bm25.scores["indptr"])
        ids = np.asarray(ids)
        known = (ids >= 0) & (ids + 1 < len(indptr))
        safe = np.where(known, ids, 0)
        return np.where(known, indptr[safe + 1] - indptr[safe], 0)

    def stats(self) -> dict:
        return {
            "documents": len(self.documents),
            "chunks": len(self.chunks),
            "embedder": self.embedder_name,
            "second_embedder": self.second_embedder_name,
            "dimension": self.manifest["embedder"]["dimension"],
            "index_type": self.manifest["index_type"],
            "built_at": self.manifest["built_at"],
            "path": str(self.path),
        }


class FolderStore:
    """Reads and atomically writes index versions under one folder."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def close(self) -> None:
        pass  # nothing held open

    def version(self) -> str | None:
        path = self.current_path()
        return None if path is None else str(path)

    @contextlib.contextmanager
    def lock(self, timeout: float = 0):
        """One writer at a time (a file lock beside the versions); readers never wait."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise IndexBusy(f"another `rag index` is updating {self.root}; try again when it finishes") from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def writer(
        self,
        base: IndexSnapshot | None,
        *,
        embedder: dict,
        chunker: dict,
        second_embedder: dict | None,
        ann_threshold: int,
    ):
        """Collect a change against ``base`` (None: start empty); on leaving the block without an error,
        write the resulting version (kept documents' rows are carried over, never re-embedded)."""
        change = _FolderChange(base)
        yield change
        change.commit(self, embedder, chunker, second_embedder, ann_threshold)

    def current_path(self) -> Path | None:
        link = self.root / CURRENT
        if not link.is_symlink() and not link.exists():
            return None
        target = link.resolve()
        return target if target.is_dir() else None

    def exists(self) -> bool:
        return self.current_path() is not None

    def read_manifest(self, path: Path | None = None) -> dict | None:
        """The manifest of version ``path``; by default of the current version (None if there is none)."""
        if path is None:
            try:
                return self._read_current(self.read_manifest)
            except IndexMissing:
                return None
        try:
            return json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(
                f"index manifest at {path} is unreadable ({exc}); rebuild with `rag index --rebuild`"
            ) from None

    def load(self, verify: bool = True) -> IndexSnapshot:
        return self._read_current(lambda path: self._load(path, verify))

    def _read_current(self, read):
        """``read(version)`` on the current version. A build deletes the version it replaces, so a read
        begun just before the swap can fail half-way; it is then done again on the new version: a
        reader never gets files of two versions, nor a false "damaged" error. A failure while
        ``current`` stays put is real."""
        for attempt in range(_READ_ATTEMPTS):
            path = self.current_path()
            if path is None:
                raise IndexMissing(
                    f"no index at {self.root}; build one with `rag index PATH...` (e.g. `rag index seeds/`)"
                )
            try:
                return read(path)
            except (IndexCorrupt, OSError) as exc:
                if attempt + 1 < _READ_ATTEMPTS and self.current_path() != path:
                    continue
                if isinstance(exc, IndexCorrupt):
                    raise
                raise IndexCorrupt(
                    f"index at {path} cannot be read ({exc}); rebuild with `rag index --rebuild`"
                ) from None

    def _load(self, path: Path, verify: bool) -> IndexSnapshot:
        manifest = self.read_manifest(path)
        if manifest.get("format_version") not in READABLE_FORMATS:
            raise IndexCorrupt(
                f"index at {path} has format {manifest.get('format_version')}, this version reads "
                f"{FORMAT_VERSION}; rebuild with `rag index --rebuild`"
            )
        if verify:
            if manifest.get("checksum") != _manifest_digest(manifest):
                raise IndexCorrupt(
                    f"index file {path / 'manifest.json'} is damaged (checksum mismatch); "
                    "rebuild with `rag index --rebuild`"
                )
            for name, expected in manifest["files"].items():
                target = path / name
                if not target.is_file() or _sha256_file(target) != expected:
                    raise IndexCorrupt(
                        f"index file {target} is missing or damaged (checksum mismatch); "
                        "rebuild with `rag index --rebuild`"
                    )
        try:
            import faiss

            documents = json.loads((path / "documents.json").read_text())
            with open(path / "chunks.jsonl", encoding="utf-8") as handle:
                chunks = [Chunk.from_dict(json.loads(line)) for line in handle if line.strip()]
            vectors = np.load(path / "vectors.npy", mmap_mode="r")  # FAISS holds its own copy
            sentence_vectors = np.load(path / "sentences.npy", mmap_mode="r")
            sentence_rows = np.load(path / "sentence_rows.npy")
            second = path / "second_vectors.npy"
            second_vectors = np.load(second, mmap_mode="r") if manifest.get("second_embedder") else None
            faiss_index = faiss.read_index(str(path / "faiss.index"))
            if manifest["index_type"] == "hnsw":
                faiss_index.hnsw.efSearch = HNSW_EF_SEARCH
            elif manifest["index_type"] == "ivf":
                faiss_index.nprobe = IVF_NPROBE
            bm25 = None
            if chunks:
                import bm25s

                bm25 = bm25s.BM25.load(str(path / "bm25"))
            if manifest["format_version"] >= 3:
                term_ids = np.load(path / "sentence_terms.npy", mmap_mode="r")
                term_rows = np.load(path / "sentence_term_rows.npy")
            else:
                log.info("index %s predates stored sentence terms; analysing them now (`rag index` stores them)", path)
                term_ids, term_rows = sentence_term_arrays(
                    analyse_chunks([c.text for c in chunks])[1], bm25.vocab_dict if bm25 is not None else {}
                )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise IndexCorrupt(
                f"index at {path} cannot be loaded ({exc}); rebuild with `rag index --rebuild`"
            ) from None
        if (
            len(chunks) != len(vectors)
            or faiss_index.ntotal != len(chunks)
            or len(sentence_rows) != len(chunks) + 1
            or sentence_rows[-1] != len(sentence_vectors)
            or len(term_rows) != len(sentence_vectors) + 1
            or term_rows[-1] != len(term_ids)
            or (second_vectors is not None and len(second_vectors) != len(chunks))
        ):
            raise IndexCorrupt(
                f"index at {path} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors); "
                "rebuild with `rag index --rebuild`"
            )
        return IndexSnapshot(
            path,
            manifest,
            documents,
            chunks,
            vectors,
            faiss_index,
            bm25,
            sentence_vectors,
            sentence_rows,
            term_ids,
            term_rows,
            second_vectors,
        )

    def write(
        self,
        *,
        documents: dict[str, dict],
        chunks: list[Chunk],
        vectors: np.ndarray,
        sentence_vectors: list[np.ndarray],
        embedder: dict,
        chunker: dict,
        ann_threshold: int,
        second_vectors: np.ndarray | None = None,
        second_embedder: dict | None = None,
    ) -> Path:
        """Write a complete new version aside, then make it current in one atomic step."""
        if not len(chunks) == len(vectors) == len(sentence_vectors):
            raise ValueError("chunks, vectors and sentence vectors differ in length")
        if (second_vectors is None) != (second_embedder is None) or (
            second_vectors is not None and len(second_vectors) != len(chunks)
        ):
            raise ValueError("second vectors and their embedder must come together, one vector per chunk")
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        final = self.root / f"v-{stamp}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f"tmp-{final.name}"
        tmp.mkdir()
        try:
            import faiss

            index_type = choose_index_type(len(chunks), ann_threshold)
            (tmp / "documents.json").write_text(json.dumps(documents, ensure_ascii=False, indent=1))
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as handle:
                for chunk in chunks:
                    handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
            dim = vectors.shape[1] if vectors.ndim == 2 else 0
            sentences = [np.asarray(v, np.float16).reshape(-1, dim) for v in sentence_vectors]
            np.save(tmp / "sentences.npy", np.concatenate(sentences) if sentences else np.zeros((0, dim), np.float16))
            np.save(tmp / "sentence_rows.npy", np.cumsum([0, *map(len, sentences)], dtype=np.int64))
            if second_vectors is not None:
                np.save(tmp / "second_vectors.npy", np.ascontiguousarray(second_vectors, dtype=np.float32))
            faiss.write_index(build_faiss(vectors, index_type), str(tmp / "faiss.index"))
            chunk_terms, per_sentence = analyse_chunks([c.text for c in chunks])
            vocabulary: dict[str, int] = {}
            if chunks:
                import bm25s

                bm25 = bm25s.BM25()
                bm25.index(chunk_terms, show_progress=False)
                bm25.save(str(tmp / "bm25"))
                vocabulary = bm25.vocab_dict
            term_ids, term_rows = sentence_term_arrays(per_sentence, vocabulary)
            if len(term_rows) != sum(map(len, sentences)) + 1:
                raise ValueError("sentence vectors and the chunks' sentences differ in number")
            np.save(tmp / "sentence_terms.npy", term_ids)
            np.save(tmp / "sentence_term_rows.npy", term_rows)
            files = {str(p.relative_to(tmp)): _sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            manifest = {
                "format_version": FORMAT_VERSION,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "embedder": embedder,
                "second_embedder": second_embedder,
                "chunker": chunker,
                "index_type": index_type,
                "counts": {"documents": len(documents), "chunks": len(chunks)},
                "documents": {
                    doc_id: {
                        "source": d["source"],
                        "title": d.get("title", ""),
                        "sha256_16": doc_id,
                        "chunks": d.get("chunks", 0),
                    }
                    for doc_id, d in documents.items()
                },
                "files": files,
            }
            manifest["checksum"] = _manifest_digest(manifest)
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
            _fsync_tree(tmp)
            os.rename(tmp, final)
            _fsync_dir(self.root)
            link_tmp = self.root / f".current-{uuid.uuid4().hex[:6]}"
            os.symlink(final.name, link_tmp)
            os.replace(link_tmp, self.root / CURRENT)  # the commit point
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.collect_garbage()
        return final

    def collect_garbage(self) -> None:
        """Remove versions and leftovers of interrupted builds that ``current`` no longer names."""
        keep = self.current_path()
        for entry in self.root.iterdir():
            if entry.name.startswith(".current-"):
                entry.unlink(missing_ok=True)
            elif (
                entry.is_dir()
                and (entry.name.startswith("tmp-") or entry.name.startswith("v-"))
                and (keep is None or entry.resolve() != keep)
            ):
                shutil.rmtree(entry, ignore_errors=True)


class _FolderChange:
    """The ``IndexWriter`` of a folder store: a new version is the base's kept rows plus the added ones."""

    def __init__(self, base: IndexSnapshot | None):
        self.base = base
        self.documents: dict[str, dict] = dict(base.documents) if base is not None else {}
        self.added: list[tuple[Chunk, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.second: dict[str, np.ndarray] = {}

    def delete_documents(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            self.documents.pop(doc_id, None)
        gone = set(doc_ids)
        self.added = [row for row in self.added if row[0].doc_id not in gone]

    def add_documents(
        self,
        documents: dict[str, dict],
        chunks: list[Chunk],
        vectors: np.ndarray,
        sentence_vectors: list[np.ndarray],
        second_vectors: np.ndarray | None = None,
    ) -> None:
        if not len(chunks) == len(vectors) == len(sentence_vectors) or (
            second_vectors is not None and len(second_vectors) != len(chunks)
        ):
            raise ValueError("chunks, vectors and sentence vectors differ in length")
        self.documents.update(documents)
        for i, chunk in enumerate(chunks):
            self.added.append(
                (chunk, vectors[i], sentence_vectors[i], None if second_vectors is None else second_vectors[i])
            )

    def update_documents(self, documents: dict[str, dict]) -> None:
        self.documents.update({k: v for k, v in documents.items() if k in self.documents})

    def set_second_vectors(self, chunk_ids: list[str], vectors: np.ndarray) -> None:
        self.second.update(zip(chunk_ids, vectors))

    def commit(
        self, store: FolderStore, embedder: dict, chunker: dict, second_embedder: dict | None, ann_threshold: int
    ) -> None:
        base, documents = self.base, self.documents
        new_ids = {chunk.doc_id for chunk, *_ in self.added}
        same_second = (
            base is not None and second_embedder is not None and base.second_embedder_name == second_embedder["name"]
        )
        rows = []  # (source, ordinal, chunk, vector, sentence vectors, second vector)
        if base is not None:
            for doc_id in documents:
                if doc_id in new_ids:
                    continue
                for row in base.rows_of(doc_id):
                    chunk = base.chunks[row]
                    second = base.second_vectors[row] if same_second else self.second.get(chunk.id)
                    rows.append(
                        (
                            documents[doc_id]["source"],
                            chunk.ordinal,
                            chunk,
                            base.vectors[row],
                            np.asarray(base.sentences_of(row)),
                            second,
                        )
                    )
        for chunk, vector, sentences, second in self.added:
            rows.append(
                (
                    documents[chunk.doc_id]["source"],
                    chunk.ordinal,
                    chunk,
                    vector,
                    sentences,
                    second if second is not None else self.second.get(chunk.id),
                )
            )
        rows.sort(key=lambda r: (r[0], r[1]))  # stable row order between builds
        dim = int(embedder["dimension"])
        vectors = np.stack([r[3] for r in rows]).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        second_vectors = None
        if second_embedder is not None:
            if any(r[5] is None for r in rows):
                raise ValueError(f"{sum(r[5] is None for r in rows)} chunk(s) lack a {second_embedder['name']} vector")
            second_vectors = (
                np.stack([r[5] for r in rows]).astype(np.float32)
                if rows
                else np.zeros((0, int(second_embedder["dimension"])), np.float32)
            )
        store.write(
            documents=documents,
            chunks=[r[2] for r in rows],
            vectors=vectors,
            sentence_vectors=[r[4] for r in rows],
            embedder=embedder,
            chunker=chunker,
            ann_threshold=ann_threshold,
            second_vectors=second_vectors,
            second_embedder=second_embedder,
        )


def _only(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``scores`` kept at ``rows``, 0 elsewhere (``top_rows`` keeps only positive scores)."""
    out = np.zeros_like(scores)
    out[rows] = scores[rows]
    return out


def _manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's content without its own checksum (the other files' checksums are in it)."""
    content = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
