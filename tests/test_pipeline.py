"""Incremental indexing: only new or changed documents are embedded; crashes never leave a broken index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from index.pipeline import RESUME_BATCH_CHUNKS, IndexBusy, NothingToIndex, build_index
from index.store import FORMAT_VERSION, FolderStore
from tests.conftest import ROOT
from tests.fakes import HashEmbedder
from tests.test_store import as_format_2


def write_docs(folder: Path, n: int, words: int = 120) -> None:
    """``n`` distinct documents; the folder name is part of the text, so folders never share content."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = " ".join(f"Sentence {j} of document {i} mentions topic{i} and item{j}." for j in range(words // 8))
        (folder / f"doc{i:03d}.txt").write_text(f"Document {i} of {folder.name}\n\n{body}\n", encoding="utf-8")


def test_incremental_add_modify_delete_embeds_only_what_changed(tmp_path, config):
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    emb = HashEmbedder()
    first = build_index([docs], config, embedder=emb)
    assert len(first.added) == 3 and first.wrote
    total_after_first = emb.embedded
    assert total_after_first == first.chunks_embedded == first.chunks_total > 0

    # nothing changed: nothing embedded, nothing written
    version = FolderStore(config.index_dir).current_path()
    again = build_index([docs], config, embedder=emb)
    assert emb.embedded == total_after_first and again.chunks_embedded == 0 and not again.wrote
    assert again.unchanged == 3 and "up to date" in again.summary()
    assert FolderStore(config.index_dir).current_path() == version

    # touch without changing content: still nothing embedded
    os.utime(docs / "doc000.txt", ns=(time.time_ns(), time.time_ns()))
    assert build_index([docs], config, embedder=emb).chunks_embedded == 0

    # add one, modify one, delete one
    (docs / "new.txt").write_text("A new document\n\nIt talks about pharmaceutical supply chains.", encoding="utf-8")
    (docs / "doc001.txt").write_text("Document 1 changed\n\nA brand new short text about tariffs.", encoding="utf-8")
    (docs / "doc002.txt").unlink()
    before = emb.embedded
    report = build_index([docs], config, embedder=emb)
    snap = FolderStore(config.index_dir).load()
    new_chunks = [c for c in snap.chunks if snap.documents[c.doc_id]["source"].endswith(("new.txt", "doc001.txt"))]
    assert emb.embedded - before == report.chunks_embedded == len(new_chunks)
    assert [Path(p).name for p in report.added] == ["new.txt"]
    assert [Path(p).name for p in report.updated] == ["doc001.txt"]
    assert [Path(p).name for p in report.removed] == ["doc002.txt"]
    assert sorted(Path(d["source"]).name for d in snap.documents.values()) == ["doc000.txt", "doc001.txt", "new.txt"]
    assert len(snap.chunks) == len(snap.vectors) == snap.faiss_index.ntotal


def test_other_folders_are_kept_and_remove_drops_a_document(tmp_path, config):
    write_docs(tmp_path / "a", 2)
    write_docs(tmp_path / "b", 1)
    emb = HashEmbedder()
    build_index([tmp_path / "a"], config, embedder=emb)
    report = build_index([tmp_path / "b"], config, embedder=emb)
    assert report.documents_total == 3 and report.unchanged == 2
    report = build_index([], config, embedder=emb, remove=[tmp_path / "a" / "doc000.txt"])
    assert [Path(p).name for p in report.removed] == ["doc000.txt"] and report.documents_total == 2


def test_embedder_or_chunker_change_rebuilds_everything(tmp_path, config):
    write_docs(tmp_path / "docs", 2)
    build_index([tmp_path / "docs"], config, embedder=HashEmbedder())
    other = HashEmbedder(name="another-embedder", dimension=32)
    messages = []
    report = build_index([tmp_path / "docs"], config, embedder=other, say=messages.append)
    assert "embedder changed" in report.full_rebuild_reason and any("Full rebuild" in m for m in messages)
    assert other.embedded == report.chunks_total
    snap = FolderStore(config.index_dir).load()
    assert snap.embedder_name == "another-embedder" and snap.vectors.shape[1] == 32
    smaller = config.with_(chunk_tokens=64, chunk_overlap=8)
    report = build_index([tmp_path / "docs"], smaller, embedder=other)
    assert "chunker settings changed" in report.full_rebuild_reason


def test_bad_files_are_skipped_by_name_and_empty_input_is_an_error(tmp_path, config):
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    (docs / "empty.txt").write_text("")
    (docs / "same.txt").write_bytes((docs / "doc000.txt").read_bytes())
    report = build_index([docs], config, embedder=HashEmbedder())
    assert report.documents_total == 1
    assert any("empty.txt: the file is empty (0 bytes)" in s for s in report.skipped)
    assert any("same.txt: same text as" in s for s in report.skipped)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(NothingToIndex, match="no indexable documents"):
        build_index([tmp_path / "nothing"], config.with_(data_dir=tmp_path / "other"), embedder=HashEmbedder())


def test_a_second_concurrent_build_is_refused(tmp_path, config):
    from filelock import FileLock

    write_docs(tmp_path / "docs", 1)
    config.index_dir.mkdir(parents=True)
    with FileLock(str(FolderStore(config.index_dir).lock_path)):
        with pytest.raises(IndexBusy, match="another `rag index`"):
            build_index([tmp_path / "docs"], config, embedder=HashEmbedder())


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    import index.store as store
    from index.config import Config
    from index.pipeline import build_index
    from tests.fakes import HashEmbedder

    real_fsync_tree = store._fsync_tree
    def slow_fsync_tree(path):
        real_fsync_tree(path)
        print("WRITTEN-NOT-COMMITTED", flush=True)
        time.sleep(60)
    if {pause!r}:
        store._fsync_tree = slow_fsync_tree
    build_index([{docs!r}], Config.load(data_dir={data!r}), embedder=HashEmbedder())
    print("DONE", flush=True)
""")


def _run_and_kill(tmp_path, config, docs, pause: bool, after: float | None):
    script = KILL_SCRIPT.format(root=str(ROOT), docs=str(docs), data=str(config.data_dir), pause=pause)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    if pause:
        line = proc.stdout.readline()
        assert line.strip() == "WRITTEN-NOT-COMMITTED"
    else:
        time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_build_killed_mid_write_leaves_the_previous_index_loadable(tmp_path, config):
    docs = tmp_path / "docs"
    write_docs(docs, 4)
    build_index([docs], config, embedder=HashEmbedder())
    before = FolderStore(config.index_dir).load()
    write_docs(tmp_path / "docs", 40, words=400)  # a bigger second build

    # killed after every file of the new version is written and fsynced, before the commit
    _run_and_kill(tmp_path, config, docs, pause=True, after=None)
    after = FolderStore(config.index_dir).load()
    assert after.path == before.path and after.chunks == before.chunks
    # and at a few moments through the run
    for delay in (0.3, 0.8, 1.5):
        _run_and_kill(tmp_path, config, docs, pause=False, after=delay)
        snap = FolderStore(config.index_dir).load()  # verifies every checksum
        assert len(snap.documents) in (4, 40)
    # the next build succeeds and cleans up the leftovers
    report = build_index([docs], config, embedder=HashEmbedder())
    assert report.documents_total == 40
    leftovers = [p.name for p in config.index_dir.iterdir() if p.name.startswith(("tmp-", ".current-"))]
    assert leftovers == []


def test_index_of_an_older_format_is_rebuilt_with_all_its_documents(tmp_path, config):
    first, second = tmp_path / "first", tmp_path / "second"
    write_docs(first, 2)
    write_docs(second, 1)
    emb = HashEmbedder()
    build_index([first], config, embedder=emb)
    build_index([second], config, embedder=emb)
    store = FolderStore(config.index_dir)
    manifest_path = store.current_path() / "manifest.json"
    manifest_path.write_text(
        manifest_path.read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 1')
    )

    report = build_index([second], config, embedder=emb)  # names only one folder
    assert "unusable" in report.full_rebuild_reason and "format 1" in report.full_rebuild_reason
    snap = store.load()
    assert sorted(Path(d["source"]).name for d in snap.documents.values()) == ["doc000.txt", "doc000.txt", "doc001.txt"]
    assert len(snap.sentence_rows) == len(snap.chunks) + 1


def test_a_format_2_index_is_rewritten_without_re_embedding(tmp_path, config):
    """Format 3 added the sentences' analysed terms; a format-2 index still answers (analysed at
    load) and the next `rag index` stores them, embedding nothing."""
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)
    store = FolderStore(config.index_dir)
    before = store.load()
    as_format_2(store.current_path())
    embedded = emb.embedded
    messages = []
    report = build_index([docs], config, embedder=emb, say=messages.append)
    assert report.wrote and emb.embedded == embedded and report.chunks_embedded == 0
    assert any("format" in m for m in messages)
    after = store.load()
    assert after.manifest["format_version"] == FORMAT_VERSION
    assert np.array_equal(after.sentence_term_ids, before.sentence_term_ids)
    assert build_index([docs], config, embedder=emb).wrote is False  # and then it is current


class CrashingEmbedder(HashEmbedder):
    """Dies (like a kill) once ``limit`` chunks have been embedded."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def encode_with_sentences(self, texts, spans, on_progress=None, progress=None):
        if self.embedded + len(texts) > self.limit:
            raise KeyboardInterrupt  # Ctrl-C, or a crash, part-way through the embedding
        return super().encode_with_sentences(texts, spans, on_progress, progress)


def test_an_interrupted_build_keeps_what_it_embedded_and_the_next_run_carries_on(tmp_path, config):
    docs = tmp_path / "docs"
    docs.mkdir()
    batch, total = RESUME_BATCH_CHUNKS, RESUME_BATCH_CHUNKS + 88
    for i in range(total):  # one chunk each: a batch is RESUME_BATCH_CHUNKS documents
        (docs / f"p{i:03d}.txt").write_text(f"Paragraph {i} about harbour number {i} and its cranes.")
    crashing = CrashingEmbedder(limit=batch + 38)
    with pytest.raises(KeyboardInterrupt):
        build_index([docs], config, embedder=crashing)
    assert crashing.embedded == batch  # one batch done, the second interrupted
    assert not FolderStore(config.index_dir).exists()  # nothing half-written is visible
    emb = HashEmbedder()
    messages = []
    report = build_index([docs], config, embedder=emb, say=messages.append)
    assert emb.embedded == total - batch and report.chunks_resumed == batch and report.chunks_embedded == total
    assert f"saved by an interrupted run and not embedded again: {batch})" in report.summary()
    assert any(m.startswith(f"Resuming: {batch} chunk(s)") for m in messages)
    snap = FolderStore(config.index_dir).load()
    assert len(snap.chunks) == total
    # resumed vectors are the same as freshly embedded ones
    fresh = HashEmbedder()
    assert np.allclose(snap.vectors, fresh.encode([c.text for c in snap.chunks]))
    assert not any((config.data_dir / "embedding-cache").rglob("*.npz"))  # emptied after the commit


def test_resumed_vectors_are_used_only_for_the_same_text_and_settings(tmp_path, config):
    docs = tmp_path / "docs"
    docs.mkdir()
    batch = RESUME_BATCH_CHUNKS
    for i in range(batch + 44):  # one chunk each: one whole batch is saved before the crash
        (docs / f"p{i:03d}.txt").write_text(f"Paragraph {i} on copper exports.")
    with pytest.raises(KeyboardInterrupt):
        build_index([docs], config, embedder=CrashingEmbedder(limit=batch + 4))
    (docs / "p000.txt").write_text("Paragraph 0 was rewritten meanwhile.")  # its old vectors must not be used
    emb = HashEmbedder()
    report = build_index([docs], config, embedder=emb)
    assert report.chunks_resumed == batch - 1 and emb.embedded == 45
    other = config.with_(chunk_tokens=120)  # another chunker setting: other vectors, nothing reused
    with pytest.raises(KeyboardInterrupt):
        build_index([docs], other, embedder=CrashingEmbedder(limit=batch + 4), rebuild=True)
    emb2 = HashEmbedder()
    assert build_index([docs], other.with_(chunk_tokens=150), embedder=emb2, rebuild=True).chunks_resumed == 0


def test_a_format_3_index_gains_locations_without_re_embedding(tmp_path, config):
    """Format 4 stores each document's location marks; a format-3 index loads (its passages have no
    location) and the next `rag index` re-reads its files for the marks, embedding nothing."""
    import json

    from index.store import _manifest_digest
    from tests.documents import make_xlsx

    docs = tmp_path / "docs"
    write_docs(docs, 2)
    make_xlsx(docs / "figures.xlsx")
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)
    store = FolderStore(config.index_dir)
    version = store.current_path()
    documents = json.loads((version / "documents.json").read_text())
    for meta in documents.values():
        del meta["marks"]
    (version / "documents.json").write_text(json.dumps(documents))
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["format_version"] = 3
    from index.store import _sha256_file

    manifest["files"]["documents.json"] = _sha256_file(version / "documents.json")
    manifest["checksum"] = _manifest_digest({k: v for k, v in manifest.items() if k != "checksum"})
    (version / "manifest.json").write_text(json.dumps(manifest))
    old = store.load()
    assert old.outdated and all("marks" not in m for m in old.documents.values())
    embedded = emb.embedded
    report = build_index([docs], config, embedder=emb)
    assert report.wrote and emb.embedded == embedded and report.relocated == 3
    assert "added page/section locations to 3 document(s)" in report.summary()
    new = store.load()
    assert new.manifest["format_version"] == FORMAT_VERSION
    xlsx = next(m for m in new.documents.values() if m["source"].endswith("figures.xlsx"))
    assert [label for _, label in xlsx["marks"]][:2] == ["sheet Exports", "sheet Exports, row 2"]
    assert build_index([docs], config, embedder=emb).wrote is False


def test_ocr_pages_and_progress_are_reported(tmp_path, config):
    import shutil

    from index.progress import ProgressPrinter
    from tests.documents import make_mixed_pdf

    assert shutil.which("tesseract"), "tesseract-ocr is part of the install step (make install)"
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    make_mixed_pdf(docs / "mixed.pdf", ["Typed page about copper"], ["Scanned page about avocados"])
    events = []
    report = build_index([docs], config, embedder=HashEmbedder(), on_stage=lambda *e: events.append(e))
    assert report.ocr == ["mixed.pdf: page 2"] and "  OCR: mixed.pdf: page 2" in report.summary()
    reading = [e for e in events if e[0] == "Reading files"]
    assert reading[0][1:3] == (0, 4) and reading[-1][1:3] == (4, 4)
    embedding = [e for e in events if e[0] == "Embedding"]
    assert embedding[-1][1] == embedding[-1][2] == report.chunks_total and embedding[-1][3] == "4/4 files"
    import io

    out = io.StringIO()
    clock = iter([0.0, 10.0, 20.0])
    printer = ProgressPrinter(out, clock=lambda: next(clock), interactive=False)
    printer("Embedding", 0, 100, "0/10 files")
    printer("Embedding", 50, 100, "5/10 files")
    printer("Embedding", 100, 100, "10/10 files")
    lines = out.getvalue().splitlines()
    assert lines[1] == "Embedding: 50/100 (50 %), 5/10 files, 5.0/s, 10s left"
    assert lines[2] == "Embedding: 100/100 (100 %), 10/10 files, 5.0/s, in 20s"
