"""Fit the weights of the "features" fusion on SQuAD v1.1 dev, and check them out-of-fold.

For every question the retriever's candidates (dense, BM25 and, when the index has them,
second-embedder top-N) and their seven (eight) normalised signals are computed exactly as at query
time. A linear pairwise model
(logistic regression on gold-minus-other feature differences, scikit-learn) is fitted on the
questions of half the articles and scored on the other half, and vice versa, so every figure
printed is out-of-fold. The weights fitted on all questions are printed last, scaled so the
dense weight is ±1 (its sign kept: beside e5 it comes out negative); they are the defaults in
rag/retriever.py.

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
from index.store import FolderStore  # noqa: E402
from rag.retriever import FEATURES, SECOND_FEATURE, HybridRetriever, RetrievalSettings  # noqa: E402

NAMES = FEATURES


def candidate_features(
    retriever: HybridRetriever, question: str, vector, second_vector=None
) -> tuple[list[int], np.ndarray]:
    """The retriever's own candidates and normalised signals, exactly as at query time."""
    snap = retriever.snapshot
    n = retriever.settings.candidates
    candidates, features = retriever.candidate_features(
        question, vector, snap.search_dense(vector, n), snap.search_lexical(question, n), second_vector
    )
    return ([] if candidates is None else candidates.keys), features


def _scaled(weights: np.ndarray) -> np.ndarray:
    """Weights divided by |dense weight| (by the largest |weight| if that is ~0): same ranking, readable."""
    scale = abs(weights[0]) if abs(weights[0]) > 1e-6 else np.abs(weights).max()
    return weights / scale


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/rag-bench-squad"))
    parser.add_argument(
        "--without-second",
        action="store_true",
        help="fit the seven signals only, even when the index has second-embedder vectors",
    )
    args = parser.parse_args()

    paragraphs, questions = load_squad()
    article_of = [a for a, art in enumerate(json.loads(SQUAD_DEV.read_text())["data"]) for _ in art["paragraphs"]]
    config = Config.load(data_dir=args.data_dir)
    write_paragraph_files(paragraphs, args.data_dir / "docs")
    embedder = Embedder(config.embedder, config.embed_batch_size)
    build_index([args.data_dir / "docs"], config, embedder=embedder)
    snap = FolderStore(config.index_dir).load()
    paragraph_of_row = [int(Path(snap.documents[c.doc_id]["source"]).stem[1:]) for c in snap.chunks]
    retriever = HybridRetriever(snap, embedder, replace(RetrievalSettings(), candidates=args.candidates))
    vectors = embedder.encode([q.text for q in questions], progress=True)
    with_second = retriever.uses_second_signal() and not args.without_second
    second_vectors = (
        retriever.second_embedder.encode_queries([q.text for q in questions])
        if with_second
        else [None] * len(questions)
    )
    names = NAMES + (SECOND_FEATURE,) if with_second else NAMES
    defaults = RetrievalSettings().second_feature_weights if with_second else RetrievalSettings().feature_weights
    print(f"signals: {', '.join(names)}")

    per_question = []
    for q, vec, second in zip(questions, vectors, second_vectors):
        rows, feats = candidate_features(retriever, q.text, vec, second)
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
        w = _scaled(model.coef_[0])
        all_ranks[test] = ranks(w, test)
        print(f"fold {k}: weights " + ", ".join(f"{n} {v:.2f}" for n, v in zip(names, w)))
    m = metrics_from_ranks(all_ranks)
    print(
        f"out-of-fold (2 folds by article), {args.candidates}+{args.candidates} candidates: "
        + "  ".join(f"{k} {v:.4f}" for k, v in m.items())
    )
    current = np.array(defaults)
    m = metrics_from_ranks(ranks(current, range(len(questions))))
    print(
        "current defaults ("
        + ", ".join(f"{v:.2f}" for v in current)
        + ")"
        + ": "
        + "  ".join(f"{k} {v:.4f}" for k, v in m.items())
    )
    x, y = pairs(range(len(questions)))
    w = LogisticRegression(C=1.0, max_iter=5000, fit_intercept=False).fit(x, y).coef_[0]
    field_name = "second_feature_weights" if with_second else "feature_weights"
    print(f"fitted on all questions: {field_name} = (" + ", ".join(f"{v:.2f}" for v in _scaled(w)) + ")")


if __name__ == "__main__":
    main()
