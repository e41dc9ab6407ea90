"""The second embedder: when it is on, what gets encoded incrementally, and how it joins the fusion."""

from __future__ import annotations

import numpy as np
import pytest

import index.pipeline
from index.pipeline import SECOND_STEP_CHUNKS, build_index
from index.second_embedder import E5_NAME, E5Embedder, SecondEmbedderUnavailable, wanted_second_embedder
from index.store import FolderStore, IndexCorrupt, top_rows
from rag.retriever import FEATURES, HybridRetriever, RetrievalSettings
from tests.fakes import HashEmbedder, HashSecondEmbedder
from tests.test_pipeline import write_docs


@pytest.fixture
def second(monkeypatch) -> HashSecondEmbedder:
    fake = HashSecondEmbedder()
    monkeypatch.setattr(index.pipeline, "E5Embedder", lambda name: fake)
    return fake


@pytest.fixture
def on(config):
    return config.with_(second_embedder=E5_NAME, second_embedder_max_chunks=1_000)


def test_wanted_by_name_and_corpus_size():
    assert wanted_second_embedder(E5_NAME, 5_000, 4_999) == E5_NAME
    assert wanted_second_embedder(E5_NAME, 5_000, 5_001) is None
    assert wanted_second_embedder(E5_NAME, 0, 10**7) == E5_NAME  # 0 = no limit
    for off in ("none", "None", "", "off"):
        assert wanted_second_embedder(off, 5_000, 10) is None
    with pytest.raises(SecondEmbedderUnavailable, match="none"):
        E5Embedder("bge-tiny")
    with pytest.raises(SecondEmbedderUnavailable, match="unknown second embedder 'e5-large'"):
        wanted_second_embedder("e5-large", 5_000, 10**6)  # even where the size limit would turn it off


def test_a_misspelt_second_embedder_is_one_clear_error_before_any_work(tmp_path, monkeypatch, capsys):
    from cli.main import main

    docs = tmp_path / "docs"
    write_docs(docs, 1)
    monkeypatch.setenv("RAG_SECOND_EMBEDDER", "multilingual-e5-smal")
    assert main(["index", str(docs), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown second embedder 'multilingual-e5-smal'") and "Traceback" not in err
    assert not (tmp_path / "data" / "index" / "current").exists()


def test_incremental_builds_encode_each_chunk_once(tmp_path, on, second):
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    emb = HashEmbedder()
    progress: list[tuple[int, int]] = []
    first = build_index([docs], on, embedder=emb, on_progress=lambda d, t: progress.append((d, t)))
    snap = FolderStore(on.index_dir).load()
    n = len(snap.chunks)
    assert snap.second_embedder_name == E5_NAME and snap.second_vectors.shape == (n, 32)
    assert second.embedded == first.second_embedded == n and "by the second embedder" in first.summary()
    # one progress count over both encoders, never going back, ending at the total
    assert progress[-1] == (2 * n, 2 * n) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    # each row's vector is its own chunk's
    assert np.allclose(snap.second_vectors, np.stack([second._vector(c.text) for c in snap.chunks]))

    assert not build_index([docs], on, embedder=emb).wrote and second.embedded == n  # no-op
    (docs / "new.txt").write_text("A new document\n\nIt talks about pharmaceutical supply chains.", encoding="utf-8")
    added = build_index([docs], on, embedder=emb)
    assert second.embedded - n == added.chunks_embedded == added.second_embedded == 1
    snap = FolderStore(on.index_dir).load()
    assert np.allclose(snap.second_vectors, np.stack([second._vector(c.text) for c in snap.chunks]))


def test_turning_it_off_and_on_touches_only_the_second_vectors(tmp_path, on, second):
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    emb = HashEmbedder()
    build_index([docs], on, embedder=emb)
    n, main_encoded = second.embedded, emb.embedded

    off = build_index([docs], on.with_(second_embedder="none"), embedder=emb)
    snap = FolderStore(on.index_dir).load()
    assert off.wrote and snap.second_vectors is None and snap.second_embedder_name is None
    assert emb.embedded == main_encoded and second.embedded == n

    again = build_index([docs], on, embedder=emb)  # on again: every chunk needs its vector back
    assert again.wrote and again.second_embedded == n and emb.embedded == main_encoded
    assert FolderStore(on.index_dir).load().second_vectors.shape[0] == n

    small_limit = build_index([docs], on.with_(second_embedder_max_chunks=n - 1), embedder=emb)
    assert small_limit.wrote and FolderStore(on.index_dir).load().second_vectors is None


def test_a_damaged_second_vector_file_is_detected(tmp_path, on, second):
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    build_index([docs], on, embedder=HashEmbedder())
    target = FolderStore(on.index_dir).current_path() / "second_vectors.npy"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="second_vectors.npy"):
        FolderStore(on.index_dir).load()


def test_the_second_signal_adds_candidates_and_an_eighth_weighted_feature(tmp_path, on, second):
    docs = tmp_path / "docs"
    write_docs(docs, 6)
    emb = HashEmbedder()
    build_index([docs], on, embedder=emb)
    snap = FolderStore(on.index_dir).load()
    query = "pharmaceutical topic3 item2"
    vector, second_vector = emb.encode_query(query), second.encode_query(query)
    retriever = HybridRetriever(snap, emb, RetrievalSettings(candidates=2), second_embedder=second)
    assert retriever.uses_second_signal() and not retriever.uses_second_signal("dense")
    dense, lexical = snap.search_dense(vector, 2), snap.search_lexical(query, 2)
    candidates7, features7 = retriever.candidate_features(query, vector, dense, lexical)
    candidates8, features8 = retriever.candidate_features(query, vector, dense, lexical, second_vector)
    rows7, rows8 = candidates7.keys, candidates8.keys
    assert features7.shape[1] == len(FEATURES) and features8.shape[1] == len(FEATURES) + 1
    second_best = [r for r, _ in top_rows(snap.second_vectors @ second_vector + 2.0, 2)]
    assert rows8[: len(rows7)] == rows7 and set(second_best) <= set(rows8)
    assert features8.min() >= 0 and features8.max() <= 1 and features8[:, -1].max() == 1.0

    # weights on the eighth signal alone: the ranking follows the second embedder's cosine
    only_second = RetrievalSettings(candidates=2, second_feature_weights=(0,) * len(FEATURES) + (1.0,))
    ranked = HybridRetriever(snap, emb, only_second, second_embedder=second).retrieve(query, top_k=2)
    expected = sorted(rows8, key=lambda r: -float(snap.second_vectors[r] @ second_vector))[:2]
    assert [snap.chunks.index(p.chunk) for p in ranked] == expected
    # retrieve() encodes the query with the second embedder itself when not given the vector
    assert [p.chunk for p in ranked] == [
        p.chunk
        for p in HybridRetriever(snap, emb, only_second, second_embedder=second).retrieve(
            query, top_k=2, second_query_vector=second_vector
        )
    ]


def test_an_index_without_second_vectors_uses_the_seven_signal_weights(tmp_path, config):
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)  # RAG_SECOND_EMBEDDER=none in tests
    retriever = HybridRetriever(FolderStore(config.index_dir).load(), emb)
    assert retriever.second_embedder is None and not retriever.uses_second_signal()
    assert retriever.encode_second_query("anything") is None
    assert retriever.retrieve("topic1 item2", top_k=2)


def test_an_interrupted_build_keeps_the_second_embedders_vectors_too(tmp_path, on, second, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    batch = SECOND_STEP_CHUNKS
    for i in range(batch + 72):
        (docs / f"p{i:03d}.txt").write_text(f"Paragraph {i} about the grain harbour {i}.")
    real = second.encode_passages
    calls = []

    def dies_on_the_second_call(texts, on_progress=None, progress=None):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(texts, on_progress, progress)

    monkeypatch.setattr(second, "encode_passages", dies_on_the_second_call)
    with pytest.raises(KeyboardInterrupt):
        build_index([docs], on, embedder=HashEmbedder())
    monkeypatch.setattr(second, "encode_passages", real)
    assert calls == [batch, 72]  # the second embedder is saved batch by batch too
    before = second.embedded
    emb = HashEmbedder()
    report = build_index([docs], on, embedder=emb)
    assert report.chunks_resumed == batch + 72 and emb.embedded == 0  # MiniLM: saved before the second embedder ran
    assert report.second_resumed == batch and second.embedded - before == 72
    assert f"and {batch} by the second embedder" in report.summary()
    snap = FolderStore(on.index_dir).load()
    assert np.allclose(snap.second_vectors, np.stack([second._vector(c.text) for c in snap.chunks]))
