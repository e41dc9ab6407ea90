"""Synthetic corpora of any size, grown from a real index (the SQuAD dev one), for scale benchmarks.

Embedding a million real chunks would take days on 2 cores, so larger corpora are grown from
the real ones. Synthetic chunk i starts from a random real chunk ``a`` and a second random real
chunk ``b``:

* vector: unit(v_a + 0.3 v_b + noise), noise of norm ~0.3, so it sits near a real embedding, in
  the real topical clusters, mixed a little with another topic (cosine to v_a is about 0.9);
* sentence vectors: a's sentence vectors, perturbed the same way (float16, like the index);
* text: a's text with a quarter of its plain words replaced by plain words of b's text, so
  term statistics stay those of real prose while no two chunks share their postings exactly.

Real questions (encoded with the real embedder) are the queries; ground truth for ANN recall
is exact search over the same synthetic vectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index.records import Chunk
from index.store import IndexSnapshot
from index.terms import sentence_term_arrays

_PLAIN = re.compile(r"^[A-Za-z]+$")  # swapping only these keeps every sentence boundary in place


@dataclass
class SyntheticCorpus:
    vectors: np.ndarray  # float32, unit
    sentence_vectors: np.ndarray  # float16, unit
    sentence_rows: np.ndarray  # int64 offsets, as in the index
    texts: list[str]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def grow(snap: IndexSnapshot, n: int, seed: int = 0, block: int = 50_000) -> SyntheticCorpus:
    rng = np.random.default_rng(seed)
    base_vectors = np.asarray(snap.vectors, dtype=np.float32)
    dim = base_vectors.shape[1]
    words = [c.text.split(" ") for c in snap.chunks]
    plain_positions = [np.array([i for i, w in enumerate(ws) if _PLAIN.match(w)]) for ws in words]
    plain_words = [[w for w in ws if _PLAIN.match(w)] or ["data"] for ws in words]
    a = rng.integers(0, len(snap.chunks), n)
    b = rng.integers(0, len(snap.chunks), n)
    vectors = np.empty((n, dim), dtype=np.float32)
    noise_scale = 0.3 / np.sqrt(dim)
    for start in range(0, n, block):
        stop = min(start + block, n)
        mixed = base_vectors[a[start:stop]] + 0.3 * base_vectors[b[start:stop]]
        mixed += noise_scale * rng.standard_normal((stop - start, dim)).astype(np.float32)
        vectors[start:stop] = _unit(mixed)
    counts = np.diff(snap.sentence_rows)[a]
    sentence_rows = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sentence_vectors = np.empty((int(sentence_rows[-1]), dim), dtype=np.float16)
    for start in range(0, n, block):
        stop = min(start + block, n)
        source = np.concatenate([np.arange(snap.sentence_rows[i], snap.sentence_rows[i + 1]) for i in a[start:stop]])
        chunk = np.asarray(snap.sentence_vectors[source], dtype=np.float32)
        chunk += noise_scale * rng.standard_normal(chunk.shape).astype(np.float32)
        sentence_vectors[sentence_rows[start] : sentence_rows[stop]] = _unit(chunk)
    texts = []
    for i in range(n):
        ws, positions, donor = list(words[a[i]]), plain_positions[a[i]], plain_words[b[i]]
        if len(positions):
            swap = positions[rng.random(len(positions)) < 0.25]
            picks = rng.integers(0, len(donor), len(swap))
            for p, d in zip(swap, picks):
                ws[p] = donor[d]
        texts.append(" ".join(ws))
    return SyntheticCorpus(vectors, sentence_vectors, sentence_rows, texts)


def vary(text: str, donor: str, rng: np.random.Generator, share: float = 0.25) -> str:
    """``text`` with ``share`` of its plain words replaced by plain words of ``donor`` (same length,
    same sentence boundaries, different content)."""
    words = text.split(" ")
    donors = [w for w in donor.split() if _PLAIN.match(w)] or ["data"]
    for i, w in enumerate(words):
        if _PLAIN.match(w) and rng.random() < share:
            words[i] = donors[rng.integers(0, len(donors))]
    return " ".join(words)


def snapshot_of(corpus: SyntheticCorpus, faiss_index, bm25, index_type: str, per_sentence) -> IndexSnapshot:
    """An in-memory IndexSnapshot over a synthetic corpus (one document per 1,000 chunks);
    ``per_sentence`` is ``index.terms.analyse_chunks(corpus.texts)[1]`` (BM25 built from its [0])."""
    chunks = [
        Chunk(
            id=f"d{i // 1000}:{i % 1000}",
            doc_id=f"d{i // 1000}",
            ordinal=i % 1000,
            char_start=0,
            char_end=len(t),
            text=t,
        )
        for i, t in enumerate(corpus.texts)
    ]
    documents = {
        f"d{j}": {"title": f"synthetic {j}", "source": f"/synthetic/d{j}.txt"}
        for j in range((len(chunks) + 999) // 1000)
    }
    term_ids, term_rows = sentence_term_arrays(per_sentence, bm25.vocab_dict)
    if len(term_rows) != len(corpus.sentence_vectors) + 1:
        raise ValueError("the synthetic texts' sentences no longer match their sentence vectors")
    manifest = {
        "embedder": {"name": "synthetic", "dimension": corpus.vectors.shape[1]},
        "index_type": index_type,
        "built_at": "",
        "second_embedder": None,
    }
    return IndexSnapshot(
        path=None,
        manifest=manifest,
        documents=documents,
        chunks=chunks,
        vectors=corpus.vectors,
        faiss_index=faiss_index,
        bm25=bm25,
        sentence_vectors=corpus.sentence_vectors,
        sentence_rows=corpus.sentence_rows,
        sentence_term_ids=term_ids,
        sentence_term_rows=term_rows,
    )
