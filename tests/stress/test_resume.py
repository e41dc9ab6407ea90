"""A `rag index` over a big folder killed with SIGKILL half-way keeps the work it did: the next run
embeds only what was not saved (the full-size measurement, with the real models on SQuAD dev, is
bench/resume.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from index.embed_cache import saved_documents
from index.pipeline import RESUME_BATCH_CHUNKS, build_index
from index.store import FolderStore
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.stress

FILES = 1_000

SLOW_BUILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from index.config import Config
    from index.pipeline import build_index
    from tests.fakes import HashEmbedder

    class SlowEmbedder(HashEmbedder):  # about 0.2 s a batch, like a (fast) real encoder
        def encode_with_sentences(self, texts, spans, on_progress=None, progress=None):
            time.sleep(0.2)
            return super().encode_with_sentences(texts, spans, on_progress, progress)

    build_index([{docs!r}], Config.load(data_dir={data!r}), embedder=SlowEmbedder())
    print("DONE", flush=True)
""")


def test_a_build_killed_half_way_is_resumed_without_embedding_the_first_half_again(tmp_path, config):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(FILES):  # one paragraph (one chunk) a file, like the SQuAD dev folder
        (docs / f"paragraph-{i:04d}.txt").write_text(f"Paragraph {i}: the harbour of town {i} ships copper and grain.")
    cache = config.data_dir / "embedding-cache"
    script = SLOW_BUILD.format(root=str(ROOT), docs=str(docs), data=str(config.data_dir))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while saved_documents(cache) < FILES // 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before half of it was embedded"
        time.sleep(0.02)
    time.sleep(0.1)  # inside the next batch
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not FolderStore(config.index_dir).exists()  # nothing was committed, nothing half-written is visible
    saved = saved_documents(cache)
    assert FILES // 2 <= saved < FILES

    emb = HashEmbedder()
    report = build_index([docs], config, embedder=emb)
    assert report.chunks_resumed == saved and emb.embedded == FILES - saved  # only what was not saved
    print(f"\nkilled with {saved}/{FILES} files saved; the re-run embedded {emb.embedded} ({emb.embedded / FILES:.0%})")
    # what the killed run had embedded beyond the saved files is at most the batch it was inside
    assert emb.embedded <= FILES - FILES // 2 and saved % RESUME_BATCH_CHUNKS == 0
    snap = FolderStore(config.index_dir).load()
    assert len(snap.chunks) == FILES
