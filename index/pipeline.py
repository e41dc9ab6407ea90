"""``rag index``: bring the store in line with a set of files, embedding only what changed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import second_embedder
from index.chunker import Chunker
from index.config import Config
from index.embed_cache import EmbeddingCache
from index.embedder import Embedder
from index.errors import DocumentError
from index.loaders import IMAGE_SUFFIXES, LoaderError, find_files, load_document, supported_list
from index.progress import ProgressCallback, no_progress
from index.records import Chunk, Document
from index.second_embedder import E5Embedder, wanted_second_embedder
from index.sentences import SEGMENTER, remembering, sentence_spans
from index.store import FORMAT_VERSION
from index.store_api import IndexBusy, IndexCorrupt, Store
from index.store_factory import open_store

__all__ = ["IndexBusy", "IndexReport", "NothingToIndex", "build_index"]

Say = Callable[[str], None]
# chunks MiniLM embeds between two saves of the resume cache: a kill loses at most this much work (~10 s
# on 2 cores), and the encoder sorts this many texts by length, so batches carry little padding: at 10k
# SQuAD chunks 128 gave 3.6 % more padded tokens than one sort of everything, 512 1.1 %
RESUME_BATCH_CHUNKS = 512
# the second embedder (~24 chunks/s, only on corpora up to 5,000 chunks) saves every this many: ~5 s of
# its work at most is lost, at most 5 % of a SQuAD-size build's chunk-embeddings (bench/resume.py)
SECOND_STEP_CHUNKS = 128
log = logging.getLogger(__name__)


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
    chunks_embedded: int = 0  # chunks of new/changed documents (embedded now, or taken from the resume cache)
    second_embedded: int = 0  # chunks given a second-embedder vector (new ones, or all when it was just turned on)
    chunks_resumed: int = 0  # of chunks_embedded: vectors saved by an interrupted run, not embedded again
    second_resumed: int = 0  # of second_embedded: the same for the second embedder
    ocr: list[str] = field(default_factory=list)  # "scan.pdf: pages 1–3" for text read by OCR
    relocated: int = 0  # kept documents re-read only to add their location marks (an older index)
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
                + (
                    f"; saved by an interrupted run and not embedded again: {self.chunks_resumed}"
                    + (f" and {self.second_resumed} by the second embedder" if self.second_resumed else "")
                    if self.chunks_resumed or self.second_resumed
                    else ""
                )
                + f") in {self.seconds:.1f} s."
            )
        lines = [head]
        if self.relocated:
            lines.append(f"  added page/section locations to {self.relocated} document(s) indexed before them")
        lines += [f"  OCR: {o}" for o in self.ocr]
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
    on_stage: ProgressCallback = no_progress,
) -> IndexReport:
    """Add new files, re-embed changed ones, drop deleted ones; commit the change atomically.

    ``paths`` are files or folders to (re)scan. A document previously indexed from under one
    of them that is no longer there is removed, as is any document whose file is gone.
    ``remove`` names documents (by source path) to drop explicitly. ``on_progress(done, total)``
    follows the embedding, chunk by chunk (the slow part), for progress bars; ``on_stage(stage, done,
    total, detail)`` follows reading the files and embedding (index/progress.py: `rag index` prints it).
    ``progress=False`` keeps everything quiet (the embedders never draw bars of their own here: they
    embed batch by batch). The store is the one ``config`` names (a folder, or a PostgreSQL URL:
    index/store_api.py).

    Embeddings are saved batch by batch as soon as they are computed (index/embed_cache.py), so a run
    that is killed part-way loses at most the batch in flight: the next run reads the rest back.
    """
    config = config or Config.load()
    store = open_store(config)
    try:
        with store.lock(lock_timeout), remembering():  # chunks and their sentence terms reuse the spans
            return _build_locked(
                list(paths),
                config,
                store,
                rebuild,
                [Path(p).resolve() for p in remove],
                embedder
                or Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir),
                say,
                on_progress,
                on_stage=no_progress if progress is False else on_stage,
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
    on_stage: ProgressCallback = no_progress,
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
    to_read = [p for p in files if p not in remove]
    for number, path in enumerate(to_read, start=1):
        on_stage("Reading files", number - 1, len(to_read), path.name)
        old_id = by_source.get(str(path))
        if (
            old_id is not None
            and old_id not in gone
            and old_docs[old_id].get("stamp") == _file_stamp(path)
            and "marks" in old_docs[old_id]  # indexed before locations existed: read it again for them
        ):
            keep[old_id] = old_docs[old_id]  # same size and mtime: trust it without reading
            continue
        try:
            doc = load_document(path)
        except LoaderError as exc:
            report.skipped.append(str(exc))
            if old_id is not None:
                gone.add(old_id)
            continue
        except Exception as exc:  # a reader library's own bug must not cost the other files
            log.exception("reading %s failed", path)
            report.skipped.append(f"{path.name}: could not be read ({type(exc).__name__}: {exc})")
            if old_id is not None:
                gone.add(old_id)
            continue
        report.warnings += list(doc.warnings)
        if doc.ocr_pages:
            report.ocr.append(_ocr_note(path, doc))
        if old_id is not None and old_id == doc.id:
            if "marks" not in old_docs[old_id]:
                report.relocated += 1
            # touched, same text (and its location marks, which an older index lacks)
            keep[old_id] = {
                **old_docs[old_id],
                "stamp": _file_stamp(path),
                "marks": doc.meta()["marks"],
                "title": doc.title,  # as today's reader makes it
            }
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
    if to_read:
        on_stage("Reading files", len(to_read), len(to_read), "")
    report.removed = sorted(
        old_docs[d]["source"] for d in gone if d not in keep and old_docs[d]["source"] not in report.updated
    )
    report.unchanged = len(keep)

    old_chunk_count = old.chunk_count() if old else 0
    second_outdated = old is not None and old.second_embedder_name != wanted_second_embedder(
        config.second_embedder, config.second_embedder_max_chunks, old_chunk_count
    )
    format_outdated = old is not None and (old.outdated or report.relocated > 0)
    if format_outdated and not report.changed:
        say(f"Rewriting the index in format {FORMAT_VERSION} (location marks); nothing is re-embedded.")
    retitled = sum(1 for doc_id, meta in keep.items() if meta.get("title") != old_docs.get(doc_id, {}).get("title"))
    if retitled and not report.changed and not format_outdated:
        say(f"Updating the titles of {retitled} document(s); nothing is re-embedded.")
    if (
        not report.changed
        and not report.full_rebuild_reason
        and not second_outdated
        and not format_outdated
        and not retitled
    ):
        report.documents_total = len(keep)
        report.chunks_total = old_chunk_count
        report.seconds = time.perf_counter() - started
        if old is None and not new_docs:
            raise NothingToIndex(_nothing_message(paths, report))
        return report

    # Chunk the new/changed documents, then embed them document batch by document batch, both
    # embedders, saving each document's vectors at once (a killed run resumes from them).
    per_doc: dict[str, list[Chunk]] = {}
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

    dim = embedder.dimension if new_docs or old is None else int(old.manifest["embedder"]["dimension"])
    cache = EmbeddingCache(
        Path(config.data_dir) / "embedding-cache",
        embedder=embedder.name,
        chunker=chunker_settings,
        store=store.location,
    )
    embedded = _embed(
        new_docs, per_doc, kept_chunks, embedder, second_name, cache, dim, report, say, on_progress, on_stage
    )
    fresh_vectors, fresh_sentences, fresh_second, kept_second = embedded

    chunk_counts = Counter(c.doc_id for c in fresh_chunks)  # one pass, not one per document
    added = {
        doc.id: {**doc.meta(), "stamp": _file_stamp(Path(doc.source)), "chunks": chunk_counts[doc.id]}
        for doc in new_docs
    }
    if not keep and not added and old is None:
        raise NothingToIndex(_nothing_message(paths, report))
    second_meta = {"name": second_name, "dimension": second_embedder.E5Embedder.dimension} if second_name else None
    if second_name and fresh_second is not None and fresh_second.ndim == 2 and fresh_second.shape[1]:
        second_meta["dimension"] = int(fresh_second.shape[1])

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
    cache.clear()  # committed: the store holds every vector now
    report.wrote = True
    report.documents_total = len(keep) + len(added)
    report.chunks_total = kept_count + len(fresh_chunks)
    report.seconds = time.perf_counter() - started
    return report


def _embed(new_docs, per_doc, kept_chunks, embedder, second_name, cache, dim, report, say, on_progress, on_stage):
    """Vectors of the new documents' chunks (MiniLM + late-chunking sentences, and the second
    embedder's when it is on) and the second embedder's for ``kept_chunks``, in batches of whole
    documents. What an interrupted run saved in ``cache`` is read back, not embedded again."""
    fresh_chunks = [c for doc in new_docs for c in per_doc[doc.id]]
    kept_by_doc: dict[str, list[Chunk]] = {}
    for chunk in kept_chunks:
        kept_by_doc.setdefault(chunk.doc_id, []).append(chunk)
    first: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
    second: dict[str, np.ndarray] = {}
    todo_first, todo_second = [], []  # document ids still to embed by each model
    for doc in new_docs:
        chunks = per_doc[doc.id]
        if not chunks:  # (the loaders refuse text-less files, so the chunker always gives one)
            first[doc.id] = (np.zeros((0, dim), np.float32), [])
            second[doc.id] = np.zeros((0, second_embedder.E5Embedder.dimension), np.float32)
            continue
        saved = cache.load(doc.id, chunks)
        if saved is not None:
            first[doc.id] = saved
            report.chunks_resumed += len(chunks)
        else:
            todo_first.append(doc.id)
        if second_name:
            saved_second = cache.load_second(doc.id, second_name, len(chunks))
            if saved_second is not None:
                second[doc.id] = saved_second
                report.second_resumed += len(chunks)
            else:
                todo_second.append(doc.id)
    for doc_id, chunks in kept_by_doc.items():
        saved_second = cache.load_second(doc_id, second_name, len(chunks))
        if saved_second is not None:
            second[doc_id] = saved_second
            report.second_resumed += len(chunks)
        else:
            todo_second.append(doc_id)
    chunks_of = {**per_doc, **kept_by_doc}
    report.second_embedded = sum(len(chunks_of[d]) for d in todo_second) + sum(len(chunks_of[d]) for d in second)
    pending = list(dict.fromkeys(todo_first + todo_second))  # documents with any work left, in order
    # one count over both encoders (a chunk the second embedder also encodes counts twice)
    total = sum(len(chunks_of[d]) for d in todo_first) + sum(len(chunks_of[d]) for d in todo_second)
    if report.chunks_resumed or report.second_resumed:
        say(
            f"Resuming: {max(report.chunks_resumed, report.second_resumed)} chunk(s) were embedded by an "
            "interrupted run; they are not embedded again."
        )
    if pending:
        models = embedder.name + (f" and {second_name}" if second_name and todo_second else "")
        chunks = sum(len(chunks_of[d]) for d in pending)
        say(f"Embedding {chunks} chunk(s) of {len(pending)} document(s) with {models}...")
    encoder = E5Embedder(second_name) if second_name and todo_second else None
    need_first, need_second = set(todo_first), set(todo_second)
    done = files_done = 0
    quiet = lambda done, total: None  # noqa: E731 - progress is reported per batch below, not by a bar per batch
    if pending:
        on_stage("Embedding", 0, total, f"0/{len(pending):,} files")
    for batch in _batches(pending, chunks_of, RESUME_BATCH_CHUNKS):
        firsts = [d for d in batch if d in need_first]
        texts = [c.text for d in firsts for c in chunks_of[d]]
        if texts:
            vectors, sentences = embedder.encode_with_sentences(
                texts, [sentence_spans(t) for t in texts], on_progress=quiet, progress=False
            )
            at = 0
            for d in firsts:
                n = len(chunks_of[d])
                first[d] = (vectors[at : at + n], sentences[at : at + n])
                at += n
            cache.save([(d, chunks_of[d], *first[d]) for d in firsts])
        done += sum(len(chunks_of[d]) for d in firsts)
        seconds = [d for d in batch if d in need_second]
        for step in _batches(seconds, chunks_of, SECOND_STEP_CHUNKS):
            encoded = encoder.encode_passages(
                [c.text for d in step for c in chunks_of[d]], on_progress=quiet, progress=False
            )
            at = 0
            for d in step:
                n = len(chunks_of[d])
                second[d] = encoded[at : at + n]
                at += n
            cache.save_second(second_name, [(d, second[d]) for d in step])
            done += at
            if on_progress is not None:
                on_progress(done, total)
        files_done += len(batch)
        on_stage("Embedding", done, total, f"{files_done:,}/{len(pending):,} files")
        if on_progress is not None:
            on_progress(done, total)
    fresh_vectors = (
        np.concatenate([first[d.id][0] for d in new_docs]).astype(np.float32)
        if fresh_chunks
        else np.zeros((0, dim), np.float32)
    )
    fresh_sentences = [s for d in new_docs for s in first[d.id][1]]
    fresh_second = kept_second = None
    if second_name:
        width = next((v.shape[1] for v in second.values() if v.ndim == 2), second_embedder.E5Embedder.dimension)
        fresh_second = (
            np.concatenate([second[d.id] for d in new_docs]) if fresh_chunks else np.zeros((0, width), np.float32)
        )
        kept_second = (
            np.concatenate([second[d] for d in kept_by_doc]) if kept_chunks else np.zeros((0, width), np.float32)
        )
    order = [c.id for d in kept_by_doc for c in kept_by_doc[d]]
    if order != [c.id for c in kept_chunks]:  # keep the caller's order of kept chunks
        where = {chunk_id: i for i, chunk_id in enumerate(order)}
        kept_second = kept_second[[where[c.id] for c in kept_chunks]]
    return fresh_vectors, fresh_sentences, fresh_second, kept_second


def _batches(doc_ids: list[str], chunks_of: dict[str, list[Chunk]], size: int):
    """Whole documents, about ``size`` chunks a batch (a bigger document is a batch of its own)."""
    batch, count = [], 0
    for doc_id in doc_ids:
        batch.append(doc_id)
        count += len(chunks_of[doc_id])
        if count >= size:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def _ocr_note(path: Path, doc: Document) -> str:
    pages = list(doc.ocr_pages)
    if path.suffix.lower() in IMAGE_SUFFIXES and pages == [1]:
        return f"{path.name} (image)"
    return f"{path.name}: page{'s' if len(pages) > 1 else ''} {_ranges(pages)}"


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1–3, 5"."""
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}–{n}")
            start = None
    return ", ".join(out)


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
    return f"no indexable documents in {where} (supported: {supported_list()}){detail}"
