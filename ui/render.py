"""Answers, sources and index status as HTML for the chat — with every piece of document or
model text made inert.

Document text and model output are untrusted: they are HTML-escaped *and* the characters that
Markdown or LaTeX would act on are turned into entities, so a passage can neither inject markup
nor become a link, an image or a formula. Only the tags written here are real.
"""

from __future__ import annotations

import html
import re
import uuid

from rag.library import LibraryStatus
from rag.records import Answer, Citation, Passage

_MARKUP_CHARS = {c: f"&#{ord(c)};" for c in "[]()*_`~$#|!{}\\<>&\"'=:"}
_CITE = re.compile(r"\[(\d+(?:\s*[,\u2013-]\s*\d+)*)\]")


def inert(text: str) -> str:
    """Plain text that renders as itself in HTML, Markdown and LaTeX."""
    return "".join(_MARKUP_CHARS.get(ch, ch) for ch in text)


def render_pending(partial: str) -> str:
    """What the user sees while the answer streams in (verification comes at the end)."""
    body = inert(partial) if partial.strip() else "<em>Searching the documents…</em>"
    return f'<div class="rag-answer rag-pending">{body}</div>'


def render_error(message: str) -> str:
    return f'<div class="rag-answer rag-error"><strong>⚠ Could not answer.</strong> {inert(message)}</div>'


def render_answer(answer: Answer, show_retrieved: bool = False, key: str | None = None) -> str:
    """The final answer: text with [n] links to its sources, then the numbered sources with the
    supporting span highlighted; optionally every retrieved passage with its scores."""
    key = key or uuid.uuid4().hex[:8]
    numbers = sorted({c.number for c in answer.citations})
    parts = [f'<div class="rag-answer{" rag-abstained" if answer.abstained else ""}">']
    if answer.abstained:
        parts.append('<div class="rag-badge">ⓘ Not found in the documents</div>')
    parts.append(
        f'<div class="rag-text">{_answer_text(answer.text, set(numbers), answer.unsupported_sentences, key)}</div>'
    )
    for note in answer.notices:
        parts.append(f'<div class="rag-notice">Note: {inert(note)}</div>')
    if answer.unsupported_sentences:
        parts.append(
            '<div class="rag-notice">Sentences marked <span class="rag-unsupported">like this</span> are '
            "not supported by any retrieved passage.</div>"
        )
    if answer.searched_for:
        parts.append(f'<div class="rag-searched">Searched for: {inert(answer.searched_for)}</div>')
    if numbers:
        parts.append('<div class="rag-sources"><div class="rag-sources-title">Sources</div>')
        for n in numbers:
            cites = [c for c in answer.citations if c.number == n]
            parts.append(_source(n, cites, key))
        parts.append("</div>")
    if show_retrieved and answer.retrieved:
        parts.append(
            f'<details class="rag-retrieved"><summary>All {len(answer.retrieved)} retrieved passages</summary>'
        )
        parts += [_retrieved(p) for p in answer.retrieved]
        parts.append("</details>")
    parts.append("</div>")
    return "".join(parts)


def _answer_text(text: str, numbers: set[int], unsupported: list[str], key: str) -> str:
    """Escape the answer, turn [n] markers into links to source n, mark unsupported sentences."""
    ranges = []
    for sentence in unsupported:
        at = text.find(sentence)
        if sentence and at >= 0:
            ranges.append((at, at + len(sentence)))
    out = []
    boundaries = sorted(
        {0, len(text), *[b for r in ranges for b in r], *[b for m in _CITE.finditer(text) for b in m.span()]}
    )
    for start, end in zip(boundaries, boundaries[1:]):
        piece = text[start:end]
        match = _CITE.fullmatch(piece)
        if match:
            out.append(_cite_links(match.group(1), numbers, key))
        else:
            escaped = inert(piece)
            if any(a <= start and end <= b for a, b in ranges):
                escaped = f'<span class="rag-unsupported" title="No passage supports this sentence">{escaped}</span>'
            out.append(escaped)
    return "".join(out)


def _cite_links(inside: str, numbers: set[int], key: str) -> str:
    links = []
    for raw in re.split(r"\s*,\s*", inside):
        bounds = [int(x) for x in re.split(r"\s*[\u2013-]\s*", raw) if x.isdigit()]
        for n in range(bounds[0], bounds[-1] + 1) if bounds and bounds[-1] - bounds[0] < 20 else bounds:
            if n in numbers:
                links.append(f'<a class="rag-cite" href="#src-{key}-{n}">&#91;{n}&#93;</a>')
    return "".join(links)


def _source(number: int, cites: list[Citation], key: str) -> str:
    passage = cites[0].passage
    locations = list(dict.fromkeys(c.location for c in cites if c.location))
    return (
        f'<div class="rag-source" id="src-{key}-{number}"><div class="rag-source-head"><strong>&#91;{number}&#93; '
        f"{inert(passage.title)}</strong>{_location(' · '.join(locations))} "
        f'<span class="rag-path">{inert(passage.source)}</span></div>'
        f'<blockquote class="rag-passage">{highlight(passage, cites)}</blockquote></div>'
    )


def _location(location: str) -> str:
    return f' <span class="rag-location">{inert(location)}</span>' if location else ""


def highlight(passage: Passage, cites: list[Citation]) -> str:
    """The passage text with the cited supporting spans (document offsets) wrapped in <mark>."""
    text, base = passage.text, passage.char_start
    spans = sorted((max(0, c.span_start - base), min(len(text), c.span_end - base)) for c in cites)
    merged: list[list[int]] = []
    for start, end in spans:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(inert(text[pos:start]))
        out.append(f"<mark>{inert(text[start:end])}</mark>")
        pos = end
    out.append(inert(text[pos:]))
    return "".join(out)


def _retrieved(p: Passage) -> str:
    scores = [f"rank {p.rank}", f"fused {p.fused_score:.3f}"]
    if p.dense_score is not None:
        scores.append(f"dense {p.dense_score:.3f}")
    if p.bm25_score is not None:
        scores.append(f"BM25 {p.bm25_score:.2f}")
    return (
        f'<div class="rag-source"><div class="rag-source-head"><strong>{inert(p.title)}</strong>'
        f"{_location(p.location)} "
        f'<span class="rag-path">{inert(p.source)}</span> <span class="rag-scores">{", ".join(scores)}</span>'
        f'</div><blockquote class="rag-passage">{inert(p.text)}</blockquote></div>'
    )


def render_status(status: LibraryStatus, generator_name: str) -> str:
    if status.problem:
        return f'<div class="rag-status"><p>{inert(status.problem)}</p><p>Generator: {inert(generator_name)}</p></div>'
    rows = [
        ("Documents", str(len(status.documents))),
        ("Chunks", str(status.chunks)),
        ("Embedder", status.embedder),
        ("Generator", generator_name),
        ("Vector index", status.index_type),
        ("Built", status.built_at.replace("T", " ").rstrip("Z") + " UTC"),
    ]
    table = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in rows)
    docs = "".join(
        f'<li title="{html.escape(d.source)}">{inert(d.title)} <span class="rag-path">'
        f"({d.chunks} chunks{', uploaded' if d.uploaded else ''})</span></li>"
        for d in status.documents
    )
    return f'<div class="rag-status"><table>{table}</table><ul class="rag-docs">{docs}</ul></div>'
