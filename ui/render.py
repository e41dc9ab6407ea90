"""Answers, sources, questions and index status as HTML for the chat, and conversations as
Markdown for export — with every piece of user, document or model text made inert.

Document text, model output and what users type are untrusted: they are HTML-escaped *and* the
characters that Markdown or LaTeX would act on are turned into entities (newlines too, so no blank
line can end an HTML block inside the chat's Markdown renderer), so a passage can neither inject
markup nor become a link, an image or a formula. Only the tags written here are real.

The reader sees the cited sources numbered 1..n in the order the answer cites them; the answer's
own numbers (``Citation.number`` = position in ``Answer.passages``) stay as they are in the records.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import PurePath

from index.locations import location_of
from rag.library import LibraryStatus
from rag.records import Answer, Citation, Passage, Sources

_MARKUP_CHARS = {c: f"&#{ord(c)};" for c in "[]()*_`~$#|!{}\\<>&\"'=:\n"}
_CITE = re.compile(r"\[(\d+(?:\s*[,\u2013-]\s*\d+)*)\]")
MAX_EVIDENCE_SOURCES = 4  # shown while the answer is being written...
EVIDENCE_CONTEXT = 90  # ...each as its evidence sentence with this many characters around it

ABSTENTION_REASONS = {
    "nothing relevant was retrieved": "Nothing relevant to the question was found in the documents.",
    "no sentence of the model's answer is supported by the passages": (
        "The model wrote an answer, but no passage supports it, so it is not shown."
    ),
}
PHASES = {
    "searching": "Searching the documents…",
    "answering": "Writing the answer…",
    "preparing": "Reading the changed documents into the model first (once after each change, about 30 s)…",
}


def inert(text: str) -> str:
    """Plain text that renders as itself in HTML, Markdown and LaTeX."""
    return "".join(_MARKUP_CHARS.get(ch, ch) for ch in text)


def file_name(source: str) -> str:
    return PurePath(source).name or source


def span_locations(passage: Passage, spans: list[tuple[int, int]]) -> str:
    """Where in its file each marked span (document offsets) is, from the loader's marks ("page 2",
    "sheet Exports, row 3"), else where the passage is ("pages 1–2"); several joined by " · "."""
    found = [location_of(passage.marks, s, e) or passage.location for s, e in spans] or [passage.location]
    return " · ".join(dict.fromkeys(x for x in found if x))


def cited_locations(cites: list[Citation]) -> str:
    """Where the supporting text of these citations (of one source) is: each citation's own location."""
    return " · ".join(dict.fromkeys(c.location for c in cites if c.location))


# -- numbering -----------------------------------------------------------------------------


def _marker_numbers(inside: str) -> list[int]:
    out = []
    for raw in re.split(r"\s*,\s*", inside):
        bounds = [int(x) for x in re.split(r"\s*[\u2013-]\s*", raw) if x.isdigit()]
        if bounds:
            out += list(range(bounds[0], bounds[-1] + 1)) if bounds[-1] - bounds[0] < 20 else bounds
    return out


def display_numbers(text: str, cited: set[int]) -> dict[int, int]:
    """Answer number -> the number the reader sees: 1..n in order of first citation in ``text``
    (cited numbers the text never shows come last, in numeric order)."""
    order: list[int] = []
    for match in _CITE.finditer(text):
        order += [n for n in _marker_numbers(match.group(1)) if n in cited and n not in order]
    order += sorted(n for n in cited if n not in order)
    return {n: i for i, n in enumerate(order, start=1)}


def _relabel(text: str, mapping: dict[int, int], link_key: str | None = None) -> list[tuple[str, bool]]:
    """``text`` split into (piece, is_marker) with markers rewritten through ``mapping``
    (numbers not in it are dropped); marker pieces are finished HTML (links when ``link_key``)."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in _CITE.finditer(text):
        out.append((text[pos : match.start()], False))
        shown = []
        for n in _marker_numbers(match.group(1)):
            d = mapping.get(n)
            if d is not None and d not in shown:
                shown.append(d)
        if link_key:
            out.append(
                ("".join(f'<a class="rag-cite" href="#src-{link_key}-{d}">&#91;{d}&#93;</a>' for d in shown), True)
            )
        else:
            out.append(("".join(f"&#91;{d}&#93;" for d in shown), True))
        pos = match.end()
    out.append((text[pos:], False))
    return out


def plain_answer_text(answer: Answer) -> tuple[str, dict[int, int]]:
    """The answer as plain text with the reader's [n] numbers, and that numbering."""
    mapping = display_numbers(answer.text, {c.number for c in answer.citations})

    def sub(match: re.Match) -> str:
        shown = []
        for n in _marker_numbers(match.group(1)):
            if n in mapping and mapping[n] not in shown:
                shown.append(mapping[n])
        return "".join(f"[{d}]" for d in shown)

    return re.sub(r"\s+(?=[.,;:!?]|$)", "", _CITE.sub(sub, answer.text)).strip(), mapping


def plain_text(answer: Answer) -> str:
    """What the copy button copies and a screen reader reads: the answer with its [n], then the sources.
    (The chat's sanitizer drops data-* attributes, so it travels in a hidden element, .rag-plain.)"""
    text, mapping = plain_answer_text(answer)
    lines = [("Not found in the documents. " if answer.abstained else "") + text]
    if mapping:
        lines.append("")
        lines.append("Sources:")
        for n, d in sorted(mapping.items(), key=lambda kv: kv[1]):
            cites = [c for c in answer.citations if c.number == n]
            passage = cites[0].passage
            where = ", ".join(x for x in (file_name(passage.source), cited_locations(cites)) if x)
            quote = " … ".join(dict.fromkeys(c.text.strip() for c in cites if c.text.strip()))
            lines.append(f'[{d}] {passage.title} ({where}): "{quote}"')
    return "\n".join(lines)


# -- chat bubbles --------------------------------------------------------------------------


def render_question(text: str) -> str:
    """The user's own message, shown exactly as typed (markup in it stays text)."""
    return f'<div class="rag-question">{inert(text)}</div>'


def render_pending(
    partial: str, sources: Sources | None = None, phase: str | None = None, key: str | None = None
) -> str:
    """While the answer is being made: the phase (searching / writing), the text streamed so far,
    and — as soon as retrieval is done — the evidence: the sources with their best sentences marked."""
    key = key or uuid.uuid4().hex[:8]
    phase = phase or ("answering" if partial.strip() or sources is not None else "searching")
    mapping: dict[int, int] = {}
    shown: list[tuple[int, Passage, list[tuple[int, int]]]] = []
    if sources is not None and not sources.abstaining:
        spans: dict[int, list[tuple[int, int]]] = {}
        for ev in sources.evidence:
            if 0 < ev.number <= len(sources.passages):
                spans.setdefault(ev.number, []).append((ev.span_start, ev.span_end))
        for n in list(spans)[:MAX_EVIDENCE_SOURCES]:
            mapping[n] = len(mapping) + 1
            shown.append((n, sources.passages[n - 1], spans[n]))
        for n in range(1, len(sources.passages) + 1):
            mapping.setdefault(n, len(mapping) + 1)
    parts = ['<div class="rag-answer rag-pending">']
    label = PHASES.get(phase, phase)
    if sources is not None and sources.abstaining:
        label = "Nothing relevant found in the documents; finishing…"
    parts.append(f'<div class="rag-phase" role="status"><span class="rag-spinner"></span>{inert(label)}</div>')
    if partial.strip():
        pieces = _relabel(partial, mapping) if mapping else [(partial, False)]
        body = "".join(p if is_marker else inert(p) for p, is_marker in pieces)
        parts.append(f'<div class="rag-text">{body}</div>')
    if sources is not None and sources.searched_for:
        parts.append(f'<div class="rag-searched">Searched for: {inert(sources.searched_for)}</div>')
    if shown:
        parts.append('<div class="rag-sources"><div class="rag-sources-title">Evidence found</div>')
        for n, passage, spans in shown:
            parts.append(_source_card(mapping[n], passage, spans, key, context=EVIDENCE_CONTEXT))
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def render_stopped(partial: str) -> str:
    body = f'<div class="rag-text">{inert(partial)}</div>' if partial.strip() else ""
    return (
        '<div class="rag-answer rag-stopped"><div class="rag-badge">Stopped</div>'
        f'{body}<div class="rag-notice">The answer was stopped before it was finished and checked; '
        "ask again for a complete, cited answer.</div></div>"
    )


def render_error(message: str) -> str:
    return f'<div class="rag-answer rag-error"><strong>Could not answer.</strong> {inert(message)}</div>'


def render_answer(answer: Answer, show_retrieved: bool = False, key: str | None = None) -> str:
    """The final answer: text with [n] links to its sources, then the numbered sources with the
    supporting span highlighted; a discreet line of timings; optionally every retrieved passage."""
    key = key or uuid.uuid4().hex[:8]
    mapping = display_numbers(answer.text, {c.number for c in answer.citations})
    classes = "rag-answer rag-final" + (" rag-abstained" if answer.abstained else "")
    parts = [f'<div class="{classes}" id="answer-{key}">', f'<div class="rag-plain">{inert(plain_text(answer))}</div>']
    if answer.abstained:
        parts.append('<div class="rag-badge">Not found in the documents</div>')
    text_html, marked = _answer_text(answer.text, mapping, answer.unsupported_sentences, key)
    parts.append(f'<div class="rag-text">{text_html}</div>')
    if answer.abstained:
        reason = ABSTENTION_REASONS.get(answer.fallback_reason) or (
            "The model found no answer in the passages it was given."
            if not answer.fallback_reason
            else answer.fallback_reason[:1].upper() + answer.fallback_reason[1:] + "."
        )
        parts.append(f'<div class="rag-why">Why: {inert(reason)}</div>')
    for note in answer.notices:
        parts.append(f'<div class="rag-notice">Note: {inert(note)}</div>')
    if marked:
        parts.append(
            '<div class="rag-notice">Sentences marked <span class="rag-unsupported">like this</span> are '
            "not supported by any retrieved passage.</div>"
        )
    if answer.searched_for:
        parts.append(f'<div class="rag-searched">Searched for: {inert(answer.searched_for)}</div>')
    if mapping:
        parts.append('<div class="rag-sources"><div class="rag-sources-title">Sources</div>')
        for n, d in sorted(mapping.items(), key=lambda kv: kv[1]):
            cites = [c for c in answer.citations if c.number == n]
            spans = [(c.span_start, c.span_end) for c in cites]
            parts.append(_source_card(d, cites[0].passage, spans, key, where=cited_locations(cites)))
        parts.append("</div>")
    if show_retrieved and answer.retrieved:
        parts.append(
            f'<details class="rag-retrieved"><summary>All {len(answer.retrieved)} retrieved passages</summary>'
        )
        parts += [_retrieved(p) for p in answer.retrieved]
        parts.append("</details>")
    parts.append(_footer(answer))
    parts.append("</div>")
    return "".join(parts)


def _footer(answer: Answer) -> str:
    t = answer.timings
    bits = []
    if "first_token" in t:
        bits.append(f"first word after {t['first_token']:.1f} s")
    if "total" in t:
        bits.append(f"answered in {t['total']:.1f} s")
    timing = f'<span class="rag-timing">{inert(" · ".join(bits))}</span>' if bits else ""
    return (
        f'<div class="rag-footer">{timing}<button type="button" class="rag-copy" '
        'title="Copy the answer and its sources as plain text">Copy</button></div>'
    )


def _answer_text(text: str, mapping: dict[int, int], unsupported: list[str], key: str) -> tuple[str, bool]:
    """Escape the answer, turn [n] markers into links to the reader's source n, mark unsupported
    sentences. Also says whether any sentence was actually marked."""
    ranges = []
    for sentence in unsupported:
        at = text.find(sentence) if sentence else -1
        if at >= 0:
            ranges.append((at, at + len(sentence)))
    markers = {m.start(): m for m in _CITE.finditer(text)}
    cuts = sorted({0, len(text), *[b for r in ranges for b in r], *[b for m in markers.values() for b in m.span()]})
    out, marked = [], False
    for start, end in zip(cuts, cuts[1:]):
        if start in markers and markers[start].end() == end:
            out.append(_relabel(text[start:end], mapping, key)[1][0])
            continue
        escaped = inert(text[start:end])
        if text[start:end].strip() and any(a <= start and end <= b for a, b in ranges):
            escaped = f'<span class="rag-unsupported" title="No passage supports this sentence">{escaped}</span>'
            marked = True
        out.append(escaped)
    return "".join(out), marked


def _source_card(
    number: int, passage: Passage, spans: list[tuple[int, int]], key: str, context: int | None = None, where=None
) -> str:
    """A numbered source: title, file name (the path on hover), location, and the passage with the
    spans marked; with ``context``, only the marked spans and that many characters around them.
    ``where``: the location to show (a final answer's citations know theirs); by default the spans'."""
    where = span_locations(passage, spans) if where is None else where
    return (
        f'<div class="rag-source" id="src-{key}-{number}"><div class="rag-source-head"><strong>&#91;{number}&#93; '
        f'{inert(passage.title)}</strong> <span class="rag-path" title="{inert(passage.source)}">'
        f"{inert(file_name(passage.source))}</span>{_location(where)}</div>"
        f'<blockquote class="rag-passage">{highlight_spans(passage, spans, context)}</blockquote></div>'
    )


def _location(location: str) -> str:
    return f' <span class="rag-location">{inert(location)}</span>' if location else ""


def highlight(passage: Passage, cites: list[Citation]) -> str:
    """The passage text with the cited supporting spans (document offsets) wrapped in <mark>."""
    return highlight_spans(passage, [(c.span_start, c.span_end) for c in cites])


def highlight_spans(passage: Passage, spans: list[tuple[int, int]], context: int | None = None) -> str:
    text, base = passage.text, passage.char_start
    cuts = sorted((max(0, s - base), min(len(text), e - base)) for s, e in spans)
    merged: list[list[int]] = []
    for start, end in cuts:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    if context is not None and merged:  # only the neighbourhood of the marked text
        first, last = max(0, merged[0][0] - context), min(len(text), merged[-1][1] + context)
        out.append("…" if first > 0 else "")
        pos, tail = first, ("…" if last < len(text) else "")
    else:
        last, tail = len(text), ""
    for start, end in merged:
        out.append(inert(text[pos:start]))
        out.append(f"<mark>{inert(text[start:end])}</mark>")
        pos = end
    out.append(inert(text[pos:last]) + tail)
    return "".join(out)


def _retrieved(p: Passage) -> str:
    scores = [f"rank {p.rank}", f"fused {p.fused_score:.3f}"]
    if p.dense_score is not None:
        scores.append(f"dense {p.dense_score:.3f}")
    if p.bm25_score is not None:
        scores.append(f"BM25 {p.bm25_score:.2f}")
    return (
        f'<div class="rag-source"><div class="rag-source-head"><strong>{inert(p.title)}</strong> '
        f'<span class="rag-path" title="{inert(p.source)}">{inert(file_name(p.source))}</span>{_location(p.location)} '
        f'<span class="rag-scores">{inert(", ".join(scores))}</span>'
        f'</div><blockquote class="rag-passage">{inert(p.text)}</blockquote></div>'
    )


# -- side panel ----------------------------------------------------------------------------


def render_status(status: LibraryStatus, generator_name: str, location: str = "") -> str:
    if status.problem:
        return f'<div class="rag-status"><p>{inert(status.problem)}</p></div>'
    built = status.built_at.replace("T", " ").rstrip("Z")[:16]
    n = len(status.documents)
    summary = f"{n} document{'s' * (n != 1)}, {status.chunks} passages; updated {built} UTC"
    docs = "".join(
        f'<li title="{inert(d.source)}">{inert(d.title)} <span class="rag-path">'
        f"({inert(file_name(d.source))}{', uploaded' if d.uploaded else ''})</span></li>"
        for d in status.documents
    )
    details = [
        ("Answers written by", generator_name),
        ("Embedding model", status.embedder),
        ("Vector index type", status.index_type),
        ("Passages (chunks)", str(status.chunks)),
        ("Index location", location or status.path),
    ]
    table = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in details if v)
    return (
        f'<div class="rag-status"><p class="rag-summary">{inert(summary)}</p><ul class="rag-docs">{docs}</ul>'
        f"<details><summary>Technical details</summary><table>{table}</table></details></div>"
    )


def render_conversation_list_label(title: str, updated: float, turns: int) -> str:
    """A dropdown label (plain text: Gradio shows choice labels as text)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated))
    return f"{title}  ·  {when}  ·  {turns} question{'s' * (turns != 1)}"


# -- Markdown export -----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$^])")
_MD_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-=>])", re.MULTILINE)


def md_inert(text: str) -> str:
    """Text for a Markdown file that renders as itself: HTML's <, > and & become entities, the
    characters Markdown (or a math extension) acts on are backslash-escaped, and so are list, quote
    and heading marks at a line's start and the parts of bare links (which GFM would make live)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] else f"{m[4]}\\{m[5]}", text)
    return text.replace("://", ":\\/\\/").replace("www.", "www\\.")


def md_quote(text: str) -> str:
    return "\n".join("> " + md_inert(line) if line.strip() else ">" for line in text.splitlines() or [""])


def conversation_markdown(title: str, created: float, turns: list) -> str:
    """A saved conversation as Markdown: each question, its answer with [n], the numbered sources
    (title, file, location, the quoted supporting text). ``turns`` are ``ui.conversations.Turn``s."""
    from ui.conversations import answer_from_dict

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created))
    out = [f"# {md_inert(title)}", "", f"Conversation started {md_inert(when)}; {len(turns)} questions.", ""]
    for i, turn in enumerate(turns, start=1):
        out += [f"## Question {i}", "", md_quote(turn.question), ""]
        if turn.status == "answered" and turn.answer:
            answer = answer_from_dict(turn.answer)
            text, mapping = plain_answer_text(answer)
            if answer.abstained:
                out += ["**Not found in the documents.**", ""]
            out += [md_inert(text), ""]
            if mapping:
                out += ["Sources:", ""]
                for n, d in sorted(mapping.items(), key=lambda kv: kv[1]):
                    cites = [c for c in answer.citations if c.number == n]
                    passage = cites[0].passage
                    where = ", ".join(x for x in (file_name(passage.source), cited_locations(cites)) if x)
                    out.append(f"{d}\\. **{md_inert(passage.title)}** ({md_inert(where)})")
                    for quote in dict.fromkeys(c.text.strip() for c in cites if c.text.strip()):
                        out.append(f"   {md_quote(quote)}")
                out.append("")
        elif turn.status == "stopped":
            out += ["*Stopped before the answer was finished.*", ""]
            if turn.partial.strip():
                out += [md_inert(turn.partial.strip()), ""]
        else:
            out += [f"*Not answered: {md_inert(turn.partial or 'error')}*", ""]
    return "\n".join(out).rstrip() + "\n"
