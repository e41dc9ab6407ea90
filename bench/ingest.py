"""Ingestion throughput: the full `rag index` pipeline vs raw SentenceTransformer.encode.

Both run in this process on the same machine, on the SQuAD v1.1 dev paragraphs (one file
each). The pipeline figure includes finding, reading and chunking the files, embedding,
building FAISS and BM25 and writing the index atomically; the baseline is only
``SentenceTransformer.encode`` over the very same chunk texts. The model is loaded and
warmed before either is timed. Goal: pipeline chunks/s >= 0.9 x encoder chunks/s.

    python bench/ingest.py [--repeat 2] [--limit N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import load_squad, write_paragraph_files  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N paragraphs")
    args = parser.parse_args()

    paragraphs, _ = load_squad()
    if args.limit:
        paragraphs = paragraphs[: args.limit]
    config = Config.from_env()
    embedder = Embedder(config.embedder, config.embed_batch_size)
    model = embedder.model
    model.encode(["warm up the model"] * 64, batch_size=config.embed_batch_size)

    pipeline_times, raw_times, noop_times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_paragraph_files(paragraphs, docs)
        texts: list[str] = []
        for run in range(args.repeat):
            cfg = config.with_(data_dir=Path(tmp) / f"data{run}")
            start = time.perf_counter()
            report = build_index([docs], cfg, embedder=embedder)
            pipeline_times.append(time.perf_counter() - start)
            texts = [c.text for c in FolderStore(cfg.index_dir).load(verify=False).chunks]
            start = time.perf_counter()
            model.encode(texts, batch_size=config.embed_batch_size, normalize_embeddings=True)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            noop = build_index([docs], cfg, embedder=embedder)
            noop_times.append(time.perf_counter() - start)
            assert noop.chunks_embedded == 0
            print(f"run {run + 1}: pipeline {pipeline_times[-1]:.1f} s, raw encode {raw_times[-1]:.1f} s, "
                  f"no-op re-index {noop_times[-1]:.2f} s ({report.documents_total} docs, {len(texts)} chunks)")

    n = len(texts)
    pipe, raw = statistics.median(pipeline_times), statistics.median(raw_times)
    print(f"\nSQuAD dev: {len(paragraphs)} paragraphs -> {n} chunks, embedder {config.embedder}, "
          f"batch {config.embed_batch_size}, torch threads {__import__('torch').get_num_threads()}")
    print(f"rag index pipeline : {n / pipe:8.1f} chunks/s  (median of {args.repeat})")
    print(f"raw ST.encode      : {n / raw:8.1f} chunks/s  (same texts, same run)")
    print(f"ratio pipeline/raw : {raw / pipe:8.3f}   (goal >= 0.9)")
    print(f"no-op re-index     : {statistics.median(noop_times):8.2f} s = "
          f"{100 * statistics.median(noop_times) / pipe:.1f} % of a full build")
    print(f"peak RSS           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")


if __name__ == "__main__":
    main()
