"""Runs an evaluation set: builds its index, retrieves for every item (in one batch), asks every
question unless the run is retrieval-only, and scores each item (``ItemResult``).

Retrieval metrics come from a separate, deeper retrieval (``RunSettings.depth`` chunks) of the
question as written (a follow-up: all its turns), so they are the same whichever generator runs
and reach far enough down for recall@20. The answer is scored on the last turn, asked through a
``ChatSession`` so follow-ups see the conversation.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from eval.citations import CitationJudge
from eval.gold_citations import judge_citations
from eval.metrics import (
    best_over,
    contains_answer,
    document_ranking,
    exact_match,
    f1,
    first_relevant_rank,
    mrr_at,
    ndcg_at,
    recall_at,
)
from eval.records import RECALL_KS, EvalItem, EvalSet, ItemResult
from eval.sets import sample
from eval.workspace import prepare_index
from index.config import Config
from index.errors import UserError
from rag.api import ChatSession, get_engine
from rag.citations import strip_markers
from rag.retriever import HybridRetriever

RETRIEVAL_ONLY = "none"


@dataclass(frozen=True)
class RunSettings:
    generator: str = "llm"  # "llm", "extractive", an OpenAI-compatible URL, or "none": retrieval only
    retrieval: str = "hybrid"
    top_k: int | None = None  # passages for the answer (default: the config's)
    limit: int | None = None  # a fixed random sample of this many items
    seed: int = 0
    depth: int = 30  # chunks retrieved for the document-level retrieval metrics

    @property
    def answers(self) -> bool:
        return self.generator != RETRIEVAL_ONLY


def _result_for(item: EvalItem) -> ItemResult:
    return ItemResult(
        id=item.id,
        kind=item.kind,
        question=item.question,
        turns=list(item.turns),
        answers=list(item.answers),
        answerable=item.answerable,
        relevant=dict(item.relevant),
        support=item.support,
    )


def score_retrieval(result: ItemResult, ranking: list[str], chunk_texts: list[str] = ()) -> None:
    result.ranking = ranking[: max(RECALL_KS)]
    if result.support:
        wanted = " ".join(result.support.split())
        result.support_rank = next(
            (rank for rank, text in enumerate(chunk_texts, start=1) if wanted in " ".join(text.split())), None
        )
    if not result.relevant:
        return
    result.gold_rank = first_relevant_rank(ranking, result.relevant)
    result.ndcg10 = ndcg_at(ranking, result.relevant, 10)
    result.mrr10 = mrr_at(ranking, result.relevant, 10)
    result.recall = {k: recall_at(ranking, result.relevant, k) for k in RECALL_KS}


def score_answer(result: ItemResult, answer, judge: CitationJudge) -> None:
    result.answer, result.raw_answer, result.abstained = answer.text, answer.raw_text, answer.abstained
    result.fallback_reason, result.searched_for = answer.fallback_reason, answer.searched_for
    result.first_token, result.total = answer.timings.get("first_token"), answer.timings.get("total")
    result.sources = answer.timings.get("sources")
    result.no_answer_probability = answer.no_answer_probability
    result.passages = [Path(p.source).name for p in answer.passages]
    if result.answers:
        text = "" if answer.abstained else strip_markers(answer.text)
        result.exact_match = best_over(exact_match, text, result.answers)
        result.f1 = best_over(f1, text, result.answers)
        result.contains = contains_answer(text, result.answers)
    if answer.abstained or not answer.passages:
        return
    if result.answers or result.support:  # judged on the set's gold data alone, not by our own scorer
        gold = judge_citations([c.text for c in answer.citations], result.answers, result.support)
        result.gold_citations, result.gold_citations_correct = gold.citations, gold.correct
    verified = judge.score(answer.english_text or answer.text, answer.passages)
    result.citation_recall, result.citation_precision = verified.recall, verified.precision
    result.citations = verified.citations
    raw = judge.score(answer.raw_text, answer.passages)
    result.raw_citation_recall, result.raw_citation_precision = raw.recall, raw.precision


ANSWER_FIELDS = (
    "answer",
    "raw_answer",
    "abstained",
    "exact_match",
    "f1",
    "contains",
    "citation_recall",
    "citation_precision",
    "citations",
    "raw_citation_recall",
    "raw_citation_precision",
    "gold_citations",
    "gold_citations_correct",
    "sources",
    "no_answer_probability",
    "first_token",
    "total",
    "passages",
    "fallback_reason",
    "searched_for",
    "error",
)


def restore_answer(result: ItemResult, record: dict) -> None:
    """The answer half of a checkpointed ``ItemResult.to_dict()`` (retrieval is always recomputed)."""
    defaults = {"passages": [], "fallback_reason": "", "searched_for": None, "error": ""}
    for name in ANSWER_FIELDS:
        setattr(result, name, record.get(name, defaults.get(name)))


def run(
    eval_set: EvalSet,
    settings: RunSettings,
    base: Config,
    progress: bool = True,
    say=lambda message: print(message, file=sys.stderr),
    checkpoint: Path | None = None,
    resumed: dict[str, dict] | None = None,
) -> tuple[list[ItemResult], dict]:
    """Every item of (a sample of) the set, scored; plus the run's facts (index, sizes, wall times).

    ``checkpoint``: a JSONL file each answered item is appended to as soon as it is scored, so an
    hour-long run that is stopped still shows how far it got; ``resumed``: records read back from
    it by item id, whose answers are kept instead of asked again.
    """
    resumed = resumed or {}
    started = time.perf_counter()
    config = prepare_index(eval_set, base, say, progress)
    items = sample(eval_set.items, settings.limit, settings.seed)
    engine = get_engine(config, settings.generator if settings.answers else "extractive")
    snapshot, embedder = engine.snapshot(), engine.embedder
    facts = {
        "index_dir": config.store_location,
        "documents": len(snapshot.documents),
        "chunks": snapshot.chunk_count(),
        "embedder": snapshot.embedder_name,
        "index_seconds": round(time.perf_counter() - started, 1),
    }

    t = time.perf_counter()
    results = [_result_for(item) for item in items]
    queries = [item.retrieval_query for item in items]
    dense = settings.retrieval != "bm25" and queries
    vectors = embedder.encode(queries, progress=progress and len(queries) >= 256) if dense else [None] * len(queries)
    retriever = HybridRetriever(snapshot, embedder, engine.options.retrieval)
    for result, query, vector in tqdm(
        list(zip(results, queries, vectors)), desc="retrieval", unit="q", disable=not progress, file=sys.stderr
    ):
        passages = retriever.retrieve(query, top_k=settings.depth, mode=settings.retrieval, query_vector=vector)
        score_retrieval(result, document_ranking([Path(p.source).name for p in passages]), [p.text for p in passages])
    facts["retrieval_seconds"] = round(time.perf_counter() - t, 1)

    if settings.answers:
        t = time.perf_counter()
        judge = CitationJudge(engine.scorer)
        say("loading the generator...")
        engine.warm_up()
        for item, result in tqdm(
            list(zip(items, results)), desc="answers", unit="q", disable=not progress, file=sys.stderr
        ):
            if item.id in resumed:
                restore_answer(result, resumed[item.id])
                continue
            session = ChatSession(
                generator=settings.generator, config=config, top_k=settings.top_k, retrieval=settings.retrieval
            )
            try:
                for turn in item.turns[:-1]:
                    session.ask(turn)
                score_answer(result, session.ask(item.question), judge)
            except UserError as exc:  # e.g. the LLM server went away: the item says so, the run goes on
                result.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug: it must not lose an hour-long run, nor hide its traceback
                result.error = f"{type(exc).__name__}: {exc}"
                say(f"item {item.id} failed:\n{traceback.format_exc()}")
            if checkpoint is not None:
                with checkpoint.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        facts["answer_seconds"] = round(time.perf_counter() - t, 1)
        facts["resumed_items"] = sum(item.id in resumed for item in items)
    facts["seconds"] = round(time.perf_counter() - started, 1)
    return results, facts
