"""Fit the weights of the "features" fusion on SQuAD v1.1 dev, and check them out-of-fold.

For every question the retriever's candidates (dense top-N and BM25 top-N) and their five
normalised signals are computed exactly as at query time. A linear pairwise model
(logistic regression on gold-minus-other feature differences, scikit-learn) is fitted on the
questions of half the articles and scored on the other half, and vice versa, so every figure
printed is out-of-fold. The weights fitted on all questions are printed last, scaled so the
dense weight is 1; they are the defaults in rag/retriever.py.

    python bench/tune_fusion.py [--candidates 30] [--data-dir /tmp/rag-bench-squad]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.retrieval import metrics_from_ranks  # noqa: E402
from bench.squad import SQUAD_DEV, load_squad, write_paragraph_files  # noqa: E402
from index.config import Config  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import build_index  # noqa: E402
from index.store import FolderStore, top_rows  # noqa: E402
from rag.retriever import FEATURES, HybridRetriever, RetrievalSettings  # noqa: E402

NAMES = FEATURES


def candidate_features(retriever: HybridRetriever, question: str, vector) -> tuple[list[int], np.ndarray]:
    """The retriever's own candidates and normalised signals, exactly as at query time."""
    snap = retriever.snapshot
    n = retriever.settings.candidates
    bm25_all = snap.bm25_scores(question)
    return retriever.candidate_features(question, vector, bm25_all, snap.search_dense(vector, n), top_rows(bm25_all, n))


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-squad"))
    args = parser.parse_args()

    paragraphs, questions = load_squad()
    article_of = [a for a, art in enumerate(json.loads(SQUAD_DEV.read_text())["data"]) for _ in art["paragraphs"]]
    config = Config.from_env(data_dir=args.data_dir)
    write_paragraph_files(paragraphs, args.data_dir / "docs")
    embedder = Embedder(config.embedder, config.embed_batch_size)
    build_index([args.data_dir / "docs"], config, embedder=embedder)
    snap = FolderStore(config.index_dir).load()
    paragraph_of_row = [int(Path(snap.documents[c.doc_id]["source"]).stem[1:]) for c in snap.chunks]
    retriever = HybridRetriever(snap, embedder, replace(RetrievalSettings(), candidates=args.candidates))
    vectors = embedder.encode([q.text for q in questions], progress=True)

    per_question = []
    for q, vec in zip(questions, vectors):
        rows, feats = candidate_features(retriever, q.text, vec)
        per_question.append(([paragraph_of_row[r] for r in rows], feats, q.gold_paragraph))
    fold = np.array([article_of[q.gold_paragraph] % 2 for q in questions])

    def pairs(indices):
        diffs = []
        for i in indices:
            docs, feats, gold = per_question[i]
            golds = [j for j, d in enumerate(docs) if d == gold]
            if not golds:
                continue
            g = max(golds, key=lambda j: feats[j].sum())
            diffs += [feats[g] - feats[j] for j, d in enumerate(docs) if d != gold]
        diffs = np.array(diffs)
        return np.vstack([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))]

    def ranks(weights, indices):
        out = []
        for i in indices:
            docs, feats, gold = per_question[i]
            order = np.argsort(-(feats @ weights), kind="stable")
            seen = list(dict.fromkeys(docs[j] for j in order))
            out.append(seen.index(gold) + 1 if gold in seen else 10**6)
        return np.array(out)

    all_ranks = np.zeros(len(questions))
    for k in (0, 1):
        train, test = np.where(fold != k)[0], np.where(fold == k)[0]
        x, y = pairs(train)
        model = LogisticRegression(C=1.0, max_iter=5000, fit_intercept=False).fit(x, y)
        w = model.coef_[0] / model.coef_[0][0]
        all_ranks[test] = ranks(w, test)
        print(f"fold {k}: weights " + ", ".join(f"{n} {v:.2f}" for n, v in zip(NAMES, w)))
    m = metrics_from_ranks(all_ranks)
    print(f"out-of-fold (2 folds by article), {args.candidates}+{args.candidates} candidates: "
          + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))
    current = np.array(RetrievalSettings().feature_weights)
    m = metrics_from_ranks(ranks(current, range(len(questions))))
    print("current defaults " + str(tuple(current)) + ": " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))
    x, y = pairs(range(len(questions)))
    w = LogisticRegression(C=1.0, max_iter=5000, fit_intercept=False).fit(x, y).coef_[0]
    print("fitted on all questions: feature_weights = (" + ", ".join(f"{v / w[0]:.2f}" for v in w) + ")")


if __name__ == "__main__":
    main()
