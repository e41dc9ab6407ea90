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

Layout: ``<data_dir>/embedding-cache/<key>/batch-<hash>.npz``, one file per embedded batch (the
documents' ids and chunk counts, chunk offsets, MiniLM chunk vectors, late-chunking sentence vectors
and their row offsets) and ``batch-<hash>.<second embedder>.npz`` (ids, counts, vectors). One file a
batch, not one a document: creating and renaming a file costs ~0.7 ms on these disks, which was 8.6 s
(3.8 %) of a 10k-chunk SQuAD build written one document at a time; a batch's arrays take ~0.1 ms.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.records import Chunk

log = logging.getLogger(__name__)


class EmbeddingCache:
    def __init__(self, root: Path | str, *, embedder: str, chunker: dict, store: str):
        identity = json.dumps({"embedder": embedder, "chunker": chunker, "store": store}, sort_keys=True)
        self.dir = Path(root) / hashlib.sha256(identity.encode()).hexdigest()[:20]
        self._identity = identity
        self._where: dict[str, dict[str, tuple[Path, int]]] | None = None  # kind -> doc id -> (file, position)
        self._open: tuple[Path, dict] | None = None  # the last file read, whole (documents come in file order)
        self._ready = False

    # -- reading -----------------------------------------------------------------------

    def load(self, doc_id: str, chunks: list[Chunk]) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """The saved (chunk vectors, per-chunk sentence vectors) of ``doc_id``, if they are for exactly
        these chunks; else None."""
        entry = self._entry("", doc_id)
        if entry is None:
            return None
        data, at = entry
        first, n = int(data["chunk_starts"][at]), int(data["counts"][at])
        spans, vectors = data["spans"][first : first + n], data["vectors"][first : first + n]
        rows = data["sentence_rows"][first : first + n + 1]
        if n != len(chunks) or not np.array_equal(spans, _spans(chunks)):
            return None
        sentences = data["sentences"]
        return vectors, [sentences[rows[i] : rows[i + 1]] for i in range(n)]

    def load_second(self, doc_id: str, name: str, n_chunks: int) -> np.ndarray | None:
        entry = self._entry(_safe(name), doc_id)
        if entry is None:
            return None
        data, at = entry
        first, n = int(data["chunk_starts"][at]), int(data["counts"][at])
        return data["vectors"][first : first + n] if n == n_chunks else None

    def _entry(self, kind: str, doc_id: str) -> tuple[dict, int] | None:
        """(the arrays of the file holding ``doc_id``, its position there), or None."""
        if self._where is None:
            self._where = self._scan()
        found = self._where.get(kind, {}).get(doc_id)
        if found is None:
            return None
        path, at = found
        if self._open is None or self._open[0] != path:
            data = _read(path)
            if data is None:
                return None
            self._open = (path, data)
        return self._open[1], at

    def _scan(self) -> dict[str, dict[str, tuple[Path, int]]]:
        """Which saved file holds each document, per kind ("" for MiniLM, else the second embedder)."""
        where: dict[str, dict[str, tuple[Path, int]]] = {}
        if not self.dir.is_dir():
            return where
        for path in sorted(self.dir.glob("batch-*.npz")):
            ids = _read_ids(path)
            if ids is None:
                continue
            placed = where.setdefault(_kind(path), {})
            for at, doc_id in enumerate(ids):
                placed[doc_id] = (path, at)
        return where

    # -- writing -----------------------------------------------------------------------

    def save(self, entries: Sequence[tuple[str, list[Chunk], np.ndarray, list[np.ndarray]]]) -> None:
        """One batch: (doc id, its chunks, their vectors, their sentence vectors) per document."""
        if not entries:
            return
        dim = next((v.shape[1] for _, _, v, _ in entries if v.ndim == 2), 0)
        blocks = [np.asarray(s, np.float16).reshape(-1, dim) for _, _, _, sentences in entries for s in sentences]
        counts = [len(chunks) for _, chunks, _, _ in entries]
        arrays = {
            **_directory([doc_id for doc_id, *_ in entries], counts),
            "spans": np.concatenate([_spans(chunks) for _, chunks, _, _ in entries]),
            "vectors": np.concatenate([np.asarray(v, np.float32).reshape(-1, dim) for _, _, v, _ in entries]),
            "sentences": np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float16),
            "sentence_rows": np.cumsum([0, *map(len, blocks)], dtype=np.int64),
        }
        self._write(f"batch-{_batch_key(entries)}.npz", arrays)

    def save_second(self, name: str, entries: Sequence[tuple[str, np.ndarray]]) -> None:
        """One batch of the second embedder's vectors: (doc id, its chunks' vectors) per document."""
        if not entries:
            return
        arrays = {
            **_directory([doc_id for doc_id, _ in entries], [len(v) for _, v in entries]),
            "vectors": np.concatenate([np.asarray(v, np.float32) for _, v in entries]),
        }
        self._write(f"batch-{_batch_key(entries)}.{_safe(name)}.npz", arrays)

    def _write(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Atomically: a reader (the next run) sees the whole entry or none of it. Not fsynced: after a
        power cut a lost entry is only embedded again."""
        try:
            if not self._ready:
                self.dir.mkdir(parents=True, exist_ok=True)
                marker = self.dir / "identity.json"
                if not marker.exists():
                    marker.write_text(self._identity)
                self._ready = True
            tmp = self.dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, self.dir / name)
        except OSError as exc:  # a full or read-only disk costs the resume, not the build
            log.warning("could not save embeddings for resuming (%s)", exc)

    def clear(self) -> None:
        """After a commit: the store now holds every vector, so none need keeping."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self._where, self._open, self._ready = None, None, False

    def __len__(self) -> int:
        """Documents whose MiniLM vectors are saved."""
        return saved_documents(self.dir)


def saved_documents(folder: Path | str) -> int:
    """Documents with MiniLM vectors saved under ``folder`` (one cache key's folder, or the whole cache)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    ids = (_read_ids(p) for p in folder.rglob("batch-*.npz") if not _kind(p))
    return sum(len(i) for i in ids if i is not None)


def _kind(path: Path) -> str:
    """Whose vectors a batch file holds: "" for MiniLM (``batch-<hash>.npz``), else the second
    embedder's safe name (``batch-<hash>.<name>.npz``)."""
    parts = path.name[: -len(".npz")].split(".", 1)
    return parts[1] if len(parts) == 2 else ""


def _directory(doc_ids: list[str], counts: list[int]) -> dict[str, np.ndarray]:
    return {
        "doc_ids": np.array(doc_ids, dtype=str),
        "counts": np.array(counts, dtype=np.int64),
        "chunk_starts": np.cumsum([0, *counts[:-1]], dtype=np.int64),
    }


def _batch_key(entries) -> str:
    return hashlib.sha256("\n".join(entry[0] for entry in entries).encode()).hexdigest()[:20]


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except Exception as exc:  # a torn or damaged file: embed again
        log.info("ignoring unreadable cache entry %s (%s)", path, exc)
        return None


def _read_ids(path: Path) -> list[str] | None:
    try:
        with np.load(path) as data:
            return [str(i) for i in data["doc_ids"]]
    except Exception:
        return None


def _spans(chunks: list[Chunk]) -> np.ndarray:
    return np.array([[c.char_start, c.char_end] for c in chunks], dtype=np.int64).reshape(-1, 2)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
