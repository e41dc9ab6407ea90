"""``rag index``: bring the store in line with a set of files, embedding only what changed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.chunker import Chunker
from index.config import Config
from index.embedder import Embedder
from index.errors import DocumentError
from index.loaders import LoaderError, find_files, load_document
from index.records import Chunk, Document
from index.second_embedder import E5Embedder, wanted_second_embedder
from index.sentences import SEGMENTER, sentence_spans
from index.store import FORMAT_VERSION
from index.store_api import IndexBusy, IndexCorrupt, Store
from index.store_factory import open_store

__all__ = ["IndexBusy", "IndexReport", "NothingToIndex", "build_index"]

Say = Callable[[str], None]


class NothingToIndex(DocumentError):
    """None of the given paths holds an indexable document (the message lists what was skipped)."""


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # "name: reason"
    warnings: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    second_embedded: int = 0  # chunks given a second-embedder vector (new ones, or all when it was just turned on)
    chunks_total: int = 0
    documents_total: int = 0
    full_rebuild_reason: str = ""
    seconds: float = 0.0
    wrote: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.full_rebuild_reason)

    def summary(self) -> str:
        if not self.wrote:
            head = f"Index is up to date: {self.unchanged} unchanged document(s), 0 chunks embedded."
        else:
            head = (
                f"Indexed {self.documents_total} document(s), {self.chunks_total} chunks "
                f"({len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged; {self.chunks_embedded} chunks embedded"
                + (f", {self.second_embedded} by the second embedder" if self.second_embedded else "")
                + f") in {self.seconds:.1f} s."
            )
        lines = [head]
        lines += [f"  skipped {s}" for s in self.skipped]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _file_stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def build_index(
    paths: Iterable[Path | str],
    config: Config | None = None,
    *,
    rebuild: bool = False,
    remove: Iterable[Path | str] = (),
    embedder: Embedder | None = None,
    say: Say = lambda message: None,
    lock_timeout: float = 0,
    on_progress: Callable[[int, int], None] | None = None,
    progress: bool | None = None,
) -> IndexReport:
    """Add new files, re-embed changed ones, drop deleted ones; commit the change atomically.

    ``paths`` are files or folders to (re)scan. A document previously indexed from under one
    of them that is no longer there is removed, as is any document whose file is gone.
    ``remove`` names documents (by source path) to drop explicitly. ``on_progress(done, total)``
    follows the embedding, chunk by chunk (the slow part), for progress bars; ``progress`` says whether
    the embedders draw their own terminal bars (None: for long runs nobody else follows). The store is
    the one ``config`` names (a folder, or a PostgreSQL URL: index/store_api.py).
    """
    config = config or Config.load()
    store = open_store(config)
    try:
        with store.lock(lock_timeout):
            return _build_locked(
                list(paths),
                config,
                store,
                rebuild,
                [Path(p).resolve() for p in remove],
                embedder or Embedder(config.embedder, config.embed_batch_size),
                say,
                on_progress,
                progress,
            )
    finally:
        store.close()


def _build_locked(
    paths: list,
    config: Config,
    store: Store,
    rebuild: bool,
    remove: list[Path],
    embedder: Embedder,
    say: Say,
    on_progress=None,
    progress: bool | None = None,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    wanted_second_embedder(config.second_embedder, 0, 0)  # a bad name fails now, before any work
    files, problems = find_files(paths)
    report.skipped += problems
    roots = [Path(p).expanduser().resolve() for p in paths if Path(p).expanduser().exists()]

    chunker_settings = {
        "chunk_tokens": config.chunk_tokens,
        "chunk_overlap": config.chunk_overlap,
        "tokenizer": "cl100k_base",
        "segmenter": SEGMENTER,  # sentence boundaries shape chunks and the sentence vectors: a change rebuilds
    }
    old = None
    if not rebuild and store.exists():
        try:
            old = store.load()
        except IndexCorrupt as exc:
            report.full_rebuild_reason = f"the existing index is unusable ({exc})"
            files = sorted(set(files) | _sources_named_by(store))
    elif rebuild:
        report.full_rebuild_reason = "--rebuild was asked for"
        files = sorted(set(files) | _sources_named_by(store))  # "re-embed everything", not only PATHs
    if old is not None:
        if old.manifest["embedder"]["name"] != embedder.name:
            report.full_rebuild_reason = (
                f"embedder changed from {old.manifest['embedder']['name']!r} to {embedder.name!r}"
            )
        elif old.manifest["chunker"] != chunker_settings:
            report.full_rebuild_reason = (
                f"chunker settings changed from {old.manifest['chunker']} to {chunker_settings}"
            )
        if report.full_rebuild_reason:
            say(f"Full rebuild: {report.full_rebuild_reason}; re-embedding every document.")
            carried = {d["source"] for d in old.documents.values()}
            files = sorted(set(files) | {Path(s) for s in carried if Path(s).exists()})
            old = None

    old_docs: dict[str, dict] = dict(old.documents) if old else {}
    by_source = {meta["source"]: doc_id for doc_id, meta in old_docs.items()}
    scanned = {str(f) for f in files}

    # Which old documents go away: gone from disk, gone from a scanned folder, or asked to go.
    gone: set[str] = set()
    for doc_id, meta in old_docs.items():
        source = Path(meta["source"])
        under_root = any(source == r or r in source.parents for r in roots)
        if (not source.exists()) or (under_root and str(source) not in scanned) or source in remove:
            gone.add(doc_id)

    keep: dict[str, dict] = {}
    new_docs: list[Document] = []
    for path in files:
        if path in remove:
            continue
        old_id = by_source.get(str(path))
        if old_id is not None and old_id not in gone and old_docs[old_id].get("stamp") == _file_stamp(path):
            keep[old_id] = old_docs[old_id]  # same size and mtime: trust it without reading
            continue
        try:
            doc = load_document(path)
        except LoaderError as exc:
            report.skipped.append(str(exc))
            if old_id is not None:
                gone.add(old_id)
            continue
        report.warnings += list(doc.warnings)
        if old_id is not None and old_id == doc.id:
            keep[old_id] = {**old_docs[old_id], "stamp": _file_stamp(path)}  # touched, same text
            continue
        if old_id is not None:
            gone.add(old_id)
            report.updated.append(doc.source)
        else:
            report.added.append(doc.source)
        new_docs.append(doc)

    # documents from elsewhere (not scanned this time) stay as they are
    for doc_id, meta in old_docs.items():
        if doc_id not in gone and doc_id not in keep and meta["source"] not in scanned:
            keep[doc_id] = meta

    # identical text under two names is indexed once
    unique: list[Document] = []
    seen = set(keep)
    for doc in new_docs:
        if doc.id in seen:
            twin = keep.get(doc.id, {}).get("source") or next(d.source for d in unique if d.id == doc.id)
            report.skipped.append(f"{Path(doc.source).name}: same text as {twin}, indexed once")
            for bucket in (report.added, report.updated):
                if doc.source in bucket:
                    bucket.remove(doc.source)
            continue
        seen.add(doc.id)
        unique.append(doc)
    new_docs = unique
    report.removed = sorted(
        old_docs[d]["source"] for d in gone if d not in keep and old_docs[d]["source"] not in report.updated
    )
    report.unchanged = len(keep)

    old_chunk_count = old.chunk_count() if old else 0
    second_outdated = old is not None and old.second_embedder_name != wanted_second_embedder(
        config.second_embedder, config.second_embedder_max_chunks, old_chunk_count
    )
    format_outdated = old is not None and old.outdated
    if format_outdated and not report.changed:
        say(f"Rewriting the index in format {FORMAT_VERSION} (stored sentence terms); nothing is re-embedded.")
    if not report.changed and not report.full_rebuild_reason and not second_outdated and not format_outdated:
        report.documents_total = len(keep)
        report.chunks_total = old_chunk_count
        report.seconds = time.perf_counter() - started
        if old is None and not new_docs:
            raise NothingToIndex(_nothing_message(paths, report))
        return report

    # Chunk the new/changed documents, then embed them (and, for the second embedder, every
    # kept chunk that has no vector of it yet); ``on_progress`` follows both as one count.
    fresh_chunks: list[Chunk] = []
    if new_docs:
        say(f"Chunking {len(new_docs)} document(s)...")
        chunker = Chunker(config.chunk_tokens, config.chunk_overlap, cache_dir=config.cache_dir, fits=embedder.fits)
        per_doc = chunker.split_many(new_docs)
        fresh_chunks = [c for doc in new_docs for c in per_doc[doc.id]]
    report.chunks_embedded = len(fresh_chunks)
    kept_count = sum(int(meta.get("chunks", 0)) for meta in keep.values())
    second_name = wanted_second_embedder(
        config.second_embedder, config.second_embedder_max_chunks, kept_count + len(fresh_chunks)
    )
    kept_need_second = bool(second_name) and old is not None and old.second_embedder_name != second_name
    kept_chunks = old.chunks_of(list(keep)) if kept_need_second else []
    total_work = len(fresh_chunks) + (len(fresh_chunks) + len(kept_chunks) if second_name else 0)

    def followed(offset: int):
        return None if on_progress is None else (lambda done, _total: on_progress(offset + done, total_work))

    dim = embedder.dimension if new_docs or old is None else int(old.manifest["embedder"]["dimension"])
    fresh_vectors = np.zeros((0, dim), dtype=np.float32)
    fresh_sentences: list[np.ndarray] = []
    if fresh_chunks:
        say(f"Embedding {len(fresh_chunks)} chunk(s) with {embedder.name}...")
        fresh_vectors, fresh_sentences = embedder.encode_with_sentences(
            [c.text for c in fresh_chunks],
            [sentence_spans(c.text) for c in fresh_chunks],
            on_progress=followed(0),
            progress=progress,
        )

    chunk_counts = Counter(c.doc_id for c in fresh_chunks)  # one pass, not one per document
    added = {
        doc.id: {**doc.meta(), "stamp": _file_stamp(Path(doc.source)), "chunks": chunk_counts[doc.id]}
        for doc in new_docs
    }
    if not keep and not added and old is None:
        raise NothingToIndex(_nothing_message(paths, report))

    fresh_second, kept_second, second_meta = None, None, None
    if second_name:
        second = E5Embedder(second_name)
        work = [c.text for c in fresh_chunks] + [c.text for c in kept_chunks]
        if work:
            say(f"Embedding {len(work)} chunk(s) with {second_name} (second retrieval signal)...")
        encoded = second.encode_passages(work, on_progress=followed(len(fresh_chunks)), progress=progress)
        report.second_embedded = len(work)
        fresh_second, kept_second = encoded[: len(fresh_chunks)], encoded[len(fresh_chunks) :]
        second_meta = {"name": second_name, "dimension": int(encoded.shape[1])}

    base = old  # None: the writer starts from an empty index (first build or full rebuild)
    with store.writer(
        base,
        embedder={"name": embedder.name, "dimension": int(dim)},
        chunker=chunker_settings,
        second_embedder=second_meta,
        ann_threshold=config.ann_threshold,
    ) as writer:
        if base is not None:
            writer.delete_documents(sorted(set(base.documents) - set(keep)))
            writer.update_documents(keep)
            if kept_chunks:
                writer.set_second_vectors([c.id for c in kept_chunks], kept_second)
        writer.add_documents(added, fresh_chunks, fresh_vectors, fresh_sentences, fresh_second)
    report.wrote = True
    report.documents_total = len(keep) + len(added)
    report.chunks_total = kept_count + len(fresh_chunks)
    report.seconds = time.perf_counter() - started
    return report


def _sources_named_by(store: Store) -> set[Path]:
    """Documents an unusable (damaged or older-format) index still names, so a rebuild keeps them."""
    try:
        manifest = store.read_manifest() or {}
    except IndexCorrupt:
        return set()
    sources = (meta.get("source") for meta in (manifest.get("documents") or {}).values() if isinstance(meta, dict))
    return {Path(s) for s in sources if isinstance(s, str) and Path(s).is_file()}


def _nothing_message(paths: list, report: IndexReport) -> str:
    where = ", ".join(str(p) for p in paths) or "(no paths)"
    detail = "".join(f"\n  {s}" for s in report.skipped)
    return f"no indexable documents in {where} (supported: .txt .md .html .pdf){detail}"
