"""Indexing with the real embedder: the seed article, and chunks that fit its window."""

from __future__ import annotations

from index.pipeline import build_index
from index.store import FolderStore
from tests.conftest import CACHE, SEEDS


def test_seed_article_with_the_real_embedder(config, real_embedder):
    report = build_index([SEEDS], config, embedder=real_embedder)
    snap = FolderStore(config.index_dir).load()
    assert report.documents_total == 1 and len(snap.chunks) >= 4
    assert snap.manifest["embedder"] == {"name": real_embedder.name, "dimension": 384}
    # every chunk fits the embedder's window, measured with its own tokenizer
    assert all(real_embedder.fits([c.text for c in snap.chunks]))
    vector = real_embedder.encode_query("How much does a worker in auto manufacturing have to earn per hour?")
    best_row = snap.search_dense(vector, 1)[0][0]
    assert "US$16 per hour" in snap.chunks[best_row].text
    again = build_index([SEEDS], config, embedder=real_embedder)
    assert again.chunks_embedded == 0 and not again.wrote


def test_no_chunk_exceeds_the_embedders_max_length(real_embedder, seed_text):
    """Word-piece-hungry text (numbers, accents, CJK) with big chunks still fits the window."""
    from index.chunker import Chunker
    from index.loaders import document_id
    from index.records import Document

    hungry = (
        "Año 2026: 1,234,567.89 US$ · Ciudad de México – Querétaro – Nuevo León. " * 40
        + "東京都は日本の首都であり、人口は約1400万人です。" * 30
        + "\n\n"
        + seed_text
    )
    doc = Document(id=document_id(hungry), title="t", source="/x", text=hungry)
    tokenizer = real_embedder.model.tokenizer
    limit = real_embedder.max_tokens
    assert limit == 256
    unguarded = Chunker(400, 40, cache_dir=CACHE).split(doc)
    assert any(len(tokenizer(c.text)["input_ids"]) > limit for c in unguarded)  # the guard is needed
    chunks = Chunker(400, 40, cache_dir=CACHE, fits=real_embedder.fits).split(doc)
    lengths = [len(tokenizer(c.text)["input_ids"]) for c in chunks]
    assert max(lengths) <= limit
    assert all(c.text == hungry[c.char_start : c.char_end] for c in chunks)
