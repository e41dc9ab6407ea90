"""The numbers an evaluation reports, as plain functions of plain data.

Retrieval metrics follow the TREC/BEIR definitions (pytrec_eval, which BEIR uses): graded
relevance, linear gain, nDCG@k = DCG@k / ideal DCG@k, recall@k = relevant found in the top k /
all relevant, MRR@k = 1 / rank of the first relevant. ``tests/test_eval_metrics.py`` checks them
against ranx. Answer metrics are SQuAD's official EM and F1 (evaluate-v1.1.py normalisation).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np

# -- retrieval ---------------------------------------------------------------------------------


def document_ranking(sources: list[str]) -> list[str]:
    """Chunk results -> documents, each at the rank of its best chunk."""
    return list(dict.fromkeys(sources))


def recall_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, grade in relevant.items() if grade > 0}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranking: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], start=1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def first_relevant_rank(ranking: list[str], relevant: dict[str, int]) -> int | None:
    return next((rank for rank, doc in enumerate(ranking, start=1) if relevant.get(doc, 0) > 0), None)


# -- answers (SQuAD v1.1 official) -------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace (as evaluate-v1.1.py)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(predicted) & Counter(wanted)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def best_over(metric, prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """SQuAD scores a prediction against every gold answer and keeps the best."""
    return max((metric(prediction, g) for g in golds), default=0.0)


def contains_answer(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """1 when a normalised gold answer occurs in the normalised prediction (ALCE's ``str_em``: a plain
    substring test, since normalising "US$16" gives "us16")."""
    text = normalize_answer(prediction)
    return float(any(normalize_answer(g) and normalize_answer(g) in text for g in golds))


# -- abstention and latency --------------------------------------------------------------------


def abstention_scores(abstained: list[bool], answerable: list[bool]) -> dict[str, float | int | None]:
    """Precision and recall of abstaining, the positive class being "the documents don't say"."""
    hits = sum(a and not ok for a, ok in zip(abstained, answerable))
    said, should = sum(abstained), sum(not ok for ok in answerable)
    return {
        "precision": hits / said if said else None,
        "recall": hits / should if should else None,
        "abstained": said,
        "unanswerable": should,
    }


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95)) -> dict[str, float | None]:
    values = [v for v in values if v is not None]
    return {f"p{p}": (float(np.percentile(values, p)) if values else None) for p in points}


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(sum(values) / len(values)) if values else None
