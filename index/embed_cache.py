"""Work kept across a crash: each document's embeddings, saved as soon as they are computed.

``rag index`` commits the index once, atomically, at the end (a reader never sees half of it). On a
folder of thousands of files that end can be hours away, so the pipeline saves every document's
vectors here the moment its batch is embedded; a run killed part-way (SIGKILL, Ctrl-C, a crash, a
power cut) is resumed by the next ``rag index``, which reads them back instead of embedding again.

Entries are content-addressed: the document id (a hash of its text) under a key of everything that
changes the vectors (embedder, chunker settings) and the store they are for, so a changed file or
setting never picks up stale vectors. Each entry also records its chunks' offsets and is used only
when the chunker gives the same ones. Writes are atomic (temp file + rename); a torn or unreadable
entry is ignored and embedded again. After a successful commit the store holds everything, and the
cache of that store is emptied.

Layout: ``<data_dir>/embedding-cache/<key>/<doc id>.npz`` (MiniLM chunk vectors, late-chunking
sentence vectors and their row offsets, chunk offsets) and ``<doc id>.<second embedder>.npy``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from index.records import Chunk

log = logging.getLogger(__name__)


class EmbeddingCache:
    def __init__(self, root: Path | str, *, embedder: str, chunker: dict, store: str):
        identity = json.dumps({"embedder": embedder, "chunker": chunker, "store": store}, sort_keys=True)
        self.dir = Path(root) / hashlib.sha256(identity.encode()).hexdigest()[:20]
        self._identity = identity

    # -- reading -----------------------------------------------------------------------

    def load(self, doc_id: str, chunks: list[Chunk]) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """The saved (chunk vectors, per-chunk sentence vectors) of ``doc_id``, if they are for exactly
        these chunks; else None."""
        path = self.dir / f"{doc_id}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                spans, vectors = data["spans"], data["vectors"]
                sentences, rows = data["sentences"], data["sentence_rows"]
        except Exception as exc:  # a torn or damaged file: embed again
            log.info("ignoring unreadable cache entry %s (%s)", path, exc)
            return None
        if spans.shape != (len(chunks), 2) or not np.array_equal(spans, _spans(chunks)):
            return None
        if len(vectors) != len(chunks) or len(rows) != len(chunks) + 1 or rows[-1] != len(sentences):
            return None
        return vectors, [sentences[rows[i] : rows[i + 1]] for i in range(len(chunks))]

    def load_second(self, doc_id: str, name: str, n_chunks: int) -> np.ndarray | None:
        path = self.dir / f"{doc_id}.{_safe(name)}.npy"
        if not path.is_file():
            return None
        try:
            vectors = np.load(path)
        except Exception:
            return None
        return vectors if len(vectors) == n_chunks else None

    # -- writing -----------------------------------------------------------------------

    def save(self, doc_id: str, chunks: list[Chunk], vectors: np.ndarray, sentences: list[np.ndarray]) -> None:
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        blocks = [np.asarray(s, np.float16).reshape(-1, dim) for s in sentences]
        self._write(
            f"{doc_id}.npz",
            lambda handle: np.savez(
                handle,
                spans=_spans(chunks),
                vectors=np.asarray(vectors, np.float32),
                sentences=np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float16),
                sentence_rows=np.cumsum([0, *map(len, blocks)], dtype=np.int64),
            ),
        )

    def save_second(self, doc_id: str, name: str, vectors: np.ndarray) -> None:
        self._write(f"{doc_id}.{_safe(name)}.npy", lambda handle: np.save(handle, np.asarray(vectors, np.float32)))

    def _write(self, name: str, write) -> None:
        """Atomically: a reader (the next run) sees the whole entry or none of it. Not fsynced: after a
        power cut a lost entry is only embedded again."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            marker = self.dir / "identity.json"
            if not marker.exists():
                marker.write_text(self._identity)
            tmp = self.dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as handle:
                write(handle)
            os.replace(tmp, self.dir / name)
        except OSError as exc:  # a full or read-only disk costs the resume, not the build
            log.warning("could not save embeddings for resuming (%s)", exc)

    def clear(self) -> None:
        """After a commit: the store now holds every vector, so none need keeping."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def __len__(self) -> int:
        return sum(1 for p in self.dir.glob("*.npz")) if self.dir.is_dir() else 0


def _spans(chunks: list[Chunk]) -> np.ndarray:
    return np.array([[c.char_start, c.char_end] for c in chunks], dtype=np.int64).reshape(-1, 2)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
