"""Retrieval quality on SQuAD v1.1 dev as paragraph retrieval: BM25, dense and the hybrid fusions.

Each of the 2,067 paragraphs is a document, indexed with the real `rag index` pipeline
(chunked, embedded with the configured embedder); each of the 10,565 questions has one
relevant document, the paragraph it was written on. A document ranks at its best chunk.
Prints nDCG@10, MRR@10 and recall@1/5/10 for every mode in the same run.

    python bench/retrieval.py [--limit N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import load_squad, write_paragraph_files  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore  # noqa: E402
from rag.retriever import HybridRetriever, RetrievalSettings  # noqa: E402


def metrics_from_ranks(ranks: np.ndarray) -> dict[str, float]:
    """One relevant document per query: nDCG@10 = 1/log2(rank+1) within the top 10."""
    return {
        "nDCG@10": float(np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0).mean()),
        "MRR@10": float(np.where(ranks <= 10, 1 / ranks, 0).mean()),
        "R@1": float((ranks <= 1).mean()),
        "R@5": float((ranks <= 5).mean()),
        "R@10": float((ranks <= 10).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-squad"))
    args = parser.parse_args()

    paragraphs, questions = load_squad()
    if args.limit:
        questions = questions[: args.limit]
    config = Config.load(data_dir=args.data_dir)
    docs = args.data_dir / "docs"
    write_paragraph_files(paragraphs, docs)
    embedder = Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir)
    report = build_index([docs], config, embedder=embedder, say=print)
    print(report.summary())
    snap = FolderStore(config.index_dir).load()

    start = time.perf_counter()
    # one at a time, as the engine does, so the configured question encoder (RAG_QUESTION_ENCODER) is the one scored
    query_vectors = np.stack([embedder.encode_query(q.text) for q in questions])
    print(
        f"encoded {len(questions)} questions one by one with the {embedder.question_backend} question encoder "
        f"in {time.perf_counter() - start:.1f} s"
    )
    second = HybridRetriever(snap, embedder).second_embedder if snap.second_vectors is not None else None
    second_vectors = [None] * len(questions)
    if second is not None:
        start = time.perf_counter()
        second_vectors = second.encode_queries([q.text for q in questions])
        print(f"encoded {len(questions)} questions with {second.name} in {time.perf_counter() - start:.1f} s")

    default = RetrievalSettings()
    modes = [
        ("bm25", "bm25", default),
        ("dense", "dense", default),
        ("hybrid rrf k=60", "hybrid", replace(default, fusion="rrf", rrf_k=60)),
        ("hybrid convex 0.5/0.5", "hybrid", replace(default, fusion="convex")),
        ("hybrid features, 7 signals", "hybrid", replace(default, second_signal=False)),
        ("hybrid features (default)", "hybrid", default),
    ]
    print(
        f"\nSQuAD v1.1 dev, {len(paragraphs)} paragraphs as documents ({len(snap.chunks)} chunks), "
        f"{len(questions)} questions, embedder {config.embedder}"
    )
    print(f"{'mode':28s} {'nDCG@10':>8s} {'MRR@10':>8s} {'R@1':>6s} {'R@5':>6s} {'R@10':>6s} {'ms/query':>9s}")
    for name, mode, settings in modes:
        if name.endswith("7 signals") and second is None:
            continue  # the default already is the seven-signal fusion
        retriever = HybridRetriever(snap, embedder, settings, second_embedder=second)
        ranks = np.empty(len(questions))
        start = time.perf_counter()
        for i, (q, vec) in enumerate(zip(questions, query_vectors)):
            # query vectors of both embedders come pre-computed in batches: ms/query is retrieval only
            passages = retriever.retrieve(
                q.text, top_k=30, mode=mode, query_vector=vec, second_query_vector=second_vectors[i]
            )
            seen: list[int] = []
            for p in passages:
                d = int(Path(p.source).stem[1:])
                if d not in seen:
                    seen.append(d)
            ranks[i] = seen.index(q.gold_paragraph) + 1 if q.gold_paragraph in seen else 10**6
        elapsed = (time.perf_counter() - start) / len(questions) * 1000
        m = metrics_from_ranks(ranks)
        print(
            f"{name:28s} {m['nDCG@10']:8.4f} {m['MRR@10']:8.4f} {m['R@1']:6.3f} {m['R@5']:6.3f} "
            f"{m['R@10']:6.3f} {elapsed:9.1f}",
            flush=True,
        )
    if second is not None:  # the second embedder alone, exact search over its vectors
        paragraph_of_row = np.array([int(Path(snap.documents[c.doc_id]["source"]).stem[1:]) for c in snap.chunks])
        ranks = np.empty(len(questions))
        start = time.perf_counter()
        for i, q in enumerate(questions):
            order = paragraph_of_row[np.argsort(-(snap.second_vectors @ second_vectors[i]))[:60]]
            seen = list(dict.fromkeys(order.tolist()))
            ranks[i] = seen.index(q.gold_paragraph) + 1 if q.gold_paragraph in seen else 10**6
        elapsed = (time.perf_counter() - start) / len(questions) * 1000
        m = metrics_from_ranks(ranks)
        print(
            f"{'dense ' + second.name:28s} {m['nDCG@10']:8.4f} {m['MRR@10']:8.4f} {m['R@1']:6.3f} {m['R@5']:6.3f} "
            f"{m['R@10']:6.3f} {elapsed:9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
