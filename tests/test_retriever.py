"""Hybrid retrieval logic with the model-free embedder: modes, signals, best-sentence preference."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from index.errors import ConfigError
from index.pipeline import build_index
from index.sentences import sentence_spans
from index.store import FolderStore
from index.terms import bm25_query_tokens, bm25_tokens_of
from rag.retriever import FEATURES, SENTENCE_MIX, HybridRetriever, RetrievalSettings
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
    with pytest.raises(ConfigError, match="retrieval mode"):
        retriever.retrieve("x", mode="fuzzy")
    with pytest.raises(ConfigError, match="fusion"):
        HybridRetriever(retriever.snapshot, retriever.embedder, RetrievalSettings(fusion="magic"))


def test_signals_are_normalised_per_candidate_set(retriever):
    query = "When did the new battery plant open in Monterrey?"
    snap = retriever.snapshot
    vector = retriever.embedder.encode_query(query)
    candidates, features = retriever.candidate_features(
        query, vector, snap.search_dense(vector, 30), snap.search_lexical(query, 30)
    )
    assert features.shape == (len(candidates.keys), len(FEATURES)) == (len(snap.chunks), 7)
    assert features.min() >= 0 and features.max() <= 1
    assert np.allclose(features.max(axis=0)[[0, 2, 5, 6]], 1.0)


def test_the_document_answering_in_one_sentence_ranks_first(retriever):
    passages = retriever.retrieve("When did the new battery plant open in Monterrey?", top_k=3)
    assert source_names(passages)[0] == "focused.txt"
    assert source_names(passages)[-1] == "other.txt"


def reference_text_features(snap, rows, query_terms, query_vector) -> np.ndarray:
    """The retriever's text signals written plainly, candidate by candidate, from the chunks' text
    (what the vectorised version over the stored sentence terms must reproduce)."""
    vocabulary = snap.bm25.vocab_dict
    indptr = np.asarray(snap.bm25.scores["indptr"])
    df = {t: int(indptr[vocabulary[t] + 1] - indptr[vocabulary[t]]) if t in vocabulary else 0 for t in query_terms}
    n_docs = len(snap.chunks)
    idf = {t: math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in query_terms}
    total = sum(idf.values()) or 1.0
    query_set, query_bigrams = set(query_terms), set(zip(query_terms, query_terms[1:]))
    out = np.zeros((len(rows), 5))
    for i, row in enumerate(rows):
        text = snap.chunks[row].text
        per_sentence = bm25_tokens_of([text[s:e] for s, e in sentence_spans(text)])
        cosines = np.asarray(snap.sentences_of(row), dtype=np.float32) @ query_vector
        out[i, 3] = cosines.max()
        if not query_terms:
            out[i, 4] = SENTENCE_MIX * out[i, 3]
            continue
        sets = [set(tokens) & query_set for tokens in per_sentence]
        best = 0.0
        for j, found in enumerate(sets):
            best = max(best, sum(idf[t] for t in found) / total)
            if j + 1 < len(sets):
                best = max(best, 0.9 * sum(idf[t] for t in found | sets[j + 1]) / total)
        all_tokens = [t for tokens in per_sentence for t in tokens]
        out[i, 0] = best
        out[i, 1] = (
            len(query_bigrams & set(zip(all_tokens, all_tokens[1:]))) / len(query_bigrams) if query_bigrams else 0
        )
        out[i, 2] = sum(idf[t] for t in query_set & set(all_tokens)) / total
        coverage = np.array([sum(idf[t] for t in found) / total for found in sets])
        out[i, 4] = ((1 - SENTENCE_MIX) * coverage + SENTENCE_MIX * cosines).max()
    return out


def test_stored_sentence_terms_give_the_same_signals_as_analysing_the_text(tmp_path, config, seed_text):
    """The index stores each sentence's terms; the vectorised signals over them equal the plain
    per-candidate computation on the text, for questions made of the documents' own words."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.txt").write_text(seed_text, encoding="utf-8")
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    emb = HashEmbedder()
    build_index([docs], config, embedder=emb)
    snap = FolderStore(config.index_dir).load()
    retriever = HybridRetriever(snap, emb)
    words = seed_text.split()
    rng = random.Random(7)
    queries = [" ".join(rng.sample(words, rng.randint(1, 12))) for _ in range(40)]
    queries += [" ".join(words[i : i + 8]) for i in range(0, 400, 50)]  # real bigrams
    queries += ["the and of", "zyxwv qqqq battery", "battery battery plant plant"]
    for query in queries:
        vector = emb.encode_query(query)
        rows = list(range(len(snap.chunks)))
        terms = list(dict.fromkeys(bm25_query_tokens(query)))
        got = retriever._text_features(snap.candidates(rows), terms, vector)
        assert np.allclose(got, reference_text_features(snap, rows, terms, vector), atol=1e-5), query
