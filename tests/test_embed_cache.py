"""The resume cache (index.embed_cache): one file per batch, read back per document; anything torn or
for other chunks is ignored, so it is embedded again."""

from __future__ import annotations

import numpy as np

from index.embed_cache import EmbeddingCache, saved_documents
from index.records import Chunk


def chunks_of(doc_id: str, n: int, width: int = 10) -> list[Chunk]:
    return [
        Chunk(id=f"{doc_id}:{i}", doc_id=doc_id, ordinal=i, char_start=i * width, char_end=(i + 1) * width, text="x")
        for i in range(n)
    ]


def entry(doc_id: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    vectors = rng.random((n, 4), dtype=np.float32)
    sentences = [rng.random((i + 1, 4)).astype(np.float16) for i in range(n)]
    return doc_id, chunks_of(doc_id, n), vectors, sentences


def open_cache(tmp_path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache", embedder="e", chunker={"chunk_tokens": 256}, store="s")


def test_a_batch_is_one_file_and_every_document_reads_back_as_saved(tmp_path):
    cache = open_cache(tmp_path)
    batch = [entry("a", 1, 1), entry("b", 3, 2), entry("c", 2, 3)]
    cache.save(batch)
    cache.save_second("multilingual-e5-small", [("a", np.ones((1, 3))), ("b", np.zeros((3, 3)))])
    assert len(list(cache.dir.glob("batch-*.npz"))) == 2
    again = open_cache(tmp_path)  # the next run
    assert len(again) == 3 and saved_documents(tmp_path / "cache") == 3
    for doc_id, chunks, vectors, sentences in batch:
        got_vectors, got_sentences = again.load(doc_id, chunks)
        assert np.array_equal(got_vectors, vectors)
        assert all(np.array_equal(g, s) for g, s in zip(got_sentences, sentences, strict=True))
    assert np.array_equal(again.load_second("b", "multilingual-e5-small", 3), np.zeros((3, 3)))
    assert again.load_second("c", "multilingual-e5-small", 2) is None  # never saved
    assert again.load_second("a", "multilingual-e5-small", 2) is None  # saved for another chunking


def test_other_chunks_a_torn_file_and_a_cleared_cache_give_nothing(tmp_path):
    cache = open_cache(tmp_path)
    cache.save([entry("a", 2, 1)])
    cache.save([entry("b", 2, 2)])
    assert open_cache(tmp_path).load("a", chunks_of("a", 2, width=12)) is None  # the chunker cut it otherwise
    torn = next(p for p in cache.dir.glob("batch-*.npz") if "b" in np.load(p)["doc_ids"])
    torn.write_bytes(torn.read_bytes()[:40])
    fresh = open_cache(tmp_path)
    assert fresh.load("b", chunks_of("b", 2)) is None and fresh.load("a", chunks_of("a", 2)) is not None
    cache.clear()
    assert open_cache(tmp_path).load("a", chunks_of("a", 2)) is None and len(cache) == 0
