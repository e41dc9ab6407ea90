"""Evaluation metrics: hand-computed cases, and the retrieval metrics against ranx on random runs."""

from __future__ import annotations

import math
import random

import pytest

from eval.citations import CitationJudge
from eval.metrics import (
    abstention_scores,
    best_over,
    contains_answer,
    document_ranking,
    exact_match,
    f1,
    mrr_at,
    ndcg_at,
    normalize_answer,
    percentiles,
    recall_at,
)
from index.records import Chunk
from rag.records import Passage
from rag.support import SupportScorer
from tests.fakes import HashEmbedder


def test_a_document_ranks_at_its_best_chunk():
    assert document_ranking(["a.txt", "b.txt", "a.txt", "c.txt", "b.txt"]) == ["a.txt", "b.txt", "c.txt"]


def test_retrieval_metrics_on_hand_computed_cases():
    assert ndcg_at(["a", "b", "c"], {"b": 1}) == pytest.approx(1 / math.log2(3))
    # graded: DCG = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3)
    assert ndcg_at(["c", "x", "a"], {"a": 2, "c": 1}) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert ndcg_at(["x"] * 10 + ["a"], {"a": 1}, 10) == 0.0
    assert mrr_at(["x", "y", "a"], {"a": 1}) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], {"a": 1}, 10) == 0.0
    assert recall_at(["a", "x", "b"], {"a": 1, "b": 1}, 2) == 0.5
    assert recall_at(["a", "x", "b"], {"a": 1, "b": 1, "z": 0}, 3) == 1.0  # grade 0 is not relevant


def test_retrieval_metrics_match_ranx_on_random_runs():
    ranx = pytest.importorskip("ranx")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels, run = {}, {}
    for q in range(60):
        qrels[f"q{q}"] = {d: rng.choice([1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 4))}
        ranking = rng.sample(docs, 25)
        run[f"q{q}"] = {d: float(100 - i) for i, d in enumerate(ranking)}
    expected = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), ["ndcg@10", "mrr@10", "recall@5", "recall@20"])
    ours = {"ndcg@10": [], "mrr@10": [], "recall@5": [], "recall@20": []}
    for q, scores in run.items():
        ranking = list(scores)  # already best first
        ours["ndcg@10"].append(ndcg_at(ranking, qrels[q], 10))
        ours["mrr@10"].append(mrr_at(ranking, qrels[q], 10))
        ours["recall@5"].append(recall_at(ranking, qrels[q], 5))
        ours["recall@20"].append(recall_at(ranking, qrels[q], 20))
    for name, values in ours.items():
        assert sum(values) / len(values) == pytest.approx(expected[name], abs=1e-9), name


def test_squad_normalisation_em_and_f1_as_the_official_script():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert f1("the cat sat", "a cat sat down") == pytest.approx(0.8)  # P 2/2, R 2/3
    assert f1("nothing here", "cat") == 0.0
    assert best_over(f1, "Denver", ["Carolina Panthers", "Denver Broncos"]) == pytest.approx(2 / 3)
    assert best_over(exact_match, "x", []) == 0.0


def test_contains_a_gold_answer_as_alce_str_em():
    assert contains_answer("They were the Denver Broncos [1].", ["Denver Broncos"]) == 1.0
    assert contains_answer("The Carolina Panthers.", ["Denver Broncos", "Panthers"]) == 1.0
    assert contains_answer("Denver lost.", ["Denver Broncos"]) == 0.0
    assert contains_answer("at least US$16 per hour", ["16"]) == 1.0
    assert contains_answer("anything", [""]) == 0.0


def test_abstention_precision_and_recall_treat_unanswerable_as_positive():
    scores = abstention_scores(abstained=[True, True, False, False, True], answerable=[False, True, False, True, False])
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert abstention_scores([False], [True]) == {"precision": None, "recall": None, "abstained": 0, "unanswerable": 0}


def test_latency_percentiles_interpolate_like_numpy():
    assert percentiles([1.0, 2.0, 3.0, 4.0, None]) == {"p50": 2.5, "p95": pytest.approx(3.85)}
    assert percentiles([]) == {"p50": None, "p95": None}


def _passage(i: int, text: str) -> Passage:
    return Passage(
        chunk=Chunk(f"doc{i}:0", f"doc{i}", 0, 0, len(text), text),
        title=f"doc {i}",
        source=f"/docs/doc{i}.txt",
        rank=i,
        fused_score=1.0,
    )


def test_alce_citation_recall_and_precision():
    judge = CitationJudge(SupportScorer(HashEmbedder()))
    paris = _passage(1, "Paris is the capital of France.")
    berlin = _passage(2, "Berlin lies on the river Spree.")
    passages = [paris, berlin]
    both = judge.score("Paris is the capital of France [1][2].", passages)
    assert (both.recall, both.precision, both.citations) == (1.0, 0.5, 2)  # [2] is not needed
    wrong = judge.score("Paris is the capital of France [2].", passages)
    assert (wrong.recall, wrong.precision) == (0.0, 0.0)
    two = judge.score("Paris is the capital of France [1]. Berlin lies on the river Spree [2].", passages)
    assert (two.recall, two.precision) == (1.0, 1.0)
    uncited = judge.score("Paris is the capital of France.", passages)
    assert (uncited.recall, uncited.precision) == (0.0, None)
    assert judge.score("", passages).recall is None


def test_gold_citation_judge_checks_quoted_spans_against_gold_answers_and_support_only():
    from eval.gold_citations import citation_is_correct, judge_citations

    support = "workers earning at least US$16 per hour"
    sentence = "She noted the requirement for auto manufacturing to be done by workers earning at least US$16 per hour."
    assert citation_is_correct(sentence, ["US$16 per hour"], None)  # holds the gold answer
    assert citation_is_correct(sentence, [], support)  # holds the whole support
    assert citation_is_correct("workers earning at least US$16", [], support)  # inside the support
    assert not citation_is_correct("Low national productivity hinders trade.", ["US$16 per hour"], support)
    assert not citation_is_correct("Mexico must address its internal governance.", [], support)
    scores = judge_citations([sentence, "Low national productivity hinders trade."], ["US$16"], support)
    assert (scores.correct, scores.citations, scores.precision, scores.any_correct) == (1, 2, 0.5, True)
    assert judge_citations([], ["x"], None).precision is None
