"""What the chat shows, without models or a server: escaping, citation links, highlighted support."""

from __future__ import annotations

import re

from index.records import Chunk
from rag.library import DocumentInfo, LibraryStatus
from rag.records import Answer, Citation, Passage
from ui.render import (
    highlight,
    inert,
    plain_text,
    render_answer,
    render_error,
    render_pending,
    render_question,
    render_status,
    render_stopped,
)

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


# --- what a new user noticed (issue 19) --------------------------------------------------------


def numbered(numbers_in_text: str, cited: list[int]) -> Answer:
    """An answer over seven passages that cites ``cited`` (passage numbers) in ``numbers_in_text``."""
    passages = [
        passage(f"Passage {n} says fact {n}.", title=f"Doc {n}", source=f"/srv/data/d{n}.txt", rank=n)
        for n in range(1, 8)
    ]
    cites = [Citation(n, passages[n - 1], 0, len(passages[n - 1].text), passages[n - 1].text, "s", 0.9) for n in cited]
    return Answer(question="q", text=numbers_in_text, citations=cites, passages=passages, retrieved=passages)


def test_the_reader_sees_sources_numbered_1_to_n_in_the_order_cited():
    out = render_answer(numbered("Fact five [5].", [5]), key="k")
    assert '<a class="rag-cite" href="#src-k-1">&#91;1&#93;</a>' in out and "&#91;5&#93;" not in out
    assert 'id="src-k-1"' in out and "Doc 5" in out
    out = render_answer(numbered("First [7]. Then [3]. Again [7].", [3, 7]), key="k")
    assert out.index("Doc 7") < out.index("Doc 3")  # [7] is cited first: it is source 1
    assert 'id="src-k-1"' in out and 'id="src-k-2"' in out and "src-k-3" not in out
    text = plain_text(numbered("First [7]. Then [3].", [3, 7]))
    assert text.startswith("First [1]. Then [2].") and "[1] Doc 7 (d7.txt)" in text


def test_sources_show_the_file_name_with_the_path_on_hover():
    out = render_answer(numbered("Fact [2].", [2]), key="k")
    assert 'title="/srv/data/d2.txt"' in out and ">d2.txt</span>" in out and ">/srv/data" not in out


def test_copy_and_screen_reader_text_is_plain():
    answer = cited_answer()
    text = plain_text(answer)
    assert text == (
        "They must earn at least US$16 per hour [1].\n\nSources:\n"
        '[1] Article (a.txt): "Workers must earn at least US$16 per hour."'
    )
    out = render_answer(answer)
    assert '<div class="rag-plain">' in out and 'class="rag-copy"' in out
    hidden = re.search(r'<div class="rag-plain">(.*?)</div>', out).group(1)
    import html

    assert html.unescape(hidden) == text and "<" not in hidden


def test_a_not_found_card_says_why_and_claims_no_marked_sentences_and_needs_no_rare_glyphs():
    answer = Answer(question="q", text="The documents don't say.", abstained=True)
    answer.unsupported_sentences = ["The moon is cheese."]  # not in the shown text: nothing is marked
    answer.fallback_reason = "no sentence of the model's answer is supported by the passages"
    out = render_answer(answer)
    assert "Sentences marked" not in out and "rag-unsupported" not in out
    assert "Why: The model wrote an answer, but no passage supports it" in out
    nothing = Answer(question="q", text="The documents don't say.", abstained=True)
    nothing.fallback_reason = "nothing relevant was retrieved"
    assert "Nothing relevant to the question was found" in render_answer(nothing)
    for html_out in (out, render_answer(cited_answer()), render_pending(""), render_error("x")):
        rare = {ch for ch in html_out if ord(ch) > 0x2000} - set("…·–—“”’")
        assert not rare, rare  # ⓘ, ⚠ and the like show as empty boxes without a font for them


def test_timings_are_shown_discreetly():
    answer = cited_answer()
    answer.timings = {"first_token": 1.234, "total": 5.678}
    assert "first word after 1.2 s · answered in 5.7 s" in render_answer(answer)


def test_the_users_own_text_is_shown_as_text():
    out = render_question('**bold** <img src=x onerror="alert(1)"> $x$\n\nnext')
    assert "<img" not in out and "**" not in out and "$" not in out and "\n" not in out
    import html

    assert html.unescape(re.sub(r"</?div[^>]*>", "", out)) == '**bold** <img src=x onerror="alert(1)"> $x$\n\nnext'


def test_the_evidence_shows_before_the_first_word_and_the_text_streams_above_it():
    from rag.records import EvidenceSentence, Sources

    p1, p2 = passage(rank=1), passage("Other text. Unrelated.", start=500, title="Other", rank=2)
    span = DOC.index("Workers must")
    sources = Sources(
        question="q",
        searched_for=None,
        passages=[p2, p1],
        evidence=[EvidenceSentence(2, span, span + 42, DOC[span : span + 42], 0.8)],
    )
    first = render_pending("", sources, key="k")
    assert "Writing the answer" in first and "Evidence found" in first and "rag-text" not in first
    assert "<mark>Workers must earn at least US&#36;16 per hour.</mark>" in first
    assert "Other" not in first  # passages without evidence are not listed
    later = render_pending("They earn US$16 [2].", sources, key="k")
    assert later.index("rag-text") < later.index("rag-sources")  # the text above the evidence
    assert "&#91;1&#93;" in later and "&#91;2&#93;" not in later  # [2] is the reader's source 1
    nothing = render_pending("", Sources("q", None, [], [], abstaining=True))
    assert "Nothing relevant found" in nothing and "rag-sources" not in nothing
    assert "Reading the changed documents" in render_pending("", phase="preparing")


def test_a_stopped_answer_says_so_and_keeps_what_was_written():
    out = render_stopped("Half an <b>answer")
    assert "Stopped" in out and "Half an &#60;b&#62;answer" in out and "<b>" not in out


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


def test_the_evidence_the_copy_text_and_a_reopened_answer_say_where_the_support_is():
    from dataclasses import replace
    from types import SimpleNamespace

    from rag.records import EvidenceSentence, Sources
    from ui.conversations import answer_from_dict
    from ui.render import conversation_markdown

    marks = ((0, "page 1"), (DOC.index("Workers"), "page 2"))
    located = replace(passage(), location="pages 1–2", marks=marks)
    span = "Workers must earn at least US$16 per hour."
    at = DOC.index(span)
    sources = Sources("q", None, [located], [EvidenceSentence(1, at, at + len(span), span, 0.9)])
    assert '<span class="rag-location">page 2</span>' in render_pending("", sources, key="k")  # before any word
    cite = Citation(1, located, at, at + len(span), span, "s", 0.9)
    answer = Answer(question="q", text="They earn US$16 [1].", citations=[cite], passages=[located], retrieved=[])
    assert '[1] Article (a.txt, page 2): "Workers must' in plain_text(answer)
    # a saved answer keeps no marks, but its citation's own location: reopened, it still says page 2
    reopened = answer_from_dict(answer.to_dict())
    assert reopened.citations[0].location == "page 2" and reopened.passages[0].location == "pages 1–2"
    assert '<span class="rag-location">page 2</span>' in render_answer(reopened, key="k")

    turn = SimpleNamespace(question="q", status="answered", answer=answer.to_dict(), partial="")
    assert "(a.txt, page 2)" in conversation_markdown("t", 0, [turn])
