"""Exact flat vs HNSW inner-product search, to set the size above which the store uses HNSW.

Vectors are synthetic but shaped like sentence embeddings (384-d, unit length, clustered:
points scattered around a few thousand random centres), queries are perturbed vectors
from the same distribution. For each size: flat and HNSW (M=32, efConstruction=80,
efSearch=96, the store's settings) single-query latency p50/p95, HNSW build time, and
HNSW recall@10 against exact search, all in the same run.

    python bench/ann.py [--sizes 10000 30000 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.store import build_faiss  # noqa: E402


def clustered(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dim = 384
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    print(f"{'chunks':>8s} {'flat p50':>9s} {'flat p95':>9s} {'hnsw p50':>9s} {'hnsw p95':>9s} {'build':>7s} {'recall@10':>9s}")
    for n in args.sizes:
        data = clustered(n, dim, rng, centres)
        queries = clustered(args.queries, dim, rng, centres)
        flat = build_faiss(data, "flat")
        start = time.perf_counter()
        hnsw = build_faiss(data, "hnsw")
        build = time.perf_counter() - start
        timings = {"flat": [], "hnsw": []}
        recall = []
        for q in queries:
            q = q.reshape(1, -1)
            t = time.perf_counter()
            _, exact = flat.search(q, 10)
            timings["flat"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            _, approx = hnsw.search(q, 10)
            timings["hnsw"].append((time.perf_counter() - t) * 1000)
            recall.append(len(set(exact[0]) & set(approx[0])) / 10)
        p = {k: (statistics.median(v), sorted(v)[int(0.95 * (len(v) - 1))]) for k, v in timings.items()}
        print(f"{n:8d} {p['flat'][0]:8.2f}ms {p['flat'][1]:8.2f}ms {p['hnsw'][0]:8.2f}ms {p['hnsw'][1]:8.2f}ms "
              f"{build:6.1f}s {statistics.mean(recall):9.3f}", flush=True)


if __name__ == "__main__":
    main()
