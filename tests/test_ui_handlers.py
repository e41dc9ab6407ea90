"""The chat's event handlers (ui/app.py ChatApp) with a fake engine, no server or models: the order of
what a streamed answer shows, what is saved when it ends, is stopped or fails, the answer scope
handed to the engine, and the model re-reading changed documents in the background."""

from __future__ import annotations

import threading

import pytest

import ui.app as app_module
from index.config import Config
from index.store_api import IndexMissing
from rag.records import EvidenceSentence, Sources
from tests.test_ui_render import DOC, cited_answer, passage
from ui.app import ALL_DOCUMENTS, ChatApp

OWNER = "browser:" + "k" * 20  # what the client key "kkk..." stands for


class FakeEngine:
    """Yields what the answering issue's engine will: Sources, text pieces, the Answer."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.calls: list[dict] = []
        self.closed = False
        self.warm = threading.Event()
        self.release = threading.Event()

    def stream(self, question, history, **kw):
        self.calls.append({"question": question, "history": history, **kw})
        if self.fail:
            raise self.fail
        span = DOC.index("Workers must")
        try:
            yield Sources(
                question, None, [passage()], [EvidenceSentence(1, span, span + 42, DOC[span : span + 42], 1.0)]
            )
            yield "They must earn "
            yield "at least US$16 per hour [1]."
            yield cited_answer()
        finally:
            self.closed = True

    def warm_up(self):
        self.warm.set()
        self.release.wait(10)


@pytest.fixture
def handlers(tmp_path):
    app = ChatApp(Config.load(data_dir=tmp_path / "data"), "extractive")
    app.fake = FakeEngine()
    app.engine = lambda spec=None: app.fake
    return app


def started(handlers, question="How much must workers earn?"):
    chat, _, pending, cid, *_ = handlers.start(question, [], False, None, "k" * 20)
    return chat, pending, cid


def test_the_evidence_shows_first_then_the_text_above_it_then_the_verified_answer(handlers):
    chat, pending, cid = started(handlers)
    assert "Searching the documents" in chat[-1]["content"]
    shown = [
        out[0][-1]["content"]
        for out in handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, [ALL_DOCUMENTS])
    ]
    first, *_, last = shown
    assert "Evidence found" in first and "<mark>" in first and "rag-text" not in first  # before any word
    assert "They must earn" in shown[1] and shown[1].index("rag-text") < shown[1].index("Evidence found")
    assert "rag-final" in last and "Evidence found" not in last and "Sources" in last
    assert handlers.fake.calls[0].get("documents") is None  # "All documents": no scope given
    (turn,) = handlers.store.get(OWNER, cid).turns
    assert turn.status == "answered" and turn.answer["citations"][0]["text"].startswith("Workers must")


def test_stop_closes_the_stream_and_keeps_the_question_and_what_was_written(handlers):
    chat, pending, cid = started(handlers)
    answering = handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, None)
    next(answering)  # the evidence
    next(answering)  # the first words
    stopped_chat, busy, *_ = handlers.stop(chat, pending, cid, "k" * 20)  # the Stop button's own handler...
    assert "Stopped" in stopped_chat[-1]["content"] and "They must earn" in stopped_chat[-1]["content"]
    assert busy is False
    answering.close()  # ...and what Gradio does to the cancelled event: close its generator
    assert handlers.fake.closed  # the engine's generation was closed with it
    (turn,) = handlers.store.get(OWNER, cid).turns
    assert (turn.status, turn.partial) == ("stopped", "They must earn ")


def test_what_the_answer_still_sends_after_stop_shows_it_stopped(handlers):
    """The cancellation of the answering event can reach it after Stop's bubble is shown; its next update
    must not bring the pending bubble back (the browser test saw that on a loaded machine)."""
    chat, pending, cid = started(handlers)
    answering = handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, None)
    next(answering)  # the evidence
    next(answering)  # the first words
    handlers.stop(chat, pending, cid, "k" * 20)
    late = [out[0][-1]["content"] for out in answering]  # not cancelled (yet): it runs on
    assert late and all("rag-stopped" in c and "rag-pending" not in c for c in late)
    assert "They must earn" in late[-1] and "rag-final" not in late[-1]  # no answer after Stop
    assert handlers.fake.closed
    (turn,) = handlers.store.get(OWNER, cid).turns  # saved once, as stopped
    assert (turn.status, turn.partial) == ("stopped", "They must earn ")


def test_a_failure_is_shown_and_saved_as_such(handlers):
    handlers.fake.fail = IndexMissing("no index at /x; build one with `rag index PATH...`")
    chat, pending, cid = started(handlers)
    (out,) = list(handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, None))
    assert "Could not answer" in out[0][-1]["content"] and "rag index PATH" in out[0][-1]["content"]
    (turn,) = handlers.store.get(OWNER, cid).turns
    assert turn.status == "error" and "no index" in turn.partial


def test_chosen_documents_are_handed_to_the_engine(handlers):
    chat, pending, cid = started(handlers)
    list(handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, ["/docs/a.txt", "/docs/b.txt"]))
    assert handlers.fake.calls[-1]["documents"] == ["/docs/a.txt", "/docs/b.txt"]
    list(handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, [ALL_DOCUMENTS, "/docs/a.txt"]))
    assert handlers.fake.calls[-1]["documents"] is None  # "All documents" wins
    assert handlers.store.get(OWNER, cid).turns[0].settings["documents"] == ["/docs/a.txt", "/docs/b.txt"]


def test_after_documents_change_the_model_re_reads_them_in_the_background_and_questions_say_so(handlers):
    handlers._after_change("extractive")
    assert handlers.fake.warm.wait(5) and handlers.preparing.is_set()
    chat, _, _ = started(handlers)
    assert "Reading the changed documents into the model first" in chat[-1]["content"]
    handlers.fake.release.set()
    for _ in range(100):
        if not handlers.preparing.is_set():
            break
        threading.Event().wait(0.05)
    assert not handlers.preparing.is_set()
    chat, _, _ = started(handlers)
    assert "Searching the documents" in chat[-1]["content"]


def test_sending_while_answering_or_an_empty_box_is_refused_without_losing_anything(handlers):
    import gradio as gr

    with pytest.raises(gr.Error):
        handlers.start("next question", [], True, None, "k" * 20)
    with pytest.raises(gr.Error):
        handlers.start("   ", [], False, None, "k" * 20)
    assert handlers.store.list(OWNER) == []  # nothing was created for either


def test_stopping_a_question_still_waiting_in_the_queue_saves_it_as_stopped(handlers):
    chat, pending, cid = started(handlers)  # shown, but its answering event never started
    stopped_chat, busy, *_ = handlers.stop(chat, pending, cid, "k" * 20)
    assert "Stopped" in stopped_chat[-1]["content"] and "rag-pending" not in stopped_chat[-1]["content"]
    (turn,) = handlers.store.get(OWNER, cid).turns
    assert (turn.question, turn.status) == (pending, "stopped")
    assert handlers.new_chat(True, "k" * 20)[0] == gr_no_change()  # no new chat while an answer is made


def gr_no_change():
    import gradio as gr

    return gr.update()


# --- "Answer from" with the real engine (extractive, a hashed embedder: no models) ---------------

HARBOUR = "The harbour of Valparaiso exported 300 tons of copper in 2025, its port authority reported."
MINE = "The copper mine near Antofagasta produced 500 tons of copper in 2025, its owners reported."
QUESTION = "How many tons of copper did the harbour of Valparaiso export in 2025?"


@pytest.fixture
def two_documents(tmp_path):
    from index.pipeline import build_index
    from rag.engine import EngineOptions, RagEngine
    from tests.fakes import HashEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (docs / "mine.txt").write_text(MINE, encoding="utf-8")
    config = Config.load(data_dir=tmp_path / "data")
    embedder = HashEmbedder()
    build_index([docs], config, embedder=embedder)
    engine = RagEngine(config, "extractive", EngineOptions(), embedder=embedder)

    def make(documents=None):
        app = ChatApp(config, "extractive", documents=documents)
        app.engine = lambda spec=None: engine
        return app

    return docs, make


def ask(handlers, scope, question=QUESTION):
    chat, pending, cid = started(handlers, question)
    shown = [
        out[0][-1]["content"]
        for out in handlers.respond(pending, chat, [], cid, "k" * 20, 5, "extractive", False, scope)
    ]
    return shown, handlers.store.get(OWNER, cid).turns[-1]


def test_answer_from_really_scopes_retrieval(two_documents):
    docs, make = two_documents
    handlers = make()
    scope = handlers._scope_update(library_status(handlers))
    assert [v for _, v in scope["choices"]] == [
        ALL_DOCUMENTS,
        str(docs / "harbour.txt"),
        str(docs / "mine.txt"),
    ]
    shown, turn = ask(handlers, [ALL_DOCUMENTS])
    cited = {c["source"] for c in turn.answer["citations"]}
    assert str(docs / "harbour.txt") in cited and "300" in turn.answer["text"]
    assert turn.settings["documents"] == "all"

    shown, turn = ask(handlers, [str(docs / "mine.txt")])  # the other document only
    assert {p["source"] for p in turn.answer["passages"] + turn.answer["retrieved"]} == {str(docs / "mine.txt")}
    assert {c["source"] for c in turn.answer["citations"]} == {str(docs / "mine.txt")}
    assert "300" not in turn.answer["text"] and "500" in turn.answer["text"]
    assert "Evidence found" in shown[0] and "mine.txt" in shown[0] and "Valparaiso" not in shown[0]  # evidence first
    assert any(n.startswith("searched 1 of 2") for n in turn.answer["notices"])
    assert turn.settings["documents"] == [str(docs / "mine.txt")]


def test_the_chat_api_takes_documents_too(two_documents):
    docs, make = two_documents
    handlers = make()
    scoped, _ = handlers.chat(QUESTION, None, "", "k" * 20, ["mine.txt"])
    assert scoped["citations"] and all(c["source"].endswith("mine.txt") for c in scoped["citations"])
    assert all("location" in c for c in scoped["citations"]) and "300" not in scoped["answer"]
    full, _ = handlers.chat(QUESTION, None, "", "k" * 20)  # documents is optional
    assert "300" in full["answer"]
    import gradio as gr

    with pytest.raises(gr.Error, match="no indexed document matches 'nothing.txt'"):
        handlers.chat(QUESTION, None, "", "k" * 20, ["nothing.txt"])


def test_rag_chat_document_sets_the_initial_scope_and_a_change_keeps_the_pages_choice(two_documents):
    from index.scope import UnknownDocument
    from ui.app import build_app

    docs, make = two_documents
    handlers = make(documents=["mine.txt"])
    loaded = handlers.on_load("k" * 20)
    scope = loaded[6]
    assert scope["value"] == [str(docs / "mine.txt")]
    assert make()._scope_update(library_status(handlers))["value"] == [ALL_DOCUMENTS]  # no --document: all
    # after an upload or removal the page keeps its own choice, less what is gone
    assert "value" not in handlers._scope_update(library_status(handlers), keep=app_module.KEEP_SCOPE)
    kept = handlers._scope_update(library_status(handlers), keep=[str(docs / "harbour.txt"), "/gone.txt"])
    assert kept["value"] == [str(docs / "harbour.txt")]
    assert handlers._scope_update(library_status(handlers), keep=["/gone.txt"])["value"] == [ALL_DOCUMENTS]
    with pytest.raises(UnknownDocument, match="minee.txt"):  # refused at start-up, with the close match
        build_app(handlers.config, "extractive", documents=["minee.txt"])


def library_status(handlers):
    from rag import library

    return library.status(handlers.config)
