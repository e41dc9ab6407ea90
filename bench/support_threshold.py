"""Where to put the citation-support threshold (rag.citations.SUPPORT_THRESHOLD).

For SQuAD v1.1 dev questions, an answer-like claim is made from the question and its gold
answer ("<question> <answer>."). Its support (rag.support: 0.5 lexical + 0.5 MiniLM cosine,
best sentence or sentence pair) is measured against the paragraph it was written on
(should count as supported) and against the most similar *other* paragraph of the same
article by BM25-free plain embedding similarity (should not). Prints both distributions and
the accuracy of each threshold.

    python bench/support_threshold.py [--n 600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.squad import SQUAD_DEV  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.records import Chunk  # noqa: E402
from rag.records import Passage  # noqa: E402
from rag.support import SupportScorer, evidence_spans  # noqa: E402


def passage(text: str) -> Passage:
    return Passage(chunk=Chunk("x:0", "x", 0, 0, len(text), text), title="", source="", rank=1, fused_score=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(0)
    articles = json.loads(SQUAD_DEV.read_text())["data"]
    embedder = Embedder(Config.embedder)  # the shipped default, which the threshold is fitted for
    scorer = SupportScorer(embedder)
    items = []
    for article in articles:
        paras = [p["context"] for p in article["paragraphs"]]
        for i, p in enumerate(article["paragraphs"]):
            for qa in p["qas"]:
                items.append((qa["question"], qa["answers"][0]["text"], i, paras))
    rng.shuffle(items)
    supported, unsupported = [], []
    vectors: dict[int, np.ndarray] = {}
    for question, answer, gold, paras in items[: args.n]:
        claim = f"{question.rstrip('?')} {answer}."
        if id(paras) not in vectors:
            vectors[id(paras)] = embedder.encode(paras, progress=False)
        vecs = vectors[id(paras)]
        sims = vecs @ embedder.encode_query(claim)
        sims[gold] = -1
        other = int(np.argmax(sims))
        for target, bucket in ((gold, supported), (other, unsupported)):
            ev = evidence_spans([passage(paras[target])])
            bucket.append(float(scorer.score([claim], ev).max()))
    supported, unsupported = np.array(supported), np.array(unsupported)
    print(
        f"{args.n} claims; support against the gold paragraph: median {np.median(supported):.3f}, "
        f"p10 {np.percentile(supported, 10):.3f}; against the nearest other paragraph: median "
        f"{np.median(unsupported):.3f}, p90 {np.percentile(unsupported, 90):.3f}"
    )
    print("threshold  accuracy  supported-kept  unsupported-rejected")
    for t in np.arange(0.30, 0.71, 0.05):
        kept, rejected = (supported >= t).mean(), (unsupported < t).mean()
        print(f"{t:9.2f} {(kept + rejected) / 2:9.3f} {kept:15.3f} {rejected:21.3f}")


if __name__ == "__main__":
    main()
