"""Writes a run's results: ``results.json`` (figures, run facts, failed items), ``items.jsonl``
(every item's details), ``report.md`` and its plots ``recall_at_k.png`` and ``latency.png``."""

from __future__ import annotations

import json
from pathlib import Path

from eval.records import RECALL_KS, ItemResult

FAILED_ROWS = 40  # the report's table; results.json lists every failed id
BRIEF_ABOVE = 2000  # items; a bigger run writes brief per-item records (SQuAD dev: 10,565)


def write_results(
    out: Path, run: dict, summary: dict, kinds: dict, results: list[ItemResult], titles: dict[str, str]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    failed = [r for r in results if r.failed]
    data = {**run, "summary": summary, "by_kind": kinds, "failed_ids": [r.id for r in failed]}
    (out / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with (out / "items.jsonl").open("w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_dict(brief=len(results) > BRIEF_ABOVE), ensure_ascii=False) + "\n")
    plots = [_recall_plot(out / "recall_at_k.png", summary, run)]
    latency = [r for r in results if r.total is not None]
    if latency:
        plots.append(_latency_plot(out / "latency.png", latency))
    (out / "report.md").write_text(_markdown(run, summary, kinds, failed, titles, plots), encoding="utf-8")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _recall_plot(path: Path, summary: dict, run: dict) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    values = [summary["retrieval"][f"recall@{k}"] or 0.0 for k in RECALL_KS]
    ax.plot(RECALL_KS, values, marker="o")
    for k, v in zip(RECALL_KS, values):
        ax.annotate(f"{v:.3f}", (k, v), textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set(
        xlabel="k (documents)",
        ylabel="recall@k",
        xscale="log",
        ylim=(0, 1.02),
        title=f"{run['set']['name']}: document recall@k ({run['settings']['retrieval']})",
    )
    ax.set_xticks(RECALL_KS, [str(k) for k in RECALL_KS])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _latency_plot(path: Path, results: list[ItemResult]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    totals = [r.total for r in results]
    firsts = [r.first_token for r in results if r.first_token is not None]
    import numpy as np

    bins = np.histogram_bin_edges(totals + firsts, bins=30)  # the same bins for both
    ax.hist(totals, bins=bins, alpha=0.6, label="total")
    if firsts:
        ax.hist(firsts, bins=bins, alpha=0.6, label="first token")
    ax.set(xlabel="seconds", ylabel="questions", title="answer latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _cell(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("<", "&lt;")


def _markdown(
    run: dict, summary: dict, kinds: dict, failed: list[ItemResult], titles: dict[str, str], plots: list[str]
) -> str:
    s, ret = run["settings"], summary["retrieval"]
    lines = [
        f"# Evaluation: {run['set']['name']}",
        "",
        f"Command: `{run['command']}`  ",
        f"Date: {run['date']}  ",
        f"Commit: `{run['commit']}`  ",
        f"Set: `{run['set']['path']}` ({run['set']['format']}, {run['set']['items']} items; "
        f"{summary['items']} evaluated{', a fixed random sample, seed ' + str(s['seed']) if s['limit'] else ''})  ",
        f"Generator: {s['generator']}; retrieval: {s['retrieval']}; index: {run['index']['documents']} documents, "
        f"{run['index']['chunks']} chunks, embedder {run['index']['embedder']}; "
        f"wall time {run['index']['seconds']:.0f} s",
        "",
        f"## Retrieval (document level, {ret['n']} questions)",
        "",
        "| nDCG@10 | MRR@10 | " + " | ".join(f"R@{k}" for k in RECALL_KS) + " |",
        "|---" * (2 + len(RECALL_KS)) + "|",
        f"| {_fmt(ret['nDCG@10'])} | {_fmt(ret['MRR@10'])} | "
        + " | ".join(_fmt(ret[f"recall@{k}"]) for k in RECALL_KS)
        + " |",
        "",
        f"![recall@k]({plots[0]})",
        "",
    ]
    if "support_in_chunk" in summary:
        sup = summary["support_in_chunk"]
        ks = [k for k in sup if k != "n"]
        lines += [
            f"Passage level ({sup['n']} questions with gold support text): share whose support lies "
            "whole inside one of the top-k retrieved chunks.",
            "",
            "| " + " | ".join(ks) + " |",
            "|---" * len(ks) + "|",
            "| " + " | ".join(_fmt(sup[k]) for k in ks) + " |",
            "",
        ]
    if "answers" in summary:
        a, c, ab, lat = summary["answers"], summary["citations"], summary["abstention"], summary["latency_seconds"]
        g = summary.get("gold_citations", {})
        lines += [
            "## Answers",
            "",
            "| | value | over |",
            "|---|---|---|",
            f"| SQuAD exact match | {_fmt(a['exact_match'])} | {a['n']} answerable |",
            f"| SQuAD F1 | {_fmt(a['f1'])} | {a['n']} answerable |",
            f"| contains a gold answer | {_fmt(a['contains'])} | {a['n']} answerable |",
            f"| citations correct, judged on the gold data (quote a gold answer or the gold support) | "
            f"{_fmt(g.get('precision'))} | {g.get('n', 0)} answers with citations |",
            f"| answers with at least one correct citation (gold data) | "
            f"{_fmt(g.get('answers_with_a_correct_citation'))} | {g.get('n', 0)} |",
            f"| citation recall (ALCE-style, judged by the project's own support scorer) | {_fmt(c['recall'])} "
            f"| {c['n']} answers given |",
            f"| citation precision (ALCE-style, judged by the project's own support scorer) | "
            f"{_fmt(c['precision'])} | {c['n']} answers given |",
            f"| model's own citations, recall / precision | {_fmt(c['raw_recall'])} / "
            f"{_fmt(c['raw_precision'])} | before verification |",
            f"| abstention precision | {_fmt(ab['precision'])} | {ab['abstained']} abstentions |",
            f"| abstention recall | {_fmt(ab['recall'])} | {ab['unanswerable']} unanswerable |",
            f"| sources shown p50 / p95 (s) | {_fmt(lat.get('sources', {}).get('p50'), 2)} / "
            f"{_fmt(lat.get('sources', {}).get('p95'), 2)} | {lat['n']} |",
            f"| time to first token p50 / p95 (s) | {_fmt(lat['first_token']['p50'], 2)} / "
            f"{_fmt(lat['first_token']['p95'], 2)} | {lat['n']} |",
            f"| total time p50 / p95 (s) | {_fmt(lat['total']['p50'], 2)} / {_fmt(lat['total']['p95'], 2)} "
            f"| {lat['n']} |",
            "",
        ]
        if summary.get("errors"):
            lines += [f"{summary['errors']} items failed with an error (see items.jsonl).", ""]
        if len(plots) > 1:
            lines += [f"![latency]({plots[1]})", ""]
    if len(kinds) > 1:
        lines += [
            "## By kind",
            "",
            "| kind | items | failed | R@5 | F1 | contains | abstained |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['n']} | {v['failed']} | {_fmt(v['recall@5'])} | {_fmt(v['f1'])} | "
            f"{_fmt(v['contains'])} | {v['abstained']} |"
            for k, v in kinds.items()
        ]
        lines.append("")
    lines += [
        f"## Failed items ({len(failed)} of {summary['items']}"
        f"{f', the first {FAILED_ROWS}' if len(failed) > FAILED_ROWS else ''})",
        "",
        "A failure: no relevant document in the top 10 (retrieval-only runs); otherwise an answerable "
        "question answered without a gold answer (not contained, F1 < 0.5) or abstained on, or an "
        "unanswerable one answered.",
        "",
        "| id | question | gold | answer | gold doc rank | top retrieved |",
        "|---|---|---|---|---|---|",
    ]
    for r in failed[:FAILED_ROWS]:
        top = "; ".join(titles.get(d, d) for d in r.ranking[:3])
        if r.error or r.answer is None:
            answer = r.error or "–"
        else:
            answer = ("(abstained) " if r.abstained else "") + r.answer
        gold = " / ".join(r.answers) or ("(unanswerable)" if not r.answerable else "–")
        lines.append(
            f"| {r.id} | {_cell(' → '.join(r.turns))} | {_cell(gold, 60)} | {_cell(answer)} | "
            f"{_fmt(r.gold_rank)} | {_cell(top, 160)} |"
        )
    return "\n".join(lines) + "\n"
