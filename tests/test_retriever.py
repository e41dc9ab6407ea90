"""Hybrid retrieval logic with the model-free embedder: modes, signals, best-sentence preference."""

from __future__ import annotations

import numpy as np
import pytest

from index.pipeline import build_index
from index.store import FolderStore, top_rows
from rag.retriever import FEATURES, HybridRetriever, RetrievalSettings
from tests.fakes import HashEmbedder

DOCS = {
    # the query's words all in one sentence
    "focused.txt": "Trade news.\n\nThe new battery plant opened in Monterrey in March. Prices rose later.",
    # the same words, scattered over unrelated sentences
    "scattered.txt": "Trade news.\n\nA battery was sold. A plant grew tall. Monterrey is a city. It opened late. "
                     "New rules came in March.",
    "other.txt": "Soybean exports from Brazil reached a record as farmers shipped more grain to China.",
}


@pytest.fixture
def retriever(tmp_path, config):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)
    return HybridRetriever(FolderStore(config.index_dir).load(), emb)


def source_names(passages):
    return [p.source.rsplit("/", 1)[-1] for p in passages]


def test_each_mode_returns_ranked_passages_with_scores(retriever):
    for mode in ("hybrid", "dense", "bm25"):
        passages = retriever.retrieve("battery plant Monterrey", top_k=3, mode=mode)
        assert passages and [p.rank for p in passages] == list(range(1, len(passages) + 1))
        assert all(p.chunk.text in DOCS[n] for p, n in zip(passages, source_names(passages)))
    with pytest.raises(ValueError, match="retrieval mode"):
        retriever.retrieve("x", mode="fuzzy")
    with pytest.raises(ValueError, match="fusion"):
        HybridRetriever(retriever.snapshot, retriever.embedder, RetrievalSettings(fusion="magic"))


def test_signals_are_normalised_per_candidate_set(retriever):
    query = "When did the new battery plant open in Monterrey?"
    snap = retriever.snapshot
    vector = retriever.embedder.encode_query(query)
    bm25_all = snap.bm25_scores(query)
    rows, features = retriever.candidate_features(query, vector, bm25_all, snap.search_dense(vector, 30),
                                                  top_rows(bm25_all, 30))
    assert features.shape == (len(rows), len(FEATURES)) == (len(snap.chunks), 7)
    assert features.min() >= 0 and features.max() <= 1
    assert np.allclose(features.max(axis=0)[[0, 2, 5, 6]], 1.0)


def test_the_document_answering_in_one_sentence_ranks_first(retriever):
    passages = retriever.retrieve("When did the new battery plant open in Monterrey?", top_k=3)
    assert source_names(passages)[0] == "focused.txt"
    assert source_names(passages)[-1] == "other.txt"
