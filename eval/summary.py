"""Per-item results -> the run's figures. Each figure is averaged over the items it applies to,
and says how many that was (``n``)."""

from __future__ import annotations

from eval.metrics import abstention_scores, mean, percentiles
from eval.records import RECALL_KS, ItemResult

SUPPORT_KS = (1, 3, 5, 10)


def summarise(results: list[ItemResult]) -> dict:
    judged = [r for r in results if r.relevant]
    summary: dict = {"items": len(results), "failed": sum(r.failed for r in results)}
    summary["retrieval"] = {
        "nDCG@10": mean(r.ndcg10 for r in judged),
        "MRR@10": mean(r.mrr10 for r in judged),
        **{f"recall@{k}": mean(r.recall[k] for r in judged) for k in RECALL_KS},
        "n": len(judged),
    }
    supported = [r for r in results if r.support]
    if supported:  # passage level: does a retrieved chunk hold the gold support text verbatim?
        summary["support_in_chunk"] = {
            **{
                f"recall@{k}": mean(float(r.support_rank is not None and r.support_rank <= k) for r in supported)
                for k in SUPPORT_KS
            },
            "n": len(supported),
        }
    answered = [r for r in results if r.answer is not None]
    if not answered:
        return summary
    gold = [r for r in answered if r.answers]
    summary["answers"] = {
        "exact_match": mean(r.exact_match for r in gold),
        "f1": mean(r.f1 for r in gold),
        "contains": mean(r.contains for r in gold),
        "n": len(gold),
    }
    cited = [r for r in answered if not r.abstained]
    summary["citations"] = {
        "recall": mean(r.citation_recall for r in cited),
        "precision": mean(r.citation_precision for r in cited),
        "raw_recall": mean(r.raw_citation_recall for r in cited),
        "raw_precision": mean(r.raw_citation_precision for r in cited),
        "answers_with_citations": sum(bool(r.citations) for r in cited),
        "n": len(cited),
    }
    judged = [r for r in cited if r.gold_citations]
    summary["gold_citations"] = {  # independent of the answering code: the set's gold data only
        "precision": sum(r.gold_citations_correct for r in judged) / sum(r.gold_citations for r in judged)
        if judged
        else None,
        "answers_with_a_correct_citation": mean(float(r.gold_citations_correct > 0) for r in judged),
        "n": len(judged),
    }
    summary["abstention"] = abstention_scores([bool(r.abstained) for r in answered], [r.answerable for r in answered])
    summary["latency_seconds"] = {
        "sources": percentiles([r.sources for r in answered]),
        "first_token": percentiles([r.first_token for r in answered]),
        "total": percentiles([r.total for r in answered]),
        "n": len(answered),
    }
    summary["errors"] = sum(bool(r.error) for r in results)
    return summary


def by_kind(results: list[ItemResult]) -> dict[str, dict]:
    """The headline figures per item kind (fact, follow-up, spanish, ...), for the report."""
    kinds: dict[str, list[ItemResult]] = {}
    for r in results:
        kinds.setdefault(r.kind or "-", []).append(r)
    return {
        kind: {
            "n": len(rs),
            "failed": sum(r.failed for r in rs),
            "recall@5": mean(r.recall.get(5) for r in rs if r.relevant),
            "f1": mean(r.f1 for r in rs),
            "contains": mean(r.contains for r in rs),
            "abstained": sum(bool(r.abstained) for r in rs),
        }
        for kind, rs in sorted(kinds.items())
    }
