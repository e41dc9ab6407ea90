"""Retrieval at scale: FAISS index types, and one query end to end, at 10k / 100k / 1M chunks.

Corpora are grown from the real SQuAD dev index (bench/synthetic.py: perturbed real MiniLM
vectors and sentence vectors, real prose with a quarter of its words swapped); queries are real
SQuAD questions. For each size, in the same run:

1. index types — exact flat (the baseline), HNSW (M=32), IVF-Flat, IVF-SQ8, IVF-PQ and HNSW-SQ8:
   build time, bytes per chunk, single-query latency p50/p95 and recall@10 against exact search;
2. one query end to end through ``HybridRetriever.retrieve`` (real MiniLM query embedding, the
   index type the store picks for that size, BM25 over the synthetic texts with bm25s, the
   default "features" fusion), p50/p95 per stage and in total;
3. memory: bytes per chunk of each part, and the process's peak RSS.

    python bench/scale.py [--sizes 10000 100000 1000000] [--queries 200] [--types flat hnsw ivf ...]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import load_squad, write_paragraph_files  # noqa: E402
from bench.synthetic import grow, snapshot_of  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore, build_faiss, choose_index_type  # noqa: E402
from index.terms import analyse_chunks  # noqa: E402
from rag.retriever import HybridRetriever, RetrievalSettings  # noqa: E402

_ALIVE: list = []
TYPES = ("flat", "hnsw", "ivf", "ivf-sq8", "ivf-pq", "hnsw-sq8")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def build_type(kind: str, vectors: np.ndarray):
    """A FAISS index of ``kind``; the IVF ones are trained on at most 100k of the vectors."""
    import faiss

    n, dim = vectors.shape
    if kind in ("flat", "hnsw"):
        return build_faiss(vectors, kind)
    if kind == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 96
    else:
        nlist = max(16, int(np.sqrt(n)))  # sqrt(n) lists; k-means on 40 points a list
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivf-sq8":
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        else:  # ivf-pq: 48 sub-quantizers of 8 bits = 48 bytes a vector
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = 32
        _ALIVE.append(quantizer)  # the IVF index points at it; Python must not free it
    size = 40 * index.nlist if hasattr(index, "nlist") else 100_000
    sample = vectors[np.random.default_rng(1).choice(n, min(n, size), replace=False)]
    index.train(sample)
    index.add(vectors)
    return index


def time_search(index, queries: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Single-query latency p50/p95 (ms) and recall@10 against ``truth``."""
    times, hits = [], 0
    for q, gold in zip(queries, truth):
        t = time.perf_counter()
        _, found = index.search(q.reshape(1, -1), 10)
        times.append((time.perf_counter() - t) * 1000)
        hits += len(set(found[0]) & set(gold))
    p50, p95 = percentiles(times)
    return p50, p95, hits / (10 * len(queries))


def _search_wider(kind: str, index, queries: np.ndarray, truth: np.ndarray) -> None:
    """The same index searched wider: efSearch 96 -> 256 (HNSW), nprobe 32 -> 64 (IVF)."""
    if kind.startswith("hnsw"):
        before, index.hnsw.efSearch, label = index.hnsw.efSearch, 256, "efSearch 256"
    else:
        before, index.nprobe, label = index.nprobe, 64, "nprobe 64"
    p50, p95, recall = time_search(index, queries, truth)
    print(f"    {label:14s} {'':>16s} {p50:7.2f} {p95:7.2f} {recall:9.3f}", flush=True)
    if kind.startswith("hnsw"):
        index.hnsw.efSearch = before
    else:
        index.nprobe = before


def compare_types(vectors: np.ndarray, queries: np.ndarray, kinds: list[str]) -> dict[str, object]:
    import faiss

    exact = build_faiss(vectors, "flat")
    _, truth = exact.search(queries, 10)
    print(f"  {'type':9s} {'build s':>8s} {'bytes/chunk':>11s} {'p50 ms':>7s} {'p95 ms':>7s} {'recall@10':>9s}")
    kept = {}
    for kind in kinds:
        gc.collect()
        start = time.perf_counter()
        index = exact if kind == "flat" else build_type(kind, vectors)
        build = time.perf_counter() - start
        size = len(faiss.serialize_index(index))
        p50, p95, recall = time_search(index, queries, truth)
        print(f"  {kind:9s} {build:8.1f} {size / len(vectors):11.0f} {p50:7.2f} {p95:7.2f} {recall:9.3f}", flush=True)
        kept[kind] = index
        if kind.startswith("hnsw") or kind.startswith("ivf"):  # the search-time knob, same index
            _search_wider(kind, index, queries, truth)
    return kept


def end_to_end(snap, embedder, questions: list[str], torch_embedder=None) -> None:
    """Stages of one query; ``torch_embedder`` times the question on torch too (the baseline)."""
    retriever = HybridRetriever(snap, embedder, RetrievalSettings())
    n = retriever.settings.candidates
    stages: dict[str, list[float]] = {k: [] for k in ("embed", "dense", "bm25", "fusion", "total")}
    torch_ms: list[float] = []
    for q in questions[:5]:
        retriever.retrieve(q, top_k=5)  # warm caches (document frequencies, stemmer)
    for q in questions:
        t0 = time.perf_counter()
        retriever.retrieve(q, top_k=5)  # the real call, embedding included
        t1 = time.perf_counter()
        vector = embedder.encode_query(q)
        t2 = time.perf_counter()
        dense = snap.search_dense(vector, n)
        t3 = time.perf_counter()
        lexical = snap.search_lexical(q, n)
        t4 = time.perf_counter()
        retriever._feature_rank(q, vector, dense, lexical)
        t5 = time.perf_counter()
        for key, value in zip(stages, (t2 - t1, t3 - t2, t4 - t3, t5 - t4, t1 - t0)):
            stages[key].append(value * 1000)
        if torch_embedder is not None:
            t6 = time.perf_counter()
            torch_embedder.encode_query(q)
            torch_ms.append((time.perf_counter() - t6) * 1000)
    print(f"  question encoder: {embedder.question_backend}")
    print(
        "  "
        + "  ".join(f"{k} p50 {percentiles(v)[0]:.2f} / p95 {percentiles(v)[1]:.2f} ms" for k, v in stages.items()),
        flush=True,
    )
    if torch_ms:
        print(
            f"  baseline, the same questions on torch (sentence-transformers encode): "
            f"p50 {percentiles(torch_ms)[0]:.2f} / p95 {percentiles(torch_ms)[1]:.2f} ms",
            flush=True,
        )


def main() -> None:
    import bm25s

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--types", nargs="+", default=list(TYPES), choices=TYPES)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-squad"))
    args = parser.parse_args()

    paragraphs, squad_questions = load_squad()
    config = Config.load(data_dir=args.data_dir)
    write_paragraph_files(paragraphs, args.data_dir / "docs")
    embedder = Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir)
    torch_embedder = Embedder(config.embedder, config.embed_batch_size)  # the baseline for the question
    build_index([args.data_dir / "docs"], config, embedder=embedder)
    real = FolderStore(config.index_dir).load()
    rng = np.random.default_rng(0)
    questions = [squad_questions[i].text for i in rng.choice(len(squad_questions), args.queries, replace=False)]
    query_vectors = embedder.encode(questions)
    print(
        f"grown from {len(real.chunks)} real chunks; {len(questions)} real questions; "
        f"the store uses an approximate index from {config.ann_threshold:,} chunks"
    )

    for n in args.sizes:
        gc.collect()
        before = rss_mib()
        t = time.perf_counter()
        corpus = grow(real, n)
        grown = time.perf_counter() - t
        t = time.perf_counter()
        bm25 = bm25s.BM25()
        chunk_terms, per_sentence = analyse_chunks(corpus.texts)  # as the store does when it writes
        bm25.index(chunk_terms, show_progress=False)
        del chunk_terms
        bm25_seconds = time.perf_counter() - t
        bm25_bytes = sum(np.asarray(a).nbytes for a in bm25.scores.values() if hasattr(a, "__len__"))
        text_bytes = sum(len(t.encode()) for t in corpus.texts)
        print(f"\n{n:,} chunks (grown in {grown:.0f} s; BM25 indexed in {bm25_seconds:.0f} s)")
        kept = compare_types(corpus.vectors, query_vectors, args.types)
        chosen = choose_index_type(n, config.ann_threshold)
        index = kept.get(chosen) or build_faiss(corpus.vectors, chosen)
        for kind in list(kept):
            if kind != chosen:
                del kept[kind]
        gc.collect()
        snap = snapshot_of(corpus, index, bm25, chosen, per_sentence)
        del per_sentence
        print(f"  end to end with the store's choice ({chosen}), {len(questions)} queries:")
        end_to_end(snap, embedder, questions, torch_embedder)
        import faiss

        per_chunk = {
            "vectors (RAM)": corpus.vectors.nbytes / n,
            f"{chosen} index (RAM)": len(faiss.serialize_index(index)) / n,
            "BM25 (RAM)": bm25_bytes / n,
            "sentence vectors (disk, memory-mapped)": corpus.sentence_vectors.nbytes / n,
            "sentence terms (disk, memory-mapped)": (snap.sentence_term_ids.nbytes + snap.sentence_term_rows.nbytes)
            / n,
            "chunk text": text_bytes / n,
        }
        print(
            "  bytes per chunk: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in per_chunk.items())
            + f"; RSS grew {rss_mib() - before:,.0f} MiB ({(rss_mib() - before) * 2**20 / n:,.0f} B/chunk), "
            f"peak RSS so far {peak_mib():,.0f} MiB",
            flush=True,
        )
        del snap, corpus, bm25, index, kept


if __name__ == "__main__":
    main()
