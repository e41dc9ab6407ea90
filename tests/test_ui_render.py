"""What the chat shows, without models or a server: escaping, citation links, highlighted support."""

from __future__ import annotations

import re

from index.records import Chunk
from rag.library import DocumentInfo, LibraryStatus
from rag.records import Answer, Citation, Passage
from ui.render import highlight, inert, render_answer, render_pending, render_status

DOC = "Intro sentence. Workers must earn at least US$16 per hour. Closing words."


def passage(text=DOC, start=0, title="Article", source="/docs/a.txt", rank=1) -> Passage:
    chunk = Chunk(id=f"d1:{rank}", doc_id="d1", ordinal=0, char_start=start, char_end=start + len(text), text=text)
    return Passage(chunk=chunk, title=title, source=source, rank=rank, fused_score=0.9, dense_score=0.7, bm25_score=3.2)


def cited_answer(text="They must earn at least US$16 per hour [1].", **kw) -> Answer:
    p = passage()
    span = "Workers must earn at least US$16 per hour."
    at = DOC.index(span)
    cite = Citation(number=1, passage=p, span_start=at, span_end=at + len(span), text=span, sentence=text, support=0.9)
    return Answer(question="q", text=text, citations=[cite], passages=[p], retrieved=[p], **kw)


def test_inert_text_cannot_become_markup_markdown_or_math():
    hostile = '<img src=x onerror="alert(1)"> <script>x()</script> [link](javascript:alert(1)) ![i](x) $x^2$ **b**'
    out = inert(hostile)
    assert "<" not in out and ">" not in out and "[" not in out and "(" not in out and "$" not in out
    assert "*" not in out and '"' not in out
    # and it still reads the same once entities are decoded
    import html

    assert html.unescape(out) == hostile


def test_answer_links_each_marker_to_its_source_and_highlights_the_support():
    out = render_answer(cited_answer(), key="k1")
    assert '<a class="rag-cite" href="#src-k1-1">' in out
    assert 'id="src-k1-1"' in out
    assert "<mark>Workers must earn at least US&#36;16 per hour.</mark>" in out
    assert "Article" in out and "/docs/a.txt" in out
    assert "rag-abstained" not in out


def test_markers_for_passages_that_do_not_exist_are_not_links():
    out = render_answer(cited_answer("Sentence [1]. Other [7]."), key="k")
    assert out.count('class="rag-cite"') == 1 and "src-k-7" not in out


def test_abstention_looks_different_and_has_no_sources():
    out = render_answer(Answer(question="q", text="The documents don't say.", abstained=True))
    assert "rag-abstained" in out and "Not found in the documents" in out and "rag-sources" not in out


def test_unsupported_sentences_are_flagged_and_retrieved_passages_shown_on_request():
    answer = cited_answer("They must earn at least US$16 per hour [1]. The moon is cheese.")
    answer.unsupported_sentences = ["The moon is cheese."]
    out = render_answer(answer, show_retrieved=True)
    assert re.search(r'<span class="rag-unsupported"[^>]*>The moon is cheese\.</span>', out)
    assert "All 1 retrieved passages" in out and "dense 0.700" in out and "BM25 3.20" in out
    assert "All 1 retrieved" not in render_answer(answer, show_retrieved=False)


def test_hostile_document_text_in_sources_is_escaped():
    payload = 'See <img src=x onerror="window.__xss=1"> and <script>window.__xss=1</script>.'
    p = passage(payload, title="<b>T</b>", source="/docs/<x>.txt")
    cite = Citation(number=1, passage=p, span_start=0, span_end=len(payload), text=payload, sentence="s", support=1)
    out = render_answer(
        Answer(question="q", text=payload + " [1]", citations=[cite], passages=[p], retrieved=[p]), show_retrieved=True
    )
    assert "<img" not in out and "<script" not in out and "<b>" not in out and "<x>" not in out
    assert "&#60;img src&#61;x onerror&#61;&#34;window.&#95;&#95;xss&#61;1&#34;&#62;" in out


def test_highlight_uses_document_offsets_and_merges_overlaps():
    p = passage("abcdefghij", start=100)
    cites = [
        Citation(1, p, 102, 105, "cde", "s", 1.0),
        Citation(1, p, 104, 107, "efg", "s", 1.0),
        Citation(1, p, 90, 101, "a", "s", 1.0),
    ]
    assert highlight(p, cites) == "<mark>a</mark>b<mark>cdefg</mark>hij"


def test_pending_and_status():
    assert "Searching" in render_pending("") and render_pending("<b>").count("<b>") == 0
    status = LibraryStatus(
        documents=[DocumentInfo("A <doc>", "/d/a.txt", 3, True)],
        chunks=3,
        embedder="m",
        index_type="flat",
        built_at="2026-11-29T05:00:00Z",
    )
    out = render_status(status, "llama.cpp:x.gguf")
    assert "A &#60;doc&#62;" in out and "uploaded" in out and "llama.cpp" in out
    assert "No index yet" in render_status(LibraryStatus(problem="No index yet: upload."), "g")


def test_sources_say_where_in_the_file_the_support_is_and_stay_inert():
    from dataclasses import replace

    p = passage()
    marks = ((0, "page 1"), (DOC.index("Workers"), "page 2 <b>"))  # a hostile label stays text
    located = replace(p, location="pages 1–2", marks=marks)
    span = "Workers must earn at least US$16 per hour."
    at = DOC.index(span)
    cite = Citation(
        number=1, passage=located, span_start=at, span_end=at + len(span), text=span, sentence="s", support=0.9
    )
    assert cite.location == "page 2 <b>" and cite.to_dict()["location"] == "page 2 <b>"
    answer = Answer(
        question="q", text="They must earn US$16 [1].", citations=[cite], passages=[located], retrieved=[located]
    )
    out = render_answer(answer, show_retrieved=True, key="k")
    assert '<span class="rag-location">page 2 &#60;b&#62;</span>' in out  # the citation's own page
    assert '<span class="rag-location">pages 1–2</span>' in out  # the retrieved passage's span
    assert "<b>" not in out
    assert render_answer(cited_answer(), key="k").count("rag-location") == 0  # no location, no label
